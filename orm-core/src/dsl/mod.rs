//! Layer 2, the query description: typed field handles, expressions, conditions (`Q`),
//! ordering, assignments, projections, the `select_related` plan and the [`Query`]
//! they build. Data only, no SQL. Uses `schema` and `crate::error`.
//!
//! [`Query`]: query::Query

pub mod aggregate;
pub mod expr;
pub mod field;
pub mod ordering;
pub mod partial;
pub mod prefetch_related;
pub mod projection;
pub mod q;
pub mod query;
pub mod select_related;
pub mod update;
