//! Issue 11.6: `prefetch_related_objects` (Django's) prefetches into instances already
//! fetched: one query per level for all of them, none for an empty list, and an instance
//! whose relation is loaded already keeps it (Django skips fetched instances) while the
//! levels below are still prefetched into it. Result and query count on every backend.

use orm_sqlx::prelude::*;
use orm_tests::library::{Author, Book};
use orm_tests::with_library;

fn titles(a: &Author) -> Vec<String> {
    let mut t: Vec<String> = a
        .books
        .all()
        .unwrap()
        .iter()
        .map(|b| b.title.clone())
        .collect();
    t.sort();
    t
}

#[tokio::test]
async fn prefetches_every_level_into_fetched_instances() {
    with_library(|db, _backend, _lib| async move {
        let (authors, q) =
            capture_queries(Author::objects().order_by(|a| a.id.asc()).into_vec(&db)).await;
        let mut authors = authors.unwrap();
        assert_eq!(q.len(), 1);
        assert!(authors.iter().all(|a| !a.books.is_loaded()));

        // Two levels: books, then their tags. One query each, for the three authors.
        let (r, q) = capture_queries(prefetch_related_objects(
            &mut authors,
            |a| a.books().tags(),
            &db,
        ))
        .await;
        r.unwrap();
        assert_eq!(q.len(), 2, "{q:#?}");
        let [alice, bob, carol] = &authors[..] else {
            panic!("three authors")
        };
        assert_eq!(titles(alice), ["B1", "B2"]);
        assert_eq!(titles(bob), ["B3"]);
        assert!(carol.books.all().unwrap().is_empty());
        let b1 = &alice
            .books
            .all()
            .unwrap()
            .iter()
            .find(|b| b.title == "B1")
            .unwrap();
        let mut tags: Vec<&str> = b1
            .tags
            .all()
            .unwrap()
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        tags.sort();
        assert_eq!(tags, ["classic", "sf"]);
        // The back reference to the author is filled, as prefetch_related fills it (S24).
        assert_eq!(b1.author.get().unwrap().name, "Alice");

        // An empty list costs nothing (S29), whatever the path.
        let mut none: Vec<Author> = Vec::new();
        let (r, q) = capture_queries(prefetch_related_objects(
            &mut none,
            |a| a.books().tags(),
            &db,
        ))
        .await;
        r.unwrap();
        assert!(q.is_empty(), "{q:#?}");

        // A single instance, and a forward relation.
        let mut b3 = Book::objects().get_pk(3, &db).await.unwrap();
        let (r, q) = capture_queries(prefetch_related_objects(
            std::slice::from_mut(&mut b3),
            |b| b.publisher(),
            &db,
        ))
        .await;
        r.unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(b3.publisher.unwrap().get().unwrap().name, "Harper");
    })
    .await;
}

#[tokio::test]
async fn loaded_relations_are_kept_and_prefetched_below() {
    with_library(|db, _backend, lib| async move {
        let mut authors = Author::objects()
            .order_by(|a| a.id.asc())
            .into_vec(&db)
            .await
            .unwrap();
        // Alice's books only.
        prefetch_related_objects(&mut authors[..1], |a| a.books(), &db)
            .await
            .unwrap();
        // A later change to B1 is not seen through Alice: her books are kept, not
        // fetched again; Bob's and Carol's are fetched, in one query.
        Book::objects()
            .filter(|b| b.id.eq(lib.b1.id))
            .update(|b| b.title.set("B1, revised"), &db)
            .await
            .unwrap();
        let (r, q) =
            capture_queries(prefetch_related_objects(&mut authors, |a| a.books(), &db)).await;
        r.unwrap();
        assert_eq!(q.len(), 1, "{q:#?}");
        assert_eq!(titles(&authors[0]), ["B1", "B2"]);
        assert_eq!(titles(&authors[1]), ["B3"]);

        // Everything loaded: no query at all.
        let (r, q) =
            capture_queries(prefetch_related_objects(&mut authors, |a| a.books(), &db)).await;
        r.unwrap();
        assert!(q.is_empty(), "{q:#?}");

        // One level more: only that level's query, into the books already held.
        let (r, q) = capture_queries(prefetch_related_objects(
            &mut authors,
            |a| a.books().publisher(),
            &db,
        ))
        .await;
        r.unwrap();
        assert_eq!(q.len(), 1, "{q:#?}");
        let publisher = |a: &Author, title: &str| {
            let book = a
                .books
                .all()
                .unwrap()
                .iter()
                .find(|b| b.title == title)
                .unwrap();
            book.publisher
                .as_ref()
                .map(|p| p.get().unwrap().name.clone())
        };
        assert_eq!(publisher(&authors[0], "B1").as_deref(), Some("Penguin"));
        assert_eq!(publisher(&authors[0], "B2"), None);
        assert_eq!(publisher(&authors[1], "B3").as_deref(), Some("Harper"));
    })
    .await;
}

