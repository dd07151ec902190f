//! The generated code, token for token, and what is emitted next to errors.

use quote::quote;

use super::{code, run};
use crate::expand::derive;

#[test]
fn generated_code_has_the_documented_shape() {
    let out = code(
        r#"
        #[derive(Debug)]
        #[orm(table = "books", crate = "my::orm")]
        pub struct Book {
            pub id: i64,
            #[orm(column = "book_title")]
            pub title: Option<String>,
        }
        "#,
    );
    let expected = quote! {
        #[doc = "Typed field handles of [`Book`] for `filter`, `exclude`, `order_by` and `values` closures."]
        pub struct BookFields<R, K = my::orm::__private::Single> {
            #[doc = "`id`: column `id`."]
            pub id: my::orm::__private::Field<R, i64, K>,
            #[doc = "`title`: column `book_title`."]
            pub title: my::orm::__private::Field<R, Option<String>, K>,
            /// The relation hops from the queryset's model to this one.
            #[doc(hidden)]
            pub __path: my::orm::__private::RelPath,
            /// The root model and whether the path can reach several rows.
            #[doc(hidden)]
            pub __kind: ::core::marker::PhantomData<fn() -> (R, K)>,
        }
        const _: () = {
            const fn __orm_field<R, T: my::orm::__private::FieldType, K: my::orm::__private::PathKind>(
                __column: &'static str,
                __path: my::orm::__private::RelPath,
            ) -> my::orm::__private::Field<R, T, K> {
                my::orm::__private::Field::new(__column, __path)
            }

            impl<R, K: my::orm::__private::PathKind> BookFields<R, K> {
                #[doc(hidden)]
                pub const fn __at(__path: my::orm::__private::RelPath) -> Self {
                    let _ = <i64 as my::orm::__private::FieldType>::NULLABLE;
                    let _ = <Option<String> as my::orm::__private::FieldType>::NULLABLE;
                    BookFields {
                        id: __orm_field::<R, i64, K>("id", __path),
                        title: __orm_field::<R, Option<String>, K>("book_title", __path),
                        __path,
                        __kind: ::core::marker::PhantomData,
                    }
                }
            }

            #[automatically_derived]
            impl<R, K: my::orm::__private::PathKind> ::core::clone::Clone for BookFields<R, K> {
                #[inline]
                fn clone(&self) -> Self {
                    *self
                }
            }

            #[automatically_derived]
            impl<R, K: my::orm::__private::PathKind> ::core::marker::Copy for BookFields<R, K> {}

            #[automatically_derived]
            impl<R, K: my::orm::__private::PathKind> my::orm::__private::RelationPath for BookFields<R, K> {
                type Root = R;
                type Kind = K;
                type Target = Book;

                fn rel_path(&self) -> my::orm::__private::RelPath {
                    self.__path
                }
            }

            static __COLUMNS: [my::orm::__private::ColumnMeta; 2usize] = [
                my::orm::__private::ColumnMeta {
                    field: "id",
                    column: "id",
                    sql_type: <i64 as my::orm::__private::FieldType>::SQL_TYPE,
                    nullable: <i64 as my::orm::__private::FieldType>::NULLABLE,
                    primary_key: true,
                    auto: true,
                    options: my::orm::__private::ColumnOptions::NONE,
                },
                my::orm::__private::ColumnMeta {
                    field: "title",
                    column: "book_title",
                    sql_type: <Option<String> as my::orm::__private::FieldType>::SQL_TYPE,
                    nullable: <Option<String> as my::orm::__private::FieldType>::NULLABLE,
                    primary_key: false,
                    auto: false,
                    options: my::orm::__private::ColumnOptions::NONE,
                }
            ];
            static __META: my::orm::__private::ModelMeta = my::orm::__private::ModelMeta {
                name: "Book",
                table: "books",
                columns: &__COLUMNS,
                pk: 0usize,
                relations: &[],
                indexes: &[],
                renamed_from: ::core::option::Option::None,
            };

            #[automatically_derived]
            impl my::orm::__private::Model for Book {
                type Fields = BookFields<Book>;
                type FieldsAt<__R, __K: my::orm::__private::PathKind> = BookFields<__R, __K>;

                type Pk = i64;

                fn pk(&self) -> &Self::Pk {
                    &self.id
                }

                fn set_pk(&mut self, __pk: Self::Pk) {
                    self.id = __pk;
                }

                const META: &'static my::orm::__private::ModelMeta = &__META;

                fn fields() -> Self::Fields {
                    BookFields::__at(my::orm::__private::RelPath::ROOT)
                }

                fn fields_at<__R, __K: my::orm::__private::PathKind>(__path: my::orm::__private::RelPath) -> Self::FieldsAt<__R, __K> {
                    BookFields::__at(__path)
                }

                fn relation_mut(
                    &mut self,
                    _: usize,
                ) -> ::core::option::Option<&mut dyn my::orm::__private::RelationSlot> {
                    ::core::option::Option::None
                }

                fn shallow_clone(&self) -> Self {
                    Book {
                        id: <i64 as ::core::clone::Clone>::clone(&self.id),
                        title: <Option<String> as ::core::clone::Clone>::clone(&self.title),
                    }
                }

                fn from_row_at<__R: my::orm::__private::Row + ?Sized>(
                    __row: &__R,
                    __offset: usize,
                ) -> my::orm::__private::Result<Self> {
                    ::core::result::Result::Ok(Book {
                        id: <i64 as my::orm::__private::FieldType>::decode(__row, __offset + 0usize).map_err(|__e: my::orm::__private::Error| __e.at_field("Book", "id", "id"))?,
                        title: <Option<String> as my::orm::__private::FieldType>::decode(__row, __offset + 1usize).map_err(|__e: my::orm::__private::Error| __e.at_field("Book", "title", "book_title"))?,
                    })
                }

                fn column_values(&self) -> ::std::vec::Vec<my::orm::__private::Value> {
                    ::std::vec![
                        <i64 as my::orm::__private::FieldType>::to_value(&self.id),
                        <Option<String> as my::orm::__private::FieldType>::to_value(&self.title)
                    ]
                }

                fn column_value(&self, __column: usize) -> ::core::option::Option<my::orm::__private::Value> {
                    match __column {
                        0usize => ::core::option::Option::Some(<i64 as my::orm::__private::FieldType>::to_value(&self.id)),
                        1usize => ::core::option::Option::Some(<Option<String> as my::orm::__private::FieldType>::to_value(&self.title)),
                        _ => ::core::option::Option::None,
                    }
                }

                fn set_column_from_row<__R: my::orm::__private::Row + ?Sized>(
                    &mut self,
                    __column: usize,
                    __row: &__R,
                    __idx: usize,
                ) -> my::orm::__private::Result<()> {
                    match __column {
                        0usize => self.id = <i64 as my::orm::__private::FieldType>::decode(__row, __idx).map_err(|__e: my::orm::__private::Error| __e.at_field("Book", "id", "id"))?,
                        1usize => self.title = <Option<String> as my::orm::__private::FieldType>::decode(__row, __idx).map_err(|__e: my::orm::__private::Error| __e.at_field("Book", "title", "book_title"))?,
                        _ => {}
                    }
                    ::core::result::Result::Ok(())
                }
            }

            #[doc(hidden)]
            #[allow(dead_code)]
            pub struct __OrmKeyHint<__M: 'static> {
                pub id: my::orm::__private::KeyNotFollowed<__M>,
                pub title: my::orm::__private::KeyNotFollowed<__M>,
                __orm_model: ::core::marker::PhantomData<fn() -> __M>,
            }

            #[allow(dead_code)]
            impl<__M: 'static> __OrmKeyHint<__M> {}

            #[automatically_derived]
            impl my::orm::__private::KeyHint for Book {
                type Hint = __OrmKeyHint<Book>;
                const HINT: &'static __OrmKeyHint<Book> = &__OrmKeyHint {
                    id: my::orm::__private::KeyNotFollowed::NEW,
                    title: my::orm::__private::KeyNotFollowed::NEW,
                    __orm_model: ::core::marker::PhantomData,
                };
            }

            #[automatically_derived]
            impl my::orm::__private::Hooks for Book {}
        };
    };
    assert_eq!(out, expected.to_string());
}

