//! Django's low-level cache API (`django.core.cache`), async: [`Cache`].
//!
//! Two backends share one API:
//!
//! - [`Cache::local`]: in process, bounded by bytes, with TinyLFU admission and LRU
//!   eviction (moka). The default choice for one process.
//! - [`Cache::redis`] (feature `redis`): a Redis server shared by many processes, through
//!   a connection manager that reconnects after a restart.
//!
//! ```
//! use orm_sqlx::cache::{Cache, Timeout};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> orm_sqlx::Result<()> {
//! let cache = Cache::local(64 * 1024 * 1024)
//!     .with_prefix("myapp")
//!     .with_default_timeout(Timeout::After(Duration::from_secs(300)));
//! cache.set("greeting", &"hello", Timeout::Default).await?;
//! let v: Option<String> = cache.get("greeting").await?;
//! assert_eq!(v.as_deref(), Some("hello"));
//! # Ok(()) }
//! ```
//!
//! **Keys** are made as Django's `make_key`: `prefix:version:key` ([`Cache::make_key`]).
//! A key whose full form is longer than 250 bytes or holds a space or a control character
//! is refused with [`Error::Cache`] — Django only warns (`CacheKeyWarning`), but such keys
//! do not work on Memcached, and refusing them keeps keys portable between backends and
//! readable in `redis-cli`. Hash a long key yourself (for example a SHA-256 of the
//! parameters it stands for).
//!
//! **Values** are serialised with serde_json: anything `Serialize` is stored, and read
//! back as any `DeserializeOwned` type it fits; a value that does not fit the type asked
//! for is [`Error::Cache`], never a panic. Integers are stored as their decimal text, so
//! [`Cache::incr`] works on Redis with `INCRBY`.
//!
//! **Timeouts** ([`Timeout`]): `Default` is the cache's default (300 seconds, as Django;
//! [`Cache::with_default_timeout`]), `Never` keeps the entry until it is evicted or
//! deleted, `After(d)` expires it after `d`; `After(Duration::ZERO)` stores nothing and
//! deletes what was there (Django's `timeout=0`).
//!
//! **Differs from Django:** [`Cache::clear`] deletes only this cache's prefix (Django's
//! `clear()` flushes the whole Redis database or local cache); caches made with
//! [`Cache::with_prefix`] from one backend share it, as Django's aliases share a server.

mod finite;
mod local;
pub(crate) mod query;

pub use query::{CacheStats, DEFAULT_MAX_ENTRY_BYTES, QueryCache, TableStats};
#[cfg(feature = "redis")]
mod redis;
mod store;

use std::any::type_name;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orm_core::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::OwnedMutexGuard;

use store::{Store, Ttl};

/// The longest full key (`prefix:version:key`) accepted, in bytes: Memcached's limit,
/// which Django warns about.
///
/// ```
/// use orm_sqlx::cache::{Cache, MAX_KEY_BYTES};
///
/// let cache = Cache::local(1 << 20); // keys are `:1:key`: 3 bytes before the key
/// assert!(cache.make_key(&"k".repeat(MAX_KEY_BYTES - 3)).is_ok());
/// assert!(cache.make_key(&"k".repeat(MAX_KEY_BYTES - 2)).is_err());
/// ```
pub const MAX_KEY_BYTES: usize = 250;

/// Django's default timeout: 300 seconds.
const DJANGO_DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// How long an entry lives (Django's `timeout` argument).
///
/// ```
/// use orm_sqlx::cache::Timeout;
/// use std::time::Duration;
///
/// let five_minutes = Timeout::After(Duration::from_secs(300));
/// let forever = Timeout::Never; // Django's timeout=None
/// let not_stored = Timeout::After(Duration::ZERO); // Django's timeout=0
/// # let _ = (five_minutes, forever, not_stored, Timeout::Default);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Timeout {
    /// The cache's default timeout ([`Cache::with_default_timeout`]; 300 seconds unless
    /// set).
    #[default]
    Default,
    /// Never expire (Django's `None`): the entry stays until it is deleted or evicted.
    Never,
    /// Expire after this long. Zero stores nothing and deletes what the key held.
    After(Duration),
}

