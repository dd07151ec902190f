//! The generated code compiles against orm-core and describes the table as written.
//! (`crate = "orm_core"` because orm-core's `__private` is what the facade re-exports.)

#![deny(missing_docs, unused)]

use orm_core::{Model, SqlType, Value};

/// An auto-increment `i64` id, a renamed column, a nullable column, a table name.
#[derive(orm_derive::Model, Debug, Clone, PartialEq)]
#[orm(table = "books", crate = "orm_core")]
pub struct Book {
    /// Key.
    pub id: i64,
    /// Title.
    #[orm(column = "book_title")]
    pub title: String,
    /// Pages.
    pub pages: i32,
    /// Rating.
    pub rating: Option<f64>,
}

/// An explicit `String` key; `id` is then an ordinary column. Default table name.
#[derive(orm_derive::Model, Debug, Clone)]
#[orm(crate = "orm_core")]
pub struct BookReview {
    /// Key.
    #[orm(primary_key)]
    pub isbn: String,
    /// Not the key.
    pub id: i64,
    /// Nullable bytes.
    pub cover: Option<Vec<u8>>,
}

/// An `i32` auto id, a key marked `auto` explicitly, and fields named like the generated
/// code's parameters.
#[derive(orm_derive::Model, Debug, Clone)]
#[orm(crate = "::orm_core")]
pub struct Tag {
    /// Key.
    #[orm(primary_key, auto)]
    pub tag_id: i16,
    /// Clashes with nothing.
    pub row: i32,
    /// Clashes with nothing.
    pub offset: i64,
    /// Clashes with nothing.
    pub column: bool,
    /// Clashes with nothing.
    pub idx: f32,
    /// Clashes with nothing.
    pub path: String,
    /// A raw identifier.
    pub r#type: String,
}

/// The implicit `id` as `i32`, a private model.
#[derive(orm_derive::Model, Debug, Clone)]
#[orm(crate = "orm_core")]
struct Counter {
    id: i32,
    hits: Option<i64>,
}

/// A model nested in a module with restricted visibility.
mod shelf {
    #[derive(orm_derive::Model, Debug, Clone)]
    #[orm(crate = "orm_core")]
    pub(crate) struct Shelf {
        pub(crate) id: i64,
        pub(crate) label: String,
    }
}

/// A field type named `R`, which the handles' root parameter must not shadow.
#[derive(orm_derive::Model, Debug, Clone)]
#[orm(crate = "orm_core")]
struct Shadow {
    id: i64,
    value: R,
}
type R = String;

fn column_names<M: Model>() -> Vec<&'static str> {
    M::META.columns.iter().map(|c| c.column).collect()
}

#[test]
fn book_meta_describes_the_table() {
    let meta = Book::META;
    assert_eq!(meta.name, "Book");
    assert_eq!(meta.table, "books");
    assert_eq!(
        column_names::<Book>(),
        ["id", "book_title", "pages", "rating"]
    );
    assert_eq!(meta.pk, 0);
    assert!(meta.has_auto_pk());
    let flags: Vec<_> = meta
        .columns
        .iter()
        .map(|c| (c.field, c.sql_type, c.nullable, c.primary_key, c.auto))
        .collect();
    assert_eq!(
        flags,
        [
            ("id", SqlType::I64, false, true, true),
            ("title", SqlType::Text, false, false, false),
            ("pages", SqlType::I32, false, false, false),
            ("rating", SqlType::F64, true, false, false),
        ]
    );
}

#[test]
fn field_handles_carry_column_names() {
    let b = Book::fields();
    assert_eq!(b.title.column_name(), "book_title");
    assert_eq!(b.id.column_name(), "id");
    assert_eq!(b.rating.column_name(), "rating");
    // Handles are Copy without the root model being Clone-bounded.
    let copy = b;
    assert_eq!(copy.pages.column_name(), b.pages.column_name());
}

#[test]
fn explicit_string_key_is_not_auto_and_id_is_a_column() {
    let meta = BookReview::META;
    assert_eq!(meta.table, "book_review");
    assert_eq!(column_names::<BookReview>(), ["isbn", "id", "cover"]);
    assert_eq!(meta.pk, 0);
    assert!(!meta.has_auto_pk());
    let id = &meta.columns[1];
    assert!(!id.primary_key && !id.auto);
    assert!(meta.columns[2].nullable);
    assert_eq!(meta.columns[2].sql_type, SqlType::Bytes);
}

