//! The benchmark suite of issue 4: each workload done by the ORM and by the sqlx code a
//! careful person writes by hand (`query_as` with `FromRow` impls written exactly as
//! `#[derive(sqlx::FromRow)]` generates them), on the same pool, in the same run, sampled
//! in turn so that a change of machine load hits every column alike. A second pair of
//! columns runs both on one bare connection (sqlx 0.9's pool pings a connection when it
//! is returned). BENCHMARKS.md at the repository root has the numbers and the story.
//!
//! ```sh
//! cargo run --release -p examples --bin bench -- [--backend sqlite|postgres|mysql|all] [--quick]
//! ```
//!
//! PostgreSQL: `ORM_BENCH_POSTGRES_URL`, else `postgres://postgres@127.0.0.1:5432/test`; the
//! suite works in a schema of its own (`orm_bench`), dropped at the end. MySQL/MariaDB:
//! `ORM_BENCH_MYSQL_URL` (a server, without a database), else `mysql://root@127.0.0.1:3306`;
//! the suite creates a database of its own (`orm_bench`) and drops it at the end. SQLite: a
//! file in the temporary directory, removed at the end.
//!
//! `ORM_BENCH_OBSERVE=1` measures the cost of seeing everything: each ORM evaluation runs
//! inside `capture_queries` with `analyze` after it (what the web layer does per request
//! with the debug panel on), under a `tracing` subscriber that takes every span of the ORM.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use orm_sqlx::prelude::*;
use orm_sqlx::sqlx::{self, Row as _};
use orm_sqlx::{ConnRef, Db};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Outcome<T = usize> = std::result::Result<T, BoxError>;

// ---- peak memory (W8) -------------------------------------------------------------------

