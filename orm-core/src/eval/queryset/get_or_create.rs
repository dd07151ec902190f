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
    /// transaction), INSERT, COMMIT (RELEASE). An INSERT that lost an InnoDB deadlock
    /// while the winner's row was not yet visible is followed by the SELECT and the
    /// atomic INSERT again (at most 4 more times); the row's hooks still run once.
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
            match insert_or_find(&qs, &mut obj, &mut ex).await? {
                None => Ok((obj, true)),
                Some(found) => Ok((found, false)),
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
            match insert_or_find(&qs, &mut obj, &mut ex).await? {
                None => Ok((obj, true)),
                Some(mut found) => {
                    update(&mut found);
                    found.save(&mut ex).await?;
                    Ok((found, false))
                }
            }
        })
    }
}

/// How many more times an INSERT that lost an InnoDB deadlock is tried when the row
/// that won is not visible yet.
const DEADLOCK_RETRIES: usize = 4;

/// Insert `obj` (`None`), or find the row a concurrent insert of the same key made first
/// (`Some`): the race half of `get_or_create` and `update_or_create`.
///
/// A unique violation means the other row has committed (both PostgreSQL and InnoDB wait
/// for the other INSERT's transaction before they report it), so it is read again; when
/// the lookup still finds nothing, another key was in the way and the violation stands.
/// A lost InnoDB deadlock says less: the winner may not have committed yet, so the row is
/// read and, while it is not there, inserted again (this time waiting for the winner's
/// lock), a few times at most. The row's hooks run once whatever the attempts:
/// `pre_save` before the first, `post_save` after the INSERT that succeeded (inside its
/// atomic block, as Django sends `post_save` inside `get_or_create`'s).
async fn insert_or_find<M: Model, E: Executor>(
    qs: &QuerySet<M, M>,
    obj: &mut M,
    ex: &mut E,
) -> Result<Option<M>> {
    obj.pre_save()?;
    let mut post_saved = false;
    let mut retries = 0;
    loop {
        let (lost_deadlock, e) = match insert_atomically(obj, &mut *ex, &mut post_saved).await {
            Ok(()) => return Ok(None),
            Err(Attempt::LostDeadlock(e)) => (true, e),
            Err(Attempt::Failed(e)) if e.is_unique_violation() => (false, e),
            Err(Attempt::Failed(e)) => return Err(e),
        };
        match qs.get(&mut *ex).await {
            Ok(found) => return Ok(Some(found)),
            Err(Error::DoesNotExist { .. }) if lost_deadlock && retries < DEADLOCK_RETRIES => {
                retries += 1;
            }
            // Not the row the lookup names that was in the way: the violation stands.
            Err(Error::DoesNotExist { .. }) => return Err(e),
            Err(other) => return Err(other),
        }
    }
}

/// Why [`insert_atomically`] did not insert.
enum Attempt {
    /// The INSERT, in a transaction of its own, lost an InnoDB deadlock: only it was
    /// rolled back, and the race is reported as the unique violation it is.
    LostDeadlock(Error),
    /// Any other failure, as it came.
    Failed(Error),
}

/// Insert `obj` (its `pre_save` already run) in an atomic block of its own, running its
/// `post_save` inside the block unless an earlier attempt did: a failed INSERT leaves the
/// surrounding transaction usable (PostgreSQL aborts a transaction at its first error
/// otherwise). A failed attempt leaves `obj`'s key as it was (a key read back before a
/// failed COMMIT names no row).
///
/// Concurrent INSERTs of one unique key can deadlock on InnoDB (its duplicate-key checks
/// take shared locks): when this block is a transaction of its own, only this INSERT was
/// rolled back ([`Attempt::LostDeadlock`]). In a savepoint the deadlock rolled the whole
/// enclosing transaction back (MySQL's rule), and it is returned as it is.
async fn insert_atomically<M: Model, E: Executor>(
    obj: &mut M,
    ex: &mut E,
    post_saved: &mut bool,
) -> std::result::Result<(), Attempt> {
    let key = obj.pk().clone();
    let mut atomic = ex.atomic().await.map_err(Attempt::Failed)?;
    let nested = atomic.nested();
    let mut done = insert_unhooked(obj, &mut *atomic).await;
    if done.is_ok() && !*post_saved {
        done = obj.post_save(true);
        *post_saved = true;
    }
    let done = match done {
        Ok(()) => atomic.commit().await,
        Err(e) => Err(e),
    };
    if done.is_err() {
        obj.set_pk(key);
    }
    match done {
        Ok(()) => Ok(()),
        Err(Error::Deadlock { message, sql }) if !nested => {
            Err(Attempt::LostDeadlock(Error::Integrity {
                kind: crate::error::Violation::Unique,
                on: Box::default(),
                message: format!("a concurrent insert of the same key won (deadlock: {message})"),
                sql,
            }))
        }
        Err(e) => Err(Attempt::Failed(e)),
    }
}
