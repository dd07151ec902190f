//! Issue 11.3: rows handed over instead of lent. `into_vec` consumes a queryset (a
//! temporary one too) on any executor and moves its rows out; `using(ex).await` is the
//! same, awaited; `get_pk` is Django's `get(pk=…)`; a loaded relation is taken out of its
//! owner without a copy. Each with its result and its query count, on every backend.

use std::sync::Arc;

use orm_sqlx::prelude::*;
use orm_sqlx::{CapturedQuery, SlicedOp};
use orm_tests::library::{Author, Book};
use orm_tests::with_library;

async fn counted<T>(fut: impl std::future::Future<Output = T>) -> (T, Vec<CapturedQuery>) {
    capture_queries(fut).await
}

fn names(rows: &[Author]) -> Vec<&str> {
    rows.iter().map(|a| a.name.as_str()).collect()
}

/// What the issue could not write: a helper that returns the rows of a temporary
/// queryset, on whatever executor it is given.
async fn authors_by_name<E: Executor>(ex: E) -> Result<Vec<Author>> {
    Author::objects()
        .order_by(|a| a.name.asc())
        .into_vec(ex)
        .await
}

#[tokio::test]
async fn into_vec_hands_over_the_rows_of_a_temporary_queryset_on_any_executor() {
    with_library(|db, backend, lib| async move {
        let (rows, q) = counted(authors_by_name(&db)).await;
        assert_eq!(
            (names(&rows.unwrap()), q.len()),
            (vec!["Alice", "Bob", "Carol"], 1)
        );

        // In a transaction: it sees the transaction's own rows.
        let mut tx = db.begin().await.unwrap();
        let mut dan = Author {
            id: 0,
            name: "Dan".into(),
            age: None,
            country: None,
            books: Default::default(),
            long_books: Default::default(),
        };
        dan.insert(&mut tx).await.unwrap();
        let (rows, q) = counted(authors_by_name(&mut tx)).await;
        assert_eq!(rows.unwrap().len(), 4, "{backend:?}");
        assert_eq!(q.len(), 1);
        tx.rollback().await.unwrap();

        // On one connection.
        let mut conn = db.acquire().await.unwrap();
        let (rows, q) = counted(authors_by_name(&mut conn)).await;
        assert_eq!((rows.unwrap().len(), q.len()), (3, 1));
        drop(conn);

        // An evaluated queryset hands over its cached rows: no query.
        let qs = Author::objects().order_by(|a| a.name.desc());
        qs.fetch(&db).await.unwrap();
        let (rows, q) = counted(qs.into_vec(&db)).await;
        assert_eq!(
            (names(&rows.unwrap()), q.len()),
            (vec!["Carol", "Bob", "Alice"], 0)
        );

        // Projections and prefetching work the same way.
        let (pairs, q) = counted(
            Book::objects()
                .order_by(|b| b.title.asc())
                .values(|b| (b.title, b.pages))
                .into_vec(&db),
        )
        .await;
        assert_eq!(pairs.unwrap().len(), 3);
        assert_eq!(q.len(), 1);
        let (rows, q) = counted(
            Author::objects()
                .order_by(|a| a.name.asc())
                .prefetch_related(|a| a.books())
                .into_vec(&db),
        )
        .await;
        let rows = rows.unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(rows[0].books.count().unwrap(), 2);
        assert_eq!(lib.alice.name, rows[0].name);

        // A misuse is reported before any query, as by fetch().
        let sliced_filter = Author::objects().slice(0..1).filter(|a| a.name.eq("Bob"));
        let (r, q) = counted(sliced_filter.into_vec(&db)).await;
        assert!(matches!(r, Err(Error::Sliced(SlicedOp::Filter))), "{r:?}");
        assert!(q.is_empty());
    })
    .await;
}

