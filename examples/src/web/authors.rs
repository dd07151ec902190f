//! The authors page: counted by the database, not in Rust.

use std::fmt::Write;

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use orm_sqlx::prelude::*;

use super::PanelLink;
use super::page::{Esc, Page, respond};
use crate::models::{Author, Book};

fn decimal(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into())
}

/// `GET /authors`: books, pages and average rating per author (`annotate`: one query,
/// `LEFT OUTER JOIN` and `GROUP BY`), and the totals over every book (`aggregate`: one).
pub(crate) async fn stats(State(db): State<Db>, panel: Option<Extension<PanelLink>>) -> Response {
    respond(panel, async move {
        let per_author = Author::objects()
            .annotate(|a| {
                (
                    a.books().count(),
                    a.books().pages.sum(),
                    a.books().rating.avg(),
                )
            })
            .order_by(|a| [a.books().count().desc(), a.name.asc()])
            .cached(crate::web::CACHE_TTL)
            .into_vec(&db)
            .await?;
        let (books, pages, avg_pages, avg_rating) = Book::objects()
            .cached(crate::web::CACHE_TTL)
            .aggregate(
                |b| (b.id.count(), b.pages.sum(), b.pages.avg(), b.rating.avg()),
                &db,
            )
            .await?;

        let mut body = String::from(
            r#"<table id="authors"><tr><th>Author</th><th>Country</th><th class="num">Books</th><th class="num">Pages</th><th class="num">Average rating</th></tr>"#,
        );
        for (a, (n, pages, rating)) in &per_author {
            let _ = write!(
                body,
                r#"<tr class="author"><td><a href="/books?author={id}">{name}</a></td><td>{country}</td><td class="num">{n}</td><td class="num">{pages}</td><td class="num">{rating}</td></tr>"#,
                id = a.id,
                name = Esc(&a.name),
                country = Esc(a.country.as_deref().unwrap_or("—")),
                pages = pages.unwrap_or(0),
                rating = decimal(*rating),
            );
        }
        let _ = write!(
            body,
            r#"</table>
<p id="totals">{books} books, {pages} pages in all; {avg_pages} pages and a rating of {avg_rating} on average.</p>
<pre>Author::objects().annotate(|a| (a.books().count(), a.books().pages.sum(), a.books().rating.avg()))
Book::objects().aggregate(|b| (b.id.count(), b.pages.sum(), b.pages.avg(), b.rating.avg()), &amp;db)</pre>"#,
            pages = pages.unwrap_or(0),
            avg_pages = decimal(avg_pages),
            avg_rating = decimal(avg_rating),
        );
        Ok(Page::new("Authors", body).into())
    })
    .await
}
