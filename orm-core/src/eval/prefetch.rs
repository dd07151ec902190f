//! `prefetch_related`: one query per relation level, `IN` lists split to fit the backend's
//! parameter limit, rows grouped by parent key and handed to each parent.

use std::any::Any;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::dsl::expr::{ColumnRef, RelPath, Term};
use crate::dsl::q::Cond;
use crate::dsl::query::{Query, ThroughJoin};
use crate::dsl::select_related::{self, SelectNode};
use crate::error::{Error, Result};
use crate::eval::executor::RowSource;
use crate::eval::related::Group;
use crate::schema::model::Model;
use crate::schema::relation::{JoinOn, KeyMap, KeyRepr, KeySet, RelationKind, RelationMeta};
use crate::schema::row::Row;
use crate::schema::value::FieldType;
use crate::schema::value::Value;
use crate::sql::compiler;

pub(crate) use crate::dsl::prefetch_related::merge;
pub use crate::dsl::prefetch_related::{PrefetchNode, add_path};

/// The rows fetched for one relation level, grouped by parent key, type-erased.
pub struct Fetched {
    data: Box<dyn Any + Send + Sync>,
    /// Reverse relations: the index of the forward relation on the children that points
    /// back at the parent, to fill with the parent (S24's back references).
    pub back_reference: Option<usize>,
    /// The keys whose group still needs its back references (a copy of the parent).
    pending: KeySet,
}

impl Fetched {
    pub fn downcast_mut<X: 'static>(&mut self) -> Result<&mut X> {
        self.data
            .downcast_mut::<X>()
            .ok_or_else(|| Error::InvalidInput("prefetched rows of an unexpected type".into()))
    }
}

/// Prefetch every relation in `nodes` into `parents` (and below them), one query per level
/// and batch. No query when there are no parents.
pub fn prefetch_into<'a, P: Model>(
    parents: &'a mut [P],
    nodes: &'a [PrefetchNode],
    ex: &'a mut (dyn RowSource + 'a),
) -> BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        if parents.is_empty() {
            return Ok(());
        }
        for node in nodes {
            let rel = node.rel;
            let forward = !rel.kind.is_many();
            // The key each parent contributes: its foreign key, or its own primary key.
            let mut keys: Vec<Option<KeyRepr>> = Vec::with_capacity(parents.len());
            let mut wanted: Vec<Value> = Vec::new();
            let mut seen = KeySet::default();
            let mut all_loaded = true;
            for p in parents.iter_mut() {
                let value = if forward {
                    let Some(slot) = p.relation_mut(rel.index) else {
                        keys.push(None);
                        continue;
                    };
                    all_loaded &= slot.is_loaded();
                    slot.key_value()
                } else {
                    all_loaded = false;
                    Some(p.pk().to_value())
                };
                let key = value.as_ref().and_then(KeyRepr::of);
                if let (Some(k), Some(v)) = (&key, value)
                    && seen.insert(k.clone())
                {
                    wanted.push(v);
                }
                keys.push(key);
            }
            // Hops already loaded by select_related are not fetched again (S30); the levels
            // below them are prefetched into the loaded targets.
            if forward && all_loaded {
                if !node.children.is_empty() {
                    prefetch_below_loaded(parents, rel, &node.children, &mut *ex).await?;
                }
                continue;
            }
            if wanted.is_empty() {
                // Every key is NULL: nothing to fetch, and no parent to hand anything to.
                continue;
            }
            let mut fetched = (rel.fetch)(&mut *ex, node, wanted).await?;
            for (p, key) in parents.iter_mut().zip(&keys) {
                let Some(key) = key else { continue };
                // A copy of the parent for its children's back references, made only for the
                // first parent that claims a group.
                let snapshot: Option<Arc<dyn Any + Send + Sync>> = if fetched.pending.remove(key) {
                    Some(Arc::new(p.shallow_clone()))
                } else {
                    None
                };
                let parent = move || -> Arc<dyn Any + Send + Sync> {
                    snapshot.clone().unwrap_or_else(|| Arc::new(()))
                };
                if let Some(slot) = p.relation_mut(rel.index) {
                    slot.assign(&mut fetched, key, &parent)?;
                }
            }
        }
        Ok(())
    })
}

