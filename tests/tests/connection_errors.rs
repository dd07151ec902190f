//! A failed connection never shows a password: neither the one in `user:password@` nor
//! one given as a query parameter (`?password=`, `pass`, `sslpassword`, in any case), in
//! the error's `Display`, its `Debug`, or the text of the driver error it carries.

use std::error::Error as _;

use orm_sqlx::{Db, Error};

const SECRET: &str = "s3cr3t-pw";

/// Everything a user could print of the error.
fn all_text(e: &Error) -> String {
    let mut text = format!("{e}\n{e:?}\n{e:#?}");
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!("\n{c}\n{c:?}"));
        cause = c.source();
    }
    text
}

async fn refused(url: &str) -> Error {
    match Db::connect(url).await {
        Ok(_) => panic!("{url} connected"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn a_refused_postgres_connection_shows_no_password() {
    // Port 1 on this machine: nothing listens, the connection is refused at once.
    for url in [
        format!("postgres://postgres:{SECRET}@127.0.0.1:1/test"),
        format!("postgres://postgres@127.0.0.1:1/test?password={SECRET}"),
        format!("postgresql://postgres@127.0.0.1:1/test?sslmode=disable&PassWord={SECRET}"),
        format!("postgres://postgres@127.0.0.1:1/test?sslpassword={SECRET}&pass={SECRET}"),
    ] {
        let e = refused(&url).await;
        assert!(matches!(e, Error::Connect { .. }), "{e:?}");
        let text = all_text(&e);
        assert!(!text.contains(SECRET), "{url}:\n{text}");
        assert!(e.to_string().contains("***"), "{e}");
        assert!(
            e.to_string().contains("127.0.0.1:1/test"),
            "the rest of the URL is shown: {e}"
        );
    }
}

#[tokio::test]
async fn a_malformed_url_shows_no_password() {
    for url in [
        format!("postgres://postgres:{SECRET}@127.0.0.1:notaport/test"),
        format!("postgres://postgres@127.0.0.1:notaport/test?password={SECRET}"),
        format!("postgres://postgres:{SECRET}?@127.0.0.1/test"),
        format!("sqlite://orm-no-such-dir/x.db?password={SECRET}"),
        format!("mysql://root:{SECRET}@127.0.0.1/test"),
    ] {
        let e = refused(&url).await;
        assert!(matches!(e, Error::Connect { .. }), "{e:?}");
        let text = all_text(&e);
        assert!(!text.contains(SECRET), "{url}:\n{text}");
    }
}

#[tokio::test]
async fn a_refused_mysql_connection_shows_no_password() {
    for url in [
        // Nothing listens on port 1: refused at once.
        format!("mysql://root:{SECRET}@127.0.0.1:1/test"),
        format!("mariadb://root:{SECRET}@127.0.0.1:1/test"),
        // The real server, which refuses the password.
        format!("mysql://orm_no_such_user:{SECRET}@127.0.0.1:3306/test"),
    ] {
        let e = refused(&url).await;
        assert!(matches!(e, Error::Connect { .. }), "{e:?}");
        let text = all_text(&e);
        assert!(!text.contains(SECRET), "{url}:\n{text}");
        assert!(e.to_string().contains("***"), "{e}");
    }
}
