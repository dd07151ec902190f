//! Migrations, from the models (Django's `makemigrations` and `migrate`), without a
//! database driver: the operations, the migration files, the autodetector and the
//! statements each operation sends on each backend. `orm-sqlx` applies them and provides
//! the `manage` command line.
//!
//! A migration is a TOML file in the application's `migrations/` folder, named
//! `NNNN_description.toml`: the migrations it depends on and a list of
//! [`Operation`]s. Replaying every file in order gives the schema they lead to
//! ([`MigrationGraph::state_after`]); `makemigrations` compares it with the models'
//! ([`autodetect()`]) and writes the difference as the next file.
//!
//! ```toml
//! dependencies = ["0001_initial"]
//!
//! [[operations]]
//! op = "add_field"
//! table = "posts"
//! column = { name = "subtitle", type = "text", default = "" }
//! ```

pub mod autodetect;
pub mod graph;
pub mod operation;

pub use autodetect::{RenameHints, autodetect, same_state};
pub use graph::{Migration, MigrationFile, MigrationGraph, apply_migration, render};
pub use operation::{Operation, SqlText, Step};