/// The system allocator, counting the bytes live and, while `TRACK` is on, their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static TRACK: AtomicBool = AtomicBool::new(false);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    if TRACK.load(Ordering::Relaxed) {
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters move.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on as it is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Run `f` and return its output with the peak of bytes live above what was live before.
async fn peak_of<T>(f: impl AsyncFnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    TRACK.store(true, Ordering::Relaxed);
    let out = f().await;
    TRACK.store(false, Ordering::Relaxed);
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

// ---- the schema, as ORM models ------------------------------------------------------------

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

// ---- the same schema, hand-written for sqlx ------------------------------------------------
//
// Each `FromRow` impl is what `#[derive(sqlx::FromRow)]` expands to (the bench builds sqlx
// without its `macros`/`derive` features): generic over the row type, every column
// looked up by name with the type-checked `try_get`.

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

/// A user and a count (W9), read by name as `#[derive(sqlx::FromRow)]` would.
#[derive(Debug, Clone)]
pub struct HUserCount {
    pub user: HUser,
    pub n: i64,
}

impl<'a, R: sqlx::Row> sqlx::FromRow<'a, R> for HUserCount
where
    &'a str: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'a R) -> sqlx::Result<Self> {
        Ok(HUserCount {
            user: HUser::from_row(row)?,
            n: row.try_get("n")?,
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

/// A post and its user from one JOIN; the user's columns are aliased `u_*`, the way one
/// writes it by hand (`#[sqlx(flatten)]` cannot tell two `id` columns apart).
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

/// W4's nested structure, built by hand.
pub struct HUserTree {
    pub user: HUser,
    pub posts: Vec<HPostTree>,
}

pub struct HPostTree {
    pub post: HPost,
    pub comments: Vec<HComment>,
}

fn build_tree(users: Vec<HUser>, posts: Vec<HPost>, comments: Vec<HComment>) -> Vec<HUserTree> {
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

fn tree_size(t: &[HUserTree]) -> usize {
    t.iter()
        .flat_map(|u| &u.posts)
        .map(|p| 1 + p.comments.len())
        .sum::<usize>()
        + t.len()
}

fn orm_tree_size(users: &[User]) -> Outcome {
    let mut n = users.len();
    for u in users {
        for p in u.posts.all()? {
            n += 1 + p.comments.all()?.len();
        }
    }
    Ok(n)
}

// ---- sizes ---------------------------------------------------------------------------------

const USERS: i64 = 10_000;
const POSTS: i64 = 10_000;
/// Posts 1..=1000 (those of users 1..=100) have 10 comments each.
const COMMENTED_POSTS: i64 = 1_000;
const COMMENTS_PER_POST: i64 = 10;
const W4_USERS: i64 = 100;
const W6_BATCH: usize = 100;
const W7_EVALS: usize = 1_000;
const W8_SIZES: [i64; 2] = [100_000, 1_000_000];
const W8_CHUNK: usize = 2_000;

// ---- sampling ------------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Config {
    /// Wall time for one workload, shared by its columns.
    budget: Duration,
    min_samples: usize,
    warmup: usize,
    /// Run only the workloads whose name starts with this (`--only W4`), for profiling.
    only: Option<&'static str>,
    /// Counting mode (`--variant orm --iters 20`, under callgrind): after the warm-up, run
    /// only this column (0 ORM, 1 sqlx, 2 ORM on the bare connection, 3 sqlx on it),
    /// `iters` times, untimed. See `examples/instructions.sh`.
    variant: Option<usize>,
    iters: usize,
}

impl Config {
    /// Whether to run a workload: all, or the one `--only` names, whole (`W1 load users,
    /// N = 100`) or by its first word (`W1`). The counting mode skips the cache (W7) and
    /// memory (W8).
    fn runs(&self, workload: &str) -> bool {
        let counted = !["W7", "W8"].iter().any(|w| workload.starts_with(w));
        (self.variant.is_none() || counted)
            && self.only.is_none_or(|w| {
                w == workload || first_word(w) == workload || w == first_word(workload)
            })
    }
}

fn first_word(s: &str) -> &str {
    s.split(' ').next().unwrap_or_default()
}

/// The medians of one workload: ORM and hand-written sqlx on the pool, then both on one
/// bare connection.
#[derive(Clone, Copy, Default)]
struct Medians {
    orm: Duration,
    sqlx: Duration,
    orm_conn: Duration,
    sqlx_conn: Duration,
    samples: usize,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The order of the four variants in round `round`: all 24 orders in turn, so that each
/// variant runs first, last and after each of the others equally often. (Rotating one
/// order would always put the same variant after the same neighbour.)
fn order(round: usize) -> [usize; 4] {
    let mut rest = vec![0, 1, 2, 3];
    let mut k = round % 24;
    let mut out = [0; 4];
    for (slot, radix) in out.iter_mut().zip([6, 2, 1, 1]) {
        *slot = rest.remove(k / radix);
        k %= radix;
    }
    out
}

/// Wait, untimed, until every pool connection is back in the pool. A pool sample ends
/// when its connection is handed back, but sqlx returns (and pings) it in a task of its
/// own; without this, that work is billed to whichever sample runs next.
async fn settle(db: &Db) {
    let hand = HAND_POOL.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let deadline = Instant::now() + Duration::from_millis(50);
    loop {
        let settled = db.is_settled() && hand.as_ref().is_none_or(Db::is_settled);
        if settled || Instant::now() > deadline {
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// The hand-written sqlx variants' pool (sqlx's default pool options, as a sqlx user has
/// them; the ORM's `Db` has a pool of its own, made by `Db::connect`), wrapped only so
/// that [`settle`] can wait for it too.
static HAND_POOL: std::sync::Mutex<Option<Db>> = std::sync::Mutex::new(None);

fn set_hand_pool(db: Db) {
    *HAND_POOL.lock().unwrap_or_else(|e| e.into_inner()) = Some(db);
}

/// Whether ORM evaluations run observed (`ORM_BENCH_OBSERVE=1`).
static OBSERVE: AtomicBool = AtomicBool::new(false);

/// `fut` captured, its statements analysed, as the web layer does per request.
async fn observed(fut: impl std::future::Future<Output = Outcome>) -> Outcome {
    let (out, queries) = orm_sqlx::capture_queries(fut).await;
    black_box(orm_sqlx::analyze(&queries));
    out
}

/// A `tracing` subscriber that wants every span and event of the ORM and keeps nothing:
/// what its spans cost the ORM, not what a real subscriber costs (nor sqlx's own logging).
struct TakesAll(AtomicUsize);

impl tracing::Subscriber for TakesAll {
    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        meta.target().starts_with("orm_sqlx")
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(self.0.fetch_add(1, Ordering::Relaxed) as u64 + 1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Run variant `i` once: 0 ORM, 1 sqlx, 2 ORM on the bare connection, 3 sqlx on it.
async fn run_variant(
    i: usize,
    orm: &mut impl AsyncFnMut() -> Outcome,
    hand: &mut impl AsyncFnMut() -> Outcome,
    orm_conn: &mut impl AsyncFnMut() -> Outcome,
    hand_conn: &mut impl AsyncFnMut() -> Outcome,
) -> Outcome {
    let observe = OBSERVE.load(Ordering::Relaxed);
    match i {
        0 if observe => observed(orm()).await,
        2 if observe => observed(orm_conn()).await,
        0 => orm().await,
        1 => hand().await,
        2 => orm_conn().await,
        _ => hand_conn().await,
    }
}

/// Sample four variants in turn (see [`order`]) until the budget is spent (and each has
/// `min_samples`), settling the pool between samples.
/// Each returns a checksum (rows read); the four must agree, or the comparison is unfair.
async fn measure(
    cfg: Config,
    db: &Db,
    mut orm: impl AsyncFnMut() -> Outcome,
    mut hand: impl AsyncFnMut() -> Outcome,
    mut orm_conn: impl AsyncFnMut() -> Outcome,
    mut hand_conn: impl AsyncFnMut() -> Outcome,
) -> Outcome<Medians> {
    for _ in 0..cfg.warmup {
        let sums = [
            orm().await?,
            hand().await?,
            orm_conn().await?,
            hand_conn().await?,
        ];
        if sums.iter().any(|&s| s != sums[0]) {
            return Err(format!("the variants disagree (rows read: {sums:?})").into());
        }
    }
    if let Some(i) = cfg.variant {
        for _ in 0..cfg.iters {
            black_box(run_variant(i, &mut orm, &mut hand, &mut orm_conn, &mut hand_conn).await?);
        }
        return Ok(Medians {
            samples: cfg.iters,
            ..Medians::default()
        });
    }
    let mut times: [Vec<Duration>; 4] = Default::default();
    let start = Instant::now();
    let mut round = 0usize;
    while start.elapsed() < cfg.budget || times[0].len() < cfg.min_samples {
        for i in order(round) {
            settle(db).await;
            let t = Instant::now();
            black_box(run_variant(i, &mut orm, &mut hand, &mut orm_conn, &mut hand_conn).await?);
            times[i].push(t.elapsed());
        }
        round += 1;
    }
    let samples = times[0].len();
    let [a, b, c, d] = times;
    Ok(Medians {
        orm: median(a),
        sqlx: median(b),
        orm_conn: median(c),
        sqlx_conn: median(d),
        samples,
    })
}

// ---- reporting -----------------------------------------------------------------------------

struct Line {
    workload: String,
    m: Medians,
    target: &'static str,
    /// Divide the medians by this before printing (W7 times a batch of evaluations).
    per: u32,
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

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn print_table(backend: &str, lines: &[Line], memory: &[MemoryLine]) {
    println!();
    println!("### {backend}");
    println!();
    println!(
        "| workload | ORM (pool) | sqlx (pool) | **ORM / sqlx** | target | ORM (conn) | sqlx (conn) | ORM / sqlx (conn) | samples |"
    );
    println!("|---|---:|---:|---:|---|---:|---:|---:|---:|");
    for l in lines {
        let m = &l.m;
        println!(
            "| {} | {} | {} | **{:.2}** | {} | {} | {} | {:.2} | {} |",
            l.workload,
            fmt_time(m.orm / l.per),
            fmt_time(m.sqlx / l.per),
            ratio(m.orm, m.sqlx),
            l.target,
            fmt_time(m.orm_conn / l.per),
            fmt_time(m.sqlx_conn / l.per),
            ratio(m.orm_conn, m.sqlx_conn),
            m.samples,
        );
    }
    println!();
    println!(
        "| W8 rows | ORM iterator({W8_CHUNK}) | ORM fetch | sqlx fetch (stream) | sqlx fetch_all | ORM iterator time | sqlx stream time |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for m in memory {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            m.rows,
            fmt_bytes(m.orm_iter),
            fmt_bytes(m.orm_fetch),
            fmt_bytes(m.sqlx_stream),
            fmt_bytes(m.sqlx_fetch_all),
            fmt_time(m.orm_iter_time),
            fmt_time(m.sqlx_stream_time),
        );
    }
}

fn fmt_bytes(b: usize) -> String {
    let b = b as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else {
        format!("{:.0} KiB", b / 1024.0)
    }
}

struct MemoryLine {
    rows: i64,
    orm_iter: usize,
    orm_fetch: usize,
    sqlx_stream: usize,
    sqlx_fetch_all: usize,
    orm_iter_time: Duration,
    sqlx_stream_time: Duration,
}

// ---- data ----------------------------------------------------------------------------------

/// `1..=n` as a row source named `s(i)`.
fn series(dialect: orm_sqlx::Dialect, n: i64) -> String {
    match dialect {
        orm_sqlx::Dialect::Postgres => format!("generate_series(1, {n}) AS s(i)"),
        // A recursive CTE stops at 1,000 rows on both servers (`max_recursive_iterations`
        // on MariaDB, `cte_max_recursion_depth` on MySQL): cross-join decimal digits.
        orm_sqlx::Dialect::Mysql => {
            let digits = n.max(1).ilog10() as usize + 1;
            let digit = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL \
                         SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 \
                         UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";
            let value = (0..digits)
                .map(|k| format!("{} * d{k}.d", 10i64.pow(k as u32)))
                .collect::<Vec<_>>()
                .join(" + ");
            let tables = (0..digits)
                .map(|k| format!("{digit} AS d{k}"))
                .collect::<Vec<_>>()
                .join(" CROSS JOIN ");
            format!(
                "(SELECT i FROM (SELECT {value} + 1 AS i FROM {tables}) AS t WHERE i <= {n}) AS s"
            )
        }
        _ => format!(
            "(WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {n}) \
             SELECT i FROM c) AS s"
        ),
    }
}

/// `a || b`; MySQL's `||` is a logical OR (the ORM's sessions leave `PIPES_AS_CONCAT` off).
fn concat(dialect: orm_sqlx::Dialect, a: &str, b: &str) -> String {
    match dialect {
        orm_sqlx::Dialect::Mysql => format!("CONCAT({a}, {b})"),
        _ => format!("{a} || {b}"),
    }
}

/// Integer division; MySQL's `/` gives a decimal.
fn int_div(dialect: orm_sqlx::Dialect, a: &str, b: &str) -> String {
    match dialect {
        orm_sqlx::Dialect::Mysql => format!("{a} DIV {b}"),
        _ => format!("{a} / {b}"),
    }
}

fn insert_users(dialect: orm_sqlx::Dialect, from: i64, to: i64) -> String {
    format!(
        "INSERT INTO users (id, name, hair_color) SELECT i + {off}, {name}, \
         CASE WHEN (i + {off}) % 3 = 0 THEN NULL ELSE 'brown' END FROM {s}",
        off = from - 1,
        name = concat(dialect, "'user '", &format!("(i + {})", from - 1)),
        s = series(dialect, to - from + 1)
    )
}

async fn seed(db: &Db) -> Outcome<()> {
    let d = db.dialect();
    db.create_tables::<(User, Post, Comment)>().await?;
    db.execute_raw(&insert_users(d, 1, USERS)).await?;
    db.execute_raw(&format!(
        "INSERT INTO posts (id, user_id, title, body) SELECT i, {} + 1, {}, \
         CASE WHEN i % 2 = 0 THEN NULL ELSE {} END FROM {}",
        int_div(d, "(i - 1)", "10"),
        concat(d, "'title '", "i"),
        concat(d, "'a body of some length for post '", "i"),
        series(d, POSTS)
    ))
    .await?;
    db.execute_raw(&format!(
        "INSERT INTO comments (id, post_id, text) SELECT i, {} + 1, {} FROM {}",
        int_div(d, "(i - 1)", &COMMENTS_PER_POST.to_string()),
        concat(d, "'comment '", "i"),
        series(d, COMMENTED_POSTS * COMMENTS_PER_POST)
    ))
    .await?;
    match d {
        orm_sqlx::Dialect::Postgres => {
            reset_sequences(db).await?;
            db.execute_raw("ANALYZE").await?;
        }
        // InnoDB moves AUTO_INCREMENT past explicit keys itself; statistics for the join.
        orm_sqlx::Dialect::Mysql => {
            db.execute_raw("ANALYZE TABLE users, posts, comments")
                .await?;
        }
        _ => {}
    }
    Ok(())
}

async fn reset_sequences(db: &Db) -> Outcome<()> {
    for t in ["users", "posts", "comments"] {
        db.execute_raw(&format!(
            "SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT max(id) FROM {t}))"
        ))
        .await?;
    }
    Ok(())
}

// ---- the workloads, once per backend ---------------------------------------------------------

/// The hand-written SQL, in the backend's placeholder style.
struct HandSql {
    w1: &'static str,
    w2: &'static str,
    w3: &'static str,
    w4_users: &'static str,
    w5: &'static str,
    w7: &'static str,
    w8: &'static str,
    w9: &'static str,
}

impl HandSql {
    fn new(dialect: orm_sqlx::Dialect) -> Self {
        let p = |s: &str| -> &'static str {
            let s = match dialect {
                orm_sqlx::Dialect::Postgres => s.to_owned(),
                // MySQL takes bare `?` only (SQLite also reads `?1`); each text has one.
                orm_sqlx::Dialect::Mysql => s.replace("$1", "?"),
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
            w7: p("SELECT id, name, hair_color FROM users LIMIT $1"),
            w8: p("SELECT id, name, hair_color FROM users LIMIT $1"),
            w9: p(
                "SELECT u.id, u.name, u.hair_color, COUNT(p.id) AS n FROM users u \
                   LEFT JOIN posts p ON p.user_id = u.id GROUP BY u.id, u.name, u.hair_color",
            ),
        }
    }
}

fn new_users(n: usize) -> Vec<User> {
    (0..n)
        .map(|i| User {
            id: 0,
            name: format!("new user {i}"),
            hair_color: (i % 2 == 0).then(|| "red".to_owned()),
            posts: Reverse::default(),
        })
        .collect()
}

fn new_hand_users(n: usize) -> Vec<HUser> {
    (0..n)
        .map(|i| HUser {
            id: 0,
            name: format!("new user {i}"),
            hair_color: (i % 2 == 0).then(|| "red".to_owned()),
        })
        .collect()
}

/// The ORM's handle on a bare connection: `ConnRef::from` (SQLite, PostgreSQL).
fn conn_ref<'c, C>(_db: &Db, c: &'c mut C) -> ConnRef<'c>
where
    ConnRef<'c>: From<&'c mut C>,
{
    ConnRef::from(c)
}

/// The same on MySQL/MariaDB, with what the `Db` knows of the server (`ConnRef::from`
/// would assume no `RETURNING`, and W6 would read keys back another way than the
/// hand-written side does).
fn mysql_conn_ref<'c>(db: &Db, c: &'c mut sqlx::MySqlConnection) -> ConnRef<'c> {
    ConnRef::Mysql(c, db.mysql_server().unwrap_or_default())
}

/// Generate the suite for one sqlx backend. `$children` runs W4's two key queries by hand
/// (an `IN` list on SQLite and MySQL, one array parameter on PostgreSQL); `$conn_ref` makes
/// the ORM's handle on its bare connection.
macro_rules! backend_suite {
    ($run:ident, $DB:ty, $Conn:ty, $children:ident, $conn_ref:ident) => {
        async fn $run(
            cfg: Config,
            db: &Db,
            pool: &sqlx::Pool<$DB>,
            conn_orm: &mut $Conn,
            conn_hand: &mut $Conn,
        ) -> Outcome<(Vec<Line>, Vec<MemoryLine>)> {
            let dialect = db.dialect();
            let sql = HandSql::new(dialect);
            let mut lines = Vec::new();
            let mut memory = Vec::new();
            // Each bare connection is used by one column only.
            macro_rules! orm_conn {
                () => {
                    $conn_ref(db, &mut *conn_orm)
                };
            }
            macro_rules! hand_conn {
                () => {
                    &mut *conn_hand
                };
            }

            if cfg.runs("W1") {
                // W1: load N users into models.
                for n in [1i64, 100, 10_000] {
                    if !cfg.runs(&format!("W1 load users, N = {n}")) {
                        continue;
                    }
                    let target = if n == 10_000 { "≤ 0.90" } else { "≤ 1.00" };
                    let m = measure(
                        cfg,
                        db,
                        async || {
                            Ok(User::objects()
                                .slice(..n as usize)
                                .into_vec(db)
                                .await?
                                .len())
                        },
                        async || {
                            let v: Vec<HUser> =
                                sqlx::query_as(sql.w1).bind(n).fetch_all(pool).await?;
                            Ok(v.len())
                        },
                        async || {
                            let qs = User::objects().slice(..n as usize);
                            Ok(qs.into_vec(orm_conn!()).await?.len())
                        },
                        async || {
                            let v: Vec<HUser> = sqlx::query_as(sql.w1)
                                .bind(n)
                                .fetch_all(hand_conn!())
                                .await?;
                            Ok(v.len())
                        },
                    )
                    .await?;
                    report(&mut lines, format!("W1 load users, N = {n}"), m, target, 1);
                }
            }
            if cfg.runs("C1") || cfg.runs("C2") {
                // C1/C2 (issue 15): a cached queryset's hit, in process (the ORM column) and
                // on Redis (the ORM-on-connection column), against the query sqlx sends.
                let redis_url = std::env::var("ORM_BENCH_REDIS_URL")
                    .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
                let prefix = format!("orm_bench_{}", std::process::id());
                let local = db
                    .clone()
                    .with_cache(orm_sqlx::cache::Cache::local(64 << 20).with_prefix(&prefix));
                let redis = db.clone().with_cache(
                    orm_sqlx::cache::Cache::redis(&redis_url)
                        .await
                        .map_err(|e| format!("C1/C2 need Redis ({redis_url}): {e}"))?
                        .with_prefix(&prefix),
                );
                let ttl = std::time::Duration::from_secs(600);
                if cfg.runs("C1 cached queryset, N = 100") {
                    let m = measure(
                        cfg,
                        db,
                        async || {
                            Ok(User::objects()
                                .slice(..100)
                                .cached(ttl)
                                .into_vec(&local)
                                .await?
                                .len())
                        },
                        async || {
                            let v: Vec<HUser> =
                                sqlx::query_as(sql.w1).bind(100i64).fetch_all(pool).await?;
                            Ok(v.len())
                        },
                        async || {
                            Ok(User::objects()
                                .slice(..100)
                                .cached(ttl)
                                .into_vec(&redis)
                                .await?
                                .len())
                        },
                        async || {
                            let v: Vec<HUser> = sqlx::query_as(sql.w1)
                                .bind(100i64)
                                .fetch_all(hand_conn!())
                                .await?;
                            Ok(v.len())
                        },
                    )
                    .await?;
                    report(
                        &mut lines,
                        "C1 cached queryset, N = 100".into(),
                        m,
                        "≤ 0.10",
                        1,
                    );
                }
                if cfg.runs("C2 cached get by pk") {
                    let m = measure(
                        cfg,
                        db,
                        async || {
                            let u = User::objects().cached(ttl).get_pk(7, &local).await?;
                            Ok(u.id as usize)
                        },
                        async || {
                            let u: HUser =
                                sqlx::query_as(sql.w2).bind(7i64).fetch_one(pool).await?;
                            Ok(u.id as usize)
                        },
                        async || {
                            let u = User::objects().cached(ttl).get_pk(7, &redis).await?;
                            Ok(u.id as usize)
                        },
                        async || {
                            let u: HUser = sqlx::query_as(sql.w2)
                                .bind(7i64)
                                .fetch_one(hand_conn!())
                                .await?;
                            Ok(u.id as usize)
                        },
                    )
                    .await?;
                    report(&mut lines, "C2 cached get by pk".into(), m, "≤ 0.10", 1);
                }
                if let Some(c) = redis.cache() {
                    c.cache().clear().await?;
                }
            }
            if cfg.runs("W2") {
                // W2: one user by primary key.
                let mut k = 0i64;
                let mut next = move || {
                    k = k % USERS + 1;
                    k
                };
                let ids: Vec<i64> = (0..4096).map(|_| next()).collect();
                let (c1, c2, c3, c4) = (
                    std::cell::Cell::new(0usize),
                    std::cell::Cell::new(0usize),
                    std::cell::Cell::new(0usize),
                    std::cell::Cell::new(0usize),
                );
                let pick = |c: &std::cell::Cell<usize>| {
                    let i = c.get();
                    c.set(i + 1);
                    ids[i % ids.len()]
                };
                let m = measure(
                    cfg,
                    db,
                    async || {
                        let id = pick(&c1);
                        let u = User::objects().filter(|u| u.id.eq(id)).get(db).await?;
                        Ok(usize::from(u.id == id))
                    },
                    async || {
                        let id = pick(&c2);
                        let u: HUser = sqlx::query_as(sql.w2).bind(id).fetch_one(pool).await?;
                        Ok(usize::from(u.id == id))
                    },
                    async || {
                        let id = pick(&c3);
                        let qs = User::objects().filter(|u| u.id.eq(id));
                        let u = qs.get(orm_conn!()).await?;
                        Ok(usize::from(u.id == id))
                    },
                    async || {
                        let id = pick(&c4);
                        let u: HUser = sqlx::query_as(sql.w2)
                            .bind(id)
                            .fetch_one(hand_conn!())
                            .await?;
                        Ok(usize::from(u.id == id))
                    },
                )
                .await?;
                report(&mut lines, "W2 get user by pk".into(), m, "≤ 1.00", 1);
            }
            if cfg.runs("W3") {
                // W3: every post with its user (select_related).
                let target = if dialect == orm_sqlx::Dialect::Postgres {
                    "≤ 0.90"
                } else {
                    "≤ 1.00"
                };
                let m = measure(
                    cfg,
                    db,
                    async || {
                        let qs = Post::objects().select_related(|p| p.user());
                        let rows = qs.into_vec(db).await?;
                        Ok(rows.iter().filter(|p| p.user.get().is_ok()).count())
                    },
                    async || {
                        let v: Vec<HPostWithUser> = sqlx::query_as(sql.w3).fetch_all(pool).await?;
                        Ok(v.len())
                    },
                    async || {
                        let qs = Post::objects().select_related(|p| p.user());
                        let rows = qs.into_vec(orm_conn!()).await?;
                        Ok(rows.iter().filter(|p| p.user.get().is_ok()).count())
                    },
                    async || {
                        let v: Vec<HPostWithUser> =
                            sqlx::query_as(sql.w3).fetch_all(hand_conn!()).await?;
                        Ok(v.len())
                    },
                )
                .await?;
                report(
                    &mut lines,
                    format!("W3 posts + select_related(user), {POSTS} rows"),
                    m,
                    target,
                    1,
                );
            }
            if cfg.runs("W4") {
                // W4: users → posts → comments, nested prefetch, 100 × 10 × 10.
                let w4 = || {
                    User::objects()
                        .filter(|u| u.id.lte(W4_USERS))
                        .prefetch_related(|u| u.posts().comments())
                };
                let m = measure(
                    cfg,
                    db,
                    async || orm_tree_size(&w4().into_vec(db).await?),
                    async || {
                        let users: Vec<HUser> = sqlx::query_as(sql.w4_users)
                            .bind(W4_USERS)
                            .fetch_all(pool)
                            .await?;
                        let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
                        let posts: Vec<HPost> = $children(pool, "posts", "user_id", &ids).await?;
                        let ids: Vec<i64> = posts.iter().map(|p| p.id).collect();
                        let comments: Vec<HComment> =
                            $children(pool, "comments", "post_id", &ids).await?;
                        Ok(tree_size(&build_tree(users, posts, comments)))
                    },
                    async || {
                        let qs = w4();
                        orm_tree_size(&qs.into_vec(orm_conn!()).await?)
                    },
                    async || {
                        let users: Vec<HUser> = sqlx::query_as(sql.w4_users)
                            .bind(W4_USERS)
                            .fetch_all(&mut *conn_hand)
                            .await?;
                        let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
                        let posts: Vec<HPost> =
                            $children(&mut *conn_hand, "posts", "user_id", &ids).await?;
                        let ids: Vec<i64> = posts.iter().map(|p| p.id).collect();
                        let comments: Vec<HComment> =
                            $children(&mut *conn_hand, "comments", "post_id", &ids).await?;
                        Ok(tree_size(&build_tree(users, posts, comments)))
                    },
                )
                .await?;
                report(
                    &mut lines,
                    "W4 nested prefetch 100 × 10 × 10".into(),
                    m,
                    "≤ 0.95",
                    1,
                );
            }
            if cfg.runs("W5") {
                // W5: a typed projection of (id, name).
                let m = measure(
                    cfg,
                    db,
                    async || {
                        let qs = User::objects().values(|u| (u.id, u.name));
                        Ok(qs.fetch(db).await?.len())
                    },
                    async || {
                        let v: Vec<(i64, String)> = sqlx::query_as(sql.w5).fetch_all(pool).await?;
                        Ok(v.len())
                    },
                    async || {
                        let qs = User::objects().values(|u| (u.id, u.name));
                        Ok(qs.fetch(orm_conn!()).await?.len())
                    },
                    async || {
                        let v: Vec<(i64, String)> =
                            sqlx::query_as(sql.w5).fetch_all(hand_conn!()).await?;
                        Ok(v.len())
                    },
                )
                .await?;
                report(
                    &mut lines,
                    format!("W5 values((id, name)), {USERS} rows"),
                    m,
                    "≤ 1.00",
                    1,
                );
            }
            if cfg.runs("W9") {
                // W9: every user with a count of their posts (annotate: LEFT JOIN + GROUP
                // BY), rows handed over.
                let m = measure(
                    cfg,
                    db,
                    async || {
                        let v = User::objects()
                            .annotate(|u| u.posts().count())
                            .into_vec(db)
                            .await?;
                        Ok(v.len())
                    },
                    async || {
                        let v: Vec<HUserCount> = sqlx::query_as(sql.w9).fetch_all(pool).await?;
                        Ok(v.len())
                    },
                    async || {
                        let v = User::objects()
                            .annotate(|u| u.posts().count())
                            .into_vec(orm_conn!())
                            .await?;
                        Ok(v.len())
                    },
                    async || {
                        let v: Vec<HUserCount> =
                            sqlx::query_as(sql.w9).fetch_all(hand_conn!()).await?;
                        Ok(v.len())
                    },
                )
                .await?;
                report(
                    &mut lines,
                    format!("W9 annotate(count of posts), {USERS} users"),
                    m,
                    "≤ 1.00",
                    1,
                );
            }
            if cfg.runs("W6") {
                // W6: bulk_create of 100 users, ids read back; `measure_writes` deletes the new
                // rows, untimed, after each sample.
                let m = measure_writes(
                    cfg,
                    db,
                    async || {
                        let mut users = new_users(W6_BATCH);
                        User::objects().bulk_create(&mut users, db).await?;
                        Ok(users.iter().filter(|u| u.id > USERS).count())
                    },
                    async || {
                        let mut users = new_hand_users(W6_BATCH);
                        let mut q =
                            sqlx::QueryBuilder::<$DB>::new("INSERT INTO users (name, hair_color) ");
                        q.push_values(&users, |mut b, u| {
                            b.push_bind(u.name.clone()).push_bind(u.hair_color.clone());
                        });
                        q.push(" RETURNING id");
                        let ids = q.build().fetch_all(pool).await?;
                        for (u, row) in users.iter_mut().zip(&ids) {
                            u.id = row.try_get(0)?;
                        }
                        Ok(users.iter().filter(|u| u.id > USERS).count())
                    },
                    async || {
                        let mut users = new_users(W6_BATCH);
                        User::objects().bulk_create(&mut users, orm_conn!()).await?;
                        Ok(users.iter().filter(|u| u.id > USERS).count())
                    },
                    async || {
                        let mut users = new_hand_users(W6_BATCH);
                        let mut q =
                            sqlx::QueryBuilder::<$DB>::new("INSERT INTO users (name, hair_color) ");
                        q.push_values(&users, |mut b, u| {
                            b.push_bind(u.name.clone()).push_bind(u.hair_color.clone());
                        });
                        q.push(" RETURNING id");
                        let ids = q.build().fetch_all(hand_conn!()).await?;
                        for (u, row) in users.iter_mut().zip(&ids) {
                            u.id = row.try_get(0)?;
                        }
                        Ok(users.iter().filter(|u| u.id > USERS).count())
                    },
                )
                .await?;
                report(
                    &mut lines,
                    "W6 bulk_create 100 users".into(),
                    m,
                    "≤ 1.00",
                    1,
                );
            }
            if cfg.runs("W7") {
                // W7: re-evaluating an evaluated queryset, and count() on it. The sqlx columns
                // re-run the query: sqlx has no result cache.
                let cached = User::objects().slice(..100);
                cached.fetch(db).await?;
                let cached_conn = User::objects().slice(..100);
                cached_conn.fetch(orm_conn!()).await?;
                let m = measure(
                    cfg,
                    db,
                    async || {
                        let mut n = 0;
                        for _ in 0..W7_EVALS {
                            n += cached.fetch(db).await?.len();
                            n += cached.count(db).await? as usize;
                        }
                        Ok(n / W7_EVALS)
                    },
                    async || {
                        let v: Vec<HUser> =
                            sqlx::query_as(sql.w7).bind(100i64).fetch_all(pool).await?;
                        Ok(v.len() * 2)
                    },
                    async || {
                        let mut n = 0;
                        for _ in 0..W7_EVALS {
                            n += cached_conn.fetch(orm_conn!()).await?.len();
                            n += cached_conn.count(orm_conn!()).await? as usize;
                        }
                        Ok(n / W7_EVALS)
                    },
                    async || {
                        let v: Vec<HUser> = sqlx::query_as(sql.w7)
                            .bind(100i64)
                            .fetch_all(hand_conn!())
                            .await?;
                        Ok(v.len() * 2)
                    },
                )
                .await?;
                // The ORM columns time W7_EVALS evaluations per sample; the sqlx ones one query.
                let m = Medians {
                    orm: m.orm / W7_EVALS as u32,
                    orm_conn: m.orm_conn / W7_EVALS as u32,
                    ..m
                };
                report(
                    &mut lines,
                    "W7 cached fetch + count (per evaluation; sqlx re-runs the query)".into(),
                    m,
                    "< 1 µs",
                    1,
                );
            }
            if cfg.runs("W8") {
                // W8: iterator(chunk) against fetch, peak bytes live.
                db.execute_raw(&insert_users(dialect, USERS + 1, W8_SIZES[1]))
                    .await?;
                match dialect {
                    orm_sqlx::Dialect::Postgres => {
                        db.execute_raw("ANALYZE users").await?;
                    }
                    orm_sqlx::Dialect::Mysql => {
                        db.execute_raw("ANALYZE TABLE users").await?;
                    }
                    _ => {}
                }
                for n in W8_SIZES {
                    let qs = || User::objects().slice(..n as usize);
                    let (iterated, orm_iter) = peak_of(async || {
                        let t = Instant::now();
                        let mut s = qs().iterator(db, W8_CHUNK);
                        let mut rows = 0usize;
                        while let Some(u) = s.try_next().await? {
                            rows += black_box(&u).name.len().min(1);
                        }
                        Ok::<_, BoxError>((rows, t.elapsed()))
                    })
                    .await;
                    let (rows, orm_iter_time) = iterated?;
                    let (fetched, orm_fetch) = peak_of(async || {
                        let q = qs();
                        q.fetch(db).await.map(|r| r.len())
                    })
                    .await;
                    let (streamed, sqlx_stream) = peak_of(async || {
                        let t = Instant::now();
                        let mut s = sqlx::query_as::<_, HUser>(sql.w8).bind(n).fetch(pool);
                        let mut rows = 0usize;
                        while let Some(u) = s.try_next().await? {
                            rows += black_box(&u).name.len().min(1);
                        }
                        Ok::<_, BoxError>((rows, t.elapsed()))
                    })
                    .await;
                    let (streamed, sqlx_stream_time) = streamed?;
                    let (all, sqlx_fetch_all) = peak_of(async || {
                        sqlx::query_as::<_, HUser>(sql.w8)
                            .bind(n)
                            .fetch_all(pool)
                            .await
                            .map(|v| v.len())
                    })
                    .await;
                    let (fetched, all) = (fetched?, all?);
                    if [rows, fetched, streamed, all]
                        .iter()
                        .any(|&r| r != n as usize)
                    {
                        return Err(format!(
                            "W8 read {rows}/{fetched}/{streamed}/{all} rows, expected {n}"
                        )
                        .into());
                    }
                    memory.push(MemoryLine {
                        rows: n,
                        orm_iter,
                        orm_fetch,
                        sqlx_stream,
                        sqlx_fetch_all,
                        orm_iter_time,
                        sqlx_stream_time,
                    });
                }
            }
            Ok((lines, memory))
        }
    };
}

fn report(lines: &mut Vec<Line>, workload: String, m: Medians, target: &'static str, per: u32) {
    eprintln!(
        "  {workload}: ORM {} / sqlx {} = {:.2} (conn: {} / {} = {:.2}; {} samples)",
        fmt_time(m.orm / per),
        fmt_time(m.sqlx / per),
        ratio(m.orm, m.sqlx),
        fmt_time(m.orm_conn / per),
        fmt_time(m.sqlx_conn / per),
        ratio(m.orm_conn, m.sqlx_conn),
        m.samples
    );
    lines.push(Line {
        workload,
        m,
        target,
        per,
    });
}

/// `measure` for W6: after every round, the inserted users are deleted (untimed), so each
/// sample inserts into the same table.
async fn measure_writes(
    cfg: Config,
    db: &Db,
    mut orm: impl AsyncFnMut() -> Outcome,
    mut hand: impl AsyncFnMut() -> Outcome,
    mut orm_conn: impl AsyncFnMut() -> Outcome,
    mut hand_conn: impl AsyncFnMut() -> Outcome,
) -> Outcome<Medians> {
    let cleanup = format!("DELETE FROM users WHERE id > {USERS}");
    if let Some(i) = cfg.variant {
        // Counting mode: the cleanup is counted too, the same for every variant.
        for _ in 0..cfg.iters {
            black_box(run_variant(i, &mut orm, &mut hand, &mut orm_conn, &mut hand_conn).await?);
            db.execute_raw(&cleanup).await?;
        }
        return Ok(Medians {
            samples: cfg.iters,
            ..Medians::default()
        });
    }
    let mut times: [Vec<Duration>; 4] = Default::default();
    let start = Instant::now();
    let mut round = 0usize;
    while start.elapsed() < cfg.budget || times[0].len() < cfg.min_samples {
        let mut sums = [0usize; 4];
        for i in order(round) {
            settle(db).await;
            let t = Instant::now();
            sums[i] = run_variant(i, &mut orm, &mut hand, &mut orm_conn, &mut hand_conn).await?;
            let took = t.elapsed();
            if round >= cfg.warmup {
                times[i].push(took);
            }
            db.execute_raw(&cleanup).await?;
        }
        if sums.iter().any(|&s| s != W6_BATCH) {
            return Err(format!("W6: ids not read back ({sums:?})").into());
        }
        round += 1;
    }
    let samples = times[0].len();
    let [a, b, c, d] = times;
    Ok(Medians {
        orm: median(a),
        sqlx: median(b),
        orm_conn: median(c),
        sqlx_conn: median(d),
        samples,
    })
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

/// W4's child query by hand on PostgreSQL: one array parameter, `= ANY($1)`, so the
/// statement is the same whatever the number of keys.
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

/// W4's child query by hand on MySQL/MariaDB, which has no array parameter: an `IN` list
/// with one placeholder per key, as on SQLite (one prepared statement per list length,
/// which sqlx's statement cache keeps).
async fn mysql_children<'c, T, E>(ex: E, table: &str, key: &str, ids: &[i64]) -> Outcome<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::mysql::MySqlRow> + Send + Unpin,
    E: sqlx::Executor<'c, Database = sqlx::MySql>,
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

backend_suite!(
    run_sqlite,
    sqlx::Sqlite,
    sqlx::SqliteConnection,
    sqlite_children,
    conn_ref
);
backend_suite!(
    run_postgres,
    sqlx::Postgres,
    sqlx::PgConnection,
    postgres_children,
    conn_ref
);
backend_suite!(
    run_mysql,
    sqlx::MySql,
    sqlx::MySqlConnection,
    mysql_children,
    mysql_conn_ref
);

// ---- set-up per backend --------------------------------------------------------------------

async fn bench_sqlite(cfg: Config) -> Outcome<()> {
    use sqlx::ConnectOptions;
    // SQLite's memory statistics are per process: off (as the ORM sets them) for the
    // hand-written sqlx baseline too, or the ratio would flatter the ORM (BENCHMARKS.md).
    if !orm_sqlx::sqlite::disable_memory_statistics() {
        return Err("SQLite started before the bench could turn its memory statistics off".into());
    }
    let path = std::env::temp_dir().join(format!("orm-bench-{}.db", std::process::id()));
    let url = format!("sqlite://{}", path.display());
    let result = async {
        let options = orm_sqlx::sqlite::connect_options(&url)?;
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .connect_with(options.clone())
            .await?;
        set_hand_pool(Db::from(pool.clone()));
        let db = Db::connect(&url).await?;
        eprintln!("sqlite: seeding {}", path.display());
        seed(&db).await?;
        let mut conn_orm = options.connect().await?;
        orm_sqlx::sqlite::register_functions(&mut conn_orm).await?;
        let mut conn_hand = options.connect().await?;
        let (lines, memory) = run_sqlite(cfg, &db, &pool, &mut conn_orm, &mut conn_hand).await?;
        pool.close().await;
        if let Some(p) = db.sqlite_pool() {
            p.close().await;
        }
        print_table("SQLite (file, WAL)", &lines, &memory);
        Ok::<_, BoxError>(())
    }
    .await;
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    result
}

const SCHEMA: &str = "orm_bench";

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
        set_hand_pool(Db::from(pool.clone()));
        let sep = if url.contains('?') { '&' } else { '?' };
        let db = Db::connect(&format!("{url}{sep}options[search_path]={SCHEMA}")).await?;
        eprintln!("postgres: seeding schema {SCHEMA}");
        seed(&db).await?;
        let mut conn_orm = options.connect().await?;
        let mut conn_hand = options.connect().await?;
        let (lines, memory) = run_postgres(cfg, &db, &pool, &mut conn_orm, &mut conn_hand).await?;
        pool.close().await;
        if let Some(p) = db.pg_pool() {
            p.close().await;
        }
        print_table("PostgreSQL (TCP, localhost)", &lines, &memory);
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

const MYSQL_DATABASE: &str = "orm_bench";

async fn bench_mysql(cfg: Config) -> Outcome<()> {
    use sqlx::ConnectOptions;
    let url = std::env::var("ORM_BENCH_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned());
    // The ORM's connect options (its session settings come with `pool_options`/`set_up`).
    let base = orm_sqlx::mysql::connect_options(&url)?;
    {
        let mut admin = base.connect().await?;
        for sql in [
            format!("DROP DATABASE IF EXISTS {MYSQL_DATABASE}"),
            format!("CREATE DATABASE {MYSQL_DATABASE}"),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await?;
        }
    }
    let options = base.clone().database(MYSQL_DATABASE);
    let result = async {
        // The hand-written columns' pool: sqlx's pool options, the ORM's session set-up
        // (so that both run under one sql_mode and collation).
        let pool = sqlx::mysql::MySqlPoolOptions::new()
            .after_connect(|conn, _meta| orm_sqlx::mysql::set_up(conn))
            .connect_with(options.clone())
            .await?;
        set_hand_pool(Db::from(pool.clone()));
        // Both bare connections get the pool's session set-up, so that the conn columns
        // run under the same sql_mode and collation as the pool columns.
        let mut conn_orm = options.connect().await?;
        orm_sqlx::mysql::set_up(&mut conn_orm).await?;
        let mut conn_hand = options.connect().await?;
        orm_sqlx::mysql::set_up(&mut conn_hand).await?;
        let server = orm_sqlx::mysql::MysqlServer::detect(&mut conn_hand).await?;
        // `Db::connect` asks the server what it is (keys read back with `RETURNING` on
        // MariaDB 10.5+, as the hand-written W6 does).
        let db = Db::connect(&format!("{}/{MYSQL_DATABASE}", url.trim_end_matches('/'))).await?;
        eprintln!("mysql: seeding database {MYSQL_DATABASE}");
        seed(&db).await?;
        let (lines, memory) = run_mysql(cfg, &db, &pool, &mut conn_orm, &mut conn_hand).await?;
        pool.close().await;
        if let Some(p) = db.mysql_pool() {
            p.close().await;
        }
        let title = if server.mariadb {
            "MariaDB (TCP, localhost)"
        } else {
            "MySQL (TCP, localhost)"
        };
        print_table(title, &lines, &memory);
        Ok::<_, BoxError>(())
    }
    .await;
    let mut admin = base.connect().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {MYSQL_DATABASE}"
    )))
    .execute(&mut admin)
    .await?;
    result
}

fn usage() -> ! {
    eprintln!(
        "usage: bench [--backend sqlite|postgres|mysql|all] [--quick] [--seconds N] [--only W<n>] \
         [--variant orm|sqlx|orm-conn|sqlx-conn --iters N]"
    );
    std::process::exit(2);
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Outcome<()> {
    if std::env::var("ORM_BENCH_OBSERVE").is_ok_and(|v| v == "1") {
        OBSERVE.store(true, Ordering::Relaxed);
        tracing::subscriber::set_global_default(TakesAll(AtomicUsize::new(0)))?;
    }
    // The compiled-SQL cache off, to measure what it saves (issue 16, item 4). The
    // runtime has one thread, whose cache this is.
    if std::env::var("ORM_BENCH_COMPILED_SQL_CACHE").is_ok_and(|v| v == "off") {
        orm_sqlx::core::compiler::set_compiled_sql_cache(false);
    }
    let mut backend = "all".to_owned();
    let mut quick = false;
    let mut seconds: Option<u64> = None;
    let mut variant: Option<usize> = None;
    let mut iters = 0usize;
    let mut only: Option<&'static str> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--backend" => backend = args.next().unwrap_or_else(|| usage()),
            "--quick" => quick = true,
            "--variant" => {
                let v = args.next().unwrap_or_else(|| usage());
                variant = Some(match v.as_str() {
                    "orm" => 0,
                    "sqlx" => 1,
                    "orm-conn" => 2,
                    "sqlx-conn" => 3,
                    _ => usage(),
                });
            }
            "--iters" => {
                iters = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| usage());
            }
            "--seconds" => {
                let n: u64 = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| usage());
                seconds = Some(n);
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
            variant,
            iters,
        }
    } else {
        Config {
            budget: Duration::from_secs(4),
            min_samples: 15,
            warmup: 3,
            only,
            variant,
            iters,
        }
    };
    if let Some(n) = seconds {
        cfg.budget = Duration::from_secs(n);
    }
    if !cfg!(debug_assertions) {
        eprintln!("bench: release build");
    } else {
        eprintln!("bench: DEBUG build: numbers are meaningless; run with --release");
    }
    match backend.as_str() {
        "sqlite" => bench_sqlite(cfg).await,
        "postgres" => bench_postgres(cfg).await,
        "mysql" => bench_mysql(cfg).await,
        "all" => {
            bench_sqlite(cfg).await?;
            bench_postgres(cfg).await?;
            bench_mysql(cfg).await
        }
        _ => usage(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sampling_orders_are_the_24_permutations() {
        let mut seen: Vec<[usize; 4]> = (0..24).map(super::order).collect();
        for o in &seen {
            let mut sorted = *o;
            sorted.sort();
            assert_eq!(sorted, [0, 1, 2, 3]);
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 24);
        assert_eq!(super::order(24), super::order(0));
    }
}
