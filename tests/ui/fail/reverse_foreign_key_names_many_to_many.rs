// Rule: `#[orm(reverse(Book::field))]` on a `Reverse<Book>` must name a foreign key; the
// other side of a many-to-many is written `ManyToMany<Book>`, and the error says so.
use orm_sqlx::prelude::*;

#[derive(Model)]
struct Tag {
    id: i64,
    #[orm(reverse(Book::tags))]
    books: Reverse<Book>,
}

#[derive(Model)]
struct Book {
    id: i64,
    tags: ManyToMany<Tag>,
}

fn main() {}
