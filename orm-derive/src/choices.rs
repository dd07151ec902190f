//! `#[derive(Choices)]`: a fieldless enum as a field, stored as text (a value per
//! variant) or as an integer (the discriminant).

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Expr, ExprLit, Fields, Lit, LitStr, Path};

use crate::ctxt::Ctxt;

pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    let cx = Ctxt::new();
    let code = expand(&cx, &input).unwrap_or_default();
    match cx.check() {
        Ok(()) => code,
        Err(errors) => {
            let errors = errors.to_compile_error();
            quote!(#errors #code)
        }
    }
}

/// How the enum is stored: `#[orm(store = "text")]` (the default) or `"integer"`.
#[derive(PartialEq)]
enum Store {
    Text,
    Integer,
}

/// The enum's `#[orm(...)]`: `store = "..."` and `crate = "..."`.
fn enum_attrs(cx: &Ctxt, input: &DeriveInput) -> (Store, Path) {
    let mut store = Store::Text;
    let mut krate: Path = syn::parse_quote!(::orm_sqlx);
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("orm")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("store") {
                let lit: LitStr = meta.value()?.parse()?;
                match lit.value().as_str() {
                    "text" => store = Store::Text,
                    "integer" => store = Store::Integer,
                    _ => cx.error_spanned_by(
                        &lit,
                        "`store` is \"text\" (a value per variant) or \"integer\" (the \
                         discriminant)",
                    ),
                }
            } else if meta.path.is_ident("crate") {
                let lit: LitStr = meta.value()?.parse()?;
                match lit.parse::<Path>() {
                    Ok(path) => krate = path,
                    Err(_) => cx.error_spanned_by(&lit, "`crate` must be a path"),
                }
            } else {
                cx.error_spanned_by(
                    &meta.path,
                    "unknown `orm` attribute on an enum; expected `store = \"text\"`, `store = \
                     \"integer\"` or `crate = \"...\"`",
                );
                let _ = meta.input.parse::<TokenStream>();
            }
            Ok(())
        });
        if let Err(e) = result {
            cx.syn_error(e);
        }
    }
    (store, krate)
}

/// A variant's `#[orm(value = "...")]`, else its name in snake case.
fn variant_value(cx: &Ctxt, variant: &syn::Variant) -> String {
    let mut value = None;
    for attr in variant.attrs.iter().filter(|a| a.path().is_ident("orm")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("value") {
                let lit: LitStr = meta.value()?.parse()?;
                value = Some(lit.value());
            } else {
                cx.error_spanned_by(
                    &meta.path,
                    "unknown `orm` attribute on a variant; expected `value = \"...\"`",
                );
                let _ = meta.input.parse::<TokenStream>();
            }
            Ok(())
        });
        if let Err(e) = result {
            cx.syn_error(e);
        }
    }
    value.unwrap_or_else(|| crate::check::snake_case(&variant.ident.unraw().to_string()))
}

