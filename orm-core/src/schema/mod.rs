//! Layer 1, the schema: what `#[derive(Model)]` describes. Model, column and relation
//! metadata, value and SQL types, the registry of models, and the traits that read
//! result rows. Uses only `crate::error`.

pub mod choice;
pub mod model;
pub mod options;
pub mod raw_row;
pub mod registry;
pub mod relation;
pub mod row;
pub mod state;
pub mod value;
