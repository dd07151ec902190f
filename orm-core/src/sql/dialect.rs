//! How each backend spells SQL: placeholders, quoting, LIKE, regex, limits, types.

use crate::dsl::expr::ArithOp;
use crate::schema::value::{SqlType, ValueSupport};

/// The SQL dialect of a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

/// The name of the SQL function that the SQLite backend registers on every connection to
/// fold case the same way [`fold_case`] does (SQLite's own `lower()` only folds ASCII).
pub const SQLITE_FOLD_CASE_FN: &str = "orm_fold_case";

/// The SQL functions that the SQLite backend registers on every connection to compute
/// `+ - * /` the way PostgreSQL does, one per field type, called `orm_i32(a, '*', b)`:
/// integers overflow at their own type's range (`i16`, `i32`, `i64`, like
/// `int2`/`int4`/`int8`), floats at `f32`'s or `f64`'s (overflow, underflow and division by
/// zero are errors, as in PostgreSQL's `float4`/`float8`), decimals are computed exactly
/// (text in, text out), division by zero is an error, and NULL in gives NULL out. SQLite's
/// own operators instead wrap into a REAL, give NULL for `x / 0`, and compute decimals in
/// floating point. (One function per type, not per operator: each function a connection
/// holds makes SQLite's statements a little slower.)
///
/// Rows: name, type. [`sqlite_arith_fn`] looks one up.
pub static SQLITE_ARITH_FUNCTIONS: [(&str, SqlType); 6] = [
    ("orm_i16", SqlType::I16),
    ("orm_i32", SqlType::I32),
    ("orm_i64", SqlType::I64),
    ("orm_f32", SqlType::F32),
    ("orm_f64", SqlType::F64),
    ("orm_numeric", SqlType::Decimal),
];

/// The checked SQLite function computing arithmetic on values of type `ty` (see
/// [`SQLITE_ARITH_FUNCTIONS`]); `None` for a type without arithmetic.
pub fn sqlite_arith_fn(ty: SqlType) -> Option<&'static str> {
    SQLITE_ARITH_FUNCTIONS
        .iter()
        .find(|(_, t)| *t == ty)
        .map(|(name, _)| *name)
}

/// The operator argument of an arithmetic function: `'+'`, `'-'`, `'*'` or `'/'`, a SQL
/// string literal (a constant of the ORM's, never a value).
pub fn sqlite_arith_op(op: ArithOp) -> &'static str {
    match op {
        ArithOp::Add => "'+'",
        ArithOp::Sub => "'-'",
        ArithOp::Mul => "'*'",
        ArithOp::Div => "'/'",
    }
}

/// A check the compiler writes around MySQL arithmetic, so that MySQL fails where
/// PostgreSQL does (SQLite's equivalent is [`SQLITE_ARITH_FUNCTIONS`]). MySQL computes
/// every integer in 64 bits (an `i32` overflow is no error), and outside writes gives
/// NULL for `x / 0`, rounds a float underflow to zero and clamps `CAST(… AS FLOAT)`.
///
/// MySQL cannot raise an error of one's own in an expression, so each failed check is an
/// unsigned subtraction or sum out of range, which MySQL refuses in every statement (error
/// 1690, `BIGINT UNSIGNED value is out of range in '<expression>'`); the expression, at
/// the start of the message, says which check failed ([`MysqlCheck::from_message`]), and
/// the backend raises PostgreSQL's typed error. `NO_UNSIGNED_SUBTRACTION` must be off, as
/// it is in the `sql_mode` the ORM sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MysqlCheck {
    /// A zero divisor.
    DivisionByZero,
    /// A float product or quotient of non-zero values that rounds to zero.
    Underflow,
    /// An `f32` result past `f32`'s range (an `f64` overflow is MySQL's own error).
    Overflow,
    /// A decimal product with digits past the 28th after the point, which no
    /// `rust_decimal::Decimal` holds (MySQL would round them away).
    Numeric,
    /// An integer result outside the range of its type: `I16` or `I32` (the checks around
    /// MySQL's 64-bit result), or `I64` (where MariaDB misses an overflow of its own).
    Range(SqlType),
}

