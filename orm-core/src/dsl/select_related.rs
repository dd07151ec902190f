//! `select_related`: which related models a SELECT reads through JOINs, where their
//! columns start in the row, and how they are attached to the instances.

use crate::dsl::expr::RelPath;
use crate::error::Result;
use crate::schema::model::{Model, ModelMeta};
use crate::schema::relation::{RelationKind, RelationMeta};
use crate::schema::row::Row;

/// One selected relation: its columns start at `offset` in the row; `children` are the
/// relations selected through it.
#[derive(Clone, Debug)]
pub struct SelectNode {
    pub rel: &'static RelationMeta,
    /// The path from the queryset's model to this relation's target (its JOIN).
    pub path: RelPath,
    pub offset: usize,
    pub children: Vec<SelectNode>,
}

impl SelectNode {
    /// Attach the relations selected below this node to `obj` (this node's target).
    pub fn load_children<M: Model>(&self, obj: &mut M, row: &dyn Row) -> Result<()> {
        load_nodes(&self.children, obj, row)
    }
}

/// Attach every selected relation in `nodes` to `obj`.
pub fn load_nodes<M: Model>(nodes: &[SelectNode], obj: &mut M, row: &dyn Row) -> Result<()> {
    for node in nodes {
        if let Some(slot) = obj.relation_mut(node.rel.index) {
            slot.load_selected(row, node)?;
        }
    }
    Ok(())
}

/// The tree of selected relations for a set of paths (each path selects every hop on it),
/// in the order their columns are appended to the SELECT list, starting at `offset`.
/// Returns the tree and the total number of columns it adds.
pub fn plan(paths: &[RelPath], mut offset: usize) -> (Vec<SelectNode>, usize) {
    let mut roots: Vec<SelectNode> = Vec::new();
    for path in paths {
        let mut level = &mut roots;
        let mut prefix = RelPath::ROOT;
        for hop in path.hops() {
            prefix = prefix.join(hop);
            let pos = match level.iter().position(|n| std::ptr::eq(n.rel, hop)) {
                Some(pos) => pos,
                None => {
                    level.push(SelectNode {
                        rel: hop,
                        path: prefix,
                        offset: 0,
                        children: Vec::new(),
                    });
                    level.len() - 1
                }
            };
            level = &mut level[pos].children;
        }
    }
    let start = offset;
    assign_offsets(&mut roots, &mut offset);
    (roots, offset - start)
}

fn assign_offsets(nodes: &mut [SelectNode], offset: &mut usize) {
    for node in nodes {
        node.offset = *offset;
        *offset += (node.rel.target)().columns.len();
        assign_offsets(&mut node.children, offset);
    }
}

/// How many hops `select_related()` with no argument follows (Django's `max_depth`).
pub const EVERY_KEY_DEPTH: usize = 5;

/// What Django's `select_related()` with no argument follows from `meta`: every non-null
/// forward key (foreign key or one-to-one), and the non-null keys of their targets, down to
/// [`EVERY_KEY_DEPTH`] hops (a cycle of required keys stops there). The paths returned
/// are the deepest ones; `plan` selects every hop on them.
pub fn every_required_key(meta: &'static ModelMeta) -> Vec<RelPath> {
    fn walk(meta: &'static ModelMeta, at: RelPath, out: &mut Vec<RelPath>) {
        let mut deeper = false;
        if at.len() < EVERY_KEY_DEPTH {
            for rel in meta.relations {
                if matches!(rel.kind, RelationKind::ForeignKey | RelationKind::OneToOne)
                    && !rel.nullable
                {
                    deeper = true;
                    walk((rel.target)(), at.join(rel), out);
                }
            }
        }
        if !deeper && !at.is_root() {
            out.push(at);
        }
    }
    let mut out = Vec::new();
    walk(meta, RelPath::ROOT, &mut out);
    out
}

/// Every node, depth first, in column order.
pub fn flatten(nodes: &[SelectNode]) -> Vec<&SelectNode> {
    let mut out = Vec::new();
    fn walk<'a>(nodes: &'a [SelectNode], out: &mut Vec<&'a SelectNode>) {
        for n in nodes {
            out.push(n);
            walk(&n.children, out);
        }
    }
    walk(nodes, &mut out);
    out
}
