//! Review of the query cache (commit 3e73482, "Cached querysets"): each test here showed a
//! bug — a stale read, a write path that invalidated nothing, a deadlock — and failed on
//! that commit; the comments above each say what it was (the "BUG" notes describe the code
//! as it was then). Same setup as `query_cache.rs`: every database backend × every cache
//! backend (in process, Redis).

use std::time::Duration;

use futures_util::FutureExt as _;
use orm_sqlx::prelude::*;
use orm_tests::cache::{cached_titles, with_cached_library};
use orm_tests::library::{Author, Book};

const TTL: Duration = Duration::from_secs(60);

// ---- 1. a subquery's tables are not read tables ---------------------------------------

/// BUG: `Cond::InQuery` (`field.is_in(other_queryset)`) is compiled by its own
/// `SqlWriter` (orm-core/src/sql/compiler/mod.rs, `Cond::InQuery` arm of the condition
/// writer): the tables that inner writer's `Aliases` took are dropped with it, so
/// `Statement::tables` of `authors WHERE id IN (SELECT author_id FROM books …)` is
/// `Read(["authors"])` only. A write to `books` then leaves the cached result in place
/// and it is served stale, although the docs (README, `QuerySet::cached`, SEMANTICS C1)
/// promise that subqueries are read tables.
#[tokio::test]
async fn a_write_to_a_table_read_by_an_in_subquery_invalidates() {
    with_cached_library(
        "query_cache_review",
        "in_subquery",
        |db, _, lib| async move {
            let long_authors = || async {
                let long = Book::objects()
                    .filter(|b| b.pages.gte(200))
                    .values(|b| b.author);
                Author::objects()
                    .filter(|a| a.id.is_in(long))
                    .cached(TTL)
                    .count(&db)
                    .await
                    .unwrap()
            };
            // Alice (B1, 300 pages) and Bob (B3, 200 pages).
            assert_eq!(long_authors().await, 2);
            assert_num_queries(0, long_authors()).await;
            // B3 becomes short: Bob has no long book any more.
            Book::objects()
                .filter(|b| b.id.eq(lib.b3.id))
                .update(|b| [b.pages.set(50)], &db)
                .await
                .unwrap();
            assert_eq!(
                long_authors().await,
                1,
                "a write to `books`, read by the IN subquery, must invalidate the cached count"
            );
        },
    )
    .await;
}

// ---- 2. the inner query of a sliced/distinct aggregate --------------------------------

/// BUG: `compiler::aggregate` of a sliced or distinct queryset
/// (orm-core/src/sql/compiler/select.rs, the `q.is_sliced() || q.distinct` branch)
/// writes the rows it aggregates with a second `SqlWriter` (`inner`) and returns the outer
/// writer's `finish()`: only the model's own table is a read table; the joins the inner
/// query's filter took (`authors` here) are lost. Renaming Bob leaves the cached sum of
/// "Bob's books" in place.
#[tokio::test]
async fn a_distinct_aggregate_reads_the_tables_its_filter_joins() {
    with_cached_library(
        "query_cache_review",
        "distinct_aggregate",
        |db, _, lib| async move {
            let bobs_pages = || async {
                Book::objects()
                    .filter(|b| b.author().name.eq("Bob"))
                    .distinct()
                    .cached(TTL)
                    .aggregate(|b| b.pages.sum(), &db)
                    .await
                    .unwrap()
            };
            assert_eq!(bobs_pages().await, Some(200), "B3");
            assert_num_queries(0, bobs_pages()).await;
            let mut bob = lib.bob.clone();
            bob.name = "Robert".into();
            bob.save(&db).await.unwrap();
            assert_eq!(
                bobs_pages().await,
                None,
                "a write to `authors`, joined by the aggregated subquery, must invalidate"
            );
        },
    )
    .await;
}

// ---- 3. a COMMIT whose future is dropped -------------------------------------------

