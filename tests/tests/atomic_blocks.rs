//! Issue 12.2 (SEMANTICS T1–T3): `db.atomic` commits on `Ok`, rolls back on `Err`, panic
//! and cancellation, nests as savepoints, and runs `on_commit` callbacks after the
//! outermost commit only. On SQLite it begins `IMMEDIATE`, so concurrent writers wait.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use orm_sqlx::StatementKind::{self, *};
use orm_sqlx::prelude::*;
use orm_tests::library::Tag;
use orm_tests::{Backend, with_library};

fn kinds(q: &[orm_sqlx::CapturedQuery]) -> Vec<StatementKind> {
    q.iter().map(|q| q.kind).collect()
}

/// A nested block of `tx` that saves a tag named `saves` (if any) and then waits
/// forever, dropped after `after`.
async fn dropped_nested(tx: &mut orm_sqlx::Transaction, after: Duration, saves: Option<&str>) {
    let saves = saves.map(str::to_owned);
    let cancelled = tokio::time::timeout(
        after,
        tx.atomic(|tx| {
            Box::pin(async move {
                if let Some(name) = saves {
                    tag(&name).save(&mut *tx).await?;
                }
                std::future::pending::<()>().await;
                Ok(())
            })
        }),
    )
    .await;
    assert!(cancelled.is_err());
}

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

#[tokio::test]
async fn a_block_commits_on_ok_and_rolls_back_on_err() {
    with_library(|db, backend, _lib| async move {
        let (r, q) = capture_queries(db.atomic(|tx| {
            Box::pin(async move {
                tag("go").save(&mut *tx).await?;
                Ok(1)
            })
        }))
        .await;
        assert_eq!(r.unwrap(), 1);
        assert_eq!(kinds(&q), [Begin, Insert, Commit]);
        if backend == Backend::Sqlite {
            assert_eq!(&*q[0].sql, "BEGIN IMMEDIATE");
        }
        let (r, q) = capture_queries(db.atomic(|tx| {
            Box::pin(async move {
                tag("rust").save(&mut *tx).await?;
                Err::<(), _>(Error::InvalidInput("changed my mind".into()))
            })
        }))
        .await;
        assert!(matches!(r, Err(Error::InvalidInput(m)) if m == "changed my mind"));
        assert_eq!(kinds(&q), [Begin, Insert, Rollback]);
        assert_eq!(names(&db).await, ["classic", "go", "sf"]);
    })
    .await;
}

#[tokio::test]
async fn a_panic_or_a_cancellation_rolls_back() {
    with_library(|db, _backend, _lib| async move {
        let panicking = db.clone();
        let joined = tokio::spawn(async move {
            panicking
                .atomic(|tx| {
                    Box::pin(async move {
                        tag("panic").save(&mut *tx).await?;
                        if tx.dialect() == tx.dialect() {
                            panic!("a bug in the block");
                        }
                        Ok(())
                    })
                })
                .await
        })
        .await;
        assert!(joined.unwrap_err().is_panic());
        let cancelled = tokio::time::timeout(
            Duration::from_millis(300),
            db.atomic(|tx| {
                Box::pin(async move {
                    tag("cancelled").save(&mut *tx).await?;
                    std::future::pending::<()>().await;
                    Ok(())
                })
            }),
        )
        .await;
        assert!(cancelled.is_err(), "timed out");
        assert_eq!(names(&db).await, ["classic", "sf"]);
    })
    .await;
}

#[tokio::test]
async fn nested_blocks_are_savepoints_and_an_inner_rollback_leaves_the_outer_usable() {
    with_library(|db, _backend, _lib| async move {
        let (r, q) = capture_queries(db.atomic(|tx| {
            Box::pin(async move {
                tag("a").save(&mut *tx).await?;
                let inner = tx
                    .atomic(|tx| {
                        Box::pin(async move {
                            tag("b").save(&mut *tx).await?;
                            Err::<(), _>(Error::InvalidInput("inner".into()))
                        })
                    })
                    .await;
                assert!(inner.is_err());
                tx.atomic(|tx| Box::pin(async move { tag("c").save(&mut *tx).await }))
                    .await?;
                Ok(())
            })
        }))
        .await;
        r.unwrap();
        assert_eq!(
            kinds(&q),
            [
                Begin,
                Insert,
                Savepoint,
                Insert,
                RollbackToSavepoint,
                Savepoint,
                Insert,
                ReleaseSavepoint,
                Commit
            ]
        );
        assert_eq!(names(&db).await, ["a", "c", "classic", "sf"]);
    })
    .await;
}

