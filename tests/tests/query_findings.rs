//! Issue 14, step 3: duplicates (same SQL, same values) and similar statements (same SQL,
//! different values) of a capture, grouped and counted (`orm_sqlx::analyze`), on every
//! backend.

use orm_sqlx::prelude::*;
use orm_tests::fixture::{Author, Book};
use orm_tests::with_fixture;

#[tokio::test]
async fn one_query_per_row_is_similar_and_a_repeat_is_a_duplicate() {
    with_fixture(|db, _| async move {
        let (authors, queries) = capture_queries(async {
            let mut names = Vec::new();
            let books = Book::objects()
                .order_by(|b| b.id.asc())
                .into_vec(&db)
                .await?;
            for book in books {
                // B1 and B2 are Alice's, B3 Bob's: the N+1 pattern.
                names.push(Author::objects().get_pk(book.author_id, &db).await?.name);
            }
            // Two transactions: their BEGIN/COMMIT repeat by design, and are not findings.
            for _ in 0..2 {
                let tx = db.begin().await?;
                tx.commit().await?;
            }
            Ok::<_, Error>(names)
        })
        .await;
        assert_eq!(authors.unwrap(), ["Alice", "Alice", "Bob"]);
        assert_eq!(queries.len(), 8, "{queries:#?}");
        let findings = orm_sqlx::analyze(&queries);
        assert_eq!(findings.similar.len(), 1, "{findings:#?}");
        let similar = &findings.similar[0];
        assert_eq!(similar.indexes, [1, 2, 3]);
        assert_eq!(similar.count(), 3);
        assert_eq!(&*similar.sql, &*queries[1].sql);
        assert_eq!(findings.duplicates.len(), 1, "{findings:#?}");
        assert_eq!(findings.duplicates[0].indexes, [1, 2], "Alice, twice");

        // The same statement with the same values only: duplicates, not similar.
        let (_, queries) = capture_queries(async {
            for _ in 0..3 {
                Book::objects().count(&db).await.unwrap();
            }
        })
        .await;
        let findings = orm_sqlx::analyze(&queries);
        assert!(findings.similar.is_empty(), "{findings:#?}");
        assert_eq!(findings.duplicates.len(), 1);
        assert_eq!(findings.duplicates[0].count(), 3);

        // Nothing repeated: nothing found.
        let (_, queries) = capture_queries(async {
            Book::objects().count(&db).await.unwrap();
            Author::objects().count(&db).await.unwrap();
        })
        .await;
        assert_eq!(orm_sqlx::analyze(&queries), orm_sqlx::Findings::default());
    })
    .await;
}
