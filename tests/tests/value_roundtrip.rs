//! Property: every value of every field type, and of `Option` of it, either round-trips
//! exactly on every backend — written, read back, found by equality, sorted in its place —
//! or is refused with the documented typed error before any query. Never a different value.
//!
//! Per type, one table (`v: T`, `o: Option<T>`) per backend, created once; each case
//! writes a handful of values (edge values most of the time, random ones otherwise), then
//! reads, filters and sorts them. `ORM_PROPTEST_CASES` sets the number of cases per type.
//!
//! What is refused (`Error::InvalidValue`, naming `Model.field`), the same on every
//! backend: NaN; a NUL character in text or in a JSON string or key; a date or datetime
//! outside years 1–9999; a time with nanoseconds or on a leap second.
//!
//! Documented leeway: SQLite and MySQL store a zero float without its sign, so -0.0 reads
//! back as 0.0 there (PostgreSQL keeps it; all compare it equal to 0.0). A decimal's sign
//! of zero is not kept by PostgreSQL's NUMERIC either (-0.00 reads as 0.00, same scale).
//! JSON has no order the ORM promises (each database sorts it its own way), so it is not
//! sorted here. NULL sorts first in ascending order on SQLite and MySQL and last on
//! PostgreSQL (none is changed, as in Django). Text sorts by code point on SQLite and MySQL
//! (the ORM's binary collation) and by the database's collation on PostgreSQL: the check
//! runs when that collation is C or C.UTF-8, as in the suite's database.
//!
//! Each case also reads the rows through the query cache (issue 15), a miss then a hit:
//! both must give exactly what the database gave.
//!
//! MySQL only: ±infinity is refused too (`Error::InvalidValue`: its FLOAT and DOUBLE have
//! none), and a decimal reads back without trailing zeros (`1.50` as `1.5`: its
//! DECIMAL(65, 30) column has one scale), equal by value.

use std::cmp::Ordering;
use std::fmt::Debug;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use orm_sqlx::CacheOutcome;
use orm_sqlx::prelude::*;
use orm_tests::{Backend, TestDb, required_backends};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rust_decimal::Decimal;

/// What the checks need to know of a value type.
struct Spec<T> {
    /// The reason word of the documented refusal, if the value is refused on `backend`.
    refused: fn(Backend, &T) -> Option<&'static str>,
    /// Whether `got` (read back on `backend`) is the value `want` that was written.
    same: fn(Backend, &T, &T) -> bool,
    /// The order the databases sort by, if the ORM promises one.
    order: Option<fn(&T, &T) -> Ordering>,
}

/// A model with one column of the type and one of `Option` of it.
trait RoundTrip: Model<Pk = i64> + Clone + Debug {
    type T: Clone + Debug + PartialEq + Send + Sync + 'static;
    fn new(v: Self::T, o: Option<Self::T>) -> Self;
    fn v(&self) -> &Self::T;
    fn o(&self) -> &Option<Self::T>;
    fn with_v(v: Self::T) -> QuerySet<Self, i64>;
    fn with_o(o: Option<Self::T>) -> QuerySet<Self, i64>;
    fn sorted_by_v() -> QuerySet<Self, i64>;
    fn sorted_by_o() -> QuerySet<Self, i64>;
    fn by_id() -> QuerySet<Self>;
}

