//! Writes to a many-valued relation of one instance (Django's related managers:
//! `book.tags.add/remove/set/clear`, `author.book_set.…`): what [`ModelExt::add_related`],
//! [`ModelExt::remove_related`], [`ModelExt::set_related`] and
//! [`ModelExt::clear_related`] send, and [`RelatedKeys`], what they accept as the rows.
//!
//! [`ModelExt::add_related`]: super::ModelExt::add_related
//! [`ModelExt::remove_related`]: super::ModelExt::remove_related
//! [`ModelExt::set_related`]: super::ModelExt::set_related
//! [`ModelExt::clear_related`]: super::ModelExt::clear_related

use super::*;
use crate::eval::executor::RowSource;
use crate::schema::relation::{KeyRepr, KeySet, ThroughMeta};

/// The related rows a write names: instances of `T` (`&[&tag]`, `&[tag]`, `vec![&tag]`)
/// or their primary keys (`&[tag.id, 7]`, `vec![1, 2]`; `&["a", "b"]` for a `String`
/// key). Implemented for slices, arrays and vectors of each, by value and by reference.
///
/// An instance whose auto primary key is unset (never saved) is an
/// [`Error::InvalidInput`] before any query.
///
/// ```
/// # extern crate orm_core as orm_sqlx;
/// # use orm_derive::Model;
/// use orm_sqlx::relation::ManyToMany;
/// use orm_sqlx::{Executor, ModelExt, Result};
///
/// #[derive(Model, Debug, Clone)]
/// pub struct Tag {
///     pub id: i64,
///     pub name: String,
/// }
///
/// #[derive(Model, Debug, Clone)]
/// pub struct Book {
///     pub id: i64,
///     pub tags: ManyToMany<Tag>,
/// }
///
/// async fn demo(mut db: impl Executor, book: &mut Book, sf: &Tag) -> Result<()> {
///     book.add_related(|b| b.tags(), &[sf], &mut db).await?; // instances
///     book.add_related(|b| b.tags(), &[sf.id, 7], &mut db).await?; // keys
///     book.add_related(|b| b.tags(), vec![3, 4], &mut db).await?;
///     Ok(())
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "the related rows must be instances of `{T}` or its primary keys; this is `{Self}`",
    label = "expected `&[&{T}]`, `&[{T}]`, or keys of `{T}`'s primary key type (`&[1, 2]`)",
    note = "slices, arrays and `Vec`s of instances or of keys are accepted; a key's type must be the primary key's own"
)]
pub trait RelatedKeys<T: Model> {
    /// The primary keys, in the order given.
    #[doc(hidden)]
    fn related_keys(self) -> Result<Vec<Value>>;
}

/// The key of a saved instance; an unsaved one (auto key unset) is refused.
fn saved_key<T: Model>(obj: &T) -> Result<Value> {
    if T::META.has_auto_pk() && is_unset_pk(obj) {
        return Err(Error::InvalidInput(format!(
            "this {} is not saved (its primary key is unset): save it before relating it",
            T::META.name
        )));
    }
    Ok(obj.pk().to_value())
}

macro_rules! instances {
    ($($ty:ty),* $(,)?) => {$(
        impl<T: Model, const N: usize> RelatedKeys<T> for [$ty; N] {
            fn related_keys(self) -> Result<Vec<Value>> {
                self.iter().map(|t| saved_key::<T>(t)).collect()
            }
        }
        impl<T: Model, const N: usize> RelatedKeys<T> for &[$ty; N] {
            fn related_keys(self) -> Result<Vec<Value>> {
                self.iter().map(|t| saved_key::<T>(t)).collect()
            }
        }
        impl<T: Model> RelatedKeys<T> for &[$ty] {
            fn related_keys(self) -> Result<Vec<Value>> {
                self.iter().map(|t| saved_key::<T>(t)).collect()
            }
        }
        impl<T: Model> RelatedKeys<T> for Vec<$ty> {
            fn related_keys(self) -> Result<Vec<Value>> {
                self.iter().map(|t| saved_key::<T>(t)).collect()
            }
        }
        impl<T: Model> RelatedKeys<T> for &Vec<$ty> {
            fn related_keys(self) -> Result<Vec<Value>> {
                self.iter().map(|t| saved_key::<T>(t)).collect()
            }
        }
    )*};
}

instances!(&T);

