//! The PostgreSQL backend.

use orm_core::executor::ExecResult;
use orm_core::{Dialect, FromRow, Result, Value};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgDatabaseError, PgRow, Postgres};

use crate::backend::{Backend, CheckedColumns, bind_values, impl_row};

impl Backend for Postgres {
    const DIALECT: Dialect = Dialect::Postgres;
    const DISCARD_ABANDONED: bool = true;

    /// Binds from a borrow (each value is copied into the message buffer either way), so
    /// that a statement can be sent again after [`Backend::plan_changed`].
    fn arguments(params: &mut Vec<Value>) -> Result<PgArguments> {
        let mut args = PgArguments::default();
        bind_values!(
            args,
            params.iter(),
            "PostgreSQL",
            |d| args.add(d.map(|d| ExactNumeric(d.to_owned()))),
            |ty, items| bind_array(&mut args, *ty, items),
            |json| match jsonb(json) {
                Ok(raw) => args.add(raw),
                Err(e) => Err(e),
            }
        );
        Ok(args)
    }

    fn plan_changed(e: &sqlx::Error) -> bool {
        // SQLSTATE 0A000 (feature_not_supported) is broad: the raising function (reported
        // in every language) or the message makes it this one.
        let Some(db) = e.as_database_error() else {
            return false;
        };
        let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() else {
            return false;
        };
        pg.code() == "0A000"
            && (pg.routine() == Some("RevalidateCachedQuery")
                || pg.message() == "cached plan must not change result type")
    }

    fn transaction_aborted(e: &sqlx::Error) -> bool {
        // in_failed_sql_transaction
        e.as_database_error()
            .and_then(|db| db.code())
            .is_some_and(|code| code == "25P02")
    }

    fn decode<T: FromRow>(row: &PgRow, seen: &CheckedColumns) -> Result<T> {
        T::from_row(&PgRowRef(row, seen), 0)
    }

    fn visit(
        row: &PgRow,
        seen: &CheckedColumns,
        each: &mut (dyn FnMut(&dyn orm_core::Row) -> Result<()> + Send),
    ) -> Result<()> {
        each(&PgRowRef(row, seen))
    }

    fn exec_result(r: &sqlx::postgres::PgQueryResult) -> ExecResult {
        ExecResult {
            rows_affected: r.rows_affected(),
            last_insert_id: None,
        }
    }
}

impl_row!(PgRowRef, PgRow, "PostgreSQL", fixed_types: true, {
    #[cfg(feature = "decimal")]
    fn get_decimal(&self, idx: usize) -> Result<rust_decimal::Decimal> {
        // NUMERIC holds more than a Decimal; sqlx's decoder would round the difference away
        // (digits past the 28th after the point, past 96 bits), so the value is read here,
        // exactly, or refused.
        use orm_core::value::exact_decimal;
        use sqlx::postgres::PgValueFormat;
        use sqlx::{TypeInfo as _, ValueRef as _};
        let decode_error = crate::backend::decimal_error(idx);
        let raw = self.present(idx, || "Decimal")?;
        let ty = raw.type_info();
        if !<rust_decimal::Decimal as sqlx::Type<Postgres>>::compatible(&ty) {
            return Err(decode_error(format!("the column holds SQL type {}", ty.name())));
        }
        let exact = match raw.format() {
            PgValueFormat::Binary => raw
                .as_bytes()
                .map_err(|e| e.to_string())
                .and_then(exact_decimal::from_pg_binary),
            PgValueFormat::Text => raw
                .as_str()
                .map_err(|e| e.to_string())
                .and_then(exact_decimal::parse),
        };
        exact.map_err(decode_error)
    }
});

/// The session setting that lets the server notice a closed client within a second
/// while a statement runs, and stop it (PostgreSQL 14+, on Linux, macOS and the BSDs).
const CONNECTION_CHECK: (&str, &str) = ("client_connection_check_interval", "1s");

