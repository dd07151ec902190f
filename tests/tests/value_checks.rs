//! Values no backend can hold faithfully are refused before any query, on every backend
//! alike, with `Error::InvalidValue` naming the field: NaN (SQLite stores it as NULL), a
//! NUL character in text or JSON (PostgreSQL refuses it; SQLite's LIKE and GLOB stop at
//! it and match the wrong rows), dates outside years 1–9999 (SQLite compares dates as
//! text), and times finer than PostgreSQL's microseconds. ±infinity round-trips, except on
//! MySQL, which has none and refuses it the same way.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use orm_sqlx::prelude::*;
use orm_tests::fixture::{Book, EveryType, book};
use orm_tests::{Backend, on_each_backend, with_fixture, with_library};

/// The refusal: `InvalidValue` for `field`, and no statement sent.
async fn refused<T: std::fmt::Debug>(
    field: &str,
    reason_has: &str,
    f: impl std::future::Future<Output = Result<T>>,
) {
    let (r, q) = capture_queries(f).await;
    match r {
        Err(Error::InvalidValue { field: got, reason }) => {
            assert_eq!(got, field, "{reason}");
            assert!(reason.contains(reason_has), "{reason}");
        }
        other => panic!("expected InvalidValue for {field}, got {other:?}"),
    }
    assert!(
        q.is_empty(),
        "a refused value must not reach the database: {q:?}"
    );
}

fn every_type() -> EveryType {
    EveryType {
        key: uuid::Uuid::new_v4(),
        flag: true,
        small: 1,
        int: 2,
        big: 3,
        single: 1.5,
        double: 2.5,
        text: "text".into(),
        blob: vec![0, 1, 2],
        day: NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(),
        clock: NaiveTime::from_hms_micro_opt(12, 30, 0, 250).unwrap(),
        local: NaiveDate::from_ymd_opt(2024, 2, 29)
            .unwrap()
            .and_hms_micro_opt(12, 30, 0, 250)
            .unwrap(),
        instant: Utc.with_ymd_and_hms(2024, 2, 29, 12, 30, 0).unwrap(),
        amount: "12.50".parse().unwrap(),
        doc: serde_json::json!({"a": [1, "x"]}),
        maybe_int: None,
        maybe_text: None,
        maybe_day: None,
        maybe_amount: None,
    }
}

#[tokio::test]
async fn nan_is_refused_wherever_it_is_bound() {
    with_fixture(|db, _| async move {
        let mut b = book("NaN", 10, 1, None);
        b.rating = Some(f64::NAN);
        refused("Book.rating", "NaN", b.save(&db)).await;
        refused("Book.rating", "NaN", b.insert(&db)).await;
        refused(
            "Book.rating",
            "NaN",
            Book::objects().bulk_create(&mut [b.clone()], &db),
        )
        .await;
        let mut all = Book::objects();
        refused(
            "Book.rating",
            "NaN",
            all.update(|b| b.rating.set(f64::NAN), &db),
        )
        .await;
        refused(
            "Book.rating",
            "NaN",
            all.update(|b| b.rating.set(b.rating * f64::NAN), &db),
        )
        .await;
        let nan_filter = Book::objects().filter(|b| b.rating.gt(f64::NAN));
        refused("Book.rating", "NaN", nan_filter.count(&db)).await;
        let nan_in = Book::objects().filter(|b| b.rating.is_in([1.0, f64::NAN]));
        refused("Book.rating", "NaN", nan_in.count(&db)).await;
        // An existing row saved with NaN: refused, and the row keeps its value.
        let mut first = Book::objects().get_index(0, &db).await.unwrap();
        first.rating = Some(f64::NAN);
        refused("Book.rating", "NaN", first.save(&db)).await;
        assert_eq!(
            Book::objects()
                .filter(|b| b.rating.is_null(true))
                .count(&db)
                .await
                .unwrap(),
            3
        );
    })
    .await;
}

