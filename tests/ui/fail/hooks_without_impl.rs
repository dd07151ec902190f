// `#[orm(hooks)]` says the hooks are written by hand: without `impl Hooks`, the message
// says what to write.
use orm_sqlx::prelude::*;

#[derive(Model)]
#[orm(hooks)]
pub struct Tag {
    pub id: i64,
    pub name: String,
}

fn main() {}
