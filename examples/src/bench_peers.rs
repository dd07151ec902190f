//! The ORM against its peers (issue 16): the read workloads of `bench` (W1 at N = 1 and
//! N = 10,000, W2, W3, W4, W5; same tables, same rows) done by the ORM on its pool (the
//! `Db::connect`), by hand-written sqlx on a pool with
//! sqlx's default options (the baseline, ratio 1.00) and on a bare connection,
//! by Diesel (sync; `SqliteConnection`, `PgConnection`), by diesel-async
//! (`AsyncPgConnection`, PostgreSQL only) and by SeaORM 2.0 (on its `DatabaseConnection`,
//! a sqlx pool with SeaORM's defaults). One process, one run, sampled in turn so that a
//! change of machine load hits every column alike; every column's result is checked to
//! agree (a checksum of the rows, `peers::check`) before its time counts.
//!
//! ```sh
//! cargo run --release -p examples --features peers --bin bench-peers -- --backend sqlite|postgres|all
//! ```
//!
//! Behind the `peers` feature, which CI does not build. Diesel's PostgreSQL backend links
//! the system libpq (`apt-get install libpq-dev`). PostgreSQL: `ORM_BENCH_POSTGRES_URL`,
//! else `postgres://postgres@127.0.0.1:5432/test`, in a schema of its own
//! (`orm_bench_peers`), dropped at the end. SQLite: a file in the temporary directory,
//! removed at the end. BENCHMARKS.md ("Peers") has the numbers.
//!
//! The Diesel columns run on one bare connection each (Diesel has no pool of its own, and
//! diesel-async's pools are optional): compare them with the "sqlx bare conn" column; the
//! pool columns pay what a pool costs (sqlx's pings: on every acquire and return with
//! sqlx's defaults; with the ORM's, on return, and on acquire only after a second idle).
//! SeaORM's pool is sqlx's with SeaORM's defaults: `test_before_acquire` on (as sqlx's),
//! and on SQLite one connection at most.

mod peers;

use std::hint::black_box;
use std::time::{Duration, Instant};

use diesel::Connection as _;
use diesel::connection::SimpleConnection as _;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, SimpleAsyncConnection as _};
use orm_sqlx::Db;
use orm_sqlx::prelude::*;
use orm_sqlx::sqlx;

use peers::check;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Outcome<T = u64> = std::result::Result<T, BoxError>;

// ---- the schema, as ORM models (as in bench.rs) --------------------------------------------

#[derive(Model, Debug, Clone)]
#[orm(table = "users")]
pub struct User {
    pub id: i64,
    pub name: String,
    pub hair_color: Option<String>,
    #[orm(reverse(Post::user))]
    pub posts: Reverse<Post>,
}

#[derive(Model, Debug, Clone)]
#[orm(table = "posts")]
pub struct Post {
    pub id: i64,
    pub user: ForeignKey<User>,
    pub title: String,
    pub body: Option<String>,
    #[orm(reverse(Comment::post))]
    pub comments: Reverse<Comment>,
}

#[derive(Model, Debug, Clone)]
#[orm(table = "comments")]
pub struct Comment {
    pub id: i64,
    pub post: ForeignKey<Post>,
    pub text: String,
}

impl User {
    fn check(&self) -> u64 {
        check::user(self.id, &self.name, self.hair_color.as_deref())
    }
}

impl Post {
    fn check(&self) -> u64 {
        check::post(self.id, *self.user.key(), &self.title, self.body.as_deref())
    }
}

impl Comment {
    fn check(&self) -> u64 {
        check::comment(self.id, *self.post.key(), &self.text)
    }
}

// ---- the same schema, hand-written for sqlx (as in bench.rs) -------------------------------
//
// Each `FromRow` impl is what `#[derive(sqlx::FromRow)]` expands to: generic over the row
// type, every column looked up by name with the type-checked `try_get`.

#[derive(Debug, Clone)]
pub struct HUser {
    pub id: i64,
    pub name: String,
    pub hair_color: Option<String>,
}

impl<'a, R: sqlx::Row> sqlx::FromRow<'a, R> for HUser
where
    &'a str: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'a R) -> sqlx::Result<Self> {
        let id: i64 = row.try_get("id")?;
        let name: String = row.try_get("name")?;
        let hair_color: Option<String> = row.try_get("hair_color")?;
        Ok(HUser {
            id,
            name,
            hair_color,
        })
    }
}

#[derive(Debug, Clone)]
pub struct HPost {
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub body: Option<String>,
}

