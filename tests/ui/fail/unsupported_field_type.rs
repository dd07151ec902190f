// Rule: a field whose type cannot be a column is an error on that type, listing the
// supported types and the features that add more.
use orm_sqlx::prelude::*;
use std::collections::HashMap;

#[derive(Model)]
struct Book {
    id: i64,
    tags: HashMap<String, String>,
}

fn main() {}
