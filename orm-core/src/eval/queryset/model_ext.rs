//! Awaiting a queryset (`IntoFuture`), and the instance methods of [`ModelExt`]
//! (`save`, `delete`, `refresh_from_db`, related-object writes).

use super::m2m::{self, RelatedKeys};
use super::*;

impl<M: Model, T: FromRow> IntoFuture for QuerySet<M, T> {
    type Output = Result<Vec<T>>;
    type IntoFuture = BoxFuture<'static, Result<Vec<T>>>;

    /// Await a queryset directly on the default database (`Db::set_default()`): the
    /// rows, or the cached rows if it was already evaluated.
    #[track_caller]
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(crate::eval::observe::traced(async move {
            self.check()?;
            let QuerySet { query, cache, .. } = self;
            if let Some(rows) = cache.into_inner() {
                return Ok(rows);
            }
            let mut db = executor::DefaultHandle::get()?;
            Self::run(&query, &mut db).await
        }))
    }
}

/// Instance-level operations: Django's `save()`, `delete()` and `refresh_from_db()`.
pub trait ModelExt: Model {
    /// Insert this instance; an auto primary key is left to the database and set on the
    /// instance afterwards. One query (two on backends without `RETURNING`).
    fn insert<E: Executor>(&mut self, ex: E) -> impl Future<Output = Result<()>> + Send;
    /// Django's `save()`: insert if the auto primary key is unset (0), otherwise update
    /// the row and insert it if no row was updated.
    fn save<E: Executor>(&mut self, ex: E) -> impl Future<Output = Result<()>> + Send;
    /// Delete this instance's row, and what its on-delete rules reach.
    fn delete<E: Executor>(&self, ex: E) -> impl Future<Output = Result<Deleted>> + Send;
    /// Reload every column from the database: one query.
    fn refresh_from_db<E: Executor>(&mut self, ex: E) -> impl Future<Output = Result<()>> + Send;
    /// Link `targets` (instances or primary keys: see [`RelatedKeys`]) to this instance
    /// through a many-to-many relation (rows already linked are left alone) or a reverse
    /// foreign key (their key is set to this instance). One query (one a batch past the
    /// backend's bind limit, in one atomic block); none for no targets. Clears what was
    /// prefetched into the relation. Django's `relation.add()`.
    ///
    /// ```
    /// # extern crate orm_core as orm_sqlx;
    /// # use orm_derive::Model;
    /// # use orm_sqlx::relation::ManyToMany;
    /// use orm_sqlx::{Executor, ModelExt, Result};
    /// # #[derive(Model, Debug, Clone)] pub struct Tag { pub id: i64 }
    /// # #[derive(Model, Debug, Clone)] pub struct Book { pub id: i64, pub tags: ManyToMany<Tag> }
    /// async fn demo(mut db: impl Executor, book: &mut Book, sf: &Tag) -> Result<()> {
    ///     book.add_related(|b| b.tags(), &[sf], &mut db).await?; // INSERT … ON CONFLICT DO NOTHING
    ///     book.add_related(|b| b.tags(), &[sf.id, 7], &mut db).await?; // by key
    ///     Ok(())
    /// }
    /// ```
    fn add_related<P, K, E>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        targets: K,
        ex: E,
    ) -> impl Future<Output = Result<()>> + Send
    where
        P: PrefetchPath<Self> + RelationPath<Target: Model>,
        K: RelatedKeys<P::Target>,
        E: Executor;
    /// Create `obj` related to this instance (Django's `author.books.create(…)`): through a
    /// reverse relation its key is set to this instance, then it is inserted (one query);
    /// through a many-to-many it is inserted and linked, atomically. Clears the prefetched
    /// rows of the relation.
    fn create_related<P: PrefetchPath<Self>, T: Model, E: Executor>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        obj: &mut T,
        ex: E,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Unlink `targets` (instances or keys: [`RelatedKeys`]): delete the join rows of a
    /// many-to-many relation, or set a nullable reverse foreign key to NULL (a key that
    /// cannot be NULL is [`Error::InvalidInput`] before any query). Keys not linked are
    /// ignored. One query; clears the prefetched rows. Django's `relation.remove()`.
    ///
    /// ```
    /// # extern crate orm_core as orm_sqlx;
    /// # use orm_derive::Model;
    /// # use orm_sqlx::relation::ManyToMany;
    /// use orm_sqlx::{Executor, ModelExt, Result};
    /// # #[derive(Model, Debug, Clone)] pub struct Tag { pub id: i64 }
    /// # #[derive(Model, Debug, Clone)] pub struct Book { pub id: i64, pub tags: ManyToMany<Tag> }
    /// async fn demo(mut db: impl Executor, book: &mut Book, sf: &Tag) -> Result<()> {
    ///     book.remove_related(|b| b.tags(), [sf.id], &mut db).await?; // DELETE … IN (…)
    ///     Ok(())
    /// }
    /// ```
    fn remove_related<P, K, E>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        targets: K,
        ex: E,
    ) -> impl Future<Output = Result<()>> + Send
    where
        P: PrefetchPath<Self> + RelationPath<Target: Model>,
        K: RelatedKeys<P::Target>,
        E: Executor;
    /// Make the relation hold exactly `targets` (Django's `relation.set(objs)`); repeats
    /// in `targets` count once. Clears the prefetched rows. See
    /// [`m2m`](super::m2m) for how it is written; the statements:
    ///
    /// - many-to-many, `targets` empty: `DELETE FROM through WHERE parent = ?` (one query,
    ///   as [`clear_related`](ModelExt::clear_related)).
    /// - many-to-many: `DELETE FROM through WHERE parent = ? AND target NOT IN (targets)`
    ///   then `INSERT INTO through … VALUES (parent, target), … ON CONFLICT DO NOTHING`
    ///   (MySQL: `ON DUPLICATE KEY UPDATE`), in one atomic block: four statements on a
    ///   pool (BEGIN, DELETE, INSERT, COMMIT), a SAVEPOINT and a RELEASE around the two
    ///   in a transaction. No SELECT; setting the same set again sends the same four.
    ///   Past the bind limit (`targets` over half of `Dialect::max_params`) the INSERT is
    ///   batched in the same block; past the limit of one `NOT IN` list (SQLite and MySQL,
    ///   not PostgreSQL, which binds the list as one array) the block first reads the
    ///   linked keys (one SELECT) and deletes and inserts only the difference.
    /// - reverse foreign key that can be NULL: `UPDATE child SET key = NULL WHERE key = ?
    ///   AND pk NOT IN (targets)` then `UPDATE child SET key = ? WHERE pk IN (targets)`,
    ///   atomically (four statements on a pool); `targets` empty: the first UPDATE alone.
    /// - reverse foreign key that cannot be NULL: rows cannot leave the relation, so, as
    ///   Django does, only the UPDATE that adds `targets` (one query, none if empty).
    ///
    /// An unsaved instance (auto key unset) on either side is [`Error::InvalidInput`]
    /// before any query.
    ///
    /// ```
    /// # extern crate orm_core as orm_sqlx;
    /// # use orm_derive::Model;
    /// # use orm_sqlx::relation::ManyToMany;
    /// use orm_sqlx::{Executor, ModelExt, Result};
    /// # #[derive(Model, Debug, Clone)] pub struct Tag { pub id: i64 }
    /// # #[derive(Model, Debug, Clone)] pub struct Book { pub id: i64, pub tags: ManyToMany<Tag> }
    /// async fn demo(mut db: impl Executor, book: &mut Book, sf: &Tag) -> Result<()> {
    ///     book.set_related(|b| b.tags(), &[sf.id, 7], &mut db).await?; // linked to exactly these two
    ///     book.set_related(|b| b.tags(), Vec::<i64>::new(), &mut db).await?; // linked to none
    ///     Ok(())
    /// }
    /// ```
    fn set_related<P, K, E>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        targets: K,
        ex: E,
    ) -> impl Future<Output = Result<()>> + Send
    where
        P: PrefetchPath<Self> + RelationPath<Target: Model>,
        K: RelatedKeys<P::Target>,
        E: Executor;
    /// Empty the relation (Django's `relation.clear()`): one query, `DELETE FROM through
    /// WHERE parent = ?` for a many-to-many, `UPDATE child SET key = NULL WHERE key = ?`
    /// for a reverse foreign key that can be NULL. A reverse foreign key that cannot be
    /// NULL (Django has no `clear` there), or an unsaved instance, is
    /// [`Error::InvalidInput`] before any query. Clears the prefetched rows.
    ///
    /// ```
    /// # extern crate orm_core as orm_sqlx;
    /// # use orm_derive::Model;
    /// # use orm_sqlx::relation::ManyToMany;
    /// use orm_sqlx::{Executor, ModelExt, Result};
    /// # #[derive(Model, Debug, Clone)] pub struct Tag { pub id: i64 }
    /// # #[derive(Model, Debug, Clone)] pub struct Book { pub id: i64, pub tags: ManyToMany<Tag> }
    /// async fn demo(mut db: impl Executor, book: &mut Book) -> Result<()> {
    ///     book.clear_related(|b| b.tags(), &mut db).await?; // DELETE FROM book_tags WHERE book_id IN (?)
    ///     Ok(())
    /// }
    /// ```
    fn clear_related<P, E>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        ex: E,
    ) -> impl Future<Output = Result<()>> + Send
    where
        P: PrefetchPath<Self> + RelationPath<Target: Model>,
        E: Executor;
    /// Write only some fields (Django's `save(update_fields=[…])`): one `UPDATE … SET
    /// <those columns> WHERE pk = …`. A foreign key writes its key column.
    ///
    /// - An empty list, `|_| ()`, costs no query (as in Django).
    /// - [`Error::InvalidInput`] before any query: an unsaved instance (auto key unset),
    ///   the primary key among the fields, or something that is not a field of the model.
    /// - No row has the instance's key: [`Error::DoesNotExist`] (Django raises
    ///   `DatabaseError("Save with update_fields did not affect any rows.")`); nothing is
    ///   inserted.
    ///
    /// ```text
    /// book.title = "Dune".into();
    /// book.pages = 412;
    /// book.save_fields(|b| (b.title, b.pages), &db).await?;
    /// ```
    fn save_fields<P: Projection<Self>, E: Executor>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        ex: E,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Reload only some columns: `refresh_from_db_fields(|b| (b.title, b.pages), &db)`.
    /// An empty list, `|_| ()`, costs no query.
    fn refresh_from_db_fields<P: Projection<Self>, E: Executor>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        ex: E,
    ) -> impl Future<Output = Result<()>> + Send;
}

