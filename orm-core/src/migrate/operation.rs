//! Migration operations: what one step changes in the schema, as data, how it changes
//! the recorded state ([`Operation::apply`]), its reverse ([`Operation::inverse`]) and
//! the statements and checks it sends on each backend ([`Operation::steps`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::compiler::{self, TableChange, TableOptions, widening};
use crate::schema::state::{ColumnState, IndexState, LinkState, Literal, ProjectState, TableState};
use crate::schema::value::SqlType;
use crate::sql::compiler::Statement;
use crate::sql::dialect::Dialect;

/// SQL for a `run_sql` operation: one statement, several, or per backend
/// (`{ sqlite = "…", postgres = "…", mysql = "…" }`; a backend left out runs nothing).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SqlText {
    One(String),
    Many(Vec<String>),
    PerBackend {
        #[serde(default)]
        sqlite: Option<Box<SqlText>>,
        #[serde(default)]
        postgres: Option<Box<SqlText>>,
        #[serde(default)]
        mysql: Option<Box<SqlText>>,
    },
}

impl SqlText {
    /// The statements for `dialect`.
    pub fn statements(&self, dialect: Dialect) -> Vec<String> {
        match self {
            SqlText::One(s) => vec![s.clone()],
            SqlText::Many(v) => v.clone(),
            SqlText::PerBackend {
                sqlite,
                postgres,
                mysql,
            } => {
                let chosen = match dialect {
                    Dialect::Sqlite => sqlite,
                    Dialect::Postgres => postgres,
                    Dialect::Mysql => mysql,
                };
                chosen
                    .as_ref()
                    .map(|t| t.statements(dialect))
                    .unwrap_or_default()
            }
        }
    }
}

/// One change to the schema. Migration files hold a list of them, as TOML tables whose
/// `op` names the kind:
///
/// ```toml
/// [[operations]]
/// op = "add_field"
/// table = "posts"
/// column = { name = "subtitle", type = "text", default = "" }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Operation {
    /// A new table, with its indexes and many-to-many join tables.
    CreateModel {
        table: String,
        columns: Vec<ColumnState>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        indexes: Vec<IndexState>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        links: Vec<LinkState>,
    },
    /// Drop a table (and its join tables).
    DeleteModel { table: String },
    /// Rename a table (`#[orm(renamed_from = "old")]` on the struct).
    RenameModel { old: String, new: String },
    /// Add a column. `fill` is the value rows already in the table get, when the column
    /// has no default of its own (Django's one-off default).
    AddField {
        table: String,
        column: ColumnState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fill: Option<Literal>,
    },
    /// Drop a column.
    RemoveField { table: String, column: String },
    /// Change a column's definition: type, null, default, max_length, digits, unique,
    /// index, foreign key.
    AlterField { table: String, column: ColumnState },
    /// Rename a column (`#[orm(renamed_from = "old")]` on the field).
    RenameField {
        table: String,
        old: String,
        new: String,
    },
    /// Add a composite index or unique constraint.
    AddIndex { table: String, index: IndexState },
    /// Drop a composite index or unique constraint.
    RemoveIndex { table: String, index: IndexState },
    /// Add a many-to-many field: create its join table.
    AddLink { table: String, link: LinkState },
    /// Remove a many-to-many field: drop its join table.
    RemoveLink { table: String, field: String },
    /// Rename a many-to-many field's join table or its columns.
    AlterLink {
        table: String,
        field: String,
        link: LinkState,
    },
    /// Raw SQL, for data migrations and what the operations do not cover; `reverse`
    /// unapplies it (without it the migration cannot be unapplied; an empty list is a
    /// reverse that does nothing).
    RunSql {
        sql: SqlText,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reverse: Option<SqlText>,
    },
    /// A Rust function registered by name with the `manage` entry point; `reverse` names
    /// the one that unapplies it.
    RunRust {
        function: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reverse: Option<String>,
    },
}

/// What running an operation does on one backend.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// A statement to send.
    Sql(Statement),
    /// A statement of a `run_sql` operation: it may write rows that later checks count.
    Raw(Statement),
    /// A query that counts rows that forbid the change; a count above zero stops the
    /// migration with `message` (the count is put where `{n}` is). `reads` names the
    /// tables and columns it reads (`None`: the number of rows), so that it can run
    /// before the whole plan when nothing earlier in the plan changes them.
    Check {
        count: Statement,
        message: String,
        reads: Vec<(String, Option<String>)>,
    },
    /// What the operation's statements change: these columns of a table, or (`None`)
    /// the whole table. Sends nothing.
    Touch {
        table: String,
        columns: Option<Vec<String>>,
    },
    /// Call the registered Rust function of this name.
    Rust(String),
}

