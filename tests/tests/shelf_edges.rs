//! Issue 16.3, a review's cases: the shelf of a `Db::connect` pool (connections of
//! cleanly finished statements kept out of sqlx's pool) must not starve a task waiting in
//! sqlx's pool, and must not panic when the last `Db` is dropped outside a runtime. On
//! SQLite files: no server needed. And a shelved connection the server ended while it
//! sat idle is replaced (PostgreSQL).

use std::time::Duration;

use orm_sqlx::Db;
use orm_tests::{Backend, postgres_url, required_backends};

fn file_url(name: &str) -> String {
    let path = std::env::temp_dir().join(format!(
        "orm_shelf_{name}_{}_{}.db",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    format!("sqlite://{}", path.display())
}

/// Every connection out (nine held, one running a slow statement), a statement waits in
/// sqlx's pool: the slow statement's connection must go back to sqlx, not to the shelf.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_waiting_for_a_full_pool_gets_the_next_connection_back() {
    let db = Db::connect(&file_url("full")).await.unwrap();
    let max = db.sqlite_pool().unwrap().options().get_max_connections() as usize;
    let mut held = Vec::new();
    for _ in 0..max - 1 {
        held.push(db.acquire().await.unwrap());
    }
    let slow = tokio::spawn({
        let db = db.clone();
        async move {
            db.execute_raw(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                 WHERE x < 2000000) SELECT count(*) FROM c",
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let waited = tokio::time::timeout(Duration::from_secs(10), db.execute_raw("SELECT 1")).await;
    assert!(
        matches!(waited, Ok(Ok(_))),
        "the waiting statement got no connection: {waited:?}"
    );
    slow.await.unwrap().unwrap();
    drop(held);
}

/// The last `Db` dropped after its runtime: the shelved connections cannot go back to
/// sqlx (that spawns a task) and are closed instead, without a panic.
#[test]
fn a_db_dropped_after_its_runtime_is_gone_does_not_panic() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(async {
        let db = Db::connect(&file_url("late")).await.unwrap();
        db.execute_raw("SELECT 1").await.unwrap();
        db
    });
    drop(rt);
    drop(db);
}

/// A PostgreSQL `Db::connect` pool whose one connection is on the shelf, ended by the
/// server (`pg_terminate_backend`, found by its `application_name`, `{prefix}_{pid}`).
async fn shelved_and_ended(prefix: &str) -> Db {
    let url = postgres_url();
    let name = format!("{prefix}_{}", std::process::id());
    let sep = if url.contains('?') { '&' } else { '?' };
    let db = Db::connect(&format!("{url}{sep}application_name={name}"))
        .await
        .unwrap();
    db.execute_raw("SELECT 1").await.unwrap();
    let admin = Db::connect(&url).await.unwrap();
    admin
        .execute_raw(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = '{name}'"
        ))
        .await
        .unwrap();
    db
}

/// Every connection of a `Db::connect` pool ended by the server while idle (a restart, a
/// failover, `pg_terminate_backend`), past `IDLE_CHECK_AFTER`: the shelved one is pinged
/// as it is lent, found dead and closed, and the statement runs on a new connection.
#[tokio::test]
async fn a_shelved_connection_the_server_ended_is_replaced() {
    if !required_backends().contains(&Backend::Postgres) {
        return;
    }
    let db = shelved_and_ended("orm_shelf_ended").await;
    tokio::time::sleep(orm_sqlx::IDLE_CHECK_AFTER + Duration::from_millis(200)).await;
    let ran = db.execute_raw("SELECT 1").await;
    assert!(ran.is_ok(), "the statement got a dead connection: {ran:?}");
    let shelved = db.pg_pool().unwrap().clone();
    tokio::time::timeout(Duration::from_secs(10), shelved.close())
        .await
        .expect("the pool closed");
}

/// The pool at its size (every other connection out) and the shelved one ended by the
/// server while idle: the statement's ping finds it dead, and it must be closed before
/// the pool is asked for another, since it still holds one of the pool's slots. Held while
/// `pool.acquire()` waits, the statement waits for the slot it holds itself, until the
/// pool's acquire timeout (30 s by default).
#[tokio::test]
async fn a_dead_shelved_connection_is_closed_before_the_pool_is_asked_at_its_size() {
    if !required_backends().contains(&Backend::Postgres) {
        return;
    }
    // Its only connection so far, shelved and ended.
    let db = shelved_and_ended("orm_shelf_full").await;
    // Every other connection the pool may open, taken out of it (new ones: the shelved
    // one is not in sqlx's idle queue).
    let pool = db.pg_pool().unwrap().clone();
    let max = pool.options().get_max_connections();
    let mut others = Vec::new();
    for _ in 1..max {
        others.push(pool.acquire().await.unwrap());
    }
    assert_eq!(pool.size(), max);
    tokio::time::sleep(orm_sqlx::IDLE_CHECK_AFTER + Duration::from_millis(200)).await;
    let ran = tokio::time::timeout(Duration::from_secs(10), db.execute_raw("SELECT 1")).await;
    assert!(
        matches!(ran, Ok(Ok(_))),
        "the statement waited for the slot of the dead connection it held: {ran:?}"
    );
    drop(others);
}

/// A statement cancelled while the connection it took off the shelf is being pinged
/// (idle past `IDLE_CHECK_AFTER`): the ping is abandoned mid-protocol (sent, its reply
/// unread). MySQL's connection does not track the reply it owes, so handed back to the
/// pool as it is, it answers every later command with the previous one's reply. It must be
/// closed, as a statement abandoned mid-way is (`DISCARD_ABANDONED`).
#[tokio::test]
async fn a_statement_cancelled_during_the_idle_ping_leaves_no_connection_out_of_step() {
    use futures_util::FutureExt as _;
    use orm_sqlx::core::Executor as _;
    if !required_backends().contains(&Backend::Mysql) {
        return;
    }
    let db = Db::connect(&orm_tests::mysql_url()).await.unwrap();
    // Cancelled after one poll, the statement may be in its ping (the case) or past it
    // (a statement abandoned, whose connection is closed): every time, whatever runs next
    // must get its own reply.
    for _ in 0..10 {
        // On the shelf, then idle long enough to be pinged.
        db.execute_raw("SELECT 1").await.unwrap();
        tokio::time::sleep(orm_sqlx::IDLE_CHECK_AFTER + Duration::from_millis(200)).await;
        if db.execute_raw("SELECT 1").now_or_never().is_some() {
            continue;
        }
        // Let the dropped connection find its way back to the pool.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for i in 0..3i64 {
            let mut ex = &db;
            let got = ex
                .fetch_optional::<i64>(orm_sqlx::Statement::new(
                    format!("SELECT {}", 40 + i),
                    vec![],
                ))
                .await;
            assert!(
                matches!(got, Ok(Some(n)) if n == 40 + i),
                "after a statement cancelled in its ping, SELECT {} gave {got:?}",
                40 + i
            );
        }
    }
}
