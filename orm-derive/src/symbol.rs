//! The names the derive understands, in one place.

use std::fmt;

use syn::{Ident, Path};

#[derive(Clone, Copy)]
pub(crate) struct Symbol(&'static str);

/// The attribute itself: `#[orm(...)]`.
pub(crate) const ORM: Symbol = Symbol("orm");

// Struct attributes.
pub(crate) const TABLE: Symbol = Symbol("table");
pub(crate) const CRATE: Symbol = Symbol("crate");
pub(crate) const UNIQUE_TOGETHER: Symbol = Symbol("unique_together");
pub(crate) const HOOKS: Symbol = Symbol("hooks");
/// On the struct its old table, on a field its old column (for migrations).
pub(crate) const RENAMED_FROM: Symbol = Symbol("renamed_from");

// Field attributes.
pub(crate) const PRIMARY_KEY: Symbol = Symbol("primary_key");
pub(crate) const AUTO: Symbol = Symbol("auto");
pub(crate) const COLUMN: Symbol = Symbol("column");
pub(crate) const ON_DELETE: Symbol = Symbol("on_delete");
pub(crate) const REVERSE: Symbol = Symbol("reverse");
pub(crate) const THROUGH: Symbol = Symbol("through");
pub(crate) const MANY_TO_MANY: Symbol = Symbol("many_to_many");
pub(crate) const UNIQUE: Symbol = Symbol("unique");
/// A field flag, and on the struct a composite index: `index(a, b)`.
pub(crate) const INDEX: Symbol = Symbol("index");
pub(crate) const MAX_LENGTH: Symbol = Symbol("max_length");
pub(crate) const MAX_DIGITS: Symbol = Symbol("max_digits");
pub(crate) const DECIMAL_PLACES: Symbol = Symbol("decimal_places");
pub(crate) const DEFAULT: Symbol = Symbol("default");
pub(crate) const AUTO_NOW: Symbol = Symbol("auto_now");
pub(crate) const AUTO_NOW_ADD: Symbol = Symbol("auto_now_add");

/// Every struct attribute, in the order error messages list them.
pub(crate) const STRUCT_ATTRS: &[Symbol] =
    &[TABLE, CRATE, INDEX, UNIQUE_TOGETHER, HOOKS, RENAMED_FROM];
/// Every field attribute, in the order error messages list them.
pub(crate) const FIELD_ATTRS: &[Symbol] = &[
    PRIMARY_KEY,
    AUTO,
    COLUMN,
    ON_DELETE,
    REVERSE,
    THROUGH,
    MANY_TO_MANY,
    UNIQUE,
    INDEX,
    MAX_LENGTH,
    MAX_DIGITS,
    DECIMAL_PLACES,
    DEFAULT,
    AUTO_NOW,
    AUTO_NOW_ADD,
    RENAMED_FROM,
];

// Relation field types, recognised by the last segment of the type as written.
pub(crate) const FOREIGN_KEY: Symbol = Symbol("ForeignKey");
pub(crate) const ONE_TO_ONE: Symbol = Symbol("OneToOne");
pub(crate) const REVERSE_TYPE: Symbol = Symbol("Reverse");
pub(crate) const MANY_TO_MANY_TYPE: Symbol = Symbol("ManyToMany");
pub(crate) const RELATED_SET: Symbol = Symbol("RelatedSet");

/// The `on_delete` values, in the order error messages list them, with the `OnDelete`
/// variant each one means.
pub(crate) const ON_DELETE_VALUES: &[(Symbol, &str)] = &[
    (Symbol("cascade"), "Cascade"),
    (Symbol("set_null"), "SetNull"),
    (Symbol("protect"), "Protect"),
    (Symbol("restrict"), "Restrict"),
    (Symbol("do_nothing"), "DoNothing"),
];

/// The field that is the primary key when no field says `#[orm(primary_key)]`.
pub(crate) const ID: Symbol = Symbol("id");

/// The crate whose `__private` module generated code uses (as `::orm_sqlx`), unless
/// `#[orm(crate = ...)]` says otherwise.
pub(crate) const DEFAULT_CRATE: Symbol = Symbol("orm_sqlx");

/// The module of the ORM crate that generated code uses, and nothing else.
pub(crate) const PRIVATE: Symbol = Symbol("__private");

impl Symbol {
    pub(crate) fn as_str(self) -> &'static str {
        self.0
    }
}

/// "`table`, `crate`": for "expected one of ..." messages.
pub(crate) fn list(symbols: &[Symbol]) -> String {
    symbols
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl PartialEq<Symbol> for Ident {
    fn eq(&self, symbol: &Symbol) -> bool {
        self == symbol.0
    }
}

impl PartialEq<Symbol> for &Ident {
    fn eq(&self, symbol: &Symbol) -> bool {
        *self == symbol.0
    }
}

impl PartialEq<Symbol> for Path {
    fn eq(&self, symbol: &Symbol) -> bool {
        self.is_ident(symbol.0)
    }
}

impl PartialEq<Symbol> for &Path {
    fn eq(&self, symbol: &Symbol) -> bool {
        self.is_ident(symbol.0)
    }
}
