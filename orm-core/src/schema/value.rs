//! Values bound to statements, the SQL types of columns, and the Rust field types
//! that map onto them.

use crate::error::Result;
use crate::schema::row::{FromRow, Row};

/// The SQL type of a column, independent of the backend; each dialect spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "migrate", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "migrate", serde(rename_all = "snake_case"))]
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

    /// Whether this is JSON (or a NULL of the JSON type).
    pub fn is_json(&self) -> bool {
        match self {
            Value::Null(SqlType::Json) => true,
            #[cfg(feature = "json")]
            Value::Json(_) => true,
            _ => false,
        }
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

    /// Whether every supported backend stores and compares this value faithfully (see
    /// [`invalid_reason`](Value::invalid_reason) for what is not): one cheap match per
    /// value, text scanned for NUL, what the compiler runs on every value it binds.
    #[inline(always)]
    pub fn is_faithful(&self) -> bool {
        match self {
            Value::F32(f) => !f.is_nan(),
            Value::F64(f) => !f.is_nan(),
            Value::Text(s) => !has_nul(s.as_bytes()),
            #[cfg(feature = "json")]
            Value::Json(j) => !json_has_nul(j),
            #[cfg(feature = "chrono")]
            Value::Date(d) => chrono_reason(Some(*d), None).is_none(),
            #[cfg(feature = "chrono")]
            Value::Time(t) => chrono_reason(None, Some(*t)).is_none(),
            #[cfg(feature = "chrono")]
            Value::DateTime(dt) => chrono_reason(Some(dt.date()), Some(dt.time())).is_none(),
            #[cfg(feature = "chrono")]
            Value::DateTimeTz(dt) => {
                let utc = dt.naive_utc();
                chrono_reason(Some(utc.date()), Some(utc.time())).is_none()
            }
            Value::List(_, items) => all_faithful(items),
            _ => true,
        }
    }

    /// Why no supported backend can store or compare this value faithfully, if so; the
    /// compiler refuses such a value (`Error::InvalidValue`) before any query, on every
    /// backend alike:
    ///
    /// - NaN (`f32`/`f64`): SQLite stores it as NULL. (±infinity is refused only where a
    ///   backend lacks it, MySQL: see [`ValueSupport`].)
    /// - a NUL character in text, a JSON string or a JSON key: PostgreSQL refuses it, and
    ///   SQLite's LIKE and GLOB stop at it (so lookups would match the wrong rows).
    /// - a date or datetime before year 1 or after 9999: SQLite compares and sorts them as
    ///   text, which only works for four-digit years (and PostgreSQL has no year 0).
    /// - a time or datetime with nanoseconds, or on a leap second: PostgreSQL keeps
    ///   microseconds, and would silently drop the rest.
    ///
    /// [`is_faithful`](Value::is_faithful) is the check on the hot path; this says why.
    #[cold]
    pub fn invalid_reason(&self) -> Option<String> {
        match self {
            Value::F32(f) if f.is_nan() => Some(nan_reason()),
            Value::F64(f) if f.is_nan() => Some(nan_reason()),
            Value::Text(s) if s.as_bytes().contains(&0) => Some(nul_reason("text")),
            #[cfg(feature = "json")]
            Value::Json(j) if json_has_nul(j) => Some(nul_reason("a JSON string")),
            #[cfg(feature = "chrono")]
            Value::Date(d) => chrono_reason(Some(*d), None),
            #[cfg(feature = "chrono")]
            Value::Time(t) => chrono_reason(None, Some(*t)),
            #[cfg(feature = "chrono")]
            Value::DateTime(dt) => chrono_reason(Some(dt.date()), Some(dt.time())),
            #[cfg(feature = "chrono")]
            Value::DateTimeTz(dt) => {
                let utc = dt.naive_utc();
                chrono_reason(Some(utc.date()), Some(utc.time()))
            }
            Value::List(_, items) => items.iter().find_map(Value::invalid_reason),
            _ => None,
        }
    }
}

