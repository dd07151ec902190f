//! The query cache: querysets cached across requests and processes
//! ([`QuerySet::cached`](orm_core::QuerySet::cached)), invalidated by the writes the ORM
//! sends.
//!
//! **What is stored.** One entry per SELECT statement of a cached evaluation (its query,
//! each prefetch query, a count, an aggregate), keyed by a 128-bit hash of the database,
//! the SQL, the values and the type the rows are read as. The entry holds the cells the
//! decoder read from each row, recorded through [`Recorder`] (a [`Row`] that passes every
//! read through and writes down its answer) and replayed by [`CachedRow`]: so whatever a
//! row decodes into (a model with its `select_related` relations, a tuple, a count), the
//! replay decodes the same, without the models being `Serialize`.
//!
//! **Invalidation.** Every table has a *version key* holding a random token (no clock).
//! A read takes the tokens of its tables (and of the database's epoch key) and the entry
//! in one round trip; the entry is served only if it was stored with exactly those tokens.
//! A miss runs the query and stores the rows with the tokens read *before* it ran. A write
//! gives its table a new token once it is committed: at once for a statement outside a
//! transaction (also when it failed or was cancelled: its outcome is not known), after the
//! COMMIT for one inside (nothing on a rollback). So a result that raced a write is stored
//! with the old token and never served; a version key that is lost (evicted, or Redis
//! restarted empty) comes back with a new random token, which no entry carries. Raw SQL
//! that is not a SELECT, and DDL, change the epoch: everything is invalid.
//!
//! **Transactions.** A transaction's reads of tables it wrote go to the database (it reads
//! its own writes); its other reads may be served from the cache, but nothing it reads is
//! stored (its snapshot may be older than the tokens it read).
//!
//! **Degraded mode.** When the cache cannot be reached, reads go to the database; a write
//! whose new token cannot be written is kept and written before this process uses the cache
//! again (until then it reads the database). Other processes may serve what they cached
//! until its TTL: the one staleness the ORM cannot prevent, with writes made outside it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orm_core::compiler::Tables;
use orm_core::{Error, Result, Row, Statement};

use super::Cache;
use super::store::Store;

/// The largest result stored by default: 1 MiB of recorded cells.
pub const DEFAULT_MAX_ENTRY_BYTES: usize = 1 << 20;

/// The first byte of every entry: its layout's version.
const LAYOUT: u8 = 1;

/// A [`Cache`] used as the query cache of a [`Db`](crate::Db)
/// ([`Db::with_cache`](crate::Db::with_cache)): cached querysets, their invalidation, and
/// [`cached_as`](QueryCache::cached_as).
///
/// ```
/// use orm_sqlx::cache::{Cache, QueryCache};
///
/// let cache = QueryCache::new(Cache::local(64 << 20)).max_entry_bytes(256 * 1024);
/// # let _ = cache;
/// ```
pub struct QueryCache {
    cache: Cache,
    /// Every key of this database starts with it: `prefix:orm:<database>:`.
    ns: String,
    max_entry_bytes: usize,
    /// Per table, scanned (an application has tens of tables, and a hit counts once).
    stats: Mutex<Vec<(&'static str, TableStats)>>,
    /// Tables whose new token could not be written (`None` in the set: the epoch).
    pending: Mutex<Vec<Option<&'static str>>>,
    /// Whether `pending` or `unsettled` may hold anything: one atomic load on a hit.
    troubled: AtomicBool,
    /// Set once a cache error was logged, cleared when the cache answers again.
    degraded: AtomicBool,
    /// Tests only: awaited after a miss's query, before its result is stored.
    pause: Mutex<Option<Pause>>,
    /// The version keys made so far, by table (`None`: the epoch): a few, scanned.
    version_keys: Mutex<Vec<(Option<&'static str>, Arc<str>)>>,
    /// Tables an abandoned write may still change (its statement or COMMIT was dropped
    /// mid-flight: the server may finish it later), until when: this process reads them
    /// from the database meanwhile, and they get new versions again at the end.
    unsettled: Mutex<Vec<(Option<&'static str>, std::time::Instant)>>,
}

/// How long the tables of an abandoned write stay unsettled: see
/// [`QueryCache::unsettled`](QueryCache).
pub const ABANDONED_WRITE_GRACE: Duration = Duration::from_secs(30);

/// See [`QueryCache::pause_before_store`].
type Pause = Arc<dyn Fn() -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>;

impl std::fmt::Debug for QueryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryCache")
            .field("cache", &self.cache)
            .field("max_entry_bytes", &self.max_entry_bytes)
            .finish()
    }
}

impl From<Cache> for QueryCache {
    fn from(cache: Cache) -> QueryCache {
        QueryCache::new(cache)
    }
}

/// What the query cache did for one table, counted since the [`Db`](crate::Db) got its
/// cache ([`QueryCache::stats`]). A statement reading several tables counts for each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableStats {
    /// Results served from the cache.
    pub hits: u64,
    /// Results read from the database for want of a valid entry.
    pub misses: u64,
    /// Results stored after a miss.
    pub stores: u64,
    /// Results not stored: bigger than [`QueryCache::max_entry_bytes`].
    pub too_large: u64,
    /// Reads sent to the database by a transaction that wrote the table.
    pub bypassed: u64,
    /// Writes that gave the table a new version.
    pub invalidations: u64,
    /// Reads or writes the cache could not serve (the database answered instead).
    pub errors: u64,
}

/// [`QueryCache::stats`]: the counters per table, and the cache's key prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// The key prefix of the cache ([`Cache::with_prefix`]).
    pub prefix: String,
    /// Per table; `"*"` counts the changes of the epoch (raw SQL, DDL).
    pub tables: BTreeMap<String, TableStats>,
}

impl CacheStats {
    /// The counters of every table added up.
    pub fn total(&self) -> TableStats {
        let mut t = TableStats::default();
        for s in self.tables.values() {
            t.hits += s.hits;
            t.misses += s.misses;
            t.stores += s.stores;
            t.too_large += s.too_large;
            t.bypassed += s.bypassed;
            t.invalidations += s.invalidations;
            t.errors += s.errors;
        }
        t
    }
}

/// A random token: std's `RandomState` is seeded from the operating system once per
/// process and stepped for each instance; a counter makes every token distinct.
fn random_token() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// A 128-bit fingerprint, the same in every process: SipHash-1-3 with 128-bit output and
/// fixed keys (the `siphasher` crate; one pass where two 64-bit SipHash-2-4 took four
/// times the work), fed in parts; text formatted into it (`write!`) is hashed as it is
/// written, never built.
struct Fingerprint(siphasher::sip128::SipHasher13);

impl Fingerprint {
    fn new() -> Fingerprint {
        Fingerprint(siphasher::sip128::SipHasher13::new_with_keys(
            0x6f72_6d5f_6361_6368,
            0x6b65_795f_7631_3238,
        ))
    }

    /// A part: its length (as 8 bytes, whatever the machine's pointer width: processes
    /// sharing Redis may differ), then its bytes (so that parts never run into each other).
    fn part(&mut self, b: &[u8]) {
        self.0.write_u64(b.len() as u64);
        self.0.write(b);
    }

    /// A tag byte, then a part.
    fn tagged(&mut self, tag: u8, b: &[u8]) {
        self.0.write_u8(tag);
        self.part(b);
    }

