//! The relations fixture of SEMANTICS.md: Country; Publisher; Author (country → Country,
//! nullable; reverse `books`); Tag; Book (author → Author, publisher → Publisher nullable,
//! tags ↔ Tag); and Employee (boss → Employee, nullable) for self relations.
//!
//! Alice (UK) wrote B1 (Penguin; tags sf, classic) and B2 (no publisher, no tags); Bob
//! (no country) wrote B3 (Harper; tag sf); Carol wrote nothing. Employees: Ann (no boss)
//! ← Ben ← Cy.
//!
//! Every model derives `Default` (built with `..Default::default()`) and serde's
//! `Serialize`/`Deserialize` (the `serde` feature): `tests/serde_models.rs`.

use orm_sqlx::core::relation::{ForeignKey, ManyToMany, Reverse};
use orm_sqlx::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Model, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[orm(table = "countries")]
pub struct Country {
    pub id: i64,
    pub name: String,
    /// `Author.country` is PROTECT: a country with authors cannot be deleted.
    #[orm(reverse(Author::country))]
    pub authors: Reverse<Author>,
}

#[derive(Model, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[orm(table = "publishers")]
pub struct Publisher {
    pub id: i64,
    pub name: String,
    /// `Book.publisher` is SET NULL.
    #[orm(reverse(Book::publisher))]
    pub books: Reverse<Book>,
}

#[derive(Model, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[orm(table = "authors")]
pub struct Author {
    pub id: i64,
    pub name: String,
    pub age: Option<i32>,
    #[orm(on_delete = "protect")]
    pub country: Option<ForeignKey<Country>>,
    #[orm(reverse(Book::author))]
    pub books: Reverse<Book>,
    /// The same key again: a separate target for a custom prefetch (Django's
    /// `Prefetch("books", queryset=…, to_attr="long_books")`).
    #[orm(reverse(Book::author))]
    pub long_books: Reverse<Book>,
}

#[derive(Model, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[orm(table = "tags")]
pub struct Tag {
    pub id: i64,
    pub name: String,
}

#[derive(Model, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[orm(table = "books")]
pub struct Book {
    pub id: i64,
    pub title: String,
    pub pages: i32,
    pub author: ForeignKey<Author>,
    #[orm(on_delete = "set_null")]
    pub publisher: Option<ForeignKey<Publisher>>,
    pub tags: ManyToMany<Tag>,
}

#[derive(Model, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[orm(table = "employees")]
pub struct Employee {
    pub id: i64,
    pub name: String,
    pub boss: Option<ForeignKey<Employee>>,
    #[orm(reverse(Employee::boss))]
    pub reports: Reverse<Employee>,
}

/// The rows, by name, as loaded.
pub struct Library {
    pub uk: Country,
    pub penguin: Publisher,
    pub harper: Publisher,
    pub alice: Author,
    pub bob: Author,
    pub carol: Author,
    pub sf: Tag,
    pub classic: Tag,
    pub b1: Book,
    pub b2: Book,
    pub b3: Book,
}

fn author(name: &str, age: Option<i32>, country: Option<&Country>) -> Author {
    Author {
        id: 0,
        name: name.into(),
        age,
        country: country.map(|c| ForeignKey::new(c.id)),
        books: Reverse::default(),
        long_books: Reverse::default(),
    }
}

fn book(title: &str, pages: i32, author: &Author, publisher: Option<&Publisher>) -> Book {
    Book {
        id: 0,
        title: title.into(),
        pages,
        author: ForeignKey::new(author.id),
        publisher: publisher.map(|p| ForeignKey::new(p.id)),
        tags: ManyToMany::default(),
    }
}

