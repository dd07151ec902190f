//! What the ORM is doing when a statement goes out, for the backends' query log: the
//! line of the user's code that caused it (its *origin*), the relations it loads (lazily,
//! by `select_related` or by `prefetch_related`); and, while an [`Observer`] watches the
//! task, which loaded relations were read and how often each was loaded lazily from one
//! line: the N+1 pattern, which a strict observer refuses as it happens.
//!
//! Every evaluating, saving and deleting method is `#[track_caller]` and wraps its work in
//! [`traced`]: while the work is polled, a thread-local *frame* holds the caller's
//! location. Calls the ORM makes to itself are not origins: a location inside the ORM's
//! own sources keeps the frame's origin (Django's debug toolbar likewise skips its own
//! frames in a statement's stack). The frame is set and restored around each poll, so it
//! follows the task as a task-local would, and costs a few instructions per poll.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use crate::dsl::expr::RelPath;
use crate::dsl::select_related::SelectNode;
use crate::error::{Error, Result};
use crate::schema::relation::{RelationKind, RelationMeta};

/// How a statement loads a relation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoadKind {
    /// `book.author.load(&db)`: one instance's related row, on demand.
    Lazy,
    /// A JOIN of `select_related`, in the queryset's own statement.
    SelectRelated,
    /// The IN query of `prefetch_related`.
    Prefetch,
}

/// A relation a statement loads, by the path from the model it was loaded for.
#[derive(Clone, Copy)]
pub struct RelationLoad {
    pub kind: LoadKind,
    /// The hops from the evaluated model (`Book`) to the loaded one (`author`, or
    /// `author.country`); one hop for a lazy load.
    pub path: RelPath,
    /// For `select_related` and `prefetch_related`: whether any loaded row of this
    /// relation was read in the capture that recorded the statement, known once the
    /// capture ends (`None` before, and for lazy loads).
    pub read: Option<bool>,
}

impl RelationLoad {
    /// The relation loaded (the last hop).
    pub fn relation(&self) -> Option<&'static RelationMeta> {
        self.path.last()
    }

    /// `Model.field` of the relation loaded: `"Book.author"`.
    pub fn label(&self) -> String {
        self.relation().map_or_else(String::new, relation_label)
    }

    /// The path as the queryset method takes it, from the evaluated model:
    /// `|b| b.author().country()`.
    pub fn closure(&self) -> String {
        let Some(first) = self.path.hops().next() else {
            return String::new();
        };
        let var = variable((first.parent)().name);
        let hops: Vec<String> = self.path.hops().map(|h| format!(".{}()", h.name)).collect();
        format!("|{var}| {var}{}", hops.concat())
    }
}

impl std::fmt::Debug for RelationLoad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} {}", self.kind, self.label())?;
        if let Some(read) = self.read {
            write!(f, " (read: {read})")?;
        }
        Ok(())
    }
}

impl PartialEq for RelationLoad {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.read == other.read
            && self.path.len() == other.path.len()
            && self
                .path
                .hops()
                .zip(other.path.hops())
                .all(|(a, b)| std::ptr::eq(a, b))
    }
}

/// `Model.field` of a relation.
pub fn relation_label(rel: &RelationMeta) -> String {
    format!("{}.{}", (rel.parent)().name, rel.name)
}

/// The closure parameter a fix text uses for a model: its name's first letter, lowercase.
fn variable(model: &str) -> String {
    model
        .chars()
        .next()
        .map_or_else(|| "m".into(), |c| c.to_lowercase().collect())
}

/// How to load `rel` with its parent's rows instead of once per row: `select_related`
/// for a relation to one row, `prefetch_related` for one to many.
pub fn eager_fix(rel: &RelationMeta) -> String {
    let var = variable((rel.parent)().name);
    let method = match rel.kind {
        RelationKind::ForeignKey | RelationKind::OneToOne => "select_related",
        _ => "prefetch_related",
    };
    format!("{method}(|{var}| {var}.{}())", rel.name)
}