fn expand(cx: &Ctxt, input: &DeriveInput) -> Option<TokenStream> {
    let Data::Enum(data) = &input.data else {
        cx.error_spanned_by(
            &input.ident,
            "`#[derive(Choices)]` makes a fieldless enum a field type; for a struct, use \
             `#[derive(Model)]`",
        );
        return None;
    };
    if !input.generics.params.is_empty() {
        cx.error_spanned_by(&input.generics, "a `Choices` enum cannot be generic");
        return None;
    }
    if data.variants.is_empty() {
        cx.error_spanned_by(&input.ident, "a `Choices` enum needs at least one variant");
        return None;
    }
    let (store, krate) = enum_attrs(cx, input);
    let orm = quote!(#krate::__private);
    let ident = &input.ident;
    let name = ident.unraw().to_string();
    let mut variants = Vec::new();
    let mut values: Vec<String> = Vec::new();
    for variant in &data.variants {
        if !matches!(variant.fields, Fields::Unit) {
            cx.error_spanned_by(
                &variant.fields,
                "a `Choices` variant holds no data: it is stored as one value; remove the \
                 fields, or store this type as JSON",
            );
            return None;
        }
        if store == Store::Integer
            && let Some((_, expr)) = &variant.discriminant
            && !matches!(
                expr,
                Expr::Lit(ExprLit {
                    lit: Lit::Int(_),
                    ..
                }) | Expr::Unary(_)
            )
        {
            cx.error_spanned_by(expr, "an integer `Choices` discriminant must be a literal");
        }
        let value = variant_value(cx, variant);
        if store == Store::Text && values.contains(&value) {
            cx.error_spanned_by(
                &variant.ident,
                format!("two variants are stored as {value:?}; give one another `value`"),
            );
        }
        values.push(value);
        variants.push(&variant.ident);
    }
    let (sql_type, to_value, decode) = match store {
        Store::Text => (
            quote!(#orm::SqlType::Text),
            quote! {
                match self { #(#ident::#variants => #orm::Value::Text(::std::string::String::from(#values)),)* }
            },
            quote! {
                let __s = #orm::Row::get_string(__row, __idx)?;
                match __s.as_str() {
                    #(#values => ::core::result::Result::Ok(#ident::#variants),)*
                    __other => ::core::result::Result::Err(#orm::unknown_choice(
                        #name,
                        &::std::format!("{:?}", __other),
                        &[#(#values),*],
                    )),
                }
            },
        ),
        Store::Integer => {
            let names: Vec<String> = variants.iter().map(|v| v.to_string()).collect();
            (
                quote!(#orm::SqlType::I64),
                quote!(#orm::Value::I64(*self as i64)),
                quote! {
                    let __n = #orm::Row::get_i64(__row, __idx)?;
                    #(if __n == #ident::#variants as i64 { return ::core::result::Result::Ok(#ident::#variants); })*
                    ::core::result::Result::Err(#orm::unknown_choice(
                        #name,
                        &__n,
                        &[#(#names),*],
                    ))
                },
            )
        }
    };
    let choices = match store {
        Store::Text => quote!(&[#((#ident::#variants, #values)),*]),
        Store::Integer => {
            let names: Vec<String> = variants.iter().map(|v| v.to_string()).collect();
            quote!(&[#((#ident::#variants, #names)),*])
        }
    };
    Some(quote! {
        const _: () = {
            #[automatically_derived]
            impl #orm::FieldType for #ident {
                type Base = #ident;
                type Nullable = ::core::option::Option<#ident>;
                type Projected = #ident;
                const SQL_TYPE: #orm::SqlType = #sql_type;
                const NAME: &'static str = #name;
                fn to_value(&self) -> #orm::Value {
                    #to_value
                }
                fn decode<__R: #orm::Row + ?::core::marker::Sized>(
                    __row: &__R,
                    __idx: usize,
                ) -> #orm::Result<Self> {
                    #decode
                }
            }
            #[automatically_derived]
            impl #orm::FromRow for #ident {
                fn width() -> usize {
                    1
                }
                fn from_row<__R: #orm::Row + ?::core::marker::Sized>(
                    __row: &__R,
                    __offset: usize,
                ) -> #orm::Result<Self> {
                    <#ident as #orm::FieldType>::decode(__row, __offset)
                }
            }
            #[automatically_derived]
            impl #orm::Choice for #ident {
                const CHOICES: &'static [(Self, &'static str)] = #choices;
            }
            #[automatically_derived]
            impl<__R, __T> #orm::Operand<__R, __T> for #ident
            where
                #ident: #orm::IntoValue<__T>,
            {
                fn into_term(self) -> #orm::Term {
                    #orm::Term::Value(#orm::IntoValue::into_value(self))
                }
            }
            #[automatically_derived]
            impl #orm::IntoValue<::core::option::Option<#ident>> for #ident {
                fn into_value(self) -> #orm::Value {
                    #orm::FieldType::to_value(&self)
                }
            }
        };
    })
}
