//! The direct read path: a compiled `SELECT` stepped on the connection's raw SQLite handle
//! from the calling thread.
//!
//! sqlx runs each SQLite connection on a worker thread that copies every value of every
//! row and hands the rows over a channel; reading them back on the async thread costs
//! about ten times what stepping the statement costs (issue 16: 10,000 rows in 12 ms
//! through `fetch_all`, 0.9 ms stepped here). So the reads (`fetch_all`,
//! `fetch_optional`, `for_each_row`) of a statement the compiler built as a read
//! ([`Tables::Read`]), outside the query cache, lock the connection's handle
//! (`SqliteConnection::lock_handle`), prepare, bind and step the statement here, and
//! decode each row in place: on a pooled `&Db`, on a [`Connection`](crate::Connection)
//! (an evaluation's session, which prefetching reads through), in a transaction or a
//! savepoint, and on a [`ConnRef`](crate::ConnRef): `backend`'s `fetch_all`,
//! `fetch_optional` and `for_each_row`, which every read goes through, ask [`taken_by`]
//! first. Everything else (writes, raw SQL, transaction control, streams) stays on sqlx's
//! path.
//!
//! What this path keeps identical to sqlx's, and how:
//! - the values bound: each [`Value`] is bound as sqlx's `Encode` for SQLite binds it (the
//!   same text for dates, times, decimals and JSON, blobs for UUIDs); a value sqlx would
//!   refuse to bind, a parameter name, a statement SQLite cannot prepare, more than one
//!   statement, or one that is not read-only (`sqlite3_stmt_readonly`, with columns) is
//!   handed to sqlx's path untouched, before anything ran or was recorded, so its error
//!   (or its result) is sqlx's own;
//! - the checks of each read: NULL into a non-`Option` field, the type check (sqlx's own
//!   `Type::compatible` on the value's storage class), integers out of range, text that is
//!   not UTF-8, and the decoders of dates, times, UUIDs and JSON, with the same errors and
//!   messages as [`SqliteRowRef`](super::SqliteRowRef);
//! - errors of the statement: sqlx's own `SqliteError` of the handle (`last_error`),
//!   through [`db_error`] with the SQL named;
//! - the statement's record (query log, `capture_queries`, counts, the `db.query` span)
//!   through the same `backend::prepare`/`Recorded::finish` as sqlx's path.
//!
//! The hazards, each with its guard:
//! - **`lock_handle` can deadlock** (sqlx 0.9): it queues an `UnlockDb` command on the
//!   worker's bounded command channel (50 slots) while joining the handle's mutex queue.
//!   When the caller wins the mutex before the worker reads that command (the worker had
//!   not yet gone back to wait for the mutex after the caller's previous unlock), the
//!   command stays queued, stale. They pile up over back-to-back locks with nothing else
//!   in between; once the channel is full, the next `lock_handle` gets the mutex but
//!   waits for a channel slot, while the worker waits for the mutex: both forever. Any
//!   command with a reply (a ping, any query) drains the queue, since the worker answers
//!   in order. sqlx's pool pings a connection when it takes it back (and, by default,
//!   when it lends it), so a pooled read cannot pile them up today; whatever the pool
//!   does, this path pings the connection after every [`PING_EVERY`]-th direct read on it
//!   (the count is kept on the handle, `sqlite3_set_clientdata`), so at most that many
//!   can be stale. (The unit test below deadlocks at the 51st read without it.)
//! - **statements must be finalized before sqlx closes the connection** (sqlx panics on a
//!   close that finds one): none is kept across calls; [`Prepared`] resets and finalizes
//!   its statement when dropped, also while a panicking decoder unwinds.
//! - **transaction control never goes through the raw handle**: only read-only statements
//!   with result columns are run here (`sqlite3_stmt_readonly`: no `BEGIN`, `COMMIT`,
//!   `SAVEPOINT` or write). A read inside a transaction runs in it, as it would on the
//!   worker (same connection, so it sees the transaction's own writes); sqlx's record of
//!   the transaction's depth is untouched, since only its worker sends transaction
//!   control. But a dropped block's rollback is queued on the worker without waiting,
//!   and stale unlock commands ahead of it could hand a read the handle before it ran
//!   (the read would see rolled-back writes): so a read that finds the connection in a
//!   transaction (`sqlite3_get_autocommit`) unlocks, pings (answered after everything
//!   queued) and locks again. Reads in transactions pay that round trip to the worker;
//!   reads outside (a `Db`'s, an evaluation's session, prefetching) do not.
//! - **stepping blocks the async thread**: the whole read runs within one poll. That is
//!   what wins (no thread hop per row), and it costs about 0.1 µs per row and column; a
//!   read of 10,000 rows holds the thread about 1 ms, less than sqlx's path spends on the
//!   same thread receiving them. A read of millions of rows holds it proportionally
//!   longer: stream such a read (`iterator()`), which stays on sqlx's path. SQLite's busy
//!   timeout applies here as on the worker: on a file database another connection's
//!   write lock makes the read wait for it on the calling thread (WAL mode avoids that).
//!
//! [`without_direct_reads`] runs a future on sqlx's path only (the tests run the value
//! round trips both ways).

