//! Migrations given bad input or a change the rows do not allow: each is a typed
//! `Error::Migration` that says what to do, raised before anything is applied; and the
//! operations the evolution test does not reach (a renamed model, data migrations, a
//! one-off fill value, merges), on every backend.

use orm_sqlx::migrate::{Made, MakeOptions, Migrator, Target};
use orm_sqlx::prelude::*;
use orm_tests::catalog::{diff, snapshot};
use orm_tests::migration::{applied, assert_schema_is_create_tables, make, temp_dir};
use orm_tests::{Backend, TestDb, required_backends};

mod a {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "me_notes")]
    pub struct Note {
        pub id: i64,
        pub body: String,
        pub code: Option<String>,
    }
}

/// A NOT NULL field without a default.
mod b {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "me_notes")]
    pub struct Note {
        pub id: i64,
        pub body: String,
        pub code: Option<String>,
        pub owner: String,
    }
}

/// `code` becomes an integer.
mod c {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "me_notes")]
    pub struct Note {
        pub id: i64,
        pub body: String,
        pub code: Option<i64>,
    }
}

/// `body` gets a short max_length and becomes unique.
mod d {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "me_notes")]
    pub struct Note {
        pub id: i64,
        #[orm(max_length = 5)]
        pub body: String,
        pub code: Option<String>,
    }
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "me_notes")]
    pub struct UniqueNote {
        pub id: i64,
        #[orm(unique)]
        pub body: String,
        pub code: Option<String>,
    }
}

/// Two models, one pointing at the other, and the target renamed.
mod r1 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "me_shelves")]
    pub struct Shelf {
        pub id: i64,
        #[orm(index)]
        pub label: String,
    }
    #[derive(Model, Debug, Clone)]
    #[orm(table = "me_items")]
    pub struct Item {
        pub id: i64,
        pub shelf: ForeignKey<Shelf>,
    }
}
mod r2 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "me_racks", renamed_from = "me_shelves")]
    pub struct Shelf {
        pub id: i64,
        #[orm(index)]
        pub label: String,
    }
    #[derive(Model, Debug, Clone)]
    #[orm(table = "me_items")]
    pub struct Item {
        pub id: i64,
        pub shelf: ForeignKey<Shelf>,
    }
}

fn message(e: Error) -> String {
    match e {
        Error::Migration(m) => m,
        other => panic!("expected Error::Migration, got {other:?}"),
    }
}

