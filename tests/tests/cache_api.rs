//! `orm_sqlx::cache`: Django's low-level cache API, on the in-process backend and on Redis
//! (required unless `ORM_TEST_BACKENDS` is set without `redis`; see `orm_tests`).
//!
//! Tests run in parallel on one shared Redis: each uses its own prefix, and clears it at
//! the end. The restart test starts a Redis server of its own on a free port and never
//! touches the shared one.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use orm_sqlx::Error;
use orm_sqlx::cache::{Cache, MAX_KEY_BYTES, Timeout};
use orm_tests::{REDIS_HINT, redis_required, redis_url};
use serde::{Deserialize, Serialize};

fn unique(name: &str) -> String {
    orm_tests::cache::unique("cache_api", name)
}

async fn shared_redis() -> Cache {
    orm_tests::cache::shared_redis().await
}

async fn backends(name: &str) -> Vec<(&'static str, Cache)> {
    orm_tests::cache::backends("cache_api", name).await
}

fn secs(s: u64) -> Timeout {
    Timeout::After(Duration::from_secs(s))
}

fn cache_error(r: Result<impl std::fmt::Debug, Error>) -> String {
    match r {
        Err(Error::Cache(m)) => m,
        other => panic!("expected Error::Cache, got {other:?}"),
    }
}

/// `redis-cli` on the shared server (or another port).
fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run redis-cli: {e}\n{REDIS_HINT}"));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn shared_port() -> u16 {
    // redis://[user:pass@]host:port[/db]
    let url = redis_url();
    let authority = url.split("://").nth(1).unwrap_or("");
    let host_port = authority.split('/').next().unwrap_or("");
    let host_port = host_port.rsplit('@').next().unwrap_or("");
    host_port
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(6379)
}

fn pttl(cache: &Cache, key: &str) -> i64 {
    let full = cache.make_key(key).unwrap();
    redis_cli(shared_port(), &["PTTL", &full])
        .parse()
        .expect("PTTL answers an integer")
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Profile {
    name: String,
    tags: Vec<String>,
    score: Option<f64>,
}

#[tokio::test]
async fn set_get_roundtrip_and_a_wrong_type_is_a_typed_error() {
    for (name, cache) in backends("roundtrip").await {
        eprintln!("-- on {name}");
        let p = Profile {
            name: "Ann".into(),
            tags: vec!["a".into(), "é".into()],
            score: Some(0.1),
        };
        assert_eq!(cache.get::<Profile>("p").await.unwrap(), None);
        assert!(!cache.has_key("p").await.unwrap());
        cache.set("p", &p, Timeout::Default).await.unwrap();
        assert_eq!(cache.get::<Profile>("p").await.unwrap(), Some(p.clone()));
        assert!(cache.has_key("p").await.unwrap());
        let m = cache_error(cache.get::<Vec<i64>>("p").await);
        assert!(m.contains("does not deserialise as"), "{m}");
        assert!(m.contains(&cache.make_key("p").unwrap()), "{m}");
        // Overwritten.
        cache.set("p", &"text", Timeout::Default).await.unwrap();
        assert_eq!(
            cache.get::<String>("p").await.unwrap().as_deref(),
            Some("text")
        );
        cache.clear().await.unwrap();
    }
}

#[tokio::test]
async fn a_zero_timeout_stores_nothing_and_deletes() {
    for (name, cache) in backends("zero").await {
        eprintln!("-- on {name}");
        let zero = Timeout::After(Duration::ZERO);
        cache.set("k", &1, Timeout::Never).await.unwrap();
        cache.set("k", &2, zero).await.unwrap();
        assert_eq!(cache.get::<i64>("k").await.unwrap(), None);

        // add: nothing stored, the answer is whether the key was free.
        assert!(cache.add("a", &1, zero).await.unwrap());
        assert_eq!(cache.get::<i64>("a").await.unwrap(), None);
        cache.set("a", &1, Timeout::Never).await.unwrap();
        assert!(!cache.add("a", &2, zero).await.unwrap());

        cache
            .set_many([("m1", 1), ("m2", 2)], Timeout::Never)
            .await
            .unwrap();
        cache.set_many([("m1", 1), ("m2", 2)], zero).await.unwrap();
        assert!(
            cache
                .get_many::<i64, _>(["m1", "m2"])
                .await
                .unwrap()
                .is_empty()
        );

        cache.set("t", &1, Timeout::Never).await.unwrap();
        assert!(cache.touch("t", zero).await.unwrap());
        assert_eq!(cache.get::<i64>("t").await.unwrap(), None);

        let calls = AtomicUsize::new(0);
        for _ in 0..2 {
            let v: i64 = cache
                .get_or_set(
                    "g",
                    || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        5
                    },
                    zero,
                )
                .await
                .unwrap();
            assert_eq!(v, 5);
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "nothing stored, so computed twice"
        );

        // A default timeout of zero (Django's TIMEOUT: 0).
        let never_stores = cache.with_default_timeout(zero);
        never_stores.set("d", &1, Timeout::Default).await.unwrap();
        assert_eq!(cache.get::<i64>("d").await.unwrap(), None);
        cache.clear().await.unwrap();
    }
}

