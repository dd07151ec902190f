//! The `manage` command line (Django's `manage.py`, for the migration commands).

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Arg, ArgAction, ArgMatches, Command};
use futures_util::future::BoxFuture;

use super::{Made, MakeOptions, Migrator, Target};
use crate::{Connection, Db, ModelSet, Result};

/// Run the `manage` command line for the models `S`, with the migrations in
/// `<crate_dir>/migrations` (pass `env!("CARGO_MANIFEST_DIR")`), the arguments of the
/// process and the database of `--database` or `DATABASE_URL`. See the
/// [module documentation](super) for a two-line `src/bin/manage.rs`.
pub async fn manage<S: ModelSet>(crate_dir: &str) -> ExitCode {
    Manage::new::<S>(PathBuf::from(crate_dir).join("migrations"))
        .run()
        .await
}

/// The `manage` command line, with Rust data migrations registered:
///
/// ```no_run
/// # use orm_sqlx::prelude::*;
/// # #[derive(Model)] pub struct Post { pub id: i64, pub title: String }
/// use orm_sqlx::migrate::Manage;
///
/// #[tokio::main]
/// async fn main() -> std::process::ExitCode {
///     Manage::new::<(Post,)>(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
///         .function("title_case", |conn| {
///             Box::pin(async move {
///                 conn.dialect(); // any queryset: `Post::objects().update(…, &mut *conn)`
///                 Ok(())
///             })
///         })
///         .run()
///         .await
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Manage {
    migrator: Migrator,
}

fn command() -> Command {
    Command::new("manage")
        .about("Migrations from the models: makemigrations, migrate, showmigrations, sqlmigrate")
        .arg(
            Arg::new("database")
                .long("database")
                .global(true)
                .value_name("URL")
                .env("DATABASE_URL")
                .help("The database (sqlite://…, postgres://…, mysql://…)"),
        )
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("makemigrations")
                .about("Write the next migration file from the changes to the models")
                .arg(
                    Arg::new("check")
                        .long("check")
                        .action(ArgAction::SetTrue)
                        .help("Write nothing; exit with 1 if the models have changes no migration holds"),
                )
                .arg(
                    Arg::new("name")
                        .long("name")
                        .short('n')
                        .value_name("NAME")
                        .help("The name after the number (0002_NAME.toml)"),
                )
                .arg(
                    Arg::new("empty")
                        .long("empty")
                        .action(ArgAction::SetTrue)
                        .help("Write a migration without operations, for run_sql or run_rust"),
                )
                .arg(
                    Arg::new("merge")
                        .long("merge")
                        .action(ArgAction::SetTrue)
                        .help("Write a migration joining the branches of two leaf migrations"),
                ),
        )
        .subcommand(
            Command::new("migrate")
                .about("Apply the migrations not applied yet (or unapply back to TARGET)")
                .arg(
                    Arg::new("target")
                        .value_name("TARGET")
                        .help("A migration to migrate to (its name or number), or `zero`"),
                ),
        )
        .subcommand(Command::new("showmigrations").about("List the migrations, [X] when applied"))
        .subcommand(
            Command::new("sqlmigrate")
                .about("Print the SQL of one migration on this database's backend")
                .arg(Arg::new("name").required(true).value_name("NAME"))
                .arg(
                    Arg::new("backward")
                        .long("backward")
                        .action(ArgAction::SetTrue)
                        .help("The SQL that unapplies it"),
                ),
        )
}

impl Manage {
    /// The command line for models `S` with the migrations in `dir`.
    pub fn new<S: ModelSet>(dir: impl Into<PathBuf>) -> Manage {
        Manage {
            migrator: Migrator::new::<S>(dir),
        }
    }

