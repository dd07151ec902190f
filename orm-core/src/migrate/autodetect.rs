//! What `makemigrations` writes: the operations that take the state the migration files
//! lead to onto the state of the models (Django's autodetector).
//!
//! A diff cannot tell a rename from a drop and an add, so renames are declared:
//! `#[orm(renamed_from = "old")]` on a struct (its old table) or a field (its old column).

use std::collections::BTreeMap;

use crate::migrate::operation::Operation;
use crate::schema::model::ModelMeta;
use crate::schema::state::{ColumnState, ProjectState, TableState};

/// The renames the models declare.
#[derive(Clone, Debug, Default)]
pub struct RenameHints {
    /// New table name to old.
    pub tables: BTreeMap<String, String>,
    /// (table, new column) to old column.
    pub columns: BTreeMap<(String, String), String>,
}

impl RenameHints {
    /// The `renamed_from` attributes of these models.
    pub fn from_metas<'a>(metas: impl IntoIterator<Item = &'a ModelMeta>) -> RenameHints {
        let mut hints = RenameHints::default();
        for meta in metas {
            if let Some(old) = meta.renamed_from {
                hints.tables.insert(meta.table.to_owned(), old.to_owned());
            }
            for c in meta.columns {
                if let Some(old) = c.options.renamed_from {
                    hints
                        .columns
                        .insert((meta.table.to_owned(), c.column.to_owned()), old.to_owned());
                }
            }
        }
        hints
    }
}

/// A column compared without its name.
fn same_definition(a: &ColumnState, b: &ColumnState) -> bool {
    let mut a = a.clone();
    a.name = b.name.clone();
    a == *b
}

