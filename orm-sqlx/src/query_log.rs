//! The single chokepoint every statement passes through, and Django's
//! `assertNumQueries` / `CaptureQueriesContext` on top of it.

use std::cell::RefCell;

use orm_core::eval::observe;
pub use orm_core::eval::observe::{LoadKind, RelationLoad};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

tokio::task_local! {
    static CAPTURED: RefCell<Capture>;
}

/// The statements of one capture scope; `id` tells scopes apart, so that a statement
/// that finishes after its scope ended (a stream read later) cannot write into another.
struct Capture {
    id: u64,
    queries: Vec<CapturedQuery>,
    /// Only counting and timing (the web layer's headers): no values, origins or loads.
    light: bool,
}

static TOTAL: AtomicU64 = AtomicU64::new(0);
static SCOPES: AtomicU64 = AtomicU64::new(0);

/// One statement sent to the database.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct CapturedQuery {
    pub sql: Arc<str>,
    /// The bound values (copied only while a capture is running).
    pub params: Vec<orm_core::Value>,
    /// What the statement does, read from its first keyword.
    pub kind: StatementKind,
    /// From sending the statement to its last row (or its error); `None` for a statement
    /// whose result was not read to its end (a stream dropped early) and for the
    /// transaction control sqlx sends itself.
    pub duration: Option<std::time::Duration>,
    /// The rows it returned (a SELECT, or a write with `RETURNING`) or changed (a write
    /// without); `None` when it failed or was not read to its end.
    pub rows: Option<u64>,
    /// The line of the caller's code that sent it: the call of the evaluating, saving or
    /// deleting method (`fetch`, `save`, `delete`, awaiting a queryset, …), never a line
    /// inside the ORM. `None` for a statement sent outside such a call.
    pub origin: Option<&'static std::panic::Location<'static>>,
    /// The relations it loads: the `select_related` JOINs of a queryset's statement, the
    /// relation of a `prefetch_related` query or of a lazy `load`. Each eager load's
    /// [`read`](RelationLoad::read) says, once the capture ends, whether any of its rows
    /// was read ([`analyze`](crate::analyze) reports those never read).
    pub loads: Vec<RelationLoad>,
    /// What the query cache did for it (feature `cache`): `Some(Hit)` for a result served
    /// from the cache, which sent nothing to the database; `None` for a statement the
    /// cache had no part in.
    pub cache: Option<CacheOutcome>,
}

/// What the query cache did for one statement of a cached evaluation
/// ([`QuerySet::cached`](orm_core::QuerySet::cached)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheOutcome {
    /// Served from the cache: no statement was sent.
    Hit,
    /// Sent to the database for want of a valid entry (and its result offered to the
    /// cache).
    Miss,
    /// Sent to the database without looking: a transaction reading a table it wrote, or
    /// a cache that could not be reached.
    Bypassed,
}

impl CapturedQuery {
    /// Whether the database ran it (everything but a [cache hit](CacheOutcome::Hit)):
    /// what [`assert_num_queries`] counts.
    pub fn reached_database(&self) -> bool {
        self.cache != Some(CacheOutcome::Hit)
    }
}

thread_local! {
    /// The cache outcome of the statement about to be sent, set around each poll of its
    /// future (see [`with_outcome`]).
    static OUTCOME: std::cell::Cell<Option<CacheOutcome>> = const { std::cell::Cell::new(None) };
}

pin_project_lite::pin_project! {
    /// A statement's future whose captured entry carries a cache outcome.
    pub(crate) struct WithOutcome<F> {
        #[pin]
        inner: F,
        outcome: Option<CacheOutcome>,
    }
}

/// Run `fut` (one statement) with `outcome` noted in its captured entry.
#[cfg_attr(not(feature = "cache"), allow(dead_code))]
pub(crate) fn with_outcome<F: Future>(outcome: Option<CacheOutcome>, fut: F) -> WithOutcome<F> {
    WithOutcome {
        inner: fut,
        outcome,
    }
}

impl<F: Future> Future for WithOutcome<F> {
    type Output = F::Output;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = self.project();
        if this.outcome.is_none() {
            return this.inner.poll(cx);
        }
        /// Puts the outer outcome back when the poll ends, also by a panic.
        struct Restore(Option<CacheOutcome>);
        impl Drop for Restore {
            fn drop(&mut self) {
                OUTCOME.set(self.0);
            }
        }
        let _restore = Restore(OUTCOME.replace(*this.outcome));
        this.inner.poll(cx)
    }
}

