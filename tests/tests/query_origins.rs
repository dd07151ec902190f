//! Issue 14: every captured statement says which line of the caller's code sent it — the
//! call of the evaluating, saving or deleting method, never a line inside the ORM — for
//! every way of evaluating, including the prefetch queries of a `fetch`, the statements
//! of a cascading delete, a lazy load, a stream, and the BEGIN/COMMIT of `atomic`; and it
//! has a duration. On every backend.

use futures_util::TryStreamExt;
use orm_sqlx::prelude::*;
use orm_sqlx::{CapturedQuery, StatementKind};
use orm_tests::library::{Author, Book, Tag};
use orm_tests::with_library;

/// Every statement of `q` came from `line` of this file and has a duration (transaction
/// control sqlx sends itself has none).
#[track_caller]
fn all_from(q: &[CapturedQuery], line: u32) {
    assert!(!q.is_empty(), "no statement captured for line {line}");
    for s in q {
        let origin = s
            .origin
            .unwrap_or_else(|| panic!("no origin for line {line}: {s:?}"));
        assert_eq!(
            (origin.file(), origin.line()),
            (file!(), line),
            "statement {s:?}"
        );
        if !s.kind.is_transaction_control() {
            assert!(s.duration.is_some(), "no duration: {s:?}");
        }
    }
}

#[tokio::test]
async fn every_evaluation_reports_the_callers_line() {
    with_library(|db, _, lib| async move {
        let books = Book::objects().order_by(|b| b.id.asc());

        let line = line!() + 1;
        let ((), q) = capture_queries(async { books.fetch(&db).await.map(drop).unwrap() }).await;
        all_from(&q, line);

        let line = line!() + 1;
        let (_, q) = capture_queries(async { Book::objects().into_vec(&db).await.unwrap() }).await;
        all_from(&q, line);

        let line = line!() + 1;
        let (_, q) = capture_queries(async { Book::objects().get_pk(lib.b1.id, &db).await }).await;
        all_from(&q, line);

        let by_title = Book::objects().filter(|b| b.title.eq("B2"));
        let line = line!() + 1;
        let (_, q) = capture_queries(async { by_title.get(&db).await.unwrap() }).await;
        all_from(&q, line);

        let line = line!() + 1;
        let (_, q) = capture_queries(async { Book::objects().first(&db).await.unwrap() }).await;
        all_from(&q, line);

        let line = line!() + 1;
        let (_, q) = capture_queries(async { Book::objects().count(&db).await.unwrap() }).await;
        all_from(&q, line);

        let line = line!() + 1;
        let (_, q) = capture_queries(async { Book::objects().exists(&db).await.unwrap() }).await;
        all_from(&q, line);

        let line = line!() + 2;
        let (_, q) =
            capture_queries(async { Book::objects().get_index(1, &db).await.unwrap() }).await;
        all_from(&q, line);

        let line = line!() + 2;
        let (r, q) =
            capture_queries(async { books.iterator(&db, 2).try_collect::<Vec<_>>().await }).await;
        assert_eq!(r.unwrap().len(), 3);
        all_from(&q, line);

        let line = line!() + 1;
        let (_, q) = capture_queries(Book::objects().aggregate(|b| b.pages.sum(), &db)).await;
        all_from(&q, line);

        let mut long = Book::objects().filter(|b| b.pages.gte(200));
        let line = line!() + 1;
        let (n, q) = capture_queries(long.update(|b| b.pages.set(b.pages + 1), &db)).await;
        assert_eq!(n.unwrap(), 2);
        all_from(&q, line);

        // prefetch_related: the main query and the prefetch query, both from the fetch.
        let authors = Author::objects().prefetch_related(|a| a.books());
        let line = line!() + 1;
        let (_, q) = capture_queries(async { authors.fetch(&db).await.map(drop).unwrap() }).await;
        assert_eq!(q.len(), 2);
        all_from(&q, line);

        // A lazy load.
        let mut b3 = Book::objects().get_pk(lib.b3.id, &db).await.unwrap();
        let line = line!() + 1;
        let (_, q) = capture_queries(async { b3.author.load(&db).await.map(drop).unwrap() }).await;
        all_from(&q, line);

        // Instance writes.
        let mut tag = Tag {
            id: 0,
            name: "new".into(),
        };
        let line = line!() + 1;
        let (_, q) = capture_queries(async { tag.insert(&db).await.unwrap() }).await;
        all_from(&q, line);
        tag.name = "renamed".into();
        let line = line!() + 1;
        let (_, q) = capture_queries(async { tag.save(&db).await.unwrap() }).await;
        all_from(&q, line);
        let line = line!() + 1;
        let (_, q) = capture_queries(async { tag.refresh_from_db(&db).await.unwrap() }).await;
        all_from(&q, line);

        // get_or_create: the SELECT, then the INSERT in its savepoint or transaction.
        let line = line!() + 1;
        let (_, q) = capture_queries(Tag::objects().get_or_create(
            |t| t.name.eq("fresh"),
            || Tag {
                id: 0,
                name: "fresh".into(),
            },
            &db,
        ))
        .await;
        assert!(q.len() >= 2, "{q:#?}");
        all_from(&q, line);

        // A cascading delete: Alice's books go with her (and their tag links).
        let alice = lib.alice.clone();
        let line = line!() + 1;
        let (deleted, q) = capture_queries(async { alice.delete(&db).await.unwrap() }).await;
        assert!(deleted.total >= 3, "{deleted:?}");
        assert!(q.iter().any(|s| s.kind == StatementKind::Begin), "{q:#?}");
        assert!(q.iter().filter(|s| s.kind == StatementKind::Delete).count() >= 2);
        all_from(&q, line);

        // A queryset's delete.
        let mut rest = Book::objects();
        let line = line!() + 1;
        let (_, q) = capture_queries(async { rest.delete(&db).await.unwrap() }).await;
        all_from(&q, line);

        // Inside atomic: BEGIN/COMMIT come from the atomic call, the statements from
        // their own lines.
        let line = line!() + 1;
        let (_, q) = capture_queries(db.atomic(|tx| {
            Box::pin(async move {
                let here = line!() + 1;
                Tag::objects().count(&mut *tx).await?;
                Ok(here)
            })
        }))
        .await;
        assert_eq!(q.len(), 3, "{q:#?}");
        assert_eq!(q[0].kind, StatementKind::Begin);
        all_from(&q[..1], line);
        all_from(&q[2..], line);
        assert_ne!(q[1].origin.unwrap().line(), line, "{:?}", q[1]);
        assert_eq!(q[1].origin.unwrap().file(), file!());
    })
    .await;
}

/// Awaiting a queryset directly (the default database) reports the `.await`'s line.
#[tokio::test]
async fn awaiting_a_queryset_reports_the_await() {
    orm_tests::on_each_backend(|db, _| async move {
        db.create_tables::<(Tag,)>().await.unwrap();
        db.set_default();
        let line = line!() + 1;
        let (rows, q) = capture_queries(async { Tag::objects().await }).await;
        assert!(rows.unwrap().is_empty());
        all_from(&q, line);
    })
    .await;
}
