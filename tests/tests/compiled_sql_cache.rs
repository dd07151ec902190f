//! Issue 16, item 4: the compiled-SQL cache (`orm-core/src/sql/compiler/shape.rs`) gives
//! every query exactly the statement a fresh compilation gives it.
//!
//! The property: a recipe (filters nested with AND/OR/NOT, `IN` lists, `IS NULL`,
//! comparisons across relations, `LIKE`, ordering, slices, `select_related`, `values()`,
//! `distinct`) built twice from two value seeds gives two queries, usually of one shape
//! (not when a value's NULL-ness or kind differs, which must then be another shape). The
//! first is compiled through the cache (filling it), then the second, then both again
//! with the cache off: the statements (SQL, parameters, tables) and the errors (a NaN, a
//! `None` compared with `gt`) agree on every dialect. The run must also have been
//! answered by the cache often, or it proved nothing.
//!
//! Then on each backend, evaluating queries of one shape with other values reads the
//! right rows, one query each, from the cache.

use orm_sqlx::Value;
use orm_sqlx::core::compiler::{compiled_sql_cache_stats, set_compiled_sql_cache};
use orm_sqlx::prelude::*;
use orm_sqlx::{Dialect, Q};
use orm_tests::library::{Author, Book, Tag};
use orm_tests::with_library;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// A model with a field of each kind of value the compiler treats apart (decimals are
/// collated on SQLite, JSON compared as text, floats can be NaN, a nullable text).
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "kinds")]
struct Kinds {
    id: i64,
    price: rust_decimal::Decimal,
    ratio: f64,
    at: chrono::NaiveDateTime,
    doc: serde_json::Value,
    flag: bool,
    note: Option<String>,
    small: i16,
    single: f32,
    blob: Vec<u8>,
    day: chrono::NaiveDate,
    time: chrono::NaiveTime,
    stamp: chrono::DateTime<chrono::Utc>,
    key: uuid::Uuid,
    extra: Option<serde_json::Value>,
}

/// A deterministic source of values (splitmix64), so that one recipe built from two
/// seeds differs only in its values.
struct Vals(u64);

impl Vals {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn pick(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn i64(&mut self) -> i64 {
        self.pick(60) as i64 - 5
    }
    fn i32(&mut self) -> i32 {
        self.pick(90) as i32
    }
    /// `None` one time in four.
    fn opt_i32(&mut self) -> Option<i32> {
        (self.pick(4) != 0).then(|| self.i32())
    }
    fn text(&mut self) -> String {
        ["", "Alice", "B1", "a%b_c", "O'Neil", "\\", "ümlaut", "x\"y"][self.pick(8) as usize].into()
    }
    fn opt_text(&mut self) -> Option<String> {
        (self.pick(4) != 0).then(|| self.text())
    }
    /// NaN or an infinity sometimes: refused (everywhere, or on MySQL only).
    fn f64(&mut self) -> f64 {
        match self.pick(10) {
            0 => f64::NAN,
            1 => f64::INFINITY,
            _ => self.pick(1000) as f64 / 8.0,
        }
    }
    fn dec(&mut self) -> rust_decimal::Decimal {
        rust_decimal::Decimal::new(self.pick(100_000) as i64 - 50_000, self.pick(5) as u32)
    }
    fn at(&mut self) -> chrono::NaiveDateTime {
        chrono::DateTime::from_timestamp(self.pick(2_000_000_000) as i64, 0)
            .unwrap()
            .naive_utc()
    }
    fn json(&mut self) -> serde_json::Value {
        match self.pick(3) {
            0 => serde_json::json!(self.pick(9)),
            1 => serde_json::json!({"k": self.text()}),
            _ => serde_json::json!([self.text()]),
        }
    }
}

/// A lookup of an author, its value drawn when built.
#[derive(Clone, Debug)]
enum Leaf {
    IdEq,
    IdGt,
    IdRange,
    AgeEq,
    /// `gt` with an `Option`: `None` is refused by the compiler.
    AgeGt,
    AgeIsNull(bool),
    NameEq,
    NameContains,
    /// Longer than 16 sometimes: compiled each time.
    IdIn(usize),
    /// Some of its items are `None` (dropped from the list).
    AgeIn(usize),
    NameIn(usize),
    CountryName,
    BookTitle,
    BookPagesGte,
}

#[derive(Clone, Debug)]
enum Tree {
    Leaf(Leaf),
    And(Vec<Tree>),
    Or(Vec<Tree>),
    Not(Box<Tree>),
}

#[derive(Clone, Debug)]
struct Recipes {
    filters: Vec<(bool, Tree)>,
    order: Vec<(u8, bool)>,
    reverse: bool,
    slice: Option<(usize, Option<usize>)>,
    related: bool,
    distinct: bool,
    /// The model's columns (0), or `values()` of `(id, name)` (1) or `(id, age)` (2).
    values: u8,
}

/// A lookup on `Kinds`, and a recipe over it.
#[derive(Clone, Debug)]
enum KindLeaf {
    PriceEq,
    PriceIn(usize),
    RatioLt,
    RatioIn(usize),
    AtGte,
    DocEq,
    DocIn(usize),
    FlagEq,
    NoteEq,
    NoteIn(usize),
    SmallGt,
    SingleLte,
    BlobEq,
    DayIn(usize),
    TimeLt,
    StampGte,
    KeyIn(usize),
    ExtraEq,
}

fn leaf() -> impl Strategy<Value = Leaf> {
    prop_oneof![
        Just(Leaf::IdEq),
        Just(Leaf::IdGt),
        Just(Leaf::IdRange),
        Just(Leaf::AgeEq),
        Just(Leaf::AgeGt),
        any::<bool>().prop_map(Leaf::AgeIsNull),
        Just(Leaf::NameEq),
        Just(Leaf::NameContains),
        (0..20usize).prop_map(Leaf::IdIn),
        (0..4usize).prop_map(Leaf::AgeIn),
        (0..4usize).prop_map(Leaf::NameIn),
        Just(Leaf::CountryName),
        Just(Leaf::BookTitle),
        Just(Leaf::BookPagesGte),
    ]
}

fn tree() -> impl Strategy<Value = Tree> {
    leaf()
        .prop_map(Tree::Leaf)
        .prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..3).prop_map(Tree::And),
                prop::collection::vec(inner.clone(), 1..3).prop_map(Tree::Or),
                inner.prop_map(|t| Tree::Not(Box::new(t))),
            ]
        })
}

