//! Values bound to statements, the SQL types of columns, and the Rust field types
//! that map onto them.

use crate::error::Result;
use crate::row::{FromRow, Row};

/// The SQL type of a column, independent of the backend; each dialect spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SqlType {
    Bool,
    I16,
    I32,
    I64,
    F32,
    F64,
    Text,
    Bytes,
    Date,
    Time,
    DateTime,
    DateTimeTz,
    Uuid,
    Decimal,
    Json,
}

/// A value bound to a statement parameter. Values are always bound, never spliced into SQL.
///
/// `Null` carries the column's type so that backends with strict parameter typing
/// (PostgreSQL) bind a NULL of the right type.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    Null(SqlType),
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Text(String),
    Bytes(Vec<u8>),
    #[cfg(feature = "chrono")]
    Date(chrono::NaiveDate),
    #[cfg(feature = "chrono")]
    Time(chrono::NaiveTime),
    #[cfg(feature = "chrono")]
    DateTime(chrono::NaiveDateTime),
    #[cfg(feature = "chrono")]
    DateTimeTz(chrono::DateTime<chrono::Utc>),
    #[cfg(feature = "uuid")]
    Uuid(uuid::Uuid),
    #[cfg(feature = "decimal")]
    Decimal(rust_decimal::Decimal),
    #[cfg(feature = "json")]
    Json(serde_json::Value),
    /// A list bound as one array parameter (PostgreSQL's `= ANY($1)`), all of one type.
    List(SqlType, Vec<Value>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null(_))
    }

    /// Read column `idx` of `row` as a value of type `ty`.
    pub fn read<R: Row + ?Sized>(row: &R, idx: usize, ty: SqlType) -> Result<Value> {
        if row.is_null(idx)? {
            return Ok(Value::Null(ty));
        }
        Ok(match ty {
            SqlType::Bool => Value::Bool(row.get_bool(idx)?),
            SqlType::I16 => Value::I16(row.get_i16(idx)?),
            SqlType::I32 => Value::I32(row.get_i32(idx)?),
            SqlType::I64 => Value::I64(row.get_i64(idx)?),
            SqlType::F32 => Value::F32(row.get_f32(idx)?),
            SqlType::F64 => Value::F64(row.get_f64(idx)?),
            SqlType::Text => Value::Text(row.get_string(idx)?),
            SqlType::Bytes => Value::Bytes(row.get_bytes(idx)?),
            #[cfg(feature = "chrono")]
            SqlType::Date => Value::Date(row.get_date(idx)?),
            #[cfg(feature = "chrono")]
            SqlType::Time => Value::Time(row.get_time(idx)?),
            #[cfg(feature = "chrono")]
            SqlType::DateTime => Value::DateTime(row.get_datetime(idx)?),
            #[cfg(feature = "chrono")]
            SqlType::DateTimeTz => Value::DateTimeTz(row.get_datetime_utc(idx)?),
            #[cfg(feature = "uuid")]
            SqlType::Uuid => Value::Uuid(row.get_uuid(idx)?),
            #[cfg(feature = "decimal")]
            SqlType::Decimal => Value::Decimal(row.get_decimal(idx)?),
            #[cfg(feature = "json")]
            SqlType::Json => Value::Json(row.get_json(idx)?),
            #[allow(unreachable_patterns)]
            other => {
                return Err(crate::error::Error::Unsupported {
                    what: format!("a {other:?} value"),
                    backend: row.backend(),
                    hint: " in this build: enable the orm-sqlx feature of the same name",
                });
            }
        })
    }

    /// The SQL type of a non-NULL scalar value (`None` for a list).
    pub fn sql_type(&self) -> Option<SqlType> {
        Some(match self {
            Value::Null(t) => *t,
            Value::Bool(_) => SqlType::Bool,
            Value::I16(_) => SqlType::I16,
            Value::I32(_) => SqlType::I32,
            Value::I64(_) => SqlType::I64,
            Value::F32(_) => SqlType::F32,
            Value::F64(_) => SqlType::F64,
            Value::Text(_) => SqlType::Text,
            Value::Bytes(_) => SqlType::Bytes,
            #[cfg(feature = "uuid")]
            Value::Uuid(_) => SqlType::Uuid,
            _ => return None,
        })
    }

    /// Whether this is a decimal (or a NULL of the decimal type).
    pub fn is_decimal(&self) -> bool {
        match self {
            Value::Null(SqlType::Decimal) => true,
            #[cfg(feature = "decimal")]
            Value::Decimal(_) => true,
            _ => false,
        }
    }
}

