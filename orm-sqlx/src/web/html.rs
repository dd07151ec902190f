//! The panel's pages: server-rendered HTML, inline CSS, no script, nothing loaded from
//! elsewhere. Every piece of text that comes from a request or a statement (paths, SQL,
//! values, methods) goes through [`escape`] before it is written; the markup around it
//! is fixed text.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Settings;
use super::panel::{Panel, Record};
use crate::query_log::CapturedQuery;
use orm_core::eval::observe::LoadKind;

/// `text` with `&`, `<`, `>`, `"` and `'` replaced by their entities: safe as element
/// content and inside a quoted attribute.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// The SQL keywords [`highlight`] marks, upper case, sorted (for a binary search).
const KEYWORDS: &[&str] = &[
    "ALL",
    "AND",
    "AS",
    "ASC",
    "BEGIN",
    "BETWEEN",
    "BY",
    "CASE",
    "COMMIT",
    "CONFLICT",
    "CREATE",
    "CROSS",
    "DEFAULT",
    "DELETE",
    "DESC",
    "DISTINCT",
    "DO",
    "DROP",
    "DUPLICATE",
    "ELSE",
    "END",
    "ESCAPE",
    "EXCEPT",
    "EXISTS",
    "FOR",
    "FROM",
    "FULL",
    "GROUP",
    "HAVING",
    "IN",
    "INNER",
    "INSERT",
    "INTERSECT",
    "INTO",
    "IS",
    "JOIN",
    "KEY",
    "LEFT",
    "LIKE",
    "LIMIT",
    "NOT",
    "NOTHING",
    "NULL",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "RELEASE",
    "RETURNING",
    "RIGHT",
    "ROLLBACK",
    "SAVEPOINT",
    "SELECT",
    "SET",
    "START",
    "TABLE",
    "THEN",
    "TO",
    "TRANSACTION",
    "UNION",
    "UPDATE",
    "VALUES",
    "WHEN",
    "WHERE",
    "WITH",
];

fn is_keyword(word: &str) -> bool {
    word.len() <= 11 && KEYWORDS.binary_search(&&*word.to_ascii_uppercase()).is_ok()
}

/// `sql` as HTML: every token escaped, then the keywords among the bare words wrapped in
/// `<span class="kw">`. Quoted text (string literals, quoted identifiers such as
/// `"order"`) is one token and never marked.
pub(super) fn highlight(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + sql.len() / 2);
    let mut rest = sql;
    while let Some(c) = rest.chars().next() {
        let (len, word) = if c.is_ascii_alphanumeric() || c == '_' {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            (len, true)
        } else if matches!(c, '\'' | '"' | '`') {
            // To the closing quote (a doubled one ends this token and starts the next).
            let len = rest[1..].find(c).map_or(rest.len(), |end| end + 2);
            (len, false)
        } else {
            (c.len_utf8(), false)
        };
        let (token, after) = rest.split_at(len);
        let escaped = escape(token);
        if word && is_keyword(token) {
            out.push_str("<span class=\"kw\">");
            out.push_str(&escaped);
            out.push_str("</span>");
        } else {
            out.push_str(&escaped);
        }
        rest = after;
    }
    out
}

/// A duration in milliseconds, for the panel.
fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// `t` in UTC, to the millisecond: `2026-12-01 06:14:33.123 UTC`.
pub(super) fn utc(t: SystemTime) -> String {
    let Ok(since) = t.duration_since(UNIX_EPOCH) else {
        return "before 1970".into();
    };
    let secs = since.as_secs();
    let (days, day_secs) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 (never negative here).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03} UTC",
        day_secs / 3600,
        day_secs / 60 % 60,
        day_secs % 60,
        since.subsec_millis()
    )
}

