//! The schema `create_tables` makes, read back from each database's catalog: every foreign
//! key column is indexed (Django indexes them: following a relation from its target,
//! prefetching it and cascading a delete all filter on that column) and carries its
//! `REFERENCES` constraint, and creating the tables twice changes nothing.

use orm_sqlx::prelude::*;
use orm_sqlx::sqlx;
use orm_tests::library::{Author, Book, Country, Employee, Publisher, Tag};
use orm_tests::{Backend, on_each_backend};

type Schema = (Country, Publisher, Author, Tag, Book, Employee);

/// `(table, column)` of every single-column index, and `(table, column, referenced table)`
/// of every foreign key, as the database's catalog lists them.
async fn catalog(
    db: &Db,
    backend: Backend,
) -> (Vec<(String, String)>, Vec<(String, String, String)>) {
    let tables = [
        "countries",
        "publishers",
        "authors",
        "tags",
        "books",
        "employees",
        "books_tags",
    ];
    let mut indexes = Vec::new();
    let mut keys = Vec::new();
    match backend {
        Backend::Sqlite => {
            let pool = db.sqlite_pool().unwrap();
            for t in tables {
                let names: Vec<(String,)> = sqlx::query_as("SELECT name FROM pragma_index_list(?)")
                    .bind(t)
                    .fetch_all(pool)
                    .await
                    .unwrap();
                for (name,) in names {
                    let cols: Vec<(String,)> =
                        sqlx::query_as("SELECT name FROM pragma_index_info(?)")
                            .bind(&name)
                            .fetch_all(pool)
                            .await
                            .unwrap();
                    if cols.len() == 1 {
                        indexes.push((t.to_owned(), cols[0].0.clone()));
                    }
                }
                let fks: Vec<(String, String)> =
                    sqlx::query_as("SELECT \"from\", \"table\" FROM pragma_foreign_key_list(?)")
                        .bind(t)
                        .fetch_all(pool)
                        .await
                        .unwrap();
                keys.extend(fks.into_iter().map(|(c, r)| (t.to_owned(), c, r)));
            }
        }
        Backend::Postgres => {
            let pool = db.pg_pool().unwrap();
            indexes = sqlx::query_as(
                "SELECT t.relname::text, a.attname::text FROM pg_index i \
                 JOIN pg_class t ON t.oid = i.indrelid \
                 JOIN pg_namespace n ON n.oid = t.relnamespace \
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] \
                 WHERE n.nspname = current_schema() AND i.indnatts = 1",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            keys = sqlx::query_as(
                "SELECT cl.relname::text, a.attname::text, rt.relname::text FROM pg_constraint c \
                 JOIN pg_class cl ON cl.oid = c.conrelid \
                 JOIN pg_class rt ON rt.oid = c.confrelid \
                 JOIN pg_namespace n ON n.oid = cl.relnamespace \
                 JOIN pg_attribute a ON a.attrelid = cl.oid AND a.attnum = c.conkey[1] \
                 WHERE c.contype = 'f' AND n.nspname = current_schema()",
            )
            .fetch_all(pool)
            .await
            .unwrap();
        }
        Backend::Mysql => {
            let pool = db.mysql_pool().unwrap();
            let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
                "SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME, \
                 CAST(COUNT(*) OVER (PARTITION BY TABLE_NAME, INDEX_NAME) AS SIGNED) \
                 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            indexes = rows
                .into_iter()
                .filter(|r| r.3 == 1)
                .map(|(t, _, c, _)| (t, c))
                .collect();
            keys = sqlx::query_as(
                "SELECT TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME \
                 FROM information_schema.KEY_COLUMN_USAGE \
                 WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL",
            )
            .fetch_all(pool)
            .await
            .unwrap();
        }
    }
    indexes.sort();
    indexes.dedup();
    keys.sort();
    (indexes, keys)
}

#[tokio::test]
async fn every_foreign_key_is_indexed_and_constrained() {
    on_each_backend(|db, backend| async move {
        db.create_tables::<Schema>().await.unwrap();
        let (indexes, keys) = catalog(&db, backend).await;
        let want_keys = [
            ("authors", "country_id", "countries"),
            ("books", "author_id", "authors"),
            ("books", "publisher_id", "publishers"),
            ("books_tags", "book_id", "books"),
            ("books_tags", "tag_id", "tags"),
            ("employees", "boss_id", "employees"),
        ];
        let got: Vec<(&str, &str, &str)> = keys
            .iter()
            .map(|(t, c, r)| (t.as_str(), c.as_str(), r.as_str()))
            .collect();
        assert_eq!(got, want_keys, "{backend:?}");
        for (table, column, _) in want_keys {
            // The pair (book_id, tag_id) is UNIQUE, which indexes book_id first.
            if (table, column) == ("books_tags", "book_id") {
                continue;
            }
            assert!(
                indexes.iter().any(|(t, c)| t == table && c == column),
                "{backend:?}: {table}.{column} has no index of its own: {indexes:?}"
            );
        }
        // Twice: nothing is created again, nothing fails.
        db.create_tables::<Schema>().await.unwrap();
        assert_eq!(catalog(&db, backend).await, (indexes, keys), "{backend:?}");
    })
    .await;
}
