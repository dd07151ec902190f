//! Django's `cache_page` for a tower stack (features `web` and `cache`): whole responses
//! kept in the database's query cache, keyed by the URL and the request headers the
//! response `Vary`s on, and invalidated like cached querysets by writes to the tables the
//! view read.
//!
//! How a page is kept (Django's `learn_cache_key`, plus tables): the first answer for a
//! URL teaches the layer which request headers it varies on and which tables the view read
//! (the *meta* entry); a later answer is stored with the versions of those tables read
//! *before* the view ran, so a write that raced the view never leaves a stale page. So a
//! URL is served from the cache from its third request on (its second when the view reads
//! no table: that answer is kept at once); a view that reads other tables than the last
//! time teaches them again.

use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt as _;

use crate::Db;
use crate::cache::query::{IN_TRANSACTION, QueryCache, UNKNOWN_TABLES, noting_reads};
use orm_core::{Error, Result};

/// The largest response body kept by default: 1 MiB.
pub const DEFAULT_MAX_PAGE_BYTES: usize = 1 << 20;

/// Django's `cache_page(ttl)` as a tower layer: `GET` and `HEAD` answers kept for `ttl`.
///
/// Kept: a `200 OK` without `Set-Cookie`, whose `Cache-Control` does not mention
/// `private`, `no-store` or `no-cache` and whose `Vary` is not `*`, with a body of at most
/// [`max_bytes`](CachePageLayer::max_bytes), for `ttl` (as Django's `cache_page(timeout)`,
/// whatever the response's own `max-age`). The response's `Cache-Control` gets
/// `max-age=<ttl>` (its own kept if shorter). The key is the `Host`, the path and query,
/// and the values of the request headers the response names in `Vary`; like Django, not
/// `Authorization` or cookies: a view whose answer depends on them must say so in `Vary`
/// (or never be cached).
///
/// The page is invalidated when the ORM writes a table the view read through this
/// database (as a cached queryset is). Reads through another `Db` and raw SQL cannot be
/// tracked: a view that runs raw SQL is never kept.
///
/// ```no_run
/// # async fn demo() -> orm_sqlx::Result<()> {
/// use std::time::Duration;
/// use orm_sqlx::cache::Cache;
/// use orm_sqlx::web::CachePageLayer;
///
/// let db = orm_sqlx::Db::connect("sqlite::memory:").await?.with_cache(Cache::local(64 << 20));
/// let layer = CachePageLayer::new(&db, Duration::from_secs(60))?;
/// // axum: Router::new().route("/books", get(list)).layer(layer)
/// # let _ = layer; Ok(()) }
/// ```
#[derive(Clone)]
pub struct CachePageLayer {
    cache: std::sync::Arc<QueryCache>,
    ttl: Duration,
    max_bytes: usize,
}

impl std::fmt::Debug for CachePageLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachePageLayer")
            .field("ttl", &self.ttl)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl CachePageLayer {
    /// Pages kept for `ttl` in `db`'s query cache. A `Db` without one
    /// ([`Db::with_cache`]) is [`Error::InvalidInput`].
    pub fn new(db: &Db, ttl: Duration) -> Result<CachePageLayer> {
        let cache = db.cache_handle().ok_or_else(|| {
            Error::InvalidInput(
                "CachePageLayer needs a database with a cache: \
                 `Db::connect(url).await?.with_cache(Cache::local(bytes))`"
                    .into(),
            )
        })?;
        Ok(CachePageLayer {
            cache,
            ttl,
            max_bytes: DEFAULT_MAX_PAGE_BYTES,
        })
    }

    /// Bodies bigger than `bytes` are not kept.
    pub fn max_bytes(mut self, bytes: usize) -> CachePageLayer {
        self.max_bytes = bytes;
        self
    }
}