#[tokio::test]
async fn add_stores_only_when_absent() {
    for (name, cache) in backends("add").await {
        eprintln!("-- on {name}");
        assert!(cache.add("k", &"first", Timeout::Default).await.unwrap());
        assert!(!cache.add("k", &"second", Timeout::Default).await.unwrap());
        assert_eq!(
            cache.get::<String>("k").await.unwrap().as_deref(),
            Some("first")
        );
        assert!(cache.delete("k").await.unwrap());
        assert!(cache.add("k", &"third", Timeout::Default).await.unwrap());
        assert_eq!(
            cache.get::<String>("k").await.unwrap().as_deref(),
            Some("third")
        );
        cache.clear().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_get_or_set_computes_once() {
    for (name, cache) in backends("flight").await {
        eprintln!("-- on {name}");
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let cache = cache.clone();
            let calls = calls.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_set(
                        "slow",
                        || async {
                            calls.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            vec![1, 2, 3]
                        },
                        Timeout::Default,
                    )
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), vec![1, 2, 3]);
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "compute ran more than once"
        );

        // A failed computation stores nothing and is returned; the next call computes.
        let r: Result<i64, Error> = cache
            .try_get_or_set(
                "fails",
                || async { Err(Error::InvalidInput("boom".into())) },
                Timeout::Default,
            )
            .await;
        assert!(matches!(r, Err(Error::InvalidInput(_))), "{r:?}");
        assert!(!cache.has_key("fails").await.unwrap());
        let v: i64 = cache
            .try_get_or_set("fails", || async { Ok::<_, Error>(3) }, Timeout::Default)
            .await
            .unwrap();
        assert_eq!(v, 3);
        assert_eq!(cache.get::<i64>("fails").await.unwrap(), Some(3));
        cache.clear().await.unwrap();
    }
}

#[tokio::test]
async fn delete_get_many_set_many_delete_many() {
    for (name, cache) in backends("many").await {
        eprintln!("-- on {name}");
        assert!(!cache.delete("none").await.unwrap());
        cache
            .set_many(
                vec![
                    ("a".to_string(), 1),
                    ("b".to_string(), 2),
                    ("c".to_string(), 3),
                ],
                Timeout::Default,
            )
            .await
            .unwrap();
        let got = cache.get_many::<i64, _>(["a", "b", "x"]).await.unwrap();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!((got["a"], got["b"]), (1, 2));
        assert!(cache.get_many::<i64, &str>([]).await.unwrap().is_empty());
        assert_eq!(cache.delete_many(["a", "b", "x"]).await.unwrap(), 2);
        assert_eq!(cache.get::<i64>("a").await.unwrap(), None);
        assert_eq!(cache.get::<i64>("c").await.unwrap(), Some(3));
        assert!(cache.delete("c").await.unwrap());
        assert!(!cache.delete("c").await.unwrap());
        cache.clear().await.unwrap();
    }
}