fn recipe() -> impl Strategy<Value = Recipes> {
    (
        prop::collection::vec((any::<bool>(), tree()), 0..3),
        prop::collection::vec((0..4u8, any::<bool>()), 0..3),
        any::<bool>(),
        prop::option::of((0..3usize, prop::option::of(3..6usize))),
        any::<bool>(),
        any::<bool>(),
        0..3u8,
    )
        .prop_map(
            |(filters, order, reverse, slice, related, distinct, values)| Recipes {
                filters,
                order,
                reverse,
                slice,
                related,
                distinct,
                values,
            },
        )
}

fn kind_leaf() -> impl Strategy<Value = KindLeaf> {
    prop_oneof![
        Just(KindLeaf::PriceEq),
        (0..4usize).prop_map(KindLeaf::PriceIn),
        Just(KindLeaf::RatioLt),
        (0..4usize).prop_map(KindLeaf::RatioIn),
        Just(KindLeaf::AtGte),
        Just(KindLeaf::DocEq),
        (0..3usize).prop_map(KindLeaf::DocIn),
        Just(KindLeaf::FlagEq),
        Just(KindLeaf::NoteEq),
        (0..4usize).prop_map(KindLeaf::NoteIn),
        Just(KindLeaf::SmallGt),
        Just(KindLeaf::SingleLte),
        Just(KindLeaf::BlobEq),
        (0..4usize).prop_map(KindLeaf::DayIn),
        Just(KindLeaf::TimeLt),
        Just(KindLeaf::StampGte),
        (0..4usize).prop_map(KindLeaf::KeyIn),
        Just(KindLeaf::ExtraEq),
    ]
}

fn build_leaf(l: &Leaf, v: &mut Vals) -> Q<Author> {
    let a = Author::fields();
    match l {
        Leaf::IdEq => a.id.eq(v.i64()),
        Leaf::IdGt => a.id.gt(v.i64()),
        Leaf::IdRange => {
            let lo = v.i64();
            a.id.range(lo, lo + v.i64())
        }
        Leaf::AgeEq => a.age.eq(v.opt_i32()),
        Leaf::AgeGt => a.age.gt(v.opt_i32()),
        Leaf::AgeIsNull(b) => a.age.is_null(*b),
        Leaf::NameEq => a.name.eq(v.text()),
        Leaf::NameContains => a.name.contains(&v.text()),
        Leaf::IdIn(n) => a.id.is_in((0..*n).map(|_| v.i64()).collect::<Vec<_>>()),
        Leaf::AgeIn(n) => a
            .age
            .is_in((0..*n).map(|_| v.opt_i32()).collect::<Vec<_>>()),
        Leaf::NameIn(n) => a.name.is_in((0..*n).map(|_| v.text()).collect::<Vec<_>>()),
        Leaf::CountryName => a.country().name.eq(v.text()),
        Leaf::BookTitle => a.books().title.eq(v.text()),
        Leaf::BookPagesGte => a.books().pages.gte(v.i32()),
    }
}

