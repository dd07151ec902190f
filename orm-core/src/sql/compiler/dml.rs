//! INSERT, UPDATE, DELETE, and the rows of a many-to-many link table.

use super::*;

/// Whether `c` reads rows besides the one it tests: a related column (a join, or an
/// `EXISTS` subquery under a negation) or a queryset (`is_in(queryset)`).
fn reads_other_rows(c: &Cond) -> bool {
    match c {
        Cond::And(parts) | Cond::Or(parts) => parts.iter().any(reads_other_rows),
        Cond::Not(inner) => reads_other_rows(inner),
        Cond::Const(_) => false,
        Cond::InQuery { .. } | Cond::Exists(_) => true,
        leaf => {
            let mut cols = Vec::new();
            let mut nested = false;
            leaf_terms(leaf, |t| {
                t.columns(&mut cols);
                let mut subs = Vec::new();
                t.subqueries(&mut subs);
                nested |= !subs.is_empty() || t.has_aggregate();
            });
            nested || cols.iter().any(|c| !c.path.is_root())
        }
    }
}

/// The WHERE of an UPDATE or DELETE: the filter itself, or, when it joins other tables,
/// `pk IN (SELECT pk … joins …)`. On MySQL also when it reads other rows through a
/// subquery, which may read the table being changed.
pub(super) fn write_dml_where(w: &mut SqlWriter, q: &Query) -> Result<()> {
    // MySQL refuses a subquery that reads the table being changed (error 1093: a join,
    // `is_in` a queryset of the same model, an `EXISTS` across a self relation), unless
    // it is a derived table, which it materializes first. (MariaDB 10.3 and later accept
    // them; the derived table serves both.)
    let mysql = w.dialect == Dialect::Mysql;
    let mut probe = SqlWriter::new(w.dialect, q.meta);
    probe.register_filter(&q.filter)?;
    let grouped = q.filter.iter().any(Cond::has_aggregate);
    if probe.frame().joins.is_empty()
        && q.through.is_none()
        && !grouped
        && !(mysql && q.filter.iter().any(reads_other_rows))
    {
        w.register_filter(&q.filter)?;
        return w.where_clause(&q.filter);
    }
    let pk = q.meta.pk_column().column;
    let table = q.meta.table;
    w.push(" WHERE ");
    w.qualified(table, pk);
    w.push(if mysql {
        " IN (SELECT * FROM ("
    } else {
        " IN ("
    });
    let mut inner = SqlWriter::new(w.dialect, q.meta);
    inner.params = std::mem::take(&mut w.params);
    if grouped {
        // A condition on an aggregate (`filter(|a| a.books().count().eq(0))`): the keys of
        // the groups that pass it, grouped by the model.
        let mut keys = q.clone();
        keys.select = Select::Terms(vec![Term::Column(ColumnRef {
            path: RelPath::ROOT,
            column: pk,
            nullable: false,
        })]);
        keys.group_by_model = true;
        keys.distinct = false;
        keys.order_by.clear();
        keys.annotations.clear();
        write_select(&mut inner, &keys, false)?;
    } else {
        inner.reserve_through(q);
        inner.register_filter(&q.filter)?;
        inner.push("SELECT ");
        let alias = inner.frame().root_alias.clone();
        inner.qualified(&alias, pk);
        inner.from(q)?;
        inner.where_clause(&q.filter)?;
    }
    w.sql.push_str(&inner.sql);
    w.params = inner.params;
    w.invalid = w.invalid.take().or(inner.invalid);
    if mysql {
        w.push(") AS ");
        w.ident("orm_targets");
    }
    w.push(")");
    Ok(())
}

