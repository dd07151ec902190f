//! The statements of each HTTP request, for a [tower](https://docs.rs/tower) stack (axum,
//! tonic's HTTP routes, hyper services): Django debug toolbar's SQL panel, for async Rust.
//!
//! [`QueryLayer`] runs every request inside [`capture_queries`],
//! and once the inner service has answered:
//!
//! - adds `Server-Timing: db;dur=<ms>;desc="<n> queries", total;dur=<ms>` (a browser's
//!   developer tools show it under the request's timing: `db` is the statements'
//!   durations added up, `total` the time from calling the inner service to its response
//!   being ready, in milliseconds with one decimal) and `X-Query-Count: <n>`;
//! - with [`QueryLayer::debug_panel`], keeps a record of the request (its statements,
//!   their durations, rows and origins, and what [`analyze`](crate::analyze) finds in
//!   them: duplicates, similar statements, N+1 loads, unneeded eager loads) and serves
//!   HTML pages listing the recent requests and each one's statements.
//!
//! With axum, `Router::layer` takes it (`app.layer(QueryLayer::new())`); with tower,
//! `ServiceBuilder::layer`; or wrap any service directly:
//!
//! ```
//! use orm_sqlx::web::{QueryLayer, QueryService};
//! use tower_layer::Layer;
//!
//! fn with_queries<S>(app: S) -> orm_sqlx::Result<QueryService<S>> {
//!     let layer = if cfg!(debug_assertions) {
//!         // In development: the panel at /__orm as well.
//!         QueryLayer::new().debug_panel("/__orm")?
//!     } else {
//!         // Headers only.
//!         QueryLayer::new()
//!     };
//!     Ok(layer.layer(app))
//! }
//! ```
//!
//! Each request is also a [`read_your_writes`](crate::replicas::read_your_writes) scope:
//! once its handler has written through a [`Databases`](crate::replicas::Databases), its
//! reads go to the primary.
//!
//! # What a request's count holds
//!
//! Every statement the handler's future sent through the ORM from when the inner service
//! was called until it returned its response, transaction control included (`BEGIN`,
//! `COMMIT`, `ROLLBACK`, savepoints: each is a round trip, and Django's toolbar lists
//! them too). Not counted:
//!
//! - statements sent from tasks the handler spawns (`tokio::spawn`): the capture follows
//!   the task, not the request;
//! - statements sent while the response body is streamed, after the handler returned
//!   (the headers were sent by then);
//! - statements sent outside the ORM (a bare sqlx pool).
//!
//! `db` adds the statements' durations up, as Django's toolbar does: statements run at
//! once (`tokio::join!` on two connections) can add up to more than `total`.
//!
//! Relation reads are noted on the task's own thread: rows read inside
//! `spawn_blocking` (a template rendered there) are not seen, so their eager load can be
//! reported as unnecessary.
//!
//! # Where to put the layer
//!
//! On the outermost router. Under `Router::nest("/app", …)` the layer sees paths
//! without `/app`, so the panel's links (`X-Debug-Panel`, [`PanelLink`], its own pages)
//! would miss the prefix.
//!
//! # The panel is for development
//!
//! Its pages show SQL, and with [`QueryLayer::show_params`] the values bound to it, of
//! every visitor's requests, to whoever asks for them: never enable it in production.
//! [`QueryLayer::debug_panel`] logs a `WARN` (target `orm_sqlx::web`) to say so.

#[cfg(feature = "cache")]
mod cache_page;
mod html;
mod panel;

#[cfg(feature = "cache")]
pub use cache_page::{
    CachePage, CachePageLayer, DEFAULT_MAX_PAGE_BYTES, cache_control, never_cache,
};

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use futures_util::future::BoxFuture;
use http::{HeaderValue, Request, Response};

use crate::query_log::{capture_light, capture_queries};
use panel::{Panel, Record};

/// The name of the header holding the number of statements a request sent.
const QUERY_COUNT: &str = "x-query-count";
/// The W3C Server Timing header (not among `http`'s constants).
const SERVER_TIMING: &str = "server-timing";
/// The name of the header holding the address of a request's panel page.
const DEBUG_PANEL: &str = "x-debug-panel";

