// Rule (S37): conditions combine with `&`, `|` and `!` (Django's `Q(a) & Q(b)`). `&&` and
// `||` take `bool`s, which a lookup is not. Rust cannot overload `&&`/`||` (no trait in
// `std::ops`), so rustc type-checks both sides as `bool` before any trait is consulted,
// and its type-mismatch error takes no custom message: this case pins what it says
// (`expected bool, found Q<Book>`); the README's "When it does not compile" names the fix.
use orm_sqlx::prelude::*;

#[derive(Model)]
struct Book {
    id: i64,
    title: String,
    pages: i32,
}

fn main() {
    let _ = Book::objects().filter(|b| b.pages.gt(100) && b.title.startswith("R"));
}
