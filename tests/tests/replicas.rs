//! Issue 15, part 6: `orm_sqlx::replicas::Databases` — a primary and a replica (two
//! databases of the same backend, each with the library fixture; the replica's B1 is
//! renamed so that a read shows where it went), on every backend: reads go to the
//! replica and writes to the primary; inside `read_your_writes`, reads that follow a
//! write go to the primary; a router sends a model elsewhere; `using(name)`; transactions
//! and cached querysets on the primary; the misuse errors.

use std::time::Duration;

use orm_sqlx::cache::Cache;
use orm_sqlx::prelude::*;
use orm_sqlx::replicas::{Databases, Router, read_your_writes};
use orm_sqlx::{Db, Error};
use orm_tests::library::{Author, Book};
use orm_tests::on_each_backend;

async fn title(ex: &Databases, id: i64) -> String {
    Book::objects().get_pk(id, ex).await.unwrap().title
}

#[tokio::test]
async fn reads_go_to_the_replica_and_writes_to_the_primary() {
    on_each_backend(|_, backend| async move {
        let (p, r, lib) = orm_tests::replica_pair(backend).await;
        let dbs = Databases::new(p.db.clone())
            .replica("replica", r.db.clone())
            .unwrap();
        assert_eq!(title(&dbs, lib.b1.id).await, "B1 (replica)");
        // A write: the primary only.
        Book::objects()
            .filter(|b| b.id.eq(lib.b2.id))
            .update(|b| [b.title.set("Written")], &dbs)
            .await
            .unwrap();
        let mut b3 = lib.b3.clone();
        b3.title = "Saved".into();
        b3.save(&dbs).await.unwrap();
        let on = |db: &Db, id| {
            let db = db.clone();
            async move { Book::objects().get_pk(id, &db).await.unwrap().title }
        };
        assert_eq!(on(&p.db, lib.b2.id).await, "Written");
        assert_eq!(on(&p.db, lib.b3.id).await, "Saved");
        assert_eq!(on(&r.db, lib.b2.id).await, "B2");
        // Outside a read-your-writes scope, reads stay on the replica (its lag shows).
        assert_eq!(title(&dbs, lib.b2.id).await, "B2");
        // A prefetch (one evaluation, several statements) reads the replica too.
        let books: Vec<Book> = Book::objects()
            .prefetch_related(|b| b.tags())
            .order_by(|b| b.id.asc())
            .into_vec(&dbs)
            .await
            .unwrap();
        assert_eq!(books[0].title, "B1 (replica)");
        assert_eq!(books[0].tags.all().unwrap().len(), 2);
        // A cascading delete (an atomic block of several statements) runs on the primary.
        Book::objects()
            .filter(|b| b.id.eq(lib.b3.id))
            .delete(&dbs)
            .await
            .unwrap();
        assert_eq!(Book::objects().count(&p.db).await.unwrap(), 2);
        assert_eq!(Book::objects().count(&r.db).await.unwrap(), 3);
        p.cleanup().await;
        r.cleanup().await;
    })
    .await;
}

#[tokio::test]
async fn reads_after_a_write_in_the_scope_go_to_the_primary() {
    on_each_backend(|_, backend| async move {
        let (p, r, lib) = orm_tests::replica_pair(backend).await;
        let dbs = Databases::new(p.db.clone())
            .replica("replica", r.db.clone())
            .unwrap();
        read_your_writes(async {
            assert_eq!(title(&dbs, lib.b1.id).await, "B1 (replica)", "no write yet");
            Book::objects()
                .filter(|b| b.id.eq(lib.b2.id))
                .update(|b| [b.title.set("Mine")], &dbs)
                .await
                .unwrap();
            assert_eq!(title(&dbs, lib.b2.id).await, "Mine", "reads its write");
            assert_eq!(title(&dbs, lib.b1.id).await, "B1", "from the primary now");
        })
        .await;
        // Another scope (another request) has written nothing.
        read_your_writes(async {
            assert_eq!(title(&dbs, lib.b2.id).await, "B2");
        })
        .await;
        p.cleanup().await;
        r.cleanup().await;
    })
    .await;
}

/// Authors are read from the primary; the rest goes by default.
struct AuthorsOnPrimary;

impl Router for AuthorsOnPrimary {
    fn db_for_read(&self, table: &str) -> Option<&str> {
        (table == Author::META.table).then_some("default")
    }
}

