//! The bookstore as a web app (axum 0.8): server-rendered HTML pages whose footers say
//! how many statements each request sent, with a link to the SQL debug panel when it is on.
//!
//! | page | what it shows | statements |
//! |---|---|---|
//! | `GET /` | links to the others | 0 |
//! | `GET /books` | the books, filtered (`author`, `min_pages`, `q` in the title) and paginated (`page`) | 3: authors, count, the page (authors with `select_related`) |
//! | `GET /books/{id}` | one book, its author and tags | 2: the book with its author, its tags |
//! | `GET /books/new`, `POST /books` | create a book (HTML form, then a redirect) | 2 for the form (the authors and tags it offers); to save, those 2, then the INSERT and the tag links in one transaction |
//! | `GET /books/{id}/edit`, `POST /books/{id}` | update it | 4 for the form (the book, its tags, the choices); to save, 3 reads, then the UPDATE and the tag links in one transaction |
//! | `POST /books/{id}/delete` | delete it (its tag links go with it) | a read, then the cascade |
//! | `GET /authors` | books, pages and average rating per author (`annotate`), and totals (`aggregate`) | 2 |
//! | `GET /books/n-plus-one` | each book's author loaded lazily, one by one | 1 + one per book |
//! | `GET /books/select-related` | the same page with `select_related(\|b\| b.author())` | 1 |
//!
//! A missing book is a 404 page, bad input (a form, a filter, a page number, a key in the
//! URL that is not a number) a 400 page saying what is wrong; a database failure is a 500
//! page, and the error goes to the server's standard error. No handler panics. Only the
//! N+1 page gives the panel something to report: each page loads what it reads, no more.
//! It is a demonstration, not a template for a public site: there is no login and no CSRF
//! token on the forms.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let db = orm_sqlx::Db::connect("sqlite::memory:").await?;
//! examples::web::setup(&db).await?; // tables, and a few authors, books and tags
//! let app = examples::web::app(db, true); // true: the SQL debug panel at /__orm
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! examples::web::serve(listener, app).await?;
//! # Ok(()) }
//! ```

mod authors;
mod books;
mod error;
mod form;
mod n_plus_one;
mod page;
mod panel;
mod seed;

use axum::Router;
use axum::routing::{get, post};
use orm_sqlx::Db;

pub use panel::PanelLink;
pub use seed::{SeedCounts, setup};

/// The path the SQL debug panel is served at, when it is on.
pub const PANEL_PATH: &str = "/__orm";

/// The bookstore's pages on `db`, whose tables exist ([`setup`] creates and fills them).
/// With `panel`, every request's statements are kept and shown at [`PANEL_PATH`], and each
/// page links to its own list ([`PanelLink`]); without it, responses still carry the
/// query count and timing headers.
pub fn app(db: Db, panel: bool) -> Router {
    // The list and the author stats are cached across requests (`.cached(CACHE_TTL)`) and
    // invalidated by every write: edit a book and the list is fresh. A `Db` given a cache
    // of its own (Redis, to share it between processes) keeps it.
    let db = if db.cache().is_some() {
        db
    } else {
        db.with_cache(orm_sqlx::cache::Cache::local(32 << 20))
    };
    let pages = Router::new()
        .route("/", get(page::index))
        .route("/books", get(books::list).post(books::create))
        .route("/books/new", get(books::new_form))
        .route("/books/n-plus-one", get(n_plus_one::lazy))
        .route("/books/select-related", get(n_plus_one::joined))
        .route("/books/{id}", get(books::detail).post(books::update))
        .route("/books/{id}/edit", get(books::edit_form))
        .route("/books/{id}/delete", post(books::delete))
        .route("/authors", get(authors::stats))
        .fallback(page::not_found)
        .with_state(db.clone());
    panel::with_query_layer(pages, &db, panel)
}

/// How long the cached pages' querysets are kept at most (a write invalidates them
/// sooner).
pub const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// Serve `app` on `listener` until the process ends (axum's `serve`).
pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> std::io::Result<()> {
    axum::serve(listener, app).await
}
