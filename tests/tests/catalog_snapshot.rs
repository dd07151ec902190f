//! The catalogue snapshot (`orm_tests::catalog`) is meaningful on every backend: two
//! databases built the same way snapshot equal, one rebuilt by another DDL path to the
//! same shape too, and each of adding a column, dropping an index and making a column
//! nullable makes the snapshots differ, with `diff` naming exactly that difference.

use orm_sqlx::prelude::*;
use orm_tests::catalog::{Schema, diff, snapshot};
use orm_tests::{Backend, TestDb, required_backends};

#[derive(Model, Debug, Clone, Default)]
#[orm(table = "cat_writers")]
pub struct Writer {
    pub id: i64,
    #[orm(unique)]
    pub email: String,
    #[orm(reverse(Book::writer))]
    pub books: Reverse<Book>,
}

#[derive(Model, Debug, Clone, Default)]
#[orm(table = "cat_tags")]
pub struct Tag {
    pub id: i64,
    pub name: String,
    #[orm(reverse(Book::tags))]
    pub books: ManyToMany<Book>,
}

#[derive(Model, Debug, Clone)]
#[orm(table = "cat_books")]
pub struct Book {
    pub id: i64,
    #[orm(max_length = 20)]
    pub title: String,
    #[orm(default = 3)]
    pub rating: i32,
    #[orm(index)]
    pub views: i64,
    pub note: Option<String>,
    pub writer: ForeignKey<Writer>,
    #[orm(through = "cat_book_tag")]
    pub tags: ManyToMany<Tag>,
}

async fn built(backend: Backend) -> (TestDb, Schema) {
    let t = TestDb::open(backend).await;
    t.db.create_tables::<(Writer, Tag, Book)>().await.unwrap();
    let s = snapshot(&t.db, backend).await;
    (t, s)
}

async fn exec(t: &TestDb, sql: &str) {
    t.db.execute_raw(sql)
        .await
        .unwrap_or_else(|e| panic!("{}: {sql}: {e}", t.backend.name()));
}

/// `d` is exactly one line, containing every one of `needles`.
fn assert_one_difference(backend: Backend, d: &str, needles: &[&str]) {
    assert_eq!(
        d.lines().count(),
        1,
        "{}: expected one difference:\n{d}",
        backend.name()
    );
    for n in needles {
        assert!(
            d.contains(n),
            "{}: `{n}` not in the diff:\n{d}",
            backend.name()
        );
    }
}

#[tokio::test]
async fn the_same_models_snapshot_equal_and_the_snapshot_sees_every_part() {
    for backend in required_backends() {
        let (a, sa) = built(backend).await;
        let (b, sb) = built(backend).await;
        assert_eq!(diff(&sa, &sb), "", "{}", backend.name());
        assert_eq!(sa, sb, "{}", backend.name());

        // The snapshot is not trivially empty: every part the models declare is there.
        let names: Vec<&str> = sa.0.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["cat_book_tag", "cat_books", "cat_tags", "cat_writers"],
            "{}",
            backend.name()
        );
        let books = &sa.0["cat_books"];
        let id = &books.columns["id"];
        assert!(
            id.primary_key && id.auto && !id.nullable,
            "{}: {id:?}",
            backend.name()
        );
        assert!(books.columns["note"].nullable, "{}", backend.name());
        assert!(!books.columns["title"].nullable, "{}", backend.name());
        assert!(
            books.columns["title"].ty.contains("20"),
            "{}: {:?}",
            backend.name(),
            books.columns["title"]
        );
        assert_eq!(
            books.columns["rating"]
                .default
                .as_deref()
                .map(|d| d.trim_matches('\'')),
            Some("3"),
            "{}",
            backend.name()
        );
        assert!(
            books
                .indexes
                .iter()
                .any(|i| i.columns == ["views"] && !i.unique),
            "{}: {:?}",
            backend.name(),
            books.indexes
        );
        assert!(
            books.foreign_keys.iter().any(|f| f.column == "writer_id"
                && f.ref_table == "cat_writers"
                && f.ref_column == "id"),
            "{}: {:?}",
            backend.name(),
            books.foreign_keys
        );
        assert!(
            sa.0["cat_writers"]
                .indexes
                .iter()
                .any(|i| i.columns == ["email"] && i.unique),
            "{}: {:?}",
            backend.name(),
            sa.0["cat_writers"].indexes
        );
        let join = &sa.0["cat_book_tag"];
        let targets: Vec<&str> = join
            .foreign_keys
            .iter()
            .map(|f| f.ref_table.as_str())
            .collect();
        assert_eq!(targets.len(), 2, "{}: {join:?}", backend.name());
        assert!(
            targets.contains(&"cat_books") && targets.contains(&"cat_tags"),
            "{}: {join:?}",
            backend.name()
        );

        // Another DDL path to the same shape: `note` dropped and added back (now the
        // last column) snapshots equal, column order being ignored.
        let note_ty = match backend {
            Backend::Mysql => sb.0["cat_books"].columns["note"].ty.clone(),
            _ => "TEXT".to_owned(),
        };
        exec(&b, "ALTER TABLE cat_books DROP COLUMN note").await;
        assert_one_difference(
            backend,
            &diff(&sa, &snapshot(&b.db, backend).await),
            &["cat_books.note", "only in the first"],
        );
        exec(
            &b,
            &format!("ALTER TABLE cat_books ADD COLUMN note {note_ty} NULL"),
        )
        .await;
        let again = snapshot(&b.db, backend).await;
        assert_eq!(diff(&sa, &again), "", "{}", backend.name());

        a.cleanup().await;
        b.cleanup().await;
    }
}