macro_rules! round_trip_model {
    ($model:ident, $t:ty) => {
        /// The default table name: the struct's in snake case.
        #[derive(Model, Debug, Clone, PartialEq)]
        struct $model {
            id: i64,
            v: $t,
            o: Option<$t>,
        }

        impl RoundTrip for $model {
            type T = $t;
            fn new(v: $t, o: Option<$t>) -> Self {
                $model { id: 0, v, o }
            }
            fn v(&self) -> &$t {
                &self.v
            }
            fn o(&self) -> &Option<$t> {
                &self.o
            }
            fn with_v(v: $t) -> QuerySet<Self, i64> {
                $model::objects().filter(|m| m.v.eq(v)).values(|m| m.id)
            }
            fn with_o(o: Option<$t>) -> QuerySet<Self, i64> {
                $model::objects().filter(|m| m.o.eq(o)).values(|m| m.id)
            }
            fn sorted_by_v() -> QuerySet<Self, i64> {
                $model::objects()
                    .order_by(|m| [m.v.asc(), m.id.asc()])
                    .values(|m| m.id)
            }
            fn sorted_by_o() -> QuerySet<Self, i64> {
                $model::objects()
                    .order_by(|m| [m.o.asc(), m.id.asc()])
                    .values(|m| m.id)
            }
            fn by_id() -> QuerySet<Self> {
                $model::objects().order_by(|m| m.id.asc())
            }
        }
    };
}

round_trip_model!(RtBool, bool);
round_trip_model!(RtI16, i16);
round_trip_model!(RtI32, i32);
round_trip_model!(RtI64, i64);
round_trip_model!(RtF32, f32);
round_trip_model!(RtF64, f64);
round_trip_model!(RtText, String);
round_trip_model!(RtBytes, Vec<u8>);
round_trip_model!(RtDate, NaiveDate);
round_trip_model!(RtTime, NaiveTime);
round_trip_model!(RtDateTime, NaiveDateTime);
round_trip_model!(RtInstant, DateTime<Utc>);
round_trip_model!(RtUuid, uuid::Uuid);
round_trip_model!(RtDecimal, Decimal);
round_trip_model!(RtJson, serde_json::Value);