/// Connection options for an ORM-ready PostgreSQL pool: the URL's, plus
/// `client_connection_check_interval = 1s` unless the URL sets it. When an evaluation is
/// dropped while its statement runs, the ORM closes that connection instead of returning
/// it to the pool; with this setting the server then stops the statement within a second
/// instead of running it to the end. Needs PostgreSQL 14 or later on Linux, macOS or a BSD
/// (elsewhere the server refuses the connection; `Db::connect` checks and leaves it out).
pub fn connect_options(url: &str) -> std::result::Result<PgConnectOptions, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    Ok(with_connection_check(options))
}

fn with_connection_check(options: PgConnectOptions) -> PgConnectOptions {
    let set = options
        .get_options()
        .is_some_and(|o| o.contains(CONNECTION_CHECK.0));
    if set {
        options
    } else {
        options.options([CONNECTION_CHECK])
    }
}

/// Open a pool. One connection is made first, outside the pool, so that an unreachable
/// server or a bad password is reported at once instead of after the pool's retries; it
/// also shows whether the server takes [`connect_options`]' setting (an older server, or
/// a pooler in between, refuses the connection): if not, the pool goes without it.
pub(crate) async fn connect(url: &str) -> std::result::Result<sqlx::PgPool, sqlx::Error> {
    use sqlx::{ConnectOptions, Connection};
    let plain: PgConnectOptions = url.parse()?;
    let checked = with_connection_check(plain.clone());
    let options = match checked.connect().await {
        Ok(conn) => {
            conn.close().await?;
            checked
        }
        // The server answered, and refused: try without the setting.
        Err(sqlx::Error::Database(_)) => {
            plain.connect().await?.close().await?;
            plain
        }
        Err(e) => return Err(e),
    };
    Ok(pool_options().connect_lazy_with(options))
}

/// Pool options for an ORM pool: a connection is pinged as it is lent only when it has
/// been idle for [`crate::IDLE_CHECK_AFTER`] (sqlx pings every one). Build your own pool
/// from these and wrap it with `Db::from(pool)`.
/// A `before_acquire` of your own replaces that check: call
/// [`crate::check_idle_connection`] from it.
pub fn pool_options() -> sqlx::postgres::PgPoolOptions {
    crate::backend::check_when_idle(sqlx::postgres::PgPoolOptions::new())
}

/// Bind a list of scalars as one PostgreSQL array (`= ANY($1)`).
fn bind_array(
    args: &mut PgArguments,
    ty: orm_core::SqlType,
    items: &[Value],
) -> std::result::Result<(), sqlx::error::BoxDynError> {
    use orm_core::SqlType;
    use sqlx::Arguments as _;
    macro_rules! collect {
        ($variant:ident, |$x:ident| $item:expr) => {
            items
                .iter()
                .map(|v| match v {
                    Value::$variant($x) => Ok($item),
                    other => Err(format!("an array of {ty:?} holds {other:?}")),
                })
                .collect::<std::result::Result<Vec<_>, String>>()?
        };
    }
    match ty {
        SqlType::Bool => args.add(collect!(Bool, |x| *x)),
        SqlType::I16 => args.add(collect!(I16, |x| *x)),
        SqlType::I32 => args.add(collect!(I32, |x| *x)),
        SqlType::I64 => args.add(collect!(I64, |x| *x)),
        SqlType::F32 => args.add(collect!(F32, |x| *x)),
        SqlType::F64 => args.add(collect!(F64, |x| *x)),
        SqlType::Text => args.add(collect!(Text, |x| x.as_str())),
        SqlType::Bytes => args.add(collect!(Bytes, |x| x.as_slice())),
        #[cfg(feature = "uuid")]
        SqlType::Uuid => args.add(collect!(Uuid, |x| *x)),
        other => Err(format!("no array parameter for {other:?}").into()),
    }
}

/// A decimal written as PostgreSQL's binary NUMERIC with its scale: sqlx's encoder writes
/// every zero as plain `0`, so `0.00` came back as `0`.
#[cfg(feature = "decimal")]
pub(crate) struct ExactNumeric(pub(crate) rust_decimal::Decimal);

#[cfg(feature = "decimal")]
impl sqlx::Type<Postgres> for ExactNumeric {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <rust_decimal::Decimal as sqlx::Type<Postgres>>::type_info()
    }
}

