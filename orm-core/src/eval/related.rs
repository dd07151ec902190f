//! The relation field types: they hold a relation's key and whatever was loaded through
//! it (`select_related`, `prefetch_related` or an explicit `load`).

use std::any::Any;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::dsl::select_related::SelectNode;
use crate::error::{Error, Result};
use crate::eval::executor::{Executor, RowSource};
use crate::eval::prefetch::{Fetched, PrefetchNode};
use crate::schema::model::{Model, ModelMeta};
use crate::schema::relation::{KeyMap, KeyRepr, RelationMeta, RelationSlot};
use crate::schema::row::{FromRow, Row};
use crate::schema::value::{FieldType, IntoValue, SqlType, Value};

#[cfg(feature = "serde")]
mod serialise;

/// The error for reading a relation that was not loaded, naming it as well as it is known.
fn not_loaded(meta: Option<&'static RelationMeta>, target: &ModelMeta) -> Error {
    Error::NotLoaded {
        relation: match meta {
            Some(m) => m.label(),
            None => format!("to {}", target.name),
        },
    }
}

/// The error for saving or following a key built by `Default` and never set.
fn unset_key(meta: Option<&'static RelationMeta>, target: &ModelMeta) -> Error {
    Error::UnsetKey {
        relation: match meta {
            Some(m) => m.label(),
            None => format!("to {}", target.name),
        },
    }
}

// ---- ForeignKey -------------------------------------------------------------------------

/// A foreign key to `T`: the key value (the column) and, once loaded, the `T` it points at.
///
/// Reading the key never queries: [`key`](ForeignKey::key). Reading the object is
/// [`get`](ForeignKey::get) when it was loaded by `select_related`/`prefetch_related`, or an
/// explicit [`load`](ForeignKey::load), which queries once and caches.
///
/// # Unset keys
///
/// `ForeignKey::default()` points nowhere: it lets a model `#[derive(Default)]` and be
/// built with `..Default::default()`, as Django builds `Book(title=…)` before its author is
/// set. Saving an instance whose required key is still unset (`insert`, `save`,
/// `bulk_create`) is [`Error::UnsetKey`] before any query, never a row pointing at key 0.
/// [`is_set`](ForeignKey::is_set) tells; [`key`](ForeignKey::key) of an unset key is
/// `T::Pk::default()`, a placeholder. A nullable key is `Option<ForeignKey<T>>`, whose
/// default is `None` (NULL).
///
/// ```
/// # use orm_core::{Model, relation::ForeignKey};
/// # fn demo<A: Model<Pk = i64>>() {
/// let author: ForeignKey<A> = ForeignKey::default();
/// assert!(!author.is_set());
/// assert!(ForeignKey::<A>::new(7).is_set());
/// # }
/// ```
///
/// # Serialising (feature `serde`)
///
/// A foreign key serialises as its key (`"author": 1`), or as the object when it was loaded
/// (`"author": {"id": 1, "name": "Alice", …}`); an unset key as `null`. It deserialises
/// from either form (a map is read as the loaded object, its key taken from the object's
/// primary key) and from `null` (unset), so what it wrote reads back as it was.
///
/// ```
/// # extern crate orm_core as orm_sqlx;
/// # #[cfg(feature = "serde")] {
/// # use orm_derive::Model;
/// use orm_core::relation::{ForeignKey, Reverse};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Model, Clone, Default, Serialize, Deserialize)]
/// struct Author {
///     id: i64,
///     name: String,
///     #[orm(reverse(Book::author))]
///     books: Reverse<Book>,
/// }
///
/// #[derive(Model, Clone, Default, Serialize, Deserialize)]
/// struct Book { id: i64, title: String, author: ForeignKey<Author> }
///
/// let book = Book { id: 3, title: "B3".into(), author: ForeignKey::new(2) };
/// let json = r#"{"id":3,"title":"B3","author":2}"#;
/// assert_eq!(serde_json::to_string(&book).unwrap(), json);
///
/// let bob = Author { id: 2, name: "Bob".into(), ..Default::default() };
/// let loaded = Book { author: ForeignKey::to(bob), ..book };
/// let json = r#"{"id":3,"title":"B3","author":{"id":2,"name":"Bob","books":null}}"#;
/// assert_eq!(serde_json::to_string(&loaded).unwrap(), json);
///
/// let back: Book = serde_json::from_str(json).unwrap();
/// assert_eq!((*back.author.key(), back.author.get().unwrap().name.as_str()), (2, "Bob"));
/// # }
/// ```
pub struct ForeignKey<T: Model> {
    key: T::Pk,
    loaded: Option<Arc<T>>,
    meta: Option<&'static RelationMeta>,
    /// Built by `Default` and not pointed anywhere since.
    unset: bool,
}

