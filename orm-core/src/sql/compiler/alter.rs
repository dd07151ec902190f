//! The DDL that takes one table from one description to another (what a migration
//! operation sends): `ALTER TABLE` on PostgreSQL and MySQL, and on SQLite `ALTER TABLE`
//! where it can, else the table rebuilt as Django rebuilds it (create the new table, copy
//! the rows, drop the old one, rename the new one, create its indexes).
//!
//! Every index and constraint the ORM creates has a name derived from its table and
//! columns ([`table_indexes`], [`unique_name`], [`foreign_key_name`]), so the change is
//! computed by comparing the named objects of both descriptions: an object whose columns
//! survive under another name is renamed, one that went away is dropped before the
//! columns change, and a new one is created after.

use std::collections::BTreeMap;

use super::*;
use crate::schema::state::{ColumnState, LinkState, Literal, Reference, TableState};
use crate::schema::value::SqlType;

/// What one table change needs besides its two descriptions.
#[derive(Clone, Debug, Default)]
pub struct TableChange {
    /// Columns renamed, old name to new name.
    pub renames: Vec<(String, String)>,
    /// Added columns: the value existing rows get, where it is not the column's default
    /// (Django's one-off default, `preserve_default=False`).
    pub fill: BTreeMap<String, Literal>,
}

/// An index or constraint the ORM names.
#[derive(Clone, Debug, PartialEq)]
enum Object {
    Index(IndexDef),
    /// A column's UNIQUE: PostgreSQL's constraint, MySQL's index named after the column.
    Unique {
        name: String,
        column: String,
    },
    ForeignKey {
        name: String,
        column: String,
        target: Reference,
    },
}

impl Object {
    fn name(&self) -> &str {
        match self {
            Object::Index(x) => &x.name,
            Object::Unique { name, .. } | Object::ForeignKey { name, .. } => name,
        }
    }

