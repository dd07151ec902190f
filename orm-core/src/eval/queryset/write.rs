//! Writes through a queryset: `update`, `delete`, `bulk_create`, `in_bulk`, `contains`.

use super::*;

/// What `delete()` removed: the total and the count per model (Django's return value).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deleted {
    pub total: u64,
    pub per_model: BTreeMap<&'static str, u64>,
}

impl Deleted {
    fn of<M: Model>(n: u64) -> Self {
        let mut per_model = BTreeMap::new();
        if n > 0 {
            per_model.insert(M::META.name, n);
        }
        Deleted {
            total: n,
            per_model,
        }
    }
}

impl<M: Model> QuerySet<M, M> {
    /// Whether `obj` is among the rows: from the cache if evaluated, otherwise one
    /// `filter(pk = obj.pk).exists()` query per call (Django's `contains`).
    #[track_caller]
    pub fn contains<E: Executor>(&self, obj: &M, ex: E) -> impl Future<Output = Result<bool>> {
        crate::eval::observe::traced(async move {
            self.check()?;
            if M::META.has_auto_pk() && is_unset_pk(obj) {
                return Err(Error::InvalidInput(
                    "contains() cannot be used on unsaved objects".into(),
                ));
            }
            if let Some(rows) = self.cache.get() {
                return Ok(rows.iter().any(|r| r.pk() == obj.pk()));
            }
            let qs = self.chain_unsliced(SlicedOp::Filter, |q| {
                q.filter_mut().push(pk_eq::<M>(obj.pk().to_value()))
            });
            qs.check()?;
            qs.exists(ex).await
        })
    }

    /// `UPDATE … SET … WHERE …` on the matched rows; returns how many matched. Clears
    /// this queryset's cache. `update(|b| [b.pages.set(b.pages * 2)], &db)`.
    #[track_caller]
    pub fn update<A: IntoAssignments<M>, E: Executor>(
        &mut self,
        f: impl FnOnce(&M::Fields) -> A,
        mut ex: E,
    ) -> impl Future<Output = Result<u64>> {
        crate::eval::observe::traced(async move {
            self.check()?;
            if self.query.is_sliced() {
                return Err(Error::Sliced(SlicedOp::Update));
            }
            let assignments = f(&M::fields()).into_assignments();
            let stmt = compiler::update(&self.query, &assignments, ex.dialect())?;
            self.cache.take();
            if self.query.empty {
                return Ok(0);
            }
            let done = ex.execute(stmt).await.map_err(name_field::<M>)?;
            Ok(done.rows_affected)
        })
    }

    /// `DELETE … WHERE …` on the matched rows. Clears this queryset's cache.
    #[track_caller]
    pub fn delete<E: Executor>(&mut self, mut ex: E) -> impl Future<Output = Result<Deleted>> {
        crate::eval::observe::traced(async move {
            self.check()?;
            if self.query.is_sliced() {
                return Err(Error::Sliced(SlicedOp::Delete));
            }
            self.cache.take();
            if self.query.empty {
                return Ok(Deleted::default());
            }
            if !crate::eval::deletion::has_dependents(M::META) {
                // Nothing else to follow: one DELETE (Django's fast delete).
                let stmt = compiler::delete(&self.query, ex.dialect())?;
                let n = ex.execute(stmt).await?.rows_affected;
                return Ok(Deleted::of::<M>(n));
            }
            let mut atomic = ex.atomic().await?;
            let per_model =
                crate::eval::deletion::delete_cascading(&self.query, &mut *atomic).await?;
            atomic.commit().await?;
            Ok(Deleted {
                total: per_model.values().sum(),
                per_model,
            })
        })
    }

    /// Insert many instances: one multi-row INSERT per batch (batches sized to the
    /// backend's parameter limit), primary keys set on the instances. Instances whose auto
    /// primary key is already set are inserted with it, in batches of their own. No query
    /// for an empty slice.
    ///
    /// The keys are set only once every row is in: if a batch fails or the commit fails,
    /// no row is kept and no instance is changed, so a later `save()` still inserts it.
    /// If the future is dropped, no instance is changed either; rows sent in one INSERT
    /// (no transaction) may already be stored by then, as with any statement the database
    /// received before the drop.
    /// More options (conflicts ignored or updated, keys not read back):
    /// [`bulk_create_with`](QuerySet::bulk_create_with).
    #[track_caller]
    pub fn bulk_create<E: Executor>(
        &self,
        objs: &mut [M],
        ex: E,
    ) -> impl Future<Output = Result<()>> {
        crate::eval::observe::traced(async move { self.bulk_create_with(objs, |o| o, ex).await })
    }

    /// The instances with these primary keys, keyed by primary key (Django's `in_bulk`);
    /// the key list is split into batches that fit the backend's parameter limit. No query
    /// for an empty list.
    #[track_caller]
    pub fn in_bulk<E: Executor>(
        &self,
        pks: impl IntoIterator<Item = M::Pk>,
        mut ex: E,
    ) -> impl Future<Output = Result<HashMap<M::Pk, M>>>
    where
        M::Pk: Hash + Eq,
    {
        crate::eval::observe::traced(async move {
            self.check()?;
            if self.query.is_sliced() {
                return Err(Error::Sliced(SlicedOp::Filter));
            }
            let pks: Vec<_> = pks.into_iter().map(|p| p.to_value()).collect();
            let dialect = ex.dialect();
            let mut out = HashMap::new();
            if self.query.empty || pks.is_empty() {
                return Ok(out);
            }
            let limit = compiler::in_list_budget(&self.query, dialect)?;
            for chunk in pks.chunks(limit) {
                let mut q = self.query.clone();
                q.filter_mut().push(Cond::In {
                    lhs: pk_term::<M>(),
                    values: chunk.to_vec(),
                });
                for obj in Self::run(&q, &mut ex).await? {
                    out.insert(obj.pk().clone(), obj);
                }
            }
            Ok(out)
        })
    }
}
