// Rule: a partial model's field has the type the model's field reads as (what `values()`
// reads); another type is a compile error on that field that names the right one.
use orm_sqlx::prelude::*;

#[derive(Model)]
#[orm(table = "books")]
struct Book {
    id: i64,
    title: String,
    pages: i32,
}

#[derive(Partial)]
#[orm(model = Book)]
struct BookCard {
    id: i64,
    pages: String,
}

fn main() {
    let _ = Book::objects().values_as::<BookCard>();
}
