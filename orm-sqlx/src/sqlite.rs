//! The SQLite backend (embedded, the default).

use std::ffi::c_int;
use std::str::FromStr;

use futures_util::future::BoxFuture;
use orm_core::dialect::{SQLITE_FOLD_CASE_FN, fold_case};
use orm_core::executor::ExecResult;
use orm_core::{Dialect, FromRow, Result, Value};
use sqlx::sqlite::{
    Sqlite, SqliteArguments, SqliteConnectOptions, SqliteConnection, SqlitePool, SqlitePoolOptions,
    SqliteRow,
};

use crate::backend::{Backend, CheckedColumns, bind_values, impl_row};

pub(crate) mod direct;
pub(crate) mod functions;

pub use direct::without_direct_reads;

impl Backend for Sqlite {
    const DIALECT: Dialect = Dialect::Sqlite;

    fn arguments(params: &mut Vec<Value>) -> Result<SqliteArguments> {
        let params = std::mem::take(params);
        let mut args = SqliteArguments::default();
        bind_values!(
            args,
            params,
            "SQLite",
            |d| args.add(d.map(|d| d.to_string())),
            |_ty, _items| Err("SQLite has no array parameter".into()),
            |json| match crate::backend::json_text(&json, crate::backend::JsonFloats::Serde) {
                Ok(text) => args.add(text),
                Err(e) => Err(e.into()),
            }
        );
        Ok(args)
    }

    fn decode<T: FromRow>(row: &SqliteRow, seen: &CheckedColumns) -> Result<T> {
        T::from_row(&SqliteRowRef(row, seen), 0)
    }

    fn visit(
        row: &SqliteRow,
        seen: &CheckedColumns,
        each: &mut (dyn FnMut(&dyn orm_core::Row) -> Result<()> + Send),
    ) -> Result<()> {
        each(&SqliteRowRef(row, seen))
    }

    fn exec_result(r: &sqlx::sqlite::SqliteQueryResult) -> ExecResult {
        ExecResult {
            rows_affected: r.rows_affected(),
            last_insert_id: Some(r.last_insert_rowid()),
        }
    }
}

impl_row!(SqliteRowRef, SqliteRow, "SQLite", fixed_types: false, {
    #[cfg(feature = "decimal")]
    fn get_decimal(&self, idx: usize) -> Result<rust_decimal::Decimal> {
        // Decimals are stored as text (every digit kept); a value written by other means
        // as an integer or a real is rendered as text by SQLite too.
        let decode_error = crate::backend::decimal_error(idx);
        self.present(idx, || "Decimal")?;
        let text: String = sqlx::Row::try_get_unchecked::<String, usize>(self.0, idx)
            .map_err(|e| decode_error(e.to_string()))?;
        // Exactly, or refused: rust_decimal's own parser rounds past 28 significant digits.
        orm_core::value::exact_decimal::parse(&text).map_err(decode_error)
    }
});

/// Turn off SQLite's memory statistics for this process, if SQLite has not started yet
/// (`sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0)`); `true` when they are off.
///
/// With them on (the bundled SQLite's default), every allocation and free inside SQLite
/// takes one process-wide mutex to count bytes. sqlx steps each connection on a worker
/// thread that copies every column value while the reader frees the previous row on the
/// async thread, so the two threads fight over that lock for every value read: off, a
/// 10,000-row read is about twice as fast (BENCHMARKS.md, issue 16). The trade-off, as
/// SQLite documents it: `sqlite3_memory_used()`, `sqlite3_memory_highwater()` and the
/// soft and hard heap limits stop working.
///
/// The ORM calls this before it opens SQLite ([`connect_options`], [`pool_options`],
/// `Db::connect`), and it is done once per process. SQLite accepts the setting only before
/// it initialises: if something else in the process opened a SQLite database first,
/// nothing changes and this returns `false` (call it first thing in `main` then). Other
/// code that runs SQLite in this process is affected the same way. Call it before other
/// threads use SQLite: SQLite's configuration call is not thread-safe.
///
/// ```
/// // First thing in `main`, before anything opens SQLite:
/// assert!(orm_sqlx::sqlite::disable_memory_statistics());
/// ```
pub fn disable_memory_statistics() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OFF.get_or_init(|| {
        // SAFETY: `sqlite3_config` takes this option with one int argument. Before
        // SQLite initialises it sets the flag; after, it changes nothing and returns
        // SQLITE_MISUSE. SQLite documents it as not threadsafe: it writes a plain global
        // that `sqlite3_initialize` reads. It runs once per process (the `OnceLock`),
        // before the ORM opens any connection of its own; only another library starting
        // SQLite on another thread at this very moment could race it, and then only the
        // statistics setting is at stake (documented above).
        let rc = unsafe {
            libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0 as c_int)
        };
        rc == libsqlite3_sys::SQLITE_OK
    })
}

