//! The in-process backend: a moka cache bounded by bytes (its weigher counts each
//! entry's key, value and a fixed overhead), TinyLFU admission, LRU eviction.
//!
//! Expiry is read from tokio's clock (`tokio::time::Instant`): an entry past its deadline
//! is absent to every read, whatever moka's own housekeeping (on the real clock, for
//! memory) has done yet. So a test on a paused tokio clock sees entries expire when it
//! advances the clock.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache as Moka;
use moka::ops::compute::{CompResult, Op};
use orm_core::{Error, Result};
use tokio::time::Instant;

use super::store::Ttl;

/// What the weigher adds to each entry's key and value: moka's own bookkeeping and the
/// `Arc`s, roughly.
const ENTRY_OVERHEAD: usize = 96;

pub(crate) struct Stored {
    data: Arc<[u8]>,
    /// `None`: never expires.
    deadline: Option<Instant>,
}

impl Stored {
    fn live(&self) -> bool {
        self.deadline.is_none_or(|d| Instant::now() < d)
    }
}

fn deadline(ttl: Ttl) -> Option<Instant> {
    ttl.and_then(|d| Instant::now().checked_add(d))
}

fn remaining(v: &Stored) -> Option<Duration> {
    v.deadline
        .map(|d| d.saturating_duration_since(Instant::now()))
}

struct ByDeadline;

impl moka::Expiry<String, Arc<Stored>> for ByDeadline {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Arc<Stored>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        remaining(value)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Arc<Stored>,
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        remaining(value)
    }
}

pub(crate) struct LocalStore {
    cache: Moka<String, Arc<Stored>>,
    max_bytes: u64,
    /// The query cache's version keys: a few per table, never evicted (moka could evict
    /// one under pressure, which would only cost misses, but there is no reason to).
    versions: std::sync::Mutex<std::collections::HashMap<String, u64>>,
}

impl LocalStore {
    pub(crate) fn new(max_bytes: u64) -> LocalStore {
        let cache = Moka::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &String, v: &Arc<Stored>| {
                u32::try_from(k.len() + v.data.len() + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
            })
            .expire_after(ByDeadline)
            .build();
        LocalStore {
            cache,
            max_bytes,
            versions: Default::default(),
        }
    }

    pub(crate) fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    async fn get_one(&self, key: &str) -> Option<Vec<u8>> {
        let v = self.cache.get(key).await?;
        if v.live() {
            Some(v.data.to_vec())
        } else {
            // Removed only if still expired: a value written meanwhile stays.
            self.cache
                .entry(key.to_owned())
                .and_compute_with(|old| async move {
                    match old {
                        Some(e) if !e.value().live() => Op::Remove,
                        _ => Op::Nop,
                    }
                })
                .await;
            None
        }
    }

    /// Write `new` at `key`. Every write goes through moka's per-key compute, so that it
    /// is ordered with `add`, `incr` and `touch` (which read, then write) on the same key:
    /// a plain insert between their read and their write would be undone.
    async fn put(&self, key: String, new: Arc<Stored>) {
        self.cache
            .entry(key)
            .and_compute_with(|_| async move { Op::Put(new) })
            .await;
    }