impl<'a, R: sqlx::Row> sqlx::FromRow<'a, R> for HPost
where
    &'a str: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'a R) -> sqlx::Result<Self> {
        let id: i64 = row.try_get("id")?;
        let user_id: i64 = row.try_get("user_id")?;
        let title: String = row.try_get("title")?;
        let body: Option<String> = row.try_get("body")?;
        Ok(HPost {
            id,
            user_id,
            title,
            body,
        })
    }
}

#[derive(Debug, Clone)]
pub struct HComment {
    pub id: i64,
    pub post_id: i64,
    pub text: String,
}

impl<'a, R: sqlx::Row> sqlx::FromRow<'a, R> for HComment
where
    &'a str: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'a R) -> sqlx::Result<Self> {
        let id: i64 = row.try_get("id")?;
        let post_id: i64 = row.try_get("post_id")?;
        let text: String = row.try_get("text")?;
        Ok(HComment { id, post_id, text })
    }
}

/// A post and its user from one JOIN; the user's columns are aliased `u_*`.
#[derive(Debug, Clone)]
pub struct HPostWithUser {
    pub post: HPost,
    pub user: HUser,
}

impl<'a, R: sqlx::Row> sqlx::FromRow<'a, R> for HPostWithUser
where
    &'a str: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'a R) -> sqlx::Result<Self> {
        let post = HPost::from_row(row)?;
        let id: i64 = row.try_get("u_id")?;
        let name: String = row.try_get("u_name")?;
        let hair_color: Option<String> = row.try_get("u_hair_color")?;
        Ok(HPostWithUser {
            post,
            user: HUser {
                id,
                name,
                hair_color,
            },
        })
    }
}

impl HUser {
    fn check(&self) -> u64 {
        check::user(self.id, &self.name, self.hair_color.as_deref())
    }
}

impl HPost {
    fn check(&self) -> u64 {
        check::post(self.id, self.user_id, &self.title, self.body.as_deref())
    }
}

impl HComment {
    fn check(&self) -> u64 {
        check::comment(self.id, self.post_id, &self.text)
    }
}

/// W4's nested structure, built by hand (as in bench.rs).
pub struct HUserTree {
    pub user: HUser,
    pub posts: Vec<HPostTree>,
}

pub struct HPostTree {
    pub post: HPost,
    pub comments: Vec<HComment>,
}

fn build_tree(users: Vec<HUser>, posts: Vec<HPost>, comments: Vec<HComment>) -> Vec<HUserTree> {
    use std::collections::HashMap;
    let mut by_post: HashMap<i64, Vec<HComment>> = HashMap::new();
    for c in comments {
        by_post.entry(c.post_id).or_default().push(c);
    }
    let mut by_user: HashMap<i64, Vec<HPostTree>> = HashMap::new();
    for p in posts {
        let comments = by_post.remove(&p.id).unwrap_or_default();
        by_user
            .entry(p.user_id)
            .or_default()
            .push(HPostTree { post: p, comments });
    }
    users
        .into_iter()
        .map(|u| {
            let posts = by_user.remove(&u.id).unwrap_or_default();
            HUserTree { user: u, posts }
        })
        .collect()
}

fn hand_tree_check(tree: &[HUserTree]) -> u64 {
    tree.iter()
        .map(|t| {
            t.user.check()
                + t.posts
                    .iter()
                    .map(|p| {
                        check::post_in_tree(t.user.id, p.post.check())
                            + p.comments
                                .iter()
                                .map(|c| check::comment_in_tree(p.post.id, c.check()))
                                .sum::<u64>()
                    })
                    .sum::<u64>()
        })
        .sum()
}

fn orm_tree_check(users: &[User]) -> Outcome {
    let mut sum = 0;
    for u in users {
        sum += u.check();
        for p in u.posts.all()? {
            sum += check::post_in_tree(u.id, p.check());
            for c in p.comments.all()? {
                sum += check::comment_in_tree(p.id, c.check());
            }
        }
    }
    Ok(sum)
}

// ---- sizes and data (as in bench.rs) ------------------------------------------------------

const USERS: i64 = 10_000;
const POSTS: i64 = 10_000;
/// Posts 1..=1000 (those of users 1..=100) have 10 comments each.
const COMMENTED_POSTS: i64 = 1_000;
const COMMENTS_PER_POST: i64 = 10;
const W4_USERS: i64 = 100;

/// `1..=n` as a row source named `s(i)`.
fn series(dialect: orm_sqlx::Dialect, n: i64) -> String {
    match dialect {
        orm_sqlx::Dialect::Postgres => format!("generate_series(1, {n}) AS s(i)"),
        _ => format!(
            "(WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {n}) \
             SELECT i FROM c) AS s"
        ),
    }
}