/// Connection options for an ORM-ready SQLite pool: foreign keys on, sqlx's `REGEXP`
/// function (which [`register_functions`] replaces with the ORM's), and a file created if
/// missing. SQLite's memory statistics are turned off first
/// ([`disable_memory_statistics`]).
pub fn connect_options(url: &str) -> std::result::Result<SqliteConnectOptions, sqlx::Error> {
    disable_memory_statistics();
    Ok(SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .foreign_keys(true)
        .with_regexp())
}

/// Pool options that register, on every new connection, the ORM's SQL functions (see
/// [`register_functions`]). Build your own pool from these and wrap it with
/// `Db::from(pool)`. SQLite's memory statistics are turned off first
/// ([`disable_memory_statistics`]). A connection is pinged as it is lent only when it has
/// been idle for [`crate::IDLE_CHECK_AFTER`] (sqlx pings every one).
/// A `before_acquire` of your own replaces that check: call
/// [`crate::check_idle_connection`] from it.
pub fn pool_options() -> SqlitePoolOptions {
    disable_memory_statistics();
    crate::backend::check_when_idle(SqlitePoolOptions::new())
        .after_connect(|conn, _meta| register_functions(conn))
}

/// Register the ORM's SQL functions on one connection (what [`pool_options`] does on
/// connect): Unicode case folding, the checked arithmetic of F-expressions, `regexp` and
/// `orm_iregexp` for regex lookups, and the `orm_decimal` collation. Call it in your own
/// `after_connect` if you build the pool yourself.
pub fn register_functions(conn: &mut SqliteConnection) -> BoxFuture<'_, sqlx::Result<()>> {
    Box::pin(async move {
        let mut handle = conn.lock_handle().await?;
        let db = handle.as_raw_handle().as_ptr();
        let name = std::ffi::CString::new(SQLITE_FOLD_CASE_FN).expect("no NUL in the name");
        // SAFETY: `db` is a valid connection handle, locked for the duration of this call;
        // the function pointer has the signature SQLite expects and touches only its
        // arguments and context; no user data pointer is registered.
        let rc = unsafe {
            libsqlite3_sys::sqlite3_create_function_v2(
                db,
                name.as_ptr(),
                1,
                libsqlite3_sys::SQLITE_UTF8 | libsqlite3_sys::SQLITE_DETERMINISTIC,
                std::ptr::null_mut(),
                Some(fold_case_fn),
                None,
                None,
                None,
            )
        };
        if rc != libsqlite3_sys::SQLITE_OK {
            return Err(sqlx::Error::Configuration(
                format!("cannot register {SQLITE_FOLD_CASE_FN}: SQLite error {rc}").into(),
            ));
        }
        // SAFETY: as above.
        unsafe { functions::register(db) }.map_err(|e| sqlx::Error::Configuration(e.into()))
    })
}

/// `orm_fold_case(text)`: Unicode simple lower-case folding (SQLite's `lower()` folds
/// ASCII only). NULL in, NULL out; a blob is folded as if it were text.
unsafe extern "C" fn fold_case_fn(
    ctx: *mut libsqlite3_sys::sqlite3_context,
    argc: c_int,
    argv: *mut *mut libsqlite3_sys::sqlite3_value,
) {
    // SAFETY: SQLite passes `argc` valid value pointers in `argv` and a valid context.
    unsafe {
        if argc != 1 {
            libsqlite3_sys::sqlite3_result_null(ctx);
            return;
        }
        let value = *argv;
        let text = libsqlite3_sys::sqlite3_value_text(value);
        if text.is_null() {
            libsqlite3_sys::sqlite3_result_null(ctx);
            return;
        }
        let len = libsqlite3_sys::sqlite3_value_bytes(value);
        let bytes = std::slice::from_raw_parts(text, len.max(0) as usize);
        let folded = fold_case(&String::from_utf8_lossy(bytes));
        // SQLITE_TRANSIENT: SQLite copies the text before this function returns.
        libsqlite3_sys::sqlite3_result_text(
            ctx,
            folded.as_ptr().cast(),
            folded.len() as c_int,
            libsqlite3_sys::SQLITE_TRANSIENT(),
        );
    }
}

/// Open a pool: an in-memory database gets one connection that is never closed (each
/// connection to `:memory:` would be a different, empty database).
pub(crate) async fn connect(url: &str) -> std::result::Result<SqlitePool, sqlx::Error> {
    let options = connect_options(url)?;
    let memory = url.contains(":memory:") || url.contains("mode=memory");
    let pool = if memory {
        pool_options()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        pool_options()
    };
    pool.connect_with(options).await
}
