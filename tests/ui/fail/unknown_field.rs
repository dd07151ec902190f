// Rule (S39): naming a field the model does not have is a compile error that lists the
// fields it does have.
use orm_sqlx::prelude::*;

#[derive(Model)]
struct Book {
    id: i64,
    title: String,
}

fn main() {
    let _ = Book::objects().filter(|b| b.titel.eq("Dune"));
}
