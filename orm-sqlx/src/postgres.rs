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
            |d| args.add(d),
            |ty, items| { bind_array(&mut args, *ty, items) }
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
        self.get(idx)
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
    Ok(sqlx::postgres::PgPoolOptions::new().connect_lazy_with(options))
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
