//! Edge cases of aggregates, annotations and subqueries found by review against Django;
//! each test failed before its fix (grouping by expressions, NULL aggregates under
//! exclude(), empty and distinct querysets, outer() inside exclude(), derived-table column
//! names on MySQL, decimals compared as text on SQLite). Library as in `aggregates.rs`: Alice (30) wrote B1
//! (300 pages; tags sf, classic) and B2 (150); Bob (45) wrote B3 (200; sf); Carol (no
//! age) wrote nothing.

use orm_sqlx::prelude::*;
use orm_tests::library::{Author, Book};
use orm_tests::with_library;

/// A scalar subquery of an empty queryset (`none()`) must read no rows: its SUM is NULL.
/// The compiler ignores `Query::empty` in a nested SELECT and sums every book (650).
#[tokio::test]
async fn subquery_of_an_empty_queryset_reads_no_rows() {
    with_library(|db, backend, _lib| async move {
        let (rows, _q) = capture_queries(
            Author::objects()
                .annotate(|_| subquery(Book::objects().none().values(|b| b.pages.sum())))
                .order_by(|a| a.name.asc())
                .into_vec(&db),
        )
        .await;
        let got: Vec<Option<i64>> = rows.unwrap().into_iter().map(|(_, v)| v).collect();
        assert_eq!(got, [None, None, None], "{backend:?}");
    })
    .await;
}

/// `aggregate()` of a distinct `values()` queryset must aggregate the distinct rows, as
/// `count()` of the same queryset does (Django: the inner query keeps its select list).
/// The compiler replaces the select list by the model's columns (`inner_q.select =
/// Select::Model`), so DISTINCT no longer removes anything.
#[tokio::test]
async fn aggregate_of_a_distinct_values_queryset_reads_the_distinct_rows() {
    with_library(|db, backend, _lib| async move {
        let qs = Book::objects().values(|b| b.author).distinct();
        let n = qs.count(&db).await.unwrap();
        assert_eq!(n, 2, "{backend:?}");
        let (r, q) = capture_queries(qs.aggregate(|b| b.author.count(), &db)).await;
        assert_eq!(r.unwrap(), 2, "{backend:?}: {}", q[0].sql);
    })
    .await;
}

/// Django's `values("tags__name").annotate(Sum("pages"))`: grouped by the tag, each book
/// is read once per group, so the sum is exact. The "second many-valued join" rule
/// refuses it (the join the rows are grouped by is counted as repeating the rows).
#[tokio::test]
async fn sum_grouped_by_a_many_valued_relation_is_not_inflated_and_not_refused() {
    with_library(|db, backend, _lib| async move {
        let (rows, q) = capture_queries(
            Book::objects()
                .values(|b| (b.tags().name, b.pages.sum()))
                .into_vec(&db),
        )
        .await;
        let mut rows = rows.unwrap_or_else(|e| panic!("{backend:?}: {e} ({q:?})"));
        rows.sort();
        assert_eq!(
            rows,
            [
                (None, Some(150)),
                (Some("classic".to_owned()), Some(300)),
                (Some("sf".to_owned()), Some(500)),
            ]
        );
    })
    .await;
}

/// A projected expression that binds a value is written twice, SELECT `pages + $1` and
/// GROUP BY `pages + $2`: PostgreSQL (and MySQL's ONLY_FULL_GROUP_BY) do not see them as
/// the same expression and reject the statement.
#[tokio::test]
async fn group_by_an_expression_with_a_bound_value() {
    with_library(|db, backend, _lib| async move {
        let (rows, q) = capture_queries(
            Book::objects()
                .values(|b| (b.pages + 1, b.id.count()))
                .into_vec(&db),
        )
        .await;
        let mut rows = rows.unwrap_or_else(|e| panic!("{backend:?}: {e} ({})", q[0].sql));
        rows.sort();
        assert_eq!(rows, [(151, 1), (201, 1), (301, 1)]);
    })
    .await;
}

