//! `delete()` with Django's on-delete rules: what deleting rows does to the rows that point
//! at them (CASCADE, SET NULL, PROTECT, RESTRICT, DO NOTHING) and to many-to-many links.
//!
//! Only relations a model knows about are followed: its many-to-many fields, and the
//! reverse sides it declares (`#[orm(reverse(Book::author))]`). A foreign key from a model
//! whose reverse side is not declared is still guarded by the database's constraint: the
//! delete fails with a database error instead of leaving a dangling key.
//!
//! SQLite and PostgreSQL check the keys at the commit (the constraints are deferred), so
//! the rows of each model go in one set of statements, in any order. MySQL and MariaDB
//! check them row by row as each statement runs: there, the rows are deleted children
//! first ([`order_for_immediate_checks`]), a self relation's chain in one `DELETE … ORDER
//! BY`, and rows that point at one another (or at themselves) have their key cleared
//! first, which a non-nullable key cannot be.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::dsl::expr::{ColumnRef, RelPath, Term};
use crate::dsl::q::Cond;
use crate::dsl::query::{Query, Select};
use crate::error::{Error, Result};
use crate::eval::executor::RowSource;
use crate::schema::model::{ColumnMeta, ModelMeta};
use crate::schema::relation::{KeyRepr, KeySet, OnDelete, RelationKind, RelationMeta, ThroughMeta};
use crate::schema::value::{SqlType, Value};
use crate::sql::compiler::{self, Statement};
use crate::sql::dialect::Dialect;

/// Whether `dialect`'s server checks foreign keys row by row as a statement runs, rather
/// than at the commit: MySQL and MariaDB (InnoDB has no deferred constraints).
fn checks_keys_immediately(dialect: Dialect) -> bool {
    dialect == Dialect::Mysql
}

/// Something that deleting rows of a model affects.
enum Dependent {
    /// Rows whose foreign key points at the deleted ones; `forward` is that key.
    Keyed(&'static RelationMeta),
    /// Links in a join table, by the column holding the deleted rows' keys.
    Links(&'static ThroughMeta, &'static str),
}

/// What points at `meta`: the reverse sides and many-to-many fields it declares, and the
/// keys and many-to-many fields of registered models that point at it.
fn dependents(meta: &'static ModelMeta) -> Result<Vec<Dependent>> {
    let mut out: Vec<Dependent> = Vec::new();
    let has_key = |out: &[Dependent], f: &'static RelationMeta| {
        out.iter()
            .any(|d| matches!(d, Dependent::Keyed(x) if std::ptr::eq(*x, f)))
    };
    let has_links = |out: &[Dependent], t: &'static ThroughMeta, col: &str| {
        out.iter()
            // By table: both sides of a many-to-many describe the same join table.
            .any(|d| matches!(d, Dependent::Links(x, c) if x.table == t.table && *c == col))
    };
    for rel in meta.relations {
        match rel.kind {
            RelationKind::Reverse => {
                let forward = rel.forward_relation()?;
                if !has_key(&out, forward) {
                    out.push(Dependent::Keyed(forward));
                }
            }
            RelationKind::ManyToMany => {
                if let Some(th) = &rel.through
                    && !has_links(&out, th, th.parent_column)
                {
                    out.push(Dependent::Links(th, th.parent_column));
                }
            }
            RelationKind::ForeignKey | RelationKind::OneToOne => {}
        }
    }
    for other in crate::schema::registry::registered() {
        for rel in other.relations {
            if !std::ptr::eq((rel.target)(), meta) {
                continue;
            }
            match rel.kind {
                RelationKind::ForeignKey | RelationKind::OneToOne => {
                    if !has_key(&out, rel) {
                        out.push(Dependent::Keyed(rel));
                    }
                }
                RelationKind::ManyToMany => {
                    if let Some(th) = &rel.through
                        && !has_links(&out, th, th.target_column)
                    {
                        out.push(Dependent::Links(th, th.target_column));
                    }
                }
                RelationKind::Reverse => {}
            }
        }
    }
    Ok(out)
}

