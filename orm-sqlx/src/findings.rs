//! What a list of captured statements says, beyond the list: the same statement sent
//! again with the same values (a duplicate: its result could have been reused), and the
//! same statement sent several times with different values (similar: often one query per
//! row of an earlier one, the N+1 pattern), as Django's debug toolbar marks them.

use std::collections::HashMap;
use std::sync::Arc;

use std::panic::Location;

use orm_core::eval::observe::{LoadKind, eager_fix, relation_label};
use orm_core::relation::RelationMeta;

use crate::query_log::CapturedQuery;

/// Statements of one capture that share their SQL text.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryGroup {
    /// The SQL they share.
    pub sql: Arc<str>,
    /// Their positions in the captured list, in order.
    pub indexes: Vec<usize>,
}

impl QueryGroup {
    /// How many statements the group holds.
    pub fn count(&self) -> usize {
        self.indexes.len()
    }
}

/// A relation loaded lazily, one query per row, from one line of code: the N+1 pattern.
#[derive(Clone, Debug, PartialEq)]
pub struct NPlusOne {
    /// `Model.field`: `"Book.author"`.
    pub relation: String,
    /// The line that loaded it (the `load` call), when known.
    pub origin: Option<&'static std::panic::Location<'static>>,
    /// The lazy loads, by their positions in the captured list.
    pub indexes: Vec<usize>,
    /// What loads it with the rows instead: `select_related(|b| b.author())` for a
    /// relation to one row.
    pub fix: String,
}

impl std::fmt::Display for NPlusOne {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "N+1: {} loaded lazily {} times",
            self.relation,
            self.indexes.len()
        )?;
        if let Some(at) = self.origin {
            write!(f, " at {at}")?;
        }
        write!(f, "; load it with the rows: {}", self.fix)
    }
}

/// A relation loaded eagerly (`select_related`, `prefetch_related`) whose rows were never
/// read in the capture: its JOIN or query was work for nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct UnnecessaryLoad {
    /// The position of the statement that loaded it.
    pub index: usize,
    /// How it was loaded.
    pub kind: LoadKind,
    /// `Model.field`: `"Book.author"`.
    pub relation: String,
    /// What to remove: `select_related(|b| b.author())`.
    pub fix: String,
}

impl std::fmt::Display for UnnecessaryLoad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unnecessary eager load: {} was loaded (statement {}) but never read; remove {}",
            self.relation,
            self.index + 1,
            self.fix
        )
    }
}

/// What [`analyze`] found in a capture: duplicate and similar statements, N+1 lazy
/// loads, and eager loads never read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Findings {
    /// Each set of statements with the same SQL and the same values (two or more), in the
    /// order of their first statement.
    pub duplicates: Vec<QueryGroup>,
    /// Each set of statements with the same SQL sent with at least two different lists of
    /// values (all of them, duplicates included), in the order of their first statement.
    pub similar: Vec<QueryGroup>,
    /// Each relation loaded lazily two or more times from the same line, in the order of
    /// its first load.
    pub n_plus_one: Vec<NPlusOne>,
    /// Each `select_related` or `prefetch_related` relation whose loaded rows were never
    /// read before the capture ended, in statement order.
    pub unnecessary: Vec<UnnecessaryLoad>,
}

impl Findings {
    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.duplicates.is_empty()
            && self.similar.is_empty()
            && self.n_plus_one.is_empty()
            && self.unnecessary.is_empty()
    }
}

/// Group the statements of a capture into duplicates and similar ones. Transaction
/// control (`BEGIN`, `COMMIT`, savepoints) is left out: it repeats by design.
///
/// ```no_run
/// # use orm_sqlx::prelude::*;
/// # #[derive(Model)] pub struct Book { pub id: i64, pub author_id: i64 }
/// # #[derive(Model)] pub struct Author { pub id: i64 }
/// # async fn demo(db: &Db) -> orm_sqlx::Result<()> {
/// let (_, queries) = capture_queries(async {
///     for book in Book::objects().into_vec(db).await? {
///         Author::objects().get_pk(book.author_id, db).await?; // one query per book
///     }
///     Ok::<_, orm_sqlx::Error>(())
/// })
/// .await;
/// let findings = orm_sqlx::analyze(&queries);
/// for group in &findings.similar {
///     println!("{} times: {}", group.count(), group.sql);
/// }
/// # Ok(()) }
/// ```
pub fn analyze(queries: &[CapturedQuery]) -> Findings {
    // By text first (a hash of the string), then by values within a text (values hold
    // floats: compared, not hashed).
    let mut by_sql: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        // A result the query cache served cost the database nothing: not a duplicate.
        if q.kind.is_transaction_control() || !q.reached_database() {
            continue;
        }
        let entry = by_sql.entry(&q.sql).or_default();
        if entry.is_empty() {
            order.push(&q.sql);
        }
        entry.push(i);
    }
    let mut findings = Findings::default();
    for sql in order {
        let indexes = &by_sql[sql];
        if indexes.len() < 2 {
            continue;
        }
        // Sets of equal values, in order of first appearance.
        let mut sets: Vec<Vec<usize>> = Vec::new();
        for &i in indexes {
            match sets
                .iter_mut()
                .find(|set| queries[set[0]].params == queries[i].params)
            {
                Some(set) => set.push(i),
                None => sets.push(vec![i]),
            }
        }
        let shared: Arc<str> = queries[indexes[0]].sql.clone();
        for set in &sets {
            if set.len() > 1 {
                findings.duplicates.push(QueryGroup {
                    sql: shared.clone(),
                    indexes: set.clone(),
                });
            }
        }
        if sets.len() > 1 {
            findings.similar.push(QueryGroup {
                sql: shared,
                indexes: indexes.clone(),
            });
        }
    }
    findings.duplicates.sort_by_key(|g| g.indexes[0]);
    findings.n_plus_one = n_plus_one(queries);
    findings.unnecessary = unnecessary(queries);
    findings
}

/// Lazy loads grouped by relation and line; a group of two or more is an N+1.
fn n_plus_one(queries: &[CapturedQuery]) -> Vec<NPlusOne> {
    let mut groups: Vec<(
        &'static RelationMeta,
        Option<&'static Location<'static>>,
        Vec<usize>,
    )> = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        for load in q.loads.iter().filter(|l| l.kind == LoadKind::Lazy) {
            let Some(rel) = load.relation() else { continue };
            match groups
                .iter_mut()
                .find(|(r, o, _)| std::ptr::eq(*r, rel) && same_place(*o, q.origin))
            {
                Some((_, _, at)) => at.push(i),
                None => groups.push((rel, q.origin, vec![i])),
            }
        }
    }
    groups
        .into_iter()
        .filter(|(_, _, at)| at.len() > 1)
        .map(|(rel, origin, indexes)| NPlusOne {
            relation: relation_label(rel),
            origin,
            indexes,
            fix: eager_fix(rel),
        })
        .collect()
}

fn same_place(a: Option<&Location<'_>>, b: Option<&Location<'_>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        (None, None) => true,
        _ => false,
    }
}

/// Eager loads the capture never read.
fn unnecessary(queries: &[CapturedQuery]) -> Vec<UnnecessaryLoad> {
    let mut out = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        for load in &q.loads {
            if load.kind == LoadKind::Lazy || load.read != Some(false) {
                continue;
            }
            let method = match load.kind {
                LoadKind::SelectRelated => "select_related",
                _ => "prefetch_related",
            };
            out.push(UnnecessaryLoad {
                index: i,
                kind: load.kind,
                relation: load.label(),
                fix: format!("{method}({})", load.closure()),
            });
        }
    }
    out
}