    /// What the object is, apart from its name, with its columns renamed by `rename`.
    fn shape(&self, rename: &dyn Fn(&str) -> String) -> String {
        match self {
            Object::Index(x) => format!(
                "index {} {}",
                x.unique,
                x.columns
                    .iter()
                    .map(|c| rename(c))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Object::Unique { column, .. } => format!("unique {}", rename(column)),
            Object::ForeignKey { column, target, .. } => {
                format!("fk {} {}.{}", rename(column), target.table, target.column)
            }
        }
    }
}

/// The named objects of `t` on `dialect` (SQLite: its indexes; UNIQUE and foreign keys
/// change only with a rebuild there).
fn objects(t: &TableState, dialect: Dialect) -> Vec<Object> {
    let mut out: Vec<Object> = table_indexes(t).into_iter().map(Object::Index).collect();
    if dialect == Dialect::Sqlite {
        return out;
    }
    for c in &t.columns {
        if c.is_unique() {
            out.push(Object::Unique {
                name: if dialect == Dialect::Mysql {
                    c.name.clone()
                } else {
                    unique_name(&t.table, &c.name)
                },
                column: c.name.clone(),
            });
        }
    }
    for c in &t.columns {
        if let Some(r) = &c.references {
            out.push(Object::ForeignKey {
                name: foreign_key_name(&t.table, &c.name, dialect),
                column: c.name.clone(),
                target: r.clone(),
            });
        }
    }
    out
}

fn stmt(dialect: Dialect, f: impl FnOnce(&mut SqlWriter)) -> Statement {
    let mut w = SqlWriter::new(dialect, &EMPTY_META);
    f(&mut w);
    w.ddl()
}

fn alter_table(w: &mut SqlWriter, table: &str) {
    w.push("ALTER TABLE ");
    w.ident(table);
    w.push(" ");
}

/// `DROP TABLE <table>`.
pub fn drop_table(table: &str, dialect: Dialect) -> Statement {
    stmt(dialect, |w| {
        w.push("DROP TABLE ");
        w.ident(table);
    })
}

/// Rename a table (`RENAME TABLE` on MySQL, `ALTER TABLE … RENAME TO` elsewhere).
pub fn rename_table(old: &str, new: &str, dialect: Dialect) -> Statement {
    stmt(dialect, |w| {
        if dialect == Dialect::Mysql {
            w.push("RENAME TABLE ");
            w.ident(old);
            w.push(" TO ");
        } else {
            w.push("ALTER TABLE ");
            w.ident(old);
            w.push(" RENAME TO ");
        }
        w.ident(new);
    })
}

fn rename_column(table: &str, old: &str, new: &str, dialect: Dialect) -> Statement {
    stmt(dialect, |w| {
        alter_table(w, table);
        w.push("RENAME COLUMN ");
        w.ident(old);
        w.push(" TO ");
        w.ident(new);
    })
}

/// The statements that rename a many-to-many join table (and its columns and index)
/// from `from` to `to`.
pub fn rename_link(from: &LinkState, to: &LinkState, dialect: Dialect) -> Vec<Statement> {
    let mut out = Vec::new();
    if from.table != to.table {
        out.push(rename_table(&from.table, &to.table, dialect));
    }
    for (old, new) in [
        (&from.parent_column, &to.parent_column),
        (&from.target_column, &to.target_column),
    ] {
        if old != new {
            out.push(rename_column(&to.table, old, new, dialect));
        }
    }
    let unique = |l: &LinkState| Object::Unique {
        name: super::ddl::link_unique_name(l),
        column: String::new(),
    };
    let (old_unique, new_unique) = (unique(from), unique(to));
    if old_unique.name() != new_unique.name() {
        // SQLite's pair is unnamed: nothing to rename.
        out.extend(rename_object(&to.table, &old_unique, &new_unique, dialect));
    }
    let old_index = Object::Index(table_indexes_of_link(from));
    let new_index = Object::Index(table_indexes_of_link(to));
    if old_index.name() != new_index.name() {
        match rename_object(&to.table, &old_index, &new_index, dialect) {
            Some(s) => out.push(s),
            None => {
                out.push(drop_object(&to.table, &old_index, dialect));
                out.push(create_index_statement(
                    &to.table,
                    &table_indexes_of_link(to),
                    dialect,
                ));
            }
        }
    }
    out
}

fn table_indexes_of_link(link: &LinkState) -> IndexDef {
    IndexDef {
        name: super::ddl::link_index_name(link),
        columns: vec![link.target_column.clone()],
        unique: false,
    }
}

fn drop_index(table: &str, name: &str, dialect: Dialect) -> Statement {
    stmt(dialect, |w| {
        w.push("DROP INDEX ");
        w.ident(name);
        if dialect == Dialect::Mysql {
            w.push(" ON ");
            w.ident(table);
        }
    })
}

fn drop_object(table: &str, o: &Object, dialect: Dialect) -> Statement {
    match o {
        Object::Index(x) => drop_index(table, &x.name, dialect),
        Object::Unique { name, .. } => stmt(dialect, |w| {
            alter_table(w, table);
            w.push(if dialect == Dialect::Mysql {
                "DROP INDEX "
            } else {
                "DROP CONSTRAINT "
            });
            w.ident(name);
        }),
        Object::ForeignKey { name, .. } => stmt(dialect, |w| {
            alter_table(w, table);
            w.push(if dialect == Dialect::Mysql {
                "DROP FOREIGN KEY "
            } else {
                "DROP CONSTRAINT "
            });
            w.ident(name);
        }),
    }
}

fn create_object(t: &TableState, o: &Object, dialect: Dialect) -> Statement {
    match o {
        Object::Index(x) => create_index_statement(&t.table, x, dialect),
        Object::Unique { name, column } => stmt(dialect, |w| {
            alter_table(w, &t.table);
            if dialect == Dialect::Mysql {
                w.push("ADD UNIQUE INDEX ");
            } else {
                w.push("ADD CONSTRAINT ");
            }
            w.ident(name);
            if dialect != Dialect::Mysql {
                w.push(" UNIQUE");
            }
            w.push(" (");
            w.ident(column);
            w.push(")");
        }),
        Object::ForeignKey { column, target, .. } => stmt(dialect, |w| {
            alter_table(w, &t.table);
            w.push("ADD ");
            foreign_key_constraint(w, &t.table, column, target);
        }),
    }
}

/// Rename an object (`None` where the backend cannot: MySQL's foreign keys, SQLite).
fn rename_object(table: &str, from: &Object, to: &Object, dialect: Dialect) -> Option<Statement> {
    match (dialect, from) {
        (Dialect::Sqlite, _) | (Dialect::Mysql, Object::ForeignKey { .. }) => None,
        (Dialect::Postgres, Object::Index(_)) => Some(stmt(dialect, |w| {
            w.push("ALTER INDEX ");
            w.ident(from.name());
            w.push(" RENAME TO ");
            w.ident(to.name());
        })),
        (Dialect::Postgres, _) => Some(stmt(dialect, |w| {
            alter_table(w, table);
            w.push("RENAME CONSTRAINT ");
            w.ident(from.name());
            w.push(" TO ");
            w.ident(to.name());
        })),
        (Dialect::Mysql, _) => Some(stmt(dialect, |w| {
            alter_table(w, table);
            w.push("RENAME INDEX ");
            w.ident(from.name());
            w.push(" TO ");
            w.ident(to.name());
        })),
    }
}

/// The DDL that changes table `from` into `to` (already under `to.table`'s name), with the
/// column renames and fill values of `change`.
pub fn alter_table_state(
    from: &TableState,
    to: &TableState,
    change: &TableChange,
    dialect: Dialect,
    options: &TableOptions,
) -> Vec<Statement> {
    let rename = |name: &str| -> String {
        change
            .renames
            .iter()
            .find(|(old, _)| old == name)
            .map_or_else(|| name.to_owned(), |(_, new)| new.clone())
    };
    // Each column of `to` and the column of `from` it was (by name, after renames).
    let source = |name: &str| -> Option<&ColumnState> {
        from.columns.iter().find(|c| rename(&c.name) == name)
    };
    let removed: Vec<&ColumnState> = from
        .columns
        .iter()
        .filter(|c| to.column(&rename(&c.name)).is_none())
        .collect();
    let added: Vec<&ColumnState> = to
        .columns
        .iter()
        .filter(|c| source(&c.name).is_none())
        .collect();
    // A column whose definition changes (beyond its name and its `index` flag, which
    // the objects carry), or its type (MySQL's text type depends on its keys).
    let changed: Vec<(&ColumnState, &ColumnState)> = to
        .columns
        .iter()
        .filter_map(|c| source(&c.name).map(|f| (f, c)))
        .filter(|(f, c)| {
            let mut same = (*f).clone();
            same.name = c.name.clone();
            same.index = c.index;
            same != **c || column_type(from, f, dialect) != column_type(to, c, dialect)
        })
        .collect();

    if dialect == Dialect::Sqlite {
        let simple_add = |c: &ColumnState| {
            !c.primary_key
                && !c.is_unique()
                && !change.fill.contains_key(&c.name)
                && (c.null || c.default.is_some())
                && (c.references.is_none() || c.null && c.default.is_none())
        };
        let needs_rebuild =
            !removed.is_empty() || !changed.is_empty() || added.iter().any(|c| !simple_add(c));
        if needs_rebuild {
            return rebuild_sqlite(from, to, change, options);
        }
    }

    let mut out = Vec::new();
    let table = to.table.as_str();
    let old_objects = objects(from, dialect);
    let new_objects = objects(to, dialect);
    let mut kept_new = vec![false; new_objects.len()];
    let mut drops = Vec::new();
    let mut renames = Vec::new();
    for o in &old_objects {
        let shape = o.shape(&|c| rename(c));
        let found = new_objects
            .iter()
            .enumerate()
            .find(|(i, n)| !kept_new[*i] && n.shape(&|c| c.to_owned()) == shape);
        match found {
            Some((i, n)) if n.name() == o.name() => kept_new[i] = true,
            Some((i, n)) => match rename_object(table, o, n, dialect) {
                Some(s) => {
                    kept_new[i] = true;
                    renames.push(s);
                }
                None => drops.push(o),
            },
            None => drops.push(o),
        }
    }
    // Foreign keys first (MySQL keeps an index while a foreign key needs it), then
    // unique constraints, then indexes.
    let order = |o: &Object| match o {
        Object::ForeignKey { .. } => 0,
        Object::Unique { .. } => 1,
        Object::Index(_) => 2,
    };
    drops.sort_by_key(|o| order(o));
    for o in &drops {
        out.push(drop_object(table, o, dialect));
    }
    out.extend(renames);
    for (old, new) in &change.renames {
        if from.column(old).is_some() && old != new {
            out.push(rename_column(table, old, new, dialect));
        }
    }
    for c in &removed {
        out.push(stmt(dialect, |w| {
            alter_table(w, table);
            w.push("DROP COLUMN ");
            w.ident(&c.name);
        }));
    }
    for c in &added {
        let fill = change.fill.get(&c.name);
        out.push(stmt(dialect, |w| {
            alter_table(w, table);
            w.push("ADD COLUMN ");
            column_definition(w, to, c, fill);
            // SQLite has no `ADD CONSTRAINT`: the key goes on the column.
            if dialect == Dialect::Sqlite
                && let Some(r) = &c.references
            {
                references(w, r);
            }
        }));
        if fill.is_some() && fill != c.default.as_ref() {
            out.push(set_default(to, c, dialect));
        }
    }
    for (f, c) in &changed {
        let not_null_now = f.null && !c.null;
        if not_null_now && let Some(d) = &c.default {
            out.push(stmt(dialect, |w| {
                w.push("UPDATE ");
                w.ident(table);
                w.push(" SET ");
                w.ident(&c.name);
                w.push(" = ");
                let lit = sql_literal(d, c.ty, dialect);
                w.push(&lit);
                w.push(" WHERE ");
                w.ident(&c.name);
                w.push(" IS NULL");
            }));
        }
        if dialect == Dialect::Mysql {
            let mut a = SqlWriter::new(dialect, &EMPTY_META);
            column_definition_body(&mut a, from, f, None);
            let mut b = SqlWriter::new(dialect, &EMPTY_META);
            column_definition(&mut b, to, c, None);
            let mut body = SqlWriter::new(dialect, &EMPTY_META);
            column_definition_body(&mut body, to, c, None);
            if a.sql != body.sql {
                out.push(stmt(dialect, |w| {
                    alter_table(w, table);
                    w.push("MODIFY COLUMN ");
                    w.push(&b.sql);
                }));
            }
            continue;
        }
        // PostgreSQL. A cast only between types: within one (a VARCHAR's length, a
        // NUMERIC's digits) the assignment cast refuses a value that does not fit, where
        // an explicit one would cut it short.
        let old_type = column_type(from, f, dialect);
        let new_type = column_type(to, c, dialect);
        if old_type != new_type {
            out.push(stmt(dialect, |w| {
                alter_table(w, table);
                w.push("ALTER COLUMN ");
                w.ident(&c.name);
                w.push(" TYPE ");
                w.push(&new_type);
                if f.ty != c.ty {
                    // A change that not every value survives runs only once a check
                    // found no value in the column (the migration executor's).
                    w.push(" USING ");
                    if widening(f.ty, c.ty) {
                        w.ident(&c.name);
                    } else {
                        w.push("NULL");
                    }
                    w.push("::");
                    w.push(&new_type);
                }
            }));
        }
        if f.null != c.null {
            out.push(stmt(dialect, |w| {
                alter_table(w, table);
                w.push("ALTER COLUMN ");
                w.ident(&c.name);
                w.push(if c.null {
                    " DROP NOT NULL"
                } else {
                    " SET NOT NULL"
                });
            }));
        }
        if f.default != c.default {
            out.push(set_default(to, c, dialect));
        }
    }
    for (i, o) in new_objects.iter().enumerate() {
        if !kept_new[i] && !matches!(o, Object::ForeignKey { .. }) {
            out.push(create_object(to, o, dialect));
        }
    }
    for (i, o) in new_objects.iter().enumerate() {
        if !kept_new[i] && matches!(o, Object::ForeignKey { .. }) {
            out.push(create_object(to, o, dialect));
        }
    }
    out
}

/// Give a column its default back (or none) after it was added with a fill value.
fn set_default(t: &TableState, c: &ColumnState, dialect: Dialect) -> Statement {
    stmt(dialect, |w| {
        alter_table(w, &t.table);
        if dialect == Dialect::Mysql {
            w.push("MODIFY COLUMN ");
            column_definition(w, t, c, None);
            return;
        }
        w.push("ALTER COLUMN ");
        w.ident(&c.name);
        match &c.default {
            Some(d) => {
                w.push(" SET");
                push_default(w, d, c.ty);
            }
            None => w.push(" DROP DEFAULT"),
        }
    })
}

/// SQLite's table rebuild: create the new table under a temporary name, copy the rows
/// (renamed columns from their old names, a column made NOT NULL with its default in
/// place of NULL, an added column with its fill value), drop the old table, rename the
/// new one, create its indexes. Foreign key enforcement must be off around it (the
/// migration executor turns it off outside the transaction and checks the keys before
/// committing), as SQLite's documentation prescribes.
fn rebuild_sqlite(
    from: &TableState,
    to: &TableState,
    change: &TableChange,
    options: &TableOptions,
) -> Vec<Statement> {
    let dialect = Dialect::Sqlite;
    let temp = format!("new__{}", to.table);
    let mut out = vec![table_statement(to, &temp, false, dialect, options)];
    let old_name = |new: &str| -> Option<String> {
        if let Some((old, _)) = change.renames.iter().find(|(_, n)| n == new) {
            return from.column(old).map(|c| c.name.clone());
        }
        let taken_by_rename = change.renames.iter().any(|(old, _)| old == new);
        (!taken_by_rename && from.column(new).is_some()).then(|| new.to_owned())
    };
    let mut targets = Vec::new();
    let mut sources = Vec::new();
    for c in &to.columns {
        let expr = match (old_name(&c.name), change.fill.get(&c.name)) {
            (Some(old), _) => {
                let was_null = from.column(&old).is_some_and(|f| f.null);
                let mut e = String::new();
                dialect.quote_into(&mut e, &old);
                match &c.default {
                    Some(d) if was_null && !c.null => {
                        format!("COALESCE({e}, {})", sql_literal(d, c.ty, dialect))
                    }
                    _ => e,
                }
            }
            (None, Some(fill)) => sql_literal(fill, c.ty, dialect),
            (None, None) => continue,
        };
        let mut name = String::new();
        dialect.quote_into(&mut name, &c.name);
        targets.push(name);
        sources.push(expr);
    }
    out.push(stmt(dialect, |w| {
        w.push("INSERT INTO ");
        w.ident(&temp);
        w.push(" (");
        w.push(&targets.join(", "));
        w.push(") SELECT ");
        w.push(&sources.join(", "));
        w.push(" FROM ");
        w.ident(&to.table);
    }));
    if to.columns.iter().any(|c| c.auto) && from.columns.iter().any(|c| c.auto) {
        // AUTOINCREMENT never hands out a key again: the new table goes on from the old
        // one's counter, not from the largest key left.
        let lit = |s: &str| format!("'{}'", s.replace('\'', "''"));
        out.push(stmt(dialect, |w| {
            w.push("DELETE FROM sqlite_sequence WHERE name = ");
            w.push(&lit(&temp));
        }));
        out.push(stmt(dialect, |w| {
            w.push("INSERT INTO sqlite_sequence (name, seq) SELECT ");
            w.push(&lit(&temp));
            w.push(", seq FROM sqlite_sequence WHERE name = ");
            w.push(&lit(&to.table));
        }));
    }
    out.push(drop_table(&to.table, dialect));
    out.push(rename_table(&temp, &to.table, dialect));
    out.extend(create_indexes_state(to, dialect));
    out
}

/// Type changes every backend makes without losing or refusing a value; other changes
/// need a column without values (a migration checks that first).
pub fn widening(from: SqlType, to: SqlType) -> bool {
    use SqlType::*;
    matches!(
        (from, to),
        (I16, I32)
            | (I16, I64)
            | (I32, I64)
            | (F32, F64)
            | (I16 | I32, F64)
            | (I16 | I32 | I64, Decimal)
            | (I16 | I32 | I64, Text)
    )
}