/// A lifetime resolved against the cache's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Life {
    /// `After(0)`: do not store, delete.
    Zero,
    Keep(Ttl),
}

/// Django's low-level cache: `get`, `set`, `add`, `get_or_set`, `delete`, `get_many`,
/// `set_many`, `delete_many`, `incr`/`decr`, `touch`, `clear`, versions and key
/// prefixes. Cheap to clone: clones share the backend and the single-flight table.
///
/// ```
/// use orm_sqlx::cache::{Cache, Timeout};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> orm_sqlx::Result<()> {
/// let cache = Cache::local(1024 * 1024);
/// assert!(cache.add("hits", &0, Timeout::Never).await?);
/// assert_eq!(cache.incr("hits", 1).await?, 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Cache {
    store: Arc<Store>,
    prefix: Arc<str>,
    version: i64,
    default_timeout: Ttl,
    flights: Arc<Flights>,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("backend", &self.store.describe())
            .field("prefix", &self.prefix)
            .field("version", &self.version)
            .field("default_timeout", &self.default_timeout)
            .finish()
    }
}

impl Cache {
    fn with_store(store: Store) -> Cache {
        Cache {
            store: Arc::new(store),
            prefix: Arc::from(""),
            version: 1,
            default_timeout: Some(DJANGO_DEFAULT_TIMEOUT),
            flights: Arc::default(),
        }
    }

    /// An in-process cache holding at most `max_bytes` bytes (each entry weighs its key,
    /// its serialised value and about a hundred bytes of bookkeeping). New entries are
    /// admitted by TinyLFU and old ones evicted least-recently-used first; an entry
    /// heavier than the whole bound is not kept. Expiry follows tokio's clock, so a test
    /// with a paused clock (`tokio::time::pause`) can advance past it.
    ///
    /// ```
    /// use orm_sqlx::cache::Cache;
    ///
    /// let cache = Cache::local(64 * 1024 * 1024); // 64 MiB
    /// # let _ = cache;
    /// ```
    pub fn local(max_bytes: u64) -> Cache {
        Cache::with_store(Store::Local(local::LocalStore::new(max_bytes)))
    }

    /// A cache on the Redis server at `url` (`redis://host:port/db`), for many processes.
    /// Connects at once: an unreachable server is [`Error::Cache`] within a few seconds,
    /// naming the URL (without its password) and how to start Redis. Afterwards the
    /// connection manager reconnects by itself when the connection breaks (a restart):
    /// the command in flight then fails with [`Error::Cache`], the next ones reconnect.
    /// A command that gets no answer within 5 seconds fails the same way.
    ///
    /// ```no_run
    /// use orm_sqlx::cache::Cache;
    ///
    /// # async fn demo() -> orm_sqlx::Result<()> {
    /// let cache = Cache::redis("redis://127.0.0.1:6379").await?;
    /// # let _ = cache;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "redis")]
    pub async fn redis(url: &str) -> Result<Cache> {
        Ok(Cache::with_store(Store::Redis(
            redis::RedisStore::connect(url).await?,
        )))
    }

    /// This cache with key prefix `prefix` (Django's `KEY_PREFIX`), on the same backend.
    /// Entries of different prefixes never meet, and [`Cache::clear`] clears one prefix.
    ///
    /// ```
    /// use orm_sqlx::cache::Cache;
    ///
    /// let shared = Cache::local(1 << 20);
    /// let users = shared.with_prefix("users");
    /// let posts = shared.with_prefix("posts");
    /// # let _ = (users, posts);
    /// ```
    pub fn with_prefix(&self, prefix: &str) -> Cache {
        Cache {
            prefix: Arc::from(prefix),
            ..self.clone()
        }
    }

    /// This cache with another default timeout (what [`Timeout::Default`] means; Django's
    /// `TIMEOUT`). `Timeout::Default` here restores Django's 300 seconds; `After(0)` makes
    /// every default write a delete, as Django's `TIMEOUT: 0`.
    ///
    /// ```
    /// use orm_sqlx::cache::{Cache, Timeout};
    /// use std::time::Duration;
    ///
    /// let cache = Cache::local(1 << 20).with_default_timeout(Timeout::After(Duration::from_secs(60)));
    /// # let _ = cache;
    /// ```
    pub fn with_default_timeout(&self, timeout: Timeout) -> Cache {
        let default_timeout = match timeout {
            Timeout::Default => Some(DJANGO_DEFAULT_TIMEOUT),
            Timeout::Never => None,
            Timeout::After(d) => Some(d),
        };
        Cache {
            default_timeout,
            ..self.clone()
        }
    }

