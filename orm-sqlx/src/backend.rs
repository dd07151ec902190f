//! What every sqlx backend shares: running a compiled statement and decoding its rows.
//! This is the chokepoint: every function here records the statement before sending it.

use std::sync::Arc;

use futures_util::TryStreamExt;
use futures_util::stream::{BoxStream, StreamExt};
use orm_core::executor::ExecResult;
use orm_core::select_related::SelectNode;
use orm_core::{Dialect, Error, FromRow, Result, Statement, Value};
use sqlx::AssertSqlSafe;

use crate::query_log::{Recorded, record};

/// A sqlx database this crate runs on.
pub(crate) trait Backend: sqlx::Database + sqlx::database::HasStatementCache {
    const DIALECT: Dialect;
    /// Whether a pool connection whose statement was abandoned (its future dropped while
    /// the statement ran) is closed rather than returned to the pool. PostgreSQL: yes, the
    /// server would go on running the statement and the connection's next user would wait
    /// for it. SQLite: no, its worker stops at the next row by itself, and closing the
    /// only connection of an in-memory database would lose the database.
    const DISCARD_ABANDONED: bool = false;
    /// Bind a statement's parameters. A backend that can retry a statement
    /// ([`Backend::plan_changed`]) binds from a borrow and leaves `params` in place, which
    /// costs it nothing (its driver copies each value into a buffer either way); the
    /// others take them.
    fn arguments(params: &mut Vec<Value>) -> Result<Self::Arguments>;
    /// Whether `e` is PostgreSQL's "cached plan must not change result type": a statement
    /// prepared on this connection reads a table whose columns changed type (or number)
    /// since. It is raised before the statement runs.
    fn plan_changed(e: &sqlx::Error) -> bool {
        let _ = e;
        false
    }
    /// Whether `e` says the connection's transaction is aborted (a retry ran into the
    /// transaction the first error aborted, one sqlx did not begin).
    fn transaction_aborted(e: &sqlx::Error) -> bool {
        let _ = e;
        false
    }
    /// Decode one row. `seen` remembers which columns of this result set already passed
    /// sqlx's type check, so a backend whose column types are fixed per result set can
    /// skip it for the rows after the first.
    fn decode<T: FromRow>(row: &Self::Row, seen: &CheckedColumns) -> Result<T>;
    /// Decode, then attach the relations `select_related` read in the same row.
    fn decode_with<T: FromRow>(
        row: &Self::Row,
        seen: &CheckedColumns,
        selected: &[SelectNode],
    ) -> Result<T> {
        let mut v = Self::decode::<T>(row, seen)?;
        if !selected.is_empty() {
            Self::visit(row, seen, &mut |r| v.load_selected(selected, r))?;
        }
        Ok(v)
    }
    fn visit(
        row: &Self::Row,
        seen: &CheckedColumns,
        each: &mut (dyn FnMut(&dyn orm_core::Row) -> Result<()> + Send),
    ) -> Result<()>;
    fn exec_result(r: &Self::QueryResult) -> ExecResult;
}

pub(crate) fn db_error(sql: &str, e: sqlx::Error) -> Error {
    if let Some(typed) = data_error(sql, &e) {
        return typed;
    }
    Error::database(sql, Box::new(e))
}

/// How [`json_text`] writes a float.
#[cfg(feature = "json")]
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum JsonFloats {
    /// serde_json's own text (`1e16`), which a text column keeps as it is.
    Serde,
    /// Every digit and a point (`10000000000000000.0`), so that PostgreSQL's jsonb, which
    /// stores numbers as NUMERIC, gives a float back as a float.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Plain,
}

/// JSON text for a bound value, as serde_json writes it except for floats (see
/// [`JsonFloats`]) and -0.0, written 0.0: the two are one `serde_json::Value` (`==`), so
/// they must be one text where JSON is compared as text (SQLite; jsonb drops the sign too).
#[cfg(feature = "json")]
pub(crate) fn json_text(
    v: &serde_json::Value,
    floats: JsonFloats,
) -> std::result::Result<String, serde_json::Error> {
    fn write(
        v: &serde_json::Value,
        floats: JsonFloats,
        out: &mut String,
    ) -> std::result::Result<(), serde_json::Error> {
        use serde_json::Value as J;
        match v {
            J::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap_or_default();
                let start = out.len();
                match floats {
                    _ if f == 0.0 => out.push_str("0.0"),
                    JsonFloats::Serde => out.push_str(&serde_json::to_string(n)?),
                    // Rust's Display: the shortest digits that read back as `f`, and no
                    // exponent.
                    JsonFloats::Plain => out.push_str(&f.to_string()),
                }
                if !out[start..].contains(['.', 'e', 'E']) {
                    out.push_str(".0");
                }
            }
            J::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, floats, out)?;
                }
                out.push(']');
            }
            J::Object(map) => {
                out.push('{');
                for (i, (k, item)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k)?);
                    out.push(':');
                    write(item, floats, out)?;
                }
                out.push('}');
            }
            other => out.push_str(&serde_json::to_string(other)?),
        }
        Ok(())
    }
    let mut out = String::new();
    write(v, floats, &mut out)?;
    Ok(out)
}

