// Rule: a partial model reads the one model its `#[orm(model = …)]` names; using it on
// another model's queryset is a compile error.
use orm_sqlx::prelude::*;

#[derive(Model)]
#[orm(table = "authors")]
struct Author {
    id: i64,
    name: String,
}

#[derive(Model)]
#[orm(table = "books")]
struct Book {
    id: i64,
    title: String,
}

#[derive(Partial)]
#[orm(model = Book)]
struct BookCard {
    id: i64,
    title: String,
}

fn main() {
    let _ = Author::objects().values_as::<BookCard>();
}
