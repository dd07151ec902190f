// Rule: the other side of a many-to-many shares the forward field's join table, so
// `through` belongs on the forward field; on the reverse side it is a compile error.
use orm_sqlx::prelude::*;

#[derive(Model)]
struct Tag {
    id: i64,
    #[orm(reverse(Book::tags), through = "book_tags")]
    books: ManyToMany<Book>,
}

#[derive(Model)]
struct Book {
    id: i64,
    tags: ManyToMany<Tag>,
}

fn main() {}