/// What a backend cannot store beyond what no backend can (see
/// [`Value::invalid_reason`]). Each dialect says what it lacks
/// (`Dialect::value_support`), and the compiler refuses such a value as it refuses NaN:
/// with `Error::InvalidValue` naming the field, before any query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueSupport {
    /// ±infinity in a float column: SQLite and PostgreSQL store it, MySQL's `FLOAT` and
    /// `DOUBLE` have no infinity.
    pub infinity: bool,
}

impl ValueSupport {
    /// A backend that stores every value [`Value::is_faithful`] accepts.
    pub const ALL: ValueSupport = ValueSupport { infinity: true };
}

impl Value {
    /// Whether this value is faithful ([`Value::is_faithful`]) and a backend with
    /// `support` stores it too: one more cheap match, only where the backend lacks
    /// something.
    #[inline(always)]
    pub fn is_faithful_on(&self, support: ValueSupport) -> bool {
        self.is_faithful() && (support.infinity || !self.has_infinity())
    }

    /// Why this value cannot be stored faithfully on a backend with `support`, if so:
    /// [`Value::invalid_reason`], then what that backend lacks (±infinity on MySQL).
    #[cold]
    pub fn invalid_reason_on(&self, support: ValueSupport, backend: &str) -> Option<String> {
        if let Some(reason) = self.invalid_reason() {
            return Some(reason);
        }
        if !support.infinity && self.has_infinity() {
            return Some(format!(
                "±infinity cannot be stored by {backend}, whose FLOAT and DOUBLE columns have \
                 no infinity; use an Option field and None, or a finite bound such as f64::MAX"
            ));
        }
        None
    }

    /// Whether this is ±infinity, or a list holding it.
    #[inline]
    fn has_infinity(&self) -> bool {
        match self {
            Value::F32(f) => f.is_infinite(),
            Value::F64(f) => f.is_infinite(),
            Value::List(_, items) => items.iter().any(Value::has_infinity),
            _ => false,
        }
    }
}

fn all_faithful(items: &[Value]) -> bool {
    items.iter().all(Value::is_faithful)
}

/// Whether `b` holds a zero byte. Short texts, the common case, are read a word or two at
/// a time (`memchr` reads them a byte at a time, most of the check's cost); longer ones go
/// to `memchr`.
#[inline]
fn has_nul(b: &[u8]) -> bool {
    // Exact: some byte of `w` is zero if and only if this is non-zero.
    let zero64 = |w: &[u8; 8]| {
        let w = u64::from_ne_bytes(*w);
        w.wrapping_sub(0x0101_0101_0101_0101) & !w & 0x8080_8080_8080_8080 != 0
    };
    let zero32 = |w: &[u8; 4]| {
        let w = u32::from_ne_bytes(*w);
        w.wrapping_sub(0x0101_0101) & !w & 0x8080_8080 != 0
    };
    // Two reads that overlap cover every byte of a text up to twice their width.
    match b.len() {
        0 => false,
        1..=3 => b[0] == 0 || b[b.len() / 2] == 0 || b[b.len() - 1] == 0,
        4..=7 => match (b.first_chunk(), b.last_chunk()) {
            (Some(first), Some(last)) => zero32(first) || zero32(last),
            _ => b.contains(&0),
        },
        8..=16 => match (b.first_chunk(), b.last_chunk()) {
            (Some(first), Some(last)) => zero64(first) || zero64(last),
            _ => b.contains(&0),
        },
        _ => b.contains(&0),
    }
}

#[cold]
fn nan_reason() -> String {
    "NaN cannot be stored faithfully (SQLite stores it as NULL); \
     use an Option field and None for a missing number"
        .into()
}

#[cold]
fn nul_reason(what: &str) -> String {
    format!(
        "{what} contains a NUL character (\\0), which PostgreSQL cannot store \
         and SQLite's LIKE and GLOB stop at"
    )
}

