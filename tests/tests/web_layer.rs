//! Issue 14, part 4: `orm_sqlx::web::QueryLayer` around an axum application, called
//! without a server (`tower::ServiceExt::oneshot`), on every backend: the per-request
//! Server-Timing and X-Query-Count headers, and the debug panel's pages (the list, each
//! request's statements and findings, escaping, bound values, its bound, its 4xx pages).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::routing::get;
use axum::{Extension, body::Bytes};
use orm_sqlx::prelude::*;
use orm_sqlx::web::{PanelLink, QueryLayer};
use orm_tests::fixture::{Author, Book};
use orm_tests::{library, with_fixture, with_library};
use tower::ServiceExt;

/// B1 and B2 are Alice's, B3 Bob's: one query for the books, then one per book for its
/// author (the N+1 pattern): 4 statements, Alice's twice (a duplicate), all three similar.
async fn books(State(db): State<Db>) -> String {
    let books = Book::objects()
        .order_by(|b| b.id.asc())
        .into_vec(&db)
        .await
        .unwrap();
    let mut names = Vec::new();
    for book in books {
        names.push(
            Author::objects()
                .get_pk(book.author_id, &db)
                .await
                .unwrap()
                .name,
        );
    }
    names.join(", ")
}

/// One statement.
async fn count(State(db): State<Db>) -> String {
    Book::objects().count(&db).await.unwrap().to_string()
}

/// BEGIN, a count, COMMIT: three statements.
async fn in_transaction(State(db): State<Db>) -> String {
    let mut tx = db.begin().await.unwrap();
    let n = Book::objects().count(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    n.to_string()
}

/// A statement sent from a spawned task: not the request's.
async fn spawned(State(db): State<Db>) -> String {
    let n = tokio::spawn(async move { Book::objects().count(&db).await.unwrap() })
        .await
        .unwrap();
    n.to_string()
}

/// An author by the `x-name` header, so that a test chooses the value bound (and the
/// value is nowhere else in the request's record).
async fn search(State(db): State<Db>, headers: HeaderMap) -> String {
    let name = headers["x-name"].to_str().unwrap().to_owned();
    let found = Author::objects()
        .filter(|a| a.name.eq(name))
        .into_vec(&db)
        .await
        .unwrap();
    found.len().to_string()
}

/// A statement whose text holds markup.
async fn markup(State(db): State<Db>) -> &'static str {
    db.execute_raw("SELECT '<script>alert(1)</script>' AS x")
        .await
        .unwrap();
    "done"
}

/// The request's panel page, as a handler sees it.
async fn link(link: Option<Extension<PanelLink>>) -> String {
    link.map_or_else(|| "none".into(), |Extension(PanelLink(href))| href)
}

fn app(db: Db) -> Router {
    Router::new()
        .route("/books", get(books))
        .route("/count", get(count).post(count))
        .route("/tx", get(in_transaction))
        .route("/spawned", get(spawned))
        .route("/search", get(search))
        .route("/markup", get(markup))
        .route("/link", get(link))
        .route("/__orm", get(|| async { "the application's own /__orm" }))
        .with_state(db)
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The query count header, as a number.
    fn count(&self) -> usize {
        self.header("x-query-count")
            .unwrap_or_else(|| panic!("no X-Query-Count: {:?}", self.headers))
            .parse()
            .unwrap()
    }

    /// The address of this request's panel page.
    fn panel(&self) -> &str {
        self.header("x-debug-panel")
            .unwrap_or_else(|| panic!("no X-Debug-Panel: {:?}", self.headers))
    }
}

async fn call(app: &Router, method: Method, uri: &str) -> Reply {
    let request = Request::builder().method(method).uri(uri);
    send(app, request).await
}