fn build_tree(t: &Tree, v: &mut Vals) -> Q<Author> {
    match t {
        Tree::Leaf(l) => build_leaf(l, v),
        Tree::And(parts) => parts
            .iter()
            .map(|p| build_tree(p, v))
            .reduce(|a, b| a & b)
            .unwrap(),
        Tree::Or(parts) => parts
            .iter()
            .map(|p| build_tree(p, v))
            .reduce(|a, b| a | b)
            .unwrap(),
        Tree::Not(inner) => !build_tree(inner, v),
    }
}

/// The recipe's queryset with values from `seed`, as its statement on `dialect`
/// (`Debug` text: a NaN parameter is not equal to itself).
fn statement(r: &Recipes, seed: u64, dialect: Dialect) -> String {
    let mut v = Vals(seed);
    let mut qs = Author::objects();
    for (exclude, t) in &r.filters {
        let q = build_tree(t, &mut v);
        qs = if *exclude {
            qs.exclude(|_| q)
        } else {
            qs.filter(|_| q)
        };
    }
    for (field, desc) in &r.order {
        let a = Author::fields();
        let by = match (field, desc) {
            (1, false) => a.name.asc(),
            (1, true) => a.name.desc(),
            (2, false) => a.age.asc(),
            (2, true) => a.age.desc(),
            (3, false) => a.country().name.asc(),
            (3, true) => a.country().name.desc(),
            (_, false) => a.id.asc(),
            (_, true) => a.id.desc(),
        };
        qs = qs.order_by(|_| by);
    }
    if r.reverse {
        qs = qs.reverse();
    }
    if r.related {
        qs = qs.select_related(|a| a.country());
    }
    if r.distinct {
        qs = qs.distinct();
    }
    if let Some((lo, hi)) = r.slice {
        qs = match hi {
            Some(hi) => qs.slice(lo..hi),
            None => qs.slice(lo..),
        };
    }
    match r.values {
        1 => format!("{:?}", qs.values(|a| (a.id, a.name)).statement(dialect)),
        2 => format!("{:?}", qs.values(|a| (a.id, a.age)).statement(dialect)),
        _ => format!("{:?}", qs.statement(dialect)),
    }
}

fn kind_statement(leaves: &[KindLeaf], seed: u64, dialect: Dialect) -> String {
    let mut v = Vals(seed);
    let k = Kinds::fields();
    let mut qs = Kinds::objects();
    for l in leaves {
        let q = match l {
            KindLeaf::PriceEq => k.price.eq(v.dec()),
            KindLeaf::PriceIn(n) => k.price.is_in((0..*n).map(|_| v.dec()).collect::<Vec<_>>()),
            KindLeaf::RatioLt => k.ratio.lt(v.f64()),
            KindLeaf::RatioIn(n) => k.ratio.is_in((0..*n).map(|_| v.f64()).collect::<Vec<_>>()),
            KindLeaf::AtGte => k.at.gte(v.at()),
            KindLeaf::DocEq => k.doc.eq(v.json()),
            KindLeaf::DocIn(n) => k.doc.is_in((0..*n).map(|_| v.json()).collect::<Vec<_>>()),
            KindLeaf::FlagEq => k.flag.eq(v.pick(2) == 0),
            KindLeaf::NoteEq => k.note.eq(v.opt_text()),
            KindLeaf::NoteIn(n) => k
                .note
                .is_in((0..*n).map(|_| v.opt_text()).collect::<Vec<_>>()),
            KindLeaf::SmallGt => k.small.gt(v.pick(200) as i16 - 100),
            KindLeaf::SingleLte => k.single.lte(v.f64() as f32),
            KindLeaf::BlobEq => k.blob.eq(v.text().into_bytes()),
            KindLeaf::DayIn(n) => k
                .day
                .is_in((0..*n).map(|_| v.at().date()).collect::<Vec<_>>()),
            KindLeaf::TimeLt => k.time.lt(v.at().time()),
            KindLeaf::StampGte => k.stamp.gte(v.at().and_utc()),
            KindLeaf::KeyIn(n) => k.key.is_in(
                (0..*n)
                    .map(|_| uuid::Uuid::from_u64_pair(v.next(), v.next()))
                    .collect::<Vec<_>>(),
            ),
            KindLeaf::ExtraEq => k.extra.eq((v.pick(3) != 0).then(|| v.json())),
        };
        qs = qs.filter(|_| q);
    }
    format!("{:?}", qs.statement(dialect))
}

