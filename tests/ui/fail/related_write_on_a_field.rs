// Rule: the related writes (`add_related`, `remove_related`, `set_related`,
// `clear_related`) take a relation of the model (`|b| b.tags()`); a plain field is a
// compile error that says so.
use orm_sqlx::prelude::*;

#[derive(Model, Debug, Clone)]
struct Tag {
    id: i64,
}

#[derive(Model, Debug, Clone)]
struct Book {
    id: i64,
    title: String,
    tags: ManyToMany<Tag>,
}

async fn demo(db: &Db, mut book: Book) -> Result<()> {
    book.clear_related(|b| b.title, db).await
}

fn main() {}
