//! The rules a model must follow, each reported at the token that breaks it. Checking
//! turns the struct as written (`ast`) into the validated `model`.
//!
//! Rules the macro cannot see (whether a field's type can be a column) are left to the
//! type checker: code generation emits one spanned check per field type.

use std::collections::HashMap;

use proc_macro2::Span;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{GenericArgument, Path, PathArguments, PathSegment, Type};

use crate::ast::{Field, Input};
use crate::ctxt::Ctxt;
use crate::model::{Column, Key, Model};
use crate::symbol::{DEFAULT_CRATE, ID};

/// Validates `input`. `None` when nothing sensible can be generated (a generic struct, a
/// struct without fields); otherwise a model to expand, even if errors were reported, so
/// that the code using the model does not drown the real error in follow-up ones.
pub(crate) fn check(cx: &Ctxt, input: &Input<'_>) -> Option<Model> {
    let generic = check_not_generic(cx, input);
    let table = table_name(cx, input);
    let crate_path = input
        .attrs
        .crate_path
        .as_ref()
        .map_or_else(default_crate, Clone::clone);
    let names = column_names(cx, input);
    let key = primary_key(cx, input);
    let auto = auto_flags(cx, input, key);
    check_key_not_nullable(cx, input, key);

    if generic || input.fields.is_empty() {
        return None;
    }
    let columns = input
        .fields
        .iter()
        .zip(names)
        .zip(auto)
        .enumerate()
        .map(|(index, ((field, column), auto))| Column {
            ident: field.ident.clone(),
            column,
            ty: field.ty.clone(),
            primary_key: key == Some(index),
            auto,
        })
        .collect();
    Some(Model {
        ident: input.ident.clone(),
        vis: input.vis.clone(),
        table,
        crate_path,
        columns,
        key: key.map_or(Key::Missing, Key::Column),
    })
}

/// A model cannot be generic: it describes one table, whose columns have one SQL type
/// each, and its metadata is a single `static`. Returns whether the struct is generic.
fn check_not_generic(cx: &Ctxt, input: &Input<'_>) -> bool {
    let generics = input.generics;
    if !generics.params.is_empty() {
        cx.error_spanned_by(
            generics,
            "a model cannot be generic: it maps onto one table with fixed column types; \
             remove the type, lifetime and const parameters",
        );
        return true;
    }
    if let Some(where_clause) = &generics.where_clause {
        cx.error_spanned_by(
            where_clause,
            "a model cannot be generic: remove the `where` clause",
        );
        return true;
    }
    false
}

/// The table is `#[orm(table = "...")]`, or the struct's name in snake case. An empty name
/// is refused: no database accepts it, and the error would otherwise surface only at run
/// time.
fn table_name(cx: &Ctxt, input: &Input<'_>) -> String {
    match &input.attrs.table {
        Some(lit) => {
            let table = lit.value();
            if table.is_empty() {
                cx.error_spanned_by(
                    lit,
                    "a table name cannot be empty; write the table's name, or remove `table` \
                     to use the struct's name in snake case",
                );
            }
            table
        }
        None => snake_case(&input.ident.unraw().to_string()),
    }
}

/// Each column is `#[orm(column = "...")]` or the field's name. Names must be non-empty,
/// and unique ignoring ASCII case: two fields on one column would insert it twice, and
/// SQLite and MySQL compare column names case-insensitively even when quoted.
fn column_names(cx: &Ctxt, input: &Input<'_>) -> Vec<String> {
    let mut seen: HashMap<String, &Field<'_>> = HashMap::new();
    let mut names = Vec::with_capacity(input.fields.len());
    for field in &input.fields {
        let name = match &field.attrs.column {
            Some(lit) => {
                let name = lit.value();
                if name.is_empty() {
                    cx.error_spanned_by(
                        lit,
                        "a column name cannot be empty; write the column's name, or remove \
                         `column` to use the field's name",
                    );
                }
                name
            }
            None => field.ident.unraw().to_string(),
        };
        if !name.is_empty() {
            match seen.get(&name.to_ascii_lowercase()) {
                Some(first) => {
                    let message = format!(
                        "column `{name}` is already the column of field `{}`; give one of \
                         them another name with `#[orm(column = \"...\")]`",
                        first.ident.unraw()
                    );
                    match &field.attrs.column {
                        Some(lit) => cx.error_spanned_by(lit, message),
                        None => cx.error_spanned_by(field.ident, message),
                    }
                }
                None => {
                    seen.insert(name.to_ascii_lowercase(), field);
                }
            }
        }
        names.push(name);
    }
    names
}

/// A model has exactly one primary key: every query by key, `save` and relation needs to
/// know which column it is. It is the field marked `#[orm(primary_key)]`, or else the
/// field named `id` (which is then an ordinary column when another field is marked).
/// Returns the key's index in `input.fields`.
fn primary_key(cx: &Ctxt, input: &Input<'_>) -> Option<usize> {
    let mut marked = input
        .fields
        .iter()
        .enumerate()
        .filter_map(|(index, field)| Some((index, field.attrs.primary_key.as_ref()?)));
    if let Some((first, _)) = marked.next() {
        let name = input.fields[first].ident.unraw();
        for (_, token) in marked {
            cx.error_spanned_by(
                token,
                format!(
                    "a model has exactly one primary key, and `{name}` is already it; \
                     remove one `#[orm(primary_key)]`"
                ),
            );
        }
        return Some(first);
    }
    if let Some(index) = input.fields.iter().position(|f| f.ident.unraw() == ID) {
        return Some(index);
    }
    cx.error_spanned_by(
        input.ident,
        format!(
            "`{}` has no primary key: add an `id: i64` field (auto-increment) or mark a \
             field with `#[orm(primary_key)]`",
            input.ident.unraw()
        ),
    );
    None
}

