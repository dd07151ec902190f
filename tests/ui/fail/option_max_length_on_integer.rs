// `max_length` bounds text; on an integer it is a compile error naming the rule.
use orm_sqlx::prelude::*;

#[derive(Model)]
pub struct Book {
    pub id: i64,
    #[orm(max_length = 10)]
    pub pages: i32,
}

fn main() {}
