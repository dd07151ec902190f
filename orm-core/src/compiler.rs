//! Turning a [`Query`] into SQL text and bound parameters for one dialect.

use crate::dialect::{Dialect, fold_case};
use crate::error::{Error, Result};
use crate::expr::{ColumnRef, MAX_PATH_DEPTH, Term};
use crate::model::ModelMeta;
use crate::ordering::OrderTerm;
use crate::q::{CmpOp, Cond, LikeKind};
use crate::query::{Query, Select};
use crate::update::Assignment;
use crate::value::Value;

/// SQL text with its bound parameters, ready for a backend to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Value>,
}

impl std::fmt::Display for Statement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.sql)?;
        if !self.params.is_empty() {
            write!(f, "  -- params: {:?}", self.params)?;
        }
        Ok(())
    }
}

/// Accumulates SQL and parameters for one statement.
pub struct SqlWriter {
    pub dialect: Dialect,
    pub sql: String,
    pub params: Vec<Value>,
    root: &'static ModelMeta,
    /// Whether column references are written with their table name.
    qualify: bool,
}

impl SqlWriter {
    pub fn new(dialect: Dialect, root: &'static ModelMeta) -> Self {
        SqlWriter {
            dialect,
            sql: String::with_capacity(128),
            params: Vec::new(),
            root,
            qualify: true,
        }
    }

    pub fn finish(self) -> Statement {
        Statement {
            sql: self.sql,
            params: self.params,
        }
    }

    pub fn push(&mut self, s: &str) {
        self.sql.push_str(s);
    }

    pub fn ident(&mut self, name: &str) {
        self.dialect.quote_into(&mut self.sql, name);
    }

    pub fn bind(&mut self, v: Value) {
        self.params.push(v);
        self.dialect
            .placeholder_into(&mut self.sql, self.params.len());
    }

    fn column(&mut self, c: &ColumnRef) -> Result<()> {
        if c.path.overflowed() {
            return Err(Error::PathTooDeep {
                path: format!("{:?}", c.path),
                max: MAX_PATH_DEPTH,
            });
        }
        if !c.path.is_root() {
            return Err(Error::Unsupported {
                what: format!("the lookup across the relation `{:?}`", c.path),
                backend: self.dialect.name(),
                hint: ": relation joins are not built yet",
            });
        }
        if self.qualify {
            self.ident(self.root.table);
            self.sql.push('.');
        }
        self.ident(c.column);
        Ok(())
    }

    pub fn term(&mut self, t: &Term) -> Result<()> {
        match t {
            Term::Column(c) => self.column(c),
            Term::Value(v) => {
                self.bind(v.clone());
                Ok(())
            }
            Term::Arith(a, op, b) => {
                self.sql.push('(');
                self.term(a)?;
                self.sql.push(' ');
                self.sql.push_str(op.sql());
                self.sql.push(' ');
                self.term(b)?;
                self.sql.push(')');
                Ok(())
            }
        }
    }

