//! Django's QuerySet for async Rust, on sqlx.
//!
//! Declare models as plain structs with `#[derive(Model)]`, build lazy querysets with
//! typed lookups, and evaluate them on SQLite, PostgreSQL or MySQL/MariaDB with Django's result-cache
//! semantics. Every statement passes through one chokepoint, so the database work of
//! any line can be counted ([`capture_queries`], [`assert_num_queries`]).
//!
//! ```no_run
//! use orm_sqlx::prelude::*;
//!
//! #[derive(Model, Debug, Clone)]
//! #[orm(table = "books")]
//! pub struct Book {
//!     pub id: i64,
//!     pub title: String,
//!     pub pages: i32,
//! }
//!
//! # async fn demo() -> orm_sqlx::Result<()> {
//! let db = Db::connect("sqlite::memory:").await?;
//! db.create_table::<Book>().await?;
//! let long = Book::objects().filter(|b| b.pages.gte(300)).order_by(|b| b.title.asc());
//! println!("{}", long.sql());                 // no query
//! let rows: &[Book] = long.fetch(&db).await?; // one query, cached in `long`
//! let n = long.count(&db).await?;             // no query: the cached length
//! # Ok(()) }
//! ```

mod backend;
mod conn;
mod db;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
mod query_log;
#[cfg(feature = "sqlite")]
pub mod sqlite;
mod tx;

pub use conn::{ConnRef, Connection, Transaction};
pub use db::{Db, ModelSet, register};
pub use query_log::{
    CapturedQuery, StatementKind, assert_num_queries, capture_queries, total_queries,
};

/// The derive and the trait share the name, like serde's.
pub use orm_core::Model;
pub use orm_core::{
    Assignment, ColumnMeta, Deleted, Dialect, Error, ExecResult, Executor, Expr, Field, FieldType,
    FromRow, ModelExt, ModelMeta, OrderBy, Projection, Q, QuerySet, Result, Row, SlicedOp, SqlType,
    Statement, Using, Value,
};
/// Partial models and raw SQL: each derive next to its trait.
pub use orm_core::{FromRawRow, Partial, RawParam, RawParams, RawQuery};
pub use orm_derive::Model;
pub use orm_derive::{FromRow, Partial};

/// The relation field types: a model declares `author: ForeignKey<Author>`,
/// `#[orm(reverse(Book::author))] books: Reverse<Book>`, `tags: ManyToMany<Tag>`.
pub use orm_core::relation::{ForeignKey, ManyToMany, OneToOne, RelatedSet, Reverse};

/// The query model, for readers who want the pieces (`orm_sqlx::core::compiler`, …).
pub use orm_core as core;

/// Re-exported so that users wrap pools and transactions without a second dependency.
pub use sqlx;

/// Everything a model file and a handler need: `use orm_sqlx::prelude::*;`.
pub mod prelude {
    pub use crate::{Db, Error, Executor, Model, ModelExt, Q, QuerySet, Result};
    pub use crate::{ForeignKey, ManyToMany, OneToOne, RelatedSet, Reverse};
    pub use crate::{FromRow, Partial, RawQuery};
    pub use crate::{assert_num_queries, capture_queries};
}

/// Used by code that `#[derive(Model)]` generates. Not public API.
#[doc(hidden)]
pub use orm_core::__private;