    fn finish(&self) -> [u64; 2] {
        use siphasher::sip128::Hasher128 as _;
        let h = self.0.finish128();
        [h.h1, h.h2]
    }
}

impl std::fmt::Write for Fingerprint {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

/// A bound value into the fingerprint: a tag per kind, then its bytes (the common kinds
/// directly; the others as their `Debug` text, which names the variant and shows the value
/// exactly).
fn hash_value(f: &mut Fingerprint, v: &orm_core::Value) {
    use orm_core::Value as V;
    match v {
        V::Bool(b) => f.part(&[1, u8::from(*b)]),
        V::I16(n) => f.tagged(2, &n.to_le_bytes()),
        V::I32(n) => f.tagged(3, &n.to_le_bytes()),
        V::I64(n) => f.tagged(4, &n.to_le_bytes()),
        V::F32(x) => f.tagged(5, &x.to_bits().to_le_bytes()),
        V::F64(x) => f.tagged(6, &x.to_bits().to_le_bytes()),
        V::Text(t) => f.tagged(7, t.as_bytes()),
        V::Bytes(b) => f.tagged(8, b),
        other => {
            f.part(&[255]);
            let _ = write!(f, "{other:?}");
            f.part(b"\0");
        }
    }
}

fn fingerprint(parts: impl Fn(&mut dyn FnMut(&[u8]))) -> [u64; 2] {
    let mut f = Fingerprint::new();
    parts(&mut |b| f.part(b));
    f.finish()
}

impl QueryCache {
    /// `cache` as a query cache, storing results up to [`DEFAULT_MAX_ENTRY_BYTES`].
    pub fn new(cache: Cache) -> QueryCache {
        QueryCache {
            cache,
            ns: String::new(),
            max_entry_bytes: DEFAULT_MAX_ENTRY_BYTES,
            stats: Mutex::default(),
            pending: Mutex::default(),
            troubled: AtomicBool::new(false),
            degraded: AtomicBool::new(false),
            pause: Mutex::default(),
            version_keys: Mutex::default(),
            unsettled: Mutex::default(),
        }
    }

    /// Note that an abandoned write may still change `tables`: new versions now, again
    /// when the grace period ends, and reads of them from the database meanwhile.
    fn abandoned(self: &Arc<Self>, tables: Vec<Option<&'static str>>) {
        let until = std::time::Instant::now() + ABANDONED_WRITE_GRACE;
        {
            let mut unsettled = self.unsettled.lock().unwrap_or_else(|p| p.into_inner());
            unsettled.retain(|(_, u)| *u > std::time::Instant::now());
            for t in &tables {
                unsettled.push((*t, until));
            }
            self.troubled.store(true, Ordering::Release);
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                let qc = self.clone();
                rt.spawn(async move {
                    qc.bump(&tables).await;
                    tokio::time::sleep(ABANDONED_WRITE_GRACE).await;
                    qc.bump(&tables).await;
                });
            }
            Err(_) => {
                let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                pending.extend(tables);
                self.troubled.store(true, Ordering::Release);
            }
        }
    }

    /// Clear `troubled` when nothing is pending and nothing unsettled (under both locks,
    /// which whoever adds to them holds while setting it).
    fn settle_trouble(&self) {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let unsettled = self.unsettled.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        if pending.is_empty() && unsettled.iter().all(|(_, until)| *until <= now) {
            self.troubled.store(false, Ordering::Release);
        }
    }

    /// Whether a read of `tables` must go to the database: an abandoned write may still
    /// change one of them.
    fn unsettled(&self, tables: &[impl AsRef<str>]) -> bool {
        let unsettled = self.unsettled.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        unsettled.iter().any(|(t, until)| {
            *until > now && t.is_none_or(|t| tables.iter().any(|x| x.as_ref() == t))
        })
    }

    /// Whether results over `tables` may be read from or stored in the cache now: the
    /// new versions a failed write left are written first, and no abandoned write may
    /// still change one of them (what the page cache asks before it looks or stores).
    #[cfg_attr(not(feature = "web"), allow(dead_code))]
    pub(crate) async fn ready_for(&self, tables: &[impl AsRef<str>]) -> bool {
        if !self.troubled.load(Ordering::Acquire) {
            return true;
        }
        self.flush_pending().await && !self.unsettled(tables)
    }

    /// For tests of races: `pause` is awaited after each miss's query ran and before its
    /// result is stored (a write can then commit in between).
    #[doc(hidden)]
    pub fn pause_before_store(&self, pause: Option<Pause>) {
        *self.pause.lock().unwrap_or_else(|p| p.into_inner()) = pause;
    }

    async fn paused(&self) {
        let pause = self.pause.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(pause) = pause {
            pause().await;
        }
    }

    /// Results whose recorded rows are bigger than `bytes` are not stored (and counted in
    /// [`TableStats::too_large`]); recording stops as soon as one is, so a huge result is
    /// never held twice.
    pub fn max_entry_bytes(mut self, bytes: usize) -> QueryCache {
        self.max_entry_bytes = bytes;
        self
    }

    /// Scope every key to one database (`database`: a hash of its connection options).
    pub(crate) fn for_database(mut self, database: u64) -> QueryCache {
        self.ns = format!("{}:orm:{database:016x}:", self.cache.key_prefix());
        self
    }