/// A [`tower_layer::Layer`] that counts and times the statements of each request, adds
/// them to the response's headers, and (optionally) keeps them for a debug panel. See the
/// [module documentation](self) for what is counted.
///
/// Every setting is a builder method; the defaults are the safe ones (headers on, panel
/// off, bound values never kept).
///
/// ```
/// use orm_sqlx::web::QueryLayer;
///
/// // axum: `Router::new().route(…).layer(layer)`.
/// let layer = QueryLayer::new()
///     .debug_panel("/__orm")?
///     .keep(100)
///     .show_params(true);
/// # let _ = layer;
/// # Ok::<(), orm_sqlx::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct QueryLayer {
    settings: Settings,
}

/// What a [`QueryLayer`] was built with, shared by every service it makes.
#[derive(Clone, Debug)]
struct Settings {
    /// The panel, with the records it keeps: shared by every clone of the layer and of
    /// its services.
    panel: Option<Arc<Panel>>,
    keep: usize,
    show_params: bool,
    headers: bool,
    strict: bool,
    /// The query cache whose counters the panel's list shows ([`QueryLayer::cache_stats`]).
    #[cfg(feature = "cache")]
    cache: Option<Arc<crate::cache::QueryCache>>,
}

impl Default for QueryLayer {
    fn default() -> Self {
        QueryLayer::new()
    }
}

impl QueryLayer {
    /// Per-request capture with the `Server-Timing` and `X-Query-Count` headers; no panel.
    ///
    /// ```
    /// let layer = orm_sqlx::web::QueryLayer::new();
    /// # let _ = layer;
    /// ```
    pub fn new() -> Self {
        QueryLayer {
            settings: Settings {
                panel: None,
                keep: 50,
                show_params: false,
                headers: true,
                strict: false,
                #[cfg(feature = "cache")]
                cache: None,
            },
        }
    }

    /// Serve the debug panel at `path` (`"/__orm"`): `GET <path>` lists the requests kept,
    /// newest first, and `GET <path>/<id>` shows one request's statements. Requests to
    /// the panel are answered by the layer (the inner service never sees them) and are
    /// not recorded. Each recorded request gets an [`X-Debug-Panel`](PanelLink) header
    /// and a [`PanelLink`] in its extensions. Logs a `WARN` (target `orm_sqlx::web`): the
    /// panel shows every visitor's statements, so never enable it in production.
    ///
    /// A trailing `/` is ignored. Calling it again replaces the panel (and forgets what
    /// the previous one kept).
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) when `path` does not start
    /// with `/`, is `/` alone (the panel would hide the whole application), or holds
    /// anything but visible ASCII without `?` and `#`.
    ///
    /// ```
    /// let layer = orm_sqlx::web::QueryLayer::new().debug_panel("/__orm")?;
    /// assert!(orm_sqlx::web::QueryLayer::new().debug_panel("/").is_err());
    /// # let _ = layer;
    /// # Ok::<(), orm_sqlx::Error>(())
    /// ```
    pub fn debug_panel(mut self, path: &str) -> crate::Result<Self> {
        let path = panel::check_path(path).map_err(|why| {
            crate::Error::InvalidInput(format!("QueryLayer::debug_panel({path:?}): {why}"))
        })?;
        tracing::warn!(
            target: "orm_sqlx::web",
            "query debug panel enabled at {path}: never enable it in production"
        );
        self.settings.panel = Some(Arc::new(Panel::new(path)));
        Ok(self)
    }

    /// How many of the most recent requests the panel keeps (default 50); older ones are
    /// forgotten, so the panel's memory is bounded by `n` requests' statements. `0` keeps
    /// none. Without a panel it has no effect.
    ///
    /// ```
    /// let layer = orm_sqlx::web::QueryLayer::new().debug_panel("/__orm")?.keep(200);
    /// # let _ = layer;
    /// # Ok::<(), orm_sqlx::Error>(())
    /// ```
    pub fn keep(mut self, n: usize) -> Self {
        self.settings.keep = n;
        self
    }

    /// Whether the panel shows the values bound to each statement (default `false`: they
    /// can hold personal data, passwords, tokens). When `false` they are dropped before a
    /// request is stored, never kept in memory. Duplicates (same SQL, same values) are
    /// found either way: the comparison is made before the values are dropped. The same
    /// goes for each request's query string: without values the panel lists
    /// `/books?…`.
    ///
    /// ```
    /// let layer = orm_sqlx::web::QueryLayer::new()
    ///     .debug_panel("/__orm")?
    ///     .show_params(true);
    /// # let _ = layer;
    /// # Ok::<(), orm_sqlx::Error>(())
    /// ```
    pub fn show_params(mut self, yes: bool) -> Self {
        self.settings.show_params = yes;
        self
    }

    /// Whether responses get the `Server-Timing` and `X-Query-Count` headers (default
    /// `true`). Turn them off where the number of statements a page sends should not be
    /// public. The panel's `X-Debug-Panel` header is not affected.
    ///
    /// ```
    /// let layer = orm_sqlx::web::QueryLayer::new().headers(false).debug_panel("/__orm")?;
    /// # let _ = layer;
    /// # Ok::<(), orm_sqlx::Error>(())
    /// ```
    pub fn headers(mut self, yes: bool) -> Self {
        self.settings.headers = yes;
        self
    }

    /// Run every request with [`strict_loading`](crate::strict_loading) (default
    /// `false`): a lazy load repeated from one line of code (the N+1 pattern) fails with
    /// [`Error::NPlusOne`](crate::Error::NPlusOne) before its query, so the handler's
    /// error page names the relation and the fix. For development and tests.
    ///
    /// ```
    /// let layer = orm_sqlx::web::QueryLayer::new().strict_loading(cfg!(debug_assertions));
    /// # let _ = layer;
    /// ```
    pub fn strict_loading(mut self, yes: bool) -> Self {
        self.settings.strict = yes;
        self
    }

    /// Show `db`'s query cache counters (hits, misses, stores, invalidations per table,
    /// and its key prefix) on the panel's list page (feature `cache`). A `Db` without a
    /// cache shows none.
    #[cfg(feature = "cache")]
    pub fn cache_stats(mut self, db: &crate::Db) -> Self {
        self.settings.cache = db.cache_handle();
        self
    }
}