/// Which fields the database assigns on insert. Only the primary key can be: an insert
/// leaves it out and reads the assigned value back into the key. The database assigns
/// only integers, so the key must be written as `i16`, `i32` or `i64` (the macro sees
/// the type's name, not what an alias means).
///
/// The implicit `id` key is auto when it is such an integer; a marked key is auto only
/// with `#[orm(primary_key, auto)]`.
fn auto_flags(cx: &Ctxt, input: &Input<'_>, key: Option<usize>) -> Vec<bool> {
    input
        .fields
        .iter()
        .enumerate()
        .map(|(index, field)| {
            let is_key = key == Some(index);
            let integer = is_integer(field.ty);
            match &field.attrs.auto {
                Some(token) if !is_key => {
                    let name = field.ident.unraw();
                    let message = match key {
                        Some(key) => format!(
                            "`auto` marks a primary key that the database assigns, and `{name}` \
                             is not the primary key (`{}` is); remove `auto`",
                            input.fields[key].ident.unraw()
                        ),
                        None => format!(
                            "`auto` marks a primary key that the database assigns, and `{name}` \
                             is not a primary key; write `#[orm(primary_key, auto)]` to make it \
                             one, or remove `auto`"
                        ),
                    };
                    cx.error_spanned_by(token, message);
                    false
                }
                Some(token) if !integer => {
                    cx.error_spanned_by(
                        token,
                        format!(
                            "`auto` needs an integer primary key (`i16`, `i32` or `i64`), and \
                             `{}` is `{}`; remove `auto` and set the key yourself before \
                             inserting",
                            field.ident.unraw(),
                            type_name(field.ty)
                        ),
                    );
                    false
                }
                Some(_) => true,
                None => {
                    is_key
                        && integer
                        && field.attrs.primary_key.is_none()
                        && field.ident.unraw() == ID
                }
            }
        })
        .collect()
}

/// A primary key is never NULL: rows are found, updated and deleted by it, and
/// `key = NULL` matches nothing. An `Option` key is refused where it is written.
fn check_key_not_nullable(cx: &Ctxt, input: &Input<'_>, key: Option<usize>) {
    let Some(field) = key.and_then(|key| input.fields.get(key)) else {
        return;
    };
    if let Some(inner) = option_inner(field.ty) {
        cx.error_spanned_by(
            field.ty,
            format!(
                "a primary key cannot be NULL, so `{}` cannot be an `Option`; write `{}`",
                field.ident.unraw(),
                type_name(inner)
            ),
        );
    }
}

/// `i16`, `i32` or `i64`, also spelled `core::primitive::i64` or `std::primitive::i64`.
fn is_integer(ty: &Type) -> bool {
    let Type::Path(ty) = ty else {
        return false;
    };
    if ty.qself.is_some() {
        return false;
    }
    let segments: Vec<String> = ty.path.segments.iter().map(plain_segment).collect();
    let last = match segments.as_slice() {
        [last] if ty.path.leading_colon.is_none() => last,
        [krate, primitive, last]
            if (krate == "core" || krate == "std") && primitive == "primitive" =>
        {
            last
        }
        _ => return false,
    };
    matches!(last.as_str(), "i16" | "i32" | "i64")
}

/// A path segment's name, or "" when it has generic arguments.
fn plain_segment(segment: &PathSegment) -> String {
    match segment.arguments {
        PathArguments::None => segment.ident.to_string(),
        _ => String::new(),
    }
}

/// `T` for a type written `Option<T>` (or `core::option::Option<T>`, `std::option::Option<T>`).
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(ty) = ty else {
        return None;
    };
    if ty.qself.is_some() {
        return None;
    }
    let segments = &ty.path.segments;
    let last = segments.last()?;
    let prefix: Vec<String> = segments
        .iter()
        .take(segments.len() - 1)
        .map(plain_segment)
        .collect();
    let is_option_path = match prefix.as_slice() {
        [] => ty.path.leading_colon.is_none(),
        [krate, option] => (krate == "core" || krate == "std") && option == "option",
        _ => false,
    };
    if !is_option_path || last.ident != "Option" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first() {
        Some(GenericArgument::Type(inner)) if args.args.len() == 1 => Some(inner),
        _ => None,
    }
}

/// A type as the user wrote it, for messages: `Option<i64>`, not `Option < i64 >`.
fn type_name(ty: &Type) -> String {
    let mut out = String::new();
    for token in ty.to_token_stream().to_string().split(' ') {
        let glue = out.ends_with(|c: char| c.is_alphanumeric() || c == '_')
            && token.starts_with(|c: char| c.is_alphanumeric() || c == '_');
        if glue {
            out.push(' ');
        }
        out.push_str(token);
    }
    out.replace(',', ", ")
}

/// `::orm_sqlx`.
fn default_crate() -> Path {
    let mut path = Path::from(PathSegment::from(syn::Ident::new(
        DEFAULT_CRATE.as_str(),
        Span::call_site(),
    )));
    path.leading_colon = Some(syn::token::PathSep::default());
    path
}

/// `BookReview` → `book_review`, `HTTPLog` → `http_log`: an underscore before an uppercase
/// letter that follows a lowercase letter or digit, or that starts a word after an acronym.
pub(crate) fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).and_then(|p| chars.get(p));
            let next = chars.get(i + 1);
            let after_word = prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit());
            let ends_acronym =
                prev.is_some_and(|p| p.is_uppercase()) && next.is_some_and(|n| n.is_lowercase());
            if after_word || ends_acronym {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