/// What the ORM is doing on this thread's current task, besides the origin: set around
/// each poll by [`Traced`].
#[derive(Default)]
struct Frame {
    loads: Vec<RelationLoad>,
    observer: Option<Arc<Observer>>,
}

thread_local! {
    /// The origin, apart: set by every user call, and a `Cell` of a `Copy` value needs
    /// neither a borrow flag nor a destructor check.
    static ORIGIN: std::cell::Cell<Option<&'static Location<'static>>> =
        const { std::cell::Cell::new(None) };
    static FRAME: RefCell<Frame> = const {
        RefCell::new(Frame { loads: Vec::new(), observer: None })
    };
}

/// How many observers are alive: reads of loaded relations are noted only while one is.
static OBSERVERS: AtomicUsize = AtomicUsize::new(0);

/// The origin of the statement about to be sent: the user's line that caused it.
pub fn origin() -> Option<&'static Location<'static>> {
    ORIGIN.get()
}

/// The relations the statement about to be sent loads (a copy; only a capture asks).
pub fn loads() -> Vec<RelationLoad> {
    FRAME.with(|f| f.borrow().loads.clone())
}

/// Whether an observer is watching some task (one relaxed load): the ORM labels the
/// statements it sends with the relations they load only then.
#[inline]
pub fn observing() -> bool {
    OBSERVERS.load(Ordering::Relaxed) != 0
}

/// The loads of a `select_related` plan, every node (nested ones too) by its path from
/// the queryset's model; none while nothing observes.
pub fn selected(nodes: &[SelectNode]) -> Vec<RelationLoad> {
    if observing() {
        select_loads(nodes)
    } else {
        Vec::new()
    }
}

/// [`selected`], whether or not anything observes yet: for a stream, built before it is
/// read (and perhaps before a capture starts).
pub fn select_loads(nodes: &[SelectNode]) -> Vec<RelationLoad> {
    fn walk(nodes: &[SelectNode], out: &mut Vec<RelationLoad>) {
        for n in nodes {
            out.push(RelationLoad {
                kind: LoadKind::SelectRelated,
                path: n.path,
                read: None,
            });
            walk(&n.children, out);
        }
    }
    let mut out = Vec::new();
    walk(nodes, &mut out);
    out
}

/// The load of a `prefetch_related` level, by its path from the evaluated model: the
/// level being prefetched below (the frame's prefetch load, if any) and `rel`. None while
/// nothing observes.
pub fn prefetched(rel: &'static RelationMeta) -> Vec<RelationLoad> {
    if !observing() {
        return Vec::new();
    }
    let above = FRAME.with(|f| {
        f.borrow()
            .loads
            .iter()
            .find(|l| l.kind == LoadKind::Prefetch)
            .map(|l| l.path)
    });
    vec![RelationLoad {
        kind: LoadKind::Prefetch,
        path: above.unwrap_or(RelPath::ROOT).join(rel),
        read: None,
    }]
}

/// The observer watching the current task, if any.
pub fn observer() -> Option<Arc<Observer>> {
    if OBSERVERS.load(Ordering::Relaxed) == 0 {
        return None;
    }
    FRAME.with(|f| f.borrow().observer.clone())
}

/// Whether `file` (a [`Location::file`]) is one of the ORM's own sources: the `src`
/// folder of `orm-core` or `orm-sqlx`, in a workspace (`orm-core/src/…`) or a registry
/// (`…/orm-core-0.1.0/src/…`).
fn is_orm_source(file: &str) -> bool {
    // No allocation: this runs on every evaluating call.
    let is_orm_dir = |dir: &str| {
        ["orm-core", "orm-sqlx"].iter().any(|name| {
            dir.strip_prefix(name).is_some_and(|rest| {
                rest.is_empty()
                    || rest
                        .strip_prefix('-')
                        .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()))
            })
        })
    };
    let mut parts = file.split(['/', '\\']);
    let Some(mut dir) = parts.next() else {
        return false;
    };
    for part in parts {
        if part == "src" && is_orm_dir(dir) {
            return true;
        }
        dir = part;
    }
    false
}

