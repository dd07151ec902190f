//! Key types, decimal arithmetic and counting details that a Django user relies on without
//! thinking about them, on every backend.

use orm_sqlx::prelude::*;
use orm_tests::fixture::Book;
use orm_tests::{on_each_backend, with_fixture};
use rust_decimal::Decimal;

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "prices")]
struct Price {
    id: i64,
    amount: Decimal,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "small_keys")]
struct SmallKey {
    id: i16,
    label: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "only_ids")]
struct OnlyId {
    id: i64,
}

/// Exactly this decimal (rust_decimal's `parse` would round past 28 digits).
fn dec(s: &str) -> Decimal {
    orm_sqlx::core::value::exact_decimal::parse(s).unwrap()
}

#[tokio::test]
async fn decimals_compare_and_sort_as_numbers() {
    on_each_backend(|db, _| async move {
        db.create_table::<Price>().await.unwrap();
        let mut rows: Vec<Price> = ["10", "9", "-5", "-0.5", "100.25"]
            .iter()
            .map(|a| Price {
                id: 0,
                amount: dec(a),
            })
            .collect();
        Price::objects().bulk_create(&mut rows, &db).await.unwrap();
        let big = Price::objects()
            .filter(|p| p.amount.gt(dec("2")))
            .order_by(|p| p.amount.asc())
            .values(|p| p.amount);
        let (got, q) = capture_queries(big.fetch(&db)).await;
        assert_eq!(got.unwrap(), [dec("9"), dec("10"), dec("100.25")]);
        assert_eq!(q.len(), 1);
        let all = Price::objects()
            .order_by(|p| p.amount.desc())
            .values(|p| p.amount);
        assert_eq!(
            all.fetch(&db).await.unwrap(),
            [dec("100.25"), dec("10"), dec("9"), dec("-0.5"), dec("-5")]
        );
    })
    .await;
}

/// Decimals compare and sort by their exact value on every backend: SQLite (text there)
/// used to compare them as REALs, so 1, 0.99999999999999999999 and
/// 1.0000000000000000000000000001 were all equal.
#[tokio::test]
async fn decimal_comparisons_are_exact() {
    on_each_backend(|db, _| async move {
        db.create_table::<Price>().await.unwrap();
        let values = [
            "1.0000000000000000000000000001",
            "1",
            "0.99999999999999999999",
            "1.00",
            "-2",
        ];
        let mut rows: Vec<Price> = values
            .iter()
            .map(|a| Price {
                id: 0,
                amount: dec(a),
            })
            .collect();
        Price::objects().bulk_create(&mut rows, &db).await.unwrap();
        let db = &db;
        let ids = |qs: QuerySet<Price>| async move {
            let qs = qs
                .order_by(|p| [p.amount.asc(), p.id.asc()])
                .values(|p| p.id);
            qs.fetch(db).await.unwrap().to_vec()
        };
        let id = |i: usize| rows[i].id;
        assert_eq!(
            ids(Price::objects()).await,
            [id(4), id(2), id(1), id(3), id(0)]
        );
        let one = || dec("1");
        assert_eq!(
            ids(Price::objects().filter(|p| p.amount.eq(one()))).await,
            [id(1), id(3)]
        );
        assert_eq!(
            ids(Price::objects().filter(|p| p.amount.gt(one()))).await,
            [id(0)]
        );
        assert_eq!(
            ids(Price::objects().filter(|p| p.amount.lt(one()))).await,
            [id(4), id(2)]
        );
        assert_eq!(
            ids(Price::objects().filter(|p| p.amount.is_in([dec("1.000"), dec("-2.0")]))).await,
            [id(4), id(1), id(3)]
        );
        assert_eq!(
            ids(Price::objects().filter(|p| p.amount.range(dec("0.9999999999999999999"), one())))
                .await,
            [id(2), id(1), id(3)]
        );
    })
    .await;
}

#[tokio::test]
async fn small_integer_keys_work_everywhere() {
    on_each_backend(|db, _| async move {
        db.create_table::<SmallKey>().await.unwrap();
        let mut a = SmallKey {
            id: 0,
            label: "a".into(),
        };
        a.save(&db).await.unwrap();
        assert!(a.id > 0);
        let back = SmallKey::objects()
            .filter(|k| k.id.eq(a.id))
            .get(&db)
            .await
            .unwrap();
        assert_eq!(back, a);
    })
    .await;
}