fn by_pk<M: Model>(obj: &M) -> QuerySet<M, M> {
    let pk = obj.pk().to_value();
    QuerySet::<M, M>::new().chain(|q| {
        q.filter_mut().push(Cond::Compare {
            lhs: pk_term::<M>(),
            op: CmpOp::Eq,
            rhs: Term::Value(pk),
        })
    })
}

/// Delete one instance by its key, following its on-delete rules (no hooks).
async fn delete_instance<M: Model, E: Executor>(obj: &M, mut ex: E) -> Result<Deleted> {
    if !crate::eval::deletion::has_dependents(M::META) {
        return by_pk(obj).delete(ex).await;
    }
    // The key is known: no SELECT to find it (Django's instance delete sends none).
    let mut atomic = ex.atomic().await?;
    let keys = vec![obj.pk().to_value()];
    let per_model =
        crate::eval::deletion::delete_cascading_keys(M::META, keys, &mut *atomic).await?;
    atomic.commit().await?;
    Ok(Deleted {
        total: per_model.values().sum(),
        per_model,
    })
}

impl<M: Model> ModelExt for M {
    #[track_caller]
    fn insert<E: Executor>(&mut self, mut ex: E) -> impl Future<Output = Result<()>> {
        crate::eval::observe::traced(async move { insert_one(self, &mut ex).await })
    }

