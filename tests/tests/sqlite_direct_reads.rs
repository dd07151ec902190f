//! SQLite's direct read path (issue 16): a plain read (on a pooled `Db`, a `Connection`,
//! in a transaction or an atomic block, on a `ConnRef`) is stepped on the connection's
//! raw handle from the calling thread instead of sqlx's worker. These tests
//! hold it to its hazards (the `lock_handle` deadlock, a panicking decoder) and to giving
//! what sqlx's path gives (`orm_sqlx::sqlite::without_direct_reads` runs a read there):
//! the same values and the same errors for every stored value read as every type, and the
//! same statements in the query log. The value round trips (`value_roundtrip.rs`) run on
//! both paths too.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use orm_sqlx::core::compiler::Tables;
use orm_sqlx::prelude::*;
use orm_sqlx::sqlite::without_direct_reads;
use orm_sqlx::sqlx::Connection as _;
use orm_sqlx::{Row, SqlType, Statement, Value};

#[derive(Model, Debug, Clone, PartialEq)]
struct DirectItem {
    id: i64,
    n: i32,
    name: String,
}

/// A compiled-looking read of `sql` (what the direct path takes: `Tables::Read`).
fn read(sql: &str, params: Vec<Value>) -> Statement {
    let mut stmt = Statement::new(sql, params);
    stmt.tables = Tables::Read(vec!["direct_item"]);
    stmt
}

async fn memory_db_with_items(n: i32) -> Db {
    let db = Db::connect("sqlite::memory:").await.unwrap();
    db.create_table::<DirectItem>().await.unwrap();
    for i in 1..=n {
        DirectItem {
            id: 0,
            n: i,
            name: format!("item {i}"),
        }
        .insert(&db)
        .await
        .unwrap();
    }
    db
}

/// sqlx's prepared statements on the pool's only connection (after `clear`, only the
/// reads sqlx's path ran add one).
async fn cached(db: &Db) -> usize {
    let c = db.sqlite_pool().unwrap().acquire().await.unwrap();
    c.cached_statements_size()
}

async fn clear(db: &Db) {
    let mut c = db.sqlite_pool().unwrap().acquire().await.unwrap();
    c.clear_cached_statements().await.unwrap();
}

#[tokio::test]
async fn plain_reads_take_the_direct_path_and_without_direct_reads_takes_sqlx() {
    let db = memory_db_with_items(3).await;
    clear(&db).await;
    let all = DirectItem::objects()
        .order_by(|m| m.id.asc())
        .fetch(&db)
        .await
        .unwrap()
        .to_vec();
    assert_eq!(all.len(), 3);
    let first = DirectItem::objects()
        .filter(|m| m.n.eq(2))
        .first(&db)
        .await
        .unwrap();
    assert_eq!(first.as_ref(), all.get(1));
    assert_eq!(DirectItem::objects().count(&db).await.unwrap(), 3);
    assert_eq!(
        cached(&db).await,
        0,
        "the direct path prepares and finalizes its own statements"
    );
    let again = without_direct_reads(DirectItem::objects().order_by(|m| m.id.asc()).fetch(&db))
        .await
        .unwrap()
        .to_vec();
    assert_eq!(again, all);
    assert_eq!(cached(&db).await, 1, "sqlx's path ran the read");
}