/// A one-to-one relation: a foreign key whose column is unique.
pub type OneToOne<T> = ForeignKey<T>;

impl<T: Model> Clone for ForeignKey<T> {
    fn clone(&self) -> Self {
        ForeignKey {
            key: self.key.clone(),
            loaded: self.loaded.clone(),
            meta: self.meta,
            unset: self.unset,
        }
    }
}

/// An unset key: see [Unset keys](ForeignKey#unset-keys).
impl<T: Model> Default for ForeignKey<T>
where
    T::Pk: Default,
{
    fn default() -> Self {
        ForeignKey {
            key: T::Pk::default(),
            loaded: None,
            meta: None,
            unset: true,
        }
    }
}

impl<T: Model + std::fmt::Debug> std::fmt::Debug for ForeignKey<T>
where
    T::Pk: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.loaded {
            _ if self.unset => f.write_str("ForeignKey(<unset>)"),
            Some(obj) => {
                // Printed (a template's `{:?}`, a log line): read.
                crate::eval::observe::read(self.meta);
                write!(f, "ForeignKey({:?} => {:?})", self.key, obj)
            }
            None => write!(f, "ForeignKey({:?})", self.key),
        }
    }
}

impl<T: Model> PartialEq for ForeignKey<T> {
    /// Two keys are equal when they point at the same row, loaded or not (two unset keys
    /// are equal; an unset key equals no set one).
    fn eq(&self, other: &Self) -> bool {
        self.unset == other.unset && self.key == other.key
    }
}

impl<T: Model> ForeignKey<T> {
    /// A key pointing at the row with primary key `key`.
    pub fn new(key: T::Pk) -> Self {
        ForeignKey {
            key,
            loaded: None,
            meta: None,
            unset: false,
        }
    }

    /// A key pointing at `obj`, with `obj` already loaded.
    pub fn to(obj: T) -> Self {
        ForeignKey {
            key: obj.pk().clone(),
            loaded: Some(Arc::new(obj)),
            meta: None,
            unset: false,
        }
    }

    /// The raw key (Django's `book.author_id`): never queries. For an unset key
    /// (`ForeignKey::default()`), a placeholder: see [`is_set`](ForeignKey::is_set).
    pub fn key(&self) -> &T::Pk {
        &self.key
    }

    /// Whether this key points at a row: false only for `ForeignKey::default()` until a
    /// key is set. An instance with an unset required key cannot be saved.
    pub fn is_set(&self) -> bool {
        !self.unset
    }

    /// Point at another row; forgets what was loaded.
    pub fn set_key(&mut self, key: T::Pk) {
        self.key = key;
        self.loaded = None;
        self.unset = false;
    }

    /// The related object, if it was loaded; otherwise [`Error::NotLoaded`], which names the
    /// relation and the ways to load it.
    pub fn get(&self) -> Result<&T> {
        match self.loaded.as_deref() {
            Some(obj) => {
                crate::eval::observe::read(self.meta);
                Ok(obj)
            }
            None => Err(not_loaded(self.meta, T::META)),
        }
    }

    /// Whether the related object is loaded.
    pub fn is_loaded(&self) -> bool {
        self.loaded.is_some()
    }

