// Rule (S39): a text lookup (icontains, startswith, regex…) on a number is a compile
// error that says the lookup needs a text field and which lookups fit a number.
use orm_sqlx::prelude::*;

#[derive(Model)]
struct Book {
    id: i64,
    pages: i32,
}

fn main() {
    let _ = Book::objects().filter(|b| b.pages.icontains("12"));
}
