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

/// Whether writing `t` binds a value.
pub(super) fn binds_value(t: &Term) -> bool {
    match t {
        Term::Value(_) | Term::Subquery(_) => true,
        Term::Arith(a, _, b, _) | Term::Coalesce(a, b) => binds_value(a) || binds_value(b),
        Term::Aggregate(a) => binds_value(&a.arg) || a.filter.is_some(),
        Term::Column(_) | Term::TableColumn { .. } | Term::Outer(_) => false,
    }
}

/// Whether `t` may be NULL where a column would not say so: an aggregate other than a
/// count (over no rows), a subquery (no row), or arithmetic and `COALESCE` over them.
pub(super) fn computed_nullable(t: &Term) -> bool {
    match t {
        Term::Aggregate(a) => a.func != AggFunc::Count,
        Term::Subquery(_) => true,
        Term::Arith(a, _, b, _) => computed_nullable(a) || computed_nullable(b),
        Term::Coalesce(a, b) => {
            computed_nullable(a)
                && (computed_nullable(b) || matches!(&**b, Term::Value(v) if v.is_null()))
        }
        Term::Column(_) | Term::TableColumn { .. } | Term::Outer(_) | Term::Value(_) => false,
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
                Ok::<(), Error>(())
            }
            None => self.term(&a.arg),
        }?;
        if distinct && self.collate_decimals && a.arg_type == SqlType::Decimal {
            // DISTINCT compares by value, not as text ("1.5" and "1.50" are one).
            self.collate_decimal();
        }
        Ok(())
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
        // A join the rows are grouped by splits them into groups: within one group, it
        // repeats nothing. Over the whole query (`aggregate()`), a filter's join makes the
        // queryset's own rows (repeated as `fetch()` returns them, and as `count()` counts
        // them): an aggregate of the model's own fields reads those rows.
        let own_fields = own.is_empty() && !self.grouping;
        let repeating: Vec<&'static str> = frame
            .joins
            .iter()
            .enumerate()
            .filter(|(i, j)| {
                let splits_or_selects =
                    self.grouped_joins.contains(i) || (own_fields && j.scope.is_some());
                j.rel.kind.is_many() && !own.contains(i) && !splits_or_selects
            })
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

    /// What the rows are grouped by: the model's columns (and what `select_related`
    /// reads) when rows of the model are grouped, else the projected terms that are not
    /// aggregates; the plain columns of a term that mixes them with an aggregate; and the
    /// columns ordering, HAVING and subqueries' `outer()` read, which must be grouped
    /// already (or, grouping by the model, be a forward relation of it: added, since they
    /// change no group).
    pub(super) fn group_terms(
        &self,
        q: &Query,
        selected: &[SelectNode],
        ordering: &[OrderTerm],
        havings: &[(usize, Cond)],
    ) -> Result<Vec<Term>> {
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
        let push = |terms: &mut Vec<Term>, t: Term| {
            if !terms.contains(&t) {
                terms.push(t);
            }
        };
        let by_model = q.select == Select::Model || q.group_by_model;
        let items: Vec<&Term> = match &q.select {
            Select::Model => {
                for t in root_columns(q.meta, RelPath::ROOT) {
                    push(&mut terms, t);
                }
                for node in crate::dsl::select_related::flatten(selected) {
                    for t in root_columns((node.rel.target)(), node.path) {
                        push(&mut terms, t);
                    }
                }
                q.annotations.iter().collect()
            }
            Select::Terms(ts) => {
                if q.group_by_model {
                    for t in root_columns(q.meta, RelPath::ROOT) {
                        push(&mut terms, t);
                    }
                }
                ts.iter().collect()
            }
        };
        let mut mixed = Vec::new();
        for t in items.iter().copied().chain(q.extra.iter()) {
            if t.has_aggregate() {
                mixed.push(t);
            } else if !matches!(t, Term::Subquery(_)) {
                push(&mut terms, t.clone());
            }
        }
        // The plain columns beside an aggregate (`count() + id`) are grouped by.
        for t in mixed {
            let mut cols = Vec::new();
            t.columns(&mut cols);
            for c in cols {
                push(&mut terms, Term::Column(c));
            }
        }
        fn grouped(
            terms: &mut Vec<Term>,
            by_model: bool,
            col: ColumnRef,
            what: &str,
        ) -> Result<()> {
            let col = Term::Column(col);
            if terms.contains(&col) {
                return Ok(());
            }
            if by_model && forward_only(&col) {
                terms.push(col);
                return Ok(());
            }
            let Term::Column(c) = col else {
                unreachable!("built as a column")
            };
            Err(Error::InvalidInput(format!(
                "{what} reads `{}`, which is not one of the fields the rows are grouped \
                 by (the projected fields, or the model when annotating it): grouping by \
                 it too would split the groups. {what} may read grouped fields and \
                 aggregates",
                c.column
            )))
        }
        let check = |terms: &mut Vec<Term>, t: &Term, what: &str| -> Result<()> {
            if terms.contains(t) {
                return Ok(());
            }
            let mut cols = Vec::new();
            t.columns(&mut cols);
            let mut subs = Vec::new();
            t.subqueries(&mut subs);
            for s in subs {
                if let Ok(sq) = s.query() {
                    cols.extend(sq.outer_columns().into_iter().map(|oc| oc.column));
                }
            }
            for c in cols {
                grouped(terms, by_model, c, what)?;
            }
            Ok(())
        };
        for t in items.iter().copied() {
            if matches!(t, Term::Subquery(_)) || t.has_aggregate() {
                check(&mut terms, t, "a subquery")?;
            }
        }
        for o in ordering {
            check(&mut terms, &o.term, "the ordering")?;
        }
        for (_, c) in havings {
            let mut leaf_terms: Vec<&Term> = Vec::new();
            c.each_term(&mut |t| leaf_terms.push(t));
            for t in leaf_terms {
                check(&mut terms, t, "a condition on an aggregate")?;
            }
        }
        Ok(terms)
    }

    /// The joins the grouping reads (with the joins they hang from): the rows they repeat
    /// are split into groups, not repeated inside one.
    pub(super) fn note_grouped_joins(&mut self, terms: &[Term]) -> Result<()> {
        let mut joins = Vec::new();
        {
            let frame = self.frame();
            for t in terms {
                let mut cols = Vec::new();
                t.columns(&mut cols);
                for c in cols {
                    let rel = frame.relative(&c.path)?;
                    if rel.is_root() {
                        continue;
                    }
                    let mut at = frame.find(&rel, None);
                    while let Some(i) = at {
                        joins.push(i);
                        at = frame.joins[i].parent;
                    }
                }
            }
        }
        self.grouped_joins = joins;
        Ok(())
    }

    /// ` GROUP BY …`; a grouped term that binds a value is written as its position in the
    /// SELECT list (PostgreSQL numbers every placeholder apart, so the same expression
    /// written twice is two expressions to it).
    pub(super) fn group_by(&mut self, terms: &[Term], items: &[Term]) -> Result<()> {
        if terms.is_empty() {
            return Ok(()); // one group: every row
        }
        self.sql.push_str(" GROUP BY ");
        for (i, t) in terms.iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.term_or_position(t, items)?;
        }
        Ok(())
    }

    /// `t`, or its 1-based position in the SELECT list `items` where it binds a value and
    /// is selected.
    pub(super) fn term_or_position(&mut self, t: &Term, items: &[Term]) -> Result<()> {
        if binds_value(t)
            && let Some(pos) = items.iter().position(|i| i == t)
        {
            crate::sql::dialect::push_decimal(&mut self.sql, pos as u64 + 1);
            return Ok(());
        }
        self.term(t)
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
        let saved_alias = std::mem::replace(&mut self.alias_items, false);
        let saved_items = self.items_written;
        let r = write_select(self, q, false);
        self.scope = saved_scope;
        self.under_not = saved_not;
        self.alias_items = saved_alias;
        self.items_written = saved_items;
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
        if q.empty {
            // `none()`: no row (an aggregate over none: a count is 0, the others NULL).
            let mut none = q.clone();
            none.empty = false;
            none.filter_mut().push(Cond::Const(false));
            self.nested_select(&none)?;
        } else {
            self.nested_select(q)?;
        }
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
        // The enclosing query's own frame: the subquery before this one, or the statement's
        // (not a frame in between, such as an `exclude()`'s EXISTS across a relation).
        let _ = sub;
        let enclosing = match self.subquery_frames.iter().rev().nth(1) {
            Some(&i) => &self.frames[i],
            None => &self.frames[0],
        };
        let root = enclosing.root;
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
