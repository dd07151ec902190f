//! `#[derive(Partial)]` and `#[derive(FromRow)]`: a struct read from a result row, its
//! fields matched by name. A partial model (`#[orm(model = Book)]`) also selects its
//! fields from the model, and each field's name and type are checked against the model's
//! field handles by the type checker (spanned at the field, so the error lands there).
//!
//! Parse (`Input::from_syn`), then expand; errors are collected in a `Ctxt`, and the
//! impls are still emitted next to them so one mistake does not cascade.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned;
use syn::{Ident, LitStr, Path, Type};

use crate::ctxt::Ctxt;
use crate::symbol::{DEFAULT_CRATE, PRIVATE};

// The attribute names this derive reads.
const ORM: &str = "orm";
const MODEL: &str = "model";
const CRATE: &str = "crate";
const PATH: &str = "path";
const COLUMN: &str = "column";

/// Which derive is expanding.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `#[derive(Partial)]`: some fields of a model, `#[orm(model = …)]` required.
    Partial,
    /// `#[derive(FromRow)]`: any row (raw SQL), no model.
    FromRow,
}

struct Input {
    ident: Ident,
    model: Option<Path>,
    crate_path: Path,
    fields: Vec<Field>,
}

struct Field {
    ident: Ident,
    ty: Type,
    /// The model field it reads, as written: `title`, or `author.name` through relations.
    path: Vec<Ident>,
    /// `#[orm(column = "…")]` (FromRow): the result column's name.
    column: Option<LitStr>,
}

pub(crate) fn derive(input: TokenStream, kind: Kind) -> TokenStream {
    let (code, errors) = generate(input, kind);
    match errors {
        None => code,
        Some(errors) => {
            let errors = errors.to_compile_error();
            quote!(#errors #code)
        }
    }
}

/// The generated code, and every error found (kept apart for tests).
fn generate(input: TokenStream, kind: Kind) -> (TokenStream, Option<syn::Error>) {
    let input: syn::DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(error) => return (TokenStream::new(), Some(error)),
    };
    let cx = Ctxt::new();
    let code = Input::from_syn(&cx, &input, kind)
        .map(|input| expand(&input, kind))
        .unwrap_or_default();
    (code, cx.check().err())
}

