//! Review of issue 12.4: `#[orm(default = <integer literal>)]` on an `i64` field with a
//! value past `i32::MAX` (the derive writes `Into::<i64>::into(3000000000)`, whose literal
//! falls back to `i32`). This file failing to compile is the failure.

use orm_sqlx::prelude::*;

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "edge_wide_default")]
pub struct Wide {
    pub id: i64,
    #[orm(default = 3_000_000_000)]
    pub big: i64,
}

#[test]
fn an_i64_default_past_i32_compiles() {
    assert_eq!(Wide::default().big, 3_000_000_000);
}
