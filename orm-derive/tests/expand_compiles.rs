//! The generated code compiles against orm-core and describes the table as written.
//! (`crate = "orm_core"` because orm-core's `__private` is what the facade re-exports.)

#![deny(missing_docs, unused)]

use orm_core::field::{Many, Nullable, RelationPath, Single};
use orm_core::relation::{ForeignKey, OnDelete, RelationKind};
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

/// Relations: a foreign key, a nullable one, a one-to-one, their reverse sides and
/// many-to-many relations, between models in a module.
mod library {
    use orm_core::relation::{ForeignKey, ManyToMany, OneToOne, Reverse};

    /// The target of the foreign keys, with their reverse sides.
    #[derive(orm_derive::Model, Debug, Clone, PartialEq)]
    #[orm(table = "authors", crate = "orm_core")]
    pub struct Author {
        /// Key.
        pub id: i64,
        /// Name.
        pub name: String,
        /// The books whose `author` is this one.
        #[orm(reverse(Book::author))]
        pub books: Reverse<Book>,
        /// The books this author edited.
        #[orm(reverse(crate::library::Book::editor))]
        pub edited: Reverse<Book>,
    }

    /// A nullable foreign key's target, with a `String` key.
    #[derive(orm_derive::Model, Debug, Clone, PartialEq)]
    #[orm(crate = "orm_core")]
    pub struct Publisher {
        /// Key.
        #[orm(primary_key)]
        pub code: String,
        /// The books it published (a nullable key points here).
        #[orm(reverse(Book::publisher))]
        pub books: Reverse<Book>,
    }

    /// A many-to-many target.
    #[derive(orm_derive::Model, Debug, Clone, PartialEq)]
    #[orm(table = "tags", crate = "orm_core")]
    pub struct Tag {
        /// Key.
        pub id: i32,
        /// Label.
        pub label: String,
    }

    /// Every kind of relation.
    #[derive(orm_derive::Model, Debug, Clone, PartialEq)]
    #[orm(table = "books", crate = "orm_core")]
    pub struct Book {
        /// Key.
        pub id: i64,
        /// Title.
        pub title: String,
        /// Column `author_id`.
        #[orm(on_delete = "protect")]
        pub author: ForeignKey<Author>,
        /// Column `publisher_id`, nullable.
        #[orm(on_delete = "set_null")]
        pub publisher: Option<ForeignKey<Publisher>>,
        /// A renamed one-to-one key.
        #[orm(column = "editor_ref", on_delete = "do_nothing")]
        pub editor: OneToOne<Author>,
        /// Through `books_tags`.
        pub tags: ManyToMany<Tag>,
        /// Through a named table.
        #[orm(many_to_many, through = "book_awards")]
        pub awards: ManyToMany<Tag>,
        /// A column after the relations.
        pub pages: i32,
    }

    /// Relations to itself, written with `Self`.
    #[derive(orm_derive::Model, Debug, Clone, PartialEq)]
    #[orm(crate = "orm_core")]
    pub struct Category {
        /// Key.
        pub id: i64,
        /// The parent category.
        pub parent: Option<ForeignKey<Self>>,
        /// The categories whose parent this is.
        #[orm(reverse(Self::parent))]
        pub children: Reverse<Self>,
        /// A many-to-many relation to itself.
        pub related: ManyToMany<Category>,
    }
}

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

fn relation_names<M: Model>() -> Vec<&'static str> {
    M::META.relations.iter().map(|r| r.name).collect()
}

#[test]
fn foreign_keys_are_columns_named_field_id() {
    use library::{Author, Book, Category, Publisher, Tag};
    assert_eq!(
        column_names::<Book>(),
        [
            "id",
            "title",
            "author_id",
            "publisher_id",
            "editor_ref",
            "pages"
        ]
    );
    let columns = Book::META.columns;
    assert_eq!(columns[2].field, "author");
    assert_eq!(columns[2].sql_type, SqlType::I64);
    assert!(!columns[2].nullable);
    assert_eq!(columns[3].sql_type, SqlType::Text);
    assert!(columns[3].nullable);
    // Reverse and many-to-many relations are not columns.
    assert_eq!(column_names::<Author>(), ["id", "name"]);
    assert_eq!(column_names::<Publisher>(), ["code"]);
    assert_eq!(column_names::<Tag>(), ["id", "label"]);
    assert_eq!(column_names::<Category>(), ["id", "parent_id"]);
    assert_eq!(Book::fields().author.column_name(), "author_id");
    assert_eq!(Book::fields().editor.column_name(), "editor_ref");
}

