//! Migrations from the models, Django's workflow: change a model, `makemigrations`,
//! review the file it writes, `migrate`.
//!
//! The models are compiled into your crate, so the tool runs there: a two-line
//! `src/bin/manage.rs` hands your models to [`manage`], which gives the command line
//! (`makemigrations [--check] [--name N] [--empty] [--merge]`, `migrate [target]`,
//! `showmigrations`, `sqlmigrate <name> [--backward]`):
//!
//! ```no_run
//! # use orm_sqlx::prelude::*;
//! # #[derive(Model)] pub struct Author { pub id: i64, pub name: String }
//! # #[derive(Model)] pub struct Book { pub id: i64, pub author: ForeignKey<Author> }
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     orm_sqlx::migrate::manage::<(Author, Book)>(env!("CARGO_MANIFEST_DIR")).await
//! }
//! ```
//!
//! The same steps are methods of [`Migrator`], for programs (apply pending migrations at
//! startup) and tests.
//!
//! **Applying.** The database records what was applied in a table `orm_migrations`.
//! PostgreSQL and SQLite run each migration in a transaction, recorded in the same
//! transaction: a failure leaves the database as it was before that migration. MySQL
//! and MariaDB commit every DDL statement as it runs: a failure in the middle of a
//! migration leaves the statements before it applied and the migration unrecorded, and
//! the error lists them (undo them by hand, or finish the migration by hand and record
//! it). On SQLite, changes `ALTER TABLE` cannot make rebuild the table as Django does
//! (create, copy, drop, rename) with foreign key enforcement off, checking every key
//! before committing. One process migrates at a time: PostgreSQL's advisory lock,
//! MySQL's `GET_LOCK`, SQLite's write lock (`BEGIN IMMEDIATE`) per migration; a second
//! process waits, then finds the work done.
//!
//! **Checked before anything is sent**: that the files parse and form one history (no
//! missing dependency, no two leaves), that a migration to unapply has a reverse, that a
//! Rust function a migration names is registered, and that the rows in the tables allow
//! the change (a NOT NULL column added without a default to a table with rows, NULLs in
//! a column becoming NOT NULL, values a type change would not keep, values too long for a
//! new `max_length`, duplicates in a column becoming unique). A check whose table an
//! earlier migration of the same run changes runs just before its statements instead.

mod manage;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use orm_core::compiler::TableOptions;
pub use orm_core::migrate::{
    Migration, MigrationFile, MigrationGraph, Operation, RenameHints, SqlText, Step,
};
use orm_core::schema::state::ProjectState;
use orm_core::{Dialect, Error, Executor, ModelMeta, Result, Statement, Value};

use crate::{Connection, Db, ModelSet};

pub use manage::{Manage, manage};

/// The table that records applied migrations.
pub const MIGRATIONS_TABLE: &str = "orm_migrations";

/// A Rust data migration: called with the connection the migration runs on (inside its
/// transaction on PostgreSQL and SQLite). Register it with [`Migrator::function`] under
/// the name a `run_rust` operation gives.
pub type RustMigration =
    Arc<dyn for<'c> Fn(&'c mut Connection) -> BoxFuture<'c, Result<()>> + Send + Sync>;

/// The migrations of one application: its folder and its models.
#[derive(Clone)]
pub struct Migrator {
    dir: PathBuf,
    models: Vec<&'static ModelMeta>,
    functions: BTreeMap<String, RustMigration>,
}

