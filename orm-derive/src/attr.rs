//! Reading `#[orm(...)]` attributes, on the struct and on its fields.
//!
//! Values keep their tokens (a flag keeps its name), so that later errors can point at
//! them. A bad attribute is reported and skipped; the rest are still read.

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Attribute, Expr, ExprLit, Lit, LitStr, Path, Token};

use crate::ctxt::Ctxt;
use crate::symbol::{
    self, AUTO, AUTO_NOW, AUTO_NOW_ADD, COLUMN, CRATE, DECIMAL_PLACES, DEFAULT, FIELD_ATTRS, HOOKS,
    INDEX, MANY_TO_MANY, MAX_DIGITS, MAX_LENGTH, ON_DELETE, ON_DELETE_VALUES, ORM, PRIMARY_KEY,
    RENAMED_FROM, REVERSE, STRUCT_ATTRS, Symbol, TABLE, THROUGH, UNIQUE, UNIQUE_TOGETHER,
};

/// `#[orm(...)]` on the struct.
#[derive(Default)]
pub(crate) struct Struct {
    /// `table = "books"`.
    pub(crate) table: Option<LitStr>,
    /// `crate = "some::path"`, parsed.
    pub(crate) crate_path: Option<Path>,
    /// `index(a, b)` and `unique_together(a, b)`, in the order written.
    pub(crate) indexes: Vec<Index>,
    /// `hooks`: the user implements `Hooks`.
    pub(crate) hooks: Option<Path>,
    /// `renamed_from = "old_table"`.
    pub(crate) renamed_from: Option<LitStr>,
}

/// `index(a, b)` or `unique_together(a, b)` on the struct.
pub(crate) struct Index {
    /// The attribute's name, for errors about the whole list.
    pub(crate) name: Path,
    /// The fields, as written.
    pub(crate) fields: Vec<syn::Ident>,
    pub(crate) unique: bool,
}

/// `#[orm(...)]` on a field.
#[derive(Default)]
pub(crate) struct Field {
    /// `primary_key`: the token, for errors about a second key.
    pub(crate) primary_key: Option<Path>,
    /// `auto`: the token, for errors about where it does not apply.
    pub(crate) auto: Option<Path>,
    /// `column = "name"`.
    pub(crate) column: Option<LitStr>,
    /// `on_delete = "cascade"`, with a known value.
    pub(crate) on_delete: Option<OnDelete>,
    /// `reverse(Book::author)`.
    pub(crate) reverse: Option<Reverse>,
    /// `through = "books_tags"`, and the `through` token.
    pub(crate) through: Option<(Path, LitStr)>,
    /// `many_to_many`: the token.
    pub(crate) many_to_many: Option<Path>,
    /// `unique`: the token.
    pub(crate) unique: Option<Path>,
    /// `index`: the token.
    pub(crate) index: Option<Path>,
    /// `max_length = 200`, with its token.
    pub(crate) max_length: Option<(Path, syn::LitInt)>,
    /// `max_digits = 10`.
    pub(crate) max_digits: Option<(Path, syn::LitInt)>,
    /// `decimal_places = 2`.
    pub(crate) decimal_places: Option<(Path, syn::LitInt)>,
    /// `default = <expr>`.
    pub(crate) default: Option<(Path, Expr)>,
    /// `auto_now`: the token.
    pub(crate) auto_now: Option<Path>,
    /// `auto_now_add`: the token.
    pub(crate) auto_now_add: Option<Path>,
    /// `renamed_from = "old_column"`.
    pub(crate) renamed_from: Option<LitStr>,
}

/// `on_delete = "..."`.
pub(crate) struct OnDelete {
    /// The `on_delete` token.
    pub(crate) name: Path,
    /// The value as written.
    pub(crate) lit: LitStr,
    /// The `OnDelete` variant it means (`SetNull`).
    pub(crate) variant: &'static str,
}