    /// This cache reading and writing version `version` of every key (Django's `VERSION`
    /// setting, or the `version=` argument of each call). The default version is 1.
    ///
    /// ```
    /// use orm_sqlx::cache::{Cache, Timeout};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> orm_sqlx::Result<()> {
    /// let cache = Cache::local(1 << 20);
    /// cache.version(2).set("k", &"two", Timeout::Never).await?;
    /// assert_eq!(cache.get::<String>("k").await?, None);
    /// assert_eq!(cache.version(2).get::<String>("k").await?.as_deref(), Some("two"));
    /// # Ok(()) }
    /// ```
    pub fn version(&self, version: i64) -> Cache {
        Cache {
            version,
            ..self.clone()
        }
    }

    /// The prefix of this cache's keys.
    ///
    /// ```
    /// use orm_sqlx::cache::Cache;
    /// assert_eq!(Cache::local(1 << 20).with_prefix("app").prefix(), "app");
    /// ```
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The version this cache reads and writes (1 unless [`Cache::version`] set another).
    ///
    /// ```
    /// use orm_sqlx::cache::Cache;
    /// assert_eq!(Cache::local(1 << 20).version(3).current_version(), 3);
    /// ```
    pub fn current_version(&self) -> i64 {
        self.version
    }

    /// The key the backend stores `key` under: `prefix:version:key` (Django's
    /// `make_key`), or [`Error::Cache`] when it is longer than [`MAX_KEY_BYTES`] or holds
    /// a space or a control character.
    ///
    /// ```
    /// use orm_sqlx::cache::Cache;
    ///
    /// let cache = Cache::local(1 << 20).with_prefix("app");
    /// assert_eq!(cache.make_key("user:1")?, "app:1:user:1");
    /// assert!(cache.make_key("has space").is_err());
    /// # Ok::<(), orm_sqlx::Error>(())
    /// ```
    pub fn make_key(&self, key: &str) -> Result<String> {
        self.key_at(key, self.version)
    }

