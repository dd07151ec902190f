//! Issue 11.5: raw SQL that still counts. `Model::objects().raw(sql, params)` reads models
//! with columns matched by name; `RawQuery` reads tuples, field types and derived structs;
//! placeholders are `?` on every backend, values are bound, and every statement passes
//! the chokepoint, on any executor. Result and query count on every backend.

use orm_sqlx::prelude::*;
use orm_tests::library::{Author, Book};
use orm_tests::with_library;

#[derive(FromRow, Debug, PartialEq)]
struct AuthorStats {
    name: String,
    #[orm(column = "n")]
    books: i64,
}

#[derive(Partial, Debug, PartialEq)]
#[orm(model = Book)]
struct BookCard {
    id: i64,
    title: String,
}

fn ids(books: &[Book]) -> Vec<i64> {
    books.iter().map(|b| b.id).collect()
}

#[tokio::test]
async fn raw_reads_models_by_column_name_whatever_the_order() {
    with_library(|db, _backend, lib| async move {
        for sql in [
            "SELECT * FROM books WHERE pages >= ? ORDER BY pages",
            "SELECT pages, publisher_id, title, author_id, id FROM books WHERE pages >= ? ORDER BY pages",
            // Extra columns (a join) are ignored.
            "SELECT b.*, a.name AS author_name FROM books b JOIN authors a ON a.id = b.author_id \
             WHERE b.pages >= ? ORDER BY b.pages",
        ] {
            let (rows, q) =
                capture_queries(Book::objects().raw(sql, [200]).into_vec(&db)).await;
            let rows = rows.unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_eq!(ids(&rows), [lib.b3.id, lib.b1.id], "{sql}");
            assert_eq!((rows[1].title.as_str(), rows[1].pages), ("B1", 300));
            assert_eq!(rows[1].author.key(), &lib.alice.id);
            let publisher = rows[0].publisher.as_ref().map(|p| *p.key());
            assert_eq!(publisher, Some(lib.harper.id));
            assert_eq!(q.len(), 1, "{sql}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_missing_or_ambiguous_column_is_a_typed_error_naming_the_field() {
    with_library(|db, _backend, _lib| async move {
        let (r, q) = capture_queries(
            Book::objects()
                .raw("SELECT id, title FROM books", ())
                .into_vec(&db),
        )
        .await;
        match r {
            Err(e @ Error::MissingColumn { .. }) => {
                assert!(e.to_string().contains("Book.pages (column `pages`)"), "{e}");
            }
            other => panic!("expected MissingColumn, got {other:?}"),
        }
        assert_eq!(q.len(), 1);
        // `id` twice (books and authors): refused, not guessed.
        let (r, _) = capture_queries(
            Book::objects()
                .raw(
                    "SELECT * FROM books b JOIN authors a ON a.id = b.author_id",
                    (),
                )
                .into_vec(&db),
        )
        .await;
        let e = r.unwrap_err();
        assert!(e.to_string().contains("`id` 2 times"), "{e}");
    })
    .await;
}

#[tokio::test]
async fn placeholders_are_written_once_and_values_are_always_bound() {
    with_library(|db, _backend, lib| async move {
        // A `?` inside a string literal is text, not a placeholder, on every backend.
        let sql =
            "SELECT * FROM books WHERE title <> 'why?' AND pages > ? AND title <> ? ORDER BY id";
        let (rows, q) = capture_queries(Book::objects().raw(sql, (150, "B3")).into_vec(&db)).await;
        assert_eq!(ids(&rows.unwrap()), [lib.b1.id]);
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].params.len(), 2, "both values bound: {:?}", q[0]);
        // A value that looks like SQL is a value.
        let (rows, q) = capture_queries(
            Author::objects()
                .raw("SELECT * FROM authors WHERE name = ?", ["x' OR '1'='1"])
                .into_vec(&db),
        )
        .await;
        assert!(rows.unwrap().is_empty());
        assert_eq!(q.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn misuse_is_refused_before_any_query() {
    with_library(|db, _backend, _lib| async move {
        let cases: Vec<(&str, RawQuery<Book>)> = vec![
            (
                "placeholder(s)",
                Book::objects().raw("SELECT * FROM books WHERE pages > ?", ()),
            ),
            (
                "numbered",
                Book::objects().raw("SELECT * FROM books WHERE pages > $1", [1]),
            ),
            (
                "would be ignored",
                Book::objects()
                    .filter(|b| b.pages.gt(1))
                    .raw("SELECT * FROM books", ()),
            ),
            (
                "would be ignored",
                Book::objects()
                    .order_by(|b| b.title.asc())
                    .raw("SELECT * FROM books", ()),
            ),
            (
                "would be ignored",
                Book::objects()
                    .select_related(|b| b.author())
                    .raw("SELECT * FROM books", ()),
            ),
        ];
        for (want, raw) in cases {
            let (r, q) = capture_queries(raw.into_vec(&db)).await;
            let e = r.unwrap_err();
            assert!(e.to_string().contains(want), "{want}: {e}");
            assert!(q.is_empty(), "{want}: {q:?}");
        }
        // Positional reads need exactly as many columns.
        let (r, q) = capture_queries(
            RawQuery::<(String,)>::new("SELECT name, age FROM authors", ()).into_vec(&db),
        )
        .await;
        assert!(r.unwrap_err().to_string().contains("returns 2 column(s)"));
        assert_eq!(q.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn any_select_reads_into_tuples_scalars_and_derived_structs() {
    with_library(|db, _backend, lib| async move {
        let per_author = "SELECT a.name, COUNT(b.id) AS n FROM authors a \
                          LEFT JOIN books b ON b.author_id = a.id GROUP BY a.name ORDER BY a.name";
        let (rows, q) =
            capture_queries(RawQuery::<(String, i64)>::new(per_author, ()).into_vec(&db)).await;
        assert_eq!(
            rows.unwrap(),
            [
                ("Alice".to_owned(), 2),
                ("Bob".to_owned(), 1),
                ("Carol".to_owned(), 0)
            ]
        );
        assert_eq!(q.len(), 1);

        let (rows, q) =
            capture_queries(RawQuery::<AuthorStats>::new(per_author, ()).into_vec(&db)).await;
        assert_eq!(
            rows.unwrap()[0],
            AuthorStats {
                name: "Alice".into(),
                books: 2
            }
        );
        assert_eq!(q.len(), 1);

        let (n, q) = capture_queries(
            RawQuery::<i64>::new("SELECT COUNT(*) FROM books WHERE pages > ?", [150]).into_vec(&db),
        )
        .await;
        assert_eq!((n.unwrap(), q.len()), (vec![2], 1));

        // A partial model, columns by name (reordered, extra ones ignored).
        let (rows, q) = capture_queries(
            RawQuery::<BookCard>::new(
                "SELECT pages, title, id FROM books WHERE id = ?",
                [lib.b1.id],
            )
            .into_vec(&db),
        )
        .await;
        assert_eq!(
            rows.unwrap(),
            [BookCard {
                id: lib.b1.id,
                title: "B1".into()
            }]
        );
        assert_eq!(q.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn raw_runs_on_a_transaction_and_a_connection_and_keeps_prefetch_related() {
    with_library(|db, _backend, lib| async move {
        let mut tx = db.begin().await.unwrap();
        let mut b1 = Book::objects().filter(|b| b.id.eq(lib.b1.id));
        b1.update(|b| b.pages.set(999), &mut tx).await.unwrap();
        let (rows, q) = capture_queries(
            Book::objects()
                .raw("SELECT * FROM books WHERE pages = ?", [999])
                .into_vec(&mut tx),
        )
        .await;
        assert_eq!(ids(&rows.unwrap()), [lib.b1.id], "reads its own write");
        assert_eq!(q.len(), 1);
        tx.rollback().await.unwrap();

        let mut conn = db.acquire().await.unwrap();
        let (n, q) = capture_queries(
            RawQuery::<i64>::new("SELECT COUNT(*) FROM books WHERE pages = ?", [999])
                .into_vec(&mut conn),
        )
        .await;
        assert_eq!((n.unwrap(), q.len()), (vec![0], 1), "rolled back");
        drop(conn);

        // prefetch_related before raw(): one more query, as in Django's RawQuerySet.
        let (rows, q) = capture_queries(
            Author::objects()
                .prefetch_related(|a| a.books())
                .raw("SELECT * FROM authors ORDER BY name", ())
                .into_vec(&db),
        )
        .await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 2);
        let counts: Vec<usize> = rows.iter().map(|a| a.books.all().unwrap().len()).collect();
        assert_eq!(counts, [2, 1, 0]);
    })
    .await;
}

#[tokio::test]
async fn an_awaited_raw_query_runs_on_the_default_database() {
    with_library(|db, _backend, lib| async move {
        db.set_default();
        let (rows, q) = capture_queries(async {
            Book::objects()
                .raw("SELECT * FROM books WHERE pages < ?", [200])
                .await
        })
        .await;
        assert_eq!(ids(&rows.unwrap()), [lib.b2.id]);
        assert_eq!(q.len(), 1);
    })
    .await;
}
