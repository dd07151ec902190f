// Rule (S40): a condition on an aggregate compares it with a value of its type: a count
// is an i64, not text.
use orm_sqlx::prelude::*;

#[derive(Model)]
struct Author {
    id: i64,
    name: String,
}

#[derive(Model)]
struct Book {
    id: i64,
    title: String,
    author: ForeignKey<Author>,
}

fn main() {
    let _ = Author::objects().filter(|a| a.id.count().gt("two"));
}
