//! `prefetch_related`: one query per relation level, `IN` lists split to fit the backend's
//! parameter limit, rows grouped by parent key and handed to each parent.

use std::any::Any;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::dsl::expr::{ColumnRef, MAX_PATH_DEPTH, RelPath, Term};
use crate::dsl::field::PrefetchPath;
use crate::dsl::q::Cond;
use crate::dsl::query::{Query, ThroughJoin};
use crate::dsl::select_related::{self, SelectNode};
use crate::error::{Error, Result};
use crate::eval::executor::{Executor, RowSource};
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
///
/// A parent whose relation is already loaded (by `select_related`, an earlier prefetch, a
/// back reference) keeps what it holds and adds no key to that level's query (S30, and
/// Django's `prefetch_related_objects`, which skips fetched instances). The new rows are
/// assigned first, without their own children; then each level below runs once over
/// everything the parents hold (loaded before or just now), so a mix of loaded and
/// unloaded parents still costs one query per level (S26), and a level a reverse
/// relation's back references fill (`books → author`) costs none, its own children
/// (`books → author → country`) going into those back references.
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
            // This level's load (its path from the evaluated model), for its query and as
            // the prefix of the levels below.
            let level = crate::eval::observe::prefetched(rel);
            let forward = !rel.kind.is_many();
            // The key each parent contributes: its foreign key, or its own primary key;
            // none when the relation is loaded already (or a NULL key).
            let mut keys: Vec<Option<KeyRepr>> = Vec::with_capacity(parents.len());
            let mut wanted: Vec<Value> = Vec::new();
            let mut seen = KeySet::default();
            for p in parents.iter_mut() {
                let value = match p.relation_mut(rel.index) {
                    None => None,
                    Some(slot) if slot.is_loaded() => None,
                    Some(slot) if forward => slot.key_value(),
                    Some(_) => Some(p.pk().to_value()),
                };
                let key = value.as_ref().and_then(KeyRepr::of);
                if let (Some(k), Some(v)) = (&key, value)
                    && seen.insert(k.clone())
                {
                    wanted.push(v);
                }
                keys.push(key);
            }
            if !wanted.is_empty() {
                let fetch = (rel.fetch)(&mut *ex, node, wanted);
                let mut fetched = crate::eval::observe::loading(level.clone(), fetch).await?;
                for (p, key) in parents.iter_mut().zip(&keys) {
                    let Some(key) = key else { continue };
                    // A copy of the parent for its children's back references, made only
                    // for the first parent that claims a group.
                    let snapshot: Option<Arc<dyn Any + Send + Sync>> =
                        if fetched.pending.remove(key) {
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
                // The fetched map shares every value it handed out: dropped, the parents
                // are their only holders, and the level below can fill them in place.
                drop(fetched);
            }
            // Below this level: the outer queryset's children, and the prefetches named
            // inside a custom queryset.
            let mut below: Vec<PrefetchNode> = node.children.clone();
            if let Some(custom) = &node.custom {
                for nested in custom.prefetch.iter().cloned() {
                    merge(&mut below, nested);
                }
            }
            if !below.is_empty() {
                let below = prefetch_below_loaded(parents, rel, &below, &mut *ex);
                crate::eval::observe::loading(level, below).await?;
            }
        }
        Ok(())
    })
}

/// The values taken out of `rel` on some parents, to prefetch below them. Dropped, it
/// puts them back (after an error, or when the future is dropped), so the parents lose
/// nothing they held.
struct PutBack<'p, P: Model> {
    parents: &'p mut [P],
    rel: &'static RelationMeta,
    at: Vec<usize>,
    targets: Vec<Arc<dyn Any + Send + Sync>>,
}

impl<P: Model> PutBack<'_, P> {
    fn put_back(&mut self) -> Result<()> {
        let mut result = Ok(());
        for (i, t) in self.at.drain(..).zip(self.targets.drain(..)) {
            if let Some(slot) = self.parents[i].relation_mut(self.rel.index)
                && let Err(e) = slot.set_target(t)
                && result.is_ok()
            {
                result = Err(e);
            }
        }
        result
    }
}

impl<P: Model> Drop for PutBack<'_, P> {
    fn drop(&mut self) {
        let _ = self.put_back();
    }
}

/// Prefetch `nodes` into what `rel` holds on the parents where it is loaded (a forward
/// relation's target, a many-valued relation's rows), all parents together.
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
    let mut held = PutBack {
        parents,
        rel,
        at,
        targets,
    };
    let result = match held.parents[first].relation_mut(rel.index) {
        Some(slot) => slot.prefetch_targets(&mut held.targets, nodes, ex).await,
        None => Ok(()),
    };
    let put = held.put_back();
    result.and(put)
}

