//! The book pages: the filtered, paginated list, one book, and its form (create, update,
//! delete: POST, then a redirect).

use std::fmt::Write;

use axum::Extension;
use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use orm_sqlx::prelude::*;

use super::PanelLink;
use super::error::AppError;
use super::form::{BookForm, BookInput, choices};
use super::page::{Esc, Page, Reply, UrlPart, respond};
use crate::models::{Author, Book};

/// Books per page of the list.
pub(crate) const PAGE_SIZE: usize = 5;

/// The list's filters, read from the query string.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Filters {
    /// `author`: the author's key.
    pub author: Option<i64>,
    /// `min_pages`: at least this many pages.
    pub min_pages: Option<i32>,
    /// `q`: a piece of the title, any case.
    pub q: String,
    /// `page`: from 1.
    pub page: usize,
}

impl Filters {
    /// The filters in `pairs`; an empty value is no filter, a malformed one a 400.
    pub fn parse(pairs: &[(String, String)]) -> Result<Filters, AppError> {
        let mut f = Filters {
            page: 1,
            ..Filters::default()
        };
        for (name, value) in pairs {
            let value = value.trim();
            match name.as_str() {
                "author" if !value.is_empty() => f.author = Some(number(name, value)?),
                "min_pages" if !value.is_empty() => f.min_pages = Some(number(name, value)?),
                "q" => f.q = value.to_string(),
                "page" if !value.is_empty() => {
                    f.page = number(name, value)?;
                    if f.page == 0 {
                        return Err(AppError::BadRequest("Pages are numbered from 1.".into()));
                    }
                }
                _ => {}
            }
        }
        Ok(f)
    }

    /// The query string of these filters on page `page` (HTML-escaped, for an `href`).
    fn href(&self, page: usize) -> String {
        let mut out = format!("/books?page={page}");
        if let Some(a) = self.author {
            let _ = write!(out, "&author={a}");
        }
        if let Some(p) = self.min_pages {
            let _ = write!(out, "&min_pages={p}");
        }
        if !self.q.is_empty() {
            let _ = write!(out, "&q={}", UrlPart(&self.q));
        }
        Esc(&out).to_string()
    }
}

/// A whole number in the query string, or a 400 naming the parameter.
fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, AppError> {
    value.parse().map_err(|_| {
        AppError::BadRequest(format!(
            "The filter {name} must be a whole number, not “{value}”."
        ))
    })
}

/// The book key in the URL, or a 400.
fn book_id(path: Result<Path<String>, PathRejection>) -> Result<i64, AppError> {
    let Path(raw) = path.map_err(|e| AppError::BadRequest(e.body_text()))?;
    raw.parse()
        .map_err(|_| AppError::BadRequest(format!("“{raw}” is not a book number.")))
}

/// Book `id` from `books` (which says what to load with it), or a 404.
async fn find_book(books: QuerySet<Book>, id: i64, db: &Db) -> Result<Book, AppError> {
    books.get_pk(id, db).await.map_err(|e| match e {
        Error::DoesNotExist { .. } => AppError::NotFound(format!("There is no book #{id}.")),
        e => e.into(),
    })
}

fn rating(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.1}")).unwrap_or_else(|| "—".into())
}