/// BUG: `Transaction::commit` (orm-sqlx/src/conn.rs) gives the written tables new
/// versions only after `tx.commit().await` returns (and `TxScope::commit` likewise). A
/// commit future dropped while the COMMIT is in flight (a cancelled request, a timeout)
/// leaves the transaction committed on the server — and nothing bumped: the cached
/// result from before the transaction is served for the whole TTL. Statements outside a
/// transaction arm an `AfterWrite` guard for exactly this; the COMMIT has none.
#[tokio::test]
async fn a_commit_whose_future_is_dropped_still_invalidates() {
    with_cached_library(
        "query_cache_review",
        "dropped_commit",
        |db, _, lib| async move {
            let (before, _) = cached_titles(&db).await;
            assert_eq!(before[0], lib.b1.title);
            let mut tx = db.begin().await.unwrap();
            let mut b1 = lib.b1.clone();
            b1.title = "Committed".into();
            b1.save(&mut tx).await.unwrap();
            {
                // One poll sends the COMMIT; then the future is dropped (cancelled).
                let mut commit = Box::pin(tx.commit());
                let _ = (&mut commit).now_or_never();
            }
            // The server commits it all the same.
            orm_tests::cache::wait_for_title(&db, lib.b1.id, "Committed").await;
            let (after, _) = cached_titles(&db).await;
            assert_eq!(
                after[0], "Committed",
                "the committed write must invalidate the cached result (stale read)"
            );
        },
    )
    .await;
}

// ---- 4. writes through `Connection::conn()` / `Transaction::conn()` --------------------

/// BUG: `Connection::conn()` and `Transaction::conn()` (orm-sqlx/src/conn.rs) hand out a
/// `ConnRef`, which is an `Executor` of its own with no `Link` to the query cache
/// (`impl Executor for ConnRef` sends straight to the driver; its `atomic` passes
/// `Default::default()` as the link). A write the ORM sends through it — on a connection
/// taken from a `Db` with a cache — invalidates nothing, contrary to "every write sent
/// through this Db (its clones, its connections and transactions) invalidates".
#[tokio::test]
async fn a_write_through_a_borrowed_connection_invalidates() {
    with_cached_library("query_cache_review", "conn_ref", |db, _, lib| async move {
        let (before, _) = cached_titles(&db).await;
        assert_eq!(before[0], lib.b1.title);
        let mut conn = db.acquire().await.unwrap();
        Book::objects()
            .filter(|b| b.id.eq(lib.b1.id))
            .update(|b| [b.title.set("Via conn")], conn.conn())
            .await
            .unwrap();
        drop(conn);
        assert_eq!(
            orm_tests::cache::title_in_db(&db, lib.b1.id).await,
            "Via conn"
        );
        let (after, _) = cached_titles(&db).await;
        assert_eq!(
            after[0], "Via conn",
            "a write through Connection::conn() must invalidate (stale read)"
        );
    })
    .await;
}

// ---- 5. single flight while holding a pool connection ----------------------------------

