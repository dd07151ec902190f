//! Review of issue 14, the web layer: `QueryLayer` options combined.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::routing::get;
use orm_sqlx::prelude::*;
use orm_sqlx::web::QueryLayer;
use orm_tests::library::Book;
use orm_tests::with_library;
use tower::ServiceExt;

/// The authors joined (`select_related`) and read, every one: nothing unnecessary.
async fn eager_and_read(State(db): State<Db>) -> String {
    let books = Book::objects()
        .order_by(|b| b.id.asc())
        .select_related(|b| b.author());
    let rows = books.fetch(&db).await.unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|b| b.author.get().unwrap().name.as_str())
        .collect();
    names.join(", ")
}

async fn get_body(app: &Router, uri: &str) -> (String, Option<String>) {
    let request = Request::get(uri).body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let panel = response
        .headers()
        .get("x-debug-panel")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (String::from_utf8(bytes.to_vec()).unwrap(), panel)
}

/// A page that reads every `select_related` row has no "unnecessary" finding with the
/// panel alone (web_layer.rs checks the opposite case). Turning on `strict_loading(true)`
/// as well (the combination a development setup wants) must not change what the panel
/// finds; but the layer runs `capture_queries(strict_loading(handler))`, whose strict
/// observer is made before the capture's and has no parent, so the handler's reads are
/// never seen by the capture and the panel tells the developer to remove a
/// `select_related` the page needs.
#[tokio::test]
async fn strict_loading_does_not_make_read_eager_loads_unnecessary() {
    with_library(|db, _, _| async move {
        for strict in [false, true] {
            let app = Router::new()
                .route("/eager", get(eager_and_read))
                .with_state(db.clone())
                .layer(
                    QueryLayer::new()
                        .debug_panel("/__orm")
                        .unwrap()
                        .strict_loading(strict),
                );
            let (body, panel) = get_body(&app, "/eager").await;
            assert_eq!(body, "Alice, Alice, Bob");
            let (html, _) = get_body(&app, &panel.expect("an X-Debug-Panel link")).await;
            let findings = html
                .split_once("<section id=\"findings\">")
                .unwrap()
                .1
                .split_once("</section>")
                .unwrap()
                .0;
            assert!(
                !findings.contains("unnecessary"),
                "strict_loading({strict}): the authors were read, yet the panel says:\n{findings}"
            );
        }
    })
    .await;
}

/// Two statements run at once (`tokio::join!`, a pool of several connections), each
/// taking ~300 ms: the request takes ~300 ms, and `Server-Timing` says
/// `db;dur=600…, total;dur=300…`: the time "in the database" is longer than the whole
/// request (web_layer.rs's own check holds `db <= total`). The `db` metric adds the
/// statements' durations up instead of measuring the time during which at least one ran.
async fn two_at_once(State(db): State<Db>) -> String {
    let sleep = match db.dialect() {
        orm_sqlx::core::Dialect::Postgres => "SELECT pg_sleep(0.3)",
        _ => "SELECT SLEEP(0.3)",
    };
    let (a, b) = tokio::join!(db.execute_raw(sleep), db.execute_raw(sleep));
    a.unwrap();
    b.unwrap();
    "ok".into()
}

#[tokio::test]
async fn server_timing_db_time_is_not_longer_than_the_request() {
    orm_tests::on_each_backend(|db, backend| async move {
        if backend == orm_tests::Backend::Sqlite {
            // No sleep function; one writer at a time anyway.
            return;
        }
        let app = Router::new()
            .route("/two", get(two_at_once))
            .with_state(db)
            .layer(QueryLayer::new());
        let request = Request::get("/two").body(Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        let timing = response.headers()["server-timing"].to_str().unwrap().to_owned();
        let ms = |name: &str| -> f64 {
            let at = timing.find(&format!("{name};dur=")).unwrap() + name.len() + 5;
            let rest = &timing[at..];
            let end = rest.find(|c: char| c != '.' && !c.is_ascii_digit()).unwrap_or(rest.len());
            rest[..end].parse().unwrap()
        };
        assert_eq!(response.headers()["x-query-count"], "2");
        assert!(
            ms("db") <= ms("total") + 0.1,
            "{backend:?}: Server-Timing: {timing}"
        );
    })
    .await;
}

async fn hello() -> &'static str {
    "hello"
}

/// An application mounted under a prefix (`Router::nest("/app", …)`, or any reverse
/// proxy / `nest_service` that strips one) with the layer on the nested router: axum
/// hands the nested service the URI without the prefix, so the layer builds the
/// `X-Debug-Panel` link (and `PanelLink`) from `/__orm`, an address that is not served:
/// the panel is at `/app/__orm`. (axum keeps the full URI in `OriginalUri`.)
#[tokio::test]
async fn the_panel_link_of_a_nested_app_leads_to_its_panel() {
    let inner = Router::new()
        .route("/hello", get(hello))
        .layer(QueryLayer::new().debug_panel("/__orm").unwrap());
    let app = Router::new().nest("/app", inner);
    let (body, link) = get_body(&app, "/app/hello").await;
    assert_eq!(body, "hello");
    let link = link.expect("an X-Debug-Panel link");
    let request = Request::get(&link).body(Body::empty()).unwrap();
    let status = app.clone().oneshot(request).await.unwrap().status();
    assert_eq!(status, 200, "X-Debug-Panel: {link} answers {status}");
}
