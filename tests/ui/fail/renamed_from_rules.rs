// `renamed_from` names the old table (on the struct) or the old column (on a field), as a
// string; a many-to-many field has no column to rename.
use orm_sqlx::prelude::*;

#[derive(Model)]
#[orm(table = "tags", renamed_from = 3)]
pub struct Tag {
    pub id: i64,
    #[orm(renamed_from)]
    pub label: String,
}

#[derive(Model)]
pub struct Post {
    pub id: i64,
    #[orm(renamed_from = "labels")]
    pub tags: ManyToMany<Tag>,
}

fn main() {}
