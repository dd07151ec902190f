//! A database error keeps a bounded excerpt of its statement, not the statement: a failed
//! 10,000-row INSERT would otherwise carry half a megabyte of SQL in its message.

use orm_sqlx::core::error::SQL_EXCERPT_CHARS;
use orm_sqlx::prelude::*;
use orm_tests::{on_each_backend, portable_sql};

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "items")]
pub struct Item {
    pub id: i64,
    pub name: String,
    pub note: String,
}

#[tokio::test]
async fn a_failed_multi_row_insert_shows_an_excerpt_of_its_sql() {
    on_each_backend(|db, backend| async move {
        db.create_table::<Item>().await.unwrap();
        db.execute_raw("CREATE UNIQUE INDEX items_name ON items (name)")
            .await
            .unwrap();
        // 10,000 rows in one INSERT (two parameters a row fit either backend's limit);
        // the last one repeats the first one's name.
        let mut items: Vec<Item> = (0..10_000)
            .map(|i| Item {
                id: 0,
                name: format!("item {}", i % 9_999),
                note: "a note".into(),
            })
            .collect();
        let (r, q) = capture_queries(Item::objects().bulk_create(&mut items, &db)).await;
        let full = q
            .last()
            .map(|q| q.sql.chars().count())
            .expect("the INSERT was sent");
        assert!(full > 50_000, "{backend:?}: {full}");
        let e = r.unwrap_err();
        // The duplicate name is a unique violation, with the same excerpt of the SQL.
        let Error::Integrity { sql, .. } = &e else {
            panic!("{backend:?}: expected a unique violation, got {e:?}");
        };
        assert!(e.is_unique_violation());
        // On failure, only the length and the end: the whole would be the problem itself.
        let end: String = sql
            .chars()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let about = format!(
            "{backend:?}: {} characters, ending {end:?}",
            sql.chars().count()
        );
        assert!(
            portable_sql(backend, sql).starts_with(r#"INSERT INTO "items""#),
            "{about}"
        );
        let tail = format!("… ({} more characters)", full - SQL_EXCERPT_CHARS);
        assert!(sql.ends_with(&tail), "{about}");
        assert!(
            sql.chars().count() == SQL_EXCERPT_CHARS + tail.chars().count(),
            "{about}"
        );
        for shown in [e.to_string(), format!("{e:?}")] {
            assert!(shown.len() < 2_000, "{backend:?}: {} bytes", shown.len());
        }
        assert_eq!(Item::objects().count(&db).await.unwrap(), 0);
    })
    .await;
}