/// [`Error::Integrity`] for a constraint violation, by sqlx's own classification
/// (`DatabaseError::kind`: PostgreSQL's SQLSTATE 23xxx, SQLite's extended result codes,
/// MySQL's and MariaDB's error numbers), with the constraint, table and column the
/// database names (PostgreSQL's error fields; SQLite's and MySQL's messages).
fn integrity_error(sql: &str, db: &dyn sqlx::error::DatabaseError) -> Option<Error> {
    use orm_core::Violation;
    use sqlx::error::ErrorKind;
    let kind = match db.kind() {
        ErrorKind::UniqueViolation => Violation::Unique,
        ErrorKind::ForeignKeyViolation => Violation::ForeignKey,
        ErrorKind::NotNullViolation => Violation::NotNull,
        ErrorKind::CheckViolation => Violation::Check,
        _ => return None,
    };
    let message = db.message().to_owned();
    #[allow(unused_mut)] // set by the backends' parts below, per enabled feature
    let mut constraint = db.constraint().map(str::to_owned);
    #[allow(unused_mut)] // set by the backends' parts below, per enabled feature
    let mut table = db.table().map(str::to_owned);
    #[allow(unused_mut)] // set by the backends' parts below, per enabled feature
    let mut column = None;
    #[cfg(feature = "postgres")]
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        column = pg.column().map(str::to_owned);
        if column.is_none() && kind == Violation::Unique {
            // `Key (title)=(Dune) already exists.`
            column = pg
                .detail()
                .and_then(|d| d.strip_prefix("Key ("))
                .and_then(|d| d.split_once(")="))
                .map(|(c, _)| c.to_owned())
                .filter(|c| !c.contains(','));
        }
    }
    let between = |text: &str, open: &str, close: &str| -> Option<String> {
        let (_, rest) = text.split_once(open)?;
        let (inside, _) = rest.split_once(close)?;
        Some(inside.to_owned())
    };
    #[cfg(feature = "sqlite")]
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // `UNIQUE constraint failed: books.title` (several: `t.a, t.b`), `NOT NULL
        // constraint failed: books.title`, `CHECK constraint failed: name`.
        if let Some((_, what)) = message.split_once("constraint failed: ") {
            match kind {
                Violation::Check => constraint = Some(what.to_owned()),
                _ => {
                    let first = what.split(", ").next().unwrap_or(what);
                    if let Some((t, c)) = first.split_once('.') {
                        table = Some(t.to_owned());
                        if !what.contains(", ") {
                            column = Some(c.to_owned());
                        }
                    }
                }
            }
        }
    }
    #[cfg(feature = "mysql")]
    if db
        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .is_some()
    {
        match kind {
            // `Duplicate entry 'x' for key 'title'` (MySQL 8: 'books.title').
            Violation::Unique => {
                if let Some(key) = message
                    .rsplit_once("for key '")
                    .map(|(_, k)| k.trim_end_matches('\''))
                {
                    let key = key.rsplit('.').next().unwrap_or(key);
                    constraint = Some(key.to_owned());
                }
            }
            // `… a foreign key constraint fails (`db`.`books`, CONSTRAINT `fk` FOREIGN KEY
            // (`author_id`) REFERENCES …`
            Violation::ForeignKey => {
                if let Some(inside) = between(&message, "fails (", ", CONSTRAINT") {
                    table = inside
                        .rsplit('.')
                        .next()
                        .map(|t| t.trim_matches('`').to_owned());
                }
                constraint = between(&message, "CONSTRAINT `", "`");
                column = between(&message, "FOREIGN KEY (`", "`)");
            }
            // `Column 'title' cannot be null`, `Field 'title' doesn't have a default value`.
            Violation::NotNull => column = between(&message, "'", "'"),
            // MariaDB: `CONSTRAINT `c` failed for `db`.`t``; MySQL: `Check constraint 'c' is violated.`
            Violation::Check => {
                constraint = between(&message, "CONSTRAINT `", "`")
                    .or_else(|| between(&message, "constraint '", "'"));
            }
        }
    }
    let _ = &between;
    Some(Error::Integrity {
        kind,
        on: Box::new(orm_core::Constraint {
            name: constraint,
            table,
            column,
        }),
        message,
        sql: orm_core::error::sql_excerpt(sql),
    })
}

/// The typed error for a condition every backend raises alike: PostgreSQL's SQLSTATE, on
/// SQLite the same SQLSTATE in brackets at the start of the message of the ORM's checked
/// functions (`[22003] integer out of range: …`), on MySQL/MariaDB its error number
/// ([`mysql_error`]), else its SQLSTATE.
fn data_error(sql: &str, e: &sqlx::Error) -> Option<Error> {
    let db = e.as_database_error()?;
    #[cfg(feature = "mysql")]
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        && let Some(typed) = mysql_error(sql, my.number(), my.message())
    {
        return Some(typed);
    }
    if let Some(e) = integrity_error(sql, db) {
        return Some(e);
    }
    let message = db.message();
    // SQLite's own SUM() of integers past i64 (PostgreSQL's `bigint out of range`).
    #[cfg(feature = "sqlite")]
    if message == "integer overflow" && db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
    {
        return Some(Error::OutOfRange {
            message: "integer out of range: a sum past i64 (SQLite's integer overflow)".into(),
            sql: orm_core::error::sql_excerpt(sql),
        });
    }
    let (state, message) = match sqlstate_tag(message) {
        Some((state, rest)) => (state.to_owned(), rest),
        None => (db.code()?.into_owned(), message),
    };
    let (message, sql) = (message.to_owned(), orm_core::error::sql_excerpt(sql));
    Some(match state.as_str() {
        "22003" => Error::OutOfRange { message, sql },
        "40001" | "40P01" => Error::Deadlock { message, sql },
        "22012" => Error::DivisionByZero { message, sql },
        "2201B" => Error::InvalidRegex { message, sql },
        "22001" => Error::TooLong {
            field: "a column".into(),
            message,
            sql,
        },
        _ => return None,
    })
}

