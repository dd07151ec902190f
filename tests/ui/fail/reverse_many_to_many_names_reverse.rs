// Rule: the other side of a many-to-many must name the many-to-many field itself, not
// another reverse relation (which has no join table to share).
use orm_sqlx::prelude::*;

#[derive(Model)]
struct Author {
    id: i64,
    #[orm(reverse(Book::author))]
    books: Reverse<Book>,
    #[orm(reverse(Book::authors_again))]
    again: ManyToMany<Book>,
}

#[derive(Model)]
struct Book {
    id: i64,
    author: ForeignKey<Author>,
    #[orm(reverse(Author::books))]
    authors_again: ManyToMany<Author>,
}

fn main() {}
