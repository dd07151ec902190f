//! The test harness: one isolated database per test on every backend the run requires,
//! and the fixture of `shared/docs/SEMANTICS.md` (without relations, which come later).
//!
//! Which backends run is set by `ORM_TEST_BACKENDS` (comma-separated: `sqlite`,
//! `postgres`, `mysql`, and `redis` for the cache tests, `tests/tests/cache_api.rs`); by
//! default all four. A backend that is listed but unreachable fails the test loudly: it
//! is never skipped.
//!
//! `tests/tests/browser.rs` drives the web example's SQL debug panel in headless Chromium
//! through chromedriver (`/usr/bin/chromium`, `/usr/bin/chromedriver`, or
//! `ORM_TEST_CHROMIUM`, `ORM_TEST_CHROMEDRIVER`; Debian: `apt-get install -y chromium
//! chromium-driver`). It is required too: without them it fails, saying how to install
//! them. Opt out explicitly with `ORM_TEST_BROWSER=none` ([`browser_required`]).

pub mod cache;
pub mod catalog;
pub mod fixture;
pub mod library;
pub mod migration;
pub mod probe;
pub mod wide;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use orm_sqlx::Db;

/// A backend the suite runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
        }
    }

    /// The most parameters one statement may bind.
    pub fn max_params(self) -> usize {
        match self {
            Backend::Sqlite => 32_766,
            Backend::Postgres | Backend::Mysql => 65_535,
        }
    }
}

/// The backends this run requires (`ORM_TEST_BACKENDS`, default `sqlite,postgres,mysql`).
pub fn required_backends() -> Vec<Backend> {
    let spec =
        std::env::var("ORM_TEST_BACKENDS").unwrap_or_else(|_| "sqlite,postgres,mysql".into());
    let mut out = Vec::new();
    for name in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match name {
            "sqlite" => out.push(Backend::Sqlite),
            "postgres" | "postgresql" => out.push(Backend::Postgres),
            "mysql" | "mariadb" => out.push(Backend::Mysql),
            // The cache's server, not a database: see `redis_required`.
            "redis" => {}
            other => panic!(
                "ORM_TEST_BACKENDS names an unknown backend `{other}`; use sqlite, postgres, mysql, redis"
            ),
        }
    }
    assert!(
        !out.is_empty(),
        "ORM_TEST_BACKENDS names no database: name at least one (sqlite, postgres, mysql)"
    );
    out
}

/// Whether this run requires Redis for the cache tests: `ORM_TEST_BACKENDS` unset, or
/// listing `redis`. Opt out by listing the backends without it
/// (`ORM_TEST_BACKENDS=sqlite,postgres,mysql`).
pub fn redis_required() -> bool {
    match std::env::var("ORM_TEST_BACKENDS") {
        Err(_) => true,
        Ok(spec) => spec.split(',').any(|b| b.trim() == "redis"),
    }
}