#[tokio::test]
async fn incr_and_decr() {
    for (name, cache) in backends("incr").await {
        eprintln!("-- on {name}");
        let m = cache_error(cache.incr("n", 1).await);
        assert!(m.contains("holds no value"), "{m}");
        assert!(!cache.has_key("n").await.unwrap(), "incr created the key");
        cache.set("n", &10, Timeout::Default).await.unwrap();
        assert_eq!(cache.incr("n", 5).await.unwrap(), 15);
        assert_eq!(cache.decr("n", 20).await.unwrap(), -5);
        assert_eq!(cache.get::<i64>("n").await.unwrap(), Some(-5));

        cache.set("s", &"ten", Timeout::Default).await.unwrap();
        let m = cache_error(cache.incr("s", 1).await);
        assert!(m.contains("not a 64-bit integer"), "{m}");
        cache.set("f", &1.5, Timeout::Default).await.unwrap();
        let m = cache_error(cache.incr("f", 1).await);
        assert!(m.contains("not a 64-bit integer"), "{m}");

        cache.set("max", &i64::MAX, Timeout::Default).await.unwrap();
        let m = cache_error(cache.incr("max", 1).await);
        assert!(m.contains("overflow"), "{m}");
        assert_eq!(cache.get::<i64>("max").await.unwrap(), Some(i64::MAX));
        cache.clear().await.unwrap();
    }
}

#[tokio::test]
async fn touch_answers_whether_the_key_exists() {
    for (name, cache) in backends("touch").await {
        eprintln!("-- on {name}");
        assert!(!cache.touch("k", secs(60)).await.unwrap());
        cache.set("k", &1, secs(60)).await.unwrap();
        assert!(cache.touch("k", Timeout::Never).await.unwrap());
        // Already without expiry: still there (Redis's PERSIST would answer 0).
        assert!(cache.touch("k", Timeout::Never).await.unwrap());
        assert_eq!(cache.get::<i64>("k").await.unwrap(), Some(1));
        cache.clear().await.unwrap();
    }
}

#[tokio::test]
async fn versions_and_prefixes_isolate_entries() {
    for (name, cache) in backends("versions").await {
        eprintln!("-- on {name}");
        let v2 = cache.version(2);
        cache.set("k", &"one", Timeout::Default).await.unwrap();
        v2.set("k", &"two", Timeout::Default).await.unwrap();
        assert_eq!(
            cache.get::<String>("k").await.unwrap().as_deref(),
            Some("one")
        );
        assert_eq!(v2.get::<String>("k").await.unwrap().as_deref(), Some("two"));
        assert_eq!(
            cache.make_key("k").unwrap(),
            format!("{}:1:k", cache.prefix())
        );
        assert_eq!(v2.make_key("k").unwrap(), format!("{}:2:k", cache.prefix()));

        // Another prefix on the same backend sees nothing.
        let other = cache.with_prefix(&format!("{}_other", cache.prefix()));
        assert_eq!(other.get::<String>("k").await.unwrap(), None);
        other.set("k", &"other", Timeout::Default).await.unwrap();
        assert_eq!(
            cache.get::<String>("k").await.unwrap().as_deref(),
            Some("one")
        );

        // incr_version moves the value to version + 1.
        cache.set("m", &"moved", Timeout::Default).await.unwrap();
        assert_eq!(cache.incr_version("m", 1).await.unwrap(), 2);
        assert_eq!(cache.get::<String>("m").await.unwrap(), None);
        assert_eq!(
            v2.get::<String>("m").await.unwrap().as_deref(),
            Some("moved")
        );
        assert_eq!(v2.decr_version("m", 1).await.unwrap(), 1);
        assert_eq!(
            cache.get::<String>("m").await.unwrap().as_deref(),
            Some("moved")
        );
        assert_eq!(v2.get::<String>("m").await.unwrap(), None);
        let m = cache_error(cache.incr_version("absent", 1).await);
        assert!(m.contains("holds no value"), "{m}");

        // clear() takes every version of this prefix, not the other prefix.
        cache.clear().await.unwrap();
        assert_eq!(cache.get::<String>("k").await.unwrap(), None);
        assert_eq!(v2.get::<String>("k").await.unwrap(), None);
        assert_eq!(
            other.get::<String>("k").await.unwrap().as_deref(),
            Some("other")
        );
        other.clear().await.unwrap();
    }
}

