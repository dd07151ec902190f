//! `cache_worker <database url> <redis url> <prefix> <milliseconds> <tasks>`: one process of
//! the query cache's stress test (`tests/tests/query_cache_redis.rs` starts two at once on
//! one database and one Redis). Each task, until the time is up, picks a book of the
//! library fixture and either adds a page to it (`update`) or reads it through the cache.
//!
//! Staleness is checked against writes known to be *finished*: a write adds the page and
//! reads the value it made in one transaction; once that returns (committed, new versions
//! written) the task publishes the value in Redis (another prefix, through the low-level
//! cache). A task about to read a book through the cache first takes the published value,
//! and the cached read must not be lower: any cached read that starts after a write
//! returned must reflect it, whichever process wrote. (Writes still in flight may or may not
//! be seen: that is not staleness.)
//!
//! Prints one line: `ops=… reads=… writes=… stale=… hits=… misses=…`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use orm_sqlx::cache::{Cache, Timeout};
use orm_sqlx::prelude::*;
use orm_tests::library::Book;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, redis_url, prefix, millis, tasks] = args.as_slice() else {
        eprintln!("usage: cache_worker <database url> <redis url> <prefix> <milliseconds> <tasks>");
        return ExitCode::from(2);
    };
    match run(url, redis_url, prefix, millis, tasks).await {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cache_worker: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    url: &str,
    redis_url: &str,
    prefix: &str,
    millis: &str,
    tasks: &str,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let millis: u64 = millis.parse()?;
    let tasks: usize = tasks.parse()?;
    let cache = Cache::redis(redis_url).await?;
    let db = Db::connect(url)
        .await?
        .with_cache(cache.with_prefix(prefix));
    let published = cache.with_prefix(&format!("{prefix}_published"));
    let ids: Vec<i64> = Book::objects()
        .order_by(|b| b.id.asc())
        .values(|b| b.id)
        .into_vec(&db)
        .await?;
    let deadline = Instant::now() + Duration::from_millis(millis);
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (db, published, ids) = (db.clone(), published.clone(), ids.clone());
        handles.push(tokio::spawn(async move {
            let mut seed = (std::process::id() as u64) << 16 | task as u64;
            let mut next = move || {
                // xorshift: a different sequence per process and task.
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            let (mut reads, mut writes, mut stale) = (0u64, 0u64, 0u64);
            while Instant::now() < deadline {
                let r = next();
                let id = ids[(r % ids.len() as u64) as usize];
                let key = format!("book-{id}");
                if r % 10 < 3 {
                    // The value this write made, read in its own transaction (writes to a
                    // row are serialised by its lock, so every later value is higher).
                    let now = db
                        .atomic(|tx| {
                            Box::pin(async move {
                                Book::objects()
                                    .filter(|b| b.id.eq(id))
                                    .update(|b| [b.pages.set(b.pages + 1)], &mut *tx)
                                    .await?;
                                Ok(Book::objects().get_pk(id, &mut *tx).await?.pages)
                            })
                        })
                        .await?;
                    let before: Option<i32> = published.get(&key).await?;
                    if before.is_none_or(|b| b < now) {
                        published.set(&key, &now, Timeout::Never).await?;
                    }
                    writes += 1;
                } else {
                    let floor: Option<i32> = published.get(&key).await?;
                    let seen = Book::objects()
                        .cached(Duration::from_secs(60))
                        .get_pk(id, &db)
                        .await?
                        .pages;
                    if floor.is_some_and(|f| seen < f) {
                        stale += 1;
                        eprintln!("stale: book {id} read {seen} after {floor:?} was published");
                    }
                    reads += 1;
                }
            }
            Ok::<_, orm_sqlx::Error>((reads, writes, stale))
        }));
    }
    let (mut reads, mut writes, mut stale) = (0, 0, 0);
    for h in handles {
        let (r, w, s) = h.await??;
        reads += r;
        writes += w;
        stale += s;
    }
    let stats = db.cache().map(|c| c.stats().total()).unwrap_or_default();
    Ok(format!(
        "ops={} reads={reads} writes={writes} stale={stale} hits={} misses={}",
        reads + writes,
        stats.hits,
        stats.misses
    ))
}