/// bench.rs's seed, for SQLite and PostgreSQL: the ORM creates the tables from its models,
/// then the rows are inserted by SQL.
async fn seed(db: &Db) -> Outcome<()> {
    let d = db.dialect();
    db.create_tables::<(User, Post, Comment)>().await?;
    db.execute_raw(&format!(
        "INSERT INTO users (id, name, hair_color) SELECT i, 'user ' || i, \
         CASE WHEN i % 3 = 0 THEN NULL ELSE 'brown' END FROM {}",
        series(d, USERS)
    ))
    .await?;
    db.execute_raw(&format!(
        "INSERT INTO posts (id, user_id, title, body) SELECT i, (i - 1) / 10 + 1, \
         'title ' || i, CASE WHEN i % 2 = 0 THEN NULL ELSE \
         'a body of some length for post ' || i END FROM {}",
        series(d, POSTS)
    ))
    .await?;
    db.execute_raw(&format!(
        "INSERT INTO comments (id, post_id, text) SELECT i, (i - 1) / {COMMENTS_PER_POST} + 1, \
         'comment ' || i FROM {}",
        series(d, COMMENTED_POSTS * COMMENTS_PER_POST)
    ))
    .await?;
    if d == orm_sqlx::Dialect::Postgres {
        for t in ["users", "posts", "comments"] {
            db.execute_raw(&format!(
                "SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT max(id) FROM {t}))"
            ))
            .await?;
        }
        db.execute_raw("ANALYZE").await?;
    }
    Ok(())
}

// ---- the columns and the sampling ----------------------------------------------------------

/// The columns, in the order of the table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    /// The ORM on its `Db` (the pool).
    Orm,
    /// Hand-written sqlx on the same pool: the baseline.
    SqlxPool,
    /// Hand-written sqlx on one bare connection.
    SqlxConn,
    /// Diesel, sync, on one bare connection.
    Diesel,
    /// diesel-async on one bare `AsyncPgConnection`.
    DieselAsync,
    /// SeaORM on its `DatabaseConnection` (a sqlx pool, SeaORM's default options).
    Sea,
}

const VARIANTS: [Variant; 6] = [
    Variant::Orm,
    Variant::SqlxPool,
    Variant::SqlxConn,
    Variant::Diesel,
    Variant::DieselAsync,
    Variant::Sea,
];

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Variant::Orm => "ORM",
            Variant::SqlxPool => "sqlx pool",
            Variant::SqlxConn => "sqlx bare conn",
            Variant::Diesel => "Diesel",
            Variant::DieselAsync => "diesel-async",
            Variant::Sea => "SeaORM",
        }
    }
}

/// The workloads, in the order of the issue's table.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    W1(i64),
    W2,
    W3,
    W4,
    W5,
}

const WORKS: [Work; 6] = [
    Work::W1(1),
    Work::W2,
    Work::W1(10_000),
    Work::W3,
    Work::W4,
    Work::W5,
];

impl Work {
    fn name(self) -> String {
        match self {
            Work::W1(n) => format!("W1 load users, N = {n}"),
            Work::W2 => "W2 get user by pk".into(),
            Work::W3 => format!("W3 posts + their user (join), {POSTS} rows"),
            Work::W4 => format!("W4 nested prefetch {W4_USERS} × 10 × 10"),
            Work::W5 => format!("W5 values((id, name)), {USERS} rows"),
        }
    }
}

/// W2's key on a column's `k`-th call: every column reads the same users in the same order.
fn w2_key(k: usize) -> i64 {
    k as i64 % USERS + 1
}

#[derive(Clone, Copy)]
struct Config {
    /// Wall time for one workload, shared by its columns.
    budget: Duration,
    min_samples: usize,
    warmup: usize,
    /// Run only the workloads whose name starts with this (`--only W4`).
    only: Option<&'static str>,
}

impl Config {
    fn runs(&self, workload: &str) -> bool {
        self.only.is_none_or(|w| workload.starts_with(w))
    }
}

