//! `b.author.name`: Django's `author__name` habit, written without calling the relation.
//! It does not compile, and the message says to write `b.author().name`.
//!
//! No attribute customises the error for a missing field (E0609); a method call's unmet
//! trait bound can carry one (`#[diagnostic::on_unimplemented]`). So the handle of a
//! foreign key dereferences to a struct `#[derive(Model)]` generates for the key's target,
//! with one field per column of the target, each a [`KeyNotFollowed`]; its lookups
//! (`eq`, `icontains`, `asc`, …) need [`FollowedByCall`], which no type implements, and
//! whose message names the fix. Nothing here runs: every path through it fails to compile.

use std::marker::PhantomData;
use std::ops::Deref;

use crate::dsl::field::Field;
use crate::eval::related::ForeignKey;
use crate::schema::model::Model;

/// Implemented by `#[derive(Model)]`: the struct a handle of a foreign key to this model
/// dereferences to (see the module's documentation).
#[doc(hidden)]
pub trait KeyHint: 'static {
    type Hint: 'static;
    const HINT: &'static Self::Hint;
}

/// A column of `M` named through a foreign key that was not called: `b.author.name`.
#[doc(hidden)]
pub struct KeyNotFollowed<M>(PhantomData<fn() -> M>);

impl<M> KeyNotFollowed<M> {
    pub const NEW: Self = KeyNotFollowed(PhantomData);
}

/// No type implements it: the bound of every lookup on [`KeyNotFollowed`], so that using
/// `b.author.name` reports this message.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "a foreign key is followed by calling it: write `b.author().name`, not `b.author.name` (Django's `author__name`)",
    label = "this names a field of `{Self}` through a foreign key without calling the key",
    note = "`b.author()` is the handles of the related `{Self}` (a JOIN); `b.author` alone is the key column, compared with a key or an instance: `b.author.eq(&alice)`"
)]
pub trait FollowedByCall {
    fn never<X>() -> X;
}

// Written out rather than by a macro: the error's note quotes the bound it comes from.
#[doc(hidden)]
impl<M> KeyNotFollowed<M> {
    pub fn eq<V, X>(&self, _: V) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn gt<V, X>(&self, _: V) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn gte<V, X>(&self, _: V) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn lt<V, X>(&self, _: V) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn lte<V, X>(&self, _: V) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn range<V, W, X>(&self, _: V, _: W) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn is_in<V, X>(&self, _: V) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn is_null<V, X>(&self, _: V) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn iexact<V, X>(&self, _: V) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn contains<V, X>(&self, _: V) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn icontains<V, X>(&self, _: V) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn startswith<V, X>(&self, _: V) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn istartswith<V, X>(&self, _: V) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn endswith<V, X>(&self, _: V) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn iendswith<V, X>(&self, _: V) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn regex<V, X>(&self, _: V) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn iregex<V, X>(&self, _: V) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn asc<X>(&self) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn desc<X>(&self) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn set<V, X>(&self, _: V) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn count<X>(&self) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn count_distinct<X>(&self) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn sum<X>(&self) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn avg<X>(&self) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn min<X>(&self) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn max<X>(&self) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
    pub fn outer<X>(&self) -> X
    where
        M: FollowedByCall,
    {
        M::never()
    }
}

// Where the handle is used as a value rather than through a method: a projection, an
// operand, an ordering. Each impl's bound is the one that fails, with its message.
#[doc(hidden)]
impl<R, M: FollowedByCall> crate::dsl::projection::ProjectionItem<R> for KeyNotFollowed<M> {
    type Output = ();
    fn into_term(self) -> crate::dsl::expr::Term {
        M::never()
    }
}

#[doc(hidden)]
impl<R, M: FollowedByCall> crate::dsl::projection::Projection<R> for KeyNotFollowed<M> {
    type Output = ();
    fn into_terms(self) -> Vec<crate::dsl::expr::Term> {
        M::never()
    }
}

#[doc(hidden)]
impl<R, T, M: FollowedByCall> crate::dsl::expr::Operand<R, T> for KeyNotFollowed<M> {
    fn into_term(self) -> crate::dsl::expr::Term {
        M::never()
    }
}

#[doc(hidden)]
impl<R, M: FollowedByCall> crate::dsl::ordering::IntoOrdering<R> for KeyNotFollowed<M> {
    fn into_terms(self) -> Vec<crate::dsl::ordering::OrderTerm> {
        M::never()
    }
}

#[doc(hidden)]
impl<R, T: Model + KeyHint, K> Deref for Field<R, ForeignKey<T>, K> {
    type Target = T::Hint;
    fn deref(&self) -> &T::Hint {
        T::HINT
    }
}

#[doc(hidden)]
impl<R, T: Model + KeyHint, K> Deref for Field<R, Option<ForeignKey<T>>, K> {
    type Target = T::Hint;
    fn deref(&self) -> &T::Hint {
        T::HINT
    }
}
