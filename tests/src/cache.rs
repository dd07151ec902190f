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