    /// Register a Rust data migration (see [`Migrator::function`]).
    pub fn function<F>(mut self, name: &str, f: F) -> Manage
    where
        F: for<'c> Fn(&'c mut Connection) -> BoxFuture<'c, Result<()>> + Send + Sync + 'static,
    {
        self.migrator = self.migrator.function(name, f);
        self
    }

    /// Run with the process's arguments, writing to stdout and stderr.
    pub async fn run(self) -> ExitCode {
        let code = self
            .run_with(
                std::env::args_os(),
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            )
            .await;
        ExitCode::from(code)
    }

    /// Run with these arguments (the first is the program's name) and outputs; returns
    /// the exit code: 0 done, 1 failed (or `makemigrations --check` found changes), 2 a
    /// usage error.
    pub async fn run_with<I, T>(self, args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = match command().try_get_matches_from(args) {
            Ok(m) => m,
            Err(e) => {
                let text = e.render().to_string();
                if e.use_stderr() {
                    let _ = write!(err, "{text}");
                    return 2;
                }
                let _ = write!(out, "{text}");
                return 0;
            }
        };
        match self.dispatch(&matches, out).await {
            Ok(code) => code,
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                1
            }
        }
    }

    async fn dispatch(&self, matches: &ArgMatches, out: &mut dyn Write) -> Result<u8> {
        let m = &self.migrator;
        let io = |e: std::io::Error| crate::Error::Migration(format!("cannot write output: {e}"));
        match matches.subcommand() {
            Some(("makemigrations", sub)) => {
                if sub.get_flag("check") {
                    let ops = m.changes()?;
                    if ops.is_empty() {
                        writeln!(out, "No changes detected").map_err(io)?;
                        return Ok(0);
                    }
                    writeln!(
                        out,
                        "The models have changes no migration holds (run makemigrations):"
                    )
                    .map_err(io)?;
                    for op in &ops {
                        writeln!(out, "  - {}", op.describe()).map_err(io)?;
                    }
                    return Ok(1);
                }
                let options = MakeOptions {
                    name: sub.get_one::<String>("name").cloned(),
                    empty: sub.get_flag("empty"),
                    merge: sub.get_flag("merge"),
                };
                match m.make_migrations(&options)? {
                    Made::NoChanges => writeln!(out, "No changes detected").map_err(io)?,
                    Made::Written { path, operations } => {
                        writeln!(out, "Wrote {}", path.display()).map_err(io)?;
                        for op in &operations {
                            writeln!(out, "  - {}", op.describe()).map_err(io)?;
                            if let super::Operation::AddField {
                                table,
                                column,
                                fill: None,
                            } = op
                                && !column.null
                                && column.default.is_none()
                            {
                                writeln!(
                                    out,
                                    "    note: {table}.{} is NOT NULL without a default; if \
                                     {table} has rows, add `fill = <value>` to this operation",
                                    column.name
                                )
                                .map_err(io)?;
                            }
                        }
                    }
                }
                Ok(0)
            }
            Some(("migrate", sub)) => {
                let db = connect(matches).await?;
                let target = Target::parse(sub.get_one::<String>("target").map(String::as_str));
                let report = m.migrate(&db, &target).await?;
                if report.applied.is_empty() && report.unapplied.is_empty() {
                    writeln!(out, "No migrations to apply.").map_err(io)?;
                }
                for n in &report.unapplied {
                    writeln!(out, "Unapplied {n}").map_err(io)?;
                }
                for n in &report.applied {
                    writeln!(out, "Applied {n}").map_err(io)?;
                }
                Ok(0)
            }
            Some(("showmigrations", _)) => {
                let db = connect(matches).await?;
                let list = m.show(&db).await?;
                if list.is_empty() {
                    writeln!(out, "(no migrations)").map_err(io)?;
                }
                for (name, applied) in list {
                    writeln!(out, "[{}] {name}", if applied { "X" } else { " " }).map_err(io)?;
                }
                Ok(0)
            }
            Some(("sqlmigrate", sub)) => {
                let db = connect(matches).await?;
                let name = sub.get_one::<String>("name").map_or("", String::as_str);
                for line in m.sql(&db, name, sub.get_flag("backward")).await? {
                    writeln!(out, "{line}").map_err(io)?;
                }
                Ok(0)
            }
            _ => Ok(2),
        }
    }
}

async fn connect(matches: &ArgMatches) -> Result<Db> {
    let Some(url) = matches.get_one::<String>("database") else {
        return Err(crate::Error::Migration(
            "no database: pass --database <URL> or set DATABASE_URL (for example \
             sqlite://db.sqlite3)"
                .to_owned(),
        ));
    };
    Db::connect(url).await
}
