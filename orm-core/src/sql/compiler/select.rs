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
pub fn select_with_plan(q: &Query, dialect: Dialect) -> Result<(Statement, Vec<SelectNode>)> {
    let mut w = SqlWriter::new(dialect, q.meta);
    let selected = write_select(&mut w, q, true)?;
    Ok((w.finish()?, selected))
}

pub(super) fn write_select(
    w: &mut SqlWriter,
    q: &Query,
    with_related: bool,
) -> Result<Vec<SelectNode>> {
    w.reserve_through(q);
    let selected = if with_related && q.select == Select::Model {
        crate::dsl::select_related::plan(&q.select_related, q.meta.columns.len()).0
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
    let ordering = q.effective_ordering();
    for o in &ordering {
        w.register_term(&o.term, false)?;
    }
    w.push(if q.distinct {
        "SELECT DISTINCT "
    } else {
        "SELECT "
    });
    w.select_list(q, &selected)?;
    if q.distinct {
        // PostgreSQL requires ORDER BY terms of a DISTINCT query in its SELECT list; as in
        // Django, those not already there are added (after every decoded column).
        let selected_terms: Vec<Term> = match &q.select {
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
        for o in &ordering {
            if !selected_terms.contains(&o.term) && !q.extra.contains(&o.term) {
                w.push(", ");
                w.term(&o.term)?;
            }
        }
    }
    w.from(q)?;
    w.where_clause(&q.filter)?;
    w.order_by(&ordering)?;
    w.limits(q.low, q.high);
    Ok(selected)
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
        write_select(&mut w, &inner, false)?;
        w.push(") ");
        w.ident("subquery");
    } else {
        w.reserve_through(q);
        w.register_filter(&q.filter)?;
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
    if inner.distinct {
        w.push("SELECT 1 FROM (");
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
