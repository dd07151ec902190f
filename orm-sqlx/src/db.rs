//! `Db`: a connection pool of any enabled backend, the usual way to run querysets.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use orm_core::executor::{Atomic, DefaultDatabase, ExecResult, RowSource};
use orm_core::select_related::SelectNode;
use orm_core::{Dialect, Error, Executor, FromRow, Model, Result, Statement};

use crate::backend;
use crate::conn::{Connection, Transaction, TxInner};
use crate::shelf::Lender;
use crate::tx::Tracked;
use crate::tx_options::TxOptions;

/// A pool of connections to one database, on any enabled backend. Cheap to clone.
///
/// ```no_run
/// # async fn demo() -> orm_sqlx::Result<()> {
/// let db = orm_sqlx::Db::connect("sqlite::memory:").await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Db {
    pool: Pool,
    /// The query cache, if [`Db::with_cache`] gave it one.
    link: crate::cache_link::Link,
}

#[derive(Clone, Debug)]
enum Pool {
    #[cfg(feature = "sqlite")]
    Sqlite(Lender<sqlx::Sqlite>),
    #[cfg(feature = "postgres")]
    Postgres(Lender<sqlx::Postgres>),
    #[cfg(feature = "mysql")]
    Mysql(Lender<sqlx::MySql>, crate::mysql::MysqlServer),
}

/// Query parameters whose value is a password (compared without regard to case).
const SECRET_KEYS: [&str; 3] = ["password", "pass", "sslpassword"];

fn is_secret_key(key: &str) -> bool {
    let key = percent_decode(key);
    SECRET_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k))
}

/// `%XX` sequences decoded (lossily: a message or a comparison, never a connection).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A query string with the value of every password parameter replaced by `***`, and
/// those values (as written and decoded).
fn redact_query(query: &str) -> (String, Vec<String>) {
    let mut found = Vec::new();
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if is_secret_key(key) => {
                found.push(value.to_owned());
                found.push(percent_decode(value));
                format!("{key}=***")
            }
            _ => pair.to_owned(),
        })
        .collect();
    (parts.join("&"), found)
}

/// A connection URL as messages show it, and the passwords it holds (each as written and
/// percent-decoded): the password of `user:password@`, and the value of every query
/// parameter named `password`, `pass` or `sslpassword`, in any case.
///
/// A network URL is read the way sqlx reads it (the `url` crate); one that does not parse
/// is not shown past its scheme, since where its password ends cannot be known. SQLite
/// URLs, which sqlx reads itself and which hold file paths the `url` crate may refuse, are
/// read by hand.
fn redact(url: &str) -> (String, Vec<String>) {
    let scheme = url.split(':').next().unwrap_or_default();
    if scheme.eq_ignore_ascii_case("sqlite") {
        return redact_by_hand(url);
    }
    let Ok(mut parsed) = url::Url::parse(url) else {
        // Everything that might be a password, for scrubbing the error's own text.
        let (_, found) = redact_by_hand(url);
        return (
            format!("{scheme}://… (the rest is not shown: it does not parse as a URL)"),
            found,
        );
    };
    let mut found = Vec::new();
    if let Some(password) = parsed.password() {
        found.push(password.to_owned());
        found.push(percent_decode(password));
        let _ = parsed.set_password(Some("***"));
    }
    if let Some(query) = parsed.query() {
        let (query, secrets) = redact_query(query);
        if !secrets.is_empty() {
            found.extend(secrets);
            parsed.set_query(Some(&query));
        }
    }
    (parsed.to_string(), found)
}

/// [`redact`] without a URL parser: the credentials end at the last `@` before the query.
fn redact_by_hand(url: &str) -> (String, Vec<String>) {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut found = Vec::new();
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &base[scheme_end + 3..at];
            match creds.find(':') {
                Some(colon) => {
                    let password = &creds[colon + 1..];
                    found.push(password.to_owned());
                    found.push(percent_decode(password));
                    format!(
                        "{}{}:***{}",
                        &base[..scheme_end + 3],
                        &creds[..colon],
                        &base[at..]
                    )
                }
                None => base.to_owned(),
            }
        }
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        let (query, secrets) = redact_query(query);
        found.extend(secrets);
        out.push('?');
        out.push_str(&query);
    }
    (out, found)
}

/// A connection error with the passwords taken out of its text, standing in for the
/// driver's error when that error's text (or a cause's) contains one.
#[derive(Debug)]
struct Scrubbed(String);

impl std::fmt::Display for Scrubbed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Scrubbed {}