/// What the property needs of a recipe besides building it.
trait Recipe: std::fmt::Debug {
    /// The recipes one structural step away (another operator, AND for OR, a flag
    /// flipped…): compiled after this one, each must get its own text, never this one's.
    fn neighbours(&self) -> Vec<Self>
    where
        Self: Sized;
    /// Whether the cache keeps its shape (no `LIKE`, no long `IN` list).
    fn cacheable(&self) -> bool;
}

/// `of(seed)` through the cache and fresh.
fn both(of: &impl Fn(u64) -> String, seed: u64) -> (String, String) {
    set_compiled_sql_cache(true);
    let cached = of(seed);
    set_compiled_sql_cache(false);
    let fresh = of(seed);
    set_compiled_sql_cache(true);
    (cached, fresh)
}

/// Compile `of(seed_a)` and then `of(seed_b)` through the cache, then both fresh: each
/// must be what the cache said; a cacheable query compiled again is a hit.
fn agree(
    of: impl Fn(u64) -> String,
    seeds: (u64, u64),
    cacheable: bool,
) -> Result<(), TestCaseError> {
    let (a, a_fresh) = both(&of, seeds.0);
    let (b, b_fresh) = both(&of, seeds.1);
    let hits = compiled_sql_cache_stats().hits;
    let again = of(seeds.1);
    let hit = compiled_sql_cache_stats().hits - hits;
    prop_assert_eq!(&a, &a_fresh, "the first query, through the cache");
    prop_assert_eq!(&b, &b_fresh, "the second query, same recipe, other values");
    prop_assert_eq!(&again, &b_fresh, "the second query again");
    if cacheable && b_fresh.starts_with("Ok(Some(") {
        prop_assert_eq!(
            hit,
            1,
            "a cacheable query compiled again comes from the cache"
        );
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("ORM_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

/// Run the property over `strategy`'s recipes: `of(recipe, seed, dialect)` is a recipe's
/// statement with values from `seed`. Each recipe's neighbours are compiled right after
/// it with the same values, so a key that leaves out something the text depends on
/// serves one of them the recipe's text.
fn check_property<S: Strategy>(strategy: S, of: impl Fn(&S::Value, u64, Dialect) -> String)
where
    S::Value: Recipe,
{
    let before = compiled_sql_cache_stats();
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&(strategy, any::<(u64, u64)>()), |(r, seeds)| {
            for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
                agree(|seed| of(&r, seed, dialect), seeds, r.cacheable())?;
                for n in r.neighbours() {
                    set_compiled_sql_cache(true);
                    of(&r, seeds.0, dialect);
                    let (cached, fresh) = both(&|seed| of(&n, seed, dialect), seeds.0);
                    prop_assert_eq!(cached, fresh, "{:?}, after {:?}", n, r);
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let after = compiled_sql_cache_stats();
    let (hits, misses) = (after.hits - before.hits, after.misses - before.misses);
    assert!(
        hits > u64::from(cases()),
        "the cache answered {hits} times (missed {misses}): the property was hardly tested"
    );
}

fn sibling(l: &Leaf) -> Leaf {
    match l {
        Leaf::IdEq => Leaf::IdGt,
        Leaf::IdGt => Leaf::IdEq,
        Leaf::IdRange => Leaf::IdGt,
        Leaf::AgeEq => Leaf::AgeGt,
        Leaf::AgeGt => Leaf::AgeEq,
        Leaf::AgeIsNull(b) => Leaf::AgeIsNull(!b),
        Leaf::NameEq => Leaf::NameContains,
        Leaf::NameContains => Leaf::NameEq,
        Leaf::IdIn(n) => Leaf::IdIn(n + 1),
        Leaf::AgeIn(n) => Leaf::AgeIn(n + 1),
        Leaf::NameIn(n) => Leaf::NameIn(n + 1),
        Leaf::CountryName => Leaf::BookTitle,
        Leaf::BookTitle => Leaf::CountryName,
        Leaf::BookPagesGte => Leaf::IdGt,
    }
}

fn nodes(t: &Tree) -> usize {
    1 + match t {
        Tree::Leaf(_) => 0,
        Tree::And(p) | Tree::Or(p) => p.iter().map(nodes).sum(),
        Tree::Not(x) => nodes(x),
    }
}

/// `t` with its node number `k` (depth first) changed one step.
fn mutate(t: &Tree, k: &mut usize) -> Tree {
    if *k == 0 {
        *k = usize::MAX;
        return match t {
            Tree::Leaf(l) => Tree::Leaf(sibling(l)),
            Tree::And(p) => Tree::Or(p.clone()),
            Tree::Or(p) => Tree::And(p.clone()),
            Tree::Not(x) => (**x).clone(),
        };
    }
    *k -= 1;
    match t {
        Tree::Leaf(l) => Tree::Leaf(l.clone()),
        Tree::And(p) => Tree::And(p.iter().map(|c| mutate(c, k)).collect()),
        Tree::Or(p) => Tree::Or(p.iter().map(|c| mutate(c, k)).collect()),
        Tree::Not(x) => Tree::Not(Box::new(mutate(x, k))),
    }
}

fn leaves(t: &Tree) -> Vec<&Leaf> {
    match t {
        Tree::Leaf(l) => vec![l],
        Tree::And(p) | Tree::Or(p) => p.iter().flat_map(leaves).collect(),
        Tree::Not(x) => leaves(x),
    }
}

impl Recipe for Recipes {
    fn neighbours(&self) -> Vec<Recipes> {
        let mut out = Vec::new();
        let mut with = |f: &dyn Fn(&mut Recipes)| {
            let mut r = self.clone();
            f(&mut r);
            out.push(r);
        };
        with(&|r| r.related = !r.related);
        with(&|r| r.distinct = !r.distinct);
        with(&|r| r.reverse = !r.reverse);
        with(&|r| r.values = (r.values + 1) % 3);
        with(&|r| r.values = (r.values + 2) % 3);
        with(&|r| {
            r.slice = match r.slice {
                None => Some((1, Some(4))),
                Some((lo, hi)) => Some((lo + 1, hi)),
            }
        });
        with(&|r| {
            r.slice = match r.slice {
                Some((lo, Some(hi))) => Some((lo, Some(hi + 1))),
                _ => Some((2, None)),
            }
        });
        with(&|r| r.order.push((0, false)));
        for i in 0..self.order.len() {
            with(&|r| r.order[i].1 = !r.order[i].1);
            with(&|r| r.order[i].0 = (r.order[i].0 + 1) % 4);
        }
        for i in 0..self.filters.len() {
            with(&|r| r.filters[i].0 = !r.filters[i].0);
            for k in 0..nodes(&self.filters[i].1) {
                with(&|r| r.filters[i].1 = mutate(&r.filters[i].1, &mut { k }));
            }
        }
        out
    }

    fn cacheable(&self) -> bool {
        self.filters.iter().flat_map(|(_, t)| leaves(t)).all(|l| {
            !matches!(l, Leaf::NameContains)
                && !matches!(l, Leaf::IdIn(n) | Leaf::AgeIn(n) | Leaf::NameIn(n) if *n > 16)
        })
    }
}

impl Recipe for Vec<KindLeaf> {
    fn neighbours(&self) -> Vec<Vec<KindLeaf>> {
        let all = [
            KindLeaf::PriceEq,
            KindLeaf::PriceIn(2),
            KindLeaf::RatioLt,
            KindLeaf::RatioIn(2),
            KindLeaf::AtGte,
            KindLeaf::DocEq,
            KindLeaf::DocIn(2),
            KindLeaf::FlagEq,
            KindLeaf::NoteEq,
            KindLeaf::NoteIn(2),
            KindLeaf::SmallGt,
            KindLeaf::SingleLte,
            KindLeaf::BlobEq,
            KindLeaf::DayIn(2),
            KindLeaf::TimeLt,
            KindLeaf::StampGte,
            KindLeaf::KeyIn(2),
            KindLeaf::ExtraEq,
        ];
        let mut out = Vec::new();
        for i in 0..self.len() {
            for other in &all {
                let mut r = self.clone();
                r[i] = other.clone();
                out.push(r);
            }
        }
        out
    }

    fn cacheable(&self) -> bool {
        true
    }
}

#[test]
fn cached_and_fresh_compilation_agree() {
    check_property(recipe(), statement);
}

#[test]
fn cached_and_fresh_compilation_agree_on_every_kind_of_value() {
    check_property(
        prop::collection::vec(kind_leaf(), 1..4),
        |leaves, seed, dialect| kind_statement(leaves, seed, dialect),
    );
}

/// A NULL changes the text (`= ?` against `IS NULL`), a list's length does on SQLite
/// and MySQL, a `None` in an `IN` list is dropped: each is its own shape, never served
/// the text of another.
#[test]
fn the_shapes_that_look_alike_stay_apart() {
    let a = Author::fields();
    for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
        let sql = |q: Q<Author>| {
            Author::objects()
                .filter(|_| q)
                .statement(dialect)
                .unwrap()
                .unwrap()
        };
        let some = sql(a.age.eq(Some(3)));
        let none = sql(a.age.eq(None::<i32>));
        assert!(some.sql.contains("= "), "{}", some.sql);
        assert!(none.sql.contains("IS NULL"), "{}", none.sql);
        let two = sql(a.id.is_in([1i64, 2]));
        let three = sql(a.id.is_in([1i64, 2, 3]));
        let with_none = sql(a.age.is_in([Some(1), None, Some(3)]));
        let without = sql(a.age.is_in([Some(1), Some(3)]));
        assert_eq!(with_none, without, "None is dropped from an IN list");
        if dialect == Dialect::Postgres {
            assert_eq!(two.sql, three.sql, "one array parameter");
            assert_eq!(two.params.len(), 1);
        } else {
            assert_ne!(two.sql, three.sql);
            assert_eq!((two.params.len(), three.params.len()), (2, 3));
        }
        // A value to refuse is refused on a hit as on a miss.
        let k = Kinds::fields();
        let ratio = |x: f64| {
            Kinds::objects()
                .filter(|_| k.ratio.lt(x))
                .statement(dialect)
        };
        assert!(ratio(1.5).is_ok());
        let nan = ratio(f64::NAN).unwrap_err().to_string();
        assert!(nan.contains("Kinds.ratio"), "{nan}");
        assert_eq!(ratio(f64::INFINITY).is_err(), dialect == Dialect::Mysql);
    }
}

/// Paging is one shape (two: the first page has no offset), each page's LIMIT/OFFSET
/// written for its own bounds: 600 pages do not fill the cache with a text per page.
#[test]
fn paging_through_offsets_is_one_shape() {
    for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
        let page = |n: usize| {
            Author::objects()
                .filter(|a| a.age.gte(18))
                .order_by(|a| a.id.asc())
                .slice(n * 10..n * 10 + 10)
        };
        let before = compiled_sql_cache_stats();
        for n in 0..600 {
            let (cached, fresh) = both(&|_| format!("{:?}", page(n).statement(dialect)), 0);
            assert_eq!(cached, fresh, "page {n}");
        }
        let after = compiled_sql_cache_stats();
        assert!(after.misses - before.misses <= 2, "{before:?} → {after:?}");
        assert!(after.hits - before.hits >= 598, "{before:?} → {after:?}");
    }
}

/// The writer stays `Send` and `Sync` (it records addresses as numbers).
#[test]
fn the_writer_is_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<orm_sqlx::core::compiler::SqlWriter>();
}

/// Querysets that differ in what they join (`select_related`) each get their own text.
#[test]
fn each_select_related_has_its_own_text() {
    for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
        let variants = [
            Book::objects(),
            Book::objects().select_related(|b| b.author()),
            Book::objects().select_related(|b| b.publisher()),
            Book::objects().select_related(|b| b.author().country()),
            Book::objects()
                .select_related(|b| b.author())
                .select_related(|b| b.publisher()),
        ];
        let mut seen = Vec::new();
        for qs in &variants {
            for _ in 0..2 {
                let (cached, fresh) = both(&|_| format!("{:?}", qs.statement(dialect)), 0);
                assert_eq!(cached, fresh);
            }
            seen.push(format!("{:?}", qs.statement(dialect)));
        }
        seen.dedup();
        assert_eq!(seen.len(), variants.len());
    }
}

/// A prefetch's query (built by `prefetch.rs`: a join table joined to the root, its
/// parent column selected as an extra term, a key list on it) each way it can differ:
/// every variant gets its own text.
#[test]
fn each_join_table_and_extra_column_has_its_own_text() {
    use orm_sqlx::core::compiler;
    use orm_sqlx::core::expr::Term;
    use orm_sqlx::core::q::Cond;
    use orm_sqlx::core::query::ThroughJoin;
    use orm_sqlx::core::relation::ThroughMeta;
    static BOOK_TAGS: ThroughMeta = ThroughMeta {
        table: "books_tags",
        parent_column: "book_id",
        target_column: "tag_id",
    };
    // The same column names in another table: only the table tells them apart.
    static SHELF_TAGS: ThroughMeta = ThroughMeta {
        table: "shelf_tags",
        parent_column: "book_id",
        target_column: "tag_id",
    };
    for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
        let mut seen = Vec::new();
        let mut count = 0;
        for through in [None, Some(&BOOK_TAGS), Some(&SHELF_TAGS)] {
            for extra in [None, Some(&BOOK_TAGS), Some(&SHELF_TAGS)] {
                for on in [&BOOK_TAGS, &SHELF_TAGS] {
                    for keys in [vec![1i64, 2], vec![3, 4]] {
                        let mut q = Tag::objects().query().clone();
                        let parent = Term::TableColumn {
                            table: on.table,
                            column: on.parent_column,
                        };
                        q.through = through.map(|t| ThroughJoin {
                            through: t,
                            target_pk: "id",
                        });
                        if let Some(e) = extra {
                            q.extra = vec![Term::TableColumn {
                                table: e.table,
                                column: e.parent_column,
                            }];
                        }
                        q.filter = std::sync::Arc::new(vec![Cond::In {
                            lhs: parent,
                            values: keys.into_iter().map(Value::I64).collect(),
                        }]);
                        let of = |_| {
                            format!("{:?}", compiler::select_with_plan(&q, dialect).map(|s| s.0))
                        };
                        let (cached, fresh) = both(&of, 0);
                        assert_eq!(cached, fresh);
                        seen.push(compiler::select(&q, dialect).unwrap().sql);
                        count += 1;
                    }
                }
            }
        }
        seen.sort();
        seen.dedup();
        assert_eq!(
            seen.len(),
            count / 2,
            "one text per join table and extra column"
        );
    }
}