/// The typed error for a MySQL/MariaDB error, by its number:
/// - 1690, a value out of range in an expression: one of the checks the compiler writes
///   around arithmetic ([`MysqlCheck`], PostgreSQL's message and error), or MySQL's own
///   BIGINT, DOUBLE or DECIMAL overflow: [`Error::OutOfRange`];
/// - 1264, a value out of its column's range: [`Error::OutOfRange`] whose message starts
///   with the column (`` column `c`: … ``, which the write paths name as `Model.field`);
/// - 1365, division by zero in a write: [`Error::DivisionByZero`];
/// - 1406, a value too long for its column: [`Error::TooLong`];
/// - an invalid regular expression (MariaDB's 1139, from PCRE; MySQL's ICU errors about
///   the pattern, 3685 and 3688–3697, and 3700, a pattern too big): [`Error::InvalidRegex`].
///   Not 3698/3699 (ICU's stack and time limits, a pattern too costly for the rows it
///   met), nor 3686/3687.
///
/// The message keeps MySQL's own words after the condition's.
#[cfg(feature = "mysql")]
fn mysql_error(sql: &str, number: u16, message: &str) -> Option<Error> {
    use orm_core::dialect::MysqlCheck;
    let sql = orm_core::error::sql_excerpt(sql);
    let with_mysql = |what: &str| format!("{what} (MySQL error {number}: {message})");
    Some(match number {
        1690 => match MysqlCheck::from_message(message) {
            Some(MysqlCheck::DivisionByZero) => Error::DivisionByZero {
                message: with_mysql(MysqlCheck::DivisionByZero.message()),
                sql,
            },
            Some(check) => Error::OutOfRange {
                message: with_mysql(check.message()),
                sql,
            },
            None => {
                let what = if message.starts_with("BIGINT value") {
                    "bigint out of range"
                } else if message.starts_with("DOUBLE value") {
                    "value out of range: overflow"
                } else if message.starts_with("DECIMAL value") {
                    "numeric out of range"
                } else {
                    "value out of range"
                };
                Error::OutOfRange {
                    message: with_mysql(what),
                    sql,
                }
            }
        },
        1264 => Error::OutOfRange {
            message: format!("{}: {message}", mysql_column_label(message)),
            sql,
        },
        1213 => Error::Deadlock {
            message: message.to_owned(),
            sql,
        },
        1365 => Error::DivisionByZero {
            message: with_mysql("division by zero"),
            sql,
        },
        1406 => Error::TooLong {
            field: mysql_column_label(message),
            message: message.to_owned(),
            sql,
        },
        1139 | 3685 | 3688..=3697 | 3700 => Error::InvalidRegex {
            message: format!("invalid regular expression: {message}"),
            sql,
        },
        _ => return None,
    })
}

/// `` column `c` `` from MySQL's `… for column 'c' at row 1`, the label the write paths
/// replace with `Model.field` (`Error::in_model`); `a column` if the message names none.
#[cfg(feature = "mysql")]
fn mysql_column_label(message: &str) -> String {
    message
        .split_once("for column '")
        .and_then(|(_, rest)| rest.rsplit_once("' at row"))
        .map_or_else(|| "a column".to_owned(), |(c, _)| format!("column `{c}`"))
}

/// `("22003", "integer out of range: …")` from `"[22003] integer out of range: …"`.
fn sqlstate_tag(message: &str) -> Option<(&str, &str)> {
    let rest = message.strip_prefix('[')?;
    let (state, rest) = rest.split_at_checked(5)?;
    let rest = rest.strip_prefix("] ")?;
    state
        .bytes()
        .all(|b| b.is_ascii_alphanumeric())
        .then_some((state, rest))
}

#[cfg(all(test, feature = "mysql"))]
mod mysql_tests {
    use super::mysql_error;
    use orm_core::Error;

    #[test]
    fn mysql_errors_become_the_typed_errors_of_the_other_backends() {
        let e = |n, m: &str| mysql_error("SELECT 1", n, m);
        let m = "BIGINT UNSIGNED value is out of range in 'cast(0 as unsigned) - 1'";
        assert!(
            matches!(e(1690, m), Some(Error::DivisionByZero { message, .. })
            if message.starts_with("division by zero"))
        );
        let m = "BIGINT UNSIGNED value is out of range in \
                 'cast(0 as unsigned) + 2147483648 + `t`.`pages` * 1000000000 + 1'";
        assert!(matches!(e(1690, m), Some(Error::OutOfRange { message, .. })
            if message.starts_with("integer out of range")));
        let m = "DOUBLE value is out of range in '`t`.`x` * 1e10'";
        assert!(matches!(e(1690, m), Some(Error::OutOfRange { message, .. })
            if message.starts_with("value out of range: overflow")));
        let m = "Out of range value for column 'amount' at row 1";
        assert!(matches!(e(1264, m), Some(Error::OutOfRange { message, .. })
            if message.starts_with("column `amount`: Out of range")));
        let m = "Data too long for column 'it''s' at row 3";
        assert!(
            matches!(e(1406, m), Some(Error::TooLong { field, .. }) if field == "column `it''s`")
        );
        assert!(matches!(
            e(1365, "Division by 0"),
            Some(Error::DivisionByZero { .. })
        ));
        for n in [1139, 3685, 3691, 3700] {
            assert!(
                matches!(e(n, "bad"), Some(Error::InvalidRegex { .. })),
                "{n}"
            );
        }
        for n in [3699, 1062, 1048] {
            assert!(e(n, "other").is_none(), "{n}");
        }
    }
}

/// The error of a decimal at column `idx` that cannot be read exactly.
#[cfg(feature = "decimal")]
pub(crate) fn decimal_error(idx: usize) -> impl Fn(String) -> Error {
    move |message| Error::Decode {
        at: orm_core::ColumnAt::Index(idx),
        expected: "Decimal",
        message,
    }
}

pub(crate) fn bind_error(e: sqlx::error::BoxDynError) -> Error {
    Error::InvalidInput(format!("cannot bind a parameter: {e}"))
}

/// One item of `fetch_many`: a statement's result, or a row.
type Step<DB> = sqlx::Either<<DB as sqlx::Database>::QueryResult, <DB as sqlx::Database>::Row>;

/// The rows of a statement, straight from the connection's own result stream.
///
/// `sqlx::Executor::fetch` would wrap `fetch_many` in one more boxed stream to drop the
/// query results; on a pool, `fetch_many` adds a third stream around the acquire. Pools
/// therefore acquire first (see `Db`'s executor) and every backend function here reads
/// `fetch_many` itself, so a row passes through two stream levels instead of four.
fn rows<'c, DB, E>(
    ex: E,
    sql: &Arc<str>,
    args: DB::Arguments,
) -> BoxStream<'c, std::result::Result<Step<DB>, sqlx::Error>>
where
    DB: Backend,
    DB::Arguments: sqlx::IntoArguments<DB> + 'static,
    E: sqlx::Executor<'c, Database = DB> + 'c,
{
    ex.fetch_many(sqlx::query_with::<DB, _>(AssertSqlSafe(sql.clone()), args))
}