/// The operations from `from` to `to`, in an order that applies: renames first, then new
/// tables (keys to tables created later added after them), then each table's changes
/// (indexes and join tables dropped before the columns they name, added after), then
/// dropped tables (those that reference others first).
pub fn autodetect(
    from: &ProjectState,
    to: &ProjectState,
    hints: &RenameHints,
) -> std::result::Result<Vec<Operation>, String> {
    let mut ops = Vec::new();
    let mut state = from.clone();
    let mut push = |op: Operation, state: &mut ProjectState| -> std::result::Result<(), String> {
        op.apply(state)
            .map_err(|e| format!("{}: {e}", op.describe()))?;
        ops.push(op);
        Ok(())
    };

    // A rename from a name the models still use would move that model's rows (or that
    // field's values) away from it.
    for (new, old) in &hints.tables {
        if to.tables.contains_key(old)
            && state.tables.contains_key(old)
            && !state.tables.contains_key(new)
        {
            return Err(format!(
                "table `{new}` says renamed_from = \"{old}\", but a model still has the table \
                 `{old}`: rename that one first, or remove `renamed_from`"
            ));
        }
    }
    for ((table, new), old) in &hints.columns {
        let kept = to.table(table).is_some_and(|t| t.column(old).is_some());
        let was = state
            .table(table)
            .is_some_and(|t| t.column(old).is_some() && t.column(new).is_none());
        if kept && was {
            return Err(format!(
                "`{table}.{new}` says renamed_from = \"{old}\", but `{table}.{old}` is still a \
                 field: remove `renamed_from` (to add a new column), or rename the other field"
            ));
        }
    }
    // Renamed tables.
    for (new, old) in &hints.tables {
        if to.tables.contains_key(new)
            && !state.tables.contains_key(new)
            && state.tables.contains_key(old)
        {
            push(
                Operation::RenameModel {
                    old: old.clone(),
                    new: new.clone(),
                },
                &mut state,
            )?;
        }
    }
    // Renamed columns.
    for ((table, new), old) in &hints.columns {
        let Some(t) = state.table(table) else {
            continue;
        };
        if t.column(new).is_none() && t.column(old).is_some() {
            push(
                Operation::RenameField {
                    table: table.clone(),
                    old: old.clone(),
                    new: new.clone(),
                },
                &mut state,
            )?;
        }
    }

    // New tables, each once every table it references exists; keys and join tables to
    // tables not created yet (cycles) follow as their own operations.
    let mut pending: Vec<&TableState> = to
        .tables
        .values()
        .filter(|t| !state.tables.contains_key(&t.table))
        .collect();
    let mut deferred_columns: Vec<(String, ColumnState)> = Vec::new();
    let mut deferred_links = Vec::new();
    while !pending.is_empty() {
        let ready = pending.iter().position(|t| {
            t.columns.iter().all(|c| {
                c.references
                    .as_ref()
                    .is_none_or(|r| r.table == t.table || state.tables.contains_key(&r.table))
            })
        });
        let (t, defer_missing) = match ready {
            Some(i) => (pending.remove(i), false),
            None => (pending.remove(0), true),
        };
        let mut columns = Vec::new();
        for c in &t.columns {
            let missing = c
                .references
                .as_ref()
                .is_some_and(|r| r.table != t.table && !state.tables.contains_key(&r.table));
            if missing && defer_missing {
                deferred_columns.push((t.table.clone(), c.clone()));
            } else {
                columns.push(c.clone());
            }
        }
        let indexes = t
            .indexes
            .iter()
            .filter(|x| {
                x.columns
                    .iter()
                    .all(|n| columns.iter().any(|c| &c.name == n))
            })
            .cloned()
            .collect::<Vec<_>>();
        for x in &t.indexes {
            if !indexes.contains(x) {
                deferred_links.push(Operation::AddIndex {
                    table: t.table.clone(),
                    index: x.clone(),
                });
            }
        }
        let (links, later): (Vec<_>, Vec<_>) =
            t.links.iter().cloned().partition(|l| {
                l.target.table == t.table || state.tables.contains_key(&l.target.table)
            });
        for link in later {
            deferred_links.push(Operation::AddLink {
                table: t.table.clone(),
                link,
            });
        }
        push(
            Operation::CreateModel {
                table: t.table.clone(),
                columns,
                indexes,
                links,
            },
            &mut state,
        )?;
    }
    for (table, column) in deferred_columns {
        push(
            Operation::AddField {
                table,
                column,
                fill: None,
            },
            &mut state,
        )?;
    }
    // Indexes and links must come after the deferred columns they may name.
    for op in deferred_links {
        push(op, &mut state)?;
    }

    // Changes to tables on both sides.
    for t in to.tables.values() {
        let Some(f) = state.table(&t.table).cloned() else {
            continue;
        };
        if f == *t {
            continue;
        }
        let table = t.table.clone();
        for l in &f.links {
            match t.links.iter().find(|n| n.field == l.field) {
                Some(n) if n == l => {}
                Some(n) if n.target == l.target => push(
                    Operation::AlterLink {
                        table: table.clone(),
                        field: l.field.clone(),
                        link: n.clone(),
                    },
                    &mut state,
                )?,
                _ => push(
                    Operation::RemoveLink {
                        table: table.clone(),
                        field: l.field.clone(),
                    },
                    &mut state,
                )?,
            }
        }
        for x in &f.indexes {
            if !t.indexes.contains(x) {
                push(
                    Operation::RemoveIndex {
                        table: table.clone(),
                        index: x.clone(),
                    },
                    &mut state,
                )?;
            }
        }
        for c in &f.columns {
            if t.column(&c.name).is_none() {
                push(
                    Operation::RemoveField {
                        table: table.clone(),
                        column: c.name.clone(),
                    },
                    &mut state,
                )?;
            }
        }
        for c in &t.columns {
            match f.column(&c.name) {
                None => push(
                    Operation::AddField {
                        table: table.clone(),
                        column: c.clone(),
                        fill: None,
                    },
                    &mut state,
                )?,
                Some(old) if !same_definition(old, c) => push(
                    Operation::AlterField {
                        table: table.clone(),
                        column: c.clone(),
                    },
                    &mut state,
                )?,
                Some(_) => {}
            }
        }
        for x in &t.indexes {
            if !f.indexes.contains(x) {
                push(
                    Operation::AddIndex {
                        table: table.clone(),
                        index: x.clone(),
                    },
                    &mut state,
                )?;
            }
        }
        for l in &t.links {
            let now = state
                .table(&table)
                .is_some_and(|s| s.links.iter().any(|x| x.field == l.field));
            if !now {
                push(
                    Operation::AddLink {
                        table: table.clone(),
                        link: l.clone(),
                    },
                    &mut state,
                )?;
            }
        }
    }

    // Dropped tables, those nothing left references first.
    loop {
        let gone: Vec<String> = state
            .tables
            .keys()
            .filter(|n| !to.tables.contains_key(*n))
            .cloned()
            .collect();
        if gone.is_empty() {
            break;
        }
        let free = gone.iter().find(|n| {
            state.tables.values().all(|t| {
                t.table == **n
                    || (t
                        .columns
                        .iter()
                        .all(|c| c.references.as_ref().is_none_or(|r| &r.table != *n))
                        && t.links.iter().all(|l| &l.target.table != *n))
            })
        });
        let Some(name) = free.cloned() else {
            // Tables that reference each other: drop the first one's keys and join
            // tables to the others first (as Django removes the fields, then the models).
            let refers_to_gone = |t: &TableState| {
                let other = |target: &str| target != t.table && gone.iter().any(|g| g == target);
                t.columns
                    .iter()
                    .any(|c| c.references.as_ref().is_some_and(|r| other(&r.table)))
                    || t.links.iter().any(|l| other(&l.target.table))
            };
            let first = gone
                .iter()
                .find(|g| state.table(g).is_some_and(refers_to_gone))
                .unwrap_or(&gone[0])
                .clone();
            let t = state.table(&first).cloned().unwrap_or_else(|| TableState {
                table: first.clone(),
                columns: Vec::new(),
                indexes: Vec::new(),
                links: Vec::new(),
            });
            let to_gone = |target: &str| target != first && gone.iter().any(|g| g == target);
            let keys: Vec<String> = t
                .columns
                .iter()
                .filter(|c| c.references.as_ref().is_some_and(|r| to_gone(&r.table)))
                .map(|c| c.name.clone())
                .collect();
            for l in t.links.iter().filter(|l| to_gone(&l.target.table)) {
                push(
                    Operation::RemoveLink {
                        table: first.clone(),
                        field: l.field.clone(),
                    },
                    &mut state,
                )?;
            }
            for x in t
                .indexes
                .iter()
                .filter(|x| x.columns.iter().any(|c| keys.contains(c)))
            {
                push(
                    Operation::RemoveIndex {
                        table: first.clone(),
                        index: x.clone(),
                    },
                    &mut state,
                )?;
            }
            if keys.is_empty() && !t.links.iter().any(|l| to_gone(&l.target.table)) {
                return Err(format!(
                    "cannot order the deletion of tables {}",
                    gone.join(", ")
                ));
            }
            for column in keys {
                push(
                    Operation::RemoveField {
                        table: first.clone(),
                        column,
                    },
                    &mut state,
                )?;
            }
            continue;
        };
        push(Operation::DeleteModel { table: name }, &mut state)?;
    }

    if !same_state(&state, to) {
        return Err(format!(
            "could not compute the changes (the state reached differs from the models): \
             {state:?}\nversus\n{to:?}"
        ));
    }
    Ok(ops)
}