impl<S> tower_layer::Layer<S> for QueryLayer {
    type Service = QueryService<S>;

    fn layer(&self, inner: S) -> QueryService<S> {
        QueryService {
            inner,
            settings: self.settings.clone(),
        }
    }
}

/// The service a [`QueryLayer`] wraps around `S`.
///
/// It is a `Service<http::Request<B>>` for any request body `B` when:
///
/// - `S: Service<http::Request<B>, Response = http::Response<ResB>>`,
/// - `S::Future: Send + 'static` and `S::Error: Send + 'static`,
/// - `ResB: From<String> + Send + 'static` (the panel's pages are built from a `String`;
///   `axum::body::Body` is one). The inner service's response bodies are passed on as
///   they are, never read nor buffered.
///
/// `poll_ready` is the inner service's. A request to the panel is answered without
/// calling the inner service; a request whose inner service fails (`Err`) is passed on
/// unrecorded and without headers, as is one whose future is dropped (a client gone).
///
/// ```
/// use orm_sqlx::web::{QueryLayer, QueryService};
/// use tower_layer::Layer;
///
/// // With axum, `S` is the `Router` (or the route) the layer wraps.
/// fn wrap<S>(app: S) -> QueryService<S> {
///     QueryLayer::new().layer(app)
/// }
/// ```
#[derive(Clone, Debug)]
pub struct QueryService<S> {
    inner: S,
    settings: Settings,
}

/// Inserted into each request's extensions when the panel is on: the address of the
/// panel page of this request (`"/__orm/17"`), so a page can link to it. The page
/// exists once the request's response is ready.
///
/// An axum handler takes it as `Option<Extension<PanelLink>>`; from the request itself:
///
/// ```
/// use orm_sqlx::web::PanelLink;
///
/// fn sql_link<B>(request: &http::Request<B>) -> Option<String> {
///     let PanelLink(href) = request.extensions().get::<PanelLink>()?;
///     Some(format!("<a href=\"{href}\">SQL</a>"))
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanelLink(pub String);