    #[track_caller]
    fn save<E: Executor>(&mut self, mut ex: E) -> impl Future<Output = Result<()>> {
        crate::eval::observe::traced(async move {
            super::require_keys_set(self)?;
            if M::META.has_auto_pk() && is_unset_pk(self) {
                return self.insert(ex).await;
            }
            self.pre_save()?;
            self.touch_auto_now(false, None);
            let columns: Vec<usize> = (0..M::META.columns.len())
                .filter(|&i| !M::META.columns[i].primary_key)
                .collect();
            let updated = if columns.is_empty() {
                by_pk(self).count(&mut ex).await?
            } else {
                super::bulk::update_row(self, &columns, &mut ex).await?
            };
            if updated == 0 {
                super::insert_unhooked(self, &mut ex).await?;
            }
            self.post_save(updated == 0)
        })
    }

    #[track_caller]
    fn delete<E: Executor>(&self, ex: E) -> impl Future<Output = Result<Deleted>> {
        crate::eval::observe::traced(async move {
            self.pre_delete()?;
            let deleted = delete_instance(self, ex).await?;
            self.post_delete()?;
            Ok(deleted)
        })
    }

    #[track_caller]
    fn refresh_from_db<E: Executor>(&mut self, ex: E) -> impl Future<Output = Result<()>> {
        crate::eval::observe::traced(async move {
            *self = by_pk(self).get(ex).await?;
            Ok(())
        })
    }

