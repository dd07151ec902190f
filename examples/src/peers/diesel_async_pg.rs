//! The workloads in diesel-async on PostgreSQL (`AsyncPgConnection`, tokio-postgres
//! underneath, no pool): the same query-builder code as [`super::diesel_sync`], with
//! diesel-async's `RunQueryDsl`. Each returns its checksum ([`super::check`]).

use diesel::{
    BelongingToDsl, ExpressionMethods, GroupedBy, QueryDsl, QueryResult, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::check;
use super::schema::{DComment, DPost, DUser, Tree, posts, tree_check, users};

/// W1: the first `n` users.
pub async fn w1(conn: &mut AsyncPgConnection, n: i64) -> QueryResult<u64> {
    let v: Vec<DUser> = users::table
        .select(DUser::as_select())
        .limit(n)
        .load(conn)
        .await?;
    Ok(v.iter().map(DUser::check).sum())
}

/// W2: one user by primary key.
pub async fn w2(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<u64> {
    let u: DUser = users::table
        .find(id)
        .select(DUser::as_select())
        .get_result(conn)
        .await?;
    Ok(u.check())
}

/// W3: every post with its user, one join.
pub async fn w3(conn: &mut AsyncPgConnection) -> QueryResult<u64> {
    let v: Vec<(DPost, DUser)> = posts::table
        .inner_join(users::table)
        .select((DPost::as_select(), DUser::as_select()))
        .load(conn)
        .await?;
    Ok(v.iter().map(|(p, u)| p.check() + u.check()).sum())
}

/// W4: users → posts → comments, three queries and `grouped_by`.
pub async fn w4(conn: &mut AsyncPgConnection, max_user: i64) -> QueryResult<u64> {
    let users: Vec<DUser> = users::table
        .filter(users::id.le(max_user))
        .select(DUser::as_select())
        .load(conn)
        .await?;
    let posts: Vec<DPost> = DPost::belonging_to(&users)
        .select(DPost::as_select())
        .load(conn)
        .await?;
    let comments: Vec<DComment> = DComment::belonging_to(&posts)
        .select(DComment::as_select())
        .load(conn)
        .await?;
    let comments = comments.grouped_by(&posts);
    let posts = posts.into_iter().zip(comments).grouped_by(&users);
    let tree: Tree = users.into_iter().zip(posts).collect();
    Ok(tree_check(&tree))
}

/// W5: (id, name) of every user.
pub async fn w5(conn: &mut AsyncPgConnection) -> QueryResult<u64> {
    let v: Vec<(i64, String)> = users::table
        .select((users::id, users::name))
        .load(conn)
        .await?;
    Ok(v.iter().map(|(id, name)| check::pair(*id, name)).sum())
}