/// `UPDATE … SET … WHERE …`
pub fn update<R>(q: &Query, assignments: &[Assignment<R>], dialect: Dialect) -> Result<Statement> {
    if assignments.is_empty() {
        return Err(Error::InvalidInput(
            "update() needs at least one assignment (`b.field.set(value)`)".into(),
        ));
    }
    // MySQL evaluates `SET a = …, b = …` left to right: a later value reads the new value
    // of an earlier column, where SQLite and PostgreSQL (and Django's reading) see the row
    // as it was. When a value reads a column set before it, the old row is joined in as a
    // derived table (materialized first) and every value reads it:
    // `UPDATE t INNER JOIN (SELECT t.pk, t.a, t.b FROM t WHERE …) AS orm_old ON (t.pk = orm_old.pk)
    // SET t.a = orm_old.b, t.b = orm_old.a`.
    let reads_earlier = dialect == Dialect::Mysql
        && assignments.iter().enumerate().any(|(i, a)| {
            let mut cols = Vec::new();
            a.value.columns(&mut cols);
            cols.iter().any(|c| {
                assignments[..i]
                    .iter()
                    .any(|earlier| earlier.column.column == c.column)
            })
        });
    let mut w = SqlWriter::new(dialect, q.meta);
    w.push("UPDATE ");
    w.ident(q.meta.table);
    if reads_earlier {
        // The key and the columns the values read, not every column (a TEXT or JSON
        // column would be copied into the derived table for nothing).
        let pk = q.meta.pk_column().column;
        let mut read: Vec<&'static str> = vec![pk];
        for a in assignments {
            let mut cols = Vec::new();
            a.value.columns(&mut cols);
            for c in cols {
                if !read.contains(&c.column) {
                    read.push(c.column);
                }
            }
        }
        w.push(" INNER JOIN (SELECT ");
        for (i, column) in read.iter().enumerate() {
            if i > 0 {
                w.push(", ");
            }
            w.qualified(q.meta.table, column);
        }
        w.push(" FROM ");
        w.ident(q.meta.table);
        write_dml_where(&mut w, q)?;
        w.push(") AS ");
        w.ident(OLD_ROW);
        w.push(" ON (");
        w.qualified(q.meta.table, pk);
        w.push(" = ");
        w.qualified(OLD_ROW, pk);
        w.push(")");
        // The values read the old row.
        w.frame_mut().root_alias = std::borrow::Cow::Borrowed(OLD_ROW);
    }
    w.push(" SET ");
    for (i, a) in assignments.iter().enumerate() {
        if !a.column.path.is_root() {
            return Err(Error::InvalidInput(format!(
                "update() can only set columns of {} itself, not `{:?}__{}`",
                q.meta.name, a.column.path, a.column.column
            )));
        }
        let mut cols = Vec::new();
        a.value.columns(&mut cols);
        if cols.iter().any(|c| !c.path.is_root()) {
            return Err(Error::InvalidInput(format!(
                "update() values can only read columns of {} itself (Django: joined field references are not permitted in this query)",
                q.meta.name
            )));
        }
        if i > 0 {
            w.push(", ");
        }
        if reads_earlier {
            w.qualified(q.meta.table, a.column.column);
        } else {
            w.ident(a.column.column);
        }
        w.push(" = ");
        if let Some(c) = q.meta.columns.iter().find(|c| c.column == a.column.column) {
            match &a.value {
                Term::Value(v) => w.check_stored(c, v),
                // PostgreSQL and MySQL would round a computed decimal to the column's
                // places without a word (SQLite would keep them all): refused instead.
                _ if c.options.digits.is_some() => {
                    return Err(Error::InvalidInput(format!(
                        "update(): {}.{} has max_digits/decimal_places, and a value computed \
                         in SQL could be rounded to fit without an error; compute it in Rust \
                         and set the value (checked before the query)",
                        q.meta.name, c.field
                    )));
                }
                _ => {}
            }
        }
        w.binding_to(Some(BindTarget::Column(a.column)), |w| w.term(&a.value))?;
    }
    if !reads_earlier {
        write_dml_where(&mut w, q)?;
    }
    w.finish().map(|s| s.writing(q.meta.table))
}

/// The alias of the old row in a MySQL UPDATE whose values read columns it sets.
const OLD_ROW: &str = "orm_old";

/// `DELETE FROM … WHERE …`
pub fn delete(q: &Query, dialect: Dialect) -> Result<Statement> {
    let mut w = SqlWriter::new(dialect, q.meta);
    w.push("DELETE FROM ");
    w.ident(q.meta.table);
    write_dml_where(&mut w, q)?;
    w.finish().map(|s| s.writing(q.meta.table))
}

/// `DELETE FROM … WHERE pk IN (k1, k2, …)`, deleting the rows in the order of `keys`.
///
/// For a server that checks foreign keys as each row is deleted (MySQL, MariaDB), where
/// rows of one table point at one another (a self relation's chain): each row must go
/// after the rows pointing at it. There the statement ends `ORDER BY FIELD(pk, k1, k2,
/// …)`, binding every key twice. Elsewhere the keys are checked at the commit, the order
/// does not matter, and the statement has no ORDER BY.
pub fn delete_keys_in_order(
    meta: &'static ModelMeta,
    keys: Vec<Value>,
    dialect: Dialect,
) -> Result<Statement> {
    let pk = meta.pk_column().column;
    let mut w = SqlWriter::new(dialect, meta);
    w.push("DELETE FROM ");
    w.ident(meta.table);
    w.push(" WHERE ");
    w.qualified(meta.table, pk);
    w.push(" IN ");
    w.target = Some(BindTarget::Own(meta.pk));
    if dialect == Dialect::Mysql {
        w.bind_list(keys.iter().cloned());
        w.push(" ORDER BY FIELD(");
        w.qualified(meta.table, pk);
        for k in keys {
            w.push(", ");
            w.bind(k);
        }
        w.push(")");
    } else {
        w.bind_list(keys);
    }
    w.finish().map(|s| s.writing(meta.table))
}

