//! Issue 11.4: partial models (`#[derive(Partial)]`, `values_as`) are Django's `only()`,
//! `defer()` and `values()` into a named struct: only their columns are selected, each
//! field is checked against the model at compile time (see `tests/ui/fail/partial_*`), and
//! the queryset chains, caches and evaluates like any other. Result and query count on
//! every backend.

use orm_sqlx::prelude::*;
use orm_tests::library::{Author, Book};
use orm_tests::{portable_sql, with_library};

#[derive(Partial, Debug, Clone, PartialEq)]
#[orm(model = Book)]
struct BookCard {
    id: i64,
    title: String,
}

/// Fields through relations: a required key (one JOIN), a nullable one (an `Option`),
/// and a foreign key read as its key.
#[derive(Partial, Debug, Clone, PartialEq)]
#[orm(model = Book)]
struct BookLine {
    title: String,
    author: i64,
    #[orm(path = "author.name")]
    author_name: String,
    #[orm(path = "publisher.name")]
    publisher_name: Option<String>,
}

#[derive(Partial, Debug, Clone, PartialEq)]
#[orm(model = Author)]
struct AuthorName {
    name: String,
}

#[tokio::test]
async fn values_as_selects_only_the_partial_fields_and_caches_like_any_queryset() {
    with_library(|db, backend, lib| async move {
        let cards = Book::objects()
            .filter(|b| b.pages.gte(200))
            .order_by(|b| b.title.asc())
            .values_as::<BookCard>();
        let (rows, q) = capture_queries(cards.fetch(&db)).await;
        assert_eq!(
            rows.unwrap(),
            [
                BookCard {
                    id: lib.b1.id,
                    title: "B1".into()
                },
                BookCard {
                    id: lib.b3.id,
                    title: "B3".into()
                },
            ]
        );
        assert_eq!(q.len(), 1);
        let sql = portable_sql(backend, &q[0].sql);
        assert!(
            sql.starts_with(r#"SELECT "books"."id", "books"."title" FROM "books" WHERE"#),
            "only the partial's columns: {sql}"
        );
        // Evaluated: the cache answers (S3, S8).
        let (n, q) = capture_queries(async { cards.count(&db).await.unwrap() }).await;
        assert_eq!((n, q.len()), (2, 0));
    })
    .await;
}

#[tokio::test]
async fn a_partial_field_through_a_relation_is_read_in_the_same_query() {
    with_library(|db, _backend, lib| async move {
        let qs = Book::objects()
            .order_by(|b| b.title.asc())
            .values_as::<BookLine>();
        let (rows, q) = capture_queries(qs.into_vec(&db)).await;
        let line = |title: &str, author: i64, name: &str, publisher: Option<&str>| BookLine {
            title: title.into(),
            author,
            author_name: name.into(),
            publisher_name: publisher.map(Into::into),
        };
        assert_eq!(
            rows.unwrap(),
            [
                line("B1", lib.alice.id, "Alice", Some("Penguin")),
                line("B2", lib.alice.id, "Alice", None),
                line("B3", lib.bob.id, "Bob", Some("Harper")),
            ]
        );
        assert_eq!(q.len(), 1, "one query, joins included");
        assert!(q[0].sql.contains("JOIN"), "{}", q[0].sql);
    })
    .await;
}

#[tokio::test]
async fn a_partial_queryset_gets_counts_slices_and_runs_in_a_transaction() {
    with_library(|db, _backend, lib| async move {
        let cards = Book::objects().values_as::<BookCard>();
        let one = Book::objects()
            .filter(|b| b.title.eq("B3"))
            .values_as::<BookCard>();
        let (got, q) = capture_queries(one.get(&db)).await;
        assert_eq!(got.unwrap().id, lib.b3.id);
        assert_eq!(q.len(), 1);
        let (n, q) = capture_queries(cards.count(&db)).await;
        assert_eq!((n.unwrap(), q.len()), (3, 1));
        let page = Book::objects()
            .order_by(|b| b.pages.desc())
            .values_as::<BookCard>()
            .slice(0..1);
        let (rows, q) = capture_queries(page.into_vec(&db)).await;
        assert_eq!(rows.unwrap()[0].title, "B1");
        assert_eq!(q.len(), 1);

        let mut tx = db.begin().await.unwrap();
        let mut b1 = Book::objects().filter(|b| b.title.eq("B1"));
        b1.update(|b| b.title.set("B1, revised"), &mut tx)
            .await
            .unwrap();
        let (rows, q) = capture_queries(
            Book::objects()
                .filter(|b| b.id.eq(lib.b1.id))
                .values_as::<BookCard>()
                .into_vec(&mut tx),
        )
        .await;
        assert_eq!(rows.unwrap()[0].title, "B1, revised", "reads its own write");
        assert_eq!(q.len(), 1);
        tx.rollback().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn values_as_drops_select_related_and_prefetch_related_made_before_it() {
    with_library(|db, _backend, _lib| async move {
        let qs = Book::objects()
            .select_related(|b| b.author())
            .prefetch_related(|b| b.tags())
            .values_as::<BookCard>();
        let (rows, q) = capture_queries(qs.into_vec(&db)).await;
        assert_eq!(rows.unwrap().len(), 3);
        assert_eq!(
            q.len(),
            1,
            "no prefetch query: there are no models to attach to"
        );
        assert!(!q[0].sql.contains("JOIN"), "{}", q[0].sql);
    })
    .await;
}

#[tokio::test]
async fn values_as_keeps_a_condition_on_a_count_and_drops_annotations_as_values_does() {
    with_library(|db, _backend, _lib| async move {
        let qs = Author::objects()
            .filter(|a| a.books().count().gte(1))
            .order_by(|a| a.name.asc())
            .values_as::<AuthorName>();
        let (rows, q) = capture_queries(qs.into_vec(&db)).await;
        let names: Vec<String> = rows.unwrap().into_iter().map(|a| a.name).collect();
        assert_eq!(names, ["Alice", "Bob"]);
        assert_eq!(q.len(), 1);
        assert!(q[0].sql.contains("HAVING"), "{}", q[0].sql);

        // An annotation made before it is not read: the partial model is the whole SELECT
        // list, as a projection is.
        let qs = Author::objects()
            .annotate(|a| a.books().count())
            .order_by(|a| a.name.asc())
            .values_as::<AuthorName>();
        let (rows, q) = capture_queries(qs.into_vec(&db)).await;
        assert_eq!(rows.unwrap().len(), 3);
        assert_eq!(q.len(), 1);
        let select = q[0].sql.split(" FROM ").next().unwrap_or_default();
        assert!(!select.contains("COUNT"), "{}", q[0].sql);
    })
    .await;
}