impl std::fmt::Debug for Migrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migrator")
            .field("dir", &self.dir)
            .field(
                "models",
                &self.models.iter().map(|m| m.name).collect::<Vec<_>>(),
            )
            .field("functions", &self.functions.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What `makemigrations` did.
#[derive(Clone, Debug, PartialEq)]
pub enum Made {
    /// The models and the migrations agree.
    NoChanges,
    /// A new migration file was written.
    Written {
        path: PathBuf,
        operations: Vec<Operation>,
    },
}

/// Options of [`Migrator::make_migrations`].
#[derive(Clone, Debug, Default)]
pub struct MakeOptions {
    /// The name after the number (`0002_<name>.toml`); made from the operations if unset.
    pub name: Option<String>,
    /// Write a migration without operations (to fill with `run_sql`/`run_rust`).
    pub empty: bool,
    /// Write a migration that depends on every leaf, joining two branches.
    pub merge: bool,
}

/// What [`Migrator::migrate`] did: the migrations applied or unapplied, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrateReport {
    pub applied: Vec<String>,
    pub unapplied: Vec<String>,
}

/// Where `migrate` goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Every migration.
    Latest,
    /// No migration (Django's `migrate app zero`).
    Zero,
    /// This migration and those it depends on; later ones are unapplied.
    Name(String),
}

impl Target {
    /// `None` is the latest, `"zero"` none, anything else a migration's name (or the
    /// start of one: `0003`).
    pub fn parse(s: Option<&str>) -> Target {
        match s {
            None => Target::Latest,
            Some("zero") => Target::Zero,
            Some(n) => Target::Name(n.to_owned()),
        }
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error::Migration(msg.into()))
}

fn stmt(sql: impl Into<String>, params: Vec<Value>) -> Statement {
    Statement::new(sql, params)
}

async fn exec(conn: &mut Connection, sql: impl Into<String>, params: Vec<Value>) -> Result<u64> {
    let mut ex = conn;
    Ok(Executor::execute(&mut ex, stmt(sql, params))
        .await?
        .rows_affected)
}

async fn count(conn: &mut Connection, s: Statement) -> Result<i64> {
    let mut ex = conn;
    let rows: Vec<(i64,)> = Executor::fetch_all(&mut ex, s).await?;
    Ok(rows.first().map_or(0, |r| r.0))
}

impl Migrator {
    /// The migrations in `dir` (created by the first `makemigrations`), for the models
    /// `S` (a tuple: `(Author, Book)`).
    pub fn new<S: ModelSet>(dir: impl Into<PathBuf>) -> Migrator {
        crate::register::<S>();
        Migrator {
            dir: dir.into(),
            models: S::metas(),
            functions: BTreeMap::new(),
        }
    }