/// Link a parent to targets in a many-to-many join table; pairs already there are kept.
pub fn link(
    through: &ThroughMeta,
    parent: Value,
    targets: impl Iterator<Item = Value>,
    dialect: Dialect,
) -> Result<Statement> {
    let mut w = SqlWriter::new(dialect, &EMPTY_META);
    w.push("INSERT INTO ");
    w.ident(through.table);
    w.push(" (");
    w.ident(through.parent_column);
    w.push(", ");
    w.ident(through.target_column);
    w.push(") VALUES ");
    for (i, t) in targets.enumerate() {
        if i > 0 {
            w.push(", ");
        }
        w.push("(");
        w.target = Some(BindTarget::Table(through.table, through.parent_column));
        w.bind(parent.clone());
        w.push(", ");
        w.target = Some(BindTarget::Table(through.table, through.target_column));
        w.bind(t);
        w.push(")");
    }
    if dialect == Dialect::Mysql {
        // Only the duplicate pair is skipped: `INSERT IGNORE` would also turn a missing
        // row (a foreign key) or a value too long into a warning, and store nothing.
        w.push(" ON DUPLICATE KEY UPDATE ");
        w.ident(through.parent_column);
        w.push(" = ");
        w.ident(through.parent_column);
    } else {
        w.push(" ON CONFLICT DO NOTHING");
    }
    w.finish().map(|s| s.writing(through.table))
}

/// Unlink a parent from targets in a many-to-many join table.
pub fn unlink(
    through: &ThroughMeta,
    parent: Value,
    targets: Vec<Value>,
    dialect: Dialect,
) -> Result<Statement> {
    let mut w = SqlWriter::new(dialect, &EMPTY_META);
    w.push("DELETE FROM ");
    w.ident(through.table);
    super::link::where_parent(&mut w, through, parent);
    w.push(" AND ");
    w.ident(through.target_column);
    w.push(" IN ");
    w.target = Some(BindTarget::Table(through.table, through.target_column));
    w.bind_list(targets);
    w.finish().map(|s| s.writing(through.table))
}

/// Drop every link of the parents `keys` (column `col`) in a join table.
pub fn unlink_all(
    through: &ThroughMeta,
    col: &str,
    keys: Vec<Value>,
    dialect: Dialect,
) -> Result<Statement> {
    let mut w = SqlWriter::new(dialect, &EMPTY_META);
    w.push("DELETE FROM ");
    w.ident(through.table);
    w.push(" WHERE ");
    w.ident(col);
    w.push(" IN ");
    let col = if col == through.parent_column {
        through.parent_column
    } else {
        through.target_column
    };
    w.target = Some(BindTarget::Table(through.table, col));
    w.bind_list(keys);
    w.finish().map(|s| s.writing(through.table))
}

/// A multi-row `INSERT`, leaving out the auto primary key when `skip_auto_pk`, with
/// `RETURNING` the primary key when `returning` (where the server has it: see
/// [`Executor::supports_returning`](crate::Executor::supports_returning)).
pub fn insert(
    meta: &'static ModelMeta,
    rows: Vec<Vec<Value>>,
    skip_auto_pk: bool,
    dialect: Dialect,
    returning: bool,
) -> Result<Statement> {
    insert_on_conflict(meta, rows, skip_auto_pk, dialect, returning, None)
}

/// [`insert`], with what to do with a row whose unique key is taken ([`OnConflict`]).
pub fn insert_on_conflict(
    meta: &'static ModelMeta,
    rows: Vec<Vec<Value>>,
    skip_auto_pk: bool,
    dialect: Dialect,
    returning: bool,
    conflict: Option<&OnConflict>,
) -> Result<Statement> {
    let mut w = SqlWriter::new(dialect, meta);
    let skipped = (skip_auto_pk && meta.columns[meta.pk].auto).then_some(meta.pk);
    let included: Vec<usize> = (0..meta.columns.len())
        .filter(|&i| Some(i) != skipped)
        .collect();
    w.push("INSERT INTO ");
    w.ident(meta.table);
    if included.is_empty() && dialect == Dialect::Mysql {
        // MySQL has no DEFAULT VALUES; `() VALUES (), ()` inserts defaults, row by row.
        w.push(" () VALUES ");
        for r in 0..rows.len() {
            w.push(if r > 0 { ", ()" } else { "()" });
        }
    } else if included.is_empty() {
        w.push(" DEFAULT VALUES");
    } else {
        w.push(" (");
        for (n, &i) in included.iter().enumerate() {
            if n > 0 {
                w.push(", ");
            }
            w.ident(meta.columns[i].column);
        }
        w.push(") VALUES ");
        for (r, row) in rows.into_iter().enumerate() {
            if r > 0 {
                w.push(", ");
            }
            w.push("(");
            let mut n = 0;
            for (i, v) in row.into_iter().enumerate() {
                if Some(i) == skipped {
                    continue;
                }
                if n > 0 {
                    w.push(", ");
                }
                w.target = Some(BindTarget::Own(i));
                w.check_stored(&meta.columns[i], &v);
                w.bind(v);
                n += 1;
            }
            w.push(")");
        }
    }
    if let Some(conflict) = conflict {
        let default_values = included.is_empty() && dialect != Dialect::Mysql;
        upsert::write_conflict(&mut w, meta, conflict, default_values);
    }
    if returning {
        w.push(" RETURNING ");
        w.ident(meta.pk_column().column);
    }
    w.finish().map(|s| s.writing(meta.table))
}