#[cfg(feature = "decimal")]
impl sqlx::Encode<'_, Postgres> for ExactNumeric {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> std::result::Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        buf.extend_from_slice(&numeric_binary(self.0));
        Ok(sqlx::encode::IsNull::No)
    }
}

/// NUMERIC's binary form: digit count, weight, sign, display scale, then base-10000
/// digits from the most significant (trailing zero digits left out).
#[cfg(feature = "decimal")]
pub(crate) fn numeric_binary(d: rust_decimal::Decimal) -> Vec<u8> {
    let scale = d.scale();
    // Pad the mantissa so that the point falls between two base-10000 digits.
    let pad = (4 - scale % 4) % 4;
    // At most 2^96 × 1000: fits.
    let mut m = d.mantissa().unsigned_abs() * 10u128.pow(pad);
    let mut digits: Vec<u16> = Vec::new();
    while m != 0 {
        digits.push((m % 10_000) as u16);
        m /= 10_000;
    }
    digits.reverse();
    let fraction_digits = ((scale + pad) / 4) as i64;
    let weight = if digits.is_empty() {
        0
    } else {
        digits.len() as i64 - fraction_digits - 1
    };
    while digits.last() == Some(&0) {
        digits.pop();
    }
    let sign: u16 = if d.is_sign_negative() && !digits.is_empty() {
        0x4000
    } else {
        0
    };
    let mut out = Vec::with_capacity(8 + 2 * digits.len());
    for word in [
        digits.len() as u16,
        weight as i16 as u16,
        sign,
        scale as u16,
    ]
    .into_iter()
    .chain(digits)
    {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out
}

/// JSON as PostgreSQL's jsonb is to give it back: sqlx writes serde_json's text, where a
/// float such as 1e16 has no point, and jsonb then hands back the integer
/// 10000000000000000 (a different `serde_json::Value`). Floats are written here with all
/// their digits and a point (`10000000000000000.0`), which jsonb keeps.
#[cfg(feature = "json")]
fn jsonb(
    v: &serde_json::Value,
) -> std::result::Result<
    sqlx::types::Json<Box<serde_json::value::RawValue>>,
    sqlx::error::BoxDynError,
> {
    let text = crate::backend::json_text(v, crate::backend::JsonFloats::Plain)?;
    Ok(sqlx::types::Json(serde_json::value::RawValue::from_string(
        text,
    )?))
}

#[cfg(test)]
mod tests {
    #[cfg(feature = "decimal")]
    #[test]
    fn decimals_are_written_with_their_scale_and_read_back_the_same() {
        use orm_core::value::exact_decimal::{from_pg_binary, parse};
        for s in [
            "0",
            "0.00",
            "-0.00",
            "1.5",
            "-12",
            "10000",
            "0.0005",
            "0.00001",
            "123456789.123456789",
            "79228162514264337593543950335",
            "-0.0000000000000000000000000001",
            "1.0000",
        ] {
            let d = parse(s).unwrap();
            let back = from_pg_binary(&super::numeric_binary(d)).unwrap();
            assert_eq!(back, d, "{s}");
            assert_eq!(back.scale(), d.scale(), "{s}");
        }
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_floats_keep_a_point_and_every_digit() {
        use crate::backend::{JsonFloats, json_text};
        let text = |v: serde_json::Value| json_text(&v, JsonFloats::Plain).unwrap();
        assert_eq!(
            text(serde_json::json!([1e16, 1, -0.0, 0.1])),
            "[10000000000000000.0,1,0.0,0.1]"
        );
        let serde = |v: serde_json::Value| json_text(&v, JsonFloats::Serde).unwrap();
        assert_eq!(
            serde(serde_json::json!([1e16, 1, -0.0, 0.1, 2.5])),
            serde_json::to_string(&serde_json::json!([1e16, 1, 0.0, 0.1, 2.5])).unwrap()
        );
        assert_eq!(
            text(serde_json::json!({"b": "\"\u{1}", "a": null})),
            r#"{"a":null,"b":"\"\u0001"}"#
        );
        for f in [5e-324, f64::MAX, 1e-7, 123.456] {
            let t = text(serde_json::json!(f));
            assert_eq!(t.parse::<f64>().unwrap(), f, "{t}");
        }
    }
}
