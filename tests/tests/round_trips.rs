//! Issue 16.3: a pooled statement on PostgreSQL or MySQL/MariaDB costs the round trip of
//! the statement only: no ping as its connection is lent (sqlx's pools ping every idle
//! connection they lend) nor as it comes back (sqlx pings every returned connection; a
//! `Db::connect` pool keeps cleanly finished connections on a shelf of its own). A
//! connection idle for longer than `IDLE_CHECK_AFTER` is still checked, a failed
//! statement's connection still goes back through sqlx's check, and closing the pool
//! still completes. Counted by a loopback proxy between the pool and the server: a
//! "turn" is the client speaking again after the server answered, one per round trip.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use orm_sqlx::Db;
use orm_tests::{Backend, mysql_url, postgres_url, required_backends};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// `host:port` of a server URL (`scheme://user@host:port/...`).
fn address(url: &str) -> String {
    let rest = url.split("://").nth(1).expect("a URL");
    let rest = rest.rsplit('@').next().expect("a host");
    rest.split(['/', '?']).next().expect("host:port").to_owned()
}

/// A proxy to `upstream` on a port of its own; the counter of round trips it saw.
async fn proxy(upstream: String) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let turns = Arc::new(AtomicUsize::new(0));
    let counted = turns.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(&upstream).await.unwrap();
            tokio::spawn(pump(client, server, counted.clone()));
        }
    });
    (port, turns)
}

/// Copy both ways, counting each time the client speaks after the server did.
async fn pump(client: TcpStream, server: TcpStream, turns: Arc<AtomicUsize>) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    // Whether the server spoke last on this connection.
    let answered = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let up = {
        let answered = answered.clone();
        async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match cr.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if answered.swap(false, Ordering::SeqCst) {
                    turns.fetch_add(1, Ordering::SeqCst);
                }
                if sw.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    };
    let down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            answered.store(true, Ordering::SeqCst);
            if cw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    };
    tokio::join!(up, down);
}

async fn round_trips(db: &Db, turns: &AtomicUsize, statements: usize, sql: &str) -> usize {
    // Let the pool's spawned returns finish before and after counting.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = turns.load(Ordering::SeqCst);
    for _ in 0..statements {
        let _ = db.execute_raw(sql).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    turns.load(Ordering::SeqCst) - before
}

async fn check(url: String) -> Db {
    let (port, turns) = proxy(address(&url)).await;
    let via_proxy = url.replacen(&address(&url), &format!("127.0.0.1:{port}"), 1);
    let db = Db::connect(&via_proxy).await.unwrap();
    // Warm: connections open, statements prepared.
    round_trips(&db, &turns, 5, "SELECT 1").await;
    let n = 20;
    let seen = round_trips(&db, &turns, n, "SELECT 1").await;
    assert_eq!(seen, n, "round trips for {n} statements");
    // Idle past the limit: the connection is pinged as it is lent, then used.
    tokio::time::sleep(orm_sqlx::IDLE_CHECK_AFTER + Duration::from_millis(200)).await;
    let seen = round_trips(&db, &turns, 1, "SELECT 1").await;
    assert_eq!(seen, 2, "ping as lent, the statement");
    // A failed statement's connection goes back to sqlx, which pings it.
    let seen = round_trips(&db, &turns, 1, "SELECT no_such_column_anywhere").await;
    assert_eq!(seen, 2, "the statement, sqlx's ping as returned");
    db
}

/// Closing the pool waits for every connection lent: the shelved ones come back.
async fn closes(db: Db, close: impl std::future::Future<Output = ()>) {
    // One connection on the shelf.
    db.execute_raw("SELECT 1").await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), close)
        .await
        .expect("the pool closed");
    drop(db);
}

#[tokio::test]
async fn a_pooled_postgres_statement_costs_one_round_trip() {
    if required_backends().contains(&Backend::Postgres) {
        let db = check(postgres_url()).await;
        let pool = db.pg_pool().unwrap().clone();
        closes(db, async move { pool.close().await }).await;
    }
}

#[tokio::test]
async fn a_pooled_mysql_statement_costs_one_round_trip() {
    if required_backends().contains(&Backend::Mysql) {
        let db = check(format!("{}/test", mysql_url().trim_end_matches('/'))).await;
        let pool = db.mysql_pool().unwrap().clone();
        closes(db, async move { pool.close().await }).await;
    }
}
