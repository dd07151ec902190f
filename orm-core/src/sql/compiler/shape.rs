//! The compiled-SQL cache: a SELECT compiled once per query *shape* (everything but the
//! values bound), its text reused for every later query of that shape.
//!
//! A query's shape is written as a key of machine words by [`shape_of`], which also
//! collects the query's values in the order it meets them. Two queries with one key
//! compile to the same text: the compiler's text depends on the query's structure, the
//! dialect, and of each value only on its *kind* — its variant, its type if it is NULL
//! (`= $1` against `IS NULL`, a NULL dropped from an `IN` list, the decimal collation on
//! SQLite, a JSON comparison) and a list's length (an `IN (?, ?, ?)` on SQLite and MySQL) —
//! all of which the key holds. Nothing of a value's content changes the text; the one
//! thing content changes, a value no backend can store faithfully (NaN, `NUL` in text), is
//! checked again on every hit and compiled fresh, so that its error is the compiler's.
//!
//! Where each parameter comes from is not guessed: on the first compilation of a shape the
//! writer records, for every value it binds, the address of the query's value it cloned
//! ([`Source`]). A parameter the compiler derived (a `LIKE` pattern, anything it built)
//! has no such address, and the shape is then never cached. On a hit, parameter `i` is
//! the clone of the value at the recorded position in the new query's walk, which
//! [`shape_of`] makes the same position for every query of the shape.
//!
//! Only the shapes [`shape_of`] knows are cached: conditions on columns (comparisons with
//! values, `IN` lists of up to [`MAX_IN_ITEMS`] values, `IS NULL`, `BETWEEN`,
//! `AND`/`OR`/`NOT`), orderings by columns, slices, `select_related`, `values()` of
//! columns, prefetch's extra columns and join table. A query with anything else (a
//! `LIKE`, a longer `IN` list, an expression, an aggregate, a subquery, an annotation, a
//! value in the SELECT list or the ordering) is compiled each time, as before. Its
//! matches name every variant and destructure [`Query`] whole, so a new field or variant
//! does not compile until it is decided here whether it changes the text.
//!
//! A slice's bounds are not in the key, only whether it has an offset and an end: the
//! LIMIT/OFFSET is the text's last part (checked when an entry is made), kept out of the
//! stored text and written for each hit's own bounds, so paging makes no shape per page.
//! An `IN` list's length is in the key (on SQLite and MySQL it is in the text).
//!
//! The cache is per thread (no lock on the hot path; compiling is synchronous) and holds
//! at most [`CAPACITY`] shapes; when full it starts again empty.

use super::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The most shapes one thread keeps.
const CAPACITY: usize = 512;

/// The longest key cached, in words.
const MAX_KEY_WORDS: usize = 256;

/// The longest `IN` list cached: a longer one (a prefetch's keys) is compiled each time.
const MAX_IN_ITEMS: usize = 16;

/// Where one bound parameter came from, recorded while a shape is compiled the first time.
#[derive(Clone, Debug)]
pub(super) enum Source {
    /// Built by the compiler: a shape with one is never cached.
    Derived,
    /// A clone of the query's value at this address (a number, only ever compared: the
    /// writer stays `Send`).
    At(usize),
    /// PostgreSQL's `= ANY($1)`: an array of these values of the query, in order.
    Array(SqlType, Vec<usize>),
}

/// The address [`Source`] records for a value of the query.
pub(super) fn address(v: &Value) -> usize {
    std::ptr::from_ref(v).addr()
}

/// A cached parameter: which of the walk's values it is.
#[derive(Clone, Debug)]
enum Param {
    Slot(u32),
    Array(SqlType, Vec<u32>),
}

struct Entry {
    /// The text up to its LIMIT/OFFSET, which a hit writes for its own slice.
    sql: String,
    tables: Vec<&'static str>,
    plan: Vec<SelectNode>,
    params: Vec<Param>,
}

/// A query's shape: its key, and its values in the order of the walk.
pub(super) struct Shape<'q> {
    key: Vec<usize>,
    values: Vec<&'q Value>,
}

/// Each shape's entry; `None` for a shape that cannot be cached (a parameter the
/// compiler derived).
type Shapes = HashMap<Box<[usize]>, Option<Entry>, BuildHasherDefault<WordHasher>>;

thread_local! {
    static CACHE: RefCell<Shapes> = RefCell::default();
    static STATS: std::cell::Cell<CacheStats> = const { std::cell::Cell::new(CacheStats { hits: 0, misses: 0 }) };
    static ENABLED: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
    /// The key's buffer, kept between compilations (a key is built for every query).
    static SCRATCH: std::cell::Cell<Vec<usize>> = const { std::cell::Cell::new(Vec::new()) };
}

/// How often this thread's compiled-SQL cache answered (for tests and benchmarks).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
}

