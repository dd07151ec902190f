//! Migrations for the bookstore's models (Django's `manage.py`):
//!
//! ```text
//! DATABASE_URL=sqlite://bookstore.sqlite3 cargo run -p examples --bin manage -- makemigrations
//! DATABASE_URL=sqlite://bookstore.sqlite3 cargo run -p examples --bin manage -- migrate
//! cargo run -p examples --bin manage -- --help
//! ```
//!
//! The migration files are in `examples/migrations`.

#[path = "models.rs"]
mod models;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    orm_sqlx::migrate::manage::<models::Models>(env!("CARGO_MANIFEST_DIR")).await
}