/// `source` as it is, unless its text, its `Debug` or a cause's text shows one of
/// `secrets`: then a [`Scrubbed`] copy of its text, with each replaced by `***`.
fn scrub(
    source: Box<dyn std::error::Error + Send + Sync>,
    secrets: &[String],
) -> Box<dyn std::error::Error + Send + Sync> {
    let secrets: Vec<&str> = secrets
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    if secrets.is_empty() {
        return source;
    }
    let mut text = source.to_string();
    let mut cause = source.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    let debug = format!("{source:?}");
    if !secrets
        .iter()
        .any(|s| text.contains(s) || debug.contains(s))
    {
        return source;
    }
    // Longest first, so that a password containing another is replaced whole.
    let mut secrets = secrets;
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in secrets {
        text = text.replace(s, "***");
    }
    Box::new(Scrubbed(text))
}

impl Db {
    /// Connect by URL: `sqlite::memory:`, `sqlite://path/to/file.db`,
    /// `postgres://user@host/db`, `mysql://user@host/db` (or `mariadb://…`). The backend
    /// must be enabled as a feature.
    #[track_caller]
    pub fn connect(url: &str) -> impl Future<Output = Result<Db>> {
        orm_core::eval::observe::traced(async move {
            let connect_error = |source: Box<dyn std::error::Error + Send + Sync>| {
                let (shown, secrets) = redact(url);
                Error::Connect {
                    url: shown,
                    source: scrub(source, &secrets),
                }
            };
            let scheme = url.split(':').next().unwrap_or_default();
            match scheme {
                #[cfg(feature = "sqlite")]
                "sqlite" => crate::sqlite::connect(url)
                    .await
                    .map(|pool| Db {
                        pool: Pool::Sqlite(Lender::shelving(pool)),
                        link: Default::default(),
                    })
                    .map_err(|e| connect_error(Box::new(e))),
                #[cfg(feature = "postgres")]
                "postgres" | "postgresql" => crate::postgres::connect(url)
                    .await
                    .map(|pool| Db {
                        pool: Pool::Postgres(Lender::shelving(pool)),
                        link: Default::default(),
                    })
                    .map_err(|e| connect_error(Box::new(e))),
                #[cfg(feature = "mysql")]
                "mysql" | "mariadb" => crate::mysql::connect(url)
                    .await
                    .map(|(pool, server)| Db {
                        pool: Pool::Mysql(Lender::shelving(pool), server),
                        link: Default::default(),
                    })
                    .map_err(|e| connect_error(Box::new(e))),
                other => Err(connect_error(
                    format!(
                        "unknown or disabled backend `{other}`: this build supports {}",
                        Self::enabled_backends().join(", ")
                    )
                    .into(),
                )),
            }
        })
    }

