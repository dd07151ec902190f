//! Issue 12.1 (SEMANTICS S35): `get_or_create` and `update_or_create`, race-safe as
//! Django's. Result and query count on every backend.

use orm_sqlx::StatementKind::{self, *};
use orm_sqlx::prelude::*;
use orm_tests::library::{Book, Tag};
use orm_tests::with_library;

fn kinds(q: &[orm_sqlx::CapturedQuery]) -> Vec<StatementKind> {
    q.iter().map(|q| q.kind).collect()
}

fn tag(name: &str) -> Tag {
    Tag {
        id: 0,
        name: name.into(),
    }
}

async fn unique_tag_names(db: &Db) {
    db.execute_raw("CREATE UNIQUE INDEX tags_name ON tags (name)")
        .await
        .unwrap();
}

#[tokio::test]
async fn get_or_create_reads_or_inserts_in_a_savepoint() {
    with_library(|db, _backend, lib| async move {
        unique_tag_names(&db).await;
        let (r, q) =
            capture_queries(Tag::objects().get_or_create(|t| t.name.eq("sf"), || tag("sf"), &db))
                .await;
        let (found, created) = r.unwrap();
        assert_eq!((found.id, created), (lib.sf.id, false));
        assert_eq!(kinds(&q), [Select]);

        let (r, q) = capture_queries(Tag::objects().get_or_create(
            |t| t.name.eq("rust"),
            || tag("rust"),
            &db,
        ))
        .await;
        let (made, created) = r.unwrap();
        assert!(created && made.id != 0);
        assert_eq!(kinds(&q), [Select, Begin, Insert, Commit]);

        // Inside a transaction: a savepoint.
        let mut tx = db.begin().await.unwrap();
        let (r, q) = capture_queries(Tag::objects().get_or_create(
            |t| t.name.eq("go"),
            || tag("go"),
            &mut tx,
        ))
        .await;
        assert!(r.unwrap().1);
        assert_eq!(kinds(&q), [Select, Savepoint, Insert, ReleaseSavepoint]);
        tx.commit().await.unwrap();
        assert_eq!(Tag::objects().count(&db).await.unwrap(), 4);

        // Several matches: MultipleObjectsReturned, nothing inserted.
        let (r, q) = capture_queries(Book::objects().get_or_create(
            |b| b.author.eq(&lib.alice),
            || lib.b1.clone(),
            &db,
        ))
        .await;
        assert!(
            matches!(r, Err(Error::MultipleObjectsReturned { .. })),
            "{r:?}"
        );
        assert_eq!(kinds(&q), [Select]);
    })
    .await;
}

#[tokio::test]
async fn a_duplicate_of_another_row_is_the_violation_and_the_transaction_goes_on() {
    with_library(|db, backend, _lib| async move {
        unique_tag_names(&db).await;
        let mut tx = db.begin().await.unwrap();
        // The lookup names no row, but the row it makes collides with "sf": the INSERT
        // fails, the row is read again by the lookup, still none: the violation stands.
        let (r, q) = capture_queries(Tag::objects().get_or_create(
            |t| t.name.eq("science fiction"),
            || tag("sf"),
            &mut tx,
        ))
        .await;
        let e = r.unwrap_err();
        assert!(e.is_unique_violation(), "{backend:?}: {e:?}");
        assert_eq!(
            kinds(&q),
            [Select, Savepoint, Insert, RollbackToSavepoint, Select],
            "{q:#?}"
        );
        // The savepoint kept the transaction usable (PostgreSQL aborts it otherwise).
        let (r, _) = capture_queries(Tag::objects().get_or_create(
            |t| t.name.eq("go"),
            || tag("go"),
            &mut tx,
        ))
        .await;
        assert!(r.unwrap().1, "{backend:?}");
        tx.commit().await.unwrap();
        assert_eq!(Tag::objects().count(&db).await.unwrap(), 3);
    })
    .await;
}

#[tokio::test]
async fn sixteen_concurrent_get_or_create_of_one_key_make_one_row() {
    with_library(|db, backend, _lib| async move {
        unique_tag_names(&db).await;
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move {
                    Tag::objects()
                        .get_or_create(|t| t.name.eq("rust"), || tag("rust"), &db)
                        .await
                })
            })
            .collect();
        let mut created = 0;
        let mut ids = Vec::new();
        for t in tasks {
            let (row, made) = t
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
            created += usize::from(made);
            ids.push(row.id);
        }
        assert_eq!(created, 1, "{backend:?}");
        ids.dedup();
        assert_eq!(ids.len(), 1, "{backend:?}: every task has the one row");
        let n = Tag::objects()
            .filter(|t| t.name.eq("rust"))
            .count(&db)
            .await
            .unwrap();
        assert_eq!(n, 1);
    })
    .await;
}

/// The InnoDB deadlock behind a CI failure, made on purpose: two INSERTs of one key wait
/// for a third's lock; it rolls back, both take their shared locks, and InnoDB kills the
/// smaller transaction (`get_or_create`'s) while the bigger one has not committed yet.
/// Read again at once, the row is not there: the INSERT is tried again, waits for the
/// winner and then finds its row. (Elsewhere no deadlock happens: the second INSERT waits
/// for the first; the result must be the same one row.)
#[tokio::test]
async fn a_get_or_create_that_loses_a_deadlock_finds_the_row_once_the_winner_commits() {
    with_library(|db, backend, _lib| async move {
        if backend == orm_tests::Backend::Sqlite {
            // One writer at a time: the transactions below would queue, not race.
            return;
        }
        unique_tag_names(&db).await;
        let racer = {
            let db = db.clone();
            async move {
                Tag::objects()
                    .get_or_create(|t| t.name.eq("rust"), || tag("rust"), &db)
                    .await
            }
        };
        let (row, winner) = orm_tests::library::race_a_deadlock_on_a_tag(&db, racer).await;
        let (row, created) = row.unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        let qs = Tag::objects().filter(|t| t.name.eq("rust"));
        let rows = qs.fetch(&db).await.unwrap();
        assert_eq!(rows.len(), 1, "{backend:?}");
        assert_eq!(rows[0].id, row.id, "{backend:?}");
        // Exactly one of the two inserted it.
        assert_eq!(created, winner.is_err(), "{backend:?}: {winner:?}");
    })
    .await;
}

#[tokio::test]
async fn update_or_create_updates_the_match_or_inserts() {
    with_library(|db, _backend, lib| async move {
        unique_tag_names(&db).await;
        let (r, q) = capture_queries(Tag::objects().update_or_create(
            |t| t.id.eq(lib.classic.id),
            |t| t.name = "classics".into(),
            || tag("classics"),
            &db,
        ))
        .await;
        let (row, created) = r.unwrap();
        assert_eq!(
            (row.id, row.name.as_str(), created),
            (lib.classic.id, "classics", false)
        );
        assert_eq!(kinds(&q), [Select, Update]);
        let (r, q) = capture_queries(Tag::objects().update_or_create(
            |t| t.name.eq("poetry"),
            |t| t.name = "never".into(),
            || tag("poetry"),
            &db,
        ))
        .await;
        let (row, created) = r.unwrap();
        assert!(created && row.id != 0 && row.name == "poetry");
        assert_eq!(kinds(&q), [Select, Begin, Insert, Commit]);
        let names: Vec<String> = Tag::objects()
            .order_by(|t| t.name.asc())
            .values(|t| t.name)
            .into_vec(&db)
            .await
            .unwrap();
        assert_eq!(names, ["classics", "poetry", "sf"]);
    })
    .await;
}
