//! Relations (SEMANTICS.md S13, S19–S31, S38): each rule's result and exact query count,
//! on every backend, on the library fixture (`orm_tests::library`).

use futures_util::TryStreamExt;
use orm_sqlx::CapturedQuery;
use orm_sqlx::StatementKind::{self, Begin, Commit, Delete, Insert, Rollback, Select, Update};
use orm_sqlx::prelude::*;
use orm_tests::library::{Author, Book, Employee, Tag};
use orm_tests::{Backend, on_each_backend, portable_sql, with_library};

async fn counted<T>(fut: impl std::future::Future<Output = T>) -> (T, Vec<CapturedQuery>) {
    capture_queries(fut).await
}

/// The kind of each statement, in order.
fn kinds(q: &[CapturedQuery]) -> Vec<StatementKind> {
    q.iter().map(|q| q.kind).collect()
}

/// How many keys a statement's key list binds: one parameter a key on SQLite, one array
/// parameter holding them all on PostgreSQL (`= ANY($1)`).
fn keys_bound(q: &CapturedQuery) -> usize {
    q.params
        .iter()
        .map(|p| match p {
            orm_sqlx::Value::List(_, items) => items.len(),
            _ => 1,
        })
        .sum()
}

/// Whether `sql` filters `column` by a key list: `IN (…)`, or `= ANY($n)` on PostgreSQL.
fn filters_by_keys(sql: &str, column: &str) -> bool {
    sql.contains(&format!("{column} IN (")) || sql.contains(&format!("{column} = ANY("))
}

fn names(authors: &[Author]) -> Vec<&str> {
    authors.iter().map(|a| a.name.as_str()).collect()
}

fn titles(books: &[Book]) -> Vec<&str> {
    books.iter().map(|b| b.title.as_str()).collect()
}

// ---- S19, S20: lazy relation access ---------------------------------------------------

#[tokio::test]
async fn s19_a_forward_key_loads_once_on_request_and_reads_its_raw_key_for_free() {
    with_library(|db, _, lib| async move {
        let mut b1 = Book::objects()
            .filter(|b| b.title.eq("B1"))
            .get(&db)
            .await
            .unwrap();
        let (key, q) = counted(async { *b1.author.key() }).await;
        assert_eq!(
            (key, q.len()),
            (lib.alice.id, 0),
            "the raw key never queries"
        );

        let e = b1.author.get().unwrap_err();
        assert!(matches!(e, Error::NotLoaded { .. }));
        let msg = e.to_string();
        assert!(
            msg.contains("Book.author") && msg.contains("select_related"),
            "{msg}"
        );

        let (name, q) = counted(async { b1.author.load(&db).await.map(|a| a.name.clone()) }).await;
        assert_eq!((name.unwrap().as_str(), q.len()), ("Alice", 1));
        let (name, q) = counted(async { b1.author.load(&db).await.map(|a| a.name.clone()) }).await;
        assert_eq!(
            (name.unwrap().as_str(), q.len()),
            ("Alice", 0),
            "cached on the instance"
        );
        assert_eq!(b1.author.get().unwrap().name, "Alice");

        // a NULL nullable key reads as None at no cost
        let b2 = Book::objects()
            .filter(|b| b.title.eq("B2"))
            .get(&db)
            .await
            .unwrap();
        let (p, q) = counted(async { b2.publisher.is_none() }).await;
        assert_eq!((p, q.len()), (true, 0));
    })
    .await;
}