#[tokio::test]
async fn using_awaits_a_queryset_on_an_explicit_executor() {
    with_library(|db, backend, _lib| async move {
        let mut tx = db.begin().await.unwrap();
        Book::objects()
            .filter(|b| b.title.eq("B1"))
            .update(|b| b.pages.set(1), &mut tx)
            .await
            .unwrap();
        let qs = Book::objects().filter(|b| b.pages.eq(1));
        let (rows, q) = counted(async { qs.using(&mut tx).await }).await;
        assert_eq!(
            rows.unwrap().len(),
            1,
            "{backend:?}: the transaction's own write"
        );
        assert_eq!(q.len(), 1);
        tx.rollback().await.unwrap();
        let (rows, q) =
            counted(async { Book::objects().filter(|b| b.pages.eq(1)).using(&db).await }).await;
        assert_eq!((rows.unwrap().len(), q.len()), (0, 1));
    })
    .await;
}

#[tokio::test]
async fn get_pk_is_djangos_get_by_primary_key() {
    with_library(|db, _backend, lib| async move {
        let (b, q) = counted(Book::objects().get_pk(lib.b2.id, &db)).await;
        assert_eq!((b.unwrap().title, q.len()), ("B2".to_owned(), 1));
        let (r, q) = counted(Book::objects().get_pk(lib.b3.id + 1000, &db)).await;
        assert!(
            matches!(r, Err(Error::DoesNotExist { model: "Book" })),
            "{r:?}"
        );
        assert_eq!(q.len(), 1);
        // Within the queryset's filter.
        let long = Book::objects().filter(|b| b.pages.gt(1000));
        let (r, q) = counted(long.get_pk(lib.b1.id, &db)).await;
        assert!(matches!(r, Err(Error::DoesNotExist { .. })), "{r:?}");
        assert_eq!(q.len(), 1);
        // Not on a slice (a filter after a slice), before any query.
        let (r, q) = counted(Book::objects().slice(0..2).get_pk(lib.b1.id, &db)).await;
        assert!(matches!(r, Err(Error::Sliced(SlicedOp::Filter))), "{r:?}");
        assert!(q.is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_loaded_relation_is_taken_out_of_its_owner_without_a_copy() {
    with_library(|db, _backend, lib| async move {
        // select_related: each row reads its own author, so taking it copies nothing.
        let (books, q) = counted(
            Book::objects()
                .order_by(|b| b.title.asc())
                .select_related(|b| b.author())
                .into_vec(&db),
        )
        .await;
        let mut books = books.unwrap();
        assert_eq!(q.len(), 1);
        let shared = books[0].author.take_shared().unwrap();
        assert_eq!(Arc::strong_count(&shared), 1, "the row was its only owner");
        assert_eq!(shared.name, lib.alice.name);
        assert!(!books[0].author.is_loaded(), "taken out");
        assert_eq!(*books[0].author.key(), lib.alice.id, "the key stays");
        let (author, q) = counted(async { books[1].author.take() }).await;
        assert_eq!((author.unwrap().name, q.len()), (lib.alice.name.clone(), 0));
        assert!(matches!(
            books[0].author.take(),
            Err(Error::NotLoaded { .. })
        ));

        // prefetch_related: each author's books are its own.
        let mut authors = Author::objects()
            .order_by(|a| a.name.asc())
            .prefetch_related(|a| a.books())
            .into_vec(&db)
            .await
            .unwrap();
        let (shared, q) = counted(async { authors[0].books.take_shared() }).await;
        let shared = shared.unwrap();
        assert_eq!(
            (Arc::strong_count(&shared), shared.len(), q.len()),
            (1, 2, 0)
        );
        assert!(!authors[0].books.is_loaded());
        let bobs: Vec<Book> = authors[1].books.take().unwrap();
        assert_eq!(bobs.len(), 1);
        assert!(matches!(
            authors[0].long_books.take(),
            Err(Error::NotLoaded { .. })
        ));
    })
    .await;
}