fn err<T>(msg: String) -> std::result::Result<T, String> {
    Err(msg)
}

fn table_mut<'s>(
    state: &'s mut ProjectState,
    table: &str,
) -> std::result::Result<&'s mut TableState, String> {
    state
        .tables
        .get_mut(table)
        .ok_or_else(|| format!("there is no table `{table}` at this point"))
}

/// Whether a column's definition is one a migration can carry out.
fn check_column(state: &ProjectState, table: &str, c: &ColumnState) -> Result<(), String> {
    if c.name.is_empty() {
        return err(format!("a column of `{table}` has an empty name"));
    }
    if c.max_digits.is_some() != c.decimal_places.is_some() {
        return err(format!(
            "`{table}.{}` needs both `max_digits` and `decimal_places`, or neither",
            c.name
        ));
    }
    if let Some(r) = &c.references {
        if r.table == table {
            return Ok(());
        }
        let Some(target) = state.table(&r.table) else {
            return err(format!(
                "`{table}.{}` references table `{}`, which does not exist at this point",
                c.name, r.table
            ));
        };
        if target.column(&r.column).is_none() {
            return err(format!(
                "`{table}.{}` references `{}.{}`, which does not exist",
                c.name, r.table, r.column
            ));
        }
    }
    Ok(())
}

fn check_table(state: &ProjectState, t: &TableState) -> Result<(), String> {
    if t.columns.is_empty() {
        return err(format!("table `{}` has no columns", t.table));
    }
    let mut names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return err(format!("table `{}` has two columns `{}`", t.table, w[0]));
    }
    if t.columns.iter().filter(|c| c.primary_key).count() != 1 {
        return err(format!(
            "table `{}` needs exactly one column with `primary_key = true`",
            t.table
        ));
    }
    for c in &t.columns {
        check_column(state, &t.table, c)?;
    }
    for x in &t.indexes {
        check_index(t, x)?;
    }
    Ok(())
}

fn check_index(t: &TableState, x: &IndexState) -> Result<(), String> {
    if x.columns.is_empty() {
        return err(format!("an index of `{}` has no columns", t.table));
    }
    for c in &x.columns {
        if t.column(c).is_none() {
            return err(format!(
                "an index of `{}` names column `{c}`, which it does not have",
                t.table
            ));
        }
    }
    Ok(())
}

/// Whether a model's table or a join table is called `name`.
fn table_name_taken(state: &ProjectState, name: &str) -> bool {
    state.tables.contains_key(name)
        || state
            .tables
            .values()
            .any(|t| t.links.iter().any(|l| l.table == name))
}

fn check_link(state: &ProjectState, owner: &TableState, link: &LinkState) -> Result<(), String> {
    if table_name_taken(state, &link.table) {
        return err(format!("table `{}` exists already", link.table));
    }
    if link.target.table != owner.table && state.table(&link.target.table).is_none() {
        return err(format!(
            "many-to-many field `{}.{}` targets table `{}`, which does not exist at this point",
            owner.table, link.field, link.target.table
        ));
    }
    Ok(())
}

impl Operation {
    /// A short description: `add field posts.subtitle`.
    pub fn describe(&self) -> String {
        match self {
            Operation::CreateModel { table, .. } => format!("create model {table}"),
            Operation::DeleteModel { table } => format!("delete model {table}"),
            Operation::RenameModel { old, new } => format!("rename model {old} to {new}"),
            Operation::AddField { table, column, .. } => {
                format!("add field {table}.{}", column.name)
            }
            Operation::RemoveField { table, column } => format!("remove field {table}.{column}"),
            Operation::AlterField { table, column } => {
                format!("alter field {table}.{}", column.name)
            }
            Operation::RenameField { table, old, new } => {
                format!("rename field {table}.{old} to {new}")
            }
            Operation::AddIndex { table, index } => format!(
                "add {} on {table}({})",
                if index.unique { "unique" } else { "index" },
                index.columns.join(", ")
            ),
            Operation::RemoveIndex { table, index } => format!(
                "remove {} on {table}({})",
                if index.unique { "unique" } else { "index" },
                index.columns.join(", ")
            ),
            Operation::AddLink { table, link } => {
                format!("add many-to-many {table}.{}", link.field)
            }
            Operation::RemoveLink { table, field } => {
                format!("remove many-to-many {table}.{field}")
            }
            Operation::AlterLink { table, field, .. } => {
                format!("alter many-to-many {table}.{field}")
            }
            Operation::RunSql { .. } => "run SQL".to_owned(),
            Operation::RunRust { function, .. } => format!("run Rust function {function}"),
        }
    }

