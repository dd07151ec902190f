//! The model rules of `check`, and the shapes of item the derive accepts.

use super::{code, error, errors, run};
use crate::check::snake_case;

#[test]
fn no_primary_key_points_at_the_struct_name() {
    let (message, at) = error("pub struct Book { title: String }");
    assert_eq!(
        message,
        "`Book` has no primary key: add an `id: i64` field (auto-increment) or mark a field \
         with `#[orm(primary_key)]`"
    );
    assert_eq!(at, "Book");
}

#[test]
fn a_second_primary_key_points_at_its_attribute() {
    let (message, at) = error(
        r#"
        struct Book {
            #[orm(primary_key)] isbn: String,
            #[orm(column = "c", primary_key)] code: String,
        }
        "#,
    );
    assert_eq!(
        message,
        "a model has exactly one primary key, and `isbn` is already it; remove one \
         `#[orm(primary_key)]`"
    );
    assert_eq!(at, "primary_key");
    // One error per extra key.
    let found = errors(
        r#"
        struct Book {
            #[orm(primary_key)] isbn: String,
            #[orm(primary_key)] code: String,
            #[orm(primary_key)] other: String,
        }
        "#,
    );
    assert_eq!(found.len(), 2);
}

#[test]
fn a_marked_key_makes_id_an_ordinary_column() {
    let out = code(
        r#"
        struct Book { id: i64, #[orm(primary_key)] isbn: String }
        "#,
    );
    assert!(out.contains("pk : 1usize"), "{out}");
    assert!(out.contains("type Pk = String"), "{out}");
    assert!(
        out.contains(r#"field : "id" , column : "id" , sql_type : < i64 as :: orm_sqlx :: __private :: FieldType > :: SQL_TYPE , nullable : < i64 as :: orm_sqlx :: __private :: FieldType > :: NULLABLE , primary_key : false , auto : false"#),
        "{out}"
    );
}

#[test]
fn auto_is_implicit_for_an_integer_id_only() {
    for ty in [
        "i16",
        "i32",
        "i64",
        "core::primitive::i64",
        "::std::primitive::i32",
    ] {
        let out = code(&format!("struct A {{ id: {ty} }}"));
        assert!(
            out.contains("primary_key : true , auto : true"),
            "{ty}: {out}"
        );
    }
    for ty in ["String", "u64", "Uuid", "i128", "MyId", "other::i64"] {
        let out = code(&format!("struct A {{ id: {ty} }}"));
        assert!(
            out.contains("primary_key : true , auto : false"),
            "{ty}: {out}"
        );
    }
}

#[test]
fn a_marked_key_is_auto_only_when_it_says_so() {
    let out = code("struct A { #[orm(primary_key)] key: i64 }");
    assert!(out.contains("primary_key : true , auto : false"), "{out}");
    let out = code("struct A { #[orm(primary_key, auto)] key: i32 }");
    assert!(out.contains("primary_key : true , auto : true"), "{out}");
    // Redundant on the implicit key, and accepted.
    let out = code("struct A { #[orm(auto)] id: i64 }");
    assert!(out.contains("primary_key : true , auto : true"), "{out}");
}

#[test]
fn auto_off_the_primary_key_is_refused() {
    let (message, at) = error("struct A { id: i64, #[orm(auto)] n: i64 }");
    assert_eq!(
        message,
        "`auto` marks a primary key that the database assigns, and `n` is not the primary key \
         (`id` is); remove `auto`"
    );
    assert_eq!(at, "auto");

    let found = errors("struct A { #[orm(auto)] n: i64 }");
    assert_eq!(
        found[1],
        (
            "`auto` marks a primary key that the database assigns, and `n` is not a primary key; \
             write `#[orm(primary_key, auto)]` to make it one, or remove `auto`"
                .to_owned(),
            "auto".to_owned()
        )
    );
}

#[test]
fn auto_on_a_key_that_is_not_an_integer_is_refused() {
    let (message, at) = error("struct A { #[orm(primary_key, auto)] code: Vec<u8> }");
    assert_eq!(
        message,
        "`auto` needs an integer primary key (`i16`, `i32` or `i64`), and `code` is `Vec<u8>`; \
         remove `auto` and set the key yourself before inserting"
    );
    assert_eq!(at, "auto");
    let (_, at) = error("struct A { #[orm(auto)] id: String }");
    assert_eq!(at, "auto");
}

#[test]
fn a_nullable_key_is_refused_on_its_type() {
    let (message, at) = error("struct A { id: Option<i64> }");
    assert_eq!(
        message,
        "a primary key cannot be NULL, so `id` cannot be an `Option`; write `i64`"
    );
    assert_eq!(at, "Option<i64>");
    let (_, at) = error("struct A { #[orm(primary_key)] k: std::option::Option<String> }");
    assert_eq!(at, "std::option::Option<String>");
    // A nullable ordinary column is fine.
    code("struct A { id: i64, n: Option<i64> }");
}

#[test]
fn two_fields_on_one_column_are_refused() {
    let (message, at) = error(
        r#"
        struct A { id: i64, title: String, #[orm(column = "Title")] name: String }
        "#,
    );
    assert_eq!(
        message,
        "column `Title` is already the column of field `title`; give one of them another name \
         with `#[orm(column = \"...\")]`"
    );
    assert_eq!(at, r#""Title""#);
    let (_, at) = error(
        r#"
        struct A { #[orm(column = "name")] id: i64, name: String }
        "#,
    );
    assert_eq!(at, "name");
}

#[test]
fn empty_names_are_refused() {
    let found = errors(
        r#"
        #[orm(table = "")]
        struct A { id: i64, #[orm(column = "")] name: String }
        "#,
    );
    let at: Vec<_> = found.iter().map(|(_, at)| at.as_str()).collect();
    assert_eq!(at, [r#""""#, r#""""#]);
    assert!(found[0].0.starts_with("a table name cannot be empty"));
    assert!(found[1].0.starts_with("a column name cannot be empty"));
}

#[test]
fn only_structs_with_named_fields() {
    let cases = [
        ("enum A { B }", "enum", "not an enum"),
        ("union A { b: u8 }", "union", "not a union"),
        ("struct A(i64);", "(i64)", "not a tuple struct"),
        ("struct A;", "A", "not a unit struct"),
    ];
    for (source, at, kind) in cases {
        let found = error(source);
        assert_eq!(
            found,
            (
                format!("`#[derive(Model)]` needs a struct with named fields, {kind}"),
                at.to_owned()
            ),
            "{source}"
        );
        assert!(run(source).code.is_empty(), "{source}");
    }
}

#[test]
fn generic_models_are_refused_and_not_expanded() {
    let (message, at) = error("struct A<'a, T> { id: i64, t: &'a T }");
    assert_eq!(
        message,
        "a model cannot be generic: it maps onto one table with fixed column types; remove \
         the type, lifetime and const parameters"
    );
    assert_eq!(at, "<'a, T>");
    assert!(run("struct A<T> { id: T }").code.is_empty());
    let (message, at) = error("struct A where i64: Copy { id: i64 }");
    assert_eq!(
        message,
        "a model cannot be generic: remove the `where` clause"
    );
    assert_eq!(at, "where i64: Copy");
}

#[test]
fn table_names_default_to_snake_case() {
    assert_eq!(snake_case("Book"), "book");
    assert_eq!(snake_case("BookReview"), "book_review");
    assert_eq!(snake_case("HTTPLog"), "http_log");
    assert_eq!(snake_case("ISBN"), "isbn");
    assert_eq!(snake_case("Book2Author"), "book2_author");
    assert_eq!(snake_case("Already_Snake"), "already_snake");
    assert!(code("struct BookReview { id: i64 }").contains(r#"table : "book_review""#));
    assert!(code("struct r#Match { id: i64 }").contains(r#"table : "match""#));
}

#[test]
fn an_id_marked_as_key_is_auto_only_when_it_says_so() {
    let out = code("struct A { #[orm(primary_key)] id: i64 }");
    assert!(out.contains("primary_key : true , auto : false"), "{out}");
}
