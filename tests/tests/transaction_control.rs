//! S41: transaction control is counted. `BEGIN`, `COMMIT`, `ROLLBACK` and the savepoint
//! statements pass the chokepoint like every other statement, with the text sqlx sends and
//! their kind, as Django 4.2+ counts them; on every backend.

use orm_sqlx::CapturedQuery;
use orm_sqlx::StatementKind::{
    self, Begin, Commit, Delete, Insert, ReleaseSavepoint, Rollback, RollbackToSavepoint,
    Savepoint, Select,
};
use orm_sqlx::prelude::*;
use orm_tests::library::{Author, Book, Tag};
use orm_tests::wide::{self, Wide};
use orm_tests::{on_each_backend, with_library};

/// Each statement as (kind, SQL), for the transaction-control ones; the others by kind
/// only, with their SQL left out.
fn shape(q: &[CapturedQuery]) -> Vec<(StatementKind, &str)> {
    q.iter()
        .map(|q| {
            if q.kind.is_transaction_control() {
                (q.kind, q.sql.as_ref())
            } else {
                (q.kind, "")
            }
        })
        .collect()
}

fn tag(name: &str) -> Tag {
    Tag {
        id: 0,
        name: name.into(),
    }
}

async fn tag_count(db: &Db) -> u64 {
    Tag::objects().count(db).await.unwrap()
}

#[tokio::test]
async fn begin_then_commit_is_three_statements() {
    with_library(|db, _, _| async move {
        let (r, q) = capture_queries(async {
            let mut tx = db.begin().await?;
            tag("new").insert(&mut tx).await?;
            tx.commit().await
        })
        .await;
        r.unwrap();
        // Django: `with atomic(): Tag.objects.create(…)` is BEGIN, INSERT, COMMIT too.
        assert_eq!(
            shape(&q),
            [(Begin, "BEGIN"), (Insert, ""), (Commit, "COMMIT")]
        );
        assert_eq!(tag_count(&db).await, 3);
    })
    .await;
}

#[tokio::test]
async fn begin_then_rollback_is_three_statements() {
    with_library(|db, _, _| async move {
        let (r, q) = capture_queries(async {
            let mut tx = db.begin().await?;
            tag("new").insert(&mut tx).await?;
            tx.rollback().await
        })
        .await;
        r.unwrap();
        // Django: an atomic block left by an exception is BEGIN, INSERT, ROLLBACK.
        assert_eq!(
            shape(&q),
            [(Begin, "BEGIN"), (Insert, ""), (Rollback, "ROLLBACK")]
        );
        assert_eq!(tag_count(&db).await, 2);
    })
    .await;
}

/// A transaction dropped without `commit` rolls back: sqlx queues the `ROLLBACK` on the
/// connection, and it is counted when the drop happens, in the capture that dropped it.
#[tokio::test]
async fn a_dropped_transaction_counts_its_rollback() {
    with_library(|db, _, _| async move {
        let (r, q) = capture_queries(async {
            let mut tx = db.begin().await?;
            tag("new").insert(&mut tx).await?;
            drop(tx);
            Ok::<_, Error>(())
        })
        .await;
        r.unwrap();
        assert_eq!(
            shape(&q),
            [(Begin, "BEGIN"), (Insert, ""), (Rollback, "ROLLBACK")]
        );
        assert_eq!(tag_count(&db).await, 2, "the rollback was sent");
    })
    .await;
}

#[tokio::test]
async fn a_cascading_delete_on_the_pool_is_one_transaction() {
    with_library(|db, _, lib| async move {
        let (d, q) = capture_queries(lib.alice.delete(&db)).await;
        assert_eq!(d.unwrap().total, 5);
        // BEGIN, her books' keys, their tag links, the books, Alice, COMMIT: Django's six
        // (its `Collector.delete` opens the same BEGIN … COMMIT; it collects the books'
        // keys before the BEGIN, this ORM after it).
        assert_eq!(
            shape(&q),
            [
                (Begin, "BEGIN"),
                (Select, ""),
                (Delete, ""),
                (Delete, ""),
                (Delete, ""),
                (Commit, "COMMIT"),
            ]
        );
        assert_eq!(Book::objects().count(&db).await.unwrap(), 1);
    })
    .await;
}

