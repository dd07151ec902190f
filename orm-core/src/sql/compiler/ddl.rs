//! CREATE TABLE and CREATE INDEX for a model and its link tables.

use super::*;
use crate::schema::model::ColumnMeta;

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

/// Whether column `i` of `meta` is a key or indexed: its primary key, a relation's key,
/// `unique` or `index`, or part of a composite index.
fn is_keyed(meta: &ModelMeta, i: usize) -> bool {
    let c = &meta.columns[i];
    c.primary_key
        || c.options.unique
        || c.options.index
        || meta.relations.iter().any(|r| r.key_column == Some(i))
        || meta.indexes.iter().any(|x| x.columns.contains(&c.column))
}

/// The column type, with the options that change it: `max_length` (`VARCHAR(n)`) and
/// `max_digits`/`decimal_places` (`NUMERIC(p, s)`; SQLite keeps decimals as exact text).
fn column_type(w: &mut SqlWriter, meta: &ModelMeta, i: usize) {
    let c = &meta.columns[i];
    let dialect = w.dialect;
    if let Some(n) = c.options.max_length {
        // MySQL: past 255 characters an unindexed column is LONGTEXT (a table's VARCHARs
        // share one 64 KB row); the length is checked before every write anyway.
        if dialect == Dialect::Mysql && n > 255 && !is_keyed(meta, i) {
            w.push(dialect.column_type(c.sql_type));
        } else {
            w.push("VARCHAR(");
            crate::sql::dialect::push_decimal(&mut w.sql, u64::from(n));
            w.push(")");
        }
        return;
    }
    if let Some(d) = c.options.digits
        && dialect != Dialect::Sqlite
    {
        w.push(if dialect == Dialect::Mysql {
            "DECIMAL("
        } else {
            "NUMERIC("
        });
        crate::sql::dialect::push_decimal(&mut w.sql, u64::from(d.max_digits));
        w.push(", ");
        crate::sql::dialect::push_decimal(&mut w.sql, u64::from(d.decimal_places));
        w.push(")");
        return;
    }
    w.push(if is_keyed(meta, i) {
        dialect.key_column_type(c.sql_type)
    } else {
        dialect.column_type(c.sql_type)
    });
}

/// ` CHECK (length(col) <= n)` for a `max_length` column whose type does not bound it
/// (SQLite's VARCHAR, MySQL's LONGTEXT past 255 characters): the ORM checks the values it
/// binds, and this catches a value computed in SQL (`update(|x| x.short.set(x.long))`),
/// as PostgreSQL's and MySQL's VARCHAR do, with a typed check violation.
fn length_check(w: &mut SqlWriter, meta: &ModelMeta, i: usize) {
    let c = &meta.columns[i];
    let Some(n) = c.options.max_length else {
        return;
    };
    let function = match w.dialect {
        Dialect::Sqlite => "length",
        Dialect::Mysql if n > 255 && !is_keyed(meta, i) => "CHAR_LENGTH",
        _ => return,
    };
    w.push(" CHECK (");
    w.push(function);
    w.push("(");
    w.ident(c.column);
    w.push(") <= ");
    crate::sql::dialect::push_decimal(&mut w.sql, u64::from(n));
    w.push(")");
}

/// ` DEFAULT <literal>`, for `#[orm(default = …)]` with a literal. Text is quoted with
/// its quotes doubled (and, on MySQL, its backslashes: MySQL reads them as escapes); a
/// decimal on SQLite is stored as text, so its default is too.
fn column_default(w: &mut SqlWriter, c: &ColumnMeta) {
    use crate::schema::model::DbDefault;
    use crate::schema::value::SqlType;
    let Some(default) = c.options.db_default else {
        return;
    };
    let dialect = w.dialect;
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
    let literal = match default {
        DbDefault::Bool(b) => match (dialect, b) {
            (Dialect::Postgres, true) => "TRUE".to_owned(),
            (Dialect::Postgres, false) => "FALSE".to_owned(),
            (_, true) => "1".to_owned(),
            (_, false) => "0".to_owned(),
        },
        DbDefault::Int(n) if dialect == Dialect::Sqlite && c.sql_type == SqlType::Decimal => {
            text(&n.to_string())
        }
        DbDefault::Int(n) => n.to_string(),
        DbDefault::Float(f) if dialect == Dialect::Sqlite && c.sql_type == SqlType::Decimal => {
            text(&f.to_string())
        }
        DbDefault::Float(f) => format!("{f:?}"),
        DbDefault::Text(s) => text(s),
    };
    // MySQL takes an expression default on TEXT columns only in parentheses.
    if dialect == Dialect::Mysql && matches!(default, DbDefault::Text(_)) {
        w.push(" DEFAULT (");
        w.push(&literal);
        w.push(")");
    } else {
        w.push(" DEFAULT ");
        w.push(&literal);
    }
}