#[tokio::test]
async fn on_commit_runs_after_the_outermost_commit_in_order() {
    with_library(|db, _backend, _lib| async move {
        let log = Arc::new(Mutex::new(Vec::new()));
        let push = |what: &'static str| {
            let log = log.clone();
            move || log.lock().unwrap().push(what)
        };
        let (first, kept, dropped, inner_kept) = (
            push("first"),
            push("kept"),
            push("dropped"),
            push("inner kept"),
        );
        let seen = log.clone();
        db.atomic(move |tx| {
            Box::pin(async move {
                tx.on_commit(first);
                let _ = tx
                    .atomic(move |tx| {
                        Box::pin(async move {
                            tx.on_commit(dropped);
                            Err::<(), _>(Error::InvalidInput("rolled back".into()))
                        })
                    })
                    .await;
                tx.atomic(move |tx| {
                    Box::pin(async move {
                        tx.on_commit(inner_kept);
                        Ok(())
                    })
                })
                .await?;
                tx.on_commit(kept);
                assert!(seen.lock().unwrap().is_empty(), "nothing before the commit");
                Ok(())
            })
        })
        .await
        .unwrap();
        assert_eq!(*log.lock().unwrap(), ["first", "inner kept", "kept"]);
        // A rolled-back transaction runs none.
        let never = push("never");
        let _ = db
            .atomic(move |tx| {
                Box::pin(async move {
                    tx.on_commit(never);
                    Err::<(), _>(Error::InvalidInput("no".into()))
                })
            })
            .await;
        assert_eq!(log.lock().unwrap().len(), 3);
    })
    .await;
}

