//! Issue 15: cached querysets (`qs.cached(ttl)`) on every database backend × every cache
//! backend (in process, Redis): a hit sends nothing; every kind of write the ORM sends
//! invalidates what read its table (through joins, subqueries, prefetches and join tables
//! too) and nothing else; a result that raced a write is never served after the write;
//! transactions read their own writes and a rollback invalidates nothing; concurrent
//! misses run one query; iterators, oversize and zero-TTL results are not stored.

use std::time::Duration;

use orm_sqlx::cache::{Cache, QueryCache};
use orm_sqlx::prelude::*;
use orm_sqlx::{CacheOutcome, Db, Error};
use orm_tests::cache::{cached_titles, pause_first_store, with_cached_library};
use orm_tests::library::{Author, Book, Tag};
use orm_tests::{Backend, with_library};

const TTL: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_hit_sends_nothing_and_a_save_invalidates_it() {
    with_cached_library("query_cache", "save", |db, _, lib| async move {
        let (first, sent) = cached_titles(&db).await;
        assert_eq!(sent, 1, "a miss queries");
        let (again, q) = capture_queries(async {
            Book::objects()
                .order_by(|b| b.id.asc())
                .cached(TTL)
                .into_vec(&db)
                .await
        })
        .await;
        assert_eq!(again.unwrap().len(), first.len());
        assert_eq!(q.len(), 1, "the hit is in the log");
        assert_eq!(q[0].cache, Some(CacheOutcome::Hit));
        assert!(!q[0].reached_database());
        assert_eq!(q[0].rows, Some(3));
        // assert_num_queries counts what reached the database.
        assert_num_queries(0, async {
            Book::objects()
                .order_by(|b| b.id.asc())
                .cached(TTL)
                .into_vec(&db)
                .await
                .unwrap()
        })
        .await;

        let mut b1 = lib.b1.clone();
        b1.title = "Renamed".into();
        b1.save(&db).await.unwrap();
        let (after, sent) = cached_titles(&db).await;
        assert_eq!(sent, 1, "the save invalidated the entry");
        assert_eq!(after[0], "Renamed");
        let stats = db.cache().unwrap().stats();
        let books = stats.tables["books"];
        assert!(
            books.invalidations >= 1 && books.hits >= 2 && books.stores >= 2,
            "{stats:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn every_kind_of_write_invalidates() {
    with_cached_library("query_cache", "writes", |db, backend, lib| async move {
        // Each step: warm the cache, write, and the next read must see the write.
        let count = || async { Book::objects().cached(TTL).count(&db).await.unwrap() };
        let pages = || async {
            let rows: Vec<Book> = Book::objects()
                .order_by(|b| b.id.asc())
                .cached(TTL)
                .into_vec(&db)
                .await
                .unwrap();
            rows.iter().map(|b| b.pages).collect::<Vec<_>>()
        };

        assert_eq!(count().await, 3);
        assert_num_queries(0, async { assert_eq!(count().await, 3) }).await;
        // exists() and aggregates are cached too.
        for _ in 0..2 {
            assert!(Book::objects().cached(TTL).exists(&db).await.unwrap());
            let total = Book::objects()
                .cached(TTL)
                .aggregate(|b| b.pages.sum(), &db)
                .await
                .unwrap();
            assert!(total.is_some());
        }
        assert_num_queries(0, async {
            assert!(Book::objects().cached(TTL).exists(&db).await.unwrap());
            Book::objects()
                .cached(TTL)
                .aggregate(|b| b.pages.sum(), &db)
                .await
                .unwrap()
        })
        .await;
        // create
        Book::objects()
            .create(
                Book {
                    title: "New".into(),
                    pages: 1,
                    author: ForeignKey::new(lib.carol.id),
                    ..Default::default()
                },
                &db,
            )
            .await
            .unwrap();
        assert_eq!(count().await, 4, "create");

        // update()
        let before = pages().await;
        Book::objects()
            .update(|b| [b.pages.set(b.pages + 1)], &db)
            .await
            .unwrap();
        let after = pages().await;
        assert_eq!(
            after,
            before.iter().map(|p| p + 1).collect::<Vec<_>>(),
            "update"
        );

        // bulk_update
        let mut rows: Vec<Book> = Book::objects()
            .order_by(|b| b.id.asc())
            .into_vec(&db)
            .await
            .unwrap();
        for b in &mut rows {
            b.pages = 7;
        }
        Book::objects()
            .bulk_update(&rows, |b| b.pages, &db)
            .await
            .unwrap();
        assert!(pages().await.iter().all(|p| *p == 7), "bulk_update");

        // queryset delete (with its cascades into the join table)
        Book::objects()
            .filter(|b| b.title.eq("New"))
            .delete(&db)
            .await
            .unwrap();
        assert_eq!(count().await, 3, "delete");

        // raw SQL through the ORM: the epoch changes
        let table = match backend {
            Backend::Mysql => "`books`",
            _ => "\"books\"",
        };
        db.execute_raw(&format!("UPDATE {table} SET pages = 9"))
            .await
            .unwrap();
        assert!(pages().await.iter().all(|p| *p == 9), "raw SQL");
    })
    .await;
}

#[tokio::test]
async fn joins_subqueries_prefetches_and_join_tables_are_read_tables() {
    with_cached_library("query_cache", "joins", |db, _, lib| async move {
        // select_related: the authors table is read too.
        let author_of_b1 = || async {
            Book::objects()
                .select_related(|b| b.author())
                .filter(|b| b.id.eq(lib.b1.id))
                .cached(TTL)
                .get(&db)
                .await
                .unwrap()
                .author
                .get()
                .unwrap()
                .name
                .clone()
        };
        assert_eq!(author_of_b1().await, "Alice");
        let mut alice = lib.alice.clone();
        alice.name = "Alicia".into();
        alice.save(&db).await.unwrap();
        assert_eq!(author_of_b1().await, "Alicia", "a write to a joined table");

        // A filter across a relation (a join) and a subquery.
        let by_author = || async {
            Book::objects()
                .filter(|b| b.author().name.eq("Bob"))
                .cached(TTL)
                .count(&db)
                .await
                .unwrap()
        };
        assert_eq!(by_author().await, 1);
        let mut bob = lib.bob.clone();
        bob.name = "Robert".into();
        bob.save(&db).await.unwrap();
        assert_eq!(by_author().await, 0, "the filter's join");

        // prefetch through the many-to-many join table: linking a tag invalidates.
        let tags_of_b2 = || async {
            let b: Book = Book::objects()
                .prefetch_related(|b| b.tags())
                .filter(|b| b.id.eq(lib.b2.id))
                .cached(TTL)
                .get(&db)
                .await
                .unwrap();
            b.tags.all().unwrap().len()
        };
        assert_eq!(tags_of_b2().await, 0);
        assert_num_queries(0, tags_of_b2()).await;
        let mut b2 = lib.b2.clone();
        b2.add_related(|b| b.tags(), [&lib.sf], &db).await.unwrap();
        assert_eq!(tags_of_b2().await, 1, "a link written");
    })
    .await;
}

#[tokio::test]
async fn a_write_to_another_table_keeps_the_entry() {
    with_cached_library("query_cache", "other_table", |db, _, _| async move {
        let authors = || async {
            Author::objects()
                .order_by(|a| a.id.asc())
                .cached(TTL)
                .into_vec(&db)
                .await
                .unwrap()
                .len()
        };
        assert_eq!(authors().await, 3);
        Tag::objects()
            .create(
                Tag {
                    name: "new".into(),
                    ..Default::default()
                },
                &db,
            )
            .await
            .unwrap();
        assert_num_queries(0, authors()).await;
    })
    .await;
}

#[tokio::test]
async fn a_result_that_raced_a_write_is_never_served_after_it() {
    with_cached_library("query_cache", "race", |db, _, lib| async move {
        // The read runs its query, then pauses before storing; meanwhile a write commits.
        let (reached_rx, go_tx) = pause_first_store(&db);
        let reader = {
            let db = db.clone();
            tokio::spawn(async move {
                Book::objects()
                    .order_by(|b| b.id.asc())
                    .cached(TTL)
                    .into_vec(&db)
                    .await
                    .unwrap()
            })
        };
        reached_rx.await.unwrap();
        let mut b1 = lib.b1.clone();
        b1.title = "After".into();
        b1.save(&db).await.unwrap();
        go_tx.send(()).unwrap();
        let raced = reader.await.unwrap();
        assert_eq!(
            raced[0].title, lib.b1.title,
            "the read saw the row before the write"
        );
        db.cache().unwrap().pause_before_store(None);
        let (now, sent) = cached_titles(&db).await;
        assert_eq!(now[0], "After", "never the pre-write result");
        assert_eq!(sent, 1);
    })
    .await;
}

#[tokio::test]
async fn transactions_read_their_writes_and_a_rollback_invalidates_nothing() {
    with_cached_library("query_cache", "tx", |db, _, lib| async move {
        let (before, _) = cached_titles(&db).await;
        let invalidations = || db.cache().unwrap().stats().tables["books"].invalidations;
        let n = invalidations();

        // Rolled back: nothing invalidated, the entry still serves.
        let mut tx = db.begin().await.unwrap();
        let mut b1 = lib.b1.clone();
        b1.title = "Rolled back".into();
        b1.save(&mut tx).await.unwrap();
        // Inside, the transaction reads its own write (bypassing the cache).
        let (inside, q) = capture_queries(async {
            Book::objects()
                .order_by(|b| b.id.asc())
                .cached(TTL)
                .into_vec(&mut tx)
                .await
        })
        .await;
        assert_eq!(inside.unwrap()[0].title, "Rolled back");
        assert_eq!(q[0].cache, Some(CacheOutcome::Bypassed));
        // Outside, before the commit, the cached result is still right.
        assert_eq!(cached_titles(&db).await, (before.clone(), 0));
        tx.rollback().await.unwrap();
        assert_eq!(invalidations(), n, "a rollback bumps nothing");
        assert_eq!(cached_titles(&db).await, (before.clone(), 0));

        // Committed: invalidated after the COMMIT.
        db.atomic(|tx| {
            let mut b1 = lib.b1.clone();
            Box::pin(async move {
                b1.title = "Committed".into();
                b1.save(&mut *tx).await?;
                Ok(())
            })
        })
        .await
        .unwrap();
        assert!(invalidations() > n);
        let (after, sent) = cached_titles(&db).await;
        assert_eq!((after[0].as_str(), sent), ("Committed", 1));
    })
    .await;
}

#[tokio::test]
async fn concurrent_misses_run_one_query() {
    with_cached_library("query_cache", "flight", |db, _, _| async move {
        // The first miss pauses before storing; the others queue behind it.
        let (reached_rx, go_tx) = pause_first_store(&db);
        let before = db.cache().unwrap().stats().tables.get("authors").copied();
        assert!(before.is_none());
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move {
                    Author::objects()
                        .order_by(|a| a.id.asc())
                        .cached(TTL)
                        .into_vec(&db)
                        .await
                        .unwrap()
                        .len()
                })
            })
            .collect();
        reached_rx.await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        go_tx.send(()).unwrap();
        for t in tasks {
            assert_eq!(t.await.unwrap(), 3);
        }
        let s = db.cache().unwrap().stats().tables["authors"];
        assert_eq!((s.misses, s.stores, s.hits), (1, 1, 7), "{s:?}");
        db.cache().unwrap().pause_before_store(None);
    })
    .await;
}