    /// The low-level cache underneath.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    fn store(&self) -> &Store {
        &self.cache.store
    }

    /// The counters so far, per table.
    pub fn stats(&self) -> CacheStats {
        let stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        CacheStats {
            prefix: self.cache.prefix().to_owned(),
            tables: stats.iter().map(|(t, s)| ((*t).to_owned(), *s)).collect(),
        }
    }

    fn count(&self, tables: &[&'static str], f: impl Fn(&mut TableStats)) {
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        for t in tables {
            match stats.iter_mut().find(|(name, _)| name == t) {
                Some((_, s)) => f(s),
                None => {
                    let mut s = TableStats::default();
                    f(&mut s);
                    stats.push((t, s));
                }
            }
        }
    }

    fn version_key_text(&self, table: Option<&str>) -> Arc<str> {
        match table {
            Some(t) => format!("{}v:{t}", self.ns).into(),
            None => format!("{}e", self.ns).into(),
        }
    }

    /// The version key of `table` (`None`: the epoch), made once.
    fn version_key(&self, table: Option<&'static str>) -> Arc<str> {
        let mut keys = self.version_keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, k)) = keys.iter().find(|(t, _)| *t == table) {
            return k.clone();
        }
        let k = self.version_key_text(table);
        keys.push((table, k.clone()));
        k
    }

    /// The version keys of a read of `tables`: the epoch's, then each table's.
    fn version_keys(&self, tables: &[&'static str]) -> Vec<Arc<str>> {
        let mut keys = Vec::with_capacity(tables.len() + 1);
        keys.push(self.version_key(None));
        keys.extend(tables.iter().map(|t| self.version_key(Some(t))));
        keys
    }

    /// [`version_keys`](Self::version_keys) of tables named at run time.
    #[cfg_attr(not(feature = "web"), allow(dead_code))]
    fn version_keys_named(&self, tables: &[impl AsRef<str>]) -> Vec<Arc<str>> {
        let mut keys = Vec::with_capacity(tables.len() + 1);
        keys.push(self.version_key(None));
        keys.extend(
            tables
                .iter()
                .map(|t| self.version_key_text(Some(t.as_ref()))),
        );
        keys
    }

    /// Note that the cache failed (logged once until it answers again).
    fn failed(&self, what: &str, e: &Error) {
        if !self.degraded.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                target: "orm_sqlx::cache",
                "the query cache failed ({what}): {e}; reads go to the database until it \
                 answers again"
            );
        }
    }

    fn answered(&self) {
        if self.degraded.load(Ordering::Relaxed) {
            self.degraded.store(false, Ordering::Relaxed);
            tracing::info!(target: "orm_sqlx::cache", "the query cache answers again");
        }
    }

    /// Give `tables` (`None`: the epoch) new tokens. A failure is kept and retried before
    /// this process reads the cache again.
    async fn bump(&self, tables: &[Option<&'static str>]) {
        let named: Vec<&'static str> = tables.iter().map(|t| t.unwrap_or("*")).collect();
        self.count(&named, |s| s.invalidations += 1);
        let keys: Vec<Arc<str>> = tables.iter().map(|t| self.version_key(*t)).collect();
        let tokens: Vec<u64> = keys.iter().map(|_| random_token()).collect();
        if let Err(e) = self.store().bump(&keys, &tokens).await {
            self.failed("writing new versions after a write", &e);
            self.count(&named, |s| s.errors += 1);
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            for t in tables {
                if !pending.contains(t) {
                    pending.push(*t);
                }
            }
            self.troubled.store(true, Ordering::Release);
        }
    }

    /// New versions for what `written` holds, before this process next reads the cache
    /// (and as soon as a task can write them): for a connection lent out raw, dropped.
    pub(crate) fn defer(self: &Arc<Self>, written: &Mutex<Written>) {
        let tables = std::mem::take(&mut *written.lock().unwrap_or_else(|p| p.into_inner()));
        if tables.0.is_empty() {
            return;
        }
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            for t in tables.0 {
                if !pending.contains(&t) {
                    pending.push(t);
                }
            }
            self.troubled.store(true, Ordering::Release);
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let qc = self.clone();
            rt.spawn(async move { qc.flush_pending().await });
        }
    }

    /// Write the new versions a failed write left behind; whether none is left.
    async fn flush_pending(&self) -> bool {
        let tables: Vec<Option<&'static str>> = {
            let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            if pending.is_empty() {
                return true;
            }
            pending.clone()
        };
        let keys: Vec<Arc<str>> = tables.iter().map(|t| self.version_key(*t)).collect();
        let tokens: Vec<u64> = keys.iter().map(|_| random_token()).collect();
        match self.store().bump(&keys, &tokens).await {
            Ok(()) => {
                let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                pending.retain(|t| !tables.contains(t));
                pending.is_empty()
            }
            Err(_) => false,
        }
    }

    /// Make every cached result that read `table` invalid (for a write the ORM did not
    /// send: another program, a database trigger, `psql`).
    pub async fn invalidate_table(&self, table: &str) -> Result<()> {
        let key = self.version_key_text(Some(table));
        self.store().bump(&[key], &[random_token()]).await
    }

    /// [`invalidate_table`](Self::invalidate_table) of model `M`'s table.
    pub async fn invalidate<M: orm_core::Model>(&self) -> Result<()> {
        self.invalidate_table(M::META.table).await
    }

    /// Make every cached result of this database invalid (a new epoch).
    pub async fn invalidate_all(&self) -> Result<()> {
        let key = self.version_key(None);
        self.store().bump(&[key], &[random_token()]).await
    }

    /// Django cacheops' `cached_as`: the value `compute` returns, cached under `key` for
    /// `ttl` and invalid as soon as one of `models`' tables is written (through the ORM).
    /// The tables' versions are read before `compute` runs; concurrent calls for one key
    /// compute once. A zero `ttl` computes every time.
    ///
    /// The value goes through serde_json, as in [`Cache::set`]. A computation that reads
    /// (through this database) a table that is not among `models` is refused with
    /// [`Error::Cache`] naming it, and nothing is stored: a write to that table would not
    /// invalidate the value.
    ///
    /// ```no_run
    /// # use orm_sqlx::prelude::*;
    /// # #[derive(Model, Debug, Clone)] pub struct Book { pub id: i64, pub pages: i32 }
    /// # async fn demo(db: &Db) -> orm_sqlx::Result<()> {
    /// use std::time::Duration;
    /// let cache = db.cache().expect("Db::with_cache was called");
    /// let long: u64 = cache
    ///     .cached_as(&[Book::META], "long-books", Duration::from_secs(300), || async {
    ///         Book::objects().filter(|b| b.pages.gte(500)).count(db).await
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn cached_as<T, F, Fut>(
        &self,
        models: &[&'static orm_core::ModelMeta],
        key: &str,
        ttl: Duration,
        compute: F,
    ) -> Result<T>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let full = self.cache.make_key(key)?;
        let mut tables: Vec<&'static str> = models.iter().map(|m| m.table).collect();
        tables.sort_unstable();
        tables.dedup();
        let entry_key = format!("{}f:{}", self.ns, hex(fingerprint(|w| w(full.as_bytes()))));
        if ttl.is_zero() || !self.flush_pending().await {
            return compute().await;
        }
        let Some(looked) = self.lookup(&entry_key, &tables).await else {
            return compute().await;
        };
        if let Some(bytes) = looked.valid_payload() {
            self.count(&tables, |s| s.hits += 1);
            return super::decode(&full, bytes);
        }
        let _flight = self.cache.flights.join(&entry_key).await;
        let looked = match self.lookup(&entry_key, &tables).await {
            Some(l) => l,
            None => return compute().await,
        };
        if let Some(bytes) = looked.valid_payload() {
            self.count(&tables, |s| s.hits += 1);
            return super::decode(&full, bytes);
        }
        self.count(&tables, |s| s.misses += 1);
        let (value, reads) = noting_reads(compute()).await;
        let value = value?;
        if reads.contains(&IN_TRANSACTION) {
            // Read inside a transaction: maybe writes not committed yet (gone on a
            // rollback), maybe a snapshot older than the versions. Returned, not kept.
            return Ok(value);
        }
        if reads.contains(&UNKNOWN_TABLES) {
            return Err(Error::Cache(format!(
                "cached_as(`{key}`): the computation ran raw SQL, whose tables cannot be known: \
                 a write to them would not invalidate the value, so it is not stored"
            )));
        }
        if let Some(missing) = reads.iter().find(|t| !tables.contains(t)) {
            return Err(Error::Cache(format!(
                "cached_as(`{key}`): the computation read the table `{missing}`, which is not \
                 among its models ({}): a write to it would not invalidate the value, so it \
                 is not stored; add that table's model",
                tables.join(", ")
            )));
        }
        let payload = super::encode(&full, &value)?;
        if payload.len() > self.max_entry_bytes {
            self.count(&tables, |s| s.too_large += 1);
        } else {
            self.put(&entry_key, &looked.tokens, &payload, ttl, &tables)
                .await;
        }
        Ok(value)
    }

    /// The full key of a `kind` of entry (`q` queries, `f` cached_as, `p` pages) with
    /// this fingerprint.
    #[cfg_attr(not(feature = "web"), allow(dead_code))]
    pub(crate) fn entry_key_of(&self, kind: &str, parts: impl Fn(&mut dyn FnMut(&[u8]))) -> String {
        format!("{}{kind}:{}", self.ns, hex(fingerprint(parts)))
    }

    /// The tokens of `tables` and the entry at `key`, or `None` when the cache failed.
    pub(crate) async fn lookup(&self, key: &str, tables: &[&'static str]) -> Option<Looked> {
        let looked = self.lookup_keys(key, self.version_keys(tables)).await;
        if looked.is_none() {
            self.count(tables, |s| s.errors += 1);
        }
        looked
    }

    /// [`lookup`](Self::lookup) of tables named at run time (not counted per table).
    #[cfg_attr(not(feature = "web"), allow(dead_code))]
    pub(crate) async fn lookup_tables(
        &self,
        key: &str,
        tables: &[impl AsRef<str>],
    ) -> Option<Looked> {
        self.lookup_keys(key, self.version_keys_named(tables)).await
    }

    async fn lookup_keys(&self, key: &str, keys: Vec<Arc<str>>) -> Option<Looked> {
        match self.store().get_versioned(key, &keys, random_token).await {
            Ok((tokens, entry)) => {
                self.answered();
                Some(Looked { tokens, entry })
            }
            Err(e) => {
                self.failed("reading", &e);
                None
            }
        }
    }

    /// The low-level store (for the page cache's own entries).
    #[cfg_attr(not(feature = "web"), allow(dead_code))]
    pub(crate) fn raw_store(&self) -> &Store {
        self.store()
    }

    /// Store `payload` with the `tokens` read before it was computed.
    pub(crate) async fn put(
        &self,
        key: &str,
        tokens: &[u64],
        payload: &[u8],
        ttl: Duration,
        tables: &[&'static str],
    ) {
        let mut bytes = Vec::with_capacity(payload.len() + 5 + 8 * tokens.len());
        bytes.push(LAYOUT);
        bytes.extend_from_slice(&(tokens.len() as u32).to_le_bytes());
        for t in tokens {
            bytes.extend_from_slice(&t.to_le_bytes());
        }
        bytes.extend_from_slice(payload);
        match self.store().set(key, bytes, Some(ttl), false).await {
            Ok(_) => self.count(tables, |s| s.stores += 1),
            Err(e) => {
                self.failed("storing", &e);
                self.count(tables, |s| s.errors += 1);
            }
        }
    }

    /// What a write does for the cache, in `scope`: `None` for a read; otherwise the new
    /// versions to write after it (outside a transaction), or none (inside one, where its
    /// tables are noted now, for the COMMIT).
    pub(crate) fn after_write(&self, scope: &Scope, stmt: &Statement) -> Option<AfterWrite> {
        let tables: Vec<Option<&'static str>> = match &stmt.tables {
            Tables::Read(_) => return None,
            Tables::Write(t) => vec![Some(*t)],
            _ if crate::query_log::StatementKind::of(&stmt.sql)
                == crate::query_log::StatementKind::Select =>
            {
                return None;
            }
            _ => vec![None],
        };
        Some(match scope {
            Scope::Tx(w) => {
                w.lock().unwrap_or_else(|p| p.into_inner()).note(&tables);
                AfterWrite::none()
            }
            Scope::Auto => AfterWrite::bump(tables),
        })
    }

    /// What to do with `stmt`, whose rows are read, about to be sent on an executor in
    /// `scope`. `holding`: the executor holds a connection already (a `Connection`, a
    /// transaction, an evaluation's session): it never waits for another task's flight of
    /// the same key, which may be waiting for a connection from the same pool.
    pub(crate) async fn plan(&self, scope: &Scope, stmt: &Statement, holding: bool) -> Plan {
        if let Some(after) = self.after_write(scope, stmt) {
            return Plan::Direct(after);
        }
        let (Tables::Read(tables), Some(request)) =
            (&stmt.tables, orm_core::eval::observe::cache_request())
        else {
            return Plan::Direct(AfterWrite::none());
        };
        let in_tx = match scope {
            Scope::Tx(w) => {
                if w.lock().unwrap_or_else(|p| p.into_inner()).touches(tables) {
                    self.count(tables, |s| s.bypassed += 1);
                    return Plan::Direct(AfterWrite::outcome(CacheOutcome::Bypassed));
                }
                true
            }
            Scope::Auto => false,
        };
        if self.troubled.load(Ordering::Acquire) {
            if !Box::pin(self.flush_pending()).await || self.unsettled(tables) {
                return Plan::Direct(AfterWrite::outcome(CacheOutcome::Bypassed));
            }
            self.settle_trouble();
        }
        let key = self.entry_key(stmt, request.reader);
        let Some(looked) = self.lookup(&key, tables).await else {
            return Plan::Direct(AfterWrite::outcome(CacheOutcome::Bypassed));
        };
        if let Some(hit) = Hit::of(&looked) {
            self.count(tables, |s| s.hits += 1);
            return Plan::Hit(hit);
        }
        if in_tx || request.ttl.is_zero() {
            self.count(tables, |s| s.misses += 1);
            return Plan::Direct(AfterWrite::outcome(CacheOutcome::Miss));
        }
        // Single flight: concurrent misses of one key wait for the first, then read what it
        // stored (a waiter reads the tokens again: they may have changed meanwhile).
        let (flight, waited) = if holding {
            match self.cache.flights.try_join(&key) {
                Some(f) => (Some(f), false),
                None => (None, false),
            }
        } else {
            let (f, waited) = Box::pin(self.cache.flights.join_noting(&key)).await;
            (Some(f), waited)
        };
        let looked = if waited {
            let Some(looked) = self.lookup(&key, tables).await else {
                return Plan::Direct(AfterWrite::outcome(CacheOutcome::Bypassed));
            };
            if let Some(hit) = Hit::of(&looked) {
                self.count(tables, |s| s.hits += 1);
                return Plan::Hit(hit);
            }
            looked
        } else {
            looked
        };
        self.count(tables, |s| s.misses += 1);
        Plan::Miss(Miss {
            key,
            tokens: looked.tokens,
            tables: tables.clone(),
            ttl: request.ttl,
            limit: self.max_entry_bytes,
            rows: Vec::new(),
            n_rows: 0,
            over: false,
            _flight: flight,
        })
    }

    /// The key of `stmt`'s entry: the database, the SQL, the values, the reading type.
    fn entry_key(&self, stmt: &Statement, reader: &str) -> String {
        let mut f = Fingerprint::new();
        f.part(stmt.sql.as_bytes());
        f.part(reader.as_bytes());
        // Each value as its `Debug` text (which names its variant and shows it exactly:
        // floats round-trip, text is quoted and escaped), then a separator the text cannot
        // hold unescaped.
        for p in &stmt.params {
            hash_value(&mut f, p);
        }
        let mut key = String::with_capacity(self.ns.len() + 34);
        key.push_str(&self.ns);
        key.push_str("q:");
        push_hex(&mut key, f.finish());
        key
    }

    /// Before a transaction's COMMIT is sent: the guard that gives the tables it wrote
    /// new versions once the COMMIT is answered ([`AfterWrite::done`], also when it
    /// failed: its outcome is not known), or, dropped before (the COMMIT abandoned), as an
    /// abandoned write.
    pub(crate) fn commit_guard(self: &Arc<Self>, written: &Mutex<Written>) -> AfterWrite {
        let tables = std::mem::take(&mut *written.lock().unwrap_or_else(|p| p.into_inner()));
        let mut after = AfterWrite::bump(tables.0);
        after.arm(self);
        after
    }

    /// Replay a hit into `each`, recording it in the running capture.
    pub(crate) fn replay(
        &self,
        hit: Hit,
        stmt: &Statement,
        each: &mut (dyn FnMut(&dyn Row) -> Result<()> + Send),
    ) -> Result<()> {
        if !crate::query_log::capturing() {
            return hit.replay(each).map(drop);
        }
        let started = std::time::Instant::now();
        let rows = hit.replay(each)?;
        crate::query_log::record_hit(stmt, rows, started.elapsed());
        Ok(())
    }
}

