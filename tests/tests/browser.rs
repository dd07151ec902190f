//! The web example's SQL debug panel, as a user sees it in a browser: the N+1 page sends
//! 1 + one statement per book and its panel says so, naming `Book.author` and the fix
//! (`select_related(|b| b.author())`); the `select_related` page's panel shows one
//! statement and no N+1 finding.
//!
//! The app (`examples::web`, panel on, SQLite in memory) is served in-process on a free
//! port; headless Chromium is driven through `/usr/bin/chromedriver` (override with
//! `ORM_TEST_CHROMEDRIVER` and `ORM_TEST_CHROMIUM`), started on a free port and killed
//! with its browser when the test ends, passed or not. A screenshot of the N+1 panel is
//! saved to `$CARGO_TARGET_DIR` (or `target`)`/browser-artifacts/panel-n-plus-one.png`,
//! and on a failure the page being looked at to `failure.png` and `failure.html`.
//!
//! Required by default: without Chromium or chromedriver the test fails, saying how to
//! install them. `ORM_TEST_BROWSER=none` opts out.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use examples::models::Book;
use futures_util::FutureExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use orm_sqlx::prelude::*;
use serde_json::{Value, json};

const INSTALL: &str = "install them (Debian: `apt-get install -y chromium chromium-driver`), \
     point ORM_TEST_CHROMIUM and ORM_TEST_CHROMEDRIVER at them, \
     or opt out of the browser test with ORM_TEST_BROWSER=none";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_debug_panel_shows_the_n_plus_one_and_its_fix() {
    if !orm_tests::browser_required() {
        eprintln!("browser test skipped: ORM_TEST_BROWSER=none");
        return;
    }
    let artifacts = artifacts_dir();
    let driver = Chromedriver::start(&artifacts);
    let app = App::start().await;
    let browser = driver.session().await;

    let outcome = AssertUnwindSafe(panel_scenario(&browser, &app, &artifacts))
        .catch_unwind()
        .await;
    if outcome.is_err() {
        browser.save_failure(&artifacts).await;
    }
    browser.quit().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// What a user does: the N+1 page, its panel; the select_related page, its panel.
async fn panel_scenario(browser: &Session, app: &App, artifacts: &Path) {
    let n = app.books;
    assert!(n >= 2, "the seed has {n} books: too few to show an N+1");

    // The N+1 page: the books, then one query per book for its author.
    browser.goto(&app.url("/books/n-plus-one")).await;
    assert_eq!(browser.count("tr.book").await, n, "one row per book");
    assert_eq!(
        browser.text("#query-count").await,
        format!("{} queries", n + 1),
        "the footer counts the books' query and one per author"
    );
    browser.follow_panel_link().await;

    // Its panel: every statement, the N+1 finding with its fix, the time they took.
    assert_eq!(
        browser.count("table#queries tr.query").await,
        n + 1,
        "the panel lists 1 + {n} statements"
    );
    assert_eq!(
        first_number(&browser.text("#total-queries").await),
        Some(n as u64 + 1),
        "the panel's total is 1 + {n}"
    );
    let db_time = browser.text("#db-time").await;
    assert!(
        shows_a_duration(&db_time),
        "#db-time shows a duration: {db_time:?}"
    );
    let n_plus_one = browser.texts("#findings li.finding.n-plus-one").await;
    assert_eq!(n_plus_one.len(), 1, "one N+1 finding: {n_plus_one:?}");
    assert!(
        n_plus_one[0].contains("Book.author"),
        "the finding names the relation Book.author: {:?}",
        n_plus_one[0]
    );
    assert!(
        n_plus_one[0].contains("select_related(|b| b.author())"),
        "the finding gives the fix: {:?}",
        n_plus_one[0]
    );
    let shot = artifacts.join("panel-n-plus-one.png");
    browser.screenshot(&shot).await;
    println!("screenshot of the N+1 panel: {}", shot.display());

    // The fix: one statement, nothing to report.
    browser.goto(&app.url("/books/select-related")).await;
    assert_eq!(browser.count("tr.book").await, n, "one row per book");
    assert_eq!(browser.text("#query-count").await, "1 query");
    browser.follow_panel_link().await;
    assert_eq!(browser.count("table#queries tr.query").await, 1);
    assert_eq!(first_number(&browser.text("#total-queries").await), Some(1));
    let findings = browser.texts("#findings li.finding").await;
    assert!(
        findings.is_empty(),
        "no N+1 finding, nor any other: {findings:?}"
    );
}

/// The first whole number in `text` ("10 queries" → 10).
fn first_number(text: &str) -> Option<u64> {
    let digits: String = text
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// A number followed by a unit of time ("1.2 ms", "830µs", "0.01s").
fn shows_a_duration(text: &str) -> bool {
    let units = ["ns", "µs", "us", "ms", "s"];
    text.char_indices()
        .filter(|(_, c)| c.is_ascii_digit())
        .any(|(i, _)| {
            let rest = text[i..]
                .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
                .trim_start();
            units.iter().any(|u| {
                rest.strip_prefix(u)
                    .is_some_and(|after| !after.starts_with(char::is_alphabetic))
            })
        })
}

/// `$CARGO_TARGET_DIR/browser-artifacts`, or the workspace's `target/browser-artifacts`.
fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("browser-artifacts");
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// The web example, served in-process with the debug panel on.
struct App {
    addr: SocketAddr,
    /// How many books the seed wrote.
    books: usize,
}

impl App {
    async fn start() -> App {
        let db = Db::connect("sqlite::memory:")
            .await
            .expect("open an in-memory SQLite database");
        examples::web::setup(&db)
            .await
            .expect("create and seed the bookstore");
        let books = Book::objects().count(&db).await.expect("count the books") as usize;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listen on a free port of 127.0.0.1");
        let addr = listener.local_addr().expect("the app's address");
        tokio::spawn(examples::web::serve(listener, examples::web::app(db, true)));
        App { addr, books }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// chromedriver, in its own process group: dropping it kills the group, the browser with
/// it, and removes the browser's profile directory.
struct Chromedriver {
    child: Child,
    port: u16,
    profile: PathBuf,
    log: PathBuf,
}

impl Chromedriver {
    /// Start chromedriver on a free port and wait until it is ready; a missing or broken
    /// chromedriver or Chromium fails the test with what to do.
    fn start(artifacts: &Path) -> Chromedriver {
        let driver = std::env::var("ORM_TEST_CHROMEDRIVER")
            .unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chromium = chromium_path();
        for (what, path) in [("chromedriver", &driver), ("Chromium", &chromium)] {
            assert!(
                Path::new(path).is_file(),
                "the browser test needs {what}, not found at {path}: {INSTALL}"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port for chromedriver")
            .port();
        let log = artifacts.join("chromedriver.log");
        let log_file = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let profile =
            std::env::temp_dir().join(format!("orm-browser-test-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new(&driver)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("the log's handle"))
                .stderr(log_file)
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {driver}: {e}; {INSTALL}"))
        };
        let mut driver = Chromedriver {
            child,
            port,
            profile,
            log,
        };
        driver.wait_until_ready();
        driver
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "chromedriver exited at start ({status}); its log, {}:\n{}\n{INSTALL}",
                    self.log.display(),
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {} within 20 s (log: {})",
                self.port,
                self.log.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A new headless Chromium session with a fresh profile.
    async fn session(&self) -> Session {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1000",
            &format!("--user-data-dir={}", self.profile.display()),
        ];
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": { "binary": chromium_path(), "args": args },
                }
            }
        });
        let value = webdriver(self.port, Method::POST, "/session", Some(&capabilities))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "chromedriver could not start Chromium: {e}\n(chromedriver's log: {})\n{INSTALL}",
                    self.log.display()
                )
            });
        let id = value["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in chromedriver's answer: {value}"));
        Session {
            port: self.port,
            id: id.to_string(),
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the browser processes it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn chromium_path() -> String {
    std::env::var("ORM_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// One WebDriver command: `method path` with a JSON body; the answer's `value`, or the
/// WebDriver error as text. A command that takes over a minute (a hung browser) is an
/// error too, so that the suite fails instead of hanging.
async fn webdriver(
    port: u16,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let what = format!("{method} {path}");
    tokio::time::timeout(
        Duration::from_secs(60),
        webdriver_untimed(port, method, path, body),
    )
    .await
    .unwrap_or_else(|_| Err(format!("{what}: no answer from chromedriver in 60 s")))
}

async fn webdriver_untimed(
    port: u16,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let what = format!("{method} {path}");
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("{what}: cannot reach chromedriver: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    tokio::spawn(connection);
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", format!("127.0.0.1:{port}"))
        .header("content-type", "application/json; charset=utf-8")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("{what}: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{what}: {e}"))?
        .to_bytes();
    let answer: Value = serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "{what}: not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    })?;
    if !status.is_success() {
        return Err(format!(
            "{what}: {status}: {} {}",
            answer["value"]["error"], answer["value"]["message"]
        ));
    }
    Ok(answer["value"].clone())
}

/// A browser session; each method panics with what it was doing.
struct Session {
    port: u16,
    id: String,
}

impl Session {
    async fn command(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.id);
        webdriver(self.port, method, &path, body.as_ref())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    async fn goto(&self, url: &str) {
        self.command(Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn current_url(&self) -> String {
        let url = self.command(Method::GET, "/url", None).await;
        url.as_str().unwrap_or_default().to_string()
    }

    /// The WebDriver ids of the elements `css` matches.
    async fn find_all(&self, css: &str) -> Vec<String> {
        let found = self
            .command(
                Method::POST,
                "/elements",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        found
            .as_array()
            .map(|elements| {
                elements
                    .iter()
                    .filter_map(|e| e.as_object()?.values().next()?.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The one element `css` matches: the test fails, saying so, if there is none.
    async fn find(&self, css: &str) -> String {
        let mut found = self.find_all(css).await;
        assert!(
            !found.is_empty(),
            "no element matches `{css}` on {}",
            self.current_url().await
        );
        found.swap_remove(0)
    }

    async fn count(&self, css: &str) -> usize {
        self.find_all(css).await.len()
    }

    /// The visible text of the element `css` matches.
    async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.element_text(&id).await
    }

    async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for id in self.find_all(css).await {
            out.push(self.element_text(&id).await);
        }
        out
    }

    async fn element_text(&self, id: &str) -> String {
        let text = self
            .command(Method::GET, &format!("/element/{id}/text"), None)
            .await;
        text.as_str().unwrap_or_default().trim().to_string()
    }

    /// Click the footer's "SQL panel" link and wait for the panel page.
    async fn follow_panel_link(&self) {
        let from = self.current_url().await;
        let links = self.find_all("#panel-link").await;
        assert!(
            !links.is_empty(),
            "no #panel-link in the footer of {from}: the debug panel is not on \
             (examples::web::app(db, true) puts the app behind orm_sqlx::web::QueryLayer)"
        );
        self.command(
            Method::POST,
            &format!("/element/{}/click", links[0]),
            Some(json!({})),
        )
        .await;
        let panel = examples::web::PANEL_PATH;
        eventually(
            &format!("the panel ({panel}/…) to open from {from}"),
            || async { self.current_url().await.contains(panel) },
        )
        .await;
    }

    async fn screenshot(&self, to: &Path) {
        let png = self.command(Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("the screenshot is base64");
        std::fs::write(to, png).unwrap_or_else(|e| panic!("cannot write {}: {e}", to.display()));
    }

    /// After a failure: what the browser showed, as a screenshot and as HTML.
    async fn save_failure(&self, artifacts: &Path) {
        let shot = artifacts.join("failure.png");
        let page = artifacts.join("failure.html");
        let saved = AssertUnwindSafe(async {
            self.screenshot(&shot).await;
            let source = self.command(Method::GET, "/source", None).await;
            let _ = std::fs::write(&page, source.as_str().unwrap_or_default());
        })
        .catch_unwind()
        .await;
        if saved.is_ok() {
            eprintln!(
                "the page at the failure: {} and {}",
                shot.display(),
                page.display()
            );
        }
    }

    async fn quit(&self) {
        let path = format!("/session/{}", self.id);
        let _ = webdriver(self.port, Method::DELETE, &path, None).await;
    }
}

/// Wait up to 10 s for `check` to hold.
async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "waited 10 s for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn durations_and_numbers_are_read_from_the_panel_text() {
    assert_eq!(first_number("10 queries"), Some(10));
    assert_eq!(first_number("Total: 1"), Some(1));
    assert_eq!(first_number("none"), None);
    assert!(shows_a_duration("1.25 ms"));
    assert!(shows_a_duration("db 830µs"));
    assert!(shows_a_duration("0.01s"));
    assert!(!shows_a_duration("10 queries"));
    assert!(!shows_a_duration("3 statements"));
    assert!(!shows_a_duration(""));
}
