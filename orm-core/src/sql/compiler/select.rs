//! SELECT: the rows of a query, its count, whether it has any.

use super::*;

/// How many keys one `IN` list of `q` may hold on `dialect`: unbounded where lists are
/// bound as one array (PostgreSQL), otherwise what the parameter limit leaves once `q`'s
/// own parameters are bound (this compiles `q` to count them).
pub fn in_list_budget(q: &Query, dialect: Dialect) -> Result<usize> {
    if dialect.max_in_list() == usize::MAX {
        return Ok(usize::MAX);
    }
    Ok(dialect.in_list_budget(select(q, dialect)?.params.len()))
}

/// `SELECT … FROM … WHERE … ORDER BY … LIMIT … OFFSET …`
pub fn select(q: &Query, dialect: Dialect) -> Result<Statement> {
    select_with_plan(q, dialect).map(|(stmt, _)| stmt)
}

/// The SELECT and where each `select_related` model's columns start in its rows.
///
/// A query of a shape compiled before on this thread takes its text from the compiled-SQL
/// cache (`shape.rs`) and only clones its values.
pub fn select_with_plan(q: &Query, dialect: Dialect) -> Result<(Statement, Vec<SelectNode>)> {
    super::shape::cached_select(q, dialect)
}

pub(super) fn write_select(
    w: &mut SqlWriter,
    q: &Query,
    with_related: bool,
) -> Result<Vec<SelectNode>> {
    w.reserve_through(q);
    let selected = if with_related && q.select == Select::Model {
        // Annotations are read right after the model's own columns.
        let start = q.meta.columns.len() + q.annotations.len();
        crate::dsl::select_related::plan(&q.select_related, start).0
    } else {
        Vec::new()
    };
    // Plan every join before writing: the FROM clause comes first in the text.
    for node in crate::dsl::select_related::flatten(&selected) {
        let mut aliases = std::mem::take(&mut w.aliases);
        let r = w.frame_mut().ensure(&node.path, None, false, &mut aliases);
        w.aliases = aliases;
        r?;
    }
    w.register_filter(&q.filter)?;
    if let Select::Terms(terms) = &q.select {
        for t in terms {
            w.register_term(t, false)?;
        }
    }
    for t in &q.annotations {
        w.register_term(t, false)?;
    }
    let ordering = q.effective_ordering();
    for o in &ordering {
        w.register_term(&o.term, false)?;
    }
    let grouped = q.is_grouped();
    let split = grouped.then(|| super::aggregate::split_having(&q.filter));
    let group = match &split {
        Some((_, havings)) => Some(w.group_terms(q, &selected, &ordering, havings)?),
        None => None,
    };
    let saved_joins = std::mem::take(&mut w.grouped_joins);
    let saved_grouping = std::mem::replace(&mut w.grouping, grouped);
    let r = (|| {
        if let Some(g) = &group {
            w.note_grouped_joins(g)?;
        }
        write_select_body(w, q, &selected, &ordering, split.as_ref(), group.as_deref())
    })();
    w.grouped_joins = saved_joins;
    w.grouping = saved_grouping;
    r?;
    Ok(selected)
}