    /// The prefix as it starts every key: `%` and `:` escaped (`%25`, `%3A`), so that a
    /// prefix holding a colon (`app:sessions`) is not a longer key of another prefix
    /// (`app`), and `clear()` of one never reaches the other.
    fn key_prefix(&self) -> std::borrow::Cow<'_, str> {
        if self.prefix.contains([':', '%']) {
            std::borrow::Cow::Owned(self.prefix.replace('%', "%25").replace(':', "%3A"))
        } else {
            std::borrow::Cow::Borrowed(&self.prefix)
        }
    }

    fn key_at(&self, key: &str, version: i64) -> Result<String> {
        let full = format!("{}:{version}:{key}", self.key_prefix());
        if full.len() > MAX_KEY_BYTES {
            return Err(Error::Cache(format!(
                "the key `{}…` is {} bytes with its prefix and version, over the {MAX_KEY_BYTES} \
                 a cache key may have: hash it (for example SHA-256 of what it stands for)",
                full.chars().take(40).collect::<String>(),
                full.len()
            )));
        }
        if let Some(c) = full.chars().find(|c| c.is_control() || *c == ' ') {
            return Err(Error::Cache(format!(
                "the key {full:?} holds {c:?}: cache keys may not hold spaces or control \
                 characters (they would not work on Memcached); replace or hash them"
            )));
        }
        Ok(full)
    }

    fn life(&self, timeout: Timeout) -> Life {
        let ttl = match timeout {
            Timeout::Default => self.default_timeout,
            Timeout::Never => None,
            Timeout::After(d) => Some(d),
        };
        match ttl {
            Some(d) if d.is_zero() => Life::Zero,
            ttl => Life::Keep(ttl),
        }
    }

    /// The value at `key`, read as `T`; `None` when absent or expired. A stored value
    /// that is not a `T` is [`Error::Cache`].
    ///
    /// ```
    /// use orm_sqlx::cache::{Cache, Timeout};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> orm_sqlx::Result<()> {
    /// let cache = Cache::local(1 << 20);
    /// cache.set("ids", &vec![1, 2, 3], Timeout::Default).await?;
    /// let ids: Option<Vec<i64>> = cache.get("ids").await?;
    /// assert_eq!(ids, Some(vec![1, 2, 3]));
    /// assert!(cache.get::<String>("ids").await.is_err()); // not a String
    /// # Ok(()) }
    /// ```
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let full = self.make_key(key)?;
        self.get_full(&full).await
    }

    async fn get_raw(&self, full: &str) -> Result<Option<Vec<u8>>> {
        let mut v = self.store.get_many(&[full.to_owned()]).await?;
        Ok(v.pop().flatten())
    }

    async fn get_full<T: DeserializeOwned>(&self, full: &str) -> Result<Option<T>> {
        match self.get_raw(full).await? {
            None => Ok(None),
            Some(bytes) => decode(full, &bytes).map(Some),
        }
    }

    /// Whether `key` holds a value (Django's `has_key`).
    ///
    /// ```
    /// use orm_sqlx::cache::{Cache, Timeout};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> orm_sqlx::Result<()> {
    /// let cache = Cache::local(1 << 20);
    /// cache.set("k", &1, Timeout::Default).await?;
    /// assert!(cache.has_key("k").await?);
    /// # Ok(()) }
    /// ```
    pub async fn has_key(&self, key: &str) -> Result<bool> {
        let full = self.make_key(key)?;
        Ok(self.get_raw(&full).await?.is_some())
    }

    /// Store `value` at `key` for `timeout`. `Timeout::After(Duration::ZERO)` stores
    /// nothing and deletes what the key held (Django's `timeout=0`).
    ///
    /// ```
    /// use orm_sqlx::cache::{Cache, Timeout};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> orm_sqlx::Result<()> {
    /// let cache = Cache::local(1 << 20);
    /// cache.set("k", &"v", Timeout::After(Duration::from_secs(60))).await?;
    /// cache.set("k", &"v", Timeout::After(Duration::ZERO)).await?; // deletes
    /// assert_eq!(cache.get::<String>("k").await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn set<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        timeout: Timeout,
    ) -> Result<()> {
        let full = self.make_key(key)?;
        self.set_full(&full, value, timeout).await
    }

    async fn set_full<T: Serialize + ?Sized>(
        &self,
        full: &str,
        value: &T,
        timeout: Timeout,
    ) -> Result<()> {
        let bytes = encode(full, value)?;
        match self.life(timeout) {
            Life::Zero => {
                self.store.delete_many(&[full.to_owned()]).await?;
            }
            Life::Keep(ttl) => {
                self.store.set(full, bytes, ttl, false).await?;
            }
        }
        Ok(())
    }

    /// Store `value` at `key` only if the key holds nothing; whether it was stored
    /// (Django's `add`). Atomic on every backend. With `After(Duration::ZERO)` nothing is
    /// stored, and the answer is whether the key was free.
    ///
    /// ```
    /// use orm_sqlx::cache::{Cache, Timeout};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> orm_sqlx::Result<()> {
    /// let cache = Cache::local(1 << 20);
    /// assert!(cache.add("lock", &"me", Timeout::Default).await?);
    /// assert!(!cache.add("lock", &"you", Timeout::Default).await?);
    /// # Ok(()) }
    /// ```
    pub async fn add<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        timeout: Timeout,
    ) -> Result<bool> {
        let full = self.make_key(key)?;
        let bytes = encode(&full, value)?;
        match self.life(timeout) {
            Life::Zero => Ok(self.get_raw(&full).await?.is_none()),
            Life::Keep(ttl) => self.store.set(&full, bytes, ttl, true).await,
        }
    }

    /// The value at `key`, or else `compute()`'s, stored for `timeout` and returned
    /// (Django's `get_or_set` with a callable).
    ///
    /// **Single flight:** concurrent calls that miss the same key wait for one of them to
    /// compute; the others then read what it stored. In process this holds per [`Cache`]
    /// (and its clones); on Redis it holds per process — two processes missing at once may
    /// each compute once. A call that is cancelled while computing lets the next waiter
    /// compute. With `After(Duration::ZERO)` nothing is stored, so every call computes.
    ///
    /// ```
    /// use orm_sqlx::cache::{Cache, Timeout};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> orm_sqlx::Result<()> {
    /// let cache = Cache::local(1 << 20);
    /// let n: i64 = cache.get_or_set("answer", || async { 42 }, Timeout::Default).await?;
    /// assert_eq!(n, 42);
    /// # Ok(()) }
    /// ```
    pub async fn get_or_set<T, F, Fut>(&self, key: &str, compute: F, timeout: Timeout) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        self.try_get_or_set(key, || async { Ok::<T, Error>(compute().await) }, timeout)
            .await
    }

    /// [`Cache::get_or_set`] with a fallible computation (a query): its error is returned
    /// and nothing is stored; a waiting call then computes in turn.
    ///
    /// ```
    /// use orm_sqlx::cache::{Cache, Timeout};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> orm_sqlx::Result<()> {
    /// let cache = Cache::local(1 << 20);
    /// let n: i64 = cache
    ///     .try_get_or_set("count", || async { Ok::<_, orm_sqlx::Error>(7) }, Timeout::Default)
    ///     .await?;
    /// assert_eq!(n, 7);
    /// # Ok(()) }
    /// ```
    pub async fn try_get_or_set<T, E, F, Fut>(
        &self,
        key: &str,
        compute: F,
        timeout: Timeout,
    ) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        E: From<Error>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let full = self.make_key(key)?;
        if let Some(v) = self.get_full(&full).await? {
            return Ok(v);
        }
        let ttl = match self.life(timeout) {
            // Nothing will be stored: waiting for another caller would only queue them.
            Life::Zero => return compute().await,
            Life::Keep(ttl) => ttl,
        };
        let _flight = self.flights.join(&full).await;
        if let Some(v) = self.get_full(&full).await? {
            return Ok(v);
        }
        let value = compute().await?;
        // Stored only if the key is still free (Django's `add`): a value written while
        // this one was computed wins, and is what the call returns.
        let bytes = encode(&full, &value)?;
        if self.store.set(&full, bytes, ttl, true).await? {
            return Ok(value);
        }
        Ok(self.get_full(&full).await?.unwrap_or(value))
    }

    /// Delete `key`; whether it held a value.
    ///
    /// ```
    /// use orm_sqlx::cache::{Cache, Timeout};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> orm_sqlx::Result<()> {
    /// let cache = Cache::local(1 << 20);
    /// cache.set("k", &1, Timeout::Default).await?;
    /// assert!(cache.delete("k").await?);
    /// assert!(!cache.delete("k").await?);
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, key: &str) -> Result<bool> {
        let full = self.make_key(key)?;
        Ok(self.store.delete_many(&[full]).await? > 0)
    }

    /// The values of the `keys` that hold one, by key (Django's `get_many`: absent keys
    /// are left out). One round trip on Redis (`MGET`).
    ///
    /// ```
    /// use orm_sqlx::cache::{Cache, Timeout};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> orm_sqlx::Result<()> {
    /// let cache = Cache::local(1 << 20);
    /// cache.set("a", &1, Timeout::Default).await?;
    /// let found = cache.get_many::<i64, _>(["a", "b"]).await?;
    /// assert_eq!(found.len(), 1);
    /// assert_eq!(found["a"], 1);
    /// # Ok(()) }
    /// ```
    pub async fn get_many<T, K>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<HashMap<String, T>>
    where
        T: DeserializeOwned,
        K: AsRef<str>,
    {
        let mut names = Vec::new();
        let mut fulls = Vec::new();
        for k in keys {
            fulls.push(self.make_key(k.as_ref())?);
            names.push(k.as_ref().to_owned());
        }
        let values = self.store.get_many(&fulls).await?;
        let mut out = HashMap::new();
        for ((name, full), v) in names.into_iter().zip(&fulls).zip(values) {
            if let Some(bytes) = v {
                out.insert(name, decode(full, &bytes)?);
            }
        }
        Ok(out)
    }

    /// Store every `(key, value)` for `timeout` (Django's `set_many`; atomic on Redis,
    /// one `MULTI`/`EXEC`). `After(Duration::ZERO)` deletes the keys.
    ///
    /// ```
    /// use orm_sqlx::cache::{Cache, Timeout};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> orm_sqlx::Result<()> {
    /// let cache = Cache::local(1 << 20);
    /// cache.set_many([("a", 1), ("b", 2)], Timeout::Default).await?;
    /// assert_eq!(cache.get::<i64>("b").await?, Some(2));
    /// # Ok(()) }
    /// ```
    pub async fn set_many<K, V>(
        &self,
        entries: impl IntoIterator<Item = (K, V)>,
        timeout: Timeout,
    ) -> Result<()>
    where
        K: AsRef<str>,
        V: Serialize,
    {
        let mut encoded = Vec::new();
        for (k, v) in entries {
            let full = self.make_key(k.as_ref())?;
            let bytes = encode(&full, &v)?;
            encoded.push((full, bytes));
        }
        match self.life(timeout) {
            Life::Zero => {
                let keys: Vec<String> = encoded.into_iter().map(|(k, _)| k).collect();
                self.store.delete_many(&keys).await?;
                Ok(())
            }
            Life::Keep(ttl) => self.store.set_many(encoded, ttl).await,
        }
    }

    /// Delete every key of `keys`; how many held a value (Django's `delete_many`).
    ///
    /// ```
    /// use orm_sqlx::cache::{Cache, Timeout};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> orm_sqlx::Result<()> {
    /// let cache = Cache::local(1 << 20);
    /// cache.set_many([("a", 1), ("b", 2)], Timeout::Default).await?;
    /// assert_eq!(cache.delete_many(["a", "b", "c"]).await?, 2);
    /// # Ok(()) }
    /// ```
    pub async fn delete_many<K: AsRef<str>>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<u64> {
        let fulls = keys
            .into_iter()
            .map(|k| self.make_key(k.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        self.store.delete_many(&fulls).await
    }

    /// Add `delta` to the integer at `key` and return the result, atomically, keeping the
    /// entry's expiry (Django's `incr`). A missing key, a value that is not an integer, or
    /// an overflow of `i64` is [`Error::Cache`] (Django's `ValueError`).
    ///
    /// ```
    /// use orm_sqlx::cache::{Cache, Timeout};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> orm_sqlx::Result<()> {
    /// let cache = Cache::local(1 << 20);
    /// assert!(cache.incr("n", 1).await.is_err()); // missing
    /// cache.set("n", &10, Timeout::Never).await?;
    /// assert_eq!(cache.incr("n", 5).await?, 15);
    /// # Ok(()) }
    /// ```
    pub async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        let full = self.make_key(key)?;
        self.store.incr(&full, delta).await
    }

    /// Subtract `delta` from the integer at `key` ([`Cache::incr`] with `-delta`; Django's
    /// `decr`).
    ///
    /// ```
    /// use orm_sqlx::cache::{Cache, Timeout};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> orm_sqlx::Result<()> {
    /// let cache = Cache::local(1 << 20);
    /// cache.set("n", &10, Timeout::Never).await?;
    /// assert_eq!(cache.decr("n", 3).await?, 7);
    /// # Ok(()) }
    /// ```
    pub async fn decr(&self, key: &str, delta: i64) -> Result<i64> {
        let neg = delta.checked_neg().ok_or_else(|| {
            Error::Cache(format!(
                "decr of `{key}` by {delta}: the delta cannot be negated"
            ))
        })?;
        self.incr(key, neg).await
    }

    /// Give the entry at `key` a new lifetime; whether the key held a value (Django's
    /// `touch`). `After(Duration::ZERO)` expires it at once.
    ///
    /// ```
    /// use orm_sqlx::cache::{Cache, Timeout};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> orm_sqlx::Result<()> {
    /// let cache = Cache::local(1 << 20);
    /// cache.set("k", &1, Timeout::Default).await?;
    /// assert!(cache.touch("k", Timeout::Never).await?);
    /// assert!(!cache.touch("missing", Timeout::Never).await?);
    /// # Ok(()) }
    /// ```
    pub async fn touch(&self, key: &str, timeout: Timeout) -> Result<bool> {
        let full = self.make_key(key)?;
        match self.life(timeout) {
            Life::Zero => Ok(self.store.delete_many(&[full]).await? > 0),
            Life::Keep(ttl) => self.store.touch(&full, ttl).await,
        }
    }

    /// Delete every entry of this cache's prefix, all versions.
    ///
    /// **Differs from Django**, whose `clear()` flushes the whole Redis database (or the
    /// whole local cache): here other prefixes, and keys written by other programs on the
    /// same Redis, are left alone. On Redis it walks the keys with `SCAN MATCH prefix:*`
    /// (not atomic: a key written during the walk may stay).
    ///
    /// ```
    /// use orm_sqlx::cache::{Cache, Timeout};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> orm_sqlx::Result<()> {
    /// let base = Cache::local(1 << 20);
    /// let (a, b) = (base.with_prefix("a"), base.with_prefix("b"));
    /// a.set("k", &1, Timeout::Default).await?;
    /// b.set("k", &2, Timeout::Default).await?;
    /// a.clear().await?;
    /// assert_eq!(a.get::<i64>("k").await?, None);
    /// assert_eq!(b.get::<i64>("k").await?, Some(2));
    /// # Ok(()) }
    /// ```
    pub async fn clear(&self) -> Result<()> {
        self.store.clear(&format!("{}:", self.key_prefix())).await
    }

    /// Move the value at `key` to the next version (Django's `incr_version`): it is
    /// stored at version + `delta` with the default timeout, deleted from its version,
    /// and the new version is returned. A missing key is [`Error::Cache`].
    ///
    /// ```
    /// use orm_sqlx::cache::{Cache, Timeout};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> orm_sqlx::Result<()> {
    /// let cache = Cache::local(1 << 20);
    /// cache.set("k", &"v", Timeout::Default).await?;
    /// assert_eq!(cache.incr_version("k", 1).await?, 2);
    /// assert_eq!(cache.get::<String>("k").await?, None);
    /// assert_eq!(cache.version(2).get::<String>("k").await?.as_deref(), Some("v"));
    /// # Ok(()) }
    /// ```
    pub async fn incr_version(&self, key: &str, delta: i64) -> Result<i64> {
        let old = self.make_key(key)?;
        let version = self
            .version
            .checked_add(delta)
            .ok_or_else(|| Error::Cache(format!("incr_version of `{key}`: version overflow")))?;
        let new = self.key_at(key, version)?;
        let Some(bytes) = self.get_raw(&old).await? else {
            return Err(Error::Cache(format!(
                "incr_version: the key `{old}` holds no value (Django's ValueError); set it first"
            )));
        };
        match self.life(Timeout::Default) {
            // Django's `set` with a timeout of 0 deletes: nothing stays at the new version.
            Life::Zero => {
                self.store.delete_many(std::slice::from_ref(&new)).await?;
            }
            Life::Keep(ttl) => {
                self.store.set(&new, bytes, ttl, false).await?;
            }
        }
        self.store.delete_many(&[old]).await?;
        Ok(version)
    }

    /// [`Cache::incr_version`] by `-delta` (Django's `decr_version`).
    ///
    /// ```
    /// use orm_sqlx::cache::{Cache, Timeout};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> orm_sqlx::Result<()> {
    /// let cache = Cache::local(1 << 20).version(3);
    /// cache.set("k", &"v", Timeout::Default).await?;
    /// assert_eq!(cache.decr_version("k", 1).await?, 2);
    /// # Ok(()) }
    /// ```
    pub async fn decr_version(&self, key: &str, delta: i64) -> Result<i64> {
        let neg = delta.checked_neg().ok_or_else(|| {
            Error::Cache(format!(
                "decr_version of `{key}` by {delta}: cannot be negated"
            ))
        })?;
        self.incr_version(key, neg).await
    }

    /// For an in-process cache, the bytes it holds as its weigher counts them (after
    /// applying pending evictions): at most the bound given to [`Cache::local`]. `None`
    /// on Redis.
    ///
    /// ```
    /// use orm_sqlx::cache::{Cache, Timeout};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> orm_sqlx::Result<()> {
    /// let cache = Cache::local(1 << 20);
    /// cache.set("k", &"v", Timeout::Default).await?;
    /// assert!(cache.weighted_size().await.unwrap() > 0);
    /// # Ok(()) }
    /// ```
    pub async fn weighted_size(&self) -> Option<u64> {
        self.store.weighted_size().await
    }
}