#[tokio::test]
async fn a_model_with_only_an_auto_key_can_be_bulk_created() {
    on_each_backend(|db, backend| async move {
        db.create_table::<OnlyId>().await.unwrap();
        let mut rows = vec![OnlyId { id: 0 }, OnlyId { id: 0 }, OnlyId { id: 0 }];
        let (r, q) = capture_queries(OnlyId::objects().bulk_create(&mut rows, &db)).await;
        r.unwrap();
        // DEFAULT VALUES inserts one row a statement: BEGIN, three INSERTs, COMMIT. MySQL
        // has no DEFAULT VALUES: it spells it `() VALUES ()`.
        assert_eq!(q.len(), 5, "{q:#?}");
        let defaults = match backend {
            orm_tests::Backend::Mysql => "() VALUES ()",
            orm_tests::Backend::Sqlite | orm_tests::Backend::Postgres => "DEFAULT VALUES",
        };
        assert!(q[1..4].iter().all(|q| q.sql.contains(defaults)), "{q:#?}");
        assert_eq!(
            (q[0].sql.as_ref(), q[4].sql.as_ref()),
            ("BEGIN", "COMMIT"),
            "{q:#?}"
        );
        assert!(rows[0].id < rows[1].id && rows[1].id < rows[2].id);
        assert_eq!(OnlyId::objects().count(&db).await.unwrap(), 3);
    })
    .await;
}

#[tokio::test]
async fn an_enclosing_capture_sees_what_an_inner_one_saw() {
    with_fixture(|db, _| async move {
        let ((inner, n), outer) = capture_queries(async {
            let (_, inner) = capture_queries(Book::objects().count(&db)).await;
            let n = Book::objects().count(&db).await.unwrap();
            (inner.len(), n)
        })
        .await;
        assert_eq!((inner, n, outer.len()), (1, 3, 2));
    })
    .await;
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "wide")]
struct Narrow {
    id: i64,
    n: i32,
}

/// A column whose values do not fit the field is a typed error, never a silently wrong
/// value: PostgreSQL types are checked on a column's first value (they are fixed for the
/// result set), SQLite's on every value (each carries its own type).
#[tokio::test]
async fn a_column_of_another_type_is_a_decode_error() {
    on_each_backend(|db, backend| async move {
        match backend {
            orm_tests::Backend::Postgres | orm_tests::Backend::Mysql => {
                db.execute_raw("CREATE TABLE wide (id BIGINT PRIMARY KEY, n BIGINT)")
                    .await
                    .unwrap();
                db.execute_raw("INSERT INTO wide VALUES (1, 5), (2, 1099511627776)")
                    .await
                    .unwrap();
            }
            orm_tests::Backend::Sqlite => {
                db.execute_raw("CREATE TABLE wide (id INTEGER PRIMARY KEY, n INTEGER)")
                    .await
                    .unwrap();
                db.execute_raw("INSERT INTO wide VALUES (1, 5), (2, 'five')")
                    .await
                    .unwrap();
            }
        }
        let e = Narrow::objects()
            .order_by(|w| w.id.asc())
            .fetch(&db)
            .await
            .map(|rows| rows.to_vec())
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Decode {
                    at: orm_sqlx::core::ColumnAt::Field { field: "n", .. },
                    ..
                }
            ),
            "{e}"
        );
    })
    .await;
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "nulls")]
struct Strict {
    id: i64,
    n: i64,
    s: String,
    flag: bool,
}

