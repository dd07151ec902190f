//! The debug panel's records and its routes: which requests it keeps, and which page a
//! request to the panel's path asks for.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use http::{HeaderValue, Method, Response, StatusCode, header};

use super::Settings;
use super::html;
use crate::findings::Findings;
use crate::query_log::CapturedQuery;

/// One request the panel recorded.
#[derive(Debug)]
pub(super) struct Record {
    /// Its number, in the order requests started (the panel's first is 1).
    pub id: u64,
    pub method: String,
    /// Path and query, as the request named them.
    pub target: String,
    pub status: u16,
    /// When the layer received it.
    pub started: SystemTime,
    /// From the layer calling the inner service to the response being ready.
    pub total: Duration,
    /// The statements' durations added up.
    pub db: Duration,
    /// What it sent (bound values dropped unless `show_params`).
    pub queries: Vec<CapturedQuery>,
    /// `analyze(&queries)`, worked out before the values were dropped.
    pub findings: Findings,
}

/// The panel's path and the requests it keeps.
pub(super) struct Panel {
    /// Where it is served, without a trailing `/`: `/__orm`.
    path: Box<str>,
    next_id: AtomicU64,
    /// The most recent records, oldest first (by the time each response was ready). A
    /// lock held only to push, pop or copy out `Arc`s, never across an await.
    records: Mutex<VecDeque<Arc<Record>>>,
}

/// The path and how many requests are kept, not the records (a layer's `Debug` would
/// print every statement, and its values, otherwise).
impl std::fmt::Debug for Panel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Panel")
            .field("path", &self.path)
            .field("kept", &self.lock().len())
            .finish()
    }
}

/// Which panel page a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Page {
    /// `<path>` or `<path>/`.
    List,
    /// `<path>/<id>`.
    Detail(u64),
    /// Anything else under `<path>/`.
    Unknown,
}

/// `path` as the panel's base path, or why it cannot be one.
pub(super) fn check_path(path: &str) -> Result<Box<str>, &'static str> {
    if !path.starts_with('/') {
        return Err("the panel's path must start with `/`");
    }
    if let Some(c) = path
        .chars()
        .find(|c| !c.is_ascii_graphic() || *c == '?' || *c == '#')
    {
        return Err(match c {
            '?' | '#' => "the panel's path cannot hold a query (`?`) or a fragment (`#`)",
            _ => "the panel's path must be visible ASCII (no blanks, no control characters)",
        });
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Err("the panel cannot be served at `/`: it would hide the whole application");
    }
    Ok(trimmed.into())
}

impl Panel {
    pub(super) fn new(path: Box<str>) -> Panel {
        Panel {
            path,
            next_id: AtomicU64::new(1),
            records: Mutex::new(VecDeque::new()),
        }
    }

    /// The number of the next request.
    pub(super) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The address of request `id`'s page.
    pub(super) fn link(&self, id: u64) -> String {
        format!("{}/{id}", self.path)
    }

    pub(super) fn path(&self) -> &str {
        &self.path
    }

    /// The page `path` asks for, or `None` when it is not the panel's.
    pub(super) fn route(&self, path: &str) -> Option<Page> {
        let rest = path.strip_prefix(&*self.path)?;
        if rest.is_empty() || rest == "/" {
            return Some(Page::List);
        }
        // `/__orm_other` is the application's.
        let rest = rest.strip_prefix('/')?;
        let id = rest.strip_suffix('/').unwrap_or(rest);
        if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
            // Too many digits for a u64: a request never recorded.
            return Some(id.parse().map_or(Page::Unknown, Page::Detail));
        }
        Some(Page::Unknown)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Record>>> {
        // A panic elsewhere while the lock was held left the list whole (a push or a
        // pop): the panel goes on with it.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keep `record`, forgetting the oldest beyond `keep`.
    pub(super) fn store(&self, record: Record, keep: usize) {
        if keep == 0 {
            return;
        }
        let record = Arc::new(record);
        let evicted: Vec<Arc<Record>> = {
            let mut records = self.lock();
            records.push_back(record);
            let over = records.len().saturating_sub(keep);
            records.drain(..over).collect()
        };
        // Freed after the lock is released.
        drop(evicted);
    }

    /// The records kept, newest first.
    pub(super) fn recent(&self) -> Vec<Arc<Record>> {
        let mut records: Vec<Arc<Record>> = self.lock().iter().cloned().collect();
        records.sort_by_key(|r| std::cmp::Reverse(r.id));
        records
    }

    /// Record `id`, if it is still kept.
    pub(super) fn find(&self, id: u64) -> Option<Arc<Record>> {
        self.lock().iter().find(|r| r.id == id).cloned()
    }

    /// The response to a request for `page`.
    pub(super) fn respond<B: From<String>>(
        &self,
        method: &Method,
        page: Page,
        settings: &Settings,
    ) -> Response<B> {
        let head = method == Method::HEAD;
        if method != Method::GET && !head {
            let mut response = page_response(
                StatusCode::METHOD_NOT_ALLOWED,
                html::method_not_allowed(self, method.as_str()),
                false,
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let (status, body) = match page {
            Page::List => (StatusCode::OK, html::list(self, &self.recent(), settings)),
            Page::Detail(id) => match self.find(id) {
                Some(record) => (StatusCode::OK, html::detail(self, &record, settings)),
                None => (StatusCode::NOT_FOUND, html::not_found(self, settings)),
            },
            Page::Unknown => (StatusCode::NOT_FOUND, html::not_found(self, settings)),
        };
        page_response(status, body, head)
    }
}

/// An HTML page: no caching, no scripts, no framing, nothing loaded from elsewhere.
fn page_response<B: From<String>>(status: StatusCode, body: String, head: bool) -> Response<B> {
    let body = if head { String::new() } else { body };
    let mut response = Response::new(B::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; \
             base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::{Page, Panel, check_path};

    #[test]
    fn the_panel_path_is_checked_and_routed() {
        assert_eq!(check_path("/__orm/").as_deref(), Ok("/__orm"));
        assert!(check_path("__orm").is_err());
        assert!(check_path("/").is_err());
        assert!(check_path("//").is_err());
        assert!(check_path("/a b").is_err());
        assert!(check_path("/a?b").is_err());
        assert!(check_path("/é").is_err());
        let panel = Panel::new("/__orm".into());
        assert_eq!(panel.route("/__orm"), Some(Page::List));
        assert_eq!(panel.route("/__orm/"), Some(Page::List));
        assert_eq!(panel.route("/__orm/17"), Some(Page::Detail(17)));
        assert_eq!(panel.route("/__orm/17/"), Some(Page::Detail(17)));
        assert_eq!(panel.route("/__orm/+17"), Some(Page::Unknown));
        assert_eq!(panel.route("/__orm/x"), Some(Page::Unknown));
        assert_eq!(panel.route("/__orm/1/2"), Some(Page::Unknown));
        assert_eq!(
            panel.route("/__orm/99999999999999999999999"),
            Some(Page::Unknown)
        );
        assert_eq!(panel.route("/__ormx"), None);
        assert_eq!(panel.route("/books"), None);
    }
}
