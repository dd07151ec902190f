//! Awaiting a queryset directly uses the process-wide default database, as a web handler
//! would. Its own test binary: the default is global to the process.

use orm_sqlx::prelude::*;
use orm_tests::fixture::{self, Book};
use orm_tests::{TestDb, required_backends};

/// An axum-style handler body: no database argument, a `Send` future.
async fn list_long_books(min_pages: i32) -> Result<Vec<Book>, Error> {
    Book::objects()
        .filter(|b| b.pages.gte(min_pages))
        .order_by(|b| b.pages.desc())
        .await
}

/// The bounds axum puts on a handler: a `Clone + Send + 'static` function returning a
/// `Send` future.
fn assert_axum_handler<F, Fut>(_handler: F)
where
    F: FnOnce() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future + Send + 'static,
{
}

#[test]
fn handlers_that_await_querysets_meet_axum_bounds() {
    assert_axum_handler(|| list_long_books(100));
    assert_axum_handler(|| async {
        Book::objects()
            .filter(|b| b.title.icontains("x"))
            .await
            .map(|v| v.len())
    });
    assert_axum_handler(|| async {
        orm_tests::library::Author::objects()
            .prefetch_related(|a| a.books().tags())
            .await
            .map(|v| v.len())
    });
}

fn spawn_handler(min: i32) -> tokio::task::JoinHandle<Result<Vec<Book>, Error>> {
    tokio::spawn(list_long_books(min))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awaiting_a_queryset_uses_the_default_database() {
    let e = Book::objects().await.unwrap_err();
    assert!(matches!(e, Error::NoDefaultDatabase), "{e}");
    assert!(e.to_string().contains("Db::set_default()"));

    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        fixture::load(&t.db).await;
        t.db.set_default();
        let (books, q) = capture_queries(list_long_books(200)).await;
        let titles: Vec<_> = books.unwrap().into_iter().map(|b| b.title).collect();
        assert_eq!(titles, ["B1", "B3"]);
        assert_eq!(q.len(), 1);
        let spawned = spawn_handler(250).await.unwrap().unwrap();
        assert_eq!(spawned.len(), 1);

        // an evaluated queryset hands over its cache without a query
        let qs = Book::objects();
        qs.fetch(&t.db).await.unwrap();
        let (rows, q) = capture_queries(async { qs.await }).await;
        assert_eq!((rows.unwrap().len(), q.len()), (3, 0));
        // an empty one never queries
        let (rows, q) = capture_queries(async { Book::objects().none().await }).await;
        assert_eq!((rows.unwrap().len(), q.len()), (0, 0));
        t.cleanup().await;
    }
    awaiting_a_prefetching_queryset_takes_one_connection().await;
}

/// What a handler awaits with `prefetch_related` runs all its queries on one connection of
/// the default pool, counted on a pool of one connection
/// ([`TestDb::one_connection_pool`](orm_tests::TestDb::one_connection_pool)).
async fn awaiting_a_prefetching_queryset_takes_one_connection() {
    use std::sync::atomic::Ordering;

    use orm_tests::library::{self, Author};

    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        library::load(&t.db).await;
        let (db, acquired) = t
            .one_connection_pool(std::time::Duration::from_secs(30))
            .await;
        db.set_default();
        assert_eq!(Author::objects().count(&db).await.unwrap(), 3);
        let before = acquired.load(Ordering::SeqCst);
        let (rows, q) = capture_queries(async {
            Author::objects()
                .prefetch_related(|a| a.books().tags())
                .order_by(|a| a.name.asc())
                .await
        })
        .await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 3, "{backend:?}");
        assert_eq!(rows[0].books.all().unwrap().len(), 2);
        assert_eq!(
            acquired.load(Ordering::SeqCst) - before,
            1,
            "{backend:?}: three queries, one connection"
        );
        t.cleanup().await;
    }
}