/// The medians of one workload, by column (`None`: the column does not run here).
struct Medians {
    times: [Option<Duration>; 6],
    samples: usize,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The `round`-th of the k! orders of `k` columns, all in turn, so that each column runs
/// first, last and after each other equally often over k! rounds (bench.rs's 24 orders of
/// four, for any k).
fn order(round: usize, k: usize) -> Vec<usize> {
    let fact: usize = (1..=k).product();
    let mut rest: Vec<usize> = (0..k).collect();
    let mut code = round % fact;
    let mut radix = fact;
    let mut out = Vec::with_capacity(k);
    for left in (1..=k).rev() {
        radix /= left;
        out.push(rest.remove(code / radix));
        code %= radix;
    }
    out
}

/// The three pools: the ORM's `Db` (made by `Db::connect`), the hand-written sqlx columns'
/// pool (sqlx's default options, as a sqlx user has it) and the sqlx pool inside SeaORM's
/// `DatabaseConnection`, the last two wrapped in a `Db` only so that [`settle`] can wait
/// for them.
#[derive(Clone, Copy)]
struct Pools<'a> {
    orm: &'a Db,
    hand: &'a Db,
    sea: &'a Db,
}

/// Wait, untimed, until every connection of the three pools is back (sqlx returns, and pings,
/// a connection in a task of its own; that work must not be billed to the next sample).
async fn settle(pools: Pools<'_>) {
    let deadline = Instant::now() + Duration::from_millis(50);
    loop {
        // Shelved connections (a `Db::connect` pool's) count as idle.
        let settled = pools.orm.is_settled() && pools.hand.is_settled() && pools.sea.is_settled();
        if settled || Instant::now() > deadline {
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// Sample the columns in turn (see [`order`]) until the budget is spent and each has
/// `min_samples`, after `warmup` untimed rounds. `run(column, k)` does the work once, as
/// the column's `k`-th call, and returns its checksum; the columns' `k`-th checksums must
/// be equal, for every `k`, or the run fails.
async fn measure(
    cfg: Config,
    pools: Pools<'_>,
    columns: &[Variant],
    mut run: impl AsyncFnMut(Variant, usize) -> Outcome,
) -> Outcome<Medians> {
    let k = columns.len();
    let mut sums: Vec<Vec<u64>> = vec![Vec::new(); k];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); k];
    let start = Instant::now();
    let mut round = 0usize;
    while round < cfg.warmup || start.elapsed() < cfg.budget || times[0].len() < cfg.min_samples {
        for i in order(round, k) {
            settle(pools).await;
            let call = sums[i].len();
            let t = Instant::now();
            let sum = run(columns[i], call).await?;
            let took = t.elapsed();
            sums[i].push(black_box(sum));
            if round >= cfg.warmup {
                times[i].push(took);
            }
        }
        round += 1;
        // Every column has made `round` calls: compare the last ones.
        let last: Vec<u64> = sums.iter().map(|s| s[round - 1]).collect();
        if last.iter().any(|&s| s != last[0]) {
            let named: Vec<String> = columns
                .iter()
                .zip(&last)
                .map(|(c, s)| format!("{}: {s}", c.label()))
                .collect();
            return Err(format!(
                "the columns disagree on call {} ({})",
                round - 1,
                named.join(", ")
            )
            .into());
        }
    }
    let samples = times[0].len();
    let mut out = Medians {
        times: [None; 6],
        samples,
    };
    for (c, t) in columns.iter().zip(times) {
        let slot = VARIANTS.iter().position(|v| v == c).expect("a column");
        out.times[slot] = Some(median(t));
    }
    Ok(out)
}

// ---- the workloads, per column -------------------------------------------------------------

/// The ORM on its `Db`, as bench.rs writes each workload.
async fn orm_work(work: Work, db: &Db, k: usize) -> Outcome {
    Ok(match work {
        Work::W1(n) => User::objects()
            .slice(..n as usize)
            .into_vec(db)
            .await?
            .iter()
            .map(User::check)
            .sum(),
        Work::W2 => {
            let id = w2_key(k);
            let u = User::objects().filter(|u| u.id.eq(id)).get(db).await?;
            u.check()
        }
        Work::W3 => {
            let rows = Post::objects()
                .select_related(|p| p.user())
                .into_vec(db)
                .await?;
            let mut sum = 0;
            for p in &rows {
                sum += p.check() + p.user.get()?.check();
            }
            sum
        }
        Work::W4 => {
            let users = User::objects()
                .filter(|u| u.id.lte(W4_USERS))
                .prefetch_related(|u| u.posts().comments())
                .into_vec(db)
                .await?;
            orm_tree_check(&users)?
        }
        Work::W5 => {
            let qs = User::objects().values(|u| (u.id, u.name));
            qs.fetch(db)
                .await?
                .iter()
                .map(|(id, name)| check::pair(*id, name))
                .sum()
        }
    })
}

/// The hand-written SQL, in the backend's placeholder style (bench.rs's texts).
struct HandSql {
    w1: &'static str,
    w2: &'static str,
    w3: &'static str,
    w4_users: &'static str,
    w5: &'static str,
}

impl HandSql {
    fn new(dialect: orm_sqlx::Dialect) -> Self {
        let p = |s: &str| -> &'static str {
            let s = match dialect {
                orm_sqlx::Dialect::Postgres => s.to_owned(),
                _ => s.replace('$', "?"),
            };
            Box::leak(s.into_boxed_str())
        };
        HandSql {
            w1: p("SELECT id, name, hair_color FROM users LIMIT $1"),
            w2: p("SELECT id, name, hair_color FROM users WHERE id = $1"),
            w3: p(
                "SELECT p.id, p.user_id, p.title, p.body, u.id AS u_id, u.name AS u_name, \
                   u.hair_color AS u_hair_color FROM posts p JOIN users u ON u.id = p.user_id",
            ),
            w4_users: p("SELECT id, name, hair_color FROM users WHERE id <= $1"),
            w5: p("SELECT id, name FROM users"),
        }
    }
}