/// `GET /books`: filters, one page of books, links to the other pages. 3 queries: the
/// authors (for the filter), the count, the page with its authors (`select_related`).
pub(crate) async fn list(
    State(db): State<Db>,
    panel: Option<Extension<PanelLink>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    respond(panel, async move {
        let Query(pairs) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
        let f = Filters::parse(&pairs)?;
        let authors = Author::objects()
            .order_by(|a| a.name.asc())
            .cached(crate::web::CACHE_TTL)
            .into_vec(&db)
            .await?;

        let mut qs = Book::objects().cached(crate::web::CACHE_TTL);
        if let Some(author) = f.author {
            qs = qs.filter(|b| b.author.eq(author));
        }
        if let Some(min) = f.min_pages {
            qs = qs.filter(|b| b.pages.gte(min));
        }
        if !f.q.is_empty() {
            qs = qs.filter(|b| b.title.icontains(f.q.as_str()));
        }
        let total = usize::try_from(qs.count(&db).await?).unwrap_or(usize::MAX);
        let last = total.div_ceil(PAGE_SIZE).max(1);
        if f.page > last {
            return Err(AppError::NotFound(format!(
                "There is no page {} of this list: it has {last}.",
                f.page
            )));
        }
        let start = (f.page - 1) * PAGE_SIZE;
        let books = qs
            .select_related(|b| b.author())
            .order_by(|b| [b.title.asc(), b.id.asc()])
            .slice(start..start + PAGE_SIZE)
            .into_vec(&db)
            .await?;

        let mut body = String::from(
            r#"<form class="filters" method="get" action="/books"><label>Author <select name="author"><option value="">any</option>"#,
        );
        for a in &authors {
            let selected = if f.author == Some(a.id) { " selected" } else { "" };
            let _ = write!(
                body,
                r#"<option value="{}"{selected}>{}</option>"#,
                a.id,
                Esc(&a.name)
            );
        }
        let _ = write!(
            body,
            r#"</select></label>
<label>At least <input name="min_pages" type="number" min="0" size="6" value="{}"> pages</label>
<label>Title contains <input name="q" value="{}"></label>
<button type="submit">Filter</button> <a href="/books">clear</a></form>
<p id="book-count">{total} book{}</p>"#,
            f.min_pages.map(|p| p.to_string()).unwrap_or_default(),
            Esc(&f.q),
            if total == 1 { "" } else { "s" },
        );
        body.push_str(
            r#"<table id="books"><tr><th>Title</th><th>Author</th><th class="num">Pages</th><th class="num">Rating</th></tr>"#,
        );
        for b in &books {
            let author = b.author.get().map(|a| a.name.as_str()).unwrap_or("?");
            let _ = write!(
                body,
                r#"<tr class="book"><td><a href="/books/{id}">{title}</a></td><td>{author}</td><td class="num">{pages}</td><td class="num">{rating}</td></tr>"#,
                id = b.id,
                title = Esc(&b.title),
                author = Esc(author),
                pages = b.pages,
                rating = rating(b.rating),
            );
        }
        body.push_str("</table><p class=\"pages\">");
        if f.page > 1 {
            let _ = write!(body, r#"<a rel="prev" href="{}">← previous</a>"#, f.href(f.page - 1));
        }
        let _ = write!(body, "<span>page {} of {last}</span>", f.page);
        if f.page < last {
            let _ = write!(body, r#"<a rel="next" href="{}">next →</a>"#, f.href(f.page + 1));
        }
        body.push_str(r#"</p><p><a href="/books/new">Add a book</a></p>"#);
        Ok(Page::new("Books", body).into())
    })
    .await
}

/// `GET /books/{id}`: the book, its author and its tags (2 queries), or a 404.
pub(crate) async fn detail(
    State(db): State<Db>,
    panel: Option<Extension<PanelLink>>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    respond(panel, async move {
        let id = book_id(path)?;
        let books = Book::objects()
            .select_related(|b| b.author())
            .prefetch_related(|b| b.tags());
        let book = find_book(books, id, &db).await?;
        let author = book.author.get()?;
        let tags = book
            .tags
            .all()?
            .iter()
            .map(|t| Esc(&t.name).to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let body = format!(
            r#"<dl id="book">
<dt>Author</dt><dd><a href="/books?author={author_id}">{author}</a></dd>
<dt>Pages</dt><dd>{pages}</dd>
<dt>Rating</dt><dd>{rating}</dd>
<dt>Tags</dt><dd>{tags}</dd>
</dl>
<p><a href="/books/{id}/edit">Edit</a></p>
<form method="post" action="/books/{id}/delete"><button type="submit">Delete this book</button></form>"#,
            author_id = author.id,
            author = Esc(&author.name),
            pages = book.pages,
            rating = rating(book.rating),
            tags = if tags.is_empty() { "—".into() } else { tags },
        );
        Ok(Page::new(book.title.clone(), body).into())
    })
    .await
}

/// `GET /books/new`: an empty form (2 queries: the authors and tags it offers).
pub(crate) async fn new_form(
    State(db): State<Db>,
    panel: Option<Extension<PanelLink>>,
) -> Response {
    respond(panel, async move {
        let (authors, tags) = choices(&db).await?;
        let html = BookForm::default().html("/books", &authors, &tags, &[]);
        Ok(Page::new("New book", html).into())
    })
    .await
}

/// The posted pairs, or a 400 (not a form, or not readable).
fn posted(form: Result<Form<Vec<(String, String)>>, FormRejection>) -> Result<BookForm, AppError> {
    let Form(pairs) = form.map_err(|e| AppError::BadRequest(e.body_text()))?;
    Ok(BookForm::from_pairs(pairs))
}

/// Save `input` into `book` (new when its key is 0) with exactly its tags, in one
/// transaction; the book's key.
async fn save(db: &Db, mut book: Book, input: BookInput) -> Result<i64, AppError> {
    book.title = input.title;
    book.pages = input.pages;
    book.author.set_key(input.author);
    book.rating = input.rating;
    let tags = input.tags;
    let id = db
        .atomic(move |tx| {
            Box::pin(async move {
                book.save(&mut *tx).await?;
                book.set_related(|b| b.tags(), tags, &mut *tx).await?;
                Ok(book.id)
            })
        })
        .await?;
    Ok(id)
}

/// `POST /books`: create a book and go to its page, or show the form again with what is
/// wrong (400).
pub(crate) async fn create(
    State(db): State<Db>,
    panel: Option<Extension<PanelLink>>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    respond(panel, async move {
        let form = posted(form)?;
        let (authors, tags) = choices(&db).await?;
        match form.check(&authors, &tags) {
            Err(problems) => {
                let html = form.html("/books", &authors, &tags, &problems);
                Ok(Page::new("New book", html)
                    .status(StatusCode::BAD_REQUEST)
                    .into())
            }
            Ok(input) => {
                let book = Book {
                    id: 0,
                    title: String::new(),
                    pages: 0,
                    author: ForeignKey::new(input.author),
                    rating: None,
                    tags: ManyToMany::default(),
                };
                let id = save(&db, book, input).await?;
                Ok(Reply::Redirect(format!("/books/{id}")))
            }
        }
    })
    .await
}

/// `GET /books/{id}/edit`: the form filled with the book (3 queries), or a 404.
pub(crate) async fn edit_form(
    State(db): State<Db>,
    panel: Option<Extension<PanelLink>>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    respond(panel, async move {
        let id = book_id(path)?;
        let books = Book::objects().prefetch_related(|b| b.tags());
        let book = find_book(books, id, &db).await?;
        let (authors, tags) = choices(&db).await?;
        let html = BookForm::from_book(&book).html(&format!("/books/{id}"), &authors, &tags, &[]);
        Ok(Page::new(format!("Edit “{}”", book.title), html).into())
    })
    .await
}

/// `POST /books/{id}`: update the book and go to its page, or show the form again (400),
/// or a 404.
pub(crate) async fn update(
    State(db): State<Db>,
    panel: Option<Extension<PanelLink>>,
    path: Result<Path<String>, PathRejection>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    respond(panel, async move {
        let id = book_id(path)?;
        let form = posted(form)?;
        let book = find_book(Book::objects(), id, &db).await?;
        let (authors, tags) = choices(&db).await?;
        match form.check(&authors, &tags) {
            Err(problems) => {
                let html = form.html(&format!("/books/{id}"), &authors, &tags, &problems);
                Ok(Page::new(format!("Edit “{}”", book.title), html)
                    .status(StatusCode::BAD_REQUEST)
                    .into())
            }
            Ok(input) => {
                save(&db, book, input).await?;
                Ok(Reply::Redirect(format!("/books/{id}")))
            }
        }
    })
    .await
}

/// `POST /books/{id}/delete`: delete the book (and its tag links) and go to the list, or
/// a 404.
pub(crate) async fn delete(
    State(db): State<Db>,
    panel: Option<Extension<PanelLink>>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    respond(panel, async move {
        let id = book_id(path)?;
        let book = find_book(Book::objects(), id, &db).await?;
        book.delete(&db).await?;
        Ok(Reply::Redirect("/books".into()))
    })
    .await
}
