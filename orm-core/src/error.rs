//! The one error type every fallible call returns.

use std::fmt;

/// Everything that can go wrong between building a queryset and reading its rows.
///
/// Messages are written for the person who reads them: each says what happened and,
/// where there is one, what to do instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `get()` found no row (Django's `Model.DoesNotExist`).
    #[error("{model} matching query does not exist")]
    DoesNotExist { model: &'static str },

    /// `get()` found more than one row (Django's `MultipleObjectsReturned`).
    #[error("get() returned more than one {model} -- it returned {}!", count_text(*.count, *.more))]
    MultipleObjectsReturned {
        model: &'static str,
        count: usize,
        /// True when the count is a lower bound (the query stopped at its limit).
        more: bool,
    },

    /// `get_index(i)` on a queryset with fewer than `i + 1` rows.
    #[error("no row at index {index}: the {model} queryset has fewer rows")]
    IndexOutOfRange { model: &'static str, index: usize },

    /// An operation that a sliced queryset cannot take (filter, order_by, update, delete…).
    #[error("{0}")]
    Sliced(SlicedOp),

    /// `iterator(0)`: a chunk must hold at least one row.
    #[error("chunk_size must be at least 1 (got 0)")]
    ZeroChunkSize,

    /// Deleting would leave rows pointing at nothing, and their key is `PROTECT` or
    /// `RESTRICT` (Django's `ProtectedError` / `RestrictedError`).
    #[error(
        "cannot delete {model}: {count} row(s) still point at it through {relation}, which is {}",
        if *restrict { "RESTRICT" } else { "PROTECT" }
    )]
    Protected {
        model: &'static str,
        relation: String,
        count: usize,
        restrict: bool,
    },

    /// A relation read without loading it first.
    #[error(
        "the relation {relation} was not loaded: add it to select_related() or prefetch_related(), \
         or load it explicitly with `.load(&db).await`"
    )]
    NotLoaded { relation: String },

    /// Strict loading (`orm_sqlx::strict_loading`) refused a lazy load: the same line
    /// already loaded this relation for another row (the N+1 pattern). The message names
    /// the relation, the line and the fix.
    #[error("N+1 query: {0}")]
    NPlusOne(String),

    /// An instance saved (or a key followed) while a required foreign key is still the
    /// unset `ForeignKey::default()`: refused before any query.
    #[error(
        "the foreign key {relation} is unset (built with Default): point it at a row with \
         `ForeignKey::new(key)`, `ForeignKey::to(obj)` or `set_key` before saving"
    )]
    UnsetKey { relation: String },

    /// A relation path deeper than the query model supports.
    #[error("relation path `{path}` is deeper than the {max} hops a query can span")]
    PathTooDeep { path: String, max: usize },

    /// Awaiting a queryset directly needs a default database, and none was registered.
    #[error(
        "no default database is registered: call `Db::set_default()` at start-up, \
         or evaluate with an explicit executor (`qs.fetch(&db)`)"
    )]
    NoDefaultDatabase,

    /// A column could not be read into the model's field type.
    #[error("cannot read {at} as {expected}: {message}")]
    Decode {
        at: ColumnAt,
        expected: &'static str,
        message: String,
    },

    /// The database holds NULL where the field cannot: its Rust type is not an `Option`.
    /// Raised the same way on every backend, before any value is made up.
    #[error(
        "cannot read {at}: the database holds NULL, and the field is `{expected}`; \
         declare it `Option<{expected}>` or make the column NOT NULL"
    )]
    UnexpectedNull {
        at: ColumnAt,
        expected: &'static str,
    },

    /// A raw SELECT read into a model or a partial model (columns matched by name) has
    /// no column for one of its fields. `found` lists the columns it has.
    #[error(
        "the raw SQL's result has no column for {at}: select it, or alias a column to that \
         name (`… AS name`); columns are matched by name, and the result has: {found}"
    )]
    MissingColumn { at: ColumnAt, found: String },

    /// A value that no supported backend can store or compare faithfully (NaN, a NUL
    /// character in text, a date outside years 1–9999…), refused before any query.
    #[error("invalid value for {field}: {reason}")]
    InvalidValue { field: String, reason: String },

    /// Arithmetic in a statement left the range of its type: `pages * 1000000000` on an
    /// `i32` field, a float overflowing to infinity or underflowing to zero, a decimal past
    /// what `rust_decimal` holds. The database refuses the statement and nothing is written:
    /// PostgreSQL's own check (SQLSTATE 22003), on SQLite the ORM's checked arithmetic
    /// functions, which raise the same condition, on MySQL/MariaDB its own range errors
    /// and the checks the ORM writes around each operation (where MySQL computes integers
    /// in 64 bits and floats in double precision).
    ///
    /// Also a value out of the range of the column it is stored in (MySQL's `DECIMAL(65,
    /// 30)` holds 35 digits before the point): the message then starts with the field,
    /// `Model.field: …`.
    #[error("{message}\n  in: {sql}")]
    OutOfRange { message: String, sql: String },

    /// Division by zero in a statement (SQLSTATE 22012 on PostgreSQL; on SQLite, whose own
    /// `/` gives NULL, the ORM's checked division raises it; on MySQL/MariaDB, whose `/`
    /// gives NULL outside writes, the ORM's check does). Nothing is written.
    #[error("{message}\n  in: {sql}")]
    DivisionByZero { message: String, sql: String },

    /// A `regex`/`iregex` pattern the database cannot compile: PostgreSQL's own check
    /// (SQLSTATE 2201B), on SQLite the ORM's REGEXP (Rust's `regex` crate), which raises
    /// the same condition, on MySQL/MariaDB its regex errors (ICU on MySQL, PCRE on
    /// MariaDB). Each backend's regex syntax is its own.
    #[error("{message}\n  in: {sql}")]
    InvalidRegex { message: String, sql: String },

    /// A value longer than the column it is written to holds (SQLSTATE 22001), refused by
    /// the database; nothing is written, nothing is cut short. On MySQL/MariaDB a text or
    /// bytes column that is (part of) a key or an index is `VARCHAR(255)`/`VARBINARY(255)`
    /// (its TEXT and BLOB columns cannot be keys), so a longer value is this error.
    ///
    /// `field` is `Model.field` where the statement's model is known (inserts, saves,
    /// updates), else ``column `name` ``.
    #[error("value too long for {field}: {message}\n  in: {sql}")]
    TooLong {
        field: String,
        message: String,
        sql: String,
    },

    /// A write broke an integrity constraint: a unique key already taken, a foreign key to
    /// no row (or a row still referenced), a NULL in a NOT NULL column, a CHECK. The same
    /// kind on every backend, with what the database names ([`Constraint`]: the constraint
    /// — PostgreSQL and MySQL name it, SQLite does not —, the table and the column where it
    /// says them). The statement wrote nothing. An app turns a duplicate into a 409 with
    /// [`Error::is_unique_violation`], or
    /// `matches!(e, Error::Integrity { kind: Violation::Unique, .. })`.
    #[error("{kind} violation{on}: {message}\n  in: {sql}")]
    Integrity {
        kind: Violation,
        /// What the database names; boxed to keep `Error` small.
        on: Box<Constraint>,
        message: String,
        sql: String,
    },

    /// The database chose this statement's transaction as the victim of a deadlock or a
    /// serialization failure (PostgreSQL's SQLSTATE 40P01 and 40001, MySQL's 1213): the
    /// transaction was rolled back, and may be retried.
    #[error(
        "deadlock or serialization failure, the transaction was rolled back: {message}\n  in: {sql}"
    )]
    Deadlock { message: String, sql: String },

    /// A statement on the pool (`&db`) while every connection the pool may open is held by
    /// the current task's own open transactions: it could only wait for this task, which
    /// is waiting for it. Refused at once instead of hanging until the pool's acquire
    /// timeout. Pass the transaction (`&mut tx`) instead, or give the pool more
    /// connections.
    #[error(
        "every connection of the pool ({max}) is held by this task's own open transaction: \
         a statement on `&db` would wait for this task itself; pass `&mut tx` instead"
    )]
    PoolHeldByTask { max: u32 },

    /// A value type this backend (or this build's features) cannot store.
    #[error("{what} is not supported by the {backend} backend{hint}")]
    Unsupported {
        what: String,
        backend: &'static str,
        hint: &'static str,
    },

    /// Connecting failed (the URL is shown without its password).
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The database rejected a statement or the connection broke.
    #[error("database error: {source}\n  in: {sql}")]
    Database {
        /// The statement, cut after its first [`SQL_EXCERPT_CHARS`] characters (a failed
        /// 10,000-row INSERT would be half a megabyte): the cut is marked with `…` and the
        /// number of characters left out. Build with [`Error::database`].
        sql: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A value the caller passed cannot be used (for example an empty field list to update).
    #[error("{0}")]
    InvalidInput(String),

    /// Migrations cannot go on: a migration file that does not parse or contradicts the
    /// ones before it, a missing dependency, two leaf migrations (a merge is needed), a
    /// change the rows in the table do not allow, a migration that cannot be unapplied.
    /// Raised before the statements of the migration it is about are sent; the message
    /// says what to do.
    #[error("{0}")]
    Migration(String),

    /// The cache (`orm_sqlx::cache`, Django's low-level cache API) failed: its server is
    /// unreachable (the message names the URL and how to start it), a key it refuses, a
    /// stored value that does not deserialise as the type asked for, `incr` on a missing
    /// key or on a value that is not an integer (Django's `ValueError`).
    #[error("cache: {0}")]
    Cache(String),
}