    /// Write a condition. `negated` is true inside an odd number of NOTs: there, a lookup on
    /// a nullable column also requires the column to be NOT NULL, so that `exclude(age = 5)`
    /// keeps the rows whose age is NULL, as Django does.
    pub fn cond(&mut self, c: &Cond, negated: bool) -> Result<()> {
        match c {
            Cond::And(parts) | Cond::Or(parts) => {
                let sep = if matches!(c, Cond::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                self.sql.push('(');
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        self.sql.push_str(sep);
                    }
                    self.cond(p, negated)?;
                }
                self.sql.push(')');
                Ok(())
            }
            Cond::Not(inner) => {
                self.sql.push_str("NOT (");
                self.cond(inner, !negated)?;
                self.sql.push(')');
                Ok(())
            }
            Cond::Const(true) => {
                self.sql.push_str("1 = 1");
                Ok(())
            }
            Cond::Const(false) => {
                self.sql.push_str("1 = 0");
                Ok(())
            }
            Cond::IsNull { lhs, is_null } => {
                self.term(lhs)?;
                self.sql
                    .push_str(if *is_null { " IS NULL" } else { " IS NOT NULL" });
                Ok(())
            }
            leaf => {
                let mut nullable = Vec::new();
                if negated {
                    leaf_terms(leaf, |t| t.nullable_columns(&mut nullable));
                }
                if nullable.is_empty() {
                    self.leaf(leaf)
                } else {
                    self.sql.push('(');
                    self.leaf(leaf)?;
                    for col in &nullable {
                        self.sql.push_str(" AND ");
                        self.column(col)?;
                        self.sql.push_str(" IS NOT NULL");
                    }
                    self.sql.push(')');
                    Ok(())
                }
            }
        }
    }

    fn leaf(&mut self, c: &Cond) -> Result<()> {
        match c {
            Cond::Compare { lhs, op, rhs } => {
                if matches!(rhs, Term::Value(v) if v.is_null()) {
                    return Err(Error::InvalidInput(
                        "None can only be compared with eq() (IS NULL) or is_null(); \
                         gt/gte/lt/lte with None match nothing in SQL"
                            .into(),
                    ));
                }
                self.term(lhs)?;
                self.sql.push_str(match op {
                    CmpOp::Eq => " = ",
                    CmpOp::Gt => " > ",
                    CmpOp::Gte => " >= ",
                    CmpOp::Lt => " < ",
                    CmpOp::Lte => " <= ",
                });
                self.term(rhs)
            }
            Cond::Between { lhs, low, high } => {
                self.term(lhs)?;
                self.sql.push_str(" BETWEEN ");
                self.term(low)?;
                self.sql.push_str(" AND ");
                self.term(high)
            }
            Cond::In { lhs, values } => {
                // Django drops None from `in` lists: NULL never equals anything.
                let values: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
                if values.is_empty() {
                    self.sql.push_str("1 = 0");
                    return Ok(());
                }
                self.term(lhs)?;
                self.sql.push_str(" IN (");
                for (i, v) in values.into_iter().enumerate() {
                    if i > 0 {
                        self.sql.push_str(", ");
                    }
                    self.bind(v.clone());
                }
                self.sql.push(')');
                Ok(())
            }
            Cond::Like {
                lhs,
                kind,
                case_insensitive,
                value,
            } => self.like(lhs, *kind, *case_insensitive, value),
            Cond::Regex {
                lhs,
                pattern,
                case_insensitive,
            } => {
                self.term(lhs)?;
                match self.dialect {
                    Dialect::Postgres => {
                        self.sql
                            .push_str(if *case_insensitive { " ~* " } else { " ~ " });
                        self.bind(Value::Text(pattern.clone()));
                    }
                    Dialect::Sqlite => {
                        self.sql.push_str(" REGEXP ");
                        let p = if *case_insensitive {
                            format!("(?i){pattern}")
                        } else {
                            pattern.clone()
                        };
                        self.bind(Value::Text(p));
                    }
                    Dialect::Mysql => {
                        self.sql.push_str(if *case_insensitive {
                            " REGEXP "
                        } else {
                            " REGEXP BINARY "
                        });
                        self.bind(Value::Text(pattern.clone()));
                    }
                }
                Ok(())
            }
            Cond::And(_) | Cond::Or(_) | Cond::Not(_) | Cond::Const(_) | Cond::IsNull { .. } => {
                self.cond(c, false)
            }
        }
    }

    fn like(&mut self, lhs: &Term, kind: LikeKind, ci: bool, value: &str) -> Result<()> {
        match (self.dialect, ci) {
            // SQLite's LIKE ignores ASCII case only; its GLOB is exact.
            (Dialect::Sqlite, false) => {
                self.term(lhs)?;
                self.sql.push_str(" GLOB ");
                self.bind(Value::Text(wrap(kind, &escape_glob(value), '*')));
            }
            (Dialect::Sqlite, true) => {
                self.sql.push_str(crate::dialect::SQLITE_FOLD_CASE_FN);
                self.sql.push('(');
                self.term(lhs)?;
                self.sql.push_str(") LIKE ");
                let pattern = wrap(kind, &escape_like(&fold_case(value)), '%');
                self.bind(Value::Text(pattern));
                self.sql.push_str(" ESCAPE '\\'");
            }
            (Dialect::Postgres, _) => {
                self.term(lhs)?;
                self.sql.push_str(if ci { " ILIKE " } else { " LIKE " });
                self.bind(Value::Text(wrap(kind, &escape_like(value), '%')));
                self.sql.push_str(" ESCAPE '\\'");
            }
            (Dialect::Mysql, _) => {
                self.term(lhs)?;
                self.sql
                    .push_str(if ci { " LIKE " } else { " LIKE BINARY " });
                self.bind(Value::Text(wrap(kind, &escape_like(value), '%')));
                self.sql.push_str(" ESCAPE '\\\\'");
            }
        }
        Ok(())
    }

    fn order_by(&mut self, terms: &[OrderTerm]) -> Result<()> {
        if terms.is_empty() {
            return Ok(());
        }
        self.sql.push_str(" ORDER BY ");
        for (i, t) in terms.iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.term(&t.term)?;
            self.sql
                .push_str(if t.descending { " DESC" } else { " ASC" });
        }
        Ok(())
    }

    fn limits(&mut self, low: u64, high: Option<u64>) {
        match (high, self.dialect) {
            (Some(h), _) => {
                self.sql.push_str(" LIMIT ");
                self.sql.push_str(&(h - low).to_string());
            }
            (None, Dialect::Sqlite) if low > 0 => self.sql.push_str(" LIMIT -1"),
            (None, Dialect::Mysql) if low > 0 => self.sql.push_str(" LIMIT 18446744073709551615"),
            (None, _) => {}
        }
        if low > 0 {
            self.sql.push_str(" OFFSET ");
            self.sql.push_str(&low.to_string());
        }
    }

    fn where_clause(&mut self, filter: &[Cond]) -> Result<()> {
        if filter.is_empty() {
            return Ok(());
        }
        self.sql.push_str(" WHERE ");
        for (i, c) in filter.iter().enumerate() {
            if i > 0 {
                self.sql.push_str(" AND ");
            }
            self.cond(c, false)?;
        }
        Ok(())
    }

    fn select_list(&mut self, q: &Query) -> Result<()> {
        match &q.select {
            Select::Model => {
                for (i, c) in q.meta.columns.iter().enumerate() {
                    if i > 0 {
                        self.sql.push_str(", ");
                    }
                    self.ident(q.meta.table);
                    self.sql.push('.');
                    self.ident(c.column);
                }
            }
            Select::Terms(terms) => {
                for (i, t) in terms.iter().enumerate() {
                    if i > 0 {
                        self.sql.push_str(", ");
                    }
                    self.term(t)?;
                }
            }
        }
        Ok(())
    }

    fn from(&mut self, meta: &ModelMeta) {
        self.sql.push_str(" FROM ");
        self.ident(meta.table);
    }
}