/// Two states compared without the order of their columns (`add_field` appends).
pub fn same_state(a: &ProjectState, b: &ProjectState) -> bool {
    let norm = |s: &ProjectState| {
        let mut s = s.clone();
        for t in s.tables.values_mut() {
            t.columns.sort_by(|x, y| x.name.cmp(&y.name));
            t.links.sort_by(|x, y| x.field.cmp(&y.field));
        }
        s
    };
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::value::SqlType;

    fn table(name: &str) -> TableState {
        let mut id = ColumnState::new("id", SqlType::I64);
        id.primary_key = true;
        id.auto = true;
        TableState {
            table: name.to_owned(),
            columns: vec![id],
            indexes: Vec::new(),
            links: Vec::new(),
        }
    }

    #[test]
    fn a_table_renamed_from_one_the_models_keep_is_refused() {
        let mut from = ProjectState::default();
        from.tables.insert("old".into(), table("old"));
        let mut to = from.clone();
        to.tables.insert("new".into(), table("new"));
        let mut hints = RenameHints::default();
        hints.tables.insert("new".into(), "old".into());
        let e = autodetect(&from, &to, &hints).unwrap_err();
        assert!(e.contains("still has the table `old`"), "{e}");
        // Without the kept model it is a rename.
        to.tables.remove("old");
        let ops = autodetect(&from, &to, &hints).unwrap();
        assert_eq!(
            ops,
            vec![Operation::RenameModel {
                old: "old".into(),
                new: "new".into()
            }]
        );
    }
}