impl<S> tower_layer::Layer<S> for CachePageLayer {
    type Service = CachePage<S>;
    fn layer(&self, inner: S) -> CachePage<S> {
        CachePage {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`CachePageLayer`].
#[derive(Clone, Debug)]
pub struct CachePage<S> {
    inner: S,
    layer: CachePageLayer,
}

/// What the meta entry of a URL holds: the request headers its answer varies on, and the
/// tables its view read.
#[derive(Default, PartialEq)]
struct Meta {
    vary: Vec<String>,
    tables: Vec<String>,
}

impl<S, B, ResB> tower_service::Service<Request<B>> for CachePage<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    ResB: Body<Data = Bytes> + From<Bytes> + Send + 'static,
    ResB::Error: std::fmt::Display,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = BoxFuture<'static, std::result::Result<Response<ResB>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return Box::pin(self.inner.call(request));
        }
        // The ready service answers this request; a clone waits for the next (tower's
        // rule for services used across an await).
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let layer = self.layer.clone();
        Box::pin(async move {
            let head = request.method() == Method::HEAD;
            let url = url_of(&request);
            let qc = &layer.cache;
            let meta_key = qc.entry_key_of("m", |w| w(url.as_bytes()));
            let meta = read_meta(qc, &meta_key).await;
            // The tokens of the tables the view read last time, read before it runs now.
            let mut before = None;
            if let Some(meta) = &meta
                && qc.ready_for(&meta.tables).await
            {
                let page_key = page_key(qc, &url, &meta.vary, request.headers());
                if let Some(looked) = qc.lookup_tables(&page_key, &meta.tables).await {
                    if let Some(page) = looked.valid_payload().and_then(decode_page) {
                        return Ok(page.into_response(head));
                    }
                    before = Some((page_key, looked.tokens));
                }
            }
            if head {
                // A HEAD answer has no body: it is served from GET's page, never kept as
                // one (a GET would then get an empty page).
                return inner.call(request).await;
            }
            let req_headers = request.headers().clone();
            let (response, reads) = noting_reads(inner.call(request)).await;
            let response = response?;
            let Some(lifetime) = keepable(&response, layer.ttl) else {
                return Ok(response);
            };
            // Raw SQL reads tables nobody can name; a transaction's reads may be writes not
            // committed yet; and an abandoned write may still change what it read.
            if reads.contains(&UNKNOWN_TABLES)
                || reads.contains(&IN_TRANSACTION)
                || !qc.ready_for(&reads).await
            {
                return Ok(response);
            }
            let (mut parts, body) = response.into_parts();
            let bytes = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) => {
                    tracing::warn!(target: "orm_sqlx::cache", "cache_page: the body failed: {e}");
                    let mut failed = Response::new(ResB::from(Bytes::new()));
                    *failed.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                    return Ok(failed);
                }
            };
            patch_max_age(&mut parts.headers, lifetime);
            if bytes.len() <= layer.max_bytes {
                let vary = vary_of(&parts.headers);
                let mut tables: Vec<String> = reads.iter().map(|t| (*t).to_owned()).collect();
                tables.sort();
                let learned = Meta {
                    vary: vary.clone(),
                    tables: tables.clone(),
                };
                match (&meta, before) {
                    // Same headers and no new table: the versions read before are right.
                    (Some(m), Some((page_key, tokens)))
                        if m.vary == vary && tables.iter().all(|t| m.tables.contains(t)) =>
                    {
                        let payload = encode_page(parts.status, &parts.headers, &bytes);
                        qc.put(&page_key, &tokens, &payload, lifetime, &[]).await;
                    }
                    _ => {
                        write_meta(qc, &meta_key, &learned, lifetime).await;
                        // A view that read no table depends on no version but the epoch's.
                        if tables.is_empty() {
                            let page_key = page_key(qc, &url, &vary, &req_headers);
                            if let Some(looked) = qc.lookup_tables(&page_key, &tables).await {
                                let payload = encode_page(parts.status, &parts.headers, &bytes);
                                qc.put(&page_key, &looked.tokens, &payload, lifetime, &[])
                                    .await;
                            }
                        }
                    }
                }
            }
            Ok(Response::from_parts(parts, ResB::from(bytes)))
        })
    }
}

/// The URL a page is kept under: the `Host`, the path and the query.
fn url_of<B>(request: &Request<B>) -> String {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or("");
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    format!("{host}{path}")
}

/// The page's key: the URL and each `Vary` header's values in the request.
fn page_key(qc: &QueryCache, url: &str, vary: &[String], headers: &http::HeaderMap) -> String {
    qc.entry_key_of("p", |w| {
        w(url.as_bytes());
        for name in vary {
            w(name.as_bytes());
            for v in headers.get_all(name.as_str()) {
                w(v.as_bytes());
            }
            w(b"\0");
        }
    })
}

/// The header names a response varies on, lower case, sorted.
fn vary_of(headers: &http::HeaderMap) -> Vec<String> {
    let mut names: Vec<String> = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// How long `response` may be kept (the layer's `ttl`, as Django's `cache_page(timeout)`
/// whatever the response's `max-age`), or `None` when it must not be.
fn keepable<B>(response: &Response<B>, ttl: Duration) -> Option<Duration> {
    let h = response.headers();
    if response.status() != StatusCode::OK || h.contains_key(header::SET_COOKIE) {
        return None;
    }
    if vary_of(h).iter().any(|n| n == "*") {
        return None;
    }
    // Any form of these (`private="x"`, `no-cache="Set-Cookie"`) too, as Django refuses a
    // `Cache-Control` that mentions `private` at all.
    let refused = h
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|d| d.trim().to_ascii_lowercase())
        .any(|d| {
            ["private", "no-store", "no-cache"]
                .iter()
                .any(|r| d.starts_with(r))
        });
    (!refused && !ttl.is_zero()).then_some(ttl)
}

/// The directives of the `Cache-Control` headers, trimmed, empty ones left out.
fn directives_of(headers: &http::HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|d| !d.is_empty())
}

