//! Issue 11.1 and 11.2 (SEMANTICS S40): aggregates and annotations, and subqueries.
//! Result and query count on every backend.
//!
//! Library: Alice (30) wrote B1 (300 pages; tags sf, classic) and B2 (150); Bob (45) wrote
//! B3 (200; sf); Carol (no age) wrote nothing.

use orm_sqlx::prelude::*;
use orm_tests::library::{Author, Book};
use orm_tests::{on_each_backend, with_library};
use rust_decimal::Decimal;

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

#[tokio::test]
async fn annotated_rows_keep_select_related_and_prefetch_related() {
    with_library(|db, _backend, _lib| async move {
        let qs = Book::objects()
            .select_related(|b| b.author())
            .annotate(|b| b.tags().count())
            .order_by(|b| b.title.asc());
        let (rows, q) = capture_queries(qs.fetch(&db)).await;
        assert_eq!(q.len(), 1);
        let got: Vec<(&str, &str, i64)> = rows
            .unwrap()
            .iter()
            .map(|(b, n)| (b.title.as_str(), b.author.get().unwrap().name.as_str(), *n))
            .collect();
        assert_eq!(
            got,
            [("B1", "Alice", 2), ("B2", "Alice", 0), ("B3", "Bob", 1)]
        );

        let qs = Author::objects()
            .annotate(|a| a.books().count())
            .prefetch_related(|a| a.books())
            .order_by(|a| a.name.asc());
        let (rows, q) = capture_queries(qs.into_vec(&db)).await;
        assert_eq!(q.len(), 2);
        for (a, n) in rows.unwrap() {
            assert_eq!(a.books.all().unwrap().len() as i64, n, "{}", a.name);
        }
    })
    .await;
}

