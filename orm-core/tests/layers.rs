//! The layering of `orm-core/src` (see ARCHITECTURE.md): a file of a lower layer never
//! names a module of a higher one, neither by its layered path (`crate::eval::…`) nor by
//! the flat alias kept for the public API (`crate::queryset::…`).
//!
//! Layers, lowest first: `error.rs` (0), `schema/` (1), `dsl/` (2), `sql/` (3),
//! `migrate/` (4), `eval/` (5).
//! `lib.rs` sits above all of them: it only re-exports.

use std::fs;
use std::path::{Path, PathBuf};

/// The layer folders, lowest first; a file may use its own layer and those below.
const LAYERS: &[&str] = &["schema", "dsl", "sql", "migrate", "eval"];

/// The flat module names re-exported from `lib.rs`, and the layer each lives in.
const ALIASES: &[(&str, &str)] = &[
    ("model", "schema"),
    ("registry", "schema"),
    ("row", "schema"),
    ("value", "schema"),
    ("expr", "dsl"),
    ("field", "dsl"),
    ("ordering", "dsl"),
    ("projection", "dsl"),
    ("q", "dsl"),
    ("query", "dsl"),
    ("select_related", "dsl"),
    ("update", "dsl"),
    ("compiler", "sql"),
    ("dialect", "sql"),
    ("join", "sql"),
    ("deletion", "eval"),
    // Both halves: metadata in `schema::relation`, field types in `eval::related`.
    ("relation", "eval"),
    ("executor", "eval"),
    ("prefetch", "eval"),
    ("queryset", "eval"),
];

/// Upward edges kept on purpose, each with the reason (also listed in ARCHITECTURE.md):
/// (file under `src/`, the path it names).
///
/// They are all signatures of public traits or of what generated code fills in; cutting
/// them would change the public API (see ARCHITECTURE.md, "Allowed exceptions").
const ALLOWED: &[(&str, &str)] = &[
    // `Model::objects()` is a provided method returning `QuerySet<Self>`: as an extension
    // trait, `Book::objects()` would need a second import.
    ("schema/model.rs", "crate::eval::queryset::QuerySet"),
    // `Model::FieldsAt<R, K: PathKind>` and `Model::fields_at(RelPath)`: the typed field
    // handles are part of the trait generated code implements.
    ("schema/model.rs", "crate::dsl::expr::RelPath"),
    ("schema/model.rs", "crate::dsl::field::PathKind"),
    // `FromRow::load_selected(&[SelectNode], ..)` and `FromRow::prefetch_rows(&mut [Self],
    // &[PrefetchNode], &mut dyn RowSource)`: the hooks decoding and prefetching go through.
    (
        "schema/row.rs",
        "crate::dsl::prefetch_related::PrefetchNode",
    ),
    ("schema/row.rs", "crate::dsl::select_related::SelectNode"),
    ("schema/row.rs", "crate::eval::executor::RowSource"),
    // `RelationSlot` (what `Model::relation_mut` returns) and `RelationMeta::fetch`
    // (a `FetchFn` generated code fills in) take the same types.
    (
        "schema/relation.rs",
        "crate::dsl::prefetch_related::PrefetchNode",
    ),
    (
        "schema/relation.rs",
        "crate::dsl::select_related::SelectNode",
    ),
    ("schema/relation.rs", "crate::eval::executor::RowSource"),
    ("schema/relation.rs", "crate::eval::prefetch::Fetched"),
];

/// The rank of a layer folder: 1 for `schema` up to 4 for `eval` (0 is `error.rs`).
fn layer_of(name: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == name).map(|i| i + 1)
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every upward reference in `text`, a file of layer `own`: the path named and the line.
fn upward(text: &str, own: usize) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let layer = layer_of(&name).or_else(|| {
                ALIASES
                    .iter()
                    .find(|(alias, _)| *alias == name)
                    .and_then(|(_, l)| layer_of(l))
            });
            if layer.is_some_and(|l| l > own) {
                let path: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                found.push((format!("crate::{}", path.trim_end_matches(':')), n + 1));
            }
        }
        // `use crate::{a, b}` and `use super::super::x` are not used in this crate;
        // refuse them so the check cannot be walked around.
        if code.contains("crate::{") || code.contains("super::super") {
            found.push((code.trim().to_owned(), n + 1));
        }
    }
    found
}

#[test]
fn no_lower_layer_imports_a_higher_one() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    let mut bad = Vec::new();
    let mut allowed_seen = vec![false; ALLOWED.len()];
    for file in &files {
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let own = match rel.split_once('/') {
            Some((dir, _)) => {
                layer_of(dir).unwrap_or_else(|| panic!("{rel}: not in a layer folder"))
            }
            None if rel == "lib.rs" => continue,
            None if rel == "error.rs" => 0,
            None => panic!("{rel}: a new file at the root of src/ belongs in a layer folder"),
        };
        let text = fs::read_to_string(file).unwrap();
        for (path, line) in upward(&text, own) {
            if let Some(i) = ALLOWED
                .iter()
                .position(|(f, p)| *f == rel && path.starts_with(p))
            {
                allowed_seen[i] = true;
                continue;
            }
            bad.push(format!("src/{rel}:{line}: names {path}"));
        }
    }
    assert!(
        bad.is_empty(),
        "a lower layer names a higher one (layers, lowest first: error, {}):\n{}",
        LAYERS.join(", "),
        bad.join("\n")
    );
    let stale: Vec<_> = ALLOWED
        .iter()
        .zip(&allowed_seen)
        .filter(|(_, seen)| !**seen)
        .map(|((f, p), _)| format!("{f} -> {p}"))
        .collect();
    assert!(
        stale.is_empty(),
        "allowed exceptions no longer needed, remove them: {stale:?}"
    );
}