    /// A fragment for a migration's name: `posts_subtitle`.
    pub fn name_fragment(&self) -> String {
        match self {
            Operation::CreateModel { table, .. } => table.clone(),
            Operation::DeleteModel { table } => format!("delete_{table}"),
            Operation::RenameModel { old, new } => format!("rename_{old}_{new}"),
            Operation::AddField { table, column, .. } => format!("{table}_{}", column.name),
            Operation::RemoveField { table, column } => format!("remove_{table}_{column}"),
            Operation::AlterField { table, column } => format!("alter_{table}_{}", column.name),
            Operation::RenameField { table, new, .. } => format!("rename_{table}_{new}"),
            Operation::AddIndex { table, index } => {
                format!("{table}_{}", index.columns.join("_"))
            }
            Operation::RemoveIndex { table, index } => {
                format!("remove_{table}_{}", index.columns.join("_"))
            }
            Operation::AddLink { table, link } => format!("{table}_{}", link.field),
            Operation::RemoveLink { table, field } => format!("remove_{table}_{field}"),
            Operation::AlterLink { table, field, .. } => format!("alter_{table}_{field}"),
            Operation::RunSql { .. } => "run_sql".to_owned(),
            Operation::RunRust { function, .. } => function.clone(),
        }
    }

    /// Change `state` as the operation changes the schema, or say why it cannot be
    /// applied there (the file contradicts the ones before it).
    pub fn apply(&self, state: &mut ProjectState) -> std::result::Result<(), String> {
        match self {
            Operation::CreateModel {
                table,
                columns,
                indexes,
                links,
            } => {
                if table_name_taken(state, table) {
                    return err(format!("table `{table}` exists already"));
                }
                let t = TableState {
                    table: table.clone(),
                    columns: columns.clone(),
                    indexes: indexes.clone(),
                    links: Vec::new(),
                };
                check_table(state, &t)?;
                state.tables.insert(table.clone(), t);
                for link in links {
                    Operation::AddLink {
                        table: table.clone(),
                        link: link.clone(),
                    }
                    .apply(state)?;
                }
            }
            Operation::DeleteModel { table } => {
                if !state.tables.contains_key(table) {
                    return err(format!("there is no table `{table}` at this point"));
                }
                for t in state.tables.values() {
                    if t.table == *table {
                        continue;
                    }
                    if let Some(c) = t
                        .columns
                        .iter()
                        .find(|c| c.references.as_ref().is_some_and(|r| &r.table == table))
                    {
                        return err(format!(
                            "`{}.{}` still references `{table}`: remove or change that field first",
                            t.table, c.name
                        ));
                    }
                    if let Some(l) = t.links.iter().find(|l| &l.target.table == table) {
                        return err(format!(
                            "many-to-many field `{}.{}` still targets `{table}`: remove it first",
                            t.table, l.field
                        ));
                    }
                }
                state.tables.remove(table);
            }
            Operation::RenameModel { old, new } => {
                if table_name_taken(state, new) {
                    return err(format!("table `{new}` exists already"));
                }
                let mut t = state
                    .tables
                    .remove(old)
                    .ok_or_else(|| format!("there is no table `{old}` at this point"))?;
                t.table = new.clone();
                state.tables.insert(new.clone(), t);
                for t in state.tables.values_mut() {
                    for c in &mut t.columns {
                        if let Some(r) = &mut c.references
                            && &r.table == old
                        {
                            r.table = new.clone();
                        }
                    }
                    for l in &mut t.links {
                        if &l.target.table == old {
                            l.target.table = new.clone();
                        }
                    }
                }
            }
            Operation::AddField {
                table,
                column,
                fill: _,
            } => {
                let snapshot = state.clone();
                let t = table_mut(state, table)?;
                if t.column(&column.name).is_some() {
                    return err(format!("`{table}` has a column `{}` already", column.name));
                }
                if column.primary_key || column.auto {
                    return err(format!(
                        "`{table}.{}`: a primary key cannot be added to an existing table",
                        column.name
                    ));
                }
                check_column(&snapshot, table, column)?;
                t.columns.push(column.clone());
            }
            Operation::RemoveField { table, column } => {
                let t = table_mut(state, table)?;
                let Some(at) = t.columns.iter().position(|c| &c.name == column) else {
                    return err(format!("`{table}` has no column `{column}`"));
                };
                if t.columns[at].primary_key {
                    return err(format!(
                        "`{table}.{column}` is the primary key, which cannot be removed"
                    ));
                }
                if t.indexes.iter().any(|x| x.columns.contains(column)) {
                    return err(format!(
                        "`{table}.{column}` is in a composite index: remove the index first"
                    ));
                }
                t.columns.remove(at);
            }
            Operation::AlterField { table, column } => {
                let snapshot = state.clone();
                let t = table_mut(state, table)?;
                let Some(c) = t.columns.iter_mut().find(|c| c.name == column.name) else {
                    return err(format!("`{table}` has no column `{}`", column.name));
                };
                if c.primary_key != column.primary_key || c.auto != column.auto {
                    return err(format!(
                        "`{table}.{}`: migrations do not change which column is the primary key \
                         or whether it is auto-increment; create a new model and copy the rows \
                         with a data migration",
                        column.name
                    ));
                }
                check_column(&snapshot, table, column)?;
                *c = column.clone();
            }
            Operation::RenameField { table, old, new } => {
                let t = table_mut(state, table)?;
                if t.column(new).is_some() {
                    return err(format!("`{table}` has a column `{new}` already"));
                }
                let Some(c) = t.columns.iter_mut().find(|c| &c.name == old) else {
                    return err(format!("`{table}` has no column `{old}`"));
                };
                c.name = new.clone();
                for x in &mut t.indexes {
                    for col in &mut x.columns {
                        if col == old {
                            *col = new.clone();
                        }
                    }
                }
                for t in state.tables.values_mut() {
                    for c in &mut t.columns {
                        if let Some(r) = &mut c.references
                            && &r.table == table
                            && &r.column == old
                        {
                            r.column = new.clone();
                        }
                    }
                    for l in &mut t.links {
                        if &l.target.table == table && &l.target.column == old {
                            l.target.column = new.clone();
                        }
                    }
                }
            }
            Operation::AddIndex { table, index } => {
                let t = table_mut(state, table)?;
                check_index(t, index)?;
                if t.indexes.contains(index) {
                    return err(format!(
                        "`{table}` has this index already: ({})",
                        index.columns.join(", ")
                    ));
                }
                t.indexes.push(index.clone());
            }
            Operation::RemoveIndex { table, index } => {
                let t = table_mut(state, table)?;
                let Some(at) = t.indexes.iter().position(|x| x == index) else {
                    return err(format!(
                        "`{table}` has no such index: ({})",
                        index.columns.join(", ")
                    ));
                };
                t.indexes.remove(at);
            }
            Operation::AddLink { table, link } => {
                let owner = state
                    .table(table)
                    .ok_or_else(|| format!("there is no table `{table}` at this point"))?;
                if owner.links.iter().any(|l| l.field == link.field) {
                    return err(format!(
                        "`{table}` has a many-to-many field `{}` already",
                        link.field
                    ));
                }
                check_link(state, owner, link)?;
                table_mut(state, table)?.links.push(link.clone());
            }
            Operation::RemoveLink { table, field } => {
                let t = table_mut(state, table)?;
                let Some(at) = t.links.iter().position(|l| &l.field == field) else {
                    return err(format!("`{table}` has no many-to-many field `{field}`"));
                };
                t.links.remove(at);
            }
            Operation::AlterLink { table, field, link } => {
                let renamed_onto_another = state
                    .table(table)
                    .and_then(|t| t.links.iter().find(|l| &l.field == field))
                    .is_some_and(|l| l.table != link.table)
                    && table_name_taken(state, &link.table);
                if renamed_onto_another {
                    return err(format!("table `{}` exists already", link.table));
                }
                let t = table_mut(state, table)?;
                let Some(l) = t.links.iter_mut().find(|l| &l.field == field) else {
                    return err(format!("`{table}` has no many-to-many field `{field}`"));
                };
                if l.target != link.target {
                    return err(format!(
                        "many-to-many field `{table}.{field}` cannot change its target: \
                         remove it and add a new one"
                    ));
                }
                *l = link.clone();
            }
            Operation::RunSql { .. } | Operation::RunRust { .. } => {}
        }
        Ok(())
    }

