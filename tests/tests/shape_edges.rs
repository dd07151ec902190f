//! Edge cases of partial models, `#[derive(FromRow)]` and raw SQL found by review; each
//! test failed before its fix, on every backend unless said otherwise.

use orm_sqlx::prelude::*;
use orm_tests::library::Book;
use orm_tests::{Backend, on_each_backend, with_library};

/// A field named with a raw identifier (`r#type`) reads the column `type`, as
/// `#[derive(Model)]` does (`field.ident.unraw()`); the FromRow derive looks for a column
/// literally named `r#type`.
#[derive(FromRow, Debug, PartialEq)]
struct Kind {
    r#type: String,
}

#[tokio::test]
async fn from_row_field_with_a_raw_identifier_reads_its_unraw_column() {
    with_library(|db, _backend, _lib| async move {
        let (rows, q) = capture_queries(
            RawQuery::<Kind>::new("SELECT title AS type FROM books WHERE title = ?", ["B1"])
                .into_vec(&db),
        )
        .await;
        assert_eq!(q.len(), 1);
        assert_eq!(
            rows.expect("`r#type` reads the column `type`"),
            [Kind {
                r#type: "B1".into()
            }]
        );
    })
    .await;
}

/// Two fields reading one column as two types: the second read must be type-checked too.
/// On PostgreSQL and MySQL the column is marked "checked" by the first read
/// (`CheckedColumns`, keyed by position only) and the second decodes the raw bytes of an
/// integer as text / as a float, silently.
#[derive(FromRow, Debug)]
#[allow(dead_code)]
struct Twice {
    #[orm(column = "id")]
    key: i64,
    #[orm(column = "id")]
    key_as_float: f64,
    #[orm(column = "pages")]
    pages: i32,
    #[orm(column = "pages")]
    pages_as_text: String,
}

#[tokio::test]
async fn two_fields_on_one_column_are_refused_never_read_unchecked() {
    let wrong = std::sync::Mutex::new(Vec::new());
    let wrong = &wrong;
    with_library(|db, backend, _lib| async move {
        let (rows, q) = capture_queries(
            RawQuery::<Twice>::new("SELECT id, pages FROM books WHERE title = ?", ["B1"])
                .into_vec(&db),
        )
        .await;
        assert_eq!(q.len(), 1);
        // Refused (one field per column), never a second read that skips the type check.
        if !matches!(&rows, Err(Error::InvalidInput(m)) if m.contains("another field reads")) {
            wrong.lock().unwrap().push(format!("{backend:?}: {rows:?}"));
        }
    })
    .await;
    let wrong = wrong.lock().unwrap();
    assert!(
        wrong.is_empty(),
        "a column read by two fields must be refused:\n{}",
        wrong.join("\n")
    );
}

/// Several statements in one raw SQL string: SQLite runs them all (sqlx steps through
/// every statement), and the `ColumnMap` built from the first result set's first row is
/// applied to the rows of the second, whose columns are in another order: the values are
/// read from the wrong columns, silently. (PostgreSQL and MySQL refuse several statements
/// in a prepared statement.) Django's sqlite3 backend refuses it ("You can only execute
/// one statement at a time").
#[derive(FromRow, Debug, PartialEq)]
struct Pair {
    a: String,
    b: String,
}

#[tokio::test]
async fn several_statements_are_refused_or_each_result_is_read_by_its_own_names() {
    on_each_backend(|db, backend| async move {
        let (rows, q) = capture_queries(
            RawQuery::<Pair>::new(
                "SELECT 'a1' AS a, 'b1' AS b; SELECT 'b2' AS b, 'a2' AS a",
                (),
            )
            .into_vec(&db),
        )
        .await;
        assert!(q.len() <= 1);
        if let Ok(rows) = rows {
            let pair = |a: &str, b: &str| Pair {
                a: a.into(),
                b: b.into(),
            };
            assert_eq!(
                rows,
                [pair("a1", "b1"), pair("a2", "b2")],
                "on {backend:?}: the second statement's row is read through the first's column map"
            );
        }
    })
    .await;
}

