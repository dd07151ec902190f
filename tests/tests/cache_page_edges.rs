//! Review of issue 15's page cache, read replicas and the query cache's mends (second
//! review): each test showed one bug and failed before its fix (the "BUG" notes describe
//! the code as it was then), on every database backend (and both cache backends where a
//! cache is involved).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, header};
use axum::routing::get;
use orm_sqlx::Db;
use orm_sqlx::cache::Cache;
use orm_sqlx::prelude::*;
use orm_sqlx::replicas::{Databases, read_your_writes};
use orm_sqlx::web::CachePageLayer;
use orm_tests::cache::with_cached_library;
use orm_tests::library::Book;
use orm_tests::on_each_backend;
use tower::ServiceExt;

const TTL: Duration = Duration::from_secs(60);

async fn get_body(app: &Router, path: &str) -> String {
    let response = app
        .clone()
        .oneshot(
            Request::get(path)
                .header(header::HOST, "shop.test")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(body.to_vec()).unwrap()
}

fn titles(books: &[Book]) -> String {
    books
        .iter()
        .map(|b| b.title.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

// ---- 1. a view reading through a transaction's raw connection -------------------------

#[derive(Clone)]
struct App {
    db: Db,
    calls: Arc<AtomicUsize>,
}

/// Reads the books through `Transaction::conn()` (a `ConnRef` executor), read-only, and
/// rolls back.
async fn titles_via_tx_conn(State(app): State<App>) -> String {
    app.calls.fetch_add(1, Ordering::SeqCst);
    let mut tx = app.db.begin().await.unwrap();
    let books = Book::objects()
        .order_by(|b| b.id.asc())
        .into_vec(tx.conn())
        .await
        .unwrap();
    drop(tx);
    titles(&books)
}

/// Reads the books through the `Db` (plainly).
async fn titles_via_db(State(app): State<App>) -> String {
    app.calls.fetch_add(1, Ordering::SeqCst);
    let books = Book::objects()
        .order_by(|b| b.id.asc())
        .into_vec(&app.db)
        .await
        .unwrap();
    titles(&books)
}

fn app(db: &Db) -> (Router, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let router = Router::new()
        .route("/tx-conn", get(titles_via_tx_conn))
        .route("/books", get(titles_via_db))
        .with_state(App {
            db: db.clone(),
            calls: calls.clone(),
        })
        .layer(CachePageLayer::new(db, TTL).unwrap());
    (router, calls)
}

/// BUG: `Transaction::conn()` / `Connection::conn()` (orm-sqlx/src/conn.rs) count as
/// having *written* every table, but never note an unknown *read* (`note_reads(
/// &[UNKNOWN_TABLES])`): what a view (or a `cached_as` computation) reads through the
/// `ConnRef` — ORM querysets or raw sqlx — is invisible to `NotingReads`. The page cache
/// sees a view that read no table, keeps its answer at once against the epoch alone
/// (cache_page.rs, `tables.is_empty()`), and a later write to `books` does not invalidate
/// it (a read-only transaction rolls back: the "write everything" bump never happens).
#[tokio::test]
async fn a_page_read_through_a_raw_transaction_connection_is_invalidated_by_a_write() {
    with_cached_library("cache_review_two", "tx_conn", |db, _, lib| async move {
        let (app, calls) = app(&db);
        let first = get_body(&app, "/tx-conn").await;
        assert!(first.starts_with(&lib.b1.title), "{first}");
        for _ in 0..2 {
            assert_eq!(get_body(&app, "/tx-conn").await, first);
        }
        let kept = calls.load(Ordering::SeqCst) < 3;
        Book::objects()
            .filter(|b| b.id.eq(lib.b1.id))
            .update(|b| [b.title.set("Written")], &db)
            .await
            .unwrap();
        let after = get_body(&app, "/tx-conn").await;
        assert!(
            after.starts_with("Written"),
            "the view read `books` through tx.conn(); the page (kept: {kept}) survived a \
             write to `books`: {after}"
        );
    })
    .await;
}

// ---- 2. the page cache ignores the tables an abandoned write left unsettled -----------

/// BUG: a write abandoned mid-statement leaves its tables *unsettled* for 30 s
/// (`QueryCache::abandoned`): `plan` reads them from the database meanwhile. The page
/// cache's `lookup_tables` (cache/query.rs) never asks `unsettled`: a page stored after
/// the first bump (with the rows before the server finished the write) is served after
/// the write has landed, until the second bump 30 s later.
#[tokio::test]
async fn a_page_is_not_served_stale_while_an_abandoned_write_may_still_land() {
    with_cached_library(
        "cache_review_two",
        "abandoned_page",
        |db, _, lib| async move {
            let id = lib.b1.id;
            let (app, _) = app(&db);
            // The first answer teaches the layer the view reads `books`.
            let first = get_body(&app, "/books").await;
            assert!(first.starts_with(&lib.b1.title), "{first}");
            let holder = orm_tests::cache::abandon_a_write_to(&db, id).await;
            // The page is answered (and kept) while the write is still pending.
            for _ in 0..2 {
                let mid = get_body(&app, "/books").await;
                assert!(mid.starts_with(&lib.b1.title), "{mid}");
            }
            // The lock goes; the server finishes the abandoned UPDATE.
            holder.rollback().await.unwrap();
            orm_tests::cache::wait_for_title(&db, id, "Landed").await;
            let after = get_body(&app, "/books").await;
            assert!(
                after.starts_with("Landed"),
                "the abandoned write landed: the page is stale: {after}"
            );
        },
    )
    .await;
}

// ---- 3. read replicas ------------------------------------------------------------------

async fn title(ex: &Databases, id: i64) -> String {
    Book::objects().get_pk(id, ex).await.unwrap().title
}

/// BUG: `Databases::atomic` and `Databases::begin` (orm-sqlx/src/replicas.rs) run on the
/// primary but never `note_write()`: inside `read_your_writes`, a write made in a
/// transaction through the `Databases` does not send the reads that follow to the
/// primary — they read the (lagging) replica and miss the write, contrary to "reads that
/// follow a write go to the primary".
#[tokio::test]
async fn a_write_in_a_databases_transaction_sends_later_reads_to_the_primary() {
    on_each_backend(|_, backend| async move {
        let (p, r, lib) = orm_tests::replica_pair(backend).await;
        let dbs = Databases::new(p.db.clone())
            .replica("replica", r.db.clone())
            .unwrap();
        let id = lib.b2.id;
        let via_atomic = read_your_writes(async {
            dbs.atomic(|tx| {
                Box::pin(async move {
                    Book::objects()
                        .filter(|b| b.id.eq(id))
                        .update(|b| [b.title.set("Mine")], &mut *tx)
                        .await
                })
            })
            .await
            .unwrap();
            title(&dbs, id).await
        })
        .await;
        let via_begin = read_your_writes(async {
            let mut tx = dbs.begin().await.unwrap();
            Book::objects()
                .filter(|b| b.id.eq(id))
                .update(|b| [b.title.set("Mine again")], &mut tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            title(&dbs, id).await
        })
        .await;
        p.cleanup().await;
        r.cleanup().await;
        assert_eq!(
            (via_atomic.as_str(), via_begin.as_str()),
            ("Mine", "Mine again"),
            "a read after a write in dbs.atomic / dbs.begin inside read_your_writes went to \
             the replica"
        );
    })
    .await;
}

/// BUG: reads through `&Databases` go to the primary for a cached queryset ("a lagging
/// replica's rows would be kept for everyone"), but not while the page cache's view (or a
/// `cached_as` computation) runs: `route` only looks at `cache_request()`, not at a
/// running `NotingReads`. The page is stored with the versions read *after* the primary's
/// write and the replica's rows from *before* it; once the replica catches up, the page
/// (and the `cached_as` value) still shows the old row for the whole TTL.
#[tokio::test]
async fn the_page_cache_and_cached_as_never_keep_a_lagging_replicas_rows() {
    on_each_backend(|_, backend| async move {
        let (p, r, lib) = orm_tests::replica_pair(backend).await;
        let primary = p.db.clone().with_cache(Cache::local(1 << 20));
        let dbs = Databases::new(primary.clone())
            .replica("replica", r.db.clone())
            .unwrap();
        let id = lib.b1.id;
        #[derive(Clone)]
        struct St(Databases, i64);
        async fn view(State(St(dbs, id)): State<St>) -> String {
            title(&dbs, id).await
        }
        let app = Router::new()
            .route("/b1", get(view))
            .with_state(St(dbs.clone(), id))
            .layer(CachePageLayer::new(&primary, TTL).unwrap());
        let qc = primary.cache().unwrap();
        let computed = || {
            qc.cached_as(&[Book::META], "b1-title", TTL, || async {
                Ok(title(&dbs, id).await)
            })
        };
        // The first answer teaches the layer the view reads `books`.
        let _ = get_body(&app, "/b1").await;
        // A write on the primary; the replica lags behind.
        Book::objects()
            .filter(|b| b.id.eq(id))
            .update(|b| [b.title.set("New")], &dbs)
            .await
            .unwrap();
        let _ = get_body(&app, "/b1").await;
        let _: String = computed().await.unwrap();
        // The replica catches up.
        Book::objects()
            .filter(|b| b.id.eq(id))
            .update(|b| [b.title.set("New")], &r.db)
            .await
            .unwrap();
        assert_eq!(orm_tests::cache::title_in_db(&p.db, id).await, "New");
        assert_eq!(orm_tests::cache::title_in_db(&r.db, id).await, "New");
        let page = get_body(&app, "/b1").await;
        let value: String = computed().await.unwrap();
        p.cleanup().await;
        r.cleanup().await;
        assert_eq!(
            (page.as_str(), value.as_str()),
            ("New", "New"),
            "both databases say New: the page cache / cached_as kept the lagging replica's row"
        );
    })
    .await;
}
