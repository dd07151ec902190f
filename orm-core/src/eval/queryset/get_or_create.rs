//! `get_or_create` and `update_or_create`: Django's race-safe write helpers.

use super::*;

impl<M: Model> QuerySet<M, M> {
    /// The one row matching `lookup`, or a new one made by `create` and inserted (Django's
    /// `get_or_create`): `(row, created)`.
    ///
    /// Race-safe as Django's: the INSERT runs inside an atomic block (a savepoint inside a
    /// transaction, so a failed INSERT does not abort it on PostgreSQL); when another
    /// request inserted the same key first (a unique violation), the row is read again
    /// and returned with `created == false`. Several matching rows are
    /// [`Error::MultipleObjectsReturned`], as from `get`. `create` should build a row the
    /// lookup matches, with the unique field(s) the race is decided on (a duplicate is
    /// recognised only by a unique constraint).
    ///
    /// Queries (S35): found → 1; created → the SELECT, then BEGIN (SAVEPOINT in a
    /// transaction), INSERT, COMMIT (RELEASE).
    ///
    /// ```text
    /// let (tag, created) = Tag::objects()
    ///     .get_or_create(|t| t.name.eq("rust"), || Tag { id: 0, name: "rust".into() }, &db)
    ///     .await?;
    /// ```
    #[track_caller]
    pub fn get_or_create<E: Executor>(
        &self,
        lookup: impl FnOnce(&M::Fields) -> Q<M>,
        create: impl FnOnce() -> M,
        mut ex: E,
    ) -> impl Future<Output = Result<(M, bool)>> {
        crate::eval::observe::traced(async move {
            // Deciding whether to create reads the database, never a cached result.
            let qs = self.uncached().filter(lookup);
            match qs.get(&mut ex).await {
                Ok(found) => return Ok((found, false)),
                Err(Error::DoesNotExist { .. }) => {}
                Err(e) => return Err(e),
            }
            let mut obj = create();
            match insert_atomically(&mut obj, &mut ex).await {
                Ok(()) => Ok((obj, true)),
                Err(e) if e.is_unique_violation() => match qs.get(&mut ex).await {
                    Ok(found) => Ok((found, false)),
                    // Not the row the lookup names that was in the way: the violation stands.
                    Err(Error::DoesNotExist { .. }) => Err(e),
                    Err(other) => Err(other),
                },
                Err(e) => Err(e),
            }
        })
    }

    /// The one row matching `lookup` changed by `update` and saved, or a new one made by
    /// `create` and inserted (Django's `update_or_create`): `(row, created)`.
    ///
    /// The INSERT runs in an atomic block of its own, so that a row another request
    /// inserted first (a unique violation) is read again and updated instead. Several
    /// matching rows are [`Error::MultipleObjectsReturned`].
    ///
    /// Queries: found → the SELECT and the UPDATE; created → the SELECT, then BEGIN
    /// (SAVEPOINT in a transaction), INSERT, COMMIT (RELEASE). Django reads the row
    /// `FOR UPDATE` inside a transaction; this ORM has no locking reads yet, so two
    /// concurrent updates of one row both apply, the later one last (run it in a
    /// transaction of yours to make the read and the write one unit).
    #[track_caller]
    pub fn update_or_create<E: Executor>(
        &self,
        lookup: impl FnOnce(&M::Fields) -> Q<M>,
        update: impl FnOnce(&mut M),
        create: impl FnOnce() -> M,
        mut ex: E,
    ) -> impl Future<Output = Result<(M, bool)>> {
        crate::eval::observe::traced(async move {
            use crate::eval::queryset::model_ext::ModelExt as _;
            // Deciding whether to create reads the database, never a cached result.
            let qs = self.uncached().filter(lookup);
            let found = match qs.get(&mut ex).await {
                Ok(found) => Some(found),
                Err(Error::DoesNotExist { .. }) => None,
                Err(e) => return Err(e),
            };
            if let Some(mut obj) = found {
                update(&mut obj);
                obj.save(&mut ex).await?;
                return Ok((obj, false));
            }
            let mut obj = create();
            match insert_atomically(&mut obj, &mut ex).await {
                Ok(()) => Ok((obj, true)),
                Err(e) if e.is_unique_violation() => match qs.get(&mut ex).await {
                    Ok(mut found) => {
                        update(&mut found);
                        found.save(&mut ex).await?;
                        Ok((found, false))
                    }
                    Err(Error::DoesNotExist { .. }) => Err(e),
                    Err(other) => Err(other),
                },
                Err(e) => Err(e),
            }
        })
    }
}

/// Insert `obj` in an atomic block of its own: a failed INSERT leaves the surrounding
/// transaction usable (PostgreSQL aborts a transaction at its first error otherwise).
///
/// Concurrent INSERTs of one unique key can deadlock on InnoDB (its duplicate-key checks
/// take shared locks): when this block is a transaction of its own, only this INSERT was
/// rolled back, and the race is reported as the unique violation it is, so that the row
/// is read again. In a savepoint the deadlock rolled the whole enclosing transaction back
/// (MySQL's rule), and it is returned as it is.
async fn insert_atomically<M: Model, E: Executor>(obj: &mut M, ex: &mut E) -> Result<()> {
    let mut atomic = ex.atomic().await?;
    let nested = atomic.nested();
    let done = match insert_one(obj, &mut *atomic).await {
        Ok(()) => atomic.commit().await,
        Err(e) => Err(e),
    };
    match done {
        Err(Error::Deadlock { message, sql }) if !nested => Err(Error::Integrity {
            kind: crate::error::Violation::Unique,
            on: Box::default(),
            message: format!("a concurrent insert of the same key won (deadlock: {message})"),
            sql,
        }),
        other => other,
    }
}
