//! One test per rule of `shared/docs/SEMANTICS.md` that this stage builds (S1–S18,
//! S32–S38), each asserting the result and the exact number of queries, on every
//! backend the run requires. S39 (bad lookups are compile errors) is `compile_fail.rs`.

use std::future::Future;

use futures_util::{FutureExt, TryStreamExt};
use orm_sqlx::StatementKind::{Begin, Commit, Insert};
use orm_sqlx::prelude::*;
use orm_sqlx::{CapturedQuery, SlicedOp};
use orm_tests::fixture::{Author, Book, book};
use orm_tests::{Backend, on_each_backend, portable_sql, with_fixture};

/// Run `fut`, returning its output and the statements it sent.
async fn counted<T>(fut: impl Future<Output = T>) -> (T, Vec<CapturedQuery>) {
    capture_queries(fut).await
}

fn titles(books: &[Book]) -> Vec<&str> {
    books.iter().map(|b| b.title.as_str()).collect()
}

fn by_title() -> QuerySet<Book> {
    Book::objects().order_by(|b| b.title.asc())
}

// ---- A. Laziness and the per-queryset result cache ----------------------------------

#[tokio::test]
async fn s01_building_a_chain_and_showing_its_sql_costs_nothing() {
    with_fixture(|_db, _| async move {
        let (qs, q) = counted(async {
            let qs = Book::objects()
                .filter(|b| b.pages.gte(100))
                .exclude(|b| b.title.eq("B2"))
                .order_by(|b| b.pages.desc())
                .distinct()
                .slice(0..2);
            let sql = qs.sql();
            let debug = format!("{qs:?}");
            assert!(sql.starts_with("SELECT DISTINCT"), "{sql}");
            assert!(debug.contains("SELECT DISTINCT") && debug.contains("not evaluated"));
            qs
        })
        .await;
        assert_eq!(q.len(), 0, "{q:?}");
        assert!(!qs.is_evaluated());
    })
    .await;
}

#[tokio::test]
async fn s02_chaining_never_mutates_the_original() {
    with_fixture(|db, _| async move {
        let all = by_title();
        let sql_before = all.sql();
        assert_eq!(all.fetch(&db).await.unwrap().len(), 3);
        let (long, q) = counted(async { all.filter(|b| b.pages.gt(160)) }).await;
        assert!(q.is_empty());
        assert!(
            !long.is_evaluated(),
            "a chained queryset starts with an empty cache"
        );
        assert!(all.is_evaluated(), "the original keeps its cache");
        assert_eq!(all.sql(), sql_before, "the original keeps its query");
        let (rows, q) = counted(long.fetch(&db)).await;
        assert_eq!(titles(rows.unwrap()), ["B1", "B3"]);
        assert_eq!(q.len(), 1);
        let (rows, q) = counted(all.fetch(&db)).await;
        assert_eq!(rows.unwrap().len(), 3);
        assert_eq!(q.len(), 0);
    })
    .await;
}

#[tokio::test]
async fn s03_first_full_evaluation_runs_one_select_then_the_cache_answers() {
    with_fixture(|db, _| async move {
        let qs = by_title();
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!(titles(rows.unwrap()), ["B1", "B2", "B3"]);
        assert_eq!(q.len(), 1);
        assert!(q[0].sql.starts_with("SELECT ") && !q[0].sql.contains("LIMIT"));
        for _ in 0..3 {
            let (rows, q) = counted(qs.fetch(&db)).await;
            assert_eq!(rows.unwrap().len(), 3);
            assert_eq!(q.len(), 0);
        }
    })
    .await;
}

#[tokio::test]
async fn s04_len_emptiness_membership_and_collecting_fill_the_cache_once() {
    with_fixture(|db, _| async move {
        let qs = Book::objects();
        let (n, q) = counted(qs.len(&db)).await;
        assert_eq!((n.unwrap(), q.len()), (3, 1));
        let (n, q) = counted(qs.len(&db)).await;
        assert_eq!((n.unwrap(), q.len()), (3, 0));

        let qs = Book::objects().filter(|b| b.pages.gt(1000));
        let (empty, q) = counted(qs.is_empty(&db)).await;
        assert_eq!((empty.unwrap(), q.len()), (true, 1));
        let (empty, q) = counted(qs.is_empty(&db)).await;
        assert_eq!((empty.unwrap(), q.len()), (true, 0));

        // Python's `obj in qs` is membership over the evaluated rows.
        let b1 = Book::objects()
            .filter(|b| b.title.eq("B1"))
            .get(&db)
            .await
            .unwrap();
        let qs = Book::objects();
        let (found, q) = counted(async { qs.fetch(&db).await.unwrap().contains(&b1) }).await;
        assert_eq!((found, q.len()), (true, 1));
        let (found, q) = counted(async { qs.fetch(&db).await.unwrap().contains(&b1) }).await;
        assert_eq!((found, q.len()), (true, 0));

        let qs = by_title();
        let (list, q) = counted(async { qs.fetch(&db).await.unwrap().to_vec() }).await;
        assert_eq!((titles(&list), q.len()), (vec!["B1", "B2", "B3"], 1));
        let (list, q) = counted(async { qs.fetch(&db).await.unwrap().to_vec() }).await;
        assert_eq!((list.len(), q.len()), (3, 0));
    })
    .await;
}

