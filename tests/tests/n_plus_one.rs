//! Issue 14: the N+1 detector on SEMANTICS.md's Book/Author example, on every backend.
//! Loading each book's author lazily in a loop is reported as an N+1 naming `Book.author`,
//! the line, and the fix (`select_related`); the `select_related` version is clean; an
//! eager load whose rows are never read is reported as unnecessary (and one that is read,
//! also by serialising, is not); strict loading refuses the second lazy load of a loop
//! before its query is sent.

use orm_sqlx::prelude::*;
use orm_sqlx::{Error, LoadKind, analyze};
use orm_tests::library::{Author, Book};
use orm_tests::with_library;

#[tokio::test]
async fn a_lazy_load_per_row_is_an_n_plus_one_with_its_fix() {
    with_library(|db, _, _| async move {
        let load_line = line!() + 8;
        let (names, q) = capture_queries(async {
            let mut books = Book::objects()
                .order_by(|b| b.id.asc())
                .into_vec(&db)
                .await?;
            let mut names = Vec::new();
            for b in &mut books {
                names.push(b.author.load(&db).await?.name.clone());
            }
            Ok::<_, Error>(names)
        })
        .await;
        assert_eq!(names.unwrap(), ["Alice", "Alice", "Bob"]);
        assert_eq!(q.len(), 4, "1 + N: {q:#?}");
        for s in &q[1..] {
            assert_eq!(s.loads.len(), 1);
            assert_eq!(s.loads[0].kind, LoadKind::Lazy);
            assert_eq!(s.loads[0].label(), "Book.author");
        }
        let f = analyze(&q);
        assert_eq!(f.n_plus_one.len(), 1, "{f:#?}");
        let n1 = &f.n_plus_one[0];
        assert_eq!(n1.relation, "Book.author");
        assert_eq!(n1.indexes, [1, 2, 3]);
        assert_eq!(n1.fix, "select_related(|b| b.author())");
        let at = n1.origin.expect("the load's line");
        assert_eq!((at.file(), at.line()), (file!(), load_line));
        let text = n1.to_string();
        assert!(
            text.contains("Book.author loaded lazily 3 times") && text.contains(file!()),
            "{text}"
        );
        // The same statements are also similar (different authors) and, for Alice's two
        // books, duplicates.
        assert_eq!(f.similar.len(), 1);
        assert_eq!(f.duplicates.len(), 1);
        assert!(f.unnecessary.is_empty());
    })
    .await;
}

#[tokio::test]
async fn loads_from_different_lines_are_not_an_n_plus_one() {
    with_library(|db, _, lib| async move {
        let (_, q) = capture_queries(async {
            let mut b1 = Book::objects().get_pk(lib.b1.id, &db).await?;
            let mut b3 = Book::objects().get_pk(lib.b3.id, &db).await?;
            b1.author.load(&db).await?;
            b3.author.load(&db).await?;
            Ok::<_, Error>(())
        })
        .await;
        assert_eq!(q.len(), 4);
        assert!(analyze(&q).n_plus_one.is_empty());
    })
    .await;
}

#[tokio::test]
async fn select_related_is_one_query_and_clean() {
    with_library(|db, _, _| async move {
        let (names, q) = capture_queries(async {
            let books = Book::objects()
                .select_related(|b| b.author())
                .order_by(|b| b.id.asc());
            let mut names = Vec::new();
            for b in books.fetch(&db).await? {
                names.push(b.author.get()?.name.clone());
            }
            Ok::<_, Error>(names)
        })
        .await;
        assert_eq!(names.unwrap(), ["Alice", "Alice", "Bob"]);
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].loads.len(), 1);
        assert_eq!(q[0].loads[0].kind, LoadKind::SelectRelated);
        assert_eq!(q[0].loads[0].read, Some(true));
        let f = analyze(&q);
        assert!(f.is_empty(), "{f:#?}");
    })
    .await;
}