#[cfg(feature = "json")]
fn json_has_nul(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.as_bytes().contains(&0),
        serde_json::Value::Array(items) => items.iter().any(json_has_nul),
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.as_bytes().contains(&0) || json_has_nul(v)),
        _ => false,
    }
}

/// Why a date and/or time cannot be stored faithfully: a year outside 1–9999, nanoseconds,
/// a leap second.
#[cfg(feature = "chrono")]
#[inline]
fn chrono_reason(
    date: Option<chrono::NaiveDate>,
    time: Option<chrono::NaiveTime>,
) -> Option<String> {
    use chrono::{Datelike, Timelike};
    if let Some(d) = date
        && !(1..=9999).contains(&d.year())
    {
        return Some(format!(
            "the year {} is outside 1–9999: SQLite compares and sorts dates as text, \
             which only orders four-digit years, and PostgreSQL has no year 0",
            d.year()
        ));
    }
    if let Some(t) = time {
        let nanos = t.nanosecond();
        if nanos >= 1_000_000_000 {
            return Some(
                "a leap second (second 60) cannot be stored faithfully: PostgreSQL has none".into(),
            );
        }
        if nanos % 1_000 != 0 {
            return Some(format!(
                "{t} has nanoseconds, and PostgreSQL keeps microseconds (it would drop the \
                 rest): truncate it first, e.g. `.trunc_subsecs(6)` (chrono::SubsecRound)"
            ));
        }
    }
    None
}

/// Exact decimals: what a `rust_decimal::Decimal` can hold without rounding, for the
/// backends' readers and SQLite's arithmetic (`rust_decimal`'s own parser rounds a value
/// with more than 28 significant digits, silently).
#[cfg(feature = "decimal")]
pub mod exact_decimal {
    use rust_decimal::Decimal;

    /// The largest mantissa a `Decimal` holds (96 bits).
    pub const MAX_MANTISSA: u128 = (1 << 96) - 1;
    /// The most digits after the point a `Decimal` holds.
    pub const MAX_SCALE: u32 = 28;

    /// `mantissa × 10^-scale` as a `Decimal` with that scale, or with fewer trailing zeros
    /// where it does not fit otherwise; `None` if it cannot be held exactly.
    pub fn from_parts(mut mantissa: i128, mut scale: u32) -> Option<Decimal> {
        while (scale > MAX_SCALE || mantissa.unsigned_abs() > MAX_MANTISSA)
            && scale > 0
            && mantissa % 10 == 0
        {
            mantissa /= 10;
            scale -= 1;
        }
        if scale > MAX_SCALE || mantissa.unsigned_abs() > MAX_MANTISSA {
            return None;
        }
        Decimal::try_from_i128_with_scale(mantissa, scale).ok()
    }

