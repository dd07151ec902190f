// Rule: a field reached through a nullable relation may have no row, so a partial model
// declares it as an `Option` (Django gives None), never as a value made up in its place.
use orm_sqlx::prelude::*;

#[derive(Model)]
#[orm(table = "publishers")]
struct Publisher {
    id: i64,
    name: String,
}

#[derive(Model)]
#[orm(table = "books")]
struct Book {
    id: i64,
    title: String,
    publisher: Option<ForeignKey<Publisher>>,
}

#[derive(Partial)]
#[orm(model = Book)]
struct BookLine {
    title: String,
    #[orm(path = "publisher.name")]
    publisher_name: String,
}

fn main() {
    let _ = Book::objects().values_as::<BookLine>();
}
