//! The bench's three tables (`examples/src/bench.rs`), declared for Diesel as
//! `diesel print-schema` would (BIGINT keys, TEXT columns), and the structs Diesel loads
//! them into, with the derives its guide uses for relations (`Identifiable`,
//! `Associations`, for `belonging_to` and `grouped_by`).

use diesel::prelude::*;

diesel::table! {
    users (id) {
        id -> BigInt,
        name -> Text,
        hair_color -> Nullable<Text>,
    }
}

diesel::table! {
    posts (id) {
        id -> BigInt,
        user_id -> BigInt,
        title -> Text,
        body -> Nullable<Text>,
    }
}

diesel::table! {
    comments (id) {
        id -> BigInt,
        post_id -> BigInt,
        text -> Text,
    }
}

diesel::joinable!(posts -> users (user_id));
diesel::joinable!(comments -> posts (post_id));
diesel::allow_tables_to_appear_in_same_query!(users, posts, comments);

#[derive(Queryable, Selectable, Identifiable, Debug)]
#[diesel(table_name = users)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct DUser {
    pub id: i64,
    pub name: String,
    pub hair_color: Option<String>,
}

#[derive(Queryable, Selectable, Identifiable, Associations, Debug)]
#[diesel(table_name = posts)]
#[diesel(belongs_to(DUser, foreign_key = user_id))]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct DPost {
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub body: Option<String>,
}

#[derive(Queryable, Selectable, Identifiable, Associations, Debug)]
#[diesel(table_name = comments)]
#[diesel(belongs_to(DPost, foreign_key = post_id))]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct DComment {
    pub id: i64,
    pub post_id: i64,
    pub text: String,
}

impl DUser {
    pub fn check(&self) -> u64 {
        super::check::user(self.id, &self.name, self.hair_color.as_deref())
    }
}

impl DPost {
    pub fn check(&self) -> u64 {
        super::check::post(self.id, self.user_id, &self.title, self.body.as_deref())
    }
}

impl DComment {
    pub fn check(&self) -> u64 {
        super::check::comment(self.id, self.post_id, &self.text)
    }
}

/// W4's tree as Diesel's guide builds it: each level `grouped_by` its parents and zipped.
pub type Tree = Vec<(DUser, Vec<(DPost, Vec<DComment>)>)>;

pub fn tree_check(tree: &Tree) -> u64 {
    use super::check::{comment_in_tree, post_in_tree};
    tree.iter()
        .map(|(u, posts)| {
            u.check()
                + posts
                    .iter()
                    .map(|(p, comments)| {
                        post_in_tree(u.id, p.check())
                            + comments
                                .iter()
                                .map(|c| comment_in_tree(p.id, c.check()))
                                .sum::<u64>()
                    })
                    .sum::<u64>()
        })
        .sum()
}
