// Rule: a `prefetch_related` path starts at the queryset's own model (the closure's
// argument); a relation path of another model does not compile.
use orm_sqlx::prelude::*;

#[derive(Model)]
struct Author {
    id: i64,
    name: String,
    #[orm(reverse(Book::author))]
    books: Reverse<Book>,
}

#[derive(Model)]
struct Book {
    id: i64,
    title: String,
    author: ForeignKey<Author>,
}

fn main() {
    let _ = Author::objects().prefetch_related(|_| Book::fields().author());
}
