//! The rules a model must follow, each reported at the token that breaks it. Checking
//! turns the struct as written (`ast`) into the validated `model`.
//!
//! Rules the macro cannot see (whether a field's type can be a column) are left to the
//! type checker: code generation emits one spanned check per field type.

use std::collections::HashMap;

use proc_macro2::{Group, Ident, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{GenericArgument, LitStr, Path, PathArguments, PathSegment, Type};

use crate::ast::{Field, Input};
use crate::attr;
use crate::ctxt::Ctxt;
use crate::model::{Column, Key, Model, Relation, RelationKind};
use crate::options::{Carrier, Options, field_options, indexes};
use crate::symbol::{
    DEFAULT_CRATE, FOREIGN_KEY, ID, MANY_TO_MANY_TYPE, ONE_TO_ONE, RELATED_SET, REVERSE_TYPE,
    Symbol,
};

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
    let shapes: Vec<Shape> = input
        .fields
        .iter()
        .map(|field| classify(cx, input, field))
        .collect();
    for (field, shape) in input.fields.iter().zip(&shapes) {
        check_relation_attrs(cx, field, shape);
    }
    let names = column_names(cx, input, &shapes);
    let key = primary_key(cx, input, &shapes);
    let auto = auto_flags(cx, input, &shapes, key);
    check_key_not_nullable(cx, input, key);

    if generic || input.fields.is_empty() {
        return None;
    }
    let mut columns = Vec::new();
    let mut relations = Vec::new();
    let mut ignored = Vec::new();
    let mut key_column = None;
    let fields = input.fields.iter().zip(shapes).zip(names).zip(auto);
    for (index, (((field, shape), name), auto)) in fields.enumerate() {
        let ident = field.ident.clone();
        let carrier = match &shape {
            Shape::Column => Some(Carrier::Column {
                key: key == Some(index),
                auto,
            }),
            Shape::Forward { .. } => Some(Carrier::ForeignKey),
            Shape::Reverse { .. } => Some(Carrier::NoColumn("a reverse relation")),
            Shape::ManyToMany { .. } => Some(Carrier::NoColumn("a many-to-many relation")),
            Shape::Invalid => None,
        };
        let mut options = carrier.map_or_else(Options::default, |carrier| {
            field_options(cx, field, carrier)
        });
        let mut column = |relation| Column {
            options: std::mem::take(&mut options),
            ident: field.ident.clone(),
            column: name.clone().unwrap_or_default(),
            ty: replace_self(field.ty, input.ident),
            primary_key: key == Some(index),
            auto,
            relation,
        };
        match shape {
            Shape::Column => {
                if key == Some(index) {
                    key_column = Some(columns.len());
                }
                columns.push(column(None));
            }
            Shape::Forward {
                one_to_one,
                nullable,
                target,
            } => {
                let on_delete = field
                    .attrs
                    .on_delete
                    .as_ref()
                    .map_or("Cascade", |on_delete| on_delete.variant);
                relations.push(Relation {
                    ident,
                    target: replace_self(target, input.ident),
                    kind: RelationKind::Forward {
                        one_to_one,
                        column: columns.len(),
                        nullable,
                        on_delete,
                    },
                });
                columns.push(column(Some(relations.len() - 1)));
            }
            Shape::Reverse {
                target,
                forward,
                many_to_many,
            } => relations.push(Relation {
                ident,
                target: replace_self(target, input.ident),
                kind: if many_to_many {
                    RelationKind::ReverseManyToMany { forward }
                } else {
                    RelationKind::Reverse { forward }
                },
            }),
            Shape::ManyToMany { target } => {
                let kind = through(input, field, &table, target);
                relations.push(Relation {
                    ident,
                    target: replace_self(target, input.ident),
                    kind,
                });
            }
            Shape::Invalid => ignored.push(ident),
        }
    }
    let column_names: Vec<(String, String)> = columns
        .iter()
        .map(|c: &Column| (c.name(), c.column.clone()))
        .collect();
    let indexes = indexes(cx, input, &column_names);
    Some(Model {
        indexes,
        user_hooks: input.attrs.hooks.is_some(),
        renamed_from: input.attrs.renamed_from.as_ref().map(LitStr::value),
        ident: input.ident.clone(),
        vis: input.vis.clone(),
        table,
        crate_path,
        columns,
        relations,
        ignored,
        key: key_column.map_or(Key::Missing, Key::Column),
    })
}