    /// The related object, moved out of this field (which is then not loaded; the key
    /// stays): without a copy when this field is its only owner, as after
    /// `select_related` (each row reads its own); a clone when it is shared, as a
    /// prefetched object is by the rows with the same key. [`Error::NotLoaded`] if it was
    /// not loaded. [`take_shared`](ForeignKey::take_shared) never copies.
    ///
    /// ```no_run
    /// # use orm_core::{Model, relation::ForeignKey, Result};
    /// # fn demo<A: Model + Clone>(mut author: ForeignKey<A>) -> Result<()> {
    /// let owned: A = author.take()?;
    /// # Ok(()) }
    /// ```
    pub fn take(&mut self) -> Result<T>
    where
        T: Clone,
    {
        let shared = self.take_shared()?;
        Ok(Arc::try_unwrap(shared).unwrap_or_else(|shared| (*shared).clone()))
    }

    /// The related object as loaded, shared, moved out of this field (which is then not
    /// loaded): never a copy.
    pub fn take_shared(&mut self) -> Result<Arc<T>> {
        let obj = self
            .loaded
            .take()
            .ok_or_else(|| not_loaded(self.meta, T::META))?;
        crate::eval::observe::read(self.meta);
        Ok(obj)
    }

    /// The related object: from the cache if loaded, otherwise one query, cached on this
    /// field afterwards.
    #[track_caller]
    pub fn load<E: Executor>(&mut self, ex: E) -> impl Future<Output = Result<&T>> {
        crate::eval::observe::traced(async move {
            if self.unset {
                return Err(unset_key(self.meta, T::META));
            }
            if self.loaded.is_none() {
                use crate::eval::observe;
                let loads = match self.meta {
                    Some(meta) if observe::observing() => {
                        // Refused here under strict loading, before any query.
                        observe::lazy_load(meta)?;
                        vec![observe::RelationLoad {
                            kind: observe::LoadKind::Lazy,
                            path: crate::dsl::expr::RelPath::ROOT.join(meta),
                            read: None,
                        }]
                    }
                    _ => Vec::new(),
                };
                let pk = self.key.to_value();
                let qs = crate::eval::queryset::QuerySet::<T>::new().filter_pk(pk);
                let obj = observe::loading(loads, qs.get(ex)).await?;
                self.loaded = Some(Arc::new(obj));
            } else {
                // Loaded earlier (select_related, prefetch_related): now read.
                crate::eval::observe::read(self.meta);
            }
            self.loaded
                .as_deref()
                .ok_or_else(|| not_loaded(self.meta, T::META))
        })
    }

    #[doc(hidden)]
    pub fn __with_meta(mut self, meta: &'static RelationMeta) -> Self {
        self.meta = Some(meta);
        self
    }

    /// This key without what was loaded through it.
    #[doc(hidden)]
    pub fn __key_only(&self) -> Self {
        ForeignKey {
            key: self.key.clone(),
            loaded: None,
            meta: self.meta,
            unset: self.unset,
        }
    }
}

impl<T: Model> FieldType for ForeignKey<T> {
    type Base = <T::Pk as FieldType>::Base;
    type Nullable = Option<ForeignKey<T>>;
    type Projected = T::Pk;
    const SQL_TYPE: SqlType = <T::Pk as FieldType>::SQL_TYPE;
    const NAME: &'static str = "ForeignKey";
    fn to_value(&self) -> Value {
        self.key.to_value()
    }
    fn decode<R: Row + ?Sized>(row: &R, idx: usize) -> Result<Self> {
        Ok(ForeignKey::new(<T::Pk as FieldType>::decode(row, idx)?))
    }
}

impl<T: Model> FieldType for Option<ForeignKey<T>> {
    type Base = <T::Pk as FieldType>::Base;
    type Nullable = Option<ForeignKey<T>>;
    type Projected = <<T::Pk as FieldType>::Nullable as FieldType>::Projected;
    const SQL_TYPE: SqlType = <T::Pk as FieldType>::SQL_TYPE;
    const NULLABLE: bool = true;
    const NAME: &'static str = "Option<ForeignKey>";
    fn to_value(&self) -> Value {
        match self {
            Some(fk) => fk.to_value(),
            None => Value::Null(Self::SQL_TYPE),
        }
    }
    fn decode<R: Row + ?Sized>(row: &R, idx: usize) -> Result<Self> {
        if row.is_null(idx)? {
            Ok(None)
        } else {
            ForeignKey::decode(row, idx).map(Some)
        }
    }
}