#[tokio::test]
async fn an_added_column_is_a_difference() {
    for backend in required_backends() {
        let (a, sa) = built(backend).await;
        let (b, _) = built(backend).await;
        exec(&b, "ALTER TABLE cat_books ADD COLUMN extra INTEGER").await;
        let sb = snapshot(&b.db, backend).await;
        assert_ne!(sa, sb, "{}", backend.name());
        assert_one_difference(
            backend,
            &diff(&sa, &sb),
            &["column `cat_books.extra`", "only in the second"],
        );
        a.cleanup().await;
        b.cleanup().await;
    }
}

#[tokio::test]
async fn a_dropped_index_is_a_difference() {
    for backend in required_backends() {
        let (a, sa) = built(backend).await;
        let (b, _) = built(backend).await;
        let name = sa.0["cat_books"]
            .indexes
            .iter()
            .find(|i| i.columns == ["views"])
            .unwrap_or_else(|| panic!("{}: no index on views", backend.name()))
            .name
            .clone();
        let sql = match backend {
            Backend::Mysql => format!("DROP INDEX {name} ON cat_books"),
            Backend::Sqlite | Backend::Postgres => format!("DROP INDEX {name}"),
        };
        exec(&b, &sql).await;
        let sb = snapshot(&b.db, backend).await;
        assert_ne!(sa, sb, "{}", backend.name());
        assert_one_difference(
            backend,
            &diff(&sa, &sb),
            &["index on `cat_books`", "only in the first", &name, "views"],
        );
        a.cleanup().await;
        b.cleanup().await;
    }
}

#[tokio::test]
async fn a_column_made_nullable_is_a_difference() {
    for backend in required_backends() {
        let (a, sa) = built(backend).await;
        let (b, _) = built(backend).await;
        match backend {
            Backend::Postgres => {
                exec(&b, "ALTER TABLE cat_books ALTER COLUMN title DROP NOT NULL").await;
            }
            Backend::Mysql => {
                let ty = &sa.0["cat_books"].columns["title"].ty;
                exec(&b, &format!("ALTER TABLE cat_books MODIFY title {ty} NULL")).await;
            }
            Backend::Sqlite => sqlite_make_title_nullable(&b).await,
        }
        let sb = snapshot(&b.db, backend).await;
        assert_ne!(sa, sb, "{}", backend.name());
        assert_one_difference(
            backend,
            &diff(&sa, &sb),
            &["column `cat_books.title`", "nullable false vs true"],
        );
        a.cleanup().await;
        b.cleanup().await;
    }
}

/// SQLite has no `ALTER COLUMN`: the table is rebuilt (create a copy without the NOT NULL,
/// copy the rows, drop, rename, recreate the indexes), on one connection with foreign
/// keys off.
async fn sqlite_make_title_nullable(t: &TestDb) {
    use orm_sqlx::sqlx::{self, AssertSqlSafe, Connection as _, Row as _};
    let pool = t.db.sqlite_pool().expect("a SQLite pool");
    let mut conn = pool.acquire().await.unwrap();
    let ddl: String =
        sqlx::query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'cat_books'")
            .fetch_one(&mut *conn)
            .await
            .unwrap()
            .get(0);
    let indexes: Vec<String> = sqlx::query(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cat_books' \
         AND sql IS NOT NULL",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect();
    let lower = ddl.to_lowercase();
    let at = lower
        .find("\"title\"")
        .expect("the title column in the DDL");
    let nn = at + lower[at..].find(" not null").expect("title is NOT NULL");
    let new_ddl = format!("{}{}", &ddl[..nn], &ddl[nn + " not null".len()..]).replacen(
        "\"cat_books\"",
        "\"cat_books_new\"",
        1,
    );
    assert_ne!(new_ddl, ddl, "the DDL was rewritten: {ddl}");
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&mut *conn)
        .await
        .unwrap();
    let mut tx = conn.begin().await.unwrap();
    for sql in [
        new_ddl,
        "INSERT INTO cat_books_new SELECT * FROM cat_books".into(),
        "DROP TABLE cat_books".into(),
        "ALTER TABLE cat_books_new RENAME TO cat_books".into(),
    ]
    .into_iter()
    .chain(indexes)
    {
        sqlx::query(AssertSqlSafe(sql.clone()))
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    tx.commit().await.unwrap();
    sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut *conn)
        .await
        .unwrap();
}

/// Check constraints (PostgreSQL and MySQL/MariaDB; SQLite's are not read): one added
/// is a difference, and the same check written differently, under another name or none,
/// is not.
#[tokio::test]
async fn a_check_constraint_is_compared_by_its_clause_not_its_name() {
    for backend in required_backends() {
        if backend == Backend::Sqlite {
            continue;
        }
        let (a, sa) = built(backend).await;
        let (b, _) = built(backend).await;
        exec(
            &a,
            "ALTER TABLE cat_books ADD CONSTRAINT rating_ok CHECK (rating >= 0)",
        )
        .await;
        let with_check = snapshot(&a.db, backend).await;
        assert_one_difference(
            backend,
            &diff(&sa, &with_check),
            &["check on `cat_books`", "only in the second", "rating"],
        );
        exec(&b, "ALTER TABLE cat_books ADD CHECK ((rating)>=0)").await;
        let other = snapshot(&b.db, backend).await;
        assert_eq!(diff(&with_check, &other), "", "{}", backend.name());
        a.cleanup().await;
        b.cleanup().await;
    }
}
