// Rule: `#[orm(reverse(Book::field))]` must name a foreign key of `Book` that points at
// this model; naming any other field is a compile error on that field.
use orm_sqlx::prelude::*;

#[derive(Model)]
struct Author {
    id: i64,
    name: String,
    #[orm(reverse(Book::title))]
    books: Reverse<Book>,
}

#[derive(Model)]
struct Book {
    id: i64,
    title: String,
    author: ForeignKey<Author>,
}

fn main() {}
