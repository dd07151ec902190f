//! Edge cases of transactions and get_or_create found by review; each test failed before its fix

use std::time::Duration;

use orm_sqlx::prelude::*;
use orm_tests::library::Tag;
use orm_tests::{Backend, with_library};

fn tag(name: &str) -> Tag {
    Tag {
        id: 0,
        name: name.into(),
    }
}

async fn names(db: &Db) -> Vec<String> {
    Tag::objects()
        .order_by(|t| t.name.asc())
        .values(|t| t.name)
        .into_vec(db)
        .await
        .unwrap()
}

/// A nested block cancelled while its statement runs (a timeout around `tx.atomic`):
/// `abandon_savepoint` does nothing (the statement is "running"), `level` goes down anyway
/// and the outer transaction stays usable, but sqlx's depth still counts the savepoint.
/// The outer `commit()` then sends only `RELEASE SAVEPOINT` and reports success: the
/// block's rows are rolled back when the connection closes, yet `db.atomic` returned `Ok`
/// and ran the `on_commit` callbacks. Either the block must fail (the transaction is
/// unusable after an abandoned statement) or the savepoint must be rolled back and the
/// outer rows kept.
#[tokio::test]
async fn a_nested_block_cancelled_mid_statement_then_outer_commit_is_not_a_silent_loss() {
    with_library(|db, backend, _lib| async move {
        let sleep = match backend {
            Backend::Sqlite => return, // statements run to completion on the worker thread
            Backend::Postgres => "SELECT 1 AS id, 'x' AS name FROM pg_sleep(1.5)",
            _ => "SELECT 1 AS id, 'x' AS name FROM (SELECT SLEEP(1.5) AS s) AS t",
        };
        let committed = std::sync::Arc::new(std::sync::Mutex::new(false));
        let flag = committed.clone();
        let r = tokio::time::timeout(
            Duration::from_secs(20),
            db.atomic(move |tx| {
                Box::pin(async move {
                    tag("before").save(&mut *tx).await?;
                    let cancelled = tokio::time::timeout(
                        Duration::from_millis(300),
                        tx.atomic(|tx| {
                            Box::pin(async move {
                                tag("nested").save(&mut *tx).await?;
                                Tag::objects().raw(sleep, ()).into_vec(&mut *tx).await
                            })
                        }),
                    )
                    .await;
                    assert!(cancelled.is_err(), "the nested block sleeps: {cancelled:?}");
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    tag("after").save(&mut *tx).await?;
                    tx.on_commit(move || *flag.lock().unwrap() = true);
                    Ok(())
                })
            }),
        )
        .await
        .expect("the block hung after a nested block was cancelled");
        let now = names(&db).await;
        match r {
            Ok(()) => {
                assert!(*committed.lock().unwrap());
                assert_eq!(
                    now,
                    ["after", "before", "classic", "sf"],
                    "db.atomic returned Ok and ran on_commit, but the rows are wrong"
                );
            }
            Err(e) => {
                assert!(!*committed.lock().unwrap());
                assert_eq!(now, ["classic", "sf"], "failed with {e} but wrote");
            }
        }
    })
    .await;
}

/// get_or_create inside a transaction, when another request committed the row after the
/// transaction's first read: the INSERT hits the unique key, and the re-read must find
/// the row (Django: MySQL's REPEATABLE READ snapshot hides it, which is why Django runs
/// MySQL at READ COMMITTED by default since 2.0). The ORM leaves MySQL/MariaDB at
/// REPEATABLE READ, so the re-read sees the snapshot and the violation is returned.
#[tokio::test]
async fn get_or_create_in_a_transaction_finds_a_row_committed_after_its_first_read() {
    with_library(|db, backend, _lib| async move {
        if backend == Backend::Sqlite {
            return; // BEGIN IMMEDIATE: no other writer can commit meanwhile
        }
        db.execute_raw("CREATE UNIQUE INDEX tags_name ON tags (name)")
            .await
            .unwrap();
        let other = db.clone();
        let r = db
            .atomic(move |tx| {
                Box::pin(async move {
                    // The transaction's first read (MySQL takes its snapshot here).
                    let n = Tag::objects().count(&mut *tx).await?;
                    assert_eq!(n, 2);
                    // Another request commits the row.
                    tag("rust").save(&other).await?;
                    Tag::objects()
                        .get_or_create(|t| t.name.eq("rust"), || tag("rust"), &mut *tx)
                        .await
                })
            })
            .await;
        let (found, created) = r.expect("get_or_create should find the committed row");
        assert!(!created);
        assert_eq!(found.name, "rust");
    })
    .await;
}

/// A statement error swallowed inside `db.atomic` aborts a PostgreSQL transaction; the
/// closing `COMMIT` is then answered `ROLLBACK` without an error, so `Tracked::commit`
/// succeeds, `db.atomic` returns `Ok` and runs the `on_commit` callbacks although nothing
/// was committed (T2: a rollback drops them). Django tracks this (`needs_rollback`,
/// `mark_for_rollback_on_error`) and neither commits nor runs the callbacks.
#[tokio::test]
async fn on_commit_does_not_run_when_postgres_turned_the_commit_into_a_rollback() {
    with_library(|db, _backend, _lib| async move {
        let ran = std::sync::Arc::new(std::sync::Mutex::new(false));
        let flag = ran.clone();
        let r = db
            .atomic(move |tx| {
                Box::pin(async move {
                    tag("kept").save(&mut *tx).await?;
                    tx.on_commit(move || *flag.lock().unwrap() = true);
                    // An error the block handles (and goes on).
                    let failed = Tag::objects()
                        .raw("SELECT CAST('x' AS INTEGER) AS id, 'x' AS name", ())
                        .into_vec(&mut *tx)
                        .await;
                    let _ = failed;
                    Ok(())
                })
            })
            .await;
        let stored = names(&db).await.contains(&"kept".to_string());
        if r.is_ok() || *ran.lock().unwrap() {
            assert!(
                stored,
                "db.atomic returned {r:?}, on_commit ran: {}, but the row is not stored",
                *ran.lock().unwrap()
            );
        }
    })
    .await;
}

/// A nested block whose `RELEASE SAVEPOINT` fails (PostgreSQL, after an error swallowed
/// inside it) returns `Err` but never rolls back to its savepoint: sqlx still counts it
/// open and the transaction stays aborted, so the outer block is not usable (T1). Django
/// (`Atomic.__exit__`) rolls back to the savepoint when the release fails.
#[tokio::test]
async fn a_nested_block_whose_release_fails_leaves_the_outer_usable() {
    with_library(|db, _backend, _lib| async move {
        let r = db
            .atomic(|tx| {
                Box::pin(async move {
                    tag("a").save(&mut *tx).await?;
                    let inner = tx
                        .atomic(|tx| {
                            Box::pin(async move {
                                tag("b").save(&mut *tx).await?;
                                let _ = Tag::objects()
                                    .raw("SELECT CAST('x' AS INTEGER) AS id, 'x' AS name", ())
                                    .into_vec(&mut *tx)
                                    .await;
                                Ok(())
                            })
                        })
                        .await;
                    tag("c").save(&mut *tx).await?;
                    Ok(inner.is_ok())
                })
            })
            .await;
        let inner_ok = r.expect("the outer block goes on after the inner one failed");
        let expected: &[&str] = if inner_ok {
            &["a", "b", "c", "classic", "sf"]
        } else {
            &["a", "c", "classic", "sf"]
        };
        assert_eq!(names(&db).await, expected);
    })
    .await;
}