/// The Redis server the cache tests use (`ORM_TEST_REDIS_URL`, default
/// `redis://127.0.0.1:6379`).
pub fn redis_url() -> String {
    std::env::var("ORM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// How to start the Redis server the cache tests need, or opt out: for their messages.
pub const REDIS_HINT: &str = "Start it (redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 \
     --save \"\" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log), point \
     ORM_TEST_REDIS_URL at a server, or opt out by listing the backends without redis: \
     ORM_TEST_BACKENDS=sqlite,postgres,mysql";

/// Whether this run drives a browser (`ORM_TEST_BROWSER`: `chromium`, the default, or
/// `none` to opt out of `tests/tests/browser.rs`).
pub fn browser_required() -> bool {
    match std::env::var("ORM_TEST_BROWSER").as_deref().map(str::trim) {
        Err(_) | Ok("") | Ok("chromium") => true,
        Ok("none") => false,
        Ok(other) => panic!(
            "ORM_TEST_BROWSER is `{other}`: use chromium (the default) or none (no browser test)"
        ),
    }
}

/// The MySQL/MariaDB server the suite uses (`ORM_TEST_MYSQL_URL`, without a database).
pub fn mysql_url() -> String {
    std::env::var("ORM_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// The PostgreSQL server the suite uses (`ORM_TEST_POSTGRES_URL`).
pub fn postgres_url() -> String {
    std::env::var("ORM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// `sql` as SQLite and PostgreSQL quote it, for assertions on a statement's text that
/// hold on every backend: on MySQL, each backtick-quoted identifier (`` `books`.`id` ``)
/// is written in double quotes (`"books"."id"`), a doubled backtick inside one becoming a
/// backtick and a double quote inside one doubled; string literals and everything else
/// are kept as they are (placeholders are `?` on MySQL, as on SQLite). On SQLite and
/// PostgreSQL `sql` is returned unchanged, so an assertion there still reads the text
/// exactly as it was sent.
pub fn portable_sql(backend: Backend, sql: &str) -> String {
    if backend != Backend::Mysql {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' => {
                out.push('"');
                while let Some(c) = chars.next() {
                    match c {
                        '`' if chars.peek() == Some(&'`') => {
                            chars.next();
                            out.push('`');
                        }
                        '`' => break,
                        '"' => out.push_str("\"\""),
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            '\'' => {
                // A string literal: copied as is, backslash escapes and doubled quotes
                // included (MySQL reads both).
                out.push(c);
                while let Some(c) = chars.next() {
                    out.push(c);
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                out.push(n);
                            }
                        }
                        '\'' if chars.peek() == Some(&'\'') => {
                            out.push(chars.next().expect("peeked"));
                        }
                        '\'' => break,
                        _ => {}
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

/// One test's own database: a fresh SQLite file, a fresh PostgreSQL schema, or a fresh
/// MySQL database. Dropped with [`TestDb::cleanup`].
pub struct TestDb {
    pub db: Db,
    pub backend: Backend,
    /// The URL `db` was opened with (on PostgreSQL, scoped to the test's schema), for a
    /// test that opens a second pool of its own on the same database.
    pub url: String,
    schema: Option<String>,
    /// MySQL: the test's database.
    database: Option<String>,
    file: Option<std::path::PathBuf>,
}

impl TestDb {
    pub async fn open(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{}.db", unique("orm_test")));
                let url = format!("sqlite://{}", path.display());
                let db = Db::connect(&url)
                    .await
                    .unwrap_or_else(|e| panic!("cannot open SQLite test database {url}: {e}"));
                TestDb {
                    db,
                    backend,
                    url,
                    schema: None,
                    database: None,
                    file: Some(path),
                }
            }
            Backend::Postgres => {
                let url = postgres_url();
                let schema = unique("orm_test");
                let admin = Db::connect(&url).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is required by this run but unreachable: {e}\n\
                         Start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start), \
                         point ORM_TEST_POSTGRES_URL at a server, or opt out with ORM_TEST_BACKENDS=sqlite"
                    )
                });
                admin
                    .execute_raw(&format!("CREATE SCHEMA \"{schema}\""))
                    .await
                    .expect("create the test schema");
                admin.pg_pool().expect("a PostgreSQL pool").close().await;
                let sep = if url.contains('?') { '&' } else { '?' };
                let scoped = format!("{url}{sep}options=-c%20search_path%3D{schema}");
                let db = Db::connect(&scoped)
                    .await
                    .unwrap_or_else(|e| panic!("cannot connect to the test schema: {e}"));
                TestDb {
                    db,
                    backend,
                    url: scoped,
                    schema: Some(schema),
                    database: None,
                    file: None,
                }
            }
            Backend::Mysql => {
                let server = mysql_url();
                let name = unique("orm_test");
                let admin = Db::connect(&server).await.unwrap_or_else(|e| {
                    panic!(
                        "MySQL/MariaDB is required by this run but unreachable: {e}\n\
                         Start it (start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd), \
                         point ORM_TEST_MYSQL_URL at a server, or opt out with ORM_TEST_BACKENDS=sqlite,postgres"
                    )
                });
                admin
                    .execute_raw(&format!("CREATE DATABASE `{name}`"))
                    .await
                    .expect("create the test database");
                admin.mysql_pool().expect("a MySQL pool").close().await;
                let (base, query) = match server.split_once('?') {
                    Some((base, query)) => (base.trim_end_matches('/'), format!("?{query}")),
                    None => (server.trim_end_matches('/'), String::new()),
                };
                let url = format!("{base}/{name}{query}");
                let db = Db::connect(&url)
                    .await
                    .unwrap_or_else(|e| panic!("cannot connect to the test database: {e}"));
                TestDb {
                    db,
                    backend,
                    url,
                    schema: None,
                    database: Some(name),
                    file: None,
                }
            }
        }
    }

    /// A second pool on this test's database, of one connection, for tests that watch the
    /// pool: the counter goes up each time that connection is taken while idle (sqlx's
    /// `before_acquire` hook; after a first query, every acquire), and a wait for it gives
    /// up after `acquire_timeout`.
    pub async fn one_connection_pool(
        &self,
        acquire_timeout: std::time::Duration,
    ) -> (Db, std::sync::Arc<AtomicU64>) {
        use orm_sqlx::sqlx;
        use std::sync::Arc;

        fn counter<C: sqlx::Connection>(
            n: Arc<AtomicU64>,
        ) -> impl for<'c> Fn(
            &'c mut C,
            sqlx::pool::PoolConnectionMetadata,
        )
            -> futures_util::future::BoxFuture<'c, Result<bool, sqlx::Error>>
        + Send
        + Sync
        + 'static {
            move |conn, meta| {
                n.fetch_add(1, Ordering::SeqCst);
                // The ORM's check, which a hook of one's own replaces.
                orm_sqlx::check_idle_connection(conn, meta)
            }
        }

        let acquired = Arc::new(AtomicU64::new(0));
        let db: Db = match self.backend {
            Backend::Sqlite => orm_sqlx::sqlite::pool_options()
                .max_connections(1)
                .acquire_timeout(acquire_timeout)
                .before_acquire(counter(acquired.clone()))
                .connect_with(orm_sqlx::sqlite::connect_options(&self.url).unwrap())
                .await
                .unwrap()
                .into(),
            Backend::Postgres => orm_sqlx::postgres::pool_options()
                .max_connections(1)
                .acquire_timeout(acquire_timeout)
                .before_acquire(counter(acquired.clone()))
                .connect_with(orm_sqlx::postgres::connect_options(&self.url).unwrap())
                .await
                .unwrap()
                .into(),
            Backend::Mysql => {
                let db: Db = orm_sqlx::mysql::pool_options()
                    .max_connections(1)
                    .acquire_timeout(acquire_timeout)
                    .before_acquire(counter(acquired.clone()))
                    .connect_with(orm_sqlx::mysql::connect_options(&self.url).unwrap())
                    .await
                    .unwrap()
                    .into();
                db.with_returning(self.db.supports_returning())
            }
        };
        (db, acquired)
    }

    /// Drop the schema or delete the file.
    pub async fn cleanup(self) {
        if let Some(schema) = &self.schema {
            let _ = self
                .db
                .execute_raw(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                .await;
        }
        if let Some(database) = &self.database {
            let _ = self
                .db
                .execute_raw(&format!("DROP DATABASE `{database}`"))
                .await;
        }
        if let Some(pool) = self.db.pg_pool() {
            pool.close().await;
        }
        if let Some(pool) = self.db.mysql_pool() {
            pool.close().await;
        }
        if let Some(pool) = self.db.sqlite_pool() {
            pool.close().await;
        }
        if let Some(path) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}

/// Run `test` once per required backend, each on its own fresh database.
pub async fn on_each_backend<F, Fut>(test: F)
where
    F: Fn(Db, Backend) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        eprintln!("-- on {}", backend.name());
        test(t.db.clone(), backend).await;
        t.cleanup().await;
    }
}

/// Like [`on_each_backend`], with the relations fixture ([`library`]) loaded first.
pub async fn with_library<F, Fut>(test: F)
where
    F: Fn(Db, Backend, library::Library) -> Fut,
    Fut: Future<Output = ()>,
{
    on_each_backend(|db, backend| {
        let test = &test;
        async move {
            let lib = library::load(&db).await;
            test(db, backend, lib).await;
        }
    })
    .await;
}

/// Like [`on_each_backend`], with the fixture of SEMANTICS.md loaded first.
pub async fn with_fixture<F, Fut>(test: F)
where
    F: Fn(Db, Backend) -> Fut,
    Fut: Future<Output = ()>,
{
    on_each_backend(|db, backend| {
        let test = &test;
        async move {
            fixture::load(&db).await;
            test(db, backend).await;
        }
    })
    .await;
}

/// A primary and a "replica" (two databases of `backend`, each with the library fixture;
/// the replica's B1 is renamed "B1 (replica)", so a read shows where it went), for the
/// read-replica tests.
pub async fn replica_pair(backend: Backend) -> (TestDb, TestDb, library::Library) {
    use orm_sqlx::prelude::*;
    let primary = TestDb::open(backend).await;
    let replica = TestDb::open(backend).await;
    let lib = library::load(&primary.db).await;
    library::load(&replica.db).await;
    library::Book::objects()
        .filter(|b| b.id.eq(lib.b1.id))
        .update(|b| [b.title.set("B1 (replica)")], &replica.db)
        .await
        .expect("rename the replica's B1");
    (primary, replica, lib)
}

#[cfg(test)]
mod portable_sql_tests {
    use super::{Backend, portable_sql};

    #[test]
    fn mysql_identifiers_are_written_in_double_quotes_and_literals_are_kept() {
        let sql = r#"SELECT `books`.`id` FROM `books` `T2` WHERE `a``b`.`c""d` LIKE BINARY ? ESCAPE '\\' AND x = 'it''s `not` an `ident`'"#;
        assert_eq!(
            portable_sql(Backend::Mysql, sql),
            r#"SELECT "books"."id" FROM "books" "T2" WHERE "a`b"."c""""d" LIKE BINARY ? ESCAPE '\\' AND x = 'it''s `not` an `ident`'"#
        );
        for backend in [Backend::Sqlite, Backend::Postgres] {
            assert_eq!(portable_sql(backend, sql), sql);
        }
    }
}