thread_local! {
    /// The last call sites seen, by address, with whether each is the ORM's own: a call
    /// site's answer never changes, and a loop calls the same few sites again.
    static SITES: std::cell::Cell<[(usize, bool); 4]> = const {
        std::cell::Cell::new([(0, false); 4])
    };
}

/// Whether `file` is a dependency's source (a crate from a registry or a git checkout,
/// or the standard library): a future awaited through `tokio::join!`, `timeout` or
/// `select!` is turned into a future there, which is not the user's line either.
fn is_dependency_source(file: &str) -> bool {
    let file = file.as_bytes();
    let has = |needle: &[u8]| file.windows(needle.len()).any(|w| w == needle);
    file.starts_with(b"/rustc/")
        || has(b"/.cargo/registry/src/")
        || has(b"/.cargo/git/checkouts/")
        || has(b"\\.cargo\\registry\\src\\")
}

/// The caller's location unless it is inside the ORM or another library.
#[track_caller]
fn caller() -> Option<&'static Location<'static>> {
    let loc = Location::caller();
    let addr = loc as *const Location<'static> as usize;
    let slot = (addr >> 3) & 3;
    let own = SITES.with(|sites| {
        let mut seen = sites.get();
        if seen[slot].0 == addr {
            return seen[slot].1;
        }
        let own = is_orm_source(loc.file()) || is_dependency_source(loc.file());
        seen[slot] = (addr, own);
        sites.set(seen);
        own
    });
    (!own).then_some(loc)
}

pin_project_lite::pin_project! {
    /// A future run with a frame: see the [module](self) documentation.
    pub struct Traced<F> {
        #[pin]
        inner: F,
        origin: Option<&'static Location<'static>>,
        loads: Vec<RelationLoad>,
        observer: Option<Arc<Observer>>,
    }
}

/// Run `fut` with the caller's location as the origin of its statements (unless the
/// caller is the ORM itself, or an inner call sets its own).
#[track_caller]
pub fn traced<F: Future>(fut: F) -> Traced<F> {
    Traced {
        inner: fut,
        origin: caller(),
        loads: Vec::new(),
        observer: None,
    }
}

/// Run `fut` (a future or a stream) as a load of `loads`: its statements carry them.
#[track_caller]
pub fn loading<F>(loads: Vec<RelationLoad>, fut: F) -> Traced<F> {
    Traced {
        inner: fut,
        origin: caller(),
        loads,
        observer: None,
    }
}

/// Run `fut` watched by `observer`: an inner observer also reports to the outer one.
pub fn observed<F: Future>(observer: Arc<Observer>, fut: F) -> Traced<F> {
    Traced {
        inner: fut,
        origin: None,
        loads: Vec::new(),
        observer: Some(observer),
    }
}

/// Puts the outer frame back when a poll ends, also by a panic.
struct Restore<'a> {
    /// The outer origin, if this frame replaced it.
    origin: Option<Option<&'static Location<'static>>>,
    loads: Option<Vec<RelationLoad>>,
    observer: Option<Option<Arc<Observer>>>,
    mine_loads: &'a mut Vec<RelationLoad>,
    mine_observer: &'a mut Option<Arc<Observer>>,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        if let Some(outer) = self.origin {
            ORIGIN.set(outer);
        }
        if self.loads.is_none() && self.observer.is_none() {
            return;
        }
        FRAME.with(|f| {
            let mut f = f.borrow_mut();
            if let Some(outer) = self.loads.take() {
                *self.mine_loads = std::mem::replace(&mut f.loads, outer);
            }
            if let Some(outer) = self.observer.take() {
                *self.mine_observer = std::mem::replace(&mut f.observer, outer);
            }
        });
    }
}