/// Prefetch `nodes` into the targets `rel` already holds on every parent.
async fn prefetch_below_loaded<P: Model>(
    parents: &mut [P],
    rel: &'static RelationMeta,
    nodes: &[PrefetchNode],
    ex: &mut (dyn RowSource + '_),
) -> Result<()> {
    let mut at: Vec<usize> = Vec::new();
    let mut targets = Vec::new();
    for (i, p) in parents.iter_mut().enumerate() {
        if let Some(t) = p.relation_mut(rel.index).and_then(|s| s.take_target()) {
            at.push(i);
            targets.push(t);
        }
    }
    let Some(&first) = at.first() else {
        return Ok(());
    };
    let back = match parents[first].relation_mut(rel.index) {
        Some(slot) => slot.prefetch_targets(targets, nodes, ex).await?,
        None => targets,
    };
    for (i, t) in at.into_iter().zip(back) {
        if let Some(slot) = parents[i].relation_mut(rel.index) {
            slot.set_target(t)?;
        }
    }
    Ok(())
}

/// Fetch the rows of `node.rel`'s target `T` for `keys`: one query per batch of keys that
/// fits the backend's parameter limit; then prefetch their own children, and group them
/// by the parent key. Generated relation metadata points `fetch` here.
pub fn fetch<'a, T: Model>(
    ex: &'a mut (dyn RowSource + 'a),
    node: &'a PrefetchNode,
    keys: Vec<Value>,
) -> BoxFuture<'a, Result<Fetched>> {
    Box::pin(async move {
        let rel = node.rel;
        let target = T::META;
        let mut base = node.custom.clone().unwrap_or_else(|| Query::new(target));
        if base.is_sliced() {
            return Err(Error::InvalidInput(format!(
                "a prefetch queryset for {} cannot be sliced: its LIMIT would apply to all \
                 parents together, not to each",
                rel.label()
            )));
        }
        // Prefetches named inside the custom queryset run below this level, with the
        // ones named on the outer queryset.
        let mut below: Vec<PrefetchNode> = node.children.clone();
        for nested in std::mem::take(&mut base.prefetch) {
            merge(&mut below, nested);
        }
        // The column whose value says which parent a row belongs to: one of the target's
        // own columns for a key on either side, the join table's column (selected last) for
        // a many-to-many relation.
        let dialect = ex.dialect();
        let (select_nodes, related_width) =
            select_related::plan(&base.select_related, target.columns.len());
        let (key_term, key_type, key_index) = match rel.join_on()? {
            JoinOn::Direct { target_column, .. } => {
                let (idx, col) = target
                    .columns
                    .iter()
                    .enumerate()
                    .find(|(_, c)| c.column == target_column)
                    .ok_or_else(|| {
                        Error::InvalidInput(format!(
                            "{} has no column {target_column}",
                            target.name
                        ))
                    })?;
                let term = Term::Column(ColumnRef {
                    path: RelPath::ROOT,
                    column: col.column,
                    nullable: col.nullable,
                });
                (term, col.sql_type, idx)
            }
            JoinOn::Through {
                through, parent_pk, ..
            } => {
                base.through = Some(ThroughJoin {
                    through,
                    target_pk: target.pk_column().column,
                });
                let parent = (rel.parent)();
                let ty = parent
                    .columns
                    .iter()
                    .find(|c| c.column == parent_pk)
                    .map(|c| c.sql_type)
                    .unwrap_or(crate::schema::value::SqlType::I64);
                let term = Term::TableColumn {
                    table: through.table,
                    column: through.parent_column,
                };
                base.extra = vec![term.clone()];
                (term, ty, target.columns.len() + related_width)
            }
        };
        let mut children: Vec<T> = Vec::new();
        let mut child_keys: Vec<KeyRepr> = Vec::new();
        // `none()`: every parent gets nothing, without a query.
        let (keys, budget) = if base.empty {
            (Vec::new(), usize::MAX)
        } else {
            (keys, compiler::in_list_budget(&base, dialect)?)
        };
        for batch in keys.chunks(budget) {
            let mut q = base.clone();
            q.filter_mut().push(Cond::In {
                lhs: key_term.clone(),
                values: batch.to_vec(),
            });
            let (stmt, _) = compiler::select_with_plan(&q, dialect)?;
            let mut each = |row: &dyn Row| -> Result<()> {
                let mut obj = T::from_row_at(row, 0)?;
                // A key on the target's own columns is read from the decoded model; the
                // join table's column, selected after them, from the row.
                let key = if key_index < target.columns.len() {
                    obj.column_value(key_index).as_ref().and_then(KeyRepr::of)
                } else {
                    KeyRepr::read(row, key_index, key_type)?
                };
                let Some(key) = key else {
                    return Ok(());
                };
                select_related::load_nodes(&select_nodes, &mut obj, row)?;
                children.push(obj);
                child_keys.push(key);
                Ok(())
            };
            ex.for_each_row(stmt, &mut each).await?;
        }
        prefetch_into(&mut children, &below, &mut *ex).await?;
        Ok(match rel.kind {
            RelationKind::ForeignKey | RelationKind::OneToOne => {
                let map: KeyMap<Arc<T>> = child_keys
                    .into_iter()
                    .zip(children)
                    .map(|(k, c)| (k, Arc::new(c)))
                    .collect();
                Fetched {
                    data: Box::new(map),
                    back_reference: None,
                    pending: KeySet::default(),
                }
            }
            RelationKind::Reverse | RelationKind::ManyToMany => {
                let mut map: KeyMap<Group<T>> = KeyMap::default();
                for (k, c) in child_keys.into_iter().zip(children) {
                    if let Group::Pending(rows) =
                        map.entry(k).or_insert_with(|| Group::Pending(Vec::new()))
                    {
                        rows.push(c);
                    }
                }
                let back_reference = match rel.kind {
                    RelationKind::Reverse => Some(rel.forward_relation()?.index),
                    _ => None,
                };
                let pending = if back_reference.is_some() {
                    map.keys().cloned().collect()
                } else {
                    KeySet::default()
                };
                Fetched {
                    data: Box::new(map),
                    back_reference,
                    pending,
                }
            }
        })
    })
}

/// Every model is read from a row as its columns, then its `select_related` relations,
/// and prefetches its relations after the main query.
impl<M: Model> crate::schema::row::FromRow for M {
    fn width() -> usize {
        M::META.columns.len()
    }
    fn from_row<R: Row + ?Sized>(row: &R, offset: usize) -> Result<Self> {
        M::from_row_at(row, offset)
    }
    fn load_selected(&mut self, nodes: &[SelectNode], row: &dyn Row) -> Result<()> {
        select_related::load_nodes(nodes, self, row)
    }
    fn prefetch_rows<'a>(
        rows: &'a mut Vec<Self>,
        nodes: &'a [PrefetchNode],
        ex: &'a mut (dyn RowSource + 'a),
    ) -> BoxFuture<'a, Result<()>> {
        prefetch_into(rows, nodes, ex)
    }
}
