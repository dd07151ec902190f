//! Turning a [`Query`] into SQL text and bound parameters for one dialect.
//!
//! This file is the writer every statement shares ([`SqlWriter`]: names, values,
//! conditions, expressions, joins); one file per kind of statement uses it:
//! `select.rs`, `dml.rs` (insert, update, delete, link rows), `upsert.rs` (conflict clauses,
//! `bulk_update`), `ddl.rs` (tables, indexes).

mod aggregate;
mod alter;
mod ddl;
mod dml;
mod link;
mod select;
mod shape;
mod upsert;

pub(crate) use aggregate::aggregate_type as aggregate_result_type;
pub use alter::*;
pub use ddl::*;
pub use dml::*;
pub use link::*;
use select::write_select;
pub use select::*;
#[doc(hidden)]
pub use shape::{CacheStats, compiled_sql_cache_stats, set_compiled_sql_cache};
pub use upsert::*;

use crate::dsl::expr::{ArithOp, ColumnRef, RelPath, Term};
use crate::dsl::ordering::OrderTerm;
use crate::dsl::q::{CmpOp, Cond, LikeKind};
use crate::dsl::query::{Query, Select};
use crate::dsl::select_related::SelectNode;
use crate::dsl::update::Assignment;
use crate::error::{Error, Result};
use crate::schema::model::ModelMeta;
use crate::schema::relation::{JoinOn, ThroughMeta};
use crate::schema::value::{SqlType, Value};
use crate::sql::dialect::{Dialect, MysqlCheck, fold_case, sqlite_arith_fn, sqlite_arith_op};
use crate::sql::join::{Aliases, Frame, JoinKind};

/// SQL text with its bound parameters, ready for a backend to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Value>,
    /// The tables it reads or writes, as the compiler saw them: what the query cache
    /// keys its invalidation on.
    pub tables: Tables,
}