impl Input {
    fn from_syn(cx: &Ctxt, input: &syn::DeriveInput, kind: Kind) -> Option<Input> {
        let name = match kind {
            Kind::Partial => "Partial",
            Kind::FromRow => "FromRow",
        };
        if !input.generics.params.is_empty() {
            cx.error_spanned_by(
                &input.generics,
                format!("#[derive({name})] needs a struct without generic parameters"),
            );
            return None;
        }
        let syn::Data::Struct(data) = &input.data else {
            cx.error_spanned_by(
                &input.ident,
                format!("#[derive({name})] needs a struct with named fields"),
            );
            return None;
        };
        let syn::Fields::Named(named) = &data.fields else {
            cx.error_spanned_by(
                &input.ident,
                format!("#[derive({name})] needs a struct with named fields: `struct BookCard {{ id: i64, title: String }}`"),
            );
            return None;
        };
        if kind == Kind::Partial && named.named.is_empty() {
            cx.error_spanned_by(
                &input.ident,
                "a partial model selects its fields, and this one has none: declare the model \
                 fields it reads (`id: i64, title: String`)",
            );
        }
        let mut model = None;
        let mut crate_path = None;
        for_each_orm_meta(cx, &input.attrs, |meta| {
            if meta.path.is_ident(MODEL) && kind == Kind::Partial {
                model = Some(meta.value()?.parse::<Path>()?);
            } else if meta.path.is_ident(CRATE) {
                let lit: LitStr = meta.value()?.parse()?;
                match lit.parse::<Path>() {
                    Ok(path) => crate_path = Some(path),
                    Err(_) => cx.error_spanned_by(
                        &lit,
                        "`crate` must be a path to the ORM crate, such as `crate = \"orm_sqlx\"`",
                    ),
                }
            } else {
                let expected = match kind {
                    Kind::Partial => "`model = Book` or `crate = \"…\"`",
                    Kind::FromRow => "`crate = \"…\"`",
                };
                cx.error_spanned_by(
                    &meta.path,
                    format!(
                        "unknown #[orm(...)] attribute of #[derive({name})]: expected {expected}"
                    ),
                );
                skip_value(meta)?;
            }
            Ok(())
        });
        if kind == Kind::Partial && model.is_none() {
            cx.error_spanned_by(
                &input.ident,
                "#[derive(Partial)] needs the model it reads: add `#[orm(model = Book)]` on the struct",
            );
        }
        let fields = named
            .named
            .iter()
            .filter_map(|field| Field::from_syn(cx, field, kind))
            .collect();
        Some(Input {
            ident: input.ident.clone(),
            model,
            crate_path: crate_path.unwrap_or_else(|| {
                let ident = Ident::new(DEFAULT_CRATE.as_str(), Span::call_site());
                syn::parse_quote!(::#ident)
            }),
            fields,
        })
    }
}

impl Field {
    fn from_syn(cx: &Ctxt, field: &syn::Field, kind: Kind) -> Option<Field> {
        let ident = field.ident.clone()?;
        let mut path = None;
        let mut column = None;
        for_each_orm_meta(cx, &field.attrs, |meta| {
            if meta.path.is_ident(PATH) && kind == Kind::Partial {
                let lit: LitStr = meta.value()?.parse()?;
                let segments: Option<Vec<Ident>> = lit
                    .value()
                    .split('.')
                    .map(|s| syn::parse_str::<Ident>(s.trim()).ok())
                    .collect();
                match segments {
                    Some(segments) if !segments.is_empty() => {
                        // Spanned at the string, so a bad field or relation name is
                        // reported there.
                        path = Some(
                            segments
                                .into_iter()
                                .map(|mut s| {
                                    s.set_span(lit.span());
                                    s
                                })
                                .collect(),
                        );
                    }
                    _ => cx.error_spanned_by(
                        &lit,
                        "`path` names a field of the model, or relations then a field, joined \
                         by dots: `path = \"title\"`, `path = \"author.name\"`",
                    ),
                }
            } else if meta.path.is_ident(COLUMN) && kind == Kind::FromRow {
                column = Some(meta.value()?.parse::<LitStr>()?);
            } else {
                let expected = match kind {
                    Kind::Partial => "`path = \"author.name\"`",
                    Kind::FromRow => "`column = \"name\"`",
                };
                cx.error_spanned_by(
                    &meta.path,
                    format!("unknown #[orm(...)] field attribute here: expected {expected}"),
                );
                skip_value(meta)?;
            }
            Ok(())
        });
        Some(Field {
            path: path.unwrap_or_else(|| vec![ident.clone()]),
            ident,
            ty: field.ty.clone(),
            column,
        })
    }
}

fn for_each_orm_meta(
    cx: &Ctxt,
    attrs: &[syn::Attribute],
    mut f: impl FnMut(&syn::meta::ParseNestedMeta<'_>) -> syn::Result<()>,
) {
    // A repeated attribute is refused, as `#[derive(Model)]` refuses it, rather than the
    // last one silently winning.
    let mut seen: Vec<String> = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident(ORM) {
            continue;
        }
        let parsed = attr.parse_nested_meta(|meta| {
            let name = meta
                .path
                .get_ident()
                .map(|i| i.to_string())
                .unwrap_or_default();
            if !name.is_empty() && seen.contains(&name) {
                cx.error_spanned_by(
                    &meta.path,
                    format!("duplicate `orm` attribute `{name}`; remove this one"),
                );
                return skip_value(&meta);
            }
            seen.push(name);
            f(&meta)
        });
        if let Err(error) = parsed {
            cx.syn_error(error);
        }
    }
}

/// Skip `= value` or `(…)` after an attribute name that was reported.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|_| Ok(()))?;
    }
    Ok(())
}

