//! Raw SQL written once for every backend: `?` placeholders, translated per dialect
//! (`$1, $2, …` on PostgreSQL), and the values bound to them.
//!
//! The SQL is scanned, not parsed: a `?` inside a string literal, a quoted identifier, a
//! comment or (on PostgreSQL) a dollar-quoted string is text, not a placeholder; MySQL's
//! executable comments (`/*! … */`) are scanned as SQL. On PostgreSQL `??` writes a literal
//! `?` (its JSON operators `?`, `?|`, `?&`); elsewhere it is refused. Numbered
//! placeholders (`?1`, `$1`) are refused, and so is a second statement: every placeholder
//! is `?`, one per value, in order, so the same string runs on every backend.

use crate::error::{Error, Result};
use crate::schema::value::{FieldType, Value};
use crate::sql::compiler::Statement;
use crate::sql::dialect::Dialect;

/// One value bound to a raw statement's `?`: any field type (`42`, `String`,
/// `Option<i32>`, a `chrono` date…), a `&str`, or a [`Value`].
///
/// ```
/// use orm_core::sql::raw::RawParam;
/// use orm_core::Value;
/// assert_eq!(42i64.into_value(), Value::I64(42));
/// assert_eq!("x".into_value(), Value::Text("x".into()));
/// assert!(None::<i32>.into_value().is_null());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be bound to a raw statement's `?`",
    label = "expected a field type (i64, String, Option<i32>…), a `&str` or a `Value`",
    note = "values are always bound, never written into the SQL; pass owned values or `&str`"
)]
pub trait RawParam {
    /// The value to bind.
    fn into_value(self) -> Value;
}

impl<T: FieldType> RawParam for T {
    fn into_value(self) -> Value {
        self.to_value()
    }
}

impl RawParam for &str {
    fn into_value(self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl RawParam for Value {
    fn into_value(self) -> Value {
        self
    }
}

/// The values of a raw statement, one per `?`, in order: `()` for none, a tuple
/// (`(300, "Alice")`), an array (`[1, 2]`) or a `Vec` of one type.
///
/// ```
/// use orm_core::sql::raw::RawParams;
/// use orm_core::Value;
/// assert_eq!((300, "Alice").into_values(), vec![Value::I32(300), Value::Text("Alice".into())]);
/// assert_eq!([1i64, 2].into_values().len(), 2);
/// assert!(().into_values().is_empty());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a list of values for a raw statement",
    label = "expected `()`, a tuple of values, an array or a `Vec`",
    note = "one value per `?`: `(300, \"Alice\")`, `[1, 2, 3]`, or `()` when the SQL has no `?`"
)]
pub trait RawParams {
    /// The values, in placeholder order.
    fn into_values(self) -> Vec<Value>;
}

impl RawParams for () {
    fn into_values(self) -> Vec<Value> {
        Vec::new()
    }
}

impl<P: RawParam, const N: usize> RawParams for [P; N] {
    fn into_values(self) -> Vec<Value> {
        self.into_iter().map(RawParam::into_value).collect()
    }
}

impl<P: RawParam> RawParams for Vec<P> {
    fn into_values(self) -> Vec<Value> {
        self.into_iter().map(RawParam::into_value).collect()
    }
}

macro_rules! tuple_params {
    ($($n:ident $t:ident),+) => {
        impl<$($t: RawParam),+> RawParams for ($($t,)+) {
            fn into_values(self) -> Vec<Value> {
                let ($($n,)+) = self;
                vec![$($n.into_value()),+]
            }
        }
    };
}
tuple_params!(a A);
tuple_params!(a A, b B);
tuple_params!(a A, b B, c C);
tuple_params!(a A, b B, c C, d D);
tuple_params!(a A, b B, c C, d D, e E);
tuple_params!(a A, b B, c C, d D, e E, f F);
tuple_params!(a A, b B, c C, d D, e E, f F, g G);
tuple_params!(a A, b B, c C, d D, e E, f F, g G, h H);