#[tokio::test]
async fn clear_leaves_other_prefixes_alone() {
    for (name, cache) in backends("clear").await {
        eprintln!("-- on {name}");
        let base = cache.prefix().to_owned();
        // A prefix that starts like this one, and one with glob characters.
        let longer = cache.with_prefix(&format!("{base}x"));
        let globby = cache.with_prefix(&format!("{base}*"));
        let globby_sibling = cache.with_prefix(&format!("{base}y"));
        for c in [&cache, &longer, &globby, &globby_sibling] {
            c.set("k", &1, Timeout::Default).await.unwrap();
        }
        globby.clear().await.unwrap();
        assert_eq!(globby.get::<i64>("k").await.unwrap(), None);
        for c in [&cache, &longer, &globby_sibling] {
            assert_eq!(c.get::<i64>("k").await.unwrap(), Some(1), "{}", c.prefix());
        }
        cache.clear().await.unwrap();
        assert_eq!(cache.get::<i64>("k").await.unwrap(), None);
        for c in [&longer, &globby_sibling] {
            assert_eq!(c.get::<i64>("k").await.unwrap(), Some(1), "{}", c.prefix());
            c.clear().await.unwrap();
        }
        if name == "redis" {
            // A key outside every prefix (another program's) survives too.
            let foreign = format!("{base}_foreign");
            redis_cli(shared_port(), &["SET", &foreign, "x"]);
            cache.with_prefix("").clear().await.ok();
            let kept = redis_cli(shared_port(), &["GET", &foreign]);
            redis_cli(shared_port(), &["DEL", &foreign]);
            assert_eq!(kept, "x");
        }
    }
}

#[tokio::test]
async fn keys_are_checked_not_panicked_on() {
    for (name, cache) in backends("keys").await {
        eprintln!("-- on {name}");
        let room = MAX_KEY_BYTES - cache.make_key("").unwrap().len();
        let fits = "k".repeat(room);
        cache.set(&fits, &1, Timeout::Default).await.unwrap();
        assert_eq!(cache.get::<i64>(&fits).await.unwrap(), Some(1));
        let long = "k".repeat(room + 1);
        let m = cache_error(cache.set(&long, &1, Timeout::Default).await);
        assert!(m.contains("hash it"), "{m}");
        for bad in ["has space", "new\nline", "tab\t", "nul\0"] {
            let m = cache_error(cache.get::<i64>(bad).await);
            assert!(m.contains("spaces or control"), "{m}");
        }
        assert!(cache.incr("a b", 1).await.is_err());
        assert!(cache.delete_many(["ok", "not ok"]).await.is_err());
        cache.clear().await.unwrap();
    }
}

