//! Code generation. Reads only the validated `model`.
//!
//! Generated code names the ORM's items only through `<crate>::__private`, with full paths
//! (no `use`), and keeps everything but the `<Model>Fields` struct inside `const _: () = {…}`.

mod field_types;
mod fields;
mod key_hint;
mod meta;
mod model_impl;
mod options;

use proc_macro2::TokenStream;
use quote::quote;

use crate::ast::Input;
use crate::check::check;
use crate::ctxt::Ctxt;
use crate::model::Model;
use crate::symbol::PRIVATE;

/// The derive: parse, check, expand. Never panics; every error becomes a `compile_error!`,
/// emitted next to as much of the generated code as can still be built.
pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let expansion = expand(input);
    match expansion.errors {
        Some(errors) => {
            let errors = errors.to_compile_error();
            let code = expansion.code;
            quote!(#errors #code)
        }
        None => expansion.code,
    }
}

/// What the derive produces, with the errors kept apart for tests.
pub(crate) struct Expansion {
    pub(crate) code: TokenStream,
    pub(crate) errors: Option<syn::Error>,
}

pub(crate) fn expand(input: TokenStream) -> Expansion {
    let input: syn::DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(error) => {
            return Expansion {
                code: TokenStream::new(),
                errors: Some(error),
            };
        }
    };
    let cx = Ctxt::new();
    let model = Input::from_syn(&cx, &input).and_then(|input| check(&cx, &input));
    let code = model.as_ref().map(model_code).unwrap_or_default();
    Expansion {
        code,
        errors: cx.check().err(),
    }
}

fn model_code(model: &Model) -> TokenStream {
    let fields_struct = fields::fields_struct(model);
    let fields_impls = fields::fields_impls(model);
    let meta = meta::statics(model);
    let reverse_checks = field_types::reverse_checks(model);
    let model_impl = model_impl::model_impl(model);
    let related_managers = model_impl::related_managers(model);
    let key_hint = key_hint::key_hint(model);
    let option_checks = options::type_checks(model);
    let default_impl = options::default_impl(model);
    let hooks_impl = options::hooks_impl(model);
    quote! {
        #fields_struct
        const _: () = {
            #fields_impls
            #meta
            #reverse_checks
            #model_impl
            #related_managers
            #key_hint
            #option_checks
            #default_impl
            #hooks_impl
        };
    }
}

/// `<crate>::__private`.
fn private(model: &Model) -> TokenStream {
    let krate = &model.crate_path;
    let private = syn::Ident::new(PRIVATE.as_str(), proc_macro2::Span::call_site());
    quote!(#krate::#private)
}
