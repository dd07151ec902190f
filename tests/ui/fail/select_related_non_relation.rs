// Rule (S23): `select_related` takes a path of foreign keys (`|b| b.author()`); a plain
// field is not a relation, so naming one is a compile error, not a runtime `FieldError`.
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
    let _ = Book::objects().select_related(|b| b.title);
}
