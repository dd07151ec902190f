// Rule (S38): a lookup spans a relation by calling it (`b.author().name`); a plain field
// has no such method, so a hop through it does not compile.
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
    let _ = Book::objects().filter(|b| b.title().name.eq("Alice"));
}