/// The typed API gives each field values of its own type, but a query built by hand can
/// compare a column with a value of another kind, and the text depends on the kind: a
/// decimal is collated on SQLite, JSON compared as text, a list of one type is one array
/// on PostgreSQL and of mixed types an `IN` list. Each kind is its own shape.
#[test]
fn each_kind_of_value_has_its_own_shape() {
    use orm_sqlx::core::compiler;
    use orm_sqlx::core::expr::{ColumnRef, RelPath, Term};
    use orm_sqlx::core::q::{CmpOp, Cond};
    let column = |name: &'static str| {
        Term::Column(ColumnRef {
            path: RelPath::ROOT,
            column: name,
            nullable: false,
        })
    };
    let nullable = Term::Column(ColumnRef {
        path: RelPath::ROOT,
        column: "note",
        nullable: true,
    });
    let eq = |lhs: Term, v: Value| Cond::Compare {
        lhs,
        op: CmpOp::Eq,
        rhs: Term::Value(v),
    };
    let dec = Value::Decimal(rust_decimal::Decimal::new(15, 1));
    let json = Value::Json(serde_json::json!({"k": 1}));
    let conds = [
        // Another kind of integer: a PostgreSQL array of another type.
        Cond::In {
            lhs: column("small"),
            values: vec![Value::I64(1), Value::I64(2)],
        },
        Cond::In {
            lhs: column("small"),
            values: vec![Value::I32(1), Value::I32(2)],
        },
        Cond::In {
            lhs: column("small"),
            values: vec![Value::I64(1), Value::I32(2)],
        },
        // A NULL of a decimal is collated on SQLite, of an integer not.
        Cond::Between {
            lhs: column("price"),
            low: Term::Value(Value::Null(orm_sqlx::SqlType::Decimal)),
            high: Term::Value(Value::I64(3)),
        },
        Cond::Between {
            lhs: column("price"),
            low: Term::Value(Value::Null(orm_sqlx::SqlType::I64)),
            high: Term::Value(Value::I64(3)),
        },
        // A list bound as one value, of two lengths.
        eq(
            column("small"),
            Value::List(orm_sqlx::SqlType::I64, vec![Value::I64(1), Value::I64(2)]),
        ),
        eq(
            column("small"),
            Value::List(
                orm_sqlx::SqlType::I64,
                vec![Value::I64(1), Value::I64(2), Value::I64(3)],
            ),
        ),
        // Excluding a match on a nullable column keeps its NULLs (Django's exclude).
        Cond::Not(Box::new(eq(nullable, Value::Text("a".into())))),
        Cond::Not(Box::new(eq(column("note"), Value::Text("a".into())))),
        Cond::Const(true),
        Cond::Const(false),
        Cond::Compare {
            lhs: column("note"),
            op: CmpOp::Eq,
            rhs: Term::Value(Value::Text("1.5".into())),
        },
        Cond::Compare {
            lhs: column("note"),
            op: CmpOp::Eq,
            rhs: Term::Value(dec.clone()),
        },
        Cond::Compare {
            lhs: column("note"),
            op: CmpOp::Eq,
            rhs: Term::Value(json.clone()),
        },
        Cond::In {
            lhs: column("note"),
            values: vec![Value::I64(1), Value::I64(2)],
        },
        Cond::In {
            lhs: column("note"),
            values: vec![Value::I64(1), Value::Text("2".into())],
        },
        Cond::In {
            lhs: column("note"),
            values: vec![Value::I64(1), dec],
        },
        Cond::In {
            lhs: column("note"),
            values: vec![Value::I64(1), json],
        },
    ];
    for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
        for c in &conds {
            let mut q = Kinds::objects().query().clone();
            q.filter = std::sync::Arc::new(vec![c.clone()]);
            let of = |_| format!("{:?}", compiler::select_with_plan(&q, dialect).map(|s| s.0));
            let (cached, fresh) = both(&of, 0);
            assert_eq!(cached, fresh, "{c:?}");
        }
    }
}

