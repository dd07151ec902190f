//! Aggregates (with the casts that make every backend return the same types), GROUP BY and
//! HAVING, and subqueries: `exists()`, scalar subqueries and the `outer()` columns they read.

use super::*;
use crate::dsl::expr::{AggFunc, AggregateTerm, OuterColumn};
use crate::dsl::q::SubQuery;
use crate::sql::join::Alias;

/// The type an aggregate returns (after the casts [`SqlWriter::aggregate`] writes).
pub(crate) fn aggregate_type(a: &AggregateTerm) -> SqlType {
    match (a.func, a.arg_type) {
        (AggFunc::Count, _) => SqlType::I64,
        (AggFunc::Sum | AggFunc::Avg, SqlType::Decimal) => SqlType::Decimal,
        (AggFunc::Sum, SqlType::I16 | SqlType::I32 | SqlType::I64) => SqlType::I64,
        (AggFunc::Sum | AggFunc::Avg, _) => SqlType::F64,
        (AggFunc::Min | AggFunc::Max, t) => t,
    }
}

fn is_int(t: SqlType) -> bool {
    matches!(t, SqlType::I16 | SqlType::I32 | SqlType::I64)
}

/// The conditions of a filter list split into WHERE and HAVING, each with the index of
/// the `filter()` call it came from (its join scope): a condition on an aggregate goes to
/// HAVING; of an AND, only the parts that read an aggregate.
pub(super) type Split = (Vec<(usize, Cond)>, Vec<(usize, Cond)>);

pub(super) fn split_having(filter: &[Cond]) -> Split {
    let (mut wheres, mut havings) = (Vec::new(), Vec::new());
    for (i, c) in filter.iter().enumerate() {
        match c {
            Cond::And(parts) if c.has_aggregate() => {
                for p in parts {
                    if p.has_aggregate() {
                        havings.push((i, p.clone()));
                    } else {
                        wheres.push((i, p.clone()));
                    }
                }
            }
            c if c.has_aggregate() => havings.push((i, c.clone())),
            c => wheres.push((i, c.clone())),
        }
    }
    (wheres, havings)
}

/// Whether every hop of every column `t` reads is a forward (single-valued) relation: its
/// value is one per row of the root model, so grouping by it too changes no group.
fn forward_only(t: &Term) -> bool {
    let mut cols = Vec::new();
    t.columns(&mut cols);
    cols.iter()
        .all(|c| c.path.hops().all(|h| !h.kind.is_many()))
}

impl SqlWriter {
    /// The SQL type a term evaluates to, where it is known.
    pub(super) fn term_type(&self, t: &Term) -> Option<SqlType> {
        match t {
            Term::Column(c) => self.column_type(c),
            Term::Value(v) => v.sql_type(),
            Term::Arith(_, _, _, ty) => Some(*ty),
            Term::Aggregate(a) => Some(aggregate_type(a)),
            Term::Coalesce(a, _) => self.term_type(a),
            Term::TableColumn { .. } | Term::Subquery(_) | Term::Outer(_) => None,
        }
    }

    /// `COUNT(…)`, `SUM(…)`, … with the casts that give one result type on every backend:
    /// a sum of integers is a BIGINT (PostgreSQL's `sum(int8)` is a numeric, MySQL's any
    /// integer sum a DECIMAL, checked here against BIGINT's range), an average of integers
    /// or floats a double, decimals stay decimals (on SQLite, summed and averaged exactly
    /// by the ORM's functions).
    pub(super) fn aggregate(&mut self, a: &AggregateTerm) -> Result<()> {
        if a.arg.has_aggregate() || a.filter.as_ref().is_some_and(Cond::has_aggregate) {
            return Err(Error::InvalidInput(format!(
                "`{}()` of an aggregate: SQL cannot nest aggregates (an average of counts \
                 needs its own query over the annotated rows)",
                a.func.name()
            )));
        }
        // Aggregates read their own (unscoped) joins, wherever they are written.
        let saved = self.scope.take();
        let r = self.aggregate_inner(a);
        self.scope = saved;
        r
    }