    /// The operation that undoes this one, given the state before it ran. `Err` names
    /// why it cannot be undone (raw SQL or a Rust function without a reverse).
    pub fn inverse(&self, before: &ProjectState) -> std::result::Result<Operation, String> {
        let gone = |what: &str| format!("{what} is not in the state before this operation");
        Ok(match self {
            Operation::CreateModel { table, .. } => Operation::DeleteModel {
                table: table.clone(),
            },
            Operation::DeleteModel { table } => {
                let t = before.table(table).ok_or_else(|| gone(table))?;
                Operation::CreateModel {
                    table: t.table.clone(),
                    columns: t.columns.clone(),
                    indexes: t.indexes.clone(),
                    links: t.links.clone(),
                }
            }
            Operation::RenameModel { old, new } => Operation::RenameModel {
                old: new.clone(),
                new: old.clone(),
            },
            Operation::AddField { table, column, .. } => Operation::RemoveField {
                table: table.clone(),
                column: column.name.clone(),
            },
            Operation::RemoveField { table, column } => {
                let c = before
                    .table(table)
                    .and_then(|t| t.column(column))
                    .ok_or_else(|| gone(column))?;
                Operation::AddField {
                    table: table.clone(),
                    column: c.clone(),
                    fill: None,
                }
            }
            Operation::AlterField { table, column } => {
                let c = before
                    .table(table)
                    .and_then(|t| t.column(&column.name))
                    .ok_or_else(|| gone(&column.name))?;
                Operation::AlterField {
                    table: table.clone(),
                    column: c.clone(),
                }
            }
            Operation::RenameField { table, old, new } => Operation::RenameField {
                table: table.clone(),
                old: new.clone(),
                new: old.clone(),
            },
            Operation::AddIndex { table, index } => Operation::RemoveIndex {
                table: table.clone(),
                index: index.clone(),
            },
            Operation::RemoveIndex { table, index } => Operation::AddIndex {
                table: table.clone(),
                index: index.clone(),
            },
            Operation::AddLink { table, link } => Operation::RemoveLink {
                table: table.clone(),
                field: link.field.clone(),
            },
            Operation::RemoveLink { table, field } => {
                let l = before
                    .table(table)
                    .and_then(|t| t.links.iter().find(|l| &l.field == field))
                    .ok_or_else(|| gone(field))?;
                Operation::AddLink {
                    table: table.clone(),
                    link: l.clone(),
                }
            }
            Operation::AlterLink { table, field, .. } => {
                let l = before
                    .table(table)
                    .and_then(|t| t.links.iter().find(|l| &l.field == field))
                    .ok_or_else(|| gone(field))?;
                Operation::AlterLink {
                    table: table.clone(),
                    field: l.field.clone(),
                    link: l.clone(),
                }
            }
            Operation::RunSql { sql, reverse } => match reverse {
                Some(r) => Operation::RunSql {
                    sql: r.clone(),
                    reverse: Some(sql.clone()),
                },
                None => {
                    return err(
                        "its run_sql operation has no `reverse` (add `reverse = []` if \
                         nothing needs undoing)"
                            .to_owned(),
                    );
                }
            },
            Operation::RunRust { function, reverse } => match reverse {
                Some(r) => Operation::RunRust {
                    function: r.clone(),
                    reverse: Some(function.clone()),
                },
                None => {
                    return err(format!(
                        "its run_rust operation `{function}` has no `reverse` function"
                    ));
                }
            },
        })
    }