/// Create the tables and rows (not counted by the tests: they capture after this).
pub async fn load(db: &Db) -> Library {
    db.create_tables::<(Country, Publisher, Author, Tag, Book, Employee)>()
        .await
        .expect("create the library tables");
    let mut uk = Country {
        id: 0,
        name: "UK".into(),
        authors: Reverse::default(),
    };
    uk.insert(db).await.unwrap();
    let publisher = |name: &str| Publisher {
        id: 0,
        name: name.into(),
        books: Reverse::default(),
    };
    let mut pubs = vec![publisher("Penguin"), publisher("Harper")];
    Publisher::objects()
        .bulk_create(&mut pubs, db)
        .await
        .unwrap();
    let (penguin, harper) = (pubs[0].clone(), pubs[1].clone());
    let mut authors = vec![
        author("Alice", Some(30), Some(&uk)),
        author("Bob", Some(45), None),
        author("Carol", None, None),
    ];
    Author::objects()
        .bulk_create(&mut authors, db)
        .await
        .unwrap();
    let mut tags = vec![
        Tag {
            id: 0,
            name: "sf".into(),
        },
        Tag {
            id: 0,
            name: "classic".into(),
        },
    ];
    Tag::objects().bulk_create(&mut tags, db).await.unwrap();
    let mut books = vec![
        book("B1", 300, &authors[0], Some(&penguin)),
        book("B2", 150, &authors[0], None),
        book("B3", 200, &authors[1], Some(&harper)),
    ];
    Book::objects().bulk_create(&mut books, db).await.unwrap();
    books[0]
        .add_related(|b| b.tags(), &[&tags[0], &tags[1]], db)
        .await
        .unwrap();
    books[2]
        .add_related(|b| b.tags(), &[&tags[0]], db)
        .await
        .unwrap();

    let employee = |name: &str, boss: Option<&Employee>| Employee {
        id: 0,
        name: name.into(),
        boss: boss.map(|b| ForeignKey::new(b.id)),
        reports: Reverse::default(),
    };
    let mut ann = employee("Ann", None);
    ann.insert(db).await.unwrap();
    let mut ben = employee("Ben", Some(&ann));
    ben.insert(db).await.unwrap();
    let mut cy = employee("Cy", Some(&ben));
    cy.insert(db).await.unwrap();

    let mut a = authors.into_iter();
    let mut b = books.into_iter();
    let mut t = tags.into_iter();
    Library {
        uk,
        penguin,
        harper,
        alice: a.next().unwrap(),
        bob: a.next().unwrap(),
        carol: a.next().unwrap(),
        sf: t.next().unwrap(),
        classic: t.next().unwrap(),
        b1: b.next().unwrap(),
        b2: b.next().unwrap(),
        b3: b.next().unwrap(),
    }
}

/// The race of a `get_or_create` that loses an InnoDB deadlock (write_helpers tests):
/// a transaction holds the lock on a `tags` row named "rust" while `racer` (spawned)
/// and a bigger transaction both insert "rust"; the holder rolls back, so the two
/// INSERTs deadlock on MariaDB and InnoDB rolls back the smaller one, the racer's. The
/// winner commits 300 ms later, after the racer read again. Elsewhere the second INSERT
/// waits for the first. Returns the racer's output and whether the winner committed
/// (its error when its INSERT lost). `tags.name` must be unique.
pub async fn race_a_deadlock_on_a_tag<R: Send + 'static>(
    db: &Db,
    racer: impl std::future::Future<Output = R> + Send + 'static,
) -> (R, orm_sqlx::Result<bool>) {
    let tag = |name: &str| Tag {
        id: 0,
        name: name.into(),
    };
    let mut first = db.begin().await.unwrap();
    tag("rust").save(&mut first).await.unwrap();
    let racer = tokio::spawn(racer);
    let winner = tokio::spawn({
        let db = db.clone();
        async move {
            let mut tx = db.begin().await.unwrap();
            // Rows written make this the transaction InnoDB keeps.
            for name in ["a", "b", "c", "d"] {
                tag(name).save(&mut tx).await.unwrap();
            }
            let won = tag("rust").save(&mut tx).await;
            // The loser reads again while this has not committed.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            match won {
                Ok(()) => tx.commit().await.map(|()| true),
                Err(e) => Err(e),
            }
        }
    });
    // Both INSERTs are waiting for `first`'s lock.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    first.rollback().await.unwrap();
    (racer.await.unwrap(), winner.await.unwrap())
}