impl MysqlCheck {
    /// A constant expression that fails with this check's error where it is evaluated
    /// (only where a `CASE` chooses it), typed `BIGINT` so that it does not change the
    /// type of the `CASE` or `COALESCE` around it. `None` for the range of `I16` and `I32`,
    /// which is written around its operand ([`MysqlCheck::range_sql`]).
    pub fn raise_sql(self) -> Option<&'static str> {
        Some(match self {
            MysqlCheck::DivisionByZero => "CAST(CAST(0 AS UNSIGNED) - 1 AS SIGNED)",
            MysqlCheck::Underflow => "CAST(CAST(0 AS UNSIGNED) - 2 AS SIGNED)",
            MysqlCheck::Overflow => "CAST(CAST(0 AS UNSIGNED) - 3 AS SIGNED)",
            MysqlCheck::Numeric => "CAST(CAST(0 AS UNSIGNED) - 4 AS SIGNED)",
            MysqlCheck::Range(SqlType::I64) => "CAST(CAST(0 AS UNSIGNED) - 5 AS SIGNED)",
            MysqlCheck::Range(_) => return None,
        })
    }

    /// The two halves of the range check of an `i16` or `i32` result `x`, written
    /// `{before}x{after}`: `x - MIN` is added to an unsigned 0, which fails below `MIN`, then
    /// `2^64 - 1 - (MAX - MIN)` is added, which fails above `MAX`; the sum read as signed,
    /// plus `MAX + 1`, is `x` again. `None` for other types.
    pub fn range_sql(ty: SqlType) -> Option<(&'static str, &'static str)> {
        match ty {
            SqlType::I16 => Some((
                "(CAST(CAST(0 AS UNSIGNED) + 32768 + (",
                ") + 18446744073709486080 AS SIGNED) + 32768)",
            )),
            SqlType::I32 => Some((
                "(CAST(CAST(0 AS UNSIGNED) + 2147483648 + (",
                ") + 18446744069414584320 AS SIGNED) + 2147483648)",
            )),
            _ => None,
        }
    }

    /// Which check failed, from the message of MySQL's error 1690 (`… value is out of
    /// range in '<expression>'`, the expression as MariaDB or MySQL prints it), if the
    /// failed expression is one of the ORM's checks.
    pub fn from_message(message: &str) -> Option<MysqlCheck> {
        let (_, quoted) = message.split_once(" in '")?;
        // MySQL prints `((cast(0 as unsigned) + 32768) + …)`, MariaDB without parentheses.
        let expr: String = quoted
            .chars()
            .filter(|c| !matches!(c, '(' | ')' | ' '))
            .flat_map(char::to_lowercase)
            .collect();
        let expr = expr.trim_end_matches('\'');
        Some(match expr {
            "cast0asunsigned-1" => MysqlCheck::DivisionByZero,
            "cast0asunsigned-2" => MysqlCheck::Underflow,
            "cast0asunsigned-3" => MysqlCheck::Overflow,
            "cast0asunsigned-4" => MysqlCheck::Numeric,
            "cast0asunsigned-5" => MysqlCheck::Range(SqlType::I64),
            e if e.starts_with("cast0asunsigned+32768+") => MysqlCheck::Range(SqlType::I16),
            e if e.starts_with("cast0asunsigned+2147483648+") => MysqlCheck::Range(SqlType::I32),
            _ => return None,
        })
    }

    /// PostgreSQL's message for the condition (SQLite's functions use the same words).
    pub fn message(self) -> &'static str {
        match self {
            MysqlCheck::DivisionByZero => "division by zero",
            MysqlCheck::Underflow => "value out of range: underflow",
            MysqlCheck::Overflow => "value out of range: overflow",
            MysqlCheck::Numeric => {
                "numeric out of range: the product has digits past the 28th after the point, \
                 which rust_decimal's Decimal cannot hold"
            }
            MysqlCheck::Range(SqlType::I16) => "smallint out of range",
            MysqlCheck::Range(SqlType::I64) => "bigint out of range",
            MysqlCheck::Range(_) => "integer out of range",
        }
    }
}

