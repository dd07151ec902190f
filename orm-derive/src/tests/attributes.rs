//! Reading `#[orm(...)]`: unknown names, misplaced names, bad values, duplicates.

use super::{error, errors};

#[test]
fn unknown_struct_attribute_names_the_known_ones() {
    let (message, at) = error(
        r#"
        #[orm(tabel = "books")]
        struct Book { id: i64 }
        "#,
    );
    assert_eq!(
        message,
        "unknown `orm` attribute `tabel`; expected one of `table`, `crate`, `index`, \
         `unique_together`, `hooks`, `renamed_from`"
    );
    assert_eq!(at, "tabel");
}

#[test]
fn unknown_field_attribute_names_the_known_ones() {
    let (message, at) = error(
        r#"
        struct Book { #[orm(primary_ky)] id: i64 }
        "#,
    );
    assert_eq!(
        message,
        "unknown `orm` attribute `primary_ky`; expected one of `primary_key`, `auto`, `column`, \
         `on_delete`, `reverse`, `through`, `many_to_many`, `unique`, `index`, `max_length`, \
         `max_digits`, `decimal_places`, `default`, `auto_now`, `auto_now_add`, `renamed_from`"
    );
    assert_eq!(at, "primary_ky");
}

#[test]
fn struct_attribute_on_a_field_says_where_it_belongs() {
    let (message, at) = error(
        r#"
        struct Book { #[orm(table = "books")] id: i64 }
        "#,
    );
    assert_eq!(
        message,
        "`table` belongs on the struct, not on a field; a field takes one of `primary_key`, \
         `auto`, `column`, `on_delete`, `reverse`, `through`, `many_to_many`, `unique`, `index`, \
         `max_length`, `max_digits`, `decimal_places`, `default`, `auto_now`, `auto_now_add`, `renamed_from`"
    );
    assert_eq!(at, "table");
}

#[test]
fn field_attribute_on_the_struct_says_where_it_belongs() {
    let (message, at) = error(
        r#"
        #[orm(primary_key)]
        struct Book { id: i64 }
        "#,
    );
    assert_eq!(
        message,
        "`primary_key` belongs on a field, not on the struct; the struct takes one of `table`, \
         `crate`, `index`, `unique_together`, `hooks`, `renamed_from`"
    );
    assert_eq!(at, "primary_key");
}

#[test]
fn a_value_that_is_not_a_string_is_refused_on_the_value() {
    let (message, at) = error(
        r#"
        #[orm(table = 5)]
        struct Book { id: i64 }
        "#,
    );
    assert_eq!(
        message,
        r#"`table` takes a string literal: write `table = "books"`"#
    );
    assert_eq!(at, "5");

    let (message, at) = error(
        r#"
        struct Book { id: i64, #[orm(column = title)] title: String }
        "#,
    );
    assert_eq!(
        message,
        r#"`column` takes a string literal: write `column = "column_name"`"#
    );
    assert_eq!(at, "title");
}

#[test]
fn a_missing_value_is_refused_on_the_name() {
    let (message, at) = error(
        r#"
        struct Book { id: i64, #[orm(column)] title: String }
        "#,
    );
    assert_eq!(
        message,
        r#"`column` needs a string value: write `column = "column_name"`"#
    );
    assert_eq!(at, "column");

    let (message, at) = error(
        r#"
        #[orm(table("books"))]
        struct Book { id: i64 }
        "#,
    );
    assert_eq!(
        message,
        r#"`table` needs a string value: write `table = "books"`"#
    );
    assert_eq!(at, r#"("books")"#);
}

#[test]
fn a_flag_with_a_value_is_refused_on_the_value() {
    let (message, at) = error(
        r#"
        struct Book { #[orm(primary_key = true)] id: i64 }
        "#,
    );
    assert_eq!(
        message,
        "`primary_key` takes no value: write `#[orm(primary_key)]`"
    );
    assert_eq!(at, "= true");
}

#[test]
fn a_crate_that_is_not_a_path_is_refused_on_the_string() {
    let (message, at) = error(
        r#"
        #[orm(crate = "not a path")]
        struct Book { id: i64 }
        "#,
    );
    assert_eq!(
        message,
        r#"`crate` must be a path to the ORM crate, such as `crate = "orm_sqlx"`"#
    );
    assert_eq!(at, r#""not a path""#);
}

#[test]
fn a_repeated_attribute_is_refused_on_the_repetition() {
    let found = errors(
        r#"
        #[orm(table = "a")]
        #[orm(table = "b")]
        struct Book { #[orm(column = "x", column = "y")] id: i64, #[orm(auto, auto)] n: i64 }
        "#,
    );
    let messages: Vec<_> = found
        .iter()
        .map(|(m, at)| (m.as_str(), at.as_str()))
        .collect();
    assert_eq!(
        &messages[..3],
        [
            (
                "duplicate `orm` attribute `table`; remove this one",
                "table"
            ),
            (
                "duplicate `orm` attribute `column`; remove this one",
                "column"
            ),
            ("duplicate `orm` attribute `auto`; remove this one", "auto"),
        ]
    );
}

#[test]
fn attribute_syntax_errors_are_reported_and_other_attributes_still_read() {
    let found = errors(
        r#"
        #[orm]
        #[orm(tabel = "x")]
        struct Book { id: i64 }
        "#,
    );
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0]
            .0
            .contains("expected attribute arguments in parentheses")
    );
    assert_eq!(found[1].1, "tabel");
}

#[test]
fn other_attributes_are_ignored() {
    assert!(
        errors(
            r#"
            #[serde(rename = "x")]
            #[doc = "A book."]
            struct Book { #[serde(skip)] id: i64 }
            "#
        )
        .is_empty()
    );
}

#[test]
fn every_mistake_is_reported_at_once() {
    let found = errors(
        r#"
        #[orm(tabel = "x")]
        #[orm(table = 5)]
        pub struct Book {
            #[orm(column = "t", primary_ky)]
            pub title: String,
            #[orm(auto)]
            pub pages: i32,
            #[orm(table = "x", column)]
            pub rating: Option<f64>,
        }
        "#,
    );
    let at: Vec<_> = found.iter().map(|(_, at)| at.as_str()).collect();
    assert_eq!(
        at,
        [
            "tabel",
            "5",
            "primary_ky",
            "table",
            "column",
            "Book",
            "auto"
        ],
        "{found:#?}"
    );
}

#[test]
fn an_unknown_on_delete_value_names_the_known_ones() {
    let (message, at) = error(
        r#"
        struct Book { id: i64, #[orm(on_delete = "nullify")] author: ForeignKey<Author> }
        "#,
    );
    assert_eq!(
        message,
        r#"unknown `on_delete` value "nullify"; expected one of "cascade", "set_null", "protect", "restrict", "do_nothing""#
    );
    assert_eq!(at, r#""nullify""#);
    let (message, at) = error(
        r#"
        struct Book { id: i64, #[orm(on_delete)] author: ForeignKey<Author> }
        "#,
    );
    assert_eq!(
        message,
        r#"`on_delete` needs a string value: write `on_delete = "cascade"`"#
    );
    assert_eq!(at, "on_delete");
}

#[test]
fn reverse_needs_a_path_in_parentheses() {
    let how = "`reverse` names the foreign key this field mirrors, as `reverse(Model::field)`: \
               write `reverse(Book::author)` for the books whose `author` is this model";
    for (attr, at) in [
        (r#"reverse = "Book::author""#, r#"= "Book::author""#),
        ("reverse", "reverse"),
        ("reverse()", "reverse"),
        ("reverse(author)", "author"),
        ("reverse(Book::author, x)", "Book::author, x"),
        ("reverse(Book::<T>::author)", "Book::<T>::author"),
        ("reverse(\"Book::author\")", "\"Book::author\""),
    ] {
        let found = errors(&format!(
            "struct Author {{ id: i64, #[orm({attr})] books: Reverse<Book> }}"
        ));
        assert_eq!(found[0], (how.to_owned(), at.to_owned()), "{attr}");
    }
}

#[test]
fn relation_attributes_are_read_once() {
    let found = errors(
        r#"
        struct Book {
            id: i64,
            #[orm(on_delete = "cascade", on_delete = "protect")] author: ForeignKey<Author>,
            #[orm(through = "a", through = "b", many_to_many, many_to_many)] tags: ManyToMany<Tag>,
        }
        "#,
    );
    let messages: Vec<_> = found
        .iter()
        .map(|(m, at)| (m.as_str(), at.as_str()))
        .collect();
    assert_eq!(
        messages,
        [
            (
                "duplicate `orm` attribute `on_delete`; remove this one",
                "on_delete"
            ),
            (
                "duplicate `orm` attribute `through`; remove this one",
                "through"
            ),
            (
                "duplicate `orm` attribute `many_to_many`; remove this one",
                "many_to_many"
            ),
        ]
    );
}
