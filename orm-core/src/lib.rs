//! The query model of the ORM: typed field handles and conditions, the lazy
//! [`QuerySet`] with Django's result-cache semantics, and the SQL compiler with one
//! dialect per backend. This crate runs no SQL itself: backends implement [`Executor`]
//! (see `orm-sqlx`).

pub mod compiler;
pub mod dialect;
pub mod error;
pub mod executor;
pub mod expr;
pub mod field;
pub mod model;
pub mod ordering;
pub mod projection;
pub mod q;
pub mod query;
pub mod queryset;
pub mod row;
pub mod update;
pub mod value;

pub use compiler::Statement;
pub use dialect::Dialect;
pub use error::{Error, Result, SlicedOp};
pub use executor::{DefaultDatabase, ExecResult, Executor};
pub use expr::{Expr, RelPath};
pub use field::Field;
pub use model::{ColumnMeta, Model, ModelMeta};
pub use ordering::OrderBy;
pub use projection::Projection;
pub use q::Q;
pub use queryset::{Deleted, ModelExt, QuerySet};
pub use row::{FromRow, Row};
pub use update::Assignment;
pub use value::{FieldType, SqlType, Value};

/// Used by code that `#[derive(Model)]` generates. Not public API: it may change in any
/// release.
#[doc(hidden)]
pub mod __private {
    pub use crate::error::{Error, Result};
    pub use crate::expr::{RelPath, RelationMeta};
    pub use crate::field::Field;
    pub use crate::model::{ColumnMeta, Model, ModelMeta};
    pub use crate::row::{FromRow, Row};
    pub use crate::value::{FieldType, SqlType, Value};
}
