//! Column options (`unique`, `index`, `max_length`, `max_digits`/`decimal_places`,
//! `default`, `auto_now`/`auto_now_add`) and the struct's composite indexes
//! (`index(a, b)`, `unique_together(a, b)`): the rules each must follow, reported at the
//! attribute that breaks them. Whether the field's type suits the option (text for
//! `max_length`, a decimal for digits, a date or time for `auto_now`) is left to the type
//! checker: code generation emits a check spanned at the attribute (`expand/options.rs`).

use syn::ext::IdentExt;
use syn::{Expr, ExprLit, ExprUnary, Lit, Path, UnOp};

use crate::ast::{Field, Input};
use crate::ctxt::Ctxt;

/// The validated options of one column.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) unique: bool,
    pub(crate) index: bool,
    /// The value, and the attribute's token (where the type check is spanned).
    pub(crate) max_length: Option<(u32, Path)>,
    /// `(max_digits, decimal_places)`, and the `max_digits` token.
    pub(crate) digits: Option<(u32, u32, Path)>,
    /// The Rust expression the generated `Default` uses.
    pub(crate) default: Option<Expr>,
    /// The column `DEFAULT`, when the expression is a literal.
    pub(crate) db_default: Option<DbDefault>,
    pub(crate) auto_now: AutoNow,
    /// `renamed_from = "old_column"`.
    pub(crate) renamed_from: Option<String>,
}

