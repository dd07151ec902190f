//! Lookups whose SQL depended on a server setting or differed between backends: LIKE's
//! escape character under `standard_conforming_strings = off`, case-insensitive regular
//! expressions, and invalid regular expressions.

use orm_sqlx::prelude::*;
use orm_tests::{Backend, TestDb, required_backends};

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