    /// What running the operation does on `dialect`, from state `before` to `after`
    /// (`after` is `before` with the operation applied).
    pub fn steps(
        &self,
        before: &ProjectState,
        after: &ProjectState,
        dialect: Dialect,
        options: &TableOptions,
    ) -> Vec<Step> {
        let (mut out, rest): (Vec<Step>, Vec<Step>) = self
            .statements(before, after, dialect, options)
            .into_iter()
            .partition(|s| matches!(s, Step::Check { .. }));
        out.extend(self.touches(before));
        out.extend(rest);
        out
    }

    /// What the operation changes (see [`Step::Touch`]).
    fn touches(&self, before: &ProjectState) -> Vec<Step> {
        let whole = |t: &str| Step::Touch {
            table: t.to_owned(),
            columns: None,
        };
        let cols = |t: &str, c: &[&String]| Step::Touch {
            table: t.to_owned(),
            columns: Some(c.iter().map(|s| (*s).clone()).collect()),
        };
        let link_table = |t: &str, field: &str| {
            before
                .table(t)
                .and_then(|x| x.links.iter().find(|l| l.field == field))
                .map(|l| whole(&l.table))
        };
        match self {
            Operation::CreateModel { table, links, .. } => {
                let mut v = vec![whole(table)];
                v.extend(links.iter().map(|l| whole(&l.table)));
                v
            }
            Operation::DeleteModel { table } => {
                let mut v = vec![whole(table)];
                if let Some(t) = before.table(table) {
                    v.extend(t.links.iter().map(|l| whole(&l.table)));
                }
                v
            }
            Operation::RenameModel { old, new } => vec![whole(old), whole(new)],
            Operation::AddField { table, column, .. } => vec![cols(table, &[&column.name])],
            Operation::AlterField { table, column } => vec![cols(table, &[&column.name])],
            Operation::RemoveField { table, column } => vec![cols(table, &[column])],
            Operation::RenameField { table, old, new } => vec![cols(table, &[old, new])],
            Operation::AddIndex { .. } | Operation::RemoveIndex { .. } => Vec::new(),
            Operation::AddLink { link, .. } => vec![whole(&link.table)],
            Operation::RemoveLink { table, field } => {
                link_table(table, field).into_iter().collect()
            }
            Operation::AlterLink { table, field, link } => {
                let mut v: Vec<Step> = link_table(table, field).into_iter().collect();
                v.push(whole(&link.table));
                v
            }
            Operation::RunSql { .. } | Operation::RunRust { .. } => Vec::new(),
        }
    }

