// Rule: `order_by` takes a direction for each field, `b.title.asc()` or `b.title.desc()`
// (Django's "title" and "-title"); a bare field does not compile, and the message names both.
use orm_sqlx::prelude::*;

#[derive(Model)]
struct Book {
    id: i64,
    title: String,
}

fn main() {
    let _ = Book::objects().order_by(|b| b.title);
}
