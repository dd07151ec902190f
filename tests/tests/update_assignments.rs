//! `update()` with several assignments reads the row as it was, on every backend: SQLite
//! and PostgreSQL evaluate `SET a = b, b = a` against the old row, MySQL left to right
//! (a later value would read the new value of an earlier column), so on MySQL the ORM
//! joins the old row in when a value reads a column set before it.

use orm_sqlx::prelude::*;
use orm_tests::{Backend, on_each_backend};

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "pairs")]
struct Pair {
    id: i64,
    a: i32,
    b: i32,
    label: String,
}

async fn pairs(db: &Db) -> Vec<(i32, i32)> {
    Pair::objects()
        .order_by(|p| p.id.asc())
        .values(|p| (p.a, p.b))
        .fetch(db)
        .await
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn every_value_of_an_update_reads_the_old_row() {
    on_each_backend(|db, backend| async move {
        db.create_table::<Pair>().await.unwrap();
        let mut rows = vec![
            Pair {
                id: 0,
                a: 1,
                b: 2,
                label: "x".into(),
            },
            Pair {
                id: 0,
                a: 5,
                b: 7,
                label: "y".into(),
            },
            Pair {
                id: 0,
                a: 100,
                b: 200,
                label: "z".into(),
            },
        ];
        Pair::objects().bulk_create(&mut rows, &db).await.unwrap();
        let some = || Pair::objects().filter(|p| p.label.is_in(["x", "y"]));

        // A swap.
        let (n, q) = capture_queries(some().update(|p| [p.a.set(p.b), p.b.set(p.a)], &db)).await;
        assert_eq!((n.unwrap(), q.len()), (2, 1), "{backend:?}");
        assert_eq!(
            pairs(&db).await,
            [(2, 1), (7, 5), (100, 200)],
            "{backend:?}"
        );
        if backend == Backend::Mysql {
            assert!(q[0].sql.contains("AS `orm_old`"), "{}", q[0].sql);
            let derived = &q[0].sql[..q[0].sql.find("AS `orm_old`").unwrap()];
            assert!(
                derived.contains("SELECT `pairs`.`id`, `pairs`.`b`, `pairs`.`a` FROM"),
                "only the key and the columns read: {}",
                q[0].sql
            );
        }

        // Arithmetic on a column set before.
        let (n, q) =
            capture_queries(some().update(|p| [p.a.set(p.a + 10), p.b.set(p.a * 2 + p.b)], &db))
                .await;
        assert_eq!((n.unwrap(), q.len()), (2, 1), "{backend:?}");
        assert_eq!(
            pairs(&db).await,
            [(12, 5), (17, 19), (100, 200)],
            "{backend:?}"
        );

        // A value that reads only what comes later, or itself, needs no join.
        let (n, q) =
            capture_queries(Pair::objects().update(|p| [p.a.set(p.b + 1), p.b.set(p.b * 2)], &db))
                .await;
        assert_eq!((n.unwrap(), q.len()), (3, 1));
        assert!(!q[0].sql.contains("orm_old"), "{}", q[0].sql);
        assert_eq!(
            pairs(&db).await,
            [(6, 10), (20, 38), (201, 400)],
            "{backend:?}"
        );

        // Filtered across its own table (a subquery) and by a value read before.
        let (n, _) = capture_queries(
            Pair::objects()
                .filter(|p| {
                    p.id.is_in(Pair::objects().filter(|q| q.a.gt(10)).values(|q| q.id))
                })
                .update(|p| [p.b.set(p.a), p.a.set(p.b)], &db),
        )
        .await;
        assert_eq!(n.unwrap(), 2, "{backend:?}");
        assert_eq!(
            pairs(&db).await,
            [(6, 10), (38, 20), (400, 201)],
            "{backend:?}"
        );
    })
    .await;
}
