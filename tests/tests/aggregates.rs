//! Issue 11.1 and 11.2 (SEMANTICS S40): aggregates and annotations, and subqueries.
//! Result and query count on every backend.
//!
//! Library: Alice (30) wrote B1 (300 pages; tags sf, classic) and B2 (150); Bob (45) wrote
//! B3 (200; sf); Carol (no age) wrote nothing.

use orm_sqlx::prelude::*;
use orm_tests::library::{Author, Book};
use orm_tests::with_library;

fn names<T>(rows: &[(Author, T)]) -> Vec<&str> {
    rows.iter().map(|(a, _)| a.name.as_str()).collect()
}

#[tokio::test]
async fn annotate_count_is_a_left_join_grouped_by_the_model() {
    with_library(|db, _backend, _lib| async move {
        let qs = Author::objects()
            .annotate(|a| a.books().count())
            .order_by(|a| a.name.asc());
        let sql = qs.sql();
        assert!(
            sql.contains("LEFT OUTER JOIN") && sql.contains("GROUP BY"),
            "{sql}"
        );
        let (rows, q) = capture_queries(qs.fetch(&db)).await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 1);
        let got: Vec<(&str, i64)> = rows.iter().map(|(a, n)| (a.name.as_str(), *n)).collect();
        assert_eq!(got, [("Alice", 2), ("Bob", 1), ("Carol", 0)]);
        // The rows are the cache: a second read costs nothing.
        let (again, q) = capture_queries(qs.fetch(&db)).await;
        assert_eq!(again.unwrap().len(), 3);
        assert!(q.is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_condition_on_an_aggregate_is_having_and_exclude_is_its_complement() {
    with_library(|db, _backend, _lib| async move {
        let some = Author::objects()
            .annotate(|a| a.books().count())
            .filter(|a| a.books().count().gte(1) & !a.name.eq("nobody"))
            .order_by(|a| a.books().count().desc());
        let (rows, q) = capture_queries(some.into_vec(&db)).await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 1);
        assert!(q[0].sql.contains("HAVING"), "{}", q[0].sql);
        assert_eq!(names(&rows), ["Alice", "Bob"]);

        let none = Author::objects().exclude(|a| a.books().count().gte(1));
        let (rows, q) = capture_queries(none.into_vec(&db)).await;
        assert_eq!(q.len(), 1);
        let got: Vec<String> = rows.unwrap().into_iter().map(|a| a.name).collect();
        assert_eq!(got, ["Carol"]);

        // count() of a grouped queryset counts the groups: over a subquery, one query.
        let (n, q) = capture_queries(
            Author::objects()
                .filter(|a| a.books().count().gte(1))
                .count(&db),
        )
        .await;
        assert_eq!((n.unwrap(), q.len()), (2, 1));
        let (e, q) = capture_queries(
            Author::objects()
                .filter(|a| a.books().count().gt(5))
                .exists(&db),
        )
        .await;
        assert_eq!((e.unwrap(), q.len()), (false, 1));
    })
    .await;
}

#[tokio::test]
async fn aggregate_always_queries_and_types_its_results() {
    with_library(|db, _backend, _lib| async move {
        let all = Book::objects();
        all.fetch(&db).await.unwrap();
        let (r, q) = capture_queries(all.aggregate(
            |b| {
                (
                    b.id.count(),
                    b.pages.sum(),
                    b.pages.avg(),
                    b.pages.min(),
                    b.pages.max(),
                )
            },
            &db,
        ))
        .await;
        assert_eq!(q.len(), 1, "even on an evaluated queryset");
        let (n, sum, avg, min, max) = r.unwrap();
        assert_eq!((n, sum, min, max), (3, Some(650), Some(150), Some(300)));
        assert!((avg.unwrap() - 650.0 / 3.0).abs() < 1e-9, "{avg:?}");

        // Over no rows: count 0, the others None, or their default.
        let (r, q) = capture_queries(Book::objects().filter(|b| b.pages.gt(1000)).aggregate(
            |b| {
                (
                    b.id.count(),
                    b.pages.sum(),
                    b.pages.avg(),
                    b.title.max(),
                    b.pages.sum().unwrap_or(0),
                )
            },
            &db,
        ))
        .await;
        assert_eq!(q.len(), 1);
        assert_eq!(r.unwrap(), (0, None, None, None, 0));
        // An empty queryset: the same answer, no query (S17).
        let (r, q) = capture_queries(Book::objects().none().aggregate(
            |b| (b.id.count(), b.pages.max(), b.pages.sum().unwrap_or(7)),
            &db,
        ))
        .await;
        assert!(q.is_empty());
        assert_eq!(r.unwrap(), (0, None, 7));

        // Across a relation, and over the relation's rows.
        let (r, q) = capture_queries(
            Author::objects().aggregate(|a| (a.books().pages.sum(), a.count(), a.age.avg()), &db),
        )
        .await;
        assert!(q.is_empty(), "refused before any query");
        // The books join repeats Alice: her age would count twice; count() counts authors.
        let err = r.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput(m) if m.contains("avg()") && m.contains("books")),
            "{err}"
        );
        let (r, _) = capture_queries(
            Author::objects().aggregate(|a| (a.books().pages.sum(), a.count()), &db),
        )
        .await;
        assert_eq!(r.unwrap(), (Some(650), 3));
        // `.distinct()` makes the aggregate read each author once, over a subquery.
        let (r, q) = capture_queries(
            Author::objects()
                .filter(|a| a.books().pages.gt(100))
                .distinct()
                .aggregate(|a| (a.age.sum(), a.count()), &db),
        )
        .await;
        assert_eq!(q.len(), 1);
        assert_eq!(r.unwrap(), (Some(75), 2));
    })
    .await;
}

