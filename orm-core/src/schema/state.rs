//! The schema of a set of models as data: what `CREATE TABLE` is written from, what a
//! migration file records and what migrations replay (Django's `ProjectState`).
//!
//! [`TableState::from_meta`] reads a model's generated [`ModelMeta`]; migration files
//! (the `migrate` feature) hold the same description, so the schema a chain of migrations
//! leads to is recoverable from the files alone, and `create_tables` and `migrate` write
//! their DDL from one description through one writer
//! ([`compiler::create_table_state`](crate::compiler::create_table_state)).

use std::collections::BTreeMap;

use crate::schema::model::{DbDefault, ModelMeta};
use crate::schema::relation::RelationKind;
use crate::schema::value::SqlType;

#[cfg(feature = "migrate")]
fn is_false(b: &bool) -> bool {
    !*b
}

/// A literal column default (`#[orm(default = …)]`), or the value a migration fills
/// existing rows with.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "migrate", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "migrate", serde(untagged))]
pub enum Literal {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl From<DbDefault> for Literal {
    fn from(d: DbDefault) -> Literal {
        match d {
            DbDefault::Bool(b) => Literal::Bool(b),
            DbDefault::Int(n) => Literal::Int(n),
            DbDefault::Float(f) => Literal::Float(f),
            DbDefault::Text(s) => Literal::Text(s.to_owned()),
        }
    }
}

impl std::fmt::Display for Literal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Int(n) => write!(f, "{n}"),
            Literal::Float(x) => write!(f, "{x:?}"),
            Literal::Text(s) => write!(f, "{s:?}"),
        }
    }
}

/// The primary key a foreign key column points at.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "migrate", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "migrate", serde(deny_unknown_fields))]
pub struct Reference {
    /// The target's table.
    pub table: String,
    /// The target's primary key column.
    pub column: String,
}

/// One column of a table.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "migrate", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "migrate", serde(deny_unknown_fields))]
pub struct ColumnState {
    /// The column's name in the database.
    pub name: String,
    #[cfg_attr(feature = "migrate", serde(rename = "type"))]
    pub ty: SqlType,
    #[cfg_attr(feature = "migrate", serde(default, skip_serializing_if = "is_false"))]
    pub null: bool,
    #[cfg_attr(feature = "migrate", serde(default, skip_serializing_if = "is_false"))]
    pub primary_key: bool,
    /// Assigned by the database (auto-increment).
    #[cfg_attr(feature = "migrate", serde(default, skip_serializing_if = "is_false"))]
    pub auto: bool,
    #[cfg_attr(feature = "migrate", serde(default, skip_serializing_if = "is_false"))]
    pub unique: bool,
    #[cfg_attr(feature = "migrate", serde(default, skip_serializing_if = "is_false"))]
    pub index: bool,
    #[cfg_attr(
        feature = "migrate",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub max_length: Option<u32>,
    #[cfg_attr(
        feature = "migrate",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub max_digits: Option<u32>,
    #[cfg_attr(
        feature = "migrate",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub decimal_places: Option<u32>,
    #[cfg_attr(
        feature = "migrate",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub default: Option<Literal>,
    /// A foreign key: the column holds the key of a row of this table.
    #[cfg_attr(
        feature = "migrate",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub references: Option<Reference>,
    /// A one-to-one key (a unique foreign key).
    #[cfg_attr(feature = "migrate", serde(default, skip_serializing_if = "is_false"))]
    pub one_to_one: bool,
}

impl ColumnState {
    /// A NOT NULL column of type `ty` without options.
    pub fn new(name: &str, ty: SqlType) -> ColumnState {
        ColumnState {
            name: name.to_owned(),
            ty,
            null: false,
            primary_key: false,
            auto: false,
            unique: false,
            index: false,
            max_length: None,
            max_digits: None,
            decimal_places: None,
            default: None,
            references: None,
            one_to_one: false,
        }
    }

    /// A foreign key that is not one-to-one (the ones Django indexes).
    pub fn is_plain_foreign_key(&self) -> bool {
        self.references.is_some() && !self.one_to_one
    }

    /// UNIQUE: `#[orm(unique)]` or a one-to-one key.
    pub fn is_unique(&self) -> bool {
        !self.primary_key && (self.unique || self.one_to_one)
    }
}

/// A composite index (`#[orm(index(a, b))]`) or unique constraint
/// (`#[orm(unique_together(a, b))]`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "migrate", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "migrate", serde(deny_unknown_fields))]
pub struct IndexState {
    pub columns: Vec<String>,
    #[cfg_attr(feature = "migrate", serde(default, skip_serializing_if = "is_false"))]
    pub unique: bool,
}

