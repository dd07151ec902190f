//! Where the JOINs are built: one join per relation hop a query reads, with Django's
//! choice of INNER or LEFT OUTER and distinct aliases for a table joined twice.

use crate::dsl::expr::{MAX_PATH_DEPTH, RelPath};
use crate::error::{Error, Result};
use crate::schema::model::ModelMeta;
use crate::schema::relation::{JoinOn, RelationMeta};

/// INNER or LEFT OUTER.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    LeftOuter,
}

/// One joined table.
#[derive(Clone, Debug)]
pub struct Join {
    /// The path from the frame's root to this join's table.
    pub path: RelPath,
    /// For paths through a many-valued relation inside a filter: which `filter()` call the
    /// join belongs to (Django joins a multi-valued relation afresh for each call).
    pub scope: Option<usize>,
    pub rel: &'static RelationMeta,
    /// The join this one hangs from (`None`: the frame's root).
    pub parent: Option<usize>,
    pub alias: Alias,
    /// Many-to-many: the alias of the join table.
    pub through_alias: Option<Alias>,
    /// A filter in a positive AND context uses it: rows without a match are dropped anyway,
    /// so it can be INNER even if the hop may be empty.
    pub demand_inner: bool,
    pub kind: JoinKind,
}

/// A table alias: the table's own name (borrowed from the model's metadata, so most
/// statements allocate no alias at all) or a generated `T<n>`.
pub type Alias = std::borrow::Cow<'static, str>;

/// Alias names, shared by every frame of one statement: a table's own name the first time,
/// `T<n>` after that (as Django names them).
#[derive(Default, Debug)]
pub struct Aliases {
    used: Vec<Alias>,
    /// Every table named, each once: what the statement reads.
    tables: Vec<&'static str>,
}

impl Aliases {
    pub fn take(&mut self, table: &'static str) -> Alias {
        let alias = if self.used.iter().any(|u| u == table) {
            Alias::Owned(format!("T{}", self.used.len() + 1))
        } else {
            Alias::Borrowed(table)
        };
        // The empty name is the placeholder model of a statement on a join table alone.
        if !table.is_empty() && !self.tables.contains(&table) {
            self.tables.push(table);
        }
        self.used.push(alias.clone());
        alias
    }

    /// Note the tables another writer's statement named (a subquery written apart): the
    /// statement reads them too. Their aliases are the other's own.
    pub fn absorb_tables(&mut self, other: &Aliases) {
        for t in &other.tables {
            if !self.tables.contains(t) {
                self.tables.push(t);
            }
        }
    }

    /// The tables named, each once, in the order they were first taken.
    pub fn into_tables(self) -> Vec<&'static str> {
        self.tables
    }
}

/// The joins of one FROM clause (the main query's, or a subquery's).
#[derive(Debug)]
pub struct Frame {
    pub root: &'static ModelMeta,
    pub root_alias: Alias,
    /// The absolute path of this frame's root (empty for the main query).
    pub base: RelPath,
    pub joins: Vec<Join>,
}

fn has_many(path: &RelPath) -> bool {
    path.hops().any(|h| h.kind.is_many())
}

impl Frame {
    pub fn new(root: &'static ModelMeta, root_alias: Alias, base: RelPath) -> Self {
        Frame {
            root,
            root_alias,
            base,
            joins: Vec::new(),
        }
    }

    /// The path relative to this frame's root, or an error if it does not start there.
    pub fn relative(&self, path: &RelPath) -> Result<RelPath> {
        if path.overflowed() {
            return Err(Error::PathTooDeep {
                path: format!("{path:?}"),
                max: MAX_PATH_DEPTH,
            });
        }
        let n = self.base.len();
        if path.len() < n || path.prefix(n) != self.base {
            return Err(Error::InvalidInput(format!(
                "the column path `{path:?}` does not start at `{:?}`",
                self.base
            )));
        }
        Ok(path.suffix(n))
    }

    pub fn find(&self, rel_path: &RelPath, scope: Option<usize>) -> Option<usize> {
        let scope = if has_many(rel_path) { scope } else { None };
        let exact = self
            .joins
            .iter()
            .position(|j| j.path == *rel_path && j.scope == scope);
        // Outside a filter (ordering, a projection) a many-valued path reuses the join a
        // filter made, as Django's `can_reuse=None` does, instead of multiplying rows again.
        match (exact, scope) {
            (None, None) => self.joins.iter().position(|j| j.path == *rel_path),
            _ => exact,
        }
    }