/// One workload by hand-written sqlx on executor `$ex` (an expression evaluated at each
/// query: the pool, or a fresh reborrow of a bare connection); `$children` runs W4's key
/// queries (an `IN` list on SQLite, one array parameter on PostgreSQL).
macro_rules! sqlx_work {
    ($work:expr, $k:expr, $sql:expr, $ex:expr, $children:ident) => {{
        let sql: &HandSql = $sql;
        let sum: u64 = match $work {
            Work::W1(n) => {
                let v: Vec<HUser> = sqlx::query_as(sql.w1).bind(n).fetch_all($ex).await?;
                v.iter().map(HUser::check).sum()
            }
            Work::W2 => {
                let u: HUser = sqlx::query_as(sql.w2)
                    .bind(w2_key($k))
                    .fetch_one($ex)
                    .await?;
                u.check()
            }
            Work::W3 => {
                let v: Vec<HPostWithUser> = sqlx::query_as(sql.w3).fetch_all($ex).await?;
                v.iter().map(|r| r.post.check() + r.user.check()).sum()
            }
            Work::W4 => {
                let users: Vec<HUser> = sqlx::query_as(sql.w4_users)
                    .bind(W4_USERS)
                    .fetch_all($ex)
                    .await?;
                let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
                let posts: Vec<HPost> = $children($ex, "posts", "user_id", &ids).await?;
                let ids: Vec<i64> = posts.iter().map(|p| p.id).collect();
                let comments: Vec<HComment> = $children($ex, "comments", "post_id", &ids).await?;
                hand_tree_check(&build_tree(users, posts, comments))
            }
            Work::W5 => {
                let v: Vec<(i64, String)> = sqlx::query_as(sql.w5).fetch_all($ex).await?;
                v.iter().map(|(id, name)| check::pair(*id, name)).sum()
            }
        };
        sum
    }};
}

/// W4's child query by hand on SQLite: an `IN` list with one placeholder per key.
async fn sqlite_children<'c, T, E>(ex: E, table: &str, key: &str, ids: &[i64]) -> Outcome<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
    E: sqlx::Executor<'c, Database = sqlx::Sqlite>,
{
    let cols = if table == "posts" {
        "id, user_id, title, body"
    } else {
        "id, post_id, text"
    };
    let marks = vec!["?"; ids.len()].join(", ");
    let text = format!("SELECT {cols} FROM {table} WHERE {key} IN ({marks})");
    let mut q = sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(text));
    for id in ids {
        q = q.bind(*id);
    }
    Ok(q.fetch_all(ex).await?)
}

/// W4's child query by hand on PostgreSQL: one array parameter, `= ANY($1)`.
async fn postgres_children<'c, T, E>(ex: E, table: &str, key: &str, ids: &[i64]) -> Outcome<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    E: sqlx::Executor<'c, Database = sqlx::Postgres>,
{
    let text: &'static str = match (table, key) {
        ("posts", _) => "SELECT id, user_id, title, body FROM posts WHERE user_id = ANY($1)",
        _ => "SELECT id, post_id, text FROM comments WHERE post_id = ANY($1)",
    };
    Ok(sqlx::query_as::<_, T>(text).bind(ids).fetch_all(ex).await?)
}

/// diesel-async on PostgreSQL.
async fn diesel_async_work(work: Work, conn: &mut AsyncPgConnection, k: usize) -> Outcome {
    use peers::diesel_async_pg as d;
    Ok(match work {
        Work::W1(n) => d::w1(conn, n).await?,
        Work::W2 => d::w2(conn, w2_key(k)).await?,
        Work::W3 => d::w3(conn).await?,
        Work::W4 => d::w4(conn, W4_USERS).await?,
        Work::W5 => d::w5(conn).await?,
    })
}

