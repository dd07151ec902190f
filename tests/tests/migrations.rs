//! Migrations from the models (issue 13): a model that evolves through seven versions,
//! each step written by `makemigrations`, applied by `migrate` with rows in the tables,
//! the data checked, the schema compared through the backend's catalogue with what
//! `create_tables` makes of the same models; then unapplied step by step back to the
//! first version and applied again, on every backend.

use std::path::PathBuf;

use orm_sqlx::migrate::{Migrator, Operation, Target};
use orm_sqlx::prelude::*;
use orm_tests::catalog::snapshot;
use orm_tests::migration::{assert_schema_is_create_tables, make_with_ops, temp_dir};
use orm_tests::{TestDb, required_backends};

mod v1 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "mig_authors")]
    pub struct Author {
        pub id: i64,
        pub name: String,
    }
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "mig_posts")]
    pub struct Post {
        pub id: i64,
        pub title: String,
        pub body: String,
    }
}

/// A field with a default.
mod v2 {
    pub use super::v1::Author;
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "mig_posts")]
    pub struct Post {
        pub id: i64,
        pub title: String,
        pub body: String,
        #[orm(default = 0)]
        pub views: i32,
    }
}

/// A field made nullable.
mod v3 {
    pub use super::v1::Author;
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "mig_posts")]
    pub struct Post {
        pub id: i64,
        pub title: String,
        pub body: Option<String>,
        #[orm(default = 0)]
        pub views: i32,
    }
}

/// A unique index.
mod v4 {
    pub use super::v1::Author;
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "mig_posts")]
    pub struct Post {
        pub id: i64,
        #[orm(unique)]
        pub title: String,
        pub body: Option<String>,
        #[orm(default = 0)]
        pub views: i32,
    }
}

/// A field renamed.
mod v5 {
    pub use super::v1::Author;
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "mig_posts")]
    pub struct Post {
        pub id: i64,
        #[orm(unique, renamed_from = "title")]
        pub headline: String,
        pub body: Option<String>,
        #[orm(default = 0)]
        pub views: i32,
    }
}

/// A foreign key and a many-to-many (to a new model).
mod v6 {
    pub use super::v1::Author;
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone, PartialEq)]
    #[orm(table = "mig_tags")]
    pub struct Tag {
        pub id: i64,
        pub label: String,
    }
    #[derive(Model, Debug, Clone)]
    #[orm(table = "mig_posts")]
    pub struct Post {
        pub id: i64,
        #[orm(unique, renamed_from = "title")]
        pub headline: String,
        pub body: Option<String>,
        #[orm(default = 0)]
        pub views: i32,
        pub author: Option<ForeignKey<Author>>,
        pub tags: ManyToMany<Tag>,
    }
}

/// A field dropped.
mod v7 {
    pub use super::v1::Author;
    pub use super::v6::Tag;
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone)]
    #[orm(table = "mig_posts")]
    pub struct Post {
        pub id: i64,
        #[orm(unique, renamed_from = "title")]
        pub headline: String,
        pub body: Option<String>,
        pub author: Option<ForeignKey<Author>>,
        pub tags: ManyToMany<Tag>,
    }
}

type V1 = (v1::Author, v1::Post);
type V2 = (v2::Author, v2::Post);
type V3 = (v3::Author, v3::Post);
type V4 = (v4::Author, v4::Post);
type V5 = (v5::Author, v5::Post);
type V6 = (v6::Author, v6::Tag, v6::Post);
type V7 = (v7::Author, v7::Tag, v7::Post);

fn names(dir: &PathBuf) -> Vec<String> {
    Migrator::new::<V1>(dir)
        .graph()
        .unwrap()
        .ordered
        .iter()
        .map(|m| m.name.clone())
        .collect()
}

