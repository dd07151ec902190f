//! Issue 14, first step: every captured statement says how long it took and how many rows
//! it returned or changed, for every way of evaluating (fetch, get, count, update, delete,
//! a stream read to its end), on every backend; a statement that fails or is not read to
//! its end has no row count; a stream read after its capture ended writes into no other
//! capture.

use futures_util::TryStreamExt;
use orm_sqlx::StatementKind;
use orm_sqlx::prelude::*;
use orm_tests::fixture::{Author, Book};
use orm_tests::with_fixture;

#[tokio::test]
async fn captured_statements_carry_their_duration_and_rows() {
    with_fixture(|db, _| async move {
        let ((), q) = capture_queries(async {
            let all = Book::objects().order_by(|b| b.id.asc());
            assert_eq!(all.clone().into_vec(&db).await.unwrap().len(), 3);
            Book::objects()
                .filter(|b| b.title.eq("B1"))
                .get(&db)
                .await
                .unwrap();
            assert!(
                Book::objects()
                    .filter(|b| b.title.eq("none"))
                    .first(&db)
                    .await
                    .unwrap()
                    .is_none()
            );
            assert_eq!(Book::objects().count(&db).await.unwrap(), 3);
            let changed = Book::objects()
                .filter(|b| b.pages.gte(200))
                .update(|b| b.rating.set(Some(4.0)), &db)
                .await
                .unwrap();
            assert_eq!(changed, 2);
            let streamed: Vec<Book> = all.iterator(&db, 2).try_collect().await.unwrap();
            assert_eq!(streamed.len(), 3);
        })
        .await;
        let rows: Vec<Option<u64>> = q.iter().map(|q| q.rows).collect();
        // fetch 3, get reads up to 21 and finds 1, first finds none, count is one row,
        // the update changed 2, the stream read 3.
        assert_eq!(
            rows,
            [Some(3), Some(1), Some(0), Some(1), Some(2), Some(3)],
            "{q:#?}"
        );
        for s in &q {
            let d = s.duration.unwrap_or_else(|| panic!("no duration: {s:?}"));
            assert!(d > std::time::Duration::ZERO && d < std::time::Duration::from_secs(60));
        }
        assert_eq!(q[4].kind, StatementKind::Update);
    })
    .await;
}

#[tokio::test]
async fn a_failed_or_unfinished_statement_has_no_row_count() {
    with_fixture(|db, _| async move {
        let (r, q) = capture_queries(db.execute_raw("UPDATE no_such_table SET x = 1")).await;
        assert!(r.is_err());
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].rows, None, "{q:?}");
        assert!(q[0].duration.is_some(), "a failure still took time: {q:?}");

        // A stream left after its first row: sent, not finished.
        let (first, q) = capture_queries(async {
            let mut rows = Book::objects().order_by(|b| b.id.asc()).iterator(&db, 1);
            rows.try_next().await.unwrap()
        })
        .await;
        assert!(first.is_some());
        assert_eq!(q.len(), 1);
        assert_eq!((q[0].rows, q[0].duration), (None, None), "{q:?}");
    })
    .await;
}

#[tokio::test]
async fn a_stream_read_after_its_capture_writes_into_no_other() {
    with_fixture(|db, _| async move {
        // The stream's statement is sent (and recorded) inside the first capture; it is
        // read to its end inside a second one, which must not get its numbers.
        let (mut rows, _) = capture_queries(async {
            let mut rows = Author::objects().order_by(|a| a.id.asc()).iterator(&db, 1);
            let first = rows.try_next().await.unwrap();
            assert!(first.is_some());
            rows
        })
        .await;
        let (rest, q) = capture_queries(async {
            let count = Book::objects().count(&db).await.unwrap();
            let mut rest = Vec::new();
            while let Some(a) = rows.try_next().await.unwrap() {
                rest.push(a);
            }
            (count, rest.len())
        })
        .await;
        assert_eq!(rest, (3, 2));
        assert_eq!(q.len(), 1, "{q:?}");
        assert_eq!(q[0].rows, Some(1), "the count's own numbers: {q:?}");
    })
    .await;
}

#[tokio::test]
async fn nested_captures_keep_the_numbers() {
    with_fixture(|db, _| async move {
        let ((inner, n), outer) =
            capture_queries(async { capture_queries(Book::objects().into_vec(&db)).await }).await;
        assert_eq!(inner.unwrap().len(), 3);
        assert_eq!(n[0].rows, Some(3));
        assert_eq!(
            outer, n,
            "the outer capture sees the inner one's statements as they ended"
        );
    })
    .await;
}
