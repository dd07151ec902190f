// Rule (S39): comparing a field with a value of another type is a compile error that
// names both types.
use orm_sqlx::prelude::*;

#[derive(Model)]
struct Book {
    id: i64,
    pages: i32,
}

fn main() {
    let _ = Book::objects().filter(|b| b.pages.gt("ten"));
}