    /// PostgreSQL's binary NUMERIC (what it sends for a `NUMERIC` column) as a `Decimal`,
    /// with the value's display scale, or why no `Decimal` holds it exactly: sqlx's own
    /// decoder rounds away the digits past the 28th after the point, and past 96 bits.
    pub fn from_pg_binary(buf: &[u8]) -> Result<Decimal, String> {
        let word = |i: usize| {
            buf.get(2 * i..2 * i + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .ok_or_else(|| "a truncated NUMERIC".to_owned())
        };
        let ndigits = usize::from(word(0)?);
        let weight = i64::from(word(1)? as i16);
        let negative = match word(2)? {
            0x0000 => false,
            0x4000 => true,
            0xC000 => return Err("NaN is not a number a rust_decimal::Decimal holds".into()),
            0xD000 | 0xF000 => {
                return Err("infinity is not a number a rust_decimal::Decimal holds".into());
            }
            other => return Err(format!("a NUMERIC with the unknown sign {other:#x}")),
        };
        let dscale = u32::from(word(3)?);
        let too_big = || {
            "the NUMERIC has more digits than a rust_decimal::Decimal holds \
             (28 after the point, 96 bits in all)"
                .to_owned()
        };
        // value = Σ digit[i] × 10000^(weight - i)
        let mut mantissa: i128 = 0;
        for i in 0..ndigits {
            let d = word(4 + i)?;
            if d >= 10_000 {
                return Err(format!("a NUMERIC digit out of range: {d}"));
            }
            mantissa = mantissa
                .checked_mul(10_000)
                .and_then(|m| m.checked_add(i128::from(d)))
                .ok_or_else(too_big)?;
        }
        let last = weight - ndigits as i64 + 1;
        let scale = if last >= 0 {
            let shift = u32::try_from(4 * last).map_err(|_| too_big())?;
            mantissa = 10i128
                .checked_pow(shift)
                .and_then(|p| mantissa.checked_mul(p))
                .ok_or_else(too_big)?;
            0
        } else {
            u32::try_from(-4 * last).map_err(|_| too_big())?
        };
        let mantissa = if negative { -mantissa } else { mantissa };
        let d = from_parts(mantissa, scale).ok_or_else(too_big)?;
        Ok(with_scale(d, dscale))
    }

    /// `d` written with `scale` digits after the point where that only adds or removes
    /// zeros and fits (`1.5` at scale 3 is `1.500`); otherwise `d` itself.
    pub fn with_scale(d: Decimal, scale: u32) -> Decimal {
        let mut m = d.mantissa();
        let mut s = d.scale();
        while s > scale && m % 10 == 0 {
            m /= 10;
            s -= 1;
        }
        while s < scale.min(MAX_SCALE) {
            match m.checked_mul(10) {
                Some(next) if next.unsigned_abs() <= MAX_MANTISSA => {
                    m = next;
                    s += 1;
                }
                _ => break,
            }
        }
        from_parts(m, s).unwrap_or(d)
    }

    /// Parse decimal text (`-12.340`, `1e-5`, `.5`) without rounding: text with digits a
    /// `Decimal` cannot hold is an error, trailing zeros past them are not.
    pub fn parse(text: &str) -> Result<Decimal, String> {
        let bad = || format!("{text:?} is not a decimal number");
        let t = text.trim();
        let (negative, t) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (number, exponent) = match t.find(['e', 'E']) {
            Some(i) => (&t[..i], t[i + 1..].parse::<i64>().map_err(|_| bad())?),
            None => (t, 0),
        };
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        if (int.is_empty() && frac.is_empty())
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let too_many = || {
            format!(
                "{text:?} has more digits than a rust_decimal::Decimal holds \
                 (28 after the point, 96 bits in all)"
            )
        };
        // Leading zeros of the integer part do not count; trailing zeros of the fraction
        // are kept (they are the scale: 12.340) where they fit, and dropped where not.
        let int = int.trim_start_matches('0');
        let digits = |frac: &str| {
            let mut m: i128 = 0;
            for b in int.bytes().chain(frac.bytes()) {
                m = m.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
            }
            Some(m)
        };
        let kept = frac
            .len()
            .min(MAX_SCALE as usize)
            .max(frac.trim_end_matches('0').len());
        let (mantissa, frac) = match digits(&frac[..kept]) {
            Some(m) => (m, &frac[..kept]),
            None => {
                let frac = frac.trim_end_matches('0');
                (digits(frac).ok_or_else(too_many)?, frac)
            }
        };
        let mut mantissa = mantissa;
        let mut scale = frac.len() as i64 - exponent;
        if scale < 0 {
            let shift = u32::try_from(-scale).map_err(|_| too_many())?;
            mantissa = 10i128
                .checked_pow(shift)
                .and_then(|p| mantissa.checked_mul(p))
                .ok_or_else(too_many)?;
            scale = 0;
        }
        let scale = u32::try_from(scale).map_err(|_| too_many())?;
        let d =
            from_parts(if negative { -mantissa } else { mantissa }, scale).ok_or_else(too_many)?;
        Ok(d)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// NUMERIC's binary form: digit count, weight, sign, display scale, base-10000 digits.
        fn pg(weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
            let mut out = Vec::new();
            for w in [digits.len() as u16, weight as u16, sign, dscale]
                .into_iter()
                .chain(digits.iter().copied())
            {
                out.extend_from_slice(&w.to_be_bytes());
            }
            out
        }

        #[test]
        fn postgresql_numerics_are_read_exactly_or_refused() {
            let read = |b: Vec<u8>| from_pg_binary(&b).map(|d| d.to_string());
            assert_eq!(read(pg(0, 0, 2, &[1, 5000])).unwrap(), "1.50");
            assert_eq!(read(pg(0, 0x4000, 0, &[12])).unwrap(), "-12");
            assert_eq!(read(pg(1, 0, 0, &[1])).unwrap(), "10000");
            assert_eq!(read(pg(0, 0, 0, &[])).unwrap(), "0");
            assert_eq!(read(pg(-1, 0, 4, &[5])).unwrap(), "0.0005");
            // 10^28 × 7.9…: Decimal::MAX.
            assert_eq!(
                read(pg(7, 0, 0, &[7, 9228, 1625, 1426, 4337, 5935, 4395, 335])).unwrap(),
                "79228162514264337593543950335"
            );
            assert!(read(pg(7, 0, 0, &[7, 9228, 1625, 1426, 4337, 5935, 4395, 336])).is_err());
            // 29 digits after the point (sqlx rounds this to 0.3333…3333 silently).
            assert!(
                read(pg(
                    -1,
                    0,
                    29,
                    &[3333, 3333, 3333, 3333, 3333, 3333, 3333, 3000]
                ))
                .is_err()
            );
            // Zeros past the 28th digit are only the display scale.
            assert_eq!(
                read(pg(0, 0, 40, &[1, 5000])).unwrap(),
                "1.5000000000000000000000000000"
            );
            assert!(read(pg(0, 0xC000, 0, &[])).is_err());
            assert!(read(pg(0, 0xD000, 0, &[])).is_err());
            assert!(from_pg_binary(&[0, 1]).is_err());
        }

        #[test]
        fn parsing_keeps_every_digit_or_refuses() {
            let p = |s: &str| parse(s).map(|d| d.to_string());
            assert_eq!(p("12.340").unwrap(), "12.340");
            assert_eq!(p("-0.5").unwrap(), "-0.5");
            assert_eq!(p(".5").unwrap(), "0.5");
            assert_eq!(p("1e3").unwrap(), "1000");
            assert_eq!(p("1.5E-3").unwrap(), "0.0015");
            assert_eq!(
                p("79228162514264337593543950335").unwrap(),
                "79228162514264337593543950335"
            );
            assert!(p("79228162514264337593543950336").is_err());
            assert_eq!(
                p("0.0000000000000000000000000001").unwrap(),
                "0.0000000000000000000000000001"
            );
            // rust_decimal's own parser rounds these two.
            assert!(p("0.00000000000000000000000000001").is_err());
            assert!(p("1234567890123456789012.345678901").is_err());
            assert_eq!(
                p("1.500000000000000000000000000000000").unwrap(),
                "1.5000000000000000000000000000"
            );
            for bad in [
                "",
                "-",
                ".",
                "1.2.3",
                "abc",
                "1e",
                "NaN",
                "Infinity",
                "1_000",
                "1e99999999999999999999",
            ] {
                assert!(p(bad).is_err(), "{bad}");
            }
        }
    }
}

/// A Rust type that can be a model field: it knows its SQL type, how to become a bound
/// [`Value`] and how to read itself from a row.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a model field",
    label = "unsupported field type",
    note = "supported field types: bool, i16, i32, i64, f32, f64, String, Vec<u8>, and `Option<T>` of those for NULL columns",
    note = "chrono (NaiveDate, NaiveTime, NaiveDateTime, DateTime<Utc>), uuid::Uuid, rust_decimal::Decimal and serde_json::Value need the orm-sqlx feature of the same name (`decimal` for rust_decimal)",
    note = "a fieldless enum is a field with `#[derive(Choices, Clone, Copy)]` on the enum"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_byte_is_found_wherever_it_is() {
        for len in 0..40 {
            assert!(!has_nul(&vec![b'a'; len]), "{len}");
            for at in 0..len {
                let mut b = vec![0x80; len];
                b[at] = 0;
                assert!(has_nul(&b), "{len} {at}");
            }
        }
        assert!(!has_nul("ÿ\u{100}日本".as_bytes()));
    }

