//! The description of one SELECT: what a queryset compiles from.

use crate::dsl::expr::{RelPath, Term};
use crate::dsl::ordering::OrderTerm;
use crate::dsl::prefetch_related::PrefetchNode;
use crate::dsl::q::{CmpOp, Cond};
use crate::schema::model::ModelMeta;
use crate::schema::relation::ThroughMeta;
use crate::schema::value::{SqlType, Value};

/// What the SELECT list holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Select {
    /// Every column of the model, in `ModelMeta::columns` order.
    Model,
    /// A typed projection (`values`).
    Terms(Vec<Term>),
}

/// A SELECT over one model's table, built up by chaining and compiled per dialect.
#[derive(Clone, Debug)]
pub struct Query {
    pub meta: &'static ModelMeta,
    pub select: Select,
    /// Conditions ANDed together (each `filter`/`exclude` call adds one).
    pub filter: std::sync::Arc<Vec<Cond>>,
    pub order_by: Vec<OrderTerm>,
    /// False after an odd number of `reverse()` calls.
    pub standard_ordering: bool,
    pub distinct: bool,
    /// `OFFSET`.
    pub low: u64,
    /// `OFFSET + LIMIT`, if sliced with an end.
    pub high: Option<u64>,
    /// `none()`, an empty slice, or a condition that is always false: no query runs.
    pub empty: bool,
    /// Relation paths read in the same query through JOINs.
    pub select_related: Vec<RelPath>,
    /// Relations fetched by one more query per level after the rows.
    pub prefetch: Vec<PrefetchNode>,
    /// Terms appended to the SELECT list (the parent key of prefetched rows).
    pub extra: Vec<Term>,
    /// A many-to-many join table joined to the root (prefetching a many-to-many relation).
    pub through: Option<ThroughJoin>,
    /// Values computed per row (`annotate`), selected right after the model's columns.
    pub annotations: Vec<Term>,
    /// `annotate()` with an aggregate on the model's rows: the query groups by the model
    /// (every column of it), also after a `values()` that selects other columns.
    pub group_by_model: bool,
    /// A related manager's query (`author.books()`): the relation it reads for one parent
    /// row, so that evaluating it is recorded as a lazy load of that relation.
    pub related_of: Option<&'static crate::schema::relation::RelationMeta>,
    /// `cached(ttl)`: results may be served from (and stored in) the backend's query
    /// cache for this long.
    pub cache_ttl: Option<std::time::Duration>,
}

/// `INNER JOIN through ON through.target_column = root.target_pk`.
#[derive(Clone, Copy, Debug)]
pub struct ThroughJoin {
    pub through: &'static ThroughMeta,
    pub target_pk: &'static str,
}

impl Query {
    pub fn new(meta: &'static ModelMeta) -> Self {
        Query {
            meta,
            select: Select::Model,
            filter: Default::default(),
            order_by: Vec::new(),
            standard_ordering: true,
            distinct: false,
            low: 0,
            high: None,
            empty: false,
            select_related: Vec::new(),
            prefetch: Vec::new(),
            extra: Vec::new(),
            through: None,
            annotations: Vec::new(),
            group_by_model: false,
            related_of: None,
            cache_ttl: None,
        }
    }

    /// Whether the query groups rows (an aggregate in its SELECT list or its conditions,
    /// or an `annotate()` with one).
    pub fn is_grouped(&self) -> bool {
        self.group_by_model
            || self.annotations.iter().any(Term::has_aggregate)
            || matches!(&self.select, Select::Terms(t) if t.iter().any(Term::has_aggregate))
            || self.filter.iter().any(Cond::has_aggregate)
            || self.order_by.iter().any(|o| o.term.has_aggregate())
    }

    /// The columns of an enclosing query that this query reads (as a subquery).
    pub fn outer_columns(&self) -> Vec<crate::dsl::expr::OuterColumn> {
        let mut out = Vec::new();
        for c in self.filter.iter() {
            // (A subquery nested in this one reads this one, not its enclosing query.)
            c.each_term(&mut |t| t.outer_columns(&mut out));
        }
        if let Select::Terms(terms) = &self.select {
            terms.iter().for_each(|t| t.outer_columns(&mut out));
        }
        self.annotations
            .iter()
            .for_each(|t| t.outer_columns(&mut out));
        self.order_by
            .iter()
            .for_each(|o| o.term.outer_columns(&mut out));
        out
    }

    pub fn is_sliced(&self) -> bool {
        self.low != 0 || self.high.is_some()
    }

    pub fn is_ordered(&self) -> bool {
        !self.order_by.is_empty()
    }

    /// Whether this query returns at most one row whatever the data: its window is one
    /// row wide, or it pins the primary key by equality and every condition and ordering
    /// stays on the model's own table (a join through a many-valued relation could repeat
    /// the row). A backend may then stop reading after the first row.
    pub fn at_most_one_row(&self) -> bool {
        if self.high.is_some_and(|h| h <= self.low.saturating_add(1)) {
            return true;
        }
        let pk = self.meta.pk_column().column;
        let select_root_only = match &self.select {
            Select::Model => true,
            Select::Terms(terms) => terms.iter().all(term_root_only),
        };
        self.through.is_none()
            && self.extra.is_empty()
            && select_root_only
            && self.annotations.iter().all(term_root_only)
            && self.filter.iter().all(root_only)
            && self.order_by.iter().all(|o| term_root_only(&o.term))
            && self.filter.iter().any(|c| pins_column(c, pk))
    }