    /// Make sure every hop of `rel_path` (relative to this frame) is joined.
    pub fn ensure(
        &mut self,
        rel_path: &RelPath,
        scope: Option<usize>,
        demand_inner: bool,
        aliases: &mut Aliases,
    ) -> Result<()> {
        let mut parent = None;
        for i in 1..=rel_path.len() {
            let prefix = rel_path.prefix(i);
            let idx = match self.find(&prefix, scope) {
                Some(idx) => idx,
                None => {
                    let rel = prefix.last().ok_or_else(|| {
                        Error::InvalidInput("an empty relation path has no join".into())
                    })?;
                    let through_alias = rel.through.as_ref().map(|t| aliases.take(t.table));
                    let alias = aliases.take((rel.target)().table);
                    self.joins.push(Join {
                        path: prefix,
                        scope: if has_many(&prefix) { scope } else { None },
                        rel,
                        parent,
                        alias,
                        through_alias,
                        demand_inner: false,
                        kind: JoinKind::Inner,
                    });
                    self.joins.len() - 1
                }
            };
            if demand_inner {
                self.joins[idx].demand_inner = true;
            }
            parent = Some(idx);
        }
        Ok(())
    }

    /// Decide INNER or LEFT OUTER: LEFT when the hop may find no row (a nullable key, a
    /// reverse or many-to-many relation) or hangs from a LEFT join, unless a filter demands
    /// a match.
    pub fn resolve_kinds(&mut self) {
        for i in 0..self.joins.len() {
            let parent_left = self.joins[i]
                .parent
                .is_some_and(|p| self.joins[p].kind == JoinKind::LeftOuter);
            let j = &mut self.joins[i];
            j.kind = if !j.demand_inner && (j.rel.may_be_empty() || parent_left) {
                JoinKind::LeftOuter
            } else {
                JoinKind::Inner
            };
        }
    }

    /// The alias of the table at `rel_path` (relative to this frame).
    pub fn alias(&self, rel_path: &RelPath, scope: Option<usize>) -> Result<&str> {
        if rel_path.is_root() {
            return Ok(&self.root_alias);
        }
        self.find(rel_path, scope)
            .map(|i| &*self.joins[i].alias)
            .ok_or_else(|| Error::InvalidInput(format!("no join was planned for `{rel_path:?}`")))
    }

    /// The parent alias of a join.
    pub fn parent_alias(&self, join: &Join) -> &Alias {
        match join.parent {
            Some(p) => &self.joins[p].alias,
            None => &self.root_alias,
        }
    }

    /// The join conditions of one join, as (`kind`, table, alias, ON pairs) steps: a
    /// many-to-many hop is two steps (the join table, then the target).
    pub fn steps(&self, join: &Join) -> Result<Vec<JoinStep>> {
        let parent_alias = self.parent_alias(join).clone();
        let target = (join.rel.target)();
        Ok(match join.rel.join_on()? {
            JoinOn::Direct {
                parent_column,
                target_column,
            } => vec![JoinStep {
                kind: join.kind,
                table: target.table,
                alias: join.alias.clone(),
                left: (join.alias.clone(), target_column),
                right: (parent_alias, parent_column),
            }],
            JoinOn::Through {
                through,
                parent_pk,
                target_pk,
            } => {
                let th = join
                    .through_alias
                    .clone()
                    .unwrap_or(Alias::Borrowed(through.table));
                vec![
                    JoinStep {
                        kind: join.kind,
                        table: through.table,
                        alias: th.clone(),
                        left: (th.clone(), through.parent_column),
                        right: (parent_alias, parent_pk),
                    },
                    JoinStep {
                        kind: join.kind,
                        table: target.table,
                        alias: join.alias.clone(),
                        left: (join.alias.clone(), target_pk),
                        right: (th, through.target_column),
                    },
                ]
            }
        })
    }
}

/// `{kind} JOIN table alias ON left = right`.
#[derive(Debug)]
pub struct JoinStep {
    pub kind: JoinKind,
    pub table: &'static str,
    pub alias: Alias,
    pub left: (Alias, &'static str),
    pub right: (Alias, &'static str),
}
