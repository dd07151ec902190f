//! The workloads in sync Diesel, once per connection type (`SqliteConnection`,
//! `PgConnection`): the query builder with `Selectable` structs, `find` for W2, an inner
//! join for W3, `belonging_to` + `grouped_by` for W4 (`IN (…)` on SQLite, `= ANY($1)` on
//! PostgreSQL, the SQL the hand-written sqlx sends too). Each returns its checksum
//! ([`super::check`]).

macro_rules! diesel_workloads {
    ($name:ident, $Conn:ty) => {
        pub mod $name {
            use diesel::prelude::*;

            use crate::peers::check;
            use crate::peers::schema::{DComment, DPost, DUser, Tree, posts, tree_check, users};

            /// W1: the first `n` users.
            pub fn w1(conn: &mut $Conn, n: i64) -> QueryResult<u64> {
                let v: Vec<DUser> = users::table
                    .select(DUser::as_select())
                    .limit(n)
                    .load(conn)?;
                Ok(v.iter().map(DUser::check).sum())
            }

            /// W2: one user by primary key.
            pub fn w2(conn: &mut $Conn, id: i64) -> QueryResult<u64> {
                let u: DUser = users::table
                    .find(id)
                    .select(DUser::as_select())
                    .get_result(conn)?;
                Ok(u.check())
            }

            /// W3: every post with its user, one join.
            pub fn w3(conn: &mut $Conn) -> QueryResult<u64> {
                let v: Vec<(DPost, DUser)> = posts::table
                    .inner_join(users::table)
                    .select((DPost::as_select(), DUser::as_select()))
                    .load(conn)?;
                Ok(v.iter().map(|(p, u)| p.check() + u.check()).sum())
            }

            /// W4: users → posts → comments, three queries and `grouped_by`.
            pub fn w4(conn: &mut $Conn, max_user: i64) -> QueryResult<u64> {
                let users: Vec<DUser> = users::table
                    .filter(users::id.le(max_user))
                    .select(DUser::as_select())
                    .load(conn)?;
                let posts: Vec<DPost> = DPost::belonging_to(&users)
                    .select(DPost::as_select())
                    .load(conn)?;
                let comments: Vec<DComment> = DComment::belonging_to(&posts)
                    .select(DComment::as_select())
                    .load(conn)?;
                let comments = comments.grouped_by(&posts);
                let posts = posts.into_iter().zip(comments).grouped_by(&users);
                let tree: Tree = users.into_iter().zip(posts).collect();
                Ok(tree_check(&tree))
            }

            /// W5: (id, name) of every user.
            pub fn w5(conn: &mut $Conn) -> QueryResult<u64> {
                let v: Vec<(i64, String)> =
                    users::table.select((users::id, users::name)).load(conn)?;
                Ok(v.iter().map(|(id, name)| check::pair(*id, name)).sum())
            }
        }
    };
}

diesel_workloads!(sqlite, diesel::SqliteConnection);
diesel_workloads!(postgres, diesel::PgConnection);
