// An enum field needs `#[derive(Choices)]`; without it the message says so.
use orm_sqlx::prelude::*;

#[derive(Clone, Copy)]
pub enum Status {
    Draft,
    Published,
}

#[derive(Model)]
pub struct Post {
    pub id: i64,
    pub status: Status,
}

fn main() {}