fn cases() -> u32 {
    std::env::var("ORM_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32)
}

/// Whether PostgreSQL's text order is the code-point order (C or C.UTF-8 collation).
async fn code_point_collation(db: &Db) -> bool {
    match db.pg_pool() {
        Some(pool) => {
            let c: String = orm_sqlx::sqlx::query_scalar("SHOW lc_collate")
                .fetch_one(pool)
                .await
                .unwrap();
            matches!(c.as_str(), "C" | "POSIX" | "C.UTF-8" | "C.utf8")
        }
        None => true,
    }
}

/// One case: write `values` (refused ones must be refused, without a query), then read,
/// find and sort the others.
async fn check_case<M: RoundTrip>(
    db: &Db,
    backend: Backend,
    spec: &Spec<M::T>,
    sort_text: bool,
    values: Vec<(M::T, Option<M::T>)>,
) -> Result<(), TestCaseError> {
    let name = M::META.name;
    M::objects().delete(db).await.unwrap();
    let mut stored: Vec<M> = Vec::new();
    for (v, o) in values {
        let refusal = (spec.refused)(backend, &v).map(|r| ("v", r)).or_else(|| {
            o.as_ref()
                .and_then(|o| (spec.refused)(backend, o))
                .map(|r| ("o", r))
        });
        let mut row = M::new(v, o);
        let (r, q) = capture_queries(row.insert(db)).await;
        match refusal {
            Some((field, reason)) => {
                match &r {
                    Err(Error::InvalidValue {
                        field: f,
                        reason: why,
                    }) => {
                        prop_assert_eq!(f, &format!("{name}.{field}"), "{}", why);
                        prop_assert!(why.contains(reason), "{} for {:?}", why, row);
                    }
                    other => {
                        prop_assert!(false, "{:?}: expected InvalidValue, got {:?}", row, other)
                    }
                }
                prop_assert!(
                    q.is_empty(),
                    "a refused value reached the database: {:?}",
                    q
                );
                // Looking it up is refused the same way.
                let lookup = if field == "v" {
                    M::with_v(row.v().clone()).fetch(db).await.map(|_| ())
                } else {
                    M::with_o(row.o().clone()).fetch(db).await.map(|_| ())
                };
                prop_assert!(
                    matches!(lookup, Err(Error::InvalidValue { .. })),
                    "lookup of {:?}: {:?}",
                    row,
                    lookup
                );
            }
            None => {
                prop_assert!(r.is_ok(), "{:?} on {:?}: {:?}", row, backend, r);
                stored.push(row);
            }
        }
    }
    // Read back.
    let back = M::by_id().fetch(db).await.unwrap().to_vec();
    prop_assert_eq!(back.len(), stored.len());
    for (got, want) in back.iter().zip(&stored) {
        prop_assert!(
            (spec.same)(backend, got.v(), want.v()),
            "{:?}: wrote {:?}, read {:?}",
            backend,
            want.v(),
            got.v()
        );
        let same_o = match (got.o(), want.o()) {
            (Some(g), Some(w)) => (spec.same)(backend, g, w),
            (None, None) => true,
            _ => false,
        };
        prop_assert!(
            same_o,
            "{:?}: wrote {:?}, read {:?}",
            backend,
            want.o(),
            got.o()
        );
    }
    // Through the query cache (issue 15): a miss records the cells the decoder read, a hit
    // replays them; both give exactly what the database gave. The cache is new for this
    // case (the writes above went through `db`, which has none to invalidate).
    let cached = db
        .clone()
        .with_cache(orm_sqlx::cache::Cache::local(8 << 20));
    let ttl = std::time::Duration::from_secs(60);
    for (pass, outcome) in [("miss", CacheOutcome::Miss), ("hit", CacheOutcome::Hit)] {
        let (rows, q) = capture_queries(M::by_id().cached(ttl).into_vec(&cached)).await;
        let rows = rows.unwrap();
        let outcomes: Vec<_> = q.iter().map(|c| c.cache).collect();
        prop_assert_eq!(outcomes, vec![Some(outcome)], "{}: {:?}", pass, q);
        prop_assert_eq!(rows.len(), back.len());
        for (got, want) in rows.iter().zip(&back) {
            prop_assert!(
                got.v() == want.v() && got.o() == want.o(),
                "{:?}, cache {}: the database gave {:?}, the cache {:?}",
                backend,
                pass,
                want,
                got
            );
        }
    }
    // Found by equality: exactly the rows holding an equal value.
    for row in &stored {
        let want: Vec<i64> = stored
            .iter()
            .filter(|r| r.v() == row.v())
            .map(|r| *r.pk())
            .collect();
        let mut got = M::with_v(row.v().clone()).fetch(db).await.unwrap().to_vec();
        got.sort();
        prop_assert_eq!(&got, &want, "{:?}: v = {:?}", backend, row.v());
        let want: Vec<i64> = stored
            .iter()
            .filter(|r| r.o() == row.o())
            .map(|r| *r.pk())
            .collect();
        let mut got = M::with_o(row.o().clone()).fetch(db).await.unwrap().to_vec();
        got.sort();
        prop_assert_eq!(&got, &want, "{:?}: o = {:?}", backend, row.o());
    }
    // Sorted in place (ties by id).
    if let Some(order) = spec.order.filter(|_| sort_text) {
        let mut want: Vec<&M> = stored.iter().collect();
        want.sort_by(|a, b| order(a.v(), b.v()).then(a.pk().cmp(b.pk())));
        let want: Vec<i64> = want.iter().map(|r| *r.pk()).collect();
        let got = M::sorted_by_v().fetch(db).await.unwrap().to_vec();
        prop_assert_eq!(&got, &want, "{:?}: order by v", backend);
        let nulls_first = matches!(backend, Backend::Sqlite | Backend::Mysql);
        let mut want: Vec<&M> = stored.iter().collect();
        want.sort_by(|a, b| {
            let by_value = match (a.o(), b.o()) {
                (Some(x), Some(y)) => order(x, y),
                (None, None) => Ordering::Equal,
                (None, Some(_)) if nulls_first => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) if nulls_first => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
            };
            by_value.then(a.pk().cmp(b.pk()))
        });
        let want: Vec<i64> = want.iter().map(|r| *r.pk()).collect();
        let got = M::sorted_by_o().fetch(db).await.unwrap().to_vec();
        prop_assert_eq!(&got, &want, "{:?}: order by o", backend);
    }
    Ok(())
}