    /// Register a Rust data migration under `name` (what a `run_rust` operation's
    /// `function` names).
    ///
    /// ```no_run
    /// # use orm_sqlx::prelude::*;
    /// # #[derive(Model)] pub struct Post { pub id: i64, pub title: String, pub slug: String }
    /// use orm_sqlx::migrate::Migrator;
    /// let migrator = Migrator::new::<(Post,)>("migrations").function("fill_slugs", |conn| {
    ///     Box::pin(async move {
    ///         for mut post in Post::objects().into_vec(&mut *conn).await? {
    ///             post.slug = post.title.to_lowercase().replace(' ', "-");
    ///             post.save(&mut *conn).await?;
    ///         }
    ///         Ok(())
    ///     })
    /// });
    /// ```
    pub fn function<F>(mut self, name: &str, f: F) -> Migrator
    where
        F: for<'c> Fn(&'c mut Connection) -> BoxFuture<'c, Result<()>> + Send + Sync + 'static,
    {
        self.functions.insert(name.to_owned(), Arc::new(f));
        self
    }

    /// The migrations folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Read and check the migration files.
    pub fn graph(&self) -> Result<MigrationGraph> {
        MigrationGraph::load(&self.dir)
    }

    /// The schema of the models.
    pub fn model_state(&self) -> ProjectState {
        ProjectState::from_metas(self.models.iter().copied())
    }

    /// The operations a new migration would hold: empty when the models and the files
    /// agree (`makemigrations --check`).
    pub fn changes(&self) -> Result<Vec<Operation>> {
        let graph = self.graph()?;
        graph.check_single_leaf()?;
        let from = graph.state_after(graph.ordered.len())?;
        let hints = RenameHints::from_metas(self.models.iter().copied());
        orm_core::migrate::autodetect(&from, &self.model_state(), &hints)
            .map_err(|e| Error::Migration(format!("cannot compute the migration: {e}")))
    }

    /// Write the next migration file (Django's `makemigrations`).
    pub fn make_migrations(&self, options: &MakeOptions) -> Result<Made> {
        let graph = self.graph()?;
        let leaves: Vec<String> = graph.leaves().into_iter().map(str::to_owned).collect();
        let operations = if options.merge {
            if leaves.len() < 2 {
                return fail("nothing to merge: the migrations have one leaf");
            }
            Vec::new()
        } else {
            graph.check_single_leaf()?;
            if options.empty {
                Vec::new()
            } else {
                let ops = self.changes()?;
                if ops.is_empty() {
                    return Ok(Made::NoChanges);
                }
                ops
            }
        };
        let number = graph.next_number();
        let name = match &options.name {
            Some(n) => {
                if n.is_empty()
                    || !n
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return fail(format!(
                        "a migration name takes letters, digits, `_` and `-`; `{n}` does not fit"
                    ));
                }
                n.clone()
            }
            None if options.merge => format!("merge_{}", leaves.join("_")),
            None if graph.ordered.is_empty() => "initial".to_owned(),
            None => auto_name(&operations),
        };
        let name = format!("{number:04}_{name}");
        let name: String = name.chars().take(80).collect();
        let file = MigrationFile {
            dependencies: leaves,
            operations: operations.clone(),
        };
        let text = orm_core::migrate::render(
            &file,
            "Written by `manage makemigrations`. Review it, then run `manage migrate`.",
        )?;
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::Migration(format!("cannot create {}: {e}", self.dir.display())))?;
        let path = self.dir.join(format!("{name}.toml"));
        std::fs::write(&path, text)
            .map_err(|e| Error::Migration(format!("cannot write {}: {e}", path.display())))?;
        Ok(Made::Written { path, operations })
    }

    /// The names of the migrations and whether each is applied (`showmigrations`).
    pub async fn show(&self, db: &Db) -> Result<Vec<(String, bool)>> {
        let graph = self.graph()?;
        let mut conn = db.acquire().await?;
        let applied = read_applied(&mut conn, db).await?;
        Ok(graph
            .ordered
            .iter()
            .map(|m| (m.name.clone(), applied.contains(&m.name)))
            .collect())
    }

    /// The statements of migration `name` on `db`'s backend (`sqlmigrate`), forward or
    /// backward. Checks are shown as the queries they run.
    pub async fn sql(&self, db: &Db, name: &str, backward: bool) -> Result<Vec<String>> {
        let graph = self.graph()?;
        let m = find(&graph, name)?;
        let options = db.table_options().await?;
        let mut before = graph.state_of(
            &(graph
                .ancestors(&m.name)
                .into_iter()
                .filter(|n| *n != m.name)
                .collect()),
        )?;
        let plan = if backward {
            backward_steps(&before, m, db.dialect(), &options)?
        } else {
            forward_steps(&mut before, m, db.dialect(), &options)?
        };
        let mut out = Vec::new();
        for step in plan {
            match step {
                Step::Sql(s) | Step::Raw(s) => out.push(format!("{};", s.sql)),
                Step::Check { count, .. } => {
                    out.push(format!("-- check, must count 0: {};", count.sql))
                }
                Step::Rust(f) => out.push(format!("-- Rust function `{f}`")),
                Step::Touch { .. } => {}
            }
        }
        Ok(out)
    }

    /// Apply (or unapply) migrations up to `target` (Django's `migrate`).
    pub async fn migrate(&self, db: &Db, target: &Target) -> Result<MigrateReport> {
        let graph = self.graph()?;
        graph.check_single_leaf()?;
        let dialect = db.dialect();
        let options = db.table_options().await?;
        let mut conn = db.acquire().await?;
        let lock = Lock::take(&mut conn, dialect).await?;
        let result = self
            .migrate_locked(&graph, db, &mut conn, dialect, &options, target)
            .await;
        let released = lock.release(&mut conn).await;
        let report = result?;
        released?;
        Ok(report)
    }

    async fn migrate_locked(
        &self,
        graph: &MigrationGraph,
        db: &Db,
        conn: &mut Connection,
        dialect: Dialect,
        options: &TableOptions,
        target: &Target,
    ) -> Result<MigrateReport> {
        create_record_table(conn, dialect, options).await?;
        let mut applied = read_applied(conn, db).await?;
        for name in &applied {
            if graph.get(name).is_none() {
                return fail(format!(
                    "the database records migration `{name}` as applied, but {} has no such \
                     file: restore it from version control",
                    graph.dir.display()
                ));
            }
        }
        for m in &graph.ordered {
            if applied.contains(&m.name)
                && let Some(d) = m.file.dependencies.iter().find(|d| !applied.contains(*d))
            {
                return fail(format!(
                    "inconsistent history: `{}` is applied but its dependency `{d}` is not",
                    m.name
                ));
            }
        }
        let wanted: BTreeSet<String> = match target {
            Target::Latest => graph.ordered.iter().map(|m| m.name.clone()).collect(),
            Target::Zero => BTreeSet::new(),
            Target::Name(n) => graph.ancestors(&find(graph, n)?.name),
        };
        let to_unapply: Vec<&Migration> = graph
            .ordered
            .iter()
            .rev()
            .filter(|m| applied.contains(&m.name) && !wanted.contains(&m.name))
            .collect();
        let to_apply: Vec<&Migration> = graph
            .ordered
            .iter()
            .filter(|m| !applied.contains(&m.name) && wanted.contains(&m.name))
            .collect();

        // Plan every migration, and check what can be checked, before sending anything.
        let mut plans = Vec::new();
        let mut state_applied = applied.clone();
        for m in &to_unapply {
            state_applied.remove(&m.name);
            let before = graph.state_of(&state_applied)?;
            let steps = backward_steps(&before, m, dialect, options)
                .map_err(|e| Error::Migration(format!("cannot unapply {}: {e}", m.name)))?;
            plans.push((m.name.clone(), false, steps));
        }
        let mut state = graph.state_of(&state_applied)?;
        for m in &to_apply {
            let steps = forward_steps(&mut state, m, dialect, options)?;
            plans.push((m.name.clone(), true, steps));
        }
        for (name, _, steps) in &plans {
            for step in steps {
                if let Step::Rust(f) = step
                    && !self.functions.contains_key(f)
                {
                    return fail(format!(
                        "migration {name} calls the Rust function `{f}`, which is not \
                         registered: add `.function(\"{f}\", …)` to the Migrator (or Manage)"
                    ));
                }
            }
        }
        self.preflight(conn, graph, &applied, &plans).await?;

        let mut report = MigrateReport::default();
        for (name, forward, steps) in plans {
            let ran = self
                .run_one(conn, dialect, &name, forward, &steps, &mut applied)
                .await?;
            // Another process may have done it while this one waited (SQLite locks per
            // migration): report only what this one did.
            if !ran {
                continue;
            }
            if forward {
                report.applied.push(name);
            } else {
                report.unapplied.push(name);
            }
        }
        Ok(report)
    }

    /// Run the checks of the plan that read nothing an earlier step of the plan changes,
    /// so that rows that forbid a change stop the run before its first statement. A
    /// check on a table or column an earlier migration (or operation) of the run
    /// changes, and every check after raw SQL or a Rust function (which may write any
    /// row), runs just before its own statements instead.
    async fn preflight(
        &self,
        conn: &mut Connection,
        graph: &MigrationGraph,
        applied: &BTreeSet<String>,
        plans: &[(String, bool, Vec<Step>)],
    ) -> Result<()> {
        let start = graph.state_of(applied)?;
        let mut whole: BTreeSet<String> = BTreeSet::new();
        let mut columns: BTreeSet<(String, String)> = BTreeSet::new();
        for (name, _, steps) in plans {
            for step in steps {
                match step {
                    Step::Check {
                        count: c,
                        message,
                        reads,
                    } => {
                        let early = reads.iter().all(|(t, col)| {
                            let Some(table) = start.table(t) else {
                                return false;
                            };
                            !whole.contains(t)
                                && col.as_ref().is_none_or(|c| {
                                    table.column(c).is_some()
                                        && !columns.contains(&(t.clone(), c.clone()))
                                })
                        });
                        if !early {
                            continue;
                        }
                        let n = count(conn, c.clone()).await?;
                        if n > 0 {
                            return fail(format!(
                                "migration {name}: {}. Nothing was applied.",
                                message.replace("{n}", &n.to_string())
                            ));
                        }
                    }
                    Step::Touch {
                        table,
                        columns: None,
                    } => {
                        whole.insert(table.clone());
                    }
                    Step::Touch {
                        table,
                        columns: Some(cs),
                    } => {
                        for c in cs {
                            columns.insert((table.clone(), c.clone()));
                        }
                    }
                    Step::Sql(_) => {}
                    // Raw SQL and Rust may write any rows: the checks after them run in
                    // place.
                    Step::Raw(_) | Step::Rust(_) => return Ok(()),
                }
            }
        }
        Ok(())
    }

    async fn run_one(
        &self,
        conn: &mut Connection,
        dialect: Dialect,
        name: &str,
        forward: bool,
        steps: &[Step],
        applied: &mut BTreeSet<String>,
    ) -> Result<bool> {
        let transactional = dialect != Dialect::Mysql;
        if dialect == Dialect::Sqlite {
            // Off outside the transaction (inside one SQLite ignores it); every key is
            // checked before the commit.
            exec(conn, "PRAGMA foreign_keys = OFF", Vec::new()).await?;
        }
        let begin = match dialect {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            _ => "BEGIN",
        };
        if transactional && let Err(e) = exec(conn, begin, Vec::new()).await {
            restore_keys(conn, dialect).await;
            return Err(e);
        }
        let mut sent = Vec::new();
        let result = async {
            // Another process may have done it while this one waited for the lock
            // (SQLite locks per migration).
            let now = read_applied_on(conn).await?;
            if now.contains(name) == forward {
                return Ok(false);
            }
            for step in steps {
                match step {
                    Step::Touch { .. } => {}
                    Step::Sql(s) | Step::Raw(s) => {
                        let mut ex = &mut *conn;
                        Executor::execute(&mut ex, s.clone()).await?;
                        sent.push(s.sql.clone());
                    }
                    Step::Check {
                        count: c, message, ..
                    } => {
                        let n = count(conn, c.clone()).await?;
                        if n > 0 {
                            return fail(message.replace("{n}", &n.to_string()));
                        }
                    }
                    Step::Rust(f) => {
                        let function = self.functions.get(f).cloned().ok_or_else(|| {
                            Error::Migration(format!("the Rust function `{f}` is not registered"))
                        })?;
                        function(conn).await?;
                        sent.push(format!("-- Rust function `{f}`"));
                    }
                }
            }
            if dialect == Dialect::Sqlite {
                let broken = count(
                    conn,
                    stmt("SELECT COUNT(*) FROM pragma_foreign_key_check", Vec::new()),
                )
                .await?;
                if broken > 0 {
                    return fail(format!(
                        "{broken} row(s) would point at rows that do not exist: fix them \
                         (a run_sql or run_rust migration before this one)"
                    ));
                }
            }
            let record = if forward {
                format!("INSERT INTO {MIGRATIONS_TABLE} (name) VALUES (?)")
            } else {
                format!("DELETE FROM {MIGRATIONS_TABLE} WHERE name = ?")
            };
            let record = orm_core::sql::raw::raw_statement(
                &record,
                vec![Value::Text(name.to_owned())],
                dialect,
            )?;
            let mut ex = &mut *conn;
            Executor::execute(&mut ex, record).await?;
            Ok(true)
        }
        .await;
        match result {
            Ok(ran) => {
                if transactional {
                    let committed = exec(conn, "COMMIT", Vec::new()).await;
                    if let Err(e) = committed {
                        let _ = exec(conn, "ROLLBACK", Vec::new()).await;
                        restore_keys(conn, dialect).await;
                        return fail(format!(
                            "committing {name} failed, and it was rolled back: {e}"
                        ));
                    }
                }
                restore_keys(conn, dialect).await;
                if ran {
                    if forward {
                        applied.insert(name.to_owned());
                    } else {
                        applied.remove(name);
                    }
                }
                Ok(ran)
            }
            Err(e) => {
                let direction = if forward { "applying" } else { "unapplying" };
                if transactional {
                    let _ = exec(conn, "ROLLBACK", Vec::new()).await;
                    restore_keys(conn, dialect).await;
                    fail(format!(
                        "{direction} {name} failed, and was rolled back (the database is as it \
                         was before it): {e}"
                    ))
                } else if sent.is_empty() {
                    fail(format!(
                        "{direction} {name} failed before any statement was sent: {e}"
                    ))
                } else {
                    fail(format!(
                        "{direction} {name} failed: {e}\nMySQL cannot roll back DDL: these \
                         statements of it were applied, and the migration is not recorded:\n  \
                         {}\nUndo them by hand (or finish the migration by hand and insert \
                         '{name}' into {MIGRATIONS_TABLE}), then run migrate again.",
                        sent.join(";\n  ")
                    ))
                }
            }
        }
    }
}