/// Whether a capture is running on this task.
#[cfg_attr(not(feature = "cache"), allow(dead_code))]
pub(crate) fn capturing() -> bool {
    CAPTURED.try_with(|_| ()).is_ok()
}

/// Record a result served by the query cache: in the running capture only (no statement
/// was sent, so no span and no count).
#[cfg_attr(not(feature = "cache"), allow(dead_code))]
pub(crate) fn record_hit(stmt: &orm_core::Statement, rows: u64, took: std::time::Duration) {
    let _ = CAPTURED.try_with(|c| {
        let mut c = c.borrow_mut();
        let light = c.light;
        c.queries.push(CapturedQuery {
            sql: stmt.sql.as_str().into(),
            params: if light {
                Vec::new()
            } else {
                stmt.params.clone()
            },
            kind: StatementKind::Select,
            duration: Some(took),
            rows: Some(rows),
            origin: observe::origin(),
            loads: if light { Vec::new() } else { observe::loads() },
            cache: Some(CacheOutcome::Hit),
        });
    });
}

/// What a statement does, read from its first keyword (after blanks, comments and
/// opening parentheses), case-insensitively. Worked out only while a capture is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatementKind {
    /// `SELECT`.
    Select,
    /// `INSERT` (and SQLite's `REPLACE`).
    Insert,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
    /// `CREATE`, `ALTER`, `DROP`, `TRUNCATE`.
    Ddl,
    /// `BEGIN` (`START TRANSACTION`): a transaction starts.
    Begin,
    /// `COMMIT` (`END`).
    Commit,
    /// `ROLLBACK` (`ABORT`) of the whole transaction.
    Rollback,
    /// `SAVEPOINT name`: an atomic block inside a transaction starts.
    Savepoint,
    /// `RELEASE SAVEPOINT name`: that block keeps its changes.
    ReleaseSavepoint,
    /// `ROLLBACK TO SAVEPOINT name`: that block's changes are undone.
    RollbackToSavepoint,
    /// Anything else (`WITH …`, `SET …`, `PRAGMA …`, an empty statement).
    Other,
}

impl StatementKind {
    /// The kind of `sql`, from its first keyword (its second, for `ROLLBACK TO`).
    pub fn of(sql: &str) -> StatementKind {
        let (first, rest) = keyword(sql);
        let is = |word: &str| first.eq_ignore_ascii_case(word);
        if is("SELECT") {
            StatementKind::Select
        } else if is("INSERT") || is("REPLACE") {
            StatementKind::Insert
        } else if is("UPDATE") {
            StatementKind::Update
        } else if is("DELETE") {
            StatementKind::Delete
        } else if is("CREATE") || is("ALTER") || is("DROP") || is("TRUNCATE") {
            StatementKind::Ddl
        } else if is("BEGIN") || is("START") {
            StatementKind::Begin
        } else if is("COMMIT") || is("END") {
            StatementKind::Commit
        } else if is("ROLLBACK") || is("ABORT") {
            if keyword(rest).0.eq_ignore_ascii_case("TO") {
                StatementKind::RollbackToSavepoint
            } else {
                StatementKind::Rollback
            }
        } else if is("SAVEPOINT") {
            StatementKind::Savepoint
        } else if is("RELEASE") {
            StatementKind::ReleaseSavepoint
        } else {
            StatementKind::Other
        }
    }

    /// Whether this is `BEGIN`, `COMMIT`, `ROLLBACK` or a savepoint statement.
    pub fn is_transaction_control(self) -> bool {
        matches!(
            self,
            StatementKind::Begin
                | StatementKind::Commit
                | StatementKind::Rollback
                | StatementKind::Savepoint
                | StatementKind::ReleaseSavepoint
                | StatementKind::RollbackToSavepoint
        )
    }
}

