//! `migrate_probe <migrations dir> <manage arguments…>`: the `manage` command line for
//! the models of `orm_tests::probe`, with the migrations in the given folder. The test
//! `manage_cli::two_processes_migrate_at_once` starts two of these at the same moment.

use std::process::ExitCode;

use orm_sqlx::migrate::Manage;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let program = args.next().unwrap_or_else(|| "migrate_probe".into());
    let Some(dir) = args.next() else {
        eprintln!("usage: migrate_probe <migrations dir> <manage arguments…>");
        return ExitCode::from(2);
    };
    // Start at this moment (milliseconds since the epoch) if asked, so that two probes
    // spawned one after the other send their first statement together.
    if let Some(at) = std::env::var("MIGRATE_PROBE_START_AT_MS")
        .ok()
        .and_then(|v| v.parse::<u128>().ok())
    {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        if at > now {
            let wait = u64::try_from(at - now).unwrap_or(0);
            std::thread::sleep(std::time::Duration::from_millis(wait));
        }
    }
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let code = Manage::new::<orm_tests::probe::Models>(dir)
        .run_with(std::iter::once(program).chain(args), &mut out, &mut err)
        .await;
    ExitCode::from(code)
}
