//! The single chokepoint every statement passes through, and Django's
//! `assertNumQueries` / `CaptureQueriesContext` on top of it.

use std::cell::RefCell;
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
}

static TOTAL: AtomicU64 = AtomicU64::new(0);
static SCOPES: AtomicU64 = AtomicU64::new(0);

/// One statement sent to the database.
#[derive(Clone, Debug, PartialEq)]
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
/// capture it holds nothing and costs nothing (no clock is read).
#[derive(Debug)]
pub(crate) struct Recorded {
    /// The capture scope and the statement's place in it, and when it was sent.
    slot: Option<(u64, usize, std::time::Instant)>,
}

impl Recorded {
    /// The statement finished: with `rows` read or changed, or (`None`) failed.
    pub(crate) fn finish(&self, rows: Option<u64>) {
        let Some((id, at, started)) = self.slot else {
            return;
        };
        let elapsed = started.elapsed();
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
}

/// Called by every executor method right before a statement is sent, once the
/// connection it goes out on is in hand: a statement whose connection could not be taken
/// from the pool is not counted (as in Django, where its cursor never exists).
pub(crate) fn record(sql: &Arc<str>, params: &[orm_core::Value]) -> Recorded {
    TOTAL.fetch_add(1, Ordering::Relaxed);
    let slot = CAPTURED
        .try_with(|c| {
            let mut c = c.borrow_mut();
            c.queries.push(CapturedQuery {
                sql: sql.clone(),
                params: params.to_vec(),
                kind: StatementKind::of(sql),
                duration: None,
                rows: None,
            });
            (c.id, c.queries.len() - 1, std::time::Instant::now())
        })
        .ok();
    Recorded { slot }
}

/// Record a transaction-control statement that sqlx sends itself (`BEGIN`, `COMMIT`,
/// savepoints, rollbacks). Its text is built only while a capture is running.
pub(crate) fn record_control(kind: StatementKind, text: impl FnOnce() -> String) {
    TOTAL.fetch_add(1, Ordering::Relaxed);
    let _ = CAPTURED.try_with(|c| {
        c.borrow_mut().queries.push(CapturedQuery {
            sql: text().into(),
            params: Vec::new(),
            kind,
            duration: None,
            rows: None,
        });
    });
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
/// (Django's `assertNumQueries`). Meant for tests.
#[track_caller]
pub fn assert_num_queries<F: Future>(expected: usize, fut: F) -> impl Future<Output = F::Output> {
    let caller = std::panic::Location::caller();
    async move {
        let (out, queries) = capture_queries(fut).await;
        if queries.len() != expected {
            let list: Vec<String> = queries
                .iter()
                .enumerate()
                .map(|(i, q)| format!("  {}. {}", i + 1, q.sql))
                .collect();
            panic!(
                "{}: expected {expected} queries, ran {}:\n{}",
                caller,
                queries.len(),
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
