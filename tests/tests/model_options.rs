//! Issue 12.4: model options, on every backend: `default` (the struct's generated
//! `Default`, and the column default), `unique`, `index`, `unique_together`/`index(..)`,
//! `max_length` and `max_digits`/`decimal_places` (a typed error before any query),
//! `auto_now`/`auto_now_add`, and enums as fields (`#[derive(Choices)]`).

use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, Utc};
use orm_sqlx::prelude::*;
use orm_sqlx::{Dialect, RawQuery};
use orm_tests::{Backend, on_each_backend};
use rust_decimal::Decimal;

#[derive(Choices, Clone, Copy, Debug, PartialEq)]
pub enum Status {
    Draft,
    #[orm(value = "live")]
    Published,
}

#[derive(Choices, Clone, Copy, Debug, PartialEq)]
#[orm(store = "integer")]
pub enum Priority {
    Low = 1,
    High = 10,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(
    table = "opt_articles",
    unique_together(author, slug),
    index(status, rating)
)]
pub struct Article {
    pub id: i64,
    #[orm(max_length = 20)]
    pub title: String,
    pub slug: String,
    pub author: String,
    #[orm(unique)]
    pub code: String,
    #[orm(default = 3)]
    pub rating: i32,
    #[orm(default = Status::Draft)]
    pub status: Status,
    pub priority: Option<Priority>,
    #[orm(max_digits = 5, decimal_places = 2)]
    pub price: Decimal,
    #[orm(auto_now_add)]
    pub created: DateTime<Utc>,
    #[orm(auto_now)]
    pub updated: Option<NaiveDateTime>,
    #[orm(index)]
    pub views: i64,
}