fn leaf_terms(c: &Cond, mut f: impl FnMut(&Term)) {
    match c {
        Cond::Compare { lhs, rhs, .. } => {
            f(lhs);
            f(rhs);
        }
        Cond::Between { lhs, low, high } => {
            f(lhs);
            f(low);
            f(high);
        }
        Cond::In { lhs, .. } | Cond::Like { lhs, .. } | Cond::Regex { lhs, .. } => f(lhs),
        _ => {}
    }
}

/// Escape `\`, `%` and `_` so that they match themselves in a LIKE pattern with `ESCAPE '\'`.
pub fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Escape `*`, `?` and `[` so that they match themselves in a SQLite GLOB pattern.
pub fn escape_glob(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        match c {
            '*' => out.push_str("[*]"),
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            c => out.push(c),
        }
    }
    out
}

fn wrap(kind: LikeKind, escaped: &str, any: char) -> String {
    let mut out = String::with_capacity(escaped.len() + 2);
    if matches!(kind, LikeKind::Contains | LikeKind::EndsWith) {
        out.push(any);
    }
    out.push_str(escaped);
    if matches!(kind, LikeKind::Contains | LikeKind::StartsWith) {
        out.push(any);
    }
    out
}

/// `SELECT … FROM … WHERE … ORDER BY … LIMIT … OFFSET …`
pub fn select(q: &Query, dialect: Dialect) -> Result<Statement> {
    let mut w = SqlWriter::new(dialect, q.meta);
    write_select(&mut w, q)?;
    Ok(w.finish())
}

fn write_select(w: &mut SqlWriter, q: &Query) -> Result<()> {
    w.push(if q.distinct {
        "SELECT DISTINCT "
    } else {
        "SELECT "
    });
    w.select_list(q)?;
    w.from(q.meta);
    w.where_clause(&q.filter)?;
    w.order_by(&q.effective_ordering())?;
    w.limits(q.low, q.high);
    Ok(())
}

/// `SELECT COUNT(*) …`; over a subquery when the query is sliced or distinct.
pub fn count(q: &Query, dialect: Dialect) -> Result<Statement> {
    let mut w = SqlWriter::new(dialect, q.meta);
    if q.is_sliced() || q.distinct {
        let mut inner = q.clone();
        if !inner.is_sliced() {
            inner.order_by.clear();
        }
        w.push("SELECT COUNT(*) FROM (");
        write_select(&mut w, &inner)?;
        w.push(") ");
        w.ident("subquery");
    } else {
        w.push("SELECT COUNT(*)");
        w.from(q.meta);
        w.where_clause(&q.filter)?;
    }
    Ok(w.finish())
}