impl<T: Model> FromRow for ForeignKey<T> {
    fn width() -> usize {
        1
    }
    fn from_row<R: Row + ?Sized>(row: &R, offset: usize) -> Result<Self> {
        <Self as FieldType>::decode(row, offset)
    }
}

/// Compare a foreign key with an instance of its target: `b.author.eq(&alice)`.
impl<T: Model> IntoValue<ForeignKey<T>> for &T {
    fn into_value(self) -> Value {
        self.pk().to_value()
    }
}
impl<T: Model> IntoValue<Option<ForeignKey<T>>> for &T {
    fn into_value(self) -> Value {
        self.pk().to_value()
    }
}

/// `b.publisher.eq(None)`: a nullable key compared with `None` is `IS NULL` (and with
/// `Some(key)`, the key).
#[diagnostic::do_not_recommend]
impl<R, T: Model> crate::dsl::expr::Operand<R, Option<ForeignKey<T>>> for Option<ForeignKey<T>> {
    fn into_term(self) -> crate::dsl::expr::Term {
        crate::dsl::expr::Term::Value(self.to_value())
    }
}

macro_rules! key_values {
    ($($t:ty),*) => { $(
        impl<T: Model<Pk = $t>> IntoValue<ForeignKey<T>> for $t {
            fn into_value(self) -> Value { self.to_value() }
        }
        impl<T: Model<Pk = $t>> IntoValue<Option<ForeignKey<T>>> for $t {
            fn into_value(self) -> Value { self.to_value() }
        }
    )* };
}
key_values!(i16, i32, i64, String);
#[cfg(feature = "uuid")]
key_values!(uuid::Uuid);

impl<T: Model> RelationSlot for ForeignKey<T> {
    fn attach_meta(&mut self, meta: &'static RelationMeta) {
        self.meta.get_or_insert(meta);
    }
    fn load_selected(&mut self, row: &dyn Row, node: &SelectNode) -> Result<()> {
        if row.is_null(node.offset + T::META.pk)? {
            return Ok(());
        }
        let mut obj = T::from_row_at(row, node.offset)?;
        node.load_children(&mut obj, row)?;
        self.loaded = Some(Arc::new(obj));
        Ok(())
    }
    fn key_value(&self) -> Option<Value> {
        Some(self.key.to_value())
    }
    fn is_unset_key(&self) -> bool {
        self.unset
    }
    fn is_loaded(&self) -> bool {
        self.loaded.is_some()
    }
    fn clear(&mut self) {
        self.loaded = None;
    }
    fn assign(
        &mut self,
        fetched: &mut Fetched,
        key: &KeyRepr,
        _parent: &(dyn Fn() -> Arc<dyn Any + Send + Sync> + Send + Sync),
    ) -> Result<()> {
        let map = fetched.downcast_mut::<KeyMap<Arc<T>>>()?;
        match map.get(key) {
            Some(obj) => {
                self.loaded = Some(obj.clone());
                Ok(())
            }
            // Deleted between the two queries: Django leaves the relation unloaded too.
            None => Ok(()),
        }
    }
    fn set_target(&mut self, target: Arc<dyn Any + Send + Sync>) -> Result<()> {
        let obj = target.downcast::<T>().map_err(|_| {
            Error::InvalidInput(format!(
                "a back reference to {} was not a {}",
                self.meta
                    .map_or_else(|| T::META.name.to_owned(), RelationMeta::label),
                T::META.name
            ))
        })?;
        self.loaded = Some(obj);
        Ok(())
    }
    fn take_target(&mut self) -> Option<Arc<dyn Any + Send + Sync>> {
        self.loaded.take().map(|t| t as Arc<dyn Any + Send + Sync>)
    }
    fn target(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        self.loaded.clone().map(|t| t as Arc<dyn Any + Send + Sync>)
    }
    fn prefetch_targets<'a>(
        &self,
        targets: &'a mut Vec<Arc<dyn Any + Send + Sync>>,
        nodes: &'a [PrefetchNode],
        ex: &'a mut (dyn RowSource + 'a),
    ) -> BoxFuture<'a, Result<()>> {
        ForeignKey::<T>::prefetch_below(self.meta, targets, nodes, ex)
    }
}

