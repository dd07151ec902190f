//! What a transaction can ask for beyond `BEGIN`: an isolation level and read-only mode
//! (`Db::atomic_with`, `Db::begin_with`), written as each backend's `BEGIN`.

use orm_core::{Dialect, Error, Result};

/// A transaction's isolation level (SQL's four). Django sets one per connection
/// (`OPTIONS["isolation_level"]`); here it is per transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    ReadUncommitted,
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

/// How to open a transaction: `TxOptions::new().isolation(Isolation::Serializable)`,
/// `.read_only()`. The default is the backend's `BEGIN`: PostgreSQL's and MySQL's READ
/// COMMITTED (this ORM sets MySQL sessions to it, as Django does), SQLite's serializable.
///
/// - **PostgreSQL**: `BEGIN ISOLATION LEVEL … [READ ONLY]` (one statement). READ
///   UNCOMMITTED behaves as READ COMMITTED there.
/// - **MySQL/MariaDB**: `SET TRANSACTION ISOLATION LEVEL …; START TRANSACTION [READ
///   ONLY]`, sent as one statement (one round trip, counted once as the BEGIN).
/// - **SQLite** has one level, serializable, at least as strict as any asked for, so an
///   isolation level is accepted and changes nothing; it has no read-only transaction, so
///   `read_only()` is [`Error::InvalidInput`] before any statement (never a transaction
///   that would let writes through).
///
/// A write in a read-only transaction is refused by the server with an error (on
/// PostgreSQL, the transaction is then aborted: only a rollback remains).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxOptions {
    isolation: Option<Isolation>,
    read_only: bool,
}

impl TxOptions {
    /// The backend's default `BEGIN`.
    pub fn new() -> Self {
        Self::default()
    }
    /// Run at `level`.
    pub fn isolation(mut self, level: Isolation) -> Self {
        self.isolation = Some(level);
        self
    }
    /// Refuse writes.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// The statement that opens the transaction on `dialect`, or `None` for the default
    /// `BEGIN`.
    pub(crate) fn begin_statement(&self, dialect: Dialect) -> Result<Option<&'static str>> {
        use Isolation::*;
        Ok(match dialect {
            Dialect::Sqlite if self.read_only => {
                return Err(Error::InvalidInput(
                    "SQLite has no read-only transaction: open the database read-only \
                     (`?mode=ro`) instead, or drop `read_only()`"
                        .into(),
                ));
            }
            Dialect::Sqlite => None,
            Dialect::Postgres => match (self.isolation, self.read_only) {
                (None, false) => None,
                (None, true) => Some("BEGIN READ ONLY"),
                (Some(ReadUncommitted), false) => Some("BEGIN ISOLATION LEVEL READ UNCOMMITTED"),
                (Some(ReadUncommitted), true) => {
                    Some("BEGIN ISOLATION LEVEL READ UNCOMMITTED READ ONLY")
                }
                (Some(ReadCommitted), false) => Some("BEGIN ISOLATION LEVEL READ COMMITTED"),
                (Some(ReadCommitted), true) => {
                    Some("BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY")
                }
                (Some(RepeatableRead), false) => Some("BEGIN ISOLATION LEVEL REPEATABLE READ"),
                (Some(RepeatableRead), true) => {
                    Some("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                }
                (Some(Serializable), false) => Some("BEGIN ISOLATION LEVEL SERIALIZABLE"),
                (Some(Serializable), true) => Some("BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY"),
            },
            Dialect::Mysql => match (self.isolation, self.read_only) {
                (None, false) => None,
                (None, true) => Some("START TRANSACTION READ ONLY"),
                (Some(ReadUncommitted), false) => {
                    Some("SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED; START TRANSACTION")
                }
                (Some(ReadUncommitted), true) => Some(
                    "SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED; START TRANSACTION READ ONLY",
                ),
                (Some(ReadCommitted), false) => {
                    Some("SET TRANSACTION ISOLATION LEVEL READ COMMITTED; START TRANSACTION")
                }
                (Some(ReadCommitted), true) => Some(
                    "SET TRANSACTION ISOLATION LEVEL READ COMMITTED; START TRANSACTION READ ONLY",
                ),
                (Some(RepeatableRead), false) => {
                    Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; START TRANSACTION")
                }
                (Some(RepeatableRead), true) => Some(
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; START TRANSACTION READ ONLY",
                ),
                (Some(Serializable), false) => {
                    Some("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; START TRANSACTION")
                }
                (Some(Serializable), true) => Some(
                    "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; START TRANSACTION READ ONLY",
                ),
            },
        })
    }
}