    fn aggregate_inner(&mut self, a: &AggregateTerm) -> Result<()> {
        let distinct = a.distinct || self.must_count_distinct(a)?;
        let ty = a.arg_type;
        let d = self.dialect;
        let (open, close): (&str, &str) = match (a.func, d) {
            (AggFunc::Count, _) => ("COUNT(", ")"),
            (AggFunc::Min, _) => ("MIN(", ")"),
            (AggFunc::Max, _) => ("MAX(", ")"),
            (AggFunc::Sum, Dialect::Sqlite) if ty == SqlType::Decimal => {
                (crate::sql::dialect::SQLITE_DECIMAL_SUM_OPEN, ")")
            }
            (AggFunc::Avg, Dialect::Sqlite) if ty == SqlType::Decimal => {
                (crate::sql::dialect::SQLITE_DECIMAL_AVG_OPEN, ")")
            }
            (AggFunc::Avg, Dialect::Mysql) if ty == SqlType::Decimal => {
                // MySQL's AVG of a DECIMAL keeps 4 more digits per nesting and soon has
                // more than a `Decimal` holds: the sum over the count instead, divided as
                // every decimal quotient on MySQL is (rounded to what a `Decimal` holds).
                let part = |func| {
                    Term::Aggregate(Box::new(AggregateTerm {
                        func,
                        distinct,
                        ..a.clone()
                    }))
                };
                return self.mysql_arith(
                    &part(AggFunc::Sum),
                    ArithOp::Div,
                    &part(AggFunc::Count),
                    SqlType::Decimal,
                );
            }
            (AggFunc::Sum | AggFunc::Avg, _) if ty == SqlType::Decimal => (
                if a.func == AggFunc::Sum {
                    "SUM("
                } else {
                    "AVG("
                },
                ")",
            ),
            (AggFunc::Sum, Dialect::Sqlite) if is_int(ty) => ("SUM(", ")"),
            (AggFunc::Sum, Dialect::Sqlite) => ("CAST(SUM(", ") AS REAL)"),
            (AggFunc::Avg, Dialect::Sqlite) => ("AVG(", ")"),
            (AggFunc::Sum, Dialect::Postgres) if is_int(ty) => ("CAST(SUM(", ") AS BIGINT)"),
            (AggFunc::Sum, Dialect::Postgres) => ("CAST(SUM(", ") AS DOUBLE PRECISION)"),
            (AggFunc::Avg, Dialect::Postgres) => ("CAST(AVG(", ") AS DOUBLE PRECISION)"),
            (AggFunc::Sum, Dialect::Mysql) if is_int(ty) => return self.mysql_int_sum(a, distinct),
            (AggFunc::Sum, Dialect::Mysql) => ("SUM(", ")"),
            (AggFunc::Avg, Dialect::Mysql) => ("CAST(AVG(", ") AS DOUBLE)"),
        };
        self.sql.push_str(open);
        self.aggregate_arg(a, distinct)?;
        if self.collate_decimals
            && ty == SqlType::Decimal
            && matches!(a.func, AggFunc::Min | AggFunc::Max)
        {
            // SQLite's MIN/MAX follow the collation of their argument.
            self.collate_decimal();
        }
        self.sql.push_str(close);
        Ok(())
    }

    /// `[DISTINCT] arg`, or `CASE WHEN filter THEN arg END` for a conditional aggregate.
    fn aggregate_arg(&mut self, a: &AggregateTerm, distinct: bool) -> Result<()> {
        if distinct {
            self.sql.push_str("DISTINCT ");
        }
        match &a.filter {
            Some(f) => {
                self.sql.push_str("CASE WHEN ");
                self.cond(f, false)?;
                self.sql.push_str(" THEN ");
                self.term(&a.arg)?;
                self.sql.push_str(" END");
                Ok(())
            }
            None => self.term(&a.arg),
        }
    }

    /// MySQL sums integers into a DECIMAL: read back as BIGINT, failing (as PostgreSQL's
    /// cast does) outside its range instead of clamping.
    fn mysql_int_sum(&mut self, a: &AggregateTerm, distinct: bool) -> Result<()> {
        let sum = |w: &mut SqlWriter| -> Result<()> {
            w.sql.push_str("SUM(");
            w.aggregate_arg(a, distinct)?;
            w.sql.push(')');
            Ok(())
        };
        self.sql.push_str("CASE WHEN ");
        sum(self)?;
        self.sql.push_str(" < -9223372036854775808 OR ");
        sum(self)?;
        self.sql.push_str(" > 9223372036854775807 THEN ");
        self.mysql_raise(MysqlCheck::Range(SqlType::I64));
        self.sql.push_str(" ELSE CAST(");
        sum(self)?;
        self.sql.push_str(" AS SIGNED) END");
        Ok(())
    }

