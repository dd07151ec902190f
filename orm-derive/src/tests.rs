//! Unit tests: the derive run on source text, its errors checked with the exact source
//! they point at, its output compared token for token.

mod attributes;
mod expansion;
mod relations;
mod rules;

use proc_macro2::TokenStream;

use crate::expand::{Expansion, expand};

/// Runs the derive on `source` (the item, as text, so that spans have locations).
fn run(source: &str) -> Expansion {
    let tokens: TokenStream = match source.parse() {
        Ok(tokens) => tokens,
        Err(error) => panic!("test input does not lex: {error}"),
    };
    expand(tokens)
}

/// Every error as `(message, the source text it points at)`, in report order.
fn errors(source: &str) -> Vec<(String, String)> {
    let Some(errors) = run(source).errors else {
        return Vec::new();
    };
    errors
        .into_iter()
        .map(|error| {
            let span = error.span();
            (error.to_string(), text_at(source, span.start(), span.end()))
        })
        .collect()
}

/// The single error of `source`.
fn error(source: &str) -> (String, String) {
    let mut all = errors(source);
    assert_eq!(all.len(), 1, "expected exactly one error, got {all:#?}");
    all.remove(0)
}

/// The generated code of an input that must have no errors.
fn code(source: &str) -> String {
    let expansion = run(source);
    if let Some(errors) = expansion.errors {
        panic!(
            "unexpected errors: {:?}",
            errors
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
        );
    }
    expansion.code.to_string()
}

fn text_at(source: &str, start: proc_macro2::LineColumn, end: proc_macro2::LineColumn) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let mut out = String::new();
    for line in start.line..=end.line {
        let chars: Vec<char> = lines[line - 1].chars().collect();
        let from = if line == start.line { start.column } else { 0 };
        let to = if line == end.line {
            end.column
        } else {
            chars.len()
        };
        if line != start.line {
            out.push('\n');
        }
        out.extend(&chars[from..to]);
    }
    out
}
