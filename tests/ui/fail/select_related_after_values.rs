// Rule (issue 8, item 10): `select_related` and `prefetch_related` attach related rows to
// model instances; after `values()` the rows are tuples, so calling them there is a
// compile error (Django raises "Cannot call select_related() after .values()").
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
    let _ = Book::objects()
        .values(|b| b.title)
        .select_related(|b| b.author());
}