    #[track_caller]
    fn add_related<P, K, E>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        targets: K,
        ex: E,
    ) -> impl Future<Output = Result<()>> + Send
    where
        P: PrefetchPath<Self> + RelationPath<Target: Model>,
        K: RelatedKeys<P::Target>,
        E: Executor,
    {
        // The keys are read before the future: it holds no `K` (a slice of `&T`).
        let path = f(&Self::fields()).prefetch_path();
        let keys = targets.related_keys();
        crate::eval::observe::traced(async move {
            m2m::add::<Self, P::Target, E>(self, path, keys?, ex).await
        })
    }

    #[track_caller]
    fn create_related<P: PrefetchPath<Self>, T: Model, E: Executor>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        obj: &mut T,
        mut ex: E,
    ) -> impl Future<Output = Result<()>> {
        crate::eval::observe::traced(async move {
            let rel = relation_for_write::<Self, T>(self, f(&Self::fields()).prefetch_path())?;
            let pk = m2m::require_saved(self, "create_related")?;
            match rel.join_on()? {
                JoinOn::Direct { .. } => {
                    let forward = rel.forward_relation()?;
                    let col = forward.key_column.ok_or_else(|| {
                        Error::InvalidInput(format!("{} has no key column", forward.label()))
                    })?;
                    obj.set_column_from_row(col, &ValueRow(pk), 0)?;
                    insert_one(obj, &mut ex).await
                }
                JoinOn::Through { through, .. } => {
                    // A failed link or commit rolls the INSERT back: the instance gets back
                    // the key it had, never the key of a row that is not there.
                    let before = obj.pk().clone();
                    let done = async {
                        let mut atomic = ex.atomic().await?;
                        insert_one(obj, &mut *atomic).await?;
                        let link = compiler::link(
                            through,
                            pk,
                            std::iter::once(obj.pk().to_value()),
                            atomic.dialect(),
                        )?;
                        atomic.execute_stmt(link).await?;
                        atomic.commit().await
                    }
                    .await;
                    if done.is_err() {
                        obj.set_pk(before);
                    }
                    done
                }
            }
        })
    }

    #[track_caller]
    fn remove_related<P, K, E>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        targets: K,
        ex: E,
    ) -> impl Future<Output = Result<()>> + Send
    where
        P: PrefetchPath<Self> + RelationPath<Target: Model>,
        K: RelatedKeys<P::Target>,
        E: Executor,
    {
        // The keys are read before the future: it holds no `K` (a slice of `&T`).
        let path = f(&Self::fields()).prefetch_path();
        let keys = targets.related_keys();
        crate::eval::observe::traced(async move {
            m2m::remove::<Self, P::Target, E>(self, path, keys?, ex).await
        })
    }

    #[track_caller]
    fn set_related<P, K, E>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        targets: K,
        ex: E,
    ) -> impl Future<Output = Result<()>> + Send
    where
        P: PrefetchPath<Self> + RelationPath<Target: Model>,
        K: RelatedKeys<P::Target>,
        E: Executor,
    {
        // The keys are read before the future: it holds no `K` (a slice of `&T`).
        let path = f(&Self::fields()).prefetch_path();
        let keys = targets.related_keys();
        crate::eval::observe::traced(async move {
            m2m::set::<Self, P::Target, E>(self, path, keys?, ex).await
        })
    }

    #[track_caller]
    fn clear_related<P, E>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        ex: E,
    ) -> impl Future<Output = Result<()>>
    where
        P: PrefetchPath<Self> + RelationPath<Target: Model>,
        E: Executor,
    {
        crate::eval::observe::traced(async move {
            let path = f(&Self::fields()).prefetch_path();
            m2m::clear::<Self, P::Target, E>(self, path, ex).await
        })
    }

    #[track_caller]
    fn save_fields<P: Projection<Self>, E: Executor>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        ex: E,
    ) -> impl Future<Output = Result<()>> {
        crate::eval::observe::traced(async move {
            let terms = f(&M::fields()).into_terms();
            super::bulk::save_fields(self, terms, ex).await
        })
    }

    #[track_caller]
    fn refresh_from_db_fields<P: Projection<Self>, E: Executor>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        mut ex: E,
    ) -> impl Future<Output = Result<()>> {
        crate::eval::observe::traced(async move {
            let terms = f(&M::fields()).into_terms();
            if terms.is_empty() {
                return Ok(());
            }
            let mut indices = Vec::with_capacity(terms.len());
            for t in &terms {
                let Term::Column(c) = t else {
                    return Err(unreachable_projection());
                };
                let idx = M::META
                    .columns
                    .iter()
                    .position(|m| m.column == c.column && c.path.is_root())
                    .ok_or_else(|| {
                        Error::InvalidInput(format!(
                            "refresh_from_db_fields: `{}` is not a column of {}",
                            c.column,
                            M::META.name
                        ))
                    })?;
                indices.push(idx);
            }
            let mut q = by_pk(self).query;
            q.select = Select::Terms(terms);
            q.set_limits(None, Some(MAX_GET_RESULTS));
            let stmt = compiler::select(&q, ex.dialect())?;
            let mut seen = 0usize;
            ex.for_each_row(stmt, &mut |row| {
                seen += 1;
                if seen == 1 {
                    for (pos, &col) in indices.iter().enumerate() {
                        self.set_column_from_row(col, row, pos)?;
                    }
                }
                Ok(())
            })
            .await?;
            match seen {
                1 => Ok(()),
                0 => Err(Error::DoesNotExist {
                    model: M::META.name,
                }),
                n => Err(Error::MultipleObjectsReturned {
                    model: M::META.name,
                    count: n,
                    more: false,
                }),
            }
        })
    }
}
