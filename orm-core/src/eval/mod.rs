//! Layer 4, evaluation: the lazy `QuerySet` and its result cache, the executor boundary
//! that backends implement, prefetching, cascading deletion, and the runtime side of
//! relation fields. May use every layer below.

pub(crate) mod deletion;
pub mod executor;
pub mod observe;
pub mod prefetch;
pub mod queryset;
pub mod related;
pub mod unfollowed_key;