    /// The URL schemes this build can connect to.
    pub fn enabled_backends() -> Vec<&'static str> {
        [
            #[cfg(feature = "sqlite")]
            "sqlite",
            #[cfg(feature = "postgres")]
            "postgres",
            #[cfg(feature = "mysql")]
            "mysql",
        ]
        .to_vec()
    }

    /// The SQL dialect of this database.
    pub fn dialect(&self) -> Dialect {
        match &self.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(_) => Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            Pool::Postgres(_) => Dialect::Postgres,
            #[cfg(feature = "mysql")]
            Pool::Mysql(..) => Dialect::Mysql,
        }
    }

    /// Whether `INSERT … RETURNING` is sent (SQLite, PostgreSQL, MariaDB 10.5+), rather
    /// than keys read from `LAST_INSERT_ID()` (MySQL).
    pub fn supports_returning(&self) -> bool {
        match &self.pool {
            #[cfg(feature = "mysql")]
            Pool::Mysql(_, server) => server.returning,
            #[allow(unreachable_patterns)]
            _ => self.dialect().supports_returning(),
        }
    }

    /// This database with `INSERT … RETURNING` turned off (`false`) or on (`true`) on
    /// MySQL/MariaDB, whatever the server said when it connected: with it off, new keys
    /// are read from `LAST_INSERT_ID()`, the way MySQL 8 (which has no `RETURNING`) is
    /// served. Turning it on for a server without `RETURNING` makes every INSERT a syntax
    /// error. Other backends always have it; this changes nothing for them.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// # #[cfg(feature = "mysql")] {
    /// let pool = orm_sqlx::mysql::pool_options()
    ///     .connect_with(orm_sqlx::mysql::connect_options("mysql://root@127.0.0.1/app")?)
    ///     .await?;
    /// // A pool of your own is not asked what its server is: say it has RETURNING.
    /// let db = orm_sqlx::Db::from(pool).with_returning(true);
    /// assert!(db.supports_returning());
    /// # }
    /// # Ok(()) }
    /// ```
    pub fn with_returning(self, on: bool) -> Db {
        #[cfg(feature = "mysql")]
        {
            let mut db = self;
            #[allow(irrefutable_let_patterns)]
            if let Pool::Mysql(_, server) = &mut db.pool {
                server.returning = on;
            }
            db
        }
        #[cfg(not(feature = "mysql"))]
        {
            let _ = on;
            self
        }
    }

    /// This database with a query cache (feature `cache`): querysets marked
    /// [`cached(ttl)`](orm_core::QuerySet::cached) are served from it, and every write sent
    /// through this `Db` (its clones, its connections and transactions) invalidates what
    /// read the written tables. Give it a [`Cache`](crate::cache::Cache) (in process, or
    /// Redis to share it between processes) or a configured
    /// [`QueryCache`](crate::cache::QueryCache).
    ///
    /// It takes the `Db` (`Db::connect(url).await?.with_cache(cache)`): a clone made
    /// before has no cache, and its writes invalidate nothing.
    ///
    /// Keys are scoped to this database (a hash of its connection options; an in-memory
    /// SQLite database also gets a random part, being its own each time), so one cache can
    /// serve several databases. Call it before [`set_default`](Db::set_default), which
    /// registers the `Db` as it is.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> orm_sqlx::Result<()> {
    /// use orm_sqlx::cache::Cache;
    /// let db = orm_sqlx::Db::connect("sqlite::memory:").await?.with_cache(Cache::local(64 << 20));
    /// assert!(db.cache().is_some());
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "cache")]
    pub fn with_cache(self, cache: impl Into<crate::cache::QueryCache>) -> Db {
        let id = self.identity();
        let mut db = self;
        db.link = crate::cache::query::Link(Some(Arc::new(cache.into().for_database(id))));
        db
    }

    /// The query cache [`with_cache`](Db::with_cache) gave this database: its
    /// [`stats`](crate::cache::QueryCache::stats), explicit invalidation and
    /// [`cached_as`](crate::cache::QueryCache::cached_as).
    #[cfg(feature = "cache")]
    pub fn cache(&self) -> Option<&crate::cache::QueryCache> {
        self.link.0.as_deref()
    }

    /// What the ORM knows of the MySQL/MariaDB server, if this is one.
    #[cfg(feature = "mysql")]
    pub fn mysql_server(&self) -> Option<crate::mysql::MysqlServer> {
        #[allow(irrefutable_let_patterns)]
        if let Pool::Mysql(_, server) = &self.pool {
            Some(*server)
        } else {
            None
        }
    }

    /// Make this the database that querysets use when awaited directly
    /// (`Book::objects().filter(…).await?`), as in a web handler.
    pub fn set_default(&self) {
        orm_core::executor::set_default_database(Arc::new(self.clone()));
    }

    /// The SQLite pool, if this is a SQLite database.
    #[cfg(feature = "sqlite")]
    pub fn sqlite_pool(&self) -> Option<&sqlx::SqlitePool> {
        #[allow(irrefutable_let_patterns)]
        if let Pool::Sqlite(p) = &self.pool {
            Some(&**p)
        } else {
            None
        }
    }

    /// The PostgreSQL pool, if this is a PostgreSQL database.
    #[cfg(feature = "postgres")]
    pub fn pg_pool(&self) -> Option<&sqlx::PgPool> {
        #[allow(irrefutable_let_patterns)]
        if let Pool::Postgres(p) = &self.pool {
            Some(&**p)
        } else {
            None
        }
    }

    /// The MySQL pool, if this is a MySQL/MariaDB database.
    #[cfg(feature = "mysql")]
    pub fn mysql_pool(&self) -> Option<&sqlx::MySqlPool> {
        #[allow(irrefutable_let_patterns)]
        if let Pool::Mysql(p, _) = &self.pool {
            Some(&**p)
        } else {
            None
        }
    }

    /// How this database's tables are created (on MySQL/MariaDB, the server's exact
    /// collation; read from the server for a pool wrapped with `Db::from`).
    pub(crate) async fn table_options(&self) -> Result<orm_core::compiler::TableOptions> {
        match &self.pool {
            #[cfg(feature = "mysql")]
            Pool::Mysql(p, server) => {
                if server.mariadb {
                    return Ok(server.table_options());
                }
                // Not known to be MariaDB (MySQL, or a pool from `Db::from`, which is not
                // asked, whatever `with_returning` said since): ask now.
                let mut conn = acquire(p, "SELECT VERSION()").await?;
                let asked = crate::mysql::MysqlServer::detect(&mut conn)
                    .await
                    .map_err(|e| backend::db_error("SELECT VERSION()", e))?;
                Ok(asked.table_options())
            }
            #[allow(unreachable_patterns)]
            _ => Ok(Default::default()),
        }
    }

    /// Create the tables of a set of models (`CREATE TABLE IF NOT EXISTS`), in order:
    /// `db.create_tables::<(Author, Book)>()`. For tests and examples; real schemas
    /// want migrations.
    #[track_caller]
    pub fn create_tables<S: ModelSet>(&self) -> impl Future<Output = Result<()>> {
        orm_core::eval::observe::traced(async move {
            register::<S>();
            let options = self.table_options().await?;
            let mut ex = self;
            for stmt in S::create_statements(self.dialect(), &options) {
                Executor::execute(&mut ex, stmt).await?;
            }
            Ok(())
        })
    }

    /// Create one model's table (`CREATE TABLE IF NOT EXISTS`).
    #[track_caller]
    pub fn create_table<M: Model>(&self) -> impl Future<Output = Result<()>> {
        orm_core::eval::observe::traced(async move { self.create_tables::<(M,)>().await })
    }

    /// Run raw SQL that returns no rows (DDL, fixtures). It is counted like every other
    /// statement. The text is sent as it is: never build it from user input.
    #[track_caller]
    pub fn execute_raw(&self, sql: &str) -> impl Future<Output = Result<u64>> {
        orm_core::eval::observe::traced(async move {
            let mut ex = self;
            let stmt = Statement::new(sql, Vec::new());
            Ok(Executor::execute(&mut ex, stmt).await?.rows_affected)
        })
    }
}

