//! Second review of issue 13 (migrations): cases neither the evolution tests nor
//! migration_edges.rs reach. Each test runs on every backend of `required_backends()`;
//! run one backend at a time with `ORM_TEST_BACKENDS=sqlite|postgres|mysql`.

use orm_sqlx::migrate::{Made, MakeOptions, MigrationGraph, Migrator, Target};
use orm_sqlx::prelude::*;
use orm_tests::migration::{applied, assert_schema_is_create_tables, make, temp_dir};
use orm_tests::{TestDb, required_backends};

// ---------------------------------------------------------------------------------------
// 1. A decimal whose integer digits shrink (more decimal places, same max_digits).

mod dec1 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_prices")]
    pub struct Price {
        pub id: i64,
        #[orm(max_digits = 5, decimal_places = 2)]
        pub amount: rust_decimal::Decimal,
    }
}
mod dec2 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_prices")]
    pub struct Price {
        pub id: i64,
        pub note: Option<String>,
        #[orm(max_digits = 5, decimal_places = 4)]
        pub amount: rust_decimal::Decimal,
    }
}

/// NUMERIC(5,2) -> NUMERIC(5,4) leaves one integer digit: 123.45 does not fit. The check
/// for "fewer digits" only looks at decimal_places decreasing or max_digits decreasing,
/// so nothing refuses it first: PostgreSQL fails mid-migration ("numeric field
/// overflow"), MySQL fails after the ADD COLUMN was committed, SQLite accepts it and keeps
/// a value the column's declared type cannot hold.
#[tokio::test]
async fn decimal_losing_integer_digits_is_refused_before_anything() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir("dec");
        make::<(dec1::Price,)>(&dir);
        Migrator::new::<(dec1::Price,)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        dec1::Price {
            id: 0,
            amount: rust_decimal::Decimal::new(12345, 2),
        }
        .insert(db)
        .await
        .unwrap();
        make::<(dec2::Price,)>(&dir);
        let r = Migrator::new::<(dec2::Price,)>(&dir)
            .migrate(db, &Target::Latest)
            .await;
        let m = match r {
            Err(Error::Migration(m)) => m,
            other => panic!(
                "[{}] NUMERIC(5,2) holding 123.45 -> NUMERIC(5,4) accepted or untyped error: {other:?}",
                backend.name()
            ),
        };
        assert!(
            m.contains("Nothing was applied"),
            "[{}] not refused by a check before anything was sent: {m}",
            backend.name()
        );
        assert_schema_is_create_tables::<(dec1::Price,)>(db, backend).await;
        let rows = dec1::Price::objects().into_vec(db).await.unwrap();
        assert_eq!(rows[0].amount, rust_decimal::Decimal::new(12345, 2));
        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------
// 2. renamed_from naming a field that still exists.

mod rf1 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_cards")]
    pub struct Card {
        pub id: i64,
        pub title: Option<String>,
    }
}
mod rf2 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_cards")]
    pub struct Card {
        pub id: i64,
        pub title: Option<String>,
        #[orm(renamed_from = "title")]
        pub heading: Option<String>,
    }
}

/// A `renamed_from = "title"` on a new field while `title` is still a field is not a
/// rename (or is an error): the autodetector renames `title` to `heading` and adds a new
/// empty `title`, so every value of the kept field `title` silently moves away.
#[tokio::test]
async fn renamed_from_naming_a_kept_field_does_not_empty_it() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir("rf");
        make::<(rf1::Card,)>(&dir);
        Migrator::new::<(rf1::Card,)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        rf1::Card {
            id: 0,
            title: Some("kept".into()),
        }
        .insert(db)
        .await
        .unwrap();
        let made = Migrator::new::<(rf2::Card,)>(&dir).make_migrations(&MakeOptions::default());
        // Refused: the kept field's values must not move to the new one.
        let e = made.expect_err("a renamed_from naming a kept field must be refused");
        assert!(
            matches!(&e, Error::Migration(m) if m.contains("card") || m.contains("title"))
                && e.to_string().contains("still a field"),
            "[{}] {e}",
            backend.name()
        );
        let rows = rf1::Card::objects().into_vec(db).await.unwrap();
        assert_eq!(rows[0].title.as_deref(), Some("kept"));
        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------
// 3. delete_model unapplied.

mod dm1 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_labels")]
    pub struct Label {
        pub id: i64,
        pub name: String,
    }
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_boxes", index(code, size))]
    pub struct BoxM {
        pub id: i64,
        #[orm(index)]
        pub code: String,
        #[orm(unique)]
        pub serial: i64,
        pub size: i32,
        pub labels: ManyToMany<Label>,
    }
}
mod dm2 {
    pub use super::dm1::Label;
}

