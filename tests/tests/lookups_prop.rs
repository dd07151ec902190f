//! Property: the LIKE-family lookups agree with Rust's own string methods on every
//! backend, whatever the text holds (quotes, backslashes, `%`, `_`, `*`, `?`, `[`,
//! non-ASCII letters, emoji, combining marks).
//!
//! Case-insensitive lookups fold case one character to one character (Unicode simple
//! lower-case mapping: `orm_core::dialect::fold_case`), which is what PostgreSQL's
//! `lower()`/`ILIKE` do; the reference below does the same in Rust. Characters come from
//! a fixed set of scripts whose case pairs predate every Unicode version these databases
//! ship, plus any character that has no case at all, drawn from the whole of Unicode.
//! NUL is left out: PostgreSQL text cannot hold it.

use orm_sqlx::core::dialect::fold_case;
use orm_sqlx::prelude::*;
use orm_tests::{Backend, TestDb, required_backends};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "texts")]
struct Text {
    id: i64,
    body: String,
}

fn text_char() -> impl Strategy<Value = char> {
    let specials = prop::sample::select(vec![
        '%', '_', '\\', '\'', '"', '*', '?', '[', ']', '^', '$', '.', ' ', 'a', 'A', 'z', 'Z', 'ß',
        'à', 'À', 'é', 'É', 'ÿ', 'Ÿ', 'İ', 'ı', 'Σ', 'σ', 'ς', 'Д', 'д', 'Ж', 'ж', 'ǅ', 'Ω', 'K',
        '中', '文', '🎉', '\u{301}', '\t', '\n',
    ]);
    let caseless = any::<char>().prop_filter("has no case, not NUL", |c| {
        *c != '\0' && c.to_lowercase().eq([*c]) && c.to_uppercase().eq([*c])
    });
    prop_oneof![
        6 => specials,
        2 => proptest::char::range('a', 'z'),
        2 => proptest::char::range('A', 'Z'),
        1 => caseless,
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(text_char(), 0..8).prop_map(|v| v.into_iter().collect())
}

/// Haystacks, and a needle that is often a piece of one of them, sometimes with some of
/// its characters swapped for LIKE or GLOB wildcards (which must then match only
/// themselves), sometimes in upper case.
fn case() -> impl Strategy<Value = (Vec<String>, String)> {
    let wildcards = prop::collection::vec(
        prop::option::weighted(
            0.3,
            prop::sample::select(vec!['%', '_', '*', '?', '[', '\\']),
        ),
        0..8,
    );
    prop::collection::vec(text(), 1..6).prop_flat_map(move |hay| {
        let n = hay.len();
        let pick = (
            0..n,
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
        );
        (Just(hay), pick, 0..4u8, wildcards.clone(), text()).prop_map(
            |(hay, (i, a, b), how, wild, other)| {
                let chars: Vec<char> = hay[i].chars().collect();
                if chars.is_empty() || how == 0 {
                    return (hay, other);
                }
                let (x, y) = (a.index(chars.len()), b.index(chars.len()));
                let piece: String = chars[x.min(y)..=x.max(y)].iter().collect();
                let needle = match how {
                    1 => piece,
                    2 => piece.to_uppercase(),
                    _ => piece
                        .chars()
                        .enumerate()
                        .map(|(k, c)| wild.get(k).copied().flatten().unwrap_or(c))
                        .collect(),
                };
                (hay, needle)
            },
        )
    })
}

type Lookup = (&'static str, fn(&str, &str) -> bool);

fn reference() -> Vec<Lookup> {
    vec![
        ("contains", |h, n| h.contains(n)),
        ("icontains", |h, n| fold_case(h).contains(&fold_case(n))),
        ("startswith", |h, n| h.starts_with(n)),
        ("istartswith", |h, n| {
            fold_case(h).starts_with(&fold_case(n))
        }),
        ("endswith", |h, n| h.ends_with(n)),
        ("iendswith", |h, n| fold_case(h).ends_with(&fold_case(n))),
        ("iexact", |h, n| fold_case(h) == fold_case(n)),
        ("exact", |h, n| h == n),
    ]
}

fn filtered(lookup: &str, needle: &str) -> QuerySet<Text> {
    let qs = Text::objects();
    match lookup {
        "contains" => qs.filter(|t| t.body.contains(needle)),
        "icontains" => qs.filter(|t| t.body.icontains(needle)),
        "startswith" => qs.filter(|t| t.body.startswith(needle)),
        "istartswith" => qs.filter(|t| t.body.istartswith(needle)),
        "endswith" => qs.filter(|t| t.body.endswith(needle)),
        "iendswith" => qs.filter(|t| t.body.iendswith(needle)),
        "iexact" => qs.filter(|t| t.body.iexact(needle)),
        "exact" => qs.filter(|t| t.body.eq(needle)),
        other => unreachable!("no lookup {other}"),
    }
}

fn check_backend(backend: Backend) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let t = rt.block_on(TestDb::open(backend));
    let db = t.db.clone();
    rt.block_on(db.create_table::<Text>()).unwrap();
    let cases = std::env::var("ORM_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(96);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case(), |(hay, needle)| {
        rt.block_on(async {
            Text::objects().delete(&db).await.unwrap();
            let mut rows: Vec<Text> = hay
                .iter()
                .map(|h| Text {
                    id: 0,
                    body: h.clone(),
                })
                .collect();
            Text::objects().bulk_create(&mut rows, &db).await.unwrap();
            for (name, expected) in reference() {
                let mut want: Vec<i64> = rows
                    .iter()
                    .filter(|r| expected(&r.body, &needle))
                    .map(|r| r.id)
                    .collect();
                let qs = filtered(name, &needle).values(|t| t.id);
                let mut got = qs.fetch(&db).await.unwrap().to_vec();
                want.sort();
                got.sort();
                prop_assert_eq!(
                    &got,
                    &want,
                    "{} {:?} on {:?} ({}): {}",
                    name,
                    needle,
                    hay,
                    backend.name(),
                    qs.sql()
                );
            }
            Ok(())
        })
    });
    rt.block_on(t.cleanup());
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn like_lookups_agree_with_rust_string_methods() {
    for backend in required_backends() {
        check_backend(backend);
    }
}