#[tokio::test]
async fn eager_loads_never_read_are_unnecessary() {
    with_library(|db, _, _| async move {
        // A prefetch whose rows nobody reads.
        let (_, q) = capture_queries(async {
            let authors = Author::objects().prefetch_related(|a| a.books());
            let names: Vec<String> = authors
                .fetch(&db)
                .await?
                .iter()
                .map(|a| a.name.clone())
                .collect();
            Ok::<_, Error>(names)
        })
        .await;
        assert_eq!(q.len(), 2);
        let f = analyze(&q);
        assert_eq!(f.unnecessary.len(), 1, "{f:#?}");
        let u = &f.unnecessary[0];
        assert_eq!(
            (u.index, u.kind, u.relation.as_str(), u.fix.as_str()),
            (
                1,
                LoadKind::Prefetch,
                "Author.books",
                "prefetch_related(|a| a.books())"
            )
        );
        assert!(u.to_string().contains("never read"), "{u}");

        // A select_related nobody reads, nested: both levels reported.
        let (_, q) = capture_queries(async {
            let books = Book::objects().select_related(|b| b.author().country());
            let n = books.fetch(&db).await?.len();
            Ok::<_, Error>(n)
        })
        .await;
        let f = analyze(&q);
        let fixes: Vec<&str> = f.unnecessary.iter().map(|u| u.fix.as_str()).collect();
        assert_eq!(
            fixes,
            [
                "select_related(|b| b.author())",
                "select_related(|b| b.author().country())"
            ],
            "{f:#?}"
        );

        // Read through the first level only: the second is still unnecessary.
        let (_, q) = capture_queries(async {
            let books = Book::objects().select_related(|b| b.author().country());
            let mut n = 0;
            for b in books.fetch(&db).await? {
                n += b.author.get()?.name.len();
            }
            Ok::<_, Error>(n)
        })
        .await;
        let f = analyze(&q);
        assert_eq!(f.unnecessary.len(), 1, "{f:#?}");
        assert_eq!(f.unnecessary[0].relation, "Author.country");

        // Serialising the rows reads what was loaded.
        let (json, q) = capture_queries(async {
            let authors = Author::objects().prefetch_related(|a| a.books());
            let rows = authors.fetch(&db).await?;
            Ok::<_, Error>(serde_json::to_string(rows).unwrap())
        })
        .await;
        assert!(json.unwrap().contains("B3"));
        let f = analyze(&q);
        assert!(f.unnecessary.is_empty(), "{f:#?}");
    })
    .await;
}

#[tokio::test]
async fn strict_loading_refuses_the_second_lazy_load_before_its_query() {
    with_library(|db, _, _| async move {
        let load_line = line!() + 8;
        let (result, q) = capture_queries(orm_sqlx::strict_loading(async {
            let mut books = Book::objects()
                .order_by(|b| b.id.asc())
                .into_vec(&db)
                .await?;
            let mut loaded = 0;
            for b in &mut books {
                b.author.load(&db).await?;
                loaded += 1;
            }
            Ok::<_, Error>(loaded)
        }))
        .await;
        let Err(Error::NPlusOne(message)) = result else {
            panic!("expected an N+1 error, got {result:?}");
        };
        assert!(
            message.contains("Book.author")
                && message.contains("select_related(|b| b.author())")
                && message.contains(&format!("{}:{load_line}", file!())),
            "{message}"
        );
        // The list and the first load ran; the second load sent nothing.
        assert_eq!(q.len(), 2, "{q:#?}");

        // The same loop over select_related rows is fine under strict loading.
        let n = orm_sqlx::strict_loading(async {
            let mut books = Book::objects()
                .select_related(|b| b.author())
                .into_vec(&db)
                .await?;
            for b in &mut books {
                b.author.load(&db).await?;
            }
            Ok::<_, Error>(books.len())
        })
        .await
        .unwrap();
        assert_eq!(n, 3);

        // Outside strict loading, the loop runs (and a capture reports it instead).
        let mut books = Book::objects().into_vec(&db).await.unwrap();
        for b in &mut books {
            b.author.load(&db).await.unwrap();
        }
    })
    .await;
}
