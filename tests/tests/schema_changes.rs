//! A column's type changes under a pooled connection that already ran a query on it.
//!
//! PostgreSQL then refuses the connection's prepared statement ("cached plan must not
//! change result type", SQLSTATE 0A000), and kept refusing it until the pool closed the
//! connection. The ORM clears the connection's statement cache and sends the statement
//! again, once, outside a transaction (the error is raised before the statement runs);
//! inside one, the transaction is aborted, so it clears the cache and returns the error.
//! SQLite prepares such statements again by itself: the same steps must work there too.

use std::time::Duration;

use futures_util::TryStreamExt;
use orm_sqlx::prelude::*;
use orm_tests::{Backend, TestDb, required_backends};

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "notes")]
pub struct Note {
    pub id: i64,
    pub body: String,
}

/// A change to `notes.body` that leaves a `String` field readable: its type on
/// PostgreSQL and MySQL (text and varchar are different result types), a new column on
/// SQLite.
fn alter(backend: Backend, round: usize) -> String {
    match backend {
        Backend::Postgres if round.is_multiple_of(2) => {
            "ALTER TABLE notes ALTER COLUMN body TYPE VARCHAR(200)".into()
        }
        Backend::Postgres => "ALTER TABLE notes ALTER COLUMN body TYPE TEXT".into(),
        Backend::Sqlite => format!("ALTER TABLE notes ADD COLUMN extra{round} INTEGER"),
        Backend::Mysql if round.is_multiple_of(2) => {
            "ALTER TABLE notes MODIFY body VARCHAR(200) NOT NULL".into()
        }
        Backend::Mysql => "ALTER TABLE notes MODIFY body LONGTEXT NOT NULL".into(),
    }
}

#[tokio::test]
async fn a_query_prepared_before_a_column_changed_type_runs_again() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        t.db.create_table::<Note>().await.unwrap();
        let mut note = Note {
            id: 0,
            body: "first".into(),
        };
        note.insert(&t.db).await.unwrap();
        // One connection: every query below runs on the connection that prepared it.
        let (db, _) = t.one_connection_pool(Duration::from_secs(30)).await;
        let all = || Note::objects().order_by(|n| n.id.asc());
        let by_key = || Note::objects().filter(|n| n.id.eq(note.id));

        // fetch (a list) and get (at most one row): prepared and cached on the connection.
        assert_eq!(all().fetch(&db).await.unwrap().len(), 1);
        assert_eq!(by_key().get(&db).await.unwrap(), note);

        t.db.execute_raw(&alter(backend, 0)).await.unwrap();
        let qs = all();
        let (rows, q) = capture_queries(qs.fetch(&db)).await;
        assert_eq!(rows.unwrap().len(), 1, "{backend:?}");
        // Counted once: the statement sent again is the same statement, prepared again.
        assert_eq!(q.len(), 1, "{backend:?}: {q:#?}");
        let (row, q) = capture_queries(by_key().get(&db)).await;
        assert_eq!(row.unwrap(), note, "{backend:?}");
        assert_eq!(q.len(), 1, "{backend:?}");

        // A stream on the pool too (`iterator()`).
        let streamed = |db: Db| async move {
            let qs = all();
            let mut rows = qs.iterator(&db, 10);
            let mut n = 0;
            while rows.try_next().await?.is_some() {
                n += 1;
            }
            Ok::<_, Error>(n)
        };
        assert_eq!(streamed(db.clone()).await.unwrap(), 1);
        t.db.execute_raw(&alter(backend, 1)).await.unwrap();
        let (n, q) = capture_queries(streamed(db.clone())).await;
        assert_eq!(n.unwrap(), 1, "{backend:?}");
        assert_eq!(q.len(), 1, "{backend:?}");

        // Inside a transaction the error aborts the transaction: it is returned, and the
        // connection's cache is cleared, so the next transaction runs the query.
        t.db.execute_raw(&alter(backend, 2)).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        let r = all().fetch(&mut tx).await.map(|r| r.len());
        match backend {
            Backend::Postgres => match r {
                Err(Error::Database { source, .. }) => {
                    assert!(
                        source
                            .to_string()
                            .contains("cached plan must not change result type"),
                        "{source}"
                    )
                }
                other => panic!("expected the cached-plan error, got {other:?}"),
            },
            // Both prepare such statements again by themselves.
            Backend::Sqlite | Backend::Mysql => assert_eq!(r.unwrap(), 1),
        }
        tx.rollback().await.unwrap();
        let mut tx = db.begin().await.unwrap();
        assert_eq!(all().fetch(&mut tx).await.unwrap().len(), 1, "{backend:?}");
        tx.commit().await.unwrap();

        if let Some(pool) = db.pg_pool() {
            pool.close().await;
        }
        if let Some(pool) = db.sqlite_pool() {
            pool.close().await;
        }
        if let Some(pool) = db.mysql_pool() {
            pool.close().await;
        }
        t.cleanup().await;
    }
}