#[tokio::test]
async fn a_router_picks_the_database_per_model() {
    on_each_backend(|_, backend| async move {
        let (p, r, lib) = orm_tests::replica_pair(backend).await;
        let mut alice = lib.alice.clone();
        alice.name = "Alice (replica)".into();
        alice.save(&r.db).await.unwrap();
        let dbs = Databases::new(p.db.clone())
            .replica("replica", r.db.clone())
            .unwrap()
            .router(AuthorsOnPrimary);
        let a = Author::objects().get_pk(lib.alice.id, &dbs).await.unwrap();
        assert_eq!(a.name, "Alice", "authors: the primary");
        assert_eq!(
            title(&dbs, lib.b1.id).await,
            "B1 (replica)",
            "books: the replica"
        );
        // using(name): one database explicitly.
        let explicit = Author::objects()
            .get_pk(lib.alice.id, dbs.using("replica").unwrap())
            .await
            .unwrap();
        assert_eq!(explicit.name, "Alice (replica)");
        assert_eq!(
            title(
                &Databases::new(dbs.using("default").unwrap().clone()),
                lib.b1.id
            )
            .await,
            "B1"
        );
        p.cleanup().await;
        r.cleanup().await;
    })
    .await;
}

#[tokio::test]
async fn transactions_and_cached_querysets_use_the_primary() {
    on_each_backend(|_, backend| async move {
        let (p, r, lib) = orm_tests::replica_pair(backend).await;
        let primary = p.db.clone().with_cache(Cache::local(1 << 20));
        let dbs = Databases::new(primary)
            .replica("replica", r.db.clone())
            .unwrap();
        let id = lib.b1.id;
        let inside = dbs
            .atomic(|tx| {
                Box::pin(async move { Ok(Book::objects().get_pk(id, &mut *tx).await?.title) })
            })
            .await
            .unwrap();
        assert_eq!(inside, "B1");
        // A cached queryset is read from the primary (a lagging replica's rows would be
        // kept for everyone), and the primary's writes invalidate it.
        let cached = || async {
            Book::objects()
                .cached(Duration::from_secs(60))
                .get_pk(id, &dbs)
                .await
                .unwrap()
                .title
        };
        assert_eq!(cached().await, "B1");
        assert_num_queries(0, cached()).await;
        Book::objects()
            .filter(|b| b.id.eq(id))
            .update(|b| [b.title.set("New")], &dbs)
            .await
            .unwrap();
        assert_eq!(cached().await, "New");
        p.cleanup().await;
        r.cleanup().await;
    })
    .await;
}

#[tokio::test]
async fn misuse_is_refused() {
    on_each_backend(|db, backend| async move {
        let other = Db::connect("sqlite::memory:").await.unwrap();
        let dbs = Databases::new(db.clone())
            .replica("replica", db.clone())
            .unwrap();
        let Err(Error::InvalidInput(m)) = dbs.using("nope") else {
            panic!("an unknown name")
        };
        assert!(
            m.contains("`nope`") && m.contains("default, replica"),
            "{m}"
        );
        let taken = dbs.clone().replica("replica", db.clone());
        assert!(matches!(taken, Err(Error::InvalidInput(_))));
        let default = Databases::new(db.clone()).database("default", db.clone());
        assert!(matches!(default, Err(Error::InvalidInput(_))));
        if backend != orm_tests::Backend::Sqlite {
            let mixed = Databases::new(db.clone()).replica("r", other);
            let Err(Error::InvalidInput(m)) = mixed else {
                panic!("two dialects")
            };
            assert!(m.contains("dialect"), "{m}");
        }
    })
    .await;
}

#[tokio::test]
async fn under_the_query_layer_each_request_reads_its_writes() {
    use axum::Router;
    use axum::extract::State;
    use axum::routing::get;
    use tower::ServiceExt;
    on_each_backend(|_, backend| async move {
        let (p, r, lib) = orm_tests::replica_pair(backend).await;
        let dbs = Databases::new(p.db.clone())
            .replica("replica", r.db.clone())
            .unwrap();
        let id = lib.b1.id;
        // Writes B1's pages, then reads its title: the primary's, not the replica's.
        async fn handler(State((dbs, id)): State<(Databases, i64)>) -> String {
            Book::objects()
                .filter(|b| b.id.eq(id))
                .update(|b| [b.pages.set(1)], &dbs)
                .await
                .unwrap();
            Book::objects().get_pk(id, &dbs).await.unwrap().title
        }
        async fn read_only(State((dbs, id)): State<(Databases, i64)>) -> String {
            Book::objects().get_pk(id, &dbs).await.unwrap().title
        }
        let app = Router::new()
            .route("/write", get(handler))
            .route("/read", get(read_only))
            .with_state((dbs, id))
            .layer(orm_sqlx::web::QueryLayer::new());
        let body = |r: axum::response::Response| async move {
            let b = axum::body::to_bytes(r.into_body(), usize::MAX)
                .await
                .unwrap();
            String::from_utf8(b.to_vec()).unwrap()
        };
        let req = |path: &str| {
            axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let wrote = app.clone().oneshot(req("/write")).await.unwrap();
        assert_eq!(body(wrote).await, "B1", "read after its write: the primary");
        let read = app.oneshot(req("/read")).await.unwrap();
        assert_eq!(
            body(read).await,
            "B1 (replica)",
            "another request: the replica"
        );
        p.cleanup().await;
        r.cleanup().await;
    })
    .await;
}
