//! Edges found in review of issue 13 (migrations): cases the evolution and error tests do not reach.
//! Each test runs on every backend of `required_backends()`; run one backend at a time
//! with `ORM_TEST_BACKENDS=sqlite|postgres|mysql` to see each backend's outcome.

use orm_sqlx::migrate::{Made, MakeOptions, Migrator, Target};
use orm_sqlx::prelude::*;
use orm_tests::catalog::{diff, snapshot};
use orm_tests::migration::{assert_schema_is_create_tables, make, temp_dir};
use orm_tests::{Backend, TestDb, required_backends};

// ---------------------------------------------------------------------------------------
// 1. unique_together added over duplicate rows.

mod ut1 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "rv_pairs")]
    pub struct Pair {
        pub id: i64,
        pub a: String,
        pub b: String,
    }
}
mod ut2 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "rv_pairs", unique_together(a, b))]
    pub struct Pair {
        pub id: i64,
        pub a: String,
        pub b: String,
        pub note: Option<String>,
    }
}

/// A migration that adds a column and a `unique_together` over rows with duplicate pairs
/// must be refused by a check before anything is applied (as `alter_field` to unique is),
/// and leave the schema as it was.
#[tokio::test]
async fn unique_together_added_over_duplicates_is_refused_before_anything() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir("ut");
        make::<(ut1::Pair,)>(&dir);
        Migrator::new::<(ut1::Pair,)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        for _ in 0..2 {
            ut1::Pair {
                id: 0,
                a: "x".into(),
                b: "y".into(),
            }
            .insert(db)
            .await
            .unwrap();
        }
        make::<(ut2::Pair,)>(&dir);
        let e = Migrator::new::<(ut2::Pair,)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap_err();
        let m = match &e {
            Error::Migration(m) => m.clone(),
            other => panic!(
                "[{}] expected Error::Migration, got {other:?}",
                backend.name()
            ),
        };
        // The schema is the one before the migration.
        assert_schema_is_create_tables::<(ut1::Pair,)>(db, backend).await;
        assert!(
            m.contains("Nothing was applied"),
            "[{}] not refused by a check before anything was sent: {m}",
            backend.name()
        );
        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------
// 2. MySQL: an index added on a text column turns LONGTEXT into VARCHAR(255).

mod tx1 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "rv_docs")]
    pub struct Doc {
        pub id: i64,
        pub body: String,
    }
}
mod tx2 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "rv_docs")]
    pub struct Doc {
        pub id: i64,
        #[orm(index)]
        pub body: String,
    }
}

/// Indexing a text column keeps every value (or is refused by a check before anything):
/// on MySQL the column becomes VARCHAR(255) and a 300-character value does not fit.
#[tokio::test]
async fn index_added_on_long_text_keeps_values_or_is_refused_first() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir("tx");
        make::<(tx1::Doc,)>(&dir);
        Migrator::new::<(tx1::Doc,)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        let long = "x".repeat(300);
        tx1::Doc {
            id: 0,
            body: long.clone(),
        }
        .insert(db)
        .await
        .unwrap();
        make::<(tx2::Doc,)>(&dir);
        match Migrator::new::<(tx2::Doc,)>(&dir)
            .migrate(db, &Target::Latest)
            .await
        {
            Ok(_) => {
                let d = tx2::Doc::objects().get(db).await.unwrap();
                assert_eq!(d.body, long, "[{}] value changed", backend.name());
                assert_schema_is_create_tables::<(tx2::Doc,)>(db, backend).await;
            }
            Err(e) => {
                let m = e.to_string();
                assert!(
                    m.contains("Nothing was applied"),
                    "[{}] refused only by the database, mid-migration: {m}",
                    backend.name()
                );
            }
        }
        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------
// 3. A model that owns a many-to-many renamed.

mod mm1 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "rv_tags")]
    pub struct Tag {
        pub id: i64,
        pub label: String,
    }
    #[derive(Model, Debug, Clone)]
    #[orm(table = "rv_posts")]
    pub struct Post {
        pub id: i64,
        pub title: String,
        pub tags: ManyToMany<Tag>,
    }
}
mod mm2 {
    pub use super::mm1::Tag;
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone)]
    #[orm(table = "rv_articles", renamed_from = "rv_posts")]
    pub struct Article {
        pub id: i64,
        pub title: String,
        pub tags: ManyToMany<Tag>,
    }
}

