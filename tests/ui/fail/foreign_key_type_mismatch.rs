// Rule: a foreign key holds a value of its target's primary key type (`ForeignKey<Author>`
// holds an `i64` when Author has an `id: i64`); a key of another type does not compile.
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
    let _ = ForeignKey::<Author>::new(String::from("x"));
    let _ = Book {
        id: 0,
        title: "Dune".into(),
        author: ForeignKey::new(String::from("x")),
    };
}