/// What a field is, decided by how its type is written (the last segment of its path):
/// the macro cannot see through aliases.
enum Shape<'a> {
    /// An ordinary column.
    Column,
    /// `ForeignKey<T>` or `OneToOne<T>`, `nullable` when written in an `Option`: a column,
    /// and a relation.
    Forward {
        one_to_one: bool,
        nullable: bool,
        target: &'a Type,
    },
    /// `Reverse<T>` with `#[orm(reverse(T::forward))]`, or, `many_to_many`,
    /// `ManyToMany<T>` with it: the other side of the many-to-many field `T::forward`.
    Reverse {
        target: &'a Type,
        forward: Ident,
        many_to_many: bool,
    },
    /// `ManyToMany<T>`.
    ManyToMany { target: &'a Type },
    /// A relation written wrongly (reported): neither a column nor a relation.
    Invalid,
}

impl Shape<'_> {
    fn is_relation(&self) -> bool {
        !matches!(self, Shape::Column)
    }
}

/// The relation types, as the last segment of a field's type names them.
#[derive(Clone, Copy, PartialEq)]
enum RelationType {
    ForeignKey,
    OneToOne,
    Reverse,
    ManyToMany,
    RelatedSet,
}

impl RelationType {
    fn of(segment: &PathSegment) -> Option<RelationType> {
        let ident = &segment.ident;
        [
            (FOREIGN_KEY, RelationType::ForeignKey),
            (ONE_TO_ONE, RelationType::OneToOne),
            (REVERSE_TYPE, RelationType::Reverse),
            (MANY_TO_MANY_TYPE, RelationType::ManyToMany),
            (RELATED_SET, RelationType::RelatedSet),
        ]
        .into_iter()
        .find_map(|(symbol, kind)| (ident == symbol).then_some(kind))
    }

    fn name(self) -> Symbol {
        match self {
            RelationType::ForeignKey => FOREIGN_KEY,
            RelationType::OneToOne => ONE_TO_ONE,
            RelationType::Reverse => REVERSE_TYPE,
            RelationType::ManyToMany => MANY_TO_MANY_TYPE,
            RelationType::RelatedSet => RELATED_SET,
        }
    }

    /// How to write it, for messages.
    fn example(self) -> &'static str {
        match self {
            RelationType::ForeignKey => "ForeignKey<Author>",
            RelationType::OneToOne => "OneToOne<Profile>",
            RelationType::Reverse => "Reverse<Book>",
            RelationType::ManyToMany => "ManyToMany<Tag>",
            RelationType::RelatedSet => "RelatedSet<Book>",
        }
    }
}

/// The last segment of a type written as a path to one of the relation types.
fn relation_type(ty: &Type) -> Option<(RelationType, &PathSegment)> {
    let Type::Path(ty) = ty else {
        return None;
    };
    if ty.qself.is_some() {
        return None;
    }
    let segment = ty.path.segments.last()?;
    Some((RelationType::of(segment)?, segment))
}

/// Decides what `field` is, and reports a relation type written wrongly.
fn classify<'a>(cx: &Ctxt, input: &Input<'_>, field: &Field<'a>) -> Shape<'a> {
    if let Some(inner) = option_inner(field.ty) {
        let Some((kind, segment)) = relation_type(inner) else {
            return Shape::Column;
        };
        if let RelationType::ForeignKey | RelationType::OneToOne = kind {
            return match relation_target(cx, kind, segment) {
                Some(target) => Shape::Forward {
                    one_to_one: kind == RelationType::OneToOne,
                    nullable: true,
                    target,
                },
                None => Shape::Invalid,
            };
        }
        let what = match kind {
            RelationType::Reverse => {
                "a reverse relation is never NULL (it holds no rows when nothing points here)"
            }
            RelationType::ManyToMany => {
                "a many-to-many relation is never NULL (it holds no rows when none are linked)"
            }
            _ => "a `RelatedSet` is never NULL (it holds no rows when there are none)",
        };
        cx.error_spanned_by(
            field.ty,
            format!("{what}; remove the `Option`: write `{}`", type_name(inner)),
        );
        return Shape::Invalid;
    }
    let Some((kind, segment)) = relation_type(field.ty) else {
        return Shape::Column;
    };
    let Some(target) = relation_target(cx, kind, segment) else {
        return Shape::Invalid;
    };
    let attrs = &field.attrs;
    match kind {
        RelationType::ForeignKey | RelationType::OneToOne => Shape::Forward {
            one_to_one: kind == RelationType::OneToOne,
            nullable: false,
            target,
        },
        RelationType::ManyToMany => match &attrs.reverse {
            Some(reverse) => reverse_shape(cx, input, reverse, target, true),
            None => Shape::ManyToMany { target },
        },
        RelationType::RelatedSet if attrs.reverse.is_none() && attrs.many_to_many.is_some() => {
            Shape::ManyToMany { target }
        }
        RelationType::Reverse | RelationType::RelatedSet => match &attrs.reverse {
            Some(reverse) => reverse_shape(cx, input, reverse, target, false),
            None if kind == RelationType::Reverse => {
                cx.error_spanned_by(
                    field.ty,
                    "a `Reverse<T>` field needs `#[orm(reverse(T::field))]` naming the foreign \
                     key on `T` that points here",
                );
                Shape::Invalid
            }
            None => {
                cx.error_spanned_by(
                    field.ty,
                    "a `RelatedSet<T>` field must say which relation it holds: write \
                     `Reverse<T>` with `#[orm(reverse(T::field))]` for the rows of `T` whose \
                     foreign key points here, or `ManyToMany<T>`",
                );
                Shape::Invalid
            }
        },
    }
}