/// This thread's compiled-SQL cache counters.
#[doc(hidden)]
pub fn compiled_sql_cache_stats() -> CacheStats {
    STATS.try_with(|s| s.get()).unwrap_or_default()
}

/// Turn this thread's compiled-SQL cache on or off (tests compare both; a benchmark
/// measures both), returning what it was.
#[doc(hidden)]
pub fn set_compiled_sql_cache(on: bool) -> bool {
    ENABLED.try_with(|e| e.replace(on)).unwrap_or(false)
}

fn count(f: impl FnOnce(&mut CacheStats)) {
    let _ = STATS.try_with(|s| {
        let mut v = s.get();
        f(&mut v);
        s.set(v)
    });
}

/// [`select_with_plan`]'s way through the cache. Every thread-local is reached with
/// `try_with`: a query compiled while the thread's locals are being destroyed is
/// compiled fresh.
pub(super) fn cached_select(q: &Query, dialect: Dialect) -> Result<(Statement, Vec<SelectNode>)> {
    if !ENABLED.try_with(|e| e.get()).unwrap_or(false) {
        return fresh(q, dialect, None);
    }
    let Some(shape) = shape_of(q, dialect) else {
        return fresh(q, dialect, None);
    };
    let out = through_cache(q, dialect, &shape);
    give_back(shape.key);
    out
}

/// The key's buffer goes back for the next query (a miss stored a copy), unless a long
/// key grew it.
fn give_back(mut key: Vec<usize>) {
    if key.capacity() <= 2 * MAX_KEY_WORDS {
        key.clear();
        let _ = SCRATCH.try_with(|s| s.set(key));
    }
}

fn through_cache(
    q: &Query,
    dialect: Dialect,
    shape: &Shape<'_>,
) -> Result<(Statement, Vec<SelectNode>)> {
    // `Some(None)`: known not to be cacheable; `Some(Some(None))`: a value to refuse.
    let hit = CACHE
        .try_with(|c| {
            let c = c.borrow();
            c.get(shape.key.as_slice())
                .map(|e| e.as_ref().map(|e| from_entry(e, shape, q, dialect)))
        })
        .ok()
        .flatten();
    match hit {
        Some(Some(Some(done))) => {
            count(|s| s.hits += 1);
            return Ok(done);
        }
        // The compiler says what.
        Some(_) => return fresh(q, dialect, None),
        None => {}
    }
    count(|s| s.misses += 1);
    let mut seen = Recorded::default();
    let (stmt, plan) = fresh(q, dialect, Some(&mut seen))?;
    let entry = to_entry(q, dialect, &stmt, &plan, &seen, shape);
    let _ = CACHE.try_with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CAPACITY {
            c.clear();
        }
        c.insert(shape.key.as_slice().into(), entry);
    });
    Ok((stmt, plan))
}

/// What the writer recorded while compiling a shape the first time.
#[derive(Default)]
struct Recorded {
    /// Where each parameter came from.
    sources: Vec<Source>,
    /// Where the LIMIT/OFFSET starts in the text (its end if there is none).
    limits_at: usize,
}

/// Compile `q`, recording where its parameters come from if asked.
fn fresh(
    q: &Query,
    dialect: Dialect,
    record: Option<&mut Recorded>,
) -> Result<(Statement, Vec<SelectNode>)> {
    let mut w = SqlWriter::new(dialect, q.meta);
    if record.is_some() {
        w.sources = Some(Vec::new());
    }
    let selected = write_select(&mut w, q, true)?;
    if let Some(out) = record {
        out.sources = w.sources.take().unwrap_or_default();
        out.limits_at = w.limits_at;
    }
    Ok((w.finish()?, selected))
}

/// The entry for a shape just compiled, or `None` if a parameter is not one of the
/// query's values.
fn to_entry(
    q: &Query,
    dialect: Dialect,
    stmt: &Statement,
    plan: &[SelectNode],
    seen: &Recorded,
    shape: &Shape<'_>,
) -> Option<Entry> {
    let Tables::Read(tables) = &stmt.tables else {
        return None;
    };
    let sources = &seen.sources;
    if sources.len() != stmt.params.len() {
        return None;
    }
    // The LIMIT/OFFSET must be the text's last part, as a hit writes it.
    let (before, limits) = stmt.sql.split_at_checked(seen.limits_at)?;
    let mut expected = String::new();
    write_limits(&mut expected, dialect, q.low, q.high);
    if limits != expected {
        return None;
    }
    // Parameters mostly come in the walk's order: look from after the last one found.
    let mut next = 0;
    let mut slot = |p: usize| -> Option<u32> {
        let n = shape.values.len();
        let i = (0..n)
            .map(|k| (next + k) % n)
            .find(|&i| address(shape.values[i]) == p)?;
        next = i + 1;
        u32::try_from(i).ok()
    };
    let mut params = Vec::with_capacity(sources.len());
    for s in sources {
        params.push(match s {
            Source::Derived => return None,
            Source::At(p) => Param::Slot(slot(*p)?),
            Source::Array(ty, ps) => Param::Array(
                *ty,
                ps.iter().map(|p| slot(*p)).collect::<Option<Vec<_>>>()?,
            ),
        });
    }
    Some(Entry {
        sql: before.to_owned(),
        tables: tables.clone(),
        plan: plan.to_vec(),
        params,
    })
}