/// exclude() keeps the groups filter() would not return (the rule the compiler applies to
/// a bare `sum()` with `… IS NOT NULL`), but not when the aggregate is inside arithmetic:
/// `NOT (SUM(pages) + 0 > 250)` is NULL for Carol, who is dropped.
#[tokio::test]
async fn exclude_on_arithmetic_over_a_nullable_aggregate_keeps_null_groups() {
    with_library(|db, backend, _lib| async move {
        let bare = Author::objects()
            .exclude(|a| a.books().pages.sum().gt(250))
            .order_by(|a| a.name.asc())
            .values(|a| a.name)
            .into_vec(&db)
            .await
            .unwrap();
        assert_eq!(bare, ["Bob", "Carol"], "{backend:?}");
        let (rows, q) = capture_queries(
            Author::objects()
                .exclude(|a| (a.books().pages.sum().expr() + 0).gt(250))
                .order_by(|a| a.name.asc())
                .values(|a| a.name)
                .into_vec(&db),
        )
        .await;
        assert_eq!(rows.unwrap(), ["Bob", "Carol"], "{backend:?}: {}", q[0].sql);
    })
    .await;
}

/// `outer()` in a subquery written inside the NOT EXISTS that exclude() makes for a
/// many-valued relation: `outer_column` takes `frames[sub - 1]` as the enclosing query,
/// which is the exclude's own frame (based at `books`), not the author query.
#[tokio::test]
async fn outer_inside_an_exclude_across_a_many_valued_relation() {
    with_library(|db, backend, _lib| async move {
        // Authors none of whose books is shorter than their longest: Bob and Carol.
        let (rows, q) = capture_queries(
            Author::objects()
                .exclude(|a| {
                    subquery(
                        Book::objects()
                            .filter(|b| b.author.eq(a.id.outer()))
                            .values(|b| b.pages.max()),
                    )
                    .gt(a.books().pages)
                })
                .order_by(|a| a.name.asc())
                .values(|a| a.name)
                .into_vec(&db),
        )
        .await;
        assert_eq!(
            rows.unwrap_or_else(|e| panic!("{backend:?}: {e} ({q:?})")),
            ["Bob", "Carol"]
        );
    })
    .await;
}

/// count() of an annotated queryset runs `SELECT COUNT(*) FROM (SELECT …, COUNT(x),
/// COUNT(x) …)`: a derived table may not have two columns of one name on MySQL/MariaDB.
#[tokio::test]
async fn count_of_a_queryset_with_two_equal_annotations() {
    with_library(|db, backend, _lib| async move {
        let qs = Author::objects().annotate(|a| (a.books().count(), a.books().count()));
        let (n, q) = capture_queries(qs.count(&db)).await;
        assert_eq!(
            n.unwrap_or_else(|e| panic!("{backend:?}: {e} ({})", q[0].sql)),
            3
        );
        let (e, q) = capture_queries(qs.exists(&db)).await;
        assert!(e.unwrap_or_else(|e| panic!("{backend:?}: {e} ({})", q[0].sql)));
    })
    .await;
}

/// Checks that passed in review (kept as regression tests): outer() through a forward
/// relation, a scalar subquery next to a count (grouped by it), a conditional aggregate
/// over a sliced queryset (parameters of the outer and inner statements).
#[tokio::test]
async fn checks_that_hold() {
    with_library(|db, backend, _lib| async move {
        let mut rows: Vec<String> = Book::objects()
            .filter(|b| exists(Author::objects().filter(|a| a.age.gt(b.author().age.outer()))))
            .values(|b| b.title)
            .into_vec(&db)
            .await
            .unwrap();
        rows.sort();
        assert_eq!(rows, ["B1", "B2"], "{backend:?}");

        let rows = Author::objects()
            .annotate(|a| {
                (
                    a.books().count(),
                    subquery(
                        Book::objects()
                            .filter(|b| b.author.eq(a.id.outer()) & b.pages.gt(10))
                            .order_by(|b| b.pages.desc())
                            .values(|b| b.title)
                            .slice(..1),
                    ),
                )
            })
            .order_by(|a| a.name.asc())
            .into_vec(&db)
            .await
            .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        let got: Vec<(i64, Option<String>)> = rows.into_iter().map(|(_, v)| v).collect();
        assert_eq!(
            got,
            [(2, Some("B1".into())), (1, Some("B3".into())), (0, None)]
        );

        let n = Book::objects()
            .filter(|b| b.pages.gt(1))
            .order_by(|b| b.title.asc())
            .slice(..2)
            .aggregate(|b| b.id.count().filter(b.pages.gt(160)), &db)
            .await
            .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        assert_eq!(n, 1);
    })
    .await;
}

