// Rule (S39): a lookup's value has the field's type; the message names both types and
// lists no unrelated types that could be compared instead.
use orm_sqlx::prelude::*;

#[derive(Model)]
struct Book {
    id: i64,
    title: String,
}

fn main() {
    let _ = Book::objects().filter(|b| b.title.eq(5));
}