async fn send(app: &Router, request: axum::http::request::Builder) -> Reply {
    let request = request.body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    Reply {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn get_(app: &Router, uri: &str) -> Reply {
    call(app, Method::GET, uri).await
}

/// `db;dur=<ms>;desc="<n> queries", total;dur=<ms>`, each duration with one decimal.
fn check_server_timing(value: &str, n: usize) {
    let (db, total) = value.split_once(", ").unwrap_or_else(|| panic!("{value}"));
    let db = db
        .strip_prefix("db;dur=")
        .and_then(|d| d.strip_suffix(&format!(";desc=\"{n} queries\"")))
        .unwrap_or_else(|| panic!("{value}"));
    let total = total
        .strip_prefix("total;dur=")
        .unwrap_or_else(|| panic!("{value}"));
    for ms in [db, total] {
        let (whole, decimals) = ms.split_once('.').unwrap_or_else(|| panic!("{value}"));
        assert!(whole.parse::<u64>().is_ok(), "{value}");
        assert!(
            decimals.len() == 1 && decimals.parse::<u8>().is_ok(),
            "{value}"
        );
    }
    let (db, total): (f64, f64) = (db.parse().unwrap(), total.parse().unwrap());
    assert!(db <= total + 0.1, "{value}");
}

/// The rows of the detail page's statement table.
fn query_rows(html: &str) -> Vec<&str> {
    let table = html
        .split_once("<table id=\"queries\">")
        .unwrap_or_else(|| panic!("no statement table:\n{html}"))
        .1;
    let table = table.split_once("</table>").unwrap().0;
    table.split("<tr class=\"query").skip(1).collect()
}

/// The rows of the list page.
fn request_rows(html: &str) -> Vec<&str> {
    match html.split_once("<table id=\"requests\">") {
        Some((_, table)) => table
            .split_once("</table>")
            .unwrap()
            .0
            .split("<tr class=\"request\"")
            .skip(1)
            .collect(),
        None => Vec::new(),
    }
}

/// The text of the element with `id` (up to its first tag).
fn by_id<'a>(html: &'a str, id: &str) -> &'a str {
    let from = html
        .split_once(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no #{id}:\n{html}"))
        .1;
    from.split_once('<').map_or(from, |(text, _)| text)
}

#[tokio::test]
async fn every_response_counts_and_times_its_statements() {
    with_fixture(|db, _| async move {
        let app = app(db.clone()).layer(QueryLayer::new());
        for (uri, n, body) in [
            ("/books", 4, "Alice, Alice, Bob"),
            ("/count", 1, "3"),
            // BEGIN and COMMIT are statements too.
            ("/tx", 3, "3"),
            // The spawned task's count ran (its result is the body) but is not the
            // request's.
            ("/spawned", 0, "3"),
        ] {
            let reply = get_(&app, uri).await;
            assert_eq!(reply.status, StatusCode::OK, "{uri}");
            assert_eq!(reply.body, body, "{uri}: the body passes through");
            assert_eq!(reply.count(), n, "{uri}");
            check_server_timing(reply.header("server-timing").unwrap(), n);
            assert!(reply.header("x-debug-panel").is_none(), "{uri}: no panel");
        }
        // The application's own 404 is counted too.
        let reply = get_(&app, "/nowhere").await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert_eq!(reply.count(), 0);

        // Without the headers, the response is the application's alone.
        let quiet = self::app(db).layer(QueryLayer::new().headers(false));
        let reply = get_(&quiet, "/books").await;
        assert_eq!(reply.body, "Alice, Alice, Bob");
        assert!(reply.header("x-query-count").is_none());
        assert!(reply.header("server-timing").is_none());
    })
    .await;
}

#[tokio::test]
async fn the_panel_is_off_by_default_and_its_path_is_the_applications() {
    with_fixture(|db, _| async move {
        let app = app(db).layer(QueryLayer::new());
        let reply = get_(&app, "/__orm").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, "the application's own /__orm");
        assert_eq!(reply.count(), 0, "an application request like any other");
        let reply = get_(&app, "/link").await;
        assert_eq!(reply.body, "none", "no PanelLink without a panel");
    })
    .await;
}

