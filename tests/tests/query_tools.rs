//! Issue 11.6: `explain()` returns the backend's plan, and `clear_prefetch_related()` is
//! Django's `prefetch_related(None)`. Result and query count on every backend.

use orm_sqlx::prelude::*;
use orm_tests::library::{Author, Book};
use orm_tests::{Backend, with_library};

#[tokio::test]
async fn explain_returns_the_plan_in_one_query_and_reads_no_row() {
    with_library(|db, backend, _lib| async move {
        let qs = Book::objects()
            .filter(|b| b.pages.gt(100))
            .select_related(|b| b.author());
        let (plan, q) = capture_queries(qs.explain(&db)).await;
        let plan = plan.unwrap();
        assert_eq!(q.len(), 1);
        assert!(q[0].sql.starts_with("EXPLAIN"), "{}", q[0].sql);
        assert!(!qs.is_evaluated(), "the rows are not read");
        let mentions = |t: &str| plan.contains(t);
        match backend {
            Backend::Sqlite => assert!(mentions("books") && mentions("authors"), "{plan}"),
            Backend::Postgres => assert!(mentions("books") && mentions("Join"), "{plan}"),
            Backend::Mysql => {
                let json: serde_json::Value = serde_json::from_str(&plan).unwrap();
                assert!(json.get("query_block").is_some(), "{plan}");
                assert!(mentions("\"books\"") && mentions("\"authors\""), "{plan}");
            }
        }
        // An empty queryset runs no query, so there is no plan (S17).
        for empty in [
            Book::objects().none(),
            Book::objects().filter(|b| b.id.is_in(Vec::<i64>::new())),
        ] {
            let (plan, q) = capture_queries(empty.explain(&db)).await;
            assert!(plan.unwrap().contains("empty queryset"));
            assert!(q.is_empty(), "{q:?}");
        }
        // A misuse is refused before any query, as evaluation refuses it.
        let (r, q) = capture_queries(
            Book::objects()
                .slice(0..1)
                .filter(|b| b.pages.gt(1))
                .explain(&db),
        )
        .await;
        assert!(matches!(r, Err(Error::Sliced(_))), "{r:?}");
        assert!(q.is_empty());
    })
    .await;
}

#[tokio::test]
async fn clear_prefetch_related_forgets_every_prefetch() {
    with_library(|db, _backend, _lib| async move {
        let qs = Author::objects()
            .prefetch_related(|a| a.books().tags())
            .prefetch(
                |a| a.long_books(),
                Book::objects().filter(|b| b.pages.gt(200)),
            );
        let (rows, q) = capture_queries(qs.fetch(&db)).await;
        assert_eq!((rows.unwrap().len(), q.len()), (3, 4));
        let cleared = qs.clear_prefetch_related();
        let (rows, q) = capture_queries(cleared.fetch(&db)).await;
        let rows = rows.unwrap();
        assert_eq!((rows.len(), q.len()), (3, 1));
        assert!(
            rows.iter()
                .all(|a| !a.books.is_loaded() && !a.long_books.is_loaded())
        );
        // And prefetching again after it works.
        let again = cleared.prefetch_related(|a| a.books());
        let (rows, q) = capture_queries(again.fetch(&db)).await;
        assert_eq!((rows.unwrap().len(), q.len()), (3, 2));
    })
    .await;
}