/// Unapplying a delete_model recreates the table, its indexes, its unique column and its
/// join table: the schema `create_tables` makes.
#[tokio::test]
async fn delete_model_unapplied_recreates_table_indexes_and_join_table() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir("dm");
        make::<(dm1::Label, dm1::BoxM)>(&dir);
        make::<(dm2::Label,)>(&dir);
        let m = Migrator::new::<(dm1::Label, dm1::BoxM)>(&dir);
        m.migrate(db, &Target::Latest).await.unwrap();
        assert_schema_is_create_tables::<(dm2::Label,)>(db, backend).await;
        m.migrate(db, &Target::Name("0001".into())).await.unwrap();
        assert_schema_is_create_tables::<(dm1::Label, dm1::BoxM)>(db, backend).await;
        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------
// 4. Widening type changes with rows: i32 -> i64 and i64 -> String.

mod wd1 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_counts")]
    pub struct Count {
        pub id: i64,
        pub small: i32,
        pub big: i64,
        pub gone: Option<String>,
    }
}
mod wd2 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_counts")]
    pub struct Count {
        pub id: i64,
        pub small: i64,
        pub big: String,
    }
}

/// i32 -> i64 and i64 -> String (a widening) keep every value; the text reads back as the
/// decimal digits (SQLite copies the rows in a rebuild, here forced by a removed column).
#[tokio::test]
async fn widening_type_changes_keep_values() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir("wd");
        make::<(wd1::Count,)>(&dir);
        Migrator::new::<(wd1::Count,)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        for (s, b) in [(i32::MAX, i64::MIN), (-7, 9_007_199_254_740_993)] {
            wd1::Count {
                id: 0,
                small: s,
                big: b,
                gone: None,
            }
            .insert(db)
            .await
            .unwrap();
        }
        make::<(wd2::Count,)>(&dir);
        Migrator::new::<(wd2::Count,)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap_or_else(|e| panic!("[{}] {e}", backend.name()));
        let mut rows = wd2::Count::objects().into_vec(db).await.unwrap();
        rows.sort_by_key(|r| r.id);
        let got: Vec<(i64, String)> = rows.into_iter().map(|r| (r.small, r.big)).collect();
        assert_eq!(
            got,
            [
                (i32::MAX as i64, i64::MIN.to_string()),
                (-7, "9007199254740993".to_owned())
            ],
            "[{}]",
            backend.name()
        );
        assert_schema_is_create_tables::<(wd2::Count,)>(db, backend).await;
        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------
// 5. Defaults added, changed, removed; a text default with quotes and backslashes;
//    Option<bool> -> bool with a default.

mod df1 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_flags")]
    pub struct Flag {
        pub id: i64,
        pub n: i32,
        pub label: String,
        #[orm(default = 5)]
        pub level: i32,
        pub on: Option<bool>,
    }
}
mod df2 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_flags")]
    pub struct Flag {
        pub id: i64,
        #[orm(default = 3)]
        pub n: i32,
        #[orm(default = "it's a \\ 'quoted' \\n \"back\\slash\"")]
        pub label: String,
        pub level: i32,
        #[orm(default = true)]
        pub on: bool,
    }
}
mod df3 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_flags")]
    pub struct Flag {
        pub id: i64,
        #[orm(default = 4)]
        pub n: i32,
        #[orm(default = "plain")]
        pub label: String,
        pub level: i32,
        #[orm(default = false)]
        pub on: bool,
    }
}