/// Renaming a model that owns a many-to-many keeps the links and ends in the schema
/// `create_tables` makes (the join table's own UNIQUE (parent, target) included).
#[tokio::test]
async fn renamed_model_owning_a_many_to_many_matches_create_tables() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir("mm");
        make::<(mm1::Tag, mm1::Post)>(&dir);
        Migrator::new::<(mm1::Tag, mm1::Post)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        let mut tag = mm1::Tag {
            id: 0,
            label: "rust".into(),
        };
        tag.insert(db).await.unwrap();
        let mut p = mm1::Post {
            id: 0,
            title: "p".into(),
            tags: Default::default(),
        };
        p.insert(db).await.unwrap();
        p.add_related(|p| p.tags(), [tag.id], db).await.unwrap();
        make::<(mm2::Tag, mm2::Article)>(&dir);
        Migrator::new::<(mm2::Tag, mm2::Article)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        let n = mm2::Article::objects()
            .filter(|a| a.tags().label.eq("rust"))
            .count(db)
            .await
            .unwrap();
        assert_eq!(n, 1, "[{}] link lost", backend.name());
        assert_schema_is_create_tables::<(mm2::Tag, mm2::Article)>(db, backend).await;
        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------
// 4. SQLite rebuild and AUTOINCREMENT.

mod ai1 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "rv_counters")]
    pub struct Counter {
        pub id: i64,
        pub name: String,
    }
}
mod ai2 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "rv_counters")]
    pub struct Counter {
        pub id: i64,
        pub name: Option<String>,
    }
}

/// A table change does not make the database reuse the key of a deleted row (SQLite's
/// AUTOINCREMENT promise, PostgreSQL's sequence, MySQL's AUTO_INCREMENT).
#[tokio::test]
async fn a_table_change_does_not_reuse_deleted_ids() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir("ai");
        make::<(ai1::Counter,)>(&dir);
        Migrator::new::<(ai1::Counter,)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        let mut last = 0;
        for i in 0..3 {
            let mut c = ai1::Counter {
                id: 0,
                name: format!("c{i}"),
            };
            c.insert(db).await.unwrap();
            last = c.id;
        }
        ai1::Counter::objects()
            .filter(|c| c.id.eq(last))
            .delete(db)
            .await
            .unwrap();
        make::<(ai2::Counter,)>(&dir);
        Migrator::new::<(ai2::Counter,)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        let mut c = ai2::Counter { id: 0, name: None };
        c.insert(db).await.unwrap();
        assert!(
            c.id > last,
            "[{}] id {} of a deleted row handed out again after the migration",
            backend.name(),
            c.id
        );
        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------
// 5. A foreign key's target changed while rows point at keys the new target lacks.

mod fk1 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "rv_a")]
    pub struct A {
        pub id: i64,
    }
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "rv_b")]
    pub struct B {
        pub id: i64,
    }
    #[derive(Model, Debug, Clone)]
    #[orm(table = "rv_items")]
    pub struct Item {
        pub id: i64,
        pub r: ForeignKey<A>,
    }
}
mod fk2 {
    pub use super::fk1::{A, B};
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone)]
    #[orm(table = "rv_items")]
    pub struct Item {
        pub id: i64,
        pub r: ForeignKey<B>,
    }
}

/// Retargeting a foreign key over rows whose keys do not exist in the new target is a
/// typed error that leaves the schema as it was.
#[tokio::test]
async fn foreign_key_retargeted_over_dangling_rows_leaves_the_schema_alone() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir("fk");
        make::<(fk1::A, fk1::B, fk1::Item)>(&dir);
        Migrator::new::<(fk1::A, fk1::B, fk1::Item)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        let mut a = fk1::A { id: 0 };
        a.insert(db).await.unwrap();
        fk1::Item {
            id: 0,
            r: ForeignKey::new(a.id),
        }
        .insert(db)
        .await
        .unwrap();
        make::<(fk2::A, fk2::B, fk2::Item)>(&dir);
        let e = Migrator::new::<(fk2::A, fk2::B, fk2::Item)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Migration(_)), "{e:?}");
        eprintln!("[{}] {e}", backend.name());
        assert_schema_is_create_tables::<(fk1::A, fk1::B, fk1::Item)>(db, backend).await;
        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------
// 6. A primary key referenced by another table's foreign key renamed.

mod pk1 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "rv_shelves")]
    pub struct Shelf {
        #[orm(primary_key)]
        pub code: i64,
        pub label: String,
    }
    #[derive(Model, Debug, Clone)]
    #[orm(table = "rv_books")]
    pub struct Book {
        pub id: i64,
        pub shelf: ForeignKey<Shelf>,
    }
}
mod pk2 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "rv_shelves")]
    pub struct Shelf {
        #[orm(primary_key, renamed_from = "code")]
        pub number: i64,
        pub label: String,
    }
    #[derive(Model, Debug, Clone)]
    #[orm(table = "rv_books")]
    pub struct Book {
        pub id: i64,
        pub shelf: ForeignKey<Shelf>,
    }
}

