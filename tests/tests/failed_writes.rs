//! Issue 8.3: a write that fails, or fails to commit, changes no instance. `bulk_create`
//! used to set the primary keys of rows that were then rolled back, so a later `save()`
//! sent an UPDATE that matched nothing and then an INSERT with a stale key.

use orm_sqlx::prelude::*;
use orm_tests::wide::{self, Wide};
use orm_tests::{Backend, on_each_backend};

#[tokio::test]
async fn a_bulk_create_whose_last_batch_fails_keeps_no_row_and_sets_no_key() {
    on_each_backend(|db, backend| async move {
        // The table refuses c0 = -1: the last batch fails after two have been inserted.
        let key = match backend {
            Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            Backend::Postgres => "BIGSERIAL PRIMARY KEY",
            Backend::Mysql => "BIGINT AUTO_INCREMENT PRIMARY KEY",
        };
        let columns: Vec<String> = (0..10)
            .map(|i| {
                let check = if i == 0 { " CHECK (c0 >= 0)" } else { "" };
                format!("c{i} INTEGER NOT NULL{check}")
            })
            .collect();
        db.execute_raw(&format!(
            "CREATE TABLE wide (id {key}, {})",
            columns.join(", ")
        ))
        .await
        .unwrap();
        let n = 2 * wide::per_batch(db.dialect()) + 10;
        let mut rows = wide::rows(n);
        rows.last_mut().unwrap().c0 = -1;
        let e = Wide::objects()
            .bulk_create(&mut rows, &db)
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Integrity {
                    kind: orm_sqlx::Violation::Check,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(Wide::objects().count(&db).await.unwrap(), 0);
        assert!(
            rows.iter().all(|r| r.id == 0),
            "a rolled-back row left its key on an instance: {:?}",
            rows.iter().map(|r| r.id).find(|&id| id != 0)
        );
        // Fixed, the same instances insert cleanly: no stale key sends an UPDATE first.
        rows.last_mut().unwrap().c0 = 1;
        Wide::objects().bulk_create(&mut rows, &db).await.unwrap();
        assert_eq!(Wide::objects().count(&db).await.unwrap(), n as u64);
        assert!(rows.iter().all(|r| r.id > 0));
        let mut first = rows[0].clone();
        first.c1 = 7;
        first.save(&db).await.unwrap();
        assert_eq!(Wide::objects().count(&db).await.unwrap(), n as u64);
    })
    .await;
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "parents")]
struct Parent {
    id: i64,
    name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "children")]
struct Child {
    id: i64,
    parent: ForeignKey<Parent>,
}

/// The foreign keys the ORM creates are checked at COMMIT (on MySQL, which cannot defer
/// them, at the INSERT): a bulk_create whose rows point at nothing fails there, and must
/// leave the instances as they were.
#[tokio::test]
async fn a_bulk_create_that_fails_at_commit_sets_no_key() {
    on_each_backend(|db, backend| async move {
        db.create_tables::<(Parent, Child)>().await.unwrap();
        let mut parent = Parent {
            id: 0,
            name: "p".into(),
        };
        parent.save(&db).await.unwrap();
        // Enough rows for two INSERTs, so they run in one transaction; the last points at
        // a parent that does not exist.
        let n = backend.max_params() + 5;
        let mut children: Vec<Child> = (0..n)
            .map(|_| Child {
                id: 0,
                parent: ForeignKey::new(parent.id),
            })
            .collect();
        children.last_mut().unwrap().parent = ForeignKey::new(parent.id + 1000);
        let e = Child::objects()
            .bulk_create(&mut children, &db)
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Integrity {
                    kind: orm_sqlx::Violation::ForeignKey,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(Child::objects().count(&db).await.unwrap(), 0);
        assert!(children.iter().all(|c| c.id == 0));

        // One instance alone: the INSERT itself is the commit.
        let mut orphan = Child {
            id: 0,
            parent: ForeignKey::new(parent.id + 1000),
        };
        assert!(orphan.save(&db).await.is_err());
        assert_eq!(orphan.id, 0);
        assert_eq!(Child::objects().count(&db).await.unwrap(), 0);
    })
    .await;
}
