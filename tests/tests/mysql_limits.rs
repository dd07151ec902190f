//! Limits only MySQL/MariaDB has are typed errors that name the model's field, never a value
//! cut short or clamped (every ORM connection sets a strict `sql_mode`, which turns them
//! into errors, and the backend maps those errors):
//!
//! - a text (or bytes) column that is a key or an index is `VARCHAR(255)` (`VARBINARY(255)`)
//!   on MySQL, whose TEXT and BLOB columns cannot be keys: a longer value is
//!   `Error::TooLong`, naming `Model.field`;
//! - a value out of its column's range (MySQL's `DECIMAL(65, 30)` holds 35 digits before
//!   the point) is `Error::OutOfRange`, whose message starts with `Model.field`.
//!
//! SQLite and PostgreSQL have neither limit: there the same values are stored (a decimal
//! past what `rust_decimal` holds is then refused as the other tests say).

use orm_sqlx::prelude::*;
use orm_tests::{Backend, on_each_backend};
use rust_decimal::Decimal;

/// A text primary key, in a column named differently from its field.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "codes")]
struct Code {
    #[orm(primary_key)]
    #[orm(column = "code_text")]
    code: String,
    note: String,
    amount: Decimal,
}

fn code(text: String) -> Code {
    Code {
        code: text,
        note: "n".repeat(70_000),
        amount: Decimal::ONE,
    }
}

fn too_long<T: std::fmt::Debug>(r: Result<T>) {
    match r {
        Err(Error::TooLong {
            field,
            message,
            sql,
        }) => {
            assert_eq!(field, "Code.code", "{message}");
            assert!(sql.contains("codes"), "{sql}");
        }
        other => panic!("expected TooLong for Code.code, got {other:?}"),
    }
}

async fn stored(db: &Db) -> Vec<String> {
    Code::objects()
        .order_by(|c| c.code.asc())
        .values(|c| c.code)
        .fetch(db)
        .await
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn a_key_longer_than_its_mysql_column_is_a_typed_error_naming_the_field() {
    on_each_backend(|db, backend| async move {
        db.create_table::<Code>().await.unwrap();
        // 255 characters fit, however many bytes they take (510 here); a long text that
        // is not a key is no VARCHAR.
        let fits = "é".repeat(255);
        code(fits.clone()).insert(&db).await.unwrap();
        let long = "x".repeat(256);
        let r = code(long.clone()).insert(&db).await;
        let longer = "z".repeat(1_000);
        let r2 = Code::objects()
            .bulk_create(&mut [code("a".into()), code(longer.clone())], &db)
            .await;
        let r3 = Code::objects()
            .filter(|c| c.code.eq(fits.clone()))
            .update(|c| c.code.set("y".repeat(300)), &db)
            .await;
        match backend {
            Backend::Mysql => {
                too_long(r);
                too_long(r2);
                too_long(r3);
                // Nothing was cut short or written.
                assert_eq!(stored(&db).await, [fits]);
            }
            Backend::Sqlite | Backend::Postgres => {
                r.unwrap();
                r2.unwrap();
                r3.unwrap();
                assert_eq!(
                    stored(&db).await,
                    ["a".to_owned(), long, "y".repeat(300), longer]
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_value_out_of_its_mysql_columns_range_is_a_typed_error_naming_the_field() {
    on_each_backend(|db, backend| async move {
        db.create_table::<Code>().await.unwrap();
        let big = Decimal::from_i128_with_scale(10i128.pow(28), 0);
        let mut row = code("k".into());
        row.amount = big;
        row.insert(&db).await.unwrap();
        // 10^38: more digits before the point than DECIMAL(65, 30) holds.
        let times = Decimal::from_i128_with_scale(10i128.pow(10), 0);
        let r = Code::objects()
            .update(|c| c.amount.set(c.amount * times), &db)
            .await;
        let amount = || async {
            Code::objects()
                .values(|c| c.amount)
                .fetch(&db)
                .await
                .map(|a| a.to_vec())
        };
        match backend {
            Backend::Mysql => {
                match r {
                    Err(Error::OutOfRange { message, .. }) => {
                        assert!(message.starts_with("Code.amount: "), "{message}")
                    }
                    other => panic!("expected OutOfRange for Code.amount, got {other:?}"),
                }
                assert_eq!(amount().await.unwrap(), [big]);
            }
            // Past what a Decimal holds: refused when computed.
            Backend::Sqlite => {
                assert!(matches!(r, Err(Error::OutOfRange { .. })), "{r:?}");
                assert_eq!(amount().await.unwrap(), [big]);
            }
            // Stored (NUMERIC is unbounded), and refused when read.
            Backend::Postgres => {
                r.unwrap();
                assert!(matches!(amount().await, Err(Error::Decode { .. })));
            }
        }
    })
    .await;
}
