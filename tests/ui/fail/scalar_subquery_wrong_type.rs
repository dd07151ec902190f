// Rule (S39, subqueries): a subquery used as a value has the type it projects; comparing a
// text subquery with a number does not compile.
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
    let _ = Author::objects().filter(|a| {
        subquery(Book::objects().filter(|b| b.author.eq(a.id.outer())).values(|b| b.title).slice(..1)).gt(3)
    });
}