#[test]
fn relation_metas_describe_each_relation() {
    use library::{Author, Book, Category, Publisher, Tag};
    assert_eq!(
        relation_names::<Book>(),
        ["author", "publisher", "editor", "tags", "awards"]
    );
    assert_eq!(relation_names::<Author>(), ["books", "edited"]);
    assert_eq!(relation_names::<Publisher>(), ["books"]);
    assert!(relation_names::<Tag>().is_empty());
    assert_eq!(
        relation_names::<Category>(),
        ["parent", "children", "related"]
    );

    let rows: Vec<_> = Book::META
        .relations
        .iter()
        .map(|r| {
            (
                r.name,
                r.kind,
                r.index,
                r.key_column,
                r.nullable,
                r.on_delete,
                (r.parent)().name,
                (r.target)().name,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "author",
                RelationKind::ForeignKey,
                0,
                Some(2),
                false,
                OnDelete::Protect,
                "Book",
                "Author"
            ),
            (
                "publisher",
                RelationKind::ForeignKey,
                1,
                Some(3),
                true,
                OnDelete::SetNull,
                "Book",
                "Publisher"
            ),
            (
                "editor",
                RelationKind::OneToOne,
                2,
                Some(4),
                false,
                OnDelete::DoNothing,
                "Book",
                "Author"
            ),
            (
                "tags",
                RelationKind::ManyToMany,
                3,
                None,
                false,
                OnDelete::Cascade,
                "Book",
                "Tag"
            ),
            (
                "awards",
                RelationKind::ManyToMany,
                4,
                None,
                false,
                OnDelete::Cascade,
                "Book",
                "Tag"
            ),
        ]
    );
    for r in &Book::META.relations[..3] {
        assert!(r.forward.is_none() && r.through.is_none(), "{r:?}");
    }
    let through = |m: &orm_core::ModelMeta, name: &str| {
        let t = m
            .relation(name)
            .and_then(|r| r.through.as_ref())
            .expect(name);
        (t.table, t.parent_column, t.target_column)
    };
    assert_eq!(
        through(Book::META, "tags"),
        ("books_tags", "book_id", "tag_id")
    );
    assert_eq!(
        through(Book::META, "awards"),
        ("book_awards", "book_id", "tag_id")
    );
    // A model linked to itself: Django's from_/to_ columns.
    assert_eq!(
        through(Category::META, "related"),
        ("category_related", "from_category_id", "to_category_id")
    );

    let books = Author::META.relation("books").expect("reverse relation");
    assert_eq!(books.kind, RelationKind::Reverse);
    assert_eq!(books.forward, Some("author"));
    assert_eq!(books.key_column, None);
    assert!(std::ptr::eq(
        books.forward_relation().expect("mirrors Book.author"),
        Book::META.relation("author").expect("forward")
    ));
    let edited = Author::META.relation("edited").expect("reverse relation");
    assert_eq!((edited.index, edited.forward), (1, Some("editor")));
    let children = Category::META.relation("children").expect("reverse");
    assert_eq!(children.forward, Some("parent"));
    assert_eq!((children.target)().name, "Category");
    assert!(Category::META.relation("parent").expect("fk").nullable);
}

/// Compiles only for handles reached through forward relations.
fn single<P: RelationPath<Kind = Single>>(p: P) -> P {
    p
}

/// Compiles only for handles reached through a nullable forward relation.
fn nullable<P: RelationPath<Kind = Nullable>>(p: P) -> P {
    p
}

/// Compiles only for handles reached through a many-valued relation.
fn many<P: RelationPath<Kind = Many>>(p: P) -> P {
    p
}

#[test]
fn relation_methods_follow_the_path() {
    use library::{Author, Book, Category};
    let author = single(Book::fields().author());
    let name = author.name;
    assert_eq!(name.column_name(), "name");
    let path = name.column_ref().path;
    assert_eq!(path.hops().count(), 1);
    assert!(std::ptr::eq(
        path.last().expect("one hop"),
        Book::META.relation("author").expect("author")
    ));
    assert!(Book::fields().rel_path().is_root());
    // A foreign key keeps its column handle next to the method.
    assert_eq!(Book::fields().author.column_name(), "author_id");
    assert_eq!(
        Book::fields()
            .publisher()
            .books()
            .title
            .column_ref()
            .path
            .hops()
            .count(),
        2
    );

    let books = many(Author::fields().books());
    let title = books.title;
    assert_eq!(
        title.column_ref().path.hops().next().map(|r| r.name),
        Some("books")
    );
    // Forward from a many-valued path stays many-valued.
    let back = many(Author::fields().books().author());
    let hops: Vec<_> = back
        .name
        .column_ref()
        .path
        .hops()
        .map(|r| r.label())
        .collect();
    assert_eq!(hops, ["Author.books", "Book.author"]);
    let tags = many(Book::fields().tags());
    assert_eq!(tags.label.column_name(), "label");
    // `parent` is a nullable key: past it, the path may reach no row.
    let parent = nullable(Category::fields().parent().parent());
    assert_eq!(parent.rel_path().hops().count(), 2);
    many(Category::fields().children());
    many(Category::fields().related());
}

