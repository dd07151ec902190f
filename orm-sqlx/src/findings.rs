//! What a list of captured statements says, beyond the list: the same statement sent
//! again with the same values (a duplicate: its result could have been reused), and the
//! same statement sent several times with different values (similar: often one query per
//! row of an earlier one, the N+1 pattern), as Django's debug toolbar marks them.

use std::collections::HashMap;
use std::sync::Arc;

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

/// The duplicate and similar statements of a capture ([`analyze`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Findings {
    /// Each set of statements with the same SQL and the same values (two or more), in the
    /// order of their first statement.
    pub duplicates: Vec<QueryGroup>,
    /// Each set of statements with the same SQL sent with at least two different lists of
    /// values (all of them, duplicates included), in the order of their first statement.
    pub similar: Vec<QueryGroup>,
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
        if q.kind.is_transaction_control() {
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
    findings
}
