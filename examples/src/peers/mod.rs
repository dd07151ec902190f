//! The peers of `bench-peers` (issue 16): the bench's schema declared for Diesel, its
//! workloads written the way Diesel's guide writes them, sync (SQLite, PostgreSQL) and
//! async (diesel-async, PostgreSQL); SeaORM's entities and workloads, written the way its
//! docs write them (`sea`); and the checksums every column's result is compared by.

pub mod check;
pub mod diesel_async_pg;
pub mod diesel_sync;
pub mod schema;
pub mod sea;