/// BUG (deadlock): `QueryCache::plan` joins the single-flight lock of a missed key and
/// holds it while the statement runs; on a `&Db` the statement's connection is taken from
/// the pool *after* the flight is joined (`Db::for_each_row`'s `cached_rows!`), while an
/// executor that already holds a connection (a `Connection`, or the session connection
/// every `prefetch_related` evaluation on a `&Db` holds) waits for the flight *holding* its
/// connection. With the pool exhausted, the leader waits for a connection the waiter
/// holds, and the waiter for the leader's flight: both hang until the pool's acquire
/// timeout (then the leader fails). Without the cache both would run. Here the pool has
/// one connection; the realistic form is N requests reading `qs.prefetch_related(..)`
/// and one reading `qs` on a pool of N.
#[tokio::test]
async fn a_miss_waiting_for_a_flight_does_not_deadlock_with_the_pool() {
    for backend in orm_tests::required_backends() {
        let t = orm_tests::TestDb::open(backend).await;
        eprintln!("-- on {}", backend.name());
        orm_tests::library::load(&t.db).await;
        for (cache_name, cache) in orm_tests::cache::backends("query_cache_review", "flight").await
        {
            eprintln!("-- cache: {cache_name}");
            let (one, _) = t.one_connection_pool(Duration::from_secs(6)).await;
            let db = one.with_cache(cache);
            let read = || Book::objects().order_by(|b| b.id.asc()).cached(TTL);
            // This task holds the pool's only connection.
            let mut conn = db.acquire().await.unwrap();
            // Another request misses the key: it joins the flight, then waits for the pool.
            let leader = {
                let db = db.clone();
                let qs = read();
                tokio::spawn(async move { qs.into_vec(&db).await.map(|v| v.len()) })
            };
            let misses = || {
                db.cache()
                    .unwrap()
                    .stats()
                    .tables
                    .get("books")
                    .map_or(0, |s| s.misses)
            };
            for _ in 0..1000 {
                if misses() > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            assert_eq!(misses(), 1, "the leader joined the flight");
            // The same read on the held connection: it waits for the leader's flight.
            let waited =
                tokio::time::timeout(Duration::from_secs(3), read().into_vec(&mut conn)).await;
            drop(conn);
            let _ = leader.await;
            assert!(
                waited.is_ok(),
                "a cached read on a held connection waited for a flight whose leader waits \
                 for that connection (deadlock until the pool's acquire timeout)"
            );
            assert_eq!(waited.unwrap().unwrap().len(), 3);
        }
        t.cleanup().await;
    }
}

// ---- 6. cached_as computed inside a transaction ---------------------------------------

/// BUG: `QueryCache::cached_as` stores whatever its computation returned, even when the
/// computation read through a transaction that wrote the tables it reads: the value holds
/// uncommitted data, is stored with the current (pre-commit) versions, and a rollback
/// bumps nothing — so every later call serves data that never existed. Cached querysets
/// refuse exactly this ("inside a transaction nothing is stored"; a transaction's reads of
/// tables it wrote bypass the cache), but `cached_as` does not know where its
/// computation read. django-cacheops never caches inside a dirty transaction.
#[tokio::test]
async fn cached_as_never_stores_what_a_transaction_has_not_committed() {
    with_cached_library(
        "query_cache_review",
        "cached_as_tx",
        |db, _, lib| async move {
            let cache = db.cache().unwrap();
            let id = lib.b1.id;
            let mut tx = db.begin().await.unwrap();
            let mut b1 = lib.b1.clone();
            b1.title = "Uncommitted".into();
            b1.save(&mut tx).await.unwrap();
            let txr = &mut tx;
            let inside: String = cache
                .cached_as(&[Book::META], "b1-title", TTL, move || async move {
                    Book::objects()
                        .filter(|b| b.id.eq(id))
                        .get(&mut *txr)
                        .await
                        .map(|b| b.title)
                })
                .await
                .unwrap();
            assert_eq!(inside, "Uncommitted", "the transaction reads its own write");
            tx.rollback().await.unwrap();
            let outside: String = cache
                .cached_as(&[Book::META], "b1-title", TTL, || async {
                    Book::objects()
                        .filter(|b| b.id.eq(id))
                        .get(&db)
                        .await
                        .map(|b| b.title)
                })
                .await
                .unwrap();
            assert_eq!(
                outside, lib.b1.title,
                "a rolled-back write must never be served from cached_as (dirty read)"
            );
        },
    )
    .await;
}

// ---- 7. a write abandoned mid-statement that the server finishes later -----------------

/// BUG: outside a transaction, a write whose future is dropped mid-statement gets its new
/// versions *at once* (`AfterWrite`'s `Drop` spawns the bump, orm-sqlx/src/cache/query.rs),
/// but the server goes on with the statement it received and may finish (and autocommit)
/// it later — here once a lock it waits for is released. A read between the bump and that
/// commit stores the old rows under the new versions, and nothing bumps again: the stale
/// result is served for the whole TTL. The design comment says the outcome of a
/// cancelled statement "is not known"; bumping before it is known is not enough.
#[tokio::test]
async fn a_write_abandoned_mid_statement_invalidates_when_it_lands() {
    with_cached_library(
        "query_cache_review",
        "abandoned_write",
        |db, _, lib| async move {
            let id = lib.b1.id;
            let (before, _) = cached_titles(&db).await;
            assert_eq!(before[0], lib.b1.title);
            let holder = orm_tests::cache::abandon_a_write_to(&db, id).await;
            // A read now misses and stores the rows as they still are, under the new versions.
            let (mid, _) = cached_titles(&db).await;
            assert_eq!(mid[0], lib.b1.title);
            // The lock goes; the server finishes the abandoned UPDATE and commits it.
            holder.rollback().await.unwrap();
            orm_tests::cache::wait_for_title(&db, id, "Landed").await;
            let (after, _) = cached_titles(&db).await;
            assert_eq!(
                after[0], "Landed",
                "the abandoned write landed after its bump: the cached result is stale"
            );
        },
    )
    .await;
}
