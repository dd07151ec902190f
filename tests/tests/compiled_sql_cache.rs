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

use orm_sqlx::core::compiler::{compiled_sql_cache_stats, set_compiled_sql_cache};
use orm_sqlx::prelude::*;
use orm_sqlx::{Dialect, Q};
use orm_tests::library::Author;
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
struct Recipe {
    filters: Vec<(bool, Tree)>,
    order: Vec<(u8, bool)>,
    reverse: bool,
    slice: Option<(usize, Option<usize>)>,
    related: bool,
    distinct: bool,
    values: bool,
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
        (0..4usize).prop_map(Leaf::IdIn),
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

fn recipe() -> impl Strategy<Value = Recipe> {
    (
        prop::collection::vec((any::<bool>(), tree()), 0..3),
        prop::collection::vec((0..4u8, any::<bool>()), 0..3),
        any::<bool>(),
        prop::option::of((0..3usize, prop::option::of(3..6usize))),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(filters, order, reverse, slice, related, distinct, values)| Recipe {
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
fn statement(r: &Recipe, seed: u64, dialect: Dialect) -> String {
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
    if r.values {
        format!("{:?}", qs.values(|a| (a.id, a.name)).statement(dialect))
    } else {
        format!("{:?}", qs.statement(dialect))
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
        };
        qs = qs.filter(|_| q);
    }
    format!("{:?}", qs.statement(dialect))
}

/// Compile `of(seed_a)` and then `of(seed_b)` through the cache, then both fresh: each
/// must be what the cache said.
fn agree(of: impl Fn(u64) -> String, seeds: (u64, u64)) -> Result<(), TestCaseError> {
    set_compiled_sql_cache(true);
    let a = of(seeds.0);
    let b = of(seeds.1);
    let again = of(seeds.1);
    set_compiled_sql_cache(false);
    let (a_fresh, b_fresh) = (of(seeds.0), of(seeds.1));
    set_compiled_sql_cache(true);
    prop_assert_eq!(&a, &a_fresh, "the first query, through the cache");
    prop_assert_eq!(&b, &b_fresh, "the second query, same recipe, other values");
    prop_assert_eq!(&again, &b_fresh, "the second query again");
    Ok(())
}

fn cases() -> u32 {
    std::env::var("ORM_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

/// Run the property over `strategy`'s recipes: `of(recipe, seed, dialect)` is a recipe's
/// statement with values from `seed`. The cache must also have answered more than once
/// a case, or the property was hardly tested.
fn check_property<S: Strategy>(strategy: S, of: impl Fn(&S::Value, u64, Dialect) -> String) {
    let before = compiled_sql_cache_stats();
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&(strategy, any::<(u64, u64)>()), |(r, seeds)| {
            for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
                agree(|seed| of(&r, seed, dialect), seeds)?;
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let after = compiled_sql_cache_stats();
    let (hits, misses) = (after.hits - before.hits, after.misses - before.misses);
    // Three compilations through the cache per dialect and case; most recipes are
    // cacheable, and of those at least the repeat is a hit.
    assert!(
        hits > u64::from(cases()),
        "the cache answered {hits} times (missed {misses}): the property was hardly tested"
    );
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
    })
    .await;
}