impl<T: Model> ForeignKey<T> {
    fn prefetch_below<'a>(
        meta: Option<&'static RelationMeta>,
        targets: &'a mut Vec<Arc<dyn Any + Send + Sync>>,
        nodes: &'a [PrefetchNode],
        ex: &'a mut (dyn RowSource + 'a),
    ) -> BoxFuture<'a, Result<()>> {
        prefetch_below_loaded::<T, T>(
            BelowLoaded {
                meta,
                into_rows: |t| vec![t],
                from_rows: |mut rows| rows.pop(),
                copy: copy_loaded::<T>,
            },
            targets,
            nodes,
            ex,
        )
    }
}

/// A copy of `obj` that shares what it has loaded (its relation fields point at the same
/// objects and rows): the copy-on-write of a value that other rows share. `None` when
/// the model cannot hand out its relation fields to read ([`Model::relation`]).
fn copy_loaded<T: Model>(obj: &T) -> Option<T> {
    let mut copy = obj.shallow_clone();
    for index in 0..T::META.relations.len() {
        let loaded = obj.relation(index)?.target();
        if let (Some(loaded), Some(slot)) = (loaded, copy.relation_mut(index)) {
            slot.set_target(loaded).ok()?;
        }
    }
    Some(copy)
}

/// How [`prefetch_below_loaded`] reads one kind of loaded value `X` (a forward
/// relation's target `T`, a group of rows `Vec<T>`).
struct BelowLoaded<X, T> {
    /// The relation the values were loaded through, for messages.
    meta: Option<&'static RelationMeta>,
    into_rows: fn(X) -> Vec<T>,
    from_rows: fn(Vec<T>) -> Option<X>,
    copy: fn(&X) -> Option<X>,
}

/// The distinct values taken out of their `Arc`s (as rows) or kept as they came, and
/// where each slot's value is among them. Dropped, it writes a value for every slot
/// back into `out`, in order: when prefetching below them succeeded, failed or was
/// cancelled (the future dropped), the slots get their values back.
struct Restore<'o, X: Send + Sync + 'static, T> {
    out: &'o mut Vec<Arc<dyn Any + Send + Sync>>,
    /// For each slot, its value's index in `parts`.
    at: Vec<usize>,
    /// `Ok(n)`: the next `n` of `rows`; `Err(value)`: a value kept as it came.
    parts: Vec<std::result::Result<usize, Arc<dyn Any + Send + Sync>>>,
    rows: Vec<T>,
    from_rows: fn(Vec<T>) -> Option<X>,
}

impl<X: Send + Sync + 'static, T> Drop for Restore<'_, X, T> {
    fn drop(&mut self) {
        let mut rows = std::mem::take(&mut self.rows).into_iter();
        let back: Vec<Arc<dyn Any + Send + Sync>> = std::mem::take(&mut self.parts)
            .into_iter()
            .map(|part| match part {
                Ok(len) => match (self.from_rows)(rows.by_ref().take(len).collect()) {
                    Some(v) => Arc::new(v) as Arc<dyn Any + Send + Sync>,
                    None => Arc::new(()) as Arc<dyn Any + Send + Sync>,
                },
                Err(kept) => kept,
            })
            .collect();
        *self.out = self.at.iter().map(|&i| back[i].clone()).collect();
    }
}