/// The same on SQLite with a write before the SELECT: `raw()` is documented as "a SELECT
/// written by hand", yet `UPDATE …; SELECT …` rewrites every book and is captured as one
/// statement of kind `Update` from a method that reads rows.
#[tokio::test]
async fn raw_runs_one_statement_only() {
    with_library(|db, backend, _lib| async move {
        let (rows, q) = capture_queries(
            RawQuery::<i64>::new("UPDATE books SET pages = 1; SELECT COUNT(*) FROM books", ())
                .into_vec(&db),
        )
        .await;
        let pages = Book::objects()
            .filter(|b| b.pages.eq(1))
            .count(&db)
            .await
            .unwrap();
        assert_eq!(
            pages, 0,
            "on {backend:?}: raw() ran an UPDATE before its SELECT: {rows:?} {q:?}"
        );
    })
    .await;
}

/// MySQL and MariaDB execute the text of a `/*! … */` comment (and MariaDB `/*M! … */`):
/// a `?` there is a placeholder to the server, but the scanner skips it as a comment, so
/// the value cannot be passed (refused: "0 placeholder(s) but 1 value(s)").
#[tokio::test]
async fn a_placeholder_in_a_mysql_executable_comment_is_counted() {
    with_library(|db, backend, _lib| async move {
        if backend != Backend::Mysql {
            return;
        }
        let (n, q) = capture_queries(
            RawQuery::<i64>::new(
                "SELECT COUNT(*) FROM books WHERE pages > 0 /*!40000 AND pages > ? */",
                [250],
            )
            .into_vec(&db),
        )
        .await;
        assert_eq!(n.expect("the `?` in /*! */ is a placeholder to MySQL"), [1]);
        assert_eq!(q.len(), 1);
    })
    .await;
}

/// A partial model with a field through a many-valued relation reads one row per related
/// row (as Django's `values("name", "books__title")`): Alice twice, Carol once with no
/// book, so four rows. `count()` compiles `SELECT COUNT(*) FROM authors` with the
/// filter's joins only, dropping the projection's LEFT JOIN, and says 3: `count()` and
/// `len()` of one queryset disagree (Django counts the joined rows: 4). Inherited from
/// `values()` (`compiler::count`, `select.rs`), which `values_as` now exposes.
#[derive(Partial, Debug, Clone, PartialEq)]
#[orm(model = orm_tests::library::Author)]
struct AuthorBook {
    name: String,
    #[orm(path = "books.title")]
    title: Option<String>,
}

#[tokio::test]
async fn values_as_through_a_many_valued_path_counts_the_rows_it_reads() {
    with_library(|db, backend, _lib| async move {
        let qs = orm_tests::library::Author::objects().values_as::<AuthorBook>();
        let rows = qs.clone().into_vec(&db).await.unwrap();
        assert_eq!(rows.len(), 4);
        let (n, q) = capture_queries(qs.count(&db)).await;
        assert_eq!(q.len(), 1);
        assert_eq!(
            n.unwrap(),
            rows.len() as u64,
            "on {backend:?}: count() disagrees with the rows: {}",
            q[0].sql
        );
    })
    .await;
}

/// `??` is documented as "a literal `?`", but only PostgreSQL has a `?` outside strings
/// (its JSON operators): on SQLite and MySQL the `?` written out is a placeholder to the
/// database, one more than the values given. SQLite (through sqlx) binds NULL to it
/// silently, so the query runs and answers wrongly instead of being refused.
#[tokio::test]
async fn a_double_question_mark_outside_postgres_is_not_an_unbound_placeholder() {
    with_library(|db, backend, _lib| async move {
        if backend == Backend::Postgres {
            return;
        }
        let (n, q) = capture_queries(
            RawQuery::<i64>::new(
                "SELECT COUNT(*) FROM books WHERE ?? IS NULL AND pages > ?",
                [0],
            )
            .into_vec(&db),
        )
        .await;
        assert!(
            n.is_err(),
            "on {backend:?}: `??` became an unbound placeholder: {n:?} {q:?}"
        );
    })
    .await;
}
