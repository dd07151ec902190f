//! A review's case (issue 16): the deadlock retry of get_or_create ran the row's
//! `pre_save` hook once per INSERT attempt; it runs once (Django's get_or_create saves
//! once; Hooks' doc: `pre_save`, the write, `post_save`, around "the row
//! `get_or_create`/`update_or_create` write").

use std::sync::atomic::{AtomicUsize, Ordering};

use orm_sqlx::prelude::*;
use orm_tests::with_library;

static PRE_SAVES: AtomicUsize = AtomicUsize::new(0);

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "tags", hooks)]
pub struct HookedTag {
    pub id: i64,
    pub name: String,
}

impl Hooks for HookedTag {
    fn pre_save(&mut self) -> Result<()> {
        PRE_SAVES.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn a_get_or_create_that_loses_a_deadlock_runs_pre_save_once() {
    with_library(|db, backend, _lib| async move {
        if backend != orm_tests::Backend::Mysql {
            return;
        }
        db.execute_raw("CREATE UNIQUE INDEX tags_name ON tags (name)")
            .await
            .unwrap();
        PRE_SAVES.store(0, Ordering::SeqCst);
        let racer = {
            let db = db.clone();
            async move {
                HookedTag::objects()
                    .get_or_create(
                        |t| t.name.eq("rust"),
                        || HookedTag {
                            id: 0,
                            name: "rust".into(),
                        },
                        &db,
                    )
                    .await
            }
        };
        let (row, winner) = orm_tests::library::race_a_deadlock_on_a_tag(&db, racer).await;
        let (_row, created) = row.unwrap();
        // The scenario happened: the racer lost the deadlock (InnoDB rolls back the
        // smaller transaction) and found the winner's row.
        assert!(
            !created && winner.is_ok(),
            "created: {created}, winner: {winner:?}"
        );
        // One get_or_create, at most one row written by it: pre_save once.
        assert_eq!(PRE_SAVES.load(Ordering::SeqCst), 1, "pre_save runs");
    })
    .await;
}