/// `sql` with its `?` placeholders written for `dialect`, and `params` bound to them.
///
/// Refused before any query, with [`Error::InvalidInput`]: a number of values that is not
/// the number of placeholders, a numbered placeholder (`?1`, `$1`), an unterminated
/// string, identifier or comment. A value no backend stores faithfully (NaN, NUL in
/// text…) is refused as the compiler refuses it ([`Error::InvalidValue`]).
///
/// ```
/// use orm_core::sql::raw::raw_statement;
/// use orm_core::{Dialect, Value};
/// let sql = "SELECT * FROM books WHERE pages > ? AND title <> 'why?'";
/// let stmt = raw_statement(sql, vec![Value::I32(300)], Dialect::Postgres)?;
/// assert_eq!(stmt.sql, "SELECT * FROM books WHERE pages > $1 AND title <> 'why?'");
/// assert!(raw_statement(sql, vec![], Dialect::Sqlite).is_err());
/// # Ok::<(), orm_core::Error>(())
/// ```
pub fn raw_statement(sql: &str, params: Vec<Value>, dialect: Dialect) -> Result<Statement> {
    let support = dialect.value_support();
    for (i, v) in params.iter().enumerate() {
        if !v.is_faithful_on(support) {
            return Err(Error::InvalidValue {
                field: format!("raw SQL parameter {}", i + 1),
                reason: v
                    .invalid_reason_on(support, dialect.name())
                    .unwrap_or_default(),
            });
        }
    }
    let out = translate(sql, dialect)?;
    if out.placeholders != params.len() {
        return Err(Error::InvalidInput(format!(
            "the raw SQL has {} placeholder(s) `?` but {} value(s) were given: pass one value \
             per `?` (write `??` for a literal `?`)\n  in: {}",
            out.placeholders,
            params.len(),
            crate::error::sql_excerpt(sql)
        )));
    }
    Ok(Statement::new(out.sql, params))
}

struct Translated {
    sql: String,
    placeholders: usize,
}