fn hex(f: [u64; 2]) -> String {
    let mut out = String::with_capacity(32);
    push_hex(&mut out, f);
    out
}

/// The fingerprint as 32 hex digits, without the formatting machinery (a hit's key is
/// made on every cached read).
fn push_hex(out: &mut String, f: [u64; 2]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for word in f {
        for i in (0..16).rev() {
            out.push(DIGITS[((word >> (i * 4)) & 0xf) as usize] as char);
        }
    }
}

/// The tokens read and the entry found.
pub(crate) struct Looked {
    pub(crate) tokens: Vec<u64>,
    entry: Option<Arc<[u8]>>,
}

impl Looked {
    /// The entry's payload, if it was stored with exactly the current tokens.
    pub(crate) fn valid_payload(&self) -> Option<&[u8]> {
        let e = self.entry.as_deref()?;
        let (&layout, rest) = e.split_first()?;
        if layout != LAYOUT {
            return None;
        }
        let n = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        if n != self.tokens.len() {
            return None;
        }
        let toks = rest.get(4..4 + 8 * n)?;
        for (i, t) in self.tokens.iter().enumerate() {
            if toks[8 * i..8 * i + 8] != t.to_le_bytes() {
                return None;
            }
        }
        Some(&rest[4 + 8 * n..])
    }
}

