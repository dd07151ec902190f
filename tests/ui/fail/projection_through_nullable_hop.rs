// Rule (S32): a projection through a nullable foreign key (or a reverse or many-to-many
// relation) reads as `Option`, since a row may have no related row (Django gives `None`).
// Reading it as the bare type does not compile, so a missing row can never become "".
use orm_sqlx::prelude::*;

#[derive(Model)]
struct Publisher {
    id: i64,
    name: String,
}

#[derive(Model)]
struct Book {
    id: i64,
    title: String,
    publisher: Option<ForeignKey<Publisher>>,
}

async fn titles_and_publishers(db: &Db) -> Result<Vec<(String, String)>> {
    let qs = Book::objects().values(|b| (b.title, b.publisher().name));
    Ok(qs.fetch(db).await?.to_vec())
}

fn main() {
    let _ = titles_and_publishers;
}
