// Rule: `#[derive(Partial)]` needs the model it reads, `#[orm(model = Book)]`.
use orm_sqlx::prelude::*;

#[derive(Partial)]
struct BookCard {
    id: i64,
    title: String,
}

fn main() {}