#[tokio::test]
async fn files_that_do_not_form_one_history_are_refused_with_what_to_do() {
    let dir = temp_dir("files");
    make::<(a::Note,)>(&dir);
    let m = || Migrator::new::<(a::Note,)>(&dir);

    // A typo in a hand-edited file names the file and the field.
    let first = dir.join("0001_initial.toml");
    let good = std::fs::read_to_string(&first).unwrap();
    std::fs::write(
        &first,
        good.replace("primary_key = true", "primary_kee = true"),
    )
    .unwrap();
    let e = message(m().graph().unwrap_err());
    assert!(
        e.contains("0001_initial.toml") && e.contains("primary_kee"),
        "{e}"
    );
    std::fs::write(&first, "dependencies = [\n").unwrap();
    let e = message(m().changes().unwrap_err());
    assert!(e.contains("is not a valid migration file"), "{e}");
    std::fs::write(&first, &good).unwrap();

    // An operation that contradicts the ones before it.
    let bad = dir.join("0002_bad.toml");
    std::fs::write(
        &bad,
        "dependencies = [\"0001_initial\"]\n\n[[operations]]\nop = \"remove_field\"\ntable = \"me_notes\"\ncolumn = \"nope\"\n",
    )
    .unwrap();
    let e = message(m().graph().unwrap_err());
    assert!(
        e.contains("0002_bad.toml") && e.contains("operation 1") && e.contains("no column `nope`"),
        "{e}"
    );

    // A dependency that is not there.
    std::fs::write(&bad, "dependencies = [\"0001_gone\"]\noperations = []\n").unwrap();
    let e = message(m().graph().unwrap_err());
    assert!(e.contains("`0001_gone`") && e.contains("restore"), "{e}");

    // Two leaves: makemigrations and migrate refuse, --merge joins them.
    std::fs::write(&bad, "dependencies = [\"0001_initial\"]\noperations = []\n").unwrap();
    std::fs::write(
        dir.join("0002_other.toml"),
        "dependencies = [\"0001_initial\"]\noperations = []\n",
    )
    .unwrap();
    let e = message(m().make_migrations(&MakeOptions::default()).unwrap_err());
    assert!(
        e.contains("0002_bad") && e.contains("0002_other") && e.contains("--merge"),
        "{e}"
    );
    let merged = m()
        .make_migrations(&MakeOptions {
            merge: true,
            ..MakeOptions::default()
        })
        .unwrap();
    assert!(
        matches!(&merged, Made::Written { path, .. } if path.ends_with("0003_merge_0002_bad_0002_other.toml")),
        "{merged:?}"
    );
    assert!(m().changes().unwrap().is_empty());
    assert_eq!(
        m().graph().unwrap().leaves(),
        ["0003_merge_0002_bad_0002_other"]
    );

    // A cycle.
    std::fs::write(
        &bad,
        "dependencies = [\"0003_merge_0002_bad_0002_other\"]\noperations = []\n",
    )
    .unwrap();
    let e = message(m().graph().unwrap_err());
    assert!(e.contains("cycle"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn rows_that_forbid_a_change_stop_it_before_anything_is_applied() {
    for backend in required_backends() {
        eprintln!("-- on {}", backend.name());
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir(backend.name());
        make::<(a::Note,)>(&dir);
        Migrator::new::<(a::Note,)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        for (body, code) in [
            ("hello", Some("A1")),
            ("hello", None),
            ("a longer body", None),
        ] {
            a::Note {
                id: 0,
                body: body.into(),
                code: code.map(Into::into),
            }
            .insert(db)
            .await
            .unwrap();
        }

        // A NOT NULL column without a default, on a table with rows.
        let path = make::<(b::Note,)>(&dir);
        let before = snapshot(db, backend).await;
        let e = message(
            Migrator::new::<(b::Note,)>(&dir)
                .migrate(db, &Target::Latest)
                .await
                .unwrap_err(),
        );
        assert!(
            e.contains("3 row(s)") && e.contains("me_notes.owner") && e.contains("fill"),
            "{e}"
        );
        assert!(e.contains("Nothing was applied"), "{e}");
        assert_eq!(diff(&before, &snapshot(db, backend).await), "");
        assert_eq!(applied(db).await, ["0001_initial"]);
        // The one-off value the existing rows get, written into the operation.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("op = \"add_field\""), "{text}");
        std::fs::write(&path, format!("{text}fill = \"nobody\"\n")).unwrap();
        Migrator::new::<(b::Note,)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        let owners: Vec<String> = b::Note::objects()
            .into_vec(db)
            .await
            .unwrap()
            .into_iter()
            .map(|n| n.owner)
            .collect();
        assert_eq!(owners, ["nobody"; 3]);
        // The fill is not the column's default: the schema is create_tables' own.
        assert_schema_is_create_tables::<(b::Note,)>(db, backend).await;
        // Back: the column goes, and its values with it.
        Migrator::new::<(a::Note,)>(&dir)
            .migrate(db, &Target::Name("0001".into()))
            .await
            .unwrap();
        assert_schema_is_create_tables::<(a::Note,)>(db, backend).await;
        std::fs::remove_file(&path).unwrap();

        // A type change that not every value survives, with values.
        let path = make::<(c::Note,)>(&dir);
        let e = message(
            Migrator::new::<(c::Note,)>(&dir)
                .migrate(db, &Target::Latest)
                .await
                .unwrap_err(),
        );
        assert!(
            e.contains("me_notes.code") && e.contains("1 row(s)") && e.contains("copy the values"),
            "{e}"
        );
        assert_eq!(applied(db).await, ["0001_initial"]);
        // Without values it goes through.
        a::Note::objects()
            .update(|n| n.code.set(None::<String>), db)
            .await
            .unwrap();
        Migrator::new::<(c::Note,)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        assert_schema_is_create_tables::<(c::Note,)>(db, backend).await;
        Migrator::new::<(a::Note,)>(&dir)
            .migrate(db, &Target::Name("0001_initial".into()))
            .await
            .unwrap();
        std::fs::remove_file(&path).unwrap();

        // A max_length shorter than values, and a unique column with duplicates.
        let path = make::<(d::Note,)>(&dir);
        let e = message(
            Migrator::new::<(d::Note,)>(&dir)
                .migrate(db, &Target::Latest)
                .await
                .unwrap_err(),
        );
        assert!(
            e.contains("max_length = 5") && e.contains("1 row(s)"),
            "{e}"
        );
        std::fs::remove_file(&path).unwrap();
        let path = make::<(d::UniqueNote,)>(&dir);
        let e = message(
            Migrator::new::<(d::UniqueNote,)>(&dir)
                .migrate(db, &Target::Latest)
                .await
                .unwrap_err(),
        );
        assert!(
            e.contains("becomes unique") && e.contains("1 value(s)"),
            "{e}"
        );
        assert_eq!(applied(db).await, ["0001_initial"]);
        assert_schema_is_create_tables::<(a::Note,)>(db, backend).await;
        std::fs::remove_file(&path).unwrap();

        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[tokio::test]
async fn data_migrations_run_sql_and_rust_and_need_a_reverse_to_unapply() {
    for backend in required_backends() {
        eprintln!("-- on {}", backend.name());
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir(backend.name());
        make::<(a::Note,)>(&dir);
        let m = || {
            Migrator::new::<(a::Note,)>(&dir)
                .function("shout", |conn| {
                    Box::pin(async move {
                        for mut n in a::Note::objects().into_vec(&mut *conn).await? {
                            n.body = n.body.to_uppercase();
                            n.save(&mut *conn).await?;
                        }
                        Ok(())
                    })
                })
                .function("whisper", |conn| {
                    Box::pin(async move {
                        for mut n in a::Note::objects().into_vec(&mut *conn).await? {
                            n.body = n.body.to_lowercase();
                            n.save(&mut *conn).await?;
                        }
                        Ok(())
                    })
                })
        };
        m().migrate(db, &Target::Latest).await.unwrap();
        let made = m()
            .make_migrations(&MakeOptions {
                empty: true,
                name: Some("seed".into()),
                ..MakeOptions::default()
            })
            .unwrap();
        let Made::Written { path, .. } = made else {
            panic!("{made:?}")
        };
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            format!(
                "{text}\n[[operations]]\nop = \"run_sql\"\nsql = [\"INSERT INTO me_notes (body) VALUES ('hi')\", \"INSERT INTO me_notes (body) VALUES ('yo')\"]\nreverse = \"DELETE FROM me_notes WHERE body IN ('hi', 'yo', 'HI', 'YO')\"\n\n[[operations]]\nop = \"run_rust\"\nfunction = \"shout\"\nreverse = \"whisper\"\n"
            ),
        )
        .unwrap();
        // A function the migration names must be registered: refused before anything.
        let e = message(
            Migrator::new::<(a::Note,)>(&dir)
                .migrate(db, &Target::Latest)
                .await
                .unwrap_err(),
        );
        assert!(e.contains("`shout`") && e.contains(".function("), "{e}");
        assert_eq!(a::Note::objects().count(db).await.unwrap(), 0);

        m().migrate(db, &Target::Latest).await.unwrap();
        let mut bodies: Vec<String> = a::Note::objects()
            .into_vec(db)
            .await
            .unwrap()
            .into_iter()
            .map(|n| n.body)
            .collect();
        bodies.sort();
        assert_eq!(bodies, ["HI", "YO"]);
        assert_eq!(applied(db).await, ["0001_initial", "0002_seed"]);
        // Unapplied: whisper, then the reverse SQL.
        m().migrate(db, &Target::Name("0001".into())).await.unwrap();
        assert_eq!(a::Note::objects().count(db).await.unwrap(), 0);
        assert_eq!(applied(db).await, ["0001_initial"]);

        // Without a reverse it cannot be unapplied: refused before anything is sent.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace(
                "reverse = \"DELETE FROM me_notes WHERE body IN ('hi', 'yo', 'HI', 'YO')\"\n",
                "",
            ),
        )
        .unwrap();
        m().migrate(db, &Target::Latest).await.unwrap();
        let e = message(m().migrate(db, &Target::Zero).await.unwrap_err());
        assert!(e.contains("0002_seed") && e.contains("reverse"), "{e}");
        assert_eq!(a::Note::objects().count(db).await.unwrap(), 2);
        assert_eq!(applied(db).await, ["0001_initial", "0002_seed"]);

        // A failing statement: rolled back where DDL is transactional; on MySQL the
        // error lists what was applied.
        let bad = dir.join("0003_bad.toml");
        std::fs::write(
            &bad,
            "dependencies = [\"0002_seed\"]\n\n[[operations]]\nop = \"create_model\"\ntable = \"me_extra\"\ncolumns = [{ name = \"id\", type = \"i64\", primary_key = true, auto = true }]\n\n[[operations]]\nop = \"run_sql\"\nsql = \"INSERT INTO me_nowhere VALUES (1)\"\n",
        )
        .unwrap();
        let e = message(m().migrate(db, &Target::Latest).await.unwrap_err());
        let tables = snapshot(db, backend).await;
        if backend == Backend::Mysql {
            assert!(
                e.contains("MySQL cannot roll back DDL") && e.contains("CREATE TABLE"),
                "{e}"
            );
            assert!(tables.0.contains_key("me_extra"));
        } else {
            assert!(e.contains("rolled back"), "{e}");
            assert!(!tables.0.contains_key("me_extra"), "{tables:?}");
        }
        assert_eq!(applied(db).await, ["0001_initial", "0002_seed"]);

        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[tokio::test]
async fn a_renamed_model_keeps_its_rows_and_the_keys_pointing_at_it() {
    for backend in required_backends() {
        eprintln!("-- on {}", backend.name());
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir(backend.name());
        make::<(r1::Shelf, r1::Item)>(&dir);
        Migrator::new::<(r1::Shelf, r1::Item)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        let mut shelf = r1::Shelf {
            id: 0,
            label: "top".into(),
        };
        shelf.insert(db).await.unwrap();
        r1::Item {
            id: 0,
            shelf: ForeignKey::new(shelf.id),
        }
        .insert(db)
        .await
        .unwrap();

        let ops = Migrator::new::<(r2::Shelf, r2::Item)>(&dir)
            .changes()
            .unwrap();
        assert!(
            matches!(ops.as_slice(), [orm_sqlx::migrate::Operation::RenameModel { old, new }] if old == "me_shelves" && new == "me_racks"),
            "{ops:?}"
        );
        make::<(r2::Shelf, r2::Item)>(&dir);
        Migrator::new::<(r2::Shelf, r2::Item)>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        assert_schema_is_create_tables::<(r2::Shelf, r2::Item)>(db, backend).await;
        let items = r2::Item::objects()
            .filter(|i| i.shelf().label.eq("top"))
            .count(db)
            .await
            .unwrap();
        assert_eq!(items, 1);
        // The key still holds: an item on a shelf that does not exist is refused.
        let e = r2::Item {
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
        Migrator::new::<(r1::Shelf, r1::Item)>(&dir)
            .migrate(db, &Target::Name("0001".into()))
            .await
            .unwrap();
        assert_schema_is_create_tables::<(r1::Shelf, r1::Item)>(db, backend).await;
        assert_eq!(r1::Shelf::objects().count(db).await.unwrap(), 1);

        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