/// Django's `patch_response_headers`: a `max-age` of the page's lifetime in the response's
/// `Cache-Control` (kept if the response's own is shorter; the other directives kept).
fn patch_max_age(headers: &mut http::HeaderMap, lifetime: Duration) {
    let mut kept: Vec<String> = directives_of(headers).map(str::to_owned).collect();
    let mut max_age = lifetime.as_secs();
    kept.retain(|d| match d.to_ascii_lowercase().strip_prefix("max-age=") {
        Some(n) => {
            if let Ok(n) = n.parse::<u64>() {
                max_age = max_age.min(n);
            }
            false
        }
        None => true,
    });
    kept.push(format!("max-age={max_age}"));
    if let Ok(v) = HeaderValue::try_from(kept.join(", ")) {
        headers.insert(header::CACHE_CONTROL, v);
    }
}

/// The meta entry at `key`, stored as JSON `[vary, tables]`.
async fn read_meta(qc: &QueryCache, key: &str) -> Option<Meta> {
    let got = qc.raw_store().get_many(&[key.to_owned()]).await.ok()?;
    let (vary, tables): (Vec<String>, Vec<String>) =
        serde_json::from_slice(got.into_iter().next()??.as_slice()).ok()?;
    Some(Meta { vary, tables })
}

async fn write_meta(qc: &QueryCache, key: &str, meta: &Meta, ttl: Duration) {
    if let Ok(bytes) = serde_json::to_vec(&(&meta.vary, &meta.tables)) {
        let _ = qc.raw_store().set(key, bytes, Some(ttl), false).await;
    }
}

/// A kept response.
struct Page {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl Page {
    fn into_response<ResB: From<Bytes>>(self, head: bool) -> Response<ResB> {
        let body = if head { Bytes::new() } else { self.body };
        let mut response = Response::new(ResB::from(body));
        *response.status_mut() = self.status;
        for (n, v) in self.headers {
            response.headers_mut().append(n, v);
        }
        response
    }
}

/// `[status u16][headers u32]{[name u32][name][value u32][value]}[body]`.
fn encode_page(status: StatusCode, headers: &http::HeaderMap, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 256);
    out.extend_from_slice(&status.as_u16().to_le_bytes());
    out.extend_from_slice(&(headers.len() as u32).to_le_bytes());
    for (n, v) in headers {
        for part in [n.as_str().as_bytes(), v.as_bytes()] {
            out.extend_from_slice(&(part.len() as u32).to_le_bytes());
            out.extend_from_slice(part);
        }
    }
    out.extend_from_slice(body);
    out
}

fn decode_page(data: &[u8]) -> Option<Page> {
    let take = |data: &mut &[u8], n: usize| -> Option<Vec<u8>> {
        let (a, b) = (data.get(..n)?, data.get(n..)?);
        *data = b;
        Some(a.to_vec())
    };
    let mut data = data;
    let status = u16::from_le_bytes(take(&mut data, 2)?.try_into().ok()?);
    let n = u32::from_le_bytes(take(&mut data, 4)?.try_into().ok()?);
    let mut headers = Vec::new();
    for _ in 0..n {
        let len = u32::from_le_bytes(take(&mut data, 4)?.try_into().ok()?) as usize;
        let name = HeaderName::from_bytes(&take(&mut data, len)?).ok()?;
        let len = u32::from_le_bytes(take(&mut data, 4)?.try_into().ok()?) as usize;
        let value = HeaderValue::from_bytes(&take(&mut data, len)?).ok()?;
        headers.push((name, value));
    }
    Some(Page {
        status: StatusCode::from_u16(status).ok()?,
        headers,
        body: Bytes::copy_from_slice(data),
    })
}

/// Django's `never_cache`: mark `response` as never to be kept by any cache
/// (`Cache-Control: max-age=0, no-cache, no-store, must-revalidate, private`).
///
/// ```
/// let mut response = http::Response::new(());
/// orm_sqlx::web::never_cache(&mut response);
/// assert!(response.headers()["cache-control"].to_str().unwrap().contains("no-store"));
/// ```
pub fn never_cache<B>(response: &mut Response<B>) {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=0, no-cache, no-store, must-revalidate, private"),
    );
}

/// Django's `patch_cache_control`: add `directives` (`"public"`, `"max-age=60"`…) to the
/// response's `Cache-Control`, replacing a directive of the same name. A directive that is
/// not a valid header value is [`Error::InvalidInput`].
///
/// ```
/// let mut response = http::Response::new(());
/// orm_sqlx::web::cache_control(&mut response, &["public", "max-age=60"])?;
/// orm_sqlx::web::cache_control(&mut response, &["max-age=30"])?;
/// assert_eq!(response.headers()["cache-control"], "public, max-age=30");
/// # Ok::<(), orm_sqlx::Error>(())
/// ```
pub fn cache_control<B>(response: &mut Response<B>, directives: &[&str]) -> Result<()> {
    let name_of = |d: &str| {
        d.split('=')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    let mut all: Vec<String> = directives_of(response.headers())
        .map(str::to_owned)
        .collect();
    for d in directives {
        let d = d.trim();
        all.retain(|old| name_of(old) != name_of(d));
        all.push(d.to_owned());
    }
    let value = HeaderValue::try_from(all.join(", ")).map_err(|_| {
        Error::InvalidInput(format!(
            "cache_control: {directives:?} is not a valid Cache-Control value"
        ))
    })?;
    response.headers_mut().insert(header::CACHE_CONTROL, value);
    Ok(())
}
