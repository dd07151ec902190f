//! Layer 3, SQL generation: the compiler that turns a `Query` into a `Statement`, the
//! dialects, and join planning. Uses `dsl`, `schema` and `crate::error`; runs nothing.

pub mod compiler;
pub mod dialect;
pub mod join;
pub mod raw;