/// The statement of a hit, or `None` if a value must be refused (compiled fresh for the
/// compiler's error).
fn from_entry(
    e: &Entry,
    shape: &Shape<'_>,
    q: &Query,
    dialect: Dialect,
) -> Option<(Statement, Vec<SelectNode>)> {
    let support = dialect.value_support();
    let value = |i: u32| -> Option<Value> {
        let v = shape.values.get(i as usize)?;
        v.is_faithful_on(support).then(|| (*v).clone())
    };
    let mut params = Vec::with_capacity(e.params.len());
    for p in &e.params {
        params.push(match p {
            Param::Slot(i) => value(*i)?,
            Param::Array(ty, idx) => Value::List(
                *ty,
                idx.iter().map(|i| value(*i)).collect::<Option<Vec<_>>>()?,
            ),
        });
    }
    let mut sql = String::with_capacity(e.sql.len() + 40);
    sql.push_str(&e.sql);
    write_limits(&mut sql, dialect, q.low, q.high);
    Some((
        Statement {
            sql,
            params,
            tables: Tables::Read(e.tables.clone()),
        },
        e.plan.clone(),
    ))
}

/// The shape of `q` on `dialect`, or `None` if it holds something this cache does not
/// know (compiled fresh each time).
pub(super) fn shape_of(q: &Query, dialect: Dialect) -> Option<Shape<'_>> {
    let mut key = SCRATCH.try_with(|s| s.take()).unwrap_or_default();
    key.reserve(32);
    let mut s = Shape {
        key,
        values: Vec::with_capacity(8),
    };
    if walk(&mut s, q, dialect).is_some() && s.key.len() <= MAX_KEY_WORDS {
        return Some(s);
    }
    give_back(s.key);
    None
}

/// Write `q`'s shape into `s`: `None` as soon as it holds something not cached.
fn walk<'q>(s: &mut Shape<'q>, q: &'q Query, dialect: Dialect) -> Option<()> {
    // Whole, so that a new field does not compile until it is decided here.
    let Query {
        meta,
        select,
        filter,
        order_by,
        standard_ordering,
        distinct,
        low,
        high,
        empty,
        select_related,
        // Read after the rows, never by the SELECT's compiler.
        prefetch: _,
        extra,
        through,
        annotations,
        group_by_model,
        // What evaluation records and caches, not what the SQL says.
        related_of: _,
        cache_ttl: _,
    } = q;
    if !annotations.is_empty() || *group_by_model {
        return None;
    }
    s.word(*meta as *const ModelMeta as usize);
    s.word(dialect as usize);
    match select {
        Select::Model => s.word(0),
        Select::Terms(terms) => {
            s.word(1);
            s.word(terms.len());
            for t in terms {
                s.plain(t)?;
            }
        }
    }
    s.word(filter.len());
    for c in filter.iter() {
        s.cond(c)?;
    }
    s.word(order_by.len());
    for o in order_by {
        s.plain(&o.term)?;
        s.word(o.descending as usize);
    }
    s.word(*standard_ordering as usize);
    s.word(*distinct as usize);
    s.word(*empty as usize);
    // Only whether there is an offset and an end: the LIMIT/OFFSET is the text's last
    // part, written for each hit's own slice (paging makes no shape per page).
    s.word((*low > 0) as usize);
    s.word(high.is_some() as usize);
    s.word(select_related.len());
    for p in select_related {
        s.path(p);
    }
    s.word(extra.len());
    for t in extra {
        s.plain(t)?;
    }
    match through {
        None => s.word(0),
        Some(t) => {
            s.word(t.through as *const ThroughMeta as usize);
            s.str(t.target_pk);
        }
    }
    Some(())
}

impl<'q> Shape<'q> {
    fn word(&mut self, w: usize) {
        self.key.push(w);
    }

    /// A `&'static str` by address and length: a name from a model's metadata, never
    /// freed, so the same address is always the same text.
    fn str(&mut self, s: &'static str) {
        self.word(s.as_ptr() as usize);
        self.word(s.len());
    }

    fn path(&mut self, p: &RelPath) {
        self.word(p.len());
        self.word(p.overflowed() as usize);
        for hop in p.hops() {
            self.word(hop as *const crate::schema::relation::RelationMeta as usize);
        }
    }