impl<S, B, ResB> tower_service::Service<Request<B>> for QueryService<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ResB>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResB: From<String> + Send + 'static,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<ResB>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if let Some(panel) = &self.settings.panel
            && let Some(page) = panel.route(request.uri().path())
        {
            let response = panel.respond(request.method(), page, &self.settings);
            return Box::pin(std::future::ready(Ok(response)));
        }
        if !self.settings.headers && self.settings.panel.is_none() {
            // Nothing would read the capture.
            let future = crate::replicas::read_your_writes(self.inner.call(request));
            return if self.settings.strict {
                Box::pin(crate::strict_loading(future))
            } else {
                Box::pin(future)
            };
        }
        let started = Instant::now();
        let wall = SystemTime::now();
        let pending = self.settings.panel.clone().map(|panel| {
            let id = panel.next_id();
            let link = panel.link(id);
            request.extensions_mut().insert(PanelLink(link.clone()));
            // The query string can hold values as personal as bound ones (a reset
            // token, an e-mail): kept only with them.
            let target = match request.uri().query() {
                Some(query) if self.settings.show_params => {
                    format!("{}?{query}", request.uri().path())
                }
                Some(_) => format!("{}?…", request.uri().path()),
                None => request.uri().path().to_owned(),
            };
            (panel, id, link, request.method().to_string(), target)
        });
        let settings = self.settings.clone();
        // Each request is a read-your-writes scope: once it has written through a
        // `replicas::Databases`, its reads go to the primary.
        let future = crate::replicas::read_your_writes(self.inner.call(request));
        Box::pin(async move {
            // Headers alone need counts and times: a light capture (no values, origins,
            // loads or observer) unless the panel will show them.
            let (result, mut queries) = match (settings.panel.is_some(), settings.strict) {
                (true, true) => capture_queries(crate::strict_loading(future)).await,
                (true, false) => capture_queries(future).await,
                (false, true) => capture_light(crate::strict_loading(future)).await,
                (false, false) => capture_light(future).await,
            };
            let mut response = result?;
            let total = started.elapsed();
            // What reached the database: a result served by the query cache is no query.
            let sent = queries.iter().filter(|q| q.reached_database()).count();
            let db: Duration = queries
                .iter()
                .filter(|q| q.reached_database())
                .filter_map(|q| q.duration)
                .sum();
            if settings.headers {
                let timing = format!(
                    "db;dur={:.1};desc=\"{} queries\", total;dur={:.1}",
                    millis(db),
                    sent,
                    millis(total)
                );
                let headers = response.headers_mut();
                if let Ok(value) = HeaderValue::try_from(timing) {
                    // Appended: the application may have timings of its own.
                    headers.append(SERVER_TIMING, value);
                }
                headers.insert(QUERY_COUNT, HeaderValue::from(sent));
            }
            if let Some((panel, id, link, method, target)) = pending {
                if let Ok(value) = HeaderValue::try_from(link) {
                    response.headers_mut().insert(DEBUG_PANEL, value);
                }
                let findings = crate::findings::analyze(&queries);
                if !settings.show_params {
                    for q in &mut queries {
                        q.params = Vec::new();
                    }
                }
                panel.store(
                    Record {
                        id,
                        method,
                        target,
                        status: response.status().as_u16(),
                        started: wall,
                        total,
                        db,
                        queries,
                        findings,
                    },
                    settings.keep,
                );
            }
            Ok(response)
        })
    }
}

/// `d` in milliseconds.
fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use std::convert::Infallible;
    use std::task::{Context, Poll};

    use futures_util::future::BoxFuture;
    use http::{Request, Response};
    use tower_layer::Layer;
    use tower_service::Service;

    use super::QueryLayer;
    use crate::Db;

    /// Sends `SELECT ?` with 41, 41 again, then 42.
    #[derive(Clone)]
    struct App(Db);

    impl Service<Request<()>> for App {
        type Response = Response<String>;
        type Error = Infallible;
        type Future = BoxFuture<'static, Result<Response<String>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<()>) -> Self::Future {
            let db = self.0.clone();
            Box::pin(async move {
                for n in [41_i64, 41, 42] {
                    let rows = orm_core::RawQuery::<i64>::new("SELECT ?", [n])
                        .into_vec(&db)
                        .await
                        .unwrap();
                    assert_eq!(rows, [n]);
                }
                Ok(Response::new("ok".to_owned()))
            })
        }
    }

    #[tokio::test]
    async fn bound_values_are_dropped_before_a_request_is_stored_unless_shown() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        for show in [false, true] {
            let layer = QueryLayer::new()
                .debug_panel("/__orm")
                .unwrap()
                .show_params(show);
            let mut service = layer.layer(App(db.clone()));
            let response = service.call(Request::new(())).await.unwrap();
            assert_eq!(response.headers()["x-query-count"], "3");
            let panel = layer.settings.panel.as_ref().unwrap();
            let records = panel.recent();
            let record = &records[0];
            let params: Vec<usize> = record.queries.iter().map(|q| q.params.len()).collect();
            assert_eq!(params, if show { [1, 1, 1] } else { [0, 0, 0] });
            // Found from the values, before they were dropped.
            assert_eq!(record.findings.duplicates.len(), 1, "show_params({show})");
            assert_eq!(record.findings.duplicates[0].indexes, [0, 1]);
            assert_eq!(record.findings.similar.len(), 1, "show_params({show})");
        }
    }
}
