//! Reading the rows of raw SQL: models and partial models match columns by name (so
//! `SELECT *` and reordered columns work), field types and tuples read them by position.

use crate::error::{ColumnAt, Error, Result};
use crate::schema::model::Model;
use crate::schema::row::{FromRow, Row};
use crate::schema::value::FieldType;

/// One column a type reads by name: the name the result must have, and the field it fills
/// (for the error when it is missing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawColumn {
    /// The struct the field belongs to (`Book`, `BookCard`).
    pub owner: &'static str,
    /// The field's name.
    pub field: &'static str,
    /// The column name the result must have.
    pub column: &'static str,
}

/// What the rows of raw SQL can read as: a model (`Book::objects().raw(…)`), a
/// `#[derive(Partial)]` or `#[derive(FromRow)]` struct (columns matched by name), a field
/// type (`i64`, `Option<String>`…) or a tuple of field types (columns read by position).
///
/// ```
/// use orm_core::schema::raw_row::FromRawRow;
/// assert!(<(String, i64)>::raw_columns().is_none()); // by position
/// ```
#[diagnostic::on_unimplemented(
    message = "the rows of raw SQL cannot be read as `{Self}`",
    label = "expected a model, a `#[derive(Partial)]`/`#[derive(FromRow)]` struct, a field type or a tuple of field types",
    note = "models and derived structs match columns by name; tuples read them by position and hold field types only (`RawQuery::<(String, i64)>::new(…)`); read a model with `Model::objects().raw(…)`"
)]
pub trait FromRawRow: FromRow {
    /// The columns [`FromRow::from_row`] reads, in its order, by name; `None` reads them
    /// by position, and then the SELECT must return exactly [`FromRow::width`] columns.
    fn raw_columns() -> Option<Vec<RawColumn>>;
}

impl<M: Model> FromRawRow for M {
    fn raw_columns() -> Option<Vec<RawColumn>> {
        Some(
            M::META
                .columns
                .iter()
                .map(|c| RawColumn {
                    owner: M::META.name,
                    field: c.field,
                    column: c.column,
                })
                .collect(),
        )
    }
}

macro_rules! positional {
    ($($t:ty),* $(,)?) => {$(
        impl FromRawRow for $t {
            fn raw_columns() -> Option<Vec<RawColumn>> {
                None
            }
        }
        impl FromRawRow for Option<$t> {
            fn raw_columns() -> Option<Vec<RawColumn>> {
                None
            }
        }
    )*};
}
positional!(bool, i16, i32, i64, f32, f64, String, Vec<u8>);
#[cfg(feature = "chrono")]
positional!(
    chrono::NaiveDate,
    chrono::NaiveTime,
    chrono::NaiveDateTime,
    chrono::DateTime<chrono::Utc>
);
#[cfg(feature = "uuid")]
positional!(uuid::Uuid);
#[cfg(feature = "decimal")]
positional!(rust_decimal::Decimal);
#[cfg(feature = "json")]
positional!(serde_json::Value);

macro_rules! positional_tuple {
    ($($t:ident),+) => {
        impl<$($t: FieldType + FromRow),+> FromRawRow for ($($t,)+) {
            fn raw_columns() -> Option<Vec<RawColumn>> {
                None
            }
        }
    };
}
positional_tuple!(A);
positional_tuple!(A, B);
positional_tuple!(A, B, C);
positional_tuple!(A, B, C, D);
positional_tuple!(A, B, C, D, E);
positional_tuple!(A, B, C, D, E, F);
positional_tuple!(A, B, C, D, E, F, G);
positional_tuple!(A, B, C, D, E, F, G, H);

/// A field of a `#[derive(FromRow)]` struct: one column, so a field type.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "a field of a `#[derive(FromRow)]` struct reads one column, and `{Self}` is not a field type",
    label = "expected a field type: i64, String, Option<f64>…",
    note = "read a model with `Model::objects().raw(…)`, or declare the columns you need here one field each"
)]
pub trait ColumnField {}
impl<T: FieldType> ColumnField for T {}

/// Compiles only if `T` reads one column (generated for each `#[derive(FromRow)]` field).
#[doc(hidden)]
pub fn assert_column_field<T: ColumnField>() {}

/// Name the field behind column `index` of a derived struct in a decode error
/// (generated code calls it, so a message says `BookCard.title (column `title`)`).
#[doc(hidden)]
pub fn name_raw_column(e: Error, columns: Option<Vec<RawColumn>>, index: usize) -> Error {
    match columns.as_ref().and_then(|c| c.get(index)) {
        Some(c) => e.at_field(c.owner, c.field, c.column),
        None => e,
    }
}

/// Where each of a type's columns is in a result: `wanted[i]` is at `positions[i]`.
/// Built once per statement, from its first row.
#[derive(Debug)]
pub struct ColumnMap {
    positions: Vec<usize>,
}

