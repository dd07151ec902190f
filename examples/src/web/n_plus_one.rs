//! The N+1 problem and its fix, side by side: the same table of books and authors, read
//! with one query per book, then with one query in all.

use std::fmt::Write;

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use orm_sqlx::prelude::*;

use super::PanelLink;
use super::page::{Esc, Page, respond};
use crate::models::Book;

/// The table both pages show, and the code that read it.
fn page(title: &str, intro: &str, code: &str, books: &[Book]) -> Result<Page> {
    let mut body = format!(
        r#"<p>{intro}</p><pre id="code">{code}</pre>
<table id="books"><tr><th>Title</th><th>Author</th></tr>"#,
        code = Esc(code)
    );
    for b in books {
        let _ = write!(
            body,
            r#"<tr class="book"><td><a href="/books/{}">{}</a></td><td>{}</td></tr>"#,
            b.id,
            Esc(&b.title),
            Esc(&b.author.get()?.name)
        );
    }
    body.push_str("</table>");
    Ok(Page::new(title, body))
}

/// `GET /books/n-plus-one`: the books (1 query), then each one's author, loaded lazily
/// (1 query per book): 1 + N queries, the pattern the debug panel flags.
pub(crate) async fn lazy(State(db): State<Db>, panel: Option<Extension<PanelLink>>) -> Response {
    respond(panel, async move {
        let mut books = Book::objects()
            .order_by(|b| b.title.asc())
            .into_vec(&db)
            .await?;
        for book in &mut books {
            book.author.load(&db).await?;
        }
        Ok(page(
            "N+1: an author query per book",
            r#"Each book's author is loaded on its own, in a loop: one query for the books, then one per book. Open the SQL panel (footer) to see the repeated statement, then compare with <a href="/books/select-related">select_related</a>."#,
            "let mut books = Book::objects().order_by(|b| b.title.asc()).into_vec(&db).await?;\n\
             for book in &mut books {\n    book.author.load(&db).await?; // one query each\n}",
            &books,
        )?
        .into())
    })
    .await
}

/// `GET /books/select-related`: the same table, the authors joined in (1 query).
pub(crate) async fn joined(State(db): State<Db>, panel: Option<Extension<PanelLink>>) -> Response {
    respond(panel, async move {
        let books = Book::objects()
            .select_related(|b| b.author())
            .order_by(|b| b.title.asc())
            .into_vec(&db)
            .await?;
        Ok(page(
            "select_related: one query",
            r#"The same table as <a href="/books/n-plus-one">the N+1 page</a>, with the authors read in the same query by a JOIN."#,
            "let books = Book::objects()\n    .select_related(|b| b.author())\n    .order_by(|b| b.title.asc())\n    .into_vec(&db)\n    .await?; // one query, with a JOIN",
            &books,
        )?
        .into())
    })
    .await
}
