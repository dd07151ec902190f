//! The `manage` command line of issue 13, run as a user runs it: through
//! `Manage::run_with` (arguments in, exit code and the two output streams out), on every
//! backend; the bookstore example's migrations against its models (the CI guard
//! `makemigrations --check`); and two processes (`migrate_probe`) migrating one database
//! at the same moment.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use orm_sqlx::ModelSet;
use orm_sqlx::migrate::{Manage, Migrator};
use orm_sqlx::prelude::*;
use orm_tests::catalog::snapshot;
use orm_tests::migration::{applied, assert_schema_is_create_tables, temp_dir};
use orm_tests::{Backend, TestDb, probe, required_backends};

/// The bookstore example's models, the very file its `bookstore` and `manage` binaries
/// include.
#[path = "../../examples/src/models.rs"]
mod models;

mod v1 {
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone)]
    #[orm(table = "cli_writers")]
    pub struct Writer {
        pub id: i64,
        pub name: String,
    }
    #[derive(Model, Debug, Clone)]
    #[orm(table = "cli_notes")]
    pub struct Note {
        pub id: i64,
        pub title: String,
        pub writer: ForeignKey<Writer>,
    }
}

/// v1 with a field added to `Note`.
mod v2 {
    pub use super::v1::Writer;
    use orm_sqlx::prelude::*;
    #[derive(Model, Debug, Clone)]
    #[orm(table = "cli_notes")]
    pub struct Note {
        pub id: i64,
        pub title: String,
        pub writer: ForeignKey<Writer>,
        #[orm(default = 0)]
        pub stars: i32,
    }
}

type V1 = (v1::Writer, v1::Note);
type V2 = (v2::Writer, v2::Note);

/// The file names in `dir`, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// What one run of the command line gave.
#[derive(Debug)]
struct Run {
    code: u8,
    out: String,
    err: String,
}

