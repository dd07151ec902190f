//! Faults in the middle of a statement (issue 8): the connection dies, or the future is
//! dropped. Nothing partial may be visible afterwards (no half-deleted cascade, no
//! half-inserted batch), and the next query on the pool works.
//!
//! PostgreSQL: the server process of the ORM's connection is terminated
//! (`pg_terminate_backend`, from another pool, with the pid of the pool's only
//! connection) during a read, a cascading delete and a `bulk_create` in two batches. To
//! terminate it *during* each, the statement is held at a gate first: an advisory lock that
//! this test holds, taken by a view's function (the read) or a trigger (the delete of the
//! author, after her books are gone; the insert of a row of the second batch).
//!
//! SQLite has no server to kill: the database lives in the process. Its faults are
//! covered by dropping the future (a cancelled request) after a growing number of polls,
//! on a pool of one connection, until one drop lands between the `BEGIN` and the
//! `COMMIT` of a cascading delete and of a `bulk_create` in two batches. MySQL runs the
//! same drops, and has its connection killed (`KILL CONNECTION`) in the middle of a
//! multi-batch `bulk_create`.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use orm_sqlx::StatementKind::{Begin, Commit, Delete, Insert, Rollback};
use orm_sqlx::prelude::*;
use orm_sqlx::{CapturedQuery, sqlx};
use orm_tests::library::{self, Author, Book, Tag};
use orm_tests::wide::{self, Wide};
use orm_tests::{Backend, TestDb, required_backends};

/// Rows enough for two batches on `backend` (the PostgreSQL gate waits at row 6999).
fn wide_rows(backend: Backend) -> Vec<Wide> {
    wide::rows(match backend {
        Backend::Sqlite => 3_500,
        Backend::Postgres | Backend::Mysql => 7_000,
    })
}

/// The tags, read through a function that waits at the gate.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "gated_tags")]
pub struct GatedTag {
    pub id: i64,
    pub name: String,
}

/// The advisory lock the gated statements wait for.
const GATE: i64 = 880_808;

fn kinds(q: &[CapturedQuery]) -> Vec<orm_sqlx::StatementKind> {
    q.iter().map(|q| q.kind).collect()
}

// ---- PostgreSQL: the server connection is terminated -----------------------------------

/// The pid of the server process behind the only connection of `db`.
async fn backend_pid(db: &Db) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(db.pg_pool().expect("PostgreSQL"))
        .await
        .unwrap()
}

/// Wait until `pid` waits at the gate, then terminate it.
async fn terminate_at_the_gate(admin: &Db, pid: i32) {
    let pool = admin.pg_pool().expect("PostgreSQL");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waiting: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity \
             WHERE pid = $1 AND wait_event_type = 'Lock' AND wait_event = 'advisory')",
        )
        .bind(pid)
        .fetch_one(pool)
        .await
        .unwrap();
        if waiting {
            break;
        }
        assert!(Instant::now() < deadline, "{pid} never reached the gate");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(terminated);
}

/// Run `op` on the pool's connection, terminate that connection while `op` waits at the
/// gate, and return what `op` returned and sent.
async fn terminated_during<T>(
    admin: &Db,
    db: &Db,
    op: impl Future<Output = T>,
) -> (T, Vec<CapturedQuery>) {
    let pid = backend_pid(db).await;
    let mut gate = admin.pg_pool().unwrap().acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(GATE)
        .execute(&mut *gate)
        .await
        .unwrap();
    let (out, ()) = tokio::join!(capture_queries(op), terminate_at_the_gate(admin, pid));
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(GATE)
        .execute(&mut *gate)
        .await
        .unwrap();
    assert_ne!(
        backend_pid(db).await,
        pid,
        "the pool opened a new connection"
    );
    out
}