/// f32 NaN too; ±infinity is stored, read back, compared and sorted on SQLite and
/// PostgreSQL. MySQL's FLOAT and DOUBLE have no infinity: there it is refused like NaN,
/// wherever it is bound, and never stored as an out-of-range error or NULL.
#[tokio::test]
async fn infinities_round_trip_and_nan_is_refused_for_f32_too() {
    on_each_backend(|db, backend| async move {
        db.create_table::<EveryType>().await.unwrap();
        let mut row = every_type();
        row.single = f32::NAN;
        refused("EveryType.single", "NaN", row.insert(&db)).await;
        if backend == Backend::Mysql {
            let mut row = every_type();
            row.single = f32::INFINITY;
            refused("EveryType.single", "infinity", row.insert(&db)).await;
            let mut row = every_type();
            row.double = f64::NEG_INFINITY;
            refused("EveryType.double", "infinity", row.clone().insert(&db)).await;
            refused(
                "EveryType.double",
                "infinity",
                EveryType::objects().bulk_create(&mut [row], &db),
            )
            .await;
            let mut all = EveryType::objects();
            refused(
                "EveryType.double",
                "infinity",
                all.update(|e| e.double.set(f64::INFINITY), &db),
            )
            .await;
            refused(
                "EveryType.double",
                "infinity",
                all.update(|e| e.double.set(e.double * f64::INFINITY), &db),
            )
            .await;
            let inf = EveryType::objects().filter(|e| e.double.eq(f64::INFINITY));
            refused("EveryType.double", "infinity", inf.count(&db)).await;
            let inf = EveryType::objects().filter(|e| e.single.is_in([1.0, f32::INFINITY]));
            refused("EveryType.single", "infinity", inf.count(&db)).await;
            // The largest finite values are stored and compared.
            let mut r = every_type();
            r.single = f32::MAX;
            r.double = f64::MIN;
            r.insert(&db).await.unwrap();
            let big = EveryType::objects().filter(|e| e.single.gte(f32::MAX));
            assert_eq!(
                big.values(|e| e.double).fetch(&db).await.unwrap(),
                [f64::MIN]
            );
            return;
        }
        let mut rows = Vec::new();
        for (single, double) in [
            (f32::INFINITY, f64::NEG_INFINITY),
            (f32::NEG_INFINITY, f64::INFINITY),
            (0.0, 0.0),
        ] {
            let mut r = every_type();
            r.single = single;
            r.double = double;
            r.insert(&db).await.unwrap();
            rows.push(r);
        }
        let back = EveryType::objects()
            .order_by(|e| e.double.asc())
            .values(|e| (e.single, e.double));
        assert_eq!(
            back.fetch(&db).await.unwrap(),
            [
                (f32::INFINITY, f64::NEG_INFINITY),
                (0.0, 0.0),
                (f32::NEG_INFINITY, f64::INFINITY)
            ]
        );
        let inf = EveryType::objects().filter(|e| e.double.eq(f64::INFINITY));
        assert_eq!(inf.count(&db).await.unwrap(), 1);
        let big = EveryType::objects().filter(|e| e.single.gt(f32::MAX));
        assert_eq!(
            big.values(|e| e.key).fetch(&db).await.unwrap(),
            [rows[0].key]
        );
    })
    .await;
}

#[tokio::test]
async fn a_nul_character_is_refused_in_text_patterns_and_json() {
    with_fixture(|db, _| async move {
        let b = book("a\0b", 10, 1, None);
        refused("Book.title", "NUL", b.clone().save(&db)).await;
        refused(
            "Book.title",
            "NUL",
            Book::objects().bulk_create(&mut [b], &db),
        )
        .await;
        let mut all = Book::objects();
        refused("Book.title", "NUL", all.update(|b| b.title.set("x\0"), &db)).await;
        refused(
            "Book.publisher",
            "NUL",
            all.update(|b| b.publisher.set("\0"), &db),
        )
        .await;
        // Lookups: SQLite's GLOB stops at the NUL ("B\0zzz" finds B1, B2, B3).
        let lookups = [
            ("Book.title", Book::objects().filter(|b| b.title.eq("B1\0"))),
            (
                "Book.title",
                Book::objects().filter(|b| b.title.contains("B\0zzz")),
            ),
            (
                "Book.title",
                Book::objects().filter(|b| b.title.startswith("B\0zzz")),
            ),
            (
                "Book.title",
                Book::objects().filter(|b| b.title.icontains("\0")),
            ),
            (
                "Book.title",
                Book::objects().filter(|b| b.title.iexact("b1\0")),
            ),
            (
                "Book.title",
                Book::objects().filter(|b| b.title.regex("^B\0")),
            ),
            (
                "Book.title",
                Book::objects().filter(|b| b.title.iregex("\0")),
            ),
            (
                "Book.title",
                Book::objects().filter(|b| b.title.is_in(["B1", "B2\0"])),
            ),
            (
                "Book.publisher",
                Book::objects().exclude(|b| b.publisher.eq("\0")),
            ),
        ];
        for (field, qs) in lookups {
            refused(field, "NUL", qs.fetch(&db)).await;
        }
    })
    .await;
    on_each_backend(|db, _| async move {
        db.create_table::<EveryType>().await.unwrap();
        let mut row = every_type();
        row.doc = serde_json::json!({"k": ["ok", "no\u{0}"]});
        refused("EveryType.doc", "NUL", row.clone().insert(&db)).await;
        row.doc = serde_json::json!({"k\u{0}": 1});
        refused("EveryType.doc", "NUL", row.insert(&db)).await;
        // Bytes may hold NUL: they are not text.
        let mut row = every_type();
        row.blob = vec![0, 0, 1];
        row.insert(&db).await.unwrap();
        let back = EveryType::objects().filter(|e| e.blob.eq(vec![0u8, 0, 1]));
        assert_eq!(back.count(&db).await.unwrap(), 1);
    })
    .await;
}