/// A bound value as SQL would write it (text quoted, long values cut), not yet escaped.
fn value(v: &orm_core::Value) -> String {
    use orm_core::Value;
    const LONGEST: usize = 200;
    match v {
        Value::Null(_) => "NULL".into(),
        Value::Bool(b) => b.to_string(),
        Value::I16(n) => n.to_string(),
        Value::I32(n) => n.to_string(),
        Value::I64(n) => n.to_string(),
        Value::F32(x) => format!("{x:?}"),
        Value::F64(x) => format!("{x:?}"),
        Value::Text(s) => {
            let mut cut: String = s.chars().take(LONGEST).collect();
            if cut.len() < s.len() {
                cut.push('…');
            }
            format!("'{}'", cut.replace('\'', "''"))
        }
        Value::Bytes(b) => {
            let mut hex: String = b.iter().take(LONGEST / 2).fold(String::new(), |mut s, x| {
                let _ = write!(s, "{x:02x}");
                s
            });
            if b.len() > LONGEST / 2 {
                let _ = write!(hex, "… ({} bytes)", b.len());
            }
            format!("x'{hex}'")
        }
        Value::List(_, items) => {
            let items: Vec<String> = items.iter().map(value).collect();
            format!("[{}]", items.join(", "))
        }
        other => format!("{other:?}"),
    }
}

const STYLE: &str = "\
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}\
h1{font-size:1.3em}h2{font-size:1.1em}\
a{color:#0645ad}\
table{border-collapse:collapse;width:100%}\
th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#f4f4f4}\
td.num,th.num{text-align:right;white-space:nowrap}\
code,pre{font:13px/1.4 ui-monospace,monospace}\
pre.sql{margin:0;white-space:pre-wrap;word-break:break-word}\
.kw{color:#a0309b;font-weight:600}\
.params,.loads{color:#555;margin-top:4px}\
.mark{display:inline-block;border-radius:3px;padding:0 5px;margin:1px;font-size:12px;white-space:nowrap}\
.mark.duplicate{background:#fde2e1;color:#8a1c16}\
.cache.hit{color:#1b5e20;font-weight:600}.cache.miss{color:#8a5a00}\
.mark.similar{background:#fff1c2;color:#6b5200}\
.mark.n-plus-one{background:#f6d5f7;color:#6a1b6e}\
.mark.unnecessary{background:#e0ecff;color:#1d3f7a}\
.mark.findings{background:#fde2e1;color:#8a1c16}\
tr.query.duplicate,tr.query.n-plus-one{background:#fff7f6}\
dl#summary{display:grid;grid-template-columns:max-content auto;gap:2px 12px}\
dl#summary dt{font-weight:600}dl#summary dd{margin:0}\
li.finding{margin-bottom:6px}code.fix{white-space:nowrap}\
.none{color:#666}";

/// A whole page around `body`.
fn page(title: &str, panel: &Panel, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"robots\" content=\"noindex\">\
         <title>{title} · orm_sqlx</title><style>{STYLE}</style></head>\
         <body><nav><a id=\"home\" href=\"{home}\">Recent requests</a></nav>\n{body}</body></html>\n",
        title = escape(title),
        home = escape(panel.path()),
    )
}

/// The kinds of finding a record has, for the list's mark: `duplicates, similar`.
fn finding_kinds(record: &Record) -> Vec<&'static str> {
    let f = &record.findings;
    let mut kinds = Vec::new();
    if !f.n_plus_one.is_empty() {
        kinds.push("N+1");
    }
    if !f.unnecessary.is_empty() {
        kinds.push("unnecessary loads");
    }
    if !f.duplicates.is_empty() {
        kinds.push("duplicates");
    }
    if !f.similar.is_empty() {
        kinds.push("similar");
    }
    kinds
}