#[cfg(feature = "sqlite")]
impl From<sqlx::SqlitePool> for Db {
    /// Wrap an existing pool. Build it with [`crate::sqlite::pool_options`] (or call
    /// [`crate::sqlite::register_functions`] in your `after_connect`): case-insensitive
    /// lookups, F-expression arithmetic, regex lookups and decimal comparisons use the
    /// functions and the collation it registers, and fail with "no such function" (or
    /// collation) on a connection without them.
    fn from(pool: sqlx::SqlitePool) -> Db {
        Db {
            pool: Pool::Sqlite(Lender::plain(pool)),
            link: Default::default(),
        }
    }
}

#[cfg(feature = "mysql")]
impl From<sqlx::MySqlPool> for Db {
    /// Wrap an existing pool. Build it with [`crate::mysql::pool_options`] (or call
    /// [`crate::mysql::set_up`] in your `after_connect`): without its strict `sql_mode`,
    /// MySQL may cut a value short instead of refusing it. The server is not asked what it
    /// is, so keys are read without `RETURNING` (see [`Db::with_returning`]).
    fn from(pool: sqlx::MySqlPool) -> Db {
        Db {
            pool: Pool::Mysql(Lender::plain(pool), crate::mysql::MysqlServer::default()),
            link: Default::default(),
        }
    }
}

#[cfg(feature = "postgres")]
impl From<sqlx::PgPool> for Db {
    fn from(pool: sqlx::PgPool) -> Db {
        Db {
            pool: Pool::Postgres(Lender::plain(pool)),
            link: Default::default(),
        }
    }
}

/// A tuple of models whose tables `create_tables` creates, in order.
pub trait ModelSet {
    fn create_statements(
        dialect: Dialect,
        options: &orm_core::compiler::TableOptions,
    ) -> Vec<Statement>;
    fn metas() -> Vec<&'static orm_core::ModelMeta>;
}

/// Make models known to `delete()`, so that deleting a row also applies the `on_delete`
/// rules of keys that point at it from models it does not declare a reverse side for
/// (Django's app registry). `Db::create_tables` does this for the models it creates.
pub fn register<S: ModelSet>() {
    for meta in S::metas() {
        orm_core::registry::register(meta);
    }
}

macro_rules! model_set {
    ($($m:ident),+) => {
        impl<$($m: Model),+> ModelSet for ($($m,)+) {
            fn create_statements(
                dialect: Dialect,
                options: &orm_core::compiler::TableOptions,
            ) -> Vec<Statement> {
                orm_core::compiler::create_tables_statements(&[$($m::META),+], dialect, options)
            }
            fn metas() -> Vec<&'static orm_core::ModelMeta> {
                vec![$($m::META),+]
            }
        }
    };
}
model_set!(A);
model_set!(A, B);
model_set!(A, B, C);
model_set!(A, B, C, D);
model_set!(A, B, C, D, E);
model_set!(A, B, C, D, E, F);
model_set!(A, B, C, D, E, F, G);
model_set!(A, B, C, D, E, F, G, H);

