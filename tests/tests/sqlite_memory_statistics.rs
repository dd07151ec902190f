//! Issue 16.1: SQLite's memory statistics are off in a process that opens SQLite through
//! the ORM, so that SQLite's allocations take no process-wide lock. (A test binary of its
//! own: the setting is per process, and only the first SQLite user can make it.)

use orm_sqlx::prelude::*;

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "notes")]
pub struct Note {
    pub id: i64,
    pub body: String,
}

#[tokio::test]
async fn sqlite_opened_by_the_orm_keeps_no_memory_statistics() {
    let db = Db::connect("sqlite::memory:").await.unwrap();
    db.create_table::<Note>().await.unwrap();
    let mut notes: Vec<Note> = (0..500)
        .map(|i| Note {
            id: 0,
            body: format!("note {i}"),
        })
        .collect();
    Note::objects().bulk_create(&mut notes, &db).await.unwrap();
    let read = Note::objects().all();
    assert_eq!(read.fetch(&db).await.unwrap().len(), 500);
    // SAFETY: a plain read of SQLite's counter.
    let used = unsafe { libsqlite3_sys::sqlite3_memory_used() };
    // SQLite is running (a database is open, rows were read) yet counted nothing.
    assert_eq!(used, 0, "SQLite kept memory statistics");
    // Asked again, the answer is the one the first call got.
    assert!(orm_sqlx::sqlite::disable_memory_statistics());
}
