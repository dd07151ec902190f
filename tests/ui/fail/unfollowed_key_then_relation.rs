// Rule (S39): `b.author.country().name` (the first hop not called, the second called)
// was told "field, not a method; help: remove the arguments" (`b.author.country.name`),
// the wrong direction, because the key's handle derefs to a struct with a field `country`.
// It should give the message that names the fix, `b.author().country().name`.
use orm_sqlx::prelude::*;

#[derive(Model)]
struct Country {
    id: i64,
    name: String,
}

#[derive(Model)]
struct Author {
    id: i64,
    name: String,
    country: ForeignKey<Country>,
}

#[derive(Model)]
struct Book {
    id: i64,
    title: String,
    author: ForeignKey<Author>,
}

fn main() {
    let _ = Book::objects().filter(|b| b.author.country().name.eq("UK"));
}