/// Record a statement: the first step of every function here. The returned
/// [`Recorded`] is finished with the rows once the statement is done.
pub(crate) fn prepare<DB: Backend>(stmt: Statement) -> (Arc<str>, Vec<Value>, Recorded) {
    let sql: Arc<str> = stmt.sql.into();
    let recorded = record(&sql, &stmt.params, DB::DIALECT);
    (sql, stmt.params, recorded)
}

/// After the first attempt of a statement failed with `e`: whether to send it again.
///
/// When PostgreSQL reports that a statement this connection prepared no longer matches its
/// tables ([`Backend::plan_changed`]), every later run of that statement on the connection
/// would fail the same way until the connection is closed. So the connection's statement
/// cache is cleared, and outside a transaction the statement is sent once more: the error
/// is raised before the statement runs, so nothing ran twice. Inside a transaction the
/// error has aborted the transaction: the error is returned. Counted once: the retry is
/// the same statement, prepared again (as sqlx prepares a statement again, uncounted, on
/// a cache miss).
async fn retry_after<DB: Backend>(conn: &mut DB::Connection, e: &sqlx::Error) -> bool {
    if !DB::plan_changed(e) {
        return false;
    }
    let in_transaction = sqlx::Connection::is_in_transaction(conn);
    // Boxed: a rare path, kept out of the size of every statement's future.
    let cleared = Box::pin(sqlx::Connection::clear_cached_statements(conn))
        .await
        .is_ok();
    cleared && !in_transaction
}

/// The error of a statement's retry: its own, unless it only says that the first error
/// aborted the transaction.
fn retry_error<DB: Backend>(sql: &str, first: sqlx::Error, retry: sqlx::Error) -> Error {
    if DB::transaction_aborted(&retry) {
        db_error(sql, first)
    } else {
        db_error(sql, retry)
    }
}

/// Run a query and hand each row to `f`, with the result set's type-check memory.
async fn each_row<DB>(
    conn: &mut DB::Connection,
    stmt: Statement,
    f: impl FnMut(&DB::Row, &CheckedColumns) -> Result<()>,
) -> Result<()>
where
    DB: Backend,
    DB::Arguments: sqlx::IntoArguments<DB> + 'static,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let (sql, mut params, recorded) = prepare::<DB>(stmt);
    let mut read = 0u64;
    let out = each_row_of::<DB>(conn, &sql, &mut params, &mut read, f).await;
    recorded.finish(out.is_ok().then_some(read));
    out
}

/// [`each_row`] once recorded, counting the rows in `read`.
async fn each_row_of<DB>(
    conn: &mut DB::Connection,
    sql: &Arc<str>,
    params: &mut Vec<Value>,
    read: &mut u64,
    mut f: impl FnMut(&DB::Row, &CheckedColumns) -> Result<()>,
) -> Result<()>
where
    DB: Backend,
    DB::Arguments: sqlx::IntoArguments<DB> + 'static,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let mut first_error = None;
    loop {
        let args = DB::arguments(params)?;
        let mut rows = rows::<DB, _>(&mut *conn, sql, args);
        let seen = CheckedColumns::default();
        let mut started = false;
        let failed = loop {
            match rows.try_next().await {
                Ok(Some(step)) => {
                    started = true;
                    match step {
                        sqlx::Either::Right(row) => {
                            *read += 1;
                            f(&row, &seen)?;
                        }
                        // A write's count, for a statement without rows (`RETURNING`
                        // reports rows instead).
                        sqlx::Either::Left(done) => {
                            if *read == 0 {
                                *read = DB::exec_result(&done).rows_affected;
                            }
                        }
                    }
                }
                Ok(None) => return Ok(()),
                Err(e) => break e,
            }
        };
        drop(rows);
        match first_error.take() {
            Some(first) => return Err(retry_error::<DB>(sql, first, failed)),
            None if !started && retry_after::<DB>(conn, &failed).await => {
                first_error = Some(failed)
            }
            None => return Err(db_error(sql, failed)),
        }
    }
}

/// Every row of `stmt` as `T`. This and [`fetch_optional`] and [`for_each_row`] are every
/// read's way to the driver: on SQLite, a read the compiler built takes the direct path
/// where it applies (`sqlite::direct`: stepped on the connection's handle from this
/// thread), whatever lends the connection (a pool, a `Connection`, a transaction).
// `stmt` is handed back by the direct path, which only SQLite has.
#[cfg_attr(not(feature = "sqlite"), allow(unused_mut))]
pub(crate) async fn fetch_all<DB, T>(
    conn: &mut DB::Connection,
    mut stmt: Statement,
) -> Result<Vec<T>>
where
    DB: Backend,
    DB::Arguments: sqlx::IntoArguments<DB> + 'static,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    T: FromRow,
{
    #[cfg(feature = "sqlite")]
    if let Some(c) = crate::sqlite::direct::taken_by(conn, &stmt) {
        // Boxed: this future stays small on the other backends.
        match Box::pin(crate::sqlite::direct::fetch_all::<T>(c, stmt)).await {
            Ok(out) => return out,
            Err(declined) => stmt = declined,
        }
    }
    let mut out = Vec::new();
    each_row::<DB>(conn, stmt, |row, seen| {
        out.push(DB::decode::<T>(row, seen)?);
        Ok(())
    })
    .await?;
    Ok(out)
}

