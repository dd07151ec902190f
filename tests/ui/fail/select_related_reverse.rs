// Rule (S23): `select_related` follows foreign keys only; a reverse (or many-to-many)
// relation can reach several rows, so it is loaded with `prefetch_related`, and naming it
// in `select_related` is a compile error.
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
    let _ = Author::objects().select_related(|a| a.books());
}