    /// Whether a `COUNT` must be DISTINCT because another many-valued join repeats the rows
    /// it counts; an error for an aggregate such a join would inflate and DISTINCT cannot
    /// correct (`sum`, `avg`, a count of a plain field).
    fn must_count_distinct(&self, a: &AggregateTerm) -> Result<bool> {
        if matches!(a.func, AggFunc::Min | AggFunc::Max) {
            return Ok(false);
        }
        let frame = self.frame();
        let mut cols = Vec::new();
        a.arg.columns(&mut cols);
        // The join the aggregate reads, and the joins it hangs from.
        let mut own = Vec::new();
        for c in &cols {
            let rel = frame.relative(&c.path)?;
            if rel.is_root() {
                continue;
            }
            let mut at = frame.find(&rel, None);
            while let Some(i) = at {
                own.push(i);
                at = frame.joins[i].parent;
            }
        }
        let repeating: Vec<&'static str> = frame
            .joins
            .iter()
            .enumerate()
            .filter(|(i, j)| j.rel.kind.is_many() && !own.contains(i))
            .map(|(_, j)| j.rel.name)
            .collect();
        if repeating.is_empty() || a.distinct {
            return Ok(false);
        }
        let counts_rows = a.func == AggFunc::Count
            && matches!(&a.arg, Term::Column(c) if self.model_of(&c.path).pk_column().column == c.column);
        if counts_rows {
            return Ok(true);
        }
        let what = match &a.arg {
            Term::Column(c) => {
                let meta = self.model_of(&c.path);
                let field = meta
                    .columns
                    .iter()
                    .find(|m| m.column == c.column)
                    .map_or(c.column, |m| m.field);
                format!("{}.{}", meta.name, field)
            }
            _ => "an expression".to_owned(),
        };
        Err(Error::InvalidInput(format!(
            "`{}()` of {what} would see each value once per related row of `{}`, joined in \
             the same query through a many-valued relation, and return a wrong result \
             (Django returns the inflated number here). Aggregate it in a query that does \
             not join `{}` (or through a subquery), or call `.distinct()` on the queryset \
             for `aggregate()`",
            a.func.name(),
            repeating.join("`, `"),
            repeating.join("`, `"),
        )))
    }

