//! Issue 15 step 1, the edges a review found against Django's low-level cache API
//! (django/core/cache/backends/base.py, locmem.py, redis.py): prefixes with colons, races
//! on the local backend, get_or_set semantics, non-finite floats, an idle Redis restart.
//!
//! Same pattern as `cache_api.rs`: the in-process cache and, when the run requires it,
//! the shared Redis, each under a fresh prefix cleared at the end.

use std::sync::Arc;
use std::time::Duration;

use orm_sqlx::cache::{Cache, Timeout};
use orm_tests::{REDIS_HINT, redis_required};
use serde::{Deserialize, Serialize};

async fn backends(name: &str) -> Vec<(&'static str, Cache)> {
    orm_tests::cache::backends("cache_edges", name).await
}

/// `clear()` is documented to delete "only this cache's prefix" ("Entries of different
/// prefixes never meet, and clear clears one prefix"), but it deletes every key that
/// starts with `prefix:`, so a prefix holding a colon (`app:sessions`, a common way to
/// name them) is wiped by `clear()` on the shorter prefix `app`.
#[tokio::test]
async fn clear_spares_a_longer_prefix_that_holds_a_colon() {
    let mut failures = Vec::new();
    for (name, app) in backends("colon").await {
        eprintln!("-- on {name}");
        let sessions = app.with_prefix(&format!("{}:sessions", app.prefix()));
        app.set("k", &1, Timeout::Never).await.unwrap();
        sessions.set("k", &2, Timeout::Never).await.unwrap();
        app.clear().await.unwrap();
        assert_eq!(app.get::<i64>("k").await.unwrap(), None);
        let kept = sessions.get::<i64>("k").await.unwrap();
        sessions.clear().await.unwrap();
        if kept != Some(2) {
            failures.push(format!(
                "on {name}: clear() of prefix `{}` deleted the entries of prefix `{}` \
                 (read back {kept:?})",
                app.prefix(),
                sessions.prefix()
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Django's `incr_version` is `set(key, value, version=v+delta)` then `delete(key,
/// version=v)`. With a default timeout of 0 that `set` deletes whatever the new version
/// held (redis.py: `timeout == 0` → `DEL`; locmem stores it already expired), so the
/// new version reads as absent. Here `Life::Zero => {}` skips the write and leaves a
/// stale value at the new version.
#[tokio::test]
async fn incr_version_with_a_zero_default_timeout_leaves_no_stale_value() {
    let mut failures = Vec::new();
    for (name, cache) in backends("incr_version_zero").await {
        eprintln!("-- on {name}");
        let zero = cache.with_default_timeout(Timeout::After(Duration::ZERO));
        zero.version(2)
            .set("k", &"stale", Timeout::Never)
            .await
            .unwrap();
        zero.set("k", &"fresh", Timeout::Never).await.unwrap();
        assert_eq!(zero.incr_version("k", 1).await.unwrap(), 2);
        assert_eq!(zero.get::<String>("k").await.unwrap(), None);
        let at_v2 = zero.version(2).get::<String>("k").await.unwrap();
        cache.clear().await.unwrap();
        if at_v2.is_some() {
            failures.push(format!(
                "on {name}: after incr_version with TIMEOUT 0, version 2 still holds \
                 {at_v2:?}, the value it had before (Django: set with timeout 0 deletes it)"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Django's `get_or_set` stores the computed value with `add`, then reads the key again
/// ("to avoid a race condition if another caller added a value between the first get()
/// and the add()"): a value written while the computation ran wins and is returned.
/// Here the computed value is stored with `set`, overwriting the newer value — a slow
/// computation started before an update puts its stale result back in the cache.
#[tokio::test]
async fn get_or_set_keeps_a_value_written_while_computing() {
    let mut failures = Vec::new();
    for (name, cache) in backends("get_or_set_race").await {
        eprintln!("-- on {name}");
        let writer = cache.clone();
        let got: String = cache
            .get_or_set(
                "k",
                || async move {
                    // Another request updates the entry while this one computes.
                    writer.set("k", &"fresh", Timeout::Never).await.unwrap();
                    "stale".to_owned()
                },
                Timeout::Never,
            )
            .await
            .unwrap();
        let stored = cache.get::<String>("k").await.unwrap();
        cache.clear().await.unwrap();
        if (got.as_str(), stored.as_deref()) != ("fresh", Some("fresh")) {
            failures.push(format!(
                "on {name}: get_or_set returned {got:?} and left {stored:?} in the cache; \
                 Django's (add, then get) returns and keeps \"fresh\", written while it computed"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Reading {
    sensor: String,
    value: Option<f64>,
}

/// serde_json writes NaN and ±infinity as `null`: `set` succeeds, and the value read back
/// is a different one (`Some(NaN)` becomes `None`) or does not read at all (`f64`). A
/// cache must give back what it was given, or refuse it when storing.
#[tokio::test]
async fn a_non_finite_float_is_given_back_or_refused() {
    let mut failures = Vec::new();
    for (name, cache) in backends("nan").await {
        eprintln!("-- on {name}");
        let r = Reading {
            sensor: "t1".into(),
            value: Some(f64::NAN),
        };
        let stored = cache.set("r", &r, Timeout::Never).await;
        let back = cache.get::<Reading>("r").await;
        let inf_stored = cache.set("inf", &f64::INFINITY, Timeout::Never).await;
        let inf_back = cache.get::<f64>("inf").await;
        cache.clear().await.unwrap();
        if stored.is_ok() && !matches!(&back, Ok(Some(b)) if b.value.is_some_and(f64::is_nan)) {
            failures.push(format!("on {name}: stored {r:?}, read back {back:?}"));
        }
        if inf_stored.is_ok() && !matches!(inf_back, Ok(Some(v)) if v == f64::INFINITY) {
            failures.push(format!(
                "on {name}: stored f64::INFINITY, read back {inf_back:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Runs `race` (two operations on one key, started together on two worker threads)
/// up to `rounds` times or for 30 seconds; the first round whose outcome `bad` flags is
/// returned. The window is small: it is usually hit within some thousands of rounds.
async fn first_bad_round<S, R, B>(rounds: usize, setup: S, race: R, bad: B) -> Option<String>
where
    S: Fn() -> futures_util::future::BoxFuture<'static, ()>,
    R: Fn() -> (
        futures_util::future::BoxFuture<'static, String>,
        futures_util::future::BoxFuture<'static, String>,
    ),
    B: Fn() -> futures_util::future::BoxFuture<'static, Option<String>>,
{
    let start = std::time::Instant::now();
    for round in 0..rounds {
        if start.elapsed() > Duration::from_secs(10) {
            eprintln!("-- not hit in {round} rounds");
            break;
        }
        setup().await;
        let (a, b) = race();
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let (ba, bb) = (barrier.clone(), barrier);
        let ta = tokio::spawn(async move {
            ba.wait().await;
            a.await
        });
        let tb = tokio::spawn(async move {
            bb.wait().await;
            b.await
        });
        let (ra, rb) = (ta.await.unwrap(), tb.await.unwrap());
        if let Some(state) = bad().await {
            return Some(format!("round {round}: {ra}; {rb}; then {state}"));
        }
    }
    None
}

/// On Redis, `incr` (a Lua script) and `DEL` are atomic against each other. On the
/// local backend `incr` is moka's `and_compute_with`, which serialises only against other
/// compute calls on the key: a `delete` (moka `remove`) landing between its read and its
/// write is undone — the deleted key comes back with the incremented value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_incr_does_not_resurrect_a_concurrent_delete() {
    let cache = Cache::local(16 << 20);
    let (c1, c2, c3, c4) = (cache.clone(), cache.clone(), cache.clone(), cache.clone());
    let bad = first_bad_round(
        1_000_000,
        move || {
            let c = c1.clone();
            Box::pin(async move { c.set("n", &0, Timeout::Never).await.unwrap() })
        },
        move || {
            let (a, b) = (c2.clone(), c3.clone());
            (
                Box::pin(async move { format!("incr: {:?}", a.incr("n", 1).await) }),
                Box::pin(async move { format!("delete: {:?}", b.delete("n").await) }),
            )
        },
        move || {
            let c = c4.clone();
            Box::pin(async move {
                // Deleted last or before the incr (which then fails): absent either way.
                c.get::<i64>("n")
                    .await
                    .unwrap()
                    .map(|v| format!("`n` holds {v} after its delete"))
            })
        },
    )
    .await;
    assert_eq!(bad, None, "a deleted key came back");
}

/// `add` on an absent key racing a `set`: whichever runs first, the `set` value is what
/// remains (Redis: `SET NX` never overwrites). On the local backend `add`'s
/// `and_compute_with` can overwrite a `set` that landed between its read and its write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_add_does_not_overwrite_a_concurrent_set() {
    let cache = Cache::local(16 << 20);
    let (c1, c2, c3, c4) = (cache.clone(), cache.clone(), cache.clone(), cache.clone());
    let bad = first_bad_round(
        1_000_000,
        move || {
            let c = c1.clone();
            Box::pin(async move {
                c.delete("k").await.unwrap();
            })
        },
        move || {
            let (a, b) = (c2.clone(), c3.clone());
            (
                Box::pin(
                    async move { format!("add: {:?}", a.add("k", &"add", Timeout::Never).await) },
                ),
                Box::pin(
                    async move { format!("set: {:?}", b.set("k", &"set", Timeout::Never).await) },
                ),
            )
        },
        move || {
            let c = c4.clone();
            Box::pin(async move {
                let v = c.get::<String>("k").await.unwrap();
                (v.as_deref() != Some("set")).then(|| format!("`k` holds {v:?}"))
            })
        },
    )
    .await;
    assert_eq!(bad, None, "add overwrote a value set concurrently");
}

/// `touch` racing a `set` of a new value: the new value must remain (Redis: `PEXPIRE`
/// never writes a value). On the local backend `touch` re-puts the value it read, so a
/// `set` landing between its read and its write is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_touch_does_not_undo_a_concurrent_set() {
    let cache = Cache::local(16 << 20);
    let (c1, c2, c3, c4) = (cache.clone(), cache.clone(), cache.clone(), cache.clone());
    let bad = first_bad_round(
        1_000_000,
        move || {
            let c = c1.clone();
            Box::pin(async move { c.set("k", &"old", Timeout::Never).await.unwrap() })
        },
        move || {
            let (a, b) = (c2.clone(), c3.clone());
            (
                Box::pin(async move { format!("touch: {:?}", a.touch("k", Timeout::Never).await) }),
                Box::pin(
                    async move { format!("set: {:?}", b.set("k", &"new", Timeout::Never).await) },
                ),
            )
        },
        move || {
            let c = c4.clone();
            Box::pin(async move {
                let v = c.get::<String>("k").await.unwrap();
                (v.as_deref() != Some("new")).then(|| format!("`k` holds {v:?}"))
            })
        },
    )
    .await;
    assert_eq!(
        bad, None,
        "touch put back the value a concurrent set replaced"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Redis server of this test's own on `port`, killed when dropped.
struct OwnRedis(std::process::Child);

impl OwnRedis {
    fn start(port: u16) -> OwnRedis {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run redis-server: {e}\n{REDIS_HINT}"));
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnRedis(child)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The module documents that after a restart "the command in flight then fails, the next
/// ones reconnect". When Redis restarts while the cache is idle (no command in flight),
/// the first command afterwards still fails: it is sent on the dead connection, and only
/// its failure makes the manager reconnect. Django's redis-py checks a pooled connection
/// before reuse (`can_read()` → reconnect) and answers it.
#[tokio::test]
async fn the_first_command_after_an_idle_redis_restart_succeeds() {
    if !redis_required() {
        eprintln!("-- Redis left out by ORM_TEST_BACKENDS");
        return;
    }
    let port = free_port();
    let server = OwnRedis::start(port);
    let cache = Cache::redis(&format!("redis://127.0.0.1:{port}"))
        .await
        .unwrap()
        .with_prefix("idle_restart");
    cache.set("k", &1, Timeout::Never).await.unwrap();
    // Restarted while nothing is sent: Redis is back before the next command.
    drop(server);
    let _server = OwnRedis::start(port);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let first = cache.set("k", &2, Timeout::Never).await;
    let second = cache.get::<i64>("k").await;
    assert!(
        first.is_ok(),
        "the first command after an idle restart failed: {first:?} (the next: {second:?})"
    );
}

/// When the computed value is not kept — `Timeout::After(0)`, and so also a default
/// timeout of 0, Django's way to turn caching off — each waiter of the single flight
/// finds the key still empty when its turn comes and computes in turn while holding the
/// key's lock: concurrent calls run one after another, so the last of `n` waits `n`
/// computations. Without a single flight (Django) they run side by side; with one, the
/// waiters should take the leader's value rather than queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_or_set_does_not_queue_callers_when_nothing_is_kept() {
    const CALLERS: u32 = 8;
    const COMPUTE: Duration = Duration::from_millis(250);
    let mut cases: Vec<(String, Cache, Timeout, usize)> = Vec::new();
    for (name, cache) in backends("queue").await {
        cases.push((
            format!("{name}, timeout 0"),
            cache.clone(),
            Timeout::After(Duration::ZERO),
            8,
        ));
        cases.push((
            format!("{name}, default timeout 0"),
            cache.with_default_timeout(Timeout::After(Duration::ZERO)),
            Timeout::Default,
            8,
        ));
    }
    let mut failures = Vec::new();
    for (name, cache, timeout, size) in cases {
        eprintln!("-- on {name}");
        let start = std::time::Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..CALLERS {
            let cache = cache.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_set(
                        "k",
                        || async move {
                            tokio::time::sleep(COMPUTE).await;
                            "x".repeat(size)
                        },
                        timeout,
                    )
                    .await
                    .unwrap()
                    .len()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), size);
        }
        let took = start.elapsed();
        cache.clear().await.unwrap();
        // Side by side: about one computation. Queued: CALLERS of them.
        if took > COMPUTE * 3 {
            failures.push(format!(
                "on {name}: {CALLERS} concurrent calls took {took:?}, {:.1} computations of \
                 {COMPUTE:?} one after another",
                took.as_secs_f64() / COMPUTE.as_secs_f64()
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