/// Inside the caller's transaction, a cascading delete is a savepoint: if it fails, the
/// caller's transaction is left as it was and usable. Django sends no savepoint here
/// (`atomic(savepoint=False)`) and marks the whole transaction for rollback instead; the
/// README says why this ORM spends the two statements.
#[tokio::test]
async fn a_cascading_delete_inside_a_transaction_is_a_savepoint() {
    with_library(|db, _, lib| async move {
        let (r, q) = capture_queries(async {
            let mut tx = db.begin().await?;
            let d = lib.alice.delete(&mut tx).await?;
            tx.commit().await?;
            Ok::<_, Error>(d.total)
        })
        .await;
        assert_eq!(r.unwrap(), 5);
        assert_eq!(
            shape(&q),
            [
                (Begin, "BEGIN"),
                (Savepoint, "SAVEPOINT _sqlx_savepoint_1"),
                (Select, ""),
                (Delete, ""),
                (Delete, ""),
                (Delete, ""),
                (ReleaseSavepoint, "RELEASE SAVEPOINT _sqlx_savepoint_1"),
                (Commit, "COMMIT"),
            ]
        );
        assert_eq!(Author::objects().count(&db).await.unwrap(), 2);

        // Refused by PROTECT inside a transaction: rolled back to the savepoint, and the
        // transaction goes on (on PostgreSQL an error would otherwise abort all of it).
        let mut bob = lib.bob.clone();
        bob.country = Some(orm_sqlx::ForeignKey::new(lib.uk.id));
        bob.save(&db).await.unwrap();
        let (r, q) = capture_queries(async {
            let mut tx = db.begin().await?;
            let refused = lib.uk.delete(&mut tx).await;
            assert!(
                matches!(refused, Err(Error::Protected { .. })),
                "{refused:?}"
            );
            let n = Author::objects().count(&mut tx).await?;
            tx.commit().await?;
            Ok::<_, Error>(n)
        })
        .await;
        assert_eq!(r.unwrap(), 2);
        assert_eq!(
            shape(&q),
            [
                (Begin, "BEGIN"),
                (Savepoint, "SAVEPOINT _sqlx_savepoint_1"),
                (Select, ""),
                (
                    RollbackToSavepoint,
                    "ROLLBACK TO SAVEPOINT _sqlx_savepoint_1"
                ),
                (Select, ""),
                (Commit, "COMMIT"),
            ]
        );
    })
    .await;
}

/// A cascading delete on a connection taken from the pool opens its own transaction.
#[tokio::test]
async fn a_cascading_delete_on_an_acquired_connection_is_one_transaction() {
    with_library(|db, _, lib| async move {
        let mut conn = db.acquire().await.unwrap();
        let (d, q) = capture_queries(lib.sf.delete(&mut conn)).await;
        assert_eq!(d.unwrap().total, 3);
        // BEGIN, its links, the tag, COMMIT (Django's four)
        assert_eq!(
            shape(&q),
            [
                (Begin, "BEGIN"),
                (Delete, ""),
                (Delete, ""),
                (Commit, "COMMIT"),
            ]
        );
    })
    .await;
}

/// One row more than a batch holds: two INSERTs.
fn wide_rows(db: &Db) -> Vec<Wide> {
    wide::rows(wide::per_batch(db.dialect()) + 1)
}

#[tokio::test]
async fn a_bulk_create_in_two_batches_is_one_transaction() {
    on_each_backend(|db, _| async move {
        db.create_table::<Wide>().await.unwrap();
        let mut rows = wide_rows(&db);
        let (r, q) = capture_queries(Wide::objects().bulk_create(&mut rows, &db)).await;
        r.unwrap();
        // Django: BEGIN, one INSERT per batch, COMMIT (`atomic(savepoint=False)`).
        assert_eq!(
            shape(&q),
            [
                (Begin, "BEGIN"),
                (Insert, ""),
                (Insert, ""),
                (Commit, "COMMIT")
            ]
        );
        assert_eq!(Wide::objects().count(&db).await.unwrap(), rows.len() as u64);

        // In the caller's transaction: a savepoint around the batches.
        let mut more = wide_rows(&db);
        let (r, q) = capture_queries(async {
            let mut tx = db.begin().await?;
            Wide::objects().bulk_create(&mut more, &mut tx).await?;
            tx.commit().await
        })
        .await;
        r.unwrap();
        assert_eq!(
            shape(&q),
            [
                (Begin, "BEGIN"),
                (Savepoint, "SAVEPOINT _sqlx_savepoint_1"),
                (Insert, ""),
                (Insert, ""),
                (ReleaseSavepoint, "RELEASE SAVEPOINT _sqlx_savepoint_1"),
                (Commit, "COMMIT"),
            ]
        );

        // One batch needs no transaction: one INSERT (Django: BEGIN, INSERT, COMMIT).
        let mut few = vec![wide_rows(&db).swap_remove(0)];
        let (r, q) = capture_queries(Wide::objects().bulk_create(&mut few, &db)).await;
        r.unwrap();
        assert_eq!(shape(&q), [(Insert, "")]);
    })
    .await;
}