#[tokio::test]
async fn postgres_a_terminated_connection_leaves_nothing_partial() {
    if !required_backends().contains(&Backend::Postgres) {
        return;
    }
    let t = TestDb::open(Backend::Postgres).await;
    let lib = library::load(&t.db).await;
    t.db.create_table::<Wide>().await.unwrap();
    for ddl in [
        "CREATE FUNCTION gate_text(t text) RETURNS text LANGUAGE sql VOLATILE \
         AS 'SELECT pg_advisory_xact_lock_shared(880808); SELECT t'",
        "CREATE VIEW gated_tags AS SELECT id, gate_text(name) AS name FROM tags",
        "CREATE FUNCTION gate_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         PERFORM pg_advisory_xact_lock_shared(880808); \
         IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END $$",
        // After Alice's books and their links are deleted, at her own row.
        "CREATE TRIGGER authors_gate BEFORE DELETE ON authors \
         FOR EACH ROW EXECUTE FUNCTION gate_row()",
        // At the last row, in the second batch.
        "CREATE TRIGGER wide_gate BEFORE INSERT ON wide \
         FOR EACH ROW WHEN (NEW.c0 = 6999) EXECUTE FUNCTION gate_row()",
    ] {
        t.db.execute_raw(ddl).await.unwrap();
    }
    let (db, _) = t.one_connection_pool(Duration::from_secs(30)).await;

    // A read.
    let qs = GatedTag::objects();
    let (r, _) = terminated_during(&t.db, &db, qs.fetch(&db)).await;
    assert!(matches!(r, Err(Error::Database { .. })), "{r:?}");
    assert!(!qs.is_evaluated());
    assert_eq!(
        Tag::objects().count(&db).await.unwrap(),
        2,
        "the next query"
    );

    // A cascading delete: the books and their links were deleted when the connection
    // died at the author; none of it is visible.
    let (r, q) = terminated_during(&t.db, &db, lib.alice.delete(&db)).await;
    assert!(matches!(r, Err(Error::Database { .. })), "{r:?}");
    assert_eq!(
        kinds(&q)[..4],
        [Begin, orm_sqlx::StatementKind::Select, Delete, Delete]
    );
    assert!(
        q.iter()
            .any(|q| q.kind == Delete && q.sql.contains(r#"FROM "books""#)),
        "{q:#?}"
    );
    assert_eq!(
        Author::objects().count(&db).await.unwrap(),
        3,
        "the next query"
    );
    assert_eq!(
        Book::objects()
            .filter(|b| b.author.eq(&lib.alice))
            .count(&t.db)
            .await
            .unwrap(),
        2
    );
    assert_eq!(lib.b1.tags().count(&t.db).await.unwrap(), 2);

    // A bulk_create in two batches: the first was inserted when the connection died in
    // the second; none of it is visible.
    let mut rows = wide_rows(Backend::Postgres);
    let (r, q) = terminated_during(&t.db, &db, Wide::objects().bulk_create(&mut rows, &db)).await;
    assert!(matches!(r, Err(Error::Database { .. })), "{r:?}");
    assert_eq!(kinds(&q), [Begin, Insert, Insert, Rollback]);
    assert_eq!(
        Wide::objects().count(&db).await.unwrap(),
        0,
        "the next query"
    );
    // Issue 8.3: no instance keeps the key of a row that was rolled back.
    assert!(
        rows.iter().all(|r| r.id == 0),
        "keys of rows that do not exist"
    );

    db.pg_pool().unwrap().close().await;
    t.cleanup().await;
}

// ---- SQLite: the future is dropped ---------------------------------------------------------

/// Poll `fut` at most `polls` times, letting the runtime run between polls, then drop it.
async fn poll_then_drop<F: Future>(fut: F, polls: usize) -> Option<F::Output> {
    let mut fut = pin!(fut);
    for _ in 0..polls {
        let step = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
        if let Poll::Ready(out) = step {
            return Some(out);
        }
        tokio::task::yield_now().await;
    }
    None
}

/// Whether the statements sent stop between a `BEGIN` and its `COMMIT`, after a write.
fn cut_mid_transaction(q: &[CapturedQuery]) -> bool {
    let k = kinds(q);
    k.contains(&Begin) && !k.contains(&Commit) && k.iter().any(|k| matches!(k, Delete | Insert))
}

#[tokio::test]
async fn sqlite_a_dropped_write_leaves_nothing_partial() {
    a_dropped_write_leaves_nothing_partial(Backend::Sqlite).await;
}

// ---- MySQL: the future is dropped while a statement of the transaction runs -----------

/// MySQL answers so fast over loopback that a write passes several statements in one
/// poll: the drop is placed instead, by a timeout while a trigger sleeps inside the
/// transaction (the delete of the author, after her books are gone; the insert of a row
/// of the second batch). The connection of the abandoned write is closed, never returned
/// to the pool mid-protocol (sqlx's MySQL connection then hung the pool's next query for
/// its whole acquire timeout); the server rolls the transaction back as it closes.
#[tokio::test]
async fn mysql_a_write_dropped_mid_transaction_leaves_nothing_partial() {
    if !required_backends().contains(&Backend::Mysql) {
        return;
    }
    let t = TestDb::open(Backend::Mysql).await;
    let lib = library::load(&t.db).await;
    t.db.create_table::<Wide>().await.unwrap();
    let mut rows = wide_rows(Backend::Mysql);
    let last = rows.len() - 1;
    rows[last].c0 = 987_654;
    for ddl in [
        "CREATE TRIGGER slow_author BEFORE DELETE ON authors FOR EACH ROW SET @gate = SLEEP(2)",
        "CREATE TRIGGER slow_wide BEFORE INSERT ON wide FOR EACH ROW \
         SET @gate = IF(NEW.c0 = 987654, SLEEP(2), 0)",
    ] {
        t.db.execute_raw(ddl).await.unwrap();
    }
    let (db, _) = t.one_connection_pool(Duration::from_secs(30)).await;
    let state = || async {
        (
            Author::objects().count(&t.db).await.unwrap(),
            Book::objects().count(&t.db).await.unwrap(),
            lib.b1.tags().count(&t.db).await.unwrap(),
        )
    };

    let (r, q) = capture_queries(tokio::time::timeout(
        Duration::from_millis(500),
        lib.alice.delete(&db),
    ))
    .await;
    assert!(
        r.is_err(),
        "the delete should still be running: {:?}",
        kinds(&q)
    );
    assert!(cut_mid_transaction(&q), "{:?}", kinds(&q));
    let started = Instant::now();
    assert_eq!(Author::objects().count(&db).await.unwrap(), 3);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the pool's next query waited: {:?}",
        started.elapsed()
    );
    assert_eq!(state().await, (3, 3, 2));

    // The first batch (thousands of wide rows) must be done before the timeout, the
    // second still sleeping in its trigger (2 s on its last row): 500 ms was too short
    // for the first on a loaded two-core machine.
    let (r, q) = capture_queries(tokio::time::timeout(
        Duration::from_millis(1_500),
        Wide::objects().bulk_create(&mut rows, &db),
    ))
    .await;
    assert!(r.is_err(), "the bulk_create should still be running");
    assert_eq!(
        kinds(&q),
        [Begin, Insert, Insert],
        "dropped in the second batch"
    );
    assert!(rows.iter().all(|r| r.id == 0), "no key on an instance");
    assert_eq!(Wide::objects().count(&db).await.unwrap(), 0);
    // Once the server has finished the abandoned statement and seen the connection
    // closed, the transaction is rolled back: nothing of it ever becomes visible.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(Wide::objects().count(&db).await.unwrap(), 0);
    assert_eq!(state().await, (3, 3, 2));

    db.mysql_pool().unwrap().close().await;
    t.cleanup().await;
}

async fn a_dropped_write_leaves_nothing_partial(backend: Backend) {
    if !required_backends().contains(&backend) {
        return;
    }
    let t = TestDb::open(backend).await;
    let lib = library::load(&t.db).await;
    t.db.create_table::<Wide>().await.unwrap();
    let (db, _) = t.one_connection_pool(Duration::from_secs(30)).await;

    // A cascading delete, dropped after 1, 2, 3… polls, until three drops landed between
    // its BEGIN and its COMMIT (or it finished).
    let mut cut = 0;
    for polls in 1..2_000 {
        if cut == 3 {
            break;
        }
        let (out, q) = capture_queries(poll_then_drop(lib.alice.delete(&db), polls)).await;
        let authors = Author::objects().count(&db).await.unwrap();
        let books = Book::objects().count(&t.db).await.unwrap();
        let links = lib.b1.tags().count(&t.db).await.unwrap();
        match out {
            Some(d) => {
                assert_eq!(d.unwrap().total, 5);
                assert_eq!((authors, books, links), (2, 1, 0));
                break;
            }
            // Dropped after the COMMIT went out: all of it, then.
            None if (authors, books, links) == (2, 1, 0) => {
                assert!(kinds(&q).contains(&Commit), "after {polls} polls: {q:#?}");
                break;
            }
            None => {
                assert_eq!(
                    (authors, books, links),
                    (3, 3, 2),
                    "after {polls} polls: {q:#?}"
                );
                cut += usize::from(cut_mid_transaction(&q));
            }
        }
    }
    assert!(cut > 0, "no drop landed inside the delete's transaction");

    // A bulk_create in two batches, likewise.
    let mut cut = 0;
    for polls in 1..20_000 {
        if cut == 3 {
            break;
        }
        let mut rows = wide_rows(backend);
        let (out, q) = capture_queries(poll_then_drop(
            Wide::objects().bulk_create(&mut rows, &db),
            polls,
        ))
        .await;
        let stored = Wide::objects().count(&db).await.unwrap();
        match out {
            Some(r) => {
                r.unwrap();
                assert_eq!(stored, rows.len() as u64);
                assert!(rows.iter().all(|r| r.id > 0));
                break;
            }
            None if stored == rows.len() as u64 => {
                assert!(
                    kinds(&q).contains(&Commit),
                    "after {polls} polls: {:?}",
                    kinds(&q)
                );
                break;
            }
            None => {
                assert_eq!(stored, 0, "after {polls} polls: {:?}", kinds(&q));
                // Issue 8.3: a cancelled bulk_create leaves no key on an instance.
                assert!(rows.iter().all(|r| r.id == 0), "after {polls} polls");
                cut += usize::from(cut_mid_transaction(&q));
            }
        }
    }
    assert!(
        cut > 0,
        "no drop landed inside the bulk_create's transaction"
    );

    if let Some(pool) = db.sqlite_pool() {
        pool.close().await;
    }
    if let Some(pool) = db.mysql_pool() {
        pool.close().await;
    }
    t.cleanup().await;
}
