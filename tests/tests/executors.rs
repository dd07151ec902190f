//! Every kind of executor runs querysets: the pool, a transaction, a single connection,
//! and a borrowed sqlx connection; and every statement is counted whichever it is.

use std::time::Duration;

use orm_sqlx::ConnRef;
use orm_sqlx::prelude::*;
use orm_tests::fixture::{Book, book};
use orm_tests::with_fixture;

#[tokio::test]
async fn a_transaction_is_an_executor_and_rolls_back_unless_committed() {
    with_fixture(|db, _| async move {
        let mut tx = db.begin().await.unwrap();
        let mut b = book("In a transaction", 10, 1, None);
        let (r, q) = capture_queries(b.insert(&mut tx)).await;
        r.unwrap();
        assert_eq!(q.len(), 1);
        let seen_inside = Book::objects().filter(|x| x.title.eq("In a transaction"));
        assert_eq!(seen_inside.count(&mut tx).await.unwrap(), 1);
        tx.rollback().await.unwrap();
        assert_eq!(seen_inside.count(&db).await.unwrap(), 0, "rolled back");

        let mut tx = db.begin().await.unwrap();
        let mut qs = Book::objects().filter(|x| x.title.eq("B1"));
        assert_eq!(qs.update(|x| x.pages.set(1), &mut tx).await.unwrap(), 1);
        let rows: Vec<Book> = Book::objects()
            .order_by(|x| x.id.asc())
            .fetch(&mut tx)
            .await
            .unwrap()
            .to_vec();
        assert_eq!(rows[0].pages, 1);
        tx.commit().await.unwrap();
        assert_eq!(
            Book::objects()
                .filter(|x| x.pages.eq(1))
                .count(&db)
                .await
                .unwrap(),
            1
        );
    })
    .await;
}

#[tokio::test]
async fn a_single_connection_and_a_borrowed_sqlx_connection_are_executors() {
    with_fixture(|db, _| async move {
        let mut conn = db.acquire().await.unwrap();
        let (n, q) = capture_queries(async {
            let a = Book::objects().count(&mut conn).await.unwrap();
            let b = Book::objects()
                .filter(|x| x.pages.gt(160))
                .count(&mut conn)
                .await
                .unwrap();
            (a, b)
        })
        .await;
        assert_eq!((n, q.len()), ((3, 2), 2));
        drop(conn);

        // A raw sqlx connection, borrowed (here: the one inside a sqlx transaction).
        if let Some(pool) = db.sqlite_pool() {
            let mut raw = pool.begin().await.unwrap();
            let (n, q) = capture_queries(Book::objects().count(ConnRef::from(&mut *raw))).await;
            assert_eq!((n.unwrap(), q.len()), (3, 1));
        }
        if let Some(pool) = db.pg_pool() {
            let mut raw = pool.begin().await.unwrap();
            let (n, q) = capture_queries(Book::objects().count(ConnRef::from(&mut *raw))).await;
            assert_eq!((n.unwrap(), q.len()), (3, 1));
        }
        if let Some(pool) = db.mysql_pool() {
            let mut raw = pool.begin().await.unwrap();
            let (n, q) = capture_queries(Book::objects().count(ConnRef::from(&mut *raw))).await;
            assert_eq!((n.unwrap(), q.len()), (3, 1));
        }
    })
    .await;
}

#[tokio::test]
async fn assert_num_queries_passes_on_the_exact_count_and_fails_otherwise() {
    with_fixture(|db, _| async move {
        let n = assert_num_queries(1, Book::objects().count(&db))
            .await
            .unwrap();
        assert_eq!(n, 3);
        let db2 = db.clone();
        let wrong = tokio::spawn(async move {
            assert_num_queries(2, Book::objects().count(&db2))
                .await
                .unwrap();
        })
        .await;
        let panic = wrong.unwrap_err().into_panic();
        let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            msg.contains("expected 2 queries, ran 1:") && msg.contains("SELECT COUNT(*)"),
            "{msg}"
        );
    })
    .await;
}

/// A queryset with `prefetch_related` evaluated on a pool sends all its queries on one
/// connection, taken once: counted on a pool of one connection
/// ([`TestDb::one_connection_pool`](orm_tests::TestDb::one_connection_pool)).
#[tokio::test]
async fn a_prefetching_evaluation_takes_one_pool_connection_for_all_its_queries() {
    use std::sync::atomic::Ordering;

    use orm_tests::library::{self, Author};
    use orm_tests::{TestDb, required_backends};

    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        library::load(&t.db).await;
        let (db, acquired) = t.one_connection_pool(Duration::from_secs(30)).await;
        assert_eq!(Author::objects().count(&db).await.unwrap(), 3);
        let warm = acquired.load(Ordering::SeqCst);
        let authors = Author::objects().order_by(|a| a.name.asc());
        authors.fetch(&db).await.unwrap();
        assert_eq!(
            acquired.load(Ordering::SeqCst) - warm,
            1,
            "{backend:?}: the hook counts each acquire"
        );

        let before = acquired.load(Ordering::SeqCst);
        let qs = Author::objects()
            .prefetch_related(|a| a.books().tags())
            .order_by(|a| a.name.asc());
        let (rows, q) = capture_queries(qs.fetch(&db)).await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 3, "{backend:?}: one query per level");
        assert_eq!(rows[0].name, "Alice");
        assert_eq!(rows[0].books.all().unwrap().len(), 2);
        assert_eq!(
            acquired.load(Ordering::SeqCst) - before,
            1,
            "{backend:?}: three queries, one connection taken"
        );
        t.cleanup().await;
    }
}

/// When no pool connection can be had, the error names the statement that was to run, with
/// or without `prefetch_related`, and nothing is counted: no statement reached a connection.
#[tokio::test]
async fn a_pool_that_cannot_lend_a_connection_names_the_statement_and_counts_nothing() {
    use orm_tests::library::{self, Author};
    use orm_tests::{TestDb, required_backends};

    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        library::load(&t.db).await;
        let (db, _) = t.one_connection_pool(Duration::from_millis(200)).await;
        let held = db.acquire().await.unwrap();
        let plain = Author::objects().order_by(|a| a.name.asc());
        let prefetching = plain.prefetch_related(|a| a.books());
        for qs in [plain, prefetching] {
            let (r, q) = capture_queries(qs.fetch(&db)).await;
            match r {
                Err(Error::Database { sql, .. }) => {
                    assert!(sql.starts_with("SELECT"), "{backend:?}: {sql}")
                }
                other => panic!("{backend:?}: expected a pool timeout, got {other:?}"),
            }
            assert!(q.is_empty(), "{backend:?}: {q:?}");
            assert!(!qs.is_evaluated());
        }
        drop(held);
        assert_eq!(Author::objects().count(&db).await.unwrap(), 3);
        t.cleanup().await;
    }
}
