//! The bookstore's tables and its first rows.

use orm_sqlx::prelude::*;

use crate::models::{Author, Book, Models, Tag};

/// What [`setup`] inserted: nothing when the database already had authors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeedCounts {
    /// Authors inserted.
    pub authors: usize,
    /// Books inserted, each with its tags.
    pub books: usize,
    /// Tags inserted.
    pub tags: usize,
}

/// Create the bookstore's tables if they are missing (`CREATE TABLE IF NOT EXISTS`), then,
/// when there is no author yet, add four authors, their books and four tags, in one
/// transaction.
pub async fn setup(db: &Db) -> Result<SeedCounts> {
    db.create_tables::<Models>().await?;
    if Author::objects().exists(db).await? {
        return Ok(SeedCounts::default());
    }
    db.atomic(|tx| Box::pin(async move { seed(tx).await }))
        .await
}

async fn seed(tx: &mut orm_sqlx::Transaction) -> Result<SeedCounts> {
    let mut authors: Vec<Author> = [
        ("Ursula K. Le Guin", "US"),
        ("Terry Pratchett", "UK"),
        ("Octavia E. Butler", "US"),
        ("Iain M. Banks", "UK"),
    ]
    .into_iter()
    .map(|(name, country)| Author {
        id: 0,
        name: name.into(),
        country: Some(country.into()),
        books: Reverse::default(),
    })
    .collect();
    Author::objects()
        .bulk_create(&mut authors, &mut *tx)
        .await?;

    let mut tags: Vec<Tag> = ["classic", "fantasy", "science fiction", "humour"]
        .into_iter()
        .map(|name| Tag {
            id: 0,
            name: name.into(),
        })
        .collect();
    Tag::objects().bulk_create(&mut tags, &mut *tx).await?;
    let [classic, fantasy, sf, humour] = [0, 1, 2, 3].map(|i| tags[i].id);

    let a = |i: usize| authors[i].id;
    let mut books: Vec<(Book, Vec<i64>)> = [
        (
            "A Wizard of Earthsea",
            183,
            a(0),
            Some(4.5),
            vec![classic, fantasy],
        ),
        ("The Dispossessed", 387, a(0), Some(4.7), vec![sf]),
        (
            "The Left Hand of Darkness",
            304,
            a(0),
            None,
            vec![classic, sf],
        ),
        (
            "Guards! Guards!",
            416,
            a(1),
            Some(4.6),
            vec![fantasy, humour],
        ),
        ("Small Gods", 384, a(1), Some(4.8), vec![fantasy, humour]),
        ("Kindred", 264, a(2), Some(4.4), vec![classic]),
        ("Parable of the Sower", 345, a(2), Some(4.3), vec![sf]),
        ("Consider Phlebas", 471, a(3), Some(3.9), vec![sf]),
        ("The Player of Games", 293, a(3), Some(4.4), vec![sf]),
    ]
    .into_iter()
    .map(|(title, pages, author, rating, tags)| {
        let book = Book {
            id: 0,
            title: title.into(),
            pages,
            author: ForeignKey::new(author),
            rating,
            tags: ManyToMany::default(),
        };
        (book, tags)
    })
    .collect();
    let mut rows: Vec<Book> = books.iter().map(|(b, _)| b.clone()).collect();
    Book::objects().bulk_create(&mut rows, &mut *tx).await?;
    for ((book, tags), saved) in books.iter_mut().zip(rows) {
        *book = saved;
        book.add_related(|b| b.tags(), tags.clone(), &mut *tx)
            .await?;
    }
    Ok(SeedCounts {
        authors: authors.len(),
        books: books.len(),
        tags: tags.len(),
    })
}