#[tokio::test]
async fn the_panel_lists_requests_and_shows_each_ones_statements_and_findings() {
    with_fixture(|db, _| async move {
        let app = app(db).layer(QueryLayer::new().debug_panel("/__orm").unwrap());
        let books = get_(&app, "/books").await;
        assert_eq!(books.body, "Alice, Alice, Bob");
        assert_eq!(books.count(), 4);
        let count = get_(&app, "/count?x=1").await;
        assert_eq!(count.count(), 1);
        let books_page = books.panel().to_owned();
        let count_page = count.panel().to_owned();
        assert!(books_page.starts_with("/__orm/"), "{books_page}");
        let id = |page: &str| page.rsplit('/').next().unwrap().parse::<u64>().unwrap();
        assert!(id(&count_page) > id(&books_page), "ids increase");

        // The handler's PanelLink is the header's address.
        let linked = get_(&app, "/link").await;
        assert_eq!(linked.body, linked.panel());

        // The list: newest first, with the counts, links and a mark on /books.
        let list = get_(&app, "/__orm").await;
        assert_eq!(list.status, StatusCode::OK);
        assert_eq!(
            list.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert!(
            list.header("x-query-count").is_none(),
            "the panel is not counted"
        );
        let rows = request_rows(&list.body);
        assert_eq!(rows.len(), 3, "{}", list.body);
        assert!(rows[0].contains("/link"), "newest first: {}", rows[0]);
        // The query string is dropped with the values (show_params is off).
        assert!(
            rows[1].contains("/count?…") && !rows[1].contains("x=1"),
            "{}",
            rows[1]
        );
        assert!(rows[1].contains("<td class=\"num queries\">1</td>"));
        assert!(!rows[1].contains("mark findings"), "{}", rows[1]);
        assert!(
            rows[2].contains(&format!("href=\"{books_page}\"")),
            "{}",
            rows[2]
        );
        assert!(rows[2].contains("<td class=\"method\">GET</td>"));
        assert!(rows[2].contains("<td class=\"num status\">200</td>"));
        assert!(
            rows[2].contains("<td class=\"num queries\">4</td>"),
            "{}",
            rows[2]
        );
        assert!(
            rows[2].contains("<span class=\"mark findings\">duplicates, similar</span>"),
            "{}",
            rows[2]
        );
        // The panel's own requests are never recorded.
        get_(&app, &books_page).await;
        get_(&app, "/__orm/").await;
        get_(&app, "/__orm/999").await;
        assert_eq!(request_rows(&get_(&app, "/__orm").await.body).len(), 3);

        // The detail page of /books.
        let page = get_(&app, &books_page).await;
        assert_eq!(page.status, StatusCode::OK);
        let html = &page.body;
        assert_eq!(by_id(html, "target"), "/books");
        assert_eq!(by_id(html, "status"), "200");
        assert_eq!(by_id(html, "total-queries"), "4");
        assert!(by_id(html, "db-time").ends_with(" ms"), "{html}");
        let rows = query_rows(html);
        assert_eq!(rows.len(), 4, "{html}");
        for row in &rows {
            assert!(row.contains("<span class=\"kw\">SELECT</span>"), "{row}");
            assert!(row.contains("<td class=\"kind\">SELECT</td>"), "{row}");
        }
        assert!(rows[0].contains("books"), "{}", rows[0]);
        assert!(
            rows[0].contains("<td class=\"num rows\">3</td>"),
            "{}",
            rows[0]
        );
        assert!(
            rows[0].starts_with("\" id=\"q1\""),
            "no mark on q1: {}",
            rows[0]
        );
        assert!(rows[1].contains("authors"), "{}", rows[1]);
        assert!(
            rows[1].contains("<td class=\"num rows\">1</td>"),
            "{}",
            rows[1]
        );
        for (row, marks) in rows.iter().zip([
            &[][..],
            &["duplicate ×2", "similar ×3"][..],
            &["duplicate ×2", "similar ×3"][..],
            &["similar ×3"][..],
        ]) {
            for mark in ["duplicate ×", "similar ×"] {
                let expected = marks.iter().filter(|m| m.starts_with(mark)).count();
                assert_eq!(row.matches(mark).count(), expected, "{mark} in {row}");
            }
            for mark in marks {
                assert!(row.contains(mark), "{mark} in {row}");
            }
        }
        let findings = html
            .split_once("<section id=\"findings\">")
            .unwrap()
            .1
            .split_once("</section>")
            .unwrap()
            .0;
        assert_eq!(
            findings.matches("<li class=\"finding duplicate\">").count(),
            1
        );
        assert_eq!(
            findings.matches("<li class=\"finding similar\">").count(),
            1
        );
        assert!(findings.contains("statements <a href=\"#q2\">2</a>, <a href=\"#q3\">3</a>)"));
        // Values are not kept by default.
        assert!(html.contains("id=\"params-hidden\""));
        assert!(!html.contains("class=\"param\""));

        // A request without findings says so.
        let page = get_(&app, &count_page).await;
        assert_eq!(by_id(&page.body, "target"), "/count?…");
        assert_eq!(by_id(&page.body, "total-queries"), "1");
        assert!(page.body.contains("<p class=\"none\">Nothing found.</p>"));
        assert_eq!(query_rows(&page.body).len(), 1);
    })
    .await;
}

async fn search_for(app: &Router, name: &str) -> Reply {
    send(app, Request::get("/search").header("x-name", name)).await
}

/// Each book's author loaded lazily, one query per book (an N+1), on line `LAZY_LINE`.
async fn lazy(State(db): State<Db>) -> String {
    let mut books = library::Book::objects()
        .order_by(|b| b.id.asc())
        .into_vec(&db)
        .await
        .unwrap();
    let mut names = Vec::new();
    for b in &mut books {
        names.push(b.author.load(&db).await.unwrap().name.clone()); // LAZY_LINE
    }
    names.join(", ")
}

/// The authors joined (`select_related`) and never read: an unnecessary load.
async fn eager(State(db): State<Db>) -> String {
    let books = library::Book::objects().select_related(|b| b.author());
    books.fetch(&db).await.unwrap().len().to_string()
}

/// The line of this file marked `LAZY_LINE`.
fn lazy_line() -> usize {
    include_str!("web_layer.rs")
        .lines()
        .position(|l| l.ends_with("// LAZY_LINE"))
        .unwrap()
        + 1
}

#[tokio::test]
async fn n_plus_one_and_unnecessary_loads_are_shown_with_their_fix_and_origin() {
    with_library(|db, _, _| async move {
        let app = Router::new()
            .route("/lazy", get(lazy))
            .route("/eager", get(eager))
            .with_state(db)
            .layer(QueryLayer::new().debug_panel("/__orm").unwrap());
        let reply = get_(&app, "/lazy").await;
        assert_eq!(reply.body, "Alice, Alice, Bob");
        assert_eq!(reply.count(), 4);
        let html = get_(&app, reply.panel()).await.body;
        let findings = section(&html, "findings");
        let n1: Vec<&str> = findings
            .split("<li class=\"finding n-plus-one\">")
            .skip(1)
            .collect();
        assert_eq!(n1.len(), 1, "{findings}");
        let origin = format!("{}:{}", file!(), lazy_line());
        for text in [
            "<span class=\"mark n-plus-one\">N+1 ×3</span>",
            "<code class=\"relation\">Book.author</code>",
            "<code class=\"fix\">select_related(|b| b.author())</code>",
            &format!("<code class=\"origin\">{origin}</code>"),
        ] {
            assert!(n1[0].contains(text), "{text} not in {}", n1[0]);
        }
        let rows = query_rows(&html);
        assert_eq!(rows.len(), 4);
        assert!(!rows[0].contains("N+1"), "{}", rows[0]);
        for row in &rows[1..] {
            assert!(
                row.starts_with(" n-plus-one duplicate similar\"")
                    || row.starts_with(" n-plus-one similar\""),
                "{row}"
            );
            assert!(
                row.contains("<span class=\"mark n-plus-one\">N+1 ×3</span>"),
                "{row}"
            );
            assert!(
                row.contains(&format!("<td class=\"origin\">{origin}</td>")),
                "{row}"
            );
            assert!(
                row.contains("<span class=\"load lazy\">Book.author (lazy)</span>"),
                "{row}"
            );
        }
        let list = get_(&app, "/__orm").await.body;
        assert!(
            list.contains("<span class=\"mark findings\">N+1, duplicates, similar</span>"),
            "{list}"
        );

        let reply = get_(&app, "/eager").await;
        assert_eq!((reply.body.as_str(), reply.count()), ("3", 1));
        let html = get_(&app, reply.panel()).await.body;
        let findings = section(&html, "findings");
        let unneeded: Vec<&str> = findings
            .split("<li class=\"finding unnecessary\">")
            .skip(1)
            .collect();
        assert_eq!(unneeded.len(), 1, "{findings}");
        assert!(
            unneeded[0].contains("<code class=\"relation\">Book.author</code>"),
            "{}",
            unneeded[0]
        );
        assert!(
            unneeded[0].contains("<code class=\"fix\">select_related(|b| b.author())</code>"),
            "{}",
            unneeded[0]
        );
        let rows = query_rows(&html);
        assert!(rows[0].starts_with(" unnecessary\""), "{}", rows[0]);
        assert!(
            rows[0].contains(
                "<span class=\"load select-related\">Book.author (select_related)</span>"
            ),
            "{}",
            rows[0]
        );
        assert!(
            rows[0].contains(&format!("<td class=\"origin\">{}:", file!())),
            "{}",
            rows[0]
        );
    })
    .await;
}

/// The inside of `<section id="{id}">`.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    html.split_once(&format!("<section id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no #{id}:\n{html}"))
        .1
        .split_once("</section>")
        .unwrap()
        .0
}

