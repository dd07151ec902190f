//! A handler's failures as error pages: 404, 400, or 500 for the database.

use axum::http::StatusCode;
use orm_sqlx::Error;

use super::page::{Esc, Page};

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum AppError {
    /// No such page or row (404).
    NotFound(String),
    /// The request cannot be served as written (400): the message says what to fix.
    BadRequest(String),
    /// The database failed (500); the error is logged, not shown.
    Database(Error),
}

impl From<Error> for AppError {
    /// A `DoesNotExist` from `get()` is a 404; any other error is the server's.
    fn from(e: Error) -> AppError {
        match e {
            Error::DoesNotExist { model } => {
                AppError::NotFound(format!("There is no such {}.", model.to_lowercase()))
            }
            e => AppError::Database(e),
        }
    }
}

impl AppError {
    /// The page that says what went wrong.
    pub(crate) fn page(self) -> Page {
        let (status, title, message) = match self {
            AppError::NotFound(message) => (StatusCode::NOT_FOUND, "Not found", message),
            AppError::BadRequest(message) => (StatusCode::BAD_REQUEST, "Bad request", message),
            AppError::Database(e) => {
                eprintln!("web: database error: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Server error",
                    "The database failed to answer; the server's log says why.".to_string(),
                )
            }
        };
        Page::new(
            title,
            format!(
                r#"<p class="errors" id="error">{}</p><p><a href="/books">Back to the books</a></p>"#,
                Esc(&message)
            ),
        )
        .status(status)
    }
}