/// `T` in `ForeignKey<T>`, which must be a model named by its path.
fn relation_target<'a>(
    cx: &Ctxt,
    kind: RelationType,
    segment: &'a PathSegment,
) -> Option<&'a Type> {
    if let PathArguments::AngleBracketed(args) = &segment.arguments
        && let [GenericArgument::Type(target @ Type::Path(path))] =
            args.args.iter().collect::<Vec<_>>().as_slice()
        && path.qself.is_none()
    {
        return Some(target);
    }
    let name = kind.name();
    let takes = match kind {
        RelationType::ForeignKey | RelationType::OneToOne => "the model it points at",
        RelationType::Reverse => "the model whose foreign key points here",
        RelationType::ManyToMany => "the model it links to",
        RelationType::RelatedSet => "the related model",
    };
    cx.error_spanned_by(
        segment,
        format!(
            "`{name}` takes one type argument, {takes}, by name: write `{}`",
            kind.example()
        ),
    );
    None
}

/// `reverse(Book::author)` on a `Reverse<Book>` (or `reverse(Book::tags)` on a
/// `ManyToMany<Book>`, `many_to_many`): the path must name a field of the written model.
/// (That the field is a foreign key, or a many-to-many field, to this model is left to the
/// type checker.)
fn reverse_shape<'a>(
    cx: &Ctxt,
    input: &Input<'_>,
    reverse: &attr::Reverse,
    target: &'a Type,
    many_to_many: bool,
) -> Shape<'a> {
    let segments = &reverse.path.segments;
    let forward = segments[segments.len() - 1].ident.clone();
    let model = &segments[segments.len() - 2].ident;
    let written = match target {
        Type::Path(path) => path.path.segments.last().map(|s| &s.ident),
        _ => None,
    };
    let resolve = |ident: &Ident| {
        if ident == "Self" {
            input.ident.unraw().to_string()
        } else {
            ident.unraw().to_string()
        }
    };
    if written.map(resolve) != Some(resolve(model)) {
        let prefix: Vec<_> = segments.iter().take(segments.len() - 1).collect();
        let target = type_name(target);
        cx.error_spanned_by(
            quote::quote!(#(#prefix)::*),
            format!(
                "`reverse` must name a field of `{target}`, the model this field holds; write \
                 `reverse({target}::{})`",
                forward.unraw()
            ),
        );
    }
    Shape::Reverse {
        target,
        forward,
        many_to_many,
    }
}