/// SeaORM on its `DatabaseConnection`.
async fn sea_work(work: Work, db: &sea_orm::DatabaseConnection, k: usize) -> Outcome {
    use peers::sea as s;
    Ok(match work {
        Work::W1(n) => s::w1(db, n).await?,
        Work::W2 => s::w2(db, w2_key(k)).await?,
        Work::W3 => s::w3(db).await?,
        Work::W4 => s::w4(db, W4_USERS).await?,
        Work::W5 => s::w5(db).await?,
    })
}

/// Generate the suite for one backend: `$DB`/`$Conn` sqlx's, `$children` W4's key queries
/// by hand, `$DConn` and `$diesel` Diesel's connection and workloads; `pools.hand` wraps
/// `pool`, `pools.sea` the pool inside `sea`.
macro_rules! backend_suite {
    ($run:ident, $DB:ty, $Conn:ty, $children:ident, $DConn:ty, $diesel:path) => {
        async fn $run(
            cfg: Config,
            pools: Pools<'_>,
            pool: &sqlx::Pool<$DB>,
            conn: &mut $Conn,
            dconn: &mut $DConn,
            mut aconn: Option<&mut AsyncPgConnection>,
            sea: &sea_orm::DatabaseConnection,
        ) -> Outcome<Vec<Line>> {
            use $diesel as d;
            let db = pools.orm;
            let sql = HandSql::new(db.dialect());
            let with_async = aconn.is_some();
            let columns: Vec<Variant> = VARIANTS
                .into_iter()
                .filter(|&v| v != Variant::DieselAsync || with_async)
                .collect();
            let mut lines = Vec::new();
            for work in WORKS {
                let name = work.name();
                if !cfg.runs(&name) {
                    continue;
                }
                let m = measure(cfg, pools, &columns, async |v, k| {
                    Ok(match v {
                        Variant::Orm => orm_work(work, db, k).await?,
                        Variant::SqlxPool => sqlx_work!(work, k, &sql, pool, $children),
                        Variant::SqlxConn => sqlx_work!(work, k, &sql, &mut *conn, $children),
                        Variant::Diesel => match work {
                            Work::W1(n) => d::w1(dconn, n)?,
                            Work::W2 => d::w2(dconn, w2_key(k))?,
                            Work::W3 => d::w3(dconn)?,
                            Work::W4 => d::w4(dconn, W4_USERS)?,
                            Work::W5 => d::w5(dconn)?,
                        },
                        Variant::DieselAsync => {
                            let c = aconn.as_deref_mut().ok_or("diesel-async: no connection")?;
                            diesel_async_work(work, c, k).await?
                        }
                        Variant::Sea => sea_work(work, sea, k).await?,
                    })
                })
                .await?;
                report(&name, &m);
                lines.push(Line { workload: name, m });
            }
            Ok(lines)
        }
    };
}

backend_suite!(
    run_sqlite,
    sqlx::Sqlite,
    sqlx::SqliteConnection,
    sqlite_children,
    diesel::SqliteConnection,
    peers::diesel_sync::sqlite
);
backend_suite!(
    run_postgres,
    sqlx::Postgres,
    sqlx::PgConnection,
    postgres_children,
    diesel::PgConnection,
    peers::diesel_sync::postgres
);

// ---- reporting -----------------------------------------------------------------------------

struct Line {
    workload: String,
    m: Medians,
}

