//! The book form: what was typed (kept to show it again), its checks, and its HTML.

use std::fmt::Write;

use orm_sqlx::prelude::*;

use super::page::Esc;
use crate::models::{Author, Book, Tag};

/// The longest title the form accepts, in characters.
pub(crate) const MAX_TITLE: usize = 200;
/// The most pages a book may have.
pub(crate) const MAX_PAGES: i32 = 100_000;

/// The form's fields as typed.
#[derive(Debug, Default)]
pub(crate) struct BookForm {
    pub title: String,
    pub pages: String,
    pub author: String,
    pub rating: String,
    pub tags: Vec<String>,
}

/// A checked form: what a book is saved from.
#[derive(Debug)]
pub(crate) struct BookInput {
    pub title: String,
    pub pages: i32,
    pub author: i64,
    pub rating: Option<f64>,
    pub tags: Vec<i64>,
}

impl BookForm {
    /// From the posted pairs (`tag` may repeat); unknown names are ignored.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> BookForm {
        let mut form = BookForm::default();
        for (name, value) in pairs {
            match name.as_str() {
                "title" => form.title = value,
                "pages" => form.pages = value,
                "author" => form.author = value,
                "rating" => form.rating = value,
                "tag" => form.tags.push(value),
                _ => {}
            }
        }
        form
    }

    /// A saved book, to edit (its tags prefetched).
    pub fn from_book(book: &Book) -> BookForm {
        BookForm {
            title: book.title.clone(),
            pages: book.pages.to_string(),
            author: book.author.key().to_string(),
            rating: book.rating.map(|r| r.to_string()).unwrap_or_default(),
            tags: book
                .tags
                .all()
                .map(|tags| tags.iter().map(|t| t.id.to_string()).collect())
                .unwrap_or_default(),
        }
    }

    /// The checked values, or every problem found, each a sentence. `authors` and `tags`
    /// are the rows the form offered: a key must be one of them.
    pub fn check(&self, authors: &[Author], tags: &[Tag]) -> Result<BookInput, Vec<String>> {
        let mut problems = Vec::new();
        let title = self.title.trim().to_string();
        if title.is_empty() {
            problems.push("The title is required.".to_string());
        } else if title.chars().count() > MAX_TITLE {
            problems.push(format!("The title is longer than {MAX_TITLE} characters."));
        }
        let pages = match self.pages.trim().parse::<i32>() {
            Ok(n) if (1..=MAX_PAGES).contains(&n) => n,
            _ => {
                problems.push(format!(
                    "Pages must be a whole number from 1 to {MAX_PAGES}."
                ));
                0
            }
        };
        let author = match self.author.trim().parse::<i64>() {
            Ok(id) if authors.iter().any(|a| a.id == id) => id,
            _ => {
                problems.push("Choose an author from the list.".to_string());
                0
            }
        };
        let rating = match self.rating.trim() {
            "" => None,
            text => match text.parse::<f64>() {
                Ok(r) if (0.0..=5.0).contains(&r) => Some(r),
                _ => {
                    problems.push("The rating must be a number from 0 to 5, or empty.".into());
                    None
                }
            },
        };
        let mut keys = Vec::new();
        for tag in &self.tags {
            match tag.trim().parse::<i64>() {
                Ok(id) if tags.iter().any(|t| t.id == id) => {
                    if !keys.contains(&id) {
                        keys.push(id);
                    }
                }
                _ => problems.push(format!("There is no tag {}.", tag.trim())),
            }
        }
        if problems.is_empty() {
            Ok(BookInput {
                title,
                pages,
                author,
                rating,
                tags: keys,
            })
        } else {
            Err(problems)
        }
    }

    /// The form posting to `action`, filled with what was typed, after `problems`.
    pub fn html(
        &self,
        action: &str,
        authors: &[Author],
        tags: &[Tag],
        problems: &[String],
    ) -> String {
        let mut out = String::new();
        if !problems.is_empty() {
            out.push_str(r#"<ul class="errors" id="errors">"#);
            for p in problems {
                let _ = write!(out, "<li>{}</li>", Esc(p));
            }
            out.push_str("</ul>");
        }
        let _ = write!(
            out,
            r#"<form class="book" method="post" action="{action}">
<label>Title <input name="title" required maxlength="{MAX_TITLE}" value="{title}"></label>
<label>Pages <input name="pages" type="number" min="1" max="{MAX_PAGES}" required value="{pages}"></label>
<label>Author <select name="author" required><option value="">—</option>"#,
            action = Esc(action),
            title = Esc(&self.title),
            pages = Esc(&self.pages),
        );
        for a in authors {
            let id = a.id.to_string();
            let selected = if id == self.author.trim() {
                " selected"
            } else {
                ""
            };
            let _ = write!(
                out,
                r#"<option value="{id}"{selected}>{}</option>"#,
                Esc(&a.name)
            );
        }
        let _ = write!(
            out,
            r#"</select></label>
<label>Rating <input name="rating" type="number" min="0" max="5" step="0.1" value="{}"></label>
<fieldset><legend>Tags</legend>"#,
            Esc(&self.rating)
        );
        for t in tags {
            let id = t.id.to_string();
            let checked = if self.tags.iter().any(|k| k.trim() == id) {
                " checked"
            } else {
                ""
            };
            let _ = write!(
                out,
                r#"<label><input type="checkbox" name="tag" value="{id}"{checked}> {}</label>"#,
                Esc(&t.name)
            );
        }
        out.push_str(r#"</fieldset><p><button type="submit">Save</button></p></form>"#);
        out
    }
}

/// The authors and tags a book form offers, by name: 2 queries.
pub(crate) async fn choices(db: &Db) -> Result<(Vec<Author>, Vec<Tag>)> {
    let authors = Author::objects()
        .order_by(|a| a.name.asc())
        .into_vec(db)
        .await?;
    let tags = Tag::objects()
        .order_by(|t| t.name.asc())
        .into_vec(db)
        .await?;
    Ok((authors, tags))
}