#[tokio::test]
async fn renamed_primary_key_referenced_by_a_foreign_key() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir("pk");
        make::<(pk1::Shelf, pk1::Book)>(&dir);
        Migrator::new::<(pk1::Shelf, pk1::Book)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        pk1::Shelf {
            code: 7,
            label: "s".into(),
        }
        .insert(db)
        .await
        .unwrap();
        pk1::Book {
            id: 0,
            shelf: ForeignKey::new(7),
        }
        .insert(db)
        .await
        .unwrap();
        make::<(pk2::Shelf, pk2::Book)>(&dir);
        Migrator::new::<(pk2::Shelf, pk2::Book)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        assert_schema_is_create_tables::<(pk2::Shelf, pk2::Book)>(db, backend).await;
        let n = pk2::Book::objects()
            .filter(|b| b.shelf().label.eq("s"))
            .count(db)
            .await
            .unwrap();
        assert_eq!(n, 1);
        let e = pk2::Book {
            id: 0,
            shelf: ForeignKey::new(999),
        }
        .insert(db)
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
        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------
// 7. Two models with a key cycle: created in one migration, then both deleted.

mod cy1 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone)]
    #[orm(table = "rv_eggs")]
    pub struct Egg {
        pub id: i64,
        pub hen: Option<ForeignKey<Hen>>,
    }
    #[derive(Model, Debug, Clone)]
    #[orm(table = "rv_hens")]
    pub struct Hen {
        pub id: i64,
        pub egg: Option<ForeignKey<Egg>>,
    }
    #[derive(Model, Debug, Clone)]
    #[orm(table = "rv_farms")]
    pub struct Farm {
        pub id: i64,
    }
}

/// `create_tables` makes two models whose keys point at each other (the migration does:
/// it adds the second key after both tables exist).
#[tokio::test]
async fn create_tables_makes_a_key_cycle() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        let r =
            t.db.create_tables::<(cy1::Egg, cy1::Hen, cy1::Farm)>()
                .await;
        assert!(r.is_ok(), "[{}] {r:?}", backend.name());
        // Twice changes nothing (the deferred keys are not added again).
        let before = snapshot(&t.db, backend).await;
        let r =
            t.db.create_tables::<(cy1::Egg, cy1::Hen, cy1::Farm)>()
                .await;
        assert!(r.is_ok(), "[{}] second run: {r:?}", backend.name());
        assert_eq!(diff(&before, &snapshot(&t.db, backend).await), "");
        assert_eq!(
            before.0["rv_eggs"].foreign_keys.len() + before.0["rv_hens"].foreign_keys.len(),
            2,
            "{before:?}"
        );
        t.cleanup().await;
    }
}

/// Django's autodetector deletes two models that reference each other in one migration
/// (it removes the keys first); the cycle is created fine by a migration, and the
/// deletion must also be computed.
#[tokio::test]
async fn a_key_cycle_is_created_then_deleted_by_migrations() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir("cy");
        make::<(cy1::Egg, cy1::Hen, cy1::Farm)>(&dir);
        Migrator::new::<(cy1::Egg, cy1::Hen, cy1::Farm)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        let made = Migrator::new::<(cy1::Farm,)>(&dir).make_migrations(&MakeOptions::default());
        assert!(
            matches!(made, Ok(Made::Written { .. })),
            "[{}] deleting two models that reference each other: {made:?}",
            backend.name()
        );
        Migrator::new::<(cy1::Farm,)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        assert_schema_is_create_tables::<(cy1::Farm,)>(db, backend).await;
        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------
// 8. run_sql fills NULLs, then the next migration makes the column NOT NULL, in one run.

mod nn1 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "rv_notes")]
    pub struct Note {
        pub id: i64,
        pub body: Option<String>,
    }
}
mod nn2 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "rv_notes")]
    pub struct Note {
        pub id: i64,
        pub body: String,
    }
}

