// Rule: every field of a partial model names a field of its model; a name the model does
// not have is a compile error on that field.
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
    titel: String,
}

fn main() {
    let _ = Book::objects().values_as::<BookCard>();
}
