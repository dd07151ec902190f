//! CREATE TABLE and CREATE INDEX for a model and its link tables.

use super::*;
use crate::schema::state::{ColumnState, LinkState, Literal, Reference, TableState};
use crate::schema::value::SqlType;

/// What `CREATE TABLE` needs to know about the server beyond its dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableOptions {
    /// MySQL/MariaDB: the collation of the table's text columns. It must compare exactly:
    /// binary (case and accents count) and without padding (`'a' <> 'a '`), as SQLite and
    /// PostgreSQL compare; the two servers name that collation differently
    /// ([`TableOptions::MARIADB`], [`TableOptions::MYSQL`]).
    pub mysql_collation: &'static str,
}

impl TableOptions {
    /// MariaDB (10.2 and later): `utf8mb4_nopad_bin`.
    pub const MARIADB: TableOptions = TableOptions {
        mysql_collation: "utf8mb4_nopad_bin",
    };
    /// MySQL (8.0.17 and later): `utf8mb4_0900_bin`.
    pub const MYSQL: TableOptions = TableOptions {
        mysql_collation: "utf8mb4_0900_bin",
    };
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions::MARIADB
    }
}

/// The column type, with the options that change it: `max_length` (`VARCHAR(n)`) and
/// `max_digits`/`decimal_places` (`NUMERIC(p, s)`; SQLite keeps decimals as exact text).
/// On MySQL a key or indexed text column is `VARCHAR(255)`, which it can index.
pub fn column_type(t: &TableState, c: &ColumnState, dialect: Dialect) -> String {
    let keyed = t.is_keyed(&c.name);
    if let Some(n) = c.max_length {
        // MySQL: past 255 characters an unindexed column is LONGTEXT (a table's VARCHARs
        // share one 64 KB row); the length is checked before every write anyway.
        if dialect == Dialect::Mysql && n > 255 && !keyed {
            return dialect.column_type(c.ty).to_owned();
        }
        return format!("VARCHAR({n})");
    }
    if let (Some(p), Some(s)) = (c.max_digits, c.decimal_places)
        && dialect != Dialect::Sqlite
    {
        let name = if dialect == Dialect::Mysql {
            "DECIMAL"
        } else {
            "NUMERIC"
        };
        return format!("{name}({p}, {s})");
    }
    if keyed {
        dialect.key_column_type(c.ty).to_owned()
    } else {
        dialect.column_type(c.ty).to_owned()
    }
}

/// ` CHECK (length(col) <= n)` for a `max_length` column whose type does not bound it
/// (SQLite's VARCHAR, MySQL's LONGTEXT past 255 characters): the ORM checks the values it
/// binds, and this catches a value computed in SQL (`update(|x| x.short.set(x.long))`),
/// as PostgreSQL's and MySQL's VARCHAR do, with a typed check violation.
fn length_check(w: &mut SqlWriter, t: &TableState, c: &ColumnState) {
    let Some(n) = c.max_length else {
        return;
    };
    let function = match w.dialect {
        Dialect::Sqlite => "length",
        Dialect::Mysql if n > 255 && !t.is_keyed(&c.name) => "CHAR_LENGTH",
        _ => return,
    };
    w.push(" CHECK (");
    w.push(function);
    w.push("(");
    w.ident(&c.name);
    w.push(") <= ");
    crate::sql::dialect::push_decimal(&mut w.sql, u64::from(n));
    w.push(")");
}

