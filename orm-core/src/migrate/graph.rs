//! Migration files: reading a folder of them, checking that they form one chain (every
//! dependency present, no cycle, one leaf), the order they apply in, the state each
//! leads to, and writing a new one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::migrate::operation::Operation;
use crate::schema::state::ProjectState;

/// The contents of one migration file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationFile {
    /// The migrations that must be applied before this one (by name: the file name
    /// without `.toml`).
    #[serde(default)]
    pub dependencies: Vec<String>,
    #[serde(default)]
    pub operations: Vec<Operation>,
}

/// One migration: its name (`0002_posts_subtitle`), where it was read from, and what it
/// holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Migration {
    pub name: String,
    pub path: PathBuf,
    pub file: MigrationFile,
}

/// Every migration of a folder, checked to form one history.
#[derive(Clone, Debug, Default)]
pub struct MigrationGraph {
    /// The folder.
    pub dir: PathBuf,
    /// In the order they apply (dependencies first; ties by name).
    pub ordered: Vec<Migration>,
}

fn fail<T>(msg: String) -> Result<T> {
    Err(Error::Migration(msg))
}

impl MigrationGraph {
    /// Read every `*.toml` file of `dir` (a folder that does not exist holds no
    /// migrations). Refuses a file that does not parse, a dependency that is not there,
    /// a cycle, and an operation that contradicts the ones before it.
    pub fn load(dir: &Path) -> Result<MigrationGraph> {
        let mut found = Vec::new();
        if dir.exists() {
            let entries = std::fs::read_dir(dir).map_err(|e| {
                Error::Migration(format!(
                    "cannot read migrations folder {}: {e}",
                    dir.display()
                ))
            })?;
            for entry in entries {
                let path = entry
                    .map_err(|e| Error::Migration(format!("cannot read {}: {e}", dir.display())))?
                    .path();
                if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                    continue;
                }
                let name = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_owned();
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    Error::Migration(format!("cannot read {}: {e}", path.display()))
                })?;
                let file: MigrationFile = toml::from_str(&text).map_err(|e| {
                    Error::Migration(format!(
                        "{} is not a valid migration file: {e}\nFix the file (or restore it \
                         from version control).",
                        path.display()
                    ))
                })?;
                found.push(Migration { name, path, file });
            }
        }
        Self::from_migrations(dir, found)
    }

    /// The graph of migrations already read.
    pub fn from_migrations(dir: &Path, mut found: Vec<Migration>) -> Result<MigrationGraph> {
        found.sort_by(|a, b| a.name.cmp(&b.name));
        let names: BTreeSet<&str> = found.iter().map(|m| m.name.as_str()).collect();
        for m in &found {
            for d in &m.file.dependencies {
                if !names.contains(d.as_str()) {
                    return fail(format!(
                        "migration {} depends on `{d}`, which is not in {}: restore that file, \
                         or correct the dependency",
                        m.path.display(),
                        dir.display()
                    ));
                }
            }
        }
        // Kahn's algorithm, smallest name first: a stable order.
        let mut remaining: BTreeMap<String, Migration> =
            found.into_iter().map(|m| (m.name.clone(), m)).collect();
        let mut done: BTreeSet<String> = BTreeSet::new();
        let mut ordered = Vec::new();
        while !remaining.is_empty() {
            let next = remaining
                .values()
                .find(|m| m.file.dependencies.iter().all(|d| done.contains(d)))
                .map(|m| m.name.clone());
            let Some(next) = next else {
                let stuck: Vec<&str> = remaining.keys().map(String::as_str).collect();
                return fail(format!(
                    "migrations {} depend on each other in a cycle: correct their \
                     `dependencies`",
                    stuck.join(", ")
                ));
            };
            let m = remaining.remove(&next).expect("found above");
            done.insert(next);
            ordered.push(m);
        }
        let graph = MigrationGraph {
            dir: dir.to_owned(),
            ordered,
        };
        graph.state_after(graph.ordered.len())?;
        Ok(graph)
    }

    /// The migrations nothing depends on. More than one means two branches of history
    /// that a merge migration must join.
    pub fn leaves(&self) -> Vec<&str> {
        let depended: BTreeSet<&str> = self
            .ordered
            .iter()
            .flat_map(|m| m.file.dependencies.iter().map(String::as_str))
            .collect();
        self.ordered
            .iter()
            .map(|m| m.name.as_str())
            .filter(|n| !depended.contains(n))
            .collect()
    }

    /// Refuse two leaves, saying how to merge them.
    pub fn check_single_leaf(&self) -> Result<()> {
        let leaves = self.leaves();
        if leaves.len() > 1 {
            return fail(format!(
                "conflicting migrations: {} are each the latest of a branch in {}. \
                 Run `makemigrations --merge` to add a migration that depends on both \
                 (check first that their operations do not contradict each other)",
                leaves.join(" and "),
                self.dir.display()
            ));
        }
        Ok(())
    }

    /// The migration called `name`.
    pub fn get(&self, name: &str) -> Option<&Migration> {
        self.ordered.iter().find(|m| m.name == name)
    }

    /// The state after the first `n` migrations (in apply order).
    pub fn state_after(&self, n: usize) -> Result<ProjectState> {
        let mut state = ProjectState::default();
        for m in &self.ordered[..n.min(self.ordered.len())] {
            apply_migration(&mut state, m)?;
        }
        Ok(state)
    }

    /// The state the migrations `applied` lead to, applied in graph order.
    pub fn state_of(&self, applied: &BTreeSet<String>) -> Result<ProjectState> {
        let mut state = ProjectState::default();
        for m in self.ordered.iter().filter(|m| applied.contains(&m.name)) {
            apply_migration(&mut state, m)?;
        }
        Ok(state)
    }

    /// `name` and every migration it depends on, directly or not.
    pub fn ancestors(&self, name: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut stack = vec![name.to_owned()];
        while let Some(n) = stack.pop() {
            if !out.insert(n.clone()) {
                continue;
            }
            if let Some(m) = self.get(&n) {
                stack.extend(m.file.dependencies.iter().cloned());
            }
        }
        out
    }

    /// The number the next migration gets: one past the highest leading number.
    pub fn next_number(&self) -> u32 {
        self.ordered
            .iter()
            .filter_map(|m| {
                let digits: String = m.name.chars().take_while(char::is_ascii_digit).collect();
                digits.parse::<u32>().ok()
            })
            .max()
            .map_or(1, |n| n + 1)
    }
}