    pub(crate) async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            out.push(self.get_one(k).await);
        }
        Ok(out)
    }

    pub(crate) async fn set(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Ttl,
        only_if_absent: bool,
    ) -> Result<bool> {
        let new = Arc::new(Stored {
            data: value.into(),
            deadline: deadline(ttl),
        });
        if !only_if_absent {
            self.put(key.to_owned(), new).await;
            return Ok(true);
        }
        let r = self
            .cache
            .entry(key.to_owned())
            .and_compute_with(|old| async move {
                match old {
                    Some(e) if e.value().live() => Op::Nop,
                    _ => Op::Put(new),
                }
            })
            .await;
        Ok(matches!(
            r,
            CompResult::Inserted(_) | CompResult::ReplacedWith(_)
        ))
    }

    pub(crate) async fn set_many(&self, entries: Vec<(String, Vec<u8>)>, ttl: Ttl) -> Result<()> {
        let deadline = deadline(ttl);
        for (k, v) in entries {
            let new = Arc::new(Stored {
                data: v.into(),
                deadline,
            });
            self.put(k, new).await;
        }
        Ok(())
    }

    pub(crate) async fn delete_many(&self, keys: &[String]) -> Result<u64> {
        let mut n = 0;
        for k in keys {
            let r = self
                .cache
                .entry(k.clone())
                .and_compute_with(|old| async move {
                    match old {
                        Some(_) => Op::Remove,
                        None => Op::Nop,
                    }
                })
                .await;
            if let CompResult::Removed(e) = r
                && e.value().live()
            {
                n += 1;
            }
        }
        Ok(n)
    }

    pub(crate) async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        let mut outcome: Result<i64> = Err(Error::Cache(String::new()));
        let out = &mut outcome;
        self.cache
            .entry(key.to_owned())
            .and_compute_with(|old| async move {
                let Some(e) = old.filter(|e| e.value().live()) else {
                    *out = Err(super::missing_for_incr(key));
                    return Op::Nop;
                };
                let stored = e.into_value();
                let current = match serde_json::from_slice::<i64>(&stored.data) {
                    Ok(n) => n,
                    Err(_) => {
                        *out = Err(super::not_an_integer(key));
                        return Op::Nop;
                    }
                };
                let Some(new) = current.checked_add(delta) else {
                    *out = Err(super::overflow(key, current, delta));
                    return Op::Nop;
                };
                *out = Ok(new);
                Op::Put(Arc::new(Stored {
                    data: new.to_string().into_bytes().into(),
                    deadline: stored.deadline,
                }))
            })
            .await;
        outcome
    }

    pub(crate) async fn touch(&self, key: &str, ttl: Ttl) -> Result<bool> {
        let r = self
            .cache
            .entry(key.to_owned())
            .and_compute_with(|old| async move {
                match old {
                    Some(e) if e.value().live() => Op::Put(Arc::new(Stored {
                        data: e.value().data.clone(),
                        deadline: deadline(ttl),
                    })),
                    Some(_) => Op::Remove,
                    None => Op::Nop,
                }
            })
            .await;
        Ok(matches!(r, CompResult::ReplacedWith(_)))
    }

    pub(crate) async fn get_versioned(
        &self,
        key: &str,
        version_keys: &[Arc<str>],
        fresh: fn() -> u64,
    ) -> Result<(Vec<u64>, Option<Arc<[u8]>>)> {
        let tokens = {
            let mut versions = self.versions.lock().unwrap_or_else(|p| p.into_inner());
            version_keys
                .iter()
                .map(|k| match versions.get(&**k) {
                    Some(&t) => t,
                    None => {
                        let f = fresh();
                        versions.insert(k.to_string(), f);
                        f
                    }
                })
                .collect()
        };
        let value = match self.cache.get(key).await {
            Some(v) if v.live() => Some(v.data.clone()),
            _ => None,
        };
        Ok((tokens, value))
    }

    pub(crate) async fn bump(&self, version_keys: &[Arc<str>], tokens: &[u64]) -> Result<()> {
        let mut versions = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        for (k, &t) in version_keys.iter().zip(tokens) {
            versions.insert(k.to_string(), t);
        }
        Ok(())
    }

    pub(crate) async fn clear(&self, key_prefix: &str) -> Result<()> {
        self.versions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, _| !k.starts_with(key_prefix));
        let keys: Vec<Arc<String>> = self
            .cache
            .iter()
            .filter(|(k, _)| k.starts_with(key_prefix))
            .map(|(k, _)| k)
            .collect();
        for k in keys {
            self.cache
                .entry(k.as_ref().clone())
                .and_compute_with(|old| async move {
                    match old {
                        Some(_) => Op::Remove,
                        None => Op::Nop,
                    }
                })
                .await;
        }
        Ok(())
    }

    pub(crate) async fn weighted_size(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.weighted_size()
    }
}
