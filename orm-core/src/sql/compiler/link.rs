//! The statements of many-to-many writes beyond `link`/`unlink` (in `dml.rs`): what
//! `set_related` deletes.

use super::*;

/// `DELETE FROM through WHERE parent = ? AND target NOT IN (keep…)`: drop every link of
/// `parent` except those to `keep` (which must not be empty). PostgreSQL binds `keep` as
/// one array (`<> ALL($2)`), so the statement has two parameters whatever its length; the
/// other backends bind one parameter a key.
pub fn unlink_except(
    through: &ThroughMeta,
    parent: Value,
    keep: Vec<Value>,
    dialect: Dialect,
) -> Result<Statement> {
    let mut w = SqlWriter::new(dialect, &EMPTY_META);
    w.push("DELETE FROM ");
    w.ident(through.table);
    where_parent(&mut w, through, parent);
    w.push(" AND ");
    w.ident(through.target_column);
    w.target = Some(BindTarget::Table(through.table, through.target_column));
    let ty = keep.first().and_then(Value::sql_type);
    let array = dialect == Dialect::Postgres
        && ty.is_some_and(|t| t != SqlType::Decimal)
        && keep.iter().all(|v| v.sql_type() == ty);
    match ty {
        Some(ty) if array => {
            w.push(" <> ALL(");
            w.bind(Value::List(ty, keep));
            w.push(")");
        }
        _ => {
            w.push(" NOT IN ");
            w.bind_list(keep);
        }
    }
    w.finish().map(|s| s.writing(through.table))
}

/// `SELECT target FROM through WHERE parent = ?`: the keys `parent` is linked to.
pub fn linked_keys(through: &ThroughMeta, parent: Value, dialect: Dialect) -> Result<Statement> {
    let mut w = SqlWriter::new(dialect, &EMPTY_META);
    w.push("SELECT ");
    w.ident(through.target_column);
    w.push(" FROM ");
    w.ident(through.table);
    where_parent(&mut w, through, parent);
    w.finish().map(|s| s.reading(through.table))
}

/// ` WHERE parent = ?`: the links of one parent in a join table (every statement here and
/// `unlink` in `dml.rs` starts so).
pub(super) fn where_parent(w: &mut SqlWriter, through: &ThroughMeta, parent: Value) {
    w.push(" WHERE ");
    w.ident(through.parent_column);
    w.push(" = ");
    w.target = Some(BindTarget::Table(through.table, through.parent_column));
    w.bind(parent);
}
