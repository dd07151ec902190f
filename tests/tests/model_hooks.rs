//! Issue 12.6: lifecycle hooks (`#[orm(hooks)]` + `impl Hooks`), Django's
//! pre_save/post_save/pre_delete/post_delete: which writes run them, in which order, and
//! that an error from a `pre_` hook stops the write before any query. On every backend.

use std::sync::Mutex;

use orm_sqlx::prelude::*;
use orm_tests::on_each_backend;

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn take_log() -> Vec<String> {
    std::mem::take(&mut *LOG.lock().unwrap())
}

fn log(event: String) {
    LOG.lock().unwrap().push(event);
}

#[derive(Model, Debug, Clone, PartialEq, Default)]
#[orm(table = "hook_labels", hooks)]
pub struct Label {
    pub id: i64,
    pub name: String,
}

impl Hooks for Label {
    fn pre_save(&mut self) -> Result<()> {
        self.name = self.name.trim().to_lowercase();
        if self.name.is_empty() {
            return Err(Error::InvalidInput("a label needs a name".into()));
        }
        log(format!("pre_save {}", self.name));
        Ok(())
    }
    fn post_save(&mut self, created: bool) -> Result<()> {
        log(format!(
            "post_save {} {created} id_set={}",
            self.name,
            self.id != 0
        ));
        Ok(())
    }
    fn pre_delete(&self) -> Result<()> {
        if self.name == "keep" {
            return Err(Error::InvalidInput("keep is kept".into()));
        }
        log(format!("pre_delete {}", self.name));
        Ok(())
    }
    fn post_delete(&self) -> Result<()> {
        log(format!("post_delete {}", self.name));
        Ok(())
    }
}

fn label(name: &str) -> Label {
    Label {
        name: name.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn hooks_run_around_the_writes_of_one_instance_and_not_around_bulk_ones() {
    on_each_backend(|db, _| async move {
        db.create_tables::<(Label,)>().await.unwrap();
        take_log();

        // insert: pre_save (which normalises the name), INSERT, post_save(created).
        let mut a = label("  Rust ");
        let (r, q) = capture_queries(a.insert(&db)).await;
        r.unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(a.name, "rust");
        assert_eq!(
            take_log(),
            ["pre_save rust", "post_save rust true id_set=true"]
        );
        let stored = Label::objects().get_pk(a.id, &db).await.unwrap();
        assert_eq!(stored.name, "rust");

        // An error from pre_save stops the write before any query.
        let mut empty = label("   ");
        let (r, q) = capture_queries(empty.insert(&db)).await;
        assert!(matches!(r, Err(Error::InvalidInput(_))), "{r:?}");
        assert!(q.is_empty(), "{q:?}");
        let (r, q) = capture_queries(empty.save(&db)).await;
        assert!(matches!(r, Err(Error::InvalidInput(_))), "{r:?}");
        assert!(q.is_empty());
        assert!(take_log().is_empty());

        // save of a stored instance: an update.
        a.name = "Go".into();
        a.save(&db).await.unwrap();
        assert_eq!(
            take_log(),
            ["pre_save go", "post_save go false id_set=true"]
        );

        // save of an instance whose key matches no row: the UPDATE finds none and the
        // row is inserted; pre_save runs once, post_save says created.
        let mut lost = Label {
            id: 9999,
            name: "Lost".into(),
        };
        let (r, q) = capture_queries(lost.save(&db)).await;
        r.unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(
            take_log(),
            ["pre_save lost", "post_save lost true id_set=true"]
        );

        // save_fields: an update of the listed fields.
        a.name = "Zig".into();
        a.save_fields(|l| l.name, &db).await.unwrap();
        assert_eq!(
            take_log(),
            ["pre_save zig", "post_save zig false id_set=true"]
        );

        // create and get_or_create's insert run them; a found row runs none.
        let c = Label::objects().create(label("C"), &db).await.unwrap();
        assert_eq!(take_log(), ["pre_save c", "post_save c true id_set=true"]);
        let (_, created) = Label::objects()
            .get_or_create(|l| l.name.eq("d"), || label("D"), &db)
            .await
            .unwrap();
        assert!(created);
        assert_eq!(take_log(), ["pre_save d", "post_save d true id_set=true"]);
        let (_, created) = Label::objects()
            .get_or_create(|l| l.name.eq("d"), || label("D"), &db)
            .await
            .unwrap();
        assert!(!created);
        assert!(take_log().is_empty());

        // Bulk writes and queryset updates run no hooks (as in Django).
        let mut many = vec![label("E"), label("F")];
        Label::objects().bulk_create(&mut many, &db).await.unwrap();
        assert_eq!(many[0].name, "E", "bulk_create does not call pre_save");
        Label::objects()
            .filter(|l| l.name.eq("E"))
            .update(|l| l.name.set("e2"), &db)
            .await
            .unwrap();
        Label::objects()
            .bulk_update(&many, |l| l.name, &db)
            .await
            .unwrap();
        assert!(take_log().is_empty());

        // delete: pre_delete, DELETE, post_delete; an error from pre_delete keeps the row
        // and sends nothing.
        c.delete(&db).await.unwrap();
        assert_eq!(take_log(), ["pre_delete c", "post_delete c"]);
        let keep = Label::objects().create(label("keep"), &db).await.unwrap();
        take_log();
        let (r, q) = capture_queries(keep.delete(&db)).await;
        assert!(matches!(r, Err(Error::InvalidInput(_))), "{r:?}");
        assert!(q.is_empty());
        assert!(Label::objects().get_pk(keep.id, &db).await.is_ok());
        Label::objects()
            .filter(|l| l.name.eq("keep"))
            .delete(&db)
            .await
            .unwrap();
        assert!(take_log().is_empty(), "QuerySet::delete runs no hooks");
    })
    .await;
}