/// `reverse(Book::author)`.
pub(crate) struct Reverse {
    /// The `reverse` token.
    pub(crate) name: Path,
    /// `Book::author`: the model, then its foreign key.
    pub(crate) path: Path,
}

impl Struct {
    pub(crate) fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Struct {
        let mut out = Struct::default();
        for_each_orm_meta(cx, attrs, |meta| {
            if meta.path == TABLE {
                if let Some(lit) = string_value(cx, meta, TABLE, "books")? {
                    set_once(cx, &mut out.table, TABLE, &meta.path, lit);
                }
            } else if meta.path == CRATE {
                if let Some(lit) = string_value(cx, meta, CRATE, "orm_sqlx")? {
                    match lit.parse::<Path>() {
                        Ok(path) => set_once(cx, &mut out.crate_path, CRATE, &meta.path, path),
                        Err(_) => cx.error_spanned_by(
                            &lit,
                            "`crate` must be a path to the ORM crate, such as `crate = \"orm_sqlx\"`",
                        ),
                    }
                }
            } else if meta.path == RENAMED_FROM {
                if let Some(lit) = string_value(cx, meta, RENAMED_FROM, "old_table")? {
                    set_once(cx, &mut out.renamed_from, RENAMED_FROM, &meta.path, lit);
                }
            } else if meta.path == HOOKS {
                if flag(cx, meta, HOOKS)? {
                    let token = meta.path.clone();
                    set_flag_once(cx, &mut out.hooks, HOOKS, token);
                }
            } else if meta.path == INDEX || meta.path == UNIQUE_TOGETHER {
                let unique = meta.path == UNIQUE_TOGETHER;
                if let Some(fields) = field_list(cx, meta, unique)? {
                    out.indexes.push(Index {
                        name: meta.path.clone(),
                        fields,
                        unique,
                    });
                }
            } else {
                unknown(cx, meta, Position::Struct)?;
            }
            Ok(())
        });
        out
    }
}