/// The constraint an [`Error::Integrity`] is about, as far as the database says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Constraint {
    /// The constraint's name (PostgreSQL, MySQL/MariaDB; a CHECK's on SQLite).
    pub name: Option<String>,
    /// The table.
    pub table: Option<String>,
    /// The column, where the constraint is on one.
    pub column: Option<String>,
}

impl std::fmt::Display for Constraint {
    /// ` on table.column (constraint `name`)`, each part only if known.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(t) = &self.table {
            write!(f, " on {t}")?;
            if let Some(c) = &self.column {
                write!(f, ".{c}")?;
            }
        } else if let Some(c) = &self.column {
            write!(f, " on column {c}")?;
        }
        if let Some(n) = &self.name {
            write!(f, " (constraint `{n}`)")?;
        }
        Ok(())
    }
}

/// Which integrity constraint a write broke ([`Error::Integrity`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A unique key or primary key already taken.
    Unique,
    /// A foreign key pointing at no row, or a row still pointed at.
    ForeignKey,
    /// NULL in a NOT NULL column.
    NotNull,
    /// A CHECK constraint.
    Check,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Violation::Unique => "unique",
            Violation::ForeignKey => "foreign key",
            Violation::NotNull => "not-null",
            Violation::Check => "check",
        })
    }
}