#[tokio::test]
async fn iterators_oversize_zero_ttl_and_uncached_are_not_stored() {
    with_cached_library("query_cache", "not_stored", |db, _, _| async move {
        use futures_util::TryStreamExt as _;
        let qs = Book::objects().cached(TTL);
        let streamed: Vec<Book> = qs.iterator(&db, 2).try_collect().await.unwrap();
        assert_eq!(streamed.len(), 3);
        assert!(
            db.cache().unwrap().stats().tables.is_empty(),
            "a stream is never cached"
        );

        Book::objects()
            .cached(Duration::ZERO)
            .into_vec(&db)
            .await
            .unwrap();
        assert_num_queries(1, async {
            Book::objects()
                .cached(Duration::ZERO)
                .into_vec(&db)
                .await
                .unwrap()
        })
        .await;

        assert_num_queries(2, async {
            for _ in 0..2 {
                Book::objects()
                    .cached(TTL)
                    .uncached()
                    .into_vec(&db)
                    .await
                    .unwrap();
            }
        })
        .await;

        let small = db.clone().with_cache(
            QueryCache::new(Cache::local(1 << 20).with_prefix("tiny")).max_entry_bytes(16),
        );
        assert_num_queries(2, async {
            for _ in 0..2 {
                Book::objects().cached(TTL).into_vec(&small).await.unwrap();
            }
        })
        .await;
        let s = small.cache().unwrap().stats().tables["books"];
        assert_eq!((s.too_large, s.stores), (2, 0));
    })
    .await;
}