/// Run `cases()` cases of values from `strategy` on every backend.
fn run<M: RoundTrip>(strategy: BoxedStrategy<M::T>, spec: Spec<M::T>, sorts_as_text: bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // SQLite twice: its reads on the direct path (stepped on the connection's handle), then
    // all on sqlx's.
    let runs = required_backends().into_iter().flat_map(|b| {
        let sqlx_too = (b == Backend::Sqlite).then_some((b, false));
        [(b, true)].into_iter().chain(sqlx_too)
    });
    for (backend, direct) in runs {
        let t = rt.block_on(TestDb::open(backend));
        let db = t.db.clone();
        rt.block_on(db.create_table::<M>()).unwrap();
        let sort = !sorts_as_text || rt.block_on(code_point_collation(&db));
        let mut runner = TestRunner::new(Config {
            cases: cases(),
            failure_persistence: None,
            ..Config::default()
        });
        let values =
            prop::collection::vec((strategy.clone(), prop::option::of(strategy.clone())), 1..6);
        let result = runner.run(&values, |values| {
            let case = check_case::<M>(&db, backend, &spec, sort, values);
            if direct {
                rt.block_on(case)
            } else {
                rt.block_on(orm_sqlx::sqlite::without_direct_reads(case))
            }
        });
        rt.block_on(t.cleanup());
        if let Err(e) = result {
            let path = if direct { "" } else { " (sqlx's read path)" };
            panic!("{} on {}{path}: {e}", M::META.name, backend.name());
        }
    }
}

/// Edge values most of the time, random ones otherwise.
fn edges_or<T: Clone + Debug + 'static>(
    edges: Vec<T>,
    random: BoxedStrategy<T>,
) -> BoxedStrategy<T> {
    prop_oneof![3 => prop::sample::select(edges), 2 => random].boxed()
}

fn exact<T: PartialEq>(_: Backend, a: &T, b: &T) -> bool {
    a == b
}

fn never<T>(_: Backend, _: &T) -> Option<&'static str> {
    None
}

fn ordered<T: Ord>(a: &T, b: &T) -> Ordering {
    a.cmp(b)
}

/// Same bits, except that SQLite and MySQL give -0.0 back as 0.0.
fn same_f64(backend: Backend, got: f64, want: f64) -> bool {
    got.to_bits() == want.to_bits()
        || (matches!(backend, Backend::Sqlite | Backend::Mysql) && want == 0.0 && got == 0.0)
}

/// NaN everywhere; ±infinity on MySQL, whose FLOAT and DOUBLE have none.
fn float_refused(backend: Backend, f: f64) -> Option<&'static str> {
    if f.is_nan() {
        Some("NaN")
    } else if f.is_infinite() && backend == Backend::Mysql {
        Some("infinity")
    } else {
        None
    }
}

#[test]
fn bools_round_trip() {
    run::<RtBool>(
        any::<bool>().boxed(),
        Spec {
            refused: never,
            same: exact,
            order: Some(ordered),
        },
        false,
    );
}

#[test]
fn integers_round_trip() {
    run::<RtI16>(
        edges_or(vec![i16::MIN, i16::MAX, 0, -1, 1], any::<i16>().boxed()),
        Spec {
            refused: never,
            same: exact,
            order: Some(ordered),
        },
        false,
    );
    run::<RtI32>(
        edges_or(vec![i32::MIN, i32::MAX, 0, -1, 1], any::<i32>().boxed()),
        Spec {
            refused: never,
            same: exact,
            order: Some(ordered),
        },
        false,
    );
    run::<RtI64>(
        edges_or(
            vec![i64::MIN, i64::MAX, 0, -1, 1, 1 << 53, (1 << 53) + 1],
            any::<i64>().boxed(),
        ),
        Spec {
            refused: never,
            same: exact,
            order: Some(ordered),
        },
        false,
    );
}

