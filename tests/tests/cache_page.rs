//! Issue 15, part 4: `orm_sqlx::web::CachePageLayer` (Django's `cache_page`) around an
//! axum application, called without a server: GET/HEAD answers kept and served without
//! calling the view, keyed by the URL and the `Vary` headers; never for cookies, private
//! or no-store answers, other methods, or views running raw SQL; invalidated by a write
//! to a table the view read, on every database backend and both cache backends.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use orm_sqlx::cache::Cache;
use orm_sqlx::prelude::*;
use orm_sqlx::web::{CachePageLayer, never_cache};
use orm_tests::library::{self, Book};
use orm_tests::on_each_backend;
use tower::ServiceExt;

const TTL: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct App {
    db: Db,
    calls: Arc<AtomicUsize>,
}

/// The books' titles and pages: reads `books`.
async fn books(State(app): State<App>) -> String {
    app.calls.fetch_add(1, Ordering::SeqCst);
    let books = Book::objects()
        .order_by(|b| b.id.asc())
        .into_vec(&app.db)
        .await
        .unwrap();
    books
        .iter()
        .map(|b| format!("{}:{}", b.title, b.pages))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Answers in the language asked, varying on it.
async fn greeting(State(app): State<App>, headers: HeaderMap) -> Response {
    app.calls.fetch_add(1, Ordering::SeqCst);
    let lang = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("en")
        .to_owned();
    (
        [(header::VARY, "Accept-Language")],
        format!("hello in {lang}"),
    )
        .into_response()
}

async fn with_cookie(State(app): State<App>) -> Response {
    app.calls.fetch_add(1, Ordering::SeqCst);
    ([(header::SET_COOKIE, "session=1")], "cookie").into_response()
}

async fn private(State(app): State<App>) -> Response {
    app.calls.fetch_add(1, Ordering::SeqCst);
    ([(header::CACHE_CONTROL, "private")], "mine").into_response()
}

async fn never(State(app): State<App>) -> Response {
    app.calls.fetch_add(1, Ordering::SeqCst);
    let mut r = "never".into_response();
    never_cache(&mut r);
    r
}

async fn raw(State(app): State<App>) -> String {
    app.calls.fetch_add(1, Ordering::SeqCst);
    let books: Vec<Book> = Book::objects()
        .raw("SELECT * FROM books", ())
        .into_vec(&app.db)
        .await
        .unwrap();
    format!("{}", books.len())
}

fn app(db: &Db) -> (Router, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let state = App {
        db: db.clone(),
        calls: calls.clone(),
    };
    let router = Router::new()
        .route("/books", get(books).post(books))
        .route("/greeting", get(greeting))
        .route("/cookie", get(with_cookie))
        .route("/private", get(private))
        .route("/never", get(never))
        .route("/raw", get(raw))
        .with_state(state)
        .layer(CachePageLayer::new(db, TTL).unwrap());
    (router, calls)
}

async fn send(
    app: &Router,
    request: axum::http::request::Builder,
) -> (StatusCode, HeaderMap, String) {
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn get_req(path: &str) -> axum::http::request::Builder {
    Request::get(path).header(header::HOST, "shop.test")
}

/// Run `test` on every database backend, once per cache backend.
async fn with_cached_db<F, Fut>(name: &str, test: F)
where
    F: Fn(Db) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for index in 0..2 {
        on_each_backend(|db, _| {
            let test = &test;
            async move {
                library::load(&db).await;
                let caches = orm_tests::cache::backends("cache_page", name).await;
                if let Some((cache_name, cache)) = caches.into_iter().nth(index) {
                    eprintln!("-- cache: {cache_name}");
                    test(db.with_cache(cache)).await;
                }
            }
        })
        .await;
    }
}

#[tokio::test]
async fn a_page_is_kept_and_invalidated_by_a_write_to_a_table_its_view_read() {
    with_cached_db("invalidate", |db| async move {
        let (app, calls) = app(&db);
        // HEAD first: its empty answer is never kept as the page.
        let head = || Request::head("/books").header(header::HOST, "shop.test");
        for _ in 0..3 {
            assert_eq!(send(&app, head()).await.2, "");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3, "a HEAD miss is not kept");
        calls.store(0, Ordering::SeqCst);
        let (status, headers, first) = send(&app, get_req("/books")).await;
        assert!(first.contains("B1:"), "{first}");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CACHE_CONTROL], "max-age=60");
        // The first answer teaches the tables, the second is kept, the third is served.
        assert_eq!(send(&app, get_req("/books")).await.2, first);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let (_, headers, third) = send(&app, get_req("/books")).await;
        assert_eq!(third, first);
        assert_eq!(headers[header::CACHE_CONTROL], "max-age=60");
        assert_eq!(calls.load(Ordering::SeqCst), 2, "served from the cache");
        // HEAD is served from GET's page, without a body.
        let (status, _, body) = send(
            &app,
            Request::head("/books").header(header::HOST, "shop.test"),
        )
        .await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, ""));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // Another host is another page.
        send(
            &app,
            Request::get("/books").header(header::HOST, "other.test"),
        )
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        // A write to `books` through the ORM: the next answer is fresh.
        Book::objects()
            .filter(|b| b.title.eq("B1"))
            .update(|b| [b.pages.set(999)], &db)
            .await
            .unwrap();
        let (_, _, fresh) = send(&app, get_req("/books")).await;
        assert!(fresh.contains("B1:999"), "{fresh}");
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(send(&app, get_req("/books")).await.2, fresh);
        assert_eq!(calls.load(Ordering::SeqCst), 4, "kept again");
        // POST is never served from the cache.
        send(
            &app,
            Request::post("/books").header(header::HOST, "shop.test"),
        )
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    })
    .await;
}

#[tokio::test]
async fn vary_headers_key_the_page() {
    with_cached_db("vary", |db| async move {
        let (app, calls) = app(&db);
        let fr = || get_req("/greeting").header(header::ACCEPT_LANGUAGE, "fr");
        let de = || get_req("/greeting").header(header::ACCEPT_LANGUAGE, "de");
        for _ in 0..3 {
            assert_eq!(send(&app, fr()).await.2, "hello in fr");
        }
        // No table read: the second answer is kept, the third served.
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(send(&app, de()).await.2, "hello in de");
        assert_eq!(send(&app, de()).await.2, "hello in de");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(send(&app, fr()).await.2, "hello in fr");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    })
    .await;
}

#[tokio::test]
async fn cookies_private_no_store_and_raw_sql_are_never_kept() {
    with_cached_db("never", |db| async move {
        let (app, calls) = app(&db);
        for path in ["/cookie", "/private", "/never", "/raw"] {
            let before = calls.load(Ordering::SeqCst);
            for _ in 0..4 {
                let (status, _, _) = send(&app, get_req(path)).await;
                assert_eq!(status, StatusCode::OK, "{path}");
            }
            assert_eq!(calls.load(Ordering::SeqCst), before + 4, "{path} was kept");
        }
    })
    .await;
}

#[tokio::test]
async fn a_database_without_a_cache_is_refused() {
    on_each_backend(|db, _| async move {
        let err = CachePageLayer::new(&db, TTL).unwrap_err();
        assert!(matches!(err, orm_sqlx::Error::InvalidInput(_)), "{err}");
        assert!(err.to_string().contains("with_cache"), "{err}");
        let _ = Cache::local(1);
    })
    .await;
}