/// Issue 8.1: a NULL read into a field that is not an `Option` is the same typed error on
/// every backend, naming the model, the field and the column. SQLite used to make it a
/// zero value (`0`, `""`, `false`), which `save()` then wrote back.
#[tokio::test]
async fn a_null_in_a_field_that_is_not_an_option_is_an_error_naming_it() {
    on_each_backend(|db, _| async move {
        db.execute_raw(
            "CREATE TABLE nulls (id BIGINT PRIMARY KEY, n BIGINT, s TEXT, flag BOOLEAN)",
        )
        .await
        .unwrap();
        for (column, row) in [
            ("n", "(1, NULL, 'x', TRUE)"),
            ("s", "(2, 5, NULL, TRUE)"),
            ("flag", "(3, 5, 'x', NULL)"),
        ] {
            db.execute_raw("DELETE FROM nulls").await.unwrap();
            db.execute_raw(&format!("INSERT INTO nulls VALUES {row}"))
                .await
                .unwrap();
            let e = Strict::objects()
                .fetch(&db)
                .await
                .map(|rows| rows.to_vec())
                .unwrap_err();
            match &e {
                Error::UnexpectedNull {
                    at:
                        orm_sqlx::core::ColumnAt::Field {
                            model: "Strict",
                            field,
                            column: c,
                        },
                    ..
                } => assert_eq!((*field, *c), (column, column), "{e}"),
                other => panic!("expected UnexpectedNull for {column}, got {other}"),
            }
            assert!(e.to_string().contains(&format!("Strict.{column}")), "{e}");
            // The same through a projection names the column position.
            let e = Strict::objects()
                .values(|x| (x.n, x.s, x.flag))
                .fetch(&db)
                .await
                .map(|rows| rows.to_vec())
                .unwrap_err();
            assert!(matches!(e, Error::UnexpectedNull { .. }), "{e}");
        }
    })
    .await;
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "decimal_keys")]
struct DecimalKey {
    #[orm(primary_key)]
    code: Decimal,
    label: String,
}

/// `get()` by key stops at the first row only when equality is the key's own: SQLite keeps
/// `1.0` and `1.00` as two keys (decimals are text there) but compares them as numbers, so a
/// get by a decimal key must still see both and report them.
#[tokio::test]
async fn get_by_a_decimal_key_still_reports_every_match() {
    on_each_backend(|db, backend| async move {
        db.create_table::<DecimalKey>().await.unwrap();
        let keys: &[&str] = if backend == orm_tests::Backend::Sqlite {
            &["1.0", "1.00", "2"]
        } else {
            // PostgreSQL's numeric key (and MySQL's DECIMAL) is unique by value: 1.0 and
            // 1.00 are one key.
            &["1.0", "2"]
        };
        for (i, k) in keys.iter().enumerate() {
            let mut row = DecimalKey {
                code: dec(k),
                label: format!("k{i}"),
            };
            row.insert(&db).await.unwrap();
        }
        let one = DecimalKey::objects().filter(|k| k.code.eq(dec("1")));
        let matching = one.count(&db).await.unwrap();
        assert_eq!(matching as usize, keys.len() - 1, "{backend:?}");
        let (r, q) = capture_queries(one.get(&db)).await;
        assert_eq!(q.len(), 1);
        match backend {
            orm_tests::Backend::Sqlite => assert!(
                matches!(r, Err(Error::MultipleObjectsReturned { count: 2, .. })),
                "{r:?}"
            ),
            orm_tests::Backend::Postgres | orm_tests::Backend::Mysql => {
                assert_eq!(r.unwrap().label, "k0")
            }
        }
        let two = DecimalKey::objects().filter(|k| k.code.eq(dec("2")));
        assert_eq!(two.get(&db).await.unwrap().code, dec("2"));
    })
    .await;
}