#[tokio::test]
async fn s20_a_related_manager_queries_each_time_it_is_evaluated() {
    with_library(|db, backend, lib| async move {
        for _ in 0..2 {
            let books = lib.alice.books();
            let (rows, q) = counted(books.fetch(&db)).await;
            let mut got = titles(rows.unwrap()).to_vec();
            got.sort();
            assert_eq!((got, q.len()), (vec!["B1", "B2"], 1));
            assert!(
                portable_sql(backend, &q[0].sql).contains(r#"WHERE "books"."author_id" = "#),
                "{}",
                q[0].sql
            );
        }
        let (n, q) = counted(lib.carol.books().count(&db)).await;
        assert_eq!((n.unwrap(), q.len()), (0, 1));
        let (tags, q) = counted(async {
            lib.b1
                .tags()
                .order_by(|t| t.name.asc())
                .fetch(&db)
                .await
                .map(|t| t.len())
        })
        .await;
        assert_eq!((tags.unwrap(), q.len()), (2, 1));
    })
    .await;
}

// ---- S21–S23: select_related --------------------------------------------------------------

#[tokio::test]
async fn s21_select_related_joins_in_one_query_inner_or_left_by_nullability() {
    with_library(|db, backend, _| async move {
        let qs = Book::objects()
            .select_related(|b| b.author().country())
            .select_related(|b| b.publisher())
            .order_by(|b| b.title.asc());
        let (rows, q) = counted(qs.fetch(&db)).await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 1);
        let sql = &portable_sql(backend, &q[0].sql);
        assert!(sql.contains(r#"INNER JOIN "authors" ON"#), "{sql}");
        assert!(sql.contains(r#"LEFT OUTER JOIN "countries" ON"#), "{sql}");
        assert!(sql.contains(r#"LEFT OUTER JOIN "publishers" ON"#), "{sql}");
        let (seen, q) = counted(async {
            rows.iter()
                .map(|b| {
                    let a = b.author.get().unwrap();
                    let country = a.country.as_ref().map(|c| c.get().unwrap().name.clone());
                    let publisher = b.publisher.as_ref().map(|p| p.get().unwrap().name.clone());
                    (b.title.clone(), a.name.clone(), country, publisher)
                })
                .collect::<Vec<_>>()
        })
        .await;
        assert_eq!(
            q.len(),
            0,
            "every relation read is free after select_related"
        );
        assert_eq!(
            seen,
            [
                (
                    "B1".into(),
                    "Alice".into(),
                    Some("UK".into()),
                    Some("Penguin".into())
                ),
                ("B2".into(), "Alice".into(), Some("UK".into()), None),
                ("B3".into(), "Bob".into(), None, Some("Harper".into())),
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn s22_a_filter_promotes_the_left_join_and_a_table_joined_twice_gets_aliases() {
    with_library(|db, backend, _| async move {
        let qs = Book::objects()
            .select_related(|b| b.publisher())
            .filter(|b| b.publisher().name.eq("Penguin"));
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!((titles(rows.unwrap()), q.len()), (vec!["B1"], 1));
        assert!(
            portable_sql(backend, &q[0].sql).contains(r#"INNER JOIN "publishers""#),
            "{}",
            q[0].sql
        );
        assert!(!q[0].sql.contains("LEFT OUTER"), "{}", q[0].sql);

        // employee → boss → boss: the same table three times
        let qs = Employee::objects()
            .select_related(|e| e.boss().boss())
            .filter(|e| e.name.eq("Cy"));
        let (rows, q) = counted(qs.fetch(&db)).await;
        let cy = &rows.unwrap()[0];
        assert_eq!(q.len(), 1);
        assert!(
            portable_sql(backend, &q[0].sql).contains(r#"LEFT OUTER JOIN "employees" "T2""#),
            "{}",
            q[0].sql
        );
        assert!(
            portable_sql(backend, &q[0].sql).contains(r#"LEFT OUTER JOIN "employees" "T3""#),
            "{}",
            q[0].sql
        );
        let boss = cy.boss.as_ref().unwrap().get().unwrap();
        let grand = boss.boss.as_ref().unwrap().get().unwrap();
        assert_eq!((boss.name.as_str(), grand.name.as_str()), ("Ben", "Ann"));
        assert!(grand.boss.is_none());

        let ceo = Employee::objects()
            .filter(|e| e.boss().name.eq("Ben"))
            .values(|e| e.name);
        let (rows, q) = counted(ceo.fetch(&db)).await;
        assert_eq!(
            (rows.unwrap().to_vec(), q.len()),
            (vec!["Cy".to_string()], 1)
        );
    })
    .await;
}

#[tokio::test]
async fn s23_select_related_accumulates_clears_and_leaves_the_rest_unloaded() {
    with_library(|db, _, _| async move {
        let both = Book::objects()
            .select_related(|b| b.author())
            .select_related(|b| b.publisher())
            .order_by(|b| b.id.asc());
        let (rows, q) = counted(both.fetch(&db)).await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 1);
        assert!(rows[0].author.is_loaded() && rows[0].publisher.as_ref().unwrap().is_loaded());

        let cleared = both.clear_select_related();
        let (rows, q) = counted(cleared.fetch(&db)).await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 1);
        assert!(!q[0].sql.contains("JOIN"), "{}", q[0].sql);
        assert!(!rows[0].author.is_loaded());

        // not named: one query per row to load it
        let only_author = Book::objects()
            .select_related(|b| b.author())
            .order_by(|b| b.id.asc());
        let mut rows = only_author.fetch(&db).await.unwrap().to_vec();
        let (loaded, q) = counted(async {
            let mut n = 0;
            for b in &mut rows {
                if let Some(p) = &mut b.publisher {
                    p.load(&db).await.unwrap();
                    n += 1;
                }
            }
            n
        })
        .await;
        assert_eq!((loaded, q.len()), (2, 2));
    })
    .await;
}

// ---- S1 with relations: naming them in a chain costs nothing ------------------------------

#[tokio::test]
async fn s01_a_chain_with_select_related_and_prefetch_related_sends_nothing() {
    with_library(|_db, _, _| async move {
        let (qs, q) = counted(async {
            let qs = Book::objects()
                .select_related(|b| b.author())
                .prefetch_related(|b| b.tags())
                .filter(|b| b.author().name.eq("Alice"))
                .order_by(|b| b.title.asc());
            let sql = qs.sql();
            assert!(sql.contains("JOIN"), "{sql}");
            let _ = format!("{qs:?}");
            let _ = Author::objects()
                .prefetch_related(|a| a.books().tags())
                .all();
            qs
        })
        .await;
        assert_eq!(q.len(), 0, "{q:?}");
        assert!(!qs.is_evaluated());
    })
    .await;
}

// ---- S32 across a relation: a projection that joins --------------------------------------

#[tokio::test]
async fn s32_a_projection_across_a_relation_joins_in_one_query() {
    with_library(|db, _, _| async move {
        let qs = Book::objects()
            .order_by(|b| b.title.asc())
            .values(|b| (b.title, b.author().name));
        let (rows, q) = counted(qs.fetch(&db)).await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 1);
        assert!(q[0].sql.contains("JOIN"), "{}", q[0].sql);
        let pairs: Vec<(&str, &str)> = rows.iter().map(|(t, a)| (&**t, &**a)).collect();
        assert_eq!(pairs, [("B1", "Alice"), ("B2", "Alice"), ("B3", "Bob")]);
        let (again, q) = counted(qs.fetch(&db)).await;
        assert_eq!((again.unwrap().len(), q.len()), (rows.len(), 0));
    })
    .await;
}

// ---- S32: a path through a nullable or many-valued hop projects Option --------------------

#[tokio::test]
async fn s32_a_projection_through_a_nullable_key_reads_none_where_no_row_is_joined() {
    with_library(|db, _, lib| async move {
        let qs = Book::objects()
            .order_by(|b| b.title.asc())
            .values(|b| (b.title, b.publisher().name));
        let (rows, q) = counted(qs.fetch(&db)).await;
        // The type is the check: `publisher` is nullable, so its name is an Option.
        let rows: &[(String, Option<String>)] = rows.unwrap();
        assert_eq!(q.len(), 1);
        assert!(q[0].sql.contains("LEFT OUTER JOIN"), "{}", q[0].sql);
        assert_eq!(
            rows,
            [
                ("B1".to_owned(), Some("Penguin".to_owned())),
                ("B2".to_owned(), None),
                ("B3".to_owned(), Some("Harper".to_owned())),
            ]
        );
        // Past a nullable hop every hop is optional: Alice is in the UK, Bob in no country.
        let nested = Book::objects()
            .order_by(|b| b.title.asc())
            .values(|b| b.author().country().name);
        let (rows, q) = counted(nested.fetch(&db)).await;
        let rows: &[Option<String>] = rows.unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(rows, [Some("UK".to_owned()), Some("UK".to_owned()), None]);
        // A nullable key projects its raw key, NULL as None; a required one as the key.
        let keys = Book::objects()
            .order_by(|b| b.title.asc())
            .values(|b| (b.author, b.publisher));
        let (rows, q) = counted(keys.fetch(&db)).await;
        let rows: &[(i64, Option<i64>)] = rows.unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(
            rows,
            [
                (lib.alice.id, Some(lib.penguin.id)),
                (lib.alice.id, None),
                (lib.bob.id, Some(lib.harper.id)),
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn s32_a_projection_through_a_many_valued_relation_reads_none_for_a_row_without_any() {
    with_library(|db, _, _| async move {
        let qs = Author::objects()
            .order_by(|a| [a.name.asc(), a.books().title.asc()])
            .values(|a| (a.name, a.books().title));
        let (rows, q) = counted(qs.fetch(&db)).await;
        let rows: &[(String, Option<String>)] = rows.unwrap();
        assert_eq!(q.len(), 1);
        let pairs: Vec<(&str, Option<&str>)> = rows
            .iter()
            .map(|(a, t)| (a.as_str(), t.as_deref()))
            .collect();
        // Carol wrote nothing: Django gives None, never "" or a decode error.
        assert_eq!(
            pairs,
            [
                ("Alice", Some("B1")),
                ("Alice", Some("B2")),
                ("Bob", Some("B3")),
                ("Carol", None),
            ]
        );
        let tags = Book::objects()
            .order_by(|b| [b.title.asc(), b.tags().name.asc()])
            .values(|b| (b.title, b.tags().name));
        let (rows, q) = counted(tags.fetch(&db)).await;
        let rows: &[(String, Option<String>)] = rows.unwrap();
        assert_eq!(q.len(), 1);
        let pairs: Vec<(&str, Option<&str>)> = rows
            .iter()
            .map(|(b, t)| (b.as_str(), t.as_deref()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("B1", Some("classic")),
                ("B1", Some("sf")),
                ("B2", None),
                ("B3", Some("sf")),
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn values_drops_select_related_and_prefetch_related() {
    with_library(|db, _, _| async move {
        // As in Django, a projection selects only what it names: no JOIN for the
        // select_related made before it…
        let qs = Book::objects()
            .select_related(|b| b.author())
            .order_by(|b| b.title.asc())
            .values(|b| b.title);
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!(rows.unwrap(), ["B1", "B2", "B3"]);
        assert_eq!(q.len(), 1);
        assert!(!q[0].sql.contains("JOIN"), "{}", q[0].sql);
        // …and no prefetch query (there is no instance to attach rows to); count(),
        // exists() and a subquery work as Django's do.
        let qs = Author::objects()
            .prefetch_related(|a| a.books())
            .order_by(|a| a.name.asc())
            .values(|a| a.name);
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!(
            (rows.unwrap(), q.len()),
            (&["Alice", "Bob", "Carol"].map(String::from)[..], 1)
        );
        let fresh = qs.all();
        let (n, q) = counted(fresh.count(&db)).await;
        assert_eq!((n.unwrap(), q.len()), (3, 1));
        let (n, q) = counted(fresh.exists(&db)).await;
        assert_eq!((n.unwrap(), q.len()), (true, 1));
        let keys = Book::objects()
            .prefetch_related(|b| b.tags())
            .values(|b| b.author);
        let qs = Author::objects()
            .filter(|a| a.id.is_in(keys))
            .order_by(|a| a.name.asc());
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!((names(rows.unwrap()), q.len()), (vec!["Alice", "Bob"], 1));
    })
    .await;
}

#[tokio::test]
async fn lookups_through_a_nullable_hop_accept_none() {
    with_library(|db, _, _| async move {
        let db = &db;
        let t = |qs: QuerySet<Book>| async move {
            let qs = qs.order_by(|b| b.title.asc());
            let (rows, q) = counted(qs.fetch(db)).await;
            assert_eq!(q.len(), 1);
            titles(rows.unwrap()).join(",")
        };
        // `eq(None)` is IS NULL, on a nullable key and on a field past one (Django's
        // `filter(publisher=None)`, `filter(publisher__name=None)`).
        assert_eq!(
            t(Book::objects().filter(|b| b.publisher.eq(None))).await,
            "B2"
        );
        assert_eq!(
            t(Book::objects().filter(|b| b.publisher().name.eq(None))).await,
            "B2"
        );
        assert_eq!(
            t(Book::objects().filter(|b| b.publisher().name.is_null(false))).await,
            "B1,B3"
        );
        assert_eq!(
            t(Book::objects().filter(|b| b.author().country().name.eq(None))).await,
            "B3"
        );
        let qs = Author::objects().filter(|a| a.books().title.eq(None));
        let (rows, q) = counted(qs.fetch(db)).await;
        assert_eq!((names(rows.unwrap()), q.len()), (vec!["Carol"], 1));
    })
    .await;
}

// ---- get() by primary key reads one row; a join that repeats it still counts ----------------

#[test]
fn a_query_returns_at_most_one_row_only_when_the_data_cannot_make_it_more() {
    let one = |qs: orm_sqlx::QuerySet<Author>| qs.query().at_most_one_row();
    let authors = Author::objects;
    assert!(one(authors().filter(|a| a.id.eq(1))));
    assert!(one(
        authors().filter(|a| a.id.eq(1) & a.name.startswith("A"))
    ));
    assert!(one(authors().filter(|a| a.id.is_in([1]))));
    assert!(one(authors().filter(|a| a.name.eq("x")).slice(..1)));
    assert!(one(authors().slice(3..4)));
    assert!(!one(authors().slice(..2)));
    assert!(!one(authors().filter(|a| a.name.eq("Alice"))));
    assert!(!one(authors().filter(|a| a.id.gte(1))));
    assert!(!one(authors().filter(|a| a.id.eq(1) | a.id.eq(2))));
    assert!(!one(authors().filter(|a| a.id.is_in([1, 2]))));
    assert!(!one(authors().filter(|a| !a.id.eq(1))));
    // A join through a many-valued relation can repeat the row.
    assert!(!one(
        authors().filter(|a| a.id.eq(1) & a.books().title.startswith("B"))
    ));
    assert!(!one(authors()
        .filter(|a| a.id.eq(1))
        .order_by(|a| a.books().title.asc())));
    // A forward (single-valued) path is not the model's own column either: kept out.
    assert!(
        !Book::objects()
            .filter(|b| b.id.eq(1) & b.author().name.eq("Alice"))
            .query()
            .at_most_one_row()
    );
}

#[tokio::test]
async fn get_by_primary_key_across_a_many_valued_join_still_reports_every_match() {
    with_library(|db, _, lib| async move {
        // Alice wrote B1 and B2: joining her books repeats her row, as in Django.
        let alice = lib.alice.id;
        let (r, q) = counted(
            Author::objects()
                .filter(|a| a.id.eq(alice) & a.books().title.startswith("B"))
                .get(&db),
        )
        .await;
        assert_eq!(q.len(), 1);
        assert!(
            matches!(
                r,
                Err(Error::MultipleObjectsReturned {
                    model: "Author",
                    count: 2,
                    ..
                })
            ),
            "{r:?}"
        );
        let (r, q) = counted(Author::objects().filter(|a| a.id.eq(alice)).get(&db)).await;
        assert_eq!((r.unwrap().name, q.len()), ("Alice".to_owned(), 1));
        assert!(q[0].sql.ends_with("LIMIT 21"), "{}", q[0].sql);
        let (r, q) = counted(Author::objects().filter(|a| a.id.eq(-1)).get(&db)).await;
        assert!(matches!(r, Err(Error::DoesNotExist { model: "Author" })));
        assert_eq!(q.len(), 1);
    })
    .await;
}

// ---- S24–S31: prefetch_related ------------------------------------------------------------

#[tokio::test]
async fn s24_reverse_prefetch_is_one_in_query_and_fills_back_references() {
    with_library(|db, backend, lib| async move {
        let qs = Author::objects()
            .prefetch_related(|a| a.books())
            .order_by(|a| a.name.asc());
        let (rows, q) = counted(qs.fetch(&db)).await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 2);
        assert!(
            filters_by_keys(&portable_sql(backend, &q[1].sql), r#""books"."author_id""#),
            "{}",
            q[1].sql
        );
        assert_eq!(names(rows), ["Alice", "Bob", "Carol"]);
        let (seen, q) = counted(async {
            rows.iter()
                .map(|a| {
                    let books = a.books.all().unwrap();
                    let back: Vec<String> = books
                        .iter()
                        .map(|b| b.author.get().unwrap().name.clone())
                        .collect();
                    (
                        a.books.count().unwrap(),
                        a.books.exists().unwrap(),
                        titles(books)
                            .iter()
                            .map(|t| t.to_string())
                            .collect::<Vec<_>>(),
                        back,
                    )
                })
                .collect::<Vec<_>>()
        })
        .await;
        assert_eq!(q.len(), 0);
        let mut alice_books = seen[0].2.clone();
        alice_books.sort();
        assert_eq!(alice_books, ["B1", "B2"]);
        assert_eq!((seen[0].0, seen[0].1), (2, true));
        assert_eq!(
            seen[0].3,
            ["Alice", "Alice"],
            "each book's author is its parent"
        );
        assert_eq!((seen[1].0, seen[1].2.clone()), (1, vec!["B3".to_string()]));
        assert_eq!(
            (seen[2].0, seen[2].1),
            (0, false),
            "no children: an empty list"
        );
        let _ = lib;
    })
    .await;
}

#[tokio::test]
async fn s25_many_to_many_and_forward_prefetch_are_one_query_each() {
    with_library(|db, backend, _| async move {
        let qs = Book::objects()
            .prefetch_related(|b| b.tags())
            .order_by(|b| b.id.asc());
        let (rows, q) = counted(qs.fetch(&db)).await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 2);
        assert!(
            portable_sql(backend, &q[1].sql).contains(r#"INNER JOIN "books_tags""#),
            "{}",
            q[1].sql
        );
        let tags: Vec<Vec<String>> = rows
            .iter()
            .map(|b| {
                let mut t: Vec<String> = b
                    .tags
                    .all()
                    .unwrap()
                    .iter()
                    .map(|t| t.name.clone())
                    .collect();
                t.sort();
                t
            })
            .collect();
        assert_eq!(
            tags,
            [
                vec!["classic".to_string(), "sf".into()],
                vec![],
                vec!["sf".into()]
            ]
        );

        let qs = Book::objects()
            .prefetch_related(|b| b.author())
            .order_by(|b| b.id.asc());
        let (rows, q) = counted(qs.fetch(&db)).await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 2);
        assert!(!q[1].sql.contains("ORDER BY"), "{}", q[1].sql);
        assert_eq!(keys_bound(&q[1]), 2, "ids de-duplicated: {:?}", q[1]);
        let authors: Vec<&str> = rows
            .iter()
            .map(|b| b.author.get().unwrap().name.as_str())
            .collect();
        assert_eq!(authors, ["Alice", "Alice", "Bob"]);
    })
    .await;
}

#[tokio::test]
async fn s26_nested_prefetch_is_one_query_per_level_and_works_after_get_first_and_slices() {
    with_library(|db, _, _| async move {
        let qs = Author::objects()
            .prefetch_related(|a| a.books().publisher())
            .prefetch_related(|a| a.books().tags())
            .prefetch_related(|a| a.books())
            .order_by(|a| a.name.asc());
        let (rows, q) = counted(qs.fetch(&db)).await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 4, "authors, books, publishers, tags: {q:#?}");
        let alice = &rows[0];
        let mut seen: Vec<(String, Option<String>, usize)> = alice
            .books
            .all()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b.title.clone(),
                    b.publisher.as_ref().map(|p| p.get().unwrap().name.clone()),
                    b.tags.count().unwrap(),
                )
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("B1".into(), Some("Penguin".into()), 2),
                ("B2".into(), None, 0)
            ]
        );

        let (a, q) = counted(
            Author::objects()
                .prefetch_related(|a| a.books())
                .filter(|a| a.name.eq("Bob"))
                .get(&db),
        )
        .await;
        assert_eq!((a.unwrap().books.count().unwrap(), q.len()), (1, 2));
        let (a, q) = counted(Author::objects().prefetch_related(|a| a.books()).first(&db)).await;
        assert_eq!(
            (a.unwrap().unwrap().books.count().unwrap(), q.len()),
            (2, 2)
        );
        let page = Author::objects()
            .prefetch_related(|a| a.books())
            .order_by(|a| a.name.asc())
            .slice(1..);
        let (rows, q) = counted(page.fetch(&db)).await;
        assert_eq!(q.len(), 2);
        assert_eq!(
            keys_bound(&q[1]),
            2,
            "the IN covers only the fetched rows: {:?}",
            q[1]
        );
        assert_eq!(names(rows.unwrap()), ["Bob", "Carol"]);

        // count() and exists() never prefetch
        let (n, q) = counted(qs.all().count(&db)).await;
        assert_eq!((n.unwrap(), q.len()), (3, 1));
        let (e, q) = counted(qs.all().exists(&db)).await;
        assert_eq!((e.unwrap(), q.len()), (true, 1));
    })
    .await;
}

#[tokio::test]
async fn s27_a_custom_prefetch_queryset_filters_and_orders_the_related_rows() {
    with_library(|db, backend, _| async move {
        let long_first = Book::objects()
            .filter(|b| b.pages.gte(200))
            .order_by(|b| b.pages.desc());
        let qs = Author::objects()
            .prefetch(|a| a.books(), long_first)
            .order_by(|a| a.name.asc());
        let (rows, q) = counted(qs.fetch(&db)).await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 2);
        let sql = &portable_sql(backend, &q[1].sql);
        assert!(
            sql.contains(r#""books"."pages" >= "#)
                && filters_by_keys(sql, r#""books"."author_id""#),
            "{sql}"
        );
        assert!(sql.contains(r#"ORDER BY "books"."pages" DESC"#), "{sql}");
        assert_eq!(titles(rows[0].books.all().unwrap()), ["B1"]);
        assert_eq!(titles(rows[1].books.all().unwrap()), ["B3"]);

        // a separate target: the relation itself stays unprefetched
        let long = Book::objects().filter(|b| b.pages.gte(200));
        let qs = Author::objects()
            .prefetch(|a| a.long_books(), long)
            .order_by(|a| a.name.asc());
        let (rows, q) = counted(qs.fetch(&db)).await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(titles(rows[0].long_books.all().unwrap()), ["B1"]);
        assert!(!rows[0].books.is_loaded());
        assert!(matches!(rows[0].books.all(), Err(Error::NotLoaded { .. })));

        // a select_related inside the custom queryset folds that hop into the same query
        let with_publisher = Book::objects().select_related(|b| b.publisher());
        let qs = Author::objects().prefetch(|a| a.books(), with_publisher);
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!(q.len(), 2);
        assert!(
            portable_sql(backend, &q[1].sql).contains(r#"LEFT OUTER JOIN "publishers""#),
            "{}",
            q[1].sql
        );
        let published: usize = rows
            .unwrap()
            .iter()
            .flat_map(|a| a.books.all().unwrap())
            .filter(|b| b.publisher.as_ref().is_some_and(|p| p.get().is_ok()))
            .count();
        assert_eq!(published, 2);
    })
    .await;
}

#[tokio::test]
async fn s28_chaining_on_a_relation_queries_and_writes_clear_the_prefetch() {
    with_library(|db, _, lib| async move {
        let mut alice = Author::objects()
            .prefetch_related(|a| a.books())
            .filter(|a| a.name.eq("Alice"))
            .get(&db)
            .await
            .unwrap();
        let (rows, q) = counted(async {
            alice
                .books()
                .filter(|b| b.pages.gt(200))
                .fetch(&db)
                .await
                .map(|r| r.len())
        })
        .await;
        assert_eq!((rows.unwrap(), q.len()), (1, 1));
        assert_eq!(
            alice.books.count().unwrap(),
            2,
            "the prefetched rows are untouched"
        );

        let mut b2 = lib.b2.clone();
        let (r, q) = counted(b2.add_related(|b| b.tags(), &[&lib.classic], &db)).await;
        r.unwrap();
        assert_eq!(q.len(), 1);
        let mut b2 = Book::objects()
            .prefetch_related(|b| b.tags())
            .filter(|b| b.id.eq(b2.id))
            .get(&db)
            .await
            .unwrap();
        assert_eq!(b2.tags.count().unwrap(), 1);
        let (r, q) = counted(b2.remove_related(|b| b.tags(), &[&lib.classic], &db)).await;
        r.unwrap();
        assert_eq!(q.len(), 1, "one DELETE from the join table");
        assert!(
            !b2.tags.is_loaded(),
            "a write through the relation clears its prefetched rows"
        );
        assert_eq!(b2.tags().count(&db).await.unwrap(), 0);

        // add_related on a prefetched instance clears what was prefetched too
        let mut b2 = Book::objects()
            .prefetch_related(|b| b.tags())
            .filter(|b| b.id.eq(b2.id))
            .get(&db)
            .await
            .unwrap();
        assert!(b2.tags.is_loaded() && b2.tags.count().unwrap() == 0);
        let (r, q) = counted(b2.add_related(|b| b.tags(), &[&lib.sf], &db)).await;
        r.unwrap();
        assert_eq!(q.len(), 1);
        assert!(
            !b2.tags.is_loaded(),
            "add_related clears the prefetched rows"
        );
        assert_eq!(
            b2.tags().values(|t| t.name).fetch(&db).await.unwrap(),
            ["sf"]
        );
        b2.remove_related(|b| b.tags(), &[&lib.sf], &db)
            .await
            .unwrap();

        // create through a relation (Django's `author.books.create(...)`)
        let mut carol = Author::objects()
            .prefetch_related(|a| a.books())
            .prefetch_related(|a| a.long_books())
            .filter(|a| a.name.eq("Carol"))
            .get(&db)
            .await
            .unwrap();
        assert_eq!(carol.books.count().unwrap(), 0);
        let mut b4 = Book {
            id: 0,
            title: "B4".into(),
            pages: 10,
            author: orm_sqlx::core::relation::ForeignKey::new(0),
            publisher: None,
            tags: Default::default(),
        };
        let (r, q) = counted(carol.create_related(|a| a.books(), &mut b4, &db)).await;
        r.unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(*b4.author.key(), carol.id, "the key is set to the parent");
        assert!(b4.id > 0 && !carol.books.is_loaded());
        assert!(
            !carol.long_books.is_loaded(),
            "a field mirroring the same key is stale too"
        );
        let mut fresh_tag = Tag {
            id: 0,
            name: "new".into(),
        };
        let (r, q) = counted(b4.create_related(|b| b.tags(), &mut fresh_tag, &db)).await;
        r.unwrap();
        // BEGIN, the INSERT, the link, COMMIT: Django's `tags.create()` sends the same four
        // (its INSERT, then BEGIN, the link and COMMIT from `add()`'s atomic block).
        assert_eq!(kinds(&q), [Begin, Insert, Insert, Commit], "{q:#?}");
        assert_eq!(
            b4.tags().values(|t| t.name).fetch(&db).await.unwrap(),
            ["new"]
        );
        assert_eq!(b2.tags().count(&db).await.unwrap(), 0);
        let _ = &mut alice;
    })
    .await;
}

#[tokio::test]
async fn s29_no_parents_no_prefetch_queries() {
    with_library(|db, _, _| async move {
        let qs = Author::objects()
            .filter(|a| a.name.eq("Nobody"))
            .prefetch_related(|a| a.books().tags());
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!((rows.unwrap().len(), q.len()), (0, 1));
        // deeper levels stop once a level is empty: Carol has no books
        let qs = Author::objects()
            .filter(|a| a.name.eq("Carol"))
            .prefetch_related(|a| a.books().tags());
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!((rows.unwrap()[0].books.count().unwrap(), q.len()), (0, 2));
    })
    .await;
}

#[tokio::test]
async fn s30_relations_already_selected_are_not_prefetched_again() {
    with_library(|db, _, _| async move {
        let qs = Book::objects()
            .select_related(|b| b.author())
            .prefetch_related(|b| b.author());
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!(q.len(), 1);
        assert!(rows.unwrap().iter().all(|b| b.author.is_loaded()));

        // below a selected hop, only the next level is fetched: 2 queries, as in Django
        let qs = Book::objects()
            .select_related(|b| b.author())
            .prefetch_related(|b| b.author().books())
            .order_by(|b| b.id.asc());
        let (rows, q) = counted(qs.fetch(&db)).await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 2, "{q:#?}");
        let counts: Vec<usize> = rows
            .iter()
            .map(|b| b.author.get().unwrap().books.count().unwrap())
            .collect();
        assert_eq!(counts, [2, 2, 1]);
    })
    .await;
}

#[tokio::test]
async fn s31_prefetching_for_100000_parents_splits_the_in_list() {
    on_each_backend(|db, backend| async move {
        db.create_tables::<(
            orm_tests::library::Country,
            orm_tests::library::Publisher,
            Author,
            Tag,
            Book,
        )>()
        .await
        .unwrap();
        let n = 100_000usize;
        let mut authors: Vec<Author> = (0..n)
            .map(|i| Author {
                id: 0,
                name: format!("a{i}"),
                age: None,
                country: None,
                books: Default::default(),
                long_books: Default::default(),
            })
            .collect();
        Author::objects()
            .bulk_create(&mut authors, &db)
            .await
            .unwrap();
        let mut books: Vec<Book> = authors
            .iter()
            .step_by(1000)
            .map(|a| Book {
                id: 0,
                title: format!("by {}", a.name),
                pages: 1,
                author: orm_sqlx::core::relation::ForeignKey::new(a.id),
                publisher: None,
                tags: Default::default(),
            })
            .collect();
        Book::objects().bulk_create(&mut books, &db).await.unwrap();
        let qs = Author::objects().prefetch_related(|a| a.books());
        let (rows, q) = counted(qs.fetch(&db)).await;
        let rows = rows.unwrap();
        // SQLite and MySQL: IN lists split to their 32,766 and 65,535 parameters;
        // PostgreSQL: one array parameter.
        let prefetch_queries = match backend {
            Backend::Sqlite | Backend::Mysql => n.div_ceil(backend.max_params()),
            Backend::Postgres => 1,
        };
        assert_eq!(rows.len(), n);
        assert_eq!(q.len(), 1 + prefetch_queries);
        let with_books = rows
            .iter()
            .filter(|a| a.books.count().unwrap() == 1)
            .count();
        assert_eq!(with_books, 100);
    })
    .await;
}

// ---- S13: iterator prefetches per chunk -----------------------------------------------------

#[tokio::test]
async fn s13_iterator_prefetches_each_chunk_separately() {
    with_library(|db, _, _| async move {
        let qs = Author::objects()
            .prefetch_related(|a| a.books())
            .order_by(|a| a.id.asc());
        let (rows, q) =
            counted(async { qs.iterator(&db, 2).try_collect::<Vec<Author>>().await }).await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 3, "main, IN (1, 2), IN (3): {q:#?}");
        assert_eq!(
            rows.iter()
                .map(|a| a.books.count().unwrap())
                .collect::<Vec<_>>(),
            [2, 1, 0]
        );

        let mut tx = db.begin().await.unwrap();
        let r = qs.iterator(&mut tx, 2).try_collect::<Vec<Author>>().await;
        assert!(
            matches!(r, Err(Error::InvalidInput(_))),
            "one connection cannot prefetch while streaming"
        );
    })
    .await;
}

// ---- S38: lookups across relations ---------------------------------------------------------

#[tokio::test]
async fn s38_lookups_span_relations_forward_and_reverse() {
    with_library(|db, backend, _| async move {
        let uk_books = Book::objects()
            .filter(|b| b.author().country().name.eq("UK"))
            .order_by(|b| b.title.asc());
        let (rows, q) = counted(uk_books.fetch(&db)).await;
        assert_eq!((titles(rows.unwrap()), q.len()), (vec!["B1", "B2"], 1));
        let sql = portable_sql(backend, &q[0].sql);
        assert!(
            sql.contains(r#"INNER JOIN "authors""#) && sql.contains(r#"INNER JOIN "countries""#),
            "{}",
            q[0].sql
        );

        // across a reverse relation rows repeat until distinct()
        let with_long = Author::objects()
            .filter(|a| a.books().pages.gte(150))
            .order_by(|a| a.name.asc());
        let (rows, q) = counted(with_long.fetch(&db)).await;
        assert_eq!(
            (names(rows.unwrap()), q.len()),
            (vec!["Alice", "Alice", "Bob"], 1)
        );
        let distinct = with_long.distinct();
        let (rows, q) = counted(distinct.fetch(&db)).await;
        assert_eq!((names(rows.unwrap()), q.len()), (vec!["Alice", "Bob"], 1));

        // exclude across a reverse relation: NOT EXISTS, authors with no such book (Carol too)
        let without_short = Author::objects()
            .exclude(|a| a.books().pages.lt(160))
            .order_by(|a| a.name.asc());
        let (rows, q) = counted(without_short.fetch(&db)).await;
        assert_eq!((names(rows.unwrap()), q.len()), (vec!["Bob", "Carol"], 1));
        assert!(
            q[0].sql.contains("NOT (EXISTS (SELECT 1 FROM"),
            "{}",
            q[0].sql
        );

        // The lookups of one exclude() need not refer to the same book (Django's documented
        // asymmetry with filter()): Alice has a book over 250 pages (B1) and a book titled
        // B2, though not one book that is both, and is excluded. One subquery per lookup.
        let either_book = Author::objects()
            .exclude(|a| a.books().pages.gt(250) & a.books().title.eq("B2"))
            .order_by(|a| a.name.asc());
        let (rows, q) = counted(either_book.fetch(&db)).await;
        assert_eq!((names(rows.unwrap()), q.len()), (vec!["Bob", "Carol"], 1));
        assert_eq!(
            q[0].sql.matches("EXISTS (SELECT 1 FROM").count(),
            2,
            "{}",
            q[0].sql
        );
        // filter() is the other way round: both lookups hold for the same book, and no
        // book of Alice's is both.
        let same_book =
            Author::objects().filter(|a| a.books().pages.gt(250) & a.books().title.eq("B2"));
        let (rows, q) = counted(same_book.fetch(&db)).await;
        assert_eq!((names(rows.unwrap()), q.len()), (Vec::<&str>::new(), 1));
        // Or alternatives across the relation: authors with neither kind of book.
        let neither = Author::objects()
            .exclude(|a| a.books().pages.gt(250) | a.books().title.eq("B3"))
            .order_by(|a| a.name.asc());
        let (rows, q) = counted(neither.fetch(&db)).await;
        assert_eq!((names(rows.unwrap()), q.len()), (vec!["Carol"], 1));

        // many-to-many
        let sf = Book::objects()
            .filter(|b| b.tags().name.eq("sf"))
            .order_by(|b| b.title.asc());
        let (rows, q) = counted(sf.fetch(&db)).await;
        assert_eq!((titles(rows.unwrap()), q.len()), (vec!["B1", "B3"], 1));
        let not_sf = Book::objects().exclude(|b| b.tags().name.eq("sf"));
        let (rows, q) = counted(not_sf.fetch(&db)).await;
        assert_eq!((titles(rows.unwrap()), q.len()), (vec!["B2"], 1));

        // a key compared with an instance or a raw value
        let alice = Author::objects()
            .filter(|a| a.name.eq("Alice"))
            .get(&db)
            .await
            .unwrap();
        let n = Book::objects()
            .filter(|b| b.author.eq(&alice))
            .count(&db)
            .await
            .unwrap();
        let m = Book::objects()
            .filter(|b| b.author.eq(alice.id))
            .count(&db)
            .await
            .unwrap();
        let none = Book::objects()
            .filter(|b| b.publisher.is_null(true))
            .count(&db)
            .await
            .unwrap();
        assert_eq!((n, m, none), (2, 2, 1));
        // update() and delete() filtered across a relation: `pk IN (SELECT … JOIN …)`
        let mut bobs = Book::objects().filter(|b| b.author().name.eq("Bob"));
        let (n, q) = counted(bobs.update(|b| b.pages.set(1), &db)).await;
        assert_eq!((n.unwrap(), q.len()), (1, 1));
        // MySQL refuses a subquery reading the table being changed (error 1093) unless it
        // is a derived table, which it materializes first.
        let (open, close) = match backend {
            Backend::Mysql => (
                r#"IN (SELECT * FROM (SELECT "books"."id" FROM "books" INNER JOIN "authors""#,
                r#") AS "orm_targets")"#,
            ),
            Backend::Sqlite | Backend::Postgres => (
                r#"IN (SELECT "books"."id" FROM "books" INNER JOIN "authors""#,
                ")",
            ),
        };
        let sql = portable_sql(backend, &q[0].sql);
        assert!(sql.contains(open) && sql.ends_with(close), "{}", q[0].sql);
        let (n, q) = counted(Book::objects().filter(|b| b.pages.eq(1)).count(&db)).await;
        assert_eq!((n.unwrap(), q.len()), (1, 1));

        // a NULL key one hop away
        let (n, q) = counted(
            Book::objects()
                .filter(|b| b.author().country.is_null(true))
                .count(&db),
        )
        .await;
        assert_eq!((n.unwrap(), q.len()), (1, 1));
        let _: Option<Tag> = None;
    })
    .await;
}

// ---- S33: delete() follows the on-delete rules -----------------------------------------------

#[tokio::test]
async fn s33_delete_cascades_sets_null_and_protects_like_django() {
    with_library(|db, _, lib| async move {
        // CASCADE: Alice's books go with her, and their tag links with them.
        let (d, q) = counted(lib.alice.delete(&db)).await;
        let d = d.unwrap();
        assert_eq!(d.per_model.get("Author"), Some(&1));
        assert_eq!(d.per_model.get("Book"), Some(&2));
        assert_eq!(d.per_model.get("books_tags"), Some(&2));
        assert_eq!(d.total, 5);
        // BEGIN, the books' keys, the links, the books, the author, COMMIT (Django's six:
        // an instance's key is known, so no SELECT finds it).
        assert_eq!(
            kinds(&q),
            [Begin, Select, Delete, Delete, Delete, Commit],
            "{q:#?}"
        );
        assert_eq!(Book::objects().count(&db).await.unwrap(), 1);

        // SET NULL: Harper's book stays, without a publisher.
        let (d, q) = counted(lib.harper.delete(&db)).await;
        assert_eq!(d.unwrap().total, 1);
        // BEGIN, the UPDATE … SET NULL, the DELETE, COMMIT (Django's four).
        assert_eq!(kinds(&q), [Begin, Update, Delete, Commit], "{q:#?}");
        let b3 = Book::objects().get(&db).await.unwrap();
        assert!(b3.publisher.is_none());

        // PROTECT: the UK still has an author (Alice is gone, but Bob has no country, so
        // add one), and nothing is deleted.
        let mut bob = lib.bob.clone();
        bob.country = Some(orm_sqlx::core::relation::ForeignKey::new(lib.uk.id));
        bob.save(&db).await.unwrap();
        let (e, q) = counted(lib.uk.delete(&db)).await;
        // BEGIN, the rows that protect it, ROLLBACK (the atomic block dropped on the
        // error). Django collects before its transaction: its one SELECT only.
        assert_eq!(kinds(&q), [Begin, Select, Rollback], "{q:#?}");
        let e = e.unwrap_err();
        assert!(matches!(e, Error::Protected { count: 1, .. }), "{e}");
        assert!(e.to_string().contains("Author.country"), "{e}");
        assert_eq!(
            orm_tests::library::Country::objects()
                .count(&db)
                .await
                .unwrap(),
            1
        );

        // A self relation cascades down the chain: Ann, Ben, Cy.
        let ann = Employee::objects()
            .filter(|e| e.name.eq("Ann"))
            .get(&db)
            .await
            .unwrap();
        let (d, q) = counted(ann.delete(&db)).await;
        assert_eq!(d.unwrap().per_model.get("Employee"), Some(&3));
        // BEGIN, three levels of reports, one DELETE, COMMIT
        assert_eq!(
            kinds(&q),
            [Begin, Select, Select, Select, Delete, Commit],
            "{q:#?}"
        );
        assert_eq!(Employee::objects().count(&db).await.unwrap(), 0);

        // A tag is the target of Book.tags: its links go first (none are left: B1 went
        // with Alice), so BEGIN, the keys, the links, the tag, COMMIT. (A model nothing
        // points at is one DELETE: semantics.rs s33.)
        let (d, q) = counted(Tag::objects().filter(|t| t.name.eq("classic")).delete(&db)).await;
        assert_eq!(d.unwrap().total, 1);
        assert_eq!(kinds(&q), [Begin, Select, Delete, Delete, Commit], "{q:#?}");
    })
    .await;
}

#[tokio::test]
async fn s16_refresh_from_db_drops_cached_relations() {
    with_library(|db, _, _| async move {
        let mut b1 = Book::objects()
            .select_related(|b| b.author())
            .prefetch_related(|b| b.tags())
            .filter(|b| b.title.eq("B1"))
            .get(&db)
            .await
            .unwrap();
        assert!(b1.author.is_loaded() && b1.tags.is_loaded());
        let (r, q) = counted(b1.refresh_from_db(&db)).await;
        r.unwrap();
        assert_eq!(q.len(), 1);
        assert!(!b1.author.is_loaded() && !b1.tags.is_loaded());
        let (a, q) = counted(async { b1.author.load(&db).await.map(|a| a.name.clone()) }).await;
        assert_eq!(
            (a.unwrap().as_str(), q.len()),
            ("Alice", 1),
            "the next access queries again"
        );
    })
    .await;
}

/// An in-memory SQLite database has a single connection, which cannot lend a second one
/// for per-chunk prefetching: a typed error at once, not a wait that never ends.
#[tokio::test]
async fn iterator_with_prefetch_on_a_one_connection_pool_is_an_error() {
    let db = Db::connect("sqlite::memory:").await.unwrap();
    orm_tests::library::load(&db).await;
    let qs = Author::objects().prefetch_related(|a| a.books());
    let r = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        qs.iterator(&db, 2).try_collect::<Vec<Author>>(),
    )
    .await
    .expect("answers at once");
    assert!(matches!(r, Err(Error::InvalidInput(_))), "{r:?}");
    // without prefetching it streams as usual
    let n = Author::objects()
        .iterator(&db, 2)
        .try_collect::<Vec<Author>>()
        .await
        .unwrap();
    assert_eq!(n.len(), 3);
}

// ---- What review found (each one a Django behaviour a veteran relies on) ---------------

#[tokio::test]
async fn exclude_across_a_nullable_key_keeps_the_rows_without_one() {
    with_library(|db, _, _| async move {
        let not_uk = Author::objects()
            .exclude(|a| a.country().name.eq("UK"))
            .order_by(|a| a.name.asc());
        let (rows, q) = counted(not_uk.fetch(&db)).await;
        assert_eq!((names(rows.unwrap()), q.len()), (vec!["Bob", "Carol"], 1));
        let not_penguin = Book::objects()
            .exclude(|b| b.publisher().name.eq("Penguin"))
            .order_by(|b| b.title.asc());
        let (rows, q) = counted(not_penguin.fetch(&db)).await;
        assert_eq!((titles(rows.unwrap()), q.len()), (vec!["B2", "B3"], 1));
    })
    .await;
}

#[tokio::test]
async fn ordering_by_a_many_valued_path_reuses_the_filter_join() {
    with_library(|db, _, _| async move {
        let qs = Author::objects()
            .filter(|a| a.books().title.startswith("B"))
            .order_by(|a| [a.books().pages.asc(), a.name.asc()]);
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!(
            (names(rows.unwrap()), q.len()),
            (vec!["Alice", "Bob", "Alice"], 1)
        );
        assert_eq!(q[0].sql.matches("JOIN").count(), 1, "{}", q[0].sql);
    })
    .await;
}

/// The same-row reading of an exclude across a relation is a subquery: the authors none of
/// whose books is both over 250 pages and titled B2 (nobody's is), next to Django's
/// per-lookup reading (which drops Alice, see s38).
#[tokio::test]
async fn the_same_row_reading_of_an_exclude_is_a_subquery() {
    with_library(|db, backend, lib| async move {
        let both = Book::objects()
            .filter(|b| b.pages.gt(250) & b.title.eq("B2"))
            .values(|b| b.author);
        let qs = Author::objects()
            .exclude(|a| a.id.is_in(both))
            .order_by(|a| a.name.asc());
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!(
            (names(rows.unwrap()), q.len()),
            (vec!["Alice", "Bob", "Carol"], 1)
        );
        assert!(q[0].sql.contains("IN (SELECT"), "{}", q[0].sql);
        // Parameters before, inside and after the subquery keep their places (PostgreSQL
        // numbers them).
        let long = Book::objects()
            .filter(|b| b.pages.gte(200))
            .values(|b| b.author);
        let qs = Author::objects()
            .filter(|a| a.name.eq("Carol") | a.id.is_in(long) | a.age.eq(999))
            .order_by(|a| a.name.asc());
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!(
            (names(rows.unwrap()), q.len()),
            (vec!["Alice", "Bob", "Carol"], 1)
        );
        if backend == Backend::Postgres {
            assert!(q[0].sql.contains("$3"), "{}", q[0].sql);
        }
        assert_eq!(q[0].params.len(), 3);
        // A nullable key projects Option: Penguin's books' publishers, compared with the
        // publisher's key.
        let titled_b1 = Book::objects()
            .filter(|b| b.title.eq("B1"))
            .values(|b| b.publisher);
        let qs = orm_tests::library::Publisher::objects()
            .filter(|p| p.id.is_in(titled_b1))
            .values(|p| p.name);
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!((rows.unwrap(), q.len()), (&["Penguin".to_owned()][..], 1));
        assert_eq!(lib.penguin.name, "Penguin");
        // An empty subquery never reaches the database; a misused one is refused.
        let qs =
            Author::objects().filter(|a| a.id.is_in(Book::objects().none().values(|b| b.author)));
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!((rows.unwrap().len(), q.len()), (0, 0));
        let sliced_then_filtered = Book::objects()
            .slice(..1)
            .filter(|b| b.pages.gt(0))
            .values(|b| b.author);
        let qs = Author::objects().filter(|a| a.id.is_in(sliced_then_filtered));
        let (rows, q) = counted(qs.fetch(&db)).await;
        let e = rows.unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{e}");
        assert_eq!(q.len(), 0);
    })
    .await;
}

/// `is_in` a sliced queryset keeps its window (Django's `id__in=qs[:1]`): first, a page,
/// an offset alone, under `exclude`, and in an `update()`. MySQL refuses LIMIT in an IN
/// subquery (error 1235), so there the slice is a derived table.
#[tokio::test]
async fn is_in_a_sliced_queryset_keeps_its_limit_and_offset() {
    with_library(|db, backend, _| async move {
        let by_pages = || Book::objects().order_by(|b| b.pages.desc());
        // B1 (300 pages, Alice), B3 (200, Bob), B2 (150, Alice)
        let authors = |books: QuerySet<Book>| {
            Author::objects()
                .filter(move |a| a.id.is_in(books.values(|b| b.author)))
                .order_by(|a| a.name.asc())
        };
        let qs = authors(by_pages().slice(..1));
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!((names(rows.unwrap()), q.len()), (vec!["Alice"], 1));
        let sub =
            r#"SELECT "books"."author_id" FROM "books" ORDER BY "books"."pages" DESC LIMIT 1"#;
        let want = match backend {
            Backend::Mysql => format!(r#"IN (SELECT * FROM ({sub}) AS "orm_sliced")"#),
            Backend::Sqlite | Backend::Postgres => format!("IN ({sub})"),
        };
        assert!(
            portable_sql(backend, &q[0].sql).contains(&want),
            "{}",
            q[0].sql
        );
        let qs = authors(by_pages().slice(1..2));
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!((names(rows.unwrap()), q.len()), (vec!["Bob"], 1));
        assert!(q[0].sql.contains("LIMIT 1 OFFSET 1"), "{}", q[0].sql);
        let qs = authors(by_pages().slice(2..));
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!((names(rows.unwrap()), q.len()), (vec!["Alice"], 1));
        let qs = authors(by_pages().slice(1..3));
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!((names(rows.unwrap()), q.len()), (vec!["Alice", "Bob"], 1));

        let top = by_pages().slice(..1).values(|b| b.author);
        let others = Author::objects()
            .exclude(|a| a.id.is_in(top))
            .order_by(|a| a.name.asc());
        let (rows, q) = counted(others.fetch(&db)).await;
        assert_eq!((names(rows.unwrap()), q.len()), (vec!["Bob", "Carol"], 1));

        // An update whose subquery reads the table it changes: the shortest book only.
        let shortest = Book::objects()
            .order_by(|b| b.pages.asc())
            .slice(..1)
            .values(|b| b.id);
        let mut qs = Book::objects().filter(|b| b.id.is_in(shortest));
        let (n, q) = counted(qs.update(|b| b.pages.set(b.pages + 1), &db)).await;
        assert_eq!((n.unwrap(), q.len()), (1, 1), "{q:#?}");
        let pages = Book::objects()
            .order_by(|b| b.title.asc())
            .values(|b| b.pages)
            .fetch(&db)
            .await
            .unwrap()
            .to_vec();
        assert_eq!(pages, [300, 151, 200]);
    })
    .await;
}

/// `update()` filtered by a subquery over its own table: an `exclude` across a self
/// relation (`NOT EXISTS` over employees) and `is_in` a queryset of employees. MySQL
/// refuses a subquery reading the table being changed (error 1093) unless it is a
/// derived table; there the filter is `pk IN (SELECT * FROM (…) AS orm_targets)`.
#[tokio::test]
async fn update_filtered_by_a_subquery_over_its_own_table() {
    with_library(|db, backend, _| async move {
        let staff = || {
            Employee::objects()
                .order_by(|e| e.id.asc())
                .values(|e| e.name)
        };
        // Ann's report is Ben, Ben's is Cy, Cy has none.
        let mut not_cys_boss = Employee::objects().exclude(|e| e.reports().name.eq("Cy"));
        let (n, q) = counted(not_cys_boss.update(|e| e.name.set("x"), &db)).await;
        assert_eq!((n.unwrap(), q.len()), (2, 1), "{q:#?}");
        let sql = portable_sql(backend, &q[0].sql);
        assert!(sql.contains("NOT (EXISTS (SELECT 1 FROM"), "{}", q[0].sql);
        assert_eq!(
            sql.contains(r#" IN (SELECT * FROM (SELECT "employees"."id" FROM "employees""#),
            backend == Backend::Mysql,
            "{}",
            q[0].sql
        );
        let names = staff().fetch(&db).await.unwrap().to_vec();
        assert_eq!(names, ["x", "Ben", "x"]);

        // Those whose boss is now called x: Ben (Ann's report).
        let bens = Employee::objects()
            .filter(|e| e.boss().name.eq("x"))
            .values(|e| e.id);
        let mut qs = Employee::objects().filter(|e| e.id.is_in(bens));
        let (n, q) = counted(qs.update(|e| e.name.set("y"), &db)).await;
        assert_eq!((n.unwrap(), q.len()), (1, 1), "{q:#?}");
        assert_eq!(
            q[0].sql.contains("orm_targets"),
            backend == Backend::Mysql,
            "{}",
            q[0].sql
        );
        let names = staff().fetch(&db).await.unwrap().to_vec();
        assert_eq!(names, ["x", "y", "x"]);
    })
    .await;
}

#[tokio::test]
async fn negations_across_a_reverse_relation_read_like_django() {
    with_library(|db, _, _| async move {
        // !!x is x: the authors with a book titled B1
        let qs = Author::objects().exclude(|a| !a.books().title.eq("B1"));
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!((names(rows.unwrap()), q.len()), (vec!["Alice"], 1));
        // …and, as in Django, a subquery rather than a join: Alice has two books of more
        // than 100 pages and is listed once.
        let qs = Author::objects()
            .exclude(|a| !a.books().pages.gt(100))
            .order_by(|a| a.name.asc());
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!((names(rows.unwrap()), q.len()), (vec!["Alice", "Bob"], 1));
        assert!(!q[0].sql.contains("JOIN"), "{}", q[0].sql);
        // isnull across a reverse relation: "has no book" and its negation "has one"
        let without = Author::objects().filter(|a| a.books().id.is_null(true));
        let (rows, q) = counted(without.fetch(&db)).await;
        assert_eq!((names(rows.unwrap()), q.len()), (vec!["Carol"], 1));
        let with = Author::objects()
            .exclude(|a| a.books().id.is_null(true))
            .order_by(|a| a.name.asc());
        let (rows, q) = counted(with.fetch(&db)).await;
        assert_eq!((names(rows.unwrap()), q.len()), (vec!["Alice", "Bob"], 1));
        // Past the related row's own key, exclude(is_null) is the complement of filter's:
        // no related row at all, or one without a value (Django: filter gives Alice, who
        // has B2 without a publisher, and Carol; exclude gives Bob).
        for (label, exclude) in [
            (
                "publisher",
                Author::objects().exclude(|a| a.books().publisher.is_null(true)),
            ),
            (
                "tags",
                Author::objects().exclude(|a| a.books().tags().id.is_null(true)),
            ),
        ] {
            let exclude = exclude.order_by(|a| a.name.asc());
            let (rows, q) = counted(exclude.fetch(&db)).await;
            assert_eq!((names(rows.unwrap()), q.len()), (vec!["Bob"], 1), "{label}");
        }
        let filtered = Author::objects()
            .filter(|a| a.books().publisher.is_null(true))
            .order_by(|a| a.name.asc());
        let (rows, q) = counted(filtered.fetch(&db)).await;
        assert_eq!((names(rows.unwrap()), q.len()), (vec!["Alice", "Carol"], 1));
        // A Q's own !!x is x, as Django's ~~Q(x) is Q(x): the join, rows repeated.
        let qs = Author::objects()
            .filter(|a| !!a.books().pages.gt(100))
            .order_by(|a| a.name.asc());
        let (rows, q) = counted(qs.fetch(&db)).await;
        assert_eq!(
            (names(rows.unwrap()), q.len()),
            (vec!["Alice", "Alice", "Bob"], 1)
        );
    })
    .await;
}

#[tokio::test]
async fn deleting_a_cycle_or_a_long_chain_ends() {
    with_library(|db, backend, _| async move {
        // Ann becomes her own boss: the cascade meets Ann again and stops.
        let mut ann = Employee::objects()
            .filter(|e| e.name.eq("Ann"))
            .get(&db)
            .await
            .unwrap();
        ann.boss = Some(orm_sqlx::core::relation::ForeignKey::new(ann.id));
        ann.save(&db).await.unwrap();
        let (d, q) = counted(ann.delete(&db)).await;
        assert_eq!(d.unwrap().per_model.get("Employee"), Some(&3));
        // BEGIN, three levels of reports, one DELETE, COMMIT. MySQL checks each key as
        // each row goes, and a row pointing at itself can never go first: her key is
        // cleared before (one UPDATE, of her row only), then Cy, Ben and Ann go in that
        // order.
        match backend {
            Backend::Mysql => {
                assert_eq!(
                    kinds(&q),
                    [Begin, Select, Select, Select, Update, Delete, Commit],
                    "{q:#?}"
                );
                assert_eq!(
                    q[4].params,
                    [
                        orm_sqlx::Value::Null(orm_sqlx::core::SqlType::I64),
                        orm_sqlx::Value::I64(ann.id)
                    ],
                    "{q:#?}"
                );
                assert!(q[5].sql.contains(" ORDER BY FIELD("), "{}", q[5].sql);
            }
            Backend::Sqlite | Backend::Postgres => assert_eq!(
                kinds(&q),
                [Begin, Select, Select, Select, Delete, Commit],
                "{q:#?}"
            ),
        }

        // a chain of 2,000 reports, deleted from the top
        let mut top = Employee {
            id: 0,
            name: "e0".into(),
            boss: None,
            reports: Default::default(),
        };
        top.insert(&db).await.unwrap();
        let mut boss = top.id;
        for i in 1..2000 {
            let mut e = Employee {
                id: 0,
                name: format!("e{i}"),
                boss: Some(orm_sqlx::core::relation::ForeignKey::new(boss)),
                reports: Default::default(),
            };
            e.insert(&db).await.unwrap();
            boss = e.id;
        }
        let (d, q) = counted(top.delete(&db)).await;
        assert_eq!(d.unwrap().per_model.get("Employee"), Some(&2000));
        // BEGIN, one SELECT per level of the chain, one DELETE, COMMIT
        assert_eq!(q.len(), 1 + 2000 + 1 + 1);
        assert_eq!((q[0].kind, q[2002].kind), (Begin, Commit));
        assert_eq!(Employee::objects().count(&db).await.unwrap(), 0);
    })
    .await;
}

/// Deleting a whole self relation at once (Ann ← Ben ← Cy, all matched by the queryset):
/// the same statements on every backend, the rows that point at others going first where
/// keys are checked row by row.
#[tokio::test]
async fn deleting_a_whole_chain_at_once_is_one_delete() {
    with_library(|db, backend, _| async move {
        let (d, q) = counted(Employee::objects().delete(&db)).await;
        assert_eq!(d.unwrap().per_model.get("Employee"), Some(&3));
        // BEGIN, the keys, their reports (all among them), the DELETE, COMMIT
        assert_eq!(kinds(&q), [Begin, Select, Select, Delete, Commit], "{q:#?}");
        assert_eq!(
            q[3].sql.contains(" ORDER BY FIELD("),
            backend == Backend::Mysql,
            "{}",
            q[3].sql
        );
        assert_eq!(Employee::objects().count(&db).await.unwrap(), 0);
    })
    .await;
}

/// Employees who are one another's bosses (Ann → Cy → Ben → Ann), and Dan, who reports
/// to Cy: deleting Ben deletes all four, on every backend. Where keys are checked at the
/// commit that is one DELETE; MySQL checks each key as each row goes, so the keys of the
/// cycle (and only those) are cleared first, and Dan goes before Cy.
#[tokio::test]
async fn deleting_rows_that_point_at_one_another_clears_their_keys_where_checked_at_once() {
    with_library(|db, backend, _| async move {
        let staff = |name: &'static str| {
            let db = db.clone();
            async move {
                Employee::objects()
                    .filter(|e| e.name.eq(name))
                    .get(&db)
                    .await
                    .unwrap()
            }
        };
        let (mut ann, ben, cy) = (staff("Ann").await, staff("Ben").await, staff("Cy").await);
        ann.boss = Some(orm_sqlx::core::relation::ForeignKey::new(cy.id));
        ann.save(&db).await.unwrap();
        let mut dan = Employee {
            id: 0,
            name: "Dan".into(),
            boss: Some(orm_sqlx::core::relation::ForeignKey::new(cy.id)),
            reports: Default::default(),
        };
        dan.insert(&db).await.unwrap();

        let (d, q) = counted(ben.delete(&db)).await;
        assert_eq!(d.unwrap().per_model.get("Employee"), Some(&4));
        assert_eq!(Employee::objects().count(&db).await.unwrap(), 0);
        // BEGIN, three levels of reports (Cy; Ann and Dan; Ben again), the DELETE, COMMIT.
        match backend {
            Backend::Mysql => {
                assert_eq!(
                    kinds(&q),
                    [Begin, Select, Select, Select, Update, Delete, Commit],
                    "{q:#?}"
                );
                // The NULL, then the rows.
                let mut cleared = q[4].params[1..].to_vec();
                cleared.sort_by_key(|v| format!("{v:?}"));
                let mut cycle: Vec<orm_sqlx::Value> =
                    [ann.id, ben.id, cy.id].map(orm_sqlx::Value::I64).to_vec();
                cycle.sort_by_key(|v| format!("{v:?}"));
                assert_eq!(cleared, cycle, "only the cycle's keys: {}", q[4].sql);
                // Dan (who still points at Cy) before Cy.
                let order = q[5].sql.split(" ORDER BY FIELD(").nth(1).expect("an order");
                assert_eq!(order.matches('?').count(), 4, "{}", q[5].sql);
                let order = &q[5].params[4..];
                let at = |id| order.iter().position(|v| *v == orm_sqlx::Value::I64(id));
                assert!(at(dan.id).unwrap() < at(cy.id).unwrap(), "{q:#?}");
            }
            Backend::Sqlite | Backend::Postgres => assert_eq!(
                kinds(&q),
                [Begin, Select, Select, Select, Delete, Commit],
                "{q:#?}"
            ),
        }
    })
    .await;
}

#[tokio::test]
async fn custom_prefetch_querysets_refuse_slices_and_honour_none_and_nesting() {
    with_library(|db, _, _| async move {
        let sliced = Book::objects().order_by(|b| b.pages.desc()).slice(0..1);
        let qs = Author::objects().prefetch(|a| a.books(), sliced);
        let (r, q) = counted(async { qs.fetch(&db).await.map(|r| r.len()) }).await;
        assert!(matches!(r, Err(Error::InvalidInput(_))), "{r:?}");
        assert_eq!(q.len(), 1, "the slice is refused before the prefetch query");

        let nothing = Author::objects().prefetch(|a| a.books(), Book::objects().none());
        let (rows, q) = counted(nothing.fetch(&db)).await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 1);
        assert!(rows.iter().all(|a| a.books.count().unwrap() == 0));

        let with_tags = Book::objects().prefetch_related(|b| b.tags());
        let nested = Author::objects()
            .prefetch(|a| a.books(), with_tags)
            .order_by(|a| a.name.asc());
        let (rows, q) = counted(nested.fetch(&db)).await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 3, "authors, books, tags");
        let tags: usize = rows[0]
            .books
            .all()
            .unwrap()
            .iter()
            .map(|b| b.tags.count().unwrap())
            .sum();
        assert_eq!(tags, 2);

        let refused = Book::objects().slice(0..1).filter(|b| b.pages.gt(1));
        let qs = Author::objects().prefetch(|a| a.books(), refused);
        let (r, q) = counted(async { qs.fetch(&db).await.map(|r| r.len()) }).await;
        assert!(matches!(r, Err(Error::InvalidInput(_))), "{r:?}");
        assert_eq!(q.len(), 0);
    })
    .await;
}

/// Deleting the target of a many-to-many drops its links, and a key from a model that
/// the target does not declare a reverse side for still follows its rule: both found
/// through the models `create_tables` registered (Django's app registry).
#[tokio::test]
async fn delete_follows_keys_and_links_the_target_does_not_declare() {
    with_library(|db, _, lib| async move {
        // Tag declares nothing; books_tags links sf to B1 and B3.
        let (d, q) = counted(lib.sf.delete(&db)).await;
        let d = d.unwrap();
        assert_eq!(d.per_model.get("books_tags"), Some(&2));
        assert_eq!(d.per_model.get("Tag"), Some(&1));
        // BEGIN, the links, the tag, COMMIT (Django's four)
        assert_eq!(kinds(&q), [Begin, Delete, Delete, Commit], "{q:#?}");
        let (tags, _) = counted(lib.b1.tags().count(&db)).await;
        assert_eq!(tags.unwrap(), 1, "B1 keeps its other tag");
        // a related manager's delete goes through the join table too
        let (d, _) = counted(lib.b1.tags().delete(&db)).await;
        assert_eq!(d.unwrap().per_model.get("Tag"), Some(&1));
    })
    .await;
}

/// A link to a row that is gone fails on every backend (the join table's foreign key);
/// a link that is already there is kept once, without an error. (MySQL's `INSERT IGNORE`
/// did the second by turning every error into a warning: the first stored nothing and
/// reported success.)
#[tokio::test]
async fn a_link_to_a_missing_row_fails_and_a_repeated_link_is_kept_once() {
    with_library(|db, backend, lib| async move {
        let mut gone = Tag {
            id: 0,
            name: "gone".into(),
        };
        gone.insert(&db).await.unwrap();
        gone.delete(&db).await.unwrap();
        let mut b2 = lib.b2.clone();
        let r = b2.add_related(|b| b.tags(), &[&gone], &db).await;
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
        assert_eq!(b2.tags().count(&db).await.unwrap(), 0, "{backend:?}");

        let mut b1 = lib.b1.clone();
        let before = b1.tags().count(&db).await.unwrap();
        let (r, q) = counted(b1.add_related(|b| b.tags(), &[&lib.sf, &lib.classic], &db)).await;
        r.unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(b1.tags().count(&db).await.unwrap(), before, "{backend:?}");
    })
    .await;
}