fn fmt_time(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// A column's cell: its ratio to pooled sqlx, then its median; `—` where it does not run.
fn cell(m: &Medians, v: Variant) -> String {
    let slot = VARIANTS.iter().position(|c| *c == v).expect("a column");
    match (m.times[slot], m.times[1]) {
        (Some(t), Some(base)) => format!(
            "{:.2} ({})",
            t.as_secs_f64() / base.as_secs_f64(),
            fmt_time(t)
        ),
        _ => "—".into(),
    }
}

/// The ORM's median over SeaORM's.
fn orm_over_sea(m: &Medians) -> String {
    let slot = |v| VARIANTS.iter().position(|c| *c == v).expect("a column");
    match (m.times[slot(Variant::Orm)], m.times[slot(Variant::Sea)]) {
        (Some(orm), Some(sea)) => format!("{:.2}", orm.as_secs_f64() / sea.as_secs_f64()),
        _ => "—".into(),
    }
}

fn report(workload: &str, m: &Medians) {
    let cells: Vec<String> = VARIANTS
        .iter()
        .filter(|&&v| v != Variant::SqlxPool)
        .map(|&v| format!("{} {}", v.label(), cell(m, v)))
        .collect();
    eprintln!(
        "  {workload}: sqlx pool {}; {}; ORM / SeaORM {}; {} samples",
        m.times[1].map(fmt_time).unwrap_or_default(),
        cells.join(", "),
        orm_over_sea(m),
        m.samples
    );
}

fn print_table(backend: &str, lines: &[Line]) {
    println!();
    println!("### {backend}");
    println!();
    println!(
        "Ratio to hand-written sqlx on the pool (below 1.00: faster), then the median; \
         the last column is the ORM's time over SeaORM's (below 1.00: the ORM is faster)."
    );
    println!();
    println!(
        "| workload | sqlx pool (= 1.00) | ORM | sqlx bare conn | Diesel | diesel-async | SeaORM | samples | ORM / SeaORM |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for l in lines {
        let m = &l.m;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            l.workload,
            m.times[1].map(fmt_time).unwrap_or_default(),
            cell(m, Variant::Orm),
            cell(m, Variant::SqlxConn),
            cell(m, Variant::Diesel),
            cell(m, Variant::DieselAsync),
            cell(m, Variant::Sea),
            m.samples,
            orm_over_sea(m),
        );
    }
}

// ---- set-up per backend --------------------------------------------------------------------

async fn bench_sqlite(cfg: Config) -> Outcome<()> {
    use sqlx::ConnectOptions;
    let path = std::env::temp_dir().join(format!("orm-bench-peers-{}.db", std::process::id()));
    let url = format!("sqlite://{}", path.display());
    let result = async {
        let options = orm_sqlx::sqlite::connect_options(&url)?;
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .connect_with(options.clone())
            .await?;
        let hand = Db::from(pool.clone());
        let db = Db::connect(&url).await?;
        eprintln!("sqlite: seeding {}", path.display());
        seed(&db).await?;
        let mut conn = options.connect().await?;
        let mut dconn = diesel::SqliteConnection::establish(&path.to_string_lossy())?;
        // What sqlx's connect options set on each connection.
        dconn.batch_execute("PRAGMA foreign_keys = ON")?;
        // SeaORM as its docs connect: `Database::connect(url)`, its default options (a
        // sqlx pool of one connection on SQLite, sqlx's `foreign_keys = ON` from the URL).
        let sea = sea_orm::Database::connect(&url).await?;
        check_sea_sqlite(&sea).await?;
        let sea_pool = Db::from(sea.get_sqlite_connection_pool().clone());
        let pools = Pools {
            orm: &db,
            hand: &hand,
            sea: &sea_pool,
        };
        let lines = run_sqlite(cfg, pools, &pool, &mut conn, &mut dconn, None, &sea).await?;
        pool.close().await;
        sea.close().await?;
        print_table("SQLite (file)", &lines);
        Ok::<_, BoxError>(())
    }
    .await;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    result
}

const SCHEMA: &str = "orm_bench_peers";

async fn bench_postgres(cfg: Config) -> Outcome<()> {
    use sqlx::ConnectOptions;
    let url = std::env::var("ORM_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let base: sqlx::postgres::PgConnectOptions = url.parse()?;
    {
        let mut admin = base.connect().await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}"
        )))
        .execute(&mut admin)
        .await?;
    }
    let options = base.clone().options([("search_path", SCHEMA)]);
    let result = async {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_with(options.clone())
            .await?;
        let hand = Db::from(pool.clone());
        let sep = if url.contains('?') { '&' } else { '?' };
        let db = Db::connect(&format!("{url}{sep}options[search_path]={SCHEMA}")).await?;
        eprintln!("postgres: seeding schema {SCHEMA}");
        seed(&db).await?;
        let mut conn = options.connect().await?;
        let set_path = format!("SET search_path TO {SCHEMA}");
        // libpq prefers TLS when the server offers it (Debian's does); sqlx here is built
        // without TLS and diesel-async connects with `NoTls`: every column in plain TCP.
        let mut dconn = diesel::PgConnection::establish(&without_tls(&url))?;
        dconn.batch_execute(&set_path)?;
        let mut aconn = AsyncPgConnection::establish(&url).await?;
        aconn.batch_execute(&set_path).await?;
        let tls = || {
            diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
                "(SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())",
            ))
        };
        let sync_tls: bool = diesel::RunQueryDsl::get_result(tls(), &mut dconn)?;
        let async_tls: bool = diesel_async::RunQueryDsl::get_result(tls(), &mut aconn).await?;
        if sync_tls || async_tls {
            return Err("a Diesel connection runs over TLS, the sqlx ones do not".into());
        }
        // SeaORM as its docs connect, with its own option for the schema (a
        // `SET search_path` on each new connection); otherwise its defaults.
        let mut sea_options = sea_orm::ConnectOptions::new(url.clone());
        sea_options.set_schema_search_path(SCHEMA);
        let sea = sea_orm::Database::connect(sea_options).await?;
        let sea_pool = Db::from(sea.get_postgres_connection_pool().clone());
        let pools = Pools {
            orm: &db,
            hand: &hand,
            sea: &sea_pool,
        };
        let lines = run_postgres(
            cfg,
            pools,
            &pool,
            &mut conn,
            &mut dconn,
            Some(&mut aconn),
            &sea,
        )
        .await?;
        pool.close().await;
        sea.close().await?;
        print_table("PostgreSQL (TCP, localhost)", &lines);
        Ok::<_, BoxError>(())
    }
    .await;
    let mut admin = base.connect().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"
    )))
    .execute(&mut admin)
    .await?;
    result
}

