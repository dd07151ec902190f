//! The statements of the bulk write helpers (issue 12.1): the conflict clause of
//! `bulk_create_with` (`ON CONFLICT …`, MySQL's `ON DUPLICATE KEY UPDATE …`), written at the
//! end of the one INSERT compiler ([`insert_on_conflict`]), and `bulk_update`'s
//! `UPDATE … SET c = CASE pk WHEN k1 THEN v1 … END … WHERE pk IN (k1, …)`.

use super::*;

/// What a multi-row INSERT does with a row whose unique key is already taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnConflict {
    /// Skip the row (Django's `ignore_conflicts=True`): `ON CONFLICT DO NOTHING`; on MySQL
    /// `ON DUPLICATE KEY UPDATE pk = pk`, which skips only duplicates (`INSERT IGNORE` would
    /// also turn a missing foreign key row or a value too long into a warning).
    Ignore,
    /// Update the row already there (Django's `update_conflicts=True`): `ON CONFLICT
    /// (target) DO UPDATE SET c = EXCLUDED.c`; on MySQL `ON DUPLICATE KEY UPDATE c =
    /// VALUES(c)`, which cannot name a target: any unique key of the table decides.
    Update {
        /// The columns of the unique constraint that decides a conflict (`unique_fields`).
        target: Vec<&'static str>,
        /// The columns set from the proposed row (`update_fields`).
        update: Vec<&'static str>,
    },
}

/// Write `conflict` after the VALUES of an INSERT of `meta` (before any `RETURNING`).
/// Nothing after `DEFAULT VALUES` (SQLite and PostgreSQL take no conflict clause there;
/// such a row has only its generated key and cannot collide).
pub(super) fn write_conflict(
    w: &mut SqlWriter,
    meta: &'static ModelMeta,
    conflict: &OnConflict,
    default_values: bool,
) {
    if default_values {
        return;
    }
    let list =
        |w: &mut SqlWriter, columns: &[&'static str], each: &dyn Fn(&mut SqlWriter, &str)| {
            for (i, c) in columns.iter().enumerate() {
                if i > 0 {
                    w.push(", ");
                }
                each(w, c);
            }
        };
    match (w.dialect, conflict) {
        (Dialect::Mysql, OnConflict::Ignore) => {
            let pk = meta.pk_column().column;
            w.push(" ON DUPLICATE KEY UPDATE ");
            w.ident(pk);
            w.push(" = ");
            w.ident(pk);
        }
        (Dialect::Mysql, OnConflict::Update { update, .. }) => {
            // `VALUES(c)`: MariaDB has no `AS new` row alias (MySQL 8.0.19+ has both, and
            // deprecates `VALUES()` with a warning).
            w.push(" ON DUPLICATE KEY UPDATE ");
            list(w, update, &|w, c| {
                w.ident(c);
                w.push(" = VALUES(");
                w.ident(c);
                w.push(")");
            });
        }
        (_, OnConflict::Ignore) => w.push(" ON CONFLICT DO NOTHING"),
        (_, OnConflict::Update { target, update }) => {
            w.push(" ON CONFLICT (");
            list(w, target, &|w, c| w.ident(c));
            w.push(") DO UPDATE SET ");
            list(w, update, &|w, c| {
                w.ident(c);
                w.push(" = ");
                w.ident("excluded");
                w.push(".");
                w.ident(c);
            });
        }
    }
}

/// One row of a [`bulk_update`]: its primary key and the values of the columns set, in
/// the order of the statement's columns.
pub type BulkUpdateRow = (Value, Vec<Value>);

/// `UPDATE t SET c = CASE pk WHEN k1 THEN v1 WHEN k2 THEN v2 … END, … WHERE pk IN (k1, k2,
/// …)`, restricted further by the filter of `q` (a queryset's `bulk_update` updates only
/// the rows it matches, as Django's). `columns` are indices into `q.meta.columns`; the
/// keys of `rows` must be distinct (the first `WHEN` that matches wins). Every key and
/// value is bound: `2 × columns + 1` parameters a row (on PostgreSQL the key list may be
/// one array parameter), so a batch has at most
/// `max_params / (2 × columns + 1)` rows less what the filter binds.
///
/// The values are bound with their own SQL types (sqlx sends them with the statement),
/// so PostgreSQL types each `CASE` as its values' type and needs no cast; a `CASE` of
/// NULLs only is typed by the NULL's type.
pub fn bulk_update(
    q: &Query,
    columns: &[usize],
    rows: Vec<BulkUpdateRow>,
    dialect: Dialect,
) -> Result<Statement> {
    if columns.is_empty() || rows.is_empty() {
        return Err(Error::InvalidInput(
            "bulk_update needs at least one field and one row".into(),
        ));
    }
    let meta = q.meta;
    let pk = meta.pk_column();
    let mut w = SqlWriter::new(dialect, meta);
    w.push("UPDATE ");
    w.ident(meta.table);
    w.push(" SET ");
    for (n, &col) in columns.iter().enumerate() {
        if n > 0 {
            w.push(", ");
        }
        w.ident(meta.columns[col].column);
        w.push(" = CASE ");
        w.ident(pk.column);
        for (key, values) in &rows {
            w.push(" WHEN ");
            w.target = Some(BindTarget::Own(meta.pk));
            w.bind(key.clone());
            w.push(" THEN ");
            w.target = Some(BindTarget::Own(col));
            w.check_stored(&meta.columns[col], &values[n]);
            w.bind(values[n].clone());
        }
        w.push(" END");
    }
    w.target = None;
    let mut keys = q.clone();
    keys.filter_mut().push(Cond::In {
        lhs: Term::Column(ColumnRef {
            path: RelPath::ROOT,
            column: pk.column,
            nullable: false,
        }),
        values: rows.into_iter().map(|(k, _)| k).collect(),
    });
    write_dml_where(&mut w, &keys)?;
    w.finish().map(|s| s.writing(meta.table))
}