/// Install the frame of a `Traced` for one poll; dropping the guard restores the outer.
/// A frame that sets nothing (a call the ORM makes to itself) touches no thread-local.
fn enter<'a>(
    origin: Option<&'static Location<'static>>,
    loads: &'a mut Vec<RelationLoad>,
    observer: &'a mut Option<Arc<Observer>>,
) -> Restore<'a> {
    let outer_origin = origin.map(|o| ORIGIN.replace(Some(o)));
    if loads.is_empty() && observer.is_none() {
        return Restore {
            origin: outer_origin,
            loads: None,
            observer: None,
            mine_loads: loads,
            mine_observer: observer,
        };
    }
    FRAME.with(|f| {
        let mut f = f.borrow_mut();
        let outer_loads =
            (!loads.is_empty()).then(|| std::mem::replace(&mut f.loads, std::mem::take(loads)));
        let outer_observer = observer
            .is_some()
            .then(|| std::mem::replace(&mut f.observer, observer.take()));
        Restore {
            origin: outer_origin,
            loads: outer_loads,
            observer: outer_observer,
            mine_loads: loads,
            mine_observer: observer,
        }
    })
}

impl<F: Future> Future for Traced<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _frame = enter(*this.origin, this.loads, this.observer);
        this.inner.poll(cx)
    }
}

impl<S: futures_core::Stream> futures_core::Stream for Traced<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        let _frame = enter(*this.origin, this.loads, this.observer);
        this.inner.poll_next(cx)
    }
}

/// Read `stream` with the caller's location as the origin of its statements.
#[track_caller]
pub fn traced_stream<S: futures_core::Stream>(stream: S) -> Traced<S> {
    Traced {
        inner: stream,
        origin: caller(),
        loads: Vec::new(),
        observer: None,
    }
}

/// Watches a task for the N+1 pattern and for loaded relations never read. Made by the
/// backends' capture scopes; a strict one turns a repeated lazy load into an error.
pub struct Observer {
    strict: bool,
    /// The relation noted read last: a loop reading one relation row after row takes the
    /// lock once.
    last_read: AtomicUsize,
    parent: Option<Arc<Observer>>,
    state: Mutex<Observed>,
}

#[derive(Default)]
struct Observed {
    /// Lazy loads per (relation, origin).
    lazy: HashMap<(usize, usize), u32>,
    /// The relations read (by address).
    read: HashSet<usize>,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("strict", &self.strict)
            .finish_non_exhaustive()
    }
}

