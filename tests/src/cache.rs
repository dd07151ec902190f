//! The backends the cache tests run on: the in-process cache and, when the run requires
//! it (`ORM_TEST_BACKENDS` unset or listing `redis`), the shared Redis, each under a
//! fresh prefix so that tests running at once never meet.

use std::sync::atomic::{AtomicUsize, Ordering};

use orm_sqlx::cache::Cache;

use crate::{REDIS_HINT, redis_required, redis_url};

/// A prefix no other test (nor another run) uses: `<file>_<name>_<pid>_<n>_<nanos>`.
pub fn unique(file: &str, name: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{file}_{name}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The shared Redis; a run that requires it and cannot reach it fails, saying how to start
/// it or opt out.
pub async fn shared_redis() -> Cache {
    Cache::redis(&redis_url()).await.unwrap_or_else(|e| {
        panic!("Redis is required by this run but unreachable: {e}\n{REDIS_HINT}")
    })
}

/// The in-process cache and, when the run requires it, Redis, under one fresh prefix.
pub async fn backends(file: &str, name: &str) -> Vec<(&'static str, Cache)> {
    let prefix = unique(file, name);
    let mut out = vec![("local", Cache::local(16 << 20).with_prefix(&prefix))];
    if redis_required() {
        out.push(("redis", shared_redis().await.with_prefix(&prefix)));
    } else {
        eprintln!("-- Redis left out by ORM_TEST_BACKENDS: local backend only");
    }
    out
}

/// A Redis server of one test's own, on a free loopback port, with no persistence: a test
/// can stop it, start it again (empty) or give it a memory limit without touching the
/// shared server other tests use. Killed when dropped.
pub struct PrivateRedis {
    port: u16,
    args: Vec<String>,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    /// Start `redis-server` with `args` added (`--maxmemory 1mb` …); a missing binary
    /// fails the test with what to do.
    pub fn start(args: &[&str]) -> PrivateRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut r = PrivateRedis {
            port,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
        };
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stop the server (SIGKILL: nothing is saved).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start it again, empty, on the same port; wait until it answers.
    pub fn restart(&mut self) {
        self.stop();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(&self.args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server for this test: {e}\n{REDIS_HINT}")
            });
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the private redis-server on port {} did not start",
                self.port
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Run `test` on every database backend with the library fixture (a fresh database per
/// run), once per cache backend, each with a `Db` that has that cache (`file`, `name`:
/// the cache's unique prefix).
pub async fn with_cached_library<F, Fut>(file: &str, name: &str, test: F)
where
    F: Fn(orm_sqlx::Db, crate::Backend, std::sync::Arc<crate::library::Library>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for cache_index in 0..2 {
        crate::with_library(|db, backend, lib| {
            let test = &test;
            async move {
                let caches = backends(file, name).await;
                let Some((cache_name, cache)) = caches.into_iter().nth(cache_index) else {
                    return;
                };
                eprintln!("-- cache: {cache_name}");
                test(db.with_cache(cache), backend, std::sync::Arc::new(lib)).await;
            }
        })
        .await;
    }
}

/// The titles of the library's books, by id, read through the cache (`cached(60 s)`),
/// with how many statements reached the database.
pub async fn cached_titles(db: &orm_sqlx::Db) -> (Vec<String>, usize) {
    use orm_sqlx::prelude::*;
    let (rows, q) = capture_queries(async {
        crate::library::Book::objects()
            .order_by(|b| b.id.asc())
            .cached(std::time::Duration::from_secs(60))
            .into_vec(db)
            .await
    })
    .await;
    let sent = q.iter().filter(|q| q.reached_database()).count();
    (rows.unwrap().into_iter().map(|b| b.title).collect(), sent)
}

/// Make the next miss of `db`'s query cache pause after its query, before storing: the
/// first receiver says it got there, the sender lets it go on. Later misses do not pause.
pub fn pause_first_store(
    db: &orm_sqlx::Db,
) -> (
    tokio::sync::oneshot::Receiver<()>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (reached_tx, reached_rx) = tokio::sync::oneshot::channel::<()>();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let slots = std::sync::Arc::new(std::sync::Mutex::new(Some((reached_tx, go_rx))));
    db.cache()
        .expect("a Db with a cache")
        .pause_before_store(Some(std::sync::Arc::new(move || {
            let slot = slots.lock().unwrap().take();
            Box::pin(async move {
                if let Some((reached, go)) = slot {
                    let _ = reached.send(());
                    let _ = go.await;
                }
            })
        })));
    (reached_rx, go_tx)
}

/// Abandon a write to book `id` (its title set to `"Landed"`) while another transaction
/// holds the row (SQLite: the write lock): the write is sent, waits for the lock, and its
/// future is dropped after 500 ms (a request timeout), so the server keeps the statement.
/// Returns the holding transaction: rolling it back lets the write land. Asserts that the
/// dropped write gave `books` a new version at once.
pub async fn abandon_a_write_to(db: &orm_sqlx::Db, id: i64) -> orm_sqlx::Transaction {
    use orm_sqlx::prelude::*;
    use std::time::Duration;
    let mut holder = db.begin().await.unwrap();
    crate::library::Book::objects()
        .filter(|b| b.id.eq(id))
        .update(|b| [b.pages.set(b.pages + 0)], &mut holder)
        .await
        .unwrap();
    let invalidations = || {
        db.cache()
            .expect("a Db with a cache")
            .stats()
            .tables
            .get("books")
            .map_or(0, |s| s.invalidations)
    };
    let n = invalidations();
    let mut to_write = crate::library::Book::objects().filter(|b| b.id.eq(id));
    let write = to_write.update(|b| [b.title.set("Landed")], db);
    let abandoned = tokio::time::timeout(Duration::from_millis(500), write).await;
    assert!(abandoned.is_err(), "the write waits for the lock");
    for _ in 0..500 {
        if invalidations() > n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(
        invalidations() > n,
        "the dropped write bumped `books` at once"
    );
    holder
}

/// Book `id`'s title as the database has it now (never through the cache).
pub async fn title_in_db(db: &orm_sqlx::Db, id: i64) -> String {
    use orm_sqlx::prelude::*;
    crate::library::Book::objects()
        .filter(|b| b.id.eq(id))
        .get(db)
        .await
        .unwrap()
        .title
}

/// Wait (bounded) until the database shows book `id` titled `title`: for a statement
/// whose future was dropped after it was sent, which the server finishes on its own.
pub async fn wait_for_title(db: &orm_sqlx::Db, id: i64, title: &str) {
    for _ in 0..500 {
        if title_in_db(db, id).await == title {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the database never showed book {id} titled {title:?}");
}
