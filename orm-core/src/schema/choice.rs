//! Fieldless Rust enums as fields (`#[derive(Choices)]`, the Rust answer to Django's
//! `choices`): the derive implements [`FieldType`] and [`FromRow`] for the enum, and
//! [`Choice`]; the impls for `Option<Enum>` (a NULL column) are here, for every `Choice`.

use crate::error::{ColumnAt, Error, Result};
use crate::schema::row::{FromRow, Row};
use crate::schema::value::{FieldType, Value};

/// A fieldless enum stored as text or as an integer. Implemented by
/// `#[derive(Choices)]`; see its documentation.
pub trait Choice:
    FieldType<Base = Self, Nullable = Option<Self>, Projected = Self> + FromRow + Copy
{
    /// Every variant, with the value stored for it, in declaration order.
    const CHOICES: &'static [(Self, &'static str)];
}

impl<C: Choice> FieldType for Option<C> {
    type Base = C;
    type Nullable = Option<C>;
    type Projected = Option<C>;
    const SQL_TYPE: crate::schema::value::SqlType = C::SQL_TYPE;
    const NULLABLE: bool = true;
    const NAME: &'static str = C::NAME;
    fn to_value(&self) -> Value {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null(C::SQL_TYPE),
        }
    }
    fn decode<R: Row + ?Sized>(row: &R, idx: usize) -> Result<Self> {
        if row.is_null(idx)? {
            Ok(None)
        } else {
            C::decode(row, idx).map(Some)
        }
    }
}

impl<C: Choice> FromRow for Option<C> {
    fn width() -> usize {
        1
    }
    fn from_row<R: Row + ?Sized>(row: &R, offset: usize) -> Result<Self> {
        <Option<C> as FieldType>::decode(row, offset)
    }
}

/// Used by generated code: the error for a stored value that is no variant.
#[doc(hidden)]
#[cold]
pub fn unknown_choice(name: &'static str, got: &dyn std::fmt::Display, known: &[&str]) -> Error {
    Error::Decode {
        at: ColumnAt::Index(0),
        expected: name,
        message: format!(
            "{got} is not one of its values ({}); the column holds a value the enum does not \
             name",
            known.join(", ")
        ),
    }
}
