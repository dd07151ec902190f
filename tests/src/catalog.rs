//! A normalised snapshot of a database's schema, read from the backend's catalogue
//! (`sqlite_master` and the `pragma_*` table functions on SQLite, `pg_catalog` and
//! `information_schema` on PostgreSQL, `information_schema` on MySQL/MariaDB), so that two
//! databases built by different DDL paths compare equal when they are semantically the
//! same, and differ when they are not.
//!
//! What is compared, per user table (internal tables such as `sqlite_%` and the
//! migration tool's `orm_migrations` are left out):
//! - columns, by name (their order is ignored): type, nullability, default, whether the
//!   backend assigns the value (sequence, identity, `AUTO_INCREMENT`, rowid alias), and
//!   whether the column is in the primary key;
//! - indexes other than the primary key's, including those backing UNIQUE constraints:
//!   name, ordered columns, uniqueness;
//! - foreign keys: column, referenced table and column, and the `ON DELETE` action
//!   (constraint names are ignored);
//! - check constraints, as the backend prints them (not on SQLite).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use orm_sqlx::Db;
use orm_sqlx::sqlx::{self, Row as _};

use crate::Backend;

/// Every user table of one database, by name.
#[derive(Debug, PartialEq, Clone, Default)]
pub struct Schema(pub BTreeMap<String, TableShape>);

/// One table's columns, indexes, foreign keys and check constraints.
#[derive(Debug, PartialEq, Clone, Default)]
pub struct TableShape {
    /// The columns by name (declaration order is not compared).
    pub columns: BTreeMap<String, ColumnShape>,
    /// The indexes, the primary key's excepted.
    pub indexes: BTreeSet<IndexShape>,
    /// The foreign keys, one per column (names ignored).
    pub foreign_keys: BTreeSet<ForeignKeyShape>,
    /// The check constraints' clauses, whitespace collapsed (always empty on SQLite).
    pub checks: BTreeSet<String>,
}

/// One column, normalised.
#[derive(Debug, PartialEq, Eq, Clone, Default)]
pub struct ColumnShape {
    /// PostgreSQL: `data_type` (or the element/user type's `udt_name` for arrays and
    /// user-defined types), with `(length)` for character types and `(precision,scale)`
    /// for `numeric`; MySQL: `COLUMN_TYPE`; SQLite: the declared type, upper-cased.
    pub ty: String,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// The default expression (PostgreSQL `::type` casts stripped; a `NULL` default is
    /// `None`); `None` also when the backend assigns the value (see `auto`).
    pub default: Option<String>,
    /// The backend assigns the value: a `nextval(..)` default or an identity column on
    /// PostgreSQL, `AUTO_INCREMENT` on MySQL, a rowid alias on SQLite.
    pub auto: bool,
    /// The column is (part of) the primary key.
    pub primary_key: bool,
}

/// One index (not the primary key's).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
pub struct IndexShape {
    /// The index's name; `<auto>` for SQLite's `sqlite_autoindex_*` (a UNIQUE
    /// constraint), `<fk>` for the index MySQL makes for a foreign key constraint.
    pub name: String,
    /// The indexed columns in order (an expression as the backend prints it, or `<expr>`).
    pub columns: Vec<String>,
    /// A unique index.
    pub unique: bool,
}

/// One foreign-key column.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
pub struct ForeignKeyShape {
    /// The referencing column.
    pub column: String,
    /// The referenced table.
    pub ref_table: String,
    /// The referenced column.
    pub ref_column: String,
    /// The `ON DELETE` action, upper-case (`NO ACTION`, `CASCADE`, `SET NULL`, ...).
    pub on_delete: String,
}

/// The normalised schema of every user table in the database `db` points at (on
/// PostgreSQL, the connection's `current_schema()`; on MySQL, `DATABASE()`).
pub async fn snapshot(db: &Db, backend: Backend) -> Schema {
    match backend {
        Backend::Sqlite => sqlite_snapshot(db).await,
        Backend::Postgres => pg_snapshot(db).await,
        Backend::Mysql => mysql_snapshot(db).await,
    }
}

/// A readable account of how `a` and `b` differ, one line per difference; `""` when they
/// are equal.
pub fn diff(a: &Schema, b: &Schema) -> String {
    let mut out = String::new();
    let tables: BTreeSet<&String> = a.0.keys().chain(b.0.keys()).collect();
    for t in tables {
        match (a.0.get(t), b.0.get(t)) {
            (Some(_), None) => writeln!(out, "table `{t}`: only in the first").unwrap(),
            (None, Some(_)) => writeln!(out, "table `{t}`: only in the second").unwrap(),
            (Some(x), Some(y)) => diff_table(&mut out, t, x, y),
            (None, None) => unreachable!(),
        }
    }
    out
}