/// Copy `sql`, writing each `?` outside quotes and comments as `dialect`'s placeholder.
fn translate(sql: &str, dialect: Dialect) -> Result<Translated> {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    // `copied` is where the next verbatim copy starts; every construct below is ASCII, so
    // slicing at these byte offsets stays on character boundaries.
    let mut copied = 0;
    let mut i = 0;
    let unterminated = |what: &str| {
        Error::InvalidInput(format!(
            "the raw SQL has an unterminated {what}\n  in: {}",
            crate::error::sql_excerpt(sql)
        ))
    };
    let ident_char = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\'' => {
                // MySQL reads backslash escapes in every string; PostgreSQL in E'…' only.
                let backslash = match dialect {
                    Dialect::Mysql => true,
                    Dialect::Postgres => {
                        i > 0
                            && matches!(bytes[i - 1], b'E' | b'e')
                            && (i < 2 || !ident_char(bytes[i - 2]))
                    }
                    Dialect::Sqlite => false,
                };
                i = skip_quoted(bytes, i, b'\'', backslash)
                    .ok_or_else(|| unterminated("string"))?;
            }
            b'"' => {
                let backslash = dialect == Dialect::Mysql;
                i = skip_quoted(bytes, i, b'"', backslash)
                    .ok_or_else(|| unterminated("quoted identifier"))?;
            }
            b'`' if dialect != Dialect::Postgres => {
                i = skip_quoted(bytes, i, b'`', false)
                    .ok_or_else(|| unterminated("quoted identifier"))?;
            }
            b'[' if dialect == Dialect::Sqlite => {
                i = skip_quoted(bytes, i, b']', false)
                    .ok_or_else(|| unterminated("quoted identifier"))?;
            }
            // MySQL's `--` starts a comment only before a blank (`5--1` is arithmetic).
            b'-' if bytes.get(i + 1) == Some(&b'-')
                && (dialect != Dialect::Mysql
                    || bytes.get(i + 2).is_none_or(|b| b.is_ascii_whitespace())) =>
            {
                i = skip_line(bytes, i)
            }
            b'#' if dialect == Dialect::Mysql => i = skip_line(bytes, i),
            // MySQL runs the text of `/*! … */` (and MariaDB of `/*M! … */`): scanned as
            // SQL, only the comment markers skipped.
            b'/' if dialect == Dialect::Mysql
                && bytes.get(i + 1) == Some(&b'*')
                && (bytes.get(i + 2) == Some(&b'!')
                    || (bytes.get(i + 2) == Some(&b'M') && bytes.get(i + 3) == Some(&b'!'))) =>
            {
                i += 3;
            }
            b'*' if dialect == Dialect::Mysql && bytes.get(i + 1) == Some(&b'/') => i += 2,
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                // PostgreSQL nests block comments; the others end at the first `*/`.
                i = skip_block_comment(bytes, i, dialect == Dialect::Postgres)
                    .ok_or_else(|| unterminated("comment"))?;
            }
            // One statement: SQLite would run every statement of the string (and read the
            // last one's rows by the first one's column names), the others refuse them.
            b';' => {
                let rest = &sql[i + 1..];
                if !only_blanks_and_comments(rest, dialect) {
                    return Err(Error::InvalidInput(format!(
                        "raw SQL runs one statement; this one has a `;` followed by more SQL: \
                         send each statement on its own\n  in: {}",
                        crate::error::sql_excerpt(sql)
                    )));
                }
                i += 1;
            }
            b'$' if dialect == Dialect::Postgres && (i == 0 || !ident_char(bytes[i - 1])) => {
                if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    return Err(numbered(sql, "$"));
                }
                // A dollar-quoted string: `$$…$$` or `$tag$…$tag$`.
                let tag_end = bytes[i + 1..]
                    .iter()
                    .position(|&c| !ident_char(c))
                    .map(|p| i + 1 + p);
                match tag_end {
                    Some(end) if bytes[end] == b'$' => {
                        let tag = &sql[i..=end];
                        i = match sql[end + 1..].find(tag) {
                            Some(close) => end + 1 + close + tag.len(),
                            None => return Err(unterminated("dollar-quoted string")),
                        };
                    }
                    _ => i += 1,
                }
            }
            b'$' if dialect != Dialect::Postgres
                && (i == 0 || !ident_char(bytes[i - 1]))
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) =>
            {
                return Err(numbered(sql, "$"));
            }
            b'?' => {
                out.push_str(&sql[copied..i]);
                if bytes.get(i + 1) == Some(&b'?') {
                    // A literal `?` is an operator on PostgreSQL (jsonb `?`, `?|`, `?&`);
                    // SQLite and MySQL would read it as one more placeholder, bound to
                    // nothing (SQLite binds NULL to it and shifts the values).
                    if dialect != Dialect::Postgres {
                        return Err(Error::InvalidInput(format!(
                            "`??` writes a literal `?`, which only PostgreSQL has (its JSON \
                             operators); on {} a `?` is always a placeholder\n  in: {}",
                            dialect.name(),
                            crate::error::sql_excerpt(sql)
                        )));
                    }
                    out.push('?');
                    i += 2;
                } else if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    return Err(numbered(sql, "?"));
                } else {
                    n += 1;
                    dialect.placeholder_into(&mut out, n);
                    i += 1;
                }
                copied = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied..]);
    Ok(Translated {
        sql: out,
        placeholders: n,
    })
}

/// Whether `rest` holds nothing but blanks, `;` and comments.
fn only_blanks_and_comments(rest: &str, dialect: Dialect) -> bool {
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b if b.is_ascii_whitespace() || b == b';' => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => i = skip_line(bytes, i),
            b'#' if dialect == Dialect::Mysql => i = skip_line(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'*') && bytes.get(i + 2) != Some(&b'!') => {
                match skip_block_comment(bytes, i, dialect == Dialect::Postgres) {
                    Some(end) => i = end,
                    None => return false,
                }
            }
            _ => return false,
        }
    }
    true
}

fn numbered(sql: &str, sigil: &str) -> Error {
    Error::InvalidInput(format!(
        "raw SQL takes one `?` per value, in order, on every backend; `{sigil}1`-style numbered \
         placeholders are not translated (repeat the value instead)\n  in: {}",
        crate::error::sql_excerpt(sql)
    ))
}