/// Where a statement runs: outside a transaction, or inside one (whose written tables
/// are shared with its savepoints).
pub(crate) enum Scope {
    Auto,
    Tx(Arc<Mutex<Written>>),
}

/// The tables a transaction wrote (`None`: every table, by raw SQL or DDL).
#[derive(Debug, Default)]
pub(crate) struct Written(Vec<Option<&'static str>>);

impl Written {
    /// Written: anything (a connection lent out raw, whose statements are not seen).
    pub(crate) fn everything() -> Written {
        Written(vec![None])
    }

    pub(crate) fn note_everything(&mut self) {
        self.note(&[None]);
    }

    fn note(&mut self, tables: &[Option<&'static str>]) {
        for t in tables {
            if !self.0.contains(t) {
                self.0.push(*t);
            }
        }
    }

    fn touches(&self, tables: &[&'static str]) -> bool {
        self.0.iter().any(|w| w.is_none_or(|w| tables.contains(&w)))
    }
}

/// What a statement's executor does: see [`QueryCache::plan`].
pub(crate) enum Plan {
    /// Send it; then [`AfterWrite::done`].
    Direct(AfterWrite),
    /// Serve it from the cache ([`QueryCache::replay`]).
    Hit(Hit),
    /// Send it through [`Miss::wrap`]'s recorder, then [`Miss::finish`].
    Miss(Miss),
}

/// After a statement sent directly: the new versions of what it wrote outside a
/// transaction (written even if the statement's future is dropped: then by a spawned
/// task), and what the capture notes.
pub(crate) struct AfterWrite {
    tables: Vec<Option<&'static str>>,
    outcome: Option<CacheOutcome>,
    armed: Option<Arc<QueryCache>>,
}

pub use crate::query_log::CacheOutcome;

impl AfterWrite {
    pub(crate) fn none() -> AfterWrite {
        AfterWrite {
            tables: Vec::new(),
            outcome: None,
            armed: None,
        }
    }

    fn outcome(outcome: CacheOutcome) -> AfterWrite {
        AfterWrite {
            tables: Vec::new(),
            outcome: Some(outcome),
            armed: None,
        }
    }

    fn bump(tables: Vec<Option<&'static str>>) -> AfterWrite {
        AfterWrite {
            tables,
            outcome: None,
            armed: None,
        }
    }

    /// Arm the guard: from here on, a drop bumps.
    pub(crate) fn arm(&mut self, qc: &Arc<QueryCache>) {
        if !self.tables.is_empty() {
            self.armed = Some(qc.clone());
        }
    }

    /// What the capture notes of the statement sent directly.
    pub(crate) fn noted(&self) -> Option<CacheOutcome> {
        self.outcome
    }

    /// The statement ended (whatever its result): write the new versions.
    pub(crate) async fn done(mut self) {
        if let Some(qc) = self.armed.take() {
            let tables = std::mem::take(&mut self.tables);
            // Dropped while bumping, the guard below bumps again: harmless.
            let mut guard = AfterWrite {
                tables: tables.clone(),
                outcome: None,
                armed: Some(qc.clone()),
            };
            Box::pin(qc.bump(&tables)).await;
            guard.armed = None;
        }
    }
}

impl Drop for AfterWrite {
    /// Dropped armed: the statement (or COMMIT) was abandoned mid-flight, and the server
    /// may still carry it out.
    fn drop(&mut self) {
        if let Some(qc) = self.armed.take() {
            qc.abandoned(std::mem::take(&mut self.tables));
        }
    }
}

/// A valid entry, to be replayed.
pub(crate) struct Hit {
    entry: Arc<[u8]>,
    /// Where its rows start.
    at: usize,
}

impl Hit {
    fn of(looked: &Looked) -> Option<Hit> {
        let payload = looked.valid_payload()?;
        let entry = looked.entry.clone()?;
        let at = entry.len() - payload.len();
        Some(Hit { entry, at })
    }

    /// Hand every stored row to `each`; how many there were.
    fn replay(&self, each: &mut (dyn FnMut(&dyn Row) -> Result<()> + Send)) -> Result<u64> {
        let mut data = &self.entry[self.at..];
        let n = take_u32(&mut data)?;
        // Bounded by what the entry can hold (each row has at least its length), so a
        // corrupt count cannot ask for a huge allocation.
        let _ahead = RowsAhead::set(n.min(u32::try_from(data.len() / 4).unwrap_or(u32::MAX)));
        let mut cells = Vec::new();
        for _ in 0..n {
            let len = take_u32(&mut data)? as usize;
            let row = data.get(..len).ok_or_else(corrupt)?;
            data = &data[len..];
            index_cells(row, &mut cells)?;
            each(&CachedRow {
                data: row,
                cells: &cells,
            })?;
        }
        Ok(u64::from(n))
    }
}

/// A miss being recorded: the rows as the decoder reads them, stored when the query ends.
pub(crate) struct Miss {
    key: String,
    tokens: Vec<u64>,
    tables: Vec<&'static str>,
    ttl: Duration,
    limit: usize,
    rows: Vec<u8>,
    n_rows: u32,
    over: bool,
    /// Concurrent misses of this key wait until it is dropped (none: a connection holder
    /// that found another flight running).
    _flight: Option<super::Flight>,
}

impl Miss {
    /// `each`, recording every read of every row.
    pub(crate) fn wrap<'r>(
        &'r mut self,
        each: &'r mut (dyn FnMut(&dyn Row) -> Result<()> + Send),
    ) -> impl FnMut(&dyn Row) -> Result<()> + Send + 'r {
        let mut cells = Vec::new();
        move |row: &dyn Row| {
            if self.over {
                return each(row);
            }
            let rec = Recorder {
                inner: row,
                cells: std::cell::RefCell::new(std::mem::take(&mut cells)),
            };
            let out = each(&rec);
            cells = rec.cells.into_inner();
            if out.is_ok() {
                self.rows
                    .extend_from_slice(&(cells.len() as u32).to_le_bytes());
                self.rows.extend_from_slice(&cells);
                self.n_rows += 1;
                if self.rows.len() > self.limit {
                    self.over = true;
                    self.rows = Vec::new();
                }
            }
            cells.clear();
            out
        }
    }

    /// The query ended: store its rows if it succeeded and they are not too big.
    pub(crate) async fn finish(self, qc: &QueryCache, ok: bool) {
        if !ok {
            return;
        }
        if self.over {
            qc.count(&self.tables, |s| s.too_large += 1);
            return;
        }
        qc.paused().await;
        let mut payload = Vec::with_capacity(self.rows.len() + 4);
        payload.extend_from_slice(&self.n_rows.to_le_bytes());
        payload.extend_from_slice(&self.rows);
        qc.put(&self.key, &self.tokens, &payload, self.ttl, &self.tables)
            .await;
    }
}

fn corrupt() -> Error {
    Error::Cache(
        "a query-cache entry is damaged; it is ignored (QueryCache::invalidate_all drops them all)"
            .into(),
    )
}

fn take_u32(data: &mut &[u8]) -> Result<u32> {
    let b = data.get(..4).ok_or_else(corrupt)?;
    let v = u32::from_le_bytes(b.try_into().map_err(|_| corrupt())?);
    *data = &data[4..];
    Ok(v)
}

// ---- the cells ---------------------------------------------------------------------

const NULL: u8 = 0;
const NOT_NULL: u8 = 1;
const BOOL: u8 = 2;
const I16: u8 = 3;
const I32: u8 = 4;
const I64: u8 = 5;
const F32: u8 = 6;
const F64: u8 = 7;
const TEXT: u8 = 8;
const BYTES: u8 = 9;
#[cfg(feature = "chrono")]
const DATE: u8 = 10;
#[cfg(feature = "chrono")]
const TIME: u8 = 11;
#[cfg(feature = "chrono")]
const DATETIME: u8 = 12;
#[cfg(feature = "chrono")]
const DATETIME_UTC: u8 = 13;
#[cfg(feature = "uuid")]
const UUID: u8 = 14;
#[cfg(feature = "decimal")]
const DECIMAL: u8 = 15;
#[cfg(feature = "json")]
const JSON: u8 = 16;

/// The payload size of a fixed-size tag; `None` for a length-prefixed one.
fn fixed_size(tag: u8) -> Option<usize> {
    Some(match tag {
        NULL | NOT_NULL => 0,
        BOOL => 1,
        I16 => 2,
        I32 | F32 => 4,
        I64 | F64 => 8,
        TEXT | BYTES => return None,
        #[cfg(feature = "chrono")]
        DATE => 4,
        #[cfg(feature = "chrono")]
        TIME => 8,
        #[cfg(feature = "chrono")]
        DATETIME | DATETIME_UTC => 12,
        #[cfg(feature = "uuid")]
        UUID => 16,
        #[cfg(feature = "decimal")]
        DECIMAL => 16,
        #[cfg(feature = "json")]
        JSON => return None,
        _ => return Some(usize::MAX),
    })
}

/// A row as the decoder reads it, writing down each answer: `[column u16][tag][payload]`.
struct Recorder<'a> {
    inner: &'a dyn Row,
    cells: std::cell::RefCell<Vec<u8>>,
}

