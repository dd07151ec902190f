// Rule: `#[orm(reverse(Book::field))]` on a `ManyToMany<Book>` (the other side of a
// many-to-many) must name a many-to-many field of `Book` holding this model; naming a
// foreign key is a compile error that says to write `Reverse<Book>` instead.
use orm_sqlx::prelude::*;

#[derive(Model)]
struct Author {
    id: i64,
    #[orm(reverse(Book::author))]
    books: ManyToMany<Book>,
}

#[derive(Model)]
struct Book {
    id: i64,
    author: ForeignKey<Author>,
}

fn main() {}
