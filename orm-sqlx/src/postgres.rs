//! The PostgreSQL backend.

use orm_core::executor::ExecResult;
use orm_core::{Dialect, FromRow, Result, Value};
use sqlx::postgres::{PgArguments, PgRow, Postgres};

use crate::backend::{Backend, CheckedColumns, bind_values, impl_row};

impl Backend for Postgres {
    const DIALECT: Dialect = Dialect::Postgres;

    fn arguments(params: Vec<Value>) -> Result<PgArguments> {
        let mut args = PgArguments::default();
        bind_values!(args, params, "PostgreSQL", |d| args.add(d), |ty, items| {
            bind_array(&mut args, ty, items)
        });
        Ok(args)
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
        let at = orm_core::ColumnAt::Index(idx);
        let decode_error = |message: String| orm_core::Error::Decode {
            at,
            expected: "Decimal",
            message,
        };
        let raw = self.raw(idx)?;
        if raw.is_null() {
            return Err(orm_core::Error::UnexpectedNull {
                at,
                expected: "Decimal",
            });
        }
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

/// Open a pool. One connection is made first, outside the pool, so that an unreachable
/// server or a bad password is reported at once instead of after the pool's retries.
pub(crate) async fn connect(url: &str) -> std::result::Result<sqlx::PgPool, sqlx::Error> {
    use sqlx::{ConnectOptions, Connection};
    let options: sqlx::postgres::PgConnectOptions = url.parse()?;
    options.connect().await?.close().await?;
    Ok(sqlx::postgres::PgPoolOptions::new().connect_lazy_with(options))
}

/// Bind a list of scalars as one PostgreSQL array (`= ANY($1)`).
fn bind_array(
    args: &mut PgArguments,
    ty: orm_core::SqlType,
    items: Vec<Value>,
) -> std::result::Result<(), sqlx::error::BoxDynError> {
    use orm_core::SqlType;
    use sqlx::Arguments as _;
    macro_rules! collect {
        ($variant:ident) => {
            items
                .into_iter()
                .map(|v| match v {
                    Value::$variant(x) => Ok(x),
                    other => Err(format!("an array of {ty:?} holds {other:?}")),
                })
                .collect::<std::result::Result<Vec<_>, String>>()?
        };
    }
    match ty {
        SqlType::Bool => args.add(collect!(Bool)),
        SqlType::I16 => args.add(collect!(I16)),
        SqlType::I32 => args.add(collect!(I32)),
        SqlType::I64 => args.add(collect!(I64)),
        SqlType::F32 => args.add(collect!(F32)),
        SqlType::F64 => args.add(collect!(F64)),
        SqlType::Text => args.add(collect!(Text)),
        SqlType::Bytes => args.add(collect!(Bytes)),
        #[cfg(feature = "uuid")]
        SqlType::Uuid => args.add(collect!(Uuid)),
        other => Err(format!("no array parameter for {other:?}").into()),
    }
}