/// Django's `prefetch_related_objects(instances, lookup)`: prefetch the relation path
/// `path` (as [`QuerySet::prefetch_related`](crate::QuerySet::prefetch_related) takes it)
/// into instances already fetched, one query per level for all of them.
///
/// An instance whose relation is already loaded keeps what it holds and adds nothing to
/// that level's query, as in Django; the levels below it are still prefetched into what it
/// holds (Django does that only when every instance had it loaded), together with the
/// rows just fetched: one query per level, whatever the mix of loaded and unloaded
/// instances. So calling it twice costs nothing the second time, and `|a| a.books()` then
/// `|a| a.books().tags()` costs one query each. No instances, or nothing missing: no query
/// and no connection taken (a pool's connection is taken by the first query). A level
/// that back references fill (`|a| a.books().author()`) costs no query; the levels below
/// it go into those back references. Rows are looked up by the keys the instances hold
/// now; an instance whose related row was deleted is left unloaded, as in Django.
///
/// A related object shared with something outside `instances` (rows cloned from a
/// queryset's cache, a row outside the slice holding the same prefetched object) is
/// copied before anything is prefetched into it (copy on write): the instances get the
/// level asked for, the other holders keep theirs unchanged.
///
/// On an error, or when the future is dropped, the instances keep everything they held
/// before the call (a level may have been added to some of them).
///
/// ```no_run
/// # use orm_core::{Model, Executor, Result, prefetch_related_objects};
/// # use orm_core::field::PrefetchPath;
/// # async fn demo<M: Model, P: PrefetchPath<M>, E: Executor + Copy>(
/// #     db: E, books_and_tags: impl FnOnce(&M::Fields) -> P) -> Result<()> {
/// // let mut authors: Vec<Author> = Author::objects().into_vec(&db).await?;
/// let mut authors: Vec<M> = M::objects().into_vec(db).await?;              // 1 query
/// // prefetch_related_objects(&mut authors, |a| a.books().tags(), &db)
/// prefetch_related_objects(&mut authors, books_and_tags, db).await?;       // 2 queries
/// # Ok(()) }
/// ```
#[track_caller]
pub fn prefetch_related_objects<M, P, E>(
    instances: &mut [M],
    path: impl FnOnce(&M::Fields) -> P,
    mut ex: E,
) -> impl Future<Output = Result<()>>
where
    M: Model,
    P: PrefetchPath<M>,
    E: Executor,
{
    crate::eval::observe::traced(async move {
        let path = path(&M::fields()).prefetch_path();
        if path.overflowed() {
            return Err(Error::PathTooDeep {
                path: format!("{path:?}"),
                max: MAX_PATH_DEPTH,
            });
        }
        let mut tree = Vec::new();
        add_path(&mut tree, &path);
        if instances.is_empty() || tree.is_empty() {
            return Ok(());
        }
        // Every query on one connection, as a queryset's prefetches run; taken only when a
        // level has keys to fetch, so that nothing missing touches no connection.
        let mut session = LazySession {
            dialect: Executor::dialect(&ex),
            returning: Executor::supports_returning(&ex),
            state: Lazy::Idle(&mut ex),
        };
        prefetch_into(instances, &tree, &mut session).await
    })
}

/// A session (see [`Executor::session`]) opened by the first statement sent through it,
/// whose SQL then names it in the error of taking a connection.
struct LazySession<'s, E> {
    dialect: crate::sql::dialect::Dialect,
    returning: bool,
    state: Lazy<'s, E>,
}

enum Lazy<'s, E> {
    Idle(&'s mut E),
    Open(Box<dyn RowSource + 's>),
    /// Its opening failed or was dropped.
    Lost,
}

impl<'s, E: Executor> LazySession<'s, E> {
    async fn open<'b>(&'b mut self, first: &str) -> Result<&'b mut (dyn RowSource + 's)> {
        if matches!(self.state, Lazy::Idle(_))
            && let Lazy::Idle(ex) = std::mem::replace(&mut self.state, Lazy::Lost)
        {
            self.state = Lazy::Open(ex.session(first).await?);
        }
        match &mut self.state {
            Lazy::Open(session) => Ok(&mut **session),
            _ => Err(Error::InvalidInput(
                "prefetch_related_objects: its connection could not be taken".into(),
            )),
        }
    }
}

impl<E: Executor> RowSource for LazySession<'_, E> {
    fn dialect(&self) -> crate::sql::dialect::Dialect {
        self.dialect
    }
    fn supports_returning(&self) -> bool {
        self.returning
    }
    fn for_each_row<'a>(
        &'a mut self,
        stmt: compiler::Statement,
        each: &'a mut (dyn FnMut(&dyn Row) -> Result<()> + Send),
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let session = self.open(&stmt.sql).await?;
            session.for_each_row(stmt, each).await
        })
    }
    fn execute_stmt<'a>(
        &'a mut self,
        stmt: compiler::Statement,
    ) -> BoxFuture<'a, Result<crate::eval::executor::ExecResult>> {
        Box::pin(async move {
            let session = self.open(&stmt.sql).await?;
            session.execute_stmt(stmt).await
        })
    }
}

/// Fetch the rows of `node.rel`'s target `T` for `keys`: one query per batch of keys that
/// fits the backend's parameter limit, grouped by the parent key. The levels below are
/// prefetched by the caller ([`prefetch_into`]) once the rows are assigned. Generated
/// relation metadata points `fetch` here.
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
        // ones named on the outer queryset, once the rows are assigned (`prefetch_into`).
        base.prefetch.clear();
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
            // A `select_related` of the prefetch queryset: its JOINs, with the prefetch.
            let joined = crate::eval::observe::selected(&select_nodes);
            let loads = if joined.is_empty() {
                Vec::new()
            } else {
                let mut loads = crate::eval::observe::loads();
                loads.extend(joined);
                loads
            };
            crate::eval::observe::loading(loads, ex.for_each_row(stmt, &mut each)).await?;
        }
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
