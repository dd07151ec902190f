//! What only the MySQL/MariaDB backend has to get right: `RETURNING` as a capability of
//! the server (MariaDB 10.5+ has it, MySQL 8 has not), the session every connection sets
//! up (strict `sql_mode`, UTC, an exact collation), tables whose text compares exactly, a
//! connection the server closed (`wait_timeout`), and an abandoned statement.
//!
//! These run when `ORM_TEST_BACKENDS` lists `mysql` (the default); the rest of the suite
//! runs on MySQL too, through `on_each_backend`.

use std::time::{Duration, Instant};

use orm_sqlx::prelude::*;
use orm_sqlx::{StatementKind, sqlx};
use orm_tests::{Backend, TestDb, required_backends};

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "notes")]
pub struct Note {
    pub id: i64,
    pub body: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "codes")]
pub struct Code {
    #[orm(primary_key)]
    pub code: String,
    pub label: String,
}

/// A MySQL test database, or `None` when this run does not test MySQL.
async fn mysql() -> Option<TestDb> {
    if !required_backends().contains(&Backend::Mysql) {
        return None;
    }
    Some(TestDb::open(Backend::Mysql).await)
}

fn notes(n: usize) -> Vec<Note> {
    (0..n)
        .map(|i| Note {
            id: 0,
            body: format!("n{i}"),
        })
        .collect()
}

/// Keys read back with `RETURNING` (MariaDB) and without it (the MySQL 8 path:
/// `LAST_INSERT_ID()` and the consecutive keys of one multi-row INSERT) are the keys the
/// rows got, in order, across batches too.
#[tokio::test]
async fn keys_are_right_with_and_without_returning() {
    let Some(t) = mysql().await else { return };
    t.db.create_table::<Note>().await.unwrap();
    let server = t.db.mysql_server().expect("a MySQL database");
    assert!(server.mariadb, "this machine's server is MariaDB");
    assert!(t.db.supports_returning(), "MariaDB 10.11 has RETURNING");

    for returning in [true, false] {
        let db = t.db.clone().with_returning(returning);
        assert_eq!(db.supports_returning(), returning);
        // Two batches (the key is left out: one bound column a row, 65,535 rows a
        // statement), then one row.
        let mut rows = notes(65_535 + 7);
        let (r, q) = capture_queries(Note::objects().bulk_create(&mut rows, &db)).await;
        r.unwrap();
        let inserts: Vec<_> = q
            .iter()
            .filter(|q| q.kind == StatementKind::Insert)
            .collect();
        assert_eq!(inserts.len(), 2);
        for insert in &inserts {
            assert_eq!(
                insert.sql.contains("RETURNING"),
                returning,
                "{}",
                &insert.sql[..80]
            );
        }
        let mut one = Note {
            id: 0,
            body: format!("single {returning}"),
        };
        one.save(&db).await.unwrap();
        rows.push(one);
        // Every instance holds the key of the row with its body.
        let stored: std::collections::HashMap<i64, String> = Note::objects()
            .values(|n| (n.id, n.body))
            .fetch(&db)
            .await
            .unwrap()
            .iter()
            .cloned()
            .collect();
        for row in &rows {
            assert_eq!(stored.get(&row.id), Some(&row.body), "{returning}");
        }
        Note::objects().delete(&db).await.unwrap();
    }
    t.cleanup().await;
}

/// Every connection of an ORM pool (from `Db::connect`, or a pool of your own built with
/// `orm_sqlx::mysql::pool_options`) is strict, in UTC, and compares its own strings
/// exactly; a pool built without the ORM's setup is not (which `Db::from` documents).
#[tokio::test]
async fn every_connection_is_strict_utc_and_exact() {
    let Some(t) = mysql().await else { return };
    let session = |pool: sqlx::MySqlPool| async move {
        let (mode, tz, collation): (String, String, String) =
            sqlx::query_as("SELECT @@sql_mode, @@time_zone, @@collation_connection")
                .fetch_one(&pool)
                .await
                .unwrap();
        pool.close().await;
        (mode, tz, collation)
    };
    let (own, _) = t.one_connection_pool(Duration::from_secs(30)).await;
    for pool in [
        t.db.mysql_pool().unwrap().clone(),
        own.mysql_pool().unwrap().clone(),
    ] {
        let (mode, tz, collation) = session(pool).await;
        for flag in [
            "STRICT_ALL_TABLES",
            "ERROR_FOR_DIVISION_BY_ZERO",
            "NO_ZERO_DATE",
            "ONLY_FULL_GROUP_BY",
        ] {
            assert!(mode.contains(flag), "{mode}");
        }
        assert!(!mode.contains("NO_BACKSLASH_ESCAPES"), "{mode}");
        assert_eq!(tz, "+00:00");
        assert_eq!(collation, "utf8mb4_nopad_bin");
    }
    // Without the ORM's setup, the server's defaults.
    let plain = sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(1)
        .connect(&t.url)
        .await
        .unwrap();
    let (_, _, collation) = session(plain).await;
    assert_ne!(collation, "utf8mb4_nopad_bin");
    t.cleanup().await;
}