    /// ` GROUP BY …`: the model's columns (and what `select_related` reads) when rows of
    /// the model are grouped, else the projected fields that are not aggregates; ordering
    /// and HAVING may only read what is grouped (or, grouping by the model, a forward
    /// relation of it, added to the groups since it changes none).
    pub(super) fn group_by(
        &mut self,
        q: &Query,
        selected: &[SelectNode],
        ordering: &[OrderTerm],
        havings: &[(usize, Cond)],
    ) -> Result<()> {
        let root_columns = |meta: &'static ModelMeta, path: RelPath| {
            meta.columns.iter().map(move |c| {
                Term::Column(ColumnRef {
                    path,
                    column: c.column,
                    nullable: c.nullable,
                })
            })
        };
        let mut terms: Vec<Term> = Vec::new();
        let by_model = q.select == Select::Model || q.group_by_model;
        match &q.select {
            Select::Model => {
                terms.extend(root_columns(q.meta, RelPath::ROOT));
                for node in crate::dsl::select_related::flatten(selected) {
                    terms.extend(root_columns((node.rel.target)(), node.path));
                }
                terms.extend(q.annotations.iter().filter(|t| !t.has_aggregate()).cloned());
            }
            Select::Terms(ts) => {
                terms.extend(ts.iter().filter(|t| !t.has_aggregate()).cloned());
                if q.group_by_model {
                    for t in root_columns(q.meta, RelPath::ROOT) {
                        if !terms.contains(&t) {
                            terms.push(t);
                        }
                    }
                }
            }
        }
        terms.extend(q.extra.iter().filter(|t| !t.has_aggregate()).cloned());
        fn grouped(terms: &mut Vec<Term>, by_model: bool, t: &Term, what: &str) -> Result<()> {
            let mut cols = Vec::new();
            t.columns(&mut cols);
            for c in cols {
                let col = Term::Column(c);
                if terms.contains(&col) {
                    continue;
                }
                if by_model && forward_only(&col) {
                    terms.push(col);
                    continue;
                }
                return Err(Error::InvalidInput(format!(
                    "{what} reads `{}`, which is not one of the fields the rows are grouped \
                     by (the projected fields, or the model when annotating it): grouping by \
                     it too would split the groups. {what} may read grouped fields and \
                     aggregates",
                    c.column
                )));
            }
            Ok(())
        }
        for o in ordering {
            if !terms.contains(&o.term) {
                grouped(&mut terms, by_model, &o.term, "the ordering")?;
            }
        }
        for (_, c) in havings {
            let mut leaf_terms: Vec<&Term> = Vec::new();
            c.each_term(&mut |t| leaf_terms.push(t));
            for t in leaf_terms {
                if !terms.contains(t) {
                    grouped(&mut terms, by_model, t, "a condition on an aggregate")?;
                }
            }
        }
        if terms.is_empty() {
            return Ok(()); // one group: every row
        }
        self.sql.push_str(" GROUP BY ");
        for (i, t) in terms.iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.term(t)?;
        }
        Ok(())
    }

    /// ` WHERE …` of the conditions that read no aggregate, each in its `filter()` scope.
    pub(super) fn where_parts(&mut self, parts: &[(usize, Cond)]) -> Result<()> {
        self.conds_clause(" WHERE ", parts)
    }

    /// ` HAVING …` of the conditions on aggregates.
    pub(super) fn having(&mut self, parts: &[(usize, Cond)]) -> Result<()> {
        self.conds_clause(" HAVING ", parts)
    }

    fn conds_clause(&mut self, keyword: &str, parts: &[(usize, Cond)]) -> Result<()> {
        if parts.is_empty() {
            return Ok(());
        }
        self.sql.push_str(keyword);
        for (n, (i, c)) in parts.iter().enumerate() {
            if n > 0 {
                self.sql.push_str(" AND ");
            }
            self.scope = Some(*i);
            self.cond(c, false)?;
        }
        self.scope = None;
        Ok(())
    }

    /// Write `q` as a subquery of the statement being written: its own FROM clause (a new
    /// frame, whose `outer()` columns read this one), aliases shared with the statement so
    /// that no name is ambiguous.
    fn nested_select(&mut self, q: &Query) -> Result<()> {
        let alias = self.aliases.take(q.meta.table);
        self.frames.push(Frame::new(q.meta, alias, RelPath::ROOT));
        self.subquery_frames.push(self.frames.len() - 1);
        let saved_scope = self.scope.take();
        let saved_not = std::mem::replace(&mut self.under_not, false);
        let r = write_select(self, q, false);
        self.scope = saved_scope;
        self.under_not = saved_not;
        self.subquery_frames.pop();
        self.frames.pop();
        r.map(drop)
    }

    /// `EXISTS (SELECT …)`.
    pub(super) fn exists(&mut self, sub: &SubQuery) -> Result<()> {
        let q = sub.query()?;
        let mut inner = q.clone();
        if !inner.is_sliced() {
            inner.order_by.clear();
        }
        self.sql.push_str("EXISTS (");
        self.nested_select(&inner)?;
        self.sql.push(')');
        Ok(())
    }

    /// `(SELECT …)`: one value per row. The queryset must return at most one row (SQLite
    /// would otherwise take the first one silently): sliced to one row, or one aggregate
    /// over every row.
    pub(super) fn scalar_subquery(&mut self, sub: &SubQuery) -> Result<()> {
        let q = sub.query()?;
        let one_row = q.high.is_some_and(|h| h <= q.low.saturating_add(1))
            || (!q.group_by_model
                && matches!(&q.select, Select::Terms(t) if t.len() == 1 && t[0].has_aggregate()));
        if !one_row {
            return Err(Error::InvalidInput(
                "a subquery used as a value must return at most one row: slice it to one \
                 (`.slice(..1)`, after an `order_by`) or project one aggregate \
                 (`values(|b| b.pages.sum())`)"
                    .into(),
            ));
        }
        self.sql.push('(');
        self.nested_select(q)?;
        self.sql.push(')');
        Ok(())
    }

    /// A column of the query enclosing the subquery being written.
    pub(super) fn outer_column(&mut self, oc: &OuterColumn) -> Result<()> {
        let Some(&sub) = self.subquery_frames.last() else {
            return Err(Error::InvalidInput(
                "`outer()` reads a column of the enclosing query: use it only inside a \
                 subquery (`exists(...)`, `subquery(...)`)"
                    .into(),
            ));
        };
        let enclosing = &self.frames[sub - 1];
        let root = match self.subquery_frames.iter().rev().nth(1) {
            Some(&i) => self.frames[i].root,
            None => self.frames[0].root,
        };
        if root.name != oc.model {
            return Err(Error::InvalidInput(format!(
                "`outer()` of a `{}` field, in a subquery of a `{}` queryset: use the \
                 handles of the queryset the subquery is written in",
                oc.model, root.name
            )));
        }
        let alias: Alias = if oc.column.path.is_root() && enclosing.base.is_root() {
            enclosing.root_alias.clone()
        } else {
            let rel = enclosing.relative(&oc.column.path)?;
            Alias::Owned(enclosing.alias(&rel, None)?.to_owned())
        };
        self.qualified(&alias, oc.column.column);
        Ok(())
    }
}
