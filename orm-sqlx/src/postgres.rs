//! The PostgreSQL backend.

use orm_core::executor::ExecResult;
use orm_core::{Dialect, FromRow, Result, Value};
use sqlx::postgres::{PgArguments, PgRow, Postgres};

use crate::backend::{Backend, CheckedColumns, bind_values, impl_row};

impl Backend for Postgres {
    const DIALECT: Dialect = Dialect::Postgres;

    fn arguments(params: Vec<Value>) -> Result<PgArguments> {
        let mut args = PgArguments::default();
        bind_values!(args, params, "PostgreSQL", |d| args.add(d));
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
        self.get(idx)
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
