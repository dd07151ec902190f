//! The column options: their `ColumnOptions` and `IndexMeta` statics, the type check of
//! each option (spanned at the attribute, so the type checker's message lands there), the
//! generated `touch_auto_now`, and the generated `Default` of a model with
//! `#[orm(default = …)]` fields.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::private;
use crate::model::{Column, Model};
use crate::options::{AutoNow, DbDefault};

/// `ColumnOptions { … }` for one column.
pub(super) fn column_options(model: &Model, column: &Column) -> TokenStream {
    let orm = private(model);
    let o = &column.options;
    if !o.unique
        && !o.index
        && o.max_length.is_none()
        && o.digits.is_none()
        && o.db_default.is_none()
        && o.auto_now == AutoNow::No
        && o.renamed_from.is_none()
    {
        return quote!(#orm::ColumnOptions::NONE);
    }
    let unique = o.unique;
    let index = o.index;
    let max_length = match &o.max_length {
        Some((n, _)) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    };
    let digits = match &o.digits {
        Some((p, s, _)) => quote!(::core::option::Option::Some(#orm::Digits {
            max_digits: #p,
            decimal_places: #s,
        })),
        None => quote!(::core::option::Option::None),
    };
    let db_default = match &o.db_default {
        Some(DbDefault::Bool(b)) => quote!(::core::option::Option::Some(#orm::DbDefault::Bool(#b))),
        Some(DbDefault::Int(n)) => quote!(::core::option::Option::Some(#orm::DbDefault::Int(#n))),
        Some(DbDefault::Float(f)) => {
            quote!(::core::option::Option::Some(#orm::DbDefault::Float(#f)))
        }
        Some(DbDefault::Text(t)) => quote!(::core::option::Option::Some(#orm::DbDefault::Text(#t))),
        None => quote!(::core::option::Option::None),
    };
    let auto_now = match o.auto_now {
        AutoNow::No => quote!(#orm::AutoNow::No),
        AutoNow::OnInsert => quote!(#orm::AutoNow::OnInsert),
        AutoNow::Always => quote!(#orm::AutoNow::Always),
    };
    let renamed_from = match &o.renamed_from {
        Some(old) => quote!(::core::option::Option::Some(#old)),
        None => quote!(::core::option::Option::None),
    };
    quote! {
        #orm::ColumnOptions {
            unique: #unique,
            index: #index,
            max_length: #max_length,
            digits: #digits,
            db_default: #db_default,
            auto_now: #auto_now,
            renamed_from: #renamed_from,
        }
    }
}

/// `&[IndexMeta { … }, …]`.
pub(super) fn indexes(model: &Model) -> TokenStream {
    let orm = private(model);
    let items = model.indexes.iter().map(|index| {
        let columns = &index.columns;
        let unique = index.unique;
        quote!(#orm::IndexMeta { columns: &[#(#columns),*], unique: #unique })
    });
    quote!(&[#(#items),*])
}

/// One check per option whose field type matters (`max_length`, digits), in a `const`
/// closure that is never called. `auto_now`'s type is checked where `touch_auto_now`
/// calls `AutoNowField::now` (a second check would repeat the error).
pub(super) fn type_checks(model: &Model) -> TokenStream {
    let orm = private(model);
    let checks: Vec<TokenStream> = model
        .columns
        .iter()
        .flat_map(|column| {
            let ty = &column.ty;
            let o = &column.options;
            let mut out = Vec::new();
            if let Some((_, token)) = &o.max_length {
                out.push(quote_spanned!(token.span()=> #orm::assert_max_length::<#ty>();));
            }
            if let Some((_, _, token)) = &o.digits {
                out.push(quote_spanned!(token.span()=> #orm::assert_decimal::<#ty>();));
            }
            out
        })
        .collect();
    if checks.is_empty() {
        return TokenStream::new();
    }
    quote! {
        const _: fn() = || {
            #(#checks)*
        };
    }
}

/// `fn touch_auto_now`, for a model with `auto_now`/`auto_now_add` fields.
pub(super) fn touch_auto_now(model: &Model) -> TokenStream {
    let orm = private(model);
    let sets: Vec<TokenStream> = model
        .columns
        .iter()
        .enumerate()
        .filter_map(|(index, column)| {
            let field = &column.ident;
            let ty = &column.ty;
            let set = quote! {
                if __only.is_none_or(|__c| __c.contains(&#index)) {
                    self.#field = <#ty as #orm::AutoNowField>::now();
                }
            };
            match column.options.auto_now {
                AutoNow::No => None,
                AutoNow::OnInsert => Some(quote!(if __adding { #set })),
                AutoNow::Always => Some(set),
            }
        })
        .collect();
    if sets.is_empty() {
        return TokenStream::new();
    }
    quote! {
        fn touch_auto_now(&mut self, __adding: bool, __only: ::core::option::Option<&[usize]>) {
            #(#sets)*
        }
    }
}

/// An unsuffixed integer literal past `i32` written as an `i64` one: through `Into`, an
/// unsuffixed literal would be typed `i32` and overflow (`default = 3_000_000_000` on an
/// `i64` field).
fn widened(expr: &syn::Expr) -> syn::Expr {
    use syn::{Expr, ExprLit, ExprUnary, Lit, LitInt};
    let widen = |lit: &LitInt, negative: bool| -> Option<LitInt> {
        let digits = lit.base10_digits();
        let value: i128 = digits.parse().ok()?;
        let value = if negative { -value } else { value };
        let fits = i32::try_from(value).is_ok();
        (lit.suffix().is_empty() && !fits && i64::try_from(value).is_ok())
            .then(|| LitInt::new(&format!("{digits}i64"), lit.span()))
    };
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit),
            attrs,
        }) => match widen(lit, false) {
            Some(lit) => Expr::Lit(ExprLit {
                lit: Lit::Int(lit),
                attrs: attrs.clone(),
            }),
            None => expr.clone(),
        },
        Expr::Unary(ExprUnary {
            op,
            expr: inner,
            attrs,
        }) if matches!(op, syn::UnOp::Neg(_)) => match &**inner {
            Expr::Lit(ExprLit {
                lit: Lit::Int(lit),
                attrs: lit_attrs,
            }) => match widen(lit, true) {
                Some(lit) => Expr::Unary(ExprUnary {
                    op: *op,
                    attrs: attrs.clone(),
                    expr: Box::new(Expr::Lit(ExprLit {
                        lit: Lit::Int(lit),
                        attrs: lit_attrs.clone(),
                    })),
                }),
                None => expr.clone(),
            },
            _ => expr.clone(),
        },
        _ => expr.clone(),
    }
}

/// `impl Default` when a field says `#[orm(default = …)]`: that field starts as its
/// expression, every other one as its type's default (the key unset, relations empty).
pub(super) fn default_impl(model: &Model) -> TokenStream {
    if model.columns.iter().all(|c| c.options.default.is_none()) {
        return TokenStream::new();
    }
    let ident = &model.ident;
    let columns = model.columns.iter().map(|column| {
        let field = &column.ident;
        let ty = &column.ty;
        match &column.options.default {
            Some(expr) => {
                let expr = widened(expr);
                quote_spanned! {expr.span()=>
                    #field: ::core::convert::Into::<#ty>::into(#expr)
                }
            }
            None => quote!(#field: ::core::default::Default::default()),
        }
    });
    let others = model
        .relations
        .iter()
        .filter(|relation| relation.is_many())
        .map(|relation| &relation.ident)
        .chain(&model.ignored)
        .map(|field| quote!(#field: ::core::default::Default::default()));
    quote! {
        #[automatically_derived]
        impl ::core::default::Default for #ident {
            fn default() -> Self {
                #ident {
                    #(#columns,)*
                    #(#others,)*
                }
            }
        }
    }
}

/// `impl Hooks for Model {}` (every hook does nothing), unless `#[orm(hooks)]` says the
/// user writes it.
pub(super) fn hooks_impl(model: &Model) -> TokenStream {
    if model.user_hooks {
        return TokenStream::new();
    }
    let orm = private(model);
    let ident = &model.ident;
    quote! {
        #[automatically_derived]
        impl #orm::Hooks for #ident {}
    }
}
