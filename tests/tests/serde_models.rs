//! Issue 12.5: building models with `..Default::default()` and serialising them with serde
//! (the `serde` feature). A foreign key is its key, or its object when loaded; a related
//! set is its loaded rows, or `null` when not loaded; deserialising reads back what was
//! written; an unset required key is refused before any query. On every backend.

use orm_sqlx::StatementKind::{self, *};
use orm_sqlx::prelude::*;
use orm_tests::library::{Author, Book, Tag};
use orm_tests::with_library;
use serde_json::json;

fn kinds(q: &[orm_sqlx::CapturedQuery]) -> Vec<StatementKind> {
    q.iter().map(|q| q.kind).collect()
}

#[tokio::test]
async fn rows_fetched_without_relations_serialise_keys_and_null_sets() {
    with_library(|db, _backend, lib| async move {
        let b1 = Book::objects()
            .filter(|b| b.id.eq(lib.b1.id))
            .get(&db)
            .await
            .unwrap();
        assert_eq!(
            serde_json::to_value(&b1).unwrap(),
            json!({
                "id": lib.b1.id, "title": "B1", "pages": 300,
                "author": lib.alice.id, "publisher": lib.penguin.id, "tags": null,
            })
        );
        let b2 = Book::objects()
            .filter(|b| b.id.eq(lib.b2.id))
            .get(&db)
            .await
            .unwrap();
        assert_eq!(
            serde_json::to_string(&b2).unwrap(),
            format!(
                r#"{{"id":{},"title":"B2","pages":150,"author":{},"publisher":null,"tags":null}}"#,
                lib.b2.id, lib.alice.id
            )
        );
    })
    .await;
}

#[tokio::test]
async fn select_related_serialises_the_loaded_object() {
    with_library(|db, _backend, lib| async move {
        let b1 = Book::objects()
            .select_related(|b| b.author().country())
            .select_related(|b| b.publisher())
            .filter(|b| b.id.eq(lib.b1.id))
            .get(&db)
            .await
            .unwrap();
        let expected = json!({
            "id": lib.b1.id, "title": "B1", "pages": 300,
            "author": {
                "id": lib.alice.id, "name": "Alice", "age": 30,
                "country": {"id": lib.uk.id, "name": "UK", "authors": null},
                "books": null, "long_books": null,
            },
            "publisher": {"id": lib.penguin.id, "name": "Penguin", "books": null},
            "tags": null,
        });
        assert_eq!(serde_json::to_value(&b1).unwrap(), expected);

        // The object form reads back loaded, with its key.
        let back: Book = serde_json::from_value(expected.clone()).unwrap();
        assert_eq!(back, b1);
        assert_eq!(*back.author.key(), lib.alice.id);
        let author = back.author.get().unwrap();
        assert_eq!(author.name, "Alice");
        assert_eq!(author.country.as_ref().unwrap().get().unwrap().name, "UK");
        assert_eq!(serde_json::to_value(&back).unwrap(), expected);
    })
    .await;
}

#[tokio::test]
async fn prefetch_related_serialises_the_loaded_lists() {
    with_library(|db, _backend, lib| async move {
        let bob = Author::objects()
            .prefetch_related(|a| a.books().tags())
            .filter(|a| a.id.eq(lib.bob.id))
            .get(&db)
            .await
            .unwrap();
        // B3's author is Bob's copy, set as the back reference, without its own relations.
        let expected = json!({
            "id": lib.bob.id, "name": "Bob", "age": 45, "country": null,
            "books": [{
                "id": lib.b3.id, "title": "B3", "pages": 200,
                "author": {
                    "id": lib.bob.id, "name": "Bob", "age": 45, "country": null,
                    "books": null, "long_books": null,
                },
                "publisher": lib.harper.id,
                "tags": [{"id": lib.sf.id, "name": "sf"}],
            }],
            "long_books": null,
        });
        assert_eq!(serde_json::to_value(&bob).unwrap(), expected);

        let carol = Author::objects()
            .prefetch_related(|a| a.books())
            .filter(|a| a.id.eq(lib.carol.id))
            .get(&db)
            .await
            .unwrap();
        assert_eq!(
            serde_json::to_value(&carol).unwrap(),
            json!({
                "id": lib.carol.id, "name": "Carol", "age": null, "country": null,
                "books": [], "long_books": null,
            })
        );

        // Lists read back as loaded rows; null as not loaded.
        let back: Author = serde_json::from_value(expected.clone()).unwrap();
        let books = back.books.all().unwrap();
        assert_eq!(books.len(), 1);
        assert_eq!(books[0].tags.all().unwrap()[0].name, "sf");
        assert!(!back.long_books.is_loaded());
        assert_eq!(serde_json::to_value(&back).unwrap(), expected);
    })
    .await;
}

