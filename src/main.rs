//! The `dds-backup-sync` binary: parse the CLI, set up logging, load settings, run the chosen
//! mode and map the outcome to a documented exit code (see `exit`).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use dds_backup_sync::cli::{Cli, Mode};
use dds_backup_sync::config::{self, LogFormat};
use dds_backup_sync::{commands, exit, http, progress};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap says 0 for --help/--version and 2 for usage errors.
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(exit::SETUP));
        }
    };
    http::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dds-backup-sync: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    ExitCode::from(runtime.block_on(run(cli)))
}

async fn run(cli: Cli) -> u8 {
    let mode = cli.mode();
    if let Mode::Demo { dir } = &mode {
        return demo(dir).await;
    }
    let path = config::resolve_path(cli.config.as_deref(), std::env::var(config::ENV_PATH).ok());
    let settings = match config::load(&path) {
        Ok(s) => s,
        Err(e) => {
            if mode == Mode::Check {
                println!("FAIL config: {e}");
                return exit::SETUP;
            }
            init_logging(LogFormat::Text);
            tracing::error!("{e}");
            eprintln!("dds-backup-sync: {e}");
            return exit::SETUP;
        }
    };
    init_logging(settings.logging);
    let outcome = dispatch(mode, path, settings).await;
    outcome.unwrap_or_else(|e| {
        eprintln!("dds-backup-sync: {e:#}");
        exit::FAILED
    })
}

/// Runs one mode with the loaded settings.
async fn dispatch(
    mode: Mode,
    path: std::path::PathBuf,
    settings: config::Settings,
) -> anyhow::Result<u8> {
    let mut stdout = std::io::stdout().lock();
    Ok(match mode {
        Mode::Check => said(commands::check::check(&settings, &mut stdout).await),
        Mode::List { json } => said(commands::list::list(&settings, json, &mut stdout).await),
        Mode::SyncNow { dry_run } => {
            drop(stdout);
            let progress = progress::for_stderr(settings.progress_interval);
            summary_code(commands::sync_now(&settings, dry_run, progress.as_ref()).await)
        }
        Mode::Verify { max_age, sample } => {
            let scope = dds_backup_sync::verify::Scope {
                max_age,
                sample,
                seed: commands::verify::clock_seed(),
            };
            said(commands::verify::verify(&settings, scope, &mut stdout).await)
        }
        Mode::VerifyArchive => {
            said(commands::verify_archive::verify_archive(&settings, &mut stdout).await)
        }
        Mode::PrunePlan => {
            drop(stdout);
            summary_code(commands::pass::prune_plan(&settings).await)
        }
        Mode::Daemon => {
            drop(stdout);
            match dds_backup_sync::signals::Control::install() {
                Ok(control) => dds_backup_sync::daemon::run(path.clone(), settings, control).await,
                Err(e) => return Err(anyhow::anyhow!("cannot install signal handlers: {e}")),
            }
        }
        // Run by `run` before any configuration is read; here only for the match to be whole.
        Mode::Demo { dir } => demo(&dir).await,
    })
}

/// A command's exit code, its error said on stderr first.
fn said(result: Result<u8, commands::AppError>) -> u8 {
    result.unwrap_or_else(|e| {
        eprintln!("dds-backup-sync: {e}");
        e.exit_code()
    })
}

/// The exit code a pass's summary calls for, or its error's (said on stderr).
fn summary_code(result: Result<dds_backup_sync::sync::report::Summary, commands::AppError>) -> u8 {
    match result {
        Ok(summary) => commands::exit_code(&summary),
        Err(e) => {
            eprintln!("dds-backup-sync: {e}");
            e.exit_code()
        }
    }
}

/// `--demo DIR`: the emulator in-process, then one real pass into DIR.
#[cfg(feature = "demo")]
async fn demo(dir: &std::path::Path) -> u8 {
    // The in-process emulator logs every request (the demo is about the sync), and the
    // machine summary line would only repeat the pass's own summary line.
    init_logging_with(
        LogFormat::Text,
        "info,dds_emulator=warn,dds_backup_sync::summary=off",
    );
    commands::demo::demo(dir).await.unwrap_or_else(|e| {
        eprintln!("dds-backup-sync: {e}");
        e.exit_code()
    })
}

/// `--demo` in a build without the `demo` feature (no emulator, no HTTP server inside).
#[cfg(not(feature = "demo"))]
async fn demo(_dir: &std::path::Path) -> u8 {
    eprintln!(
        "dds-backup-sync: this build has no demo: it was built without the `demo` feature; \
         build with the default features (cargo build --release), or run the emulator on its own \
         (cargo run -p dds-emulator -- --help)"
    );
    exit::SETUP
}

/// Logs go to stderr always (stdout is for `--list --json`); colour only on a terminal, so
/// journald and cron mail get plain text. `RUST_LOG` overrides the default `info` level.
fn init_logging(format: LogFormat) {
    init_logging_with(format, "info");
}

/// `default` applies when `RUST_LOG` is unset.
fn init_logging_with(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(progress::log_writer)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
