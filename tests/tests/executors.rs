//! Every kind of executor runs querysets: the pool, a transaction, a single connection,
//! and a borrowed sqlx connection; and every statement is counted whichever it is.

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
