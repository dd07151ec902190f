// Rule (S40): only numbers are summed or averaged; `sum()` of a text field does not compile
// and says which fields can be summed.
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
    let _ = Book::objects().annotate(|b| b.title.sum());
}