/// Relation attributes where they do not apply, and `on_delete = "set_null"` on a key that
/// cannot be NULL.
fn check_relation_attrs(cx: &Ctxt, field: &Field<'_>, shape: &Shape<'_>) {
    let name = field.ident.unraw();
    let ty = type_name(field.ty);
    let attrs = &field.attrs;
    if let Some(token) = &attrs.primary_key
        && shape.is_relation()
    {
        cx.error_spanned_by(
            token,
            format!(
                "a relation cannot be the primary key, and `{name}` is `{ty}`; give the \
                     model its own key (such as `id: i64`) and remove `primary_key` here"
            ),
        );
    }
    if let Some(on_delete) = &attrs.on_delete {
        match shape {
            Shape::Column => cx.error_spanned_by(
                &on_delete.name,
                format!(
                    "`on_delete` says what deleting the referenced row does to this one, and \
                     `{name}` is not a foreign key; remove `on_delete`"
                ),
            ),
            Shape::Reverse {
                many_to_many: false,
                ..
            } => cx.error_spanned_by(
                &on_delete.name,
                format!(
                    "`on_delete` belongs on the foreign key, and `{name}` is the reverse side \
                     of one; write it on the field that `reverse(...)` names"
                ),
            ),
            Shape::ManyToMany { .. }
            | Shape::Reverse {
                many_to_many: true, ..
            } => cx.error_spanned_by(
                &on_delete.name,
                format!(
                    "`on_delete` applies to foreign keys, and `{name}` is a many-to-many \
                     relation, whose links are deleted with either side; remove `on_delete`"
                ),
            ),
            Shape::Forward {
                nullable: false, ..
            } if on_delete.variant == "SetNull" => cx.error_spanned_by(
                &on_delete.lit,
                format!(
                    "`on_delete = \"set_null\"` needs a key that can be NULL, and `{name}` is \
                     `{ty}`; make the field `Option<{ty}>`"
                ),
            ),
            Shape::Forward { .. } | Shape::Invalid => {}
        }
    }
    if let Some(reverse) = &attrs.reverse
        && !matches!(shape, Shape::Reverse { .. } | Shape::Invalid)
    {
        cx.error_spanned_by(
            &reverse.name,
            format!(
                "`reverse` applies to a `Reverse<T>` field (or a `ManyToMany<T>` on the other \
                     side of one), and `{name}` is `{ty}`; remove `reverse`"
            ),
        );
    }
    if let Some((token, lit)) = &attrs.through {
        if let Shape::Reverse {
            many_to_many: true, ..
        } = shape
        {
            let forward = attrs
                .reverse
                .as_ref()
                .map(|r| {
                    let segments: Vec<_> =
                        r.path.segments.iter().map(|s| s.ident.unraw()).collect();
                    segments
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("::")
                })
                .unwrap_or_default();
            cx.error_spanned_by(
                token,
                format!(
                    "`{name}` is the other side of `{forward}`, whose join table it shares; \
                     name the table with `through` on `{forward}` and remove it here"
                ),
            );
        } else if !matches!(shape, Shape::ManyToMany { .. } | Shape::Invalid) {
            cx.error_spanned_by(
                token,
                format!(
                    "`through` names the join table of a `ManyToMany<T>` field, and `{name}` is \
                     `{ty}`; remove `through`"
                ),
            );
        } else if lit.value().is_empty() {
            cx.error_spanned_by(
                lit,
                "a join table name cannot be empty; write the table's name, or remove \
                 `through` to use `<table>_<field>`",
            );
        }
    }
    if let Some(token) = &attrs.many_to_many
        && !matches!(
            shape,
            Shape::ManyToMany { .. }
                | Shape::Reverse {
                    many_to_many: true,
                    ..
                }
                | Shape::Invalid
        )
    {
        cx.error_spanned_by(
            token,
            format!(
                "`many_to_many` marks a `ManyToMany<T>` field, and `{name}` is `{ty}`; \
                     remove `many_to_many`"
            ),
        );
    }
    if let Some(lit) = &attrs.column {
        let what = match shape {
            Shape::Reverse {
                many_to_many: false,
                ..
            } => "a reverse relation",
            Shape::ManyToMany { .. } | Shape::Reverse { .. } => "a many-to-many relation",
            _ => return,
        };
        cx.error_spanned_by(
            lit,
            format!("`{name}` is {what}, which has no column in this table; remove `column`"),
        );
    }
}

/// The join table of a many-to-many relation: `#[orm(through = "...")]` or
/// `<table>_<field>`, holding `<model>_id` and `<target>_id` (in snake case). A model
/// linked to itself gets `from_<model>_id` and `to_<model>_id`, as in Django.
fn through(input: &Input<'_>, field: &Field<'_>, table: &str, target: &Type) -> RelationKind {
    let table = match &field.attrs.through {
        Some((_, lit)) => lit.value(),
        None => format!("{table}_{}", field.ident.unraw()),
    };
    let parent = snake_case(&input.ident.unraw().to_string());
    let target = match target {
        Type::Path(path) => match path.path.segments.last() {
            Some(segment) if segment.ident == "Self" => parent.clone(),
            Some(segment) => snake_case(&segment.ident.unraw().to_string()),
            None => String::new(),
        },
        _ => String::new(),
    };
    let (parent_column, target_column) = if parent == target {
        (format!("from_{parent}_id"), format!("to_{target}_id"))
    } else {
        (format!("{parent}_id"), format!("{target}_id"))
    };
    RelationKind::ManyToMany {
        table,
        parent_column,
        target_column,
    }
}

