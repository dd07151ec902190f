//! What `#[derive(Model)]` implements: the table description and the row mapping.

use crate::dsl::expr::RelPath;
use crate::error::Result;
use crate::eval::queryset::QuerySet;
use crate::schema::relation::{RelationMeta, RelationSlot};
use crate::schema::row::Row;
use crate::schema::value::{SqlType, Value};

/// The static description of a model's table.
#[derive(Debug)]
pub struct ModelMeta {
    /// The Rust type's name, used in messages ("Book matching query does not exist").
    pub name: &'static str,
    pub table: &'static str,
    /// Every column, in select order.
    pub columns: &'static [ColumnMeta],
    /// Index of the primary key in `columns`.
    pub pk: usize,
    /// Every relation field (forward, reverse and many-to-many), in declaration order.
    pub relations: &'static [&'static RelationMeta],
    /// The composite indexes and unique constraints of `#[orm(index(..))]` and
    /// `#[orm(unique_together(..))]` on the struct, in declaration order.
    pub indexes: &'static [IndexMeta],
    /// `#[orm(renamed_from = "old_table")]`: the table's name before, for migrations (a
    /// diff cannot tell a rename from a drop and a create).
    pub renamed_from: Option<&'static str>,
}

/// A composite index (`#[orm(index(a, b))]`) or unique constraint
/// (`#[orm(unique_together(a, b))]`, Django's `unique_together`/`UniqueConstraint`).
#[derive(Debug)]
pub struct IndexMeta {
    /// The columns, in the order written.
    pub columns: &'static [&'static str],
    /// A unique constraint rather than a plain index.
    pub unique: bool,
}

impl ModelMeta {
    pub fn pk_column(&self) -> &'static ColumnMeta {
        &self.columns[self.pk]
    }
    /// The relation field called `name`.
    pub fn relation(&self, name: &str) -> Option<&'static RelationMeta> {
        self.relations.iter().copied().find(|r| r.name == name)
    }

    /// Whether the database assigns the primary key (an auto-increment integer `id`).
    pub fn has_auto_pk(&self) -> bool {
        self.columns[self.pk].auto
    }
}

/// The static description of one column.
#[derive(Debug)]
pub struct ColumnMeta {
    /// The Rust field name.
    pub field: &'static str,
    /// The column name in the database.
    pub column: &'static str,
    pub sql_type: SqlType,
    pub nullable: bool,
    pub primary_key: bool,
    /// Assigned by the database on insert (auto-increment).
    pub auto: bool,
    /// What `#[orm(...)]` adds: constraints, limits checked before a write, a column
    /// default, automatic timestamps.
    pub options: ColumnOptions,
}

/// The options of one column, from its `#[orm(...)]` attributes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColumnOptions {
    /// `#[orm(unique)]`: a UNIQUE column.
    pub unique: bool,
    /// `#[orm(index)]`: an index on the column.
    pub index: bool,
    /// `#[orm(max_length = n)]`: at most `n` characters, checked before any write (a typed
    /// [`Error::InvalidValue`](crate::Error::InvalidValue)); the column is `VARCHAR(n)`.
    pub max_length: Option<u32>,
    /// `#[orm(max_digits = p, decimal_places = s)]`: a decimal with at most `p` digits, `s`
    /// of them after the point, checked before any write (never rounded); the column is
    /// `NUMERIC(p, s)`.
    pub digits: Option<Digits>,
    /// `#[orm(default = <literal>)]`: the column's `DEFAULT`, for rows inserted without
    /// the ORM. (The ORM always sends the field's value: the default reaches it through
    /// the struct's generated `Default`.)
    pub db_default: Option<DbDefault>,
    /// `#[orm(auto_now)]` / `#[orm(auto_now_add)]`.
    pub auto_now: AutoNow,
    /// `#[orm(renamed_from = "old_column")]`: the column's name before, for migrations.
    pub renamed_from: Option<&'static str>,
}

impl ColumnOptions {
    /// No options: what a field without attributes has.
    pub const NONE: ColumnOptions = ColumnOptions {
        unique: false,
        index: false,
        max_length: None,
        digits: None,
        db_default: None,
        auto_now: AutoNow::No,
        renamed_from: None,
    };
}

/// A decimal column's precision: `max_digits` in all, `decimal_places` after the point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digits {
    pub max_digits: u32,
    pub decimal_places: u32,
}

/// A literal column default, as written in `#[orm(default = …)]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DbDefault {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(&'static str),
}

/// When the ORM sets a timestamp field to the current time (Django's `auto_now`,
/// `auto_now_add`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoNow {
    /// Never: the field holds what the program puts there.
    No,
    /// `auto_now_add`: when the row is inserted (`insert`, `save` of a new instance,
    /// `create`, `bulk_create`).
    OnInsert,
    /// `auto_now`: on every save and insert of the instance. Not by `QuerySet::update`
    /// or `bulk_update`, which write only what they are given (as in Django).
    Always,
}