/// The in-process backend expires on tokio's clock, so a paused clock drives it.
#[tokio::test(start_paused = true)]
async fn local_expiry_follows_the_paused_clock() {
    let cache = Cache::local(1 << 20);
    let advance = |s| tokio::time::advance(Duration::from_secs(s));

    cache.set("k", &1, secs(10)).await.unwrap();
    advance(9).await;
    assert_eq!(cache.get::<i64>("k").await.unwrap(), Some(1));
    advance(2).await;
    assert_eq!(cache.get::<i64>("k").await.unwrap(), None);
    assert!(
        !cache.touch("k", secs(10)).await.unwrap(),
        "an expired key is absent"
    );
    assert!(
        cache.add("k", &2, secs(10)).await.unwrap(),
        "an expired key is free"
    );

    // Default: 300 s, or the cache's own.
    cache.set("d", &1, Timeout::Default).await.unwrap();
    let short = cache.with_default_timeout(secs(5));
    short.set("s", &1, Timeout::Default).await.unwrap();
    advance(6).await;
    assert_eq!(cache.get::<i64>("s").await.unwrap(), None);
    advance(292).await;
    assert_eq!(cache.get::<i64>("d").await.unwrap(), Some(1));
    advance(3).await;
    assert_eq!(cache.get::<i64>("d").await.unwrap(), None);

    // Never.
    cache.set("n", &1, Timeout::Never).await.unwrap();
    advance(86_400 * 365).await;
    assert_eq!(cache.get::<i64>("n").await.unwrap(), Some(1));

    // touch gives a new lifetime; incr keeps the one there is.
    cache.set("t", &1, secs(10)).await.unwrap();
    advance(5).await;
    assert!(cache.touch("t", secs(10)).await.unwrap());
    cache.set("i", &1, secs(10)).await.unwrap();
    advance(8).await;
    assert_eq!(cache.get::<i64>("t").await.unwrap(), Some(1));
    assert_eq!(cache.incr("i", 1).await.unwrap(), 2);
    advance(3).await;
    assert_eq!(cache.get::<i64>("t").await.unwrap(), None);
    assert_eq!(
        cache.get::<i64>("i").await.unwrap(),
        None,
        "incr reset the expiry"
    );
    let m = cache_error(cache.incr("i", 1).await);
    assert!(m.contains("holds no value"), "{m}");
}