    /// The checks and statements of [`Operation::steps`].
    fn statements(
        &self,
        before: &ProjectState,
        after: &ProjectState,
        dialect: Dialect,
        options: &TableOptions,
    ) -> Vec<Step> {
        let sql = |v: Vec<Statement>| v.into_iter().map(Step::Sql).collect::<Vec<_>>();
        match self {
            Operation::CreateModel { table, .. } => {
                let Some(t) = after.table(table) else {
                    return Vec::new();
                };
                sql(compiler::create_model_statements(t, dialect, options))
            }
            Operation::DeleteModel { table } => {
                let mut out = Vec::new();
                if let Some(t) = before.table(table) {
                    for link in &t.links {
                        out.push(compiler::drop_table(&link.table, dialect));
                    }
                }
                out.push(compiler::drop_table(table, dialect));
                sql(out)
            }
            Operation::RenameModel { old, new } => {
                let mut out = vec![compiler::rename_table(old, new, dialect)];
                if let (Some(f), Some(t)) = (before.table(old), after.table(new)) {
                    out.extend(compiler::alter_table_state(
                        f,
                        t,
                        &TableChange::default(),
                        dialect,
                        options,
                    ));
                }
                sql(out)
            }
            Operation::AddField {
                table,
                column,
                fill,
            } => {
                let mut change = TableChange::default();
                if let Some(fill) = fill {
                    change.fill.insert(column.name.clone(), fill.clone());
                }
                let mut out = Vec::new();
                if !column.null && column.default.is_none() && fill.is_none() {
                    out.push(Step::Check {
                        reads: vec![(table.clone(), None)],
                        count: count(dialect, table, None),
                        message: format!(
                            "`{table}` has {{n}} row(s), and the new column `{table}.{}` is NOT \
                             NULL without a default: give the field a default \
                             (`#[orm(default = …)]`), make it an `Option`, or add \
                             `fill = <value>` to this add_field operation (the value the \
                             existing rows get)",
                            column.name
                        ),
                    });
                }
                if column.is_unique() && !column.null {
                    let mut several = count(dialect, table, None);
                    several.sql.push_str(" HAVING COUNT(*) > 1");
                    out.push(Step::Check {
                        reads: vec![(table.clone(), None)],
                        count: several,
                        message: format!(
                            "`{table}` has {{n}} row(s), and the new column `{table}.{}` is \
                             unique and NOT NULL: every row would get the same value. Add it \
                             nullable (an `Option`), fill it, then make it unique and NOT NULL \
                             in a later migration",
                            column.name
                        ),
                    });
                }
                out.extend(sql(alter(before, after, table, &change, dialect, options)));
                out
            }
            Operation::AddIndex { table, index } => {
                let mut out = length_checks(before, after, table, dialect);
                if index.unique {
                    out.push(duplicates_check(table, &index.columns, dialect));
                }
                out.extend(sql(alter(
                    before,
                    after,
                    table,
                    &TableChange::default(),
                    dialect,
                    options,
                )));
                out
            }
            Operation::RemoveField { table, .. } | Operation::RemoveIndex { table, .. } => {
                sql(alter(
                    before,
                    after,
                    table,
                    &TableChange::default(),
                    dialect,
                    options,
                ))
            }
            Operation::AlterField { table, column } => {
                let mut out = Vec::new();
                if let Some(old) = before.table(table).and_then(|t| t.column(&column.name)) {
                    out.extend(alter_checks(table, old, column, dialect));
                }
                out.extend(length_checks(before, after, table, dialect));
                out.extend(sql(alter(
                    before,
                    after,
                    table,
                    &TableChange::default(),
                    dialect,
                    options,
                )));
                out
            }
            Operation::RenameField { table, old, new } => {
                let change = TableChange {
                    renames: vec![(old.clone(), new.clone())],
                    fill: BTreeMap::new(),
                };
                sql(alter(before, after, table, &change, dialect, options))
            }
            Operation::AddLink { table, link } => match after.table(table) {
                Some(t) => sql(compiler::create_link_table(
                    t, link, false, dialect, options,
                )),
                None => Vec::new(),
            },
            Operation::RemoveLink { table, field } => {
                let link = before
                    .table(table)
                    .and_then(|t| t.links.iter().find(|l| &l.field == field));
                match link {
                    Some(l) => sql(vec![compiler::drop_table(&l.table, dialect)]),
                    None => Vec::new(),
                }
            }
            Operation::AlterLink { table, field, link } => {
                let old = before
                    .table(table)
                    .and_then(|t| t.links.iter().find(|l| &l.field == field));
                match old {
                    Some(old) => sql(compiler::rename_link(old, link, dialect)),
                    None => Vec::new(),
                }
            }
            Operation::RunSql { sql: text, .. } => text
                .statements(dialect)
                .into_iter()
                .map(|s| Step::Raw(Statement::new(s, Vec::new())))
                .collect(),
            Operation::RunRust { function, .. } => vec![Step::Rust(function.clone())],
        }
    }
}