/// The first word of `sql` (ASCII letters) after blanks, `--` and `/* */` comments and
/// opening parentheses, and what follows it.
fn keyword(sql: &str) -> (&str, &str) {
    let mut rest = sql;
    loop {
        let trimmed = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
        if let Some(after) = trimmed.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, next)| next);
        } else if let Some(after) = trimmed.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, next)| next);
        } else {
            rest = trimmed;
            break;
        }
    }
    let end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    rest.split_at(end)
}

impl std::fmt::Display for CapturedQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.sql)
    }
}

/// A statement recorded by [`record`], to be completed by [`Recorded::finish`]. Outside a
/// capture, with no `tracing` subscriber interested and no slow-statement threshold, it
/// holds nothing and costs nothing (no clock is read).
#[derive(Debug)]
pub(crate) struct Recorded {
    /// The capture scope and the statement's place in it.
    slot: Option<(u64, usize)>,
    /// When it was sent, if anything wants its duration.
    started: Option<std::time::Instant>,
    /// Its `db.query` span (disabled when no subscriber wants it).
    span: tracing::Span,
    /// Its text, kept only while a slow-statement threshold is set (for the warning).
    slow_sql: Option<(Arc<str>, std::time::Duration)>,
}

/// The slow-statement threshold in nanoseconds; 0 when unset.
static SLOW_NANOS: AtomicU64 = AtomicU64::new(0);

/// Log every statement that takes at least `threshold` (from sending it to its last row)
/// as a `WARN` event of the `tracing` target `orm_sqlx::slow_query`, inside the
/// statement's `db.query` span, with its text and duration; `None` turns it off (the
/// default). Process-wide.
///
/// ```
/// orm_sqlx::set_slow_query_threshold(Some(std::time::Duration::from_millis(200)));
/// # orm_sqlx::set_slow_query_threshold(None);
/// ```
pub fn set_slow_query_threshold(threshold: Option<std::time::Duration>) {
    let nanos = threshold.map_or(0, |d| {
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
    });
    SLOW_NANOS.store(nanos, Ordering::Relaxed);
}

impl Recorded {
    /// Whether anything wants the statement's duration and rows (a capture, a
    /// subscriber, the slow threshold): [`Recorded::finish`] does nothing otherwise.
    pub(crate) fn is_timed(&self) -> bool {
        self.started.is_some()
    }

    /// The statement finished: with `rows` read or changed, or (`None`) failed.
    pub(crate) fn finish(&self, rows: Option<u64>) {
        let Some(started) = self.started else {
            return;
        };
        let elapsed = started.elapsed();
        if let Some((id, at)) = self.slot {
            let _ = CAPTURED.try_with(|c| {
                let mut c = c.borrow_mut();
                if c.id == id
                    && let Some(q) = c.queries.get_mut(at)
                {
                    q.duration = Some(elapsed);
                    q.rows = rows;
                }
            });
        }
        if !self.span.is_disabled() {
            let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
            self.span.record("duration_us", micros);
            match rows {
                Some(n) => self.span.record("db.response.returned_rows", n),
                None => self.span.record("error.type", "failed"),
            };
        }
        if let Some((sql, threshold)) = &self.slow_sql
            && elapsed >= *threshold
        {
            let ms = elapsed.as_secs_f64() * 1000.0;
            tracing::warn!(
                target: "orm_sqlx::slow_query",
                parent: &self.span,
                duration_ms = ms,
                "db.query.text" = &**sql,
                "slow statement: {ms:.1} ms"
            );
        }
    }
}

/// The `db.system.name` of a dialect (OpenTelemetry's database conventions).
fn system_name(dialect: orm_core::Dialect) -> &'static str {
    match dialect {
        orm_core::Dialect::Sqlite => "sqlite",
        orm_core::Dialect::Postgres => "postgresql",
        orm_core::Dialect::Mysql => "mysql",
    }
}

impl StatementKind {
    /// The `db.operation.name` of a statement of this kind.
    pub fn operation_name(self) -> &'static str {
        match self {
            StatementKind::Select => "SELECT",
            StatementKind::Insert => "INSERT",
            StatementKind::Update => "UPDATE",
            StatementKind::Delete => "DELETE",
            StatementKind::Ddl => "DDL",
            StatementKind::Begin => "BEGIN",
            StatementKind::Commit => "COMMIT",
            StatementKind::Rollback => "ROLLBACK",
            StatementKind::Savepoint => "SAVEPOINT",
            StatementKind::ReleaseSavepoint => "RELEASE SAVEPOINT",
            StatementKind::RollbackToSavepoint => "ROLLBACK TO SAVEPOINT",
            StatementKind::Other => "OTHER",
        }
    }
}