/// A query built by hand (`Query`'s fields are public) can order by a value and select
/// one: under DISTINCT the compiler compares those terms by content (an ordering term
/// already selected is ordered by its position), so the text depends on the values
/// themselves. Such a query is compiled each time.
#[test]
fn values_in_the_select_list_and_ordering_are_compiled_each_time() {
    use orm_sqlx::core::compiler;
    use orm_sqlx::core::expr::Term;
    use orm_sqlx::core::ordering::OrderTerm;
    use orm_sqlx::core::query::Select;
    for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
        for order in [7i64, 8, 7, 9] {
            let mut q = Author::objects().query().clone();
            q.select = Select::Terms(vec![Term::Value(Value::I64(7))]);
            q.distinct = true;
            q.order_by = vec![OrderTerm {
                term: Term::Value(Value::I64(order)),
                descending: false,
            }];
            let of = |_| format!("{:?}", compiler::select_with_plan(&q, dialect).map(|s| s.0));
            let (cached, fresh) = both(&of, 0);
            assert_eq!(cached, fresh, "ordered by {order}");
        }
    }
}

/// On each backend: queries of one shape with other values, each read right, each one
/// query, the later ones compiled by the cache.
#[tokio::test]
async fn one_shape_with_other_values_reads_the_right_rows_on_every_backend() {
    with_library(|db, _backend, lib| async move {
        let by_age = |age: Option<i32>| Author::objects().filter(|a| a.age.eq(age));
        let names = |v: Vec<Author>| v.into_iter().map(|a| a.name).collect::<Vec<_>>();
        let before = compiled_sql_cache_stats();
        for author in [&lib.alice, &lib.bob, &lib.carol] {
            let (got, queries) =
                capture_queries(Author::objects().filter(|a| a.id.eq(author.id)).get(&db)).await;
            assert_eq!(got.unwrap().name, author.name);
            assert_eq!(queries.len(), 1);
        }
        let after = compiled_sql_cache_stats();
        assert!(
            after.hits >= before.hits + 2,
            "the second and third get were compiled by the cache: {before:?} → {after:?}"
        );
        // The fixture's ages, whatever they are: each age reads its authors, and `None`
        // (another shape: IS NULL) reads those without one.
        for author in [&lib.alice, &lib.bob, &lib.carol] {
            let got = names(by_age(author.age).fetch(&db).await.unwrap().to_vec());
            assert!(got.contains(&author.name), "{:?}: {got:?}", author.age);
            for other in [&lib.alice, &lib.bob, &lib.carol] {
                assert_eq!(got.contains(&other.name), other.age == author.age);
            }
        }
        // IN lists of each length, with and without a None (dropped: Carol, who has no
        // age, is never read).
        let ages = [lib.alice.age, lib.bob.age, lib.carol.age];
        for n in 0..=3 {
            for with_none in [false, true] {
                let mut list: Vec<Option<i32>> = ages[..n].to_vec();
                if with_none {
                    list.push(None);
                }
                let got = names(
                    Author::objects()
                        .filter(|a| a.age.is_in(list.clone()))
                        .order_by(|a| a.id.asc())
                        .fetch(&db)
                        .await
                        .unwrap()
                        .to_vec(),
                );
                let want: Vec<String> = [&lib.alice, &lib.bob, &lib.carol]
                    .into_iter()
                    .filter(|a| a.age.is_some() && list.contains(&a.age))
                    .map(|a| a.name.clone())
                    .collect();
                assert_eq!(got, want, "{list:?}");
            }
        }
        // Prefetching (its queries select an extra key column, or join the many-to-many
        // table) sends the same statements with the cache as without it.
        let prefetching = || async {
            let qs = Author::objects()
                .order_by(|a| a.id.asc())
                .prefetch_related(|a| a.books().tags());
            let (authors, q1) = capture_queries(qs.into_vec(&db)).await;
            let authors = authors.unwrap();
            let books: Vec<usize> = authors.iter().map(|a| a.books.count().unwrap()).collect();
            let sent: Vec<(String, Vec<Value>)> = q1
                .iter()
                .map(|q| (q.sql.to_string(), q.params.clone()))
                .collect();
            (books, sent)
        };
        let cold = prefetching().await;
        let warm = prefetching().await;
        set_compiled_sql_cache(false);
        let fresh = prefetching().await;
        set_compiled_sql_cache(true);
        assert_eq!(cold, fresh);
        assert_eq!(warm, fresh);
        assert_eq!(
            fresh.0,
            vec![2, 1, 0],
            "Alice wrote two books, Bob one, Carol none"
        );
        assert_eq!(fresh.1.len(), 3, "authors, their books, the books' tags");
    })
    .await;
}
