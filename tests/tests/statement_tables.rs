//! Issue 15: `Statement::tables`, which the query cache invalidates by, names every table
//! the SQL reads: each quoted name after `FROM` or `JOIN` in the statement's text, on
//! every dialect, for queries with joins, subqueries (`is_in` a queryset, `exists`,
//! scalar `subquery`), aggregates over sliced and distinct querysets, annotations across
//! relations, many-to-many lookups, `select_related`, and the many-to-many prefetch.

use orm_sqlx::core::compiler::{self, Tables};
use orm_sqlx::prelude::*;
use orm_sqlx::{Dialect, exists, subquery};
use orm_tests::library::{Author, Book, Tag};

/// Every quoted name right after `FROM ` or `JOIN ` in `sql`.
fn named(sql: &str, dialect: Dialect) -> Vec<String> {
    let q = if dialect == Dialect::Mysql { '`' } else { '"' };
    let mut out = Vec::new();
    for word in ["FROM ", "JOIN "] {
        let mut rest = sql;
        while let Some(i) = rest.find(word) {
            rest = &rest[i + word.len()..];
            if let Some(name) = rest.strip_prefix(q).and_then(|r| r.split(q).next()) {
                out.push(name.to_owned());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn check(what: &str, query: &orm_sqlx::core::dsl::query::Query) {
    for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
        let (stmt, _) = compiler::select_with_plan(query, dialect).unwrap();
        let Tables::Read(tables) = &stmt.tables else {
            panic!("{what}: a SELECT must be a read: {:?}", stmt.tables)
        };
        for name in named(&stmt.sql, dialect) {
            assert!(
                tables.contains(&name.as_str()),
                "{what} ({dialect:?}): `{name}` is read but not among {tables:?}\n{}",
                stmt.sql
            );
        }
    }
}

#[test]
fn every_table_a_select_names_is_among_its_tables() {
    let long = Book::objects()
        .filter(|b| b.pages.gte(200))
        .values(|b| b.author);
    check(
        "is_in a queryset",
        Author::objects()
            .filter(|a| a.id.is_in(long.clone()))
            .query(),
    );
    check(
        "exists with outer()",
        Book::objects()
            .filter(|b| exists(Author::objects().filter(|a| a.age.gt(b.author().age.outer()))))
            .query(),
    );
    check(
        "a scalar subquery",
        Author::objects()
            .annotate(|_| subquery(Book::objects().values(|b| b.pages.sum())))
            .query(),
    );
    check(
        "a filter across a relation",
        Book::objects()
            .filter(|b| b.author().country().name.eq("UK"))
            .query(),
    );
    check(
        "a many-to-many lookup",
        Book::objects().filter(|b| b.tags().name.eq("sf")).query(),
    );
    check(
        "an exclude across a many-to-many",
        Book::objects().exclude(|b| b.tags().name.eq("sf")).query(),
    );
    check(
        "a reverse annotation",
        Author::objects().annotate(|a| a.books().count()).query(),
    );
    check(
        "select_related, nested",
        Book::objects()
            .select_related(|b| b.author().country())
            .select_related(|b| b.publisher())
            .query(),
    );
    check(
        "a tag's books (reverse many-to-many)",
        Tag::objects()
            .filter(|t| {
                t.id.is_in(
                    Book::objects()
                        .filter(|b| b.author().name.eq("Bob"))
                        .values(|b| b.id),
                )
            })
            .query(),
    );
}

#[test]
fn aggregates_and_counts_name_their_subqueries_tables() {
    let bobs = Book::objects()
        .filter(|b| b.author().name.eq("Bob"))
        .distinct()
        .slice(0..10);
    for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
        for stmt in [
            compiler::count(bobs.query(), dialect).unwrap(),
            compiler::exists(bobs.query(), dialect).unwrap(),
        ] {
            let Tables::Read(tables) = &stmt.tables else {
                panic!("{:?}", stmt.tables)
            };
            for name in named(&stmt.sql, dialect) {
                assert!(tables.contains(&name.as_str()), "`{name}` in {}", stmt.sql);
            }
            assert!(tables.contains(&"authors"), "{}", stmt.sql);
        }
    }
}

#[test]
fn writes_name_the_table_they_change() {
    let qs = Book::objects().filter(|b| b.author().name.eq("Bob"));
    for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
        let delete = compiler::delete(qs.query(), dialect).unwrap();
        assert_eq!(delete.tables, Tables::Write("books"));
    }
}