#[test]
fn floats_round_trip_and_nan_is_refused() {
    let f64_edges = vec![
        0.0,
        -0.0,
        1.0,
        -1.5,
        0.1,
        f64::MIN,
        f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        -5e-324,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        1e308,
        9_007_199_254_740_993.0,
        2f64.powi(63),
    ];
    run::<RtF64>(
        edges_or(f64_edges, any::<f64>().boxed()),
        Spec {
            refused: |b, f| float_refused(b, *f),
            same: |b, g, w| same_f64(b, *g, *w),
            order: Some(|a, b| a.partial_cmp(b).unwrap()),
        },
        false,
    );
    let f32_edges = vec![
        0.0,
        -0.0,
        1.0,
        0.1,
        f32::MIN,
        f32::MAX,
        f32::MIN_POSITIVE,
        1e-45,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        16_777_217.0,
    ];
    run::<RtF32>(
        edges_or(f32_edges, any::<f32>().boxed()),
        Spec {
            refused: |b, f| float_refused(b, f64::from(*f)),
            same: |b, g, w| same_f64(b, f64::from(*g), f64::from(*w)),
            order: Some(|a, b| a.partial_cmp(b).unwrap()),
        },
        false,
    );
}

fn text() -> BoxedStrategy<String> {
    let chars = prop_oneof![
        4 => any::<char>(),
        2 => prop::sample::select(vec!['\0', '%', '_', '\\', '\'', '"', '*', '?', '[', 'ß', 'ǅ', '🎉', '\u{301}', ' ']),
    ];
    let random =
        prop::collection::vec(chars, 0..12).prop_map(|c| c.into_iter().collect::<String>());
    let edges = vec![
        String::new(),
        "\0".into(),
        "a\0b".into(),
        "B".into(),
        "a".into(),
        "é".into(),
        "e\u{301}".into(),
        " padded ".into(),
        "x".repeat(70_000),
        "日本語🎉".into(),
        "Straße".into(),
    ];
    edges_or(edges, random.boxed())
}

#[test]
fn text_round_trips_and_nul_is_refused() {
    run::<RtText>(
        text(),
        Spec {
            refused: |_, s| s.contains('\0').then_some("NUL"),
            same: exact,
            order: Some(ordered),
        },
        true,
    );
}

#[test]
fn bytes_round_trip() {
    let edges = vec![
        vec![],
        vec![0],
        vec![0, 0, 255],
        vec![255; 3],
        vec![7; 100_000],
    ];
    run::<RtBytes>(
        edges_or(edges, prop::collection::vec(any::<u8>(), 0..24).boxed()),
        Spec {
            refused: never,
            same: exact,
            order: Some(ordered),
        },
        false,
    );
}

fn date() -> BoxedStrategy<NaiveDate> {
    let ymd = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let edges = vec![
        ymd(1, 1, 1),
        ymd(9999, 12, 31),
        ymd(0, 12, 31),
        ymd(-1, 1, 1),
        ymd(10_000, 1, 1),
        ymd(2000, 2, 29),
        ymd(1970, 1, 1),
        NaiveDate::MIN,
        NaiveDate::MAX,
    ];
    let in_range =
        (1i32..=3_652_059).prop_map(|d| NaiveDate::from_num_days_from_ce_opt(d).unwrap());
    use chrono::Datelike;
    let anywhere = (NaiveDate::MIN.num_days_from_ce()..=NaiveDate::MAX.num_days_from_ce())
        .prop_map(|d| NaiveDate::from_num_days_from_ce_opt(d).unwrap());
    edges_or(edges, prop_oneof![3 => in_range, 1 => anywhere].boxed())
}