fn encode<T: Serialize + ?Sized>(full: &str, value: &T) -> Result<Vec<u8>> {
    // JSON has no NaN or infinity: serde_json would write `null`, and the value read back
    // would not be the one stored.
    finite::check(value).map_err(|f| {
        Error::Cache(format!(
            "cannot store the value for `{full}` ({}): it holds the float {f}, which the \
             cache's JSON cannot keep (it would read back as null); store it as text or \
             an Option",
            type_name::<T>()
        ))
    })?;
    serde_json::to_vec(value).map_err(|e| {
        Error::Cache(format!(
            "cannot serialise the value for `{full}` ({}) as JSON: {e}",
            type_name::<T>()
        ))
    })
}

fn decode<T: DeserializeOwned>(full: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::Cache(format!(
            "the value at `{full}` does not deserialise as {}: {e}; it was stored as another \
             type: read it as that type, or delete it (or bump the version) after changing it",
            type_name::<T>()
        ))
    })
}

pub(crate) fn missing_for_incr(full: &str) -> Error {
    Error::Cache(format!(
        "incr/decr: the key `{full}` holds no value (Django's ValueError); set it first \
         (`add(key, &0, …)` sets it only if absent)"
    ))
}

pub(crate) fn not_an_integer(full: &str) -> Error {
    Error::Cache(format!(
        "incr/decr: the value at `{full}` is not a 64-bit integer"
    ))
}