// By value only behind a reference (`&[T]`, `&Vec<T>`): a write never takes the instances.
impl<T: Model> RelatedKeys<T> for &[T] {
    fn related_keys(self) -> Result<Vec<Value>> {
        self.iter().map(saved_key::<T>).collect()
    }
}
impl<T: Model, const N: usize> RelatedKeys<T> for &[T; N] {
    fn related_keys(self) -> Result<Vec<Value>> {
        self.iter().map(saved_key::<T>).collect()
    }
}
impl<T: Model> RelatedKeys<T> for &Vec<T> {
    fn related_keys(self) -> Result<Vec<Value>> {
        self.iter().map(saved_key::<T>).collect()
    }
}

/// Keys of type `$key` for a model whose primary key is `$pk`.
macro_rules! keys {
    ($($key:ty => $pk:ty, $to:expr);* $(;)?) => {$(
        impl<T: Model<Pk = $pk>, const N: usize> RelatedKeys<T> for [$key; N] {
            fn related_keys(self) -> Result<Vec<Value>> {
                Ok(self.iter().map($to).collect())
            }
        }
        impl<T: Model<Pk = $pk>, const N: usize> RelatedKeys<T> for &[$key; N] {
            fn related_keys(self) -> Result<Vec<Value>> {
                Ok(self.iter().map($to).collect())
            }
        }
        impl<T: Model<Pk = $pk>> RelatedKeys<T> for &[$key] {
            fn related_keys(self) -> Result<Vec<Value>> {
                Ok(self.iter().map($to).collect())
            }
        }
        impl<T: Model<Pk = $pk>> RelatedKeys<T> for Vec<$key> {
            fn related_keys(self) -> Result<Vec<Value>> {
                Ok(self.iter().map($to).collect())
            }
        }
        impl<T: Model<Pk = $pk>> RelatedKeys<T> for &Vec<$key> {
            fn related_keys(self) -> Result<Vec<Value>> {
                Ok(self.iter().map($to).collect())
            }
        }
    )*};
}

keys!(
    i16 => i16, FieldType::to_value;
    i32 => i32, FieldType::to_value;
    i64 => i64, FieldType::to_value;
    String => String, FieldType::to_value;
    &str => String, |k: &&str| Value::Text((*k).to_owned());
    Vec<u8> => Vec<u8>, FieldType::to_value;
);
#[cfg(feature = "uuid")]
keys!(uuid::Uuid => uuid::Uuid, FieldType::to_value);

/// An unsaved instance (auto key unset) has no links to write.
pub(super) fn require_saved<M: Model>(obj: &M, op: &str) -> Result<Value> {
    if M::META.has_auto_pk() && is_unset_pk(obj) {
        return Err(Error::InvalidInput(format!(
            "{op}: this {} is not saved (its primary key is unset); save it first",
            M::META.name
        )));
    }
    Ok(obj.pk().to_value())
}

/// The keys without repeats, first occurrence kept.
fn dedup(keys: Vec<Value>) -> Vec<Value> {
    let mut seen = KeySet::default();
    keys.into_iter()
        .filter(|k| KeyRepr::of(k).is_none_or(|r| seen.insert(r)))
        .collect()
}

/// `INSERT` statements linking `parent` to `keys`, two parameters a link, batched to the
/// backend's limit.
fn links(
    through: &ThroughMeta,
    parent: &Value,
    keys: &[Value],
    dialect: Dialect,
) -> Result<Vec<Statement>> {
    let per_batch = (dialect.max_params() / 2).max(1);
    keys.chunks(per_batch)
        .map(|b| compiler::link(through, parent.clone(), b.iter().cloned(), dialect))
        .collect()
}

/// `UPDATE T SET key = value WHERE pk IN (keys)` batched to the bind limit.
fn point_children<T: Model>(
    keys: &[Value],
    column: &'static str,
    value: &Value,
    only_if: Option<&Value>,
    dialect: Dialect,
) -> Result<Vec<Statement>> {
    let per_batch = dialect.in_list_budget(2 + usize::from(only_if.is_some()));
    keys.chunks(per_batch)
        .map(|b| set_child_keys::<T>(b.to_vec(), column, value.clone(), only_if.cloned(), dialect))
        .collect()
}