#[tokio::test]
async fn sixteen_writers_that_read_first_all_succeed() {
    with_library(|db, backend, _lib| async move {
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.atomic(move |tx| {
                        Box::pin(async move {
                            // A read, then a write: a deferred SQLite transaction would
                            // have to turn its read lock into a write lock, and fail.
                            let n = Tag::objects().count(&mut *tx).await?;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            tag(&format!("t{i:02} after {n}")).save(&mut *tx).await
                        })
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            t.await
                .unwrap()
                .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        }
        assert_eq!(Tag::objects().count(&db).await.unwrap(), 18);
    })
    .await;
}

#[tokio::test]
async fn the_pool_inside_its_only_connections_transaction_is_refused_at_once() {
    for backend in orm_tests::required_backends() {
        let t = orm_tests::TestDb::open(backend).await;
        orm_tests::library::load(&t.db).await;
        // One connection, and an acquire timeout long enough that a hang would show.
        let (db, _) = t.one_connection_pool(Duration::from_secs(30)).await;
        let mut tx = db.begin().await.unwrap();
        let started = std::time::Instant::now();
        let (r, q) = capture_queries(Tag::objects().count(&db)).await;
        assert!(
            matches!(r, Err(Error::PoolHeldByTask { max: 1 })),
            "{backend:?}: {r:?}"
        );
        assert!(q.is_empty());
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "refused at once"
        );
        // The transaction itself works, and the pool does again once it ends.
        assert_eq!(Tag::objects().count(&mut tx).await.unwrap(), 2);
        tx.commit().await.unwrap();
        assert_eq!(Tag::objects().count(&db).await.unwrap(), 2);
        // The same inside a block, and after a rollback.
        let pool = db.clone();
        let r = db
            .atomic(move |_tx| Box::pin(async move { Tag::objects().count(&pool).await }))
            .await;
        assert!(
            matches!(r, Err(Error::PoolHeldByTask { .. })),
            "{backend:?}: {r:?}"
        );
        assert_eq!(Tag::objects().count(&db).await.unwrap(), 2);
        drop(db);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn a_nested_block_dropped_between_statements_is_rolled_back_and_the_outer_commits() {
    with_library(|db, backend, _lib| async move {
        let r = db
            .atomic(|tx| {
                Box::pin(async move {
                    tag("a").save(&mut *tx).await?;
                    dropped_nested(tx, Duration::from_millis(200), Some("b")).await;
                    tag("c").save(&mut *tx).await?;
                    Ok(())
                })
            })
            .await;
        r.unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        assert_eq!(names(&db).await, ["a", "c", "classic", "sf"], "{backend:?}");
    })
    .await;
}

/// As above, with nothing sent between the dropped nested block and the outer block's
/// end: the outer block must commit (T1, an inner rollback leaves the outer block usable).
/// On SQLite the nested block's `ROLLBACK TO SAVEPOINT` is queued on the connection's
/// worker (`start_rollback`), which lowers sqlx's transaction depth only once it has run
/// it; `Transaction::commit` reads that depth (`at_top_level`) before anything else is
/// sent, finds the savepoint still counted, and refuses the COMMIT as "abandoned".
#[tokio::test]
async fn a_nested_block_dropped_right_before_the_outer_commit_does_not_lose_the_outer() {
    with_library(|db, backend, _lib| async move {
        let r = db
            .atomic(|tx| {
                Box::pin(async move {
                    tag("a").save(&mut *tx).await?;
                    dropped_nested(tx, Duration::from_millis(200), None).await;
                    Ok(())
                })
            })
            .await;
        r.unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        assert_eq!(names(&db).await, ["a", "classic", "sf"], "{backend:?}");
    })
    .await;
}

/// Review 2: as above on SQLite, but the outer transaction is rolled back (or opens
/// another nested block) right after the nested block is dropped. sqlx's worker sends
/// `ROLLBACK` (and `SAVEPOINT _sqlx_savepoint_1`): it runs the queued `ROLLBACK TO
/// SAVEPOINT` first. The ORM's record of those statements (`capture_queries`, the query
/// log, the counts) reads sqlx's transaction depth before the worker ran the queued
/// rollback, as `at_top_level` did before its ping, and names a statement that was never
/// sent: `ROLLBACK TO SAVEPOINT _sqlx_savepoint_1` for the `ROLLBACK`,
/// `SAVEPOINT _sqlx_savepoint_2` for `SAVEPOINT _sqlx_savepoint_1`. Repeated, since the
/// worker may win the race now and then.
#[tokio::test]
async fn statements_right_after_a_dropped_nested_block_are_recorded_as_sent() {
    let db = Db::connect("sqlite::memory:").await.unwrap();
    let mut wrong = Vec::new();
    for _ in 0..100 {
        let (r, q) = capture_queries(async {
            let mut tx = db.begin().await?;
            dropped_nested(&mut tx, Duration::from_millis(20), None).await;
            // Another nested block at once: `SAVEPOINT _sqlx_savepoint_1` again.
            tx.atomic(|_tx| Box::pin(async move { Ok(()) })).await?;
            dropped_nested(&mut tx, Duration::from_millis(20), None).await;
            tx.rollback().await
        })
        .await;
        r.unwrap();
        let control: Vec<(StatementKind, String)> = q
            .iter()
            .filter(|c| c.kind.is_transaction_control())
            .map(|c| (c.kind, c.sql.to_string()))
            .collect();
        let sent: Vec<(StatementKind, String)> = [
            (Begin, "BEGIN"),
            (Savepoint, "SAVEPOINT _sqlx_savepoint_1"),
            (
                RollbackToSavepoint,
                "ROLLBACK TO SAVEPOINT _sqlx_savepoint_1",
            ),
            (Savepoint, "SAVEPOINT _sqlx_savepoint_1"),
            (ReleaseSavepoint, "RELEASE SAVEPOINT _sqlx_savepoint_1"),
            (Savepoint, "SAVEPOINT _sqlx_savepoint_1"),
            (
                RollbackToSavepoint,
                "ROLLBACK TO SAVEPOINT _sqlx_savepoint_1",
            ),
            (Rollback, "ROLLBACK"),
        ]
        .into_iter()
        .map(|(k, s)| (k, s.to_owned()))
        .collect();
        if control != sent {
            wrong.push(control);
        }
    }
    assert!(wrong.is_empty(), "recorded, not as sent: {wrong:#?}");
}

/// Review 2: on SQLite, a nested block that wrote a row, then read on the direct path
/// (`sqlite::direct`, which locks the connection's handle), is dropped; the outer
/// transaction's next read must not see the row. The dropped block's `ROLLBACK TO
/// SAVEPOINT` is queued on the worker (`start_rollback`) behind the `UnlockDb` commands
/// the direct reads left stale (see the module `sqlite::direct`): the worker hands the
/// handle to the next direct read as it takes those, before it runs the rollback, so the
/// read sees the rolled-back row. On sqlx's path (`without_direct_reads`) the read is
/// queued behind the rollback and never does.
#[tokio::test]
async fn a_read_after_a_dropped_nested_block_does_not_see_its_writes() {
    with_library(|db, backend, _lib| async move {
        if backend != Backend::Sqlite {
            return;
        }
        let mut seen = 0;
        for i in 0..1000 {
            let ghost = format!("ghost{i}");
            let mut tx = db.begin().await.unwrap();
            let cancelled = tokio::time::timeout(
                Duration::from_millis(5),
                tx.atomic(|tx| {
                    let ghost = ghost.clone();
                    Box::pin(async move {
                        tag(&ghost).save(&mut *tx).await?;
                        for _ in 0..8 {
                            Tag::objects().into_vec(&mut *tx).await?;
                        }
                        std::future::pending::<()>().await;
                        Ok(())
                    })
                }),
            )
            .await;
            assert!(cancelled.is_err());
            let found = Tag::objects()
                .filter(|t| t.name.eq(ghost.clone()))
                .into_vec(&mut tx)
                .await
                .unwrap();
            seen += found.len();
            tx.rollback().await.unwrap();
        }
        assert_eq!(seen, 0, "reads saw the rows of a rolled-back savepoint");
    })
    .await;
}

/// Review 2, for the ORM's own blocks (`Executor::atomic`: a cascading delete's, a
/// get_or_create's) on a transaction: one opened right after a dropped nested block reads
/// sqlx's depth to name its savepoint, and on SQLite the nested block's `ROLLBACK TO
/// SAVEPOINT` may still be queued on the worker. `atomic_scope` pings first; without that
/// the block's `SAVEPOINT _sqlx_savepoint_1` would be recorded as `_sqlx_savepoint_2`
/// (about one run in 25 did).
#[tokio::test]
async fn an_orm_block_right_after_a_dropped_nested_block_is_recorded_as_sent() {
    use orm_tests::library::{Book, load};
    let db = Db::connect("sqlite::memory:").await.unwrap();
    load(&db).await;
    let mut wrong = Vec::new();
    for _ in 0..300 {
        let (r, q) = capture_queries(async {
            let mut tx = db.begin().await?;
            dropped_nested(&mut tx, Duration::from_millis(20), None).await;
            Book::objects().delete(&mut tx).await?;
            tx.rollback().await
        })
        .await;
        r.unwrap();
        let control: Vec<String> = q
            .iter()
            .filter(|c| c.kind.is_transaction_control())
            .map(|c| c.sql.to_string())
            .collect();
        let sent = [
            "BEGIN",
            "SAVEPOINT _sqlx_savepoint_1",
            "ROLLBACK TO SAVEPOINT _sqlx_savepoint_1",
            "SAVEPOINT _sqlx_savepoint_1",
            "RELEASE SAVEPOINT _sqlx_savepoint_1",
            "ROLLBACK",
        ];
        if control != sent {
            wrong.push(control);
        }
    }
    assert!(wrong.is_empty(), "recorded, not as sent: {wrong:#?}");
}