impl Recorder<'_> {
    fn put(&self, idx: usize, tag: u8, payload: &[u8]) {
        let mut c = self.cells.borrow_mut();
        c.extend_from_slice(&(idx as u16).to_le_bytes());
        c.push(tag);
        if fixed_size(tag).is_none() {
            c.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        }
        c.extend_from_slice(payload);
    }
}

macro_rules! record_num {
    ($name:ident, $ty:ty, $tag:expr) => {
        fn $name(&self, idx: usize) -> Result<$ty> {
            let v = self.inner.$name(idx)?;
            self.put(idx, $tag, &v.to_le_bytes());
            Ok(v)
        }
    };
}

impl Row for Recorder<'_> {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    fn is_null(&self, idx: usize) -> Result<bool> {
        let null = self.inner.is_null(idx)?;
        self.put(idx, if null { NULL } else { NOT_NULL }, &[]);
        Ok(null)
    }
    fn get_bool(&self, idx: usize) -> Result<bool> {
        let v = self.inner.get_bool(idx)?;
        self.put(idx, BOOL, &[u8::from(v)]);
        Ok(v)
    }
    record_num!(get_i16, i16, I16);
    record_num!(get_i32, i32, I32);
    record_num!(get_i64, i64, I64);
    record_num!(get_f32, f32, F32);
    record_num!(get_f64, f64, F64);
    fn get_string(&self, idx: usize) -> Result<String> {
        let v = self.inner.get_string(idx)?;
        self.put(idx, TEXT, v.as_bytes());
        Ok(v)
    }
    fn get_bytes(&self, idx: usize) -> Result<Vec<u8>> {
        let v = self.inner.get_bytes(idx)?;
        self.put(idx, BYTES, &v);
        Ok(v)
    }
    #[cfg(feature = "chrono")]
    fn get_date(&self, idx: usize) -> Result<chrono::NaiveDate> {
        use chrono::Datelike as _;
        let v = self.inner.get_date(idx)?;
        self.put(idx, DATE, &v.num_days_from_ce().to_le_bytes());
        Ok(v)
    }
    #[cfg(feature = "chrono")]
    fn get_time(&self, idx: usize) -> Result<chrono::NaiveTime> {
        use chrono::Timelike as _;
        let v = self.inner.get_time(idx)?;
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&v.num_seconds_from_midnight().to_le_bytes());
        b[4..].copy_from_slice(&v.nanosecond().to_le_bytes());
        self.put(idx, TIME, &b);
        Ok(v)
    }
    #[cfg(feature = "chrono")]
    fn get_datetime(&self, idx: usize) -> Result<chrono::NaiveDateTime> {
        let v = self.inner.get_datetime(idx)?;
        self.put(idx, DATETIME, &datetime_bytes(v.and_utc()));
        Ok(v)
    }
    #[cfg(feature = "chrono")]
    fn get_datetime_utc(&self, idx: usize) -> Result<chrono::DateTime<chrono::Utc>> {
        let v = self.inner.get_datetime_utc(idx)?;
        self.put(idx, DATETIME_UTC, &datetime_bytes(v));
        Ok(v)
    }
    #[cfg(feature = "uuid")]
    fn get_uuid(&self, idx: usize) -> Result<uuid::Uuid> {
        let v = self.inner.get_uuid(idx)?;
        self.put(idx, UUID, v.as_bytes());
        Ok(v)
    }
    #[cfg(feature = "decimal")]
    fn get_decimal(&self, idx: usize) -> Result<rust_decimal::Decimal> {
        let v = self.inner.get_decimal(idx)?;
        self.put(idx, DECIMAL, &v.serialize());
        Ok(v)
    }
    #[cfg(feature = "json")]
    fn get_json(&self, idx: usize) -> Result<serde_json::Value> {
        let v = self.inner.get_json(idx)?;
        let text = serde_json::to_vec(&v).map_err(|e| Error::Cache(e.to_string()))?;
        self.put(idx, JSON, &text);
        Ok(v)
    }
}

