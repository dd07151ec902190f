//! The validated model: what code generation reads. Built by `check` only; every name is
//! resolved (defaults applied) and every rule has been checked.

use proc_macro2::Ident;
use quote::format_ident;
use syn::ext::IdentExt;
use syn::{Path, Type, Visibility};

pub(crate) struct Model {
    pub(crate) ident: Ident,
    pub(crate) vis: Visibility,
    pub(crate) table: String,
    /// The crate that holds `__private` (`::orm_sqlx` unless `#[orm(crate = ...)]`).
    pub(crate) crate_path: Path,
    /// In declaration order, which is `ModelMeta.columns` order. Forward relation fields
    /// (`ForeignKey<T>`) are columns too.
    pub(crate) columns: Vec<Column>,
    /// Every relation field, forward or not, in declaration order, which is
    /// `ModelMeta.relations` order.
    pub(crate) relations: Vec<Relation>,
    /// Fields that are neither (their mistake was reported): initialised with
    /// `Default::default()` so that the mistake does not cascade.
    pub(crate) ignored: Vec<Ident>,
    pub(crate) key: Key,
    /// `index(..)` and `unique_together(..)` on the struct.
    pub(crate) indexes: Vec<crate::options::Index>,
    /// `#[orm(hooks)]`: the user writes `impl Hooks`; else the derive writes an empty one.
    pub(crate) user_hooks: bool,
    /// `#[orm(renamed_from = "old_table")]`.
    pub(crate) renamed_from: Option<String>,
}

pub(crate) struct Column {
    pub(crate) ident: Ident,
    pub(crate) column: String,
    pub(crate) ty: Type,
    pub(crate) primary_key: bool,
    /// The database assigns the value on insert.
    pub(crate) auto: bool,
    /// For a foreign key: its index in `Model::relations`.
    pub(crate) relation: Option<usize>,
    /// `unique`, `max_length`, `default`, `auto_now`…, checked.
    pub(crate) options: crate::options::Options,
}

/// A relation field.
pub(crate) struct Relation {
    pub(crate) ident: Ident,
    /// The model it reaches: `Author` in `ForeignKey<Author>`.
    pub(crate) target: Type,
    pub(crate) kind: RelationKind,
}

pub(crate) enum RelationKind {
    /// `ForeignKey<T>` or `OneToOne<T>`, optionally in an `Option`: a column too.
    Forward {
        one_to_one: bool,
        /// The index of the key column in `Model::columns`.
        column: usize,
        /// Written as `Option<...>`.
        nullable: bool,
        /// The `OnDelete` variant: `Cascade`.
        on_delete: &'static str,
    },
    /// `Reverse<T>`: the rows of `T` whose foreign key `forward` points here.
    Reverse { forward: Ident },
    /// `ManyToMany<T>` with `#[orm(reverse(T::forward))]`: the other side of the
    /// many-to-many field `forward`, through its join table.
    ReverseManyToMany { forward: Ident },
    /// `ManyToMany<T>`, through a join table.
    ManyToMany {
        table: String,
        parent_column: String,
        target_column: String,
    },
}

/// The primary key.
pub(crate) enum Key {
    /// The column at this index.
    Column(usize),
    /// No field can be the key. `check` has reported it; code generation still emits a
    /// stub `Model` impl so that this one mistake does not cascade into "`Model` is not
    /// implemented" errors wherever the model is used.
    Missing,
}

impl Model {
    /// The struct's name as users see it (`r#` stripped).
    pub(crate) fn name(&self) -> String {
        self.ident.unraw().to_string()
    }

    /// `BookFields`.
    pub(crate) fn fields_ident(&self) -> Ident {
        format_ident!("{}Fields", self.ident.unraw())
    }

    pub(crate) fn key_column(&self) -> Option<&Column> {
        match self.key {
            Key::Column(index) => self.columns.get(index),
            Key::Missing => None,
        }
    }
}

impl Relation {
    /// The field's name as users see it (`r#` stripped).
    pub(crate) fn name(&self) -> String {
        self.ident.unraw().to_string()
    }

    /// `__REL_author`: the `static` holding its `RelationMeta`.
    pub(crate) fn static_ident(&self) -> Ident {
        format_ident!("__REL_{}", self.ident.unraw())
    }

    /// `__orm_through_tags`: the associated const holding a many-to-many field's join
    /// table.
    pub(crate) fn through_const(&self) -> Ident {
        format_ident!("__orm_through_{}", self.ident.unraw())
    }

    /// The target's name as written (`Book` in `ManyToMany<Book>`), for messages.
    pub(crate) fn target_name(&self) -> String {
        match &self.target {
            Type::Path(path) => path
                .path
                .segments
                .last()
                .map(|s| s.ident.unraw().to_string())
                .unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// The `RelationKind` variant.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self.kind {
            RelationKind::Forward {
                one_to_one: false, ..
            } => "ForeignKey",
            RelationKind::Forward {
                one_to_one: true, ..
            } => "OneToOne",
            RelationKind::Reverse { .. } => "Reverse",
            RelationKind::ManyToMany { .. } | RelationKind::ReverseManyToMany { .. } => {
                "ManyToMany"
            }
        }
    }

    /// Reverse and many-to-many relations reach several rows.
    pub(crate) fn is_many(&self) -> bool {
        !matches!(self.kind, RelationKind::Forward { .. })
    }
}

impl Column {
    /// The field's name as users see it (`r#` stripped).
    pub(crate) fn name(&self) -> String {
        self.ident.unraw().to_string()
    }
}