/// `SELECT 1 … LIMIT 1` (within the slice, if any).
pub fn exists(q: &Query, dialect: Dialect) -> Result<Statement> {
    let mut inner = q.clone();
    inner.order_by.clear();
    inner.set_limits(None, Some(1));
    let mut w = SqlWriter::new(dialect, q.meta);
    if inner.distinct {
        w.push("SELECT 1 FROM (");
        write_select(&mut w, &inner)?;
        w.push(") ");
        w.ident("subquery");
    } else {
        w.push("SELECT 1 AS ");
        w.ident("a");
        w.from(q.meta);
        w.where_clause(&inner.filter)?;
        w.limits(inner.low, inner.high);
    }
    Ok(w.finish())
}

/// `UPDATE … SET … WHERE …`
pub fn update<R>(q: &Query, assignments: &[Assignment<R>], dialect: Dialect) -> Result<Statement> {
    if assignments.is_empty() {
        return Err(Error::InvalidInput(
            "update() needs at least one assignment (`b.field.set(value)`)".into(),
        ));
    }
    let mut w = SqlWriter::new(dialect, q.meta);
    w.push("UPDATE ");
    w.ident(q.meta.table);
    w.push(" SET ");
    for (i, a) in assignments.iter().enumerate() {
        if !a.column.path.is_root() {
            return Err(Error::InvalidInput(format!(
                "update() can only set columns of {} itself, not `{:?}__{}`",
                q.meta.name, a.column.path, a.column.column
            )));
        }
        if i > 0 {
            w.push(", ");
        }
        w.ident(a.column.column);
        w.push(" = ");
        w.term(&a.value)?;
    }
    w.where_clause(&q.filter)?;
    Ok(w.finish())
}

/// `DELETE FROM … WHERE …`
pub fn delete(q: &Query, dialect: Dialect) -> Result<Statement> {
    let mut w = SqlWriter::new(dialect, q.meta);
    w.push("DELETE");
    w.from(q.meta);
    w.where_clause(&q.filter)?;
    Ok(w.finish())
}

/// A multi-row `INSERT`, leaving out the auto primary key when `skip_auto_pk`, with
/// `RETURNING` the primary key when the dialect has it.
pub fn insert(
    meta: &'static ModelMeta,
    rows: &[Vec<Value>],
    skip_auto_pk: bool,
    dialect: Dialect,
) -> Statement {
    let mut w = SqlWriter::new(dialect, meta);
    let included: Vec<usize> = (0..meta.columns.len())
        .filter(|&i| !(skip_auto_pk && i == meta.pk && meta.columns[i].auto))
        .collect();
    w.push("INSERT INTO ");
    w.ident(meta.table);
    if included.is_empty() {
        w.push(" DEFAULT VALUES");
    } else {
        w.push(" (");
        for (n, &i) in included.iter().enumerate() {
            if n > 0 {
                w.push(", ");
            }
            w.ident(meta.columns[i].column);
        }
        w.push(") VALUES ");
        for (r, row) in rows.iter().enumerate() {
            if r > 0 {
                w.push(", ");
            }
            w.push("(");
            for (n, &i) in included.iter().enumerate() {
                if n > 0 {
                    w.push(", ");
                }
                w.bind(row[i].clone());
            }
            w.push(")");
        }
    }
    if dialect.supports_returning() {
        w.push(" RETURNING ");
        w.ident(meta.pk_column().column);
    }
    w.finish()
}

/// `CREATE TABLE IF NOT EXISTS` for a model.
pub fn create_table(meta: &'static ModelMeta, dialect: Dialect) -> Statement {
    let mut w = SqlWriter::new(dialect, meta);
    w.push("CREATE TABLE IF NOT EXISTS ");
    w.ident(meta.table);
    w.push(" (");
    for (i, c) in meta.columns.iter().enumerate() {
        if i > 0 {
            w.push(", ");
        }
        w.ident(c.column);
        w.push(" ");
        if c.auto {
            w.push(dialect.auto_pk(c.sql_type));
        } else {
            w.push(dialect.column_type(c.sql_type));
            if c.primary_key {
                w.push(" PRIMARY KEY");
            } else if !c.nullable {
                w.push(" NOT NULL");
            }
        }
    }
    w.push(")");
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_escaping_covers_the_escape_character() {
        assert_eq!(escape_like(r"50%_off\now"), r"50\%\_off\\now");
        assert_eq!(escape_glob("a*b?[c]"), "a[*]b[?][[]c]");
        assert_eq!(wrap(LikeKind::Contains, "x", '%'), "%x%");
        assert_eq!(wrap(LikeKind::EndsWith, "x", '%'), "%x");
        assert_eq!(wrap(LikeKind::Exact, "x", '%'), "x");
    }
}