fn alter(
    before: &ProjectState,
    after: &ProjectState,
    table: &str,
    change: &TableChange,
    dialect: Dialect,
    options: &TableOptions,
) -> Vec<Statement> {
    match (before.table(table), after.table(table)) {
        (Some(f), Some(t)) => compiler::alter_table_state(f, t, change, dialect, options),
        _ => Vec::new(),
    }
}

/// `SELECT COUNT(*) FROM table [WHERE …]`.
fn count(dialect: Dialect, table: &str, condition: Option<String>) -> Statement {
    let mut sql = String::from("SELECT COUNT(*) FROM ");
    dialect.quote_into(&mut sql, table);
    if let Some(c) = condition {
        sql.push_str(" WHERE ");
        sql.push_str(&c);
    }
    Statement::new(sql, Vec::new())
}

/// The checks an `alter_field` runs first: rows whose values the new definition would
/// refuse or change.
fn alter_checks(table: &str, old: &ColumnState, new: &ColumnState, dialect: Dialect) -> Vec<Step> {
    let mut out = Vec::new();
    let mut col = String::new();
    dialect.quote_into(&mut col, &new.name);
    let name = format!("{table}.{}", new.name);
    if old.ty != new.ty && !widening(old.ty, new.ty) {
        out.push(Step::Check {
            reads: vec![(table.to_owned(), Some(new.name.clone()))],
            count: count(dialect, table, Some(format!("{col} IS NOT NULL"))),
            message: format!(
                "`{name}` changes type from {:?} to {:?}, which not every value converts to, \
                 and {{n}} row(s) have a value: add a new field of the new type, copy the \
                 values with a run_sql or run_rust migration, then remove the old field",
                old.ty, new.ty
            ),
        });
    } else if old.ty == new.ty && old.ty == SqlType::Decimal && fewer_digits(old, new) {
        out.push(Step::Check {
            reads: vec![(table.to_owned(), Some(new.name.clone()))],
            count: count(dialect, table, Some(format!("{col} IS NOT NULL"))),
            message: format!(
                "`{name}` gets fewer digits, which the database would round, and {{n}} row(s) \
                 have a value: round them yourself first (a run_sql or run_rust migration), \
                 or keep the digits"
            ),
        });
    }
    if old.null && !new.null && new.default.is_none() {
        out.push(Step::Check {
            reads: vec![(table.to_owned(), Some(new.name.clone()))],
            count: count(dialect, table, Some(format!("{col} IS NULL"))),
            message: format!(
                "`{name}` becomes NOT NULL, and {{n}} row(s) hold NULL: give the field a \
                 default (`#[orm(default = …)]`, which those rows then get), or fill them \
                 first with a run_sql or run_rust migration"
            ),
        });
    }
    if !old.is_unique() && new.is_unique() {
        out.push(duplicates_check(
            table,
            std::slice::from_ref(&new.name),
            dialect,
        ));
    }
    if let Some(r) = &new.references
        && old.references.as_ref() != Some(r)
    {
        let mut target = String::new();
        dialect.quote_into(&mut target, &r.table);
        let mut key = String::new();
        dialect.quote_into(&mut key, &r.column);
        out.push(Step::Check {
            reads: vec![
                (table.to_owned(), Some(new.name.clone())),
                (r.table.clone(), Some(r.column.clone())),
            ],
            count: count(
                dialect,
                table,
                Some(format!(
                    "{col} IS NOT NULL AND {col} NOT IN (SELECT {key} FROM {target})"
                )),
            ),
            message: format!(
                "`{name}` becomes a key to `{}`, and {{n}} row(s) hold a value no row of \
                 `{}` has: correct or clear them first (a run_sql or run_rust migration)",
                r.table, r.table
            ),
        });
    }
    out
}