#[cfg(feature = "chrono")]
fn datetime_bytes(v: chrono::DateTime<chrono::Utc>) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[..8].copy_from_slice(&v.timestamp().to_le_bytes());
    b[8..].copy_from_slice(&v.timestamp_subsec_nanos().to_le_bytes());
    b
}

#[cfg(feature = "chrono")]
fn datetime_from(b: &[u8]) -> Result<chrono::DateTime<chrono::Utc>> {
    let secs = i64::from_le_bytes(b[..8].try_into().map_err(|_| corrupt())?);
    let nanos = u32::from_le_bytes(b[8..12].try_into().map_err(|_| corrupt())?);
    chrono::DateTime::from_timestamp(secs, nanos).ok_or_else(corrupt)
}

/// What one column of a stored row holds: whether it is null, and its value's tag and
/// payload.
#[derive(Clone, Copy, Default)]
struct CellAt {
    null: Option<bool>,
    value: Option<(u8, usize, usize)>,
}

/// Index a stored row's cells by column.
fn index_cells(row: &[u8], out: &mut Vec<CellAt>) -> Result<()> {
    out.clear();
    let mut at = 0;
    while at < row.len() {
        let idx = u16::from_le_bytes(
            row.get(at..at + 2)
                .ok_or_else(corrupt)?
                .try_into()
                .map_err(|_| corrupt())?,
        ) as usize;
        let tag = *row.get(at + 2).ok_or_else(corrupt)?;
        at += 3;
        let len = match fixed_size(tag) {
            Some(usize::MAX) => return Err(corrupt()),
            Some(n) => n,
            None => {
                let mut rest = row.get(at..).ok_or_else(corrupt)?;
                let n = take_u32(&mut rest)? as usize;
                at += 4;
                n
            }
        };
        if row.len() < at + len {
            return Err(corrupt());
        }
        if out.len() <= idx {
            out.resize(idx + 1, CellAt::default());
        }
        match tag {
            NULL => out[idx].null = Some(true),
            NOT_NULL => out[idx].null = Some(false),
            _ => out[idx].value = Some((tag, at, len)),
        }
        at += len;
    }
    Ok(())
}

/// A stored row, read back by column as the decoder read it when it was recorded.
struct CachedRow<'a> {
    data: &'a [u8],
    cells: &'a [CellAt],
}

impl CachedRow<'_> {
    fn value(&self, idx: usize, tag: u8) -> Result<&[u8]> {
        match self.cells.get(idx).and_then(|c| c.value) {
            Some((t, at, len)) if t == tag => Ok(&self.data[at..at + len]),
            _ => Err(Error::Cache(format!(
                "a cached result does not match what reads it (column {idx} was not read that \
                 way when it was stored); it is a bug: please report it, and drop the entries \
                 with QueryCache::invalidate_all"
            ))),
        }
    }
}

macro_rules! replay_num {
    ($name:ident, $ty:ty, $tag:expr) => {
        fn $name(&self, idx: usize) -> Result<$ty> {
            let b = self.value(idx, $tag)?;
            Ok(<$ty>::from_le_bytes(b.try_into().map_err(|_| corrupt())?))
        }
    };
}

impl Row for CachedRow<'_> {
    fn backend(&self) -> &'static str {
        "the query cache"
    }
    fn is_null(&self, idx: usize) -> Result<bool> {
        match self.cells.get(idx) {
            Some(CellAt { null: Some(n), .. }) => Ok(*n),
            Some(CellAt { value: Some(_), .. }) => Ok(false),
            _ => self.value(idx, NULL).map(|_| true),
        }
    }
    fn get_bool(&self, idx: usize) -> Result<bool> {
        Ok(self.value(idx, BOOL)?[0] != 0)
    }
    replay_num!(get_i16, i16, I16);
    replay_num!(get_i32, i32, I32);
    replay_num!(get_i64, i64, I64);
    replay_num!(get_f32, f32, F32);
    replay_num!(get_f64, f64, F64);
    fn get_string(&self, idx: usize) -> Result<String> {
        String::from_utf8(self.value(idx, TEXT)?.to_vec()).map_err(|_| corrupt())
    }
    fn get_bytes(&self, idx: usize) -> Result<Vec<u8>> {
        Ok(self.value(idx, BYTES)?.to_vec())
    }
    #[cfg(feature = "chrono")]
    fn get_date(&self, idx: usize) -> Result<chrono::NaiveDate> {
        let b = self.value(idx, DATE)?;
        let days = i32::from_le_bytes(b.try_into().map_err(|_| corrupt())?);
        chrono::NaiveDate::from_num_days_from_ce_opt(days).ok_or_else(corrupt)
    }
    #[cfg(feature = "chrono")]
    fn get_time(&self, idx: usize) -> Result<chrono::NaiveTime> {
        let b = self.value(idx, TIME)?;
        let secs = u32::from_le_bytes(b[..4].try_into().map_err(|_| corrupt())?);
        let nanos = u32::from_le_bytes(b[4..].try_into().map_err(|_| corrupt())?);
        chrono::NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos).ok_or_else(corrupt)
    }
    #[cfg(feature = "chrono")]
    fn get_datetime(&self, idx: usize) -> Result<chrono::NaiveDateTime> {
        Ok(datetime_from(self.value(idx, DATETIME)?)?.naive_utc())
    }
    #[cfg(feature = "chrono")]
    fn get_datetime_utc(&self, idx: usize) -> Result<chrono::DateTime<chrono::Utc>> {
        datetime_from(self.value(idx, DATETIME_UTC)?)
    }
    #[cfg(feature = "uuid")]
    fn get_uuid(&self, idx: usize) -> Result<uuid::Uuid> {
        uuid::Uuid::from_slice(self.value(idx, UUID)?).map_err(|_| corrupt())
    }
    #[cfg(feature = "decimal")]
    fn get_decimal(&self, idx: usize) -> Result<rust_decimal::Decimal> {
        let b: [u8; 16] = self
            .value(idx, DECIMAL)?
            .try_into()
            .map_err(|_| corrupt())?;
        Ok(rust_decimal::Decimal::deserialize(b))
    }
    #[cfg(feature = "json")]
    fn get_json(&self, idx: usize) -> Result<serde_json::Value> {
        serde_json::from_slice(self.value(idx, JSON)?).map_err(|_| corrupt())
    }
}

