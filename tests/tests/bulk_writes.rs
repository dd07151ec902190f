//! Issue 12.1's write helpers on every backend: `objects().create`, `save_fields`
//! (Django's `save(update_fields=…)`), `bulk_update`, and `bulk_create_with`'s options
//! (keys not read back, conflicts ignored, upserts). Results and the exact statements
//! sent (S41), misuse refused before any query.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use orm_sqlx::StatementKind::{self, *};
use orm_sqlx::prelude::*;
use orm_tests::library::{self, Library};
use orm_tests::library::{Book, Tag};
use orm_tests::wide::{self, Wide};
use orm_tests::{Backend, TestDb, on_each_backend, required_backends, with_library};
use rust_decimal::Decimal;

fn kinds(q: &[orm_sqlx::CapturedQuery]) -> Vec<StatementKind> {
    q.iter().map(|q| q.kind).collect()
}

fn tag(name: &str) -> Tag {
    Tag {
        id: 0,
        name: name.into(),
    }
}

async fn unique_index(db: &Db, sql: &str) {
    db.execute_raw(sql).await.unwrap();
}

/// `with_library`, with a unique index created before the test's pool is opened: SQLite
/// checks an `ON CONFLICT (target)` against the schema its connection last read, so a
/// connection of the pool that loaded the library would not know the index yet (the
/// statement fails until that connection runs another one).
async fn with_library_and_index<F, Fut>(index: &str, test: F)
where
    F: Fn(Db, Backend, Library) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for backend in required_backends() {
        let t = TestDb::open(backend).await;
        eprintln!("-- on {}", backend.name());
        let lib = library::load(&t.db).await;
        unique_index(&t.db, index).await;
        let db = Db::connect(&t.url).await.unwrap();
        test(db.clone(), backend, lib).await;
        if let Some(p) = db.pg_pool() {
            p.close().await;
        }
        if let Some(p) = db.mysql_pool() {
            p.close().await;
        }
        if let Some(p) = db.sqlite_pool() {
            p.close().await;
        }
        t.cleanup().await;
    }
}

fn is_invalid_input<T: std::fmt::Debug>(r: &Result<T>) -> bool {
    matches!(r, Err(Error::InvalidInput(_)))
}

// ---------------------------------------------------------------------------------------
// create

