// Rule (S38): a lookup spans a foreign key by calling it, `b.author().name` (Django's
// `author__name`); `b.author.name` names a field of the key's handle, which has none, and
// the message says to call the relation.
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
    let _ = Book::objects().filter(|b| b.author.name.eq("Alice"));
}