/// `CREATE TABLE IF NOT EXISTS` for a model, with a foreign key constraint (deferred to
/// the end of the transaction, as Django declares them, where the backend can defer) on
/// every relation key column. On MySQL the foreign keys and the indexes of
/// [`create_key_indexes`] are written inside the statement (MySQL ignores a
/// `REFERENCES` written on the column, and has no `CREATE INDEX IF NOT EXISTS`), and the
/// table takes `options`' exact collation.
pub fn create_table(
    meta: &'static ModelMeta,
    dialect: Dialect,
    options: &TableOptions,
) -> Statement {
    let mysql = dialect == Dialect::Mysql;
    let mut w = SqlWriter::new(dialect, meta);
    w.push("CREATE TABLE IF NOT EXISTS ");
    w.ident(meta.table);
    w.push(" (");
    let mut table_constraints: Vec<(usize, &'static ModelMeta)> = Vec::new();
    for (i, c) in meta.columns.iter().enumerate() {
        if i > 0 {
            w.push(", ");
        }
        w.ident(c.column);
        w.push(" ");
        if c.auto {
            w.push(dialect.auto_pk(c.sql_type));
        } else {
            column_type(&mut w, meta, i);
            if c.primary_key {
                w.push(" PRIMARY KEY");
            } else if !c.nullable {
                w.push(" NOT NULL");
            }
            column_default(&mut w, c);
            if c.options.unique {
                w.push(" UNIQUE");
            }
            length_check(&mut w, meta, i);
        }
        let rel = meta.relations.iter().find(|r| r.key_column == Some(i));
        if let Some(rel) = rel {
            if rel.kind == crate::schema::relation::RelationKind::OneToOne {
                w.push(" UNIQUE");
            }
            let target = (rel.target)();
            if mysql {
                table_constraints.push((i, target));
            } else {
                references(&mut w, target);
            }
        }
    }
    for (i, target) in table_constraints {
        let column = meta.columns[i].column;
        if meta.relations.iter().any(|r| {
            r.key_column == Some(i) && r.kind == crate::schema::relation::RelationKind::ForeignKey
        }) {
            w.push(", INDEX ");
            w.ident(&index_name(meta.table, column));
            w.push(" (");
            w.ident(column);
            w.push(")");
        }
        w.push(", FOREIGN KEY (");
        w.ident(column);
        w.push(")");
        references(&mut w, target);
    }
    if mysql {
        for (name, columns, unique) in option_indexes(meta) {
            w.push(if unique { ", UNIQUE KEY " } else { ", INDEX " });
            w.ident(&name);
            w.push(" (");
            for (n, c) in columns.iter().enumerate() {
                if n > 0 {
                    w.push(", ");
                }
                w.ident(c);
            }
            w.push(")");
        }
    }
    w.push(")");
    if mysql {
        mysql_table_options(&mut w, options);
    }
    w.ddl()
}

/// `<table>_<column>_idx`, or, past 63 bytes (PostgreSQL cuts longer names short, MySQL
/// refuses them past 64), its first 54 bytes and a hash of the whole name, so that two
/// long names stay two.
fn index_name(table: &str, column: &str) -> String {
    suffixed_name(table, column, "idx")
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

fn references(w: &mut SqlWriter, target: &ModelMeta) {
    w.push(" REFERENCES ");
    w.ident(target.table);
    w.push(" (");
    w.ident(target.pk_column().column);
    w.push(")");
    if w.dialect != Dialect::Mysql {
        w.push(" DEFERRABLE INITIALLY DEFERRED");
    }
}

/// `CREATE INDEX IF NOT EXISTS "<table>_<column>_idx" ON table (column)`.
fn create_index(table: &str, column: &str, dialect: Dialect) -> Statement {
    create_index_on(&index_name(table, column), table, &[column], false, dialect)
}

/// `CREATE [UNIQUE] INDEX IF NOT EXISTS name ON table (columns…)`.
fn create_index_on(
    name: &str,
    table: &str,
    columns: &[&str],
    unique: bool,
    dialect: Dialect,
) -> Statement {
    let mut w = SqlWriter::new(dialect, &EMPTY_META);
    w.push(if unique {
        "CREATE UNIQUE INDEX "
    } else {
        "CREATE INDEX "
    });
    if dialect != Dialect::Mysql {
        w.push("IF NOT EXISTS ");
    }
    w.ident(name);
    w.push(" ON ");
    w.ident(table);
    w.push(" (");
    for (n, c) in columns.iter().enumerate() {
        if n > 0 {
            w.push(", ");
        }
        w.ident(c);
    }
    w.push(")");
    w.ddl()
}

/// The indexes the model's options ask for: `#[orm(index)]` columns
/// (`<table>_<column>_idx`), then the struct's `index(..)` (`<table>_<a>_<b>_idx`) and
/// `unique_together(..)` (`<table>_<a>_<b>_uniq`), as (name, columns, unique).
fn option_indexes(meta: &ModelMeta) -> Vec<(String, Vec<&'static str>, bool)> {
    let mut out: Vec<(String, Vec<&'static str>, bool)> = meta
        .columns
        .iter()
        .filter(|c| c.options.index)
        .map(|c| (index_name(meta.table, c.column), vec![c.column], false))
        .collect();
    for x in meta.indexes {
        // The columns' names joined can spell another index's (`a_b` + `c` and `a` +
        // `b_c`; `index(a, b)` and `#[orm(index)] a_b`): a hash of the list, with the
        // separators, keeps each composite index's name its own.
        let list = x.columns.join(",");
        let hash = fnv1a(&list) as u16;
        let joined = format!("{}_{hash:04x}", x.columns.join("_"));
        let name = if x.unique {
            suffixed_name(meta.table, &joined, "uniq")
        } else {
            index_name(meta.table, &joined)
        };
        out.push((name, x.columns.to_vec(), x.unique));
    }
    out
}

/// `CREATE INDEX IF NOT EXISTS` on every foreign key column of a model (Django indexes
/// them by default): following a relation from its target side, prefetching it, or
/// cascading a delete filters on that column.
pub fn create_key_indexes(meta: &'static ModelMeta, dialect: Dialect) -> Vec<Statement> {
    let mut out = Vec::new();
    if dialect == Dialect::Mysql {
        // Written inside CREATE TABLE (see `create_table`).
        return out;
    }
    for rel in meta.relations {
        // A one-to-one key is UNIQUE, which is an index already.
        if rel.kind != crate::schema::relation::RelationKind::ForeignKey {
            continue;
        }
        let Some(col) = rel.key_column.and_then(|i| meta.columns.get(i)) else {
            continue;
        };
        out.push(create_index(meta.table, col.column, dialect));
    }
    for (name, columns, unique) in option_indexes(meta) {
        out.push(create_index_on(
            &name, meta.table, &columns, unique, dialect,
        ));
    }
    out
}

/// `CREATE TABLE IF NOT EXISTS` for the join tables of a model's many-to-many relations.
pub fn create_through_tables(
    meta: &'static ModelMeta,
    dialect: Dialect,
    options: &TableOptions,
) -> Vec<Statement> {
    let mut out = Vec::new();
    for rel in meta.relations {
        let Some(th) = &rel.through else { continue };
        // The other side of a many-to-many (`forward` set) shares the forward side's table.
        if rel.kind != crate::schema::relation::RelationKind::ManyToMany || rel.forward.is_some() {
            continue;
        }
        let target = (rel.target)();
        let mut w = SqlWriter::new(dialect, meta);
        w.push("CREATE TABLE IF NOT EXISTS ");
        w.ident(th.table);
        w.push(" (");
        w.ident("id");
        w.push(" ");
        w.push(dialect.auto_pk(crate::schema::value::SqlType::I64));
        let mysql = dialect == Dialect::Mysql;
        for (col, side) in [(th.parent_column, meta), (th.target_column, target)] {
            w.push(", ");
            w.ident(col);
            w.push(" ");
            w.push(dialect.key_column_type(side.pk_column().sql_type));
            w.push(" NOT NULL");
            if !mysql {
                references(&mut w, side);
            }
        }
        w.push(", UNIQUE (");
        w.ident(th.parent_column);
        w.push(", ");
        w.ident(th.target_column);
        w.push(")");
        if mysql {
            // The UNIQUE pair indexes the parent side; the target side gets its own.
            w.push(", INDEX ");
            w.ident(&index_name(th.table, th.target_column));
            w.push(" (");
            w.ident(th.target_column);
            w.push(")");
            for (col, side) in [(th.parent_column, meta), (th.target_column, target)] {
                w.push(", FOREIGN KEY (");
                w.ident(col);
                w.push(")");
                references(&mut w, side);
            }
            w.push(")");
            mysql_table_options(&mut w, options);
            out.push(w.ddl());
        } else {
            w.push(")");
            out.push(w.ddl());
            // The UNIQUE pair indexes the parent side; the target side gets its own.
            out.push(create_index(th.table, th.target_column, dialect));
        }
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