/// The tables a [`Statement`] touches, from the compiler: every table named in its FROM
/// clauses, joins and subqueries (a read), or the one table it changes (a write). A
/// statement the compiler did not build (raw SQL, DDL, migrations' checks) is
/// [`Tables::Unknown`]: the query cache never stores what it reads, and treats it as a
/// write to every table unless it is a `SELECT`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tables {
    /// Not known: raw SQL, DDL.
    #[default]
    Unknown,
    /// A query reading these tables (each once, in the order the SQL names them).
    Read(Vec<&'static str>),
    /// A statement changing this table's rows (`INSERT`, `UPDATE`, `DELETE`, including
    /// those with `RETURNING`); what it reads besides (a subquery) does not matter.
    Write(&'static str),
}

impl Statement {
    /// A statement with SQL and values only ([`Tables::Unknown`]): raw SQL, DDL.
    pub fn new(sql: impl Into<String>, params: Vec<Value>) -> Statement {
        Statement {
            sql: sql.into(),
            params,
            tables: Tables::Unknown,
        }
    }

    /// This statement, marked as a query reading `table` only.
    pub(crate) fn reading(mut self, table: &'static str) -> Statement {
        self.tables = Tables::Read(vec![table]);
        self
    }

    /// This statement, marked as a write to `table`.
    pub(crate) fn writing(mut self, table: &'static str) -> Statement {
        self.tables = Tables::Write(table);
        self
    }
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
    /// The FROM clauses being written: the main query's, then any subquery's inside it.
    frames: Vec<Frame>,
    aliases: Aliases,
    /// Which `filter()` call is being written (joins through many-valued relations are
    /// per call).
    scope: Option<usize>,
    /// SQLite stores decimals as text (to keep every digit); comparisons and ordering use
    /// the backend's collation that orders them by exact value.
    collate_decimals: bool,
    /// The column the values being bound are compared with or stored in, for the message
    /// of a value no backend can hold faithfully (see [`SqlWriter::bind`]).
    target: Option<BindTarget>,
    /// The first such value, refused by [`SqlWriter::finish`] before any query runs.
    invalid: Option<Error>,
    /// Whether the condition being written is under a NOT (at any depth): there, a lookup
    /// across a many-valued relation is an `EXISTS` subquery of its own, as in Django.
    under_not: bool,
    /// The frames that are the roots of subqueries (`exists()`, a scalar subquery): an
    /// `outer()` column inside one reads the enclosing query's frame.
    subquery_frames: Vec<usize>,
    /// The joins the SELECT being written groups by (see `note_grouped_joins`).
    grouped_joins: Vec<usize>,
    /// Whether the SELECT being written groups its rows.
    grouping: bool,
    /// Name every item of the SELECT list: it is a derived table, whose columns must have
    /// distinct names (MySQL refuses two `COUNT(...)` or two `id`).
    alias_items: bool,
    /// How many items the last SELECT list written has (for the DISTINCT ordering terms
    /// added after it).
    items_written: u64,
    /// Where each bound value came from, recorded while the compiled-SQL cache compiles a
    /// shape the first time (`shape.rs`); `None` otherwise.
    sources: Option<Vec<shape::Source>>,
    /// Where the last LIMIT/OFFSET written starts in `sql` (the compiled-SQL cache keeps
    /// the text before it, and writes each hit's own).
    limits_at: usize,
}

/// ` LIMIT … OFFSET …` for the rows `low..high`, written into the text (numbers the
/// queryset's slice computed, not values a user bound).
pub(super) fn write_limits(sql: &mut String, dialect: Dialect, low: u64, high: Option<u64>) {
    // Databases take signed 64-bit limits; past that a window is as good as unbounded.
    let cap = i64::MAX as u64;
    let (low, high) = (low.min(cap), high.map(|h| h.min(cap)));
    match (high, dialect) {
        (Some(h), _) => {
            sql.push_str(" LIMIT ");
            crate::sql::dialect::push_decimal(sql, h.saturating_sub(low));
        }
        (None, Dialect::Sqlite) if low > 0 => sql.push_str(" LIMIT -1"),
        (None, Dialect::Mysql) if low > 0 => sql.push_str(" LIMIT 18446744073709551615"),
        (None, _) => {}
    }
    if low > 0 {
        sql.push_str(" OFFSET ");
        crate::sql::dialect::push_decimal(sql, low);
    }
}

/// What a bound value belongs to.
#[derive(Clone, Copy)]
enum BindTarget {
    /// A column of the statement's model or of a related one.
    Column(ColumnRef),
    /// A column of a table without a model (a many-to-many join table).
    Table(&'static str, &'static str),
    /// The column at this index of the statement's own model (an INSERT's).
    Own(usize),
}

impl SqlWriter {
    pub fn new(dialect: Dialect, root: &'static ModelMeta) -> Self {
        let mut aliases = Aliases::default();
        let root_alias = aliases.take(root.table);
        let collate_decimals = dialect == Dialect::Sqlite;
        SqlWriter {
            dialect,
            sql: String::with_capacity(128),
            params: Vec::new(),
            frames: vec![Frame::new(root, root_alias, RelPath::ROOT)],
            aliases,
            scope: None,
            collate_decimals,
            target: None,
            invalid: None,
            under_not: false,
            subquery_frames: Vec::new(),
            grouped_joins: Vec::new(),
            grouping: false,
            alias_items: false,
            items_written: 0,
            sources: None,
            limits_at: 0,
        }
    }

    /// The statement, or the first bound value that no backend can store or compare
    /// faithfully (`Error::InvalidValue`, naming its field), before any query is sent.
    pub fn finish(self) -> Result<Statement> {
        match self.invalid {
            Some(e) => Err(e),
            None => Ok(Statement {
                sql: self.sql,
                params: self.params,
                tables: Tables::Read(self.aliases.into_tables()),
            }),
        }
    }

    pub fn push(&mut self, s: &str) {
        self.sql.push_str(s);
    }

    pub fn ident(&mut self, name: &str) {
        self.dialect.quote_into(&mut self.sql, name);
    }

    /// A statement that binds nothing (DDL).
    fn ddl(self) -> Statement {
        debug_assert!(self.params.is_empty());
        Statement::new(self.sql, self.params)
    }

    /// Bind a value. Every value of every statement passes here, so this is where values no
    /// backend can hold faithfully (NaN, NUL in text, years outside 1–9999, nanoseconds:
    /// [`Value::invalid_reason`]) are refused, one cheap match per value, and so are those
    /// this dialect cannot store (±infinity on MySQL: [`Dialect::value_support`]); the error
    /// names the field the value is compared with or stored in.
    #[inline(always)]
    pub fn bind(&mut self, v: Value) {
        let support = self.dialect.value_support();
        if !v.is_faithful_on(support) {
            self.refuse(&v, support);
        }
        self.params.push(v);
        if let Some(s) = &mut self.sources {
            s.push(shape::Source::Derived);
        }
        self.dialect
            .placeholder_into(&mut self.sql, self.params.len());
    }

    /// Bind a clone of the query's value `v`, recording where it came from if the
    /// compiled-SQL cache asks (a value bound with [`bind`](Self::bind) is one the
    /// compiler built, and keeps the statement out of the cache).
    #[inline(always)]
    fn bind_query_value(&mut self, v: &Value) {
        self.bind(v.clone());
        self.note_source(shape::Source::At(shape::address(v)));
    }

    /// Record where the parameter just bound came from.
    #[inline(always)]
    fn note_source(&mut self, source: shape::Source) {
        if let Some(s) = &mut self.sources
            && let Some(last) = s.last_mut()
        {
            *last = source;
        }
    }

    /// `(p1, p2, …)`: every value bound, in parentheses.
    pub fn bind_list(&mut self, values: impl IntoIterator<Item = Value>) {
        self.sql.push('(');
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.bind(v);
        }
        self.sql.push(')');
    }

    /// Refuse `v` if it breaks column `c`'s `max_length` or `max_digits`/`decimal_places`
    /// (a write: an INSERT's value or an UPDATE's assignment; lookups compare freely).
    #[inline]
    pub(crate) fn check_stored(&mut self, c: &crate::schema::model::ColumnMeta, v: &Value) {
        if let Some(reason) = crate::schema::options::stored_value_problem(c, v)
            && self.invalid.is_none()
        {
            let field = if self.frames[0].root.name.is_empty() {
                format!("column `{}`", c.column)
            } else {
                format!("{}.{}", self.frames[0].root.name, c.field)
            };
            self.invalid = Some(Error::InvalidValue { field, reason });
        }
    }

    /// Remember the first refused value (the statement is then never returned).
    #[cold]
    fn refuse(&mut self, v: &Value, support: crate::schema::value::ValueSupport) {
        if self.invalid.is_none() {
            self.invalid = Some(Error::InvalidValue {
                field: self.target_label(),
                reason: v
                    .invalid_reason_on(support, self.dialect.name())
                    .unwrap_or_default(),
            });
        }
    }

    /// `Model.field` for the column being bound to, else the column's name.
    fn target_label(&self) -> String {
        match self.target {
            Some(BindTarget::Column(c)) => {
                let meta = self.model_of(&c.path);
                match meta.columns.iter().find(|m| m.column == c.column) {
                    Some(m) if !meta.name.is_empty() => format!("{}.{}", meta.name, m.field),
                    _ => format!("column `{}`", c.column),
                }
            }
            Some(BindTarget::Table(table, column)) => format!("column `{table}`.`{column}`"),
            Some(BindTarget::Own(i)) => {
                let meta = self.frames[0].root;
                format!("{}.{}", meta.name, meta.columns[i].field)
            }
            None => "a bound value".into(),
        }
    }

    /// Run `f` with the values it binds attributed to `target`.
    fn binding_to<T>(&mut self, target: Option<BindTarget>, f: impl FnOnce(&mut Self) -> T) -> T {
        let saved = std::mem::replace(&mut self.target, target);
        let out = f(self);
        self.target = saved;
        out
    }

    fn frame(&self) -> &Frame {
        self.frames
            .last()
            .expect("a writer always has its main frame")
    }

    fn frame_mut(&mut self) -> &mut Frame {
        self.frames
            .last_mut()
            .expect("a writer always has its main frame")
    }

    fn qualified(&mut self, alias: &str, column: &str) {
        self.dialect.quote_into(&mut self.sql, alias);
        self.sql.push('.');
        self.dialect.quote_into(&mut self.sql, column);
    }

    fn column(&mut self, c: &ColumnRef) -> Result<()> {
        // Fields, not methods: the alias is read from `frames` while `sql` is written.
        let frame = self
            .frames
            .last()
            .expect("a writer always has its main frame");
        let alias = if c.path.is_root() && frame.base.is_root() {
            &*frame.root_alias
        } else {
            let rel = frame.relative(&c.path)?;
            frame.alias(&rel, self.scope)?
        };
        self.dialect.quote_into(&mut self.sql, alias);
        self.sql.push('.');
        self.dialect.quote_into(&mut self.sql, c.column);
        Ok(())
    }

    /// Join what a term reads: its columns; what its aggregates read (joined afresh, or
    /// reusing a filter's join of the same path, and never INNER: a row with no related
    /// row still has an aggregate, 0 or NULL); the columns of this query its subqueries
    /// read.
    fn register_term(&mut self, t: &Term, demand_inner: bool) -> Result<()> {
        self.register_columns(t, demand_inner)?;
        if t.has_nested() {
            self.register_nested(t)?;
        }
        Ok(())
    }

    /// Join what the aggregates and subqueries inside `t` read from this query.
    fn register_nested(&mut self, t: &Term) -> Result<()> {
        let mut aggs = Vec::new();
        t.aggregates(&mut aggs);
        if !aggs.is_empty() {
            let saved = self.scope.take();
            let r = (|| {
                for a in aggs {
                    self.register_term(&a.arg, false)?;
                    if let Some(f) = &a.filter {
                        let mut terms: Vec<&Term> = Vec::new();
                        f.each_term(&mut |t| terms.push(t));
                        for t in terms {
                            self.register_term(t, false)?;
                        }
                    }
                }
                Ok(())
            })();
            self.scope = saved;
            r?;
        }
        let mut subs = Vec::new();
        t.subqueries(&mut subs);
        for s in subs {
            self.register_outer_of(s)?;
        }
        Ok(())
    }

    /// Join the columns of this query that subquery `s` reads (its `outer()` columns).
    fn register_outer_of(&mut self, s: &crate::dsl::q::SubQuery) -> Result<()> {
        let Ok(q) = s.query() else {
            return Ok(()); // refused when written
        };
        let saved = self.scope.take();
        let r = (|| {
            for oc in q.outer_columns() {
                // The model's own columns need no join (and inside an `exclude()`'s
                // EXISTS across a relation, whose paths start at that relation, they are
                // read from the statement's root all the same).
                if !oc.column.path.is_root() {
                    self.register_columns(&Term::Column(oc.column), false)?;
                }
            }
            Ok(())
        })();
        self.scope = saved;
        r
    }

    /// Join the columns `t` reads directly.
    fn register_columns(&mut self, t: &Term, demand_inner: bool) -> Result<()> {
        let mut cols = Vec::new();
        t.columns(&mut cols);
        for c in cols {
            let rel = self.frame().relative(&c.path)?;
            if !rel.is_root() {
                let scope = self.scope;
                let mut aliases = std::mem::take(&mut self.aliases);
                let r = self
                    .frame_mut()
                    .ensure(&rel, scope, demand_inner, &mut aliases);
                self.aliases = aliases;
                r?;
            }
        }
        Ok(())
    }

    /// Join what a condition reads. `positive`: reached through ANDs only, where a row
    /// without a related match is dropped anyway (so the join may be INNER).
    fn register_cond(&mut self, c: &Cond, positive: bool, under_not: bool) -> Result<()> {
        match c {
            Cond::And(parts) => {
                for p in parts {
                    self.register_cond(p, positive, under_not)?;
                }
                Ok(())
            }
            Cond::Or(parts) => {
                for p in parts {
                    self.register_cond(p, false, under_not)?;
                }
                Ok(())
            }
            Cond::Not(inner) => self.register_cond(inner, false, true),
            Cond::Const(_) => Ok(()),
            Cond::Exists(sub) => self.register_outer_of(sub),
            leaf => {
                // Collected only where there is something to join (no allocation per leaf).
                let mut nested: Vec<&Term> = Vec::new();
                leaf.each_term(&mut |t| {
                    if t.has_nested() {
                        nested.push(t);
                    }
                });
                for t in nested {
                    self.register_nested(t)?;
                }
                if let Cond::InQuery { sub, .. } = leaf {
                    self.register_outer_of(sub)?;
                }
                let demand = positive && !matches!(leaf, Cond::IsNull { is_null: true, .. });
                let mut cols = Vec::new();
                leaf_terms(leaf, |t| t.columns(&mut cols));
                for col in cols {
                    if col.path.is_root() {
                        continue;
                    }
                    let rel = self.frame().relative(&col.path)?;
                    match under_not.then(|| many_prefix(&rel)).flatten() {
                        // Written as an EXISTS subquery: only the part before the
                        // many-valued hop is joined out here.
                        Some(prefix) => {
                            let outer = prefix.prefix(prefix.len() - 1);
                            let outer_abs = self.absolute(&outer);
                            self.register_term(
                                &Term::Column(ColumnRef {
                                    path: outer_abs,
                                    ..col
                                }),
                                false,
                            )?;
                        }
                        None => self.register_term(&Term::Column(col), demand)?,
                    }
                }
                Ok(())
            }
        }
    }

    fn absolute(&self, rel: &RelPath) -> RelPath {
        let mut p = self.frame().base;
        for hop in rel.hops() {
            p = p.join(hop);
        }
        p
    }

    /// A many-to-many join table joined to the root by name takes its alias first, so a
    /// relation join through the same table (a self many-to-many) gets a `T<n>` alias.
    fn reserve_through(&mut self, q: &Query) {
        if let Some(tj) = q.through {
            self.aliases.take(tj.through.table);
        }
    }

    /// Write `FROM root` and the joins of the current frame.
    fn write_from_and_joins(&mut self) -> Result<()> {
        let (table, alias) = {
            let f = self.frame();
            (f.root.table, f.root_alias.clone())
        };
        self.sql.push_str(" FROM ");
        self.table_as(table, &alias);
        self.frame_mut().resolve_kinds();
        let joins = self.frame().joins.clone();
        for j in &joins {
            for step in self.frame().steps(j)? {
                self.sql.push_str(match step.kind {
                    JoinKind::Inner => " INNER JOIN ",
                    JoinKind::LeftOuter => " LEFT OUTER JOIN ",
                });
                self.table_as(step.table, &step.alias);
                self.sql.push_str(" ON (");
                self.qualified(&step.left.0, step.left.1);
                self.sql.push_str(" = ");
                self.qualified(&step.right.0, step.right.1);
                self.sql.push(')');
            }
        }
        Ok(())
    }

    fn table_as(&mut self, table: &str, alias: &str) {
        self.ident(table);
        if alias != table {
            self.sql.push(' ');
            self.ident(alias);
        }
    }

    /// `EXISTS (SELECT 1 FROM target … WHERE correlation AND cond)`: a condition across a
    /// many-valued relation under NOT (Django's exclude across a reverse relation).
    fn exists_subquery(&mut self, prefix: &RelPath, cond: &Cond) -> Result<()> {
        let hop = prefix
            .last()
            .ok_or_else(|| Error::InvalidInput("an empty relation path has no subquery".into()))?;
        let outer = prefix.prefix(prefix.len() - 1);
        let outer_alias = self.frame().alias(&outer, self.scope)?.to_owned();
        let target = (hop.target)();
        let alias = self.aliases.take(target.table);
        let base = self.absolute(prefix);
        self.frames.push(Frame::new(target, alias.clone(), base));
        let saved_scope = self.scope.take();
        // The subquery's own condition is not negated inside it.
        let saved_under_not = std::mem::replace(&mut self.under_not, false);
        let result = (|| {
            self.register_cond(cond, true, false)?;
            self.sql.push_str("EXISTS (SELECT 1");
            let through_alias;
            match hop.join_on()? {
                JoinOn::Direct {
                    parent_column,
                    target_column,
                } => {
                    self.write_from_and_joins()?;
                    self.sql.push_str(" WHERE ");
                    self.qualified(&alias, target_column);
                    self.sql.push_str(" = ");
                    self.qualified(&outer_alias, parent_column);
                }
                JoinOn::Through {
                    through,
                    parent_pk,
                    target_pk,
                } => {
                    through_alias = self.aliases.take(through.table);
                    self.write_from_and_joins()?;
                    self.sql.push_str(" INNER JOIN ");
                    self.table_as(through.table, &through_alias);
                    self.sql.push_str(" ON (");
                    self.qualified(&through_alias, through.target_column);
                    self.sql.push_str(" = ");
                    self.qualified(&alias, target_pk);
                    self.sql.push_str(") WHERE ");
                    self.qualified(&through_alias, through.parent_column);
                    self.sql.push_str(" = ");
                    self.qualified(&outer_alias, parent_pk);
                }
            }
            self.sql.push_str(" AND ");
            self.cond(cond, false)?;
            self.sql.push(')');
            Ok(())
        })();
        self.scope = saved_scope;
        self.under_not = saved_under_not;
        self.frames.pop();
        result
    }

    /// The type of column `c` (looked up in the model it belongs to).
    fn column_type(&self, c: &ColumnRef) -> Option<SqlType> {
        self.model_of(&c.path)
            .columns
            .iter()
            .find(|m| m.column == c.column)
            .map(|m| m.sql_type)
    }

    /// The model at the end of `path`: its last hop's target, or the root of the query
    /// (sub)statement being written (a relation subquery's paths start at the main root).
    fn model_of(&self, path: &RelPath) -> &'static ModelMeta {
        match path.last() {
            Some(hop) => (hop.target)(),
            None => match self.subquery_frames.last() {
                Some(&i) => self.frames[i].root,
                None => self.frames[0].root,
            },
        }
    }

    /// Whether `t` is JSON where JSON equality must be written as text equality: on
    /// PostgreSQL, whose jsonb `=` compares numbers by value (`1 = 1.0`), where the ORM
    /// promises serde_json's equality on every backend (SQLite compares the JSON text).
    fn json_text_equality(&self, t: &Term) -> bool {
        self.dialect == Dialect::Postgres
            && match t {
                Term::Column(c) => self.column_type(c) == Some(SqlType::Json),
                Term::Value(v) => v.is_json(),
                _ => false,
            }
    }

    /// `CAST(t AS TEXT)` (`CHAR` on MySQL).
    fn as_text(&mut self, t: &Term) -> Result<()> {
        self.sql.push_str("CAST(");
        self.term(t)?;
        self.sql.push_str(self.text_cast());
        Ok(())
    }

    /// The end of a cast to text: ` AS TEXT)`, or ` AS CHAR)` on MySQL.
    fn text_cast(&self) -> &'static str {
        if self.dialect == Dialect::Mysql {
            " AS CHAR)"
        } else {
            " AS TEXT)"
        }
    }

    /// Write `t` where it is compared or sorted: a decimal on SQLite (text there) with the
    /// collation that compares decimals by exact value (`CAST(… AS REAL)` would round them
    /// to 15 digits, and text order puts "10" before "9").
    fn compared_term(&mut self, t: &Term) -> Result<()> {
        let collate = self.collate_decimals && self.term_type(t) == Some(SqlType::Decimal);
        self.term(t)?;
        if collate {
            self.collate_decimal();
        }
        Ok(())
    }

    /// A bound value where it is compared (collated like `compared_term`), moved, not copied.
    fn compared_value(&mut self, v: Value) {
        let collate = self.collate_decimals && v.is_decimal();
        self.bind(v);
        if collate {
            self.collate_decimal();
        }
    }

    fn collate_decimal(&mut self) {
        self.sql.push_str(" COLLATE ");
        self.sql
            .push_str(crate::sql::dialect::SQLITE_DECIMAL_COLLATION);
    }

    pub fn term(&mut self, t: &Term) -> Result<()> {
        match t {
            Term::Column(c) => self.column(c),
            Term::TableColumn { table, column } => {
                self.qualified(table, column);
                Ok(())
            }
            Term::Value(v) => {
                self.bind_query_value(v);
                Ok(())
            }
            Term::Aggregate(a) => self.aggregate(a),
            Term::Coalesce(a, b) => {
                self.sql.push_str("COALESCE(");
                self.term(a)?;
                self.sql.push_str(", ");
                self.term(b)?;
                self.sql.push(')');
                Ok(())
            }
            Term::Subquery(sub) => self.scalar_subquery(sub),
            Term::Outer(oc) => self.outer_column(oc),
            Term::Arith(a, op, b, ty) => {
                // SQLite's own operators wrap integers into REALs, give NULL for `x / 0` and
                // compute decimals (stored as text) in floating point; the backend registers
                // checked functions that do what PostgreSQL's operators do.
                if let (Dialect::Sqlite, Some(f)) = (self.dialect, sqlite_arith_fn(*ty)) {
                    self.sql.push_str(f);
                    self.sql.push('(');
                    self.term(a)?;
                    self.sql.push_str(", ");
                    self.sql.push_str(sqlite_arith_op(*op));
                    self.sql.push_str(", ");
                    self.term(b)?;
                    self.sql.push(')');
                    return Ok(());
                }
                if self.dialect == Dialect::Mysql {
                    return self.mysql_arith(a, *op, b, *ty);
                }
                self.operation(a, op.sql(), b)
            }
        }
    }

    /// `(a op b)`, the operator as it is.
    fn operation(&mut self, a: &Term, op: &str, b: &Term) -> Result<()> {
        self.sql.push('(');
        self.term(a)?;
        self.sql.push(' ');
        self.sql.push_str(op);
        self.sql.push(' ');
        self.term(b)?;
        self.sql.push(')');
        Ok(())
    }

    /// Write the SQL of a failed [`MysqlCheck`] (where a `CASE` chooses it).
    fn mysql_raise(&mut self, check: MysqlCheck) {
        if let Some(sql) = check.raise_sql() {
            self.sql.push_str(sql);
        }
    }

    /// `a op b` on MySQL, computed as PostgreSQL computes it in the field's type `ty`, or
    /// failing where PostgreSQL fails (see [`MysqlCheck`]). An operand is written more than
    /// once where a check reads it again (SQL has no local names): each copy binds its own
    /// parameters.
    ///
    /// - `i64`: MySQL's own BIGINT arithmetic, which fails on overflow in every statement
    ///   (but for MariaDB's `a - i64::MIN`, checked here). `i16`/`i32`: the same, in 64
    ///   bits, then the range check of the type.
    /// - `/` on integers is `DIV` (MySQL's `/` gives a decimal), which truncates toward
    ///   zero; `x / 0`, NULL outside writes, fails with division by zero everywhere.
    /// - `f64`: MySQL's DOUBLE fails on overflow itself; a product or quotient of non-zero
    ///   values that is zero fails as an underflow.
    /// - `f32`: computed in double precision (exact for `+ - *` of two floats; for `/`,
    ///   rounding twice gives the float quotient all the same), failing where the float
    ///   result would be infinite or a non-zero result would round to zero, then rounded
    ///   to a float with `CAST(… AS FLOAT)`.
    /// - decimals: `+` and `-` are exact. A product with digits past the 28th after the
    ///   point (which MySQL would round at its 30th, or 38th on MariaDB) fails as out of
    ///   range, as SQLite's exact arithmetic does. A quotient is rounded, half away from
    ///   zero, to the most digits a `Decimal` holds (29 significant digits where they fit
    ///   its 96 bits, else 28; at most 28 after the point; `rust_decimal`'s own `/` rounds
    ///   a tie to even instead, so the last digit of a tie can differ): PostgreSQL rounds
    ///   it to a scale of its own, which MySQL cannot compute.
    fn mysql_arith(&mut self, a: &Term, op: ArithOp, b: &Term, ty: SqlType) -> Result<()> {
        // 2^128 - 2^103, the least value whose float is infinite; 2^-150, the greatest
        // whose float is zero (both exact doubles), and the double after it.
        const F32_INFINITE: &str = "3.4028235677973366e38";
        const F32_ABOVE_ZERO: &str = "7.006492321624087e-46";
        // Zero with 30 digits after the point: added to a dividend, it makes MySQL
        // compute the quotient to 30 (MariaDB: 34) digits after the point, whatever the
        // dividend's own scale.
        const SCALE_30: &str = "0.000000000000000000000000000000";
        // 10^30 and 10^32, exact (DECIMAL literals, not DOUBLE).
        const E30: &str = "1000000000000000000000000000000";
        const E32: &str = "100000000000000000000000000000000";
        match (ty, op) {
            (SqlType::I16 | SqlType::I32, _) => {
                let Some((before, after)) = MysqlCheck::range_sql(ty) else {
                    return self.mysql_int(a, op, b);
                };
                self.sql.push_str(before);
                self.mysql_int(a, op, b)?;
                self.sql.push_str(after);
                Ok(())
            }
            // MariaDB (10.11) gives `a - b` for b = i64::MIN and a >= 0 as wrapped, not as
            // out of range: that case fails here.
            (SqlType::I64, ArithOp::Sub) => {
                self.sql.push_str("CASE WHEN ");
                self.term(b)?;
                self.sql.push_str(" = -9223372036854775808 AND ");
                self.term(a)?;
                self.sql.push_str(" >= 0 THEN ");
                self.mysql_raise(MysqlCheck::Range(SqlType::I64));
                self.sql.push_str(" ELSE ");
                self.operation(a, "-", b)?;
                self.sql.push_str(" END");
                Ok(())
            }
            (SqlType::I64, _) => self.mysql_int(a, op, b),
            (SqlType::F64, ArithOp::Mul) => {
                // Zero only where an operand is zero.
                self.sql.push_str("COALESCE(NULLIF(");
                self.operation(a, "*", b)?;
                self.sql.push_str(", 0), CASE ABS(SIGN(");
                self.term(a)?;
                self.sql.push_str(") * SIGN(");
                self.term(b)?;
                self.sql.push_str(")) WHEN 0 THEN 0e0 WHEN 1 THEN ");
                self.mysql_raise(MysqlCheck::Underflow);
                self.sql.push_str(" END)");
                Ok(())
            }
            (SqlType::F64, ArithOp::Div) => {
                // NULL or zero: a zero divisor (NULL outside writes), a zero dividend, or
                // an underflow; NULL in gives NULL out.
                self.sql.push_str("COALESCE(NULLIF(");
                self.operation(a, "/", b)?;
                self.sql.push_str(", 0), CASE ABS(SIGN(");
                self.term(b)?;
                self.sql.push_str(")) * (1 + ABS(SIGN(");
                self.term(a)?;
                self.sql.push_str("))) WHEN 0 THEN ");
                self.mysql_raise(MysqlCheck::DivisionByZero);
                self.sql.push_str(" WHEN 1 THEN 0e0 WHEN 2 THEN ");
                self.mysql_raise(MysqlCheck::Underflow);
                self.sql.push_str(" END)");
                Ok(())
            }
            (SqlType::F32, _) => {
                // The double result's magnitude: 0 is zero, 1 rounds to a float zero, 3 to
                // an infinite float, -1 is NULL (an operand is NULL, or the divisor zero).
                self.sql.push_str("CAST(CASE INTERVAL(ABS(");
                self.operation(a, op.sql(), b)?;
                self.sql.push_str("), 4.9e-324, ");
                self.sql.push_str(F32_ABOVE_ZERO);
                self.sql.push_str(", ");
                self.sql.push_str(F32_INFINITE);
                self.sql.push_str(") WHEN 1 THEN ");
                self.mysql_raise(MysqlCheck::Underflow);
                self.sql.push_str(" WHEN 3 THEN ");
                self.mysql_raise(MysqlCheck::Overflow);
                if op == ArithOp::Div {
                    self.sql.push_str(" WHEN -1 THEN ");
                    self.mysql_zero_divisor(a, b)?;
                }
                self.sql.push_str(" ELSE ");
                self.operation(a, op.sql(), b)?;
                self.sql.push_str(" END AS FLOAT)");
                Ok(())
            }
            (SqlType::Decimal, ArithOp::Mul) => {
                // With at most 30 digits after the point, a = A / 10^30 and b = B / 10^30:
                // the product has a digit past the 28th iff A * B mod 10^32 is not zero,
                // which is (A mod 10^32) * (B mod 10^32) mod 10^32, exact in DECIMAL(64, 0).
                self.sql.push_str("CASE WHEN MOD(CAST(MOD(ABS(");
                self.term(a)?;
                self.sql.push_str("), 100) * ");
                self.sql.push_str(E30);
                self.sql.push_str(" AS DECIMAL(32, 0)) * CAST(MOD(ABS(");
                self.term(b)?;
                self.sql.push_str("), 100) * ");
                self.sql.push_str(E30);
                self.sql.push_str(" AS DECIMAL(32, 0)), ");
                self.sql.push_str(E32);
                self.sql.push_str(") <> 0 THEN ");
                self.mysql_raise(MysqlCheck::Numeric);
                self.sql.push_str(" ELSE ");
                self.operation(a, "*", b)?;
                self.sql.push_str(" END");
                Ok(())
            }
            (SqlType::Decimal, ArithOp::Div) => {
                let quotient = |w: &mut Self| -> Result<()> {
                    w.sql.push_str("((");
                    w.term(a)?;
                    w.sql.push_str(" + ");
                    w.sql.push_str(SCALE_30);
                    w.sql.push_str(") / ");
                    w.term(b)?;
                    w.sql.push(')');
                    Ok(())
                };
                // The scale giving 29 significant digits (at most 28 after the point, at
                // least 0): 28 minus the digits before the point, plus one.
                let scale = |w: &mut Self| -> Result<()> {
                    w.sql.push_str(
                        "LEAST(28, GREATEST(0, 29 - CHAR_LENGTH(TRIM(LEADING '0' FROM \
                         CAST(FLOOR(ABS(",
                    );
                    quotient(w)?;
                    w.sql.push_str(")) AS CHAR)))))");
                    Ok(())
                };
                // ROUND(q, scale), or one digit fewer where 29 digits would round past
                // Decimal::MAX's mantissa (79228162514264337593543950335): |q| at least
                // (MAX + 0.5) * 10^-scale.
                self.sql.push_str("COALESCE(ROUND(");
                quotient(self)?;
                self.sql.push_str(", GREATEST(0, ");
                scale(self)?;
                self.sql.push_str(" - (ABS(");
                quotient(self)?;
                self.sql
                    .push_str(") >= CAST(INSERT('792281625142643375935439503355', 30 - ");
                scale(self)?;
                self.sql.push_str(", 0, '.') AS DECIMAL(65, 30))))), ");
                self.mysql_zero_divisor(a, b)?;
                self.sql.push(')');
                Ok(())
            }
            _ => self.operation(a, op.sql(), b),
        }
    }

    /// Integer `a op b` on MySQL, in 64 bits (which fail on overflow): `/` is `DIV`, and
    /// its NULL for a zero divisor (outside writes, which fail themselves) fails instead.
    fn mysql_int(&mut self, a: &Term, op: ArithOp, b: &Term) -> Result<()> {
        if op != ArithOp::Div {
            return self.operation(a, op.sql(), b);
        }
        self.sql.push_str("COALESCE(");
        self.operation(a, "DIV", b)?;
        self.sql.push_str(", ");
        self.mysql_zero_divisor(a, b)?;
        self.sql.push(')');
        Ok(())
    }

    /// Where `a / b` is NULL: NULL if an operand is, else (the divisor is zero) the
    /// division-by-zero failure.
    fn mysql_zero_divisor(&mut self, a: &Term, b: &Term) -> Result<()> {
        self.sql.push_str("CASE SIGN(");
        self.term(b)?;
        self.sql.push_str(") + 0 * SIGN(");
        self.term(a)?;
        self.sql.push_str(") WHEN 0 THEN ");
        self.mysql_raise(MysqlCheck::DivisionByZero);
        self.sql.push_str(" END");
        Ok(())
    }

    /// Write a condition. `negated` is true inside an odd number of NOTs: there, a lookup on
    /// a nullable column also requires the column to be NOT NULL, so that `exclude(age = 5)`
    /// keeps the rows whose age is NULL, as Django does.
    pub fn cond(&mut self, c: &Cond, negated: bool) -> Result<()> {
        let is_leaf = !matches!(
            c,
            Cond::And(_) | Cond::Or(_) | Cond::Not(_) | Cond::Const(_)
        );
        // A leaf across a many-valued relation under a NOT becomes a subquery of its own:
        // each lookup of `exclude(a & b)` may match a different related row (Django's
        // documented reading), and `!!x` does not repeat rows through a join.
        let negated_many = self.under_not && is_leaf && self.leaf_many_prefix(c)?.is_some();
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
                let saved = std::mem::replace(&mut self.under_not, true);
                let written = self.cond(inner, !negated);
                self.under_not = saved;
                written?;
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
            Cond::IsNull { lhs, is_null } if !negated_many => {
                self.term(lhs)?;
                self.sql
                    .push_str(if *is_null { " IS NULL" } else { " IS NOT NULL" });
                Ok(())
            }
            leaf if negated_many => {
                let prefix = self.leaf_many_prefix(leaf)?.expect("checked by the guard");
                if let Cond::IsNull { lhs, is_null: true } = leaf {
                    // What `filter()` means by it, as one subquery-safe condition: there is
                    // no related row at all, or some related row (through LEFT joins past
                    // the many-valued hop) has no value there. For the related row's own
                    // key the second part can never hold.
                    self.sql.push_str("(NOT (");
                    self.exists_subquery(&prefix, &Cond::Const(true))?;
                    self.sql.push(')');
                    if !self.is_key_of(lhs, &prefix)? {
                        self.sql.push_str(" OR ");
                        self.exists_subquery(&prefix, leaf)?;
                    }
                    self.sql.push(')');
                    Ok(())
                } else {
                    self.exists_subquery(&prefix, leaf)
                }
            }
            Cond::Exists(sub) => self.exists(sub),
            leaf => {
                let mut nullable = Vec::new();
                let mut nullable_aggs: Vec<&Term> = Vec::new();
                if negated {
                    // A value computed NULL (an aggregate over no rows, a subquery with none)
                    // likewise: `exclude()` keeps the groups `filter()` would not return.
                    leaf.each_term(&mut |t| {
                        if aggregate::computed_nullable(t) {
                            nullable_aggs.push(t);
                        }
                    });
                    // A column can be NULL because it is nullable, or because a hop on its
                    // path may find no row (a LEFT JOIN): either way `NOT (x = v)` alone
                    // would drop the row where Django keeps it.
                    let mut cols = Vec::new();
                    leaf_terms(leaf, |t| t.columns(&mut cols));
                    nullable.extend(
                        cols.into_iter()
                            .filter(|c| c.nullable || c.path.hops().any(|h| h.may_be_empty())),
                    );
                }
                if nullable.is_empty() && nullable_aggs.is_empty() {
                    self.leaf(leaf)
                } else {
                    self.sql.push('(');
                    self.leaf(leaf)?;
                    for col in &nullable {
                        self.sql.push_str(" AND ");
                        self.column(col)?;
                        self.sql.push_str(" IS NOT NULL");
                    }
                    for t in nullable_aggs {
                        self.sql.push_str(" AND ");
                        self.term(t)?;
                        self.sql.push_str(" IS NOT NULL");
                    }
                    self.sql.push(')');
                    Ok(())
                }
            }
        }
    }

    /// Whether `t` is the primary key of the model at the end of `prefix` (relative to the
    /// current frame).
    fn is_key_of(&self, t: &Term, prefix: &RelPath) -> Result<bool> {
        let (Term::Column(c), Some(hop)) = (t, prefix.last()) else {
            return Ok(false);
        };
        Ok(self.frame().relative(&c.path)? == *prefix
            && c.column == (hop.target)().pk_column().column)
    }

    /// The many-valued prefix of the first column of a leaf that crosses one (relative to
    /// the current frame).
    fn leaf_many_prefix(&self, leaf: &Cond) -> Result<Option<RelPath>> {
        let mut cols = Vec::new();
        leaf_terms(leaf, |t| t.columns(&mut cols));
        for c in cols {
            if let Some(p) = many_prefix(&self.frame().relative(&c.path)?) {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }

    /// Write a lookup; the values it binds are attributed to its left-hand column.
    fn leaf(&mut self, c: &Cond) -> Result<()> {
        let target = match c {
            Cond::Compare { lhs, .. }
            | Cond::Between { lhs, .. }
            | Cond::In { lhs, .. }
            | Cond::Like { lhs, .. }
            | Cond::Regex { lhs, .. }
            | Cond::IsNull { lhs, .. } => match lhs {
                Term::Column(col) => Some(BindTarget::Column(*col)),
                Term::TableColumn { table, column } => Some(BindTarget::Table(table, column)),
                _ => None,
            },
            _ => None,
        };
        self.binding_to(target, |w| w.lookup(c))
    }

    fn lookup(&mut self, c: &Cond) -> Result<()> {
        match c {
            Cond::Compare { lhs, op, rhs } => {
                if matches!(rhs, Term::Value(v) if v.is_null()) {
                    return Err(Error::InvalidInput(
                        "None can only be compared with eq() (IS NULL) or is_null(); \
                         gt/gte/lt/lte with None match nothing in SQL"
                            .into(),
                    ));
                }
                if *op == CmpOp::Eq
                    && (self.json_text_equality(lhs) || self.json_text_equality(rhs))
                {
                    self.as_text(lhs)?;
                    self.sql.push_str(" = ");
                    return self.as_text(rhs);
                }
                self.compared_term(lhs)?;
                self.sql.push_str(match op {
                    CmpOp::Eq => " = ",
                    CmpOp::Gt => " > ",
                    CmpOp::Gte => " >= ",
                    CmpOp::Lt => " < ",
                    CmpOp::Lte => " <= ",
                });
                self.compared_term(rhs)
            }
            Cond::Between { lhs, low, high } => {
                self.compared_term(lhs)?;
                self.sql.push_str(" BETWEEN ");
                self.compared_term(low)?;
                self.sql.push_str(" AND ");
                self.compared_term(high)
            }
            Cond::InQuery { lhs, sub } => {
                let q = sub.query()?;
                self.term(lhs)?;
                self.sql.push_str(" IN (");
                // Its own writer (its tables are its own scope), continuing this one's
                // parameters so that placeholders keep counting.
                let mut inner = SqlWriter::new(self.dialect, q.meta);
                inner.params = std::mem::take(&mut self.params);
                let written = if q.is_sliced() {
                    write_select(&mut inner, q, false)
                } else {
                    // Ordering means nothing to IN (Django clears it too).
                    let mut unordered = q.clone();
                    unordered.order_by.clear();
                    write_select(&mut inner, &unordered, false)
                };
                self.params = std::mem::take(&mut inner.params);
                written?;
                // Its tables are read by this statement too (the query cache's invalidation).
                self.aliases.absorb_tables(&inner.aliases);
                // A value the subquery refused is this statement's refusal too.
                if let Some(e) = inner.invalid.take() {
                    self.invalid.get_or_insert(e);
                }
                // MySQL refuses LIMIT in an IN subquery ("doesn't yet support 'LIMIT &
                // IN/ALL/ANY/SOME subquery'"), not in a derived table inside it.
                let derived = self.dialect == Dialect::Mysql && q.is_sliced();
                if derived {
                    self.sql.push_str("SELECT * FROM (");
                }
                self.sql.push_str(&inner.sql);
                if derived {
                    self.sql.push_str(") AS ");
                    self.ident("orm_sliced");
                }
                self.sql.push(')');
                Ok(())
            }
            Cond::In { lhs, values } => {
                // Django drops None from `in` lists: NULL never equals anything.
                let values: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
                if values.is_empty() {
                    self.sql.push_str("1 = 0");
                    return Ok(());
                }
                // PostgreSQL: one array parameter, so the statement is the same (and stays
                // prepared) whatever the list's length, and no list is too long to bind.
                let ty = values[0].sql_type();
                let array = self.dialect == Dialect::Postgres
                    && ty.is_some_and(|t| t != SqlType::Decimal)
                    && values.iter().all(|v| v.sql_type() == ty);
                if let (true, Some(ty)) = (array, ty) {
                    self.term(lhs)?;
                    self.sql.push_str(" = ANY(");
                    let sources = self
                        .sources
                        .is_some()
                        .then(|| values.iter().map(|v| shape::address(v)).collect());
                    self.bind(Value::List(ty, values.into_iter().cloned().collect()));
                    if let Some(ptrs) = sources {
                        self.note_source(shape::Source::Array(ty, ptrs));
                    }
                    self.sql.push(')');
                    return Ok(());
                }
                let json_text = self.json_text_equality(lhs);
                if json_text {
                    self.as_text(lhs)?;
                } else {
                    self.compared_term(lhs)?;
                }
                self.sql.push_str(" IN (");
                for (i, v) in values.into_iter().enumerate() {
                    if i > 0 {
                        self.sql.push_str(", ");
                    }
                    if json_text {
                        self.sql.push_str("CAST(");
                        self.bind_query_value(v);
                        self.sql.push_str(self.text_cast());
                    } else {
                        self.compared_value(v.clone());
                        self.note_source(shape::Source::At(shape::address(v)));
                    }
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
                if self.dialect == Dialect::Sqlite && *case_insensitive {
                    // The backend's function (pattern first, like `regexp`), so that the
                    // pattern is the user's own in any error message.
                    self.sql.push_str(crate::sql::dialect::SQLITE_IREGEXP_FN);
                    self.sql.push('(');
                    self.bind(Value::Text(pattern.clone()));
                    self.sql.push_str(", ");
                    self.term(lhs)?;
                    self.sql.push(')');
                    return Ok(());
                }
                self.term(lhs)?;
                match self.dialect {
                    Dialect::Postgres => {
                        self.sql
                            .push_str(if *case_insensitive { " ~* " } else { " ~ " });
                        self.bind(Value::Text(pattern.clone()));
                    }
                    Dialect::Sqlite => {
                        self.sql.push_str(" REGEXP ");
                        self.bind(Value::Text(pattern.clone()));
                    }
                    Dialect::Mysql => {
                        // The case rule as an inline flag, which both engines read (PCRE
                        // on MariaDB, ICU on MySQL), whatever the column's collation;
                        // `REGEXP BINARY` would match bytes, not characters.
                        self.sql.push_str(" REGEXP ");
                        let flag = if *case_insensitive { "(?i)" } else { "(?-i)" };
                        self.bind(Value::Text(format!("{flag}{pattern}")));
                    }
                }
                Ok(())
            }
            Cond::And(_)
            | Cond::Or(_)
            | Cond::Not(_)
            | Cond::Const(_)
            | Cond::IsNull { .. }
            | Cond::Exists(_) => self.cond(c, false),
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
                self.sql.push_str(crate::sql::dialect::SQLITE_FOLD_CASE_FN);
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
                // An escape-string literal reads the same whether standard_conforming_strings
                // is on (the default) or off; with it off, '\' would be an unterminated
                // string and every LIKE lookup a syntax error.
                self.sql.push_str(" ESCAPE E'\\\\'");
            }
            // Compared as bytes (`LIKE BINARY`): the pattern's only wildcards are the `%`
            // at its ends, and a UTF-8 substring is a byte substring, so bytes give the
            // character answer whatever the column's collation. Case-insensitive: both
            // sides folded by the server's `LOWER()`, so that a text always matches itself
            // (its case tables are older than Rust's: folding the pattern with
            // `fold_case` missed every capital the server does not lower, such as ẞ or
            // Ⰰ).
            (Dialect::Mysql, false) => {
                self.term(lhs)?;
                self.sql.push_str(" LIKE BINARY ");
                self.bind(Value::Text(wrap(kind, &escape_like(value), '%')));
                self.sql.push_str(" ESCAPE '\\\\'");
            }
            (Dialect::Mysql, true) => {
                self.sql.push_str("LOWER(");
                self.term(lhs)?;
                self.sql.push_str(") LIKE BINARY LOWER(");
                self.bind(Value::Text(wrap(kind, &escape_like(value), '%')));
                self.sql.push_str(") ESCAPE '\\\\'");
            }
        }
        Ok(())
    }

    /// ` ORDER BY …`; a term that binds a value and is in the SELECT list `items` is
    /// written as its position there (see [`SqlWriter::term_or_position`]).
    fn order_by(&mut self, terms: &[OrderTerm], items: &[Term]) -> Result<()> {
        if terms.is_empty() {
            return Ok(());
        }
        self.sql.push_str(" ORDER BY ");
        for (i, t) in terms.iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            if aggregate::binds_value(&t.term) && items.contains(&t.term) {
                self.term_or_position(&t.term, items)?;
            } else {
                self.compared_term(&t.term)?;
            }
            self.sql
                .push_str(if t.descending { " DESC" } else { " ASC" });
        }
        Ok(())
    }

    fn limits(&mut self, low: u64, high: Option<u64>) {
        self.limits_at = self.sql.len();
        write_limits(&mut self.sql, self.dialect, low, high);
    }

    fn register_filter(&mut self, filter: &[Cond]) -> Result<()> {
        for (i, c) in filter.iter().enumerate() {
            self.scope = Some(i);
            self.register_cond(c, true, false)?;
        }
        self.scope = None;
        Ok(())
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
            self.scope = Some(i);
            self.cond(c, false)?;
        }
        self.scope = None;
        Ok(())
    }

    fn select_list(&mut self, q: &Query, selected: &[SelectNode]) -> Result<()> {
        if self.alias_items {
            // A derived table: every column named, the model's own by their names (what
            // an enclosing `aggregate()` reads), the rest `orm_c<n>`.
            let items = select::select_items(q, selected);
            let mut used: Vec<String> = Vec::with_capacity(items.len());
            for (i, t) in items.iter().enumerate() {
                if i > 0 {
                    self.sql.push_str(", ");
                }
                self.term(t)?;
                let name = match t {
                    Term::Column(c) if c.path.is_root() && !used.iter().any(|u| u == c.column) => {
                        c.column.to_owned()
                    }
                    _ => format!("orm_c{}", i + 1),
                };
                self.sql.push_str(" AS ");
                self.ident(&name);
                used.push(name);
            }
            self.items_written = items.len() as u64;
            return Ok(());
        }
        let mut first = true;
        let mut sep = |w: &mut SqlWriter| {
            if !std::mem::take(&mut first) {
                w.sql.push_str(", ");
            }
        };
        match &q.select {
            Select::Model => {
                let alias = self.frame().root_alias.clone();
                for c in q.meta.columns {
                    sep(self);
                    self.qualified(&alias, c.column);
                }
                for t in &q.annotations {
                    sep(self);
                    self.term(t)?;
                }
                for node in crate::dsl::select_related::flatten(selected) {
                    let alias = self.frame().alias(&node.path, None)?.to_owned();
                    for c in (node.rel.target)().columns {
                        sep(self);
                        self.qualified(&alias, c.column);
                    }
                }
            }
            Select::Terms(terms) => {
                for t in terms {
                    sep(self);
                    self.term(t)?;
                }
            }
        }
        for t in &q.extra {
            sep(self);
            self.term(t)?;
        }
        Ok(())
    }

    /// ` AS "orm_c<n>"` after the n-th item of a derived table's SELECT list.
    fn alias_item(&mut self, n: u64) {
        if self.alias_items {
            self.sql.push_str(" AS ");
            let name = format!("orm_c{n}");
            self.ident(&name);
        }
    }

    /// `FROM root`, the many-to-many join table if any, and every join.
    fn from(&mut self, q: &Query) -> Result<()> {
        self.write_from_and_joins()?;
        if let Some(tj) = q.through {
            let root_alias = self.frame().root_alias.clone();
            self.sql.push_str(" INNER JOIN ");
            self.ident(tj.through.table);
            self.sql.push_str(" ON (");
            self.qualified(tj.through.table, tj.through.target_column);
            self.sql.push_str(" = ");
            self.qualified(&root_alias, tj.target_pk);
            self.sql.push(')');
        }
        Ok(())
    }
}

/// The prefix of `rel` up to and including its first many-valued hop.
fn many_prefix(rel: &RelPath) -> Option<RelPath> {
    let i = rel.hops().position(|h| h.kind.is_many())?;
    Some(rel.prefix(i + 1))
}

/// The operands of a leaf condition (`Cond::each_term`, which also walks into ANDs and
/// ORs, for the leaves the callers hold).
fn leaf_terms(c: &Cond, mut f: impl FnMut(&Term)) {
    c.each_term(&mut |t| f(t));
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

/// A writer for statements on a join table, which has no model of its own.
static EMPTY_META: ModelMeta = ModelMeta {
    name: "",
    table: "",
    columns: &[],
    pk: 0,
    relations: &[],
    indexes: &[],
    renamed_from: None,
};

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