#[tokio::test]
async fn values_are_kept_only_when_asked_and_everything_is_escaped() {
    with_fixture(|db, _| async move {
        let hidden = app(db.clone()).layer(QueryLayer::new().debug_panel("/__orm").unwrap());
        let reply = search_for(&hidden, "Zebulon").await;
        assert_eq!(reply.body, "0");
        let page = get_(&hidden, reply.panel()).await.body;
        assert!(!page.contains("Zebulon"), "the value is not kept:\n{page}");
        assert!(page.contains("id=\"params-hidden\""));

        let shown = app(db).layer(
            QueryLayer::new()
                .debug_panel("/__orm")
                .unwrap()
                .show_params(true),
        );
        let reply = search_for(&shown, "Alice").await;
        assert_eq!(reply.body, "1");
        let page = get_(&shown, reply.panel()).await.body;
        assert!(
            page.contains("<code class=\"param\">&#39;Alice&#39;</code>"),
            "{page}"
        );
        assert!(!page.contains("params-hidden"));

        // Markup in a value and in the SQL itself; quotes in a path (`<` and `>` cannot be
        // in a URI: `http` refuses them).
        let reply = search_for(&shown, "<script>alert(1)</script>").await;
        let value_page = get_(&shown, reply.panel()).await.body;
        let reply = get_(&shown, "/\"onmouseover='alert(2)'").await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        let path_page = get_(&shown, reply.panel()).await.body;
        let reply = get_(&shown, "/markup").await;
        assert_eq!(reply.count(), 1);
        let sql_page = get_(&shown, reply.panel()).await.body;
        let list = get_(&shown, "/__orm").await.body;
        let quoted = "/&quot;onmouseover=&#39;alert(2)&#39;";
        for (html, text) in [
            (&value_page, "&lt;script&gt;alert(1)&lt;/script&gt;"),
            (&path_page, quoted),
            (&sql_page, "&#39;&lt;script&gt;alert(1)&lt;/script&gt;&#39;"),
            (&list, quoted),
        ] {
            assert!(!html.contains("<script"), "unescaped markup:\n{html}");
            assert!(!html.contains("\"onmouseover"), "unescaped quote:\n{html}");
            assert!(html.contains(text), "{text} not in\n{html}");
        }
        assert_eq!(by_id(&path_page, "target"), quoted);
        // The value page bound it: the escaped value is in the statement's values.
        assert!(value_page.contains(
            "<code class=\"param\">&#39;&lt;script&gt;alert(1)&lt;/script&gt;&#39;</code>"
        ));
    })
    .await;
}