/// Run `$body` with `$p` bound to the pool of whichever backend this is, and `$B` to its
/// sqlx database type.
macro_rules! on_pool {
    ($pool:expr, |$p:ident, $B:ident| $body:expr) => {
        match $pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite($p) => {
                type $B = sqlx::Sqlite;
                $body
            }
            #[cfg(feature = "postgres")]
            Pool::Postgres($p) => {
                type $B = sqlx::Postgres;
                $body
            }
            #[cfg(feature = "mysql")]
            Pool::Mysql($p, _) => {
                type $B = sqlx::MySql;
                $body
            }
        }
    };
}

/// Take a connection from the pool for one statement. Running the statement on the
/// connection (rather than handing the pool to sqlx) saves sqlx's extra stream around the
/// acquire, which every row would pass through.
/// `sql` is what an error in taking the connection names.
async fn acquire<DB: sqlx::Database>(
    pool: &Lender<DB>,
    sql: &str,
) -> Result<sqlx::pool::PoolConnection<DB>> {
    crate::held::check(pool)?;
    pool.acquire().await.map_err(|e| backend::db_error(sql, e))
}

impl Executor for &Db {
    fn session<'s: 'f, 'f>(
        &'s mut self,
        first: &'f str,
    ) -> BoxFuture<'f, Result<Box<dyn RowSource + 's>>> {
        DefaultDatabase::session(*self, first)
    }
    fn dialect(&self) -> Dialect {
        Db::dialect(self)
    }
    fn supports_returning(&self) -> bool {
        Db::supports_returning(self)
    }
    fn fetch_all<'a, T: FromRow>(&'a mut self, stmt: Statement) -> BoxFuture<'a, Result<Vec<T>>> {
        #[cfg(feature = "cache")]
        if self.link.concerns(&stmt).is_some() {
            return Box::pin(crate::cache::query::collect_rows(self, stmt));
        }
        on_pool!(&self.pool, |p, B| Box::pin(async move {
            let mut c = backend::Lent::new(acquire(p, &stmt.sql).await?, p);
            let out = backend::fetch_all::<B, T>(c.start(), stmt).await;
            c.finish(out)
        }))
    }
    fn fetch_optional<'a, T: FromRow>(
        &'a mut self,
        stmt: Statement,
    ) -> BoxFuture<'a, Result<Option<T>>> {
        #[cfg(feature = "cache")]
        if self.link.concerns(&stmt).is_some() {
            return Box::pin(async move {
                let rows: Vec<T> = crate::cache::query::collect_rows(self, stmt).await?;
                Ok(rows.into_iter().next())
            });
        }
        on_pool!(&self.pool, |p, B| Box::pin(async move {
            let mut c = backend::Lent::new(acquire(p, &stmt.sql).await?, p);
            let out = backend::fetch_optional::<B, T>(c.start(), stmt).await;
            c.finish(out)
        }))
    }
    fn for_each_row<'a>(
        &'a mut self,
        stmt: Statement,
        each: &'a mut (dyn FnMut(&dyn orm_core::Row) -> Result<()> + Send),
    ) -> BoxFuture<'a, Result<()>> {
        #[cfg(feature = "cache")]
        if let Some(qc) = self.link.concerns(&stmt).cloned() {
            return on_pool!(&self.pool, |p, B| Box::pin(async move {
                crate::cache::query::cached_rows!(
                    qc,
                    crate::cache::query::Scope::Auto,
                    false,
                    stmt,
                    each,
                    async move {
                        let mut c = backend::Lent::new(acquire(p, &stmt.sql).await?, p);
                        let out = backend::for_each_row::<B>(c.start(), stmt, each).await;
                        c.finish(out)
                    }
                )
            }));
        }
        on_pool!(&self.pool, |p, B| Box::pin(async move {
            let mut c = backend::Lent::new(acquire(p, &stmt.sql).await?, p);
            let out = backend::for_each_row::<B>(c.start(), stmt, each).await;
            c.finish(out)
        }))
    }
    fn execute<'a>(&'a mut self, stmt: Statement) -> BoxFuture<'a, Result<ExecResult>> {
        #[cfg(feature = "cache")]
        if let Some(qc) = self.link.concerns(&stmt).cloned() {
            return on_pool!(&self.pool, |p, B| Box::pin(async move {
                crate::cache::query::cached_exec!(
                    qc,
                    crate::cache::query::Scope::Auto,
                    stmt,
                    async move {
                        let mut c = backend::Lent::new(acquire(p, &stmt.sql).await?, p);
                        let out = backend::execute::<B>(c.start(), stmt).await;
                        c.finish(out)
                    }
                )
            }));
        }
        on_pool!(&self.pool, |p, B| Box::pin(async move {
            let mut c = backend::Lent::new(acquire(p, &stmt.sql).await?, p);
            let out = backend::execute::<B>(c.start(), stmt).await;
            c.finish(out)
        }))
    }
    fn stream<'a, T: FromRow>(
        &'a mut self,
        stmt: Statement,
        selected: Vec<SelectNode>,
    ) -> BoxStream<'a, Result<T>> {
        on_pool!(&self.pool, |p, B| backend::pool_stream::<B, T>(
            p, stmt, selected
        ))
    }
    fn into_stream<'e, T: FromRow>(
        self,
        stmt: Statement,
        selected: Vec<SelectNode>,
    ) -> BoxStream<'e, Result<T>>
    where
        Self: 'e,
    {
        on_pool!(&self.pool, |p, B| backend::pool_stream::<B, T>(
            p, stmt, selected
        ))
    }
    fn atomic<'a>(&'a mut self) -> BoxFuture<'a, Result<Box<dyn Atomic<'a> + 'a>>> {
        let db: &'a Db = self;
        db.atomic_scope()
    }
    fn fork(&self) -> Option<Self> {
        // A pool of one connection (an in-memory SQLite database) cannot lend a second one
        // while the first streams: waiting for it would never end.
        let max = on_pool!(&self.pool, |p, B| {
            let _: std::marker::PhantomData<B> = std::marker::PhantomData;
            p.options().get_max_connections()
        });
        (max > 1).then_some(self)
    }
}