use std::borrow::Cow;
use std::ffi::{CStr, c_int, c_void};
use std::ptr::NonNull;

use libsqlite3_sys as ffi;
use orm_core::{ColumnAt, Error, FromRow, Result, Statement, Value};
use sqlx::TypeInfo as _;
use sqlx::sqlite::{LockedSqliteHandle, Sqlite, SqliteConnection, SqliteTypeInfo};

use crate::backend::{db_error, short_type_name};

/// After this many direct reads on one connection, the next one pings it (see the
/// module's documentation); well under sqlx's 50-command channel.
const PING_EVERY: u32 = 16;

tokio::task_local! {
    /// Set while a future runs under [`without_direct_reads`].
    static OFF: ();
}

/// Run `fut` with every read on sqlx's own path: the SQLite backend's direct read path
/// (which steps a plain `SELECT` on the connection's handle from the calling thread) is
/// not used by the statements `fut` runs on its task. Both paths give the same rows and
/// the same errors; this is for comparing them, or for a task that must not spend a read's
/// stepping on its own thread.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let db = orm_sqlx::Db::connect("sqlite::memory:").await.unwrap();
/// let n = orm_sqlx::sqlite::without_direct_reads(async { db.execute_raw("SELECT 1").await })
///     .await
///     .unwrap();
/// # let _ = n;
/// # });
/// ```
pub async fn without_direct_reads<F: std::future::Future>(fut: F) -> F::Output {
    OFF.scope((), fut).await
}

/// Whether a statement may take the direct path: a read the compiler built, not under
/// [`without_direct_reads`].
pub(crate) fn applies(stmt: &Statement) -> bool {
    matches!(stmt.tables, orm_core::compiler::Tables::Read(_)) && OFF.try_with(|_| ()).is_err()
}

/// What [`run`] did.
enum Outcome {
    /// The statement ran here (and was recorded); its result.
    Ran(Result<()>),
    /// Nothing ran and nothing was recorded: run it on sqlx's path.
    Declined(Statement),
}

/// `conn` as a SQLite connection, when it is one and `stmt` may take the direct path
/// ([`applies`]): what `backend`'s reads ask before they go to sqlx.
pub(crate) fn taken_by<'c, C: std::any::Any>(
    conn: &'c mut C,
    stmt: &Statement,
) -> Option<&'c mut SqliteConnection> {
    let c = (conn as &mut dyn std::any::Any).downcast_mut::<SqliteConnection>()?;
    applies(stmt).then_some(c)
}

/// `fetch_all` on the direct path, or the statement back.
pub(crate) async fn fetch_all<T: FromRow>(
    conn: &mut SqliteConnection,
    stmt: Statement,
) -> std::result::Result<Result<Vec<T>>, Statement> {
    let mut out = Vec::new();
    match run(conn, stmt, None, &mut |row| {
        out.push(T::from_row(row, 0)?);
        Ok(())
    })
    .await
    {
        Outcome::Ran(r) => Ok(r.map(|()| out)),
        Outcome::Declined(stmt) => Err(stmt),
    }
}

/// `fetch_optional` on the direct path, or the statement back. As on sqlx's path, the
/// statement is stepped once, and it is recorded as read (one row or none) before the
/// row is decoded.
pub(crate) async fn fetch_optional<T: FromRow>(
    conn: &mut SqliteConnection,
    stmt: Statement,
) -> std::result::Result<Result<Option<T>>, Statement> {
    let mut first = None;
    match run(conn, stmt, Some(1), &mut |row| {
        first = Some(T::from_row(row, 0));
        Ok(())
    })
    .await
    {
        Outcome::Ran(r) => Ok(r.and_then(|()| first.transpose())),
        Outcome::Declined(stmt) => Err(stmt),
    }
}