#[tokio::test]
async fn without_a_cache_a_cached_queryset_queries() {
    with_library(|db, _, _| async move {
        assert!(db.cache().is_none());
        assert_num_queries(2, async {
            for _ in 0..2 {
                Book::objects().cached(TTL).into_vec(&db).await.unwrap();
            }
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn cached_as_is_invalidated_by_its_models() {
    with_cached_library("query_cache", "cached_as", |db, _, lib| async move {
        let cache = db.cache().unwrap();
        let total = || async {
            cache
                .cached_as(&[Book::META], "total-pages", TTL, || async {
                    Book::objects()
                        .aggregate(|b| b.pages.sum(), &db)
                        .await
                        .map(|s| s.unwrap_or(0))
                })
                .await
                .unwrap()
        };
        let first = total().await;
        assert_num_queries(0, total()).await;
        let mut b1 = lib.b1.clone();
        b1.pages += 10;
        b1.save(&db).await.unwrap();
        assert_eq!(total().await, first + 10);
        // A zero TTL computes every time.
        let n: Result<i64, Error> = cache
            .cached_as(&[Book::META], "zero", Duration::ZERO, || async { Ok(1) })
            .await;
        assert_eq!(n.unwrap(), 1);
    })
    .await;
}

#[tokio::test]
async fn two_handles_on_one_database_share_the_cache() {
    // Two pools (as two processes would have) on one database, each with its own
    // connection to the shared cache: a write through one is never followed by a stale
    // read through the other.
    if !orm_tests::redis_required() {
        eprintln!("-- Redis left out by ORM_TEST_BACKENDS");
        return;
    }
    orm_tests::on_each_backend(|_, backend| async move {
        let t = orm_tests::TestDb::open(backend).await;
        if backend == Backend::Sqlite && t.url.contains(":memory:") {
            return;
        }
        orm_tests::library::load(&t.db).await;
        let prefix = orm_tests::cache::unique("query_cache", "two_handles");
        let one = Db::connect(&t.url)
            .await
            .unwrap()
            .with_cache(orm_tests::cache::shared_redis().await.with_prefix(&prefix));
        let two = Db::connect(&t.url)
            .await
            .unwrap()
            .with_cache(orm_tests::cache::shared_redis().await.with_prefix(&prefix));
        let (a, _) = cached_titles(&one).await;
        let (b, sent) = cached_titles(&two).await;
        assert_eq!(
            (a.clone(), 0),
            (b, sent),
            "the second handle hits the first's entry"
        );
        Book::objects()
            .filter(|b| b.id.eq(1))
            .update(|b| [b.title.set("Through two")], &two)
            .await
            .unwrap();
        let (seen, sent) = cached_titles(&one).await;
        assert_eq!(sent, 1);
        assert!(seen.iter().any(|t| t == "Through two"), "{seen:?}");
        t.cleanup().await;
    })
    .await;
}

/// A write made outside the ORM (here a bare sqlx statement on the pool): the cache cannot
/// see it.
async fn write_outside(db: &Db, id: i64, title: &str) {
    use orm_sqlx::sqlx;
    if let Some(p) = db.sqlite_pool() {
        sqlx::query("UPDATE books SET title = ? WHERE id = ?")
            .bind(title)
            .bind(id)
            .execute(p)
            .await
            .unwrap();
    } else if let Some(p) = db.pg_pool() {
        sqlx::query("UPDATE books SET title = $1 WHERE id = $2")
            .bind(title)
            .bind(id)
            .execute(p)
            .await
            .unwrap();
    } else if let Some(p) = db.mysql_pool() {
        sqlx::query("UPDATE books SET title = ? WHERE id = ?")
            .bind(title)
            .bind(id)
            .execute(p)
            .await
            .unwrap();
    }
}

/// SEMANTICS C6: a write made outside the ORM is served stale until an explicit
/// invalidation (of the model, the table, or everything), a flush of the cache (C3) or the
/// TTL.
#[tokio::test]
async fn writes_outside_the_orm_need_an_explicit_invalidation_or_the_ttl() {
    with_cached_library("query_cache", "outside", |db, _, lib| async move {
        let id = lib.b1.id;
        let cache = db.cache().unwrap();
        let (mut before, _) = cached_titles(&db).await;
        let steps = [
            ("Outside", "model"),
            ("Again", "table"),
            ("Flushed", "flush"),
            ("Third", "all"),
        ];
        for (title, how) in steps {
            write_outside(&db, id, title).await;
            assert_eq!(
                cached_titles(&db).await,
                (before.clone(), 0),
                "{how}: unseen"
            );
            match how {
                "model" => cache.invalidate::<Book>().await.unwrap(),
                "table" => cache.invalidate_table("books").await.unwrap(),
                // C3: a flush of the cache (Django's `cache.clear()`) serves nothing old.
                "flush" => cache.cache().clear().await.unwrap(),
                _ => cache.invalidate_all().await.unwrap(),
            }
            let (after, sent) = cached_titles(&db).await;
            assert_eq!((after[0].as_str(), sent), (title, 1), "{how}");
            // Served again from the cache, under the new version.
            let (again, sent) = cached_titles(&db).await;
            assert_eq!((again[0].as_str(), sent), (title, 0));
            before = again;
        }
        // The TTL bounds the rest (another query: the entry above lives 60 s).
        let short = || async {
            capture_queries(async {
                Book::objects()
                    .filter(|b| b.pages.gte(0))
                    .order_by(|b| b.id.asc())
                    .cached(Duration::from_millis(300))
                    .into_vec(&db)
                    .await
                    .unwrap()[0]
                    .title
                    .clone()
            })
            .await
        };
        assert_eq!(short().await.0, "Third");
        write_outside(&db, id, "Fourth").await;
        let (stale, q) = short().await;
        assert_eq!(
            (stale.as_str(), q[0].cache),
            ("Third", Some(CacheOutcome::Hit))
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
        let (fresh, q) = short().await;
        assert_eq!(
            (fresh.as_str(), q[0].cache),
            ("Fourth", Some(CacheOutcome::Miss))
        );
    })
    .await;
}
