//! Issue 15: the query cache under the conditions that burn Django's add-ons — two
//! processes sharing Redis under a stress of mixed reads and writes (zero stale reads), a
//! Redis restart in the middle (reads go to the database while it is down, nothing stale
//! after), version keys evicted under memory pressure (nothing stale), the in-process
//! bound, and `cached_as` refusing a computation that reads an undeclared table.

use std::time::Duration;

use orm_sqlx::cache::{Cache, QueryCache};
use orm_sqlx::prelude::*;
use orm_sqlx::{CacheOutcome, Db, Error};
use orm_tests::cache::{PrivateRedis, unique};
use orm_tests::library::{self, Book};
use orm_tests::{Backend, TestDb, on_each_backend, redis_required};

const TTL: Duration = Duration::from_secs(60);

/// The pages of book `id`, read through the cache, and whether the database was asked.
async fn cached_pages(db: &Db, id: i64) -> (i32, bool) {
    let (book, q) =
        capture_queries(async { Book::objects().cached(TTL).get_pk(id, db).await }).await;
    (book.unwrap().pages, q.iter().any(|q| q.reached_database()))
}

#[tokio::test]
async fn two_processes_under_stress_never_read_stale() {
    if !redis_required() {
        eprintln!("-- Redis left out by ORM_TEST_BACKENDS");
        return;
    }
    on_each_backend(|_, backend| async move {
        let t = TestDb::open(backend).await;
        library::load(&t.db).await;
        let prefix = unique("query_cache_redis", "stress");
        let redis = orm_tests::redis_url();
        let started = std::time::Instant::now();
        let workers: Vec<_> = (0..2)
            .map(|_| {
                std::process::Command::new(env!("CARGO_BIN_EXE_cache_worker"))
                    .args([&t.url, &redis, &prefix, "1500", "4"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("start cache_worker")
            })
            .collect();
        let (mut ops, mut stale, mut hits, mut misses) = (0u64, 0u64, 0u64, 0u64);
        for w in workers {
            let out = w.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "cache_worker failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let field = |name: &str| -> u64 {
                text.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("no {name} in {text:?}"))
            };
            ops += field("ops");
            stale += field("stale");
            hits += field("hits");
            misses += field("misses");
        }
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "-- {}: {ops} operations in {secs:.1} s ({:.0}/s), hit rate {:.0} % ({hits} hits, \
             {misses} misses), {stale} stale",
            backend.name(),
            ops as f64 / secs,
            100.0 * hits as f64 / (hits + misses).max(1) as f64
        );
        assert_eq!(stale, 0, "a cached read older than a finished write");
        assert!(ops > 100 && hits > 0 && misses > 0, "{ops} {hits} {misses}");
        t.cleanup().await;
    })
    .await;
}

#[tokio::test]
async fn a_redis_restart_serves_nothing_stale_and_reads_go_to_the_database_meanwhile() {
    if !redis_required() {
        eprintln!("-- Redis left out by ORM_TEST_BACKENDS");
        return;
    }
    on_each_backend(|db, _| async move {
        let lib = library::load(&db).await;
        let mut redis = PrivateRedis::start(&[]);
        let db = db.with_cache(Cache::redis(&redis.url()).await.unwrap());
        let id = lib.b1.id;
        assert_eq!(cached_pages(&db, id).await, (lib.b1.pages, true));
        assert_eq!(cached_pages(&db, id).await, (lib.b1.pages, false), "a hit");

        // Down: reads go to the database (no error), and a write goes through.
        redis.stop();
        assert_eq!(cached_pages(&db, id).await, (lib.b1.pages, true));
        Book::objects()
            .filter(|b| b.id.eq(id))
            .update(|b| [b.pages.set(1234)], &db)
            .await
            .unwrap();
        assert_eq!(cached_pages(&db, id).await, (1234, true), "while down");
        let s = db.cache().unwrap().stats().tables["books"];
        assert!(s.errors >= 2, "{s:?}");

        // Back (empty): nothing stale, and caching again.
        redis.restart();
        assert_eq!(cached_pages(&db, id).await, (1234, true));
        assert_eq!(cached_pages(&db, id).await, (1234, false));
    })
    .await;
}

