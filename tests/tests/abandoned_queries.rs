//! An evaluation dropped while its statement runs on PostgreSQL (a timeout, a client that
//! went away): the server must not go on running the statement on a connection that the
//! pool lends to the next query, which would wait for it.
//!
//! The ORM closes a connection whose statement was abandoned instead of returning it to
//! the pool, and its pools ask the server to check every second that the client is still
//! there while a statement runs (`client_connection_check_interval`), so the server stops
//! the statement. PostgreSQL only: SQLite runs statements in the process, and its driver
//! stops at the next row by itself.

use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use orm_sqlx::prelude::*;
use orm_sqlx::sqlx;
use orm_tests::{Backend, TestDb, required_backends};

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "notes")]
pub struct Note {
    pub id: i64,
    pub body: String,
}

/// `notes`, read through a function that sleeps for [`SLEEP`] per row.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "slow_notes")]
pub struct SlowNote {
    pub id: i64,
    pub body: String,
}

const SLEEP: Duration = Duration::from_secs(20);

/// How many statements on the server read `slow_notes` now.
async fn sleeping(admin: &Db) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE state = 'active' AND query LIKE '%slow_notes%' AND pid <> pg_backend_pid()",
    )
    .fetch_one(admin.pg_pool().expect("PostgreSQL"))
    .await
    .unwrap()
}

/// After an abandoned statement: the next query on the one-connection pool `db` runs at
/// once (well under the sleep), and the server stops the sleep shortly.
async fn the_pool_recovers(what: &str, db: &Db, admin: &Db) {
    let started = Instant::now();
    let n = tokio::time::timeout(SLEEP / 2, Note::objects().count(db))
        .await
        .unwrap_or_else(|_| panic!("{what}: the next query waited for the abandoned one"))
        .unwrap();
    assert_eq!(n, 1);
    assert!(
        started.elapsed() < SLEEP / 4,
        "{what}: {:?}",
        started.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while sleeping(admin).await > 0 {
        assert!(
            Instant::now() < deadline,
            "{what}: the server still runs the abandoned statement"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_abandoned_read_does_not_hold_up_the_next_query() {
    if !required_backends().contains(&Backend::Postgres) {
        return;
    }
    let t = TestDb::open(Backend::Postgres).await;
    t.db.create_table::<Note>().await.unwrap();
    Note {
        id: 0,
        body: "only".into(),
    }
    .insert(&t.db)
    .await
    .unwrap();
    t.db.execute_raw(&format!(
        "CREATE FUNCTION slow_body(b text) RETURNS text LANGUAGE sql VOLATILE \
         AS 'SELECT pg_sleep({}); SELECT b'",
        SLEEP.as_secs()
    ))
    .await
    .unwrap();
    t.db.execute_raw("CREATE VIEW slow_notes AS SELECT id, slow_body(body) AS body FROM notes")
        .await
        .unwrap();
    let (db, _) = t.one_connection_pool(Duration::from_secs(60)).await;
    assert_eq!(Note::objects().count(&db).await.unwrap(), 1);

    // A list, on the pool.
    let slow = SlowNote::objects();
    let r = tokio::time::timeout(Duration::from_millis(100), slow.fetch(&db)).await;
    assert!(r.is_err(), "the read should still be running");
    assert!(!slow.is_evaluated());
    the_pool_recovers("fetch", &db, &t.db).await;

    // One row, on the pool.
    let by_key = SlowNote::objects().filter(|n| n.id.eq(1));
    let r = tokio::time::timeout(Duration::from_millis(100), by_key.get(&db)).await;
    assert!(r.is_err(), "the read should still be running");
    the_pool_recovers("get", &db, &t.db).await;

    // On a connection taken from the pool, given back after the abandoned read.
    let mut conn = db.acquire().await.unwrap();
    let r = tokio::time::timeout(Duration::from_millis(100), slow.fetch(&mut conn)).await;
    assert!(r.is_err(), "the read should still be running");
    drop(conn);
    the_pool_recovers("acquired connection", &db, &t.db).await;

    // A stream (`iterator()`) left before its first row.
    let mut rows = slow.iterator(&db, 10);
    let r = tokio::time::timeout(Duration::from_millis(100), rows.try_next()).await;
    assert!(r.is_err(), "the read should still be running");
    drop(rows);
    the_pool_recovers("iterator", &db, &t.db).await;

    // A finished read leaves its connection in the pool: no new one is opened.
    let before: i64 = sqlx::query_scalar("SELECT pg_backend_pid()::bigint")
        .fetch_one(db.pg_pool().unwrap())
        .await
        .unwrap();
    assert_eq!(Note::objects().count(&db).await.unwrap(), 1);
    let after: i64 = sqlx::query_scalar("SELECT pg_backend_pid()::bigint")
        .fetch_one(db.pg_pool().unwrap())
        .await
        .unwrap();
    assert_eq!(before, after);
    let mut rows = Note::objects().iterator(&db, 10);
    while rows.try_next().await.unwrap().is_some() {}
    drop(rows);
    let after: i64 = sqlx::query_scalar("SELECT pg_backend_pid()::bigint")
        .fetch_one(db.pg_pool().unwrap())
        .await
        .unwrap();
    assert_eq!(
        before, after,
        "a stream read to its end keeps its connection"
    );

    db.pg_pool().unwrap().close().await;
    t.cleanup().await;
}