/// SeaORM's SQLite connection runs with the setting the others have: `foreign_keys` on.
async fn check_sea_sqlite(sea: &sea_orm::DatabaseConnection) -> Outcome<()> {
    use sea_orm::ConnectionTrait as _;
    let row = sea
        .query_one_raw(sea_orm::Statement::from_string(
            sea.get_database_backend(),
            "PRAGMA foreign_keys",
        ))
        .await?
        .ok_or("PRAGMA foreign_keys: no row")?;
    let on: i64 = row.try_get_by_index(0)?;
    if on != 1 {
        return Err("SeaORM's SQLite connection has foreign_keys off".into());
    }
    Ok(())
}

/// `url` with `sslmode=disable`, unless it names an `sslmode` already.
fn without_tls(url: &str) -> String {
    if url.contains("sslmode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&sslmode=disable")
    } else {
        format!("{url}?sslmode=disable")
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: bench-peers [--backend sqlite|postgres|all] [--quick] [--seconds N] [--only W<n>]"
    );
    std::process::exit(2);
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Outcome<()> {
    // SQLite's memory statistics are per process (the ORM turns them off before it opens
    // SQLite): off for every column, sqlx's and Diesel's too, which share this process's
    // SQLite (one libsqlite3-sys), or the comparison would flatter the ORM.
    if !orm_sqlx::sqlite::disable_memory_statistics() {
        return Err("SQLite started before the bench could turn its memory statistics off".into());
    }
    let mut backend = "all".to_owned();
    let mut quick = false;
    let mut seconds: Option<u64> = None;
    let mut only: Option<&'static str> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--backend" => backend = args.next().unwrap_or_else(|| usage()),
            "--quick" => quick = true,
            "--seconds" => {
                seconds = Some(
                    args.next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| usage()),
                );
            }
            "--only" => {
                let w = args.next().unwrap_or_else(|| usage());
                only = Some(Box::leak(w.into_boxed_str()));
            }
            _ => usage(),
        }
    }
    let mut cfg = if quick {
        Config {
            budget: Duration::from_millis(300),
            min_samples: 3,
            warmup: 1,
            only,
        }
    } else {
        Config {
            budget: Duration::from_secs(4),
            min_samples: 15,
            warmup: 3,
            only,
        }
    };
    if let Some(n) = seconds {
        cfg.budget = Duration::from_secs(n);
    }
    if cfg!(debug_assertions) {
        eprintln!("bench-peers: DEBUG build: numbers are meaningless; run with --release");
    } else {
        eprintln!("bench-peers: release build");
    }
    match backend.as_str() {
        "sqlite" => bench_sqlite(cfg).await,
        "postgres" => bench_postgres(cfg).await,
        "all" => {
            bench_sqlite(cfg).await?;
            bench_postgres(cfg).await
        }
        _ => usage(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sampling_orders_are_all_the_permutations() {
        for k in 1..=6 {
            let fact: usize = (1..=k).product();
            let mut seen: Vec<Vec<usize>> = (0..fact).map(|r| super::order(r, k)).collect();
            for o in &seen {
                let mut sorted = o.clone();
                sorted.sort();
                assert_eq!(sorted, (0..k).collect::<Vec<_>>());
            }
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), fact);
            assert_eq!(super::order(fact, k), super::order(0, k));
        }
    }
}