/// Apply one migration's operations to `state`, naming the file and the operation when
/// one contradicts the state.
pub fn apply_migration(state: &mut ProjectState, m: &Migration) -> Result<()> {
    for (i, op) in m.file.operations.iter().enumerate() {
        op.apply(state).map_err(|why| {
            Error::Migration(format!(
                "{}, operation {} ({}): {why}. Fix the file (or restore it from version \
                 control).",
                m.path.display(),
                i + 1,
                op.describe()
            ))
        })?;
    }
    Ok(())
}

/// The text of a migration file: a comment saying how it was made, the dependencies,
/// then one `[[operations]]` table per operation, its values written inline (a column on
/// one line) so that a review reads one operation as one block.
pub fn render(file: &MigrationFile, comment: &str) -> Result<String> {
    let mut out = String::new();
    for line in comment.lines() {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out.push_str("dependencies = ");
    let deps = toml::Value::Array(
        file.dependencies
            .iter()
            .map(|d| toml::Value::String(d.clone()))
            .collect(),
    );
    inline(&mut out, &deps, 0);
    out.push('\n');
    if file.operations.is_empty() {
        out.push_str(
            "\n# No operations: add [[operations]] tables (op = \"run_sql\" or \"run_rust\").\n",
        );
    }
    for op in &file.operations {
        let value = toml::Value::try_from(op)
            .map_err(|e| Error::Migration(format!("cannot write the migration file: {e}")))?;
        out.push_str("\n[[operations]]\n");
        if let toml::Value::Table(table) = value {
            for (k, v) in &table {
                key(&mut out, k);
                out.push_str(" = ");
                inline(&mut out, v, 0);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

fn key(out: &mut String, k: &str) {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        out.push_str(k);
    } else {
        out.push_str(&toml::Value::String(k.to_owned()).to_string());
    }
}

/// A value written inline; an array of tables one table per line.
fn inline(out: &mut String, v: &toml::Value, depth: usize) {
    match v {
        toml::Value::Array(items) if items.iter().any(toml::Value::is_table) && depth == 0 => {
            out.push_str("[\n");
            for item in items {
                out.push_str("    ");
                inline(out, item, depth + 1);
                out.push_str(",\n");
            }
            out.push(']');
        }
        toml::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                inline(out, item, depth + 1);
            }
            out.push(']');
        }
        toml::Value::Table(t) => {
            out.push_str("{ ");
            for (i, (k, item)) in t.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                key(out, k);
                out.push_str(" = ");
                inline(out, item, depth + 1);
            }
            out.push_str(" }");
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_file_reads_back_the_same() {
        let text = r#"
dependencies = ["0001_initial"]

[[operations]]
op = "create_model"
table = "t"
columns = [{ name = "id", type = "i64", primary_key = true, auto = true }, { name = "x", type = "text", default = "it's \"q\"", references = { table = "u", column = "id" } }]

[[operations]]
op = "run_sql"
sql = { sqlite = "SELECT 1", postgres = ["SELECT 1", "SELECT 2"] }
reverse = []
"#;
        let file: MigrationFile = toml::from_str(text).unwrap();
        let rendered = render(&file, "made\nby hand").unwrap();
        assert!(rendered.starts_with("# made\n# by hand\n"), "{rendered}");
        assert!(
            rendered.contains("columns = [\n    { name = \"id\", type = \"i64\""),
            "{rendered}"
        );
        let back: MigrationFile = toml::from_str(&rendered).unwrap();
        assert_eq!(back, file);
    }
}
