//! Lookups whose SQL depended on a server setting or differed between backends: LIKE's
//! escape character under `standard_conforming_strings = off`, case-insensitive regular
//! expressions, and invalid regular expressions.

use orm_sqlx::prelude::*;
use orm_tests::{Backend, TestDb, on_each_backend, required_backends};

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "notes")]
struct Note {
    id: i64,
    body: String,
}

async fn notes(db: &Db, bodies: &[&str]) {
    db.create_table::<Note>().await.unwrap();
    let mut rows: Vec<Note> = bodies
        .iter()
        .map(|b| Note {
            id: 0,
            body: (*b).into(),
        })
        .collect();
    Note::objects().bulk_create(&mut rows, db).await.unwrap();
}

async fn bodies(db: &Db, qs: QuerySet<Note>) -> Result<Vec<String>> {
    let qs = qs.order_by(|n| n.id.asc()).values(|n| n.body);
    qs.fetch(db).await.map(|r| r.to_vec())
}

/// With `standard_conforming_strings` off, PostgreSQL reads backslashes in '…' literals
/// as escapes, so `ESCAPE '\'` was an unterminated string and every LIKE-family lookup a
/// syntax error. The escape is now written so that it reads the same under both settings.
#[tokio::test]
async fn like_lookups_work_with_standard_conforming_strings_off() {
    if !required_backends().contains(&Backend::Postgres) {
        return;
    }
    let t = TestDb::open(Backend::Postgres).await;
    let (db, _) = t
        .one_connection_pool(std::time::Duration::from_secs(5))
        .await;
    notes(&db, &["50% off", "500 off", r"a\b", "a_b", "axb", "Straße"]).await;
    db.execute_raw("SET standard_conforming_strings = off")
        .await
        .unwrap();
    let all = Note::objects;
    let cases: Vec<(QuerySet<Note>, &[&str])> = vec![
        (all().filter(|n| n.body.contains("%")), &["50% off"]),
        (all().filter(|n| n.body.contains(r"\")), &[r"a\b"]),
        (all().filter(|n| n.body.startswith("a_")), &["a_b"]),
        (all().filter(|n| n.body.iendswith("_B")), &["a_b"]),
        (all().filter(|n| n.body.icontains("STRASSE")), &[]),
        (all().filter(|n| n.body.iexact("straße")), &["Straße"]),
        (
            all().filter(|n| n.body.istartswith("50")),
            &["50% off", "500 off"],
        ),
    ];
    for (qs, want) in cases {
        let sql = qs.sql();
        assert_eq!(bodies(&db, qs).await.unwrap(), want, "{sql}");
    }
    if let Some(pool) = db.pg_pool() {
        pool.close().await;
    }
    t.cleanup().await;
}

/// An invalid pattern is `Error::InvalidRegex` on every backend (SQLite used to say
/// "constraint failed"), for `regex` and `iregex`, and the message says what is wrong.
#[tokio::test]
async fn an_invalid_regular_expression_is_a_typed_error() {
    on_each_backend(|db, backend| async move {
        notes(&db, &["a(b"]).await;
        for qs in [
            Note::objects().filter(|n| n.body.regex("a(")),
            Note::objects().filter(|n| n.body.iregex("[z-a]")),
        ] {
            match bodies(&db, qs).await {
                Err(Error::InvalidRegex { message, sql }) => {
                    assert!(message.contains("invalid regular expression"), "{message}");
                    assert!(sql.contains("notes"), "{sql}");
                    if backend == Backend::Sqlite {
                        assert!(!message.contains('^'), "one line, no caret: {message}");
                    }
                }
                other => panic!("{backend:?}: expected InvalidRegex, got {other:?}"),
            }
        }
        // A valid one still matches, and NULL never does.
        let ok = Note::objects().filter(|n| n.body.regex(r"a\(b$"));
        assert_eq!(bodies(&db, ok).await.unwrap(), ["a(b"]);
    })
    .await;
}

/// How `iregex` ignores case, on each backend (README, "What differs from Django"): both
/// fold ASCII and the letters with exactly one lower- and one upper-case form (é/É, ж/Ж,
/// σ/Σ) alike; SQLite (Rust's `regex` crate) also matches every other member of a letter's
/// Unicode simple case-folding class (the Kelvin sign K with k, final ς with σ, ẞ with ß),
/// which PostgreSQL, matching only a pattern letter's lower- and upper-case forms, does not.
/// Under a C locale PostgreSQL folds ASCII only. MariaDB (PCRE2 with `(?i)` in UTF mode)
/// folds as SQLite does: the Kelvin sign, final ς and ẞ match too.
#[tokio::test]
async fn iregex_folds_case_as_documented() {
    on_each_backend(|db, backend| async move {
        let texts = [
            "Café",
            "CAFÉ",
            "жук",
            "ЖУК",
            "Σοφία",
            "\u{212A}",
            "\u{3C2}",
            "\u{1E9E}",
            "Straße",
        ];
        notes(&db, &texts).await;
        let c_locale = match db.pg_pool() {
            Some(pool) => {
                let ctype: String = orm_sqlx::sqlx::query_scalar("SHOW lc_ctype")
                    .fetch_one(pool)
                    .await
                    .unwrap();
                ctype == "C" || ctype == "POSIX"
            }
            None => false,
        };
        let find = |p: &'static str| Note::objects().filter(move |n| n.body.iregex(p));
        let same: [(&str, &[&str]); 4] = [
            ("^café$", &["Café", "CAFÉ"]),
            ("ЖУК", &["жук", "ЖУК"]),
            ("^σοφία$", &["Σοφία"]),
            ("STRASSE", &[]),
        ];
        for (p, want) in same {
            let got = bodies(&db, find(p)).await.unwrap();
            if c_locale {
                continue;
            }
            assert_eq!(got, want, "{backend:?} iregex({p:?})");
        }
        let differ: [(&str, &[&str], &[&str]); 3] = [
            // The Kelvin sign, final sigma, capital sharp s.
            ("^k$", &["\u{212A}"], &[]),
            ("^\u{3C3}$", &["\u{3C2}"], &[]),
            ("^\u{DF}$", &["\u{1E9E}"], &[]),
        ];
        for (p, sqlite, postgres) in differ {
            let got = bodies(&db, find(p)).await.unwrap();
            let want = match backend {
                // MariaDB's PCRE2 matches a letter's whole Unicode case-folding class under
                // `(?i)`, as Rust's `regex` does on SQLite (checked on MariaDB 10.11; MySQL's
                // ICU engine is not covered by this run).
                Backend::Sqlite | Backend::Mysql => sqlite,
                Backend::Postgres => postgres,
            };
            assert_eq!(got, want, "{backend:?} iregex({p:?})");
        }
    })
    .await;
}

/// A text always matches itself case-insensitively, whatever its letters: MySQL folded the
/// column with its own (older) case tables and the pattern with Rust's, so a capital the
/// server does not lower (ẞ, Ⰰ, Ꭰ, 𐐀…) found nothing, not even itself. Both sides are now
/// folded by the server there. Common letters fold alike on every backend.
#[tokio::test]
async fn a_text_matches_itself_case_insensitively() {
    on_each_backend(|db, backend| async move {
        let texts = [
            "Ⰰ",
            "ẞ",
            "Ԁ",
            "𐐀",
            "Ꭰ",
            "Ა",
            "Ƞ",
            "ϴ",
            "Straße",
            "ÀÉÎ",
            "Σοφία",
            "Ж",
            "K",
        ];
        notes(&db, &texts).await;
        for t in texts {
            let only = |qs: QuerySet<Note>| async { bodies(&db, qs).await.unwrap() };
            assert_eq!(
                only(Note::objects().filter(move |n| n.body.iexact(t))).await,
                [t],
                "{backend:?} iexact({t:?})"
            );
            assert!(
                only(Note::objects().filter(move |n| n.body.icontains(t)))
                    .await
                    .contains(&t.to_owned()),
                "{backend:?} icontains({t:?})"
            );
        }
        for (pattern, want) in [
            ("àéî", "ÀÉÎ"),
            ("ΣΟΦΊΑ", "Σοφία"),
            ("ж", "Ж"),
            ("STRASSE", ""),
        ] {
            let got = bodies(&db, Note::objects().filter(move |n| n.body.iexact(pattern)))
                .await
                .unwrap();
            let want: Vec<&str> = [want].into_iter().filter(|w| !w.is_empty()).collect();
            assert_eq!(got, want, "{backend:?} iexact({pattern:?})");
        }
    })
    .await;
}
