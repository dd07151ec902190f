// Rule: a custom prefetch queryset (Django's `Prefetch(lookup, queryset=…)`) must be over
// the model the relation holds.
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
    let _ = Author::objects().prefetch(|a| a.books(), Author::objects());
}
