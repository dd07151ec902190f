//! The single chokepoint every statement passes through, and Django's
//! `assertNumQueries` / `CaptureQueriesContext` on top of it.

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

tokio::task_local! {
    static CAPTURED: RefCell<Vec<CapturedQuery>>;
}

static TOTAL: AtomicU64 = AtomicU64::new(0);

/// One statement sent to the database.
#[derive(Clone, Debug, PartialEq)]
pub struct CapturedQuery {
    pub sql: Arc<str>,
    /// The bound values (copied only while a capture is running).
    pub params: Vec<orm_core::Value>,
}

impl std::fmt::Display for CapturedQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.sql)
    }
}

/// Called by every executor method right before a statement is sent, once the
/// connection it goes out on is in hand: a statement whose connection could not be taken
/// from the pool is not counted (as in Django, where its cursor never exists).
pub(crate) fn record(sql: &Arc<str>, params: &[orm_core::Value]) {
    TOTAL.fetch_add(1, Ordering::Relaxed);
    let _ = CAPTURED.try_with(|c| {
        c.borrow_mut().push(CapturedQuery {
            sql: sql.clone(),
            params: params.to_vec(),
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
    CAPTURED
        .scope(RefCell::new(Vec::new()), async move {
            let out = fut.await;
            let queries = CAPTURED.with(|c| std::mem::take(&mut *c.borrow_mut()));
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
        let _ = CAPTURED.try_with(|c| c.borrow_mut().extend(self.1.iter().cloned()));
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