#[tokio::test]
async fn create_from_the_manager_is_one_insert_and_returns_the_key() {
    with_library(|db, backend, lib| async move {
        let (r, q) = capture_queries(Tag::objects().create(tag("rust"), &db)).await;
        let made = r.unwrap();
        assert_ne!(made.id, 0, "{backend:?}");
        assert_eq!(kinds(&q), [Insert], "{backend:?}: {q:#?}");
        let read = Tag::objects().get_pk(made.id, &db).await.unwrap();
        assert_eq!(read, made);

        // A key already set is inserted as it is.
        let (r, q) = capture_queries(Tag::objects().create(
            Tag {
                id: 1000,
                name: "go".into(),
            },
            &db,
        ))
        .await;
        assert_eq!(r.unwrap().id, 1000);
        assert_eq!(kinds(&q), [Insert]);

        // A filtered (or related) queryset would not be followed by the row: refused, no query.
        let (r, q) = capture_queries(
            Tag::objects()
                .filter(|t| t.name.eq("sf"))
                .create(tag("zig"), &db),
        )
        .await;
        assert!(is_invalid_input(&r), "{r:?}");
        assert!(q.is_empty());
        let (r, q) = capture_queries(lib.alice.books().create(lib.b1.clone(), &db)).await;
        assert!(is_invalid_input(&r), "{r:?}");
        assert!(q.is_empty());

        // A duplicate key is the typed integrity error.
        let (r, _) = capture_queries(Tag::objects().create(lib.sf.clone(), &db)).await;
        assert!(r.unwrap_err().is_unique_violation(), "{backend:?}");
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// save_fields

#[tokio::test]
async fn save_fields_writes_only_those_columns_in_one_update() {
    with_library(|db, backend, lib| async move {
        let mut b1 = lib.b1.clone();
        b1.title = "B1 revised".into();
        b1.pages = 333;
        // Changed in memory but not listed: not written.
        b1.publisher = None;
        let (r, q) = capture_queries(b1.save_fields(|b| (b.title, b.pages), &db)).await;
        r.unwrap();
        assert_eq!(kinds(&q), [Update], "{backend:?}");
        // title, pages and the key: nothing else bound.
        assert_eq!(q[0].params.len(), 3, "{}", q[0].sql);
        assert!(!q[0].sql.contains("publisher"), "{}", q[0].sql);
        let read = Book::objects().get_pk(lib.b1.id, &db).await.unwrap();
        assert_eq!((read.title.as_str(), read.pages), ("B1 revised", 333));
        assert_eq!(read.publisher.map(|p| *p.key()), Some(lib.penguin.id));

        // A foreign key writes its key column.
        let mut b2 = lib.b2.clone();
        b2.author = ForeignKey::new(lib.bob.id);
        let (r, q) = capture_queries(b2.save_fields(|b| b.author, &db)).await;
        r.unwrap();
        assert_eq!(kinds(&q), [Update]);
        let read = Book::objects().get_pk(lib.b2.id, &db).await.unwrap();
        assert_eq!(*read.author.key(), lib.bob.id);

        // Values equal to the stored ones: the row still matches (MySQL counts found rows).
        let mut b3 = lib.b3.clone();
        let (r, q) = capture_queries(b3.save_fields(|b| (b.title,), &db)).await;
        r.unwrap();
        assert_eq!(kinds(&q), [Update], "{backend:?}");

        // No field: no query.
        let (r, q) = capture_queries(b3.save_fields(|_| (), &db)).await;
        r.unwrap();
        assert!(q.is_empty());
    })
    .await;
}

#[tokio::test]
async fn save_fields_misuse_is_refused_and_a_missing_row_is_does_not_exist() {
    with_library(|db, backend, lib| async move {
        // Unsaved: refused before any query.
        let mut new = tag("new");
        let (r, q) = capture_queries(new.save_fields(|t| t.name, &db)).await;
        assert!(is_invalid_input(&r), "{r:?}");
        assert!(q.is_empty());
        // The primary key among the fields.
        let mut sf = lib.sf.clone();
        let (r, q) = capture_queries(sf.save_fields(|t| (t.id, t.name), &db)).await;
        assert!(is_invalid_input(&r), "{r:?}");
        assert!(q.is_empty());
        // A related model's field.
        let mut b1 = lib.b1.clone();
        let (r, q) = capture_queries(b1.save_fields(|b| b.author().name, &db)).await;
        assert!(is_invalid_input(&r), "{r:?}");
        assert!(q.is_empty());

        // The row is gone: one UPDATE matching nothing, DoesNotExist, nothing inserted
        // (where `save()` would insert it again).
        let mut gone = lib.classic.clone();
        Tag::objects()
            .filter(|t| t.id.eq(gone.id))
            .delete(&db)
            .await
            .unwrap();
        gone.name = "ghost".into();
        let (r, q) = capture_queries(gone.save_fields(|t| t.name, &db)).await;
        assert!(
            matches!(r, Err(Error::DoesNotExist { model: "Tag" })),
            "{backend:?}: {r:?}"
        );
        assert_eq!(kinds(&q), [Update]);
        assert_eq!(Tag::objects().count(&db).await.unwrap(), 1);
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// bulk_update

#[tokio::test]
async fn bulk_update_writes_each_row_its_own_values_in_one_statement() {
    with_library(|db, backend, lib| async move {
        let mut books = vec![lib.b1.clone(), lib.b2.clone(), lib.b3.clone()];
        for (i, b) in books.iter_mut().enumerate() {
            b.title = format!("T{i}");
            b.pages = 1000 + i as i32;
            b.publisher = None; // not listed: not written
        }
        let (r, q) =
            capture_queries(Book::objects().bulk_update(&books, |b| (b.title, b.pages), &db)).await;
        assert_eq!(r.unwrap(), 3, "{backend:?}");
        assert_eq!(kinds(&q), [Update], "{backend:?}");
        assert!(q[0].sql.contains("CASE"), "{}", q[0].sql);
        // 2 × 2 fields × 3 rows + the keys (3, or one array on PostgreSQL).
        let keys = if backend == Backend::Postgres { 1 } else { 3 };
        assert_eq!(q[0].params.len(), 12 + keys, "{}", q[0].sql);
        let mut read = Book::objects().fetch(&db).await.unwrap().to_vec();
        read.sort_by_key(|b| b.id);
        let got: Vec<_> = read.iter().map(|b| (b.title.as_str(), b.pages)).collect();
        assert_eq!(got, [("T0", 1000), ("T1", 1001), ("T2", 1002)]);
        assert_eq!(
            read[0].publisher.as_ref().map(|p| *p.key()),
            Some(lib.penguin.id)
        );

        // A foreign key: its key column.
        let mut moved = vec![lib.b1.clone(), lib.b3.clone()];
        moved[0].author = ForeignKey::new(lib.carol.id);
        moved[1].author = ForeignKey::new(lib.carol.id);
        let (r, q) = capture_queries(Book::objects().bulk_update(&moved, |b| b.author, &db)).await;
        assert_eq!(r.unwrap(), 2);
        assert_eq!(kinds(&q), [Update]);
        let carol = Book::objects()
            .filter(|b| b.author.eq(&lib.carol))
            .count(&db)
            .await
            .unwrap();
        assert_eq!(carol, 2);

        // The queryset's filter restricts the rows, as Django's.
        let mut both = vec![lib.b1.clone(), lib.b2.clone()];
        both[0].pages = 1;
        both[1].pages = 2;
        let (r, q) = capture_queries(
            Book::objects()
                .filter(|b| b.author().name.eq("Alice"))
                .bulk_update(&both, |b| b.pages, &db),
        )
        .await;
        assert_eq!(r.unwrap(), 1, "{backend:?}: only B2 is still Alice's");
        assert_eq!(kinds(&q), [Update]);
        assert_eq!(
            Book::objects().get_pk(lib.b1.id, &db).await.unwrap().pages,
            1000
        );
        assert_eq!(
            Book::objects().get_pk(lib.b2.id, &db).await.unwrap().pages,
            2
        );

        // Rows that exist no more are not matched.
        let mut ghost = lib.b2.clone();
        ghost.id = 999_999;
        let (r, _) = capture_queries(Book::objects().bulk_update(&[ghost], |b| b.pages, &db)).await;
        assert_eq!(r.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn bulk_update_of_one_key_twice_keeps_the_last_instance() {
    with_library(|db, backend, lib| async move {
        let mut first = lib.b1.clone();
        first.pages = 1;
        let mut last = lib.b1.clone();
        last.pages = 2;
        let mut other = lib.b2.clone();
        other.pages = 3;
        let objs = [first, other, last];
        let (r, q) = capture_queries(Book::objects().bulk_update(&objs, |b| b.pages, &db)).await;
        assert_eq!(r.unwrap(), 2, "{backend:?}: two rows matched");
        assert_eq!(kinds(&q), [Update]);
        assert_eq!(
            Book::objects().get_pk(lib.b1.id, &db).await.unwrap().pages,
            2,
            "{backend:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn bulk_update_misuse_is_refused_before_any_query() {
    with_library(|db, _backend, lib| async move {
        let books = vec![lib.b1.clone(), lib.b2.clone()];
        // An empty list: no query.
        let (r, q) = capture_queries(Book::objects().bulk_update(&[], |b| b.pages, &db)).await;
        assert_eq!(r.unwrap(), 0);
        assert!(q.is_empty());
        // No field (also for an empty list, as Django).
        let (r, q) = capture_queries(Book::objects().bulk_update(&[], |_| (), &db)).await;
        assert!(is_invalid_input(&r), "{r:?}");
        assert!(q.is_empty());
        // The primary key.
        let (r, q) =
            capture_queries(Book::objects().bulk_update(&books, |b| (b.pages, b.id), &db)).await;
        assert!(is_invalid_input(&r), "{r:?}");
        assert!(q.is_empty());
        // An unsaved instance among saved ones.
        let unsaved = vec![lib.b1.clone(), Book::default()];
        let (r, q) = capture_queries(Book::objects().bulk_update(&unsaved, |b| b.pages, &db)).await;
        assert!(is_invalid_input(&r), "{r:?}");
        assert!(q.is_empty());
        // An expression or a related field.
        let (r, q) =
            capture_queries(Book::objects().bulk_update(&books, |b| b.author().name, &db)).await;
        assert!(is_invalid_input(&r), "{r:?}");
        assert!(q.is_empty());
        // A sliced queryset.
        let (r, q) = capture_queries(
            Book::objects()
                .order_by(|b| b.id.asc())
                .slice(0..1)
                .bulk_update(&books, |b| b.pages, &db),
        )
        .await;
        assert!(matches!(r, Err(Error::Sliced(_))), "{r:?}");
        assert!(q.is_empty());
        // A value no backend stores faithfully, in the last row: refused before the first
        // statement is sent.
        let mut bad = books.clone();
        bad[1].title = "nul\0".into();
        let (r, q) = capture_queries(Book::objects().bulk_update(&bad, |b| b.title, &db)).await;
        assert!(matches!(r, Err(Error::InvalidValue { .. })), "{r:?}");
        assert!(q.is_empty());
    })
    .await;
}

/// Past the bind limit: one UPDATE per batch of `max_params / (2 × fields + 1)` rows, all
/// of them in one atomic block. Eight fields of `Wide`: 17 parameters a row, 1927 rows a
/// batch on SQLite, 3855 on PostgreSQL and MySQL. (A `CASE` of n keys costs n² / 2
/// comparisons: the PostgreSQL run takes about ten seconds, the reason for not repeating
/// it inside a transaction.)
#[tokio::test]
async fn bulk_update_batches_past_the_bind_limit_atomically() {
    on_each_backend(|db, backend| async move {
        db.create_table::<Wide>().await.unwrap();
        let per_batch = backend.max_params() / 17;
        let n = per_batch + 1;
        let mut rows = wide::rows(n);
        Wide::objects().bulk_create(&mut rows, &db).await.unwrap();
        for w in &mut rows {
            w.c0 = -w.c0 - 1;
            w.c7 = -w.c7 - 1;
        }
        let eight = |w: &<Wide as Model>::Fields| (w.c0, w.c1, w.c2, w.c3, w.c4, w.c5, w.c6, w.c7);
        let (r, q) = capture_queries(Wide::objects().bulk_update(&rows, eight, &db)).await;
        assert_eq!(r.unwrap(), n as u64, "{backend:?}");
        assert_eq!(kinds(&q), [Begin, Update, Update, Commit], "{backend:?}");
        let changed = Wide::objects()
            .filter(|w| w.c0.lt(0) & w.c7.lt(0) & w.c8.gte(0))
            .count(&db)
            .await
            .unwrap();
        assert_eq!(changed, n as u64);

        // The first statement holds exactly `per_batch` rows: 8 × 2 parameters a row, and
        // the keys (one array on PostgreSQL).
        let keys = if backend == Backend::Postgres {
            1
        } else {
            per_batch
        };
        assert_eq!(q[1].params.len(), 16 * per_batch + keys, "{backend:?}");
        assert_eq!(q[2].params.len(), 16 + 1, "{backend:?}");
    })
    .await;
}

/// A model of the types whose `CASE` must come out typed right on PostgreSQL: nullable
/// columns (all NULL in one statement, or mixed), decimals, timestamps with and without a
/// time zone, booleans, small integers, floats, dates, JSON.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "gadgets")]
struct Gadget {
    id: i64,
    name: String,
    small: i16,
    on: bool,
    price: Decimal,
    maybe_price: Option<Decimal>,
    at: DateTime<Utc>,
    local: Option<NaiveDateTime>,
    day: Option<NaiveDate>,
    ratio: Option<f64>,
    note: Option<String>,
    doc: serde_json::Value,
}

fn gadget(i: i64) -> Gadget {
    Gadget {
        id: 0,
        name: format!("g{i}"),
        small: i as i16,
        on: false,
        price: Decimal::new(100 + i, 2),
        maybe_price: None,
        at: Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap(),
        local: None,
        day: None,
        ratio: None,
        note: Some("n".into()),
        doc: serde_json::json!({"i": i}),
    }
}

#[tokio::test]
async fn bulk_update_binds_every_type_as_its_column_reads_it() {
    on_each_backend(|db, backend| async move {
        db.create_table::<Gadget>().await.unwrap();
        let mut gs: Vec<Gadget> = (0..3).map(gadget).collect();
        Gadget::objects().bulk_create(&mut gs, &db).await.unwrap();
        for (i, g) in gs.iter_mut().enumerate() {
            let i = i as i64;
            g.small = -7 - i as i16;
            g.on = i % 2 == 0;
            g.price = Decimal::new(123_456_789 + i, 4);
            // Mixed NULL and values in one CASE.
            g.maybe_price = (i != 1).then(|| Decimal::new(5 + i, 1));
            g.at = Utc.with_ymd_and_hms(2024, 2, 29, 12, 30, i as u32).unwrap();
            g.local = (i != 0).then(|| {
                NaiveDate::from_ymd_opt(2023, 7, 1)
                    .unwrap()
                    .and_hms_opt(1, 2, i as u32)
                    .unwrap()
            });
            g.day = NaiveDate::from_ymd_opt(2000, 1, 1 + i as u32);
            g.ratio = Some(0.5 + i as f64);
            // Every value of this CASE is NULL.
            g.note = None;
            g.doc = serde_json::json!({"i": i, "changed": true});
        }
        let (r, q) = capture_queries(Gadget::objects().bulk_update(
            &gs,
            |g| {
                (
                    g.small,
                    g.on,
                    g.price,
                    g.maybe_price,
                    g.at,
                    g.local,
                    g.day,
                    g.ratio,
                )
            },
            &db,
        ))
        .await;
        assert_eq!(r.unwrap(), 3, "{backend:?}");
        assert_eq!(kinds(&q), [Update]);
        let (r, q) =
            capture_queries(Gadget::objects().bulk_update(&gs, |g| (g.note, g.doc), &db)).await;
        assert_eq!(r.unwrap(), 3, "{backend:?}");
        assert_eq!(kinds(&q), [Update]);
        let mut read = Gadget::objects().fetch(&db).await.unwrap().to_vec();
        read.sort_by_key(|g| g.id);
        assert_eq!(read, gs, "{backend:?}");
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// bulk_create_with

#[tokio::test]
async fn bulk_create_without_keys_sends_no_returning_and_leaves_keys_unset() {
    with_library(|db, backend, _lib| async move {
        let mut tags = vec![tag("a"), tag("b")];
        let (r, q) =
            capture_queries(Tag::objects().bulk_create_with(&mut tags, |o| o.without_keys(), &db))
                .await;
        r.unwrap();
        assert_eq!(kinds(&q), [Insert], "{backend:?}");
        assert!(!q[0].sql.contains("RETURNING"), "{}", q[0].sql);
        assert!(tags.iter().all(|t| t.id == 0));
        assert_eq!(Tag::objects().count(&db).await.unwrap(), 4);

        // The default still reads them back.
        let mut tags = vec![tag("c"), tag("d")];
        Tag::objects()
            .bulk_create_with(&mut tags, |o| o, &db)
            .await
            .unwrap();
        assert!(tags.iter().all(|t| t.id != 0));
    })
    .await;
}

#[tokio::test]
async fn bulk_create_ignoring_conflicts_skips_duplicates_only() {
    with_library(|db, backend, lib| async move {
        unique_index(&db, "CREATE UNIQUE INDEX tags_name ON tags (name)").await;
        let mut tags = vec![tag("sf"), tag("new1"), tag("classic"), tag("new2")];
        let (r, q) = capture_queries(Tag::objects().bulk_create_with(
            &mut tags,
            |o| o.ignore_conflicts(),
            &db,
        ))
        .await;
        r.unwrap();
        assert_eq!(kinds(&q), [Insert], "{backend:?}");
        let sql = orm_tests::portable_sql(backend, &q[0].sql);
        if backend == Backend::Mysql {
            assert!(
                sql.ends_with(r#"ON DUPLICATE KEY UPDATE "id" = "id""#),
                "{sql}"
            );
        } else {
            assert!(sql.ends_with("ON CONFLICT DO NOTHING"), "{sql}");
        }
        // As Django: no key is read back.
        assert!(tags.iter().all(|t| t.id == 0));
        let mut names: Vec<String> = Tag::objects()
            .values(|t| t.name)
            .fetch(&db)
            .await
            .unwrap()
            .to_vec();
        names.sort();
        assert_eq!(names, ["classic", "new1", "new2", "sf"]);

        // A duplicate primary key is skipped too.
        let mut again = vec![lib.sf.clone()];
        Tag::objects()
            .bulk_create_with(&mut again, |o| o.ignore_conflicts(), &db)
            .await
            .unwrap();
        assert_eq!(Tag::objects().count(&db).await.unwrap(), 4);

        // Other errors are not swallowed (MySQL's INSERT IGNORE would store nothing and
        // report a warning): a foreign key to no row.
        let mut orphan = vec![Book {
            title: "orphan".into(),
            author: ForeignKey::new(999_999),
            ..Default::default()
        }];
        let (r, q) = capture_queries(Book::objects().bulk_create_with(
            &mut orphan,
            |o| o.ignore_conflicts(),
            &db,
        ))
        .await;
        assert!(
            matches!(
                r,
                Err(Error::Integrity {
                    kind: orm_sqlx::Violation::ForeignKey,
                    ..
                })
            ),
            "{backend:?}: {r:?}"
        );
        assert_eq!(kinds(&q), [Insert]);
    })
    .await;
}

#[tokio::test]
async fn bulk_create_updating_conflicts_upserts_on_the_unique_fields() {
    let index = "CREATE UNIQUE INDEX books_title ON books (title)";
    with_library_and_index(index, |db, backend, lib| async move {
        let mut b1 = lib.b1.clone();
        b1.id = 0;
        b1.pages = 999;
        b1.publisher = None; // not among the update fields: kept
        let mut b4 = lib.b2.clone();
        b4.id = 0;
        b4.title = "B4".into();
        let mut books = vec![b1, b4];
        let (r, q) = capture_queries(Book::objects().bulk_create_with(
            &mut books,
            |o| o.update_conflicts(|b| b.title, |b| (b.pages,)),
            &db,
        ))
        .await;
        r.unwrap();
        assert_eq!(kinds(&q), [Insert], "{backend:?}");
        let sql = orm_tests::portable_sql(backend, &q[0].sql);
        if backend == Backend::Mysql {
            assert!(
                sql.contains(r#"ON DUPLICATE KEY UPDATE "pages" = VALUES("pages")"#),
                "{sql}"
            );
        } else {
            assert!(
                sql.contains(r#"ON CONFLICT ("title") DO UPDATE SET "pages" = "excluded"."pages""#),
                "{sql}"
            );
        }
        let read = Book::objects().get_pk(lib.b1.id, &db).await.unwrap();
        assert_eq!(read.pages, 999);
        assert_eq!(read.publisher.map(|p| *p.key()), Some(lib.penguin.id));
        assert_eq!(Book::objects().count(&db).await.unwrap(), 4);
        // Keys come back through RETURNING (all three servers here have it): the updated
        // row's own key for the instance that collided.
        let b4 = Book::objects()
            .filter(|b| b.title.eq("B4"))
            .get(&db)
            .await
            .unwrap();
        assert_eq!(
            books.iter().map(|b| b.id).collect::<Vec<_>>(),
            [lib.b1.id, b4.id],
            "{backend:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn bulk_create_upsert_misuse_is_a_typed_error() {
    with_library(|db, backend, lib| async move {
        let mut books = vec![lib.b1.clone()];
        // No field to update; the primary key; no unique field: before any query.
        for r in [
            capture_queries(Book::objects().bulk_create_with(
                &mut books,
                |o| o.update_conflicts(|b| b.title, |_| ()),
                &db,
            ))
            .await,
            capture_queries(Book::objects().bulk_create_with(
                &mut books,
                |o| o.update_conflicts(|b| b.title, |b| (b.id, b.pages)),
                &db,
            ))
            .await,
            capture_queries(Book::objects().bulk_create_with(
                &mut books,
                |o| o.update_conflicts(|_| (), |b| b.pages),
                &db,
            ))
            .await,
            capture_queries(Book::objects().bulk_create_with(
                &mut Vec::new(),
                |o| o.update_conflicts(|b| b.author().name, |b| b.pages),
                &db,
            ))
            .await,
        ] {
            let (r, q) = r;
            assert!(is_invalid_input(&r), "{r:?}");
            assert!(q.is_empty());
        }

        // A target that is no unique constraint: PostgreSQL and SQLite refuse the
        // statement, InvalidInput naming the fields. MySQL cannot name a target: the row
        // is inserted (no unique key collides).
        let mut b5 = lib.b1.clone();
        b5.id = 0;
        b5.title = "B5".into();
        let mut books = vec![b5];
        let (r, q) = capture_queries(Book::objects().bulk_create_with(
            &mut books,
            |o| o.update_conflicts(|b| b.pages, |b| b.title),
            &db,
        ))
        .await;
        assert_eq!(kinds(&q), [Insert]);
        if backend == Backend::Mysql {
            r.unwrap();
            assert_eq!(Book::objects().count(&db).await.unwrap(), 4);
        } else {
            let e = r.unwrap_err();
            assert!(
                matches!(&e, Error::InvalidInput(m) if m.contains("(pages)")),
                "{backend:?}: {e:?}"
            );
            assert_eq!(Book::objects().count(&db).await.unwrap(), 3);
        }
    })
    .await;
}

/// MySQL without `RETURNING` (MySQL 8; MariaDB before 10.5), as `with_returning(false)`
/// makes the MariaDB here: `create` takes the key from the last insert id; an upsert reads
/// no key back (the last insert id is not the updated rows'), so its keys stay unset.
#[tokio::test]
async fn mysql_without_returning_creates_with_the_last_insert_id_and_upserts_without_keys() {
    if !required_backends().contains(&Backend::Mysql) {
        return;
    }
    let index = "CREATE UNIQUE INDEX books_title ON books (title)";
    with_library_and_index(index, |db, backend, lib| async move {
        if backend != Backend::Mysql {
            return;
        }
        let db = db.with_returning(false);
        let (r, q) = capture_queries(Tag::objects().create(tag("rust"), &db)).await;
        let made = r.unwrap();
        assert_eq!(kinds(&q), [Insert]);
        assert!(!q[0].sql.contains("RETURNING"), "{}", q[0].sql);
        assert_eq!(
            Tag::objects().get_pk(made.id, &db).await.unwrap().name,
            "rust"
        );

        let mut b1 = lib.b1.clone();
        b1.id = 0;
        b1.pages = 777;
        let mut b6 = lib.b1.clone();
        b6.id = 0;
        b6.title = "B6".into();
        let mut books = vec![b1, b6];
        let (r, q) = capture_queries(Book::objects().bulk_create_with(
            &mut books,
            |o| o.update_conflicts(|b| b.title, |b| b.pages),
            &db,
        ))
        .await;
        r.unwrap();
        assert_eq!(kinds(&q), [Insert]);
        assert!(!q[0].sql.contains("RETURNING"), "{}", q[0].sql);
        assert!(books.iter().all(|b| b.id == 0), "{books:?}");
        assert_eq!(
            Book::objects().get_pk(lib.b1.id, &db).await.unwrap().pages,
            777
        );
        assert_eq!(Book::objects().count(&db).await.unwrap(), 4);
    })
    .await;
}