/// A literal as SQL for a column of type `ty`: text quoted with its quotes doubled (and,
/// on MySQL, its backslashes: MySQL reads them as escapes); a decimal on SQLite is stored
/// as text, so its literal is too.
pub fn sql_literal(literal: &Literal, ty: SqlType, dialect: Dialect) -> String {
    let text = |s: &str| {
        let mut out = String::from("'");
        for ch in s.chars() {
            match ch {
                '\'' => out.push_str("''"),
                '\\' if dialect == Dialect::Mysql => out.push_str("\\\\"),
                ch => out.push(ch),
            }
        }
        out.push('\'');
        out
    };
    match literal {
        Literal::Bool(b) => match (dialect, b) {
            (Dialect::Postgres, true) => "TRUE".to_owned(),
            (Dialect::Postgres, false) => "FALSE".to_owned(),
            (_, true) => "1".to_owned(),
            (_, false) => "0".to_owned(),
        },
        Literal::Int(n) if dialect == Dialect::Sqlite && ty == SqlType::Decimal => {
            text(&n.to_string())
        }
        Literal::Int(n) => n.to_string(),
        Literal::Float(f) if dialect == Dialect::Sqlite && ty == SqlType::Decimal => {
            text(&f.to_string())
        }
        Literal::Float(f) => format!("{f:?}"),
        Literal::Text(s) => text(s),
    }
}

/// ` DEFAULT <literal>` (MySQL takes an expression default on TEXT columns only in
/// parentheses).
pub(crate) fn push_default(w: &mut SqlWriter, literal: &Literal, ty: SqlType) {
    let sql = sql_literal(literal, ty, w.dialect);
    if w.dialect == Dialect::Mysql && matches!(literal, Literal::Text(_)) {
        w.push(" DEFAULT (");
        w.push(&sql);
        w.push(")");
    } else {
        w.push(" DEFAULT ");
        w.push(&sql);
    }
}

/// A column's definition without its keys: type, `NOT NULL`, `DEFAULT` and the length
/// `CHECK` (what `ALTER TABLE … ADD COLUMN` and MySQL's `MODIFY COLUMN` write), with
/// `default` in place of the column's own when given.
pub(crate) fn column_definition(
    w: &mut SqlWriter,
    t: &TableState,
    c: &ColumnState,
    default: Option<&Literal>,
) {
    w.ident(&c.name);
    w.push(" ");
    column_definition_body(w, t, c, default);
}

/// [`column_definition`] without the column's name.
pub(crate) fn column_definition_body(
    w: &mut SqlWriter,
    t: &TableState,
    c: &ColumnState,
    default: Option<&Literal>,
) {
    let ty = column_type(t, c, w.dialect);
    w.push(&ty);
    if !c.null {
        w.push(" NOT NULL");
    }
    if let Some(d) = default.or(c.default.as_ref()) {
        push_default(w, d, c.ty);
    }
    length_check(w, t, c);
}

/// `CREATE TABLE IF NOT EXISTS` for a model, with a foreign key constraint (deferred to
/// the end of the transaction, as Django declares them, where the backend can defer) on
/// every relation key column. On MySQL the foreign keys and the indexes of
/// [`table_indexes`] are written inside the statement (MySQL ignores a
/// `REFERENCES` written on the column, and has no `CREATE INDEX IF NOT EXISTS`), and the
/// table takes `options`' exact collation.
pub fn create_table(
    meta: &'static ModelMeta,
    dialect: Dialect,
    options: &TableOptions,
) -> Statement {
    create_table_state(&TableState::from_meta(meta), dialect, options)
}