async fn restore_keys(conn: &mut Connection, dialect: Dialect) {
    if dialect == Dialect::Sqlite {
        let _ = exec(conn, "PRAGMA foreign_keys = ON", Vec::new()).await;
    }
}

fn find<'g>(graph: &'g MigrationGraph, name: &str) -> Result<&'g Migration> {
    if let Some(m) = graph.get(name) {
        return Ok(m);
    }
    let matches: Vec<&Migration> = graph
        .ordered
        .iter()
        .filter(|m| m.name.starts_with(name))
        .collect();
    match matches.as_slice() {
        [m] => Ok(m),
        [] => fail(format!(
            "no migration called `{name}` in {}",
            graph.dir.display()
        )),
        many => fail(format!(
            "`{name}` could be {}: give more of the name",
            many.iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(" or ")
        )),
    }
}

/// The name made from a migration's operations: `posts_subtitle`, or the first one's
/// and `and_more`.
fn auto_name(ops: &[Operation]) -> String {
    let parts: Vec<String> = ops.iter().map(Operation::name_fragment).collect();
    let joined = parts.join("_");
    if joined.len() <= 40 {
        return joined;
    }
    format!("{}_and_more", parts.first().map_or("auto", String::as_str))
}

/// The steps that apply `m`: `state` is the state before it, and becomes the state after.
fn forward_steps(
    state: &mut ProjectState,
    m: &Migration,
    dialect: Dialect,
    options: &TableOptions,
) -> Result<Vec<Step>> {
    let mut out = Vec::new();
    for op in &m.file.operations {
        let prev = state.clone();
        op.apply(state).map_err(|e| {
            Error::Migration(format!("{}: {} ({})", m.path.display(), e, op.describe()))
        })?;
        out.extend(op.steps(&prev, state, dialect, options));
    }
    Ok(out)
}