/// The first row of `stmt` as `T` (see [`fetch_all`]).
// `stmt` is handed back by the direct path, which only SQLite has.
#[cfg_attr(not(feature = "sqlite"), allow(unused_mut))]
pub(crate) async fn fetch_optional<DB, T>(
    conn: &mut DB::Connection,
    mut stmt: Statement,
) -> Result<Option<T>>
where
    DB: Backend,
    DB::Arguments: sqlx::IntoArguments<DB> + 'static,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    T: FromRow,
{
    #[cfg(feature = "sqlite")]
    if let Some(c) = crate::sqlite::direct::taken_by(conn, &stmt) {
        match Box::pin(crate::sqlite::direct::fetch_optional::<T>(c, stmt)).await {
            Ok(out) => return out,
            Err(declined) => stmt = declined,
        }
    }
    let (sql, mut params, recorded) = prepare::<DB>(stmt);
    let mut first_error = None;
    let row = loop {
        let args = DB::arguments(&mut params)?;
        let failed = match sqlx::query_with::<DB, _>(AssertSqlSafe(sql.clone()), args)
            .fetch_optional(&mut *conn)
            .await
        {
            Ok(row) => break row,
            Err(e) => e,
        };
        match first_error.take() {
            Some(first) => {
                recorded.finish(None);
                return Err(retry_error::<DB>(&sql, first, failed));
            }
            None if retry_after::<DB>(conn, &failed).await => first_error = Some(failed),
            None => {
                recorded.finish(None);
                return Err(db_error(&sql, failed));
            }
        }
    };
    recorded.finish(Some(u64::from(row.is_some())));
    row.map(|row| DB::decode::<T>(&row, &CheckedColumns::default()))
        .transpose()
}

/// Every row of `stmt`, handed to `each` (see [`fetch_all`]).
// `stmt` is handed back by the direct path, which only SQLite has.
#[cfg_attr(not(feature = "sqlite"), allow(unused_mut))]
pub(crate) async fn for_each_row<DB>(
    conn: &mut DB::Connection,
    mut stmt: Statement,
    each: &mut (dyn FnMut(&dyn orm_core::Row) -> Result<()> + Send),
) -> Result<()>
where
    DB: Backend,
    DB::Arguments: sqlx::IntoArguments<DB> + 'static,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    #[cfg(feature = "sqlite")]
    if let Some(c) = crate::sqlite::direct::taken_by(conn, &stmt) {
        match Box::pin(crate::sqlite::direct::for_each_row(c, stmt, each)).await {
            Ok(out) => return out,
            Err(declined) => stmt = declined,
        }
    }
    each_row::<DB>(conn, stmt, |row, seen| DB::visit(row, seen, each)).await
}

pub(crate) async fn execute<DB>(conn: &mut DB::Connection, stmt: Statement) -> Result<ExecResult>
where
    DB: Backend,
    DB::Arguments: sqlx::IntoArguments<DB> + 'static,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let (sql, mut params, recorded) = prepare::<DB>(stmt);
    let mut first_error = None;
    loop {
        let args = match DB::arguments(&mut params) {
            Ok(args) => args,
            Err(e) => {
                recorded.finish(None);
                return Err(e);
            }
        };
        let failed = match sqlx::query_with::<DB, _>(AssertSqlSafe(sql.clone()), args)
            .execute(&mut *conn)
            .await
        {
            Ok(res) => {
                let done = DB::exec_result(&res);
                recorded.finish(Some(done.rows_affected));
                return Ok(done);
            }
            Err(e) => e,
        };
        match first_error.take() {
            Some(first) => {
                recorded.finish(None);
                return Err(retry_error::<DB>(&sql, first, failed));
            }
            None if retry_after::<DB>(conn, &failed).await => first_error = Some(failed),
            None => {
                recorded.finish(None);
                return Err(db_error(&sql, failed));
            }
        }
    }
}

/// The rows of a statement's result stream, decoded (with what `select_related` read in
/// the same row); a driver error names the statement.
fn decoded<'c, DB, T>(
    steps: impl futures_util::Stream<Item = std::result::Result<Step<DB>, sqlx::Error>> + Send + 'c,
    sql: Arc<str>,
    selected: Vec<SelectNode>,
    recorded: Recorded,
) -> BoxStream<'c, Result<T>>
where
    DB: Backend,
    T: FromRow,
{
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let seen = CheckedColumns::default();
    // Rows read, and whether the driver failed, when something wants the numbers: the
    // statement is finished when the stream ends (read to its end; dropped early, it
    // stays unfinished).
    let tally = recorded
        .is_timed()
        .then(|| Arc::new((AtomicU64::new(0), AtomicBool::new(false))));
    let counted = tally.clone();
    let rows = steps
        .filter_map(move |step| {
            let out = match step {
                Ok(sqlx::Either::Right(row)) => {
                    if let Some(t) = &counted {
                        t.0.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(DB::decode_with::<T>(&row, &seen, &selected))
                }
                Ok(sqlx::Either::Left(_)) => None,
                Err(e) => {
                    if let Some(t) = &counted {
                        t.1.store(true, Ordering::Relaxed);
                    }
                    Some(Err(db_error(&sql, e)))
                }
            };
            std::future::ready(out)
        })
        .boxed();
    let Some(tally) = tally else {
        return rows;
    };
    let end = futures_util::stream::once(async move {
        let failed = tally.1.load(Ordering::Relaxed);
        recorded.finish((!failed).then(|| tally.0.load(Ordering::Relaxed)));
        None
    })
    .filter_map(std::future::ready);
    rows.chain(end).boxed()
}

pub(crate) fn stream<'c, DB, E, T>(
    ex: E,
    stmt: Statement,
    selected: Vec<SelectNode>,
) -> BoxStream<'c, Result<T>>
where
    DB: Backend,
    DB::Arguments: sqlx::IntoArguments<DB> + 'static,
    E: sqlx::Executor<'c, Database = DB> + 'c,
    T: FromRow,
{
    // Built (and counted) when first polled: a stream that is never read sends nothing.
    futures_util::stream::once(async move {
        let (sql, mut params, recorded) = prepare::<DB>(stmt);
        let args = match DB::arguments(&mut params) {
            Ok(args) => args,
            Err(e) => return futures_util::stream::once(async move { Err(e) }).boxed(),
        };
        decoded::<DB, T>(rows::<DB, E>(ex, &sql, args), sql, selected, recorded)
    })
    .flatten()
    .boxed()
}