/// Prefetch `nodes` below loaded relation values (each an `Arc<X>`: a forward relation's
/// target `T`, or a group of rows `Vec<T>`), all of them in one query per level, in place.
/// Values shared by several slots (one prefetched object for every row with its key, one
/// group for a parent listed twice) are prefetched once and stay shared; a value also
/// held outside the slots handed in (a queryset's cache, a row outside the slice) is
/// copied first (copy on write), so that its other holders keep it unchanged. A value
/// that cannot be copied is an error, never a level silently left out.
fn prefetch_below_loaded<'a, X, T>(
    how: BelowLoaded<X, T>,
    targets: &'a mut Vec<Arc<dyn Any + Send + Sync>>,
    nodes: &'a [PrefetchNode],
    ex: &'a mut (dyn RowSource + 'a),
) -> BoxFuture<'a, Result<()>>
where
    X: Send + Sync + 'static,
    T: Model,
{
    Box::pin(async move {
        // One entry per distinct allocation; the duplicates are dropped here, so that a
        // value the slots alone share can be taken out of its `Arc`.
        let mut index: std::collections::HashMap<usize, usize> = Default::default();
        let mut distinct: Vec<Arc<dyn Any + Send + Sync>> = Vec::new();
        let mut at: Vec<usize> = Vec::with_capacity(targets.len());
        for t in std::mem::take(targets) {
            let address = Arc::as_ptr(&t).cast::<()>().addr();
            let i = *index.entry(address).or_insert_with(|| {
                distinct.push(t);
                distinct.len() - 1
            });
            at.push(i);
        }
        drop(index);
        // From here on, whatever happens, `restore` puts a value back for every slot.
        let mut restore = Restore {
            out: targets,
            at,
            parts: Vec::with_capacity(distinct.len()),
            rows: Vec::new(),
            from_rows: how.from_rows,
        };
        let mut failed = None;
        for t in distinct {
            if failed.is_some() {
                restore.parts.push(Err(t));
                continue;
            }
            let arc = match t.downcast::<X>() {
                Ok(arc) => arc,
                Err(other) => {
                    restore.parts.push(Err(other));
                    continue;
                }
            };
            let owned = match Arc::try_unwrap(arc) {
                Ok(v) => v,
                Err(shared) => match (how.copy)(&shared) {
                    Some(v) => v,
                    None => {
                        failed = Some(Error::InvalidInput(format!(
                            "cannot prefetch below {}: what it loaded is shared with rows \
                             outside the ones given (a queryset's cache, another row), \
                             and {} cannot be copied with its relations (its Model impl \
                             has no `relation`)",
                            how.meta
                                .map_or_else(|| T::META.name.to_owned(), RelationMeta::label),
                            T::META.name
                        )));
                        restore.parts.push(Err(shared));
                        continue;
                    }
                },
            };
            let rows = (how.into_rows)(owned);
            restore.parts.push(Ok(rows.len()));
            restore.rows.extend(rows);
        }
        if let Some(e) = failed {
            return Err(e);
        }
        crate::eval::prefetch::prefetch_into(&mut restore.rows, nodes, ex).await
    })
}

impl<T: Model> RelationSlot for Option<ForeignKey<T>> {
    fn attach_meta(&mut self, meta: &'static RelationMeta) {
        if let Some(fk) = self {
            fk.meta.get_or_insert(meta);
        }
    }
    fn load_selected(&mut self, row: &dyn Row, node: &SelectNode) -> Result<()> {
        match self {
            Some(fk) => RelationSlot::load_selected(fk, row, node),
            None => Ok(()),
        }
    }
    fn key_value(&self) -> Option<Value> {
        self.as_ref().and_then(RelationSlot::key_value)
    }
    fn is_unset_key(&self) -> bool {
        self.as_ref().is_some_and(|fk| fk.unset)
    }
    fn is_loaded(&self) -> bool {
        // A NULL key has nothing to load: it reads as `None` at no cost.
        self.as_ref().is_none_or(ForeignKey::is_loaded)
    }
    fn clear(&mut self) {
        if let Some(fk) = self {
            fk.clear();
        }
    }
    fn assign(
        &mut self,
        fetched: &mut Fetched,
        key: &KeyRepr,
        parent: &(dyn Fn() -> Arc<dyn Any + Send + Sync> + Send + Sync),
    ) -> Result<()> {
        match self {
            Some(fk) => fk.assign(fetched, key, parent),
            None => Ok(()),
        }
    }
    fn set_target(&mut self, target: Arc<dyn Any + Send + Sync>) -> Result<()> {
        match self {
            Some(fk) => fk.set_target(target),
            None => Ok(()),
        }
    }
    fn take_target(&mut self) -> Option<Arc<dyn Any + Send + Sync>> {
        self.as_mut().and_then(RelationSlot::take_target)
    }
    fn target(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        self.as_ref().and_then(RelationSlot::target)
    }
    fn prefetch_targets<'a>(
        &self,
        targets: &'a mut Vec<Arc<dyn Any + Send + Sync>>,
        nodes: &'a [PrefetchNode],
        ex: &'a mut (dyn RowSource + 'a),
    ) -> BoxFuture<'a, Result<()>> {
        ForeignKey::<T>::prefetch_below(self.as_ref().and_then(|fk| fk.meta), targets, nodes, ex)
    }
}