/// Every statement `create_tables` sends for a set of models: the tables in an order
/// where each one's keys point at tables already created, then their indexes and join
/// tables. Keys in a cycle (two models pointing at each other) cannot all be written
/// inside `CREATE TABLE`: on PostgreSQL and MySQL those are added after every table
/// exists (`ALTER TABLE … ADD CONSTRAINT`, skipped when the constraint is there already,
/// so that creating twice changes nothing; MySQL 8, which has no such test, refuses a
/// second run).
pub fn create_tables_statements(
    metas: &[&'static ModelMeta],
    dialect: Dialect,
    options: &TableOptions,
) -> Vec<Statement> {
    let mut pending: Vec<TableState> = metas.iter().map(|m| TableState::from_meta(m)).collect();
    let names: Vec<String> = pending.iter().map(|t| t.table.clone()).collect();
    let mut created: Vec<String> = Vec::new();
    let mut ordered: Vec<TableState> = Vec::new();
    let mut deferred: Vec<(String, String, Reference)> = Vec::new();
    while !pending.is_empty() {
        let waits = |t: &TableState, created: &[String]| {
            t.columns.iter().any(|c| {
                c.references.as_ref().is_some_and(|r| {
                    r.table != t.table && names.contains(&r.table) && !created.contains(&r.table)
                })
            })
        };
        let at = pending
            .iter()
            .position(|t| !waits(t, &created))
            .unwrap_or(0);
        let mut t = pending.remove(at);
        if dialect != Dialect::Sqlite && waits(&t, &created) {
            for c in &mut t.columns {
                if let Some(r) = c.references.clone()
                    && r.table != t.table
                    && names.contains(&r.table)
                    && !created.contains(&r.table)
                {
                    if !c.one_to_one {
                        // The index the key would have had.
                        c.index = true;
                    }
                    c.references = None;
                    deferred.push((t.table.clone(), c.name.clone(), r));
                }
            }
        }
        created.push(t.table.clone());
        ordered.push(t);
    }
    let mut out: Vec<Statement> = ordered
        .iter()
        .map(|t| create_table_state(t, dialect, options))
        .collect();
    for t in &ordered {
        out.extend(create_indexes_state(t, dialect));
    }
    for t in &ordered {
        for link in &t.links {
            out.extend(create_link_table(t, link, true, dialect, options));
        }
    }
    for (table, column, r) in deferred {
        let mut add = SqlWriter::new(dialect, &EMPTY_META);
        add.push("ALTER TABLE ");
        add.ident(&table);
        add.push(" ADD ");
        foreign_key_constraint(&mut add, &table, &column, &r);
        if dialect == Dialect::Postgres {
            let name = foreign_key_name(&table, &column, dialect);
            let mut w = SqlWriter::new(dialect, &EMPTY_META);
            // Only when missing: `DO` runs it if no constraint of that name is on the
            // table (in the schema `search_path` finds first).
            w.push("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = '");
            w.push(&name.replace('\'', "''"));
            w.push("' AND conrelid = to_regclass('");
            let mut quoted = String::new();
            dialect.quote_into(&mut quoted, &table);
            w.push(&quoted.replace('\'', "''"));
            w.push("')) THEN ");
            w.push(&add.sql);
            w.push("; END IF; END $$");
            out.push(w.ddl());
        } else {
            if options.mysql_collation == TableOptions::MARIADB.mysql_collation {
                // MariaDB: `FOREIGN KEY IF NOT EXISTS`.
                add.sql = add
                    .sql
                    .replacen(" FOREIGN KEY (", " FOREIGN KEY IF NOT EXISTS (", 1);
            }
            out.push(add.ddl());
        }
    }
    out
}

/// [`create_table`] from a table's description (what migrations replay).
pub fn create_table_state(t: &TableState, dialect: Dialect, options: &TableOptions) -> Statement {
    table_statement(t, &t.table, true, dialect, options)
}

/// `CREATE TABLE [IF NOT EXISTS] <name>` with `t`'s columns and constraints, named for
/// `t.table` (SQLite's table rebuild creates it under another name, then renames it).
/// The unique and foreign key constraints carry names ([`unique_name`],
/// [`foreign_key_name`]) so that a migration can drop them.
pub(crate) fn table_statement(
    t: &TableState,
    name: &str,
    if_not_exists: bool,
    dialect: Dialect,
    options: &TableOptions,
) -> Statement {
    let mysql = dialect == Dialect::Mysql;
    let mut w = SqlWriter::new(dialect, &EMPTY_META);
    w.push(if if_not_exists {
        "CREATE TABLE IF NOT EXISTS "
    } else {
        "CREATE TABLE "
    });
    w.ident(name);
    w.push(" (");
    for (i, c) in t.columns.iter().enumerate() {
        if i > 0 {
            w.push(", ");
        }
        if c.auto {
            w.ident(&c.name);
            w.push(" ");
            w.push(dialect.auto_pk(c.ty));
            continue;
        }
        if c.primary_key {
            w.ident(&c.name);
            w.push(" ");
            let ty = column_type(t, c, dialect);
            w.push(&ty);
            w.push(" PRIMARY KEY");
            if let Some(d) = &c.default {
                push_default(&mut w, d, c.ty);
            }
            length_check(&mut w, t, c);
        } else {
            column_definition(&mut w, t, c, None);
        }
        if c.is_unique() {
            if dialect == Dialect::Postgres {
                w.push(" CONSTRAINT ");
                w.ident(&unique_name(&t.table, &c.name));
            }
            w.push(" UNIQUE");
        }
        if let Some(r) = &c.references
            && !mysql
        {
            if dialect == Dialect::Postgres {
                w.push(" CONSTRAINT ");
                w.ident(&foreign_key_name(&t.table, &c.name, dialect));
            }
            references(&mut w, r);
        }
    }
    if mysql {
        for x in table_indexes(t) {
            w.push(if x.unique {
                ", UNIQUE KEY "
            } else {
                ", INDEX "
            });
            w.ident(&x.name);
            w.push(" (");
            push_columns(&mut w, &x.columns);
            w.push(")");
        }
        for c in &t.columns {
            if let Some(r) = &c.references {
                w.push(", ");
                foreign_key_constraint(&mut w, &t.table, &c.name, r);
            }
        }
    }
    w.push(")");
    if mysql {
        mysql_table_options(&mut w, options);
    }
    w.ddl()
}

/// `CONSTRAINT <name> FOREIGN KEY (col) REFERENCES …` (a table constraint: MySQL's
/// only form, and `ALTER TABLE … ADD` on PostgreSQL).
pub(crate) fn foreign_key_constraint(w: &mut SqlWriter, table: &str, column: &str, r: &Reference) {
    w.push("CONSTRAINT ");
    w.ident(&foreign_key_name(table, column, w.dialect));
    w.push(" FOREIGN KEY (");
    w.ident(column);
    w.push(")");
    references(w, r);
}

pub(crate) fn push_columns(w: &mut SqlWriter, columns: &[String]) {
    for (n, c) in columns.iter().enumerate() {
        if n > 0 {
            w.push(", ");
        }
        w.ident(c);
    }
}

/// The name of a column's UNIQUE constraint: `<table>_<column>_key` (PostgreSQL's own
/// choice for an unnamed one). MySQL names the index of a column's `UNIQUE` after the
/// column.
pub fn unique_name(table: &str, column: &str) -> String {
    suffixed_name(table, column, "key")
}

/// The name of a column's foreign key constraint: `<table>_<column>_fkey` on PostgreSQL
/// (its own choice for an unnamed one), `<table>_<column>_fk` on MySQL (where the name is
/// the database's, not the table's: the table in it keeps it unique).
pub fn foreign_key_name(table: &str, column: &str, dialect: Dialect) -> String {
    suffixed_name(
        table,
        column,
        if dialect == Dialect::Mysql {
            "fk"
        } else {
            "fkey"
        },
    )
}

/// `<table>_<column>_idx`, or, past 63 bytes (PostgreSQL cuts longer names short, MySQL
/// refuses them past 64), its first 54 bytes and a hash of the whole name, so that two
/// long names stay two.
fn index_name(table: &str, column: &str) -> String {
    suffixed_name(table, column, "idx")
}

/// The UNIQUE (parent, target) of a join table: PostgreSQL's own name for it.
pub(crate) fn link_unique_name(link: &LinkState) -> String {
    suffixed_name(
        &link.table,
        &format!("{}_{}", link.parent_column, link.target_column),
        "key",
    )
}

/// The statements a migration creates a table with: `CREATE TABLE` (without `IF NOT
/// EXISTS`: a table already there is an error, not a table of another shape taken for
/// this one), its indexes and its join tables.
pub fn create_model_statements(
    t: &TableState,
    dialect: Dialect,
    options: &TableOptions,
) -> Vec<Statement> {
    let mut out = vec![table_statement(t, &t.table, false, dialect, options)];
    out.extend(create_indexes_state(t, dialect));
    for link in &t.links {
        out.extend(create_link_table(t, link, false, dialect, options));
    }
    out
}

/// The index on a join table's target column.
pub(crate) fn link_index_name(link: &LinkState) -> String {
    index_name(&link.table, &link.target_column)
}

/// `<table>_<column>_<suffix>`, cut as [`index_name`] cuts it.
fn suffixed_name(table: &str, column: &str, suffix: &str) -> String {
    let full = format!("{table}_{column}_{suffix}");
    if full.len() <= 63 {
        return full;
    }
    let hash = fnv1a(&full);
    let mut cut = 54;
    while !full.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{:08x}", &full[..cut], hash as u32)
}

/// FNV-1a: the same in every build and on every platform, unlike std's hasher.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=…`: transactions and foreign keys, and
/// text compared exactly.
fn mysql_table_options(w: &mut SqlWriter, options: &TableOptions) {
    w.push(" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=");
    w.push(options.mysql_collation);
}

pub(crate) fn references(w: &mut SqlWriter, target: &Reference) {
    w.push(" REFERENCES ");
    w.ident(&target.table);
    w.push(" (");
    w.ident(&target.column);
    w.push(")");
    if w.dialect != Dialect::Mysql {
        w.push(" DEFERRABLE INITIALLY DEFERRED");
    }
}

/// An index the ORM creates on a table, by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexDef {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
}