#[tokio::test]
async fn defaults_added_changed_removed_and_nulls_filled() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir("df");
        make::<(df1::Flag,)>(&dir);
        Migrator::new::<(df1::Flag,)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        for on in [None, Some(false), Some(true)] {
            df1::Flag {
                id: 0,
                n: 1,
                label: "x".into(),
                level: 1,
                on,
            }
            .insert(db)
            .await
            .unwrap();
        }
        make::<(df2::Flag,)>(&dir);
        Migrator::new::<(df2::Flag,)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap_or_else(|e| panic!("[{}] {e}", backend.name()));
        assert_schema_is_create_tables::<(df2::Flag,)>(db, backend).await;
        let mut rows = df2::Flag::objects().into_vec(db).await.unwrap();
        rows.sort_by_key(|r| r.id);
        let on: Vec<bool> = rows.iter().map(|r| r.on).collect();
        assert_eq!(on, [true, false, true], "[{}]", backend.name());
        // The database's own defaults: a row inserted naming only `level`.
        db.execute_raw("INSERT INTO r2_flags (level) VALUES (9)")
            .await
            .unwrap_or_else(|e| panic!("[{}] {e}", backend.name()));
        let r = df2::Flag::objects()
            .filter(|f| f.level.eq(9))
            .into_vec(db)
            .await
            .unwrap();
        assert_eq!(
            (r[0].n, r[0].label.as_str(), r[0].on),
            (3, "it's a \\ 'quoted' \\n \"back\\slash\"", true),
            "[{}]",
            backend.name()
        );
        make::<(df3::Flag,)>(&dir);
        Migrator::new::<(df3::Flag,)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap_or_else(|e| panic!("[{}] {e}", backend.name()));
        assert_schema_is_create_tables::<(df3::Flag,)>(db, backend).await;
        // Back to the first: the defaults come back as they were.
        Migrator::new::<(df3::Flag,)>(&dir)
            .migrate(db, &Target::Name("0002".into()))
            .await
            .unwrap();
        assert_schema_is_create_tables::<(df2::Flag,)>(db, backend).await;
        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------
// 6. A table rebuilt (SQLite) that is the target of a foreign key and of a many-to-many.

mod fk1 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_racks")]
    pub struct Rack {
        pub id: i64,
        pub name: String,
        pub old: Option<String>,
    }
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_parts")]
    pub struct Part {
        pub id: i64,
        pub rack: ForeignKey<Rack>,
        pub racks: ManyToMany<Rack>,
    }
}
mod fk2 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_racks")]
    pub struct Rack {
        pub id: i64,
        #[orm(max_length = 40)]
        pub name: String,
    }
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_parts")]
    pub struct Part {
        pub id: i64,
        pub rack: ForeignKey<Rack>,
        pub racks: ManyToMany<Rack>,
    }
}

/// After the target of keys is changed (rebuilt on SQLite), the child's key and the join
/// table's key still point at it and are enforced; the rows stay linked.
#[tokio::test]
async fn keys_to_a_changed_table_still_point_at_it_and_are_enforced() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir("fk");
        make::<(fk1::Rack, fk1::Part)>(&dir);
        Migrator::new::<(fk1::Rack, fk1::Part)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        db.execute_raw("INSERT INTO r2_racks (name, old) VALUES ('a', 'x')")
            .await
            .unwrap();
        db.execute_raw("INSERT INTO r2_parts (rack_id) SELECT id FROM r2_racks")
            .await
            .unwrap();
        make::<(fk2::Rack, fk2::Part)>(&dir);
        Migrator::new::<(fk2::Rack, fk2::Part)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap_or_else(|e| panic!("[{}] {e}", backend.name()));
        assert_schema_is_create_tables::<(fk2::Rack, fk2::Part)>(db, backend).await;
        let mut part = fk2::Part::objects().into_vec(db).await.unwrap().remove(0);
        let rack = fk2::Rack::objects().into_vec(db).await.unwrap().remove(0);
        part.add_related(|p| p.racks(), [rack.id], db)
            .await
            .unwrap();
        let bad = db
            .execute_raw("INSERT INTO r2_parts (rack_id) VALUES (424242)")
            .await;
        assert!(
            bad.is_err(),
            "[{}] dangling child key accepted",
            backend.name()
        );
        let bad = db
            .execute_raw(&format!("DELETE FROM r2_racks WHERE id = {}", rack.id))
            .await;
        assert!(
            bad.is_err(),
            "[{}] parent deleted under its children",
            backend.name()
        );
        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------
// 7. Branches and a merge; migrate to a target on one branch.

mod br {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_docs")]
    pub struct Doc {
        pub id: i64,
    }
    pub mod a {
        use orm_sqlx::prelude::*;
        #[derive(Model, Debug, Clone, PartialEq)]
        #[orm(table = "r2_docs")]
        pub struct Doc {
            pub id: i64,
            pub a: Option<String>,
        }
    }
    pub mod ab {
        use orm_sqlx::prelude::*;
        #[derive(Model, Debug, Clone, PartialEq)]
        #[orm(table = "r2_docs")]
        pub struct Doc {
            pub id: i64,
            pub a: Option<String>,
            pub b: Option<i64>,
        }
    }
}