/// How long a pooled connection may sit idle before it is checked (pinged) as it is lent.
///
/// sqlx's pools ping every idle connection they lend by default (`test_before_acquire`),
/// one round trip before every pooled statement, and every connection handed back to
/// them. The ORM's pools (and the shelf of `Db::connect`, which keeps cleanly finished
/// connections out of sqlx's pool) check only a connection idle for longer than this,
/// as HikariCP skips its check of a connection used within the last 500 ms
/// (`aliveBypassWindowMs`).
///
/// The trade-off: a connection the server ended less than this long after its last use
/// (a server restart or failover, `pg_terminate_backend`, `KILL`, an
/// `idle_session_timeout` below it) is lent unchecked, and its next statement fails
/// with a connection error, which may be a write's. Such a connection is then discarded
/// (sqlx checks a connection that comes back after an error). A server that closes idle
/// connections after longer than this (MySQL's `wait_timeout`, seconds at the least) is
/// always caught.
pub const IDLE_CHECK_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

/// `options` with the ORM's check on lending ([`check_idle_connection`] as
/// `before_acquire`) in place of sqlx's ping of every connection.
pub(crate) fn check_when_idle<DB: sqlx::Database>(
    options: sqlx::pool::PoolOptions<DB>,
) -> sqlx::pool::PoolOptions<DB> {
    options
        .test_before_acquire(false)
        .before_acquire(|conn, meta| check_idle_connection(conn, meta))
}

/// The check the ORM's pool options make as a connection is lent (their
/// `before_acquire`): a ping when it has been idle for [`IDLE_CHECK_AFTER`], nothing
/// otherwise; an error discards the connection and the pool opens another.
///
/// The ORM's `pool_options()` turn sqlx's ping of every lent connection off and set this
/// as `before_acquire`. A `before_acquire` of your own replaces it: call this from yours.
///
/// ```no_run
/// # async fn demo(url: &str) -> Result<(), orm_sqlx::sqlx::Error> {
/// let pool = orm_sqlx::postgres::pool_options()
///     .before_acquire(|conn, meta| {
///         Box::pin(async move {
///             // … your own check …
///             orm_sqlx::check_idle_connection(conn, meta).await
///         })
///     })
///     .connect_with(orm_sqlx::postgres::connect_options(url)?)
///     .await?;
/// # Ok(()) }
/// ```
pub fn check_idle_connection<C: sqlx::Connection>(
    conn: &mut C,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> futures_util::future::BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        if meta.idle_for >= IDLE_CHECK_AFTER {
            conn.ping().await?;
        }
        Ok(true)
    })
}

/// A pool connection lent to one statement. If the statement's future is dropped while
/// the statement runs, the connection is closed instead of returned to the pool, where
/// its next user would wait for the server to finish the abandoned statement (on
/// PostgreSQL; see [`Backend::DISCARD_ABANDONED`]). A statement that finished cleanly
/// puts its connection on the pool's shelf, if it has one (`crate::shelf`); any other
/// end returns it to sqlx's pool. The happy path costs a flag write before the statement
/// and one after.
pub(crate) struct Lent<'l, DB: sqlx::Database> {
    conn: std::mem::ManuallyDrop<sqlx::pool::PoolConnection<DB>>,
    lender: &'l crate::shelf::Lender<DB>,
    running: bool,
    clean: bool,
}

impl<'l, DB: Backend> Lent<'l, DB> {
    pub(crate) fn new(
        conn: sqlx::pool::PoolConnection<DB>,
        lender: &'l crate::shelf::Lender<DB>,
    ) -> Self {
        Lent {
            conn: std::mem::ManuallyDrop::new(conn),
            lender,
            running: false,
            clean: false,
        }
    }

    /// The connection, for a statement about to be sent.
    pub(crate) fn start(&mut self) -> &mut DB::Connection {
        self.running = DB::DISCARD_ABANDONED;
        self.clean = false;
        &mut self.conn
    }

    /// The statement's future finished (with its rows or its error).
    pub(crate) fn finish<T, E>(
        &mut self,
        out: std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.running = false;
        self.clean = out.is_ok();
        out
    }
}

impl<DB: sqlx::Database> Drop for Lent<'_, DB> {
    fn drop(&mut self) {
        // SAFETY: taken once, here, and never touched again.
        let mut conn = unsafe { std::mem::ManuallyDrop::take(&mut self.conn) };
        if self.running {
            conn.close_on_drop();
        } else if let (true, Some(shelf)) = (self.clean, self.lender.shelf()) {
            shelf.put(conn, self.lender);
        }
    }
}