/// A decimal written by other means with more digits than `rust_decimal` holds is a decode
/// error on every backend (rust_decimal's parser, which SQLite's reader used, and sqlx's
/// PostgreSQL decoder both rounded some of them silently: row 2 on SQLite, row 4 on
/// PostgreSQL); zeros past the 28th digit are only scale.
#[tokio::test]
async fn a_decimal_past_rust_decimal_is_refused_on_read_not_rounded() {
    on_each_backend(|db, backend| async move {
        let ty = match backend {
            orm_tests::Backend::Sqlite => "TEXT",
            orm_tests::Backend::Postgres => "NUMERIC",
            orm_tests::Backend::Mysql => "DECIMAL(65, 30)",
        };
        db.execute_raw(&format!(
            "CREATE TABLE prices (id BIGINT PRIMARY KEY, amount {ty} NOT NULL)"
        ))
        .await
        .unwrap();
        db.execute_raw(
            "INSERT INTO prices VALUES (1, '1.500000000000000000000000000000000'), \
             (2, '0.33333333333333333333333333333'), \
             (3, '123456789012345678901234567890'), \
             (4, '730435.86878085757137607120236930')",
        )
        .await
        .unwrap();
        let one = Price::objects()
            .filter(|p| p.id.eq(1))
            .get(&db)
            .await
            .unwrap();
        assert_eq!(one.amount, dec("1.5"));
        for id in [2, 3, 4] {
            let e = Price::objects()
                .filter(|p| p.id.eq(id))
                .get(&db)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::Decode {
                        at: orm_sqlx::core::ColumnAt::Field {
                            model: "Price",
                            field: "amount",
                            ..
                        },
                        ..
                    }
                ),
                "{backend:?} row {id}: {e}"
            );
        }
    })
    .await;
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "docs")]
struct Doc {
    id: i64,
    doc: serde_json::Value,
}

/// JSON reads back as the `serde_json::Value` written and is found by serde_json's
/// equality on every backend. Before: serde_json's default float parser could be one ulp
/// off (both backends); PostgreSQL's jsonb gave the float 1e16 back as an integer, and its
/// `=` found 1.0 when asked for 1.
#[tokio::test]
async fn json_round_trips_and_compares_as_serde_json_does() {
    use serde_json::json;
    on_each_backend(|db, backend| async move {
        db.create_table::<Doc>().await.unwrap();
        let docs = [
            json!(1),
            json!(1.0),
            json!(1e16),
            json!(2.2219395923057377e76),
            json!({"n": [-0.0, 5e-324, -1e-7]}),
        ];
        let mut rows: Vec<Doc> = docs
            .iter()
            .map(|d| Doc {
                id: 0,
                doc: d.clone(),
            })
            .collect();
        Doc::objects().bulk_create(&mut rows, &db).await.unwrap();
        let back = Doc::objects().order_by(|d| d.id.asc()).values(|d| d.doc);
        assert_eq!(back.fetch(&db).await.unwrap(), docs, "{backend:?}");
        for (i, d) in docs.iter().enumerate() {
            let found = Doc::objects()
                .filter(|x| x.doc.eq(d.clone()))
                .values(|x| x.id);
            assert_eq!(
                found.fetch(&db).await.unwrap(),
                [rows[i].id],
                "{backend:?} {d}"
            );
        }
        // -0.0 and 0.0 are one Value.
        let zero = Doc::objects().filter(|x| x.doc.eq(json!({"n": [0.0, 5e-324, -1e-7]})));
        assert_eq!(zero.count(&db).await.unwrap(), 1, "{backend:?}");
        let some = Doc::objects().filter(|x| x.doc.is_in([json!(1.0), json!(1e16)]));
        assert_eq!(some.count(&db).await.unwrap(), 2, "{backend:?}");
    })
    .await;
}

/// PostgreSQL kept 0.00 as 0 (sqlx writes every zero decimal without its scale).
///
/// MySQL: a DECIMAL column has one scale (the ORM's is DECIMAL(65, 30)), so no value
/// keeps its own; the ORM reads every decimal without the column's trailing zeros, so
/// `0.00` reads `0` (and `1.50` reads `1.5`): equal by value, not by scale.
#[tokio::test]
async fn a_zero_decimal_keeps_its_scale() {
    on_each_backend(|db, backend| async move {
        db.create_table::<Price>().await.unwrap();
        let mut p = Price {
            id: 0,
            amount: dec("0.00"),
        };
        p.save(&db).await.unwrap();
        let back = Price::objects()
            .values(|p| p.amount)
            .fetch(&db)
            .await
            .unwrap()[0];
        assert_eq!(back, dec("0.00"), "{backend:?}");
        let text = match backend {
            orm_tests::Backend::Mysql => "0",
            orm_tests::Backend::Sqlite | orm_tests::Backend::Postgres => "0.00",
        };
        assert_eq!(back.to_string(), text, "{backend:?}");
    })
    .await;
}