    fn column(&mut self, c: &ColumnRef) {
        self.path(&c.path);
        self.str(c.column);
        self.word(c.nullable as usize);
    }

    /// A term of the SELECT list, the ordering or the extra columns: a column only. The
    /// compiler compares these terms with each other by content (an ordering term
    /// already selected under DISTINCT is not selected again, and is ordered by its
    /// position), so a value there would make the text depend on the value itself.
    fn plain(&mut self, t: &'q Term) -> Option<()> {
        match t {
            Term::Column(_) | Term::TableColumn { .. } => self.term(t),
            _ => None,
        }
    }

    fn term(&mut self, t: &'q Term) -> Option<()> {
        match t {
            Term::Column(c) => {
                self.word(1);
                self.column(c);
            }
            Term::TableColumn { table, column } => {
                self.word(2);
                self.str(table);
                self.str(column);
            }
            Term::Value(v) => {
                self.word(3);
                self.value(v);
            }
            Term::Arith(..)
            | Term::Aggregate(_)
            | Term::Coalesce(..)
            | Term::Subquery(_)
            | Term::Outer(_) => return None,
        }
        Some(())
    }

    /// A value's kind in the key, the value itself in the walk.
    fn value(&mut self, v: &'q Value) {
        self.kind(v);
        self.values.push(v);
    }

    /// What of a value can change the text: its variant, a NULL's type, a list's length
    /// and its items' kinds.
    fn kind(&mut self, v: &Value) {
        let tag = match v {
            Value::Null(t) => {
                self.word(0);
                self.word(*t as usize);
                return;
            }
            Value::List(t, items) => {
                self.word(1);
                self.word(*t as usize);
                self.word(items.len());
                for i in items {
                    self.kind(i);
                }
                return;
            }
            Value::Bool(_) => 2,
            Value::I16(_) => 3,
            Value::I32(_) => 4,
            Value::I64(_) => 5,
            Value::F32(_) => 6,
            Value::F64(_) => 7,
            Value::Text(_) => 8,
            Value::Bytes(_) => 9,
            #[cfg(feature = "chrono")]
            Value::Date(_) => 10,
            #[cfg(feature = "chrono")]
            Value::Time(_) => 11,
            #[cfg(feature = "chrono")]
            Value::DateTime(_) => 12,
            #[cfg(feature = "chrono")]
            Value::DateTimeTz(_) => 13,
            #[cfg(feature = "uuid")]
            Value::Uuid(_) => 14,
            #[cfg(feature = "decimal")]
            Value::Decimal(_) => 15,
            #[cfg(feature = "json")]
            Value::Json(_) => 16,
        };
        self.word(tag);
    }

    fn cond(&mut self, c: &'q Cond) -> Option<()> {
        match c {
            Cond::Compare { lhs, op, rhs } => {
                self.word(1);
                self.word(*op as usize);
                self.term(lhs)?;
                self.term(rhs)?;
            }
            Cond::IsNull { lhs, is_null } => {
                self.word(2);
                self.word(*is_null as usize);
                self.term(lhs)?;
            }
            // A long list is compiled each time: walking, hashing and comparing it in
            // the key costs more than compiling it (PostgreSQL binds it as one array
            // whatever its length), and each length is another shape.
            Cond::In { values, .. } if values.len() > MAX_IN_ITEMS => return None,
            Cond::In { lhs, values } => {
                self.word(3);
                self.term(lhs)?;
                self.word(values.len());
                for v in values {
                    self.value(v);
                }
            }
            Cond::Between { lhs, low, high } => {
                self.word(4);
                self.term(lhs)?;
                self.term(low)?;
                self.term(high)?;
            }
            Cond::And(parts) | Cond::Or(parts) => {
                self.word(if matches!(c, Cond::And(_)) { 5 } else { 6 });
                self.word(parts.len());
                for p in parts {
                    self.cond(p)?;
                }
            }
            Cond::Not(inner) => {
                self.word(7);
                self.cond(inner)?;
            }
            Cond::Const(b) => {
                self.word(8);
                self.word(*b as usize);
            }
            Cond::Like { .. } | Cond::Regex { .. } | Cond::InQuery { .. } | Cond::Exists(_) => {
                return None;
            }
        }
        Some(())
    }
}

/// A hasher for keys of machine words (addresses, tags, lengths: nothing a user chooses
/// but a list's length), FxHash's multiply-and-rotate: SipHash would cost as much as a
/// quarter of the compilation it saves.
#[derive(Default)]
pub(super) struct WordHasher(u64);

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    /// A slice of words comes here as its bytes: a word at a time.
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            self.write_u64(u64::from_ne_bytes(b));
        }
        for b in words.remainder() {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}