/// A Rust type that can be a model field: it knows its SQL type, how to become a bound
/// [`Value`] and how to read itself from a row.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a model field",
    label = "unsupported field type",
    note = "supported field types: bool, i16, i32, i64, f32, f64, String, Vec<u8>, and `Option<T>` of those for NULL columns",
    note = "chrono (NaiveDate, NaiveTime, NaiveDateTime, DateTime<Utc>), uuid::Uuid, rust_decimal::Decimal and serde_json::Value need the orm-sqlx feature of the same name (`decimal` for rust_decimal)"
)]
pub trait FieldType: Sized + Send + Sync + 'static {
    /// The non-null type behind this one (`Option<T>` has `T`'s).
    type Base: FieldType;
    /// This type as a column that may be NULL (`Option<Base>`): what a field reads as
    /// through a nullable or many-valued relation, where a row may have no related row.
    type Nullable: FieldType<Base = Self::Base>;
    /// What a projection (`values(|b| b.field)`) of this field reads as: the type itself,
    /// or a foreign key's raw key.
    type Projected: FromRow;
    const SQL_TYPE: SqlType;
    const NULLABLE: bool = false;
    /// The type's name in messages.
    const NAME: &'static str;
    fn to_value(&self) -> Value;
    fn decode<R: Row + ?Sized>(row: &R, idx: usize) -> Result<Self>;
}

/// Marker for field types that the text lookups (`contains`, `icontains`, `regex`…) accept.
#[diagnostic::on_unimplemented(
    message = "text lookups (`contains`, `icontains`, `startswith`, `iexact`, `regex`…) need a text field, and this field holds `{Self}`",
    label = "not a text field",
    note = "compare numbers and other values with `eq`, `gt`, `gte`, `lt`, `lte`, `range` or `is_in`"
)]
pub trait TextField: FieldType {}
impl TextField for String {}
impl TextField for Option<String> {}

/// Marker for field types that support arithmetic (`+ - * /`) in F-expressions.
#[diagnostic::on_unimplemented(
    message = "arithmetic needs a numeric field, and this field holds `{Self}`",
    label = "not a numeric field"
)]
pub trait Numeric: FieldType {}

macro_rules! scalar {
    ($t:ty, $sql:ident, $get:ident, $name:expr, |$v:ident| $to:expr) => {
        impl FieldType for $t {
            type Base = $t;
            type Nullable = Option<$t>;
            type Projected = $t;
            const SQL_TYPE: SqlType = SqlType::$sql;
            const NAME: &'static str = $name;
            fn to_value(&self) -> Value {
                let $v = self;
                $to
            }
            fn decode<R: Row + ?Sized>(row: &R, idx: usize) -> Result<Self> {
                row.$get(idx)
            }
        }
        impl FieldType for Option<$t> {
            type Base = $t;
            type Nullable = Option<$t>;
            type Projected = Option<$t>;
            const SQL_TYPE: SqlType = SqlType::$sql;
            const NULLABLE: bool = true;
            const NAME: &'static str = concat!("Option<", $name, ">");
            fn to_value(&self) -> Value {
                match self {
                    Some(v) => v.to_value(),
                    None => Value::Null(SqlType::$sql),
                }
            }
            fn decode<R: Row + ?Sized>(row: &R, idx: usize) -> Result<Self> {
                if row.is_null(idx)? {
                    Ok(None)
                } else {
                    row.$get(idx).map(Some)
                }
            }
        }
        impl FromRow for $t {
            fn width() -> usize {
                1
            }
            fn from_row<R: Row + ?Sized>(row: &R, offset: usize) -> Result<Self> {
                <$t as FieldType>::decode(row, offset)
            }
        }
        impl FromRow for Option<$t> {
            fn width() -> usize {
                1
            }
            fn from_row<R: Row + ?Sized>(row: &R, offset: usize) -> Result<Self> {
                <Option<$t> as FieldType>::decode(row, offset)
            }
        }
    };
}