#[test]
fn explicit_auto_key_and_clashing_field_names() {
    let meta = Tag::META;
    assert_eq!(meta.table, "tag");
    assert_eq!(meta.pk, 0);
    assert!(meta.columns[0].auto && meta.columns[0].primary_key);
    assert_eq!(
        column_names::<Tag>(),
        ["tag_id", "row", "offset", "column", "idx", "path", "type"]
    );
    assert_eq!(meta.columns[6].field, "type");
    assert_eq!(Tag::fields().r#type.column_name(), "type");
    assert_eq!(Tag::fields().path.column_name(), "path");
}

#[test]
fn implicit_i32_id_is_auto() {
    let meta = Counter::META;
    assert_eq!(meta.table, "counter");
    assert!(meta.has_auto_pk());
    assert_eq!(meta.columns[0].sql_type, SqlType::I32);
    assert!(meta.columns[1].nullable);
}

#[test]
fn restricted_visibility_and_shadowing_compile() {
    assert_eq!(shelf::Shelf::META.table, "shelf");
    assert_eq!(shelf::Shelf::fields().label.column_name(), "label");
    assert_eq!(Shadow::fields().value.column_name(), "value");
}

#[test]
fn values_and_keys() {
    let mut book = Book {
        id: 0,
        title: "Dune".to_owned(),
        pages: 412,
        rating: None,
    };
    assert_eq!(
        book.column_values(),
        [
            Value::I64(0),
            Value::Text("Dune".to_owned()),
            Value::I32(412),
            Value::Null(SqlType::F64),
        ]
    );
    book.set_pk(7);
    assert_eq!(*book.pk(), 7);

    let mut review = BookReview {
        isbn: "978-0".to_owned(),
        id: 3,
        cover: None,
    };
    review.set_pk("978-1".to_owned());
    assert_eq!(review.pk(), "978-1");
    let counter = Counter { id: 1, hits: None };
    assert_eq!(*counter.pk(), 1);
}

/// A row of fixed values, read by position.
struct FakeRow(Vec<Value>);

impl orm_core::Row for FakeRow {
    fn backend(&self) -> &'static str {
        "fake"
    }
    fn is_null(&self, idx: usize) -> orm_core::Result<bool> {
        Ok(self.0[idx].is_null())
    }
    fn get_bool(&self, idx: usize) -> orm_core::Result<bool> {
        match self.0[idx] {
            Value::Bool(v) => Ok(v),
            _ => unreachable!(),
        }
    }
    fn get_i16(&self, idx: usize) -> orm_core::Result<i16> {
        match self.0[idx] {
            Value::I16(v) => Ok(v),
            _ => unreachable!(),
        }
    }
    fn get_i32(&self, idx: usize) -> orm_core::Result<i32> {
        match self.0[idx] {
            Value::I32(v) => Ok(v),
            _ => unreachable!(),
        }
    }
    fn get_i64(&self, idx: usize) -> orm_core::Result<i64> {
        match self.0[idx] {
            Value::I64(v) => Ok(v),
            _ => unreachable!(),
        }
    }
    fn get_f32(&self, idx: usize) -> orm_core::Result<f32> {
        match self.0[idx] {
            Value::F32(v) => Ok(v),
            _ => unreachable!(),
        }
    }
    fn get_f64(&self, idx: usize) -> orm_core::Result<f64> {
        match self.0[idx] {
            Value::F64(v) => Ok(v),
            _ => unreachable!(),
        }
    }
    fn get_string(&self, idx: usize) -> orm_core::Result<String> {
        match &self.0[idx] {
            Value::Text(v) => Ok(v.clone()),
            _ => unreachable!(),
        }
    }
    fn get_bytes(&self, idx: usize) -> orm_core::Result<Vec<u8>> {
        match &self.0[idx] {
            Value::Bytes(v) => Ok(v.clone()),
            _ => unreachable!(),
        }
    }
}

#[test]
fn rows_are_read_in_column_order_from_an_offset() {
    let row = FakeRow(vec![
        Value::Text("ignored".to_owned()),
        Value::I64(5),
        Value::Text("Dune".to_owned()),
        Value::I32(412),
        Value::F64(4.5),
    ]);
    let mut book = Book::from_row_at(&row, 1).expect("row decodes");
    assert_eq!(
        book,
        Book {
            id: 5,
            title: "Dune".to_owned(),
            pages: 412,
            rating: Some(4.5),
        }
    );
    book.set_column_from_row(1, &row, 0)
        .expect("column decodes");
    assert_eq!(book.title, "ignored");
    // An index past the columns changes nothing.
    book.set_column_from_row(9, &row, 0).expect("ignored");
    assert_eq!(book.pages, 412);
}
