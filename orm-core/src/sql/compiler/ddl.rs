//! CREATE TABLE and CREATE INDEX for a model and its link tables.

use super::*;

/// `CREATE TABLE IF NOT EXISTS` for a model, with a foreign key constraint (deferred to
/// the end of the transaction, as Django declares them) on every relation key column.
pub fn create_table(meta: &'static ModelMeta, dialect: Dialect) -> Statement {
    let mut w = SqlWriter::new(dialect, meta);
    w.push("CREATE TABLE IF NOT EXISTS ");
    w.ident(meta.table);
    w.push(" (");
    for (i, c) in meta.columns.iter().enumerate() {
        if i > 0 {
            w.push(", ");
        }
        w.ident(c.column);
        w.push(" ");
        if c.auto {
            w.push(dialect.auto_pk(c.sql_type));
        } else {
            w.push(dialect.column_type(c.sql_type));
            if c.primary_key {
                w.push(" PRIMARY KEY");
            } else if !c.nullable {
                w.push(" NOT NULL");
            }
        }
        let rel = meta.relations.iter().find(|r| r.key_column == Some(i));
        if let Some(rel) = rel {
            if rel.kind == crate::schema::relation::RelationKind::OneToOne {
                w.push(" UNIQUE");
            }
            let target = (rel.target)();
            references(&mut w, target);
        }
    }
    w.push(")");
    w.ddl()
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
    let mut w = SqlWriter::new(dialect, &EMPTY_META);
    w.push(if dialect == Dialect::Mysql {
        "CREATE INDEX "
    } else {
        "CREATE INDEX IF NOT EXISTS "
    });
    w.ident(&format!("{table}_{column}_idx"));
    w.push(" ON ");
    w.ident(table);
    w.push(" (");
    w.ident(column);
    w.push(")");
    w.ddl()
}

/// `CREATE INDEX IF NOT EXISTS` on every foreign key column of a model (Django indexes
/// them by default): following a relation from its target side, prefetching it, or
/// cascading a delete filters on that column.
pub fn create_key_indexes(meta: &'static ModelMeta, dialect: Dialect) -> Vec<Statement> {
    let mut out = Vec::new();
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
    out
}

/// `CREATE TABLE IF NOT EXISTS` for the join tables of a model's many-to-many relations.
pub fn create_through_tables(meta: &'static ModelMeta, dialect: Dialect) -> Vec<Statement> {
    let mut out = Vec::new();
    for rel in meta.relations {
        let Some(th) = &rel.through else { continue };
        if rel.kind != crate::schema::relation::RelationKind::ManyToMany {
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
        for (col, side) in [(th.parent_column, meta), (th.target_column, target)] {
            w.push(", ");
            w.ident(col);
            w.push(" ");
            w.push(dialect.column_type(side.pk_column().sql_type));
            w.push(" NOT NULL");
            references(&mut w, side);
        }
        w.push(", UNIQUE (");
        w.ident(th.parent_column);
        w.push(", ");
        w.ident(th.target_column);
        w.push("))");
        out.push(w.ddl());
        // The UNIQUE pair indexes the parent side; the target side gets its own.
        out.push(create_index(th.table, th.target_column, dialect));
    }
    out
}