/// The SELECT list after the FROM clause is planned: the parts of [`write_select`] that
/// write text, in order.
fn write_select_body(
    w: &mut SqlWriter,
    q: &Query,
    selected: &[SelectNode],
    ordering: &[OrderTerm],
    split: Option<&super::aggregate::Split>,
    group: Option<&[Term]>,
) -> Result<()> {
    let split = split.map(|(a, b)| (a.as_slice(), b.as_slice()));
    w.push(if q.distinct {
        "SELECT DISTINCT "
    } else {
        "SELECT "
    });
    w.items_written = 0;
    w.select_list(q, selected)?;
    // What the SELECT list holds, for the terms GROUP BY and ORDER BY write by position.
    let mut items: Vec<Term> = if group.is_some() || q.distinct {
        select_items(q, selected)
    } else {
        Vec::new()
    };
    if q.distinct {
        // PostgreSQL requires ORDER BY terms of a DISTINCT query in its SELECT list; as in
        // Django, those not already there are added (after every decoded column).
        let mut selected_terms: Vec<Term> = match &q.select {
            Select::Terms(t) => t.clone(),
            Select::Model => q
                .meta
                .columns
                .iter()
                .map(|c| {
                    Term::Column(ColumnRef {
                        path: RelPath::ROOT,
                        column: c.column,
                        nullable: c.nullable,
                    })
                })
                .collect(),
        };
        selected_terms.extend(q.annotations.iter().cloned());
        let mut n = w.items_written;
        for o in ordering {
            if !selected_terms.contains(&o.term) && !q.extra.contains(&o.term) {
                w.push(", ");
                w.term(&o.term)?;
                n += 1;
                w.alias_item(n);
                items.push(o.term.clone());
            }
        }
    }
    w.from(q)?;
    match (split, group) {
        (Some((wheres, havings)), Some(group)) => {
            w.where_parts(wheres)?;
            w.group_by(group, &items)?;
            w.having(havings)?;
        }
        _ => w.where_clause(&q.filter)?,
    }
    w.order_by(ordering, &items)?;
    w.limits(q.low, q.high);
    Ok(())
}

/// The terms of the SELECT list `select_list` writes, in order.
pub(super) fn select_items(q: &Query, selected: &[SelectNode]) -> Vec<Term> {
    let column = |path: RelPath, c: &'static crate::schema::model::ColumnMeta| {
        Term::Column(ColumnRef {
            path,
            column: c.column,
            nullable: c.nullable,
        })
    };
    let mut items: Vec<Term> = Vec::new();
    match &q.select {
        Select::Model => {
            items.extend(q.meta.columns.iter().map(|c| column(RelPath::ROOT, c)));
            items.extend(q.annotations.iter().cloned());
            for node in crate::dsl::select_related::flatten(selected) {
                items.extend(
                    (node.rel.target)()
                        .columns
                        .iter()
                        .map(|c| column(node.path, c)),
                );
            }
        }
        Select::Terms(t) => items.extend(t.iter().cloned()),
    }
    items.extend(q.extra.iter().cloned());
    items
}

