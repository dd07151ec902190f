// `auto_now` sets a date or time; on a `String` it is a compile error naming the rule.
use orm_sqlx::prelude::*;

#[derive(Model)]
pub struct Post {
    pub id: i64,
    #[orm(auto_now)]
    pub edited: String,
}

fn main() {}
