// Rule (S39): `b.author.name` used where a field is expected (a projection, an
// aggregate, an operand: Django's values("author__name"), Max("author__age"),
// F("author__name")) should give the message of `b.author.name.eq(..)`, which names the fix.
use orm_sqlx::prelude::*;

#[derive(Model)]
struct Author {
    id: i64,
    name: String,
    age: i32,
}

#[derive(Model)]
struct Book {
    id: i64,
    title: String,
    author: ForeignKey<Author>,
}

fn main() {
    let _ = Book::objects().values(|b| (b.title, b.author.name));
}
