//! A model of ten bound columns a row, so that a few thousand rows take several INSERTs:
//! a batch is 3276 rows on SQLite (32766 parameters), 6553 on PostgreSQL (65535).

use orm_sqlx::prelude::*;

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "wide")]
pub struct Wide {
    pub id: i64,
    pub c0: i32,
    pub c1: i32,
    pub c2: i32,
    pub c3: i32,
    pub c4: i32,
    pub c5: i32,
    pub c6: i32,
    pub c7: i32,
    pub c8: i32,
    pub c9: i32,
}

/// Rows one INSERT of `Wide` holds on `dialect`.
pub fn per_batch(dialect: orm_sqlx::Dialect) -> usize {
    dialect.max_params() / 10
}

/// `n` unsaved rows, each column holding its row's number.
pub fn rows(n: usize) -> Vec<Wide> {
    (0..n as i32)
        .map(|i| Wide {
            id: 0,
            c0: i,
            c1: i,
            c2: i,
            c3: i,
            c4: i,
            c5: i,
            c6: i,
            c7: i,
            c8: i,
            c9: i,
        })
        .collect()
}
