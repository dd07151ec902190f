//! The bookstore's models, shared by the `bookstore` demo and the `manage` command line
//! (each includes this file with `#[path = "models.rs"] mod models;`) and by the web app
//! (`examples::models`).

use orm_sqlx::prelude::*;

#[derive(Model, Debug, Clone)]
#[orm(table = "authors")]
pub struct Author {
    pub id: i64,
    pub name: String,
    pub country: Option<String>,
    /// No column: the books whose `author` points here, once prefetched.
    #[orm(reverse(Book::author))]
    pub books: Reverse<Book>,
}

#[derive(Model, Debug, Clone)]
#[orm(table = "tags")]
pub struct Tag {
    pub id: i64,
    pub name: String,
}

#[derive(Model, Debug, Clone)]
#[orm(table = "books")]
pub struct Book {
    pub id: i64,
    pub title: String,
    pub pages: i32,
    /// Column `author_id`; `b.author.key()` reads it, `b.author.get()` the loaded author.
    pub author: ForeignKey<Author>,
    pub rating: Option<f64>,
    /// Through the join table `books_tags`, created with the schema.
    pub tags: ManyToMany<Tag>,
}

/// Every model, for `create_tables` and for `manage`.
pub type Models = (Author, Tag, Book);