#[tokio::test]
async fn a_write_while_redis_is_down_invalidates_once_it_is_back() {
    // A Redis that keeps its data over a restart (append-only file): an entry stored
    // before it went down comes back with it. A write made while it was down could not
    // write its table's new version; the writer keeps it and writes it before it next
    // reads the cache, so it never reads the entry from before its write.
    if !redis_required() {
        eprintln!("-- Redis left out by ORM_TEST_BACKENDS");
        return;
    }
    on_each_backend(|db, _| async move {
        let lib = library::load(&db).await;
        let dir = std::env::temp_dir().join(unique("query_cache_redis", "aof"));
        std::fs::create_dir_all(&dir).unwrap();
        let dir_arg = dir.to_string_lossy().into_owned();
        let mut redis = PrivateRedis::start(&[
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            &dir_arg,
        ]);
        let db = db.with_cache(Cache::redis(&redis.url()).await.unwrap());
        let id = lib.b1.id;
        assert_eq!(cached_pages(&db, id).await, (lib.b1.pages, true));
        redis.stop();
        Book::objects()
            .filter(|b| b.id.eq(id))
            .update(|b| [b.pages.set(77)], &db)
            .await
            .unwrap();
        redis.restart();
        assert_eq!(
            cached_pages(&db, id).await,
            (77, true),
            "the entry from before the write"
        );
        assert_eq!(cached_pages(&db, id).await, (77, false));
        drop(redis);
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}

#[tokio::test]
async fn evicted_version_keys_serve_nothing_stale() {
    // A Redis under memory pressure that may evict any key (allkeys-lru, the worst case
    // for version keys): a lost version key comes back with a new random token, which no
    // stored entry carries.
    if !redis_required() {
        eprintln!("-- Redis left out by ORM_TEST_BACKENDS");
        return;
    }
    on_each_backend(|db, backend| async move {
        if backend != Backend::Sqlite {
            return; // the pressure is on Redis, the same for every database
        }
        let lib = library::load(&db).await;
        let redis =
            PrivateRedis::start(&["--maxmemory", "1mb", "--maxmemory-policy", "allkeys-lru"]);
        let db = db.with_cache(Cache::redis(&redis.url()).await.unwrap());
        let mut evicted = 0u64;
        for round in 0..40 {
            // Many distinct cached queries: far more than a megabyte of entries.
            for k in 0..100 {
                Book::objects()
                    .filter(|b| b.pages.gte(round * 100 + k))
                    .cached(TTL)
                    .into_vec(&db)
                    .await
                    .unwrap();
            }
            let pages = cached_pages(&db, lib.b1.id).await.0;
            Book::objects()
                .filter(|b| b.id.eq(lib.b1.id))
                .update(|b| [b.pages.set(b.pages + 1)], &db)
                .await
                .unwrap();
            assert_eq!(
                cached_pages(&db, lib.b1.id).await.0,
                pages + 1,
                "round {round}"
            );
            let client = redis::Client::open(redis.url()).unwrap();
            let mut c = client.get_multiplexed_async_connection().await.unwrap();
            let info: String = redis::cmd("INFO")
                .arg("stats")
                .query_async(&mut c)
                .await
                .unwrap();
            evicted = info
                .lines()
                .find_map(|l| l.strip_prefix("evicted_keys:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap();
        }
        assert!(evicted > 0, "the test must make Redis evict");
    })
    .await;
}

#[tokio::test]
async fn the_in_process_cache_stays_within_its_bound() {
    on_each_backend(|db, backend| async move {
        if backend != Backend::Sqlite {
            return;
        }
        library::load(&db).await;
        let bound = 64 * 1024;
        let cache = Cache::local(bound).with_prefix("bound");
        let db = db.with_cache(cache.clone());
        for k in 0..2000 {
            let n = Book::objects()
                .filter(|b| b.pages.gte(k))
                .cached(TTL)
                .count(&db)
                .await
                .unwrap();
            assert!(n <= 3);
        }
        let size = cache.weighted_size().await.unwrap();
        assert!(size <= bound, "{size} bytes held, bound {bound}");
        assert!(size > bound / 4, "the cache was used: {size}");
    })
    .await;
}

#[tokio::test]
async fn cached_as_refuses_a_computation_reading_an_undeclared_table() {
    on_each_backend(|db, _| async move {
        library::load(&db).await;
        let db = db.with_cache(QueryCache::new(Cache::local(1 << 20)));
        let cache = db.cache().unwrap();
        let r = cache
            .cached_as(&[Book::META], "with-authors", TTL, || async {
                let books = Book::objects()
                    .select_related(|b| b.author())
                    .into_vec(&db)
                    .await?;
                Ok(books.len())
            })
            .await;
        let Err(Error::Cache(message)) = r else {
            panic!("expected Error::Cache, got {r:?}")
        };
        assert!(message.contains("`authors`"), "{message}");
        // Nothing was stored: the next call computes again (and fails again).
        let (again, q) = capture_queries(cache.cached_as(
            &[Book::META, library::Author::META],
            "with-authors",
            TTL,
            || async {
                let books = Book::objects()
                    .select_related(|b| b.author())
                    .into_vec(&db)
                    .await?;
                Ok(books.len())
            },
        ))
        .await;
        assert_eq!(again.unwrap(), 3);
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].cache, None);
        let _ = CacheOutcome::Hit;
    })
    .await;
}
