//! `delete()` with Django's on-delete rules: what deleting rows does to the rows that point
//! at them (CASCADE, SET NULL, PROTECT, RESTRICT, DO NOTHING) and to many-to-many links.
//!
//! Only relations a model knows about are followed: its many-to-many fields, and the
//! reverse sides it declares (`#[orm(reverse(Book::author))]`). A foreign key from a model
//! whose reverse side is not declared is still guarded by the database's constraint: the
//! delete fails with a database error instead of leaving a dangling key.

use std::collections::BTreeMap;

use crate::dsl::expr::{ColumnRef, RelPath, Term};
use crate::dsl::q::Cond;
use crate::dsl::query::{Query, Select};
use crate::error::{Error, Result};
use crate::eval::executor::RowSource;
use crate::schema::model::ModelMeta;
use crate::schema::relation::{KeyRepr, KeySet, OnDelete, RelationKind, RelationMeta, ThroughMeta};
use crate::schema::value::{SqlType, Value};
use crate::sql::compiler::{self, Statement};

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
            .any(|d| matches!(d, Dependent::Links(x, c) if std::ptr::eq(*x, t) && *c == col))
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
                if let Some(th) = &rel.through {
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

/// `SELECT pk FROM meta WHERE col IN (keys)`, batched.
async fn keys_where_in(
    meta: &'static ModelMeta,
    col: &'static str,
    keys: &[Value],
    ex: &mut (dyn RowSource + '_),
) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for batch in keys.chunks(ex.dialect().in_list_budget(0)) {
        let mut q = Query::new(meta);
        q.filter_mut().push(Cond::In {
            lhs: column(col, true),
            values: batch.to_vec(),
        });
        out.extend(keys_of(&q, ex).await?);
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
                    let found = keys_where_in(child, fk.column, &keys, ex).await?;
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
                    let found = keys_where_in(child, fk.column, &keys, ex).await?;
                    if !found.is_empty() {
                        plan.restricted.push(Restricted {
                            model: meta.name,
                            relation: forward,
                            child,
                            keys: found,
                        });
                    }
                }
                OnDelete::Cascade => {
                    if has_dependents(child) {
                        let found = keys_where_in(child, fk.column, &keys, ex).await?;
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
    // Children before parents, one set of statements per model (a self relation's whole
    // chain is one DELETE); the constraints are deferred to the commit anyway.
    let mut by_model: Vec<(&'static ModelMeta, Vec<Value>)> = Vec::new();
    for (m, keys) in std::mem::take(&mut plan.deletes).into_iter().rev() {
        match by_model.iter_mut().find(|(x, _)| std::ptr::eq(*x, m)) {
            Some((_, all)) => all.extend(keys),
            None => by_model.push((m, keys)),
        }
    }
    for (m, keys) in &by_model {
        let pk = m.pk_column().column;
        for stmt in where_in(dialect, m, pk, keys, |q| compiler::delete(q, dialect))? {
            let n = ex.execute_stmt(stmt).await?.rows_affected;
            if n > 0 {
                *counts.entry(m.name).or_default() += n;
            }
        }
    }
    Ok(counts)
}
