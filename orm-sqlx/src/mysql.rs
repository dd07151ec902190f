//! The MySQL/MariaDB backend.
//!
//! Every connection the ORM opens (and every pool built from [`pool_options`]) is set up so
//! that MySQL answers as the other backends do:
//! - a strict `sql_mode` ([`SQL_MODE`]): a value too long or out of a column's range is an
//!   error, never silently cut or clamped; division by zero in a write is an error;
//! - `time_zone = '+00:00'`: `DateTime<Utc>` is stored and read in UTC;
//! - an exact collation for the connection's own strings (binary, no padding).
//!
//! Tables the ORM creates use the exact collation too ([`TableOptions`]), so that
//! `eq("abc")` does not match `"ABC "` as MySQL's default collations would.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let db = orm_sqlx::Db::connect("mysql://root@127.0.0.1:3306/app").await?;
//! // Or a pool of your own, set up the same way:
//! let pool = orm_sqlx::mysql::pool_options()
//!     .max_connections(20)
//!     .connect_with(orm_sqlx::mysql::connect_options("mysql://root@127.0.0.1:3306/app")?)
//!     .await?;
//! let db = orm_sqlx::Db::from(pool);
//! # Ok(()) }
//! ```

use futures_util::future::BoxFuture;
use orm_core::compiler::TableOptions;
use orm_core::executor::ExecResult;
use orm_core::{Dialect, FromRow, Result, Value};
use sqlx::mysql::{
    MySql, MySqlArguments, MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions,
    MySqlRow,
};

use crate::backend::{Backend, CheckedColumns, bind_values, impl_row};

/// The `sql_mode` every ORM connection sets: strict for every table (a value a column
/// cannot hold is an error, not a warning and a truncated value), no zero dates, division
/// by zero an error in writes, no silent engine substitution, and `ONLY_FULL_GROUP_BY`
/// (a query that would give an arbitrary row's value is refused, as on PostgreSQL).
/// Backslash escapes stay on: the ORM's `LIKE … ESCAPE '\\'` relies on them.
pub const SQL_MODE: &str = "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,\
ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,ONLY_FULL_GROUP_BY";

/// What the ORM knows of a MySQL-family server beyond the dialect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MysqlServer {
    /// MariaDB rather than MySQL.
    pub mariadb: bool,
    /// `INSERT … RETURNING` is available (MariaDB 10.5 and later; MySQL has none). Without
    /// it, the keys of a multi-row INSERT are read as `LAST_INSERT_ID()` and the rows
    /// after it (InnoDB gives one statement's rows consecutive keys).
    pub returning: bool,
}

impl MysqlServer {
    /// Read from the server's `VERSION()` text (`10.11.6-MariaDB-…`, `8.0.36`).
    pub fn from_version(version: &str) -> MysqlServer {
        let mariadb = version.to_ascii_lowercase().contains("mariadb");
        // MariaDB's handshake (not its VERSION()) may carry MySQL 5's "5.5.5-" before its own.
        let version = version.strip_prefix("5.5.5-").unwrap_or(version);
        let mut parts = version
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<u32>().unwrap_or(0));
        let major = parts.next().unwrap_or(0);
        let minor = parts.next().unwrap_or(0);
        MysqlServer {
            mariadb,
            returning: mariadb && (major, minor) >= (10, 5),
        }
    }

    /// Ask the server (one statement, not counted: it is setup, like the connection's own).
    pub async fn detect(conn: &mut MySqlConnection) -> std::result::Result<Self, sqlx::Error> {
        let version: String = sqlx::query_scalar("SELECT VERSION()")
            .fetch_one(conn)
            .await?;
        Ok(MysqlServer::from_version(&version))
    }

    /// How the ORM creates tables on this server (its exact collation's name).
    pub fn table_options(self) -> TableOptions {
        if self.mariadb {
            TableOptions::MARIADB
        } else {
            TableOptions::MYSQL
        }
    }
}

impl Backend for MySql {
    const DIALECT: Dialect = Dialect::Mysql;
    /// As on PostgreSQL, the server runs an abandoned statement to its end.
    const DISCARD_ABANDONED: bool = true;

    fn arguments(params: &mut Vec<Value>) -> Result<MySqlArguments> {
        let params = std::mem::take(params).into_iter().map(utc_as_datetime);
        let mut args = MySqlArguments::default();
        bind_values!(
            args,
            params,
            "MySQL/MariaDB",
            |d| args.add(d),
            |_ty, _items| Err("MySQL has no array parameter".into()),
            |json| match crate::backend::json_text(&json, crate::backend::JsonFloats::Serde) {
                Ok(text) => args.add(text),
                Err(e) => Err(e.into()),
            }
        );
        Ok(args)
    }

    fn decode<T: FromRow>(row: &MySqlRow, seen: &CheckedColumns) -> Result<T> {
        T::from_row(&MySqlRowRef(row, seen), 0)
    }

    fn visit(
        row: &MySqlRow,
        seen: &CheckedColumns,
        each: &mut (dyn FnMut(&dyn orm_core::Row) -> Result<()> + Send),
    ) -> Result<()> {
        each(&MySqlRowRef(row, seen))
    }