    /// The conditions, to add one. They are shared between a queryset and the querysets
    /// chained from it (`get()` clones its query), and copied only when one changes them.
    pub fn filter_mut(&mut self) -> &mut Vec<Cond> {
        std::sync::Arc::make_mut(&mut self.filter)
    }

    /// Add a condition, folding constants: an always-false one makes the query empty.
    pub fn add_filter(&mut self, cond: Cond) {
        // A condition on an aggregate of the model's rows groups them by the model, also
        // if a `values()` later selects other columns (`filter(count >= 2).values(name)`
        // is the names of those authors, not the names with two books in all).
        if self.select == Select::Model && cond.has_aggregate() {
            self.group_by_model = true;
        }
        match cond.simplify() {
            Cond::Const(true) => {}
            Cond::Const(false) => self.empty = true,
            other => self.filter_mut().push(other),
        }
    }

    /// Django's `set_limits`: slices of slices compose; an empty window empties the query.
    pub fn set_limits(&mut self, low: Option<u64>, high: Option<u64>) {
        if let Some(h) = high {
            self.high = Some(match self.high {
                Some(cur) => cur.min(self.low.saturating_add(h)),
                None => self.low.saturating_add(h),
            });
        }
        if let Some(l) = low {
            self.low = match self.high {
                Some(cur) => cur.min(self.low.saturating_add(l)),
                None => self.low.saturating_add(l),
            };
        }
        if Some(self.low) == self.high {
            self.empty = true;
        }
    }

    /// The ordering as it will be written (reversed if `reverse()` was applied).
    pub fn effective_ordering(&self) -> Vec<OrderTerm> {
        if self.standard_ordering {
            self.order_by.clone()
        } else {
            self.order_by.iter().map(OrderTerm::reversed).collect()
        }
    }
}

/// Whether a condition reads only the model's own columns (no relation path, no table
/// joined by name).
fn root_only(c: &Cond) -> bool {
    match c {
        Cond::Compare { lhs, rhs, .. } => term_root_only(lhs) && term_root_only(rhs),
        Cond::IsNull { lhs, .. }
        | Cond::Like { lhs, .. }
        | Cond::In { lhs, .. }
        | Cond::InQuery { lhs, .. }
        | Cond::Regex { lhs, .. } => term_root_only(lhs),
        Cond::Between { lhs, low, high } => {
            term_root_only(lhs) && term_root_only(low) && term_root_only(high)
        }
        Cond::And(parts) | Cond::Or(parts) => parts.iter().all(root_only),
        Cond::Not(inner) => root_only(inner),
        Cond::Const(_) | Cond::Exists(_) => true,
    }
}

fn term_root_only(t: &Term) -> bool {
    match t {
        Term::Column(c) => c.path.is_root(),
        Term::TableColumn { .. } => false,
        Term::Value(_) => true,
        Term::Arith(a, _, b, _) | Term::Coalesce(a, b) => term_root_only(a) && term_root_only(b),
        // One value per row: a subquery repeats no row.
        Term::Subquery(_) | Term::Outer(_) => true,
        Term::Aggregate(_) => false,
    }
}

/// Whether `c` (or one of its top-level conjuncts) is `column = value` on the model's own
/// `column`, with a value whose equality is the one the key's uniqueness uses: an integer,
/// text, bytes or a UUID. Not a decimal: SQLite stores decimals as text (`1.0` and `1.00`
/// are two keys) but compares them as numbers (both equal `1`).
fn pins_column(c: &Cond, column: &str) -> bool {
    let is_col = |t: &Term| matches!(t, Term::Column(r) if r.path.is_root() && r.column == column);
    // `sql_type` is the type of a NULL too: rule NULLs out first.
    let exact = |v: &Value| {
        !matches!(v, Value::Null(_))
            && matches!(
                v.sql_type(),
                Some(
                    SqlType::I16
                        | SqlType::I32
                        | SqlType::I64
                        | SqlType::Text
                        | SqlType::Bytes
                        | SqlType::Uuid
                )
            )
    };
    let is_value = |t: &Term| matches!(t, Term::Value(v) if exact(v));
    match c {
        Cond::Compare {
            lhs,
            op: CmpOp::Eq,
            rhs,
        } => (is_col(lhs) && is_value(rhs)) || (is_value(lhs) && is_col(rhs)),
        Cond::In { lhs, values } => is_col(lhs) && values.len() == 1 && exact(&values[0]),
        Cond::And(parts) => parts.iter().any(|p| pins_column(p, column)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static META: ModelMeta = ModelMeta {
        name: "T",
        table: "t",
        columns: &[],
        pk: 0,
        relations: &[],
        indexes: &[],
        renamed_from: None,
    };

    #[test]
    fn slices_of_slices_compose_like_django() {
        let mut q = Query::new(&META);
        q.set_limits(Some(5), Some(20)); // [5:20]
        q.set_limits(Some(2), Some(10)); // [2:10] of that
        assert_eq!((q.low, q.high), (7, Some(15)));
        q.set_limits(Some(100), None); // past the end
        assert_eq!((q.low, q.high), (15, Some(15)));
        assert!(q.empty);
    }
}
