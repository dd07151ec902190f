// Rule (S40): `min()`/`max()` need an order every backend shares; a boolean has none on
// PostgreSQL, so it does not compile.
use orm_sqlx::prelude::*;

#[derive(Model)]
struct Book {
    id: i64,
    title: String,
    published: bool,
}

fn main() {
    let _ = Book::objects().values(|b| b.published.max());
}