#[tokio::test]
async fn run_sql_filling_nulls_then_not_null_in_one_run() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir("nn");
        make::<(nn1::Note,)>(&dir);
        Migrator::new::<(nn1::Note,)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        nn1::Note { id: 0, body: None }.insert(db).await.unwrap();
        std::fs::write(
            dir.join("0002_fill.toml"),
            "dependencies = [\"0001_initial\"]\n\n[[operations]]\nop = \"run_sql\"\nsql = { sqlite = \"UPDATE rv_notes SET body = 'x' WHERE body IS NULL\", postgres = [\"UPDATE rv_notes SET body = 'x' WHERE body IS NULL\"], mysql = \"UPDATE rv_notes SET body = 'x' WHERE body IS NULL\" }\nreverse = []\n",
        )
        .unwrap();
        make::<(nn2::Note,)>(&dir);
        let r = Migrator::new::<(nn2::Note,)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        assert_eq!(r.applied.len(), 2);
        assert_schema_is_create_tables::<(nn2::Note,)>(db, backend).await;
        assert_eq!(nn2::Note::objects().get(db).await.unwrap().body, "x");
        // And back to the first: reverse = [] is a no-op reverse.
        Migrator::new::<(nn1::Note,)>(&dir)
            .migrate(db, &Target::Name("0001".into()))
            .await
            .unwrap();
        assert_schema_is_create_tables::<(nn1::Note,)>(db, backend).await;
        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------
// 9. A hand-written file with a type typo.

#[tokio::test]
async fn a_column_type_typo_is_a_clear_error() {
    let dir = temp_dir("typo");
    std::fs::write(
        dir.join("0001_initial.toml"),
        "dependencies = []\n\n[[operations]]\nop = \"create_model\"\ntable = \"rv_typo\"\ncolumns = [{ name = \"id\", type = \"integr\", primary_key = true, auto = true }]\n",
    )
    .unwrap();
    let e = Migrator::new::<(nn1::Note,)>(&dir).graph().unwrap_err();
    let m = match e {
        Error::Migration(m) => m,
        other => panic!("{other:?}"),
    };
    assert!(m.contains("integr") && m.contains("0001_initial"), "{m}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------
// 10. SQLite: foreign keys enforced again on the pool after a rebuild.

mod pr1 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "rv_owners")]
    pub struct Owner {
        pub id: i64,
        pub name: String,
    }
    #[derive(Model, Debug, Clone)]
    #[orm(table = "rv_pets")]
    pub struct Pet {
        pub id: i64,
        pub owner: ForeignKey<Owner>,
        pub name: String,
    }
}
mod pr2 {
    pub use super::pr1::Owner;
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone)]
    #[orm(table = "rv_pets")]
    pub struct Pet {
        pub id: i64,
        pub owner: ForeignKey<Owner>,
        pub name: Option<String>,
    }
}

#[tokio::test]
async fn foreign_keys_still_enforced_after_a_rebuild() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        // SQLite: one connection, so the one the migration turned foreign keys off on is
        // the one the later writes use.
        let db = if backend == Backend::Sqlite {
            t.one_connection_pool(std::time::Duration::from_secs(5))
                .await
                .0
        } else {
            t.db.clone()
        };
        let dir = temp_dir("pr");
        make::<(pr1::Owner, pr1::Pet)>(&dir);
        Migrator::new::<(pr1::Owner, pr1::Pet)>(&dir)
            .migrate(&db, &Target::Latest)
            .await
            .unwrap();
        let mut o = pr1::Owner {
            id: 0,
            name: "o".into(),
        };
        o.insert(&db).await.unwrap();
        pr1::Pet {
            id: 0,
            owner: ForeignKey::new(o.id),
            name: "p".into(),
        }
        .insert(&db)
        .await
        .unwrap();
        make::<(pr2::Owner, pr2::Pet)>(&dir);
        Migrator::new::<(pr2::Owner, pr2::Pet)>(&dir)
            .migrate(&db, &Target::Latest)
            .await
            .unwrap();
        assert_schema_is_create_tables::<(pr2::Owner, pr2::Pet)>(&db, backend).await;
        let e = pr2::Pet {
            id: 0,
            owner: ForeignKey::new(999),
            name: None,
        }
        .insert(&db)
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
            "[{}] {e}",
            backend.name()
        );
        // And deleting a referenced owner is refused.
        let e = pr2::Owner::objects()
            .filter(|x| x.id.eq(o.id))
            .delete(&db)
            .await;
        eprintln!("[{}] delete referenced owner: {e:?}", backend.name());
        drop(db);
        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------
// 11. migrate on a pool of one connection.

/// `migrate` holds one connection (the lock is on it) and must not need a second: on a
/// pool of one connection (a `Db::from` MySQL pool, or MySQL proper, where the server is
/// asked its version each time) it waits for itself until the pool times out.
#[tokio::test]
async fn migrate_works_on_a_one_connection_pool() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        let (db, _) = t
            .one_connection_pool(std::time::Duration::from_secs(5))
            .await;
        let dir = temp_dir("one");
        make::<(pr1::Owner, pr1::Pet)>(&dir);
        let r = Migrator::new::<(pr1::Owner, pr1::Pet)>(&dir)
            .migrate(&db, &Target::Latest)
            .await;
        assert!(r.is_ok(), "[{}] {r:?}", backend.name());
        drop(db);
        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