/// `for_each_row` on the direct path, or the statement back.
pub(crate) async fn for_each_row(
    conn: &mut SqliteConnection,
    stmt: Statement,
    each: &mut (dyn FnMut(&dyn orm_core::Row) -> Result<()> + Send),
) -> std::result::Result<Result<()>, Statement> {
    match run(conn, stmt, None, &mut |row| each(row)).await {
        Outcome::Ran(r) => Ok(r),
        Outcome::Declined(stmt) => Err(stmt),
    }
}

/// Lock the handle, read, unlock, and ping when this connection's count of direct reads
/// says so.
async fn run<F>(
    conn: &mut SqliteConnection,
    stmt: Statement,
    limit: Option<u64>,
    each: &mut F,
) -> Outcome
where
    F: FnMut(&DirectRow<'_>) -> Result<()>,
{
    let mut settled = false;
    let (out, ping) = loop {
        let Ok(mut handle) = conn.lock_handle().await else {
            // The worker is gone: sqlx's path says so in its own words.
            return Outcome::Declined(stmt);
        };
        // SAFETY: the handle is locked for this thread.
        if !settled && unsafe { ffi::sqlite3_get_autocommit(handle.as_raw_handle().as_ptr()) } == 0
        {
            // In a transaction, a rollback (a transaction's or a savepoint's) may be queued
            // on the worker, sent without waiting by a block dropped just before; stale
            // unlock commands ahead of it would have handed this read the handle before
            // the worker ran it, and the read would see the rolled-back writes. A ping is
            // answered after everything queued; then lock again.
            drop(handle);
            let _ = sqlx::Connection::ping(&mut *conn).await;
            settled = true;
            continue;
        }
        let ping = count_use(&mut handle);
        break (read_locked(&mut handle, stmt, limit, each), ping);
    };
    if ping {
        // Drains the stale `UnlockDb` commands. A failure here means the worker is gone,
        // which the connection's next statement reports.
        let _ = sqlx::Connection::ping(conn).await;
    }
    out
}

/// The key of this path's state on a connection handle.
const CLIENT_DATA: &CStr = c"orm_sqlx.direct_reads";

/// Count one more direct read on this connection; `true` every [`PING_EVERY`]-th.
fn count_use(handle: &mut LockedSqliteHandle<'_>) -> bool {
    unsafe extern "C" fn free_count(p: *mut c_void) {
        // SAFETY: `p` is the `Box<u32>` leaked below; SQLite calls this once, when the
        // connection closes or the data is replaced.
        drop(unsafe { Box::from_raw(p.cast::<u32>()) });
    }
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is locked for this thread (`handle`); the client data under this key is
    // only ever a `Box<u32>` set below, read and written while the handle is locked.
    unsafe {
        let p = ffi::sqlite3_get_clientdata(db, CLIENT_DATA.as_ptr()).cast::<u32>();
        if p.is_null() {
            let p = Box::into_raw(Box::new(1u32));
            let rc =
                ffi::sqlite3_set_clientdata(db, CLIENT_DATA.as_ptr(), p.cast(), Some(free_count));
            // Out of memory: SQLite has already called the destructor; ping every time.
            return rc != ffi::SQLITE_OK;
        }
        *p = (*p).wrapping_add(1);
        *p % PING_EVERY == 0
    }
}

/// One value bound as sqlx binds it.
enum Bound<'a> {
    Null,
    Int(i32),
    Int64(i64),
    Double(f64),
    Text(Cow<'a, str>),
    Blob(Cow<'a, [u8]>),
}

/// The statement's values as sqlx's `Backend::arguments` for SQLite binds them (see
/// `bind_values!` and sqlx's `Encode` impls for SQLite); `None` for a value it refuses (a
/// list, a type this build lacks, JSON serde cannot write), left to sqlx's path.
fn bound(params: &[Value]) -> Option<Vec<Bound<'_>>> {
    params
        .iter()
        .map(|v| {
            Some(match v {
                Value::Null(_) => Bound::Null,
                Value::Bool(x) => Bound::Int(i32::from(*x)),
                Value::I16(x) => Bound::Int(i32::from(*x)),
                Value::I32(x) => Bound::Int(*x),
                Value::I64(x) => Bound::Int64(*x),
                Value::F32(x) => Bound::Double(f64::from(*x)),
                Value::F64(x) => Bound::Double(*x),
                Value::Text(x) => Bound::Text(Cow::Borrowed(x)),
                Value::Bytes(x) => Bound::Blob(Cow::Borrowed(x)),
                #[cfg(feature = "chrono")]
                Value::Date(x) => Bound::Text(x.format("%F").to_string().into()),
                #[cfg(feature = "chrono")]
                Value::Time(x) => Bound::Text(x.format("%T%.f").to_string().into()),
                #[cfg(feature = "chrono")]
                Value::DateTime(x) => Bound::Text(x.format("%F %T%.f").to_string().into()),
                #[cfg(feature = "chrono")]
                Value::DateTimeTz(x) => Bound::Text(
                    x.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
                        .into(),
                ),
                #[cfg(feature = "uuid")]
                Value::Uuid(x) => Bound::Blob(Cow::Borrowed(x.as_bytes().as_slice())),
                #[cfg(feature = "decimal")]
                Value::Decimal(x) => Bound::Text(x.to_string().into()),
                #[cfg(feature = "json")]
                Value::Json(x) => Bound::Text(
                    crate::backend::json_text(x, crate::backend::JsonFloats::Serde)
                        .ok()?
                        .into(),
                ),
                #[allow(unreachable_patterns)]
                _ => return None,
            })
        })
        .collect()
}

/// A prepared statement, reset and finalized when dropped (also while a panic unwinds),
/// so that none outlives the locked handle it was prepared on.
struct Prepared(NonNull<ffi::sqlite3_stmt>);

impl Prepared {
    /// Prepare `sql` on `db` (not persistent: it is finalized after this read). `None`
    /// when SQLite refuses it, when it holds more than one statement or none, or when it
    /// is not a read-only statement with result columns.
    ///
    /// # Safety
    /// `db` is a connection handle locked for this thread until the result is dropped.
    unsafe fn new(db: *mut ffi::sqlite3, sql: &str) -> Option<Prepared> {
        let len = c_int::try_from(sql.len()).ok()?;
        let mut stmt = std::ptr::null_mut();
        let mut tail = std::ptr::null();
        // SAFETY: `sql` is valid for `len` bytes; the out-pointers are valid.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(db, sql.as_ptr().cast(), len, 0, &mut stmt, &mut tail)
        };
        let prepared = Prepared(NonNull::new(stmt)?);
        if rc != ffi::SQLITE_OK {
            return None;
        }
        // SAFETY: `tail` points into `sql`, at or after its start.
        let used = usize::try_from(unsafe { tail.cast::<u8>().offset_from(sql.as_ptr()) }).ok()?;
        let rest = sql.get(used..)?;
        // SAFETY: `prepared` is a valid statement.
        let (readonly, columns) = unsafe {
            (
                ffi::sqlite3_stmt_readonly(prepared.ptr()) != 0,
                ffi::sqlite3_column_count(prepared.ptr()),
            )
        };
        (rest.trim().is_empty() && readonly && columns > 0).then_some(prepared)
    }

    fn ptr(&self) -> *mut ffi::sqlite3_stmt {
        self.0.as_ptr()
    }

    /// Bind `values` to the positional parameters, as sqlx does (an unbound parameter is
    /// NULL); `false` for a named parameter or a value SQLite refuses, which sqlx's path
    /// reports.
    fn bind(&self, values: &[Bound<'_>]) -> bool {
        let p = self.ptr();
        // SAFETY: `p` is a valid statement, prepared on a handle locked for this thread;
        // every pointer handed to SQLite is valid for the length given, and SQLite copies
        // it before returning (SQLITE_TRANSIENT).
        unsafe {
            let count = ffi::sqlite3_bind_parameter_count(p);
            for i in 1..=count {
                if !ffi::sqlite3_bind_parameter_name(p, i).is_null() {
                    return false;
                }
                let Some(v) = usize::try_from(i - 1).ok().and_then(|n| values.get(n)) else {
                    break;
                };
                let rc = match v {
                    Bound::Null => ffi::sqlite3_bind_null(p, i),
                    Bound::Int(x) => ffi::sqlite3_bind_int(p, i, *x),
                    Bound::Int64(x) => ffi::sqlite3_bind_int64(p, i, *x),
                    Bound::Double(x) => ffi::sqlite3_bind_double(p, i, *x),
                    Bound::Text(s) => ffi::sqlite3_bind_text64(
                        p,
                        i,
                        s.as_ptr().cast(),
                        s.len() as u64,
                        ffi::SQLITE_TRANSIENT(),
                        ffi::SQLITE_UTF8 as u8,
                    ),
                    Bound::Blob(b) => ffi::sqlite3_bind_blob64(
                        p,
                        i,
                        b.as_ptr().cast(),
                        b.len() as u64,
                        ffi::SQLITE_TRANSIENT(),
                    ),
                };
                if rc != ffi::SQLITE_OK {
                    return false;
                }
            }
        }
        true
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        // SAFETY: the statement is valid and its handle still locked for this thread
        // (`Prepared` never outlives the `read_locked` call that made it); it is not used
        // after this. Their results repeat the statement's last error, already reported.
        unsafe {
            ffi::sqlite3_reset(self.ptr());
            ffi::sqlite3_finalize(self.ptr());
        }
    }
}

/// Prepare, bind, record and step `stmt` on the locked handle, handing each row to `each`
/// (at most `limit` rows).
fn read_locked<F>(
    handle: &mut LockedSqliteHandle<'_>,
    stmt: Statement,
    limit: Option<u64>,
    each: &mut F,
) -> Outcome
where
    F: FnMut(&DirectRow<'_>) -> Result<()>,
{
    let db = handle.as_raw_handle().as_ptr();
    let Some(values) = bound(&stmt.params) else {
        return Outcome::Declined(stmt);
    };
    // SAFETY: `db` is locked for this thread while `handle` lives, which is longer than
    // `prepared` (dropped at the end of this function).
    let Some(prepared) = (unsafe { Prepared::new(db, &stmt.sql) }) else {
        drop(values);
        return Outcome::Declined(stmt);
    };
    let bound_all = prepared.bind(&values);
    drop(values);
    if !bound_all {
        return Outcome::Declined(stmt);
    }
    let (sql, _, recorded) = crate::backend::prepare::<Sqlite>(stmt);
    let p = prepared.ptr();
    // SAFETY: `p` is a valid statement.
    let columns = usize::try_from(unsafe { ffi::sqlite3_column_count(p) }).unwrap_or(0);
    let mut types = vec![ffi::SQLITE_NULL; columns];
    let mut read = 0u64;
    let out = loop {
        if limit.is_some_and(|l| read >= l) {
            break Ok(());
        }
        // SAFETY: `p` is a valid statement on a handle locked for this thread.
        match unsafe { ffi::sqlite3_step(p) } {
            ffi::SQLITE_ROW => {
                read += 1;
                for (i, t) in types.iter_mut().enumerate() {
                    // SAFETY: `i` is below the statement's column count; the storage
                    // class is read before any conversion of the value.
                    *t = unsafe { ffi::sqlite3_column_type(p, i as c_int) };
                }
                let row = DirectRow {
                    stmt: &prepared,
                    types: &types,
                };
                if let Err(e) = each(&row) {
                    break Err(e);
                }
            }
            ffi::SQLITE_DONE => break Ok(()),
            rc => {
                let e = match handle.last_error() {
                    Some(e) => sqlx::Error::Database(Box::new(e)),
                    None => sqlx::Error::Protocol(format!("SQLite step failed with code {rc}")),
                };
                break Err(db_error(&sql, e));
            }
        }
    };
    recorded.finish(out.is_ok().then_some(read));
    Outcome::Ran(out)
}

/// The current row of a statement being stepped, read in place with the checks and
/// errors of [`SqliteRowRef`](super::SqliteRowRef).
pub(crate) struct DirectRow<'s> {
    stmt: &'s Prepared,
    /// Each column's storage class in this row, read right after the step.
    types: &'s [c_int],
}

/// sqlx's type of a storage class (what `SqliteValueRef::type_info` gives for a value
/// that is not NULL), from sqlx's own `Type` impls.
fn type_info(code: c_int) -> SqliteTypeInfo {
    use sqlx::Type;
    match code {
        ffi::SQLITE_INTEGER => <i64 as Type<Sqlite>>::type_info(),
        ffi::SQLITE_FLOAT => <f64 as Type<Sqlite>>::type_info(),
        ffi::SQLITE_TEXT => <String as Type<Sqlite>>::type_info(),
        _ => <Vec<u8> as Type<Sqlite>>::type_info(),
    }
}

/// A decoder's error for column `idx` read as `T`.
fn decode_error<T>(idx: usize, message: impl std::fmt::Display) -> Error {
    Error::Decode {
        at: ColumnAt::Index(idx),
        expected: short_type_name::<T>(),
        message: message.to_string(),
    }
}

impl DirectRow<'_> {
    /// The storage class of column `idx`, as `SqliteRowRef::raw` (an index past the
    /// columns is sqlx's error).
    fn raw(&self, idx: usize) -> Result<c_int> {
        self.types.get(idx).copied().ok_or_else(|| Error::Decode {
            at: ColumnAt::Index(idx),
            expected: "a column",
            message: sqlx::Error::ColumnIndexOutOfBounds {
                index: idx,
                len: self.types.len(),
            }
            .to_string(),
        })
    }

    /// The storage class of column `idx`, unless it is NULL (as `SqliteRowRef::present`).
    fn present(&self, idx: usize, expected: fn() -> &'static str) -> Result<c_int> {
        let t = self.raw(idx)?;
        if t == ffi::SQLITE_NULL {
            return Err(Error::UnexpectedNull {
                at: ColumnAt::Index(idx),
                expected: expected(),
            });
        }
        Ok(t)
    }

    /// [`Self::present`], then sqlx's type check for `T` (as `SqliteRowRef::get`).
    fn checked<T: sqlx::Type<Sqlite>>(&self, idx: usize) -> Result<c_int> {
        let t = self.present(idx, short_type_name::<T>)?;
        let ty = type_info(t);
        if !T::compatible(&ty) {
            return Err(Error::Decode {
                at: ColumnAt::Index(idx),
                expected: short_type_name::<T>(),
                message: format!("the column holds SQL type {}", ty.name()),
            });
        }
        Ok(t)
    }

    fn col(idx: usize) -> c_int {
        // Only called after `raw` accepted `idx`, below the column count (a c_int).
        idx as c_int
    }

    fn int64(&self, idx: usize) -> i64 {
        // SAFETY: the statement is valid and on a row; `idx` is one of its columns.
        unsafe { ffi::sqlite3_column_int64(self.stmt.ptr(), Self::col(idx)) }
    }

    fn double(&self, idx: usize) -> f64 {
        // SAFETY: as in `int64`.
        unsafe { ffi::sqlite3_column_double(self.stmt.ptr(), Self::col(idx)) }
    }

    /// The value's bytes (a number converted to its text, as sqlx's value reads it).
    fn bytes(&self, idx: usize) -> &[u8] {
        let p = self.stmt.ptr();
        // SAFETY: as in `int64`. The pointer is read before the length, as SQLite
        // advises; both stay valid until the next step, reset or conversion of this value,
        // none of which can happen while `self` is borrowed.
        unsafe {
            let data = ffi::sqlite3_column_blob(p, Self::col(idx)).cast::<u8>();
            let len = usize::try_from(ffi::sqlite3_column_bytes(p, Self::col(idx))).unwrap_or(0);
            if data.is_null() || len == 0 {
                return &[];
            }
            std::slice::from_raw_parts(data, len)
        }
    }

    fn text(&self, idx: usize) -> std::result::Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(self.bytes(idx))
    }

    fn int<T>(&self, idx: usize) -> Result<T>
    where
        T: sqlx::Type<Sqlite> + TryFrom<i64, Error = std::num::TryFromIntError>,
    {
        self.checked::<T>(idx)?;
        T::try_from(self.int64(idx)).map_err(|e| decode_error::<T>(idx, e))
    }

    /// sqlx's `decode_datetime`: text in the formats sqlx reads, an integer as Unix
    /// seconds, a float as a Julian day.
    #[cfg(feature = "chrono")]
    fn datetime<T>(&self, idx: usize, t: c_int) -> Result<chrono::DateTime<chrono::FixedOffset>> {
        let dt = match t {
            ffi::SQLITE_TEXT => {
                decode_datetime_from_text(self.text(idx).map_err(|e| decode_error::<T>(idx, e))?)
            }
            ffi::SQLITE_INTEGER => decode_datetime_from_int(self.int64(idx)),
            ffi::SQLITE_FLOAT => decode_datetime_from_float(self.double(idx)),
            _ => None,
        };
        match dt {
            Some(dt) => Ok(dt),
            None => {
                let text = self.text(idx).map_err(|e| decode_error::<T>(idx, e))?;
                Err(decode_error::<T>(idx, format!("invalid datetime: {text}")))
            }
        }
    }
}