/// `UPDATE T SET key = NULL WHERE key = parent [AND pk NOT IN (keep)]`.
fn unpoint_children<T: Model>(
    column: &'static str,
    parent: Value,
    keep: Option<Vec<Value>>,
    dialect: Dialect,
) -> Result<Statement> {
    let col = ColumnRef {
        path: RelPath::ROOT,
        column,
        nullable: true,
    };
    let ty = T::META
        .columns
        .iter()
        .find(|c| c.column == column)
        .map_or(crate::schema::value::SqlType::I64, |c| c.sql_type);
    let mut q = Query::new(T::META);
    q.filter_mut().push(Cond::Compare {
        lhs: Term::Column(col),
        op: CmpOp::Eq,
        rhs: Term::Value(parent),
    });
    if let Some(keep) = keep {
        q.filter_mut().push(Cond::Not(Box::new(Cond::In {
            lhs: pk_term::<T>(),
            values: keep,
        })));
    }
    let set = [crate::dsl::update::Assignment::<T>::new(
        col,
        Term::Value(Value::Null(ty)),
    )];
    compiler::update(&q, &set, dialect)
}

/// The foreign key behind a reverse relation, which must be nullable for rows to leave it.
fn nullable_forward(rel: &'static RelationMeta, op: &str) -> Result<&'static RelationMeta> {
    let forward = rel.forward_relation()?;
    if !forward.nullable {
        return Err(Error::InvalidInput(format!(
            "{op}: {} cannot be NULL; delete the rows or point them elsewhere",
            forward.label()
        )));
    }
    Ok(forward)
}

/// Run `stmts`: one alone, several in one atomic block.
async fn run_all<E: Executor>(mut ex: E, stmts: Vec<Statement>) -> Result<()> {
    match stmts.len() {
        0 => Ok(()),
        1 => {
            let stmt = stmts.into_iter().next().expect("one statement");
            ex.execute(stmt).await.map(drop)
        }
        _ => {
            let mut atomic = ex.atomic().await?;
            for stmt in stmts {
                atomic.execute_stmt(stmt).await?;
            }
            atomic.commit().await
        }
    }
}

pub(super) async fn add<M: Model, T: Model, E: Executor>(
    obj: &mut M,
    path: RelPath,
    keys: Vec<Value>,
    ex: E,
) -> Result<()> {
    let rel = relation_for_write::<M, T>(obj, path)?;
    // Misuse is refused whatever the targets (Django refuses the manager itself).
    let parent = require_saved(obj, "add_related")?;
    if keys.is_empty() {
        return Ok(());
    }
    let keys = dedup(keys);
    let dialect = ex.dialect();
    let stmts = match rel.join_on()? {
        JoinOn::Through { through, .. } => links(through, &parent, &keys, dialect)?,
        JoinOn::Direct { target_column, .. } => {
            point_children::<T>(&keys, target_column, &parent, None, dialect)?
        }
    };
    run_all(ex, stmts).await
}

pub(super) async fn remove<M: Model, T: Model, E: Executor>(
    obj: &mut M,
    path: RelPath,
    keys: Vec<Value>,
    ex: E,
) -> Result<()> {
    let rel = relation_for_write::<M, T>(obj, path)?;
    // Misuse is refused whatever the targets (Django refuses the manager itself).
    let parent = require_saved(obj, "remove_related")?;
    if matches!(rel.join_on()?, JoinOn::Direct { .. }) {
        nullable_forward(rel, "remove_related")?;
    }
    if keys.is_empty() {
        return Ok(());
    }
    let keys = dedup(keys);
    let dialect = ex.dialect();
    let stmts = match rel.join_on()? {
        JoinOn::Through { through, .. } => {
            let per_batch = dialect.max_params().saturating_sub(1).max(1);
            keys.chunks(per_batch)
                .map(|b| compiler::unlink(through, parent.clone(), b.to_vec(), dialect))
                .collect::<Result<_>>()?
        }
        JoinOn::Direct { target_column, .. } => {
            nullable_forward(rel, "remove_related")?;
            let null = Value::Null(
                T::META
                    .columns
                    .iter()
                    .find(|c| c.column == target_column)
                    .map_or(crate::schema::value::SqlType::I64, |c| c.sql_type),
            );
            point_children::<T>(&keys, target_column, &null, Some(&parent), dialect)?
        }
    };
    run_all(ex, stmts).await
}

pub(super) async fn clear<M: Model, T: Model, E: Executor>(
    obj: &mut M,
    path: RelPath,
    ex: E,
) -> Result<()> {
    let rel = relation_for_write::<M, T>(obj, path)?;
    let parent = require_saved(obj, "clear_related")?;
    let dialect = ex.dialect();
    let stmt = match rel.join_on()? {
        JoinOn::Through { through, .. } => {
            compiler::unlink_all(through, through.parent_column, vec![parent], dialect)?
        }
        JoinOn::Direct { target_column, .. } => {
            nullable_forward(rel, "clear_related")?;
            unpoint_children::<T>(target_column, parent, None, dialect)?
        }
    };
    run_all(ex, vec![stmt]).await
}

pub(super) async fn set<M: Model, T: Model, E: Executor>(
    obj: &mut M,
    path: RelPath,
    keys: Vec<Value>,
    mut ex: E,
) -> Result<()> {
    let rel = relation_for_write::<M, T>(obj, path)?;
    let parent = require_saved(obj, "set_related")?;
    let keys = dedup(keys);
    let dialect = ex.dialect();
    match rel.join_on()? {
        JoinOn::Through { through, .. } => {
            if keys.is_empty() {
                let stmt =
                    compiler::unlink_all(through, through.parent_column, vec![parent], dialect)?;
                return run_all(ex, vec![stmt]).await;
            }
            if keys.len() <= dialect.in_list_budget(1) {
                // No SELECT: what is not in the set goes, the set is inserted skipping the
                // pairs already there.
                let mut stmts = vec![compiler::unlink_except(
                    through,
                    parent.clone(),
                    keys.clone(),
                    dialect,
                )?];
                stmts.extend(links(through, &parent, &keys, dialect)?);
                return run_all(ex, stmts).await;
            }
            // Too many keys for one NOT IN: read what is linked, then delete and insert
            // only the difference, in batches, in one atomic block.
            let mut atomic = ex.atomic().await?;
            let linked = linked_keys::<T>(through, &parent, &mut *atomic).await?;
            let wanted: KeySet = keys.iter().filter_map(KeyRepr::of).collect();
            let have: KeySet = linked.iter().filter_map(KeyRepr::of).collect();
            let gone: Vec<Value> = linked
                .into_iter()
                .filter(|k| KeyRepr::of(k).is_some_and(|r| !wanted.contains(&r)))
                .collect();
            let new: Vec<Value> = keys
                .into_iter()
                .filter(|k| KeyRepr::of(k).is_none_or(|r| !have.contains(&r)))
                .collect();
            let per_batch = dialect.max_params().saturating_sub(1).max(1);
            let mut stmts: Vec<Statement> = gone
                .chunks(per_batch)
                .map(|b| compiler::unlink(through, parent.clone(), b.to_vec(), dialect))
                .collect::<Result<_>>()?;
            stmts.extend(links(through, &parent, &new, dialect)?);
            for stmt in stmts {
                atomic.execute_stmt(stmt).await?;
            }
            atomic.commit().await
        }
        JoinOn::Direct { target_column, .. } => {
            let forward = rel.forward_relation()?;
            if !forward.nullable {
                // Django: rows cannot leave a relation whose key cannot be NULL; `set`
                // only adds.
                let stmts = point_children::<T>(&keys, target_column, &parent, None, dialect)?;
                return run_all(ex, stmts).await;
            }
            if keys.is_empty() {
                let stmt = unpoint_children::<T>(target_column, parent, None, dialect)?;
                return run_all(ex, vec![stmt]).await;
            }
            let keep = (keys.len() <= dialect.in_list_budget(2)).then(|| keys.clone());
            let mut stmts = vec![unpoint_children::<T>(
                target_column,
                parent.clone(),
                keep,
                dialect,
            )?];
            stmts.extend(point_children::<T>(
                &keys,
                target_column,
                &parent,
                None,
                dialect,
            )?);
            run_all(ex, stmts).await
        }
    }
}

/// `SELECT target FROM through WHERE parent = ?`: the keys `parent` is linked to.
async fn linked_keys<T: Model>(
    through: &ThroughMeta,
    parent: &Value,
    ex: &mut (dyn RowSource + '_),
) -> Result<Vec<Value>> {
    let stmt = compiler::linked_keys(through, parent.clone(), ex.dialect())?;
    let mut out = Vec::new();
    ex.for_each_row(stmt, &mut |row| {
        out.push(<T::Pk as FieldType>::decode(row, 0)?.to_value());
        Ok(())
    })
    .await?;
    Ok(out)
}