// ---- RelatedSet (reverse foreign keys and many-to-many) ---------------------------------

/// The rows on the other side of a reverse foreign key or a many-to-many relation, as
/// loaded by `prefetch_related`. To query them instead, use the generated related manager
/// (`author.books()`), a queryset filtered by this instance.
///
/// Its `Default` is not loaded, so a model deriving `Default` leaves it empty.
///
/// # Serialising (feature `serde`)
///
/// Serialised as the list of loaded rows, or `null` when not loaded (so a client can tell
/// "no books" from "not fetched"); add `#[serde(skip_serializing_if =
/// "RelatedSet::is_not_loaded", default)]` to leave it out instead. It deserialises from
/// either form. The rows are a cache: `save()` does not write them (link many-to-many rows
/// with the related manager).
pub struct RelatedSet<T: Model> {
    rows: Option<Arc<Vec<T>>>,
    meta: Option<&'static RelationMeta>,
}

/// The reverse side of a foreign key: `#[orm(reverse(Book::author))] books: Reverse<Book>`.
pub type Reverse<T> = RelatedSet<T>;
/// A many-to-many relation, through an automatic join table: `tags: ManyToMany<Tag>`.
pub type ManyToMany<T> = RelatedSet<T>;

impl<T: Model> Default for RelatedSet<T> {
    fn default() -> Self {
        RelatedSet {
            rows: None,
            meta: None,
        }
    }
}

impl<T: Model> Clone for RelatedSet<T> {
    fn clone(&self) -> Self {
        RelatedSet {
            rows: self.rows.clone(),
            meta: self.meta,
        }
    }
}

impl<T: Model + std::fmt::Debug> std::fmt::Debug for RelatedSet<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.rows {
            Some(rows) => {
                crate::eval::observe::read(self.meta);
                f.debug_list().entries(rows.iter()).finish()
            }
            None => f.write_str("<not prefetched>"),
        }
    }
}

impl<T: Model> PartialEq for RelatedSet<T> {
    /// Relation caches do not take part in comparing instances.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T: Model> RelatedSet<T> {
    /// The prefetched rows (Q=0), or [`Error::NotLoaded`] naming the relation.
    pub fn all(&self) -> Result<&[T]> {
        match self.rows.as_deref() {
            Some(rows) => {
                crate::eval::observe::read(self.meta);
                Ok(rows)
            }
            None => Err(not_loaded(self.meta, T::META)),
        }
    }
    /// How many rows were prefetched.
    pub fn count(&self) -> Result<usize> {
        self.all().map(<[T]>::len)
    }
    /// Whether any row was prefetched.
    pub fn exists(&self) -> Result<bool> {
        self.all().map(|r| !r.is_empty())
    }
    /// Whether the relation was prefetched.
    pub fn is_loaded(&self) -> bool {
        self.rows.is_some()
    }
    /// Whether the relation was not prefetched (for `#[serde(skip_serializing_if)]`).
    pub fn is_not_loaded(&self) -> bool {
        self.rows.is_none()
    }

    /// The prefetched rows, moved out of this field (which is then not prefetched):
    /// without a copy when this field is their only owner (each parent's children are its
    /// own); a clone when they are shared (a parent that appears twice in a result).
    /// [`Error::NotLoaded`] if the relation was not prefetched.
    /// [`take_shared`](RelatedSet::take_shared) never copies.
    ///
    /// ```no_run
    /// # use orm_core::{Model, relation::RelatedSet, Result};
    /// # fn demo<B: Model + Clone>(mut books: RelatedSet<B>) -> Result<()> {
    /// let owned: Vec<B> = books.take()?;
    /// # Ok(()) }
    /// ```
    pub fn take(&mut self) -> Result<Vec<T>>
    where
        T: Clone,
    {
        let shared = self.take_shared()?;
        Ok(Arc::try_unwrap(shared).unwrap_or_else(|shared| (*shared).clone()))
    }