/// `CREATE [UNIQUE] INDEX [IF NOT EXISTS] name ON table (columns…)`.
pub(crate) fn create_index_statement(table: &str, x: &IndexDef, dialect: Dialect) -> Statement {
    let mut w = SqlWriter::new(dialect, &EMPTY_META);
    w.push(if x.unique {
        "CREATE UNIQUE INDEX "
    } else {
        "CREATE INDEX "
    });
    if dialect != Dialect::Mysql {
        w.push("IF NOT EXISTS ");
    }
    w.ident(&x.name);
    w.push(" ON ");
    w.ident(table);
    w.push(" (");
    push_columns(&mut w, &x.columns);
    w.push(")");
    w.ddl()
}

/// The indexes the ORM creates on a table, the same on every backend: one on every
/// foreign key column (Django indexes them: following a relation from its target side,
/// prefetching it, or cascading a delete filters on that column; a one-to-one key is
/// UNIQUE, which is an index already), then the `#[orm(index)]` columns
/// (`<table>_<column>_idx`), the struct's `index(..)` (`<table>_<a>_<b>_<hash>_idx`) and
/// `unique_together(..)` (`<table>_<a>_<b>_<hash>_uniq`).
pub fn table_indexes(t: &TableState) -> Vec<IndexDef> {
    let mut out: Vec<IndexDef> = t
        .columns
        .iter()
        .filter(|c| c.is_plain_foreign_key() || (c.index && !c.primary_key))
        .map(|c| IndexDef {
            name: index_name(&t.table, &c.name),
            columns: vec![c.name.clone()],
            unique: false,
        })
        .collect();
    for x in &t.indexes {
        // The columns' names joined can spell another index's (`a_b` + `c` and `a` +
        // `b_c`; `index(a, b)` and `#[orm(index)] a_b`): a hash of the list, with the
        // separators, keeps each composite index's name its own.
        let list = x.columns.join(",");
        let hash = fnv1a(&list) as u16;
        let joined = format!("{}_{hash:04x}", x.columns.join("_"));
        let name = if x.unique {
            suffixed_name(&t.table, &joined, "uniq")
        } else {
            index_name(&t.table, &joined)
        };
        out.push(IndexDef {
            name,
            columns: x.columns.clone(),
            unique: x.unique,
        });
    }
    out
}

