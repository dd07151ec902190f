//! What the column options of `#[derive(Model)]` need at run time: the field types each
//! option accepts (checked by the type checker where the option is written), the current
//! time for `auto_now`, and the limits checked before a value is written.

use crate::schema::model::ColumnMeta;
use crate::schema::value::{FieldType, Value};

/// Field types that `#[orm(max_length = n)]` applies to: text.
#[diagnostic::on_unimplemented(
    message = "`max_length` applies to text fields, and this field is `{Self}`",
    label = "not a text field",
    note = "`max_length` bounds a `String` (or `Option<String>`) column; remove it here, or check the value's range in your own code"
)]
pub trait MaxLengthField: FieldType {}
impl MaxLengthField for String {}
impl MaxLengthField for Option<String> {}

/// Field types that `#[orm(max_digits = p, decimal_places = s)]` applies to: decimals.
#[diagnostic::on_unimplemented(
    message = "`max_digits` and `decimal_places` apply to decimal fields, and this field is `{Self}`",
    label = "not a decimal field",
    note = "they bound a `rust_decimal::Decimal` (or `Option<Decimal>`) column, with the orm-sqlx feature `decimal`; remove them here"
)]
pub trait DecimalField: FieldType {}
#[cfg(feature = "decimal")]
impl DecimalField for rust_decimal::Decimal {}
#[cfg(feature = "decimal")]
impl DecimalField for Option<rust_decimal::Decimal> {}

/// Field types that `#[orm(auto_now)]` and `#[orm(auto_now_add)]` apply to: dates, times
/// and date-times, set to the current time (UTC), to the microsecond (what every backend
/// keeps).
#[diagnostic::on_unimplemented(
    message = "`auto_now` and `auto_now_add` set a date or time field, and this field is `{Self}`",
    label = "not a date or time field",
    note = "use `chrono::DateTime<Utc>`, `NaiveDateTime`, `NaiveDate` or `NaiveTime` (or an `Option` of one), with the orm-sqlx feature `chrono`"
)]
pub trait AutoNowField: FieldType {
    /// The current time, as this type holds it.
    fn now() -> Self;
}

#[cfg(feature = "chrono")]
mod chrono_now {
    use super::AutoNowField;
    use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};

    /// Now, cut to microseconds: PostgreSQL and MySQL keep no more, and a value with
    /// nanoseconds is refused before a write (it would not read back equal).
    fn now() -> DateTime<Utc> {
        let t = Utc::now();
        let micros = t.nanosecond() / 1_000 * 1_000;
        t.with_nanosecond(micros).unwrap_or(t)
    }

    impl AutoNowField for DateTime<Utc> {
        fn now() -> Self {
            now()
        }
    }
    impl AutoNowField for NaiveDateTime {
        fn now() -> Self {
            now().naive_utc()
        }
    }
    impl AutoNowField for NaiveDate {
        fn now() -> Self {
            now().date_naive()
        }
    }
    impl AutoNowField for NaiveTime {
        fn now() -> Self {
            now().time()
        }
    }
    macro_rules! optional {
        ($($t:ty),*) => {$(
            impl AutoNowField for Option<$t> {
                fn now() -> Self {
                    Some(<$t as AutoNowField>::now())
                }
            }
        )*};
    }
    optional!(DateTime<Utc>, NaiveDateTime, NaiveDate, NaiveTime);
}

/// Used by generated code: the type check of `max_length`, spanned at the attribute.
#[doc(hidden)]
pub fn assert_max_length<T: MaxLengthField>() {}

/// Used by generated code: the type check of `max_digits`/`decimal_places`.
#[doc(hidden)]
pub fn assert_decimal<T: DecimalField>() {}

/// Why `v` cannot be written to column `c`: longer than its `max_length`, or a decimal
/// with more digits than `max_digits`/`decimal_places` allow. `None` when it fits (and
/// for NULL).
#[inline]
pub fn stored_value_problem(c: &ColumnMeta, v: &Value) -> Option<String> {
    if c.options.max_length.is_none() && c.options.digits.is_none() {
        return None;
    }
    match v {
        Value::Text(s) => {
            let max = c.options.max_length?;
            let chars = s.chars().count();
            (chars > max as usize)
                .then(|| format!("{chars} characters, more than its max_length of {max}"))
        }
        #[cfg(feature = "decimal")]
        Value::Decimal(d) => digits_problem(*d, c.options.digits?),
        _ => None,
    }
}

/// Django's `DecimalValidator`: at most `decimal_places` digits after the point and
/// `max_digits - decimal_places` before it. A value is never rounded to fit (PostgreSQL
/// and MySQL would round it silently).
#[cfg(feature = "decimal")]
fn digits_problem(
    d: rust_decimal::Decimal,
    digits: crate::schema::model::Digits,
) -> Option<String> {
    let d = d.normalize();
    let scale = d.scale();
    let mantissa = d.mantissa().unsigned_abs();
    let total = if mantissa == 0 {
        0
    } else {
        mantissa.ilog10() + 1
    };
    let whole = total.saturating_sub(scale);
    let crate::schema::model::Digits {
        max_digits,
        decimal_places,
    } = digits;
    if scale > decimal_places {
        return Some(format!(
            "{d} has {scale} digits after the point, more than its decimal_places of \
             {decimal_places} (it is never rounded to fit: round it first)"
        ));
    }
    let whole_max = max_digits - decimal_places;
    if whole > whole_max {
        return Some(format!(
            "{d} has {whole} digits before the point, more than the {whole_max} that \
             max_digits = {max_digits} and decimal_places = {decimal_places} leave"
        ));
    }
    None
}

#[cfg(all(test, feature = "decimal"))]
mod tests {
    use super::*;
    use crate::schema::model::Digits;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn check(s: &str, p: u32, q: u32) -> bool {
        digits_problem(
            Decimal::from_str(s).unwrap(),
            Digits {
                max_digits: p,
                decimal_places: q,
            },
        )
        .is_none()
    }

    #[test]
    fn digits_are_counted_as_django_counts_them() {
        assert!(check("999.99", 5, 2));
        assert!(check("-999.99", 5, 2));
        assert!(check("1.50", 3, 1)); // trailing zeros do not count
        assert!(check("0", 1, 0));
        assert!(check("0.01", 2, 2));
        assert!(!check("1000.00", 5, 2));
        assert!(!check("1.005", 5, 2));
        assert!(!check("0.1", 1, 0));
    }
}