fn time() -> BoxedStrategy<NaiveTime> {
    let hms = |h, m, s, n| NaiveTime::from_hms_nano_opt(h, m, s, n).unwrap();
    let edges = vec![
        hms(0, 0, 0, 0),
        hms(23, 59, 59, 999_999_000),
        hms(12, 0, 0, 1),
        hms(23, 59, 59, 1_000_000_000),
        hms(0, 0, 0, 500_000_000),
        hms(0, 0, 0, 1_000),
    ];
    let micros = (0u32..86_400, 0u32..1_000_000)
        .prop_map(|(s, us)| NaiveTime::from_num_seconds_from_midnight_opt(s, us * 1_000).unwrap());
    let nanos = (0u32..86_400, 0u32..1_000_000_000)
        .prop_map(|(s, ns)| NaiveTime::from_num_seconds_from_midnight_opt(s, ns).unwrap());
    edges_or(edges, prop_oneof![3 => micros, 1 => nanos].boxed())
}

fn date_refused(d: &NaiveDate) -> Option<&'static str> {
    use chrono::Datelike;
    (!(1..=9999).contains(&d.year())).then_some("outside 1–9999")
}

fn time_refused(t: &NaiveTime) -> Option<&'static str> {
    use chrono::Timelike;
    match t.nanosecond() {
        n if n >= 1_000_000_000 => Some("leap second"),
        n if n % 1_000 != 0 => Some("nanoseconds"),
        _ => None,
    }
}

#[test]
fn dates_and_times_round_trip_within_their_documented_range() {
    run::<RtDate>(
        date(),
        Spec {
            refused: |_, d| date_refused(d),
            same: exact,
            order: Some(ordered),
        },
        false,
    );
    run::<RtTime>(
        time(),
        Spec {
            refused: |_, t| time_refused(t),
            same: exact,
            order: Some(ordered),
        },
        false,
    );
    let datetime = (date(), time())
        .prop_map(|(d, t)| NaiveDateTime::new(d, t))
        .boxed();
    run::<RtDateTime>(
        datetime.clone(),
        Spec {
            refused: |_, dt| date_refused(&dt.date()).or_else(|| time_refused(&dt.time())),
            same: exact,
            order: Some(ordered),
        },
        false,
    );
    run::<RtInstant>(
        datetime.prop_map(|dt| dt.and_utc()).boxed(),
        Spec {
            refused: |_, dt| date_refused(&dt.date_naive()).or_else(|| time_refused(&dt.time())),
            same: exact,
            order: Some(ordered),
        },
        false,
    );
}

#[test]
fn uuids_round_trip() {
    let edges = vec![
        uuid::Uuid::nil(),
        uuid::Uuid::max(),
        uuid::Uuid::from_u128(1),
    ];
    run::<RtUuid>(
        edges_or(edges, any::<u128>().prop_map(uuid::Uuid::from_u128).boxed()),
        Spec {
            refused: never,
            same: exact,
            order: Some(ordered),
        },
        false,
    );
}

/// The same value with the same scale; on MySQL, whose DECIMAL(65, 30) column has one
/// scale, without trailing zeros (`1.50` reads `1.5`, `0.00` reads `0`).
fn same_decimal(backend: Backend, got: &Decimal, want: &Decimal) -> bool {
    let scale = match backend {
        Backend::Mysql => want.normalize().scale(),
        Backend::Sqlite | Backend::Postgres => want.scale(),
    };
    got == want && got.scale() == scale
}

#[test]
fn decimals_round_trip_with_their_scale() {
    let d = |s: &str| orm_sqlx::core::value::exact_decimal::parse(s).unwrap();
    let edges = vec![
        Decimal::ZERO,
        d("0.00"),
        d("-0.00"),
        d("1"),
        d("1.0"),
        d("1.00"),
        d("0.1"),
        d("-0.5"),
        Decimal::MAX,
        Decimal::MIN,
        d("0.0000000000000000000000000001"),
        d("-0.0000000000000000000000000001"),
        d("7922816251426433759354395033.5"),
        d("1.0000000000000000000000000001"),
        d("0.9999999999999999999999999999"),
    ];
    let random = (any::<i128>(), 0u32..=28).prop_filter_map("fits a Decimal", |(m, s)| {
        Decimal::try_from_i128_with_scale(m >> 32, s).ok()
    });
    run::<RtDecimal>(
        edges_or(edges, random.boxed()),
        Spec {
            refused: never,
            same: same_decimal,
            order: Some(ordered),
        },
        false,
    );
}

