//! The bookstore over HTTP: `cargo run -p examples --bin web`, then open
//! <http://127.0.0.1:8000/books/n-plus-one> and follow the footer's "SQL panel" link.
//!
//! - `DATABASE_URL`: the database (default `sqlite::memory:`, embedded, gone at exit;
//!   `sqlite://bookstore.sqlite3?mode=rwc`, `postgres://…`, `mysql://…` work too). The
//!   tables are created if missing and filled when there is no author.
//! - `PORT`: the port on 127.0.0.1 (default 8000).
//! - `ORM_DEBUG_PANEL`: `1` turns the SQL debug panel on, `0` off; by default it is on in
//!   debug builds and off in release builds. It shows every statement of the last
//!   requests: never turn it on where others can reach the server.

use std::process::ExitCode;

use orm_sqlx::Db;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("web: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into());
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT must be a port number, not {p:?}"))?,
        Err(_) => 8000,
    };
    let panel = match std::env::var("ORM_DEBUG_PANEL").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        Ok(other) => return Err(format!("ORM_DEBUG_PANEL must be 1 or 0, not {other:?}").into()),
        Err(_) => cfg!(debug_assertions),
    };

    let db = Db::connect(&url).await?;
    let seeded = examples::web::setup(&db).await?;
    if seeded.books > 0 {
        println!(
            "web: added {} authors, {} books and {} tags",
            seeded.authors, seeded.books, seeded.tags
        );
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e} (set PORT to another)"))?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("web: the bookstore is at {base}/ ({:?})", db.dialect());
    println!("web: the N+1 problem: {base}/books/n-plus-one, its fix: {base}/books/select-related");
    if panel {
        println!(
            "web: SQL debug panel ON at {base}{} (each page's footer links to its request); it shows every visitor's SQL: never on a public server (ORM_DEBUG_PANEL=0 turns it off)",
            examples::web::PANEL_PATH
        );
    } else {
        println!("web: SQL debug panel off (ORM_DEBUG_PANEL=1 turns it on)");
    }
    examples::web::serve(listener, examples::web::app(db, panel)).await?;
    Ok(())
}
