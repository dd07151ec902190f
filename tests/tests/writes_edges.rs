//! Review of issue 12.1's writes (b7ec106: create, save_fields, bulk_update,
//! bulk_create_with; 57a762d: set/clear/add/remove_related): tests of behaviour that
//! differs from Django or from the rustdoc's promises. Tables `rv_*`.

use orm_sqlx::StatementKind::{self, *};
use orm_sqlx::prelude::*;
use orm_tests::on_each_backend;

fn kinds(q: &[orm_sqlx::CapturedQuery]) -> Vec<StatementKind> {
    q.iter().map(|q| q.kind).collect()
}

#[derive(Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "rv_items")]
pub struct Item {
    pub id: i64,
    #[orm(unique, max_length = 40)]
    pub code: String,
    pub qty: i32,
}

fn item(code: &str, qty: i32) -> Item {
    Item {
        id: 0,
        code: code.into(),
        qty,
    }
}

/// A many-to-many of a model to itself with no other side declared: Django's
/// `ManyToManyField("self")`, symmetrical by default.
#[derive(Model, Debug, Clone, Default)]
#[orm(table = "rv_friends")]
pub struct Friend {
    pub id: i64,
    pub name: String,
    pub friends: ManyToMany<Friend>,
}

/// A reverse foreign key that cannot be NULL.
#[derive(Model, Debug, Clone, Default)]
#[orm(table = "rv_owners")]
pub struct Owner {
    pub id: i64,
    #[orm(reverse(Pet::owner))]
    pub pets: Reverse<Pet>,
}

#[derive(Model, Debug, Clone, Default)]
#[orm(table = "rv_pets")]
pub struct Pet {
    pub id: i64,
    pub owner: ForeignKey<Owner>,
}

// ---------------------------------------------------------------------------------------
// bulk_create_with(update_conflicts): keys read back through RETURNING

/// Rows that update and rows that insert, interleaved in one upsert: each instance must
/// get the key of *its* row (Django 5 sets the pk of every object from RETURNING).
/// PASSES on all three servers (SQLite and PostgreSQL return RETURNING rows in VALUES
/// order here, MariaDB too): kept as a guard, since neither documents that order.
#[tokio::test]
async fn upsert_keys_match_each_instance_when_conflicts_and_inserts_interleave() {
    on_each_backend(|db, backend| async move {
        db.create_table::<Item>().await.unwrap();
        let mut first: Vec<Item> = ["a", "b", "c"].iter().map(|c| item(c, 1)).collect();
        Item::objects().bulk_create(&mut first, &db).await.unwrap();

        let mut batch: Vec<Item> = ["x", "c", "y", "a", "z", "b"]
            .iter()
            .map(|c| item(c, 2))
            .collect();
        let (r, q) = capture_queries(Item::objects().bulk_create_with(
            &mut batch,
            |o| o.update_conflicts(|i| i.code, |i| i.qty),
            &db,
        ))
        .await;
        r.unwrap();
        assert_eq!(kinds(&q), [Insert], "{backend:?}");
        let rows = Item::objects().fetch(&db).await.unwrap().to_vec();
        assert_eq!(rows.len(), 6, "{backend:?}");
        assert!(rows.iter().all(|r| r.qty == 2), "{backend:?}: {rows:?}");
        let want: Vec<(String, i64)> = batch
            .iter()
            .map(|b| {
                let row = rows.iter().find(|r| r.code == b.code).unwrap();
                (b.code.clone(), row.id)
            })
            .collect();
        let got: Vec<(String, i64)> = batch.iter().map(|b| (b.code.clone(), b.id)).collect();
        assert_eq!(
            got, want,
            "{backend:?}: keys read back to the wrong instances"
        );
    })
    .await;
}