impl ColumnMap {
    /// Find each wanted column among `names` (the result's): an exact match, else the one
    /// match ignoring ASCII case (PostgreSQL folds unquoted aliases to lower case). A
    /// missing column is [`Error::MissingColumn`] naming the field; a name the result has
    /// twice is refused rather than guessed.
    pub fn resolve(wanted: &[RawColumn], names: &[&str]) -> Result<ColumnMap> {
        let mut positions = Vec::with_capacity(wanted.len());
        for w in wanted {
            let exact: Vec<usize> = (0..names.len()).filter(|&i| names[i] == w.column).collect();
            let found = if exact.is_empty() {
                (0..names.len())
                    .filter(|&i| names[i].eq_ignore_ascii_case(w.column))
                    .collect()
            } else {
                exact
            };
            match found.as_slice() {
                // Each column is read (and its type checked) by one field.
                [one] if positions.contains(one) => {
                    return Err(Error::InvalidInput(format!(
                        "{}.{} reads the column `{}`, which another field reads already: \
                         select it twice under two names (`… AS other_name`)",
                        w.owner, w.field, w.column
                    )));
                }
                [one] => positions.push(*one),
                [] => {
                    return Err(Error::MissingColumn {
                        at: ColumnAt::Field {
                            model: w.owner,
                            field: w.field,
                            column: w.column,
                        },
                        found: names.join(", "),
                    });
                }
                _ => {
                    return Err(Error::InvalidInput(format!(
                        "the raw SQL's result has the column `{}` {} times, so {}.{} cannot be \
                         read from it unambiguously: alias the others (`… AS other_name`) or \
                         select only one",
                        w.column,
                        found.len(),
                        w.owner,
                        w.field
                    )));
                }
            }
        }
        Ok(ColumnMap { positions })
    }

    /// `row` seen through this map: column `i` is the result's `positions[i]`.
    pub fn view<'r>(&'r self, row: &'r dyn Row) -> ByName<'r> {
        ByName { row, map: self }
    }
}

/// A result row read through a [`ColumnMap`], so that a type reading its columns in its
/// own order finds them wherever the SELECT put them.
pub struct ByName<'r> {
    row: &'r dyn Row,
    map: &'r ColumnMap,
}

impl ByName<'_> {
    fn at(&self, idx: usize) -> Result<usize> {
        self.map
            .positions
            .get(idx)
            .copied()
            .ok_or_else(|| Error::Decode {
                at: ColumnAt::Index(idx),
                expected: "a column",
                message: format!(
                    "the row is read by name and has {} columns",
                    self.map.positions.len()
                ),
            })
    }
}

macro_rules! forward {
    ($($(#[$m:meta])* $name:ident -> $t:ty;)*) => {$(
        $(#[$m])*
        fn $name(&self, idx: usize) -> Result<$t> {
            self.row.$name(self.at(idx)?)
        }
    )*};
}

impl Row for ByName<'_> {
    fn backend(&self) -> &'static str {
        self.row.backend()
    }
    fn column_names(&self) -> Result<Vec<&str>> {
        let names = self.row.column_names()?;
        Ok(self
            .map
            .positions
            .iter()
            .map(|&i| names.get(i).copied().unwrap_or_default())
            .collect())
    }
    forward! {
        is_null -> bool;
        get_bool -> bool;
        get_i16 -> i16;
        get_i32 -> i32;
        get_i64 -> i64;
        get_f32 -> f32;
        get_f64 -> f64;
        get_string -> String;
        get_bytes -> Vec<u8>;
        #[cfg(feature = "chrono")]
        get_date -> chrono::NaiveDate;
        #[cfg(feature = "chrono")]
        get_time -> chrono::NaiveTime;
        #[cfg(feature = "chrono")]
        get_datetime -> chrono::NaiveDateTime;
        #[cfg(feature = "chrono")]
        get_datetime_utc -> chrono::DateTime<chrono::Utc>;
        #[cfg(feature = "uuid")]
        get_uuid -> uuid::Uuid;
        #[cfg(feature = "decimal")]
        get_decimal -> rust_decimal::Decimal;
        #[cfg(feature = "json")]
        get_json -> serde_json::Value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(column: &'static str) -> RawColumn {
        RawColumn {
            owner: "Book",
            field: column,
            column,
        }
    }

    #[test]
    fn columns_are_found_by_name_in_any_order() {
        let map = ColumnMap::resolve(&[col("id"), col("title")], &["title", "x", "id"]).unwrap();
        assert_eq!(map.positions, vec![2, 0]);
        // PostgreSQL folds unquoted aliases to lower case.
        let map = ColumnMap::resolve(&[col("authorName")], &["authorname"]).unwrap();
        assert_eq!(map.positions, vec![0]);
    }

    #[test]
    fn a_missing_or_repeated_column_is_refused() {
        let e = ColumnMap::resolve(&[col("id"), col("pages")], &["id", "title"]).unwrap_err();
        assert!(matches!(e, Error::MissingColumn { .. }), "{e:?}");
        assert!(e.to_string().contains("Book.pages (column `pages`)"), "{e}");
        let e = ColumnMap::resolve(&[col("id")], &["id", "name", "id"]).unwrap_err();
        assert!(e.to_string().contains("2 times"), "{e}");
    }
}
