// Rule (S39, subqueries): `is_in` with a queryset needs that queryset to project one field
// of the compared field's type; a text column compared with integer keys does not compile.
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
    let _ = Author::objects().filter(|a| a.id.is_in(Book::objects().values(|b| b.title)));
}