/// [`stream`] on a pool: the statement takes a connection of its own when the stream is
/// first polled (counted once it has one), lent as [`Lent`] lends it, so that a stream
/// dropped before its end (`iterator()` left early) does not leave the rest of the rows
/// for the connection's next user to wait through; and sent again, as `each_row` does,
/// after [`Backend::plan_changed`].
pub(crate) fn pool_stream<'c, DB, T>(
    pool: &'c crate::shelf::Lender<DB>,
    stmt: Statement,
    selected: Vec<SelectNode>,
) -> BoxStream<'c, Result<T>>
where
    DB: Backend,
    DB::Arguments: sqlx::IntoArguments<DB> + 'static,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    T: FromRow,
{
    use sqlx_core::ext::async_stream::TryAsyncStream;
    futures_util::stream::once(async move {
        if let Err(e) = crate::held::check(pool) {
            return futures_util::stream::once(async move { Err(e) }).boxed();
        }
        let conn = match pool.acquire().await {
            Ok(conn) => conn,
            Err(e) => {
                let e = db_error(&stmt.sql, e);
                return futures_util::stream::once(async move { Err(e) }).boxed();
            }
        };
        let (sql, mut params, recorded) = prepare::<DB>(stmt);
        let args = match DB::arguments(&mut params) {
            Ok(args) => args,
            Err(e) => return futures_util::stream::once(async move { Err(e) }).boxed(),
        };
        let text = sql.clone();
        let steps = TryAsyncStream::new(move |out| async move {
            let mut lent = Lent::new(conn, pool);
            let conn = lent.start();
            let mut args = Some(args);
            let mut retried = false;
            let read = loop {
                let args = match args.take() {
                    Some(args) => args,
                    // Bound once already: binding again cannot fail, but say so if it does.
                    None => match DB::arguments(&mut params) {
                        Ok(args) => args,
                        Err(e) => break Err(sqlx::Error::Encode(Box::new(e))),
                    },
                };
                let mut rows = rows::<DB, _>(&mut *conn, &text, args);
                let mut started = false;
                let failed = loop {
                    match rows.try_next().await {
                        Ok(Some(step)) => {
                            started = true;
                            out.r#yield(step).await;
                        }
                        Ok(None) => break None,
                        Err(e) => break Some(e),
                    }
                };
                drop(rows);
                match failed {
                    None => break Ok(()),
                    // As `each_row` does (see `retry_after`).
                    Some(e) if !retried && !started && retry_after::<DB>(conn, &e).await => {
                        retried = true
                    }
                    Some(e) => break Err(e),
                }
            };
            lent.finish(read)
        });
        decoded::<DB, T>(steps, sql, selected, recorded)
    })
    .flatten()
    .boxed()
}

/// A type's name without its module paths (`String`, `chrono::NaiveDate` → `NaiveDate`),
/// for messages.
pub(crate) fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    // Generic types keep their full name; plain ones lose the path.
    if full.contains('<') {
        full
    } else {
        full.rsplit("::").next().unwrap_or(full)
    }
}

/// The columns of one result set whose type already passed sqlx's check (the first 128).
#[derive(Default)]
pub(crate) struct CheckedColumns(std::cell::Cell<u128>);

impl CheckedColumns {
    pub(crate) fn has(&self, idx: usize) -> bool {
        idx < 128 && self.0.get() & (1u128 << idx) != 0
    }
    pub(crate) fn mark(&self, idx: usize) {
        if idx < 128 {
            self.0.set(self.0.get() | (1u128 << idx));
        }
    }
}

/// Implement `orm_core::Row` for a backend row type, reading by position. With
/// `fixed_types: true` (column types fixed per result set, as on PostgreSQL) a column is
/// type-checked on its first non-NULL value and read unchecked after that; otherwise
/// (SQLite, where every value carries its own type) every read is checked. Extra methods
/// (optional types) are passed in.
macro_rules! impl_row {
    ($wrapper:ident, $row:ty, $name:expr, fixed_types: $fixed:expr, { $($extra:item)* }) => {
        pub(crate) struct $wrapper<'r>(
            pub(crate) &'r $row,
            pub(crate) &'r $crate::backend::CheckedColumns,
        );

        impl $wrapper<'_> {
            fn get<'r, T>(&'r self, idx: usize) -> orm_core::Result<T>
            where
                T: sqlx::Decode<'r, <$row as sqlx::Row>::Database>
                    + sqlx::Type<<$row as sqlx::Row>::Database>,
            {
                use sqlx::{TypeInfo as _, ValueRef as _};
                let raw = self.present(idx, $crate::backend::short_type_name::<T>)?;
                if !($fixed && self.1.has(idx)) {
                    let ty = raw.type_info();
                    if !ty.is_null() && !T::compatible(&ty) {
                        return Err(orm_core::Error::Decode {
                            at: orm_core::ColumnAt::Index(idx),
                            expected: $crate::backend::short_type_name::<T>(),
                            message: format!("the column holds SQL type {}", ty.name()),
                        });
                    }
                    if $fixed {
                        self.1.mark(idx);
                    }
                }
                T::decode(raw).map_err(|e| orm_core::Error::Decode {
                    at: orm_core::ColumnAt::Index(idx),
                    expected: $crate::backend::short_type_name::<T>(),
                    message: e.to_string(),
                })
            }

            /// The cell at `idx`, unless it is NULL: refused here, on every backend,
            /// before a driver can turn it into a zero value (SQLite) or a misleading
            /// parse error; `expected` names the type the field wanted (computed only
            /// then: a type's short name is a string search, once per cell otherwise).
            fn present(
                &self,
                idx: usize,
                expected: fn() -> &'static str,
            ) -> orm_core::Result<<<$row as sqlx::Row>::Database as sqlx::Database>::ValueRef<'_>> {
                use sqlx::ValueRef as _;
                let raw = self.raw(idx)?;
                if raw.is_null() {
                    return Err(orm_core::Error::UnexpectedNull {
                        at: orm_core::ColumnAt::Index(idx),
                        expected: expected(),
                    });
                }
                Ok(raw)
            }

            fn raw(
                &self,
                idx: usize,
            ) -> orm_core::Result<<<$row as sqlx::Row>::Database as sqlx::Database>::ValueRef<'_>> {
                sqlx::Row::try_get_raw(self.0, idx).map_err(|e| orm_core::Error::Decode {
                    at: orm_core::ColumnAt::Index(idx),
                    expected: "a column",
                    message: e.to_string(),
                })
            }
        }

        impl orm_core::Row for $wrapper<'_> {
            fn backend(&self) -> &'static str {
                $name
            }
            fn column_names(&self) -> orm_core::Result<Vec<&str>> {
                use sqlx::Column as _;
                Ok(sqlx::Row::columns(self.0).iter().map(|c| c.name()).collect())
            }
            fn is_null(&self, idx: usize) -> orm_core::Result<bool> {
                use sqlx::ValueRef;
                self.raw(idx).map(|v| v.is_null())
            }
            fn get_bool(&self, idx: usize) -> orm_core::Result<bool> {
                self.get(idx)
            }
            fn get_i16(&self, idx: usize) -> orm_core::Result<i16> {
                self.get(idx)
            }
            fn get_i32(&self, idx: usize) -> orm_core::Result<i32> {
                self.get(idx)
            }
            fn get_i64(&self, idx: usize) -> orm_core::Result<i64> {
                self.get(idx)
            }
            fn get_f32(&self, idx: usize) -> orm_core::Result<f32> {
                self.get(idx)
            }
            fn get_f64(&self, idx: usize) -> orm_core::Result<f64> {
                self.get(idx)
            }
            fn get_string(&self, idx: usize) -> orm_core::Result<String> {
                self.get(idx)
            }
            fn get_bytes(&self, idx: usize) -> orm_core::Result<Vec<u8>> {
                self.get(idx)
            }
            #[cfg(feature = "chrono")]
            fn get_date(&self, idx: usize) -> orm_core::Result<chrono::NaiveDate> {
                self.get(idx)
            }
            #[cfg(feature = "chrono")]
            fn get_time(&self, idx: usize) -> orm_core::Result<chrono::NaiveTime> {
                self.get(idx)
            }
            #[cfg(feature = "chrono")]
            fn get_datetime(&self, idx: usize) -> orm_core::Result<chrono::NaiveDateTime> {
                self.get(idx)
            }
            #[cfg(feature = "chrono")]
            fn get_datetime_utc(
                &self,
                idx: usize,
            ) -> orm_core::Result<chrono::DateTime<chrono::Utc>> {
                self.get(idx)
            }
            #[cfg(feature = "uuid")]
            fn get_uuid(&self, idx: usize) -> orm_core::Result<uuid::Uuid> {
                self.get(idx)
            }
            #[cfg(feature = "json")]
            fn get_json(&self, idx: usize) -> orm_core::Result<serde_json::Value> {
                self.get(idx)
            }
            $($extra)*
        }
    };
}
pub(crate) use impl_row;