/// Called by every executor method right before a statement is sent, once the
/// connection it goes out on is in hand: a statement whose connection could not be taken
/// from the pool is not counted (as in Django, where its cursor never exists).
///
/// Each statement is a `tracing` span named `db.query` (target `orm_sqlx::query`, level
/// DEBUG), a child of the caller's current span, with OpenTelemetry's database
/// attributes: `db.system.name`, `db.query.text`, `db.operation.name`, and once it is
/// done `db.response.returned_rows` (or `error.type`) and `duration_us`. Parameters are
/// never put in the span (they can hold personal data).
pub(crate) fn record(
    sql: &Arc<str>,
    params: &[orm_core::Value],
    dialect: orm_core::Dialect,
) -> Recorded {
    TOTAL.fetch_add(1, Ordering::Relaxed);
    let slot = CAPTURED
        .try_with(|c| {
            let mut c = c.borrow_mut();
            let light = c.light;
            c.queries.push(CapturedQuery {
                sql: sql.clone(),
                params: if light { Vec::new() } else { params.to_vec() },
                kind: StatementKind::of(sql),
                duration: None,
                rows: None,
                origin: observe::origin(),
                loads: if light { Vec::new() } else { observe::loads() },
                cache: OUTCOME.get(),
            });
            (c.id, c.queries.len() - 1)
        })
        .ok();
    let span = tracing::debug_span!(
        target: "orm_sqlx::query",
        "db.query",
        "db.system.name" = system_name(dialect),
        "db.query.text" = &**sql,
        "db.operation.name" = StatementKind::of(sql).operation_name(),
        "db.collection.name" = tracing::field::Empty,
        "code.file.path" = tracing::field::Empty,
        "code.line.number" = tracing::field::Empty,
        "db.response.returned_rows" = tracing::field::Empty,
        "error.type" = tracing::field::Empty,
        "duration_us" = tracing::field::Empty,
    );
    // Worked out only for a span a subscriber wants (the macro evaluates its field
    // values even when none does).
    if !span.is_disabled() {
        span.record("db.collection.name", collection_name(sql));
        if let Some(origin) = observe::origin() {
            span.record("code.file.path", origin.file());
            span.record("code.line.number", origin.line());
        }
    }
    let slow = SLOW_NANOS.load(Ordering::Relaxed);
    let slow_sql = (slow > 0).then(|| (sql.clone(), std::time::Duration::from_nanos(slow)));
    let started =
        (slot.is_some() || !span.is_disabled() || slow_sql.is_some()).then(std::time::Instant::now);
    Recorded {
        slot,
        started,
        span,
        slow_sql,
    }
}

/// Record a transaction-control statement that sqlx sends itself (`BEGIN`, `COMMIT`,
/// savepoints, rollbacks). Its text is built only while a capture is running.
///
/// It is a `db.query` span too, with no duration or rows (sqlx times nothing for it).
pub(crate) fn record_control(
    kind: StatementKind,
    dialect: orm_core::Dialect,
    text: impl FnOnce() -> String,
) {
    TOTAL.fetch_add(1, Ordering::Relaxed);
    let _ = CAPTURED.try_with(|c| {
        c.borrow_mut().queries.push(CapturedQuery {
            sql: text().into(),
            params: Vec::new(),
            kind,
            duration: None,
            rows: None,
            origin: observe::origin(),
            loads: Vec::new(),
            cache: None,
        });
    });
    let span = tracing::debug_span!(
        target: "orm_sqlx::query",
        "db.query",
        "db.system.name" = system_name(dialect),
        "db.query.text" = kind.operation_name(),
        "db.operation.name" = kind.operation_name(),
        "code.file.path" = tracing::field::Empty,
        "code.line.number" = tracing::field::Empty,
    );
    if !span.is_disabled()
        && let Some(origin) = observe::origin()
    {
        span.record("code.file.path", origin.file());
        span.record("code.line.number", origin.line());
    }
}