#[tokio::test]
async fn the_query_log_sees_the_same_statements_on_both_paths() {
    let db = memory_db_with_items(4).await;
    let reads = || async {
        let some = DirectItem::objects()
            .filter(|m| m.n.gt(1))
            .order_by(|m| m.id.asc())
            .fetch(&db)
            .await
            .unwrap()
            .to_vec();
        let none = DirectItem::objects()
            .filter(|m| m.n.gt(100))
            .fetch(&db)
            .await
            .unwrap()
            .to_vec();
        let first = DirectItem::objects()
            .filter(|m| m.name.eq("item 3"))
            .first(&db)
            .await
            .unwrap();
        let missing = DirectItem::objects().get(&db).await.map(|_| ());
        (some, none, first, format!("{missing:?}"))
    };
    let (direct, direct_log) = capture_queries(reads()).await;
    let (sqlx, sqlx_log) = capture_queries(without_direct_reads(reads())).await;
    assert_eq!(direct, sqlx);
    let shown = |log: &[orm_sqlx::CapturedQuery]| {
        log.iter()
            .map(|q| {
                let rows = q.rows;
                (q.sql.to_string(), q.params.clone(), q.kind, rows)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(direct_log.len(), 4);
    assert!(direct_log.iter().all(|q| q.duration.is_some()));
    let (mut direct_log, mut sqlx_log) = (shown(&direct_log), shown(&sqlx_log));
    // The one difference: a read of no rows. The direct path logs 0; sqlx's logs its
    // result's `rows_affected`, SQLite's `sqlite3_changes()`, which a SELECT leaves at
    // the connection's last write (here the fourth insert: 1).
    assert_eq!((direct_log[1].3, sqlx_log[1].3), (Some(0), Some(1)));
    direct_log[1].3 = None;
    sqlx_log[1].3 = None;
    assert_eq!(direct_log, sqlx_log);
}

/// sqlx 0.9's `lock_handle` queues an `UnlockDb` command that can go stale; 50 of them
/// fill the worker's command channel and the next lock waits forever (seen after 51
/// empty lock/unlock cycles). The pool's ping on lending (`test_before_acquire`) would
/// drain them: this pool does not ping, so only the direct path's own guard does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_back_to_back_direct_reads_on_one_connection_complete() {
    let pool = orm_sqlx::sqlite::pool_options()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
        .connect_with(orm_sqlx::sqlite::connect_options("sqlite::memory:").unwrap())
        .await
        .unwrap();
    let db = Db::from(pool);
    db.create_table::<DirectItem>().await.unwrap();
    let reads = async {
        for _ in 0..100 {
            assert!(DirectItem::objects().fetch(&db).await.unwrap().is_empty());
            assert!(DirectItem::objects().first(&db).await.unwrap().is_none());
        }
        // The shortest reads: the handle is locked for a few microseconds.
        for _ in 0..1000 {
            let mut ex = &db;
            let one: Option<i64> = ex.fetch_optional(read("SELECT 1", vec![])).await.unwrap();
            assert_eq!(one, Some(1));
        }
    };
    tokio::time::timeout(Duration::from_secs(60), reads)
        .await
        .expect("back-to-back direct reads deadlocked in lock_handle");
    assert_eq!(cached(&db).await, 1, "only CREATE TABLE went through sqlx");
}

/// Reads `n` and panics at 5, in the middle of the rows.
struct Boom;

impl FromRow for Boom {
    fn width() -> usize {
        1
    }
    fn from_row<R: Row + ?Sized>(row: &R, offset: usize) -> orm_sqlx::Result<Self> {
        if row.get_i64(offset)? == 5 {
            panic!("a decoder panics mid-read");
        }
        Ok(Boom)
    }
}

#[tokio::test]
async fn a_decoder_that_panics_mid_read_leaves_no_statement_and_a_usable_connection() {
    let db = memory_db_with_items(10).await;
    clear(&db).await;
    let stmt = || read("SELECT n FROM direct_item ORDER BY id", vec![]);
    let panicked = AssertUnwindSafe(async {
        let mut ex = &db;
        ex.fetch_all::<Boom>(stmt()).await.map(|_| ())
    })
    .catch_unwind()
    .await;
    assert!(panicked.is_err(), "the decoder panicked");
    let panicked = AssertUnwindSafe(async {
        let mut ex = &db;
        ex.for_each_row(stmt(), &mut |row| {
            if row.get_i64(0)? == 5 {
                panic!("a row visitor panics mid-read");
            }
            Ok(())
        })
        .await
    })
    .catch_unwind()
    .await;
    assert!(panicked.is_err(), "the visitor panicked");
    {
        let mut conn = db.sqlite_pool().unwrap().acquire().await.unwrap();
        let mut handle = conn.lock_handle().await.unwrap();
        let db_handle = handle.as_raw_handle().as_ptr();
        // SAFETY: the handle is locked for this thread; `sqlite3_next_stmt` only reads
        // the connection's list of statements.
        let left = unsafe { libsqlite3_sys::sqlite3_next_stmt(db_handle, std::ptr::null_mut()) };
        assert!(left.is_null(), "a statement of the panicked reads was left");
    }
    // Usable, on both paths.
    assert_eq!(DirectItem::objects().fetch(&db).await.unwrap().len(), 10);
    let all = DirectItem::objects();
    let on_sqlx = without_direct_reads(all.fetch(&db)).await.unwrap();
    assert_eq!(on_sqlx.len(), 10);
    // And sqlx can close it (it refuses a connection with a statement left open).
    let conn = db.sqlite_pool().unwrap().acquire().await.unwrap().detach();
    tokio::time::timeout(Duration::from_secs(10), conn.close())
        .await
        .expect("closing the connection hung")
        .expect("sqlx closes the connection");
}

/// The reads [`one_read`] makes, one per query (sqlx's row refuses to read a cell as a
/// number after reading it as text).
const READS: usize = 4 + 2 * 15;

/// Read `k` of column 0 (or of a column that is not there), as `Debug` text.
fn one_read(row: &dyn Row, k: usize) -> String {
    let types = [
        SqlType::Bool,
        SqlType::I16,
        SqlType::I32,
        SqlType::I64,
        SqlType::F32,
        SqlType::F64,
        SqlType::Text,
        SqlType::Bytes,
        SqlType::Date,
        SqlType::Time,
        SqlType::DateTime,
        SqlType::DateTimeTz,
        SqlType::Uuid,
        SqlType::Decimal,
        SqlType::Json,
    ];
    match k {
        0 => format!("{:?}", row.is_null(0)),
        1 => format!("{:?}", row.is_null(9)),
        2 => format!("{:?}", row.column_names()),
        3 => format!("{:?}", row.get_i64(7)),
        _ if k.is_multiple_of(2) => match types[(k - 4) / 2] {
            SqlType::Bool => format!("{:?}", row.get_bool(0)),
            SqlType::I16 => format!("{:?}", row.get_i16(0)),
            SqlType::I32 => format!("{:?}", row.get_i32(0)),
            SqlType::I64 => format!("{:?}", row.get_i64(0)),
            SqlType::F32 => format!("{:?}", row.get_f32(0)),
            SqlType::F64 => format!("{:?}", row.get_f64(0)),
            SqlType::Text => format!("{:?}", row.get_string(0)),
            SqlType::Bytes => format!("{:?}", row.get_bytes(0)),
            SqlType::Date => format!("{:?}", row.get_date(0)),
            SqlType::Time => format!("{:?}", row.get_time(0)),
            SqlType::DateTime => format!("{:?}", row.get_datetime(0)),
            SqlType::DateTimeTz => format!("{:?}", row.get_datetime_utc(0)),
            SqlType::Uuid => format!("{:?}", row.get_uuid(0)),
            SqlType::Decimal => format!("{:?}", row.get_decimal(0)),
            SqlType::Json => format!("{:?}", row.get_json(0)),
        },
        // Through `Value::read`, which asks `is_null` first.
        _ => format!("{:?}", Value::read(row, 0, types[(k - 4) / 2])),
    }
}

/// Every stored value (each storage class, edges, malformed text for each parser) read as
/// every type: the direct path gives exactly what sqlx's path gives, value or error.
#[tokio::test]
async fn every_stored_value_reads_the_same_as_every_type_on_both_paths() {
    let literals = [
        "NULL",
        "0",
        "1",
        "-1",
        "32767",
        "32768",
        "-2147483649",
        "2147483647",
        "9223372036854775807",
        "-9223372036854775808",
        "1.5",
        "-0.0",
        "1e300",
        "2460000.5",
        "1700000000",
        "''",
        "'text'",
        "'héllo ✓'",
        "'2024-02-29'",
        "'2024-02-30'",
        "'12:34:56.789'",
        "'25:00'",
        "'2024-02-29 12:34:56'",
        "'2024-02-29T12:34:56.5Z'",
        "'2024-02-29 12:34:56+02:00'",
        "'not a date'",
        "'1.50'",
        "'-0.000'",
        "'123456789012345678901234567890.5'",
        "'1e5'",
        "'{\"a\": [1, 2.5, null]}'",
        "'[1,'",
        "'\"s\"'",
        "'67e55044-10b1-426f-9247-bb680e5fe0c8'",
        "x''",
        "x'00ff'",
        "x'67e5504410b1426f9247bb680e5fe0c8'",
        "CAST(x'ff' AS TEXT)",
        "x'7b7d'",
    ];
    let db = Db::connect("sqlite::memory:").await.unwrap();
    // No declared type: each value keeps the storage class it was written with.
    db.execute_raw("CREATE TABLE direct_item (id INTEGER PRIMARY KEY, v)")
        .await
        .unwrap();
    for (i, lit) in literals.iter().enumerate() {
        db.execute_raw(&format!(
            "INSERT INTO direct_item (id, v) VALUES ({}, {lit})",
            i + 1
        ))
        .await
        .unwrap();
    }
    for (i, lit) in literals.iter().enumerate() {
        let id = i64::try_from(i + 1).unwrap();
        for k in 0..READS {
            let once = || async {
                let mut got = None;
                let stmt = read(
                    "SELECT v AS value, id FROM direct_item WHERE id = ?",
                    vec![Value::I64(id)],
                );
                let mut ex = &db;
                let r = ex
                    .for_each_row(stmt, &mut |row| {
                        got = Some(one_read(row, k));
                        Ok(())
                    })
                    .await;
                (r.map_err(|e| e.to_string()), got)
            };
            let direct = once().await;
            let sqlx = without_direct_reads(once()).await;
            assert!(direct.1.is_some(), "{lit}: no row");
            assert_eq!(
                direct, sqlx,
                "{lit}, read {k}: the direct path differs from sqlx's"
            );
        }
    }
}

/// A statement that fails while stepping, a statement SQLite cannot prepare and a value
/// sqlx cannot bind give the same errors on both paths.
#[tokio::test]
async fn errors_are_the_same_on_both_paths() {
    let db = memory_db_with_items(3).await;
    let cases = [
        // Fails at the first step: the ORM's checked arithmetic.
        read(
            "SELECT orm_i64(n, '*', 9223372036854775807) FROM direct_item ORDER BY id",
            vec![],
        ),
        // SQLite's own integer overflow, in an aggregate.
        read(
            "SELECT SUM(x) FROM (SELECT 9223372036854775807 AS x UNION ALL SELECT 1)",
            vec![],
        ),
        // An invalid pattern for the ORM's REGEXP.
        read(
            "SELECT n FROM direct_item WHERE name REGEXP ?",
            vec![Value::Text("(".into())],
        ),
        // SQLite cannot prepare it.
        read("SELECT nope FROM direct_item", vec![]),
        read("SELECT n FROM no_such_table", vec![]),
        // A list: SQLite has no array parameter.
        read(
            "SELECT n FROM direct_item WHERE n = ?",
            vec![Value::List(SqlType::I32, vec![Value::I32(1)])],
        ),
        // Fewer values than parameters: the rest are NULL.
        read("SELECT ? IS NULL, ? FROM direct_item", vec![Value::I32(1)]),
        // Every kind of value bound.
        read(
            "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?",
            vec![
                Value::Null(SqlType::Date),
                Value::Bool(true),
                Value::I16(-7),
                Value::I32(i32::MIN),
                Value::I64(i64::MAX),
                Value::F32(0.1),
                Value::F64(-2.5e-300),
                Value::Text("t ✓".into()),
                Value::Bytes(vec![0, 1, 255]),
                Value::Date(chrono::NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()),
                Value::Time(chrono::NaiveTime::from_hms_nano_opt(1, 2, 3, 4000).unwrap()),
                Value::DateTime(
                    chrono::NaiveDate::from_ymd_opt(2024, 2, 29)
                        .unwrap()
                        .and_hms_milli_opt(23, 59, 59, 999)
                        .unwrap(),
                ),
                Value::DateTimeTz(chrono::DateTime::from_timestamp(1_700_000_000, 5).unwrap()),
                Value::Uuid(uuid::Uuid::from_u128(
                    0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8,
                )),
                Value::Decimal("-1.500".parse().unwrap()),
                Value::Json(serde_json::json!({"k": [1, 2.0, -0.0, "x"]})),
            ],
        ),
    ];
    for stmt in cases {
        let sql = stmt.sql.clone();
        let once = |stmt: Statement| async {
            let mut rows = Vec::new();
            let mut ex = &db;
            let r = ex
                .for_each_row(stmt, &mut |row| {
                    let mut cells = Vec::new();
                    for i in 0..16 {
                        cells.push(format!(
                            "{:?} {:?} {:?} {:?}",
                            row.is_null(i),
                            row.get_i64(i),
                            row.get_f64(i),
                            row.get_bytes(i)
                        ));
                    }
                    rows.push(cells);
                    Ok(())
                })
                .await;
            (format!("{r:?}"), rows)
        };
        let direct = once(stmt.clone()).await;
        let sqlx = without_direct_reads(once(stmt)).await;
        assert_eq!(direct, sqlx, "{sql}");
    }
}

/// How many statements sqlx's path prepared on the pool's only connection while `f` ran
/// (the cache cleared first).
async fn prepared_by_sqlx<F: std::future::Future<Output = ()>>(db: &Db, f: F) -> usize {
    clear(db).await;
    f.await;
    cached(db).await
}

/// A `Connection`'s reads, a transaction's and a savepoint's take the direct path too
/// (an evaluation's session is a `Connection`): nothing but `BEGIN`/`COMMIT` reaches
/// sqlx, and the rows are sqlx's.
#[tokio::test]
async fn reads_on_a_connection_and_in_a_transaction_take_the_direct_path() {
    let db = memory_db_with_items(3).await;
    let expected = without_direct_reads(DirectItem::objects().order_by(|m| m.id.asc()).fetch(&db))
        .await
        .unwrap()
        .to_vec();
    let on_connection = prepared_by_sqlx(&db, async {
        let mut c = db.acquire().await.unwrap();
        let rows = DirectItem::objects()
            .order_by(|m| m.id.asc())
            .into_vec(&mut c)
            .await
            .unwrap();
        assert_eq!(rows, expected);
        let one = DirectItem::objects()
            .filter(|m| m.n.eq(2))
            .first(&mut c)
            .await
            .unwrap();
        assert_eq!(one.as_ref(), expected.get(1));
        assert_eq!(DirectItem::objects().count(&mut c).await.unwrap(), 3);
    })
    .await;
    assert_eq!(on_connection, 0, "a Connection's reads went through sqlx");

    let empty_tx = prepared_by_sqlx(&db, async {
        db.begin().await.unwrap().commit().await.unwrap();
    })
    .await;
    let in_tx = prepared_by_sqlx(&db, async {
        let mut tx = db.begin().await.unwrap();
        let rows = DirectItem::objects()
            .order_by(|m| m.id.asc())
            .into_vec(&mut tx)
            .await
            .unwrap();
        assert_eq!(rows, expected);
        assert_eq!(DirectItem::objects().count(&mut tx).await.unwrap(), 3);
        tx.commit().await.unwrap();
    })
    .await;
    assert_eq!(in_tx, empty_tx, "a transaction's reads went through sqlx");
    let in_tx_sqlx = prepared_by_sqlx(&db, async {
        let mut tx = db.begin().await.unwrap();
        let rows = without_direct_reads(DirectItem::objects().into_vec(&mut tx))
            .await
            .unwrap();
        assert_eq!(rows.len(), 3);
        tx.commit().await.unwrap();
    })
    .await;
    assert_eq!(
        in_tx_sqlx,
        empty_tx + 1,
        "without_direct_reads in a transaction"
    );

    let in_atomic = prepared_by_sqlx(&db, async {
        let n = db
            .atomic(|tx| {
                Box::pin(async move {
                    tx.atomic(|sp| {
                        Box::pin(async move { DirectItem::objects().count(&mut *sp).await })
                    })
                    .await
                })
            })
            .await
            .unwrap();
        assert_eq!(n, 3);
    })
    .await;
    let empty_atomic = prepared_by_sqlx(&db, async {
        db.atomic(|tx| Box::pin(async move { tx.atomic(|_| Box::pin(async { Ok(()) })).await }))
            .await
            .unwrap();
    })
    .await;
    assert_eq!(
        in_atomic, empty_atomic,
        "a savepoint's read went through sqlx"
    );
}

/// Inside a transaction the direct path reads the transaction's own uncommitted writes,
/// exactly as sqlx's path does, and a rollback after direct reads undoes the writes.
#[tokio::test]
async fn a_transaction_reads_its_own_writes_on_the_direct_path_and_rolls_back() {
    let db = memory_db_with_items(3).await;
    let mut tx = db.begin().await.unwrap();
    DirectItem {
        id: 0,
        n: 99,
        name: "uncommitted".into(),
    }
    .insert(&mut tx)
    .await
    .unwrap();
    DirectItem::objects()
        .filter(|m| m.n.eq(1))
        .update(|m| [m.name.set("renamed")], &mut tx)
        .await
        .unwrap();
    let direct = DirectItem::objects()
        .order_by(|m| m.id.asc())
        .into_vec(&mut tx)
        .await
        .unwrap();
    let sqlx = without_direct_reads(
        DirectItem::objects()
            .order_by(|m| m.id.asc())
            .into_vec(&mut tx),
    )
    .await
    .unwrap();
    assert_eq!(direct, sqlx);
    assert_eq!(direct.len(), 4);
    assert_eq!(direct[0].name, "renamed");
    assert_eq!(direct[3].name, "uncommitted");
    tx.rollback().await.unwrap();
    let after = DirectItem::objects()
        .order_by(|m| m.id.asc())
        .into_vec(&db)
        .await
        .unwrap();
    assert_eq!(after.len(), 3);
    assert_eq!(after[0].name, "item 1");
}

/// A transaction holds its connection: the pool's pings never reach it, so only the
/// direct path's own ping keeps back-to-back reads from piling up stale unlock commands
/// (see `two_hundred_back_to_back_direct_reads_on_one_connection_complete`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_direct_reads_in_one_transaction_complete() {
    let db = memory_db_with_items(1).await;
    let mut tx = db.begin().await.unwrap();
    let reads = async {
        for _ in 0..1000 {
            assert_eq!(
                DirectItem::objects().into_vec(&mut tx).await.unwrap().len(),
                1
            );
            let mut ex = &mut tx;
            let one: Option<i64> = ex.fetch_optional(read("SELECT 1", vec![])).await.unwrap();
            assert_eq!(one, Some(1));
        }
    };
    tokio::time::timeout(Duration::from_secs(60), reads)
        .await
        .expect("back-to-back direct reads in a transaction deadlocked in lock_handle");
    tx.commit().await.unwrap();
}

/// A prefetch's queries run on its evaluation's session (a `Connection`): all on the
/// direct path, with the rows and the query count sqlx's path gives.
#[tokio::test]
async fn a_prefetch_reads_through_its_session_on_the_direct_path() {
    use orm_tests::library::{Author, load};
    let db = Db::connect("sqlite::memory:").await.unwrap();
    load(&db).await;
    let names = |rows: &[Author]| -> Vec<(String, Vec<String>)> {
        rows.iter()
            .map(|a| {
                let books = a
                    .books
                    .all()
                    .unwrap()
                    .iter()
                    .map(|b| b.title.clone())
                    .collect();
                (a.name.clone(), books)
            })
            .collect()
    };
    let qs = || {
        Author::objects()
            .order_by(|a| a.id.asc())
            .prefetch_related(|a| a.books().tags())
    };
    let sqlx_rows = without_direct_reads(qs().into_vec(&db)).await.unwrap();
    let mut direct_rows = Vec::new();
    let prepared = prepared_by_sqlx(&db, async {
        let (rows, q) = capture_queries(qs().into_vec(&db)).await;
        assert_eq!(q.len(), 3, "{q:#?}");
        direct_rows = rows.unwrap();
    })
    .await;
    assert_eq!(prepared, 0, "a prefetch's queries went through sqlx");
    assert_eq!(names(&direct_rows), names(&sqlx_rows));
    assert!(
        names(&direct_rows)
            .iter()
            .any(|(_, books)| !books.is_empty())
    );
}

/// A `ConnRef` on the user's own sqlx connection reads on the direct path, and leaves
/// the connection usable by sqlx.
#[tokio::test]
async fn a_conn_ref_reads_on_the_direct_path() {
    let db = memory_db_with_items(2).await;
    let mut raw = db.sqlite_pool().unwrap().acquire().await.unwrap();
    raw.clear_cached_statements().await.unwrap();
    let rows = DirectItem::objects()
        .order_by(|m| m.id.asc())
        .into_vec(orm_sqlx::ConnRef::from(&mut *raw))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(raw.cached_statements_size(), 0);
    raw.ping().await.unwrap();
}

/// The reads of an atomic block the ORM opens itself (`Executor::atomic`: a delete's
/// cascade collects the related rows with SELECTs inside it) take the direct path too:
/// sqlx prepares only the writes, and the result is sqlx's path's.
#[tokio::test]
async fn a_cascading_deletes_reads_inside_its_block_take_the_direct_path() {
    use orm_tests::library::{Author, Book, load};
    async fn delete_alice(db: &Db) -> u64 {
        let deleted = Author::objects()
            .filter(|a| a.name.eq("Alice"))
            .delete(db)
            .await
            .unwrap();
        deleted.total
    }
    let direct_db = Db::connect("sqlite::memory:").await.unwrap();
    load(&direct_db).await;
    let sqlx_db = Db::connect("sqlite::memory:").await.unwrap();
    load(&sqlx_db).await;
    let mut direct = 0;
    let on_direct = prepared_by_sqlx(&direct_db, async {
        direct = delete_alice(&direct_db).await;
    })
    .await;
    let mut sqlx = 0;
    let on_sqlx = prepared_by_sqlx(&sqlx_db, async {
        sqlx = without_direct_reads(delete_alice(&sqlx_db)).await;
    })
    .await;
    assert_eq!(direct, sqlx);
    assert!(direct > 1, "the delete cascaded: {direct}");
    async fn left(db: &Db) -> Vec<String> {
        let books = Book::objects().order_by(|b| b.id.asc()).into_vec(db).await;
        books.unwrap().into_iter().map(|b| b.title).collect()
    }
    assert_eq!(left(&direct_db).await, left(&sqlx_db).await);
    assert!(
        on_direct < on_sqlx,
        "the block's reads went through sqlx: {on_direct} prepared, {on_sqlx} without the \
         direct path"
    );
}