impl Field {
    pub(crate) fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Field {
        let mut out = Field::default();
        for_each_orm_meta(cx, attrs, |meta| {
            if meta.path == PRIMARY_KEY {
                if flag(cx, meta, PRIMARY_KEY)? {
                    let token = meta.path.clone();
                    set_flag_once(cx, &mut out.primary_key, PRIMARY_KEY, token);
                }
            } else if meta.path == AUTO {
                if flag(cx, meta, AUTO)? {
                    let token = meta.path.clone();
                    set_flag_once(cx, &mut out.auto, AUTO, token);
                }
            } else if meta.path == COLUMN {
                if let Some(lit) = string_value(cx, meta, COLUMN, "column_name")? {
                    set_once(cx, &mut out.column, COLUMN, &meta.path, lit);
                }
            } else if meta.path == RENAMED_FROM {
                if let Some(lit) = string_value(cx, meta, RENAMED_FROM, "old_column")? {
                    set_once(cx, &mut out.renamed_from, RENAMED_FROM, &meta.path, lit);
                }
            } else if meta.path == ON_DELETE {
                if let Some(lit) = string_value(cx, meta, ON_DELETE, "cascade")?
                    && let Some(on_delete) = on_delete_value(cx, &meta.path, lit)
                {
                    set_once(cx, &mut out.on_delete, ON_DELETE, &meta.path, on_delete);
                }
            } else if meta.path == REVERSE {
                if let Some(path) = reverse_path(cx, meta)? {
                    let reverse = Reverse {
                        name: meta.path.clone(),
                        path,
                    };
                    set_once(cx, &mut out.reverse, REVERSE, &meta.path, reverse);
                }
            } else if meta.path == THROUGH {
                if let Some(lit) = string_value(cx, meta, THROUGH, "books_tags")? {
                    let through = (meta.path.clone(), lit);
                    set_once(cx, &mut out.through, THROUGH, &meta.path, through);
                }
            } else if meta.path == MANY_TO_MANY {
                if flag(cx, meta, MANY_TO_MANY)? {
                    let token = meta.path.clone();
                    set_flag_once(cx, &mut out.many_to_many, MANY_TO_MANY, token);
                }
            } else if meta.path == UNIQUE {
                if flag(cx, meta, UNIQUE)? {
                    let token = meta.path.clone();
                    set_flag_once(cx, &mut out.unique, UNIQUE, token);
                }
            } else if meta.path == INDEX {
                if flag(cx, meta, INDEX)? {
                    let token = meta.path.clone();
                    set_flag_once(cx, &mut out.index, INDEX, token);
                }
            } else if meta.path == AUTO_NOW {
                if flag(cx, meta, AUTO_NOW)? {
                    let token = meta.path.clone();
                    set_flag_once(cx, &mut out.auto_now, AUTO_NOW, token);
                }
            } else if meta.path == AUTO_NOW_ADD {
                if flag(cx, meta, AUTO_NOW_ADD)? {
                    let token = meta.path.clone();
                    set_flag_once(cx, &mut out.auto_now_add, AUTO_NOW_ADD, token);
                }
            } else if meta.path == MAX_LENGTH {
                if let Some(lit) = int_value(cx, meta, MAX_LENGTH, "200")? {
                    let value = (meta.path.clone(), lit);
                    set_once(cx, &mut out.max_length, MAX_LENGTH, &meta.path, value);
                }
            } else if meta.path == MAX_DIGITS {
                if let Some(lit) = int_value(cx, meta, MAX_DIGITS, "10")? {
                    let value = (meta.path.clone(), lit);
                    set_once(cx, &mut out.max_digits, MAX_DIGITS, &meta.path, value);
                }
            } else if meta.path == DECIMAL_PLACES {
                if let Some(lit) = int_value(cx, meta, DECIMAL_PLACES, "2")? {
                    let value = (meta.path.clone(), lit);
                    set_once(
                        cx,
                        &mut out.decimal_places,
                        DECIMAL_PLACES,
                        &meta.path,
                        value,
                    );
                }
            } else if meta.path == DEFAULT {
                if !meta.input.peek(Token![=]) {
                    let rest = skip_value(meta)?;
                    let message = "`default` needs a value: write `default = 0`, or any \
                                   expression of the field's type";
                    if rest.is_empty() {
                        cx.error_spanned_by(&meta.path, message);
                    } else {
                        cx.error_spanned_by(rest, message);
                    }
                } else {
                    let expr: Expr = meta.value()?.parse()?;
                    let value = (meta.path.clone(), expr);
                    set_once(cx, &mut out.default, DEFAULT, &meta.path, value);
                }
            } else {
                unknown(cx, meta, Position::Field)?;
            }
            Ok(())
        });
        out
    }
}

/// Calls `f` on every item of every `#[orm(...)]`. An error `f` returns is one the parser
/// cannot recover from inside that attribute (a missing comma): it is recorded, and the
/// other attributes are still read.
fn for_each_orm_meta(
    cx: &Ctxt,
    attrs: &[Attribute],
    mut f: impl FnMut(&ParseNestedMeta<'_>) -> syn::Result<()>,
) {
    for attr in attrs {
        if attr.path() != ORM {
            continue;
        }
        if let Err(error) = attr.parse_nested_meta(|meta| f(&meta)) {
            cx.syn_error(error);
        }
    }
}

/// Reads `name = "text"`. A value of another form is reported (on the value) and skipped:
/// `Ok(None)`.
fn string_value(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    name: Symbol,
    example: &str,
) -> syn::Result<Option<LitStr>> {
    if !meta.input.peek(Token![=]) {
        let rest = skip_value(meta)?;
        let message = format!("`{name}` needs a string value: write `{name} = \"{example}\"`");
        if rest.is_empty() {
            cx.error_spanned_by(&meta.path, message);
        } else {
            cx.error_spanned_by(rest, message);
        }
        return Ok(None);
    }
    let value: Expr = meta.value()?.parse()?;
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(Some(lit)),
        other => {
            cx.error_spanned_by(
                other,
                format!("`{name}` takes a string literal: write `{name} = \"{example}\"`"),
            );
            Ok(None)
        }
    }
}

