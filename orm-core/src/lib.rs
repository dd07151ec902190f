//! The query model of the ORM: typed field handles and conditions, the lazy
//! [`QuerySet`] with Django's result-cache semantics, and the SQL compiler with one
//! dialect per backend. This crate runs no SQL itself: backends implement [`Executor`]
//! (see `orm-sqlx`).

pub mod error;

pub mod dsl;
pub mod eval;
#[cfg(feature = "migrate")]
pub mod migrate;
pub mod schema;
pub mod sql;

// The modules by their names before the layers: `orm_core::queryset`, `orm_core::field`,
// ... stay valid paths (orm-sqlx, tests, examples and generated code use them).
pub use dsl::{expr, field, ordering, projection, q, query, select_related, update};
pub use eval::{executor, prefetch, queryset};
pub use schema::{model, registry, row, value};

/// Relations: their metadata (`schema::relation`) and the field types (`eval::related`).
pub mod relation {
    pub use crate::eval::related::*;
    pub use crate::schema::relation::*;
}
pub use sql::{compiler, dialect, join};

pub use compiler::Statement;
pub use dialect::Dialect;
pub use dsl::aggregate::{Aggregate, RelatedCount};
pub use dsl::partial::Partial;
pub use error::{ColumnAt, Constraint, Error, Result, SlicedOp, Violation};
pub use eval::observe::{LoadKind, RelationLoad};
pub use executor::{DefaultDatabase, ExecResult, Executor};
pub use expr::{Expr, RelPath};
pub use field::Field;
pub use model::{
    AutoNow, ColumnMeta, ColumnOptions, DbDefault, Digits, Hooks, IndexMeta, Model, ModelMeta,
};
pub use ordering::OrderBy;
pub use prefetch::prefetch_related_objects;
pub use projection::Projection;
pub use q::Q;
pub use queryset::{
    BulkCreate, Deleted, ModelExt, ModelRows, QuerySet, RawQuery, RelatedKeys, Using, exists,
    subquery,
};
pub use row::{FromRow, Row};
pub use schema::choice::Choice;
pub use schema::options::{AutoNowField, DecimalField, MaxLengthField};
pub use schema::raw_row::FromRawRow;
pub use sql::raw::{RawParam, RawParams};
pub use update::Assignment;
pub use value::{FieldType, SqlType, Value};

/// Used by code that `#[derive(Model)]` generates. Not public API: it may change in any
/// release.
#[doc(hidden)]
pub mod __private {
    pub use crate::dsl::expr::{Operand, RelPath, Term};
    pub use crate::dsl::field::{Field, Many, Nullable, PathKind, RelationPath, Single};
    pub use crate::dsl::partial::{Partial, partial_column, partial_raw_columns};
    pub use crate::error::{Error, Result};
    pub use crate::eval::prefetch::fetch;
    pub use crate::eval::queryset::QuerySet;
    pub use crate::eval::related::RelatedSet;
    pub use crate::eval::unfollowed_key::{FollowedByCall, KeyHint, KeyNotFollowed};
    pub use crate::schema::choice::{Choice, unknown_choice};
    pub use crate::schema::model::{
        AutoNow, ColumnMeta, ColumnOptions, DbDefault, Digits, Hooks, IndexMeta, Model, ModelMeta,
    };
    pub use crate::schema::options::{AutoNowField, assert_decimal, assert_max_length};
    pub use crate::schema::raw_row::{FromRawRow, RawColumn, assert_column_field, name_raw_column};
    pub use crate::schema::relation::{
        OnDelete, RelationKind, RelationMeta, RelationSlot, ThroughMeta,
    };
    pub use crate::schema::row::{FromRow, Row};
    pub use crate::schema::value::{FieldType, IntoValue, SqlType, Value};

    use crate::eval::related::ForeignKey;

    /// What generated code does to a forward relation field, `ForeignKey<T>` or
    /// `Option<ForeignKey<T>>`, whichever it is.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is written like a foreign key, but it is not the ORM's `ForeignKey<T>` or `Option<ForeignKey<T>>`",
        label = "a field whose type is written `ForeignKey<T>` or `OneToOne<T>` is a foreign key"
    )]
    pub trait ForwardKey: Sized {
        /// The key, knowing which relation it belongs to.
        fn __with_meta(self, meta: &'static RelationMeta) -> Self;
        /// The key without what was loaded through it.
        fn __key_only(&self) -> Self;
    }

    impl<T: Model> ForwardKey for ForeignKey<T> {
        fn __with_meta(self, meta: &'static RelationMeta) -> Self {
            ForeignKey::__with_meta(self, meta)
        }
        fn __key_only(&self) -> Self {
            ForeignKey::__key_only(self)
        }
    }

    impl<T: Model> ForwardKey for Option<ForeignKey<T>> {
        fn __with_meta(self, meta: &'static RelationMeta) -> Self {
            self.map(|key| key.__with_meta(meta))
        }
        fn __key_only(&self) -> Self {
            self.as_ref().map(ForeignKey::__key_only)
        }
    }

    /// A forward relation field pointing at `M`: what `#[orm(reverse(T::field))]` must name.
    #[diagnostic::on_unimplemented(
        message = "`reverse(...)` must name a foreign key to `{M}`; this field is `{Self}`",
        label = "expected a `ForeignKey<{M}>` or `Option<ForeignKey<{M}>>` field",
        note = "for the other side of a many-to-many field, write this field as `ManyToMany<T>` (with the same `reverse(T::field)`)"
    )]
    pub trait RelationTo<M> {}
    impl<M: Model> RelationTo<M> for ForeignKey<M> {}
    impl<M: Model> RelationTo<M> for Option<ForeignKey<M>> {}

    /// Compiles only if `field` is a foreign key to `M` (generated for `reverse(...)`).
    pub fn assert_relation_to<M: Model, F: RelationTo<M>>(_field: &F) {}

    /// A many-to-many field holding `M`: what `#[orm(reverse(T::field))]` on a
    /// `ManyToMany<T>` must name. (A `Reverse<M>` is the same type; the join table the
    /// other side reads, `T::__orm_through_field`, exists only for a many-to-many field.)
    #[diagnostic::on_unimplemented(
        message = "`reverse(...)` on a `ManyToMany<T>` field must name a many-to-many field holding `{M}`; this field is `{Self}`",
        label = "expected a `ManyToMany<{M}>` field",
        note = "for the rows whose foreign key points here, write this field as `Reverse<T>`"
    )]
    pub trait ManyToManyTo<M> {}
    impl<M: Model> ManyToManyTo<M> for crate::eval::related::RelatedSet<M> {}

    /// The join table of the other side of a many-to-many: `forward`'s (the
    /// `__orm_through_<field>` const of the model that declares it) with its columns
    /// swapped. `None` (the field is not a many-to-many) stops compilation with `message`.
    pub const fn reversed_through(
        forward: Option<crate::schema::relation::ThroughMeta>,
        message: &'static str,
    ) -> crate::schema::relation::ThroughMeta {
        match forward {
            Some(t) => crate::schema::relation::ThroughMeta {
                table: t.table,
                parent_column: t.target_column,
                target_column: t.parent_column,
            },
            None => panic!("{}", message),
        }
    }

    /// Compiles only if `field` is a many-to-many field holding `M` (generated for
    /// `reverse(...)` on a `ManyToMany<T>`).
    pub fn assert_many_to_many_to<M: Model, F: ManyToManyTo<M>>(_field: &F) {}
}