#[tokio::test]
async fn exists_with_an_outer_reference_and_scalar_subqueries() {
    with_library(|db, _backend, _lib| async move {
        // Django's filter(Exists(Book.objects.filter(author=OuterRef("pk"), pages__gt=250))).
        let long = |a: &orm_tests::library::AuthorFields<Author>| {
            exists(Book::objects().filter(|b| b.author.eq(a.id.outer()) & b.pages.gt(250)))
        };
        let (rows, q) = capture_queries(
            Author::objects()
                .filter(long)
                .values(|a| a.name)
                .into_vec(&db),
        )
        .await;
        assert_eq!(q.len(), 1);
        assert!(q[0].sql.contains("EXISTS"), "{}", q[0].sql);
        assert_eq!(rows.unwrap(), ["Alice"]);
        let (rows, q) = capture_queries(
            Author::objects()
                .exclude(long)
                .order_by(|a| a.name.asc())
                .values(|a| a.name)
                .into_vec(&db),
        )
        .await;
        assert_eq!(q.len(), 1);
        assert_eq!(rows.unwrap(), ["Bob", "Carol"]);
        // exists() of an empty queryset is false without a query.
        let (rows, q) = capture_queries(
            Author::objects()
                .filter(|_| exists(Book::objects().none()))
                .into_vec(&db),
        )
        .await;
        assert!(q.is_empty());
        assert!(rows.unwrap().is_empty());

        // The title of each author's longest book: Django's Subquery(...values("title")[:1]).
        let (rows, q) = capture_queries(
            Author::objects()
                .annotate(|a| {
                    subquery(
                        Book::objects()
                            .filter(|b| b.author.eq(a.id.outer()))
                            .order_by(|b| b.pages.desc())
                            .values(|b| b.title)
                            .slice(..1),
                    )
                })
                .order_by(|a| a.name.asc())
                .into_vec(&db),
        )
        .await;
        assert_eq!(q.len(), 1);
        let got: Vec<Option<String>> = rows.unwrap().into_iter().map(|(_, t)| t).collect();
        assert_eq!(got, [Some("B1".into()), Some("B3".into()), None]);
        // An aggregate subquery is one row too; it can be compared.
        let (rows, q) = capture_queries(
            Author::objects()
                .filter(|a| {
                    subquery(
                        Book::objects()
                            .filter(|b| b.author.eq(a.id.outer()))
                            .values(|b| b.pages.sum()),
                    )
                    .gt(300)
                })
                .values(|a| a.name)
                .into_vec(&db),
        )
        .await;
        assert_eq!(q.len(), 1);
        assert_eq!(rows.unwrap(), ["Alice"]);

        // Misuse, refused before any query: a subquery of several rows, outer() outside a
        // subquery, outer() of another model's field.
        let (r, q) = capture_queries(
            Author::objects()
                .annotate(|a| {
                    subquery(
                        Book::objects()
                            .filter(|b| b.author.eq(a.id.outer()))
                            .values(|b| b.title),
                    )
                })
                .into_vec(&db),
        )
        .await;
        assert!(q.is_empty());
        assert!(matches!(r, Err(Error::InvalidInput(m)) if m.contains("at most one row")));
        let a = Author::fields();
        let (r, q) = capture_queries(
            Book::objects()
                .filter(|b| b.author.eq(a.id.outer()))
                .into_vec(&db),
        )
        .await;
        assert!(q.is_empty());
        assert!(matches!(r, Err(Error::InvalidInput(m)) if m.contains("only inside a subquery")));
        let (r, q) = capture_queries(
            Author::objects()
                .filter(|_| exists(Book::objects().filter(|b| b.pages.eq(b.pages.outer()))))
                .into_vec(&db),
        )
        .await;
        assert!(q.is_empty());
        assert!(
            matches!(&r, Err(Error::InvalidInput(m)) if m.contains("`Book` field")),
            "{r:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn update_and_delete_through_a_condition_on_an_aggregate() {
    with_library(|db, _backend, _lib| async move {
        let (n, q) = capture_queries(
            Author::objects()
                .filter(|a| a.books().count().eq(0))
                .update(|a| a.age.set(99), &db),
        )
        .await;
        assert_eq!((n.unwrap(), q.len()), (1, 1));
        let carol = Author::objects()
            .filter(|a| a.name.eq("Carol"))
            .get(&db)
            .await;
        assert_eq!(carol.unwrap().age, Some(99));
        let mut lonely = Author::objects().filter(|a| a.books().count().eq(0));
        let deleted = lonely.delete(&db).await.unwrap();
        assert_eq!(deleted.total, 1);
        let left: Vec<String> = Author::objects()
            .order_by(|a| a.name.asc())
            .values(|a| a.name)
            .into_vec(&db)
            .await
            .unwrap();
        assert_eq!(left, ["Alice", "Bob"]);
    })
    .await;
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "amounts")]
struct Amount {
    id: i64,
    small: i16,
    big: i64,
    single: f32,
    price: Decimal,
    day: Option<chrono::NaiveDate>,
}

fn amount(small: i16, big: i64, single: f32, price: &str, day: Option<(i32, u32, u32)>) -> Amount {
    Amount {
        id: 0,
        small,
        big,
        single,
        price: price.parse().unwrap(),
        day: day.map(|(y, m, d)| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap()),
    }
}

#[tokio::test]
async fn every_backend_returns_the_same_types_and_fails_the_same_way() {
    on_each_backend(|db, backend| async move {
        db.create_table::<Amount>().await.unwrap();
        let mut rows = vec![
            amount(32_000, i64::MAX - 1, 1.5, "10.25", Some((2024, 5, 1))),
            amount(32_000, 2, 2.25, "0.75", None),
            amount(1, 0, 0.25, "9.5", Some((2023, 1, 31))),
        ];
        Amount::objects().bulk_create(&mut rows, &db).await.unwrap();
        let (r, q) = capture_queries(Amount::objects().aggregate(
            |a| {
                (
                    a.small.sum(),
                    a.single.sum(),
                    a.price.sum(),
                    a.price.max(),
                    a.price.min(),
                    a.day.min(),
                    a.small.avg(),
                )
            },
            &db,
        ))
        .await;
        assert_eq!(q.len(), 1);
        let (small, single, price, max, min, day, avg) = r.unwrap();
        assert_eq!(small, Some(64_001), "an i16 sum does not overflow at i16");
        assert_eq!(single, Some(4.0));
        assert_eq!(
            price,
            Some("20.50".parse::<Decimal>().unwrap()),
            "{backend:?}"
        );
        assert_eq!(
            max,
            Some("10.25".parse::<Decimal>().unwrap()),
            "by value, not as text"
        );
        assert_eq!(min, Some("0.75".parse::<Decimal>().unwrap()));
        assert_eq!(day, chrono::NaiveDate::from_ymd_opt(2023, 1, 31));
        assert!((avg.unwrap() - 64_001.0 / 3.0).abs() < 1e-9);
        let (r, _) = capture_queries(Amount::objects().aggregate(|a| a.price.avg(), &db)).await;
        let avg = r.unwrap().unwrap();
        assert_eq!(
            avg.round_dp(6),
            "6.833333".parse::<Decimal>().unwrap(),
            "{avg}"
        );
        // A sum past i64 is an error, as PostgreSQL's bigint sum is, never a clamped value.
        let (r, q) = capture_queries(Amount::objects().aggregate(|a| a.big.sum(), &db)).await;
        assert_eq!(q.len(), 1);
        assert!(
            matches!(r, Err(Error::OutOfRange { .. })),
            "{backend:?}: {r:?}"
        );
    })
    .await;
}
#[tokio::test]
async fn an_annotated_count_over_a_thousand_authors_is_one_query() {
    on_each_backend(|db, _backend| async move {
        orm_tests::library::load(&db).await;
        let mut many: Vec<Author> = (0..1000)
            .map(|i| Author {
                id: 0,
                name: format!("A{i:04}"),
                age: None,
                country: None,
                books: Default::default(),
                long_books: Default::default(),
            })
            .collect();
        Author::objects().bulk_create(&mut many, &db).await.unwrap();
        let (rows, q) = capture_queries(
            Author::objects()
                .annotate(|a| a.books().count())
                .into_vec(&db),
        )
        .await;
        assert_eq!(q.len(), 1);
        let rows = rows.unwrap();
        assert_eq!(rows.len(), 1003);
        assert_eq!(rows.iter().map(|(_, n)| n).sum::<i64>(), 3);
    })
    .await;
}

#[tokio::test]
async fn a_condition_on_an_aggregate_then_values_still_groups_by_the_model() {
    with_library(|db, _backend, lib| async move {
        // Two authors named the same: each is tested on its own books.
        let mut twin = Author::objects()
            .filter(|a| a.name.eq("Bob"))
            .get(&db)
            .await
            .unwrap();
        twin.id = 0;
        twin.save(&db).await.unwrap();
        let mut b4 = Book::objects().get_pk(lib.b3.id, &db).await.unwrap();
        b4.id = 0;
        b4.author = orm_sqlx::ForeignKey::new(twin.id);
        b4.save(&db).await.unwrap();
        let (rows, q) = capture_queries(
            Author::objects()
                .filter(|a| a.books().count().gte(2))
                .values(|a| a.name)
                .into_vec(&db),
        )
        .await;
        assert_eq!(q.len(), 1);
        assert_eq!(rows.unwrap(), ["Alice"], "the two Bobs have one book each");
    })
    .await;
}