/// `ty` with every `Self` replaced by the model's name: generated code uses field types
/// outside the struct, where `Self` means something else or nothing.
fn replace_self(ty: &Type, model: &Ident) -> Type {
    fn walk(tokens: TokenStream, model: &Ident) -> TokenStream {
        tokens
            .into_iter()
            .map(|tree| match tree {
                TokenTree::Ident(ident) if ident == "Self" => {
                    let mut model = model.clone();
                    model.set_span(ident.span());
                    TokenTree::Ident(model)
                }
                TokenTree::Group(group) => {
                    let mut out = Group::new(group.delimiter(), walk(group.stream(), model));
                    out.set_span(group.span());
                    TokenTree::Group(out)
                }
                other => other,
            })
            .collect()
    }
    let tokens = ty.to_token_stream();
    if !mentions_self(tokens.clone()) {
        return ty.clone();
    }
    syn::parse2(walk(tokens, model)).unwrap_or_else(|_| ty.clone())
}

fn mentions_self(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == "Self",
        TokenTree::Group(group) => mentions_self(group.stream()),
        TokenTree::Punct(_) | TokenTree::Literal(_) => false,
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

/// Each column is `#[orm(column = "...")]` or the field's name (`<field>_id` for a foreign
/// key). Names must be non-empty, and unique ignoring ASCII case: two fields on one column
/// would insert it twice, and SQLite and MySQL compare column names case-insensitively even
/// when quoted. `None` for a field that is not a column.
fn column_names(cx: &Ctxt, input: &Input<'_>, shapes: &[Shape<'_>]) -> Vec<Option<String>> {
    let mut seen: HashMap<String, &Field<'_>> = HashMap::new();
    let mut names = Vec::with_capacity(input.fields.len());
    for (field, shape) in input.fields.iter().zip(shapes) {
        let default = match shape {
            Shape::Column => field.ident.unraw().to_string(),
            Shape::Forward { .. } => format!("{}_id", field.ident.unraw()),
            Shape::Reverse { .. } | Shape::ManyToMany { .. } | Shape::Invalid => {
                names.push(None);
                continue;
            }
        };
        let name = match &field.attrs.column {
            Some(lit) => {
                let name = lit.value();
                if name.is_empty() {
                    let default = match shape {
                        Shape::Forward { .. } => format!("`{default}`"),
                        _ => "the field's name".to_owned(),
                    };
                    cx.error_spanned_by(
                        lit,
                        format!(
                            "a column name cannot be empty; write the column's name, or \
                             remove `column` to use {default}"
                        ),
                    );
                }
                name
            }
            None => default,
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
        names.push(Some(name));
    }
    names
}

/// A model has exactly one primary key: every query by key, `save` and relation needs to
/// know which column it is. It is the field marked `#[orm(primary_key)]`, or else the
/// field named `id` (which is then an ordinary column when another field is marked).
/// Returns the key's index in `input.fields`. A relation is never the key (a relation
/// marked `primary_key` is reported by `check_relation_attrs`).
fn primary_key(cx: &Ctxt, input: &Input<'_>, shapes: &[Shape<'_>]) -> Option<usize> {
    let mut marked = input
        .fields
        .iter()
        .zip(shapes)
        .enumerate()
        .filter(|(_, (_, shape))| !shape.is_relation())
        .filter_map(|(index, (field, _))| Some((index, field.attrs.primary_key.as_ref()?)));
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
        if !shapes[index].is_relation() {
            return Some(index);
        }
        if input.fields[index].attrs.primary_key.is_none() {
            cx.error_spanned_by(
                input.fields[index].ident,
                "a field named `id` is the primary key unless another field is marked \
                 `#[orm(primary_key)]`, and this `id` is a relation, which cannot be the key; \
                 rename it, or mark the key with `#[orm(primary_key)]`",
            );
        }
        return None;
    }
    if input
        .fields
        .iter()
        .zip(shapes)
        .any(|(field, shape)| shape.is_relation() && field.attrs.primary_key.is_some())
    {
        // A relation marked as the key was reported; "no primary key" would repeat it.
        return None;
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
fn auto_flags(cx: &Ctxt, input: &Input<'_>, shapes: &[Shape<'_>], key: Option<usize>) -> Vec<bool> {
    input
        .fields
        .iter()
        .zip(shapes)
        .enumerate()
        .map(|(index, (field, shape))| {
            let is_key = key == Some(index);
            let integer = is_integer(field.ty);
            match &field.attrs.auto {
                // A relation marked as the key was reported; its `auto` goes with it.
                Some(_) if shape.is_relation() && field.attrs.primary_key.is_some() => false,
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