#[tokio::test]
async fn a_model_through_seven_versions_forward_and_back() {
    for backend in required_backends() {
        eprintln!("-- on {}", backend.name());
        let t = TestDb::open(backend).await;
        let db = &t.db;
        let dir = temp_dir(backend.name());

        // 1: the initial migration creates both tables.
        let ops = make_with_ops::<V1>(&dir).1;
        assert!(
            matches!(
                ops.as_slice(),
                [Operation::CreateModel { .. }, Operation::CreateModel { .. }]
            ),
            "{ops:?}"
        );
        let report = Migrator::new::<V1>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        assert_eq!(report.applied, vec!["0001_initial".to_owned()]);
        assert_schema_is_create_tables::<V1>(db, backend).await;
        let mut p = v1::Post {
            id: 0,
            title: "first".into(),
            body: "one".into(),
        };
        p.insert(db).await.unwrap();
        let ann = v1::Author {
            id: 0,
            name: "Ann".into(),
        };
        let mut ann = ann;
        ann.insert(db).await.unwrap();
        assert!(
            Migrator::new::<V1>(&dir).changes().unwrap().is_empty(),
            "the models and the migrations agree"
        );

        // 2: add a field with a default: the row already there gets it.
        let ops = make_with_ops::<V2>(&dir).1;
        assert!(
            matches!(ops.as_slice(), [Operation::AddField { .. }]),
            "{ops:?}"
        );
        Migrator::new::<V2>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        assert_schema_is_create_tables::<V2>(db, backend).await;
        let rows = v2::Post::objects()
            .order_by(|p| p.id.asc())
            .into_vec(db)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].title.as_str(), rows[0].views), ("first", 0));
        let mut p2 = v2::Post {
            id: 0,
            title: "second".into(),
            body: "two".into(),
            views: 7,
        };
        p2.insert(db).await.unwrap();

        // 3: make a field nullable.
        let ops = make_with_ops::<V3>(&dir).1;
        assert!(
            matches!(ops.as_slice(), [Operation::AlterField { .. }]),
            "{ops:?}"
        );
        Migrator::new::<V3>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        assert_schema_is_create_tables::<V3>(db, backend).await;
        let mut p3 = v3::Post {
            id: 0,
            title: "third".into(),
            body: Some("three".into()),
            views: 3,
        };
        p3.insert(db).await.unwrap();
        let bodies: Vec<Option<String>> = v3::Post::objects()
            .order_by(|p| p.id.asc())
            .into_vec(db)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.body)
            .collect();
        assert_eq!(
            bodies,
            vec![Some("one".into()), Some("two".into()), Some("three".into())]
        );

        // 4: a unique index.
        let ops = make_with_ops::<V4>(&dir).1;
        assert!(
            matches!(ops.as_slice(), [Operation::AlterField { .. }]),
            "{ops:?}"
        );
        Migrator::new::<V4>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        assert_schema_is_create_tables::<V4>(db, backend).await;
        let dup = v4::Post {
            id: 0,
            title: "first".into(),
            body: None,
            views: 0,
        };
        let e = dup.clone().insert(db).await.unwrap_err();
        assert!(e.is_unique_violation(), "{e}");

        // 5: rename a field (declared): the values stay, the uniqueness too.
        let ops = make_with_ops::<V5>(&dir).1;
        assert!(
            matches!(ops.as_slice(), [Operation::RenameField { .. }]),
            "{ops:?}"
        );
        Migrator::new::<V5>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        assert_schema_is_create_tables::<V5>(db, backend).await;
        let headlines: Vec<String> = v5::Post::objects()
            .order_by(|p| p.id.asc())
            .into_vec(db)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.headline)
            .collect();
        assert_eq!(headlines, ["first", "second", "third"]);
        let e = v5::Post {
            id: 0,
            headline: "second".into(),
            body: None,
            views: 0,
        }
        .insert(db)
        .await
        .unwrap_err();
        assert!(e.is_unique_violation(), "{e}");

        // 6: a foreign key and a many-to-many to a new model.
        let ops = make_with_ops::<V6>(&dir).1;
        assert!(
            ops.iter().any(|o| matches!(o, Operation::CreateModel { table, .. } if table == "mig_tags"))
                && ops.iter().any(|o| matches!(o, Operation::AddField { column, .. } if column.name == "author_id"))
                && ops.iter().any(|o| matches!(o, Operation::AddLink { .. })),
            "{ops:?}"
        );
        Migrator::new::<V6>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        assert_schema_is_create_tables::<V6>(db, backend).await;
        let mut rust = v6::Tag {
            id: 0,
            label: "rust".into(),
        };
        rust.insert(db).await.unwrap();
        let mut first = v6::Post::objects()
            .filter(|p| p.headline.eq("first"))
            .get(db)
            .await
            .unwrap();
        first.author = Some(ForeignKey::new(ann.id));
        first.save(db).await.unwrap();
        first
            .add_related(|p| p.tags(), [rust.id], db)
            .await
            .unwrap();
        let tagged = v6::Post::objects()
            .filter(|p| p.tags().label.eq("rust") & p.author().name.eq("Ann"))
            .into_vec(db)
            .await
            .unwrap();
        assert_eq!(tagged.len(), 1);
        assert_eq!(tagged[0].views, 0);

        // 7: drop a field: the other values, the key and the links stay.
        let ops = make_with_ops::<V7>(&dir).1;
        assert!(
            matches!(ops.as_slice(), [Operation::RemoveField { .. }]),
            "{ops:?}"
        );
        Migrator::new::<V7>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        assert_schema_is_create_tables::<V7>(db, backend).await;
        let tagged = v7::Post::objects()
            .filter(|p| p.tags().label.eq("rust") & p.author().name.eq("Ann"))
            .into_vec(db)
            .await
            .unwrap();
        assert_eq!(tagged.len(), 1);
        assert_eq!(tagged[0].headline, "first");
        assert_eq!(v7::Post::objects().count(db).await.unwrap(), 3);
        assert!(Migrator::new::<V7>(&dir).changes().unwrap().is_empty());

        // Back, one version at a time: each schema is create_tables' again, and the rows
        // keep what the older version has.
        let all = names(&dir);
        assert_eq!(all.len(), 7, "{all:?}");
        let back = |i: usize| Target::Name(all[i - 1].clone());
        let r = Migrator::new::<V6>(&dir)
            .migrate(db, &back(6))
            .await
            .unwrap();
        assert_eq!(r.unapplied, vec![all[6].clone()]);
        assert_schema_is_create_tables::<V6>(db, backend).await;
        let views: Vec<i32> = v6::Post::objects()
            .order_by(|p| p.id.asc())
            .into_vec(db)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.views)
            .collect();
        assert_eq!(views, [0, 0, 0], "the column comes back with its default");

        Migrator::new::<V5>(&dir)
            .migrate(db, &back(5))
            .await
            .unwrap();
        assert_schema_is_create_tables::<V5>(db, backend).await;
        assert_eq!(v5::Post::objects().count(db).await.unwrap(), 3);

        Migrator::new::<V4>(&dir)
            .migrate(db, &back(4))
            .await
            .unwrap();
        assert_schema_is_create_tables::<V4>(db, backend).await;
        let titles: Vec<String> = v4::Post::objects()
            .order_by(|p| p.id.asc())
            .into_vec(db)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.title)
            .collect();
        assert_eq!(titles, ["first", "second", "third"]);

        Migrator::new::<V3>(&dir)
            .migrate(db, &back(3))
            .await
            .unwrap();
        assert_schema_is_create_tables::<V3>(db, backend).await;
        // A NULL body forbids going back to a NOT NULL body: refused before anything
        // is sent, the data untouched.
        let mut none = v3::Post {
            id: 0,
            title: "fourth".into(),
            body: None,
            views: 1,
        };
        none.insert(db).await.unwrap();
        let e = Migrator::new::<V2>(&dir)
            .migrate(db, &back(2))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Migration(m) if m.contains("NOT NULL") && m.contains("1 row")),
            "{e}"
        );
        assert_schema_is_create_tables::<V3>(db, backend).await;
        none.delete(db).await.unwrap();
        Migrator::new::<V2>(&dir)
            .migrate(db, &back(2))
            .await
            .unwrap();
        assert_schema_is_create_tables::<V2>(db, backend).await;

        Migrator::new::<V1>(&dir)
            .migrate(db, &back(1))
            .await
            .unwrap();
        assert_schema_is_create_tables::<V1>(db, backend).await;
        let rows = v1::Post::objects()
            .order_by(|p| p.id.asc())
            .into_vec(db)
            .await
            .unwrap();
        assert_eq!(
            rows.iter().map(|p| p.body.as_str()).collect::<Vec<_>>(),
            ["one", "two", "three"]
        );

        // And forward again, to the latest.
        let r = Migrator::new::<V7>(&dir)
            .migrate(db, &Target::Latest)
            .await
            .unwrap();
        assert_eq!(r.applied.len(), 6);
        assert_schema_is_create_tables::<V7>(db, backend).await;
        // To zero: every table gone.
        Migrator::new::<V7>(&dir)
            .migrate(db, &Target::Zero)
            .await
            .unwrap();
        assert!(snapshot(db, backend).await.0.is_empty());

        t.cleanup().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