impl Error {
    /// Whether this is a unique-key violation (a duplicate: HTTP 409 in most apps).
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            Error::Integrity {
                kind: Violation::Unique,
                ..
            }
        )
    }
}

/// How many characters of a statement a [`Error::Database`] keeps.
pub const SQL_EXCERPT_CHARS: usize = 300;

/// `sql` as an error keeps it: whole up to [`SQL_EXCERPT_CHARS`] characters, otherwise
/// that many, then `… (N more characters)`.
pub fn sql_excerpt(sql: &str) -> String {
    match sql.char_indices().nth(SQL_EXCERPT_CHARS) {
        None => sql.to_owned(),
        Some((cut, _)) => {
            let left_out = sql[cut..].chars().count();
            format!("{}… ({left_out} more characters)", &sql[..cut])
        }
    }
}

impl Error {
    /// A [`Error::Database`] for `sql`, keeping a bounded excerpt of it ([`sql_excerpt`]).
    pub fn database(sql: &str, source: Box<dyn std::error::Error + Send + Sync>) -> Error {
        Error::Database {
            sql: sql_excerpt(sql),
            source,
        }
    }

    /// Name the model field a decode error happened in (generated code calls this, so a
    /// message says `Book.title (column `title`)` rather than a column position).
    pub fn at_field(
        mut self,
        model: &'static str,
        field: &'static str,
        column: &'static str,
    ) -> Error {
        if let Error::Decode { at, .. } | Error::UnexpectedNull { at, .. } = &mut self
            && matches!(at, ColumnAt::Index(_))
        {
            *at = ColumnAt::Field {
                model,
                field,
                column,
            };
        }
        self
    }
}