/// Ordering by an aggregate the queryset neither annotates nor filters on (Django's
/// `order_by(Count("books"))`, which groups): `is_grouped()` ignores the ordering, so no
/// GROUP BY is written: PostgreSQL/MariaDB reject the statement, SQLite returns one row.
#[tokio::test]
async fn order_by_an_aggregate_alone_groups_the_rows() {
    with_library(|db, backend, _lib| async move {
        let (rows, q) = capture_queries(
            Author::objects()
                .order_by(|a| a.books().count().desc())
                .values(|a| a.name)
                .into_vec(&db),
        )
        .await;
        assert_eq!(
            rows.unwrap_or_else(|e| panic!("{backend:?}: {e} ({})", q[0].sql)),
            ["Alice", "Bob", "Carol"],
            "{backend:?}: {}",
            q[0].sql
        );
    })
    .await;
}

/// A condition on an aggregate is about each author (it was written on the model's
/// queryset), but a later `values(|a| a.name)` makes the compiler group by the name:
/// two authors called Bob (1 book each) become one group of 2 books and pass `>= 2`.
#[tokio::test]
async fn filter_on_an_aggregate_then_values_still_groups_by_the_model() {
    with_library(|db, backend, lib| async move {
        let mut bob2 = lib.bob.clone();
        bob2.id = 0;
        bob2.insert(&db).await.unwrap();
        let mut b4 = lib.b3.clone();
        b4.id = 0;
        b4.title = "B4".into();
        b4.author = ForeignKey::new(bob2.id);
        b4.insert(&db).await.unwrap();
        let (rows, q) = capture_queries(
            Author::objects()
                .filter(|a| a.books().count().gte(2))
                .values(|a| a.name)
                .into_vec(&db),
        )
        .await;
        assert_eq!(rows.unwrap(), ["Alice"], "{backend:?}: {}", q[0].sql);
    })
    .await;
}

/// SELECT DISTINCT with an ordering equal to an annotation that binds a value: the
/// annotation is `… > $1` in the SELECT list and `… > $3` in ORDER BY, which PostgreSQL
/// does not accept for SELECT DISTINCT (ORDER BY expressions must appear in select list).
#[tokio::test]
async fn distinct_annotation_with_a_bound_value_ordered_by_it() {
    with_library(|db, backend, _lib| async move {
        let (rows, q) = capture_queries(
            Author::objects()
                .distinct()
                .annotate(|a| a.books().count().filter(a.books().pages.gt(100)))
                .order_by(|a| a.books().count().filter(a.books().pages.gt(100)).desc())
                .into_vec(&db),
        )
        .await;
        let got: Vec<i64> = rows
            .unwrap_or_else(|e| panic!("{backend:?}: {e} ({})", q[0].sql))
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        assert_eq!(got, [2, 1, 0]);
    })
    .await;
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "review_prices")]
struct Price {
    id: i64,
    price: rust_decimal::Decimal,
}

/// `sum().distinct()` / `count_distinct()` of decimals on SQLite: decimals are TEXT
/// without the exact collation, so "1.5" and "1.50" are two values to DISTINCT (PostgreSQL
/// and MySQL compare numerics by value: one).
#[tokio::test]
async fn distinct_decimal_aggregates_compare_by_value() {
    orm_tests::on_each_backend(|db, backend| async move {
        db.create_table::<Price>().await.unwrap();
        let mut rows = vec![
            Price {
                id: 0,
                price: "1.5".parse().unwrap(),
            },
            Price {
                id: 0,
                price: "1.50".parse().unwrap(),
            },
        ];
        Price::objects().bulk_create(&mut rows, &db).await.unwrap();
        let (r, q) = capture_queries(Price::objects().aggregate(
            |p| (p.price.sum().distinct(), p.price.count_distinct()),
            &db,
        ))
        .await;
        let (sum, n) = r.unwrap();
        assert_eq!(
            (sum.map(|d| d.normalize()), n),
            (Some("1.5".parse().unwrap()), 1),
            "{backend:?}: {}",
            q[0].sql
        );
    })
    .await;
}

/// aggregate() of an empty queryset answers without a query, but only for bare
/// aggregates: `count() * 2` (an aggregate inside arithmetic) is refused with an error
/// instead of 0 (`empty_aggregates` knows no `Term::Arith`).
#[tokio::test]
async fn aggregate_of_an_empty_queryset_with_arithmetic() {
    with_library(|db, backend, _lib| async move {
        let r = Book::objects()
            .none()
            .aggregate(|b| b.id.count().expr() * 2, &db)
            .await;
        assert_eq!(r.unwrap_or_else(|e| panic!("{backend:?}: {e}")), 0);
    })
    .await;
}