/// `CREATE INDEX IF NOT EXISTS` for the indexes of [`table_indexes`] (on MySQL they are
/// written inside `CREATE TABLE`: see [`create_table`]).
pub fn create_indexes_state(t: &TableState, dialect: Dialect) -> Vec<Statement> {
    if dialect == Dialect::Mysql {
        return Vec::new();
    }
    table_indexes(t)
        .iter()
        .map(|x| create_index_statement(&t.table, x, dialect))
        .collect()
}

/// The join table of one many-to-many field of `owner`: an `id`, the two keys (each a
/// foreign key), UNIQUE on the pair, and an index on the target side.
pub fn create_link_table(
    owner: &TableState,
    link: &LinkState,
    if_not_exists: bool,
    dialect: Dialect,
    options: &TableOptions,
) -> Vec<Statement> {
    let mut out = Vec::new();
    let owner_key = Reference {
        table: owner.table.clone(),
        column: owner
            .pk()
            .map_or_else(|| "id".to_owned(), |c| c.name.clone()),
    };
    let owner_type = owner.pk().map_or(SqlType::I64, |c| c.ty);
    let sides = [
        (&link.parent_column, &owner_key, owner_type),
        (&link.target_column, &link.target, link.target_type),
    ];
    let target_index = IndexDef {
        name: link_index_name(link),
        columns: vec![link.target_column.clone()],
        unique: false,
    };
    let mut w = SqlWriter::new(dialect, &EMPTY_META);
    w.push(if if_not_exists {
        "CREATE TABLE IF NOT EXISTS "
    } else {
        "CREATE TABLE "
    });
    w.ident(&link.table);
    w.push(" (");
    w.ident("id");
    w.push(" ");
    w.push(dialect.auto_pk(SqlType::I64));
    let mysql = dialect == Dialect::Mysql;
    for (col, key, ty) in sides {
        w.push(", ");
        w.ident(col);
        w.push(" ");
        w.push(dialect.key_column_type(ty));
        w.push(" NOT NULL");
        if !mysql {
            references(&mut w, key);
        }
    }
    // Named, so that renaming the join table can rename it (SQLite's stays unnamed).
    w.push(", ");
    if dialect != Dialect::Sqlite {
        w.push("CONSTRAINT ");
        w.ident(&link_unique_name(link));
        w.push(" ");
    }
    w.push("UNIQUE (");
    w.ident(&link.parent_column);
    w.push(", ");
    w.ident(&link.target_column);
    w.push(")");
    if mysql {
        // The UNIQUE pair indexes the parent side; the target side gets its own.
        w.push(", INDEX ");
        w.ident(&target_index.name);
        w.push(" (");
        w.ident(&link.target_column);
        w.push(")");
        for (col, key, _) in sides {
            w.push(", FOREIGN KEY (");
            w.ident(col);
            w.push(")");
            references(&mut w, key);
        }
        w.push(")");
        mysql_table_options(&mut w, options);
        out.push(w.ddl());
    } else {
        w.push(")");
        out.push(w.ddl());
        // The UNIQUE pair indexes the parent side; the target side gets its own.
        out.push(create_index_statement(&link.table, &target_index, dialect));
    }
    out
}

#[cfg(test)]
mod index_names {
    #[test]
    fn long_index_names_fit_and_stay_distinct() {
        assert_eq!(
            super::index_name("books", "author_id"),
            "books_author_id_idx"
        );
        let long = "a_very_long_join_table_name_between_two_models";
        let a = super::index_name(long, "first_target_model_id");
        let b = super::index_name(long, "second_target_model_id");
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(a, super::index_name(long, "first_target_model_id"));
        let accents = super::index_name(&"é".repeat(40), "x");
        assert!(accents.len() <= 63, "{accents}");
    }
}
