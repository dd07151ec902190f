//! What a cache backend does, on full keys (`prefix:version:key`) and serialised bytes.
//!
//! [`Store`] is the backend "trait" of the cache: a closed enum rather than a `dyn` trait,
//! so its operations are plain `async fn`s (no boxing per call) and a new operation is
//! added to every backend at once, checked by the compiler. Each operation is one round
//! trip on Redis, and atomic there:
//!
//! - `get_many` is one `MGET` (one consistent snapshot of several keys),
//! - `set_many` one `MULTI`/`EXEC` pipeline,
//! - `incr` and `touch` small Lua scripts.
//!
//! The query cache adds two operations on *version keys* (one per table, holding a random
//! token, never expiring): `get_versioned` reads (creating the missing ones) several version
//! keys and an entry in one round trip (a Lua script on Redis), and `bump` gives version
//! keys new tokens (one `MSET`). In process, version keys live in a map of their own that
//! moka never evicts.

use std::sync::Arc;
use std::time::Duration;

use orm_core::Result;

use super::local::LocalStore;
#[cfg(feature = "redis")]
use super::redis::RedisStore;

/// How long an entry lives once written: `None` is forever. A zero duration never gets
/// here ([`super::Cache`] turns it into a delete, as Django does).
pub(crate) type Ttl = Option<Duration>;

/// The backends.
pub(crate) enum Store {
    Local(LocalStore),
    #[cfg(feature = "redis")]
    Redis(RedisStore),
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Local($s) => $e,
            #[cfg(feature = "redis")]
            Store::Redis($s) => $e,
        }
    };
}

impl Store {
    /// The values at `keys`, in order; `None` where a key is absent or expired.
    pub(crate) async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        dispatch!(self, s => s.get_many(keys).await)
    }

    /// Write `value` at `key`; with `only_if_absent`, only when the key holds nothing.
    /// Whether it was written.
    pub(crate) async fn set(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Ttl,
        only_if_absent: bool,
    ) -> Result<bool> {
        dispatch!(self, s => s.set(key, value, ttl, only_if_absent).await)
    }

    /// Write every entry, all with the same lifetime.
    pub(crate) async fn set_many(&self, entries: Vec<(String, Vec<u8>)>, ttl: Ttl) -> Result<()> {
        dispatch!(self, s => s.set_many(entries, ttl).await)
    }

    /// Delete `keys`; how many held a value.
    pub(crate) async fn delete_many(&self, keys: &[String]) -> Result<u64> {
        dispatch!(self, s => s.delete_many(keys).await)
    }

    /// Add `delta` to the integer at `key`, keeping its expiry; the new value. An error
    /// when the key is absent or does not hold an integer, or on overflow.
    pub(crate) async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        dispatch!(self, s => s.incr(key, delta).await)
    }

    /// Give the entry at `key` a new lifetime; whether there was one.
    pub(crate) async fn touch(&self, key: &str, ttl: Ttl) -> Result<bool> {
        dispatch!(self, s => s.touch(key, ttl).await)
    }

    /// The tokens at `version_keys` (each missing one set to a `fresh()` token first) and
    /// the value at `key`, in one atomic step.
    pub(crate) async fn get_versioned(
        &self,
        key: &str,
        version_keys: &[Arc<str>],
        fresh: fn() -> u64,
    ) -> Result<(Vec<u64>, Option<Arc<[u8]>>)> {
        match self {
            Store::Local(s) => s.get_versioned(key, version_keys, fresh).await,
            // Boxed: Redis's future is large, and it would size every future that awaits
            // a lookup (a cache hit's, moved into its box on every call) even in process.
            #[cfg(feature = "redis")]
            Store::Redis(s) => Box::pin(s.get_versioned(key, version_keys, fresh)).await,
        }
    }

    /// Set each version key to its new token.
    pub(crate) async fn bump(&self, version_keys: &[Arc<str>], tokens: &[u64]) -> Result<()> {
        dispatch!(self, s => s.bump(version_keys, tokens).await)
    }

    /// Delete every key starting with `key_prefix`.
    pub(crate) async fn clear(&self, key_prefix: &str) -> Result<()> {
        dispatch!(self, s => s.clear(key_prefix).await)
    }

    /// The bytes an in-process store holds (its weigher's count), after pending
    /// evictions; `None` for a server.
    pub(crate) async fn weighted_size(&self) -> Option<u64> {
        match self {
            Store::Local(s) => Some(s.weighted_size().await),
            #[cfg(feature = "redis")]
            Store::Redis(_) => None,
        }
    }

    /// The backend's name, for `Debug`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Store::Local(s) => format!("local ({} bytes)", s.max_bytes()),
            #[cfg(feature = "redis")]
            Store::Redis(s) => format!("redis ({})", s.url()),
        }
    }
}