#[tokio::test]
async fn the_panel_keeps_the_last_n_requests() {
    with_fixture(|db, _| async move {
        let app = self::app(db.clone()).layer(
            QueryLayer::new()
                .debug_panel("/__orm")
                .unwrap()
                .keep(2)
                .show_params(true),
        );
        let first = get_(&app, "/count?1").await.panel().to_owned();
        let second = get_(&app, "/count?2").await.panel().to_owned();
        let third = get_(&app, "/count?3").await.panel().to_owned();
        let list = get_(&app, "/__orm").await.body;
        let rows = request_rows(&list);
        assert_eq!(rows.len(), 2, "{list}");
        assert!(rows[0].contains("/count?3") && rows[1].contains("/count?2"));
        assert_eq!(get_(&app, &first).await.status, StatusCode::NOT_FOUND);
        assert_eq!(get_(&app, &second).await.status, StatusCode::OK);
        assert_eq!(get_(&app, &third).await.status, StatusCode::OK);

        // keep(0): nothing is kept, every page is gone.
        let none = self::app(db).layer(QueryLayer::new().debug_panel("/__dbg").unwrap().keep(0));
        let page = get_(&none, "/count").await.panel().to_owned();
        assert!(page.starts_with("/__dbg/"), "{page}");
        assert_eq!(get_(&none, &page).await.status, StatusCode::NOT_FOUND);
        let list = get_(&none, "/__dbg").await.body;
        assert!(list.contains("id=\"empty\""), "{list}");
    })
    .await;
}

