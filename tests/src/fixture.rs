//! The SEMANTICS.md fixture, as far as this stage of the project builds it: relations
//! are plain key columns until the relations issue lands.
//!
//! Alice (30, UK) wrote B1 (300 pages, Penguin) and B2 (150 pages, no publisher);
//! Bob (45) wrote B3 (200 pages, Harper); Carol (age unknown) wrote nothing.

use orm_sqlx::prelude::*;

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "authors")]
pub struct Author {
    pub id: i64,
    pub name: String,
    pub age: Option<i32>,
    pub country: Option<String>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "books")]
pub struct Book {
    pub id: i64,
    pub title: String,
    pub pages: i32,
    pub author_id: i64,
    pub publisher: Option<String>,
    pub rating: Option<f64>,
}

/// A model with a column of every supported type, keyed by a UUID.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "every_type")]
pub struct EveryType {
    #[orm(primary_key)]
    pub key: uuid::Uuid,
    pub flag: bool,
    pub small: i16,
    pub int: i32,
    pub big: i64,
    pub single: f32,
    pub double: f64,
    #[orm(column = "label")]
    pub text: String,
    pub blob: Vec<u8>,
    pub day: chrono::NaiveDate,
    pub clock: chrono::NaiveTime,
    pub local: chrono::NaiveDateTime,
    pub instant: chrono::DateTime<chrono::Utc>,
    pub amount: rust_decimal::Decimal,
    pub doc: serde_json::Value,
    pub maybe_int: Option<i32>,
    pub maybe_text: Option<String>,
    pub maybe_day: Option<chrono::NaiveDate>,
    pub maybe_amount: Option<rust_decimal::Decimal>,
}

pub fn author(name: &str, age: Option<i32>, country: Option<&str>) -> Author {
    Author {
        id: 0,
        name: name.into(),
        age,
        country: country.map(Into::into),
    }
}

pub fn book(title: &str, pages: i32, author_id: i64, publisher: Option<&str>) -> Book {
    Book {
        id: 0,
        title: title.into(),
        pages,
        author_id,
        publisher: publisher.map(Into::into),
        rating: None,
    }
}

/// Create the tables and the rows. Not counted by the tests (it runs before they capture).
pub async fn load(db: &Db) {
    db.create_tables::<(Author, Book)>()
        .await
        .expect("create the fixture tables");
    let mut authors = vec![
        author("Alice", Some(30), Some("UK")),
        author("Bob", Some(45), None),
        author("Carol", None, None),
    ];
    Author::objects()
        .bulk_create(&mut authors, db)
        .await
        .expect("insert authors");
    let (alice, bob) = (authors[0].id, authors[1].id);
    let mut books = vec![
        book("B1", 300, alice, Some("Penguin")),
        book("B2", 150, alice, None),
        book("B3", 200, bob, Some("Harper")),
    ];
    Book::objects()
        .bulk_create(&mut books, db)
        .await
        .expect("insert books");
}