/// `manage <args…>` for the models `S` with the migrations in `dir`.
async fn manage<S: ModelSet>(dir: &Path, args: &[&str]) -> Run {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = Manage::new::<S>(dir)
        .run_with(
            std::iter::once("manage").chain(args.iter().copied()),
            &mut out,
            &mut err,
        )
        .await;
    Run {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}

#[tokio::test]
async fn help_exits_0_and_lists_the_commands() {
    let dir = temp_dir("help");
    let r = manage::<V1>(&dir, &["--help"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    for command in ["makemigrations", "migrate", "showmigrations", "sqlmigrate"] {
        assert!(
            r.out.contains(command),
            "`{command}` not in the help:\n{}",
            r.out
        );
    }
    assert!(r.out.contains("--database"), "{}", r.out);
    assert!(r.err.is_empty(), "{r:?}");

    // A subcommand's help names its own options.
    let r = manage::<V1>(&dir, &["makemigrations", "--help"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    for option in ["--check", "--name", "--empty", "--merge"] {
        assert!(r.out.contains(option), "`{option}` not in:\n{}", r.out);
    }
    assert!(files(&dir).is_empty(), "help wrote {:?}", files(&dir));
}

#[tokio::test]
async fn usage_errors_exit_2_on_the_error_stream() {
    let dir = temp_dir("usage");
    let r = manage::<V1>(&dir, &["frobnicate"]).await;
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.err.contains("frobnicate"), "{r:?}");
    assert!(r.out.is_empty(), "{r:?}");

    // An unknown option, a missing argument, and no subcommand at all.
    for args in [
        &["makemigrations", "--frobnicate"][..],
        &["sqlmigrate"][..],
        &[][..],
    ] {
        let r = manage::<V1>(&dir, args).await;
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(!r.err.is_empty(), "{args:?}: {r:?}");
        assert!(r.out.is_empty(), "{args:?}: {r:?}");
    }
    assert!(files(&dir).is_empty(), "{:?}", files(&dir));
}

#[tokio::test]
async fn makemigrations_writes_the_initial_file_and_prints_its_path() {
    let dir = temp_dir("make");
    let r = manage::<V1>(&dir, &["makemigrations"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    let path = dir.join("0001_initial.toml");
    assert_eq!(files(&dir), ["0001_initial.toml"]);
    assert_eq!(
        r.out.lines().next(),
        Some(format!("Wrote {}", path.display()).as_str()),
        "{}",
        r.out
    );
    assert!(r.out.contains("create model cli_writers"), "{}", r.out);
    assert!(r.out.contains("create model cli_notes"), "{}", r.out);
    assert!(r.err.is_empty(), "{r:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("op = \"create_model\""), "{text}");
    assert!(text.contains("table = \"cli_notes\""), "{text}");

    // Nothing changed: nothing written.
    let r = manage::<V1>(&dir, &["makemigrations"]).await;
    assert_eq!(
        (r.code, r.out.as_str()),
        (0, "No changes detected\n"),
        "{r:?}"
    );
    assert_eq!(files(&dir), ["0001_initial.toml"]);

    // --name names it; the next number follows.
    let r = manage::<V2>(&dir, &["makemigrations", "--name", "stars"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(files(&dir), ["0001_initial.toml", "0002_stars.toml"]);
    assert!(
        r.out
            .starts_with(&format!("Wrote {}", dir.join("0002_stars.toml").display())),
        "{}",
        r.out
    );
}

#[tokio::test]
async fn makemigrations_check_exits_1_on_a_model_change_and_writes_nothing() {
    let dir = temp_dir("check");
    assert_eq!(manage::<V1>(&dir, &["makemigrations"]).await.code, 0);

    let r = manage::<V1>(&dir, &["makemigrations", "--check"]).await;
    assert_eq!(
        (r.code, r.out.as_str()),
        (0, "No changes detected\n"),
        "{r:?}"
    );

    // The model gained a field, and no migration holds it.
    let r = manage::<V2>(&dir, &["makemigrations", "--check"]).await;
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.out.contains("run makemigrations"), "{}", r.out);
    assert!(r.out.contains("stars"), "the change is named:\n{}", r.out);
    assert_eq!(files(&dir), ["0001_initial.toml"], "--check wrote a file");

    // Once the migration is written, the check passes again.
    assert_eq!(manage::<V2>(&dir, &["makemigrations"]).await.code, 0);
    assert_eq!(files(&dir).len(), 2);
    let r = manage::<V2>(&dir, &["makemigrations", "--check"]).await;
    assert_eq!(r.code, 0, "{r:?}");
}

/// The CI guard of the example: its models and `examples/migrations` agree. This fails
/// when someone changes `examples/src/models.rs` without running
/// `cargo run -p examples --bin manage -- makemigrations`.
#[tokio::test]
async fn the_example_migrations_match_the_example_models() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/migrations");
    let before = files(&dir);
    assert!(
        before.contains(&"0001_initial.toml".to_owned()),
        "{before:?}"
    );
    let r = manage::<models::Models>(&dir, &["makemigrations", "--check"]).await;
    assert_eq!(
        (r.code, r.out.as_str()),
        (0, "No changes detected\n"),
        "examples/src/models.rs changed without a migration: run \
         `cargo run -p examples --bin manage -- makemigrations`\n{r:?}"
    );
    assert_eq!(files(&dir), before);
}

/// The example's migrations build, on every backend, the schema `create_tables` builds
/// from its models (what the in-memory `bookstore` demo uses).
#[tokio::test]
async fn the_example_migrations_make_create_tables_schema() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/migrations");
    for backend in required_backends() {
        eprintln!("-- on {}", backend.name());
        let t = TestDb::open(backend).await;
        let r = manage::<models::Models>(&dir, &["migrate", "--database", &t.url]).await;
        assert_eq!(r.code, 0, "{r:?}");
        assert_schema_is_create_tables::<models::Models>(&t.db, backend).await;
        t.cleanup().await;
    }
}

#[tokio::test]
async fn migrate_showmigrations_sqlmigrate_and_zero_on_every_backend() {
    let dir = temp_dir("migrate");
    assert_eq!(manage::<V1>(&dir, &["makemigrations"]).await.code, 0);
    for backend in required_backends() {
        eprintln!("-- on {}", backend.name());
        let t = TestDb::open(backend).await;
        let url = t.url.as_str();

        let r = manage::<V1>(&dir, &["showmigrations", "--database", url]).await;
        assert_eq!((r.code, r.out.as_str()), (0, "[ ] 0001_initial\n"), "{r:?}");

        let r = manage::<V1>(&dir, &["migrate", "--database", url]).await;
        assert_eq!(
            (r.code, r.out.as_str()),
            (0, "Applied 0001_initial\n"),
            "{r:?}"
        );
        assert!(r.err.is_empty(), "{r:?}");
        assert_eq!(applied(&t.db).await, ["0001_initial"]);
        assert_schema_is_create_tables::<V1>(&t.db, backend).await;
        // The tables work.
        let mut w = v1::Writer {
            id: 0,
            name: "Ann".into(),
        };
        w.insert(&t.db).await.unwrap();

        let r = manage::<V1>(&dir, &["migrate", "--database", url]).await;
        assert_eq!(
            (r.code, r.out.as_str()),
            (0, "No migrations to apply.\n"),
            "{r:?}"
        );

        let r = manage::<V1>(&dir, &["showmigrations", "--database", url]).await;
        assert_eq!((r.code, r.out.as_str()), (0, "[X] 0001_initial\n"), "{r:?}");

        let r = manage::<V1>(&dir, &["sqlmigrate", "0001_initial", "--database", url]).await;
        assert_eq!(r.code, 0, "{r:?}");
        let create: Vec<&str> = r
            .out
            .lines()
            .filter(|l| l.starts_with("CREATE TABLE"))
            .collect();
        assert_eq!(create.len(), 2, "{}", r.out);
        assert!(create.iter().any(|l| l.contains("cli_notes")), "{}", r.out);
        // In the backend's dialect.
        let quote = if backend == Backend::Mysql { '`' } else { '"' };
        assert!(
            r.out.contains(&format!("{quote}cli_writers{quote}")),
            "{}",
            r.out
        );
        // By number, and backward.
        let r = manage::<V1>(
            &dir,
            &["sqlmigrate", "0001", "--backward", "--database", url],
        )
        .await;
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.out.contains("DROP TABLE"), "{}", r.out);
        // sqlmigrate sends none of it.
        assert_eq!(v1::Writer::objects().count(&t.db).await.unwrap(), 1);

        // A migration that does not exist.
        let r = manage::<V1>(&dir, &["sqlmigrate", "0009", "--database", url]).await;
        assert_eq!(r.code, 1, "{r:?}");
        assert!(r.err.contains("no migration called `0009`"), "{r:?}");

        let r = manage::<V1>(&dir, &["migrate", "zero", "--database", url]).await;
        assert_eq!(
            (r.code, r.out.as_str()),
            (0, "Unapplied 0001_initial\n"),
            "{r:?}"
        );
        assert!(applied(&t.db).await.is_empty());
        assert!(snapshot(&t.db, backend).await.0.is_empty(), "tables left");
        let r = manage::<V1>(&dir, &["showmigrations", "--database", url]).await;
        assert_eq!((r.code, r.out.as_str()), (0, "[ ] 0001_initial\n"), "{r:?}");

        t.cleanup().await;
    }
}

#[tokio::test]
async fn migrate_without_a_database_names_database_url() {
    let dir = temp_dir("nodb");
    assert_eq!(manage::<V1>(&dir, &["makemigrations"]).await.code, 0);
    // `--database` falls back to DATABASE_URL (clap reads it): this case exists only
    // when it is not set.
    if std::env::var_os("DATABASE_URL").is_some() {
        eprintln!("DATABASE_URL is set: the no-database case cannot be seen here");
        return;
    }
    for command in [
        &["migrate"][..],
        &["showmigrations"],
        &["sqlmigrate", "0001"],
    ] {
        let r = manage::<V1>(&dir, command).await;
        assert_eq!(r.code, 1, "{command:?}: {r:?}");
        assert!(r.err.contains("DATABASE_URL"), "{command:?}: {r:?}");
        assert!(r.err.contains("--database"), "{command:?}: {r:?}");
        assert!(r.out.is_empty(), "{command:?}: {r:?}");
    }
}

/// The probe's migrations: the initial one from `orm_tests::probe`'s models, and a
/// `run_sql` one that inserts a row (applied twice, it would leave two).
fn probe_migrations() -> PathBuf {
    let dir = temp_dir("probe");
    let made = Migrator::new::<probe::Models>(&dir)
        .make_migrations(&Default::default())
        .unwrap();
    assert!(
        matches!(made, orm_sqlx::migrate::Made::Written { .. }),
        "{made:?}"
    );
    std::fs::write(
        dir.join("0002_seed.toml"),
        "dependencies = [\"0001_initial\"]\n\n\
         [[operations]]\n\
         op = \"run_sql\"\n\
         sql = \"INSERT INTO probe_labels (name) VALUES ('seeded')\"\n\
         reverse = \"DELETE FROM probe_labels WHERE name = 'seeded'\"\n",
    )
    .unwrap();
    assert!(
        Migrator::new::<probe::Models>(&dir)
            .changes()
            .unwrap()
            .is_empty()
    );
    dir
}

/// Start `migrate_probe <dir> <args…>` (not waited for), at `start_at_ms` if given.
fn spawn_probe(dir: &Path, args: &[&str], start_at_ms: Option<u128>) -> std::process::Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_migrate_probe"));
    c.arg(dir)
        .args(args)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(at) = start_at_ms {
        c.env("MIGRATE_PROBE_START_AT_MS", at.to_string());
    }
    c.spawn().expect("start migrate_probe")
}

fn finish(child: std::process::Child) -> (i32, String, String) {
    let o = child.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Start two `migrate_probe … migrate --database <url>` at the same moment and wait for
/// both: (exit code, stdout, stderr) of each.
fn race(dir: &Path, url: &str) -> [(i32, String, String); 2] {
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 300;
    let a = spawn_probe(dir, &["migrate", "--database", url], Some(at));
    let b = spawn_probe(dir, &["migrate", "--database", url], Some(at));
    [finish(a), finish(b)]
}

const BOTH_APPLIED: &str = "Applied 0001_initial\nApplied 0002_seed\n";
const NOTHING_TO_DO: &str = "No migrations to apply.\n";

/// Two processes run `migrate` on one database at the same moment, three rounds (one
/// process migrates back to zero between them): both succeed, each migration is
/// recorded and run once, and the schema is create_tables'. Without the lock both would
/// read "nothing applied" and run the same migrations: the second `INSERT INTO
/// orm_migrations` would fail (exit 1), and the `run_sql` row would be there twice.
#[tokio::test]
async fn two_processes_migrate_at_once() {
    let dir = probe_migrations();
    for backend in required_backends() {
        eprintln!("-- on {}", backend.name());
        let t = TestDb::open(backend).await;
        let url = t.url.as_str();
        for round in 0..3 {
            let [a, b] = race(&dir, url);
            assert_eq!(a.0, 0, "round {round}, first process: {a:?}");
            assert_eq!(b.0, 0, "round {round}, second process: {b:?}");
            eprintln!("   round {round}: {:?} / {:?}", a.1, b.1);
            if backend == Backend::Sqlite {
                // SQLite locks per migration, so the two may share the work (one applies
                // 0001, the other 0002): between them, each migration once.
                let mut applied_lines: Vec<&str> = [&a.1, &b.1]
                    .iter()
                    .flat_map(|o| o.lines())
                    .filter(|l| l.starts_with("Applied "))
                    .collect();
                applied_lines.sort();
                assert_eq!(
                    applied_lines,
                    ["Applied 0001_initial", "Applied 0002_seed"],
                    "round {round}"
                );
            } else {
                // One of them applied both, holding the lock; the other found them done.
                let mut outs = [a.1.as_str(), b.1.as_str()];
                outs.sort();
                assert_eq!(outs, [BOTH_APPLIED, NOTHING_TO_DO], "round {round}");
            }
            assert_eq!(applied(&t.db).await, ["0001_initial", "0002_seed"]);
            let seeded = RawQuery::<(i64,)>::new(
                "SELECT COUNT(*) FROM probe_labels WHERE name = 'seeded'",
                (),
            )
            .into_vec(&t.db)
            .await
            .unwrap();
            assert_eq!(
                seeded[0].0, 1,
                "round {round}: the run_sql migration ran twice"
            );
            assert_schema_is_create_tables::<probe::Models>(&t.db, backend).await;

            let z = finish(spawn_probe(
                &dir,
                &["migrate", "zero", "--database", url],
                None,
            ));
            assert_eq!(
                (z.0, z.1.as_str()),
                (0, "Unapplied 0002_seed\nUnapplied 0001_initial\n"),
                "round {round}: {z:?}"
            );
            assert!(applied(&t.db).await.is_empty());
            assert!(snapshot(&t.db, backend).await.0.is_empty(), "tables left");
        }
        t.cleanup().await;
    }
}

/// On SQLite (locked per migration, `BEGIN IMMEDIATE`), the process that waited finds
/// each migration done and skips it, but still prints `Applied <name>` for it: both
/// processes claim to have applied everything. `Migrator::migrate` pushes every planned
/// name into `MigrateReport::applied` whether `run_one` ran it or found it recorded.
#[tokio::test]
async fn sqlite_race_loser_reports_only_what_it_applied() {
    let dir = probe_migrations();
    let t = TestDb::open(Backend::Sqlite).await;
    let [a, b] = race(&dir, &t.url);
    assert_eq!((a.0, b.0), (0, 0), "{a:?} {b:?}");
    let applied: usize = [&a.1, &b.1]
        .iter()
        .map(|o| o.lines().filter(|l| l.starts_with("Applied")).count())
        .sum();
    assert_eq!(
        applied, 2,
        "two migrations were applied once each, but the processes report:\n{}---\n{}",
        a.1, b.1
    );
    t.cleanup().await;
}
