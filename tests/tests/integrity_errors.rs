//! Issue 12.3: an integrity violation is one typed error on every backend
//! (`Error::Integrity`), with what the database names, so that an app can turn a
//! duplicate into a 409 without knowing the driver.

use orm_sqlx::core::sql::raw::raw_statement;
use orm_sqlx::prelude::*;
use orm_sqlx::{Value, Violation};
use orm_tests::library::{Author, Book};
use orm_tests::{Backend, with_library};

/// A statement of the test's own, through the executor (so through the chokepoint and
/// its error mapping).
async fn exec(db: &Db, sql: &str, params: Vec<Value>) -> Result<()> {
    let stmt = raw_statement(sql, params, db.dialect())?;
    let mut ex = db;
    ex.execute(stmt).await.map(drop)
}

#[tokio::test]
async fn a_duplicate_key_is_a_unique_violation() {
    with_library(|db, backend, lib| async move {
        let mut again = lib.b1.clone();
        let (r, q) = capture_queries(again.insert(&db)).await;
        assert_eq!(q.len(), 1);
        let e = r.unwrap_err();
        assert!(e.is_unique_violation(), "{backend:?}: {e:?}");
        let Error::Integrity { kind, on, .. } = &e else {
            unreachable!()
        };
        let (table, column, constraint) = (&on.table, &on.column, &on.name);
        assert_eq!(*kind, Violation::Unique);
        match backend {
            Backend::Sqlite | Backend::Postgres => {
                assert_eq!(column.as_deref(), Some("id"), "{e:?}");
                assert_eq!(table.as_deref(), Some("books"), "{e:?}");
            }
            Backend::Mysql => assert_eq!(constraint.as_deref(), Some("PRIMARY"), "{e:?}"),
        }
        assert!(e.to_string().starts_with("unique violation"), "{e}");
        // Nothing was written.
        assert_eq!(Book::objects().count(&db).await.unwrap(), 3);
    })
    .await;
}

#[tokio::test]
async fn a_key_to_no_row_is_a_foreign_key_violation() {
    with_library(|db, backend, lib| async move {
        let mut orphan = lib.b2.clone();
        orphan.id = 0;
        orphan.author = orm_sqlx::ForeignKey::new(999_999);
        let (r, q) = capture_queries(orphan.save(&db)).await;
        assert_eq!(q.len(), 1);
        let e = r.unwrap_err();
        assert!(
            matches!(
                &e,
                Error::Integrity {
                    kind: Violation::ForeignKey,
                    ..
                }
            ),
            "{backend:?}: {e:?}"
        );
        if let Error::Integrity { on, .. } = &e {
            let (table, column) = (&on.table, &on.column);
            match backend {
                Backend::Postgres => assert_eq!(table.as_deref(), Some("books"), "{e:?}"),
                Backend::Mysql => {
                    assert_eq!(table.as_deref(), Some("books"), "{e:?}");
                    assert_eq!(column.as_deref(), Some("author_id"), "{e:?}");
                }
                // SQLite says only "FOREIGN KEY constraint failed".
                Backend::Sqlite => {}
            }
        }
        assert_eq!(orphan.id, 0, "no key was set");
        // Deleting a row still referenced, outside the ORM's cascade, is one too.
        let r = exec(
            &db,
            "DELETE FROM authors WHERE id = ?",
            vec![Value::I64(lib.bob.id)],
        )
        .await;
        let e = r.unwrap_err();
        assert!(
            matches!(
                &e,
                Error::Integrity {
                    kind: Violation::ForeignKey,
                    ..
                }
            ),
            "{backend:?}: {e:?}"
        );
        assert_eq!(Author::objects().count(&db).await.unwrap(), 3);
    })
    .await;
}

#[tokio::test]
async fn null_in_a_not_null_column_and_a_failed_check() {
    with_library(|db, backend, _lib| async move {
        let r = exec(&db, "INSERT INTO authors (name) VALUES (NULL)", vec![]).await;
        let e = r.unwrap_err();
        assert!(
            matches!(&e, Error::Integrity { kind: Violation::NotNull, on, .. } if on.column.as_deref() == Some("name")),
            "{backend:?}: {e:?}"
        );
        exec(
            &db,
            "CREATE TABLE stock (id INTEGER PRIMARY KEY, qty INTEGER NOT NULL, \
             CONSTRAINT qty_positive CHECK (qty >= 0))",
            vec![],
        )
        .await
        .unwrap();
        let r = exec(&db, "INSERT INTO stock (id, qty) VALUES (1, ?)", vec![Value::I32(-1)]).await;
        let e = r.unwrap_err();
        assert!(
            matches!(&e, Error::Integrity { kind: Violation::Check, on, .. } if on.name.as_deref() == Some("qty_positive")),
            "{backend:?}: {e:?}"
        );
    })
    .await;
}