/// A projected term that mixes an aggregate and a plain column (`count() + id`): the term
/// is left out of GROUP BY because it has an aggregate, and the column it reads is not
/// grouped (Django groups by the columns inside it): PostgreSQL/MariaDB reject it, SQLite
/// returns one arbitrary row per author.
#[tokio::test]
async fn a_term_mixing_an_aggregate_and_a_column_groups_by_the_column() {
    with_library(|db, backend, lib| async move {
        let (rows, q) = capture_queries(
            Book::objects()
                .values(|b| (b.author, b.id.count().expr() + b.id))
                .into_vec(&db),
        )
        .await;
        let mut rows = rows.unwrap_or_else(|e| panic!("{backend:?}: {e} ({})", q[0].sql));
        rows.sort();
        let mut want = vec![
            (lib.alice.id, 1 + lib.b1.id),
            (lib.alice.id, 1 + lib.b2.id),
            (lib.bob.id, 1 + lib.b3.id),
        ];
        want.sort();
        assert_eq!(rows, want, "{backend:?}: {}", q[0].sql);
    })
    .await;
}

/// aggregate(count of the pk) and count() of one queryset disagree when a filter joins a
/// many-valued relation: the pk count is made DISTINCT (2), count() counts the rows (3);
/// Django answers 3 to both.
#[tokio::test]
async fn aggregate_count_of_the_pk_agrees_with_count() {
    with_library(|db, backend, _lib| async move {
        let qs = Author::objects().filter(|a| a.books().pages.gt(100));
        let n = qs.count(&db).await.unwrap();
        let (m, q) = capture_queries(qs.aggregate(|a| a.id.count(), &db)).await;
        assert_eq!(m.unwrap() as u64, n, "{backend:?}: {}", q[0].sql);
    })
    .await;
}

/// The same exclude() rule for a scalar subquery that is NULL for a row (Carol has no
/// books, her SUM subquery is NULL): `NOT ((SELECT SUM…) > 300)` drops her, while
/// exclude() of the bare aggregate keeps her.
#[tokio::test]
async fn exclude_on_a_null_scalar_subquery_keeps_the_row() {
    with_library(|db, backend, _lib| async move {
        let (rows, q) = capture_queries(
            Author::objects()
                .exclude(|a| {
                    subquery(
                        Book::objects()
                            .filter(|b| b.author.eq(a.id.outer()))
                            .values(|b| b.pages.sum()),
                    )
                    .gt(300)
                })
                .order_by(|a| a.name.asc())
                .values(|a| a.name)
                .into_vec(&db),
        )
        .await;
        assert_eq!(rows.unwrap(), ["Bob", "Carol"], "{backend:?}: {}", q[0].sql);
    })
    .await;
}

/// An annotated subquery whose outer() reads through a forward relation (`e.boss().id`)
/// joins `employees T3` into the grouped query but T3's columns are not grouped: the
/// subquery is in GROUP BY, yet PostgreSQL ("subquery uses ungrouped column T3.id") and
/// MariaDB (1055) reject it; SQLite accepts it.
#[tokio::test]
async fn outer_through_a_forward_relation_in_a_grouped_query() {
    use orm_tests::library::Employee;
    with_library(|db, backend, _lib| async move {
        let (rows, q) = capture_queries(
            Employee::objects()
                .annotate(|e| {
                    (
                        e.reports().count(),
                        subquery(
                            Employee::objects()
                                .filter(|r| r.boss.eq(e.id.outer()))
                                .values(|r| r.id.count()),
                        ),
                        subquery(
                            Employee::objects()
                                .filter(|r| r.boss.eq(e.boss().id.outer()))
                                .values(|r| r.id.count()),
                        ),
                    )
                })
                .filter(|e| e.reports().count().gte(1))
                .order_by(|e| e.name.asc())
                .into_vec(&db),
        )
        .await;
        type Row = (String, (i64, Option<i64>, Option<i64>));
        let got: Vec<Row> = rows
            .unwrap_or_else(|e| panic!("{backend:?}: {e} ({q:?})"))
            .into_iter()
            .map(|(e, v)| (e.name, v))
            .collect();
        assert_eq!(
            got,
            [
                ("Ann".into(), (1, Some(1), Some(0))),
                ("Ben".into(), (1, Some(1), Some(1))),
            ],
            "{backend:?}: {}",
            q[0].sql
        );
    })
    .await;
}
