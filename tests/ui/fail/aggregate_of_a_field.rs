// Rule (S40): `aggregate()` takes aggregates; a plain field is read with `values()`.
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

async fn totals(db: &Db) {
    let _ = Book::objects().aggregate(|b| b.title, db).await;
}

fn main() {
    let _ = totals;
}