#[tokio::test]
async fn migrate_to_a_target_on_one_branch_after_a_merge() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir("br");
        make::<(br::Doc,)>(&dir);
        std::fs::write(
            dir.join("0002_a.toml"),
            "dependencies = [\"0001_initial\"]\n\n[[operations]]\nop = \"add_field\"\ntable = \"r2_docs\"\ncolumn = { name = \"a\", type = \"text\", null = true }\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("0002_b.toml"),
            "dependencies = [\"0001_initial\"]\n\n[[operations]]\nop = \"add_field\"\ntable = \"r2_docs\"\ncolumn = { name = \"b\", type = \"i64\", null = true }\n",
        )
        .unwrap();
        let m = Migrator::new::<(br::ab::Doc,)>(&dir);
        let made = m
            .make_migrations(&MakeOptions {
                merge: true,
                ..MakeOptions::default()
            })
            .unwrap();
        assert!(matches!(made, Made::Written { .. }), "{made:?}");
        assert_eq!(m.changes().unwrap(), vec![]);
        m.migrate(db, &Target::Latest).await.unwrap();
        assert_schema_is_create_tables::<(br::ab::Doc,)>(db, backend).await;
        // Two names start with 0002: refused, nothing done.
        let e = m
            .migrate(db, &Target::Name("0002".into()))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("0002_a") && e.contains("0002_b"), "{e}");
        assert_eq!(applied(db).await.len(), 4);
        let r = m.migrate(db, &Target::Name("0002_a".into())).await.unwrap();
        assert_eq!(r.unapplied.len(), 2, "{r:?}");
        assert_eq!(applied(db).await, ["0001_initial", "0002_a"]);
        assert_schema_is_create_tables::<(br::a::Doc,)>(db, backend).await;
        m.migrate(db, &Target::Latest).await.unwrap();
        assert_schema_is_create_tables::<(br::ab::Doc,)>(db, backend).await;
        m.migrate(db, &Target::Zero).await.unwrap();
        assert_eq!(applied(db).await, Vec::<String>::new());
        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------
// 8. Files: order by dependencies, numbers, a dependency on itself.

#[test]
fn files_apply_in_dependency_order_and_self_dependency_is_refused() {
    let dir = temp_dir("files");
    // 0001_z creates the table 0002_a... no: 0001_uses adds a field to a table made by
    // 0009_makes, on which it depends.
    std::fs::write(
        dir.join("0009_makes.toml"),
        "dependencies = []\n\n[[operations]]\nop = \"create_model\"\ntable = \"r2_t\"\ncolumns = [{ name = \"id\", type = \"i64\", primary_key = true, auto = true }]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("0001_uses.toml"),
        "dependencies = [\"0009_makes\"]\n\n[[operations]]\nop = \"add_field\"\ntable = \"r2_t\"\ncolumn = { name = \"x\", type = \"i64\", null = true }\n",
    )
    .unwrap();
    std::fs::write(dir.join("0010_x.toml"), "dependencies = [\"0001_uses\"]\n").unwrap();
    let g = MigrationGraph::load(&dir).unwrap();
    let order: Vec<&str> = g.ordered.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(order, ["0009_makes", "0001_uses", "0010_x"]);
    assert_eq!(g.next_number(), 11);
    std::fs::write(
        dir.join("0011_self.toml"),
        "dependencies = [\"0010_x\", \"0011_self\"]\n",
    )
    .unwrap();
    let e = MigrationGraph::load(&dir).unwrap_err().to_string();
    assert!(e.contains("0011_self"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------
// 9. showmigrations before any migrate; sqlmigrate shows checks.

mod sh1 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_shows")]
    pub struct Show {
        pub id: i64,
        pub title: Option<String>,
    }
}
mod sh2 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_shows")]
    pub struct Show {
        pub id: i64,
        #[orm(unique)]
        pub title: String,
    }
}

#[tokio::test]
async fn showmigrations_before_migrate_and_sqlmigrate_shows_checks() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir("sh");
        make::<(sh1::Show,)>(&dir);
        make::<(sh2::Show,)>(&dir);
        let m = Migrator::new::<(sh2::Show,)>(&dir);
        let shown = m.show(db).await.unwrap();
        assert_eq!(shown.len(), 2);
        assert!(shown.iter().all(|(_, a)| !a), "{shown:?}");
        let sql = m.sql(db, "0002", false).await.unwrap();
        assert!(
            sql.iter().filter(|l| l.starts_with("-- check")).count() >= 2,
            "[{}] {sql:?}",
            backend.name()
        );
        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------
// 10. Unapplying an add_field that used `fill`; a rename_model of a model that owns a
//     many-to-many and is the target of a key.

mod fl1 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_fills")]
    pub struct Fill {
        pub id: i64,
        pub name: String,
    }
}
mod fl2 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_fills")]
    pub struct Fill {
        pub id: i64,
        pub name: String,
        pub rank: i32,
    }
}