/// The steps that unapply `m`, whose state before it is `before`.
fn backward_steps(
    before: &ProjectState,
    m: &Migration,
    dialect: Dialect,
    options: &TableOptions,
) -> Result<Vec<Step>> {
    let mut states = vec![before.clone()];
    for op in &m.file.operations {
        let mut next = states.last().cloned().unwrap_or_default();
        op.apply(&mut next)
            .map_err(|e| Error::Migration(format!("{}: {e}", m.path.display())))?;
        states.push(next);
    }
    let mut out = Vec::new();
    for (i, op) in m.file.operations.iter().enumerate().rev() {
        let inverse = op.inverse(&states[i]).map_err(|e| {
            Error::Migration(format!("{} cannot be unapplied: {e}", m.path.display()))
        })?;
        out.extend(inverse.steps(&states[i + 1], &states[i], dialect, options));
    }
    Ok(out)
}

async fn create_record_table(
    conn: &mut Connection,
    dialect: Dialect,
    options: &TableOptions,
) -> Result<()> {
    let suffix = if dialect == Dialect::Mysql {
        format!(
            " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={}",
            options.mysql_collation
        )
    } else {
        String::new()
    };
    exec(
        conn,
        format!(
            "CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (name VARCHAR(255) NOT NULL PRIMARY \
             KEY, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP){suffix}"
        ),
        Vec::new(),
    )
    .await?;
    Ok(())
}

