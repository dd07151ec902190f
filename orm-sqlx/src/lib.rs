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
//!
//! Counting in the database (Django's `annotate`, `aggregate`, `Exists`, `Subquery`):
//!
//! ```
//! use orm_sqlx::prelude::*;
//!
//! #[derive(Model, Debug, Clone)]
//! pub struct Author {
//!     pub id: i64,
//!     pub name: String,
//!     #[orm(reverse(Book::author))]
//!     pub books: Reverse<Book>,
//! }
//!
//! #[derive(Model, Debug, Clone)]
//! pub struct Book {
//!     pub id: i64,
//!     pub pages: i32,
//!     pub author: ForeignKey<Author>,
//! }
//!
//! # async fn demo(db: &Db) -> orm_sqlx::Result<()> {
//! // One query: LEFT OUTER JOIN books … GROUP BY the author … HAVING COUNT(books.id) >= 2.
//! let prolific: Vec<(Author, i64)> = Author::objects()
//!     .annotate(|a| a.books().count())
//!     .filter(|a| a.books().count().gte(2))
//!     .order_by(|a| a.books().count().desc())
//!     .into_vec(db)
//!     .await?;
//! // One row of totals: (i64, Option<i64>, Option<f64>).
//! let (n, pages, avg) = Book::objects()
//!     .aggregate(|b| (b.id.count(), b.pages.sum(), b.pages.avg()), db)
//!     .await?;
//! // Grouped by the projected field: (author key, count) per author with books.
//! let per_author: Vec<(i64, i64)> = Book::objects()
//!     .values(|b| (b.author, b.id.count()))
//!     .into_vec(db)
//!     .await?;
//! // A correlated subquery: authors with a book over 500 pages, no join.
//! let long = Author::objects().filter(|a| {
//!     exists(Book::objects().filter(|b| b.author.eq(a.id.outer()) & b.pages.gt(500)))
//! });
//! # let _ = (prolific, n, pages, avg, per_author, long);
//! # Ok(()) }
//! ```

mod backend;
#[cfg(feature = "cache")]
pub mod cache;
mod cache_link;
mod conn;
mod db;
mod findings;
mod held;
#[cfg(feature = "migrate")]
pub mod migrate;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
mod query_log;
pub mod replicas;
mod shelf;
#[cfg(feature = "sqlite")]
pub mod sqlite;
mod tx;
mod tx_options;
#[cfg(feature = "web")]
pub mod web;

pub use backend::{IDLE_CHECK_AFTER, check_idle_connection};
pub use conn::{ConnRef, Connection, Transaction};
pub use db::{Db, ModelSet, register};
pub use findings::{Findings, NPlusOne, QueryGroup, UnnecessaryLoad, analyze};
pub use query_log::{
    CacheOutcome, CapturedQuery, LoadKind, RelationLoad, StatementKind, assert_num_queries,
    capture_queries, set_slow_query_threshold, strict_loading, total_queries,
};
pub use tx_options::{Isolation, TxOptions};

/// Fieldless enums as fields: the derive next to its trait.
pub use orm_core::Choice;
/// Code around the writes of one instance (`#[orm(hooks)]`).
pub use orm_core::Hooks;
/// The derive and the trait share the name, like serde's.
pub use orm_core::Model;
pub use orm_core::{Aggregate, RelatedCount, exists, subquery};
pub use orm_core::{
    Assignment, BulkCreate, ColumnAt, ColumnMeta, Constraint, DefaultDatabase, Deleted, Dialect,
    Error, ExecResult, Executor, Expr, Field, FieldType, FromRow, ModelExt, ModelMeta, OrderBy,
    Projection, Q, QuerySet, Result, Row, SlicedOp, SqlType, Statement, Using, Value, Violation,
    prefetch_related_objects,
};
/// The field types each column option applies to (`max_length`, `max_digits`,
/// `auto_now`): their messages are what a misplaced option reports.
pub use orm_core::{AutoNowField, DecimalField, MaxLengthField};
/// Partial models and raw SQL: each derive next to its trait.
pub use orm_core::{FromRawRow, Partial, RawParam, RawParams, RawQuery, RelatedKeys};
pub use orm_derive::Choices;
pub use orm_derive::Model;
pub use orm_derive::{FromRow, Partial};

/// The relation field types: a model declares `author: ForeignKey<Author>`,
/// `#[orm(reverse(Book::author))] books: Reverse<Book>`, `tags: ManyToMany<Tag>`.
pub use orm_core::relation::{ForeignKey, ManyToMany, OneToOne, RelatedSet, Reverse};

/// The traits in the signatures of the queryset and field-handle methods: what their
/// closures may return and what their arguments may be. Named here so that every bound a
/// user meets links to a page of this crate; nothing needs importing to use them.
pub use orm_core::{
    ModelRows, RelPath,
    expr::Operand,
    field::{
        InOperand, Many, Nullable, PathKind, PrefetchPath, Reached, RelationPath, SelectPath,
        Single,
    },
    ordering::IntoOrdering,
    update::IntoAssignments,
    value::{IntoValue, Numeric, TextField},
};

/// The relation field types, by the path the derive's documentation uses
/// (`orm_sqlx::relation::ForeignKey`); the same types as at the crate's root. The
/// relations' metadata is in [`core::relation`].
pub mod relation {
    pub use orm_core::relation::{ForeignKey, ManyToMany, OneToOne, RelatedSet, Reverse};
}

/// The query model, for readers who want the pieces (`orm_sqlx::core::compiler`, …).
pub use orm_core as core;

/// Re-exported so that users wrap pools and transactions without a second dependency.
pub use sqlx;

/// Everything a model file and a handler need: `use orm_sqlx::prelude::*;`.
pub mod prelude {
    pub use crate::{Choices, FromRow, Hooks, Partial, RawQuery};
    pub use crate::{Db, Error, Executor, Model, ModelExt, Q, QuerySet, Result};
    pub use crate::{ForeignKey, ManyToMany, OneToOne, RelatedSet, Reverse};
    pub use crate::{RelatedCount, exists, subquery};
    pub use crate::{assert_num_queries, capture_queries, prefetch_related_objects};
}

/// Used by code that `#[derive(Model)]` generates. Not public API.
#[doc(hidden)]
pub use orm_core::__private;
