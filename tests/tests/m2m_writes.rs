//! Issue 12.1: writes to many-valued relations (Django's related managers): `set_related`,
//! `clear_related`, add/remove by key as well as by instance, and the other side of a
//! many-to-many (`#[orm(reverse(Novel::labels))] novels: ManyToMany<Novel>`), on every
//! backend, with the exact statements each sends.
//!
//! The models are this file's own (tables `m2m_*`), so the shared fixture's column and
//! query counts stay as they are.

use orm_sqlx::StatementKind::{self, *};
use orm_sqlx::prelude::*;
use orm_tests::{Backend, on_each_backend};

#[derive(Model, Debug, Clone, Default)]
#[orm(table = "m2m_writers")]
pub struct Writer {
    pub id: i64,
    pub name: String,
    #[orm(reverse(Novel::writer))]
    pub novels: Reverse<Novel>,
}

#[derive(Model, Debug, Clone, Default)]
#[orm(table = "m2m_labels")]
pub struct Label {
    pub id: i64,
    pub name: String,
    /// The other side of `Novel.labels`: its join table, `m2m_novel_label`.
    #[orm(reverse(Novel::labels))]
    pub novels: ManyToMany<Novel>,
}

#[derive(Model, Debug, Clone, Default)]
#[orm(table = "m2m_novels")]
pub struct Novel {
    pub id: i64,
    pub title: String,
    pub writer: Option<ForeignKey<Writer>>,
    #[orm(through = "m2m_novel_label")]
    pub labels: ManyToMany<Label>,
}

/// A reverse foreign key that cannot be NULL.
#[derive(Model, Debug, Clone, Default)]
#[orm(table = "m2m_owners")]
pub struct Owner {
    pub id: i64,
    #[orm(reverse(Pet::owner))]
    pub pets: Reverse<Pet>,
}

#[derive(Model, Debug, Clone, Default)]
#[orm(table = "m2m_pets")]
pub struct Pet {
    pub id: i64,
    pub owner: ForeignKey<Owner>,
}

fn kinds(q: &[orm_sqlx::CapturedQuery]) -> Vec<StatementKind> {
    q.iter().map(|q| q.kind).collect()
}

struct Shelf {
    writer: Writer,
    labels: Vec<Label>,
    novels: Vec<Novel>,
}

/// Labels l0..l3, novels N0..N2 by one writer, no links.
async fn shelf(db: &Db) -> Shelf {
    db.create_tables::<(Writer, Label, Novel, Owner, Pet)>()
        .await
        .unwrap();
    let mut writer = Writer {
        name: "W".into(),
        ..Default::default()
    };
    writer.insert(db).await.unwrap();
    let mut labels: Vec<Label> = (0..4)
        .map(|i| Label {
            name: format!("l{i}"),
            ..Default::default()
        })
        .collect();
    Label::objects().bulk_create(&mut labels, db).await.unwrap();
    let mut novels: Vec<Novel> = (0..3)
        .map(|i| Novel {
            title: format!("N{i}"),
            writer: Some(ForeignKey::new(writer.id)),
            ..Default::default()
        })
        .collect();
    Novel::objects().bulk_create(&mut novels, db).await.unwrap();
    Shelf {
        writer,
        labels,
        novels,
    }
}

async fn label_ids(novel: &Novel, db: &Db) -> Vec<i64> {
    let mut ids: Vec<i64> = novel
        .labels()
        .fetch(db)
        .await
        .unwrap()
        .iter()
        .map(|l| l.id)
        .collect();
    ids.sort_unstable();
    ids
}

async fn novel_ids(label: &Label, db: &Db) -> Vec<i64> {
    let mut ids: Vec<i64> = label
        .novels()
        .fetch(db)
        .await
        .unwrap()
        .iter()
        .map(|n| n.id)
        .collect();
    ids.sort_unstable();
    ids
}

/// Rows of the join table (a repeated pair would show here: each novel's `labels()` joins
/// through it, one row per link).
async fn link_rows(db: &Db) -> u64 {
    let mut n = 0;
    for novel in Novel::objects().into_vec(db).await.unwrap() {
        n += novel.labels().count(db).await.unwrap();
    }
    n
}

