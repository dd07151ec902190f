//! Issue 12.2: isolation levels and read-only transactions (`Db::atomic_with`,
//! `Db::begin_with`, `TxOptions`), where each backend has them; on SQLite, read-only is a
//! typed error before any statement.

use orm_sqlx::StatementKind::*;
use orm_sqlx::prelude::*;
use orm_sqlx::{Isolation, RawQuery, TxOptions};
use orm_tests::library::Tag;
use orm_tests::{Backend, with_library};

fn tag(name: &str) -> Tag {
    Tag {
        id: 0,
        name: name.into(),
    }
}

/// The isolation level PostgreSQL reports for the open transaction.
async fn pg_level(tx: &mut orm_sqlx::Transaction) -> String {
    let rows: Vec<String> = RawQuery::new("SELECT current_setting('transaction_isolation')", ())
        .into_vec(&mut *tx)
        .await
        .unwrap();
    rows.concat()
}

#[tokio::test]
async fn an_isolation_level_is_the_transactions_begin() {
    with_library(|db, backend, _| async move {
        let serializable = TxOptions::new().isolation(Isolation::Serializable);
        let (r, q) = capture_queries(db.atomic_with(serializable, |tx| {
            Box::pin(async move {
                tag("iso").insert(&mut *tx).await?;
                let n = Tag::objects().count(&mut *tx).await?;
                if backend == Backend::Postgres {
                    assert_eq!(pg_level(tx).await, "serializable");
                }
                Ok(n)
            })
        }))
        .await;
        assert_eq!(r.unwrap(), 3);
        let begin = &q[0];
        assert_eq!(begin.kind, Begin);
        let want = match backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN ISOLATION LEVEL SERIALIZABLE",
            Backend::Mysql => "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; START TRANSACTION",
        };
        assert_eq!(&*begin.sql, want);
        assert_eq!(q.last().unwrap().kind, Commit);

        // What the level does: at REPEATABLE READ a transaction keeps the snapshot of its
        // first read (a row committed meanwhile stays unseen); at the default, READ
        // COMMITTED, each read sees what is committed. And the level is the one
        // transaction's: the next one runs at the default.
        if backend != Backend::Sqlite {
            let rr = TxOptions::new().isolation(Isolation::RepeatableRead);
            let mut tx = db.begin_with(rr).await.unwrap();
            let before = Tag::objects().count(&mut tx).await.unwrap();
            tag("meanwhile").insert(&db).await.unwrap();
            assert_eq!(Tag::objects().count(&mut tx).await.unwrap(), before);
            tx.commit().await.unwrap();

            let mut tx = db.begin().await.unwrap();
            let before = Tag::objects().count(&mut tx).await.unwrap();
            tag("meanwhile 2").insert(&db).await.unwrap();
            assert_eq!(Tag::objects().count(&mut tx).await.unwrap(), before + 1);
            tx.commit().await.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn a_read_only_transaction_reads_and_refuses_writes() {
    with_library(|db, backend, _| async move {
        let read_only = TxOptions::new().read_only();
        if backend == Backend::Sqlite {
            let (r, q) = capture_queries(db.atomic_with(read_only, |tx| {
                Box::pin(async move { Tag::objects().count(&mut *tx).await })
            }))
            .await;
            assert!(matches!(r, Err(Error::InvalidInput(_))), "{r:?}");
            assert!(q.is_empty(), "{q:?}");
            let r = db.begin_with(read_only).await;
            assert!(matches!(r, Err(Error::InvalidInput(_))));
            return;
        }
        let n = db
            .atomic_with(read_only, |tx| {
                Box::pin(async move { Tag::objects().count(&mut *tx).await })
            })
            .await
            .unwrap();
        assert_eq!(n, 2);
        let r = db
            .atomic_with(read_only, |tx| {
                Box::pin(async move { tag("nope").insert(&mut *tx).await })
            })
            .await;
        assert!(r.is_err(), "a write in a read-only transaction must fail");
        assert_eq!(
            Tag::objects().count(&db).await.unwrap(),
            2,
            "nothing written"
        );
    })
    .await;
}
