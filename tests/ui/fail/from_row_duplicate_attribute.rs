// Rule: an `orm` attribute given twice is refused, as `#[derive(Model)]` refuses it
// ("duplicate `orm` attribute `…`; remove this one"), never the last one silently kept.
use orm_sqlx::prelude::*;

#[derive(FromRow)]
struct Stats {
    #[orm(column = "a", column = "b")]
    books: i64,
}

#[derive(Partial)]
#[orm(model = orm_tests::library::Book)]
#[orm(model = orm_tests::library::Author)]
struct Card {
    #[orm(path = "title")]
    #[orm(path = "name")]
    name: String,
}

fn main() {
    let _ = RawQuery::<Stats>::new("SELECT 1 AS b", ());
    let _ = orm_tests::library::Author::objects().values_as::<Card>();
}
