//! The `prefetch_related` plan: the tree of relations to fetch after the main query.

use crate::dsl::expr::RelPath;
use crate::dsl::query::Query;
use crate::schema::relation::RelationMeta;

/// One relation to prefetch, with the relations to prefetch below it.
#[derive(Clone, Debug)]
pub struct PrefetchNode {
    pub rel: &'static RelationMeta,
    /// A custom queryset's query (Django's `Prefetch(queryset=…)`): its filters and
    /// ordering are ANDed with the key condition.
    pub custom: Option<Query>,
    pub children: Vec<PrefetchNode>,
}

impl PrefetchNode {
    fn new(rel: &'static RelationMeta) -> Self {
        PrefetchNode {
            rel,
            custom: None,
            children: Vec::new(),
        }
    }
}

/// Merge `path` into the prefetch tree, so a level named twice is fetched once.
/// Returns the node of the path's last hop (`None` for an empty path).
pub fn add_path<'a>(
    tree: &'a mut Vec<PrefetchNode>,
    path: &RelPath,
) -> Option<&'a mut PrefetchNode> {
    let first = path.hops().next()?;
    let pos = match tree.iter().position(|n| std::ptr::eq(n.rel, first)) {
        Some(pos) => pos,
        None => {
            tree.push(PrefetchNode::new(first));
            tree.len() - 1
        }
    };
    let node = &mut tree[pos];
    if path.len() == 1 {
        Some(node)
    } else {
        add_path(&mut node.children, &path.suffix(1))
    }
}

/// Add `node` to a prefetch tree, merging it with a node for the same relation.
pub(crate) fn merge(tree: &mut Vec<PrefetchNode>, node: PrefetchNode) {
    match tree.iter_mut().find(|n| std::ptr::eq(n.rel, node.rel)) {
        Some(existing) => {
            if existing.custom.is_none() {
                existing.custom = node.custom;
            }
            for child in node.children {
                merge(&mut existing.children, child);
            }
        }
        None => tree.push(node),
    }
}
