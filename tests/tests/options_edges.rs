//! Review of issue 12.4 (model options): edge cases that break on some backend.

use std::str::FromStr;

use orm_sqlx::RawQuery;
use orm_sqlx::prelude::*;
use orm_tests::{Backend, on_each_backend};
use rust_decimal::Decimal;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// Two `unique_together` whose generated names are the same: `edge_pairs_a_b_c_uniq`
/// for (a_b, c) and for (a, b_c).
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "edge_pairs", unique_together(a_b, c), unique_together(a, b_c))]
pub struct Pair {
    pub id: i64,
    pub a: i64,
    pub a_b: i64,
    pub b_c: i64,
    pub c: i64,
}

#[tokio::test]
async fn two_unique_together_whose_names_collide_are_both_enforced() {
    on_each_backend(|db, backend| async move {
        db.create_tables::<(Pair,)>()
            .await
            .unwrap_or_else(|e| panic!("{}: create_tables: {e}", backend.name()));
        let mut p = Pair {
            id: 0,
            a: 1,
            a_b: 1,
            b_c: 1,
            c: 1,
        };
        p.insert(&db).await.unwrap();
        // Same (a, b_c), another (a_b, c): the second constraint must refuse it.
        let mut q = Pair {
            id: 0,
            a: 1,
            a_b: 2,
            b_c: 1,
            c: 2,
        };
        let r = q.insert(&db).await;
        assert!(
            matches!(&r, Err(e) if e.is_unique_violation()),
            "{}: unique_together(a, b_c) not enforced: {r:?}",
            backend.name()
        );
    })
    .await;
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "edge_bounded")]
pub struct Bounded {
    pub id: i64,
    #[orm(max_length = 5)]
    pub short: String,
    pub long: String,
    #[orm(max_digits = 5, decimal_places = 2)]
    pub price: Decimal,
}

/// `update()` with a column as the value: the longer value must not be stored (SQLite
/// does not enforce VARCHAR(n)).
#[tokio::test]
async fn max_length_holds_when_update_copies_a_longer_column() {
    on_each_backend(|db, backend| async move {
        db.create_tables::<(Bounded,)>().await.unwrap();
        let mut b = Bounded {
            id: 0,
            short: "ok".into(),
            long: "x".repeat(10),
            price: dec("1"),
        };
        b.insert(&db).await.unwrap();
        let r = Bounded::objects()
            .update(|x| x.short.set(x.long), &db)
            .await;
        let back = Bounded::objects().get_pk(b.id, &db).await.unwrap();
        assert!(
            r.is_err() && back.short == "ok",
            "{}: {r:?}, stored {:?} ({} characters) in a max_length = 5 column",
            backend.name(),
            back.short,
            back.short.chars().count()
        );
    })
    .await;
}

/// `update()` with arithmetic: 1.00 + 0.001 does not fit two places; it must be refused,
/// never rounded to 1.00.
#[tokio::test]
async fn decimal_places_hold_when_update_computes_the_value() {
    on_each_backend(|db, backend| async move {
        db.create_tables::<(Bounded,)>().await.unwrap();
        let mut b = Bounded {
            id: 0,
            short: "ok".into(),
            long: "l".into(),
            price: dec("1"),
        };
        b.insert(&db).await.unwrap();
        let r = Bounded::objects()
            .update(|x| x.price.set(x.price + dec("0.001")), &db)
            .await;
        let back = Bounded::objects().get_pk(b.id, &db).await;
        assert!(
            r.is_err() && matches!(&back, Ok(v) if v.price == dec("1")),
            "{}: update gave {r:?}, the row reads back as {back:?}",
            backend.name()
        );
    })
    .await;
}

/// `#[orm(index)]` on `a_b` and a struct-level `index(a, b)`: two indexes named
/// `edge_twice_a_b_idx` (MySQL refuses the table; elsewhere the second is skipped).
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "edge_twice", index(a, b))]
pub struct Twice {
    pub id: i64,
    pub a: i64,
    pub b: i64,
    #[orm(index)]
    pub a_b: i64,
}

#[tokio::test]
async fn a_column_index_and_a_composite_index_with_the_same_name_are_both_created() {
    on_each_backend(|db, backend| async move {
        db.create_tables::<(Twice,)>()
            .await
            .unwrap_or_else(|e| panic!("{}: create_tables: {e}", backend.name()));
        let sql = match backend {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'edge_twice' \
                 AND name NOT LIKE 'sqlite_autoindex%'"
            }
            Backend::Postgres => {
                "SELECT indexname FROM pg_indexes WHERE tablename = 'edge_twice' AND \
                 schemaname = current_schema() AND indexname <> 'edge_twice_pkey'"
            }
            Backend::Mysql => {
                "SELECT DISTINCT index_name FROM information_schema.statistics WHERE \
                 table_schema = DATABASE() AND table_name = 'edge_twice' AND index_name <> 'PRIMARY'"
            }
        };
        let names: Vec<String> = RawQuery::new(sql, ()).into_vec(&db).await.unwrap();
        assert_eq!(names.len(), 2, "{}: indexes {names:?}", backend.name());
    })
    .await;
}