/// The table a statement reads or writes first (`db.collection.name`): the quoted or bare
/// name after its first `FROM`, `INTO`, `UPDATE` or `TABLE`; empty when there is none.
fn collection_name(sql: &str) -> &str {
    let upper_at = |word: &str| {
        sql.as_bytes()
            .windows(word.len() + 2)
            .position(|w| {
                (w[0] == b' ' || w[0] == b'\n')
                    && w[1..=word.len()].eq_ignore_ascii_case(word.as_bytes())
                    && w[word.len() + 1] == b' '
            })
            .map(|i| i + word.len() + 2)
    };
    let start = if sql
        .as_bytes()
        .get(..7)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"UPDATE "))
    {
        Some(7)
    } else {
        ["FROM", "INTO", "TABLE"]
            .iter()
            .filter_map(|w| upper_at(w))
            .min()
    };
    let Some(start) = start else { return "" };
    let rest = sql[start..].trim_start();
    let rest = rest
        .strip_prefix("IF NOT EXISTS ")
        .or_else(|| rest.strip_prefix("IF EXISTS "))
        .unwrap_or(rest);
    let quoted = |q: char| {
        rest.strip_prefix(q)
            .and_then(|r| r.split_once(q))
            .map(|(name, _)| name)
    };
    quoted('"').or_else(|| quoted('`')).unwrap_or_else(|| {
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '(' || c == ';')
            .unwrap_or(rest.len());
        &rest[..end]
    })
}

/// How many statements this process has sent through the ORM so far.
pub fn total_queries() -> u64 {
    TOTAL.load(Ordering::Relaxed)
}

/// Run `fut` and return its output with every statement it sent, in order (Django's
/// `CaptureQueriesContext`). Statements sent from tasks spawned inside `fut` are not seen:
/// the capture follows the task.
///
/// ```no_run
/// # async fn demo(db: &orm_sqlx::Db) -> orm_sqlx::Result<()> {
/// # use orm_sqlx::capture_queries;
/// let (n, queries) = capture_queries(async { Ok::<_, orm_sqlx::Error>(1) }).await;
/// assert_eq!(queries.len(), 0);
/// # Ok(()) }
/// ```
pub async fn capture_queries<F: Future>(fut: F) -> (F::Output, Vec<CapturedQuery>) {
    let id = SCOPES.fetch_add(1, Ordering::Relaxed);
    let capture = Capture {
        id,
        queries: Vec::new(),
        light: false,
    };
    let observer = observe::Observer::new(false);
    let watched = observe::observed(observer.clone(), fut);
    let (out, mut queries) = CAPTURED
        .scope(RefCell::new(capture), async move {
            let out = watched.await;
            let queries = CAPTURED.with(|c| std::mem::take(&mut c.borrow_mut().queries));
            (out, queries)
        })
        .await;
    for load in queries.iter_mut().flat_map(|q| q.loads.iter_mut()) {
        if load.kind != LoadKind::Lazy
            && let Some(rel) = load.relation()
        {
            load.read = Some(observer.was_read(rel));
        }
    }
    (out, queries).inspect_outer()
}

/// [`capture_queries`] for counting and timing only: the statements' text, kind,
/// duration and rows, without their values, origins or loads, and without an observer
/// (no read of a loaded relation is noted). What the web layer needs for its headers.
#[cfg(feature = "web")]
pub(crate) async fn capture_light<F: Future>(fut: F) -> (F::Output, Vec<CapturedQuery>) {
    let capture = Capture {
        id: SCOPES.fetch_add(1, Ordering::Relaxed),
        queries: Vec::new(),
        light: true,
    };
    CAPTURED
        .scope(RefCell::new(capture), async move {
            let out = fut.await;
            let queries = CAPTURED.with(|c| std::mem::take(&mut c.borrow_mut().queries));
            (out, queries)
        })
        .await
        .inspect_outer()
}