/// Rows that would break a new UNIQUE on `columns` (rows with a NULL in them never do).
fn duplicates_check(table: &str, columns: &[String], dialect: Dialect) -> Step {
    let quoted: Vec<String> = columns
        .iter()
        .map(|c| {
            let mut q = String::new();
            dialect.quote_into(&mut q, c);
            q
        })
        .collect();
    let list = quoted.join(", ");
    let not_null = quoted
        .iter()
        .map(|q| format!("{q} IS NOT NULL"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let mut sql = format!("SELECT COUNT(*) FROM (SELECT {list} FROM ");
    dialect.quote_into(&mut sql, table);
    sql.push_str(&format!(
        " WHERE {not_null} GROUP BY {list} HAVING COUNT(*) > 1) dup"
    ));
    Step::Check {
        reads: columns
            .iter()
            .map(|c| (table.to_owned(), Some(c.clone())))
            .collect(),
        count: Statement::new(sql, Vec::new()),
        message: format!(
            "`{table}` ({}) becomes unique, and {{n}} value(s) appear in more than one row: \
             make them unique first (a run_sql or run_rust migration)",
            columns.join(", ")
        ),
    }
}

/// `VARCHAR(n)` in a column type: the characters it holds.
fn varchar_length(ty: &str) -> Option<u32> {
    ty.strip_prefix("VARCHAR(")?.strip_suffix(')')?.parse().ok()
}

/// Rows too long for a column whose type becomes bounded: a new or shorter `max_length`,
/// or on MySQL a text column that becomes `VARCHAR(255)` by being indexed, unique or a
/// key. The database would refuse them (or cut them short), after earlier statements of
/// the migration were sent.
fn length_checks(
    before: &ProjectState,
    after: &ProjectState,
    table: &str,
    dialect: Dialect,
) -> Vec<Step> {
    let (Some(f), Some(t)) = (before.table(table), after.table(table)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for c in &t.columns {
        let Some(old) = f.column(&c.name) else {
            continue;
        };
        let Some(n) = varchar_length(&compiler::column_type(t, c, dialect)) else {
            continue;
        };
        if varchar_length(&compiler::column_type(f, old, dialect)).is_some_and(|m| m <= n) {
            continue;
        }
        let mut col = String::new();
        dialect.quote_into(&mut col, &c.name);
        let length = if dialect == Dialect::Mysql {
            "CHAR_LENGTH"
        } else {
            "LENGTH"
        };
        out.push(Step::Check {
            reads: vec![(table.to_owned(), Some(c.name.clone()))],
            count: count(dialect, table, Some(format!("{length}({col}) > {n}"))),
            message: format!(
                "`{table}.{}` holds at most {n} characters after this change (max_length = \
                 {n}; on MySQL an indexed, unique or key text column is VARCHAR(255)), and \
                 {{n}} row(s) are longer: shorten them first (a run_sql or run_rust \
                 migration), or allow the length",
                c.name
            ),
        });
    }
    out
}

/// Whether a decimal column's new precision could not hold a value the old one could:
/// fewer places after the point, fewer before it, or a limit where there was none.
fn fewer_digits(old: &ColumnState, new: &ColumnState) -> bool {
    match (
        old.max_digits.zip(old.decimal_places),
        new.max_digits.zip(new.decimal_places),
    ) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some((p, s)), Some((np, ns))) => ns < s || np.saturating_sub(ns) < p.saturating_sub(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::state::Reference;

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
    fn a_join_table_is_not_renamed_onto_a_table_in_use() {
        let mut state = ProjectState::default();
        let link = LinkState {
            field: "tags".into(),
            table: "posts_tags".into(),
            parent_column: "post_id".into(),
            target_column: "tag_id".into(),
            target: Reference {
                table: "tags".into(),
                column: "id".into(),
            },
            target_type: SqlType::I64,
        };
        for t in ["posts", "tags"] {
            state.tables.insert(t.into(), table(t));
        }
        Operation::AddLink {
            table: "posts".into(),
            link: link.clone(),
        }
        .apply(&mut state)
        .unwrap();
        let onto = |name: &str| Operation::AlterLink {
            table: "posts".into(),
            field: "tags".into(),
            link: LinkState {
                table: name.into(),
                ..link.clone()
            },
        };
        let e = onto("tags").apply(&mut state.clone()).unwrap_err();
        assert!(e.contains("`tags` exists already"), "{e}");
        // The same model's table as a join table, or a new name: the latter goes.
        assert!(onto("posts").apply(&mut state.clone()).is_err());
        onto("posts_labels").apply(&mut state).unwrap();
        assert_eq!(state.tables["posts"].links[0].table, "posts_labels");
    }
}