/// Reads `name = 123`, a positive integer literal. Another form is reported (on the value)
/// and skipped: `Ok(None)`.
fn int_value(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    name: Symbol,
    example: &str,
) -> syn::Result<Option<syn::LitInt>> {
    let how = format!("`{name}` takes a positive whole number: write `{name} = {example}`");
    if !meta.input.peek(Token![=]) {
        report_skipped(cx, meta, how)?;
        return Ok(None);
    }
    let value: Expr = meta.value()?.parse()?;
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) if lit.base10_parse::<u32>().is_ok_and(|n| n > 0) && lit.suffix().is_empty() => {
            Ok(Some(lit))
        }
        other => {
            cx.error_spanned_by(other, how);
            Ok(None)
        }
    }
}

/// Reads `index(a, b)` / `unique_together(a, b)`: at least two field names (one field
/// takes `#[orm(index)]`/`#[orm(unique)]` on itself). Another form is reported and
/// skipped: `Ok(None)`.
fn field_list(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    unique: bool,
) -> syn::Result<Option<Vec<syn::Ident>>> {
    let (name, single) = if unique {
        ("unique_together", "unique")
    } else {
        ("index", "index")
    };
    let how = format!(
        "`{name}` lists the fields it spans: write `{name}(author, title)`; for one field, \
         write `#[orm({single})]` on the field"
    );
    if !meta.input.peek(syn::token::Paren) {
        report_skipped(cx, meta, how)?;
        return Ok(None);
    }
    let content;
    syn::parenthesized!(content in meta.input);
    let tokens: TokenStream = content.parse()?;
    let parsed = syn::punctuated::Punctuated::<syn::Ident, Token![,]>::parse_terminated
        .parse2(tokens.clone());
    match parsed {
        Ok(list) if list.len() >= 2 => Ok(Some(list.into_iter().collect())),
        _ if tokens.is_empty() => {
            cx.error_spanned_by(&meta.path, how);
            Ok(None)
        }
        _ => {
            cx.error_spanned_by(tokens, how);
            Ok(None)
        }
    }
}

/// Checks an `on_delete` value against the known ones; an unknown one is reported on the
/// value.
fn on_delete_value(cx: &Ctxt, name: &Path, lit: LitStr) -> Option<OnDelete> {
    let value = lit.value();
    match ON_DELETE_VALUES
        .iter()
        .find(|(symbol, _)| symbol.as_str() == value)
    {
        Some(&(_, variant)) => Some(OnDelete {
            name: name.clone(),
            lit,
            variant,
        }),
        None => {
            let known: Vec<_> = ON_DELETE_VALUES
                .iter()
                .map(|(symbol, _)| format!("\"{symbol}\""))
                .collect();
            cx.error_spanned_by(
                &lit,
                format!(
                    "unknown `on_delete` value {value:?}; expected one of {}",
                    known.join(", ")
                ),
            );
            None
        }
    }
}