/// The field named is the one the value meets, across relations too.
#[tokio::test]
async fn the_refusal_names_the_field_across_relations() {
    with_library(|db, _, _| async move {
        use orm_tests::library::{Author, Book};
        let qs = Book::objects().filter(|b| b.author().name.eq("Al\0ice"));
        refused("Author.name", "NUL", qs.fetch(&db)).await;
        let qs = Author::objects().exclude(|a| a.books().title.contains("\0"));
        refused("Book.title", "NUL", qs.fetch(&db)).await;
    })
    .await;
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Years 1 and 9999 round-trip and sort; years outside are refused (SQLite compared
/// "+10000-01-01" and "-0001-01-01" as text, before "2024").
#[tokio::test]
async fn dates_outside_years_1_to_9999_are_refused() {
    on_each_backend(|db, _| async move {
        db.create_table::<EveryType>().await.unwrap();
        for y in [0, -1, 10_000, 262_000] {
            let mut row = every_type();
            row.day = ymd(y, 1, 1);
            refused("EveryType.day", "outside 1–9999", row.insert(&db)).await;
            let mut row = every_type();
            row.local = ymd(y, 6, 1).and_hms_opt(0, 0, 0).unwrap();
            refused("EveryType.local", "outside 1–9999", row.insert(&db)).await;
            let mut row = every_type();
            row.instant = Utc.from_utc_datetime(&ymd(y, 6, 1).and_hms_opt(0, 0, 0).unwrap());
            refused("EveryType.instant", "outside 1–9999", row.insert(&db)).await;
            let mut row = every_type();
            row.maybe_day = Some(ymd(y, 1, 1));
            refused("EveryType.maybe_day", "outside 1–9999", row.insert(&db)).await;
            let late = EveryType::objects().filter(|e| e.day.lt(ymd(y, 1, 1)));
            refused("EveryType.day", "outside 1–9999", late.count(&db)).await;
        }
        let mut keys = Vec::new();
        for (y, m, d) in [(9999, 12, 31), (1, 1, 1), (2024, 2, 29)] {
            let mut row = every_type();
            row.day = ymd(y, m, d);
            row.local = ymd(y, m, d).and_hms_micro_opt(23, 59, 59, 999_999).unwrap();
            row.instant = Utc.from_utc_datetime(&ymd(y, m, d).and_hms_opt(0, 0, 0).unwrap());
            row.insert(&db).await.unwrap();
            keys.push((row.key, row.day, row.local, row.instant));
        }
        let back = EveryType::objects()
            .order_by(|e| e.day.asc())
            .values(|e| (e.key, e.day, e.local, e.instant));
        assert_eq!(back.fetch(&db).await.unwrap(), [keys[1], keys[2], keys[0]]);
        let last = EveryType::objects()
            .filter(|e| e.local.gt(ymd(2025, 1, 1).and_hms_opt(0, 0, 0).unwrap()));
        assert_eq!(
            last.values(|e| e.key).fetch(&db).await.unwrap(),
            [keys[0].0]
        );
    })
    .await;
}

/// PostgreSQL keeps microseconds and silently dropped the rest; nanoseconds and leap
/// seconds are refused on every backend.
#[tokio::test]
async fn times_finer_than_microseconds_are_refused() {
    on_each_backend(|db, _| async move {
        db.create_table::<EveryType>().await.unwrap();
        let nanos = NaiveTime::from_hms_nano_opt(1, 2, 3, 4_000_001).unwrap();
        let mut row = every_type();
        row.clock = nanos;
        refused("EveryType.clock", "nanoseconds", row.insert(&db)).await;
        let mut row = every_type();
        row.local = NaiveDateTime::new(ymd(2024, 1, 1), nanos);
        refused("EveryType.local", "nanoseconds", row.insert(&db)).await;
        let mut row = every_type();
        row.instant = Utc.from_utc_datetime(&NaiveDateTime::new(ymd(2024, 1, 1), nanos));
        refused("EveryType.instant", "nanoseconds", row.insert(&db)).await;
        let mut row = every_type();
        row.clock = NaiveTime::from_hms_milli_opt(23, 59, 59, 1_500).unwrap();
        refused("EveryType.clock", "leap second", row.insert(&db)).await;
        // Microseconds round-trip exactly.
        let mut row = every_type();
        row.clock = NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999).unwrap();
        row.insert(&db).await.unwrap();
        let back = EveryType::objects()
            .values(|e| e.clock)
            .fetch(&db)
            .await
            .unwrap()
            .to_vec();
        assert_eq!(back, [row.clock]);
    })
    .await;
}