#[tokio::test]
async fn bad_panel_requests_are_4xx_pages() {
    with_fixture(|db, _| async move {
        let app = app(db).layer(QueryLayer::new().debug_panel("/__orm/").unwrap());
        let recorded = get_(&app, "/count").await.panel().to_owned();
        assert_eq!(get_(&app, &recorded).await.status, StatusCode::OK);
        for uri in [
            "/__orm/999",
            "/__orm/abc",
            "/__orm/-1",
            "/__orm/+1",
            "/__orm/1/2",
            "/__orm/99999999999999999999999999",
        ] {
            let reply = get_(&app, uri).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}");
            assert!(
                reply.body.contains("id=\"not-found\""),
                "{uri}: {}",
                reply.body
            );
            assert!(reply.header("x-query-count").is_none(), "{uri}");
        }
        for (method, uri) in [
            (Method::POST, "/__orm"),
            (Method::DELETE, &*recorded),
            (Method::PUT, "/__orm/999"),
        ] {
            let reply = call(&app, method.clone(), uri).await;
            assert_eq!(
                reply.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {uri}"
            );
            assert_eq!(reply.header("allow"), Some("GET, HEAD"));
            assert!(reply.body.contains("id=\"method-not-allowed\""));
        }
        let head = call(&app, Method::HEAD, &recorded).await;
        assert_eq!(head.status, StatusCode::OK);
        assert_eq!(head.body, "");
        // Next to the panel's path is the application's.
        assert_eq!(get_(&app, "/__ormx").await.status, StatusCode::NOT_FOUND);
        let rows = request_rows(&get_(&app, "/__orm").await.body).len();
        assert_eq!(rows, 2, "/count and /__ormx, nothing else");
        // A POST to the application is the application's, and recorded.
        let post = call(&app, Method::POST, "/count").await;
        assert_eq!(post.count(), 1);
        let page = get_(&app, post.panel()).await.body;
        assert_eq!(by_id(&page, "method"), "POST");
    })
    .await;
}

