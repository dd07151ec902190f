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
    self, AUTO, COLUMN, CRATE, FIELD_ATTRS, MANY_TO_MANY, ON_DELETE, ON_DELETE_VALUES, ORM,
    PRIMARY_KEY, REVERSE, STRUCT_ATTRS, Symbol, TABLE, THROUGH,
};

/// `#[orm(...)]` on the struct.
#[derive(Default)]
pub(crate) struct Struct {
    /// `table = "books"`.
    pub(crate) table: Option<LitStr>,
    /// `crate = "some::path"`, parsed.
    pub(crate) crate_path: Option<Path>,
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
        let rest = skip_value(meta)?;
        if rest.is_empty() {
            cx.error_spanned_by(&meta.path, HOW);
        } else {
            cx.error_spanned_by(rest, HOW);
        }
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