impl Db {
    /// Whether every connection of the pool is idle (in sqlx's pool or on the ORM's
    /// shelf): for benchmarks, which wait for it between samples.
    #[doc(hidden)]
    pub fn is_settled(&self) -> bool {
        on_pool!(&self.pool, |p, B| {
            let _: std::marker::PhantomData<B> = std::marker::PhantomData;
            p.num_idle() + p.shelved() >= p.size() as usize
        })
    }

    /// An atomic block on a connection of this pool: what `Executor::atomic` gives.
    // Without the cache feature the written tables are `()`.
    #[cfg_attr(not(feature = "cache"), allow(clippy::unit_arg))]
    pub(crate) fn atomic_scope<'a>(&'a self) -> BoxFuture<'a, Result<Box<dyn Atomic<'a> + 'a>>> {
        let returning = Db::supports_returning(self);
        on_pool!(&self.pool, |p, B| Box::pin(async move {
            let conn = acquire(p, "BEGIN").await?;
            let tx = Tracked::<B>::begin(conn, None)
                .await
                .map_err(|e| backend::db_error("BEGIN", e))?;
            Ok(Box::new(crate::conn::TxScope::<B>::new(
                tx,
                returning,
                false,
                self.link.clone(),
                Default::default(),
            )) as Box<dyn Atomic<'a> + 'a>)
        }))
    }

    /// Start a transaction; pass `&mut tx` wherever an executor is taken, then
    /// `tx.commit()`. Dropped without commit, it rolls back.
    #[track_caller]
    pub fn begin(&self) -> impl Future<Output = Result<Transaction>> {
        orm_core::eval::observe::traced(async move {
            match &self.pool {
                #[cfg(feature = "mysql")]
                Pool::Mysql(p, server) => {
                    let conn = acquire(p, "BEGIN").await?;
                    Tracked::<sqlx::MySql>::begin(conn, None)
                        .await
                        .map(|tx| {
                            Transaction::new(TxInner::Mysql(tx, *server), &self.link).holding(p)
                        })
                        .map_err(|e| backend::db_error("BEGIN", e))
                }
                #[allow(unreachable_patterns)]
                pool => on_pool!(pool, |p, B| {
                    let conn = acquire(p, "BEGIN").await?;
                    Tracked::<B>::begin(conn, None)
                        .await
                        .map(|tx| Transaction::new(TxInner::from(tx), &self.link).holding(p))
                        .map_err(|e| backend::db_error("BEGIN", e))
                }),
            }
        })
    }

    /// Run `f` in a transaction (Django's `transaction.atomic`): committed when `f`
    /// returns `Ok`, rolled back when it returns `Err` (which is returned), panics or is
    /// dropped (a cancelled request) (T1). Inside, `tx.atomic(…)` nests a savepoint and
    /// `tx.on_commit(…)` registers a callback run after the commit (T2).
    ///
    /// On SQLite the transaction starts with `BEGIN IMMEDIATE` (Django 5.1's
    /// `transaction_mode="IMMEDIATE"`): it takes the write lock at once, so concurrent
    /// writers wait for it (the busy timeout) instead of failing with "database is locked"
    /// when a read inside the block would have to become a write (T3).
    ///
    /// The closure returns a boxed future (as sqlx's `Connection::transaction` does), so
    /// the whole is `Send` and fits a web handler:
    ///
    /// ```no_run
    /// # use orm_sqlx::{Db, Result};
    /// # async fn demo(db: &Db) -> Result<()> {
    /// let n = db.atomic(|tx| Box::pin(async move {
    ///     tx.on_commit(|| println!("committed"));
    ///     // … queries with `&mut *tx` as the executor …
    ///     Ok(42)
    /// })).await?;
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn atomic<T: Send>(
        &self,
        f: impl for<'t> FnOnce(&'t mut Transaction) -> BoxFuture<'t, Result<T>> + Send,
    ) -> impl Future<Output = Result<T>> {
        orm_core::eval::observe::traced(
            async move { self.atomic_with(TxOptions::default(), f).await },
        )
    }

    /// [`Db::atomic`] with an isolation level or read-only mode ([`TxOptions`], which says
    /// what each backend sends). Misuse (read-only on SQLite) is [`Error::InvalidInput`]
    /// before any statement.
    ///
    /// ```no_run
    /// # use orm_sqlx::{Db, Isolation, Result, TxOptions};
    /// # async fn demo(db: &Db) -> Result<()> {
    /// let serializable = TxOptions::new().isolation(Isolation::Serializable);
    /// db.atomic_with(serializable, |tx| Box::pin(async move {
    ///     // … reads and writes that must not interleave with another transaction's …
    ///     Ok(())
    /// })).await?;
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn atomic_with<T: Send>(
        &self,
        options: TxOptions,
        f: impl for<'t> FnOnce(&'t mut Transaction) -> BoxFuture<'t, Result<T>> + Send,
    ) -> impl Future<Output = Result<T>> {
        orm_core::eval::observe::traced(async move {
            let mut tx = self.open_transaction(options, true).await?;
            match f(&mut tx).await {
                Ok(v) => {
                    tx.commit().await?;
                    Ok(v)
                }
                Err(e) => {
                    // The block's error is the one to report; a failed rollback closes the
                    // connection as the transaction drops.
                    let _ = tx.rollback().await;
                    Err(e)
                }
            }
        })
    }

    /// [`Db::begin`] with an isolation level or read-only mode ([`TxOptions`]).
    #[track_caller]
    pub fn begin_with(&self, options: TxOptions) -> impl Future<Output = Result<Transaction>> {
        orm_core::eval::observe::traced(async move { self.open_transaction(options, false).await })
    }

    /// The `BEGIN` that `options` asks for; on SQLite, `BEGIN IMMEDIATE` when `immediate`
    /// ([`Db::atomic`]).
    async fn open_transaction(&self, options: TxOptions, immediate: bool) -> Result<Transaction> {
        let statement = options.begin_statement(self.dialect())?;
        #[cfg(not(feature = "sqlite"))]
        let _ = immediate;
        match (&self.pool, statement) {
            #[cfg(feature = "sqlite")]
            (Pool::Sqlite(p), _) if immediate => {
                let conn = acquire(p, "BEGIN IMMEDIATE").await?;
                Tracked::<sqlx::Sqlite>::begin_with(conn, "BEGIN IMMEDIATE")
                    .await
                    .map(|tx| Transaction::new(TxInner::from(tx), &self.link).holding(p))
                    .map_err(|e| backend::db_error("BEGIN IMMEDIATE", e))
            }
            #[cfg(feature = "postgres")]
            (Pool::Postgres(p), Some(statement)) => {
                let conn = acquire(p, statement).await?;
                Tracked::<sqlx::Postgres>::begin_with(conn, statement)
                    .await
                    .map(|tx| Transaction::new(TxInner::from(tx), &self.link).holding(p))
                    .map_err(|e| backend::db_error(statement, e))
            }
            #[cfg(feature = "mysql")]
            (Pool::Mysql(p, server), Some(statement)) => {
                let conn = acquire(p, statement).await?;
                Tracked::<sqlx::MySql>::begin_with(conn, statement)
                    .await
                    .map(|tx| Transaction::new(TxInner::Mysql(tx, *server), &self.link).holding(p))
                    .map_err(|e| backend::db_error(statement, e))
            }
            _ => self.begin().await,
        }
    }

    /// Take one connection out of the pool, to run several statements on it.
    #[track_caller]
    pub fn acquire(&self) -> impl Future<Output = Result<Connection>> {
        orm_core::eval::observe::traced(
            async move { self.acquire_for("-- acquire a connection").await },
        )
    }

    /// Take a connection for `sql` (what an error names).
    async fn acquire_for(&self, sql: &str) -> Result<Connection> {
        match &self.pool {
            #[cfg(feature = "mysql")]
            Pool::Mysql(p, server) => acquire(p, sql)
                .await
                .map(|c| Connection::mysql(c, *server).linked(&self.link)),
            #[allow(unreachable_patterns)]
            pool => on_pool!(pool, |p, B| {
                let _: std::marker::PhantomData<B> = std::marker::PhantomData;
                acquire(p, sql)
                    .await
                    .map(|c| Connection::from(c).linked(&self.link))
            }),
        }
    }
}

