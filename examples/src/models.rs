//! The bookstore's models, shared by the `bookstore` demo and the `manage` command line
//! (each includes this file with `#[path = "models.rs"] mod models;`) and by the web app
//! (`examples::models`).

use orm_sqlx::prelude::*;

/// A writer; their books are `Book`s whose `author` points here.
#[derive(Model, Debug, Clone)]
#[orm(table = "authors")]
pub struct Author {
    /// The auto-increment primary key.
    pub id: i64,
    /// Full name, as shown.
    pub name: String,
    /// A country code (`"UK"`), if known.
    pub country: Option<String>,
    /// No column: the books whose `author` points here, once prefetched.
    #[orm(reverse(Book::author))]
    pub books: Reverse<Book>,
}

/// A label books share (many-to-many, through `books_tags`).
#[derive(Model, Debug, Clone)]
#[orm(table = "tags")]
pub struct Tag {
    /// The auto-increment primary key.
    pub id: i64,
    /// The label.
    pub name: String,
}

/// A book, by one author, with any number of tags.
#[derive(Model, Debug, Clone)]
#[orm(table = "books")]
pub struct Book {
    /// The auto-increment primary key.
    pub id: i64,
    /// The title.
    pub title: String,
    /// How many pages.
    pub pages: i32,
    /// Column `author_id`; `b.author.key()` reads it, `b.author.get()` the loaded author.
    pub author: ForeignKey<Author>,
    /// Out of 5, if rated.
    pub rating: Option<f64>,
    /// Through the join table `books_tags`, created with the schema.
    pub tags: ManyToMany<Tag>,
}

/// Every model, for `create_tables` and for `manage`.
pub type Models = (Author, Tag, Book);