fn diff_table(out: &mut String, t: &str, x: &TableShape, y: &TableShape) {
    let columns: BTreeSet<&String> = x.columns.keys().chain(y.columns.keys()).collect();
    for c in columns {
        match (x.columns.get(c), y.columns.get(c)) {
            (Some(p), None) => writeln!(out, "column `{t}.{c}`: only in the first ({p:?})"),
            (None, Some(q)) => writeln!(out, "column `{t}.{c}`: only in the second ({q:?})"),
            (Some(p), Some(q)) if p != q => {
                let mut parts = Vec::new();
                if p.ty != q.ty {
                    parts.push(format!("type {:?} vs {:?}", p.ty, q.ty));
                }
                if p.nullable != q.nullable {
                    parts.push(format!("nullable {} vs {}", p.nullable, q.nullable));
                }
                if p.default != q.default {
                    parts.push(format!("default {:?} vs {:?}", p.default, q.default));
                }
                if p.auto != q.auto {
                    parts.push(format!("auto {} vs {}", p.auto, q.auto));
                }
                if p.primary_key != q.primary_key {
                    parts.push(format!(
                        "primary key {} vs {}",
                        p.primary_key, q.primary_key
                    ));
                }
                writeln!(out, "column `{t}.{c}`: {}", parts.join(", "))
            }
            _ => Ok(()),
        }
        .unwrap();
    }
    set_diff(out, t, "index", &x.indexes, &y.indexes);
    set_diff(out, t, "foreign key", &x.foreign_keys, &y.foreign_keys);
    set_diff(out, t, "check", &x.checks, &y.checks);
}

fn set_diff<T: Ord + std::fmt::Debug>(
    out: &mut String,
    t: &str,
    what: &str,
    x: &BTreeSet<T>,
    y: &BTreeSet<T>,
) {
    for i in x.difference(y) {
        writeln!(out, "{what} on `{t}`: only in the first: {i:?}").unwrap();
    }
    for i in y.difference(x) {
        writeln!(out, "{what} on `{t}`: only in the second: {i:?}").unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// Reading rows: every cell as optional text, whatever the catalogue's column type.

type Rows = Vec<Vec<Option<String>>>;

macro_rules! cell {
    ($row:expr, $i:expr; $($t:ty),*) => {{
        let row = $row;
        let i = $i;
        let mut out: Option<Option<String>> = None;
        if let Ok(v) = row.try_get::<Option<String>, _>(i) {
            out = Some(v);
        } else if let Ok(v) = row.try_get::<Option<Vec<u8>>, _>(i) {
            out = Some(v.map(|b| String::from_utf8_lossy(&b).into_owned()));
        }
        $(
            if out.is_none() {
                if let Ok(v) = row.try_get::<Option<$t>, _>(i) {
                    out = Some(v.map(|n| n.to_string()));
                }
            }
        )*
        out.unwrap_or_else(|| {
            let info = sqlx::Column::type_info(&row.columns()[i]).clone();
            panic!("catalog: cannot read column {i} of type {info:?}")
        })
    }};
}

async fn rows(db: &Db, sql: &'static str, bind: Option<&str>) -> Rows {
    if let Some(pool) = db.sqlite_pool() {
        let mut q = sqlx::query(sql);
        if let Some(b) = bind {
            q = q.bind(b.to_owned());
        }
        let rows = q
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("catalog: {sql}: {e}"));
        return rows
            .iter()
            .map(|r| (0..r.len()).map(|i| cell!(r, i; i64, bool)).collect())
            .collect();
    }
    if let Some(pool) = db.pg_pool() {
        let mut q = sqlx::query(sql);
        if let Some(b) = bind {
            q = q.bind(b.to_owned());
        }
        let rows = q
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("catalog: {sql}: {e}"));
        return rows
            .iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| cell!(r, i; i64, i32, i16, bool))
                    .collect()
            })
            .collect();
    }
    if let Some(pool) = db.mysql_pool() {
        let mut q = sqlx::query(sql);
        if let Some(b) = bind {
            q = q.bind(b.to_owned());
        }
        let rows = q
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("catalog: {sql}: {e}"));
        return rows
            .iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| cell!(r, i; i64, u64, i32, u32))
                    .collect()
            })
            .collect();
    }
    panic!("catalog: the Db has no pool")
}

