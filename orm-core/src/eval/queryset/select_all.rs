//! `select_related()` with no argument: every required foreign key, from the model's
//! metadata.

use super::*;

impl<M: Model, T: FromRow> QuerySet<M, T> {
    /// Django's `select_related()` with no argument: read every **non-null** foreign key
    /// (and one-to-one) of `M` in the same query, through INNER JOINs, then the non-null
    /// keys of those models, and so on, down to five hops, as Django does (its
    /// `max_depth`). Nullable keys, reverse and many-to-many relations are not followed:
    /// name them with [`select_related`](QuerySet::select_related) or prefetch them.
    ///
    /// **Differs:** in Django, `select_related()` followed by `select_related("x")` keeps
    /// only `x`; here the calls accumulate, as every `select_related` call does.
    ///
    /// ```no_run
    /// # use orm_core::{Model, QuerySet, Executor, Result};
    /// # async fn demo<Book: Model, E: Executor>(db: E) -> Result<()> {
    /// // Book.author is required, Author.country is nullable: one query, books JOIN authors.
    /// let books = Book::objects().select_related_all();
    /// let rows = books.fetch(db).await?;
    /// # Ok(()) }
    /// ```
    pub fn select_related_all(&self) -> Self
    where
        T: ModelRows<M>,
    {
        let paths = crate::dsl::select_related::every_required_key(M::META);
        self.chain(|q| {
            for path in paths {
                if !q.select_related.contains(&path) {
                    q.select_related.push(path);
                }
            }
        })
    }
}
