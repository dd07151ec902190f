//! The web example's pages, called without a server (`ServiceExt::oneshot`), each test on
//! its own in-memory SQLite database: what each page shows, what it costs in statements
//! (the footer's count), and its answer to a missing row or bad input.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use examples::models::Book;
use http_body_util::BodyExt;
use orm_sqlx::prelude::*;
use tower::ServiceExt;

/// A seeded bookstore and its app, panel off.
async fn bookstore() -> (Db, Router) {
    let db = Db::connect("sqlite::memory:").await.unwrap();
    let seeded = examples::web::setup(&db).await.unwrap();
    assert_eq!(seeded.books, 9);
    (db.clone(), examples::web::app(db, false))
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    /// The footer's statement count.
    fn queries(&self) -> &str {
        let start = self
            .body
            .find(r#"<span id="query-count">"#)
            .expect("a footer")
            + 23;
        let len = self.body[start..].find('<').unwrap();
        &self.body[start..start + len]
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn rows(&self, class: &str) -> usize {
        self.body
            .matches(&format!(r#"<tr class="{class}">"#))
            .count()
    }
}

async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let location = headers
        .get(header::LOCATION)
        .map(|l| l.to_str().unwrap().to_string());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        location,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn get(app: &Router, uri: &str) -> Answer {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post(app: &Router, uri: &str, form: &str) -> Answer {
    let request = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .unwrap();
    send(app, request).await
}

#[tokio::test]
async fn the_book_list_filters_and_paginates_in_three_queries() {
    let (_, app) = bookstore().await;
    let page = get(&app, "/books").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.rows("book"), 5);
    assert!(page.body.contains("9 books"));
    assert!(page.body.contains("page 1 of 2"));
    assert_eq!(page.queries(), "3 queries");

    let second = get(&app, "/books?page=2").await;
    assert_eq!(second.rows("book"), 4);
    assert!(second.body.contains(r#"rel="prev" href="/books?page=1""#));

    // Terry Pratchett is author 2; "guards" in any case; at least 400 pages.
    let one = get(&app, "/books?author=2&q=GUARDS&min_pages=400").await;
    assert_eq!(one.rows("book"), 1);
    assert!(one.body.contains("Guards! Guards!"));
    let none = get(&app, "/books?min_pages=1000").await;
    assert_eq!(none.rows("book"), 0);
    assert!(none.body.contains("0 books"));
    // The filters are kept in the pagination links, escaped.
    let kept = get(&app, "/books?q=the+%26&min_pages=1").await;
    assert_eq!(kept.status, StatusCode::OK);
    assert!(kept.body.contains(r#"value="the &amp;""#));
}

#[tokio::test]
async fn bad_filters_are_400_and_a_page_past_the_end_404() {
    let (_, app) = bookstore().await;
    let bad = get(&app, "/books?min_pages=many").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("min_pages must be a whole number"));
    assert_eq!(bad.queries(), "0 queries");
    assert_eq!(
        get(&app, "/books?page=0").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&app, "/books?author=x").await.status,
        StatusCode::BAD_REQUEST
    );
    let past = get(&app, "/books?page=3").await;
    assert_eq!(past.status, StatusCode::NOT_FOUND);
    assert!(past.body.contains("it has 2"));
}

#[tokio::test]
async fn a_book_page_shows_its_author_and_tags_or_is_404() {
    let (_, app) = bookstore().await;
    let page = get(&app, "/books/1").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<h1>A Wizard of Earthsea</h1>"));
    assert!(page.body.contains("Ursula K. Le Guin"));
    assert!(page.body.contains("classic, fantasy"));
    assert_eq!(page.queries(), "2 queries");

    let missing = get(&app, "/books/999").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("There is no book #999."));
    let garbage = get(&app, "/books/one").await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    assert!(garbage.body.contains("is not a book number"));
    assert_eq!(get(&app, "/nowhere").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_book_is_created_updated_and_deleted_through_forms() {
    let (db, app) = bookstore().await;
    let form = get(&app, "/books/new").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.body
            .contains(r#"<option value="2">Terry Pratchett</option>"#)
    );

    let created = post(
        &app,
        "/books",
        "title=Mort&pages=272&author=2&rating=4.2&tag=2&tag=4",
    )
    .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    let at = created.location.unwrap();
    let id: i64 = at.strip_prefix("/books/").unwrap().parse().unwrap();
    let mut mort = Book::objects().get_pk(id, &db).await.unwrap();
    assert_eq!(
        (mort.title.as_str(), mort.pages, mort.rating),
        ("Mort", 272, Some(4.2))
    );
    assert_eq!(mort.tags().count(&db).await.unwrap(), 2);
    assert!(get(&app, &at).await.body.contains("fantasy, humour"));

    let updated = post(
        &app,
        &at,
        "title=Mort+(2nd+ed.)&pages=300&author=2&rating=&tag=1",
    )
    .await;
    assert_eq!(updated.status, StatusCode::SEE_OTHER);
    assert_eq!(updated.location.as_deref(), Some(at.as_str()));
    mort.refresh_from_db(&db).await.unwrap();
    assert_eq!(
        (mort.title.as_str(), mort.pages, mort.rating),
        ("Mort (2nd ed.)", 300, None)
    );
    let tags: Vec<String> = mort.tags().values(|t| t.name).into_vec(&db).await.unwrap();
    assert_eq!(tags, ["classic"]);

    let deleted = post(&app, &format!("{at}/delete"), "").await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(deleted.location.as_deref(), Some("/books"));
    assert_eq!(get(&app, &at).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        post(&app, &format!("{at}/delete"), "").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post(&app, "/books/999", "title=x").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_bad_form_is_shown_again_with_its_problems_and_saves_nothing() {
    let (db, app) = bookstore().await;
    let bad = post(
        &app,
        "/books",
        "title=%3Cb%3Ebold&pages=0&author=99&rating=9&tag=42",
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    for problem in [
        "Pages must be a whole number",
        "Choose an author from the list.",
        "The rating must be a number from 0 to 5",
        "There is no tag 42.",
    ] {
        assert!(bad.body.contains(problem), "{problem}");
    }
    // What was typed is kept, escaped.
    assert!(bad.body.contains(r#"value="&lt;b&gt;bold""#));
    assert!(!bad.body.contains("<b>bold"));
    assert_eq!(Book::objects().count(&db).await.unwrap(), 9);

    let empty = post(&app, "/books", "title=++&pages=12&author=1").await;
    assert!(empty.body.contains("The title is required."));
    let not_a_form = send(
        &app,
        Request::post("/books")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_eq!(not_a_form.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn titles_are_escaped_wherever_they_are_shown() {
    let (_, app) = bookstore().await;
    let created = post(
        &app,
        "/books",
        "title=%3Cscript%3Ealert(1)%3C%2Fscript%3E+%26+%22q%22&pages=10&author=1",
    )
    .await;
    let at = created.location.unwrap();
    for page in [
        &at,
        "/books?q=script",
        "/books/n-plus-one",
        "/books/select-related",
    ] {
        let body = get(&app, page).await.body;
        assert!(!body.contains("<script>"), "{page}");
        assert!(
            body.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;"),
            "{page}"
        );
    }
}

#[tokio::test]
async fn authors_are_counted_by_the_database() {
    let (_, app) = bookstore().await;
    let page = get(&app, "/authors").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.rows("author"), 4);
    assert!(page.body.contains(
        r#"<td><a href="/books?author=1">Ursula K. Le Guin</a></td><td>US</td><td class="num">3</td><td class="num">874</td><td class="num">4.6</td>"#
    ));
    assert!(page.body.contains("9 books, 3047 pages in all"));
    assert_eq!(page.queries(), "2 queries");
}

#[tokio::test]
async fn the_n_plus_one_page_costs_one_query_per_book_and_its_fix_one() {
    let (_, app) = bookstore().await;
    let lazy = get(&app, "/books/n-plus-one").await;
    assert_eq!(lazy.rows("book"), 9);
    assert_eq!(lazy.queries(), "10 queries");
    let joined = get(&app, "/books/select-related").await;
    assert_eq!(joined.rows("book"), 9);
    assert_eq!(joined.queries(), "1 query");
    // The same table on both pages.
    let table = |b: &str| b[b.find("<table").unwrap()..b.find("</table>").unwrap()].to_string();
    assert_eq!(table(&lazy.body), table(&joined.body));
}

#[tokio::test]
async fn without_the_panel_no_page_links_to_it() {
    let (_, app) = bookstore().await;
    for page in ["/", "/books", "/books/n-plus-one", "/authors"] {
        let answer = get(&app, page).await;
        assert_eq!(answer.status, StatusCode::OK, "{page}");
        assert!(!answer.body.contains("panel-link"), "{page}");
    }
}

#[tokio::test]
async fn the_footer_count_is_the_query_layers_count() {
    let (_, app) = bookstore().await;
    for (page, n) in [
        ("/books", "3"),
        ("/books/n-plus-one", "10"),
        ("/books/select-related", "1"),
        ("/books/999", "1"),
    ] {
        let answer = get(&app, page).await;
        assert_eq!(answer.header("x-query-count"), Some(n), "{page}");
        assert!(answer.queries().starts_with(&format!("{n} quer")), "{page}");
        let timing = answer.header("server-timing").unwrap();
        assert!(
            timing.contains(&format!("desc=\"{n} queries\"")),
            "{page}: {timing}"
        );
        assert_eq!(
            answer.header("x-debug-panel"),
            None,
            "{page}: the panel is off"
        );
    }
}

#[tokio::test]
async fn with_the_panel_each_page_links_to_its_own_request() {
    let db = Db::connect("sqlite::memory:").await.unwrap();
    examples::web::setup(&db).await.unwrap();
    let app = examples::web::app(db, true);
    let page = get(&app, "/books/n-plus-one").await;
    let href = page.header("x-debug-panel").unwrap().to_string();
    assert!(href.starts_with(&format!("{}/", examples::web::PANEL_PATH)));
    assert!(page.body.contains(&format!(
        r#"<a id="panel-link" href="{href}">SQL panel</a>"#
    )));

    let panel = get(&app, &href).await;
    assert_eq!(panel.status, StatusCode::OK);
    assert!(panel.body.contains(r#"<dd id="total-queries">10</dd>"#));
    assert_eq!(panel.body.matches(r#"<tr class="query"#).count(), 10);
    let list = get(&app, examples::web::PANEL_PATH).await;
    assert!(list.body.contains("/books/n-plus-one"));
}

#[tokio::test]
async fn only_the_n_plus_one_page_has_findings() {
    let (_, app) = bookstore().await;
    for page in [
        "/",
        "/books",
        "/books?author=1&min_pages=100&q=the",
        "/books/1",
        "/books/new",
        "/books/1/edit",
        "/authors",
        "/books/select-related",
    ] {
        let (answer, queries) = capture_queries(get(&app, page)).await;
        assert_eq!(answer.status, StatusCode::OK, "{page}");
        let findings = orm_sqlx::analyze(&queries);
        assert!(findings.is_empty(), "{page}: {findings:?}");
    }
    for (page, form) in [
        ("/books", "title=Mort&pages=272&author=2&tag=2&tag=4"),
        ("/books/1", "title=Earthsea&pages=183&author=1&tag=1"),
        ("/books/2/delete", ""),
    ] {
        let (answer, queries) = capture_queries(post(&app, page, form)).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{page}");
        let findings = orm_sqlx::analyze(&queries);
        assert!(findings.is_empty(), "POST {page}: {findings:?}");
    }

    let (_, queries) = capture_queries(get(&app, "/books/n-plus-one")).await;
    let findings = orm_sqlx::analyze(&queries);
    assert_eq!(findings.n_plus_one.len(), 1, "{findings:?}");
    let found = &findings.n_plus_one[0];
    assert_eq!(found.relation, "Book.author");
    assert_eq!(found.fix, "select_related(|b| b.author())");
    assert_eq!(found.indexes.len(), 9, "one lazy load per book");
    let origin = found.origin.expect("the line that loads the author");
    assert!(origin.file().ends_with("n_plus_one.rs"), "{origin}");
}

#[tokio::test]
async fn the_list_is_cached_until_a_book_is_edited() {
    let (_, app) = bookstore().await;
    let first = get(&app, "/books").await;
    assert_eq!(first.queries(), "3 queries");
    let again = get(&app, "/books").await;
    assert_eq!(again.queries(), "0 queries", "served from the query cache");
    assert!(
        again
            .body
            .contains(r#"<span id="cache-hits">3 from the cache"#)
    );
    assert_eq!(again.header("x-query-count"), Some("0"));
    assert_eq!(
        again.body,
        first.body.replace(
            "3 queries</span>",
            "0 queries</span>, <span id=\"cache-hits\">3 from the cache</span>"
        )
    );

    // Edit a book: the list shows it at once (the authors for the filter stay cached).
    let book = get(&app, "/books/1").await;
    assert_eq!(book.status, StatusCode::OK);
    let edited = post(
        &app,
        "/books/1",
        "title=A+Fresh+Title&pages=183&author=1&tag=1",
    )
    .await;
    assert_eq!(edited.status, StatusCode::SEE_OTHER);
    let fresh = get(&app, "/books").await;
    assert!(fresh.body.contains("A Fresh Title"), "the edit shows");
    assert_eq!(fresh.queries(), "2 queries");

    // The author stats too: cached, then fresh after an edit.
    let stats = get(&app, "/authors").await;
    assert_eq!(stats.queries(), "2 queries");
    assert_eq!(get(&app, "/authors").await.queries(), "0 queries");
    let edited = post(
        &app,
        "/books/1",
        "title=A+Fresh+Title&pages=999&author=1&tag=1",
    )
    .await;
    assert_eq!(edited.status, StatusCode::SEE_OTHER);
    let after = get(&app, "/authors").await;
    assert_eq!(after.queries(), "2 queries");
    assert_ne!(after.body, stats.body, "the page count changed");
}

#[tokio::test]
async fn the_panel_shows_cache_hits_and_the_counters_per_table() {
    let db = Db::connect("sqlite::memory:").await.unwrap();
    examples::web::setup(&db).await.unwrap();
    let app = examples::web::app(db, true);
    get(&app, "/books").await;
    let again = get(&app, "/books").await;
    let link = again.header("x-debug-panel").unwrap().to_owned();
    let detail = get(&app, &link).await;
    assert!(
        detail
            .body
            .contains(r#"<span id="cache-hits">3</span> hits"#),
        "{}",
        detail.body
    );
    assert!(detail.body.contains(r#"<dd id="total-queries">0</dd>"#));
    assert_eq!(detail.body.matches("cache hit</span>").count(), 3);
    let list = get(&app, examples::web::PANEL_PATH).await;
    assert!(
        list.body.contains(r#"<section id="query-cache">"#),
        "{}",
        list.body
    );
    let books_row = list
        .body
        .split("<tr class=\"cache-table\">")
        .find(|r| r.starts_with("<td>books</td>"))
        .expect("a row for books");
    assert!(
        books_row.contains(r#"<td class="num hits">2</td>"#),
        "{books_row}"
    );
}
