//! Issue 14, the web layer's edges a review found: `QueryLayer` options combined.

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