    /// The prefetched rows as loaded, shared, moved out of this field: never a copy.
    pub fn take_shared(&mut self) -> Result<Arc<Vec<T>>> {
        let rows = self
            .rows
            .take()
            .ok_or_else(|| not_loaded(self.meta, T::META))?;
        crate::eval::observe::read(self.meta);
        Ok(rows)
    }
    #[doc(hidden)]
    pub fn __with_meta(meta: &'static RelationMeta) -> Self {
        RelatedSet {
            rows: None,
            meta: Some(meta),
        }
    }
}

/// Prefetched children of a many-valued relation, grouped by parent key. A group is
/// finished (back references set, shared) by the first parent that claims it.
pub(crate) enum Group<T> {
    Pending(Vec<T>),
    Done(Arc<Vec<T>>),
}

impl<T> Group<T> {
    /// The shared rows; the first call runs `first` on them (to set back references).
    fn finish(&mut self, first: impl FnOnce(&mut [T]) -> Result<()>) -> Result<Arc<Vec<T>>> {
        match self {
            Group::Done(rows) => Ok(rows.clone()),
            Group::Pending(rows) => {
                let mut rows = std::mem::take(rows);
                first(&mut rows)?;
                // Moved, not copied: the group's Vec becomes the shared rows.
                let rows = Arc::new(rows);
                *self = Group::Done(rows.clone());
                Ok(rows)
            }
        }
    }
}

impl<T: Model> RelationSlot for RelatedSet<T> {
    fn attach_meta(&mut self, meta: &'static RelationMeta) {
        self.meta.get_or_insert(meta);
    }
    fn load_selected(&mut self, _row: &dyn Row, _node: &SelectNode) -> Result<()> {
        Err(Error::InvalidInput(
            "select_related cannot follow a many-valued relation; use prefetch_related".into(),
        ))
    }
    fn key_value(&self) -> Option<Value> {
        None
    }
    fn is_loaded(&self) -> bool {
        self.rows.is_some()
    }
    fn clear(&mut self) {
        self.rows = None;
    }
    fn assign(
        &mut self,
        fetched: &mut Fetched,
        key: &KeyRepr,
        parent: &(dyn Fn() -> Arc<dyn Any + Send + Sync> + Send + Sync),
    ) -> Result<()> {
        let back = fetched.back_reference;
        let map = fetched.downcast_mut::<KeyMap<Group<T>>>()?;
        let rows = match map.get_mut(key) {
            None => Arc::new(Vec::new()),
            Some(group) => group.finish(|rows| {
                if let Some(rel) = back {
                    let p = parent();
                    for child in rows {
                        if let Some(slot) = child.relation_mut(rel) {
                            slot.set_target(p.clone())?;
                        }
                    }
                }
                Ok(())
            })?,
        };
        self.rows = Some(rows);
        Ok(())
    }
    /// Put back rows taken with `take_target` (a `Vec<T>`).
    fn set_target(&mut self, target: Arc<dyn Any + Send + Sync>) -> Result<()> {
        let rows = target.downcast::<Vec<T>>().map_err(|_| {
            Error::InvalidInput(format!(
                "the rows put back into {} were not {} rows",
                self.meta
                    .map_or_else(|| T::META.name.to_owned(), RelationMeta::label),
                T::META.name
            ))
        })?;
        self.rows = Some(rows);
        Ok(())
    }
    fn take_target(&mut self) -> Option<Arc<dyn Any + Send + Sync>> {
        self.rows.take().map(|r| r as Arc<dyn Any + Send + Sync>)
    }
    fn target(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        self.rows.clone().map(|r| r as Arc<dyn Any + Send + Sync>)
    }
    fn prefetch_targets<'a>(
        &self,
        targets: &'a mut Vec<Arc<dyn Any + Send + Sync>>,
        nodes: &'a [PrefetchNode],
        ex: &'a mut (dyn RowSource + 'a),
    ) -> BoxFuture<'a, Result<()>> {
        prefetch_below_loaded::<Vec<T>, T>(
            BelowLoaded {
                meta: self.meta,
                into_rows: |rows| rows,
                from_rows: Some,
                copy: |rows| rows.iter().map(copy_loaded).collect(),
            },
            targets,
            nodes,
            ex,
        )
    }
}