    #[test]
    fn values_no_backend_holds_faithfully_have_a_reason() {
        for v in [
            Value::F64(f64::NAN),
            Value::Text("a\0".into()),
            Value::F32(f32::NAN),
        ] {
            assert!(!v.is_faithful() && v.invalid_reason().is_some(), "{v:?}");
        }
        assert!(Value::Text("plain".into()).is_faithful());
        assert!(Value::F64(f64::NAN).invalid_reason().is_some());
        assert!(Value::F32(f32::NAN).invalid_reason().is_some());
        assert!(Value::F64(f64::INFINITY).invalid_reason().is_none());
        assert!(Value::Text("a\0".into()).invalid_reason().is_some());
        assert!(Value::Text(String::new()).invalid_reason().is_none());
        assert!(Value::Bytes(vec![0]).invalid_reason().is_none());
        let list = Value::List(
            SqlType::Text,
            vec![Value::Text("a".into()), Value::Text("\0".into())],
        );
        assert!(list.invalid_reason().is_some());
        assert!(Value::Null(SqlType::F64).invalid_reason().is_none());
    }

    #[test]
    fn infinity_is_refused_only_where_the_backend_lacks_it() {
        let none = ValueSupport { infinity: false };
        for v in [
            Value::F64(f64::INFINITY),
            Value::F32(f32::NEG_INFINITY),
            Value::List(
                SqlType::F64,
                vec![Value::F64(1.0), Value::F64(-f64::INFINITY)],
            ),
        ] {
            assert!(v.is_faithful_on(ValueSupport::ALL), "{v:?}");
            assert!(
                v.invalid_reason_on(ValueSupport::ALL, "X").is_none(),
                "{v:?}"
            );
            assert!(!v.is_faithful_on(none), "{v:?}");
            let reason = v.invalid_reason_on(none, "X").unwrap();
            assert!(
                reason.contains("infinity") && reason.contains("X"),
                "{reason}"
            );
        }
        for v in [
            Value::F64(f64::MAX),
            Value::F32(f32::MIN),
            Value::Null(SqlType::F64),
        ] {
            assert!(v.is_faithful_on(none), "{v:?}");
        }
        // NaN keeps its own reason.
        let nan = Value::F64(f64::NAN).invalid_reason_on(none, "X").unwrap();
        assert!(nan.contains("NaN"), "{nan}");
    }

    #[cfg(feature = "json")]
    #[test]
    fn a_nul_anywhere_in_json_text_is_found() {
        let j = |v: serde_json::Value| Value::Json(v).invalid_reason().is_some();
        assert!(j(serde_json::json!([1, {"a": [null, "x\u{0}"]}])));
        assert!(j(serde_json::json!({"a\u{0}": 1})));
        assert!(!j(serde_json::json!({"a": [1.5, "\\u0000", true]})));
    }

    #[cfg(feature = "chrono")]
    #[test]
    fn dates_and_times_out_of_range_or_too_fine_have_a_reason() {
        use chrono::{NaiveDate, NaiveTime};
        let d = |y| Value::Date(NaiveDate::from_ymd_opt(y, 1, 1).unwrap()).invalid_reason();
        assert!(d(0).is_some() && d(10_000).is_some() && d(-5).is_some());
        assert!(d(1).is_none() && d(9999).is_none());
        let t =
            |n| Value::Time(NaiveTime::from_hms_nano_opt(0, 0, 59, n).unwrap()).invalid_reason();
        assert!(t(1).is_some() && t(1_000_000_000).is_some());
        assert!(t(999_999_000).is_none());
    }
}