/// `GET <path>`: the requests kept, newest first.
pub(super) fn list(
    panel: &Panel,
    records: &[std::sync::Arc<Record>],
    settings: &Settings,
) -> String {
    let mut body = String::from("<h1>Recent requests</h1>\n");
    let _ = writeln!(
        body,
        "<p id=\"kept\">The last {} requests are kept; this list shows {}.</p>",
        settings.keep,
        records.len()
    );
    #[cfg(feature = "cache")]
    if let Some(cache) = &settings.cache {
        cache_counters(&mut body, &cache.stats());
    }
    if records.is_empty() {
        body.push_str("<p id=\"empty\" class=\"none\">No request recorded yet.</p>\n");
        return page("Recent requests", panel, &body);
    }
    body.push_str(
        "<table id=\"requests\"><thead><tr><th class=\"num\">#</th><th>Method</th>\
         <th>Path</th><th class=\"num\">Status</th><th class=\"num\">Queries</th>\
         <th class=\"num\">DB time</th><th class=\"num\">Total time</th><th>Findings</th>\
         </tr></thead><tbody>\n",
    );
    for r in records {
        let href = escape(&panel.link(r.id));
        let kinds = finding_kinds(r);
        let mark = if kinds.is_empty() {
            String::new()
        } else {
            format!("<span class=\"mark findings\">{}</span>", kinds.join(", "))
        };
        let _ = writeln!(
            body,
            "<tr class=\"request\" id=\"request-{id}\"><td class=\"num id\"><a href=\"{href}\">{id}</a></td>\
             <td class=\"method\">{method}</td><td class=\"path\"><a href=\"{href}\">{target}</a></td>\
             <td class=\"num status\">{status}</td><td class=\"num queries\">{n}</td>\
             <td class=\"num db-time\">{db}</td><td class=\"num total-time\">{total}</td>\
             <td class=\"findings\">{mark}</td></tr>",
            id = r.id,
            method = escape(&r.method),
            target = escape(&r.target),
            status = r.status,
            n = r.queries.iter().filter(|q| q.reached_database()).count(),
            db = ms(r.db),
            total = ms(r.total),
        );
    }
    body.push_str("</tbody></table>\n");
    page("Recent requests", panel, &body)
}

/// The query cache's counters per table, under its prefix.
#[cfg(feature = "cache")]
fn cache_counters(body: &mut String, stats: &crate::cache::CacheStats) {
    let _ = writeln!(
        body,
        "<section id=\"query-cache\"><h2>Query cache</h2><p>Key prefix: \
         <code id=\"cache-prefix\">{}</code></p>",
        escape(if stats.prefix.is_empty() {
            "(none)"
        } else {
            &stats.prefix
        })
    );
    body.push_str(
        "<table id=\"cache-tables\"><thead><tr><th>Table</th><th class=\"num\">Hits</th>\
         <th class=\"num\">Misses</th><th class=\"num\">Stored</th>\
         <th class=\"num\">Too large</th><th class=\"num\">Bypassed</th>\
         <th class=\"num\">Invalidations</th><th class=\"num\">Errors</th></tr></thead><tbody>\n",
    );
    for (table, s) in &stats.tables {
        let _ = writeln!(
            body,
            "<tr class=\"cache-table\"><td>{}</td><td class=\"num hits\">{}</td>\
             <td class=\"num misses\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(table),
            s.hits,
            s.misses,
            s.stores,
            s.too_large,
            s.bypassed,
            s.invalidations,
            s.errors
        );
    }
    body.push_str("</tbody></table></section>\n");
}

/// A mark on a statement of the detail page.
struct Mark {
    class: &'static str,
    text: String,
}

/// Links to the statements at `indexes` (0-based; shown from 1).
fn statement_links(indexes: &[usize]) -> String {
    let links: Vec<String> = indexes
        .iter()
        .map(|i| format!("<a href=\"#q{n}\">{n}</a>", n = i + 1))
        .collect();
    links.join(", ")
}

/// `file:line` of a line of the application.
fn location(at: &std::panic::Location<'_>) -> String {
    format!("{}:{}", at.file(), at.line())
}

/// What the statement loads, with how: `Book.author (lazy)`.
fn loads(q: &CapturedQuery) -> String {
    let loads: Vec<String> = q
        .loads
        .iter()
        .map(|l| {
            let (class, how) = match l.kind {
                LoadKind::Lazy => ("lazy", "lazy"),
                LoadKind::SelectRelated => ("select-related", "select_related"),
                LoadKind::Prefetch => ("prefetch", "prefetch_related"),
                _ => ("other", "loaded"),
            };
            format!(
                "<span class=\"load {class}\">{} ({how})</span>",
                escape(&l.label())
            )
        })
        .collect();
    if loads.is_empty() {
        String::new()
    } else {
        format!("<div class=\"loads\">Loads {}</div>", loads.join(", "))
    }
}