impl DefaultDatabase for Db {
    fn dialect(&self) -> Dialect {
        Db::dialect(self)
    }
    fn supports_returning(&self) -> bool {
        Db::supports_returning(self)
    }
    fn fetch_rows<'a>(
        &'a self,
        stmt: Statement,
        each: &'a mut (dyn FnMut(&dyn orm_core::Row) -> Result<()> + Send),
    ) -> BoxFuture<'a, Result<()>> {
        let mut ex = self;
        Box::pin(async move { Executor::for_each_row(&mut ex, stmt, each).await })
    }
    fn execute<'a>(&'a self, stmt: Statement) -> BoxFuture<'a, Result<ExecResult>> {
        let mut ex = self;
        Box::pin(async move { Executor::execute(&mut ex, stmt).await })
    }
    fn session<'a: 'f, 'f>(
        &'a self,
        first: &'f str,
    ) -> BoxFuture<'f, Result<Box<dyn RowSource + 'a>>> {
        Box::pin(
            async move { Ok(Box::new(self.acquire_for(first).await?) as Box<dyn RowSource + 'a>) },
        )
    }
}

#[cfg(feature = "cache")]
impl Db {
    /// This database with `other`'s query cache (a replica of it: one namespace, so the
    /// primary's writes invalidate what was read anywhere).
    pub(crate) fn sharing_cache_of(mut self, other: &Db) -> Db {
        if other.link.0.is_some() {
            self.link = other.link.clone();
        }
        self
    }

    /// The query cache, shared (for the page cache).
    #[cfg(all(feature = "web", feature = "cache"))]
    pub(crate) fn cache_handle(&self) -> Option<Arc<crate::cache::QueryCache>> {
        self.link.0.clone()
    }

    /// Which database this is, for the cache's keys: its connection options, hashed.
    #[cfg(feature = "cache")]
    fn identity(&self) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        #[allow(deprecated)]
        let mut h = std::hash::SipHasher::new_with_keys(1, 2);
        let text = on_pool!(&self.pool, |p, B| {
            let _: std::marker::PhantomData<B> = std::marker::PhantomData;
            format!("{:?}", p.connect_options())
        });
        h.write(text.as_bytes());
        // An in-memory SQLite database is another one in every pool.
        if text.contains("in_memory: true") {
            h.write_u64(
                std::collections::hash_map::RandomState::new()
                    .build_hasher()
                    .finish(),
            );
        }
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::{redact, scrub};

    fn shown(url: &str) -> String {
        redact(url).0
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            shown("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(shown("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(shown("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(
            shown("postgres://u@h/db?password=secret&sslmode=disable"),
            "postgres://u@h/db?password=***&sslmode=disable"
        );
        assert_eq!(
            shown("postgresql://h/db?sslmode=disable&PassWord=s%40cret&SSLPASSWORD=x&pass=y"),
            "postgresql://h/db?sslmode=disable&PassWord=***&SSLPASSWORD=***&pass=***"
        );
        assert_eq!(
            shown("postgres://u:a%40b@h/db?user=x@y"),
            "postgres://u:***@h/db?user=x@y"
        );
        assert_eq!(
            shown("sqlite://file.db?mode=rwc&password=x"),
            "sqlite://file.db?mode=rwc&password=***"
        );
        assert_eq!(shown("sqlite://u:secret@file.db"), "sqlite://u:***@file.db");
        // Not a URL the `url` crate (and so sqlx) can read: nothing past the scheme.
        let (text, secrets) = redact("postgres://u:se cret@h:notaport/db?password=other");
        assert!(!text.contains("cret") && !text.contains("other"), "{text}");
        assert!(secrets.iter().any(|s| s == "se cret"), "{secrets:?}");
        assert!(secrets.iter().any(|s| s == "other"), "{secrets:?}");
    }

    #[test]
    fn an_error_whose_text_shows_a_password_is_replaced_by_a_scrubbed_copy() {
        let (_, secrets) = redact("postgres://u:s%40cret@h/db?password=other");
        let quiet: Box<dyn std::error::Error + Send + Sync> = "connection refused".into();
        assert_eq!(scrub(quiet, &secrets).to_string(), "connection refused");
        let loud: Box<dyn std::error::Error + Send + Sync> =
            "bad URL postgres://u:s@cret@h/db?password=other".into();
        let scrubbed = scrub(loud, &secrets);
        assert_eq!(
            scrubbed.to_string(),
            "bad URL postgres://u:***@h/db?password=***"
        );
        assert!(!format!("{scrubbed:?}").contains("other"));
    }
}