/// Whether deleting rows of `meta` may touch other tables.
pub(crate) fn has_dependents(meta: &'static ModelMeta) -> bool {
    dependents(meta).map_or(true, |d| !d.is_empty())
}

fn column(name: &'static str, nullable: bool) -> Term {
    Term::Column(ColumnRef {
        path: RelPath::ROOT,
        column: name,
        nullable,
    })
}

/// What one delete will do, gathered before anything is changed.
#[derive(Default)]
struct Plan {
    /// Rows to delete, by model, in the order found (parents before children).
    deletes: Vec<(&'static ModelMeta, Vec<Value>)>,
    /// `DELETE FROM child WHERE fk IN (parent keys)` for children with nothing below them.
    fast_deletes: Vec<(&'static ModelMeta, &'static str, Vec<Value>)>,
    /// `UPDATE child SET fk = NULL WHERE fk IN (parent keys)`.
    set_nulls: Vec<(&'static ModelMeta, &'static str, SqlType, Vec<Value>)>,
    /// Many-to-many links to drop.
    unlinks: Vec<(&'static ThroughMeta, &'static str, Vec<Value>)>,
    /// RESTRICT hits: rows that point at deleted ones through a RESTRICT key. Allowed only
    /// if the same delete removes them too (Django's RestrictedError rule).
    restricted: Vec<Restricted>,
    /// Which row points at which through a CASCADE or RESTRICT key, as the cascade found
    /// them: the order of deletion where keys are checked immediately.
    edges: Vec<Edge>,
}

/// A row found pointing through `forward` at a row about to be deleted.
struct Edge {
    forward: &'static RelationMeta,
    /// The pointing row's model and key.
    child: (&'static ModelMeta, Value),
    /// The row pointed at.
    parent: (&'static ModelMeta, Value),
}

struct Restricted {
    model: &'static str,
    relation: &'static RelationMeta,
    child: &'static ModelMeta,
    keys: Vec<Value>,
}

/// Read the primary keys `query` matches.
async fn keys_of(query: &Query, ex: &mut (dyn RowSource + '_)) -> Result<Vec<Value>> {
    let meta = query.meta;
    let pk = meta.pk_column();
    let mut q = query.clone();
    q.select = Select::Terms(vec![column(pk.column, false)]);
    q.order_by.clear();
    q.select_related.clear();
    q.prefetch.clear();
    let stmt = compiler::select(&q, ex.dialect())?;
    let mut out = Vec::new();
    let mut each = |row: &dyn crate::schema::row::Row| -> Result<()> {
        out.push(Value::read(row, 0, pk.sql_type)?);
        Ok(())
    };
    ex.for_each_row(stmt, &mut each).await?;
    Ok(out)
}

/// `SELECT pk, col FROM meta WHERE col IN (keys)`, batched: each row's key, and the key
/// it points at.
async fn keys_where_in(
    meta: &'static ModelMeta,
    col: &'static ColumnMeta,
    keys: &[Value],
    ex: &mut (dyn RowSource + '_),
) -> Result<Vec<(Value, Value)>> {
    let pk = meta.pk_column();
    let mut out = Vec::new();
    for batch in keys.chunks(ex.dialect().in_list_budget(0)) {
        let mut q = Query::new(meta);
        q.filter_mut().push(Cond::In {
            lhs: column(col.column, true),
            values: batch.to_vec(),
        });
        q.select = Select::Terms(vec![column(pk.column, false), column(col.column, true)]);
        let stmt = compiler::select(&q, ex.dialect())?;
        let mut each = |row: &dyn crate::schema::row::Row| -> Result<()> {
            out.push((
                Value::read(row, 0, pk.sql_type)?,
                Value::read(row, 1, col.sql_type)?,
            ));
            Ok(())
        };
        ex.for_each_row(stmt, &mut each).await?;
    }
    Ok(out)
}

/// Follow the relations from the rows `keys` of `meta`, breadth first with a work queue
/// and the keys already collected per model, so a cycle (an employee who is their own
/// boss) or a long chain ends instead of recursing without bound.
async fn collect(
    plan: &mut Plan,
    meta: &'static ModelMeta,
    keys: Vec<Value>,
    ex: &mut (dyn RowSource + '_),
) -> Result<()> {
    let mut seen: Vec<(&'static ModelMeta, KeySet)> = Vec::new();
    let mut mark = |m: &'static ModelMeta, keys: Vec<Value>| -> Vec<Value> {
        let set = match seen.iter().position(|(s, _)| std::ptr::eq(*s, m)) {
            Some(i) => &mut seen[i].1,
            None => {
                seen.push((m, KeySet::default()));
                &mut seen.last_mut().expect("just pushed").1
            }
        };
        keys.into_iter()
            .filter(|k| KeyRepr::of(k).is_none_or(|r| set.insert(r)))
            .collect()
    };
    let mut queue = std::collections::VecDeque::new();
    queue.push_back((meta, mark(meta, keys)));
    while let Some((meta, keys)) = queue.pop_front() {
        if keys.is_empty() {
            continue;
        }
        for dep in dependents(meta)? {
            let forward = match dep {
                Dependent::Links(th, col) => {
                    plan.unlinks.push((th, col, keys.clone()));
                    continue;
                }
                Dependent::Keyed(forward) => forward,
            };
            let child = (forward.parent)();
            let fk = forward
                .key_column
                .and_then(|i| child.columns.get(i))
                .ok_or_else(|| {
                    Error::InvalidInput(format!("{} has no key column", forward.label()))
                })?;
            match forward.on_delete {
                OnDelete::DoNothing => {}
                OnDelete::SetNull => {
                    plan.set_nulls
                        .push((child, fk.column, fk.sql_type, keys.clone()))
                }
                OnDelete::Protect => {
                    let found = keys_where_in(child, fk, &keys, ex).await?;
                    if !found.is_empty() {
                        return Err(Error::Protected {
                            model: meta.name,
                            relation: forward.label(),
                            count: found.len(),
                            restrict: false,
                        });
                    }
                }
                OnDelete::Restrict => {
                    let found = keys_where_in(child, fk, &keys, ex).await?;
                    if !found.is_empty() {
                        let keys = found.iter().map(|(k, _)| k.clone()).collect();
                        plan.edges.extend(found.into_iter().map(|(k, to)| Edge {
                            forward,
                            child: (child, k),
                            parent: (meta, to),
                        }));
                        plan.restricted.push(Restricted {
                            model: meta.name,
                            relation: forward,
                            child,
                            keys,
                        });
                    }
                }
                OnDelete::Cascade => {
                    if has_dependents(child) {
                        let pairs = keys_where_in(child, fk, &keys, ex).await?;
                        let found = pairs.iter().map(|(k, _)| k.clone()).collect();
                        plan.edges.extend(pairs.into_iter().map(|(k, to)| Edge {
                            forward,
                            child: (child, k),
                            parent: (meta, to),
                        }));
                        let fresh = mark(child, found);
                        if !fresh.is_empty() {
                            plan.deletes.push((child, fresh.clone()));
                            queue.push_back((child, fresh));
                        }
                    } else {
                        plan.fast_deletes.push((child, fk.column, keys.clone()));
                    }
                }
            }
        }
    }
    // RESTRICT: allowed where the restricting rows are deleted too, by a cascade that
    // collected them or by a child's one-statement delete.
    for r in std::mem::take(&mut plan.restricted) {
        let seen_set = seen.iter().find(|(m, _)| std::ptr::eq(*m, r.child));
        let mut left: Vec<Value> = r
            .keys
            .into_iter()
            .filter(|k| match (seen_set, KeyRepr::of(k)) {
                (Some((_, set)), Some(key)) => !set.contains(&key),
                _ => true,
            })
            .collect();
        for (m, col, parents) in &plan.fast_deletes {
            if left.is_empty() || !std::ptr::eq(*m, r.child) {
                continue;
            }
            let mut q = Query::new(r.child);
            q.filter_mut().push(Cond::In {
                lhs: column(r.child.pk_column().column, false),
                values: left.clone(),
            });
            q.filter_mut().push(Cond::In {
                lhs: column(col, true),
                values: parents.clone(),
            });
            let gone: KeySet = keys_of(&q, ex)
                .await?
                .iter()
                .filter_map(KeyRepr::of)
                .collect();
            left.retain(|k| KeyRepr::of(k).is_none_or(|key| !gone.contains(&key)));
        }
        if !left.is_empty() {
            return Err(Error::Protected {
                model: r.model,
                relation: r.relation.label(),
                count: left.len(),
                restrict: true,
            });
        }
    }
    Ok(())
}

fn where_in(
    dialect: crate::sql::dialect::Dialect,
    meta: &'static ModelMeta,
    col: &'static str,
    keys: &[Value],
    f: impl Fn(&Query) -> Result<Statement>,
) -> Result<Vec<Statement>> {
    keys.chunks(dialect.in_list_budget(1))
        .map(|batch| {
            let mut q = Query::new(meta);
            q.filter_mut().push(Cond::In {
                lhs: column(col, true),
                values: batch.to_vec(),
            });
            f(&q)
        })
        .collect()
}

/// Delete what `query` matches and everything its on-delete rules reach, inside `ex`
/// (an atomic block). Returns the count per model (and per join table).
pub(crate) async fn delete_cascading(
    query: &Query,
    ex: &mut (dyn RowSource + '_),
) -> Result<BTreeMap<&'static str, u64>> {
    let root_keys = keys_of(query, ex).await?;
    delete_cascading_keys(query.meta, root_keys, ex).await
}

/// [`delete_cascading`] for rows whose keys are known (an instance's `delete()`), without
/// the SELECT that finds them: Django's instance delete sends none either.
pub(crate) async fn delete_cascading_keys(
    meta: &'static ModelMeta,
    root_keys: Vec<Value>,
    ex: &mut (dyn RowSource + '_),
) -> Result<BTreeMap<&'static str, u64>> {
    let dialect = ex.dialect();
    let mut plan = Plan::default();
    plan.deletes.push((meta, root_keys.clone()));
    collect(&mut plan, meta, root_keys, ex).await?;

    // Children before parents, one set of statements per model (a self relation's whole
    // chain is one DELETE). Where the constraints are deferred to the commit, the order
    // within and between them does not matter; where they are checked row by row, it is
    // worked out, and clearing the keys that close a cycle, before anything is written.
    let mut by_model: Vec<(&'static ModelMeta, Vec<Value>)> = Vec::new();
    for (m, keys) in std::mem::take(&mut plan.deletes).into_iter().rev() {
        match by_model.iter_mut().find(|(x, _)| std::ptr::eq(*x, m)) {
            Some((_, all)) => all.extend(keys),
            None => by_model.push((m, keys)),
        }
    }
    let order = if checks_keys_immediately(dialect) {
        order_for_immediate_checks(by_model, &plan.edges)?
    } else {
        Order {
            cleared: Vec::new(),
            groups: by_model
                .into_iter()
                .map(|(meta, keys)| Group {
                    meta,
                    keys,
                    ordered: false,
                })
                .collect(),
        }
    };

    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    for (child, col, ty, keys) in &plan.set_nulls {
        let stmts = where_in(dialect, child, col, keys, |q| {
            let set = [crate::dsl::update::Assignment::<()>::new(
                ColumnRef {
                    path: RelPath::ROOT,
                    column: col,
                    nullable: true,
                },
                Term::Value(Value::Null(*ty)),
            )];
            compiler::update(q, &set, dialect)
        })?;
        for stmt in stmts {
            ex.execute_stmt(stmt).await?;
        }
    }
    for (child, col, keys) in &order.cleared {
        let pk = child.pk_column().column;
        let stmts = where_in(dialect, child, pk, keys, |q| {
            let set = [crate::dsl::update::Assignment::<()>::new(
                ColumnRef {
                    path: RelPath::ROOT,
                    column: col.column,
                    nullable: true,
                },
                Term::Value(Value::Null(col.sql_type)),
            )];
            compiler::update(q, &set, dialect)
        })?;
        for stmt in stmts {
            ex.execute_stmt(stmt).await?;
        }
    }
    for (through, col, keys) in &plan.unlinks {
        for batch in keys.chunks(dialect.max_params()) {
            let stmt = compiler::unlink_all(through, col, batch.to_vec(), dialect)?;
            let n = ex.execute_stmt(stmt).await?.rows_affected;
            if n > 0 {
                *counts.entry(through.table).or_default() += n;
            }
        }
    }
    for (child, col, keys) in &plan.fast_deletes {
        for stmt in where_in(dialect, child, col, keys, |q| compiler::delete(q, dialect))? {
            let n = ex.execute_stmt(stmt).await?.rows_affected;
            if n > 0 {
                *counts.entry(child.name).or_default() += n;
            }
        }
    }
    for group in &order.groups {
        let m = group.meta;
        let stmts = if group.ordered {
            // Two parameters a key: the IN list and the order.
            group
                .keys
                .chunks((dialect.max_params() / 2).max(1))
                .map(|batch| compiler::delete_keys_in_order(m, batch.to_vec(), dialect))
                .collect::<Result<Vec<_>>>()?
        } else {
            let pk = m.pk_column().column;
            where_in(dialect, m, pk, &group.keys, |q| {
                compiler::delete(q, dialect)
            })?
        };
        for stmt in stmts {
            let n = ex.execute_stmt(stmt).await?.rows_affected;
            if n > 0 {
                *counts.entry(m.name).or_default() += n;
            }
        }
    }
    Ok(counts)
}

/// The rows of one model that one set of DELETE statements removes.
struct Group {
    meta: &'static ModelMeta,
    keys: Vec<Value>,
    /// Rows of the group point at one another: they must go in the order of `keys` (each
    /// row after every row that points at it), which the statement must keep.
    ordered: bool,
}

/// How a delete runs where keys are checked row by row.
struct Order {
    /// Keys to set to NULL before deleting anything, to open the cycles among the rows
    /// deleted (an employee who is their own boss): the model, the key column, the rows.
    cleared: Vec<(&'static ModelMeta, &'static ColumnMeta, Vec<Value>)>,
    /// The DELETEs, in the order to send them.
    groups: Vec<Group>,
}

/// The rows to delete and who points at whom among them, for planning an order.
struct RowGraph {
    /// Each row's model (an index into the models) and key.
    rows: Vec<(usize, Value)>,
    /// The rows of each model, in the order collected.
    of_model: Vec<Vec<usize>>,
    /// (pointing row, row pointed at, the key, still pointing): the row pointing must go
    /// first, unless its key is cleared.
    edges: Vec<(usize, usize, &'static RelationMeta, bool)>,
    /// Per row, the edges it is the pointing row of.
    out: Vec<Vec<usize>>,
    /// Per row, the edges it is the row pointed at of.
    into: Vec<Vec<usize>>,
    /// Per row, how many rows not yet deleted still point at it.
    blockers: Vec<usize>,
    left: Vec<bool>,
}

impl RowGraph {
    fn new(models: &[(&'static ModelMeta, Vec<Value>)], found: &[Edge]) -> RowGraph {
        let mut rows = Vec::new();
        let mut of_model = Vec::with_capacity(models.len());
        let mut index: HashMap<(usize, KeyRepr), usize> = HashMap::new();
        for (mi, (_, keys)) in models.iter().enumerate() {
            let mut mine = Vec::with_capacity(keys.len());
            for k in keys {
                let id = rows.len();
                if let Some(repr) = KeyRepr::of(k) {
                    index.entry((mi, repr)).or_insert(id);
                }
                rows.push((mi, k.clone()));
                mine.push(id);
            }
            of_model.push(mine);
        }
        let model_of = |m: &'static ModelMeta| models.iter().position(|(x, _)| std::ptr::eq(*x, m));
        let mut g = RowGraph {
            out: vec![Vec::new(); rows.len()],
            into: vec![Vec::new(); rows.len()],
            blockers: vec![0; rows.len()],
            left: vec![true; rows.len()],
            rows,
            of_model,
            edges: Vec::new(),
        };
        for e in found {
            let node = |(m, k): &(&'static ModelMeta, Value)| {
                let mi = model_of(m)?;
                index.get(&(mi, KeyRepr::of(k)?)).copied()
            };
            // A row that is not deleted here (a RESTRICT one: refused already) orders
            // nothing.
            let (Some(c), Some(p)) = (node(&e.child), node(&e.parent)) else {
                continue;
            };
            let id = g.edges.len();
            g.edges.push((c, p, e.forward, true));
            g.out[c].push(id);
            g.into[p].push(id);
            g.blockers[p] += 1;
        }
        g
    }

    /// Delete as many rows of model `mi` as can go, each after the rows pointing at it:
    /// the rows in order and whether any of them pointed at another, or `None` if `all`
    /// and some row of the model cannot go yet.
    fn drain(&mut self, mi: usize, all: bool) -> Option<(Vec<usize>, bool)> {
        let mut freed: HashMap<usize, usize> = HashMap::new();
        let mut queue: VecDeque<usize> = self.of_model[mi]
            .iter()
            .copied()
            .filter(|&r| self.left[r] && self.blockers[r] == 0)
            .collect();
        let mut order = Vec::new();
        let mut ordered = false;
        while let Some(r) = queue.pop_front() {
            order.push(r);
            for &e in &self.out[r] {
                let (_, p, _, active) = self.edges[e];
                if !active || !self.left[p] {
                    continue;
                }
                let n = freed.entry(p).or_default();
                *n += 1;
                if self.rows[p].0 == mi {
                    ordered = true;
                    if *n == self.blockers[p] {
                        queue.push_back(p);
                    }
                }
            }
        }
        let remaining = self.of_model[mi].iter().filter(|&&r| self.left[r]).count();
        if order.is_empty() || (all && order.len() < remaining) {
            return None;
        }
        for &r in &order {
            self.left[r] = false;
        }
        for (p, n) in freed {
            self.blockers[p] -= n;
        }
        Some((order, ordered))
    }

    /// The edges still pointing that lie on a cycle of rows not yet deleted (or between
    /// two such cycles): what is left once every row that can be deleted without them,
    /// and every row that points at none of what is left, is set aside.
    fn cycle_edges(&self) -> Vec<usize> {
        let mut alive = self.left.clone();
        let mut blockers = self.blockers.clone();
        let mut queue: VecDeque<usize> = (0..alive.len())
            .filter(|&r| alive[r] && blockers[r] == 0)
            .collect();
        while let Some(r) = queue.pop_front() {
            alive[r] = false;
            for &e in &self.out[r] {
                let (_, p, _, active) = self.edges[e];
                if active && alive[p] {
                    blockers[p] -= 1;
                    if blockers[p] == 0 {
                        queue.push_back(p);
                    }
                }
            }
        }
        let points = |alive: &[bool], r: usize| {
            self.out[r]
                .iter()
                .filter(|&&e| self.edges[e].3 && alive[self.edges[e].1])
                .count()
        };
        let mut pointing: Vec<usize> = (0..alive.len())
            .map(|r| if alive[r] { points(&alive, r) } else { 0 })
            .collect();
        let mut queue: VecDeque<usize> = (0..alive.len())
            .filter(|&r| alive[r] && pointing[r] == 0)
            .collect();
        while let Some(r) = queue.pop_front() {
            alive[r] = false;
            for &e in &self.into[r] {
                let (c, _, _, active) = self.edges[e];
                if active && alive[c] {
                    pointing[c] -= 1;
                    if pointing[c] == 0 {
                        queue.push_back(c);
                    }
                }
            }
        }
        (0..self.edges.len())
            .filter(|&e| {
                let (c, p, _, active) = self.edges[e];
                active && alive[c] && alive[p]
            })
            .collect()
    }

    /// Stop `e` pointing (its key is cleared before the deletes).
    fn clear(&mut self, e: usize) {
        let (c, p, _, active) = self.edges[e];
        if active {
            self.edges[e].3 = false;
            if self.left[c] {
                self.blockers[p] -= 1;
            }
        }
    }
}

/// The order of a delete where keys are checked row by row (MySQL, MariaDB): each row
/// after every row that points at it. `models` are the rows to delete by model, in the
/// order preferred (children's models first); `found` who points at whom among them.
///
/// Each model's rows go in one set of statements whenever the models' keys allow it (a
/// self relation's chain too, its rows in order); rows pointing at one another (or at
/// themselves) have a nullable key among them cleared first. Only if the models' keys
/// point at one another across models are a model's rows split over several sets.
fn order_for_immediate_checks(
    models: Vec<(&'static ModelMeta, Vec<Value>)>,
    found: &[Edge],
) -> Result<Order> {
    let mut g = RowGraph::new(&models, found);
    let mut groups: Vec<Group> = Vec::new();
    let mut cleared: Vec<(&'static RelationMeta, Vec<usize>)> = Vec::new();
    let take = |g: &RowGraph, groups: &mut Vec<Group>, mi: usize, rows: Vec<usize>, ordered| {
        groups.push(Group {
            meta: models[mi].0,
            keys: rows.into_iter().map(|r| g.rows[r].1.clone()).collect(),
            ordered,
        });
    };
    'plan: while g.left.iter().any(|&l| l) {
        // A model whose rows can all go now.
        for mi in 0..models.len() {
            if let Some((rows, ordered)) = g.drain(mi, true) {
                take(&g, &mut groups, mi, rows, ordered);
                continue 'plan;
            }
        }
        // Rows pointing at one another: clear the nullable keys among them.
        let cycle = g.cycle_edges();
        let clearable: Vec<usize> = cycle
            .iter()
            .copied()
            .filter(|&e| g.edges[e].2.nullable)
            .collect();
        if !clearable.is_empty() {
            for e in clearable {
                let (c, _, rel, _) = g.edges[e];
                match cleared.iter_mut().find(|(r, _)| std::ptr::eq(*r, rel)) {
                    Some((_, rows)) => rows.push(c),
                    None => cleared.push((rel, vec![c])),
                }
                g.clear(e);
            }
            continue;
        }
        // Models pointing at one another: what can go of one of them.
        for mi in 0..models.len() {
            if let Some((rows, ordered)) = g.drain(mi, false) {
                take(&g, &mut groups, mi, rows, ordered);
                continue 'plan;
            }
        }
        let rel = cycle
            .first()
            .map_or_else(|| "a foreign key".to_owned(), |&e| g.edges[e].2.label());
        return Err(Error::Unsupported {
            what: format!(
                "deleting rows that point at one another (or at themselves) through the \
                 non-nullable key {rel}"
            ),
            backend: Dialect::Mysql.name(),
            hint: ": it checks each foreign key as each row is deleted, so no order deletes \
                   them; point one of them elsewhere first, or make the key nullable",
        });
    }
    let mut out = Vec::with_capacity(cleared.len());
    for (rel, mut rows) in cleared {
        let child = (rel.parent)();
        let col = rel
            .key_column
            .and_then(|i| child.columns.get(i))
            .ok_or_else(|| Error::InvalidInput(format!("{} has no key column", rel.label())))?;
        rows.sort_unstable();
        rows.dedup();
        out.push((
            child,
            col,
            rows.into_iter().map(|r| g.rows[r].1.clone()).collect(),
        ));
    }
    Ok(Order {
        cleared: out,
        groups,
    })
}