/// `GET <path>/<id>`: one request's statements and findings.
pub(super) fn detail(panel: &Panel, r: &Record, settings: &Settings) -> String {
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<h1><span id=\"method\">{}</span> <span id=\"target\">{}</span></h1>",
        escape(&r.method),
        escape(&r.target)
    );
    let _ = writeln!(
        body,
        "<dl id=\"summary\"><dt>Request</dt><dd id=\"request-id\">{id}</dd>\
         <dt>Status</dt><dd id=\"status\">{status}</dd>\
         <dt>Started</dt><dd id=\"started\">{started}</dd>\
         <dt>Queries</dt><dd id=\"total-queries\">{n}</dd>\
         <dt>Query cache</dt><dd id=\"cache\"><span id=\"cache-hits\">{hits}</span> hits, \
         <span id=\"cache-misses\">{misses}</span> misses</dd>\
         <dt>DB time</dt><dd id=\"db-time\">{db}</dd>\
         <dt>Total time</dt><dd id=\"total-time\">{total}</dd></dl>",
        id = r.id,
        status = r.status,
        started = utc(r.started),
        n = r.queries.iter().filter(|q| q.reached_database()).count(),
        hits = r
            .queries
            .iter()
            .filter(|q| q.cache == Some(crate::CacheOutcome::Hit))
            .count(),
        misses = r
            .queries
            .iter()
            .filter(|q| q.cache == Some(crate::CacheOutcome::Miss))
            .count(),
        db = ms(r.db),
        total = ms(r.total),
    );

    let mut marks: Vec<Vec<Mark>> = r.queries.iter().map(|_| Vec::new()).collect();
    let mut items = String::new();
    for n1 in &r.findings.n_plus_one {
        let n = n1.indexes.len();
        let at = n1.origin.map_or_else(String::new, |at| {
            format!(
                " at <code class=\"origin\">{}</code>",
                escape(&location(at))
            )
        });
        let _ = writeln!(
            items,
            "<li class=\"finding n-plus-one\"><span class=\"mark n-plus-one\">N+1 ×{n}</span> \
             <code class=\"relation\">{relation}</code> loaded lazily {n} times{at}, one query \
             per row (statements {links}): load it with the rows, \
             <code class=\"fix\">{fix}</code></li>",
            relation = escape(&n1.relation),
            links = statement_links(&n1.indexes),
            fix = escape(&n1.fix),
        );
        for &i in &n1.indexes {
            if let Some(m) = marks.get_mut(i) {
                m.push(Mark {
                    class: "n-plus-one",
                    text: format!("N+1 ×{n}"),
                });
            }
        }
    }
    for u in &r.findings.unnecessary {
        let _ = writeln!(
            items,
            "<li class=\"finding unnecessary\"><span class=\"mark unnecessary\">unnecessary</span> \
             <code class=\"relation\">{relation}</code> was loaded (statement {link}) but never \
             read: remove <code class=\"fix\">{fix}</code></li>",
            relation = escape(&u.relation),
            link = statement_links(&[u.index]),
            fix = escape(&u.fix),
        );
        if let Some(m) = marks.get_mut(u.index) {
            m.push(Mark {
                class: "unnecessary",
                text: format!("unnecessary {}", u.relation),
            });
        }
    }
    let groups = [
        (
            "duplicate",
            "the same statement with the same values",
            "its result could be reused",
            &r.findings.duplicates,
        ),
        (
            "similar",
            "the same statement with different values",
            "often one query per row of an earlier one",
            &r.findings.similar,
        ),
    ];
    for (class, what, hint, found) in groups {
        for g in found {
            let _ = writeln!(
                items,
                "<li class=\"finding {class}\"><span class=\"mark {class}\">{class} ×{n}</span> \
                 {what}, sent {n} times (statements {links}): \
                 {hint}.<pre class=\"sql\">{sql}</pre></li>",
                n = g.count(),
                links = statement_links(&g.indexes),
                sql = highlight(&g.sql),
            );
            for &i in &g.indexes {
                if let Some(m) = marks.get_mut(i) {
                    m.push(Mark {
                        class,
                        text: format!("{class} ×{}", g.count()),
                    });
                }
            }
        }
    }
    body.push_str("<section id=\"findings\"><h2>Findings</h2>\n");
    if items.is_empty() {
        body.push_str("<p class=\"none\">Nothing found.</p>\n");
    } else {
        body.push_str("<ul>\n");
        body.push_str(&items);
        body.push_str("</ul>\n");
    }
    body.push_str("</section>\n");

    let _ = writeln!(body, "<section id=\"statements\"><h2>Statements</h2>");
    if !settings.show_params {
        body.push_str(
            "<p id=\"params-hidden\" class=\"none\">Bound values are not kept \
             (<code>QueryLayer::show_params(true)</code> keeps them).</p>\n",
        );
    }
    if r.queries.is_empty() {
        body.push_str("<p id=\"no-queries\" class=\"none\">No statement was sent.</p>\n");
    } else {
        body.push_str(
            "<table id=\"queries\"><thead><tr><th class=\"num\">#</th><th>Kind</th>\
             <th>SQL</th><th class=\"num\">Time</th><th class=\"num\">Rows</th>\
             <th>Origin</th><th>Marks</th></tr></thead><tbody>\n",
        );
        for (i, (q, marks)) in r.queries.iter().zip(&marks).enumerate() {
            let mut classes = String::from("query");
            for m in marks {
                if !classes.split(' ').any(|c| c == m.class) {
                    classes.push(' ');
                    classes.push_str(m.class);
                }
            }
            let params = if settings.show_params && !q.params.is_empty() {
                let values: Vec<String> = q
                    .params
                    .iter()
                    .map(|v| format!("<code class=\"param\">{}</code>", escape(&value(v))))
                    .collect();
                format!("<div class=\"params\">Values: {}</div>", values.join(", "))
            } else {
                String::new()
            };
            let marks: String = marks
                .iter()
                .map(|m| {
                    format!(
                        "<span class=\"mark {}\">{}</span>",
                        m.class,
                        escape(&m.text)
                    )
                })
                .collect();
            let _ = writeln!(
                body,
                "<tr class=\"{classes}\" id=\"q{n}\"><td class=\"num index\">{n}</td>\
                 <td class=\"kind\">{kind}</td>\
                 <td class=\"sql\"><pre class=\"sql\">{sql}</pre>{params}{loads}</td>\
                 <td class=\"num duration\">{time}</td><td class=\"num rows\">{rows}</td>\
                 <td class=\"origin\">{origin}</td><td class=\"marks\">{marks}</td></tr>",
                n = i + 1,
                kind = match q.cache {
                    Some(crate::CacheOutcome::Hit) => {
                        "<span class=\"cache hit\">cache hit</span>".to_owned()
                    }
                    Some(crate::CacheOutcome::Miss) => format!(
                        "{}<br><span class=\"cache miss\">cache miss</span>",
                        q.kind.operation_name()
                    ),
                    Some(_) => format!(
                        "{}<br><span class=\"cache bypassed\">cache bypassed</span>",
                        q.kind.operation_name()
                    ),
                    None => q.kind.operation_name().to_owned(),
                },
                sql = highlight(&q.sql),
                loads = loads(q),
                time = q.duration.map_or_else(|| "–".into(), ms),
                rows = q.rows.map_or_else(|| "–".into(), |n| n.to_string()),
                origin = q
                    .origin
                    .map_or_else(String::new, |at| escape(&location(at))),
            );
        }
        body.push_str("</tbody></table>\n");
    }
    body.push_str("</section>\n");
    page(&format!("{} {}", r.method, r.target), panel, &body)
}