impl Observer {
    /// A new observer under the one watching the current task (if any), which it reports
    /// to as well.
    pub fn new(strict: bool) -> Arc<Observer> {
        let parent = FRAME.with(|f| f.borrow().observer.clone());
        OBSERVERS.fetch_add(1, Ordering::Relaxed);
        Arc::new(Observer {
            strict: strict || parent.as_ref().is_some_and(|p| p.strict),
            last_read: AtomicUsize::new(0),
            parent,
            state: Mutex::new(Observed::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Observed> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a row loaded for `rel` was read while this observer watched.
    pub fn was_read(&self, rel: &'static RelationMeta) -> bool {
        self.lock()
            .read
            .contains(&(rel as *const RelationMeta as usize))
    }

    fn note_read(&self, key: usize) {
        if self.last_read.swap(key, Ordering::Relaxed) == key {
            return;
        }
        self.lock().read.insert(key);
        if let Some(p) = &self.parent {
            p.note_read(key);
        }
    }

    /// Count a lazy load; the count for its relation and origin.
    fn note_lazy(&self, key: (usize, usize)) -> u32 {
        let n = {
            let mut s = self.lock();
            let n = s.lazy.entry(key).or_insert(0);
            *n += 1;
            *n
        };
        match &self.parent {
            Some(p) => p.note_lazy(key).max(n),
            None => n,
        }
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        OBSERVERS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A loaded relation was read (`get`, `all`, `take`, serialised): noted for the observer
/// watching the task. One relaxed load when nothing observes.
#[inline]
pub fn read(rel: Option<&'static RelationMeta>) {
    if OBSERVERS.load(Ordering::Relaxed) == 0 {
        return;
    }
    let Some(rel) = rel else { return };
    if let Some(o) = FRAME.with(|f| f.borrow().observer.clone()) {
        o.note_read(rel as *const RelationMeta as usize);
    }
}

/// A lazy load of `rel` is about to be sent: counted per origin, and refused under a
/// strict observer when the same line already loaded this relation (a loop over rows
/// loading it one by one: the N+1 pattern).
pub fn lazy_load(rel: &'static RelationMeta) -> Result<()> {
    let Some(o) = observer() else {
        return Ok(());
    };
    let origin = origin();
    let key = (
        rel as *const RelationMeta as usize,
        origin.map_or(0, |l| l as *const Location<'static> as usize),
    );
    let n = o.note_lazy(key);
    if o.strict && n >= 2 {
        let at = origin.map_or_else(String::new, |l| format!(" at {l}"));
        return Err(Error::NPlusOne(format!(
            "{} loaded lazily again{at} (strict loading): one query per row; load it \
             with the rows instead: {}",
            relation_label(rel),
            eager_fix(rel)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{is_dependency_source, is_orm_source};

    #[test]
    fn dependencies_are_not_the_users_code() {
        assert!(is_dependency_source(
            "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.54.1/src/future/maybe_done.rs"
        ));
        assert!(is_dependency_source(
            "/home/u/.cargo/git/checkouts/axum-1/abc/src/lib.rs"
        ));
        assert!(is_dependency_source(
            "/rustc/59807616e1fa/library/core/src/future/mod.rs"
        ));
        assert!(!is_dependency_source("src/main.rs"));
        assert!(!is_dependency_source("/home/u/app/src/handlers.rs"));
    }

    #[test]
    fn the_orm_knows_its_own_sources() {
        for own in [
            "orm-core/src/eval/related.rs",
            "orm-sqlx/src/db.rs",
            "/root/.cargo/registry/src/index.crates.io-1/orm-core-0.1.0/src/eval/related.rs",
            r"C:\x\orm-sqlx-0.2.0-rc.1\src\db.rs",
        ] {
            assert!(is_orm_source(own), "{own}");
        }
        for user in [
            "src/main.rs",
            "tests/tests/query_details.rs",
            "examples/src/web.rs",
            "my-orm-core/src/lib.rs",
            "orm-core-tools/src/lib.rs",
            "orm-core/tests/layers.rs",
        ] {
            assert!(!is_orm_source(user), "{user}");
        }
    }
}

/// What a cached evaluation asks of the backend's query cache
/// ([`QuerySet::cached`](crate::QuerySet::cached)): how long a result may be kept, and
/// what reads its rows (the result type), which is part of the cache key: the same SQL read
/// as another type is another entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheRequest {
    /// How long a stored result may be served (zero: never stored).
    pub ttl: std::time::Duration,
    /// The type the rows are read as (`std::any::type_name`).
    pub reader: &'static str,
}

thread_local! {
    /// The cache request of the evaluation being polled on this thread, if any.
    static CACHING: std::cell::Cell<Option<CacheRequest>> = const { std::cell::Cell::new(None) };
}

/// The cache request of the statement about to be sent: set while a cached queryset is
/// evaluated (its prefetch queries too), `None` otherwise.
#[inline]
pub fn cache_request() -> Option<CacheRequest> {
    CACHING.get()
}

pin_project_lite::pin_project! {
    /// A future whose statements carry a [`CacheRequest`]: see [`caching`].
    pub struct Caching<F> {
        #[pin]
        inner: F,
        request: Option<CacheRequest>,
    }
}

/// Run `fut` with `request` as the cache request of its statements (set and restored
/// around each poll, as the frame of [`traced`] is). `None` leaves the current one.
///
/// Executors look at the request when they are *called*, so `fut` must call them when
/// polled: `caching(r, async { ex.fetch_all(stmt).await })`, not
/// `caching(r, ex.fetch_all(stmt))`.
pub fn caching<F: Future>(request: Option<CacheRequest>, fut: F) -> Caching<F> {
    Caching {
        inner: fut,
        request,
    }
}

/// Puts the outer cache request back when a poll ends, also by a panic.
struct RestoreCaching(Option<CacheRequest>);

impl Drop for RestoreCaching {
    fn drop(&mut self) {
        CACHING.set(self.0);
    }
}

impl<F: Future> Future for Caching<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _restore = this
            .request
            .map(|r| RestoreCaching(CACHING.replace(Some(r))));
        this.inner.poll(cx)
    }
}