#[tokio::test]
async fn add_field_with_fill_applies_and_unapplies() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir("fl");
        make::<(fl1::Fill,)>(&dir);
        let m = Migrator::new::<(fl2::Fill,)>(&dir);
        m.migrate(db, &Target::Latest).await.unwrap();
        db.execute_raw("INSERT INTO r2_fills (name) VALUES ('a')")
            .await
            .unwrap();
        let p = make::<(fl2::Fill,)>(&dir);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("op = \"add_field\""), "{text}");
        std::fs::write(
            &p,
            format!("{}fill = 7\n", text.trim_end().to_owned() + "\n"),
        )
        .unwrap();
        m.migrate(db, &Target::Latest)
            .await
            .unwrap_or_else(|e| panic!("[{}] {e}", backend.name()));
        let rows = fl2::Fill::objects().into_vec(db).await.unwrap();
        assert_eq!(rows[0].rank, 7, "[{}]", backend.name());
        assert_schema_is_create_tables::<(fl2::Fill,)>(db, backend).await;
        m.migrate(db, &Target::Name("0001".into())).await.unwrap();
        assert_schema_is_create_tables::<(fl1::Fill,)>(db, backend).await;
        assert_eq!(fl1::Fill::objects().count(db).await.unwrap(), 1);
        m.migrate(db, &Target::Latest).await.unwrap();
        assert_eq!(fl2::Fill::objects().into_vec(db).await.unwrap()[0].rank, 7);
        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

mod rn1 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_marks")]
    pub struct Mark {
        pub id: i64,
        pub name: String,
    }
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_owners")]
    pub struct Owner {
        pub id: i64,
        #[orm(index)]
        pub name: String,
        pub marks: ManyToMany<Mark>,
    }
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_pets")]
    pub struct Pet {
        pub id: i64,
        pub owner: ForeignKey<Owner>,
    }
}
mod rn2 {
    pub use super::rn1::Mark;
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_holders", renamed_from = "r2_owners")]
    pub struct Holder {
        pub id: i64,
        #[orm(index)]
        pub name: String,
        pub marks: ManyToMany<Mark>,
    }
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "r2_pets")]
    pub struct Pet {
        pub id: i64,
        pub owner: ForeignKey<Holder>,
    }
}

#[tokio::test]
async fn rename_model_owning_a_many_to_many_and_targeted_by_a_key_unapplied() {
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir("rn");
        make::<(rn1::Mark, rn1::Owner, rn1::Pet)>(&dir);
        make::<(rn2::Mark, rn2::Holder, rn2::Pet)>(&dir);
        let m = Migrator::new::<(rn2::Mark, rn2::Holder, rn2::Pet)>(&dir);
        m.migrate(db, &Target::Name("0001".into())).await.unwrap();
        db.execute_raw("INSERT INTO r2_marks (name) VALUES ('m')")
            .await
            .unwrap();
        db.execute_raw("INSERT INTO r2_owners (name) VALUES ('o')")
            .await
            .unwrap();
        db.execute_raw("INSERT INTO r2_pets (owner_id) SELECT id FROM r2_owners")
            .await
            .unwrap();
        let mut o = rn1::Owner::objects().into_vec(db).await.unwrap().remove(0);
        let mk = rn1::Mark::objects().into_vec(db).await.unwrap().remove(0);
        o.add_related(|p| p.marks(), [mk.id], db).await.unwrap();
        m.migrate(db, &Target::Latest)
            .await
            .unwrap_or_else(|e| panic!("[{}] {e}", backend.name()));
        assert_schema_is_create_tables::<(rn2::Mark, rn2::Holder, rn2::Pet)>(db, backend).await;
        m.migrate(db, &Target::Name("0001".into()))
            .await
            .unwrap_or_else(|e| panic!("[{}] {e}", backend.name()));
        assert_schema_is_create_tables::<(rn1::Mark, rn1::Owner, rn1::Pet)>(db, backend).await;
        let n = rn1::Owner::objects()
            .filter(|a| a.marks().name.eq("m"))
            .count(db)
            .await
            .unwrap();
        assert_eq!(n, 1, "[{}] link lost", backend.name());
        assert!(
            db.execute_raw("INSERT INTO r2_pets (owner_id) VALUES (99999)")
                .await
                .is_err(),
            "[{}] pet key not enforced after unapply",
            backend.name()
        );
        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