#[tokio::test]
async fn deserialised_models_save_as_updates_and_inserts() {
    with_library(|db, _backend, lib| async move {
        // An edit of a serialised row: its key form reads back, and save() is an UPDATE.
        let mut sent = serde_json::to_value(&lib.b2).unwrap();
        sent["title"] = json!("B2, revised");
        sent["publisher"] = json!(lib.harper.id);
        let mut edited: Book = serde_json::from_value(sent).unwrap();
        assert_eq!(*edited.author.key(), lib.alice.id);
        assert!(!edited.author.is_loaded());
        let (r, q) = capture_queries(edited.save(&db)).await;
        r.unwrap();
        assert_eq!(kinds(&q), [Update]);
        let stored = Book::objects().get_pk(lib.b2.id, &db).await.unwrap();
        assert_eq!(stored.title, "B2, revised");
        assert_eq!(*stored.publisher.unwrap().key(), lib.harper.id);

        // A new row (id 0): save() inserts it and sets the key.
        let mut new: Book = serde_json::from_str(&format!(
            r#"{{"id":0,"title":"B4","pages":99,"author":{},"publisher":null,"tags":null}}"#,
            lib.bob.id
        ))
        .unwrap();
        let (r, q) = capture_queries(new.save(&db)).await;
        r.unwrap();
        assert_eq!(kinds(&q), [Insert]);
        assert_ne!(new.id, 0);
        let stored = Book::objects().get_pk(new.id, &db).await.unwrap();
        assert_eq!(
            (stored.title.as_str(), *stored.author.key()),
            ("B4", lib.bob.id)
        );
    })
    .await;
}

#[tokio::test]
async fn models_built_with_default_insert() {
    with_library(|db, _backend, lib| async move {
        let mut tag = Tag {
            name: "rust".into(),
            ..Default::default()
        };
        let mut book = Book {
            title: "B4".into(),
            pages: 120,
            author: ForeignKey::new(lib.carol.id),
            ..Default::default()
        };
        let (r, q) = capture_queries(async {
            tag.insert(&db).await?;
            book.insert(&db).await
        })
        .await;
        r.unwrap();
        assert_eq!(kinds(&q), [Insert, Insert]);
        assert!(tag.id != 0 && book.id != 0);
        let stored = Book::objects().get_pk(book.id, &db).await.unwrap();
        assert_eq!(*stored.author.key(), lib.carol.id);
        assert_eq!(stored.publisher, None);

        // A key set after building counts too.
        let mut later = Book {
            title: "B5".into(),
            ..Default::default()
        };
        later.author.set_key(lib.alice.id);
        later.insert(&db).await.unwrap();
        assert_eq!(Book::objects().count(&db).await.unwrap(), 5);
    })
    .await;
}

#[tokio::test]
async fn an_unset_required_key_is_a_typed_error_before_any_query() {
    with_library(|db, _backend, lib| async move {
        let unset = || Book {
            title: "orphan".into(),
            pages: 1,
            ..Default::default()
        };
        assert!(!unset().author.is_set());
        let is_unset_author = |e: Error| {
            assert!(
                matches!(&e, Error::UnsetKey { relation } if relation == "Book.author"),
                "{e:?}"
            );
            assert!(e.to_string().contains("Book.author is unset"), "{e}");
        };

        let mut book = unset();
        let (r, q) = capture_queries(book.insert(&db)).await;
        is_unset_author(r.unwrap_err());
        assert_eq!(q.len(), 0);

        let (r, q) = capture_queries(book.save(&db)).await;
        is_unset_author(r.unwrap_err());
        assert_eq!(q.len(), 0);

        // Saving an existing row with an unset key is refused too (no UPDATE to key 0).
        book.id = lib.b1.id;
        let (r, q) = capture_queries(book.save(&db)).await;
        is_unset_author(r.unwrap_err());
        assert_eq!(q.len(), 0);

        // bulk_create: one unset key among several stops all of them before any query.
        let mut many: Vec<Book> = (0..3).map(|_| unset()).collect();
        many[0].author = ForeignKey::new(lib.alice.id);
        many[1].author = ForeignKey::new(lib.bob.id);
        let (r, q) = capture_queries(Book::objects().bulk_create(&mut many, &db)).await;
        is_unset_author(r.unwrap_err());
        assert_eq!(q.len(), 0);

        // Following an unset key does not look up row 0.
        let (r, q) = capture_queries(async { book.author.load(&db).await.map(|_| ()) }).await;
        assert!(matches!(r.unwrap_err(), Error::UnsetKey { .. }));
        assert_eq!(q.len(), 0);

        // Serialised, an unset key is null, and null reads back unset.
        let json = serde_json::to_value(unset()).unwrap();
        assert_eq!(json["author"], json!(null));
        let back: Book = serde_json::from_value(json).unwrap();
        assert!(!back.author.is_set());
        assert_eq!(Book::objects().count(&db).await.unwrap(), 3);
    })
    .await;
}