fn a_book() -> library::Book {
    library::Book {
        id: 1,
        title: "Dune".to_owned(),
        author: ForeignKey::new(2),
        publisher: None,
        editor: ForeignKey::new(3),
        tags: Default::default(),
        awards: Default::default(),
        pages: 412,
    }
}

#[test]
fn relation_slots_are_reachable_by_index() {
    use library::{Author, Book};
    let mut book = a_book();
    for index in 0..Book::META.relations.len() {
        assert!(book.relation_mut(index).is_some(), "{index}");
    }
    assert!(book.relation_mut(Book::META.relations.len()).is_none());
    assert_eq!(
        book.relation_mut(0).and_then(|slot| slot.key_value()),
        Some(Value::I64(2))
    );
    // A NULL key has nothing to load.
    assert_eq!(book.relation_mut(1).and_then(|slot| slot.key_value()), None);

    let mut author = Author {
        id: 2,
        name: "Frank".to_owned(),
        books: Default::default(),
        edited: Default::default(),
    };
    assert!(author.relation_mut(0).is_some());
    assert!(author.relation_mut(1).is_some());
    assert!(author.relation_mut(2).is_none());
    let mut tag = library::Tag {
        id: 1,
        label: "sf".to_owned(),
    };
    assert!(tag.relation_mut(0).is_none());
}

#[test]
fn shallow_clones_keep_keys_and_drop_what_was_loaded() {
    use library::Author;
    let mut book = a_book();
    book.author = ForeignKey::to(Author {
        id: 2,
        name: "Frank".to_owned(),
        books: Default::default(),
        edited: Default::default(),
    });
    book.publisher = Some(ForeignKey::new("ace".to_owned()));
    assert!(book.author.is_loaded());
    let copy = book.shallow_clone();
    assert_eq!(copy, book);
    assert_eq!(*copy.author.key(), 2);
    assert!(!copy.author.is_loaded());
    assert_eq!(
        copy.publisher.as_ref().map(|p| p.key().as_str()),
        Some("ace")
    );
    assert!(!copy.tags.is_loaded());
}

#[test]
fn rows_read_keys_and_name_the_relation() {
    use library::{Author, Book};
    let row = FakeRow(vec![
        Value::I64(1),
        Value::Text("Dune".to_owned()),
        Value::I64(2),
        Value::Null(SqlType::Text),
        Value::I64(3),
        Value::I32(412),
    ]);
    let mut book = Book::from_row_at(&row, 0).expect("row decodes");
    assert_eq!(book, a_book());
    assert_eq!(*book.author.key(), 2);
    assert!(book.publisher.is_none());
    let not_loaded = |e: orm_core::Error| match e {
        orm_core::Error::NotLoaded { relation } => relation,
        other => panic!("{other}"),
    };
    assert_eq!(not_loaded(book.author.get().unwrap_err()), "Book.author");
    assert_eq!(not_loaded(book.editor.get().unwrap_err()), "Book.editor");
    assert_eq!(not_loaded(book.tags.all().unwrap_err()), "Book.tags");
    assert_eq!(
        book.column_values(),
        [
            Value::I64(1),
            Value::Text("Dune".to_owned()),
            Value::I64(2),
            Value::Null(SqlType::Text),
            Value::I64(3),
            Value::I32(412),
        ]
    );
    // Reading a key column again keeps the relation's name.
    book.set_column_from_row(2, &row, 4)
        .expect("column decodes");
    assert_eq!(*book.author.key(), 3);
    assert_eq!(not_loaded(book.author.get().unwrap_err()), "Book.author");
    book.set_column_from_row(3, &FakeRow(vec![Value::Text("ace".to_owned())]), 0)
        .expect("column decodes");
    let publisher = book.publisher.as_ref().expect("a key");
    assert_eq!(not_loaded(publisher.get().unwrap_err()), "Book.publisher");

    let author = Author::from_row_at(
        &FakeRow(vec![Value::I64(2), Value::Text("F".to_owned())]),
        0,
    )
    .expect("row decodes");
    assert_eq!(not_loaded(author.books.all().unwrap_err()), "Author.books");
    assert_eq!(
        not_loaded(author.edited.all().unwrap_err()),
        "Author.edited"
    );
}

#[test]
fn related_managers_query_the_related_rows() {
    use library::{Author, Book};
    let author = Author {
        id: 7,
        name: "Frank".to_owned(),
        books: Default::default(),
        edited: Default::default(),
    };
    let books: orm_core::QuerySet<Book> = author.books();
    let shown = format!("{books:?}");
    assert!(
        shown.contains(r#"WHERE \"books\".\"author_id\" = ?", params: [I64(7)]"#),
        "{shown}"
    );
    let shown = format!("{:?}", author.edited());
    assert!(
        shown.contains(r#"WHERE \"books\".\"editor_ref\" = ?"#),
        "{shown}"
    );
    let shown = format!("{:?}", a_book().tags());
    assert!(shown.contains("books_tags"), "{shown}");
    assert!(shown.contains("book_id"), "{shown}");
}