thread_local! {
    /// While a hit replays its rows on this thread: how many it holds.
    static ROWS_AHEAD: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// [`ROWS_AHEAD`] set for a replay, and zero again once it ends (or unwinds).
struct RowsAhead;

impl RowsAhead {
    fn set(n: u32) -> RowsAhead {
        ROWS_AHEAD.set(n);
        RowsAhead
    }
}

impl Drop for RowsAhead {
    fn drop(&mut self) {
        ROWS_AHEAD.set(0);
    }
}

/// Every row of `stmt` read as `T` through `ex.for_each_row` (where the cache is): what
/// `fetch_all` and `fetch_optional` do for a statement the cache concerns. A hit's rows
/// are counted before they are replayed, so the vector is allocated once, at its size.
pub(crate) async fn collect_rows<E: orm_core::Executor, T: orm_core::FromRow>(
    mut ex: E,
    stmt: Statement,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    let mut push = |row: &dyn Row| -> Result<()> {
        if out.capacity() == 0 {
            out.reserve(ROWS_AHEAD.get() as usize);
        }
        out.push(T::from_row(row, 0)?);
        Ok(())
    };
    ex.for_each_row(stmt, &mut push).await?;
    Ok(out)
}

/// The link from an executor to its database's query cache.
#[derive(Clone, Debug, Default)]
pub(crate) struct Link(pub(crate) Option<Arc<QueryCache>>);

impl Link {
    /// The cache, if `stmt` concerns it: a write, or a read of a cached evaluation. One
    /// branch for an executor without a cache; a thread-local read for a plain query.
    #[inline]
    pub(crate) fn concerns(&self, stmt: &Statement) -> Option<&Arc<QueryCache>> {
        let qc = self.0.as_ref()?;
        match &stmt.tables {
            Tables::Read(tables) => {
                note_reads(tables);
                orm_core::eval::observe::cache_request().map(|_| qc)
            }
            Tables::Unknown => {
                // Raw SQL reads tables nobody can name: a computation noting its reads
                // cannot be cached against them.
                note_reads(&[UNKNOWN_TABLES]);
                Some(qc)
            }
            _ => Some(qc),
        }
    }
}

/// What [`note_reads`] notes for a statement whose tables are not known (raw SQL).
pub(crate) const UNKNOWN_TABLES: &str = "(raw SQL)";

/// What [`note_reads`] notes for a statement sent inside a transaction, whose snapshot
/// may hold uncommitted writes or be older than the versions.
pub(crate) const IN_TRANSACTION: &str = "(in a transaction)";

/// Note that a statement is sent inside a transaction, if a computation is being polled.
pub(crate) fn note_transaction() {
    note_reads(&[IN_TRANSACTION]);
}

/// Note reads of tables nobody can name (a raw connection lent out), if a computation is
/// being polled.
pub(crate) fn note_unknown_reads() {
    note_reads(&[UNKNOWN_TABLES]);
}

/// Whether a computation noting its reads (a cached page's view, `cached_as`) is being
/// polled on this thread: what it reads is kept for everyone, so it must read the primary.
pub(crate) fn noting() -> bool {
    READS.with(|r| r.borrow().is_some())
}

thread_local! {
    /// The tables read by the `cached_as` computation being polled on this thread.
    static READS: std::cell::RefCell<Option<Vec<&'static str>>> =
        const { std::cell::RefCell::new(None) };
}

/// Note `tables` as read, if a `cached_as` computation is being polled.
fn note_reads(tables: &[&'static str]) {
    READS.with(|r| {
        if let Some(reads) = r.borrow_mut().as_mut() {
            for t in tables {
                if !reads.contains(t) {
                    reads.push(t);
                }
            }
        }
    });
}

pin_project_lite::pin_project! {
    /// A computation (`cached_as`, a cached page's view), noting the tables its statements
    /// read through a database with a cache; its output comes with them.
    pub(crate) struct NotingReads<F> {
        #[pin]
        inner: F,
        reads: Option<Vec<&'static str>>,
    }
}

/// Run `fut`, noting the tables its statements read ([`UNKNOWN_TABLES`] for raw SQL).
pub(crate) fn noting_reads<F: std::future::Future>(fut: F) -> NotingReads<F> {
    NotingReads {
        inner: fut,
        reads: Some(Vec::new()),
    }
}

impl<F: std::future::Future> std::future::Future for NotingReads<F> {
    type Output = (F::Output, Vec<&'static str>);
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        /// Takes this computation's list back and puts the outer one back when the poll
        /// ends, also by a panic.
        struct Restore<'a> {
            outer: Option<Vec<&'static str>>,
            mine: &'a mut Option<Vec<&'static str>>,
        }
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                let outer = self.outer.take();
                *self.mine = READS.with(|r| r.replace(outer));
            }
        }
        let outer = READS.with(|r| r.replace(this.reads.take()));
        let restore = Restore {
            outer,
            mine: this.reads,
        };
        let out = this.inner.poll(cx);
        drop(restore);
        out.map(|v| (v, this.reads.take().unwrap_or_default()))
    }
}

/// The tables written so far by a transaction (and its savepoints), when its database
/// has a cache.
pub(crate) type TxWrites = Option<Arc<Mutex<Written>>>;

/// `scope` of a transaction whose writes are `written` (`None`: not in one).
pub(crate) fn scope_of(written: &TxWrites) -> Scope {
    match written {
        Some(w) => Scope::Tx(w.clone()),
        None => Scope::Auto,
    }
}

/// Run a statement whose rows are read through the query cache `$qc` (in `$scope`):
/// `$run` is the future that sends it, naming `$stmt` and `$each` (the row callback, which
/// a miss replaces with its recorder).
macro_rules! cached_rows {
    ($qc:expr, $scope:expr, $holding:expr, $stmt:ident, $each:ident, $run:expr) => {{
        use $crate::cache::query::Plan;
        let qc: std::sync::Arc<$crate::cache::query::QueryCache> = $qc;
        let scope = $scope;
        match qc.plan(&scope, &$stmt, $holding).await {
            Plan::Hit(hit) => qc.replay(hit, &$stmt, $each),
            // The statement's future and the store's are boxed where they run: inline,
            // they would size this whole future, which a hit builds and moves into its
            // box on every call.
            Plan::Direct(mut after) => {
                after.arm(&qc);
                let out = $crate::query_log::with_outcome(after.noted(), Box::pin($run)).await;
                after.done().await;
                out
            }
            Plan::Miss(mut miss) => {
                let out = {
                    let mut wrapped = miss.wrap($each);
                    let $each: &mut (dyn FnMut(&dyn orm_core::Row) -> orm_core::Result<()> + Send) =
                        &mut wrapped;
                    $crate::query_log::with_outcome(
                        Some($crate::CacheOutcome::Miss),
                        Box::pin($run),
                    )
                    .await
                };
                Box::pin(miss.finish(&qc, out.is_ok())).await;
                out
            }
        }
    }};
}
pub(crate) use cached_rows;

/// Run a statement that returns no rows (`$run`, naming `$stmt`) past the query cache
/// `$qc` (in `$scope`): a write gives its tables new versions once it is committed.
macro_rules! cached_exec {
    ($qc:expr, $scope:expr, $stmt:ident, $run:expr) => {{
        let qc: std::sync::Arc<$crate::cache::query::QueryCache> = $qc;
        let mut after = qc
            .after_write(&$scope, &$stmt)
            .unwrap_or_else($crate::cache::query::AfterWrite::none);
        after.arm(&qc);
        let out = $run.await;
        after.done().await;
        out
    }};
}
pub(crate) use cached_exec;

#[cfg(test)]
mod tests {
    use super::{hex, push_hex};

    #[test]
    fn hex_is_the_fingerprint_in_32_lowercase_digits() {
        let f = [0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210];
        assert_eq!(hex(f), format!("{:016x}{:016x}", f[0], f[1]));
        let mut s = String::from("q:");
        push_hex(&mut s, [0, u64::MAX]);
        assert_eq!(s, format!("q:{}{}", "0".repeat(16), "f".repeat(16)));
    }
}
