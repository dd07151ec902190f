//! Relation fields: how their types are read, their rules, and what they generate.

use quote::quote;

use super::{code, error, errors, run};

/// `out` contains `fragment`, token for token.
#[track_caller]
fn assert_has(out: &str, fragment: proc_macro2::TokenStream) {
    let fragment = fragment.to_string();
    assert!(
        out.contains(&fragment),
        "missing:\n{fragment}\n\nin:\n{out}"
    );
}

const BOOK: &str = r#"
    #[orm(table = "books", crate = "orm")]
    pub struct Book {
        pub id: i64,
        #[orm(on_delete = "protect")]
        pub author: ForeignKey<Author>,
        #[orm(on_delete = "set_null")]
        pub editor: Option<OneToOne<Author>>,
        pub tags: ManyToMany<Tag>,
        #[orm(column = "pages_count")]
        pub pages: i32,
    }
"#;

#[test]
fn a_foreign_key_is_a_column_named_field_id() {
    let out = code(BOOK);
    assert_has(
        &out,
        quote! {
            orm::__private::ColumnMeta {
                field: "author",
                column: "author_id",
                sql_type: <ForeignKey<Author> as orm::__private::FieldType>::SQL_TYPE,
                nullable: <ForeignKey<Author> as orm::__private::FieldType>::NULLABLE,
                primary_key: false,
                auto: false,
                options: orm::__private::ColumnOptions::NONE,
            }
        },
    );
    assert_has(&out, quote!(column: "editor_id"));
    assert_has(&out, quote!(column: "pages_count"));
    // Three columns: the many-to-many relation is not one.
    assert_has(
        &out,
        quote!(static __COLUMNS: [orm::__private::ColumnMeta; 4usize]),
    );
    assert!(!out.contains(r#"field : "tags""#), "{out}");
    // `column` still renames a key.
    let out = code(r#"struct A { id: i64, #[orm(column = "writer")] author: ForeignKey<B> }"#);
    assert!(out.contains(r#"column : "writer""#), "{out}");
}

#[test]
fn each_relation_gets_a_static_description() {
    let out = code(BOOK);
    assert_has(
        &out,
        quote! {
            #[allow(non_upper_case_globals)]
            static __REL_author: orm::__private::RelationMeta = orm::__private::RelationMeta {
                name: "author",
                kind: orm::__private::RelationKind::ForeignKey,
                index: 0usize,
                parent: || <Book as orm::__private::Model>::META,
                target: || <Author as orm::__private::Model>::META,
                key_column: ::core::option::Option::Some(1usize),
                nullable: false,
                forward: ::core::option::Option::None,
                through: ::core::option::Option::None,
                on_delete: orm::__private::OnDelete::Protect,
                fetch: orm::__private::fetch::<Author>,
            };
        },
    );
    assert_has(
        &out,
        quote! {
            static __REL_editor: orm::__private::RelationMeta = orm::__private::RelationMeta {
                name: "editor",
                kind: orm::__private::RelationKind::OneToOne,
                index: 1usize,
                parent: || <Book as orm::__private::Model>::META,
                target: || <Author as orm::__private::Model>::META,
                key_column: ::core::option::Option::Some(2usize),
                nullable: true,
                forward: ::core::option::Option::None,
                through: ::core::option::Option::None,
                on_delete: orm::__private::OnDelete::SetNull,
                fetch: orm::__private::fetch::<Author>,
            };
        },
    );
    assert_has(
        &out,
        quote! {
            static __REL_tags: orm::__private::RelationMeta = orm::__private::RelationMeta {
                name: "tags",
                kind: orm::__private::RelationKind::ManyToMany,
                index: 2usize,
                parent: || <Book as orm::__private::Model>::META,
                target: || <Tag as orm::__private::Model>::META,
                key_column: ::core::option::Option::None,
                nullable: false,
                forward: ::core::option::Option::None,
                through: Book::__orm_through_tags,
                on_delete: orm::__private::OnDelete::Cascade,
                fetch: orm::__private::fetch::<Tag>,
            };
        },
    );
    // The join table, where the other side of the many-to-many reads it.
    assert_has(
        &out,
        quote! {
            impl Book {
                #[doc(hidden)]
                #[allow(non_upper_case_globals)]
                pub const __orm_through_tags: ::core::option::Option<orm::__private::ThroughMeta> =
                    ::core::option::Option::Some(orm::__private::ThroughMeta {
                        table: "books_tags",
                        parent_column: "book_id",
                        target_column: "tag_id",
                    });
            }
        },
    );
    assert_has(
        &out,
        quote!(relations: &[&__REL_author, &__REL_editor, &__REL_tags]),
    );
}

#[test]
fn the_other_side_of_a_many_to_many_reads_the_forward_join_table_swapped() {
    let out = code(
        r#"#[orm(crate = "orm")]
        struct Tag { id: i64, #[orm(reverse(Book::tags))] books: ManyToMany<Book> }"#,
    );
    assert_has(
        &out,
        quote!(kind: orm::__private::RelationKind::ManyToMany,),
    );
    assert_has(&out, quote!(forward: ::core::option::Option::Some("tags"),));
    let read = quote!(through: ::core::option::Option::Some(
        orm::__private::reversed_through(<Book>::__orm_through_tags)
    ))
    .to_string();
    // Up to the message.
    let read = read.trim_end_matches([')', ' ']);
    assert!(out.contains(read), "missing:\n{read}\n\nin:\n{out}");
    // It owns no join table.
    assert_has(
        &out,
        quote!(
            pub const __orm_through_books: ::core::option::Option<orm::__private::ThroughMeta> =
                ::core::option::Option::None;
        ),
    );
}

#[test]
fn relation_methods_follow_the_path() {
    let out = code(BOOK);
    assert_has(
        &out,
        quote! {
            pub fn author(&self) -> <Author as orm::__private::Model>::FieldsAt<R, K> {
                <Author as orm::__private::Model>::fields_at(self.__path.join(&__REL_author))
            }
        },
    );
    assert_has(
        &out,
        quote! {
            pub fn tags(&self) -> <Tag as orm::__private::Model>::FieldsAt<R, orm::__private::Many> {
                <Tag as orm::__private::Model>::fields_at(self.__path.join(&__REL_tags))
            }
        },
    );
    // A foreign key keeps its column handle; a many-to-many relation has none.
    assert_has(
        &out,
        quote!(pub author: orm::__private::Field<R, ForeignKey<Author>, K>),
    );
    assert!(!out.contains("pub tags : orm"), "{out}");
    // The methods are where the statics are: inside the `const _` block.
    let block = out.find("const _ : () =").expect("const block");
    assert!(out.find("pub fn author").expect("method") > block);
}

#[test]
fn rows_attach_the_relation_and_skip_what_is_not_a_column() {
    let out = code(BOOK);
    assert_has(
        &out,
        quote! {
            ::core::result::Result::Ok(Book {
                id: <i64 as orm::__private::FieldType>::decode(__row, __offset + 0usize).map_err(|__e: orm::__private::Error| __e.at_field("Book", "id", "id"))?,
                author: <ForeignKey<Author> as orm::__private::ForwardKey>::__with_meta(
                    <ForeignKey<Author> as orm::__private::FieldType>::decode(__row, __offset + 1usize).map_err(|__e: orm::__private::Error| __e.at_field("Book", "author", "author_id"))?,
                    &__REL_author
                ),
                editor: <Option<OneToOne<Author> > as orm::__private::ForwardKey>::__with_meta(
                    <Option<OneToOne<Author> > as orm::__private::FieldType>::decode(__row, __offset + 2usize).map_err(|__e: orm::__private::Error| __e.at_field("Book", "editor", "editor_id"))?,
                    &__REL_editor
                ),
                pages: <i32 as orm::__private::FieldType>::decode(__row, __offset + 3usize).map_err(|__e: orm::__private::Error| __e.at_field("Book", "pages", "pages_count"))?,
                tags: orm::__private::RelatedSet::__with_meta(&__REL_tags),
            })
        },
    );
    assert_has(
        &out,
        quote! {
            1usize => self.author = <ForeignKey<Author> as orm::__private::ForwardKey>::__with_meta(
                <ForeignKey<Author> as orm::__private::FieldType>::decode(__row, __idx).map_err(|__e: orm::__private::Error| __e.at_field("Book", "author", "author_id"))?,
                &__REL_author
            ),
        },
    );
    assert!(!out.contains("to_value (& self . tags)"), "{out}");
    assert!(!out.contains("4usize =>"), "{out}");
}

#[test]
fn slots_and_shallow_clones() {
    let out = code(BOOK);
    assert_has(
        &out,
        quote! {
            match __index {
                0usize => ::core::option::Option::Some(&mut self.author),
                1usize => ::core::option::Option::Some(&mut self.editor),
                2usize => ::core::option::Option::Some(&mut self.tags),
                _ => ::core::option::Option::None,
            }
        },
    );
    assert_has(
        &out,
        quote! {
            match __index {
                0usize => ::core::option::Option::Some(&self.author),
                1usize => ::core::option::Option::Some(&self.editor),
                2usize => ::core::option::Option::Some(&self.tags),
                _ => ::core::option::Option::None,
            }
        },
    );
    assert_has(
        &out,
        quote! {
            fn shallow_clone(&self) -> Self {
                Book {
                    id: <i64 as ::core::clone::Clone>::clone(&self.id),
                    author: <ForeignKey<Author> as orm::__private::ForwardKey>::__key_only(&self.author),
                    editor: <Option<OneToOne<Author> > as orm::__private::ForwardKey>::__key_only(&self.editor),
                    pages: <i32 as ::core::clone::Clone>::clone(&self.pages),
                    tags: orm::__private::RelatedSet::__with_meta(&__REL_tags),
                }
            }
        },
    );
    assert_has(
        &out,
        quote! {
            type FieldsAt<__R, __K: orm::__private::PathKind> = BookFields<__R, __K>;
        },
    );
}

#[test]
fn a_reverse_relation_mirrors_a_named_foreign_key() {
    let out = code(
        r#"
        #[orm(crate = "orm")]
        pub struct Author {
            pub id: i64,
            #[orm(reverse(Book::author))]
            pub books: Reverse<Book>,
            pub name: String,
        }
        "#,
    );
    assert_has(
        &out,
        quote! {
            static __REL_books: orm::__private::RelationMeta = orm::__private::RelationMeta {
                name: "books",
                kind: orm::__private::RelationKind::Reverse,
                index: 0usize,
                parent: || <Author as orm::__private::Model>::META,
                target: || <Book as orm::__private::Model>::META,
                key_column: ::core::option::Option::None,
                nullable: false,
                forward: ::core::option::Option::Some("author"),
                through: ::core::option::Option::None,
                on_delete: orm::__private::OnDelete::Cascade,
                fetch: orm::__private::fetch::<Book>,
            };
        },
    );
    assert_has(
        &out,
        quote! {
            const _: fn(&Book) = |__target: &Book| {
                orm::__private::assert_relation_to::<Author, _>(&__target.author)
            };
        },
    );
    // Not a column: `name` is column 1.
    assert_has(
        &out,
        quote!(name: <String as orm::__private::FieldType>::decode(__row, __offset + 1usize).map_err(|__e: orm::__private::Error| __e.at_field("Author", "name", "name"))?),
    );
    assert_has(
        &out,
        quote!(books: orm::__private::RelatedSet::__with_meta(&__REL_books)),
    );
    assert_has(
        &out,
        quote! {
            pub fn books(&self) -> <Book as orm::__private::Model>::FieldsAt<R, orm::__private::Many> {
                <Book as orm::__private::Model>::fields_at(self.__path.join(&__REL_books))
            }
        },
    );
    // A qualified path, and a `RelatedSet` said to be the reverse side.
    let out = code(
        r#"
        struct Author {
            id: i64,
            #[orm(reverse(crate::models::Book::author))] books: RelatedSet<models::Book>,
        }
        "#,
    );
    assert!(out.contains("const _ : fn (& models :: Book)"), "{out}");
    assert!(out.contains(r#"forward : :: core :: option :: Option :: Some ("author")"#));
}

#[test]
fn many_to_many_names_its_join_table() {
    let through = |out: &str| {
        let start = out.find("ThroughMeta {").expect("a through table");
        let end = out[start..].find('}').expect("closed") + start;
        out[start..=end].to_owned()
    };
    let out = code("struct BookReview { id: i64, tags: ManyToMany<crate::HashTag> }");
    assert_eq!(
        through(&out),
        r#"ThroughMeta { table : "book_review_tags" , parent_column : "book_review_id" , target_column : "hash_tag_id" , }"#
    );
    let out = code(
        r#"
        #[orm(table = "books")]
        struct Book { id: i64, #[orm(many_to_many, through = "tagging")] tags: ManyToMany<Tag> }
        "#,
    );
    assert!(through(&out).contains(r#"table : "tagging""#), "{out}");
    // A model linked to itself.
    for ty in ["ManyToMany<Person>", "ManyToMany<Self>"] {
        let out = code(&format!("struct Person {{ id: i64, friends: {ty} }}"));
        assert_eq!(
            through(&out),
            r#"ThroughMeta { table : "person_friends" , parent_column : "from_person_id" , target_column : "to_person_id" , }"#,
            "{ty}"
        );
    }
    // `many_to_many` says what a `RelatedSet` is.
    let out = code("struct A { id: i64, #[orm(many_to_many)] tags: RelatedSet<Tag> }");
    assert!(out.contains("RelationKind :: ManyToMany"), "{out}");
}

#[test]
fn self_is_replaced_by_the_model_outside_the_struct() {
    let out = code(
        r#"
        struct Category {
            id: i64,
            parent: Option<ForeignKey<Self>>,
            #[orm(reverse(Self::parent))]
            children: Reverse<Self>,
        }
        "#,
    );
    assert!(!out.contains("ForeignKey < Self"), "{out}");
    assert!(!out.contains("fn (& Self)"), "{out}");
    assert!(
        out.contains("Field < R , Option < ForeignKey < Category > > , K >"),
        "{out}"
    );
    assert!(out.contains("const _ : fn (& Category)"), "{out}");
    assert!(out.contains("target : || < Category as"), "{out}");
}

#[test]
fn a_reverse_field_needs_reverse() {
    let (message, at) = error("struct Author { id: i64, books: Reverse<Book> }");
    assert_eq!(
        message,
        "a `Reverse<T>` field needs `#[orm(reverse(T::field))]` naming the foreign key on `T` \
         that points here"
    );
    assert_eq!(at, "Reverse<Book>");
    // Still expanded, without the relation, so the model itself stays usable.
    let out = run("struct Author { id: i64, books: Reverse<Book> }")
        .code
        .to_string();
    assert!(
        out.contains("books : :: core :: default :: Default :: default ()"),
        "{out}"
    );
    assert!(out.contains("relations : & []"), "{out}");

    let (message, at) = error("struct Author { id: i64, books: RelatedSet<Book> }");
    assert_eq!(
        message,
        "a `RelatedSet<T>` field must say which relation it holds: write `Reverse<T>` with \
         `#[orm(reverse(T::field))]` for the rows of `T` whose foreign key points here, or \
         `ManyToMany<T>`"
    );
    assert_eq!(at, "RelatedSet<Book>");
}

#[test]
fn reverse_must_name_a_field_of_its_model() {
    let (message, at) = error(
        r#"
        struct Author { id: i64, #[orm(reverse(models::Novel::author))] books: Reverse<Book> }
        "#,
    );
    assert_eq!(
        message,
        "`reverse` must name a field of `Book`, the model this field holds; write \
         `reverse(Book::author)`"
    );
    assert_eq!(at, "models::Novel");
}

#[test]
fn many_valued_relations_are_never_null() {
    let (message, at) = error(
        r#"struct Author { id: i64, #[orm(reverse(Book::author))] books: Option<Reverse<Book>> }"#,
    );
    assert_eq!(
        message,
        "a reverse relation is never NULL (it holds no rows when nothing points here); remove \
         the `Option`: write `Reverse<Book>`"
    );
    assert_eq!(at, "Option<Reverse<Book>>");
    let (message, at) =
        error("struct Book { id: i64, tags: std::option::Option<ManyToMany<Tag>> }");
    assert_eq!(
        message,
        "a many-to-many relation is never NULL (it holds no rows when none are linked); remove \
         the `Option`: write `ManyToMany<Tag>`"
    );
    assert_eq!(at, "std::option::Option<ManyToMany<Tag>>");
}

#[test]
fn relation_types_take_one_model() {
    let cases = [
        (
            "ForeignKey",
            "ForeignKey",
            "`ForeignKey` takes one type argument, the model it points at, by name: write \
             `ForeignKey<Author>`",
        ),
        (
            "OneToOne<A, B>",
            "OneToOne<A, B>",
            "`OneToOne` takes one type argument, the model it points at, by name: write \
             `OneToOne<Profile>`",
        ),
        (
            "Option<ForeignKey<&'static A>>",
            "ForeignKey<&'static A>",
            "`ForeignKey` takes one type argument, the model it points at, by name: write \
             `ForeignKey<Author>`",
        ),
        (
            "Reverse<'a>",
            "Reverse<'a>",
            "`Reverse` takes one type argument, the model whose foreign key points here, by \
             name: write `Reverse<Book>`",
        ),
        (
            "orm::ManyToMany<(A, B)>",
            "ManyToMany<(A, B)>",
            "`ManyToMany` takes one type argument, the model it links to, by name: write \
             `ManyToMany<Tag>`",
        ),
    ];
    for (ty, at, message) in cases {
        let found = error(&format!("struct A {{ id: i64, r: {ty} }}"));
        assert_eq!(found, (message.to_owned(), at.to_owned()), "{ty}");
    }
}

#[test]
fn set_null_needs_a_nullable_key() {
    let (message, at) = error(
        r#"struct Book { id: i64, #[orm(on_delete = "set_null")] author: ForeignKey<Author> }"#,
    );
    assert_eq!(
        message,
        "`on_delete = \"set_null\"` needs a key that can be NULL, and `author` is \
         `ForeignKey<Author>`; make the field `Option<ForeignKey<Author>>`"
    );
    assert_eq!(at, r#""set_null""#);
    code(
        r#"struct Book { id: i64, #[orm(on_delete = "set_null")] author: Option<ForeignKey<Author>> }"#,
    );
    for value in ["cascade", "protect", "restrict", "do_nothing"] {
        let out = code(&format!(
            r#"struct Book {{ id: i64, #[orm(on_delete = "{value}")] author: ForeignKey<Author> }}"#
        ));
        assert!(out.contains("OnDelete ::"), "{out}");
    }
}

#[test]
fn relation_attributes_where_they_do_not_apply() {
    let cases = [
        (
            r#"#[orm(on_delete = "cascade")] title: String"#,
            "on_delete",
            "`on_delete` says what deleting the referenced row does to this one, and `title` \
             is not a foreign key; remove `on_delete`",
        ),
        (
            r#"#[orm(reverse(Book::author), on_delete = "cascade")] books: Reverse<Book>"#,
            "on_delete",
            "`on_delete` belongs on the foreign key, and `books` is the reverse side of one; \
             write it on the field that `reverse(...)` names",
        ),
        (
            r#"#[orm(on_delete = "cascade")] tags: ManyToMany<Tag>"#,
            "on_delete",
            "`on_delete` applies to foreign keys, and `tags` is a many-to-many relation, whose \
             links are deleted with either side; remove `on_delete`",
        ),
        (
            "#[orm(reverse(Book::author))] author: ForeignKey<Author>",
            "reverse",
            "`reverse` applies to a `Reverse<T>` field (or a `ManyToMany<T>` on the other side \
             of one), and `author` is `ForeignKey<Author>`; remove `reverse`",
        ),
        (
            r#"#[orm(reverse(Tag::books), through = "x")] tags: ManyToMany<Tag>"#,
            "through",
            "`tags` is the other side of `Tag::books`, whose join table it shares; name the \
             table with `through` on `Tag::books` and remove it here",
        ),
        (
            r#"#[orm(reverse(Tag::books), on_delete = "cascade")] tags: ManyToMany<Tag>"#,
            "on_delete",
            "`on_delete` applies to foreign keys, and `tags` is a many-to-many relation, whose \
             links are deleted with either side; remove `on_delete`",
        ),
        (
            r#"#[orm(through = "x")] author: ForeignKey<Author>"#,
            "through",
            "`through` names the join table of a `ManyToMany<T>` field, and `author` is \
             `ForeignKey<Author>`; remove `through`",
        ),
        (
            r#"#[orm(through = "")] tags: ManyToMany<Tag>"#,
            r#""""#,
            "a join table name cannot be empty; write the table's name, or remove `through` to \
             use `<table>_<field>`",
        ),
        (
            "#[orm(many_to_many)] title: Vec<u8>",
            "many_to_many",
            "`many_to_many` marks a `ManyToMany<T>` field, and `title` is `Vec<u8>`; remove \
             `many_to_many`",
        ),
        (
            r#"#[orm(reverse(Book::author), column = "x")] books: Reverse<Book>"#,
            r#""x""#,
            "`books` is a reverse relation, which has no column in this table; remove `column`",
        ),
        (
            r#"#[orm(column = "x")] tags: ManyToMany<Tag>"#,
            r#""x""#,
            "`tags` is a many-to-many relation, which has no column in this table; remove \
             `column`",
        ),
        (
            r#"#[orm(column = "")] author: ForeignKey<Author>"#,
            r#""""#,
            "a column name cannot be empty; write the column's name, or remove `column` to use \
             `author_id`",
        ),
    ];
    for (field, at, message) in cases {
        let found = error(&format!("struct A {{ id: i64, {field} }}"));
        assert_eq!(found, (message.to_owned(), at.to_owned()), "{field}");
    }
}

#[test]
fn a_relation_is_never_the_primary_key() {
    let (message, at) = error(
        r#"
        struct Profile { #[orm(primary_key, auto)] user: OneToOne<User>, bio: String }
        "#,
    );
    assert_eq!(
        message,
        "a relation cannot be the primary key, and `user` is `OneToOne<User>`; give the model \
         its own key (such as `id: i64`) and remove `primary_key` here"
    );
    assert_eq!(at, "primary_key");
    // With an `id`, the `id` is the key.
    let found = errors("struct A { id: i64, #[orm(primary_key)] b: ManyToMany<B> }");
    assert_eq!(found.len(), 1, "{found:#?}");
    let out = run("struct A { id: i64, #[orm(primary_key)] b: ForeignKey<B> }")
        .code
        .to_string();
    assert!(out.contains("type Pk = i64"), "{out}");

    let (message, at) = error("struct A { id: ForeignKey<B>, name: String }");
    assert_eq!(
        message,
        "a field named `id` is the primary key unless another field is marked \
         `#[orm(primary_key)]`, and this `id` is a relation, which cannot be the key; rename \
         it, or mark the key with `#[orm(primary_key)]`"
    );
    assert_eq!(at, "id");
    // Marked elsewhere, an `id` relation is an ordinary one (column `id_id`).
    let out = code("struct A { #[orm(primary_key)] code: String, id: ForeignKey<B> }");
    assert!(out.contains(r#"column : "id_id""#), "{out}");
}

#[test]
fn a_default_key_column_can_clash() {
    let (message, at) =
        error("struct Book { id: i64, author: ForeignKey<Author>, author_id: i64 }");
    assert_eq!(
        message,
        "column `author_id` is already the column of field `author`; give one of them another \
         name with `#[orm(column = \"...\")]`"
    );
    assert_eq!(at, "author_id");
}

#[test]
fn fields_that_are_not_relations_keep_their_names() {
    // A type merely containing a relation type's name is a column.
    let out = code("struct A { id: i64, a: Vec<ForeignKey<B>>, b: MyReverse }");
    assert!(out.contains(r#"column : "a""#), "{out}");
    assert!(out.contains(r#"column : "b""#), "{out}");
    assert!(out.contains("relations : & []"), "{out}");
}

#[test]
fn many_valued_relations_get_a_related_manager() {
    let out = code(
        r#"
        #[orm(crate = "orm")]
        pub struct Author {
            pub id: i64,
            #[orm(reverse(Book::author))]
            pub books: Reverse<Book>,
            pub tags: ManyToMany<Tag>,
            pub country: ForeignKey<Country>,
        }
        "#,
    );
    assert_has(
        &out,
        quote! {
            impl Author {
                #[doc = "The rows of `books`, as a queryset that queries each time it is evaluated (a related manager). The field `books` holds what `prefetch_related` loaded."]
                pub fn books(&self) -> orm::__private::QuerySet<Book> {
                    orm::__private::QuerySet::__related(
                        &__REL_books,
                        orm::__private::FieldType::to_value(<Self as orm::__private::Model>::pk(self)),
                    )
                }
                #[doc = "The rows of `tags`, as a queryset that queries each time it is evaluated (a related manager). The field `tags` holds what `prefetch_related` loaded."]
                pub fn tags(&self) -> orm::__private::QuerySet<Tag> {
                    orm::__private::QuerySet::__related(
                        &__REL_tags,
                        orm::__private::FieldType::to_value(<Self as orm::__private::Model>::pk(self)),
                    )
                }
            }
        },
    );
    // None for a forward key, nor for a model without relations or without a key.
    assert!(!out.contains("QuerySet < Country >"), "{out}");
    assert!(!code("struct A { id: i64 }").contains("impl A {"));
    let out = run("struct A { #[orm(reverse(B::a))] bs: Reverse<B> }")
        .code
        .to_string();
    assert!(!out.contains("QuerySet"), "{out}");
}