/// Django: "ignore_conflicts and update_conflicts are mutually exclusive." (ValueError
/// before any query). Here both may be chained and the last one silently wins; after
/// `ignore_conflicts().update_conflicts(..)` the upsert runs but its keys are not read
/// back (ignore_conflicts turned read_keys off), against update_conflicts' rustdoc.
#[tokio::test]
async fn ignore_and_update_conflicts_together_are_refused_before_any_query() {
    on_each_backend(|db, backend| async move {
        db.create_table::<Item>().await.unwrap();
        let mut first = vec![item("a", 1)];
        Item::objects().bulk_create(&mut first, &db).await.unwrap();
        let mut batch = vec![item("a", 2), item("b", 2)];
        let (r, q) = capture_queries(Item::objects().bulk_create_with(
            &mut batch,
            |o| o.ignore_conflicts().update_conflicts(|i| i.code, |i| i.qty),
            &db,
        ))
        .await;
        assert!(
            matches!(r, Err(Error::InvalidInput(_))) && q.is_empty(),
            "{backend:?}: {r:?} after {:?}; keys {:?}",
            kinds(&q),
            batch.iter().map(|b| b.id).collect::<Vec<_>>()
        );
        let mut batch = vec![item("a", 3), item("c", 3)];
        let (r, q) = capture_queries(Item::objects().bulk_create_with(
            &mut batch,
            |o| o.update_conflicts(|i| i.code, |i| i.qty).ignore_conflicts(),
            &db,
        ))
        .await;
        assert!(
            matches!(r, Err(Error::InvalidInput(_))) && q.is_empty(),
            "{backend:?}: {r:?} after {:?}",
            kinds(&q)
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Many-to-many of a model to itself

// ---------------------------------------------------------------------------------------
// Typed errors before any query, whatever the targets

/// remove_related's rustdoc: "a key that cannot be NULL is Error::InvalidInput before any
/// query" (Django's reverse manager has no `remove` there at all). With no targets the
/// call returns Ok: the check comes after the early return for an empty list.
#[tokio::test]
async fn remove_on_a_key_that_cannot_be_null_is_refused_even_with_no_targets() {
    on_each_backend(|db, backend| async move {
        db.create_tables::<(Owner, Pet)>().await.unwrap();
        let mut owner = Owner::default();
        owner.insert(&db).await.unwrap();
        // With targets: refused (as documented).
        let (r, q) = capture_queries(owner.remove_related(|o| o.pets(), [1_i64], &db)).await;
        assert!(
            matches!(r, Err(Error::InvalidInput(_))),
            "{backend:?}: {r:?}"
        );
        assert!(q.is_empty());
        // With none: the same misuse, accepted.
        let (r, q) =
            capture_queries(owner.remove_related(|o| o.pets(), Vec::<i64>::new(), &db)).await;
        assert!(q.is_empty());
        assert!(
            matches!(r, Err(Error::InvalidInput(_))),
            "{backend:?}: remove_related on a NOT NULL reverse key with no targets: {r:?}"
        );
    })
    .await;
}

/// set_related's rustdoc: "An unsaved instance … is Error::InvalidInput before any query";
/// Django refuses any use of a related manager of an unsaved instance (ValueError: "needs
/// to have a value for field 'id' before this relationship can be used"). add_related and
/// remove_related with no targets return Ok for an unsaved instance (the check comes after
/// the early return), while set_related and clear_related refuse it.
#[tokio::test]
async fn add_and_remove_on_an_unsaved_instance_are_refused_even_with_no_targets() {
    on_each_backend(|db, backend| async move {
        db.create_table::<Friend>().await.unwrap();
        let mut unsaved = Friend::default();
        let (r, _) =
            capture_queries(unsaved.set_related(|f| f.friends(), Vec::<i64>::new(), &db)).await;
        assert!(
            matches!(r, Err(Error::InvalidInput(_))),
            "{backend:?}: {r:?}"
        );
        let (r, _) = capture_queries(unsaved.clear_related(|f| f.friends(), &db)).await;
        assert!(
            matches!(r, Err(Error::InvalidInput(_))),
            "{backend:?}: {r:?}"
        );
        let (r, q) =
            capture_queries(unsaved.add_related(|f| f.friends(), Vec::<i64>::new(), &db)).await;
        assert!(q.is_empty());
        assert!(
            matches!(r, Err(Error::InvalidInput(_))),
            "{backend:?}: add_related on an unsaved instance: {r:?}"
        );
        let (r, q) =
            capture_queries(unsaved.remove_related(|f| f.friends(), Vec::<i64>::new(), &db)).await;
        assert!(q.is_empty());
        assert!(
            matches!(r, Err(Error::InvalidInput(_))),
            "{backend:?}: remove_related on an unsaved instance: {r:?}"
        );
    })
    .await;
}

#[derive(Model, Debug, Clone, Default)]
#[orm(table = "rv_labels")]
pub struct Label {
    pub id: i64,
    pub name: String,
    #[orm(reverse(Novel::labels))]
    pub novels: ManyToMany<Novel>,
}

#[derive(Model, Debug, Clone, Default)]
#[orm(table = "rv_novels")]
pub struct Novel {
    pub id: i64,
    pub title: String,
    pub labels: ManyToMany<Label>,
}

// ---------------------------------------------------------------------------------------
// create_related (reachable now from the other side of a many-to-many too)

/// Django refuses a related manager of an unsaved instance before any query
/// (ValueError). Here create_related sends the INSERT of the new row (and on a
/// many-to-many a link to key 0), failing only on the foreign key, at the COMMIT on
/// SQLite and PostgreSQL; every other write of this family (set/clear/add/remove with
/// targets) is `Error::InvalidInput` before any query.
#[tokio::test]
async fn create_related_on_an_unsaved_instance_is_refused_before_any_query() {
    on_each_backend(|db, backend| async move {
        db.create_tables::<(Label, Novel, Owner, Pet)>()
            .await
            .unwrap();
        let mut unsaved = Label::default();
        let mut novel = Novel {
            title: "n".into(),
            ..Default::default()
        };
        let (r, q) = capture_queries(unsaved.create_related(|l| l.novels(), &mut novel, &db)).await;
        assert!(
            matches!(r, Err(Error::InvalidInput(_))) && q.is_empty(),
            "{backend:?}: {r:?} after {:?}",
            kinds(&q)
        );
        let mut owner = Owner::default();
        let mut pet = Pet::default();
        let (r, q) = capture_queries(owner.create_related(|o| o.pets(), &mut pet, &db)).await;
        assert!(
            matches!(r, Err(Error::InvalidInput(_))) && q.is_empty(),
            "{backend:?}: {r:?} after {:?}",
            kinds(&q)
        );
    })
    .await;
}

/// README, "A failed write leaves the instances as they were: bulk_create and save set
/// the generated keys only once every INSERT and the commit succeeded". create_related
/// through a many-to-many sets the new instance's key right after its INSERT; when the
/// link then fails (here: the parent's row is gone) the block is rolled back, and the
/// instance is left carrying the key of a row that does not exist (a later `save()`
/// inserts it under that key instead of a fresh one).
#[tokio::test]
async fn a_failed_create_related_leaves_the_new_instance_without_a_key() {
    on_each_backend(|db, backend| async move {
        db.create_tables::<(Label, Novel)>().await.unwrap();
        let mut label = Label {
            name: "l".into(),
            ..Default::default()
        };
        label.insert(&db).await.unwrap();
        // Another task deletes the label's row.
        Label::objects()
            .filter(|l| l.id.eq(label.id))
            .delete(&db)
            .await
            .unwrap();
        let mut novel = Novel {
            title: "n".into(),
            ..Default::default()
        };
        let r = label.create_related(|l| l.novels(), &mut novel, &db).await;
        assert!(
            matches!(
                r,
                Err(Error::Integrity {
                    kind: orm_sqlx::Violation::ForeignKey,
                    ..
                })
            ),
            "{backend:?}: {r:?}"
        );
        assert_eq!(Novel::objects().count(&db).await.unwrap(), 0, "{backend:?}");
        assert_eq!(
            novel.id, 0,
            "{backend:?}: the instance carries the key of a rolled-back row"
        );
    })
    .await;
}