/// The SQL function that the SQLite backend registers for `iregex`: `orm_iregexp(pattern,
/// text)`, Rust's `regex` crate in case-insensitive mode (the backend also replaces
/// `regexp`, which `text REGEXP pattern` calls, so that an invalid pattern reads clearly).
pub const SQLITE_IREGEXP_FN: &str = "orm_iregexp";

/// The collation that the SQLite backend registers to compare and sort decimals, which it
/// stores as text, by their exact value (`"10" > "9"`, `"1.0" = "1.00"`), as PostgreSQL's
/// NUMERIC compares.
pub const SQLITE_DECIMAL_COLLATION: &str = "orm_decimal";

/// The aggregate the SQLite backend registers to sum decimals (stored as text) exactly,
/// with PostgreSQL's result scale.
pub const SQLITE_DECIMAL_SUM_FN: &str = "orm_decimal_sum";
/// `SQLITE_DECIMAL_SUM_FN` and its opening parenthesis, as the compiler writes it.
pub const SQLITE_DECIMAL_SUM_OPEN: &str = "orm_decimal_sum(";
/// The aggregate the SQLite backend registers to average decimals exactly (their exact
/// sum divided by their count, as PostgreSQL's `avg(numeric)` divides).
pub const SQLITE_DECIMAL_AVG_FN: &str = "orm_decimal_avg";
/// `SQLITE_DECIMAL_AVG_FN` and its opening parenthesis, as the compiler writes it.
pub const SQLITE_DECIMAL_AVG_OPEN: &str = "orm_decimal_avg(";

/// Unicode simple case folding to lower case, one character to one character: the
/// mapping PostgreSQL's `lower()`/`ILIKE` apply, and the one the SQLite backend
/// registers, so case-insensitive lookups agree across backends.
pub fn fold_case(s: &str) -> String {
    s.chars().map(fold_char).collect()
}

fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        // Only U+0130 (İ) lowercases to two characters; its simple mapping is 'i'.
        (Some(l), Some(_)) => l,
        (None, _) => c,
    }
}

