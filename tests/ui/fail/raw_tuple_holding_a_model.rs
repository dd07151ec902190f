// Rule: tuples read raw SQL by position, so they hold field types only; a model in a
// tuple would be read by position too, and a reordered SELECT would fill the wrong
// fields. A model is read with `Model::objects().raw(…)`, by column name.
use orm_sqlx::prelude::*;

#[derive(Model)]
#[orm(table = "books")]
struct Book {
    id: i64,
    title: String,
}

fn main() {
    let _ = RawQuery::<(Book, i64)>::new("SELECT books.*, 1 FROM books", ());
}