/// Run `fut` with strict loading (Rails' `strict_loading`): a lazy load
/// (`book.author.load(&db)`) of a relation that the same line of code already loaded for
/// another row fails with [`Error::NPlusOne`](crate::Error::NPlusOne), before its query
/// is sent, naming the relation, the line and the fix (`select_related(…)`). The first
/// load of a relation from a line is allowed: it is the second that makes a loop of
/// them. Meant for tests and development.
///
/// ```no_run
/// # use orm_sqlx::prelude::*;
/// # #[derive(Model, Debug, Clone)] pub struct Author { pub id: i64 }
/// # #[derive(Model, Debug, Clone)] pub struct Book { pub id: i64, pub author: ForeignKey<Author> }
/// # async fn demo(db: &Db) -> orm_sqlx::Result<()> {
/// let err = orm_sqlx::strict_loading(async {
///     for mut book in Book::objects().into_vec(db).await? {
///         book.author.load(db).await?; // the second book's load fails
///     }
///     Ok::<_, orm_sqlx::Error>(())
/// })
/// .await;
/// assert!(matches!(err, Err(orm_sqlx::Error::NPlusOne(_))));
/// # Ok(()) }
/// ```
pub async fn strict_loading<F: Future>(fut: F) -> F::Output {
    // Made when first polled, not when called: under the observer then watching the task
    // (a capture's), which it reports reads and lazy loads to.
    observe::observed(observe::Observer::new(true), fut).await
}

trait InspectOuter {
    fn inspect_outer(self) -> Self;
}

impl<T> InspectOuter for (T, Vec<CapturedQuery>) {
    /// An enclosing capture sees what an inner one saw, as Django's nested contexts do.
    fn inspect_outer(self) -> Self {
        let _ = CAPTURED.try_with(|c| c.borrow_mut().queries.extend(self.1.iter().cloned()));
        self
    }
}

/// Run `fut` and panic, listing the statements, unless it sent exactly `expected` of them
/// (Django's `assertNumQueries`). Results served by the query cache are not counted: the
/// database never saw them ([`CapturedQuery::reached_database`]). Meant for tests.
#[track_caller]
pub fn assert_num_queries<F: Future>(expected: usize, fut: F) -> impl Future<Output = F::Output> {
    let caller = std::panic::Location::caller();
    async move {
        let (out, queries) = capture_queries(fut).await;
        let sent: Vec<&CapturedQuery> = queries.iter().filter(|q| q.reached_database()).collect();
        if sent.len() != expected {
            let list: Vec<String> = sent
                .iter()
                .enumerate()
                .map(|(i, q)| format!("  {}. {}", i + 1, q.sql))
                .collect();
            panic!(
                "{}: expected {expected} queries, ran {}:\n{}",
                caller,
                sent.len(),
                list.join("\n")
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::StatementKind::{self, *};

    #[test]
    fn the_kind_comes_from_the_first_keyword() {
        let cases: &[(&str, StatementKind)] = &[
            (r#"SELECT "id" FROM "books""#, Select),
            ("  select 1", Select),
            ("(SELECT 1) UNION (SELECT 2)", Select),
            ("-- a comment\nSELECT 1", Select),
            ("/* hint */ DELETE FROM t", Delete),
            ("INSERT INTO t VALUES (1)", Insert),
            ("REPLACE INTO t VALUES (1)", Insert),
            ("UPDATE t SET a = 1", Update),
            ("CREATE TABLE IF NOT EXISTS t (id INTEGER)", Ddl),
            ("ALTER TABLE t ADD COLUMN a INTEGER", Ddl),
            ("DROP SCHEMA s CASCADE", Ddl),
            ("TRUNCATE t", Ddl),
            ("BEGIN", Begin),
            ("START TRANSACTION", Begin),
            ("COMMIT", Commit),
            ("ROLLBACK", Rollback),
            ("SAVEPOINT _sqlx_savepoint_1", Savepoint),
            ("RELEASE SAVEPOINT _sqlx_savepoint_1", ReleaseSavepoint),
            (
                "ROLLBACK TO SAVEPOINT _sqlx_savepoint_1",
                RollbackToSavepoint,
            ),
            ("rollback to _sqlx_savepoint_1", RollbackToSavepoint),
            ("WITH x AS (SELECT 1) SELECT * FROM x", Other),
            ("SET search_path TO s", Other),
            ("", Other),
            ("-- only a comment", Other),
            ("/* unterminated", Other),
            ("ÉLECT 1", Other),
        ];
        for (sql, kind) in cases {
            assert_eq!(StatementKind::of(sql), *kind, "{sql:?}");
        }
        assert!(Savepoint.is_transaction_control());
        assert!(!Select.is_transaction_control());
    }
}