/// The join table of a many-to-many field, owned by the model declaring the field.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "migrate", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "migrate", serde(deny_unknown_fields))]
pub struct LinkState {
    /// The many-to-many field's name.
    pub field: String,
    /// The join table.
    pub table: String,
    /// The column holding the owner's key.
    pub parent_column: String,
    /// The column holding the target's key.
    pub target_column: String,
    /// The target model's table and key.
    pub target: Reference,
    /// The type of the target's key.
    pub target_type: SqlType,
}

/// One model's table.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "migrate", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "migrate", serde(deny_unknown_fields))]
pub struct TableState {
    pub table: String,
    pub columns: Vec<ColumnState>,
    #[cfg_attr(
        feature = "migrate",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub indexes: Vec<IndexState>,
    #[cfg_attr(
        feature = "migrate",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub links: Vec<LinkState>,
}

impl TableState {
    /// The table a model's `#[derive(Model)]` describes.
    pub fn from_meta(meta: &ModelMeta) -> TableState {
        let columns = meta
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let rel = meta.relations.iter().find(|r| r.key_column == Some(i));
                let references = rel.map(|r| {
                    let target = (r.target)();
                    Reference {
                        table: target.table.to_owned(),
                        column: target.pk_column().column.to_owned(),
                    }
                });
                ColumnState {
                    name: c.column.to_owned(),
                    ty: c.sql_type,
                    null: c.nullable,
                    primary_key: c.primary_key,
                    auto: c.auto,
                    unique: c.options.unique,
                    index: c.options.index,
                    max_length: c.options.max_length,
                    max_digits: c.options.digits.map(|d| d.max_digits),
                    decimal_places: c.options.digits.map(|d| d.decimal_places),
                    default: c.options.db_default.map(Literal::from),
                    references,
                    one_to_one: rel.is_some_and(|r| r.kind == RelationKind::OneToOne),
                }
            })
            .collect();
        let indexes = meta
            .indexes
            .iter()
            .map(|x| IndexState {
                columns: x.columns.iter().map(|c| (*c).to_owned()).collect(),
                unique: x.unique,
            })
            .collect();
        let links = meta
            .relations
            .iter()
            .filter(|r| r.kind == RelationKind::ManyToMany && r.forward.is_none())
            .filter_map(|r| {
                let th = r.through.as_ref()?;
                let target = (r.target)();
                Some(LinkState {
                    field: r.name.to_owned(),
                    table: th.table.to_owned(),
                    parent_column: th.parent_column.to_owned(),
                    target_column: th.target_column.to_owned(),
                    target: Reference {
                        table: target.table.to_owned(),
                        column: target.pk_column().column.to_owned(),
                    },
                    target_type: target.pk_column().sql_type,
                })
            })
            .collect();
        TableState {
            table: meta.table.to_owned(),
            columns,
            indexes,
            links,
        }
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnState> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The primary key column (the first one marked, or the first column).
    pub fn pk(&self) -> Option<&ColumnState> {
        self.columns.iter().find(|c| c.primary_key)
    }

    /// Whether column `name` is a key or indexed (MySQL stores such text as `VARCHAR(255)`
    /// rather than `LONGTEXT`, which it cannot index).
    pub fn is_keyed(&self, name: &str) -> bool {
        let Some(c) = self.column(name) else {
            return false;
        };
        c.primary_key
            || c.unique
            || c.index
            || c.references.is_some()
            || self
                .indexes
                .iter()
                .any(|x| x.columns.iter().any(|n| n == name))
    }
}

/// Every table of an application, by table name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProjectState {
    pub tables: BTreeMap<String, TableState>,
}

impl ProjectState {
    /// The state of a set of models.
    pub fn from_metas<'a>(metas: impl IntoIterator<Item = &'a ModelMeta>) -> ProjectState {
        let mut state = ProjectState::default();
        for meta in metas {
            state
                .tables
                .insert(meta.table.to_owned(), TableState::from_meta(meta));
        }
        state
    }

    /// The table called `name`.
    pub fn table(&self, name: &str) -> Option<&TableState> {
        self.tables.get(name)
    }

    /// The type of the key `reference` points at, if that table is known.
    pub fn referenced_type(&self, reference: &Reference) -> Option<SqlType> {
        self.table(&reference.table)?
            .column(&reference.column)
            .map(|c| c.ty)
    }
}