impl Error {
    /// Name the model field behind a column the database named: the ``column `name` `` of
    /// [`Error::TooLong`]'s field, or at the start of an [`Error::OutOfRange`] message
    /// (`` column `name`: … ``, a value out of its column's range), becomes `Model.field`.
    /// `field_of` finds the field of a column of `model`. The write paths (insert, save,
    /// bulk_create, update) call this with their model; any other error is returned as it
    /// is.
    pub fn in_model(
        mut self,
        model: &'static str,
        field_of: impl Fn(&str) -> Option<&'static str>,
    ) -> Error {
        let name = |label: &str| -> Option<String> {
            let column = label.strip_prefix("column `")?.strip_suffix('`')?;
            Some(format!("{model}.{}", field_of(column)?))
        };
        match &mut self {
            Error::TooLong { field, .. } => {
                if let Some(named) = name(field) {
                    *field = named;
                }
            }
            Error::OutOfRange { message, .. } => {
                if let Some((label, rest)) = message.split_once(": ")
                    && let Some(named) = name(label)
                {
                    *message = format!("{named}: {rest}");
                }
            }
            _ => {}
        }
        self
    }
}

/// Where a value was being read: a position in the row, or (once known) a model field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnAt {
    /// A column position in the result row (a projection, a raw row).
    Index(usize),
    /// A field of a model.
    Field {
        model: &'static str,
        field: &'static str,
        column: &'static str,
    },
}

impl fmt::Display for ColumnAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnAt::Index(i) => write!(f, "column {i}"),
            ColumnAt::Field {
                model,
                field,
                column,
            } => write!(f, "{model}.{field} (column `{column}`)"),
        }
    }
}

fn count_text(count: usize, more: bool) -> String {
    if more {
        format!("more than {}", count - 1)
    } else {
        count.to_string()
    }
}

/// Which operation was refused on a sliced queryset, with Django's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlicedOp {
    Filter,
    Reorder,
    Reverse,
    Distinct,
    Update,
    Delete,
}

impl fmt::Display for SlicedOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SlicedOp::Filter => "cannot filter a query once a slice has been taken",
            SlicedOp::Reorder => "cannot reorder a query once a slice has been taken",
            SlicedOp::Reverse => "cannot reverse a query once a slice has been taken",
            SlicedOp::Distinct => "cannot create distinct fields once a slice has been taken",
            SlicedOp::Update => "cannot update a query once a slice has been taken",
            SlicedOp::Delete => "cannot use a slice (limit/offset) with delete()",
        })
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::{Error, SQL_EXCERPT_CHARS, sql_excerpt};

    #[test]
    fn a_column_the_database_named_becomes_the_models_field() {
        let field_of = |c: &str| (c == "label").then_some("title");
        let e = Error::TooLong {
            field: "column `label`".into(),
            message: "Data too long".into(),
            sql: "INSERT".into(),
        }
        .in_model("Book", field_of);
        assert!(
            matches!(&e, Error::TooLong { field, .. } if field == "Book.title"),
            "{e}"
        );
        let e = Error::OutOfRange {
            message: "column `label`: Out of range value".into(),
            sql: "UPDATE".into(),
        }
        .in_model("Book", field_of);
        assert!(
            matches!(&e, Error::OutOfRange { message, .. } if message == "Book.title: Out of range value"),
            "{e}"
        );
        // Another model's column, or arithmetic, is left as it is.
        let e = Error::TooLong {
            field: "column `other`".into(),
            message: String::new(),
            sql: String::new(),
        }
        .in_model("Book", field_of);
        assert!(matches!(&e, Error::TooLong { field, .. } if field == "column `other`"));
        let e = Error::OutOfRange {
            message: "integer out of range: x".into(),
            sql: String::new(),
        }
        .in_model("Book", field_of);
        assert!(
            matches!(&e, Error::OutOfRange { message, .. } if message == "integer out of range: x")
        );
    }

    #[test]
    fn a_long_statement_is_cut_on_a_character_boundary() {
        assert_eq!(sql_excerpt("SELECT 1"), "SELECT 1");
        let exact = "x".repeat(SQL_EXCERPT_CHARS);
        assert_eq!(sql_excerpt(&exact), exact);
        let long = format!("INSERT INTO t VALUES {}", "(é, ?), ".repeat(1000));
        let cut = sql_excerpt(&long);
        let total = long.chars().count();
        assert!(cut.starts_with("INSERT INTO t VALUES (é, ?), "), "{cut}");
        assert!(
            cut.ends_with(&format!(
                "… ({} more characters)",
                total - SQL_EXCERPT_CHARS
            )),
            "{cut}"
        );
        assert!(cut.chars().count() < SQL_EXCERPT_CHARS + 30, "{cut}");
    }
}