/// `SELECT agg, … FROM … WHERE …`: Django's `aggregate()`, one row over every row of the
/// query. Over a subquery when the query is sliced or distinct (then the aggregates may
/// read only the model's own fields, which the subquery selects).
pub fn aggregate(q: &Query, terms: &[Term], dialect: Dialect) -> Result<Statement> {
    if let Some(t) = terms.iter().find(|t| !t.has_aggregate()) {
        return Err(Error::InvalidInput(format!(
            "aggregate() takes aggregates (`b.pages.sum()`, `a.books().count()`), and one of              its values reads no aggregate ({t:?}): read fields with values()"
        )));
    }
    let mut w = SqlWriter::new(dialect, q.meta);
    if q.is_grouped() {
        return Err(Error::InvalidInput(
            "aggregate() over a queryset with annotate() or a condition on an aggregate:              SQL cannot nest aggregates; aggregate the model's own fields, or read the              annotated rows and compute it from them"
                .into(),
        ));
    }
    if q.is_sliced() || q.distinct {
        for t in terms {
            let mut aggs = Vec::new();
            t.aggregates(&mut aggs);
            let mut cols = Vec::new();
            for a in aggs {
                a.arg.columns(&mut cols);
                if let Some(f) = &a.filter {
                    f.each_term(&mut |t| t.columns(&mut cols));
                }
            }
            if cols.iter().any(|c| !c.path.is_root()) {
                return Err(Error::InvalidInput(
                    "aggregate() of a sliced or distinct queryset reads the rows it selects,                      so it may aggregate only the model's own fields"
                        .into(),
                ));
            }
        }
        let mut inner_q = q.clone();
        if !inner_q.is_sliced() {
            inner_q.order_by.clear();
        }
        if let Select::Terms(projected) = &mut inner_q.select {
            // The rows the projection selects (DISTINCT over them), and the model's own
            // columns the aggregates read, as Django's `rewrite_cols` adds them.
            for t in terms {
                let mut aggs = Vec::new();
                t.aggregates(&mut aggs);
                for a in aggs {
                    let mut cols = Vec::new();
                    a.arg.columns(&mut cols);
                    if let Some(f) = &a.filter {
                        f.each_term(&mut |t| t.columns(&mut cols));
                    }
                    for c in cols {
                        let col = Term::Column(c);
                        if !projected.contains(&col) {
                            projected.push(col);
                        }
                    }
                }
            }
        } else {
            inner_q.select = Select::Model;
        }
        inner_q.select_related.clear();
        inner_q.prefetch.clear();
        inner_q.extra.clear();
        // The aggregates read the subquery's columns.
        w.frames[0].root_alias = crate::sql::join::Alias::Borrowed("subquery");
        w.push("SELECT ");
        for (i, t) in terms.iter().enumerate() {
            if i > 0 {
                w.push(", ");
            }
            w.term(t)?;
        }
        w.push(" FROM (");
        let mut inner = SqlWriter::new(dialect, q.meta);
        inner.params = std::mem::take(&mut w.params);
        inner.alias_items = true;
        let written = write_select(&mut inner, &inner_q, false);
        w.params = std::mem::take(&mut inner.params);
        written?;
        w.aliases.absorb_tables(&inner.aliases);
        if let Some(e) = inner.invalid.take() {
            w.invalid.get_or_insert(e);
        }
        w.sql.push_str(&inner.sql);
        w.push(") ");
        w.ident("subquery");
        return w.finish();
    }
    w.reserve_through(q);
    w.register_filter(&q.filter)?;
    for t in terms {
        w.register_term(t, false)?;
    }
    w.push("SELECT ");
    for (i, t) in terms.iter().enumerate() {
        if i > 0 {
            w.push(", ");
        }
        w.term(t)?;
    }
    w.from(q)?;
    w.where_clause(&q.filter)?;
    w.finish()
}

/// `SELECT COUNT(*) …`; over a subquery when the query is sliced or distinct.
pub fn count(q: &Query, dialect: Dialect) -> Result<Statement> {
    let mut w = SqlWriter::new(dialect, q.meta);
    if q.is_sliced() || q.distinct || q.is_grouped() {
        let mut inner = q.clone();
        if !inner.is_sliced() {
            inner.order_by.clear();
        }
        w.push("SELECT COUNT(*) FROM (");
        w.alias_items = true;
        write_select(&mut w, &inner, false)?;
        w.push(") ");
        w.ident("subquery");
    } else {
        w.reserve_through(q);
        w.register_filter(&q.filter)?;
        // A projection through a many-valued relation returns a row per related row: the
        // count joins it too, to count the rows the SELECT returns.
        if let Select::Terms(terms) = &q.select {
            for t in terms {
                let mut cols = Vec::new();
                t.columns(&mut cols);
                if cols.iter().any(|c| c.path.hops().any(|h| h.kind.is_many())) {
                    w.register_term(t, false)?;
                }
            }
        }
        w.push("SELECT COUNT(*)");
        w.from(q)?;
        w.where_clause(&q.filter)?;
    }
    w.finish()
}

/// `SELECT 1 … LIMIT 1` (within the slice, if any).
pub fn exists(q: &Query, dialect: Dialect) -> Result<Statement> {
    let mut inner = q.clone();
    inner.order_by.clear();
    inner.set_limits(None, Some(1));
    let mut w = SqlWriter::new(dialect, q.meta);
    if inner.distinct || inner.is_grouped() {
        w.push("SELECT 1 FROM (");
        w.alias_items = true;
        write_select(&mut w, &inner, false)?;
        w.push(") ");
        w.ident("subquery");
    } else {
        w.reserve_through(&inner);
        w.register_filter(&inner.filter)?;
        w.push("SELECT 1 AS ");
        w.ident("a");
        w.from(&inner)?;
        w.where_clause(&inner.filter)?;
        w.limits(inner.low, inner.high);
    }
    w.finish()
}