scalar!(bool, Bool, get_bool, "bool", |v| Value::Bool(*v));
scalar!(i16, I16, get_i16, "i16", |v| Value::I16(*v));
scalar!(i32, I32, get_i32, "i32", |v| Value::I32(*v));
scalar!(i64, I64, get_i64, "i64", |v| Value::I64(*v));
scalar!(f32, F32, get_f32, "f32", |v| Value::F32(*v));
scalar!(f64, F64, get_f64, "f64", |v| Value::F64(*v));
scalar!(String, Text, get_string, "String", |v| Value::Text(
    v.clone()
));
scalar!(Vec<u8>, Bytes, get_bytes, "Vec<u8>", |v| Value::Bytes(
    v.clone()
));
#[cfg(feature = "chrono")]
scalar!(chrono::NaiveDate, Date, get_date, "NaiveDate", |v| {
    Value::Date(*v)
});
#[cfg(feature = "chrono")]
scalar!(chrono::NaiveTime, Time, get_time, "NaiveTime", |v| {
    Value::Time(*v)
});
#[cfg(feature = "chrono")]
scalar!(
    chrono::NaiveDateTime,
    DateTime,
    get_datetime,
    "NaiveDateTime",
    |v| Value::DateTime(*v)
);
#[cfg(feature = "chrono")]
scalar!(
    chrono::DateTime<chrono::Utc>,
    DateTimeTz,
    get_datetime_utc,
    "DateTime<Utc>",
    |v| Value::DateTimeTz(*v)
);
#[cfg(feature = "uuid")]
scalar!(uuid::Uuid, Uuid, get_uuid, "Uuid", |v| Value::Uuid(*v));
#[cfg(feature = "decimal")]
scalar!(
    rust_decimal::Decimal,
    Decimal,
    get_decimal,
    "Decimal",
    |v| Value::Decimal(*v)
);
#[cfg(feature = "json")]
scalar!(
    serde_json::Value,
    Json,
    get_json,
    "serde_json::Value",
    |v| Value::Json(v.clone())
);

macro_rules! numeric {
    ($($t:ty),*) => { $( impl Numeric for $t {} impl Numeric for Option<$t> {} )* };
}
numeric!(i16, i32, i64, f32, f64);
#[cfg(feature = "decimal")]
numeric!(rust_decimal::Decimal);

/// Conversion of a Rust value into the bound value of a column of type `T`.
///
/// Implemented for `T` itself, for `&str` where `T` is text, and, for nullable columns,
/// for the inner type and `Option` of it.
#[diagnostic::on_unimplemented(
    message = "a `{Self}` cannot be compared with or stored in a field of type `{T}`",
    label = "expected a value of type `{T}`",
    note = "pass a `{T}` value, another field of the same type, or an expression built from one"
)]
pub trait IntoValue<T> {
    fn into_value(self) -> Value;
}

impl<T: FieldType> IntoValue<T> for T {
    fn into_value(self) -> Value {
        self.to_value()
    }
}
macro_rules! into_nullable {
    ($($t:ty),*) => { $(
        impl IntoValue<Option<$t>> for $t {
            fn into_value(self) -> Value { self.to_value() }
        }
    )* };
}
into_nullable!(bool, i16, i32, i64, f32, f64, String, Vec<u8>);
#[cfg(feature = "chrono")]
into_nullable!(
    chrono::NaiveDate,
    chrono::NaiveTime,
    chrono::NaiveDateTime,
    chrono::DateTime<chrono::Utc>
);
#[cfg(feature = "uuid")]
into_nullable!(uuid::Uuid);
#[cfg(feature = "decimal")]
into_nullable!(rust_decimal::Decimal);
#[cfg(feature = "json")]
into_nullable!(serde_json::Value);

impl IntoValue<String> for &str {
    fn into_value(self) -> Value {
        Value::Text(self.to_owned())
    }
}
impl IntoValue<String> for &String {
    fn into_value(self) -> Value {
        Value::Text(self.clone())
    }
}
impl IntoValue<Option<String>> for &str {
    fn into_value(self) -> Value {
        Value::Text(self.to_owned())
    }
}
impl IntoValue<Vec<u8>> for &[u8] {
    fn into_value(self) -> Value {
        Value::Bytes(self.to_vec())
    }
}

macro_rules! tuple_from_row {
    ($($n:ident),+) => {
        impl<$($n: FromRow),+> FromRow for ($($n,)+) {
            fn width() -> usize {
                0 $(+ $n::width())+
            }
            #[allow(unused_assignments)]
            fn from_row<Rw: Row + ?Sized>(row: &Rw, offset: usize) -> Result<Self> {
                let mut at = offset;
                Ok(($({
                    let v = $n::from_row(row, at)?;
                    at += $n::width();
                    v
                },)+))
            }
        }
    };
}
tuple_from_row!(A);
tuple_from_row!(A, B);
tuple_from_row!(A, B, C);
tuple_from_row!(A, B, C, D);
tuple_from_row!(A, B, C, D, E);
tuple_from_row!(A, B, C, D, E, F);
tuple_from_row!(A, B, C, D, E, F, G);
tuple_from_row!(A, B, C, D, E, F, G, H);