fn json() -> BoxedStrategy<serde_json::Value> {
    use serde_json::{Value, json};
    let number = prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop::sample::select(vec![
            0.0, -0.0, 0.1, 1.0, 1e16, 1e18, -1e20, 1e300, 5e-324, 1e-7, 2.5
        ])
        .prop_map(Value::from),
    ];
    let string = prop_oneof![
        3 => prop::collection::vec(any::<char>(), 0..6).prop_map(|c| c.into_iter().collect::<String>()),
        1 => prop::sample::select(vec!["", "\0", "a\u{0}b", "\"\\/\n\t", "🎉", "\u{FEFF}"]).prop_map(String::from),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number,
        string.clone().prop_map(Value::String),
    ];
    let tree = leaf.prop_recursive(3, 16, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(string.clone(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let edges = vec![
        json!(null),
        json!({}),
        json!([]),
        json!(1),
        json!(1.0),
        json!(0.0),
        json!(-0.0),
        json!([-0.0]),
        json!(1e16),
        json!("1"),
        json!({"a\u{0}": 1}),
    ];
    edges_or(edges, tree.boxed())
}

fn json_has_nul(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(json_has_nul),
        serde_json::Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v)),
        _ => false,
    }
}

#[test]
fn json_round_trips_and_nul_is_refused() {
    run::<RtJson>(
        json(),
        Spec {
            refused: |_, v| json_has_nul(v).then_some("NUL"),
            same: exact,
            order: None,
        },
        false,
    );
}

/// NULL written by other means into a column whose field is not an `Option` is
/// `Error::UnexpectedNull` naming `Model.field`, on every backend and for every type
/// (SQLite's drivers would make up a zero, an empty string or the epoch).
#[tokio::test]
async fn null_into_a_non_option_field_is_unexpected_null_for_every_type() {
    async fn check<M: RoundTrip>(db: &Db) {
        let meta = M::META;
        let ty = db.dialect().column_type(meta.columns[1].sql_type);
        db.execute_raw(&format!(
            "CREATE TABLE {} (id BIGINT PRIMARY KEY, v {ty}, o {ty})",
            meta.table
        ))
        .await
        .unwrap();
        db.execute_raw(&format!(
            "INSERT INTO {} (id, v, o) VALUES (1, NULL, NULL)",
            meta.table
        ))
        .await
        .unwrap();
        let e = M::objects().get(db).await.unwrap_err();
        match e {
            Error::UnexpectedNull {
                at: orm_sqlx::core::ColumnAt::Field { model, field, .. },
                ..
            } => assert_eq!((model, field), (meta.name, "v"), "{}", e),
            other => panic!("{}: expected UnexpectedNull, got {other:?}", meta.name),
        }
    }
    async fn every_type(db: &Db) {
        check::<RtBool>(db).await;
        check::<RtI16>(db).await;
        check::<RtI32>(db).await;
        check::<RtI64>(db).await;
        check::<RtF32>(db).await;
        check::<RtF64>(db).await;
        check::<RtText>(db).await;
        check::<RtBytes>(db).await;
        check::<RtDate>(db).await;
        check::<RtTime>(db).await;
        check::<RtDateTime>(db).await;
        check::<RtInstant>(db).await;
        check::<RtUuid>(db).await;
        check::<RtDecimal>(db).await;
        check::<RtJson>(db).await;
    }
    orm_tests::on_each_backend(|db, backend| async move {
        every_type(&db).await;
        if backend == Backend::Sqlite {
            // Again with every read on sqlx's path (the above took the direct one).
            let fresh = TestDb::open(backend).await;
            orm_sqlx::sqlite::without_direct_reads(every_type(&fresh.db)).await;
            fresh.cleanup().await;
        }
    })
    .await;
}