#[cfg(feature = "chrono")]
fn decode_datetime_from_text(value: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    use chrono::{DateTime, NaiveDateTime, Offset as _, TimeZone as _, Utc};
    if let Ok(dt) = DateTime::parse_from_rfc3339(value) {
        return Some(dt);
    }
    // Loosely mimicking SQLite's own formats (sqlx's list, in sqlx's order).
    const FORMATS: &[&str] = &[
        "%F %T%.f",
        "%F %R",
        "%F %RZ",
        "%F %R%:z",
        "%F %T%.fZ",
        "%F %T%.f%:z",
        "%FT%R",
        "%FT%RZ",
        "%FT%R%:z",
        "%FT%T%.f",
        "%FT%T%.fZ",
        "%FT%T%.f%:z",
    ];
    for format in FORMATS {
        if let Ok(dt) = DateTime::parse_from_str(value, format) {
            return Some(dt);
        }
        if let Ok(dt) = NaiveDateTime::parse_from_str(value, format) {
            return Some(Utc.fix().from_utc_datetime(&dt));
        }
    }
    None
}

#[cfg(feature = "chrono")]
fn decode_datetime_from_int(value: i64) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    use chrono::{Offset as _, TimeZone as _, Utc};
    Utc.fix().timestamp_opt(value, 0).single()
}