fn text(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn truthy(v: &Option<String>) -> bool {
    matches!(
        v.as_deref().map(str::trim),
        Some("1" | "t" | "true" | "YES" | "yes" | "TRUE")
    )
}

fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `NULL` (any case) is no default at all.
fn default_text(v: Option<String>) -> Option<String> {
    let v = v?;
    let t = v.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("null") {
        None
    } else {
        Some(t.to_owned())
    }
}

fn internal(table: &str) -> bool {
    table == "orm_migrations" || table.starts_with("sqlite_")
}

fn table_mut<'a>(schema: &'a mut Schema, t: &Option<String>) -> Option<&'a mut TableShape> {
    schema.0.get_mut(t.as_deref()?)
}

// ---------------------------------------------------------------------------------------
// SQLite

async fn sqlite_snapshot(db: &Db) -> Schema {
    let mut schema = Schema::default();
    let tables = rows(
        db,
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
        None,
    )
    .await;
    for t in tables.iter().map(|r| text(&r[0])) {
        if internal(&t) {
            continue;
        }
        let mut shape = TableShape::default();
        let cols = rows(
            db,
            "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?)",
            Some(&t),
        )
        .await;
        let pk_count = cols.iter().filter(|r| text(&r[4]) != "0").count();
        for r in &cols {
            let ty = collapse_ws(&text(&r[1]).to_uppercase())
                .replace(" (", "(")
                .replace("( ", "(")
                .replace(" )", ")")
                .replace(", ", ",");
            let primary_key = text(&r[4]) != "0";
            // A single INTEGER PRIMARY KEY is the rowid: never NULL, assigned by SQLite.
            let auto = primary_key && pk_count == 1 && ty == "INTEGER";
            shape.columns.insert(
                text(&r[0]),
                ColumnShape {
                    ty,
                    nullable: !truthy(&r[2]) && !auto,
                    default: default_text(r[3].clone()),
                    auto,
                    primary_key,
                },
            );
        }
        let indexes = rows(
            db,
            "SELECT name, \"unique\", origin FROM pragma_index_list(?)",
            Some(&t),
        )
        .await;
        for r in &indexes {
            if text(&r[2]) == "pk" {
                continue;
            }
            let name = text(&r[0]);
            let columns = rows(
                db,
                "SELECT name FROM pragma_index_info(?) ORDER BY seqno",
                Some(&name),
            )
            .await
            .iter()
            .map(|c| c[0].clone().unwrap_or_else(|| "<expr>".into()))
            .collect();
            let name = if name.starts_with("sqlite_autoindex_") {
                "<auto>".into()
            } else {
                name
            };
            shape.indexes.insert(IndexShape {
                name,
                columns,
                unique: truthy(&r[1]),
            });
        }
        let fks = rows(
            db,
            "SELECT \"from\", \"table\", \"to\", on_delete FROM pragma_foreign_key_list(?)",
            Some(&t),
        )
        .await;
        for r in &fks {
            let ref_table = text(&r[1]);
            let ref_column = match &r[2] {
                Some(c) => c.clone(),
                // `REFERENCES t` without a column: t's primary key.
                None => rows(
                    db,
                    "SELECT name FROM pragma_table_info(?) WHERE pk = 1",
                    Some(&ref_table),
                )
                .await
                .first()
                .map(|c| text(&c[0]))
                .unwrap_or_default(),
            };
            shape.foreign_keys.insert(ForeignKeyShape {
                column: text(&r[0]),
                ref_table,
                ref_column,
                on_delete: text(&r[3]).to_uppercase(),
            });
        }
        schema.0.insert(t, shape);
    }
    schema
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

/// `expr` without its `::type` casts (`'x'::text` -> `'x'`,
/// `'a'::character varying(20)` -> `'a'`), string literals and quoted identifiers kept.
pub fn strip_pg_casts(expr: &str) -> String {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = String::with_capacity(expr.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '"' {
            // A literal or a quoted identifier, doubled quotes inside.
            out.push(c);
            i += 1;
            while i < chars.len() {
                out.push(chars[i]);
                if chars[i] == c {
                    if chars.get(i + 1) == Some(&c) {
                        out.push(c);
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                i += 1;
            }
            continue;
        }
        if c == ':' && chars.get(i + 1) == Some(&':') {
            i += 2;
            // The type name: words (possibly several, `double precision`), a schema
            // qualifier, a quoted name, a `(n[,m])` modifier, `[]`.
            loop {
                let start = i;
                while i < chars.len() && chars[i] == ' ' {
                    i += 1;
                }
                let word_start = i;
                if i < chars.len() && chars[i] == '"' {
                    i += 1;
                    while i < chars.len() && chars[i] != '"' {
                        i += 1;
                    }
                    i = (i + 1).min(chars.len());
                } else {
                    while i < chars.len() && (chars[i].is_alphanumeric() || "_.".contains(chars[i]))
                    {
                        i += 1;
                    }
                }
                if i < chars.len() && chars[i] == '(' {
                    let mut j = i + 1;
                    while j < chars.len() && (chars[j].is_ascii_digit() || ", ".contains(chars[j]))
                    {
                        j += 1;
                    }
                    if j < chars.len() && chars[j] == ')' {
                        i = j + 1;
                    }
                }
                while i + 1 < chars.len() && chars[i] == '[' && chars[i + 1] == ']' {
                    i += 2;
                }
                if i == word_start {
                    // No further word: give the spaces back.
                    i = start;
                    break;
                }
                // Another word only if it is one of a multi-word type name's.
                let mut k = i;
                while k < chars.len() && chars[k] == ' ' {
                    k += 1;
                }
                let rest: String = chars[k..]
                    .iter()
                    .take(10)
                    .collect::<String>()
                    .to_lowercase();
                let continues = ["varying", "precision", "with", "without", "time", "zone"]
                    .iter()
                    .any(|w| {
                        rest.starts_with(w)
                            && !rest[w.len()..]
                                .chars()
                                .next()
                                .is_some_and(|c| c.is_alphanumeric() || c == '_')
                    });
                if !continues || k == i {
                    break;
                }
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// A PostgreSQL default, casts stripped, a parenthesised constant unwrapped
/// (`('x'::text)` -> `'x'`) and a quoted number unquoted (`'-1.5'::float8` -> `-1.5`).
fn pg_default(v: Option<String>) -> Option<String> {
    let s = collapse_ws(&strip_pg_casts(&default_text(v)?));
    let mut s = s.as_str();
    while s.starts_with('(') && s.ends_with(')') && balanced(&s[1..s.len() - 1]) {
        s = &s[1..s.len() - 1];
    }
    // A quoted number (`'-1.5'::double precision`) is the number, as `DEFAULT 3` is `3`.
    if let Some(inner) = s.strip_prefix('\'').and_then(|s| s.strip_suffix('\''))
        && !inner.is_empty()
        && inner.chars().any(|c| c.is_ascii_digit())
        && inner
            .chars()
            .all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
        && inner.parse::<f64>().is_ok()
    {
        s = inner;
    }
    default_text(Some(s.to_owned()))
}

fn balanced(s: &str) -> bool {
    let mut depth = 0i32;
    let mut quote = None;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

async fn pg_snapshot(db: &Db) -> Schema {
    let mut schema = Schema::default();
    for r in rows(
        db,
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        None,
    )
    .await
    {
        let t = text(&r[0]);
        if !internal(&t) {
            schema.0.insert(t, TableShape::default());
        }
    }
    let pk_cols: BTreeSet<(String, String)> = rows(
        db,
        "SELECT t.relname::text, a.attname::text FROM pg_index i \
         JOIN pg_class t ON t.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
         WHERE i.indisprimary AND n.nspname = current_schema()",
        None,
    )
    .await
    .iter()
    .map(|r| (text(&r[0]), text(&r[1])))
    .collect();
    for r in rows(
        db,
        "SELECT table_name::text, column_name::text, data_type::text, udt_name::text, \
         character_maximum_length::text, numeric_precision::text, numeric_scale::text, \
         is_nullable::text, column_default::text, is_identity::text \
         FROM information_schema.columns WHERE table_schema = current_schema()",
        None,
    )
    .await
    {
        let Some(shape) = table_mut(&mut schema, &r[0]) else {
            continue;
        };
        let (table, column) = (text(&r[0]), text(&r[1]));
        let data_type = text(&r[2]);
        let mut ty = match data_type.as_str() {
            "ARRAY" | "USER-DEFINED" => text(&r[3]),
            _ => data_type.clone(),
        };
        if let Some(len) = &r[4] {
            write!(ty, "({len})").unwrap();
        } else if data_type == "numeric"
            && let (Some(p), Some(s)) = (&r[5], &r[6])
        {
            write!(ty, "({p},{s})").unwrap();
        }
        let raw_default = default_text(r[8].clone());
        let sequence = raw_default
            .as_deref()
            .is_some_and(|d| d.starts_with("nextval("));
        let auto = sequence || text(&r[9]) == "YES";
        let default = if auto { None } else { pg_default(raw_default) };
        let primary_key = pk_cols.contains(&(table, column.clone()));
        shape.columns.insert(
            column,
            ColumnShape {
                ty,
                nullable: text(&r[7]) == "YES",
                default,
                auto,
                primary_key,
            },
        );
    }
    // One row per key column of each index; assembled in order below.
    let mut idx: BTreeMap<(String, String), (bool, BTreeMap<i64, String>)> = BTreeMap::new();
    for r in rows(
        db,
        "SELECT t.relname::text, ic.relname::text, i.indisunique::text, k::text, \
         pg_get_indexdef(i.indexrelid, k, true)::text \
         FROM pg_index i \
         JOIN pg_class t ON t.oid = i.indrelid \
         JOIN pg_class ic ON ic.oid = i.indexrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         CROSS JOIN LATERAL generate_series(1, i.indnkeyatts::int) AS k \
         WHERE NOT i.indisprimary AND n.nspname = current_schema()",
        None,
    )
    .await
    {
        let entry = idx
            .entry((text(&r[0]), text(&r[1])))
            .or_insert_with(|| (truthy(&r[2]), BTreeMap::new()));
        entry
            .1
            .insert(text(&r[3]).parse().unwrap_or(0), text(&r[4]));
    }
    for ((table, name), (unique, columns)) in idx {
        if let Some(shape) = schema.0.get_mut(&table) {
            shape.indexes.insert(IndexShape {
                name,
                columns: columns.into_values().collect(),
                unique,
            });
        }
    }
    for r in rows(
        db,
        "SELECT cl.relname::text, a.attname::text, rcl.relname::text, ra.attname::text, \
         con.confdeltype::text \
         FROM pg_constraint con \
         JOIN pg_class cl ON cl.oid = con.conrelid \
         JOIN pg_namespace n ON n.oid = cl.relnamespace \
         JOIN pg_class rcl ON rcl.oid = con.confrelid \
         CROSS JOIN LATERAL unnest(con.conkey, con.confkey) AS k(col, refcol) \
         JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.col \
         JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = k.refcol \
         WHERE con.contype = 'f' AND n.nspname = current_schema()",
        None,
    )
    .await
    {
        let on_delete = match text(&r[4]).as_str() {
            "a" => "NO ACTION",
            "r" => "RESTRICT",
            "c" => "CASCADE",
            "n" => "SET NULL",
            "d" => "SET DEFAULT",
            other => other,
        }
        .to_owned();
        if let Some(shape) = table_mut(&mut schema, &r[0]) {
            shape.foreign_keys.insert(ForeignKeyShape {
                column: text(&r[1]),
                ref_table: text(&r[2]),
                ref_column: text(&r[3]),
                on_delete,
            });
        }
    }
    for r in rows(
        db,
        "SELECT cl.relname::text, pg_get_constraintdef(con.oid, true)::text \
         FROM pg_constraint con \
         JOIN pg_class cl ON cl.oid = con.conrelid \
         JOIN pg_namespace n ON n.oid = cl.relnamespace \
         WHERE con.contype = 'c' AND n.nspname = current_schema()",
        None,
    )
    .await
    {
        if let Some(shape) = table_mut(&mut schema, &r[0]) {
            shape.checks.insert(collapse_ws(&text(&r[1])));
        }
    }
    schema
}

// ---------------------------------------------------------------------------------------
// MySQL / MariaDB

async fn mysql_snapshot(db: &Db) -> Schema {
    let mut schema = Schema::default();
    for r in rows(
        db,
        "SELECT TABLE_NAME FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
        None,
    )
    .await
    {
        let t = text(&r[0]);
        if !internal(&t) {
            schema.0.insert(t, TableShape::default());
        }
    }
    for r in rows(
        db,
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, \
         COLUMN_KEY FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()",
        None,
    )
    .await
    {
        let Some(shape) = table_mut(&mut schema, &r[0]) else {
            continue;
        };
        let auto = text(&r[5]).to_lowercase().contains("auto_increment");
        shape.columns.insert(
            text(&r[1]),
            ColumnShape {
                ty: text(&r[2]).to_lowercase(),
                nullable: text(&r[3]) == "YES",
                default: if auto {
                    None
                } else {
                    default_text(r[4].clone())
                },
                auto,
                primary_key: text(&r[6]) == "PRI",
            },
        );
    }
    // Foreign keys; their constraint names also name the index MySQL makes for one.
    let mut fk_names: BTreeSet<(String, String)> = BTreeSet::new();
    for r in rows(
        db,
        "SELECT k.TABLE_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, \
         k.CONSTRAINT_NAME, rc.DELETE_RULE \
         FROM information_schema.KEY_COLUMN_USAGE k \
         JOIN information_schema.REFERENTIAL_CONSTRAINTS rc \
           ON rc.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA \
          AND rc.TABLE_NAME = k.TABLE_NAME AND rc.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
         WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL",
        None,
    )
    .await
    {
        fk_names.insert((text(&r[0]), text(&r[4])));
        if let Some(shape) = table_mut(&mut schema, &r[0]) {
            shape.foreign_keys.insert(ForeignKeyShape {
                column: text(&r[1]),
                ref_table: text(&r[2]),
                ref_column: text(&r[3]),
                on_delete: text(&r[5]).to_uppercase(),
            });
        }
    }
    let mut idx: BTreeMap<(String, String), (bool, BTreeMap<i64, String>)> = BTreeMap::new();
    for r in rows(
        db,
        "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME \
         FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = DATABASE() AND INDEX_NAME <> 'PRIMARY'",
        None,
    )
    .await
    {
        let entry = idx
            .entry((text(&r[0]), text(&r[1])))
            .or_insert_with(|| (text(&r[2]) == "0", BTreeMap::new()));
        entry.1.insert(
            text(&r[3]).parse().unwrap_or(0),
            r[4].clone().unwrap_or_else(|| "<expr>".into()),
        );
    }
    for ((table, name), (unique, columns)) in idx {
        let name = if fk_names.contains(&(table.clone(), name.clone())) {
            "<fk>".to_owned()
        } else {
            name
        };
        if let Some(shape) = schema.0.get_mut(&table) {
            shape.indexes.insert(IndexShape {
                name,
                columns: columns.into_values().collect(),
                unique,
            });
        }
    }
    // MariaDB names a column-level check after its column, unique per table only: join
    // on the table as well where CHECK_CONSTRAINTS has one (MariaDB; MySQL 8 has not).
    let has_table_name = !rows(
        db,
        "SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'information_schema' \
         AND TABLE_NAME = 'CHECK_CONSTRAINTS' AND COLUMN_NAME = 'TABLE_NAME'",
        None,
    )
    .await
    .is_empty();
    let checks = if has_table_name {
        rows(
            db,
            "SELECT TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = DATABASE()",
            None,
        )
        .await
    } else {
        rows(
            db,
            "SELECT tc.TABLE_NAME, cc.CHECK_CLAUSE FROM information_schema.TABLE_CONSTRAINTS tc \
             JOIN information_schema.CHECK_CONSTRAINTS cc \
               ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA \
              AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME \
             WHERE tc.TABLE_SCHEMA = DATABASE() AND tc.CONSTRAINT_TYPE = 'CHECK'",
            None,
        )
        .await
    };
    for r in checks {
        if let Some(shape) = table_mut(&mut schema, &r[0]) {
            shape.checks.insert(collapse_ws(&text(&r[1])));
        }
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::{pg_default, strip_pg_casts};

    #[test]
    fn pg_casts_are_stripped_outside_literals() {
        for (input, want) in [
            ("'x'::text", "'x'"),
            ("'it''s::text'::character varying", "'it''s::text'"),
            ("'-1.5'::double precision", "'-1.5'"),
            ("'a'::character varying(20) || 'b'::text", "'a' || 'b'"),
            ("'2020-01-01'::timestamp without time zone", "'2020-01-01'"),
            ("(0)::numeric(4,1)", "(0)"),
            ("'{}'::integer[]", "'{}'"),
            ("now()", "now()"),
            ("\"a::b\"::text", "\"a::b\""),
        ] {
            assert_eq!(strip_pg_casts(input), want, "{input}");
        }
    }

    #[test]
    fn pg_defaults_are_normalised() {
        for (input, want) in [
            ("'-1.5'::double precision", Some("-1.5")),
            ("('-1'::integer)", Some("-1")),
            ("3", Some("3")),
            ("'7'::numeric", Some("7")),
            ("'x'::text", Some("'x'")),
            ("'1e'::text", Some("'1e'")),
            ("(now())", Some("now()")),
            ("NULL::text", None),
        ] {
            assert_eq!(pg_default(Some(input.into())).as_deref(), want, "{input}");
        }
    }
}
