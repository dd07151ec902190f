//! What every executor carries of its database's query cache (feature `cache`): the link
//! to it, and a transaction's written tables. Empty types without the feature, so the
//! executors' structs are the same either way.

#[cfg(feature = "cache")]
pub(crate) use crate::cache::query::{Link, TxWrites};

/// Without feature `cache`: no cache.
#[cfg(not(feature = "cache"))]
#[derive(Clone, Debug, Default)]
pub(crate) struct Link;

/// Without feature `cache`: nothing to note.
#[cfg(not(feature = "cache"))]
pub(crate) type TxWrites = ();