/// Bind one value with `add`, mapping each variant to its Rust type; `$decimal` decides
/// how a decimal is bound (SQLite has no decimal type: it is stored as text), `$list` how a
/// list is, and `$json` how JSON is (by default as sqlx writes it).
macro_rules! bind_values {
    ($args:ident, $params:expr, $backend:expr, |$d:ident| $decimal:expr) => {
        $crate::backend::bind_values!($args, $params, $backend, |$d| $decimal, |_ty, _items| {
            return Err(orm_core::Error::Unsupported {
                what: "an array parameter".into(),
                backend: $backend,
                hint: "",
            });
        })
    };
    ($args:ident, $params:expr, $backend:expr, |$d:ident| $decimal:expr, |$lt:ident, $li:ident| $list:expr) => {
        $crate::backend::bind_values!(
            $args,
            $params,
            $backend,
            |$d| $decimal,
            |$lt, $li| $list,
            |json| { $args.add(json) }
        )
    };
    ($args:ident, $params:expr, $backend:expr, |$d:ident| $decimal:expr, |$lt:ident, $li:ident| $list:expr, |$j:ident| $json:expr) => {{
        use orm_core::{SqlType, Value};
        use sqlx::Arguments as _;
        for v in $params {
            let r = match v {
                Value::Null(ty) => match ty {
                    SqlType::Bool => $args.add(None::<bool>),
                    SqlType::I16 => $args.add(None::<i16>),
                    SqlType::I32 => $args.add(None::<i32>),
                    SqlType::I64 => $args.add(None::<i64>),
                    SqlType::F32 => $args.add(None::<f32>),
                    SqlType::F64 => $args.add(None::<f64>),
                    SqlType::Bytes => $args.add(None::<Vec<u8>>),
                    #[cfg(feature = "chrono")]
                    SqlType::Date => $args.add(None::<chrono::NaiveDate>),
                    #[cfg(feature = "chrono")]
                    SqlType::Time => $args.add(None::<chrono::NaiveTime>),
                    #[cfg(feature = "chrono")]
                    SqlType::DateTime => $args.add(None::<chrono::NaiveDateTime>),
                    #[cfg(feature = "chrono")]
                    SqlType::DateTimeTz => $args.add(None::<chrono::DateTime<chrono::Utc>>),
                    #[cfg(feature = "uuid")]
                    SqlType::Uuid => $args.add(None::<uuid::Uuid>),
                    #[cfg(feature = "json")]
                    SqlType::Json => $args.add(None::<serde_json::Value>),
                    #[cfg(feature = "decimal")]
                    SqlType::Decimal => {
                        let $d: Option<rust_decimal::Decimal> = None;
                        $decimal
                    }
                    _ => $args.add(None::<String>),
                },
                Value::Bool(x) => $args.add(x),
                Value::I16(x) => $args.add(x),
                Value::I32(x) => $args.add(x),
                Value::I64(x) => $args.add(x),
                Value::F32(x) => $args.add(x),
                Value::F64(x) => $args.add(x),
                Value::Text(x) => $args.add(x),
                Value::Bytes(x) => $args.add(x),
                #[cfg(feature = "chrono")]
                Value::Date(x) => $args.add(x),
                #[cfg(feature = "chrono")]
                Value::Time(x) => $args.add(x),
                #[cfg(feature = "chrono")]
                Value::DateTime(x) => $args.add(x),
                #[cfg(feature = "chrono")]
                Value::DateTimeTz(x) => $args.add(x),
                #[cfg(feature = "uuid")]
                Value::Uuid(x) => $args.add(x),
                #[cfg(feature = "json")]
                Value::Json(x) => {
                    let $j = x;
                    $json
                }
                #[cfg(feature = "decimal")]
                Value::Decimal(x) => {
                    let $d = Some(x);
                    $decimal
                }
                Value::List($lt, $li) => $list,
                #[allow(unreachable_patterns)]
                other => {
                    return Err(orm_core::Error::Unsupported {
                        what: format!("the value {other:?}"),
                        backend: $backend,
                        hint: " in this build: enable the orm-sqlx feature of the same name",
                    });
                }
            };
            r.map_err($crate::backend::bind_error)?;
        }
    }};
}
pub(crate) use bind_values;