impl Dialect {
    /// The backend's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "SQLite",
            Dialect::Postgres => "PostgreSQL",
            Dialect::Mysql => "MySQL/MariaDB",
        }
    }

    /// Write an identifier, quoted; embedded quote characters are doubled.
    pub fn quote_into(self, out: &mut String, ident: &str) {
        let q = match self {
            Dialect::Mysql => '`',
            Dialect::Sqlite | Dialect::Postgres => '"',
        };
        out.reserve(ident.len() + 2);
        out.push(q);
        if ident.as_bytes().contains(&(q as u8)) {
            for c in ident.chars() {
                if c == q {
                    out.push(q);
                }
                out.push(c);
            }
        } else {
            out.push_str(ident);
        }
        out.push(q);
    }

    /// Write the placeholder of the `n`th (1-based) parameter.
    pub fn placeholder_into(self, out: &mut String, n: usize) {
        match self {
            Dialect::Postgres => {
                out.push('$');
                push_decimal(out, n as u64);
            }
            Dialect::Sqlite | Dialect::Mysql => out.push('?'),
        }
    }

    /// The most parameters one statement may bind.
    pub fn max_params(self) -> usize {
        match self {
            // SQLITE_MAX_VARIABLE_NUMBER since SQLite 3.32 (the bundled build is newer).
            Dialect::Sqlite => 32_766,
            Dialect::Postgres | Dialect::Mysql => 65_535,
        }
    }

    /// How many keys one `IN` condition can hold: PostgreSQL binds the whole list as one
    /// array parameter (`= ANY($1)`), so one statement serves every list length; the
    /// others bind one parameter a key.
    pub fn max_in_list(self) -> usize {
        match self {
            Dialect::Postgres => usize::MAX,
            Dialect::Sqlite | Dialect::Mysql => self.max_params(),
        }
    }

    /// How many keys fit one `IN` condition of a statement that already binds `used`
    /// parameters (at least one).
    pub fn in_list_budget(self, used: usize) -> usize {
        match self.max_in_list() {
            usize::MAX => usize::MAX,
            n => n.saturating_sub(used).max(1),
        }
    }

    /// What this backend can store beyond what every backend can: the compiler refuses
    /// the rest before any query (`SqlWriter::bind`). MySQL's FLOAT and DOUBLE have no
    /// ±infinity (it would be an out-of-range error, or NULL).
    #[inline(always)]
    pub fn value_support(self) -> ValueSupport {
        match self {
            Dialect::Sqlite | Dialect::Postgres => ValueSupport::ALL,
            Dialect::Mysql => ValueSupport { infinity: false },
        }
    }

    /// Whether `INSERT … RETURNING` is available.
    pub fn supports_returning(self) -> bool {
        !matches!(self, Dialect::Mysql)
    }

    /// The column type in `CREATE TABLE`.
    pub fn column_type(self, ty: SqlType) -> &'static str {
        use Dialect::*;
        use SqlType::*;
        match (self, ty) {
            (Sqlite, Bool) => "BOOLEAN",
            (Postgres, Bool) => "BOOLEAN",
            (Mysql, Bool) => "BOOL",
            (_, I16) => "SMALLINT",
            (_, I32) => "INTEGER",
            (_, I64) => "BIGINT",
            (Postgres, F32) => "REAL",
            (Sqlite, F32) => "REAL",
            (Mysql, F32) => "FLOAT",
            (Sqlite, F64) => "REAL",
            (Mysql, F64) => "DOUBLE",
            (_, F64) => "DOUBLE PRECISION",
            (Mysql, Text) => "LONGTEXT",
            (_, Text) => "TEXT",
            (Postgres, Bytes) => "BYTEA",
            (Mysql, Bytes) => "LONGBLOB",
            (_, Bytes) => "BLOB",
            (Sqlite, Date) => "TEXT",
            (_, Date) => "DATE",
            (Sqlite, Time) => "TEXT",
            (Mysql, Time) => "TIME(6)",
            (_, Time) => "TIME",
            (Sqlite, DateTime) => "TEXT",
            (Postgres, DateTime) => "TIMESTAMP",
            (Mysql, DateTime) => "DATETIME(6)",
            (Sqlite, DateTimeTz) => "TEXT",
            (Postgres, DateTimeTz) => "TIMESTAMPTZ",
            // In UTC (every connection sets `time_zone = '+00:00'`); MySQL's TIMESTAMP
            // would stop at 2038.
            (Mysql, DateTimeTz) => "DATETIME(6)",
            (Postgres, Uuid) => "UUID",
            (Sqlite, Uuid) => "BLOB",
            (Mysql, Uuid) => "BINARY(16)",
            (Postgres, Decimal) => "NUMERIC",
            // Text keeps every digit (NUMERIC affinity would round past 15 of them); the
            // compiler compares and sorts it with SQLITE_DECIMAL_COLLATION, by exact value.
            (Sqlite, Decimal) => "TEXT",
            // MySQL's widest: 35 digits before the point, 30 after (a Decimal has at most
            // 28 after it). The column has one scale, so `1.50` reads back as `1.5`.
            (Mysql, Decimal) => "DECIMAL(65, 30)",
            (Postgres, Json) => "JSONB",
            (Sqlite, Json) => "TEXT",
            (Mysql, Json) => "JSON",
        }
    }

    /// The column type of a column that is (part of) a key or an index: the same as
    /// [`Dialect::column_type`], except on MySQL, whose TEXT and BLOB columns cannot be
    /// keys: there text and bytes keys are `VARCHAR(255)`/`VARBINARY(255)` (a longer value
    /// is refused with an error naming the field, never cut short).
    pub fn key_column_type(self, ty: SqlType) -> &'static str {
        match (self, ty) {
            (Dialect::Mysql, SqlType::Text) => "VARCHAR(255)",
            (Dialect::Mysql, SqlType::Bytes) => "VARBINARY(255)",
            _ => self.column_type(ty),
        }
    }

    /// The column definition of an auto-increment primary key of type `ty`.
    pub fn auto_pk(self, ty: SqlType) -> &'static str {
        match (self, ty) {
            (Dialect::Sqlite, _) => "INTEGER PRIMARY KEY AUTOINCREMENT",
            (Dialect::Postgres, SqlType::I16) => "SMALLSERIAL PRIMARY KEY",
            (Dialect::Postgres, SqlType::I32) => "SERIAL PRIMARY KEY",
            (Dialect::Postgres, _) => "BIGSERIAL PRIMARY KEY",
            (Dialect::Mysql, SqlType::I16) => "SMALLINT AUTO_INCREMENT PRIMARY KEY",
            (Dialect::Mysql, SqlType::I32) => "INTEGER AUTO_INCREMENT PRIMARY KEY",
            (Dialect::Mysql, _) => "BIGINT AUTO_INCREMENT PRIMARY KEY",
        }
    }
}