#[tokio::test]
async fn redis_ttls_follow_the_timeouts() {
    if !redis_required() {
        eprintln!("-- Redis left out by ORM_TEST_BACKENDS");
        return;
    }
    let cache = shared_redis().await.with_prefix(&unique("ttl"));
    cache.set("after", &1, secs(100)).await.unwrap();
    let t = pttl(&cache, "after");
    assert!((90_000..=100_000).contains(&t), "PTTL {t}");
    cache.set("default", &1, Timeout::Default).await.unwrap();
    let t = pttl(&cache, "default");
    assert!((290_000..=300_000).contains(&t), "PTTL {t}");
    cache.set("never", &1, Timeout::Never).await.unwrap();
    assert_eq!(pttl(&cache, "never"), -1);

    assert!(cache.touch("never", secs(50)).await.unwrap());
    let t = pttl(&cache, "never");
    assert!((40_000..=50_000).contains(&t), "PTTL {t}");
    assert!(cache.touch("after", Timeout::Never).await.unwrap());
    assert_eq!(pttl(&cache, "after"), -1);

    // incr keeps the expiry; add and set_many set it.
    cache.set("n", &1, secs(100)).await.unwrap();
    cache.incr("n", 1).await.unwrap();
    let t = pttl(&cache, "n");
    assert!((90_000..=100_000).contains(&t), "PTTL {t}");
    cache.add("added", &1, secs(100)).await.unwrap();
    let t = pttl(&cache, "added");
    assert!((90_000..=100_000).contains(&t), "PTTL {t}");
    cache.set_many([("m", 1)], secs(100)).await.unwrap();
    let t = pttl(&cache, "m");
    assert!((90_000..=100_000).contains(&t), "PTTL {t}");
    // incr_version writes with the default timeout, as Django.
    cache.incr_version("m", 1).await.unwrap();
    let t = pttl(&cache.version(2), "m");
    assert!((290_000..=300_000).contains(&t), "PTTL {t}");

    // A short one really expires (generous bound).
    cache
        .set("short", &1, Timeout::After(Duration::from_millis(200)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(cache.get::<i64>("short").await.unwrap(), None);
    cache.clear().await.unwrap();
}

#[tokio::test]
async fn the_local_cache_is_bounded_by_bytes() {
    let bound = 64 * 1024;
    let cache = Cache::local(bound);
    let value = "x".repeat(1000);
    for i in 0..200 {
        cache
            .set(&format!("k{i}"), &value, Timeout::Never)
            .await
            .unwrap();
    }
    let size = cache.weighted_size().await.unwrap();
    assert!(size <= bound, "holds {size} bytes, over {bound}");
    let mut kept = 0;
    for i in 0..200 {
        if cache
            .get::<String>(&format!("k{i}"))
            .await
            .unwrap()
            .is_some()
        {
            kept += 1;
        }
    }
    assert!(
        kept > 0 && kept < 70,
        "kept {kept} of 200 entries of ~1 KiB in 64 KiB"
    );

    // An entry heavier than the whole bound is not kept.
    let huge = "y".repeat(100 * 1024);
    cache.set("huge", &huge, Timeout::Never).await.unwrap();
    cache.weighted_size().await.unwrap();
    assert_eq!(cache.get::<String>("huge").await.unwrap(), None);
    assert!(cache.weighted_size().await.unwrap() <= bound);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Redis server of this test's own, killed when dropped.
struct OwnRedis {
    child: Child,
    port: u16,
}

impl OwnRedis {
    fn start(port: u16) -> OwnRedis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run redis-server: {e}\n{REDIS_HINT}"));
        let server = OwnRedis { child, port };
        let start = Instant::now();
        while redis_cli(port, &["PING"]) != "PONG" {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server on port {port} did not answer within 10 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn stop(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_redis_restart_is_survived() {
    if !redis_required() {
        eprintln!("-- Redis left out by ORM_TEST_BACKENDS");
        return;
    }
    let port = free_port();
    let server = OwnRedis::start(port);
    let url = format!("redis://127.0.0.1:{port}");
    let cache = Cache::redis(&url).await.unwrap().with_prefix("restart");
    cache.set("k", &"before", Timeout::Never).await.unwrap();
    assert_eq!(
        cache.get::<String>("k").await.unwrap().as_deref(),
        Some("before")
    );

    server.stop();
    // While it is down: a typed error, quickly.
    let start = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(20), cache.get::<String>("k"))
        .await
        .expect("a command on a Redis that is down hangs");
    let m = cache_error(r);
    assert!(m.contains(&url), "{m}");
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );

    let server = OwnRedis::start(port);
    // The same Cache works again once the manager has reconnected (the first command
    // after the break may fail: it was sent on the dead connection).
    let start = Instant::now();
    let mut failures = 0;
    loop {
        match cache.set("k", &"after", Timeout::Never).await {
            Ok(()) => break,
            Err(e) => {
                failures += 1;
                assert!(
                    start.elapsed() < Duration::from_secs(15),
                    "still failing 15 s after the restart ({failures} failures): {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    eprintln!(
        "-- {failures} command(s) failed after the restart, {:?} to recover",
        start.elapsed()
    );
    assert_eq!(
        cache.get::<String>("k").await.unwrap().as_deref(),
        Some("after")
    );
    assert_eq!(redis_cli(server.port, &["GET", "restart:1:k"]), "\"after\"");
    server.stop();
}

#[tokio::test]
async fn an_unreachable_redis_is_a_quick_typed_error() {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let start = Instant::now();
    let m = cache_error(Cache::redis(&url).await);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert!(m.contains(&url) && m.contains("unreachable"), "{m}");
    assert!(m.contains("redis-server"), "says how to start it: {m}");

    let m = cache_error(Cache::redis("http://127.0.0.1:1").await);
    assert!(m.contains("invalid Redis URL"), "{m}");
    // A password is not shown.
    let m = cache_error(Cache::redis(&format!("redis://:s3cret@127.0.0.1:{}", free_port())).await);
    assert!(!m.contains("s3cret"), "{m}");
}