#[tokio::test]
async fn two_many_valued_joins_count_each_related_row_once_and_refuse_an_inflated_sum() {
    with_library(|db, _backend, _lib| async move {
        let qs = Author::objects()
            .annotate(|a| (a.books().count(), a.books().tags().count()))
            .order_by(|a| a.name.asc());
        let (rows, q) = capture_queries(qs.into_vec(&db)).await;
        assert_eq!(q.len(), 1);
        let got: Vec<(String, (i64, i64))> = rows
            .unwrap()
            .into_iter()
            .map(|(a, n)| (a.name, n))
            .collect();
        // Without DISTINCT Alice would have 3 books: B1 once per tag, and B2.
        assert_eq!(
            got,
            [
                ("Alice".into(), (2, 2)),
                ("Bob".into(), (1, 1)),
                ("Carol".into(), (0, 0))
            ]
        );
        let (r, q) = capture_queries(
            Author::objects()
                .annotate(|a| (a.books().pages.sum(), a.books().tags().count()))
                .into_vec(&db),
        )
        .await;
        assert!(q.is_empty(), "refused before any query");
        assert!(
            matches!(r, Err(Error::InvalidInput(m)) if m.contains("sum()") && m.contains("tags"))
        );
        // min/max are not inflated: allowed.
        let (rows, _) = capture_queries(
            Author::objects()
                .annotate(|a| (a.books().pages.max(), a.books().tags().count()))
                .order_by(|a| a.name.asc())
                .into_vec(&db),
        )
        .await;
        let got: Vec<(Option<i32>, i64)> = rows.unwrap().into_iter().map(|(_, v)| v).collect();
        assert_eq!(got, [(Some(300), 2), (Some(200), 1), (None, 0)]);
    })
    .await;
}

#[tokio::test]
async fn conditional_aggregates_and_filters_on_the_same_relation() {
    with_library(|db, _backend, _lib| async move {
        // Django's Count("books", filter=Q(books__pages__gt=160)): Carol still counts 0.
        let (rows, q) = capture_queries(
            Author::objects()
                .annotate(|a| {
                    (
                        a.books().count().filter(a.books().pages.gt(160)),
                        a.books().pages.sum().unwrap_or(0),
                    )
                })
                .order_by(|a| a.name.asc())
                .into_vec(&db),
        )
        .await;
        assert_eq!(q.len(), 1);
        let got: Vec<(i64, i64)> = rows.unwrap().into_iter().map(|(_, v)| v).collect();
        assert_eq!(got, [(1, 450), (1, 200), (0, 0)]);
        // A filter across the relation restricts what the aggregate counts.
        let (rows, q) = capture_queries(
            Author::objects()
                .filter(|a| a.books().pages.gt(160))
                .annotate(|a| a.books().count())
                .order_by(|a| a.name.asc())
                .into_vec(&db),
        )
        .await;
        assert_eq!(q.len(), 1);
        let got: Vec<(String, i64)> = rows
            .unwrap()
            .into_iter()
            .map(|(a, n)| (a.name, n))
            .collect();
        assert_eq!(got, [("Alice".into(), 1), ("Bob".into(), 1)]);
    })
    .await;
}

#[tokio::test]
async fn values_with_an_aggregate_groups_by_the_other_fields() {
    with_library(|db, _backend, lib| async move {
        // Django's values("author").annotate(n=Count("id")), two ways.
        let (rows, q) = capture_queries(
            Book::objects()
                .values(|b| (b.author, b.id.count()))
                .order_by(|b| b.author.asc())
                .into_vec(&db),
        )
        .await;
        assert_eq!(q.len(), 1);
        assert_eq!(rows.unwrap(), [(lib.alice.id, 2), (lib.bob.id, 1)]);
        let (rows, q) = capture_queries(
            Book::objects()
                .values(|b| b.author)
                .annotate(|b| b.pages.sum())
                .order_by(|b| b.pages.sum().desc())
                .into_vec(&db),
        )
        .await;
        assert_eq!(q.len(), 1);
        assert_eq!(
            rows.unwrap(),
            [(lib.alice.id, Some(450)), (lib.bob.id, Some(200))]
        );
        // Tags with more than one book: the "tags with more than N posts" page.
        let (rows, q) = capture_queries(
            Book::objects()
                .values(|b| (b.tags().name, b.id.count()))
                .filter(|b| b.id.count().gt(1))
                .into_vec(&db),
        )
        .await;
        assert_eq!(q.len(), 1);
        assert_eq!(rows.unwrap(), [(Some("sf".to_owned()), 2)]);
        // Ordering by a field that is not grouped would split the groups: refused.
        let (r, q) = capture_queries(
            Book::objects()
                .values(|b| (b.author, b.id.count()))
                .order_by(|b| b.title.asc())
                .into_vec(&db),
        )
        .await;
        assert!(q.is_empty());
        assert!(matches!(r, Err(Error::InvalidInput(m)) if m.contains("title")));
    })
    .await;
}