#[tokio::test]
async fn set_deletes_what_is_not_in_the_set_and_inserts_the_rest_without_a_select() {
    on_each_backend(|db, backend| async move {
        let Shelf { labels, novels, .. } = shelf(&db).await;
        let [l0, l1, l2, _] = [&labels[0], &labels[1], &labels[2], &labels[3]];
        let mut n0 = novels[0].clone();
        n0.add_related(|n| n.labels(), &[l0, l1], &db)
            .await
            .unwrap();

        let (r, q) = capture_queries(n0.set_related(|n| n.labels(), &[l1.id, l2.id], &db)).await;
        r.unwrap();
        assert_eq!(kinds(&q), [Begin, Delete, Insert, Commit], "{backend:?}");
        assert_eq!(label_ids(&n0, &db).await, [l1.id, l2.id], "{backend:?}");

        // The same set again: the same four statements, nothing changes.
        let (r, q) = capture_queries(n0.set_related(|n| n.labels(), &[l1, l2], &db)).await;
        r.unwrap();
        assert_eq!(kinds(&q), [Begin, Delete, Insert, Commit], "{backend:?}");
        assert_eq!(label_ids(&n0, &db).await, [l1.id, l2.id], "{backend:?}");
        assert_eq!(link_rows(&db).await, 2, "{backend:?}");

        // Repeats in the input count once: one link each.
        let (r, q) =
            capture_queries(n0.set_related(|n| n.labels(), vec![l0.id, l0.id, l2.id, l0.id], &db))
                .await;
        r.unwrap();
        assert_eq!(kinds(&q), [Begin, Delete, Insert, Commit], "{backend:?}");
        assert_eq!(label_ids(&n0, &db).await, [l0.id, l2.id], "{backend:?}");
        assert_eq!(link_rows(&db).await, 2, "{backend:?}");
        // The INSERT binds each pair once.
        let insert = q.iter().find(|q| q.kind == Insert).unwrap();
        assert_eq!(insert.sql.matches("), (").count(), 1, "{}", insert.sql);

        // Other novels' links are left alone.
        let mut n1 = novels[1].clone();
        n1.add_related(|n| n.labels(), &[l0], &db).await.unwrap();
        n0.set_related(|n| n.labels(), &[l1], &db).await.unwrap();
        assert_eq!(label_ids(&n1, &db).await, [l0.id], "{backend:?}");
        assert_eq!(label_ids(&n0, &db).await, [l1.id], "{backend:?}");

        // Inside a transaction the block is a savepoint.
        let mut tx = db.begin().await.unwrap();
        let (r, q) = capture_queries(n0.set_related(|n| n.labels(), [l2.id], &mut tx)).await;
        r.unwrap();
        assert_eq!(
            kinds(&q),
            [Savepoint, Delete, Insert, ReleaseSavepoint],
            "{backend:?}"
        );
        tx.commit().await.unwrap();
        assert_eq!(label_ids(&n0, &db).await, [l2.id], "{backend:?}");

        // The empty set is a clear: one DELETE.
        let (r, q) = capture_queries(n0.set_related(|n| n.labels(), Vec::<i64>::new(), &db)).await;
        r.unwrap();
        assert_eq!(kinds(&q), [Delete], "{backend:?}");
        assert!(label_ids(&n0, &db).await.is_empty(), "{backend:?}");
        assert_eq!(label_ids(&n1, &db).await, [l0.id], "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn a_failed_set_changes_nothing() {
    on_each_backend(|db, backend| async move {
        let Shelf { labels, novels, .. } = shelf(&db).await;
        let mut n0 = novels[0].clone();
        n0.add_related(|n| n.labels(), &labels[..2], &db)
            .await
            .unwrap();
        // A key with no row: the INSERT fails, and the DELETE before it is rolled back.
        let (r, q) =
            capture_queries(n0.set_related(|n| n.labels(), [labels[2].id, 999_999], &db)).await;
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
        // MySQL checks the key at the INSERT; SQLite and PostgreSQL, whose keys are
        // deferred, at the COMMIT.
        let expected: &[StatementKind] = match backend {
            Backend::Mysql => &[Begin, Delete, Insert, Rollback],
            Backend::Sqlite | Backend::Postgres => &[Begin, Delete, Insert, Commit, Rollback],
        };
        assert_eq!(kinds(&q), expected, "{backend:?}");
        assert_eq!(
            label_ids(&n0, &db).await,
            [labels[0].id, labels[1].id],
            "{backend:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn add_and_remove_take_keys_or_instances() {
    on_each_backend(|db, backend| async move {
        let Shelf { labels, novels, .. } = shelf(&db).await;
        let mut n0 = novels[0].clone();
        let (r, q) =
            capture_queries(n0.add_related(|n| n.labels(), &[labels[0].id, labels[1].id], &db))
                .await;
        r.unwrap();
        assert_eq!(kinds(&q), [Insert], "{backend:?}");
        let (r, q) = capture_queries(n0.add_related(|n| n.labels(), vec![&labels[2]], &db)).await;
        r.unwrap();
        assert_eq!(kinds(&q), [Insert], "{backend:?}");
        // Already linked, and repeated: kept once.
        let (r, q) =
            capture_queries(n0.add_related(|n| n.labels(), [labels[0].id, labels[0].id], &db))
                .await;
        r.unwrap();
        assert_eq!(kinds(&q), [Insert], "{backend:?}");
        assert_eq!(link_rows(&db).await, 3, "{backend:?}");

        // Keys not linked are ignored: one DELETE, nothing removed.
        let (r, q) = capture_queries(n0.remove_related(|n| n.labels(), &[labels[3].id], &db)).await;
        r.unwrap();
        assert_eq!(kinds(&q), [Delete], "{backend:?}");
        assert_eq!(link_rows(&db).await, 3, "{backend:?}");
        let (r, q) = capture_queries(n0.remove_related(|n| n.labels(), &labels[..2], &db)).await;
        r.unwrap();
        assert_eq!(kinds(&q), [Delete], "{backend:?}");
        assert_eq!(label_ids(&n0, &db).await, [labels[2].id], "{backend:?}");
        // Nothing to add or remove: no query.
        let (r, q) =
            capture_queries(n0.remove_related(|n| n.labels(), Vec::<i64>::new(), &db)).await;
        r.unwrap();
        assert!(q.is_empty(), "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn clear_is_one_statement_and_refuses_a_key_that_cannot_be_null() {
    on_each_backend(|db, backend| async move {
        let Shelf {
            mut writer,
            labels,
            novels,
        } = shelf(&db).await;
        let mut n0 = novels[0].clone();
        n0.add_related(|n| n.labels(), &labels, &db).await.unwrap();
        let mut n1 = novels[1].clone();
        n1.add_related(|n| n.labels(), &labels[..1], &db)
            .await
            .unwrap();
        let (r, q) = capture_queries(n0.clear_related(|n| n.labels(), &db)).await;
        r.unwrap();
        assert_eq!(kinds(&q), [Delete], "{backend:?}");
        assert!(label_ids(&n0, &db).await.is_empty(), "{backend:?}");
        assert_eq!(link_rows(&db).await, 1, "{backend:?}");

        // A reverse foreign key that can be NULL: one UPDATE.
        let (r, q) = capture_queries(writer.clear_related(|w| w.novels(), &db)).await;
        r.unwrap();
        assert_eq!(kinds(&q), [Update], "{backend:?}");
        assert_eq!(writer.novels().count(&db).await.unwrap(), 0, "{backend:?}");
        assert_eq!(Novel::objects().count(&db).await.unwrap(), 3, "{backend:?}");

        // One that cannot: an error before any query.
        let mut owner = Owner::default();
        owner.insert(&db).await.unwrap();
        let mut pet = Pet {
            owner: ForeignKey::new(owner.id),
            ..Default::default()
        };
        pet.insert(&db).await.unwrap();
        let (r, q) = capture_queries(owner.clear_related(|o| o.pets(), &db)).await;
        assert!(matches!(r, Err(Error::InvalidInput(_))), "{r:?}");
        assert!(q.is_empty(), "{backend:?}");
        assert_eq!(owner.pets().count(&db).await.unwrap(), 1, "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn set_on_a_reverse_foreign_key() {
    on_each_backend(|db, backend| async move {
        let Shelf {
            mut writer, novels, ..
        } = shelf(&db).await;
        let mut other = Writer {
            name: "V".into(),
            ..Default::default()
        };
        other.insert(&db).await.unwrap();
        // N0 leaves W (its key becomes NULL), N2 stays, and V's novel N1 moves to W.
        let mut v = other.clone();
        v.set_related(|w| w.novels(), [novels[1].id], &db)
            .await
            .unwrap();
        let (r, q) =
            capture_queries(writer.set_related(|w| w.novels(), [novels[1].id, novels[2].id], &db))
                .await;
        r.unwrap();
        assert_eq!(kinds(&q), [Begin, Update, Update, Commit], "{backend:?}");
        let mut ids: Vec<i64> = writer
            .novels()
            .fetch(&db)
            .await
            .unwrap()
            .iter()
            .map(|n| n.id)
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, [novels[1].id, novels[2].id], "{backend:?}");
        let n0 = Novel::objects()
            .filter(|n| n.id.eq(novels[0].id))
            .get(&db)
            .await
            .unwrap();
        assert!(n0.writer.is_none(), "{backend:?}");
        // The empty set: one UPDATE to NULL.
        let (r, q) =
            capture_queries(writer.set_related(|w| w.novels(), Vec::<i64>::new(), &db)).await;
        r.unwrap();
        assert_eq!(kinds(&q), [Update], "{backend:?}");
        assert_eq!(writer.novels().count(&db).await.unwrap(), 0, "{backend:?}");

        // A key that cannot be NULL: rows cannot leave, so set only adds (as Django's).
        let mut owners = vec![Owner::default(), Owner::default()];
        Owner::objects()
            .bulk_create(&mut owners, &db)
            .await
            .unwrap();
        let mut pets = vec![
            Pet {
                owner: ForeignKey::new(owners[0].id),
                ..Default::default()
            },
            Pet {
                owner: ForeignKey::new(owners[1].id),
                ..Default::default()
            },
        ];
        Pet::objects().bulk_create(&mut pets, &db).await.unwrap();
        let (r, q) = capture_queries(owners[0].set_related(|o| o.pets(), [pets[1].id], &db)).await;
        r.unwrap();
        assert_eq!(kinds(&q), [Update], "{backend:?}");
        assert_eq!(owners[0].pets().count(&db).await.unwrap(), 2, "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn unsaved_instances_are_refused_before_any_query() {
    on_each_backend(|db, backend| async move {
        let Shelf { labels, novels, .. } = shelf(&db).await;
        let mut unsaved = Novel {
            title: "draft".into(),
            ..Default::default()
        };
        let (r, q) = capture_queries(unsaved.set_related(|n| n.labels(), &labels[..1], &db)).await;
        assert!(
            matches!(r, Err(Error::InvalidInput(_))),
            "{backend:?}: {r:?}"
        );
        assert!(q.is_empty(), "{backend:?}");
        let (r, q) = capture_queries(unsaved.clear_related(|n| n.labels(), &db)).await;
        assert!(
            matches!(r, Err(Error::InvalidInput(_))),
            "{backend:?}: {r:?}"
        );
        assert!(q.is_empty(), "{backend:?}");
        let (r, q) =
            capture_queries(unsaved.add_related(|n| n.labels(), [labels[0].id], &db)).await;
        assert!(
            matches!(r, Err(Error::InvalidInput(_))),
            "{backend:?}: {r:?}"
        );
        assert!(q.is_empty(), "{backend:?}");

        // An unsaved target.
        let draft = Label {
            name: "draft".into(),
            ..Default::default()
        };
        let mut n0 = novels[0].clone();
        let (r, q) =
            capture_queries(n0.set_related(|n| n.labels(), &[&labels[0], &draft], &db)).await;
        assert!(
            matches!(r, Err(Error::InvalidInput(_))),
            "{backend:?}: {r:?}"
        );
        assert!(q.is_empty(), "{backend:?}");
        assert_eq!(link_rows(&db).await, 0, "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn the_other_side_of_a_many_to_many_shares_its_table_prefetches_filters_and_writes() {
    on_each_backend(|db, backend| async move {
        // One join table, created with the forward side only.
        let (r, q) = capture_queries(db.create_tables::<(Writer, Label, Novel)>()).await;
        r.unwrap();
        let through: Vec<_> = q
            .iter()
            .filter(|q| q.sql.starts_with("CREATE TABLE") && q.sql.contains("m2m_novel_label"))
            .collect();
        assert_eq!(through.len(), 1, "{backend:?}: {q:#?}");
        let (r, q) = capture_queries(db.create_table::<Label>()).await;
        r.unwrap();
        assert!(
            q.iter().all(|q| !q.sql.contains("m2m_novel_label")),
            "{backend:?}: {q:#?}"
        );

        let Shelf { labels, novels, .. } = shelf(&db).await;
        let mut l0 = labels[0].clone();
        let mut l1 = labels[1].clone();
        // Written from the label's side, read from the novel's.
        let (r, q) =
            capture_queries(l0.add_related(|l| l.novels(), &[&novels[0], &novels[1]], &db)).await;
        r.unwrap();
        assert_eq!(kinds(&q), [Insert], "{backend:?}");
        l1.add_related(|l| l.novels(), [novels[1].id], &db)
            .await
            .unwrap();
        assert_eq!(label_ids(&novels[0], &db).await, [l0.id], "{backend:?}");
        assert_eq!(
            label_ids(&novels[1], &db).await,
            [l0.id, l1.id],
            "{backend:?}"
        );
        assert_eq!(
            novel_ids(&l0, &db).await,
            [novels[0].id, novels[1].id],
            "{backend:?}"
        );

        // Prefetched: two queries.
        let (r, q) = capture_queries(
            Label::objects()
                .prefetch_related(|l| l.novels())
                .order_by(|l| l.id.asc())
                .into_vec(&db),
        )
        .await;
        let rows = r.unwrap();
        assert_eq!(kinds(&q), [Select, Select], "{backend:?}");
        let titles: Vec<Vec<String>> = rows
            .iter()
            .map(|l| {
                let mut t: Vec<String> = l
                    .novels
                    .all()
                    .unwrap()
                    .iter()
                    .map(|n| n.title.clone())
                    .collect();
                t.sort();
                t
            })
            .collect();
        assert_eq!(
            titles,
            [vec!["N0", "N1"], vec!["N1"], vec![], vec![]],
            "{backend:?}"
        );

        // Filtered across.
        let mut names: Vec<String> = Label::objects()
            .filter(|l| l.novels().title.eq("N1"))
            .fetch(&db)
            .await
            .unwrap()
            .iter()
            .map(|l| l.name.clone())
            .collect();
        names.sort();
        assert_eq!(names, ["l0", "l1"], "{backend:?}");

        // set / remove / clear from the label's side.
        let (r, q) =
            capture_queries(l0.set_related(|l| l.novels(), [novels[1].id, novels[2].id], &db))
                .await;
        r.unwrap();
        assert_eq!(kinds(&q), [Begin, Delete, Insert, Commit], "{backend:?}");
        assert_eq!(
            novel_ids(&l0, &db).await,
            [novels[1].id, novels[2].id],
            "{backend:?}"
        );
        assert!(label_ids(&novels[0], &db).await.is_empty(), "{backend:?}");
        let (r, q) = capture_queries(l0.remove_related(|l| l.novels(), &novels[2..], &db)).await;
        r.unwrap();
        assert_eq!(kinds(&q), [Delete], "{backend:?}");
        assert_eq!(novel_ids(&l0, &db).await, [novels[1].id], "{backend:?}");
        let (r, q) = capture_queries(l0.clear_related(|l| l.novels(), &db)).await;
        r.unwrap();
        assert_eq!(kinds(&q), [Delete], "{backend:?}");
        assert!(novel_ids(&l0, &db).await.is_empty(), "{backend:?}");
        assert_eq!(novel_ids(&l1, &db).await, [novels[1].id], "{backend:?}");

        // Deleting a label deletes its links once (both sides name the same table).
        let (r, q) = capture_queries(l1.delete(&db)).await;
        r.unwrap();
        let deletes = q.iter().filter(|q| q.kind == Delete).count();
        assert_eq!(deletes, 2, "{backend:?}: {q:#?}");
        assert_eq!(link_rows(&db).await, 0, "{backend:?}");
    })
    .await;
}

/// Enough labels for `n` keys.
async fn many_labels(db: &Db, n: usize) -> Vec<Label> {
    let mut labels: Vec<Label> = (0..n)
        .map(|i| Label {
            name: format!("k{i}"),
            ..Default::default()
        })
        .collect();
    Label::objects().bulk_create(&mut labels, db).await.unwrap();
    labels
}

#[tokio::test]
async fn a_set_past_the_bind_limit_is_batched_in_one_block() {
    on_each_backend(|db, backend: Backend| async move {
        let Shelf { novels, .. } = shelf(&db).await;
        // One more link than one INSERT can bind (two parameters a link).
        let per_insert = backend.max_params() / 2;
        let labels = many_labels(&db, per_insert + 1).await;
        let keys: Vec<i64> = labels.iter().map(|l| l.id).collect();
        let mut n0 = novels[0].clone();
        let (r, q) = capture_queries(n0.set_related(|n| n.labels(), &keys, &db)).await;
        r.unwrap();
        assert_eq!(
            kinds(&q),
            [Begin, Delete, Insert, Insert, Commit],
            "{backend:?}"
        );
        assert_eq!(
            n0.labels().count(&db).await.unwrap(),
            per_insert as u64 + 1,
            "{backend:?}"
        );
        // add_related batches the same way.
        let mut n1 = novels[1].clone();
        let (r, q) = capture_queries(n1.add_related(|n| n.labels(), &labels, &db)).await;
        r.unwrap();
        assert_eq!(kinds(&q), [Begin, Insert, Insert, Commit], "{backend:?}");
    })
    .await;
}

/// Past what one `NOT IN` list can bind (SQLite and MySQL; PostgreSQL binds the list as
/// one array), `set_related` reads the linked keys and writes only the difference.
#[tokio::test]
async fn a_set_past_the_limit_of_one_list_reads_the_links_first() {
    on_each_backend(|db, backend: Backend| async move {
        let Shelf { labels, novels, .. } = shelf(&db).await;
        let many = many_labels(&db, backend.max_params()).await;
        let mut n0 = novels[0].clone();
        // Linked before: one label outside the set (removed), one inside (kept).
        n0.add_related(|n| n.labels(), [labels[0].id, many[0].id], &db)
            .await
            .unwrap();
        let keys: Vec<i64> = many.iter().map(|l| l.id).collect();
        let (r, q) = capture_queries(n0.set_related(|n| n.labels(), &keys, &db)).await;
        r.unwrap();
        let per_insert = backend.max_params() / 2;
        let expected: Vec<StatementKind> = if backend == Backend::Postgres {
            // No SELECT: the whole set is inserted, skipping the pair already there.
            let mut k = vec![Begin, Delete];
            k.extend(std::iter::repeat_n(Insert, keys.len().div_ceil(per_insert)));
            k.push(Commit);
            k
        } else {
            // Only the new links are inserted: one fewer than the set.
            let mut k = vec![Begin, Select, Delete];
            k.extend(std::iter::repeat_n(
                Insert,
                (keys.len() - 1).div_ceil(per_insert),
            ));
            k.push(Commit);
            k
        };
        assert_eq!(kinds(&q), expected, "{backend:?}");
        assert_eq!(
            n0.labels().count(&db).await.unwrap(),
            keys.len() as u64,
            "{backend:?}"
        );
        assert_eq!(
            n0.labels()
                .filter(|l| l.id.eq(labels[0].id))
                .count(&db)
                .await
                .unwrap(),
            0,
            "{backend:?}"
        );
    })
    .await;
}

/// A many-to-many of a model to itself, and its other side (Django's non-symmetrical
/// `ManyToManyField("self", related_name="followers")`).
#[derive(Model, Debug, Clone, Default)]
#[orm(table = "m2m_people")]
pub struct Person {
    pub id: i64,
    pub name: String,
    pub following: ManyToMany<Person>,
    #[orm(reverse(Person::following))]
    pub followers: ManyToMany<Person>,
}

#[tokio::test]
async fn the_other_side_of_a_many_to_many_to_the_same_model() {
    on_each_backend(|db, backend| async move {
        db.create_table::<Person>().await.unwrap();
        let mut people: Vec<Person> = ["a", "b", "c"]
            .iter()
            .map(|n| Person {
                name: (*n).into(),
                ..Default::default()
            })
            .collect();
        Person::objects()
            .bulk_create(&mut people, &db)
            .await
            .unwrap();
        let (a, b, c) = (people[0].clone(), people[1].clone(), people[2].clone());
        // b and c follow a, written from a's followers.
        let mut a2 = a.clone();
        let (r, q) = capture_queries(a2.set_related(|p| p.followers(), [b.id, c.id], &db)).await;
        r.unwrap();
        assert_eq!(kinds(&q), [Begin, Delete, Insert, Commit], "{backend:?}");
        let following: Vec<i64> = b
            .following()
            .fetch(&db)
            .await
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(following, [a.id], "{backend:?}");
        let (r, q) = capture_queries(
            Person::objects()
                .prefetch_related(|p| p.followers())
                .order_by(|p| p.id.asc())
                .into_vec(&db),
        )
        .await;
        let rows = r.unwrap();
        assert_eq!(kinds(&q), [Select, Select], "{backend:?}");
        let counts: Vec<usize> = rows
            .iter()
            .map(|p| p.followers.all().unwrap().len())
            .collect();
        assert_eq!(counts, [2, 0, 0], "{backend:?}");
        assert!(a.following().count(&db).await.unwrap() == 0, "{backend:?}");
    })
    .await;
}