pub(crate) fn overflow(full: &str, current: i64, delta: i64) -> Error {
    Error::Cache(format!(
        "incr/decr of `{full}` ({current}) by {delta} would overflow a 64-bit integer"
    ))
}

/// The single-flight table: one async lock per full key being computed.
#[derive(Default)]
struct Flights {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Holding it means computing `key`; dropping it lets the next waiter in, and the last
/// one out removes the key's lock from the table.
struct Flight {
    flights: Arc<Flights>,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Flights {
    async fn join(self: &Arc<Self>, key: &str) -> Flight {
        self.join_noting(key).await.0
    }

    /// The flight of `key` if nobody else holds it, without waiting.
    fn try_join(self: &Arc<Self>, key: &str) -> Option<Flight> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(key.to_owned()).or_default().clone()
        };
        match lock.try_lock_owned() {
            Ok(guard) => Some(Flight {
                flights: self.clone(),
                key: key.to_owned(),
                guard: Some(guard),
            }),
            Err(_) => {
                // Not joined: drop this clone under the table's lock, and the entry if
                // nobody else holds it (as a finished flight does).
                let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(l) = locks.get(key)
                    && Arc::strong_count(l) == 1
                {
                    locks.remove(key);
                }
                None
            }
        }
    }

    /// [`join`](Self::join), and whether another flight of `key` had to end first.
    async fn join_noting(self: &Arc<Self>, key: &str) -> (Flight, bool) {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(key.to_owned()).or_default().clone()
        };
        // A waiter cancelled here drops its clone of the lock: the count below stays right.
        let (guard, waited) = match lock.clone().try_lock_owned() {
            Ok(g) => (g, false),
            Err(_) => (lock.lock_owned().await, true),
        };
        let flight = Flight {
            flights: self.clone(),
            key: key.to_owned(),
            guard: Some(guard),
        };
        (flight, waited)
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        let lock = OwnedMutexGuard::mutex(&guard).clone();
        drop(guard);
        let mut locks = self.flights.locks.lock().unwrap_or_else(|p| p.into_inner());
        // Only the table and `lock` hold it: nobody waits, nobody can start waiting (new
        // waiters clone under the table's lock, which is held).
        if Arc::strong_count(&lock) == 2 {
            locks.remove(&self.key);
        }
        // Let go of this clone while the table is still locked: a finisher that takes the
        // table next then sees only its own clone, and removes the entry.
        drop(lock);
        drop(locks);
    }
}