#[tokio::test]
async fn a_streamed_body_is_passed_on_as_it_comes() {
    with_fixture(|db, _| async move {
        let (send, receive) = tokio::sync::oneshot::channel::<&'static str>();
        let receive = Arc::new(Mutex::new(Some(receive)));
        let app = Router::new()
            .route(
                "/stream",
                get(move |State(db): State<Db>| {
                    let receive = receive.lock().unwrap().take().unwrap();
                    async move {
                        let n = Book::objects().count(&db).await.unwrap();
                        let later = futures_util::stream::once(async move {
                            Ok::<_, Infallible>(Bytes::from(receive.await.unwrap()))
                        });
                        let head = futures_util::stream::once(async move {
                            Ok::<_, Infallible>(Bytes::from(format!("{n} books; ")))
                        });
                        Body::from_stream(futures_util::StreamExt::chain(head, later))
                    }
                }),
            )
            .with_state(db)
            .layer(QueryLayer::new().debug_panel("/__orm").unwrap());
        let request = Request::get("/stream").body(Body::empty()).unwrap();
        // The response comes before its body's last chunk exists.
        let response = tokio::time::timeout(Duration::from_secs(10), app.oneshot(request))
            .await
            .expect("the layer waited for the body")
            .unwrap();
        assert_eq!(response.headers()["x-query-count"], "1");
        send.send("the end").unwrap();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&body[..], b"3 books; the end");
    })
    .await;
}

#[test]
fn a_bad_panel_path_is_an_error_that_says_why() {
    for (path, why) in [
        ("/", "the panel cannot be served at `/`"),
        ("__orm", "must start with `/`"),
        ("/__orm?x", "cannot hold a query"),
        ("/__ o", "visible ASCII"),
    ] {
        match QueryLayer::new().debug_panel(path) {
            Err(orm_sqlx::Error::InvalidInput(m)) => {
                assert!(m.contains(why) && m.contains(&format!("{path:?}")), "{m}")
            }
            other => panic!("{path:?}: {other:?}"),
        }
    }
}

/// Keeps the WARN events it sees.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<(String, String)>>>);

struct Message<'a>(&'a mut String);

impl tracing::field::Visit for Message<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            *self.0 = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for Warnings {
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        *m.level() == tracing::Level::WARN
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut message = String::new();
        event.record(&mut Message(&mut message));
        let target = event.metadata().target().to_owned();
        self.0.lock().unwrap().push((target, message));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn enabling_the_panel_warns_once() {
    let warnings = Warnings::default();
    tracing::subscriber::with_default(warnings.clone(), || {
        let _ = QueryLayer::new();
        let _ = QueryLayer::new().debug_panel("/__orm").unwrap();
    });
    assert_eq!(
        *warnings.0.lock().unwrap(),
        [(
            "orm_sqlx::web".to_owned(),
            "query debug panel enabled at /__orm: never enable it in production".to_owned()
        )]
    );
}

/// The N+1 loop of `lazy`, reporting an error instead of unwrapping it.
async fn lazy_or_error(State(db): State<Db>) -> (StatusCode, String) {
    let result = async {
        let mut books = library::Book::objects().into_vec(&db).await?;
        for b in &mut books {
            b.author.load(&db).await?;
        }
        Ok::<_, orm_sqlx::Error>(books.len())
    }
    .await;
    match result {
        Ok(n) => (StatusCode::OK, n.to_string()),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[tokio::test]
async fn strict_loading_turns_a_requests_n_plus_one_into_an_error() {
    with_library(|db, _, _| async move {
        for (strict, headers) in [(true, true), (true, false), (false, true)] {
            let app = Router::new()
                .route("/lazy", get(lazy_or_error))
                .with_state(db.clone())
                .layer(QueryLayer::new().headers(headers).strict_loading(strict));
            let reply = get_(&app, "/lazy").await;
            if strict {
                assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
                assert!(
                    reply.body.contains("Book.author")
                        && reply.body.contains("select_related(|b| b.author())"),
                    "{}",
                    reply.body
                );
                if headers {
                    // The list and the first load; the second load sent nothing.
                    assert_eq!(reply.count(), 2);
                }
            } else {
                assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "3"));
                assert_eq!(reply.count(), 4);
            }
        }
    })
    .await;
}