/// Reads `reverse(Model::field)`. Any other form is reported and skipped: `Ok(None)`.
fn reverse_path(cx: &Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<Option<Path>> {
    const HOW: &str = "`reverse` names the foreign key this field mirrors, as \
                       `reverse(Model::field)`: write `reverse(Book::author)` for the books \
                       whose `author` is this model";
    if !meta.input.peek(syn::token::Paren) {
        report_skipped(cx, meta, HOW)?;
        return Ok(None);
    }
    let content;
    syn::parenthesized!(content in meta.input);
    let tokens: TokenStream = content.parse()?;
    match Path::parse_mod_style.parse2(tokens.clone()) {
        Ok(path) if path.segments.len() >= 2 => Ok(Some(path)),
        _ if tokens.is_empty() => {
            cx.error_spanned_by(&meta.path, HOW);
            Ok(None)
        }
        _ => {
            cx.error_spanned_by(tokens, HOW);
            Ok(None)
        }
    }
}

/// Reads a flag: `name` alone. `name = ...` or `name(...)` is reported (on the value) and
/// skipped: `Ok(false)`.
fn flag(cx: &Ctxt, meta: &ParseNestedMeta<'_>, name: Symbol) -> syn::Result<bool> {
    let rest = skip_value(meta)?;
    if rest.is_empty() {
        return Ok(true);
    }
    cx.error_spanned_by(
        rest,
        format!("`{name}` takes no value: write `#[orm({name})]`"),
    );
    Ok(false)
}

/// Where an attribute is written.
#[derive(Clone, Copy)]
enum Position {
    Struct,
    Field,
}

impl Position {
    fn name(self) -> &'static str {
        match self {
            Position::Struct => "the struct",
            Position::Field => "a field",
        }
    }
    fn accepts(self) -> &'static [Symbol] {
        match self {
            Position::Struct => STRUCT_ATTRS,
            Position::Field => FIELD_ATTRS,
        }
    }
    fn other(self) -> Position {
        match self {
            Position::Struct => Position::Field,
            Position::Field => Position::Struct,
        }
    }
}

/// Reports an attribute this position does not know, naming the ones it does, or saying
/// where the attribute belongs if it is one of the other position's.
fn unknown(cx: &Ctxt, meta: &ParseNestedMeta<'_>, here: Position) -> syn::Result<()> {
    skip_value(meta)?;
    let there = here.other();
    let message = if there.accepts().iter().any(|s| meta.path == *s) {
        format!(
            "`{}` belongs on {}, not on {}; {} takes one of {}",
            path_name(&meta.path),
            there.name(),
            here.name(),
            here.name(),
            symbol::list(here.accepts())
        )
    } else {
        format!(
            "unknown `orm` attribute `{}`; expected one of {}",
            path_name(&meta.path),
            symbol::list(here.accepts())
        )
    };
    cx.error_spanned_by(&meta.path, message);
    Ok(())
}

/// `name`, or `a::b` for a path.
fn path_name(path: &Path) -> String {
    match path.get_ident() {
        Some(ident) => ident.to_string(),
        None => path.to_token_stream().to_string().replace(' ', ""),
    }
}

/// Skips what follows the attribute's name and reports `message` on it (on the name when
/// nothing follows).
fn report_skipped(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    message: impl std::fmt::Display,
) -> syn::Result<()> {
    let rest = skip_value(meta)?;
    if rest.is_empty() {
        cx.error_spanned_by(&meta.path, message);
    } else {
        cx.error_spanned_by(rest, message);
    }
    Ok(())
}

/// Consumes whatever follows an attribute name up to the next top-level comma, and returns
/// it (empty for a bare name).
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<TokenStream> {
    meta.input.step(|cursor| {
        let mut rest = *cursor;
        let mut skipped = TokenStream::new();
        while let Some((tree, next)) = rest.token_tree() {
            if matches!(&tree, TokenTree::Punct(p) if p.as_char() == ',') {
                break;
            }
            skipped.extend([tree]);
            rest = next;
        }
        Ok((skipped, rest))
    })
}

fn set_once<T>(cx: &Ctxt, slot: &mut Option<T>, name: Symbol, token: &Path, value: T) {
    if slot.is_some() {
        cx.error_spanned_by(token, duplicate(name));
    } else {
        *slot = Some(value);
    }
}

fn set_flag_once(cx: &Ctxt, slot: &mut Option<Path>, name: Symbol, token: Path) {
    if slot.is_some() {
        cx.error_spanned_by(token, duplicate(name));
    } else {
        *slot = Some(token);
    }
}

fn duplicate(name: Symbol) -> String {
    format!("duplicate `orm` attribute `{name}`; remove this one")
}
