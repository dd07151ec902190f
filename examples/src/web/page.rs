//! The HTML around every page: escaping, the layout, and the footer that counts the
//! request's statements and links to the SQL panel.

use std::fmt;
use std::future::Future;

use axum::Extension;
use axum::http::StatusCode;
use axum::http::Uri;
use axum::response::{Html, IntoResponse, Redirect, Response};
use orm_sqlx::capture_queries;

use super::PanelLink;
use super::error::AppError;

/// Text written into HTML (an element's content or a quoted attribute), escaped.
pub(crate) struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// A value put into a URL's query string, percent-encoded (then escaped as HTML by the
/// caller, since `&` separates the pairs).
pub(crate) struct UrlPart<'a>(pub &'a str);

impl fmt::Display for UrlPart<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    write!(f, "{}", b as char)?
                }
                b' ' => f.write_str("+")?,
                _ => write!(f, "%{b:02X}")?,
            }
        }
        Ok(())
    }
}

/// A page to render: its status, its title (plain text) and its body (HTML, escaped by
/// whoever wrote it).
pub(crate) struct Page {
    pub status: StatusCode,
    pub title: String,
    pub body: String,
}

impl Page {
    /// A 200 page.
    pub fn new(title: impl Into<String>, body: String) -> Page {
        Page {
            status: StatusCode::OK,
            title: title.into(),
            body,
        }
    }

    /// The same page with another status (a form shown again with its errors is a 400).
    pub fn status(mut self, status: StatusCode) -> Page {
        self.status = status;
        self
    }

    /// The whole document, with a footer counting `queries` (and the results the query
    /// cache served, `hits`) and linking to `panel`.
    fn render(&self, queries: usize, hits: usize, panel: Option<&str>) -> Response {
        let count = match queries {
            1 => "1 query".to_string(),
            n => format!("{n} queries"),
        };
        let count = match hits {
            0 => count,
            n => format!(r#"{count}</span>, <span id="cache-hits">{n} from the cache"#),
        };
        let link = panel
            .map(|href| {
                format!(
                    r#" · <a id="panel-link" href="{}">SQL panel</a>"#,
                    Esc(href)
                )
            })
            .unwrap_or_default();
        let html = format!(
            r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Bookstore</title>
<style>{STYLE}</style>
</head>
<body>
<nav><a href="/">Bookstore</a> <a href="/books">Books</a> <a href="/books/new">New book</a> <a href="/authors">Authors</a> <a href="/books/n-plus-one">N+1</a> <a href="/books/select-related">select_related</a></nav>
<main>
<h1>{title}</h1>
{body}
</main>
<footer><span id="query-count">{count}</span>{link}</footer>
</body>
</html>
"#,
            title = Esc(&self.title),
            body = self.body,
        );
        (self.status, Html(html)).into_response()
    }
}

/// What a handler answers: a page, or a redirect after a successful POST.
pub(crate) enum Reply {
    Page(Page),
    /// 303 See Other to this path.
    Redirect(String),
}

impl From<Page> for Reply {
    fn from(page: Page) -> Reply {
        Reply::Page(page)
    }
}

/// Run a handler's body, counting its statements, and render what it returns (or its
/// error page) with the footer.
pub(crate) async fn respond(
    panel: Option<Extension<PanelLink>>,
    body: impl Future<Output = Result<Reply, AppError>>,
) -> Response {
    let (out, queries) = capture_queries(body).await;
    let page = match out {
        Ok(Reply::Redirect(to)) => return Redirect::to(&to).into_response(),
        Ok(Reply::Page(page)) => page,
        Err(e) => e.page(),
    };
    let link = panel
        .as_ref()
        .map(|Extension(PanelLink(href))| href.as_str());
    let sent = queries.iter().filter(|q| q.reached_database()).count();
    page.render(sent, queries.len() - sent, link)
}

/// `GET /`: what there is to see.
pub(crate) async fn index(panel: Option<Extension<PanelLink>>) -> Response {
    respond(panel, async {
        Ok(Page::new(
            "A bookstore",
            r#"<p>Each page's footer says how many SQL statements it sent; with the debug panel on, its <em>SQL panel</em> link lists them, with their durations and what looks wrong.</p>
<ul>
<li><a href="/books">Books</a>: filters, pagination, and a form to add, change or delete a book.</li>
<li><a href="/authors">Authors</a>: counted by the database (<code>annotate</code>, <code>aggregate</code>).</li>
<li><a href="/books/n-plus-one">The N+1 problem</a>: each book's author loaded on its own, one query per book,
and <a href="/books/select-related">its fix</a>: <code>select_related(|b| b.author())</code>, one query.</li>
</ul>"#
                .to_string(),
        )
        .into())
    })
    .await
}

/// Any other path: a 404 page.
pub(crate) async fn not_found(panel: Option<Extension<PanelLink>>, uri: Uri) -> Response {
    respond(panel, async move {
        Err(AppError::NotFound(format!(
            "There is no page at {}.",
            uri.path()
        )))
    })
    .await
}

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 0; color: #222; }
nav { background: #2d3e50; padding: .6em 1em; }
nav a { color: #fff; margin-right: 1em; text-decoration: none; }
main { padding: 0 1em 1em; max-width: 60em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border-bottom: 1px solid #ddd; padding: .3em .8em; text-align: left; }
td.num, th.num { text-align: right; }
footer { border-top: 1px solid #ccc; padding: .6em 1em; color: #555; font-size: .9em; }
.errors { color: #a00; }
form.filters label, form.book label { margin-right: 1em; }
form.book label { display: block; margin: .5em 0; }
pre { background: #f4f4f4; padding: .6em; overflow-x: auto; }
.pages a, .pages span { margin-right: .6em; }
";