/// A literal column default.
pub(crate) enum DbDefault {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AutoNow {
    #[default]
    No,
    /// `auto_now_add`, with nothing to span: the token is in `token`.
    OnInsert,
    Always,
}

/// What kind of field carries the options.
#[derive(Clone, Copy)]
pub(crate) enum Carrier {
    /// An ordinary column; `key` when it is the primary key, `auto` when the database
    /// assigns it.
    Column { key: bool, auto: bool },
    /// A foreign key (a column too).
    ForeignKey,
    /// A reverse or many-to-many relation, or a field whose mistake was reported: no
    /// column here.
    NoColumn(&'static str),
}

/// Checks the options written on `field` and returns what applies.
pub(crate) fn field_options(cx: &Ctxt, field: &Field<'_>, carrier: Carrier) -> Options {
    let attrs = &field.attrs;
    let name = field.ident.unraw();
    let mut out = Options::default();
    // Options written on a field without a column: each one reported.
    if let Carrier::NoColumn(what) = carrier {
        let tokens = [
            attrs.unique.as_ref(),
            attrs.index.as_ref(),
            attrs.max_length.as_ref().map(|(t, _)| t),
            attrs.max_digits.as_ref().map(|(t, _)| t),
            attrs.decimal_places.as_ref().map(|(t, _)| t),
            attrs.default.as_ref().map(|(t, _)| t),
            attrs.auto_now.as_ref(),
            attrs.auto_now_add.as_ref(),
        ];
        for token in tokens.into_iter().flatten() {
            cx.error_spanned_by(
                token,
                format!(
                    "`{}` applies to a column, and `{name}` is {what}, which has no column in \
                     this table; remove it",
                    path_name(token)
                ),
            );
        }
        if let Some(lit) = &attrs.renamed_from {
            cx.error_spanned_by(
                lit,
                format!(
                    "`renamed_from` applies to a column, and `{name}` is {what}; a \
                     many-to-many field keeps its join table across a rename with \
                     `through = \"old_table\"`"
                ),
            );
        }
        return out;
    }
    out.renamed_from = attrs.renamed_from.as_ref().map(syn::LitStr::value);
    let is_key = matches!(carrier, Carrier::Column { key: true, .. });
    let is_fk = matches!(carrier, Carrier::ForeignKey);

    if let Some(token) = &attrs.unique {
        if is_key {
            cx.error_spanned_by(
                token,
                format!("`{name}` is the primary key, which is unique already; remove `unique`"),
            );
        } else {
            out.unique = true;
        }
    }
    if let Some(token) = &attrs.index {
        if is_key {
            cx.error_spanned_by(
                token,
                format!("`{name}` is the primary key, which is indexed already; remove `index`"),
            );
        } else if is_fk {
            cx.error_spanned_by(
                token,
                format!(
                    "`{name}` is a foreign key, and every foreign key is indexed already; \
                     remove `index`"
                ),
            );
        } else if out.unique {
            cx.error_spanned_by(
                token,
                format!(
                    "`{name}` is `unique`, and a unique column is indexed already; remove \
                     `index`"
                ),
            );
        } else {
            out.index = true;
        }
    }

    // Options about the value: not for a foreign key, whose value is the other row's key.
    let value_tokens = [
        attrs.max_length.as_ref().map(|(t, _)| t),
        attrs.max_digits.as_ref().map(|(t, _)| t),
        attrs.decimal_places.as_ref().map(|(t, _)| t),
        attrs.default.as_ref().map(|(t, _)| t),
        attrs.auto_now.as_ref(),
        attrs.auto_now_add.as_ref(),
    ];
    if is_fk {
        for token in value_tokens.into_iter().flatten() {
            cx.error_spanned_by(
                token,
                format!(
                    "`{}` applies to a value column, and `{name}` is a foreign key, which holds \
                     another row's key; remove it",
                    path_name(token)
                ),
            );
        }
        return out;
    }

    if let Some((token, lit)) = &attrs.max_length {
        // `int_value` accepted only positive u32s.
        let n = lit.base10_parse::<u32>().unwrap_or(1);
        out.max_length = Some((n, token.clone()));
    }

    match (&attrs.max_digits, &attrs.decimal_places) {
        (Some((token, digits)), Some((_, places))) => {
            let digits_n = digits.base10_parse::<u32>().unwrap_or(1);
            let places_n = places.base10_parse::<u32>().unwrap_or(0);
            if digits_n > 65 {
                cx.error_spanned_by(
                    digits,
                    "`max_digits` can be at most 65 (MySQL's DECIMAL holds no more); write a \
                     smaller number",
                );
            } else if places_n > 28 {
                cx.error_spanned_by(
                    places,
                    "`decimal_places` can be at most 28 (a `rust_decimal::Decimal` holds no \
                     more digits after the point); write a smaller number",
                );
            } else if places_n > digits_n {
                cx.error_spanned_by(
                    places,
                    format!(
                        "`decimal_places` ({places_n}) cannot be more than `max_digits` \
                         ({digits_n}): the places are counted in the digits"
                    ),
                );
            } else {
                out.digits = Some((digits_n, places_n, token.clone()));
            }
        }
        (Some((token, _)), None) => cx.error_spanned_by(
            token,
            "`max_digits` needs `decimal_places` too: write `max_digits = 10, decimal_places = \
             2`",
        ),
        (None, Some((token, _))) => cx.error_spanned_by(
            token,
            "`decimal_places` needs `max_digits` too: write `max_digits = 10, decimal_places = \
             2`",
        ),
        (None, None) => {}
    }

    match (&attrs.auto_now, &attrs.auto_now_add) {
        (Some(_), Some(token)) => cx.error_spanned_by(
            token,
            "`auto_now` and `auto_now_add` exclude each other: `auto_now` sets the field on \
             every save, `auto_now_add` only when the row is inserted; keep one",
        ),
        (Some(_), None) => out.auto_now = AutoNow::Always,
        (None, Some(_)) => out.auto_now = AutoNow::OnInsert,
        (None, None) => {}
    }

    if let Some((token, expr)) = &attrs.default {
        if let Carrier::Column { auto: true, .. } = carrier {
            cx.error_spanned_by(
                token,
                format!(
                    "`{name}` is assigned by the database on insert, so it takes no `default`; \
                     remove it"
                ),
            );
        } else if out.auto_now != AutoNow::No {
            cx.error_spanned_by(
                token,
                format!(
                    "`{name}` is set to the current time on save, so a `default` would never \
                     be seen; remove `default` or the `auto_now`"
                ),
            );
        } else {
            out.db_default = literal(cx, expr);
            out.default = Some(expr.clone());
        }
    }
    out
}

/// The column default of a literal expression: `0`, `-1`, `1.5`, `true`, `"draft"`.
/// Anything else (a call, a constant) is a default for Rust only: evaluated once, it would
/// give every row inserted outside the ORM one fixed value, which a call such as
/// `Utc::now()` does not mean.
fn literal(cx: &Ctxt, expr: &Expr) -> Option<DbDefault> {
    let (negative, lit) = match expr {
        Expr::Lit(ExprLit { lit, .. }) => (false, lit),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => match &**expr {
            Expr::Lit(ExprLit { lit, .. }) => (true, lit),
            _ => return None,
        },
        _ => return None,
    };
    match lit {
        Lit::Int(int) => {
            let digits = int.base10_digits();
            let text = if negative {
                format!("-{digits}")
            } else {
                digits.to_owned()
            };
            match text.parse::<i64>() {
                Ok(n) => Some(DbDefault::Int(n)),
                Err(_) => {
                    cx.error_spanned_by(int, "a `default` must fit in an `i64`");
                    None
                }
            }
        }
        Lit::Float(float) => match float.base10_parse::<f64>() {
            Ok(f) if f.is_finite() => Some(DbDefault::Float(if negative { -f } else { f })),
            _ => None,
        },
        Lit::Bool(b) if !negative => Some(DbDefault::Bool(b.value)),
        Lit::Str(s) if !negative => Some(DbDefault::Text(s.value())),
        _ => None,
    }
}

/// A composite index or unique constraint, as columns.
pub(crate) struct Index {
    pub(crate) columns: Vec<String>,
    pub(crate) unique: bool,
}

/// The struct's `index(..)` and `unique_together(..)`: each name must be a field with a
/// column (`columns` maps field names to column names), named once.
pub(crate) fn indexes(cx: &Ctxt, input: &Input<'_>, columns: &[(String, String)]) -> Vec<Index> {
    let mut out: Vec<Index> = Vec::new();
    for index in &input.attrs.indexes {
        let mut names: Vec<String> = Vec::new();
        let mut ok = true;
        for field in &index.fields {
            let name = field.unraw().to_string();
            match columns.iter().find(|(f, _)| *f == name) {
                Some((_, column)) if names.contains(column) => {
                    cx.error_spanned_by(
                        field,
                        format!("`{name}` is listed twice; name each field once"),
                    );
                    ok = false;
                }
                Some((_, column)) => names.push(column.clone()),
                None => {
                    let is_field = input.fields.iter().any(|f| f.ident.unraw() == name);
                    let known: Vec<String> =
                        columns.iter().map(|(f, _)| format!("`{f}`")).collect();
                    let message = if is_field {
                        format!(
                            "`{name}` has no column in this table (it is a reverse or \
                             many-to-many relation); an index spans columns: {}",
                            known.join(", ")
                        )
                    } else {
                        format!(
                            "`{name}` is not a field of `{}`; the fields with columns are {}",
                            input.ident.unraw(),
                            known.join(", ")
                        )
                    };
                    cx.error_spanned_by(field, message);
                    ok = false;
                }
            }
        }
        if !ok {
            continue;
        }
        if out
            .iter()
            .any(|o| o.columns == names && o.unique == index.unique)
        {
            cx.error_spanned_by(
                &index.name,
                "the same fields are listed twice; remove this one",
            );
            continue;
        }
        out.push(Index {
            columns: names,
            unique: index.unique,
        });
    }
    out
}

fn path_name(path: &Path) -> String {
    path.get_ident()
        .map_or_else(|| "attribute".to_owned(), ToString::to_string)
}