    fn exec_result(r: &sqlx::mysql::MySqlQueryResult) -> ExecResult {
        let id = r.last_insert_id();
        ExecResult {
            rows_affected: r.rows_affected(),
            last_insert_id: (id != 0).then(|| i64::try_from(id).unwrap_or(i64::MAX)),
        }
    }
}

/// A `DateTime<Utc>` bound as the DATETIME it is stored in. sqlx would bind it as a
/// TIMESTAMP, which MySQL only holds from 1970 to 2038: outside, the bound value silently
/// became NULL (or the column's zero).
fn utc_as_datetime(v: Value) -> Value {
    match v {
        #[cfg(feature = "chrono")]
        Value::DateTimeTz(x) => Value::DateTime(x.naive_utc()),
        Value::Null(orm_core::SqlType::DateTimeTz) => Value::Null(orm_core::SqlType::DateTime),
        other => other,
    }
}

impl_row!(MySqlRowRef, MySqlRow, "MySQL/MariaDB", fixed_types: true, {
    #[cfg(feature = "decimal")]
    fn get_decimal(&self, idx: usize) -> Result<rust_decimal::Decimal> {
        // DECIMAL(65, 30) arrives as text with 30 digits after the point: the trailing
        // zeros are the column's scale, not the value's, and would not fit a Decimal (28).
        let decode_error = crate::backend::decimal_error(idx);
        self.present(idx, || "Decimal")?;
        let text: String = sqlx::Row::try_get_unchecked::<String, usize>(self.0, idx)
            .map_err(|e| decode_error(e.to_string()))?;
        let text = text.as_str();
        let trimmed = if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.')
        } else {
            text
        };
        orm_core::value::exact_decimal::parse(trimmed).map_err(decode_error)
    }
});

/// Connection options for an ORM-ready MySQL/MariaDB pool: the URL's, with sqlx's own
/// `sql_mode` additions off (the ORM sets the whole mode in [`pool_options`]) and the time
/// zone UTC.
pub fn connect_options(url: &str) -> std::result::Result<MySqlConnectOptions, sqlx::Error> {
    let options: MySqlConnectOptions = url.parse()?;
    Ok(options
        .pipes_as_concat(false)
        .no_engine_substitution(false)
        .timezone(Some("+00:00".to_owned())))
}

/// Pool options that set up every new connection (see [`set_up`]), and ping a connection
/// as it is lent only when it has been idle for [`crate::IDLE_CHECK_AFTER`] (sqlx pings
/// every one). Build your own pool from these and wrap it with `Db::from(pool)`.
/// A `before_acquire` of your own replaces that check: call
/// [`crate::check_idle_connection`] from it.
pub fn pool_options() -> MySqlPoolOptions {
    crate::backend::check_when_idle(MySqlPoolOptions::new())
        .after_connect(|conn, _meta| set_up(conn))
}

/// Set up one connection (what [`pool_options`] does on connect): the strict
/// [`SQL_MODE`], UTC, the exact collation for the connection's strings (MariaDB's
/// `utf8mb4_nopad_bin` or MySQL's `utf8mb4_0900_bin`, chosen by the server itself), and
/// `READ COMMITTED` transactions, as Django sets since 2.0: at MySQL's default
/// `REPEATABLE READ` a transaction's reads see its first snapshot, so `get_or_create`
/// could not read back the row whose unique key its INSERT just collided with.
pub fn set_up(conn: &mut MySqlConnection) -> BoxFuture<'_, sqlx::Result<()>> {
    Box::pin(async move {
        use sqlx::Executor as _;
        let sql = format!(
            "SET SESSION sql_mode = '{SQL_MODE}', time_zone = '+00:00', \
             collation_connection = IF(VERSION() LIKE '%MariaDB%', '{}', '{}')",
            TableOptions::MARIADB.mysql_collation,
            TableOptions::MYSQL.mysql_collation
        );
        conn.execute(sqlx::AssertSqlSafe(sql)).await?;
        conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            .await?;
        Ok(())
    })
}

/// Open a pool. One connection is made first, outside the pool, so that an unreachable
/// server or a bad password is reported at once; it also reads what the server is.
pub(crate) async fn connect(
    url: &str,
) -> std::result::Result<(MySqlPool, MysqlServer), sqlx::Error> {
    use sqlx::{ConnectOptions, Connection};
    let options = connect_options(url)?;
    let mut conn = options.connect().await?;
    let server = MysqlServer::detect(&mut conn).await?;
    conn.close().await?;
    Ok((pool_options().connect_lazy_with(options), server))
}

#[cfg(test)]
mod tests {
    use super::MysqlServer;

    #[test]
    fn returning_is_read_from_the_version() {
        let s = MysqlServer::from_version("10.11.6-MariaDB-0+deb12u1");
        assert!(s.mariadb && s.returning);
        let s = MysqlServer::from_version("10.4.32-MariaDB");
        assert!(s.mariadb && !s.returning);
        let s = MysqlServer::from_version("8.0.36");
        assert!(!s.mariadb && !s.returning);
        let s = MysqlServer::from_version("5.5.5-10.6.12-MariaDB");
        assert!(s.mariadb && s.returning);
    }
}