async fn read_applied_on(conn: &mut Connection) -> Result<BTreeSet<String>> {
    let mut ex = conn;
    let rows: Vec<(String,)> = Executor::fetch_all(
        &mut ex,
        stmt(format!("SELECT name FROM {MIGRATIONS_TABLE}"), Vec::new()),
    )
    .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// The applied migrations (none when the record table does not exist yet).
async fn read_applied(conn: &mut Connection, db: &Db) -> Result<BTreeSet<String>> {
    let exists_sql = match db.dialect() {
        Dialect::Sqlite => format!(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '{MIGRATIONS_TABLE}'"
        ),
        Dialect::Postgres => format!(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = \
             current_schema() AND table_name = '{MIGRATIONS_TABLE}'"
        ),
        Dialect::Mysql => format!(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() \
             AND table_name = '{MIGRATIONS_TABLE}'"
        ),
    };
    if count(conn, stmt(exists_sql, Vec::new())).await? == 0 {
        return Ok(BTreeSet::new());
    }
    read_applied_on(conn).await
}

/// The lock that keeps two processes from migrating at once.
enum Lock {
    /// PostgreSQL's session advisory lock.
    Advisory,
    /// MySQL's `GET_LOCK`.
    Named,
    /// SQLite: `BEGIN IMMEDIATE` per migration.
    PerMigration,
}

const PG_LOCK_KEY: &str =
    "hashtext(current_database() || '.' || current_schema() || '.orm_migrations')";

impl Lock {
    async fn take(conn: &mut Connection, dialect: Dialect) -> Result<Lock> {
        match dialect {
            Dialect::Postgres => {
                exec(
                    conn,
                    format!("SELECT pg_advisory_lock({PG_LOCK_KEY})"),
                    Vec::new(),
                )
                .await?;
                Ok(Lock::Advisory)
            }
            Dialect::Mysql => {
                let got = {
                    let mut ex = &mut *conn;
                    let rows: Vec<(Option<i64>,)> = Executor::fetch_all(
                        &mut ex,
                        stmt(
                            "SELECT GET_LOCK(CONCAT('orm_migrations.', DATABASE()), 600)",
                            Vec::new(),
                        ),
                    )
                    .await?;
                    rows.first().and_then(|r| r.0)
                };
                if got != Some(1) {
                    return fail(
                        "another process has been migrating this database for 10 minutes \
                         (MySQL's GET_LOCK timed out): wait for it, or find it",
                    );
                }
                Ok(Lock::Named)
            }
            Dialect::Sqlite => Ok(Lock::PerMigration),
        }
    }

    async fn release(self, conn: &mut Connection) -> Result<()> {
        match self {
            Lock::Advisory => {
                exec(
                    conn,
                    format!("SELECT pg_advisory_unlock({PG_LOCK_KEY})"),
                    Vec::new(),
                )
                .await?;
            }
            Lock::Named => {
                exec(
                    conn,
                    "SELECT RELEASE_LOCK(CONCAT('orm_migrations.', DATABASE()))",
                    Vec::new(),
                )
                .await?;
            }
            Lock::PerMigration => {}
        }
        Ok(())
    }
}