/// MySQL's default collations ignore case, accents and trailing spaces: `eq("abc")` would
/// find `"ABC "`, and a key `"a "` would collide with `"a"`. The tables the ORM creates
/// compare exactly, as SQLite and PostgreSQL do; `iexact` folds case only.
#[tokio::test]
async fn text_compares_exactly_in_the_tables_the_orm_creates() {
    let Some(t) = mysql().await else { return };
    let db = &t.db;
    db.create_tables::<(Note, Code)>().await.unwrap();
    let bodies = ["abc", "ABC", "abc ", "àbc", "ÀBC"];
    let mut rows: Vec<Note> = bodies
        .iter()
        .map(|b| Note {
            id: 0,
            body: (*b).into(),
        })
        .collect();
    Note::objects().bulk_create(&mut rows, db).await.unwrap();
    let find = |qs: QuerySet<Note>| async move {
        qs.order_by(|n| n.id.asc())
            .values(|n| n.body)
            .fetch(db)
            .await
            .unwrap()
            .to_vec()
    };
    assert_eq!(
        find(Note::objects().filter(|n| n.body.eq("abc"))).await,
        ["abc"]
    );
    assert_eq!(
        find(Note::objects().filter(|n| n.body.iexact("abc"))).await,
        ["abc", "ABC"]
    );
    assert_eq!(
        find(Note::objects().filter(|n| n.body.iexact("àbc"))).await,
        ["àbc", "ÀBC"]
    );
    assert_eq!(
        find(Note::objects().filter(|n| n.body.gt("abc"))).await,
        ["abc ", "àbc", "ÀBC"],
        "UTF-8 byte order: 'abc ' > 'abc', 'ABC' < 'abc' < 'ÀBC'"
    );
    assert_eq!(
        find(Note::objects().filter(|n| n.body.is_in(["abc "]))).await,
        ["abc "]
    );

    // Keys that differ only in case or a trailing space are different keys.
    for code in ["a", "A", "a "] {
        let mut c = Code {
            code: code.into(),
            label: format!("[{code}]"),
        };
        c.insert(db).await.unwrap();
    }
    let c = Code::objects()
        .filter(|c| c.code.eq("a "))
        .get(db)
        .await
        .unwrap();
    assert_eq!(c.label, "[a ]");
    assert_eq!(Code::objects().count(db).await.unwrap(), 3);
    t.cleanup().await;
}

/// A pool wrapped with `Db::from` is not asked what its server is: it inserts without
/// `RETURNING` (which every MySQL-family server takes), and `create_tables` asks the server
/// for its exact collation's name.
#[tokio::test]
async fn a_pool_of_your_own_works_without_being_asked() {
    let Some(t) = mysql().await else { return };
    let pool = orm_sqlx::mysql::pool_options()
        .max_connections(2)
        .connect_with(orm_sqlx::mysql::connect_options(&t.url).unwrap())
        .await
        .unwrap();
    let db = Db::from(pool);
    assert!(!db.supports_returning());
    // Turning RETURNING on says nothing of the server's collation: it is still asked.
    let db = db.with_returning(true);
    db.create_table::<Note>().await.unwrap();
    let collation: String = sqlx::query_scalar(
        "SELECT TABLE_COLLATION FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'notes'",
    )
    .fetch_one(db.mysql_pool().unwrap())
    .await
    .unwrap();
    assert_eq!(collation, "utf8mb4_nopad_bin");
    let db = db.with_returning(false);
    let mut rows = notes(3);
    Note::objects().bulk_create(&mut rows, &db).await.unwrap();
    let keys: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let stored = Note::objects()
        .order_by(|n| n.id.asc())
        .values(|n| n.id)
        .fetch(&db)
        .await
        .unwrap()
        .to_vec();
    assert_eq!(keys, stored);
    db.mysql_pool().unwrap().close().await;
    t.cleanup().await;
}

/// A connection the server closed while it sat in the pool (`wait_timeout`, a restart, a
/// proxy) is replaced when the pool lends it next: the query runs, once.
#[tokio::test]
async fn a_connection_closed_by_wait_timeout_is_replaced() {
    let Some(t) = mysql().await else { return };
    t.db.create_table::<Note>().await.unwrap();
    let (db, _) = t.one_connection_pool(Duration::from_secs(30)).await;
    assert_eq!(Note::objects().count(&db).await.unwrap(), 0);
    let id_of = |db: Db| async move {
        let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
            .fetch_one(db.mysql_pool().unwrap())
            .await
            .unwrap();
        id
    };
    let before = id_of(db.clone()).await;
    db.execute_raw("SET SESSION wait_timeout = 1")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (n, q) = capture_queries(Note::objects().count(&db)).await;
    assert_eq!((n.unwrap(), q.len()), (0, 1));
    assert_ne!(id_of(db.clone()).await, before, "a new connection");
    db.mysql_pool().unwrap().close().await;
    t.cleanup().await;
}

/// `notes`, read through a view that sleeps a second per row.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "slow_notes")]
pub struct SlowNote {
    pub id: i64,
    pub body: String,
}

/// An evaluation dropped while its statement runs (a timeout): its connection is closed,
/// not returned to the pool, so the pool's next query does not wait for the server to
/// finish the abandoned statement.
#[tokio::test]
async fn an_abandoned_read_does_not_hold_up_the_next_query() {
    let Some(t) = mysql().await else { return };
    t.db.create_table::<Note>().await.unwrap();
    let mut rows = notes(5);
    Note::objects().bulk_create(&mut rows, &t.db).await.unwrap();
    t.db.execute_raw("CREATE VIEW slow_notes AS SELECT id, body FROM notes WHERE SLEEP(1) = 0")
        .await
        .unwrap();
    let (db, _) = t.one_connection_pool(Duration::from_secs(30)).await;
    assert_eq!(Note::objects().count(&db).await.unwrap(), 5);

    let slow = SlowNote::objects();
    let r = tokio::time::timeout(Duration::from_millis(200), slow.fetch(&db)).await;
    assert!(r.is_err(), "the read should still be running");
    assert!(!slow.is_evaluated());
    let started = Instant::now();
    assert_eq!(Note::objects().count(&db).await.unwrap(), 5);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the next query waited for the abandoned one: {:?}",
        started.elapsed()
    );
    db.mysql_pool().unwrap().close().await;
    t.cleanup().await;
}