#[test]
fn the_default_crate_is_orm_sqlx() {
    let out = code("struct A { id: i64 }");
    assert!(
        out.contains("impl :: orm_sqlx :: __private :: Model for A"),
        "{out}"
    );
}

#[test]
fn visibility_of_the_handles_follows_the_model() {
    let out = code("pub(crate) struct A { id: i64 }");
    assert!(
        out.contains("pub (crate) struct AFields < R , K = :: orm_sqlx :: __private :: Single >"),
        "{out}"
    );
    assert!(out.contains("pub (crate) id : :: orm_sqlx"), "{out}");
    let out = code("struct A { id: i64 }");
    assert!(!out.contains("pub struct AFields"), "{out}");
    assert!(out.contains("] id : :: orm_sqlx"), "{out}");
}

#[test]
fn the_root_parameter_avoids_a_field_type_named_r() {
    let out = code("struct A { id: i64, r: Vec<R> }");
    assert!(out.contains("struct AFields < __OrmRoot , K ="), "{out}");
    assert!(!out.contains("< R ,"), "{out}");
    let out = code("struct A { id: i64, k: Vec<K>, b: ForeignKey<R> }");
    assert!(
        out.contains("struct AFields < __OrmRoot , __OrmKind ="),
        "{out}"
    );
    assert!(out.contains("FieldsAt < __OrmRoot , __OrmKind >"), "{out}");
}

#[test]
fn a_missing_key_still_emits_handles_and_a_stub_impl() {
    let expansion = run("struct A { title: String }");
    assert!(expansion.errors.is_some());
    let out = expansion.code.to_string();
    assert!(out.contains("struct AFields < R , K"), "{out}");
    assert!(out.contains("type Pk = i64"), "{out}");
    assert!(out.contains(":: core :: unreachable ! ()"), "{out}");
    assert!(out.contains("pk : 0usize"), "{out}");
}

#[test]
fn attribute_mistakes_still_emit_the_full_expansion() {
    let expansion = run(r#"#[orm(tabel = "x")] struct A { id: i64 }"#);
    assert!(expansion.errors.is_some());
    assert!(
        expansion
            .code
            .to_string()
            .contains("impl :: orm_sqlx :: __private :: Model for A")
    );
}

#[test]
fn errors_become_compile_errors_before_the_code() {
    let out = derive(quote! { struct A { title: String } }).to_string();
    assert!(out.starts_with(":: core :: compile_error !"), "{out}");
    assert!(out.contains("struct AFields"), "{out}");
}

#[test]
fn unparsable_input_is_an_error_not_a_panic() {
    let out = derive(quote! { fn not_an_item() {} }).to_string();
    assert!(out.contains("compile_error"), "{out}");
}

#[test]
fn the_crate_path_can_be_relative_or_crate() {
    let out = code(r#"#[orm(crate = "crate")] struct A { id: i64 }"#);
    assert!(
        out.contains("impl crate :: __private :: Model for A"),
        "{out}"
    );
    let out = code(r#"#[orm(crate = "super::orm")] struct A { id: i64 }"#);
    assert!(
        out.contains("impl super :: orm :: __private :: Model for A"),
        "{out}"
    );
}