/// An id that is not (or no longer) kept, or an address under the panel that is no page.
pub(super) fn not_found(panel: &Panel, settings: &Settings) -> String {
    let body = format!(
        "<h1 id=\"not-found\">No such request</h1>\n<p>It was never recorded or is no longer \
         kept: the panel keeps the last {} requests.</p>\n",
        settings.keep
    );
    page("Not found", panel, &body)
}

/// Anything but GET or HEAD.
pub(super) fn method_not_allowed(panel: &Panel, method: &str) -> String {
    let body = format!(
        "<h1 id=\"method-not-allowed\">Method not allowed</h1>\n<p>The panel only answers \
         GET (and HEAD), not {}.</p>\n",
        escape(method)
    );
    page("Method not allowed", panel, &body)
}

#[cfg(test)]
mod tests {
    use super::{KEYWORDS, escape, highlight, utc};
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn keywords_are_sorted_for_the_binary_search() {
        assert!(KEYWORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(KEYWORDS.iter().all(|k| k.len() <= 11));
    }

    #[test]
    fn sql_is_escaped_then_marked() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(
            highlight(r#"select "order" FROM t WHERE a < '<script>' AND b"#),
            "<span class=\"kw\">select</span> &quot;order&quot; <span class=\"kw\">FROM</span> t \
             <span class=\"kw\">WHERE</span> a &lt; &#39;&lt;script&gt;&#39; \
             <span class=\"kw\">AND</span> b"
        );
        // An unterminated quote runs to the end, still escaped.
        assert_eq!(highlight("'<b"), "&#39;&lt;b");
        assert_eq!(highlight("x_from fromage"), "x_from fromage");
    }

    /// What `http` would never let through (`<` in a path) is escaped all the same.
    #[test]
    fn every_text_of_a_record_is_escaped() {
        use super::super::Settings;
        use super::super::panel::{Panel, Record};
        use crate::query_log::{CapturedQuery, StatementKind};

        let sql = "SELECT '<b>' FROM \"<i>\"";
        let record = Record {
            id: 7,
            method: "<m>".into(),
            target: "/<script>alert(1)</script>".into(),
            status: 200,
            started: UNIX_EPOCH,
            total: Duration::from_millis(2),
            db: Duration::from_millis(1),
            queries: vec![CapturedQuery {
                sql: sql.into(),
                params: vec![orm_core::Value::Text("<v>".into())],
                kind: StatementKind::of(sql),
                duration: Some(Duration::from_millis(1)),
                rows: Some(1),
                origin: None,
                loads: Vec::new(),
                cache: None,
            }],
            findings: crate::findings::analyze(&[]),
        };
        let panel = Panel::new("/__orm".into());
        let settings = Settings {
            panel: None,
            keep: 5,
            show_params: true,
            headers: true,
            strict: false,
            #[cfg(feature = "cache")]
            cache: None,
        };
        let record = std::sync::Arc::new(record);
        for html in [
            super::list(&panel, std::slice::from_ref(&record), &settings),
            super::detail(&panel, &record, &settings),
        ] {
            for raw in ["<script", "<m>", "<b>", "<i>", "<v>"] {
                assert!(!html.contains(raw), "{raw} in {html}");
            }
            assert!(
                html.contains("/&lt;script&gt;alert(1)&lt;/script&gt;"),
                "{html}"
            );
            assert!(html.contains("&lt;m&gt;"), "{html}");
        }
        let detail = super::detail(&panel, &record, &settings);
        assert!(detail.contains("&#39;&lt;b&gt;&#39;"), "{detail}");
        assert!(detail.contains("&#39;&lt;v&gt;&#39;"), "{detail}");
    }

    #[test]
    fn times_are_written_in_utc() {
        assert_eq!(utc(UNIX_EPOCH), "1970-01-01 00:00:00.000 UTC");
        let t = UNIX_EPOCH + Duration::from_millis(1_796_106_873_123);
        assert_eq!(utc(t), "2026-12-01 06:34:33.123 UTC");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(utc(leap), "2000-02-29 00:00:00.000 UTC");
    }
}