#[tokio::test]
async fn s05_indexing_queries_each_time_until_evaluated() {
    with_fixture(|db, _| async move {
        let qs = by_title();
        for _ in 0..2 {
            let (b, q) = counted(qs.get_index(2, &db)).await;
            assert_eq!(b.unwrap().title, "B3");
            assert_eq!(q.len(), 1);
            assert!(q[0].sql.contains("LIMIT 1 OFFSET 2"), "{}", q[0].sql);
            assert!(!qs.is_evaluated(), "indexing never fills the cache");
        }
        let (err, q) = counted(qs.get_index(7, &db)).await;
        assert_eq!(q.len(), 1);
        let err = err.unwrap_err();
        assert!(
            matches!(err, Error::IndexOutOfRange { index: 7, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("no row at index 7"), "{err}");

        // indices past anything a database can hold are just out of range, never a panic
        let (b, q) = counted(qs.get_index(usize::MAX, &db)).await;
        assert!(matches!(b, Err(Error::IndexOutOfRange { .. })), "{b:?}");
        assert_eq!(q.len(), 0, "the window is empty once clamped: no query");
        let huge = qs.slice(usize::MAX - 1..=usize::MAX);
        let (rows, q) = counted(huge.fetch(&db)).await;
        assert_eq!((rows.unwrap().len(), q.len()), (0, 1));

        qs.fetch(&db).await.unwrap();
        let (b, q) = counted(qs.get_index(0, &db)).await;
        assert_eq!((b.unwrap().title.as_str(), q.len()), ("B1", 0));
        let (b, q) = counted(qs.get_index(3, &db)).await;
        assert!(matches!(b, Err(Error::IndexOutOfRange { index: 3, .. })));
        assert_eq!(q.len(), 0);
    })
    .await;
}

#[tokio::test]
async fn s06_slicing_is_lazy_composes_and_reads_the_cache_when_evaluated() {
    with_fixture(|db, _| async move {
        let qs = by_title();
        let (page, q) = counted(async { qs.slice(1..3) }).await;
        assert_eq!(q.len(), 0);
        assert!(page.sql().contains("LIMIT 2 OFFSET 1"), "{}", page.sql());
        let (rows, q) = counted(page.fetch(&db)).await;
        assert_eq!((titles(rows.unwrap()), q.len()), (vec!["B2", "B3"], 1));

        // qs[1:3][1:] is qs[2:3]
        let inner = qs.slice(1..3).slice(1..);
        assert!(inner.sql().contains("LIMIT 1 OFFSET 2"), "{}", inner.sql());
        let (rows, q) = counted(inner.fetch(&db)).await;
        assert_eq!((titles(rows.unwrap()), q.len()), (vec!["B3"], 1));

        // an empty window never queries
        let empty = qs.slice(2..2);
        let (rows, q) = counted(empty.fetch(&db)).await;
        assert_eq!((rows.unwrap().len(), q.len()), (0, 0));

        qs.fetch(&db).await.unwrap();
        let (rows, q) = counted(async { qs.slice(0..2).fetch(&db).await.unwrap().to_vec() }).await;
        assert_eq!((titles(&rows), q.len()), (vec!["B1", "B2"], 0));
        let (rows, q) = counted(async { qs.slice(2..10).fetch(&db).await.unwrap().to_vec() }).await;
        assert_eq!((titles(&rows), q.len()), (vec!["B3"], 0));
    })
    .await;
}

#[tokio::test]
async fn s07_a_sliced_queryset_refuses_filter_reorder_update_and_delete_before_any_query() {
    with_fixture(|db, _| async move {
        let sliced = by_title().slice(0..2);
        let (res, q) = counted(async {
            let f = sliced
                .filter(|b| b.pages.gt(1))
                .fetch(&db)
                .await
                .map(|r| r.len());
            let o = sliced.order_by(|b| b.pages.asc()).count(&db).await;
            let r = sliced.reverse().exists(&db).await;
            let mut u = sliced.clone();
            let up = u.update(|b| b.pages.set(1), &db).await;
            let del = u.delete(&db).await;
            (f, o, r, up, del)
        })
        .await;
        assert_eq!(q.len(), 0, "{q:?}");
        let (f, o, r, up, del) = res;
        let f = f.unwrap_err();
        assert!(matches!(f, Error::Sliced(SlicedOp::Filter)));
        assert_eq!(
            f.to_string(),
            "cannot filter a query once a slice has been taken"
        );
        assert!(matches!(o, Err(Error::Sliced(SlicedOp::Reorder))));
        assert!(matches!(r, Err(Error::Sliced(SlicedOp::Reverse))));
        assert!(matches!(up, Err(Error::Sliced(SlicedOp::Update))));
        assert!(matches!(del, Err(Error::Sliced(SlicedOp::Delete))));
        // nothing was changed
        assert_eq!(
            Book::objects()
                .filter(|b| b.pages.eq(1))
                .count(&db)
                .await
                .unwrap(),
            0
        );
        assert_eq!(Book::objects().count(&db).await.unwrap(), 3);
    })
    .await;
}

#[tokio::test]
async fn s08_count_queries_until_evaluated_then_answers_from_the_cache() {
    with_fixture(|db, _| async move {
        let qs = Book::objects().filter(|b| b.pages.gte(200));
        for _ in 0..2 {
            let (n, q) = counted(qs.count(&db)).await;
            assert_eq!((n.unwrap(), q.len()), (2, 1));
            assert!(q[0].sql.starts_with("SELECT COUNT(*) FROM"), "{}", q[0].sql);
        }
        // a sliced queryset counts over a subquery that keeps the LIMIT
        let (n, q) = counted(by_title().slice(1..).count(&db)).await;
        assert_eq!((n.unwrap(), q.len()), (2, 1));
        assert!(q[0].sql.contains("FROM (SELECT") && q[0].sql.contains("OFFSET 1"));
        let (n, q) = counted(by_title().slice(0..2).count(&db)).await;
        assert_eq!((n.unwrap(), q.len()), (2, 1));

        qs.fetch(&db).await.unwrap();
        Book::objects()
            .bulk_create(&mut [book("B4", 999, 1, None)], &db)
            .await
            .unwrap();
        let (n, q) = counted(qs.count(&db)).await;
        assert_eq!(
            (n.unwrap(), q.len()),
            (2, 0),
            "the cached length, even though a row was added"
        );
        assert_eq!(qs.all().count(&db).await.unwrap(), 3);
    })
    .await;
}

#[tokio::test]
async fn s09_exists_runs_select_1_limit_1_and_leaves_the_cache_empty() {
    with_fixture(|db, _| async move {
        let qs = Book::objects().filter(|b| b.pages.gt(250));
        let (e, q) = counted(qs.exists(&db)).await;
        assert_eq!((e.unwrap(), q.len()), (true, 1));
        assert!(
            q[0].sql.starts_with("SELECT 1") && q[0].sql.ends_with("LIMIT 1"),
            "{}",
            q[0].sql
        );
        assert!(!qs.is_evaluated());
        let (e, q) = counted(Book::objects().filter(|b| b.pages.gt(999)).exists(&db)).await;
        assert_eq!((e.unwrap(), q.len()), (false, 1));
        qs.fetch(&db).await.unwrap();
        let (e, q) = counted(qs.exists(&db)).await;
        assert_eq!((e.unwrap(), q.len()), (true, 0));
    })
    .await;
}

#[tokio::test]
async fn s10_contains_queries_by_primary_key_until_evaluated() {
    with_fixture(|db, _| async move {
        let b1 = Book::objects()
            .filter(|b| b.title.eq("B1"))
            .get(&db)
            .await
            .unwrap();
        let b2 = Book::objects()
            .filter(|b| b.title.eq("B2"))
            .get(&db)
            .await
            .unwrap();
        let long = Book::objects().filter(|b| b.pages.gte(200));
        for _ in 0..2 {
            let (yes, q) = counted(long.contains(&b1, &db)).await;
            assert_eq!((yes.unwrap(), q.len()), (true, 1));
            assert!(q[0].sql.starts_with("SELECT 1"), "{}", q[0].sql);
        }
        let (no, q) = counted(long.contains(&b2, &db)).await;
        assert_eq!((no.unwrap(), q.len()), (false, 1));
        assert!(!long.is_evaluated());
        // a slice cannot be filtered, so contains() on one is refused (as in Django)
        let (r, q) = counted(by_title().slice(0..1).contains(&b1, &db)).await;
        assert!(matches!(r, Err(Error::Sliced(SlicedOp::Filter))), "{r:?}");
        assert_eq!(q.len(), 0);
        // an unsaved instance has no key to look for
        let (r, q) = counted(long.contains(&book("new", 1, 1, None), &db)).await;
        assert!(matches!(r, Err(Error::InvalidInput(_))), "{r:?}");
        assert_eq!(q.len(), 0);
        long.fetch(&db).await.unwrap();
        let (yes, q) = counted(long.contains(&b1, &db)).await;
        let (no, q2) = counted(long.contains(&b2, &db)).await;
        assert_eq!(
            (yes.unwrap(), no.unwrap(), q.len() + q2.len()),
            (true, false, 0)
        );
    })
    .await;
}

#[tokio::test]
async fn s11_first_and_last_order_by_primary_key_when_unordered() {
    with_fixture(|db, backend| async move {
        let qs = Book::objects();
        let (b, q) = counted(qs.first(&db)).await;
        assert_eq!((b.unwrap().unwrap().title.as_str(), q.len()), ("B1", 1));
        assert!(
            portable_sql(backend, &q[0].sql).contains(r#"ORDER BY "books"."id" ASC LIMIT 1"#),
            "{}",
            q[0].sql
        );
        let (b, q) = counted(qs.last(&db)).await;
        assert_eq!((b.unwrap().unwrap().title.as_str(), q.len()), ("B3", 1));
        assert!(
            portable_sql(backend, &q[0].sql).contains(r#"ORDER BY "books"."id" DESC LIMIT 1"#),
            "{}",
            q[0].sql
        );

        let by_pages = Book::objects().order_by(|b| b.pages.asc());
        let (b, q) = counted(by_pages.first(&db)).await;
        assert_eq!((b.unwrap().unwrap().title.as_str(), q.len()), ("B2", 1));
        let (b, q) = counted(by_pages.last(&db)).await;
        assert_eq!((b.unwrap().unwrap().title.as_str(), q.len()), ("B1", 1));
        assert!(
            portable_sql(backend, &q[0].sql).contains(r#"ORDER BY "books"."pages" DESC LIMIT 1"#),
            "{}",
            q[0].sql
        );

        // reverse() survives a later order_by(), as in Django
        let rev = Book::objects().reverse().order_by(|b| b.title.asc());
        let (b, q) = counted(rev.first(&db)).await;
        assert_eq!((b.unwrap().unwrap().title.as_str(), q.len()), ("B3", 1));
        let (b, q) = counted(Book::objects().reverse().first(&db)).await;
        assert_eq!(
            (b.unwrap().unwrap().title.as_str(), q.len()),
            ("B3", 1),
            "reverse().first() orders by -pk"
        );

        let nothing = Book::objects().filter(|b| b.pages.gt(999));
        let (none, q) = counted(nothing.first(&db)).await;
        assert_eq!((none.unwrap(), q.len()), (None, 1));
        let (none, q) = counted(nothing.last(&db)).await;
        assert_eq!((none.unwrap(), q.len()), (None, 1));

        // Django reads the cache for first() on an ordered, evaluated queryset only.
        by_pages.fetch(&db).await.unwrap();
        let (b, q) = counted(by_pages.first(&db)).await;
        assert_eq!((b.unwrap().unwrap().title.as_str(), q.len()), ("B2", 0));
        let (b, q) = counted(by_pages.last(&db)).await;
        assert_eq!((b.unwrap().unwrap().title.as_str(), q.len()), ("B1", 1));
        qs.fetch(&db).await.unwrap();
        let (b, q) = counted(qs.first(&db)).await;
        assert_eq!(
            (b.unwrap().unwrap().title.as_str(), q.len()),
            ("B1", 1),
            "an unordered queryset orders by pk, which is a new query"
        );
        let (b, q) = counted(qs.last(&db)).await;
        assert_eq!((b.unwrap().unwrap().title.as_str(), q.len()), ("B3", 1));
    })
    .await;
}

#[tokio::test]
async fn s12_get_reports_does_not_exist_and_multiple_objects_returned() {
    with_fixture(|db, _| async move {
        let (b, q) = counted(Book::objects().filter(|b| b.title.eq("B2")).get(&db)).await;
        assert_eq!((b.unwrap().pages, q.len()), (150, 1));
        assert!(q[0].sql.ends_with("LIMIT 21"), "{}", q[0].sql);

        let (e, q) = counted(Book::objects().filter(|b| b.title.eq("nope")).get(&db)).await;
        assert_eq!(q.len(), 1);
        let e = e.unwrap_err();
        assert!(matches!(e, Error::DoesNotExist { model: "Book" }));
        assert_eq!(e.to_string(), "Book matching query does not exist");

        let (e, q) = counted(Book::objects().get(&db)).await;
        assert_eq!(q.len(), 1);
        assert_eq!(
            e.unwrap_err().to_string(),
            "get() returned more than one Book -- it returned 3!"
        );

        let mut many: Vec<Book> = (0..25)
            .map(|i| book(&format!("X{i}"), 1, 1, None))
            .collect();
        Book::objects().bulk_create(&mut many, &db).await.unwrap();
        let (e, q) = counted(Book::objects().filter(|b| b.pages.eq(1)).get(&db)).await;
        assert_eq!(q.len(), 1);
        assert_eq!(
            e.unwrap_err().to_string(),
            "get() returned more than one Book -- it returned more than 20!"
        );
    })
    .await;
}

#[tokio::test]
async fn s13_iterator_streams_and_bypasses_the_cache_both_ways() {
    with_fixture(|db, _| async move {
        let qs = by_title();
        for _ in 0..2 {
            let (rows, q) = counted(async {
                qs.iterator(&db, 2)
                    .try_collect::<Vec<Book>>()
                    .await
                    .unwrap()
            })
            .await;
            assert_eq!((titles(&rows), q.len()), (vec!["B1", "B2", "B3"], 1));
            assert!(!qs.is_evaluated(), "iterator never fills the cache");
        }
        qs.fetch(&db).await.unwrap();
        let (rows, q) = counted(async {
            qs.iterator(&db, 100)
                .try_collect::<Vec<Book>>()
                .await
                .unwrap()
        })
        .await;
        assert_eq!(
            (rows.len(), q.len()),
            (3, 1),
            "iterator never reads the cache"
        );

        let (r, q) = counted(async { qs.iterator(&db, 0).try_collect::<Vec<Book>>().await }).await;
        assert!(matches!(r, Err(Error::ZeroChunkSize)));
        assert_eq!(q.len(), 0);

        // a stream read one row at a time: one query, sent when it is first read
        let (first_two, q) = counted(async {
            let mut s = Book::objects().order_by(|b| b.pages.asc()).iterator(&db, 1);
            let a = s.try_next().await.unwrap().unwrap().title;
            let b = s.try_next().await.unwrap().unwrap().title;
            (a, b)
        })
        .await;
        assert_eq!(first_two, ("B2".to_string(), "B3".to_string()));
        assert_eq!(q.len(), 1);
        let (_, q) = counted(async { drop(Book::objects().iterator(&db, 10)) }).await;
        assert_eq!(q.len(), 0, "a stream that is never read sends nothing");
    })
    .await;
}

#[tokio::test]
async fn s14_chaining_after_evaluation_starts_a_new_cache() {
    with_fixture(|db, _| async move {
        let qs = Book::objects();
        qs.fetch(&db).await.unwrap();
        for next in [
            qs.all(),
            qs.filter(|b| b.pages.gt(0)),
            qs.order_by(|b| b.title.desc()),
        ] {
            let (rows, q) = counted(next.fetch(&db)).await;
            assert_eq!((rows.unwrap().len(), q.len()), (3, 1));
        }
    })
    .await;
}

#[tokio::test]
async fn s15_evaluated_querysets_keep_stale_rows_until_their_own_update_or_delete() {
    with_fixture(|db, _| async move {
        let qs = by_title();
        qs.fetch(&db).await.unwrap();
        Book::objects()
            .filter(|b| b.title.eq("B1"))
            .update(|b| b.pages.set(1), &db)
            .await
            .unwrap();
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!(
            (rows.unwrap()[0].pages, q.len()),
            (300, 0),
            "stale on purpose"
        );

        let mut own = by_title();
        own.fetch(&db).await.unwrap();
        let (n, q) = counted(own.update(|b| b.pages.set(b.pages + 1), &db)).await;
        assert_eq!((n.unwrap(), q.len()), (3, 1));
        assert!(
            !own.is_evaluated(),
            "update() clears the queryset's own cache"
        );
        let (rows, q) = counted(own.fetch(&db)).await;
        assert_eq!(
            rows.unwrap().iter().map(|b| b.pages).collect::<Vec<_>>(),
            [2, 151, 201]
        );
        assert_eq!(q.len(), 1);

        let (deleted, q) = counted(own.delete(&db)).await;
        assert_eq!((deleted.unwrap().total, q.len()), (3, 1));
        assert!(
            !own.is_evaluated(),
            "delete() clears the queryset's own cache"
        );
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!(
            (rows.unwrap().len(), q.len()),
            (3, 0),
            "other querysets stay stale"
        );
    })
    .await;
}

#[tokio::test]
async fn s16_refresh_from_db_reloads_all_or_some_columns() {
    with_fixture(|db, backend| async move {
        let mut b1 = Book::objects()
            .filter(|b| b.title.eq("B1"))
            .get(&db)
            .await
            .unwrap();
        Book::objects()
            .filter(|b| b.id.eq(b1.id))
            .update(|b| [b.title.set("B1 revised"), b.pages.set(301)], &db)
            .await
            .unwrap();

        let mut only_title = b1.clone();
        let (r, q) = counted(only_title.refresh_from_db_fields(|b| b.title, &db)).await;
        r.unwrap();
        assert_eq!(q.len(), 1);
        assert!(
            portable_sql(backend, &q[0].sql).starts_with(r#"SELECT "books"."title" FROM"#),
            "{}",
            q[0].sql
        );
        assert_eq!(
            (only_title.title.as_str(), only_title.pages),
            ("B1 revised", 300)
        );

        let (r, q) = counted(b1.refresh_from_db_fields(|_| (), &db)).await;
        r.unwrap();
        assert_eq!((q.len(), b1.title.as_str()), (0, "B1"));

        let (r, q) = counted(b1.refresh_from_db(&db)).await;
        r.unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!((b1.title.as_str(), b1.pages), ("B1 revised", 301));

        Book::objects()
            .filter(|b| b.id.eq(b1.id))
            .delete(&db)
            .await
            .unwrap();
        let (e, q) = counted(b1.refresh_from_db(&db)).await;
        assert!(matches!(e, Err(Error::DoesNotExist { model: "Book" })));
        assert_eq!(q.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn s17_empty_querysets_never_reach_the_database() {
    with_fixture(|db, _| async move {
        let empties = [
            Book::objects().none(),
            Book::objects().filter(|b| b.id.is_in(Vec::<i64>::new())),
            Book::objects().filter(|b| b.pages.gt(1) & b.id.is_in(Vec::<i64>::new())),
        ];
        for qs in empties {
            let (res, q) = counted(async {
                (
                    qs.count(&db).await.unwrap(),
                    qs.exists(&db).await.unwrap(),
                    qs.fetch(&db).await.unwrap().len(),
                )
            })
            .await;
            assert_eq!(res, (0, false, 0));
            assert_eq!(q.len(), 0, "{q:?}");
        }
        // None is dropped from an IN list, so [None] is empty too
        let (n, q) = counted(
            Book::objects()
                .filter(|b| b.publisher.is_in([None::<String>]))
                .count(&db),
        )
        .await;
        assert_eq!((n.unwrap(), q.len()), (0, 0));
        // the negation of an empty IN matches everything
        let all = Book::objects().exclude(|b| b.id.is_in(Vec::<i64>::new()));
        assert_eq!(all.count(&db).await.unwrap(), 3);
    })
    .await;
}

#[tokio::test]
async fn s18_concurrent_evaluations_share_one_query_and_cancellation_leaves_no_cache() {
    with_fixture(|db, backend| async move {
        let qs = by_title();
        let ((a, b), q) = counted(async { tokio::join!(qs.fetch(&db), qs.fetch(&db)) }).await;
        assert_eq!((a.unwrap().len(), b.unwrap().len()), (3, 3));
        assert_eq!(q.len(), 1, "two concurrent evaluations run one query");

        // Cancelled while waiting for a connection: every pooled connection is held.
        let max = match (db.sqlite_pool(), db.pg_pool(), db.mysql_pool()) {
            (Some(p), _, _) => p.options().get_max_connections(),
            (_, Some(p), _) => p.options().get_max_connections(),
            (_, _, Some(p)) => p.options().get_max_connections(),
            _ => unreachable!("a test database has a pool"),
        };
        let mut held = Vec::new();
        for _ in 0..max {
            held.push(db.acquire().await.unwrap());
        }
        let qs = by_title();
        let polled_once = qs.fetch(&db).now_or_never();
        assert!(
            polled_once.is_none(),
            "no connection was free, so it could not finish"
        );
        drop(held);
        assert!(
            !qs.is_evaluated(),
            "a cancelled evaluation leaves the cache empty"
        );
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!((rows.unwrap().len(), q.len()), (3, 1));

        // Cancelled mid-query (PostgreSQL): the SELECT is sent and blocks on a table lock.
        if backend == Backend::Postgres {
            let mut locker = db.begin().await.unwrap();
            orm_sqlx::sqlx::query("LOCK TABLE books IN ACCESS EXCLUSIVE MODE")
                .execute(&mut *pg_conn(&mut locker))
                .await
                .unwrap();
            let qs = by_title();
            let (polled, q) = counted(async {
                let fut = qs.fetch(&db);
                tokio::time::timeout(std::time::Duration::from_millis(300), fut).await
            })
            .await;
            assert!(
                polled.is_err(),
                "the SELECT was blocked by the lock and then dropped"
            );
            assert_eq!(q.len(), 1, "the statement had been sent");
            locker.rollback().await.unwrap();
            assert!(
                !qs.is_evaluated(),
                "a query dropped mid-flight leaves the cache empty"
            );
            let (rows, q) = counted(qs.fetch(&db)).await;
            assert_eq!((rows.unwrap().len(), q.len()), (3, 1));
        }
    })
    .await;
}

fn pg_conn(tx: &mut orm_sqlx::Transaction) -> &mut orm_sqlx::sqlx::PgConnection {
    match tx.conn() {
        orm_sqlx::ConnRef::Postgres(c) => c,
        _ => unreachable!("a PostgreSQL transaction"),
    }
}

/// The futures are `Send + 'static`-spawnable under the bounds web frameworks put on
/// handlers (axum requires `Send` futures).
#[test]
fn s18_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_static_send<T: Send + 'static>(_: &T) {}
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let qs = Book::objects().filter(|b| b.pages.gte(1));
        assert_send(&qs.fetch(&db));
        assert_send(&qs.count(&db));
        assert_send(&qs.get(&db));
        assert_send(&qs.iterator(&db, 10));
        let mut b = book("x", 1, 1, None);
        assert_send(&b.save(&db));
        let owned = Book::objects().filter(|b| b.pages.gte(1));
        let fut = std::future::IntoFuture::into_future(owned);
        assert_static_send(&fut);
        drop(fut);
        // and they can be spawned on a multi-threaded runtime
        let handle = tokio::spawn({
            let db = db.clone();
            async move { Book::objects().count(&db).await.is_err() }
        });
        assert!(
            handle.await.unwrap(),
            "no table yet: the error travels back through spawn"
        );
    });
}

// ---- C. Values, writes, expressions -----------------------------------------------------

#[tokio::test]
async fn s32_values_select_only_the_named_columns_and_cache() {
    with_fixture(|db, backend| async move {
        let pairs = by_title().values(|b| (b.title, b.pages));
        let (rows, q) = counted(pairs.fetch(&db)).await;
        assert_eq!(
            rows.unwrap(),
            [
                ("B1".to_string(), 300),
                ("B2".to_string(), 150),
                ("B3".to_string(), 200)
            ]
        );
        assert_eq!(q.len(), 1);
        assert!(
            portable_sql(backend, &q[0].sql)
                .starts_with(r#"SELECT "books"."title", "books"."pages" FROM"#),
            "{}",
            q[0].sql
        );
        let (rows, q) = counted(pairs.fetch(&db)).await;
        assert_eq!((rows.unwrap().len(), q.len()), (3, 0));
        let publishers = Book::objects()
            .order_by(|b| b.id.asc())
            .values(|b| b.publisher);
        let (rows, q) = counted(publishers.fetch(&db)).await;
        assert_eq!(
            rows.unwrap(),
            [
                Some("Penguin".to_string()),
                None,
                Some("Harper".to_string())
            ]
        );
        assert_eq!(q.len(), 1);
        // DISTINCT over a projection ordered by a column outside it (PostgreSQL needs the
        // column in the SELECT list; it is added there, as Django does).
        let distinct = Book::objects()
            .values(|b| b.author_id)
            .distinct()
            .order_by(|b| b.pages.asc());
        let (rows, q) = counted(distinct.fetch(&db)).await;
        assert_eq!((rows.unwrap().len(), q.len()), (3, 1));
    })
    .await;
}

#[tokio::test]
async fn s33_update_returns_matched_rows_and_delete_what_it_deleted() {
    with_fixture(|db, backend| async move {
        let mut qs = Book::objects().filter(|b| b.author_id.eq(1));
        qs.fetch(&db).await.unwrap();
        let (n, q) = counted(qs.update(|b| b.publisher.set("Vintage"), &db)).await;
        assert_eq!(
            (n.unwrap(), q.len()),
            (2, 1),
            "update never reads the cache"
        );
        assert!(
            portable_sql(backend, &q[0].sql).starts_with(r#"UPDATE "books" SET "publisher" = "#),
            "{}",
            q[0].sql
        );
        assert_eq!(
            Book::objects()
                .filter(|b| b.publisher.eq("Vintage"))
                .count(&db)
                .await
                .unwrap(),
            2
        );
        let (n, q) = counted(qs.update(|b| b.publisher.set(None), &db)).await;
        assert_eq!((n.unwrap(), q.len()), (2, 1));
        assert_eq!(
            Book::objects()
                .filter(|b| b.publisher.is_null(true))
                .count(&db)
                .await
                .unwrap(),
            2
        );

        let mut gone = Book::objects().filter(|b| b.pages.lt(250));
        let (d, q) = counted(gone.delete(&db)).await;
        let d = d.unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(d.total, 2);
        assert_eq!(d.per_model.get("Book"), Some(&2));
        assert_eq!(Book::objects().count(&db).await.unwrap(), 1);

        let b1 = Book::objects().get(&db).await.unwrap();
        let (d, q) = counted(b1.delete(&db)).await;
        assert_eq!((d.unwrap().total, q.len()), (1, 1));
    })
    .await;
}

#[tokio::test]
async fn s34_bulk_create_sends_one_insert_per_batch_and_sets_keys() {
    on_each_backend(|db, backend| async move {
        db.create_table::<Book>().await.unwrap();
        let (r, q) = counted(Book::objects().bulk_create(&mut [], &db)).await;
        r.unwrap();
        assert_eq!(q.len(), 0);

        let mut three = vec![
            book("a", 1, 1, None),
            book("b", 2, 1, None),
            book("c", 3, 1, None),
        ];
        let (r, q) = counted(Book::objects().bulk_create(&mut three, &db)).await;
        r.unwrap();
        assert_eq!(q.len(), 1);
        let sql = portable_sql(backend, &q[0].sql);
        assert!(
            sql.starts_with(r#"INSERT INTO "books""#) && sql.contains("), ("),
            "{}",
            q[0].sql
        );
        let ids: Vec<i64> = three.iter().map(|b| b.id).collect();
        assert!(
            ids.iter().all(|&id| id > 0) && ids[0] < ids[1] && ids[1] < ids[2],
            "{ids:?}"
        );
        let stored = Book::objects()
            .filter(|b| b.id.eq(ids[1]))
            .get(&db)
            .await
            .unwrap();
        assert_eq!(stored, three[1]);

        // 5 bound columns a row: SQLite takes 32766 parameters (6553 rows) a statement,
        // PostgreSQL 65535 (13107 rows).
        let per_batch = (backend.max_params() / 5) as i32;
        let n = per_batch + 10;
        let mut many: Vec<Book> = (0..n).map(|i| book(&format!("m{i}"), i, 2, None)).collect();
        let (r, q) = counted(Book::objects().bulk_create(&mut many, &db)).await;
        r.unwrap();
        // One INSERT per batch, in one transaction: BEGIN, INSERT, INSERT, COMMIT (Django's
        // four too).
        let kinds: Vec<_> = q.iter().map(|q| q.kind).collect();
        assert_eq!(
            kinds,
            [Begin, Insert, Insert, Commit],
            "one INSERT per batch"
        );
        assert_eq!(
            Book::objects()
                .filter(|b| b.author_id.eq(2))
                .count(&db)
                .await
                .unwrap(),
            n as u64
        );
        let last = many.last().unwrap();
        assert_eq!(
            Book::objects()
                .filter(|b| b.id.eq(last.id))
                .get(&db)
                .await
                .unwrap()
                .title,
            last.title
        );
    })
    .await;
}

#[tokio::test]
async fn s34_insert_and_save_set_and_use_the_primary_key() {
    on_each_backend(|db, _| async move {
        db.create_table::<Author>().await.unwrap();
        let mut a = orm_tests::fixture::author("Dora", Some(20), None);
        let (r, q) = counted(a.save(&db)).await;
        r.unwrap();
        assert_eq!(q.len(), 1, "an unsaved instance is inserted");
        assert!(a.id > 0);
        a.age = Some(21);
        let (r, q) = counted(a.save(&db)).await;
        r.unwrap();
        assert_eq!(q.len(), 1, "a saved instance is updated");
        assert!(q[0].sql.starts_with("UPDATE"));
        let stored = Author::objects()
            .filter(|x| x.id.eq(a.id))
            .get(&db)
            .await
            .unwrap();
        assert_eq!(stored, a);
        // an explicit key that is not in the table: UPDATE matches nothing, then INSERT
        let mut e = orm_tests::fixture::author("Eve", None, None);
        e.id = 1000;
        let (r, q) = counted(e.save(&db)).await;
        r.unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(
            Author::objects()
                .filter(|x| x.id.eq(1000))
                .get(&db)
                .await
                .unwrap()
                .name,
            "Eve"
        );
    })
    .await;
}

#[tokio::test]
async fn s36_in_bulk_batches_by_the_bind_limit() {
    with_fixture(|db, backend| async move {
        let (found, q) = counted(Book::objects().in_bulk([1, 3], &db)).await;
        let found = found.unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(
            (
                found[&1].title.as_str(),
                found[&3].title.as_str(),
                found.len()
            ),
            ("B1", "B3", 2)
        );
        let (found, q) = counted(Book::objects().in_bulk(Vec::<i64>::new(), &db)).await;
        assert_eq!((found.unwrap().len(), q.len()), (0, 0));

        // SQLite binds one parameter a key (32,766 a statement): three batches; MySQL
        // too (65,535 a statement): two. PostgreSQL binds the whole list as one array
        // parameter: one query, whatever its length.
        let ids: Vec<i64> = (1..=(2 * 32_766 + 5)).collect();
        let (found, q) = counted(Book::objects().in_bulk(ids, &db)).await;
        let expected = match backend {
            Backend::Sqlite => 3,
            Backend::Mysql => 2,
            Backend::Postgres => 1,
        };
        assert_eq!((found.unwrap().len(), q.len()), (3, expected));
    })
    .await;
}

#[tokio::test]
async fn s37_q_objects_combine_and_f_expressions_compare_and_compute() {
    with_fixture(|db, backend| async move {
        let or = by_title().filter(|b| b.title.eq("B1") | b.pages.lt(160));
        assert!(or.sql().contains(r#"("books"."title" = "#), "{}", or.sql());
        assert!(or.sql().contains(" OR "));
        let (rows, q) = counted(or.fetch(&db)).await;
        assert_eq!((titles(rows.unwrap()), q.len()), (vec!["B1", "B2"], 1));

        let and_not = by_title().filter(|b| b.pages.gt(100) & !b.title.eq("B3"));
        assert!(and_not.sql().contains(" AND NOT ("), "{}", and_not.sql());
        let (rows, q) = counted(and_not.fetch(&db)).await;
        assert_eq!((titles(rows.unwrap()), q.len()), (vec!["B1", "B2"], 1));

        let excl = by_title().exclude(|b| b.title.eq("B1") | b.title.eq("B2"));
        assert!(excl.sql().contains("WHERE NOT (("), "{}", excl.sql());
        let (rows, q) = counted(excl.fetch(&db)).await;
        assert_eq!((titles(rows.unwrap()), q.len()), (vec!["B3"], 1));

        // F(): column against column, and arithmetic
        let twice = by_title().filter(|b| b.pages.gte(b.pages * 2 - 200));
        let (rows, q) = counted(twice.fetch(&db)).await;
        assert_eq!((titles(rows.unwrap()), q.len()), (vec!["B2", "B3"], 1));
        // SQLite computes it with the ORM's checked functions, MySQL with the ORM's range
        // check around its 64-bit arithmetic (PostgreSQL's operators already refuse an
        // overflow).
        let (filter_sql, set_sql) = match backend {
            Backend::Postgres => (
                r#""books"."pages" >= (("books"."pages" * "#,
                r#"SET "pages" = ("books"."pages" * "#,
            ),
            Backend::Sqlite => (
                r#""books"."pages" >= orm_i32(orm_i32("books"."pages", '*', "#,
                r#"SET "pages" = orm_i32("books"."pages", '*', "#,
            ),
            Backend::Mysql => (
                "`books`.`pages` >= (CAST(CAST(0 AS UNSIGNED) + 2147483648 + \
                 (((CAST(CAST(0 AS UNSIGNED) + 2147483648 + ((`books`.`pages` * ",
                "SET `pages` = (CAST(CAST(0 AS UNSIGNED) + 2147483648 + ((`books`.`pages` * ",
            ),
        };
        assert!(q[0].sql.contains(filter_sql), "{}", q[0].sql);

        let (n, q) = counted(Book::objects().update(|b| b.pages.set(b.pages * 2), &db)).await;
        assert_eq!((n.unwrap(), q.len()), (3, 1));
        assert!(q[0].sql.contains(set_sql), "{}", q[0].sql);
        let pages: Vec<i32> = by_title()
            .values(|b| b.pages)
            .fetch(&db)
            .await
            .unwrap()
            .to_vec();
        assert_eq!(pages, [600, 300, 400]);

        // exclude on a nullable column keeps the NULL rows, as in Django
        let not_penguin = by_title().exclude(|b| b.publisher.eq("Penguin"));
        let (rows, q) = counted(not_penguin.fetch(&db)).await;
        assert_eq!((titles(rows.unwrap()), q.len()), (vec!["B2", "B3"], 1));
        let not_30 = Author::objects()
            .exclude(|a| a.age.eq(30))
            .order_by(|a| a.name.asc());
        let names: Vec<_> = not_30
            .fetch(&db)
            .await
            .unwrap()
            .iter()
            .map(|a| a.name.clone())
            .collect();
        assert_eq!(names, ["Bob", "Carol"]);
        let not_in = Author::objects()
            .exclude(|a| a.age.is_in([30, 45]))
            .order_by(|a| a.name.asc());
        let (rows, q) = counted(not_in.fetch(&db)).await;
        let names: Vec<_> = rows.unwrap().iter().map(|a| a.name.clone()).collect();
        assert_eq!(
            (names, q.len()),
            (vec!["Carol".to_string()], 1),
            "NULL ages are kept"
        );
    })
    .await;
}

#[tokio::test]
async fn s38_every_lookup_returns_what_django_returns() {
    on_each_backend(|db, _| async move {
        db.create_table::<Book>().await.unwrap();
        let mut rows = vec![
            book("Rust in Action", 400, 1, Some("Manning")),
            book("rust for rustaceans", 280, 1, None),
            book("100% Pure_Rust", 50, 2, Some("Self")),
            book(r"C:\path\to", 10, 2, None),
            book("Straße ÀΣ", 123, 3, Some("Ü")),
        ];
        Book::objects().bulk_create(&mut rows, &db).await.unwrap();
        // Each lookup: its rows, in one query.
        let t = |qs: QuerySet<Book>| {
            let db = db.clone();
            async move {
                let qs = qs.order_by(|b| b.id.asc());
                let (rows, q) = counted(qs.fetch(&db)).await;
                assert_eq!(q.len(), 1, "{}", qs.sql());
                let rows = rows.unwrap().to_vec();
                rows.into_iter().map(|b| b.title).collect::<Vec<_>>()
            }
        };
        let o = Book::objects;
        assert_eq!(
            t(o().filter(|b| b.title.eq("Rust in Action"))).await,
            ["Rust in Action"]
        );
        assert_eq!(
            t(o().filter(|b| b.publisher.eq(None))).await,
            ["rust for rustaceans", r"C:\path\to"]
        );
        assert_eq!(
            t(o().filter(|b| b.title.iexact("RUST IN ACTION"))).await,
            ["Rust in Action"]
        );
        assert_eq!(
            t(o().filter(|b| b.title.iexact("straße àσ"))).await,
            ["Straße ÀΣ"]
        );
        assert_eq!(
            t(o().filter(|b| b.title.contains("Rust"))).await,
            ["Rust in Action", "100% Pure_Rust"]
        );
        assert_eq!(
            t(o().filter(|b| b.title.icontains("rust"))).await,
            ["Rust in Action", "rust for rustaceans", "100% Pure_Rust"]
        );
        assert_eq!(
            t(o().filter(|b| b.title.contains("%"))).await,
            ["100% Pure_Rust"]
        );
        assert_eq!(
            t(o().filter(|b| b.title.contains("_"))).await,
            ["100% Pure_Rust"]
        );
        assert_eq!(
            t(o().filter(|b| b.title.contains("0% P"))).await,
            ["100% Pure_Rust"]
        );
        assert_eq!(
            t(o().filter(|b| b.title.contains(r"\p"))).await,
            [r"C:\path\to"]
        );
        assert!(
            t(o().filter(|b| b.title.contains("R_st"))).await.is_empty(),
            "_ is not a wildcard"
        );
        assert_eq!(
            t(o().filter(|b| b.title.startswith("Rust"))).await,
            ["Rust in Action"]
        );
        assert_eq!(
            t(o().filter(|b| b.title.istartswith("RUST"))).await,
            ["Rust in Action", "rust for rustaceans"]
        );
        assert_eq!(
            t(o().filter(|b| b.title.endswith("Rust"))).await,
            ["100% Pure_Rust"]
        );
        assert_eq!(
            t(o().filter(|b| b.title.iendswith("RUST"))).await,
            ["100% Pure_Rust"]
        );
        assert_eq!(
            t(o().filter(|b| b.title.icontains("àσ"))).await,
            ["Straße ÀΣ"]
        );
        assert_eq!(
            t(o().filter(|b| b.pages.is_in([10, 50, 999]))).await,
            ["100% Pure_Rust", r"C:\path\to"]
        );
        assert_eq!(t(o().filter(|b| b.pages.gt(280))).await, ["Rust in Action"]);
        assert_eq!(
            t(o().filter(|b| b.pages.gte(280))).await,
            ["Rust in Action", "rust for rustaceans"]
        );
        assert_eq!(t(o().filter(|b| b.pages.lt(50))).await, [r"C:\path\to"]);
        assert_eq!(
            t(o().filter(|b| b.pages.lte(50))).await,
            ["100% Pure_Rust", r"C:\path\to"]
        );
        assert_eq!(
            t(o().filter(|b| b.pages.range(50, 123))).await,
            ["100% Pure_Rust", "Straße ÀΣ"]
        );
        assert_eq!(t(o().filter(|b| b.publisher.is_null(false))).await.len(), 3);
        assert_eq!(
            t(o().filter(|b| b.title.regex("^[Rr]ust"))).await,
            ["Rust in Action", "rust for rustaceans"]
        );
        assert_eq!(
            t(o().filter(|b| b.title.regex("^rust"))).await,
            ["rust for rustaceans"]
        );
        assert_eq!(
            t(o().filter(|b| b.title.iregex("^RUST"))).await,
            ["Rust in Action", "rust for rustaceans"]
        );

        // values are bound, never spliced: a quote in a value is just a character
        assert!(
            t(o().filter(|b| b.title.eq("x' OR '1'='1")))
                .await
                .is_empty()
        );
        assert!(
            o().filter(|b| b.title.icontains("x'y"))
                .sql()
                .contains("-- params")
        );
        // comparing with None other than by eq() is refused before any query
        let (r, q) = counted(o().filter(|b| b.rating.gt(None)).count(&db)).await;
        assert!(matches!(r, Err(Error::InvalidInput(_))), "{r:?}");
        assert_eq!(q.len(), 0);
    })
    .await;
}

#[tokio::test]
async fn every_supported_field_type_round_trips() {
    use orm_tests::fixture::EveryType;
    on_each_backend(|db, _| async move {
        db.create_table::<EveryType>().await.unwrap();
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let clock = chrono::NaiveTime::from_hms_micro_opt(23, 59, 58, 123_456).unwrap();
        let row = EveryType {
            key: uuid::Uuid::new_v4(),
            flag: true,
            small: -7,
            int: 1 << 20,
            big: i64::MAX - 1,
            single: 1.5,
            double: -2.25e10,
            text: "ünïcödé 'quoted' \\ %_".into(),
            blob: vec![0, 159, 146, 150, 255],
            day,
            clock,
            local: day.and_time(clock),
            instant: chrono::DateTime::from_timestamp(1_790_000_000, 5_000).unwrap(),
            amount: "12345678901234.5678".parse().unwrap(),
            doc: serde_json::json!({"a": [1, 2, {"b": null}]}),
            maybe_int: None,
            maybe_text: Some("x".into()),
            maybe_day: None,
            maybe_amount: Some("-0.001".parse().unwrap()),
        };
        let mut copy = row.clone();
        copy.insert(&db).await.unwrap();
        assert_eq!(copy, row, "a non-auto key is kept as given");
        let back = EveryType::objects()
            .filter(|e| e.key.eq(row.key))
            .get(&db)
            .await
            .unwrap();
        assert_eq!(back, row);
        let found = EveryType::objects()
            .filter(|e| {
                e.day.eq(day)
                    & e.flag.eq(true)
                    & e.amount.gt(rust_decimal::Decimal::ONE)
                    & e.maybe_int.is_null(true)
            })
            .count(&db)
            .await
            .unwrap();
        assert_eq!(found, 1);
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_database_is_a_typed_error() {
    let e = Db::connect("postgres://nobody:secret@127.0.0.1:1/none")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Connect { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("127.0.0.1:1") && !msg.contains("secret"),
        "{msg}"
    );
    let e = Db::connect("oracle://x").await.unwrap_err();
    assert!(
        e.to_string()
            .contains("unknown or disabled backend `oracle`"),
        "{e}"
    );
}
