//! What the migration tests share: a scratch migrations folder, `makemigrations` that must
//! write a file, the catalogue comparison with `create_tables`, the recorded migrations.

use std::path::{Path, PathBuf};

use orm_sqlx::migrate::{Made, MakeOptions, Migrator, Operation};
use orm_sqlx::{Db, ModelSet, RawQuery};

use crate::catalog::{diff, snapshot};
use crate::{Backend, TestDb};

/// A new empty folder under the system's temp dir, unique to this call.
pub fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "orm_migrations_{name}_{}_{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `makemigrations` for the models `S`, which must write a file: its path and operations.
pub fn make_with_ops<S: ModelSet>(dir: &Path) -> (PathBuf, Vec<Operation>) {
    match Migrator::new::<S>(dir).make_migrations(&MakeOptions::default()) {
        Ok(Made::Written { path, operations }) => (path, operations),
        other => panic!("expected a migration, got {other:?}"),
    }
}

/// [`make_with_ops`], the path only.
pub fn make<S: ModelSet>(dir: &Path) -> PathBuf {
    make_with_ops::<S>(dir).0
}

/// How the schema of `db` differs from `create_tables::<S>()` on a fresh database of the
/// same backend, read through the catalogue ("" when equal).
pub async fn schema_diff<S: ModelSet>(db: &Db, backend: Backend) -> String {
    let fresh = TestDb::open(backend).await;
    fresh.db.create_tables::<S>().await.unwrap();
    let want = snapshot(&fresh.db, backend).await;
    let got = snapshot(db, backend).await;
    fresh.cleanup().await;
    diff(&got, &want)
}

/// The migrated schema equals `create_tables` of the same models.
pub async fn assert_schema_is_create_tables<S: ModelSet>(db: &Db, backend: Backend) {
    let d = schema_diff::<S>(db, backend).await;
    assert!(
        d.is_empty(),
        "[{}] migrated (first) vs create_tables (second):\n{d}",
        backend.name()
    );
}

/// The names `orm_migrations` records, sorted (with repetitions, were there any).
pub async fn applied(db: &Db) -> Vec<String> {
    RawQuery::<(String,)>::new("SELECT name FROM orm_migrations ORDER BY name", ())
        .into_vec(db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.0)
        .collect()
}