/// Column defaults, for rows inserted without the ORM.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "opt_settings")]
pub struct Setting {
    pub id: i64,
    #[orm(default = 3)]
    pub n: i32,
    #[orm(default = "it's a \\ back'slash")]
    pub s: String,
    #[orm(default = true)]
    pub b: bool,
    #[orm(default = -1.5)]
    pub f: f64,
    #[orm(default = 7, max_digits = 4, decimal_places = 1)]
    pub d: Decimal,
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn article(title: &str, slug: &str, author: &str, code: &str) -> Article {
    Article {
        title: title.into(),
        slug: slug.into(),
        author: author.into(),
        code: code.into(),
        price: dec("9.99"),
        ..Default::default()
    }
}

async fn tables(db: &Db) {
    db.create_tables::<(Article, Setting)>().await.unwrap();
}

#[tokio::test]
async fn a_default_fills_what_the_struct_literal_leaves_out() {
    let a = article("t", "s", "ann", "c1");
    assert_eq!(a.id, 0);
    assert_eq!(a.rating, 3);
    assert_eq!(a.status, Status::Draft);
    assert_eq!(a.priority, None);
    let s = Setting::default();
    assert_eq!(
        (s.n, s.s.as_str(), s.b, s.f, s.d),
        (3, "it's a \\ back'slash", true, -1.5, dec("7"))
    );
}

#[tokio::test]
async fn a_literal_default_is_the_column_default() {
    on_each_backend(|db, _| async move {
        tables(&db).await;
        db.execute_raw("INSERT INTO opt_settings (id) VALUES (1)")
            .await
            .unwrap();
        let s = Setting::objects().get_pk(1, &db).await.unwrap();
        assert_eq!(
            s,
            Setting {
                id: 1,
                ..Default::default()
            }
        );
    })
    .await;
}

#[tokio::test]
async fn unique_and_unique_together_are_constraints() {
    on_each_backend(|db, _| async move {
        tables(&db).await;
        let mut a = article("one", "hello", "ann", "c1");
        a.insert(&db).await.unwrap();
        // The same slug by another author is fine; by the same author it is not.
        article("two", "hello", "bob", "c2")
            .insert(&db)
            .await
            .unwrap();
        let e = article("three", "hello", "ann", "c3")
            .insert(&db)
            .await
            .unwrap_err();
        assert!(e.is_unique_violation(), "{e}");
        let e = article("four", "other", "ann", "c1")
            .insert(&db)
            .await
            .unwrap_err();
        assert!(e.is_unique_violation(), "{e}");
        assert_eq!(Article::objects().count(&db).await.unwrap(), 2);
    })
    .await;
}

#[tokio::test]
async fn index_options_create_the_indexes() {
    on_each_backend(|db, backend| async move {
        tables(&db).await;
        let sql = match backend {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'opt_articles' \
                 AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT indexname FROM pg_indexes WHERE tablename = 'opt_articles' AND \
                 schemaname = current_schema() AND indexname LIKE 'opt_articles_%' AND indexname \
                 NOT IN ('opt_articles_pkey', 'opt_articles_code_key') ORDER BY indexname"
            }
            Backend::Mysql => {
                "SELECT DISTINCT index_name FROM information_schema.statistics WHERE \
                 table_schema = DATABASE() AND table_name = 'opt_articles' AND index_name LIKE \
                 'opt_articles_%' ORDER BY index_name"
            }
        };
        let names: Vec<String> = RawQuery::new(sql, ()).into_vec(&db).await.unwrap();
        assert_eq!(
            names,
            [
                "opt_articles_author_slug_73d1_uniq",
                "opt_articles_status_rating_0fcc_idx",
                "opt_articles_views_idx"
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn max_length_is_checked_before_any_query() {
    on_each_backend(|db, _| async move {
        tables(&db).await;
        // 20 characters of two bytes each: fits (characters are counted, not bytes).
        let mut a = article(&"é".repeat(20), "s", "ann", "c1");
        a.insert(&db).await.unwrap();
        let back = Article::objects().get_pk(a.id, &db).await.unwrap();
        assert_eq!(back.title, "é".repeat(20));

        let mut long = article(&"x".repeat(21), "s2", "ann", "c2");
        let (r, q) = capture_queries(long.insert(&db)).await;
        let e = r.unwrap_err();
        assert!(
            matches!(&e, Error::InvalidValue { field, reason }
                if field == "Article.title" && reason.contains("21 characters") && reason.contains("max_length of 20")),
            "{e:?}"
        );
        assert!(q.is_empty(), "{q:?}");

        a.title = "y".repeat(21);
        let (r, q) = capture_queries(a.save(&db)).await;
        assert!(matches!(r, Err(Error::InvalidValue { .. })), "{r:?}");
        assert!(q.is_empty());

        let (r, q) = capture_queries(
            Article::objects().update(|x| x.title.set("z".repeat(21)), &db),
        )
        .await;
        assert!(matches!(r, Err(Error::InvalidValue { .. })), "{r:?}");
        assert!(q.is_empty());

        a.title = "fits".into();
        a.save(&db).await.unwrap();
        let mut too_long = a.clone();
        too_long.title = "w".repeat(21);
        let (r, q) = capture_queries(Article::objects().bulk_update(
            &[too_long],
            |x| x.title,
            &db,
        ))
        .await;
        assert!(matches!(r, Err(Error::InvalidValue { .. })), "{r:?}");
        assert!(q.is_empty());

        let mut batch = vec![article("ok", "s3", "ann", "c3"), long.clone()];
        let (r, q) = capture_queries(Article::objects().bulk_create(&mut batch, &db)).await;
        assert!(matches!(r, Err(Error::InvalidValue { .. })), "{r:?}");
        assert!(q.is_empty());
        assert_eq!(Article::objects().count(&db).await.unwrap(), 1);

        // A lookup compares freely: a longer value matches nothing.
        let n = Article::objects()
            .filter(|x| x.title.eq("x".repeat(50)))
            .count(&db)
            .await
            .unwrap();
        assert_eq!(n, 0);
    })
    .await;
}

#[tokio::test]
async fn decimal_digits_are_checked_and_never_rounded() {
    on_each_backend(|db, _| async move {
        tables(&db).await;
        let mut a = article("t", "s", "ann", "c1");
        a.price = dec("-999.99");
        a.insert(&db).await.unwrap();
        let back = Article::objects().get_pk(a.id, &db).await.unwrap();
        assert_eq!(back.price, dec("-999.99"));
        for (bad, says) in [("1000", "3 that"), ("1.005", "3 digits after the point")] {
            a.price = dec(bad);
            let (r, q) = capture_queries(a.save(&db)).await;
            match r {
                Err(Error::InvalidValue { field, reason }) => {
                    assert_eq!(field, "Article.price");
                    assert!(reason.contains(says), "{reason}");
                }
                other => panic!("{bad}: {other:?}"),
            }
            assert!(q.is_empty());
        }
        // Trailing zeros are not digits: 1.50 fits two places.
        a.price = dec("1.500");
        a.save(&db).await.unwrap();
        let back = Article::objects().get_pk(a.id, &db).await.unwrap();
        assert_eq!(back.price, dec("1.5"));
    })
    .await;
}

#[tokio::test]
async fn auto_now_add_is_set_on_insert_and_auto_now_on_every_save() {
    on_each_backend(|db, _| async move {
        tables(&db).await;
        let before = Utc::now() - chrono::Duration::seconds(1);
        let mut a = article("t", "s", "ann", "c1");
        a.insert(&db).await.unwrap();
        let created = a.created;
        let updated = a.updated.expect("auto_now sets the field on insert");
        assert!(created >= before && created <= Utc::now(), "{created}");
        assert_eq!(created.timestamp_subsec_nanos() % 1000, 0, "microseconds");
        let back = Article::objects().get_pk(a.id, &db).await.unwrap();
        assert_eq!((back.created, back.updated), (created, Some(updated)));

        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        a.views = 1;
        a.save(&db).await.unwrap();
        assert_eq!(a.created, created, "auto_now_add is kept on save");
        assert!(a.updated.unwrap() > updated, "auto_now moves on save");
        let back = Article::objects().get_pk(a.id, &db).await.unwrap();
        assert_eq!(back.updated, a.updated);

        // QuerySet::update writes only what it is given (as in Django).
        Article::objects()
            .update(|x| x.views.set(2), &db)
            .await
            .unwrap();
        let back = Article::objects().get_pk(a.id, &db).await.unwrap();
        assert_eq!((back.views, back.updated), (2, a.updated));

        // save_fields sets an auto_now field only when it is listed (Django's pre_save of
        // the update_fields).
        let before_fields = a.updated;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        a.views = 3;
        a.save_fields(|x| x.views, &db).await.unwrap();
        assert_eq!(a.updated, before_fields);
        a.save_fields(|x| (x.views, x.updated), &db).await.unwrap();
        assert!(a.updated > before_fields);
        let back = Article::objects().get_pk(a.id, &db).await.unwrap();
        assert_eq!(
            (back.views, back.updated, back.created),
            (3, a.updated, created)
        );

        // bulk_create sets both on every instance.
        let mut batch = vec![
            article("b1", "b1", "ann", "c2"),
            article("b2", "b2", "ann", "c3"),
        ];
        batch[0].created = DateTime::<Utc>::default();
        Article::objects()
            .bulk_create(&mut batch, &db)
            .await
            .unwrap();
        for b in &batch {
            assert!(b.created >= before && b.updated.is_some(), "{b:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn enums_are_stored_as_their_values_and_filtered_on() {
    on_each_backend(|db, backend| async move {
        tables(&db).await;
        let mut a = article("a", "a", "ann", "c1");
        a.status = Status::Published;
        a.priority = Some(Priority::High);
        a.insert(&db).await.unwrap();
        let mut b = article("b", "b", "ann", "c2");
        b.insert(&db).await.unwrap();

        let live = Article::objects()
            .filter(|x| x.status.eq(Status::Published))
            .into_vec(&db)
            .await
            .unwrap();
        assert_eq!(live, [a.clone()]);
        let n = Article::objects()
            .filter(|x| x.status.is_in([Status::Draft, Status::Published]))
            .count(&db)
            .await
            .unwrap();
        assert_eq!(n, 2);
        let high = Article::objects()
            .filter(|x| x.priority.eq(Some(Priority::High)))
            .count(&db)
            .await
            .unwrap();
        assert_eq!(high, 1);
        let none = Article::objects()
            .filter(|x| x.priority.is_null(true))
            .count(&db)
            .await
            .unwrap();
        assert_eq!(none, 1);
        // A nullable enum is set to a variant or to None.
        Article::objects()
            .filter(|x| x.title.eq("b"))
            .update(|x| x.priority.set(Some(Priority::Low)), &db)
            .await
            .unwrap();
        Article::objects()
            .filter(|x| x.title.eq("a"))
            .update(|x| x.priority.set(None), &db)
            .await
            .unwrap();
        let p: Vec<Option<Priority>> = Article::objects()
            .order_by(|x| x.title.asc())
            .values(|x| x.priority)
            .into_vec(&db)
            .await
            .unwrap();
        assert_eq!(p, [None, Some(Priority::Low)]);
        Article::objects()
            .update(|x| x.priority.set(Some(Priority::High)), &db)
            .await
            .unwrap();
        let ordered: Vec<Status> = Article::objects()
            .order_by(|x| x.title.asc())
            .values(|x| x.status)
            .into_vec(&db)
            .await
            .unwrap();
        assert_eq!(ordered, [Status::Published, Status::Draft]);

        // What is stored: the text value, and the discriminant.
        let raw: Vec<(String, Option<i64>)> = RawQuery::new(
            "SELECT status, priority FROM opt_articles ORDER BY title",
            (),
        )
        .into_vec(&db)
        .await
        .unwrap();
        assert_eq!(raw, [("live".into(), Some(10)), ("draft".into(), Some(10))]);

        // A stored value no variant names is a decode error, never a made-up variant.
        db.execute_raw("UPDATE opt_articles SET status = 'gone' WHERE title = 'b'")
            .await
            .unwrap();
        let e = Article::objects()
            .filter(|x| x.title.eq("b"))
            .into_vec(&db)
            .await
            .unwrap_err();
        match &e {
            Error::Decode {
                expected, message, ..
            } => {
                assert_eq!(*expected, "Status");
                assert!(
                    message.contains("\"gone\"") && message.contains("draft, live"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        let _ = backend;
    })
    .await;
}

#[test]
fn the_ddl_carries_the_options() {
    let sql = |d| orm_sqlx::core::compiler::create_table(Article::META, d, &Default::default()).sql;
    let pg = sql(Dialect::Postgres);
    for part in [
        r#""title" VARCHAR(20) NOT NULL"#,
        r#""code" TEXT NOT NULL CONSTRAINT "opt_articles_code_key" UNIQUE"#,
        r#""rating" INTEGER NOT NULL DEFAULT 3"#,
        r#""price" NUMERIC(5, 2) NOT NULL"#,
    ] {
        assert!(pg.contains(part), "{part} in {pg}");
    }
    let my = sql(Dialect::Mysql);
    for part in [
        "`code` VARCHAR(255) NOT NULL UNIQUE",
        "`price` DECIMAL(5, 2) NOT NULL",
        "UNIQUE KEY `opt_articles_author_slug_73d1_uniq` (`author`, `slug`)",
        "INDEX `opt_articles_views_idx` (`views`)",
        "`slug` VARCHAR(255) NOT NULL",
    ] {
        assert!(my.contains(part), "{part} in {my}");
    }
    let settings =
        orm_sqlx::core::compiler::create_table(Setting::META, Dialect::Mysql, &Default::default())
            .sql;
    assert!(
        settings.contains(r"DEFAULT ('it''s a \\ back''slash')"),
        "{settings}"
    );
    let lite =
        orm_sqlx::core::compiler::create_table(Setting::META, Dialect::Sqlite, &Default::default())
            .sql;
    assert!(lite.contains(r#""d" TEXT NOT NULL DEFAULT '7'"#), "{lite}");
    assert!(
        lite.contains(r#""s" TEXT NOT NULL DEFAULT 'it''s a \ back''slash'"#),
        "{lite}"
    );
}