fn expand(input: &Input, kind: Kind) -> TokenStream {
    let krate = &input.crate_path;
    let private = Ident::new(PRIVATE.as_str(), Span::call_site());
    let orm = quote!(#krate::#private);
    let ident = &input.ident;
    let owner = ident.to_string();
    let types: Vec<&Type> = input.fields.iter().map(|f| &f.ty).collect();
    let reads = input.fields.iter().enumerate().map(|(index, field)| {
        let name = &field.ident;
        let ty = &field.ty;
        quote! {
            #name: {
                let __v = <#ty as #orm::FromRow>::from_row(__row, __at).map_err(|__e| {
                    #orm::name_raw_column(__e, <Self as #orm::FromRawRow>::raw_columns(), #index)
                })?;
                __at += <#ty as #orm::FromRow>::width();
                __v
            }
        }
    });
    let from_row = quote! {
        #[automatically_derived]
        impl #orm::FromRow for #ident {
            fn width() -> usize {
                0 #(+ <#types as #orm::FromRow>::width())*
            }
            #[allow(unused_mut, unused_assignments)]
            fn from_row<__R: #orm::Row + ?Sized>(
                __row: &__R,
                __offset: usize,
            ) -> #orm::Result<Self> {
                let mut __at = __offset;
                ::core::result::Result::Ok(#ident { #(#reads,)* })
            }
        }
    };
    // A raw identifier (`r#type`) names the column `type`.
    let names: Vec<String> = input
        .fields
        .iter()
        .map(|f| f.ident.unraw().to_string())
        .collect();
    let specific = match (kind, &input.model) {
        (Kind::Partial, Some(model)) => {
            let terms = input.fields.iter().map(|field| {
                let ty = &field.ty;
                let (last, hops) = field.path.split_last().expect("a path has a field");
                quote_spanned! {ty.span()=>
                    #orm::partial_column::<_, _, _, #ty>(__f #(.#hops())* .#last)
                }
            });
            quote! {
                #[automatically_derived]
                impl #orm::Partial<#model> for #ident {
                    fn select(
                        __f: &<#model as #orm::Model>::Fields,
                    ) -> ::std::vec::Vec<#orm::Term> {
                        ::std::vec![#(#terms),*]
                    }
                }

                #[automatically_derived]
                impl #orm::FromRawRow for #ident {
                    fn raw_columns() -> ::core::option::Option<::std::vec::Vec<#orm::RawColumn>> {
                        ::core::option::Option::Some(
                            #orm::partial_raw_columns::<#model, Self>(#owner, &[#(#names),*]),
                        )
                    }
                }
            }
        }
        // The missing model is reported; this stub only stops it from cascading.
        (Kind::Partial, None) => quote! {
            #[automatically_derived]
            impl #orm::FromRawRow for #ident {
                fn raw_columns() -> ::core::option::Option<::std::vec::Vec<#orm::RawColumn>> {
                    ::core::option::Option::None
                }
            }
        },
        (Kind::FromRow, _) => {
            let columns = input.fields.iter().map(|field| {
                let name = field.ident.unraw().to_string();
                let column = field.column.as_ref().map_or(name.clone(), LitStr::value);
                quote!(#orm::RawColumn { owner: #owner, field: #name, column: #column })
            });
            let checks = types
                .iter()
                .map(|ty| quote_spanned!(ty.span()=> #orm::assert_column_field::<#ty>();));
            quote! {
                #[automatically_derived]
                impl #orm::FromRawRow for #ident {
                    fn raw_columns() -> ::core::option::Option<::std::vec::Vec<#orm::RawColumn>> {
                        // Each field reads one column: a field type, not a model or a tuple.
                        #(#checks)*
                        ::core::option::Option::Some(::std::vec![#(#columns),*])
                    }
                }
            }
        }
    };
    quote! {
        const _: () = {
            #from_row
            #specific
        };
    }
}

#[cfg(test)]
mod tests {
    use super::{Kind, generate};

    fn errors(source: &str, kind: Kind) -> Vec<String> {
        let tokens = source.parse().expect("test input lexes");
        generate(tokens, kind)
            .1
            .map(|e| e.into_iter().map(|e| e.to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn every_mistake_is_reported_at_once() {
        let all = errors(
            r#"
            #[orm(table = "cards")]
            struct BookCard {
                #[orm(path = "author..name")]
                author_name: String,
                #[orm(column = "x")]
                title: String,
            }
            "#,
            Kind::Partial,
        );
        assert_eq!(all.len(), 4, "{all:#?}");
        assert!(all[0].contains("unknown #[orm(...)] attribute of #[derive(Partial)]"));
        assert!(all.iter().any(|e| e.contains("add `#[orm(model = Book)]`")));
        assert!(all.iter().any(|e| e.contains("joined by dots")));
        assert!(all.iter().any(|e| e.contains("expected `path = ")));
    }

    #[test]
    fn only_structs_with_named_fields_derive() {
        for source in ["enum E { A }", "struct T(i64);", "struct G<T> { t: T }"] {
            let all = errors(source, Kind::FromRow);
            assert_eq!(all.len(), 1, "{source}: {all:#?}");
        }
        let all = errors("struct E { a: i64 }", Kind::FromRow);
        assert!(all.is_empty(), "{all:#?}");
        let all = errors("#[orm(model = Book)] struct E {}", Kind::Partial);
        assert!(all[0].contains("has none"), "{all:#?}");
    }

    #[test]
    fn a_path_follows_relations_then_reads_the_field() {
        let tokens = r#"
            #[orm(model = Book)]
            struct Line { #[orm(path = "author.country.name")] country: Option<String> }
        "#
        .parse()
        .expect("lexes");
        let (code, errors) = generate(tokens, Kind::Partial);
        assert!(errors.is_none());
        let code = code.to_string();
        assert!(
            code.contains("(__f . author () . country () . name)"),
            "{code}"
        );
    }
}