/// A database table mapped onto a Rust struct. Implement it with `#[derive(Model)]`.
/// Code that runs around the writes of one instance: Django's `pre_save`/`post_save`/
/// `pre_delete`/`post_delete` signals, as methods. `#[derive(Model)]` implements it with
/// every method doing nothing; with `#[orm(hooks)]` on the struct it does not, and you
/// write the `impl Hooks` yourself, overriding the methods you need.
///
/// **When they run** (as Django sends its signals):
/// - `pre_save`, then the write, then `post_save(created)`: on
///   [`insert`](crate::ModelExt::insert), [`save`](crate::ModelExt::save),
///   [`save_fields`](crate::ModelExt::save_fields), `QuerySet::create`,
///   `create_related`, and the row `get_or_create`/`update_or_create` write.
///   `pre_save` runs before `auto_now` fields are set; an error from it stops the write
///   before any query.
/// - `pre_delete`, then the delete, then `post_delete`: on
///   [`ModelExt::delete`](crate::ModelExt::delete) of the instance.
/// - **Never** on `bulk_create`, `bulk_create_with`, `bulk_update`, `QuerySet::update`
///   (as in Django), nor on `QuerySet::delete` or the rows a delete cascades to (Django
///   loads each of those rows to send its signals; this ORM deletes them in SQL).
///
/// The hooks are synchronous and get no connection (Rust has no implicit one to hand
/// them): validate and normalise the instance, record, enqueue. To write other rows with
/// a save, write them next to it in a `db.atomic` block. An error from `post_save` or
/// `post_delete` is returned after the write has been sent: inside an atomic block, the
/// block rolls it back.
///
/// ```
/// # extern crate orm_core as orm_sqlx;
/// # use orm_derive::Model;
/// use orm_sqlx::{Error, Hooks, Result};
///
/// #[derive(Model)]
/// #[orm(hooks)]
/// pub struct Tag {
///     pub id: i64,
///     pub name: String,
/// }
///
/// impl Hooks for Tag {
///     fn pre_save(&mut self) -> Result<()> {
///         self.name = self.name.trim().to_lowercase();
///         if self.name.is_empty() {
///             return Err(Error::InvalidInput("a tag needs a name".into()));
///         }
///         Ok(())
///     }
/// }
/// # fn main() {}
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` says `#[orm(hooks)]`, so it needs `impl Hooks for {Self}`",
    label = "no `impl Hooks` for this model",
    note = "write `impl Hooks for {Self} {{ … }}` overriding `pre_save`, `post_save`, `pre_delete` or `post_delete`, or remove `hooks` from `#[orm(...)]`"
)]
pub trait Hooks {
    /// Before the instance is inserted or updated. An error stops the write.
    fn pre_save(&mut self) -> Result<()> {
        Ok(())
    }
    /// After the instance was inserted (`created`) or updated.
    fn post_save(&mut self, created: bool) -> Result<()> {
        let _ = created;
        Ok(())
    }
    /// Before the instance is deleted. An error stops the delete.
    fn pre_delete(&self) -> Result<()> {
        Ok(())
    }
    /// After the instance was deleted.
    fn post_delete(&self) -> Result<()> {
        Ok(())
    }
}

pub trait Model: Hooks + Sized + Send + Sync + Unpin + 'static {
    /// The typed field handles (`BookFields`), rooted at this model.
    type Fields;
    /// The same handles seen from a queryset over `R` through a relation path; `K` is
    /// [`Single`](crate::dsl::field::Single), [`Nullable`](crate::dsl::field::Nullable) or
    /// [`Many`](crate::dsl::field::Many), which decides whether the fields read as `Option`.
    type FieldsAt<R, K: crate::dsl::field::PathKind>;
    /// The primary key's Rust type.
    type Pk: crate::schema::value::FieldType + crate::schema::row::FromRow + Clone + PartialEq;

    const META: &'static ModelMeta;

    /// The field handles that `filter`, `order_by` and friends pass to their closures.
    fn fields() -> Self::Fields;

    /// The handles reached through `path` from a queryset over `R`.
    fn fields_at<R, K: crate::dsl::field::PathKind>(path: RelPath) -> Self::FieldsAt<R, K>;

    /// The relation field at `index` in `META.relations`, type-erased, for prefetching and
    /// `select_related`.
    fn relation_mut(&mut self, index: usize) -> Option<&mut dyn RelationSlot>;

    /// The relation field at `index`, read-only: what a copy of an instance reads to
    /// share what the instance has loaded (prefetching below rows that are shared).
    /// Generated for every model with relations; `None` (the default) means the instance
    /// cannot be copied with its relations.
    fn relation(&self, index: usize) -> Option<&dyn RelationSlot> {
        let _ = index;
        None
    }

    /// A copy of the columns, without anything loaded through relations (for back
    /// references).
    fn shallow_clone(&self) -> Self;

    /// Read one instance from the columns of `row` starting at `offset`, in `META.columns` order.
    fn from_row_at<R: Row + ?Sized>(row: &R, offset: usize) -> Result<Self>;

    /// The value of every column, in `META.columns` order.
    fn column_values(&self) -> Vec<Value>;

    /// The value of one column (an index into `META.columns`), without the others.
    fn column_value(&self, column: usize) -> Option<Value> {
        self.column_values().into_iter().nth(column)
    }

    /// Read column `column` (an index into `META.columns`) from `row` at `idx` into this instance.
    fn set_column_from_row<R: Row + ?Sized>(
        &mut self,
        column: usize,
        row: &R,
        idx: usize,
    ) -> Result<()>;

    fn pk(&self) -> &Self::Pk;
    fn set_pk(&mut self, pk: Self::Pk);

    /// Set the `#[orm(auto_now)]` fields (and, when `adding`, the `auto_now_add` ones) to
    /// the current time; with `only`, just those among these columns (indexes into
    /// `META.columns`: the fields `save_fields` writes). Called before every insert and
    /// save of an instance; generated for models that have such fields.
    fn touch_auto_now(&mut self, adding: bool, only: Option<&[usize]>) {
        let _ = (adding, only);
    }

    /// All rows of this model's table, as a lazy queryset (Django's `Model.objects.all()`).
    fn objects() -> QuerySet<Self> {
        QuerySet::new()
    }
}