#[tokio::test]
async fn prefetches_below_shared_and_selected_targets() {
    with_library(|db, _backend, _lib| async move {
        // B1 and B2 share one prefetched Alice.
        let mut books = Book::objects()
            .order_by(|b| b.id.asc())
            .prefetch_related(|b| b.author())
            .into_vec(&db)
            .await
            .unwrap();
        let (r, q) = capture_queries(prefetch_related_objects(
            &mut books,
            |b| b.author().country(),
            &db,
        ))
        .await;
        r.unwrap();
        assert_eq!(q.len(), 1, "only the countries: {q:#?}");
        let country = |b: &Book| {
            let author = b.author.get().unwrap();
            author
                .country
                .as_ref()
                .map(|c| c.get().unwrap().name.clone())
        };
        assert_eq!(country(&books[0]).as_deref(), Some("UK"));
        assert_eq!(country(&books[1]).as_deref(), Some("UK"));
        assert_eq!(country(&books[2]), None);

        // Targets read by select_related: the author's books, in one query.
        let mut books = Book::objects()
            .order_by(|b| b.id.asc())
            .select_related(|b| b.author())
            .into_vec(&db)
            .await
            .unwrap();
        let (r, q) = capture_queries(prefetch_related_objects(
            &mut books,
            |b| b.author().books(),
            &db,
        ))
        .await;
        r.unwrap();
        assert_eq!(q.len(), 1, "{q:#?}");
        assert_eq!(titles(books[1].author.get().unwrap()), ["B1", "B2"]);
        assert_eq!(titles(books[2].author.get().unwrap()), ["B3"]);

        // Inside a transaction, on its connection.
        let mut tx = db.begin().await.unwrap();
        let mut authors = Author::objects().into_vec(&mut tx).await.unwrap();
        let (r, q) = capture_queries(prefetch_related_objects(
            &mut authors,
            |a| a.books(),
            &mut tx,
        ))
        .await;
        r.unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(
            authors
                .iter()
                .map(|a| a.books.count().unwrap())
                .sum::<usize>(),
            3
        );
        tx.rollback().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_mix_of_loaded_and_unloaded_costs_one_query_per_level() {
    with_library(|db, _backend, _lib| async move {
        let mut authors = Author::objects()
            .order_by(|a| a.id.asc())
            .into_vec(&db)
            .await
            .unwrap();
        prefetch_related_objects(&mut authors[..1], |a| a.books(), &db)
            .await
            .unwrap();
        // Books for Bob and Carol; then one tags query for every book, Alice's held ones
        // and the new ones together (S26: one query per level).
        let (r, q) = capture_queries(prefetch_related_objects(
            &mut authors,
            |a| a.books().tags(),
            &db,
        ))
        .await;
        r.unwrap();
        assert_eq!(q.len(), 2, "{q:#?}");
        let tags = |a: &Author| -> usize {
            a.books
                .all()
                .unwrap()
                .iter()
                .map(|b| b.tags.count().unwrap())
                .sum()
        };
        assert_eq!((tags(&authors[0]), tags(&authors[1])), (2, 1));
    })
    .await;
}

/// A call dropped while it waits (a cancelled request) leaves the instances as they were:
/// the books taken out to prefetch their tags are put back by drop guards. The pool's only
/// connection is held, so the tags query waits for it until the call is dropped.
#[tokio::test]
async fn a_dropped_call_keeps_what_was_loaded() {
    for backend in orm_tests::required_backends() {
        let t = orm_tests::TestDb::open(backend).await;
        orm_tests::library::load(&t.db).await;
        let (db, _) = t
            .one_connection_pool(std::time::Duration::from_secs(5))
            .await;
        let mut authors = Author::objects()
            .order_by(|a| a.id.asc())
            .prefetch_related(|a| a.books())
            .into_vec(&db)
            .await
            .unwrap();
        let held = db.acquire().await.unwrap();
        let r = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            prefetch_related_objects(&mut authors, |a| a.books().tags(), &db),
        )
        .await;
        drop(held);
        assert!(r.is_err(), "{backend:?}: the call should still be waiting");
        assert_eq!(
            titles(&authors[0]).len(),
            2,
            "{backend:?}: Alice's books lost"
        );
        // And the call, run again, completes them.
        prefetch_related_objects(&mut authors, |a| a.books().tags(), &db)
            .await
            .unwrap();
        assert!(authors[0].books.all().unwrap()[0].tags.is_loaded());
        t.cleanup().await;
    }
}