#[cfg(feature = "chrono")]
fn decode_datetime_from_float(value: f64) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    use chrono::{Offset as _, TimeZone as _, Utc};
    let epoch_in_julian_days = 2_440_587.5;
    let seconds_in_day = 86400.0;
    let timestamp = (value - epoch_in_julian_days) * seconds_in_day;
    if !timestamp.is_finite() {
        return None;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (seconds, nanos) = (
        timestamp.trunc() as i64,
        (timestamp.fract() * 1E9).abs() as u32,
    );
    Utc.fix().timestamp_opt(seconds, nanos).single()
}

impl orm_core::Row for DirectRow<'_> {
    fn backend(&self) -> &'static str {
        "SQLite"
    }
    fn column_names(&self) -> Result<Vec<&str>> {
        let p = self.stmt.ptr();
        Ok((0..self.types.len())
            .map(|i| {
                // SAFETY: `i` is below the column count; the name lives as long as the
                // statement, which outlives `self`.
                let name = unsafe { ffi::sqlite3_column_name(p, i as c_int) };
                if name.is_null() {
                    return "";
                }
                // SAFETY: SQLite's names are NUL-terminated.
                std::str::from_utf8(unsafe { CStr::from_ptr(name) }.to_bytes()).unwrap_or("")
            })
            .collect())
    }
    fn is_null(&self, idx: usize) -> Result<bool> {
        self.raw(idx).map(|t| t == ffi::SQLITE_NULL)
    }
    fn get_bool(&self, idx: usize) -> Result<bool> {
        self.checked::<bool>(idx)?;
        Ok(self.int64(idx) != 0)
    }
    fn get_i16(&self, idx: usize) -> Result<i16> {
        self.int(idx)
    }
    fn get_i32(&self, idx: usize) -> Result<i32> {
        self.int(idx)
    }
    fn get_i64(&self, idx: usize) -> Result<i64> {
        self.checked::<i64>(idx)?;
        Ok(self.int64(idx))
    }
    fn get_f32(&self, idx: usize) -> Result<f32> {
        self.checked::<f32>(idx)?;
        #[allow(clippy::cast_possible_truncation)]
        Ok(self.double(idx) as f32)
    }
    fn get_f64(&self, idx: usize) -> Result<f64> {
        self.checked::<f64>(idx)?;
        Ok(self.double(idx))
    }
    fn get_string(&self, idx: usize) -> Result<String> {
        self.checked::<String>(idx)?;
        self.text(idx)
            .map(str::to_owned)
            .map_err(|e| decode_error::<String>(idx, e))
    }
    fn get_bytes(&self, idx: usize) -> Result<Vec<u8>> {
        self.checked::<Vec<u8>>(idx)?;
        Ok(self.bytes(idx).to_vec())
    }
    #[cfg(feature = "chrono")]
    fn get_date(&self, idx: usize) -> Result<chrono::NaiveDate> {
        type T = chrono::NaiveDate;
        self.checked::<T>(idx)?;
        let text = self.text(idx).map_err(|e| decode_error::<T>(idx, e))?;
        T::parse_from_str(text, "%F").map_err(|e| decode_error::<T>(idx, e))
    }
    #[cfg(feature = "chrono")]
    fn get_time(&self, idx: usize) -> Result<chrono::NaiveTime> {
        type T = chrono::NaiveTime;
        self.checked::<T>(idx)?;
        let text = self.text(idx).map_err(|e| decode_error::<T>(idx, e))?;
        #[rustfmt::skip]
        const FORMATS: &[&str] = &[
            "%T.f", "%T%.f",
            "%R", "%RZ", "%T%.fZ", "%R%:z", "%T%.f%:z",
        ];
        FORMATS
            .iter()
            .find_map(|f| T::parse_from_str(text, f).ok())
            .ok_or_else(|| decode_error::<T>(idx, format!("invalid time: {text}")))
    }
    #[cfg(feature = "chrono")]
    fn get_datetime(&self, idx: usize) -> Result<chrono::NaiveDateTime> {
        type T = chrono::NaiveDateTime;
        let t = self.checked::<T>(idx)?;
        Ok(self.datetime::<T>(idx, t)?.naive_local())
    }
    #[cfg(feature = "chrono")]
    fn get_datetime_utc(&self, idx: usize) -> Result<chrono::DateTime<chrono::Utc>> {
        use chrono::TimeZone as _;
        type T = chrono::DateTime<chrono::Utc>;
        let t = self.checked::<T>(idx)?;
        let dt = self.datetime::<T>(idx, t)?;
        Ok(chrono::Utc.from_utc_datetime(&dt.naive_utc()))
    }
    #[cfg(feature = "uuid")]
    fn get_uuid(&self, idx: usize) -> Result<uuid::Uuid> {
        type T = uuid::Uuid;
        self.checked::<T>(idx)?;
        T::from_slice(self.bytes(idx)).map_err(|e| decode_error::<T>(idx, e))
    }
    #[cfg(feature = "json")]
    fn get_json(&self, idx: usize) -> Result<serde_json::Value> {
        type T = serde_json::Value;
        self.checked::<T>(idx)?;
        serde_json::from_slice(self.bytes(idx)).map_err(|e| decode_error::<T>(idx, e))
    }
    #[cfg(feature = "decimal")]
    fn get_decimal(&self, idx: usize) -> Result<rust_decimal::Decimal> {
        // As `SqliteRowRef::get_decimal`: the value's text, whatever its storage class.
        let decode_error = crate::backend::decimal_error(idx);
        self.present(idx, || "Decimal")?;
        let text = self.text(idx).map_err(|e| {
            decode_error(
                sqlx::Error::ColumnDecode {
                    index: format!("{idx:?}"),
                    source: Box::new(e),
                }
                .to_string(),
            )
        })?;
        orm_core::value::exact_decimal::parse(text).map_err(decode_error)
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Connection as _;

    use super::*;

    /// sqlx's pool pings a connection when it takes it back, which drains stale `UnlockDb`
    /// commands; a connection read on many times in a row without going back to the pool
    /// has only this path's own ping (seen deadlocking at the 51st read without it).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn back_to_back_direct_reads_on_one_connection_complete() {
        let options = crate::sqlite::connect_options("sqlite::memory:").unwrap();
        let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
        let reads = async {
            for i in 0..200 {
                let mut stmt = Statement::new("SELECT ?", vec![Value::I64(i)]);
                stmt.tables = orm_core::compiler::Tables::Read(Vec::new());
                let Ok(rows) = fetch_all::<i64>(&mut conn, stmt).await else {
                    panic!("the direct path declined `SELECT ?`");
                };
                assert_eq!(rows.unwrap(), vec![i]);
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), reads)
            .await
            .expect("back-to-back direct reads deadlocked in lock_handle");
        conn.close().await.unwrap();
    }
}