/// The index just past the quoted run opening at `start` (closed by `close`, which is
/// doubled to escape it; `\` escapes the next byte when `backslash`), or `None`.
fn skip_quoted(bytes: &[u8], start: usize, close: u8, backslash: bool) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        let b = bytes[i];
        if backslash && b == b'\\' {
            i += 2;
        } else if b == close {
            if bytes.get(i + 1) == Some(&close) && close != b']' {
                i += 2;
            } else {
                return Some(i + 1);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// The index just past the block comment opening at `start`, or `None`.
fn skip_block_comment(bytes: &[u8], start: usize, nested: bool) -> Option<usize> {
    let mut depth = 1;
    let mut i = start + 2;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            (b'/', b'*') if nested => {
                depth += 1;
                i += 2;
            }
            _ => i += 1,
        }
    }
    None
}

/// The index of the end of the line comment starting at `start`.
fn skip_line(bytes: &[u8], start: usize) -> usize {
    bytes[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| start + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(sql: &str) -> String {
        translate(sql, Dialect::Postgres).map(|t| t.sql).unwrap()
    }

    #[test]
    fn placeholders_are_numbered_on_postgres_and_kept_elsewhere() {
        assert_eq!(pg("a = ? AND b IN (?, ?)"), "a = $1 AND b IN ($2, $3)");
        let t = translate("a = ? AND b = ?", Dialect::Mysql).unwrap();
        assert_eq!((t.sql.as_str(), t.placeholders), ("a = ? AND b = ?", 2));
    }

    #[test]
    fn a_question_mark_in_text_is_not_a_placeholder() {
        assert_eq!(pg("'?' || ? || 'it''s ?'"), "'?' || $1 || 'it''s ?'");
        assert_eq!(pg(r#""we?ird" = ?"#), r#""we?ird" = $1"#);
        assert_eq!(pg("-- why?\n? /* or? */ ?"), "-- why?\n$1 /* or? */ $2");
        assert_eq!(
            pg("$$ ? $$ || $x$ ? $x$ || ?"),
            "$$ ? $$ || $x$ ? $x$ || $1"
        );
        assert_eq!(pg(r"E'\'?' = ?"), r"E'\'?' = $1");
        assert_eq!(pg("data ?? 'k' AND ?"), "data ? 'k' AND $1");
        let my = translate(r"'\'?' = ? # ?", Dialect::Mysql).unwrap();
        assert_eq!((my.sql.as_str(), my.placeholders), (r"'\'?' = ? # ?", 1));
        let lite = translate("[a?] = ? AND `b?` = ?", Dialect::Sqlite).unwrap();
        assert_eq!(lite.placeholders, 2);
        // Not a backslash escape outside MySQL: the string ends at the second quote.
        assert_eq!(pg(r"'\' = ?"), r"'\' = $1");
        // Nested block comments on PostgreSQL; MySQL's `--` needs a blank after it.
        assert_eq!(pg("/* a /* ? */ ? */ ?"), "/* a /* ? */ ? */ $1");
        let lite = translate("/* a /* ? */ ? */ ?", Dialect::Sqlite).unwrap();
        assert_eq!(
            lite.placeholders, 2,
            "SQLite's comment ends at the first */"
        );
        let my = translate("SELECT 5--? \n, ? -- ?", Dialect::Mysql).unwrap();
        assert_eq!(my.placeholders, 2);
        // Multi-byte text around placeholders is copied intact.
        assert_eq!(pg("'é?' = ? AND 名 = ?"), "'é?' = $1 AND 名 = $2");
    }

    #[test]
    fn misuse_is_refused_before_any_query() {
        for (sql, d) in [
            ("a = ?1", Dialect::Sqlite),
            ("a = $1", Dialect::Postgres),
            ("a = $1", Dialect::Mysql),
            ("a = 'open", Dialect::Postgres),
            ("a = /* open", Dialect::Sqlite),
            ("a = $x$ open", Dialect::Postgres),
        ] {
            assert!(translate(sql, d).is_err(), "{sql}");
        }
        let e = raw_statement("a = ? AND b = ?", vec![Value::I32(1)], Dialect::Sqlite);
        assert!(e.unwrap_err().to_string().contains("2 placeholder(s)"));
        let e = raw_statement("a = ?", vec![Value::F64(f64::NAN)], Dialect::Sqlite);
        assert!(matches!(e, Err(Error::InvalidValue { .. })), "{e:?}");
        // `$` inside an identifier is not a placeholder.
        assert_eq!(pg("a$1 = ?"), "a$1 = $1");
    }
}