/// Write `n` in decimal, in place (without `format!`'s machinery: the compiler writes one
/// per placeholder and per LIMIT).
pub(crate) fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_the_quote_character() {
        let mut s = String::new();
        Dialect::Postgres.quote_into(&mut s, r#"we"ird"#);
        assert_eq!(s, r#""we""ird""#);
        let mut s = String::new();
        Dialect::Mysql.quote_into(&mut s, "a`b");
        assert_eq!(s, "`a``b`");
    }

    #[test]
    fn decimals_and_placeholders_are_written_in_place() {
        for n in [0u64, 7, 10, 21, 65535, u64::MAX] {
            let mut s = String::from("x");
            push_decimal(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
        let mut s = String::new();
        Dialect::Postgres.placeholder_into(&mut s, 12);
        Dialect::Sqlite.placeholder_into(&mut s, 12);
        assert_eq!(s, "$12?");
    }

    #[test]
    fn every_arithmetic_function_is_found_under_its_type() {
        for (name, ty) in &SQLITE_ARITH_FUNCTIONS {
            assert_eq!(sqlite_arith_fn(*ty), Some(*name));
        }
        assert_eq!(sqlite_arith_fn(SqlType::Text), None);
        assert_eq!(sqlite_arith_op(ArithOp::Div), "'/'");
    }

    #[test]
    fn mysql_checks_are_read_back_from_the_messages_of_both_servers() {
        use MysqlCheck::*;
        let mariadb = |e: &str| format!("BIGINT UNSIGNED value is out of range in '{e}'");
        for check in [
            DivisionByZero,
            Underflow,
            Overflow,
            Numeric,
            Range(SqlType::I64),
        ] {
            let sql = check.raise_sql().unwrap();
            let inner = &sql["CAST(".len()..sql.len() - " AS SIGNED)".len()];
            assert_eq!(
                MysqlCheck::from_message(&mariadb(&inner.to_lowercase())),
                Some(check)
            );
            let mysql = format!("({})", inner.to_lowercase());
            assert_eq!(MysqlCheck::from_message(&mariadb(&mysql)), Some(check));
        }
        assert_eq!(
            MysqlCheck::from_message(&mariadb(
                "cast(0 as unsigned) + 2147483648 + `t`.`n` * 2 + 18446744069414584320"
            )),
            Some(Range(SqlType::I32))
        );
        assert_eq!(
            MysqlCheck::from_message(&mariadb("((cast(0 as unsigned) + 32768) + `t`.`n`)")),
            Some(Range(SqlType::I16))
        );
        for other in [
            "BIGINT value is out of range in '9223372036854775807 + 1'",
            "BIGINT UNSIGNED value is out of range in 'cast(0 as unsigned) - 10'",
            "DOUBLE value is out of range in '1e308 * 10'",
            "Out of range value for column 'x' at row 1",
        ] {
            assert_eq!(MysqlCheck::from_message(other), None, "{other}");
        }
        assert_eq!(MysqlCheck::range_sql(SqlType::I64), None);
        assert_eq!(Range(SqlType::I32).raise_sql(), None);
    }

    #[test]
    fn fold_case_is_one_to_one() {
        assert_eq!(fold_case("ÀΣÉİ Straße"), "àσéi straße");
        for c in ['İ', 'Σ', 'ẞ', 'A'] {
            assert_eq!(fold_case(&c.to_string()).chars().count(), 1);
        }
    }
}
