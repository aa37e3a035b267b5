//! Daemon mode: a pass on `schedule.cron`, never two at once; SIGTERM/SIGINT stop at a safe
//! point and exit 0; SIGHUP reloads the config (a bad one is logged and the old one kept);
//! systemd `Type=notify` (READY, STATUS, STOPPING, WATCHDOG) when run under systemd.
//!
//! The schedule math is in [`crate::schedule`]; a pass is [`crate::commands::pass_and_report`]. This
//! module only waits, dispatches and reports. Passes run one after another in this loop, so a
//! tick that comes while a pass still runs is skipped (and logged), never started twice; the
//! run lock keeps a cron-started `--sync-now` on the same directory out as well.

use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::api::client::ApiClient;
use crate::commands;
use crate::config::{self, Settings};
use crate::exit;
use crate::metrics::Snapshot;
use crate::progress::LogLines;
use crate::schedule::Schedule;
use crate::store::StoreError;
use crate::sync::{PassOptions, SyncError};

pub use crate::signals::Control;

/// systemd's notify protocol; every call is a no-op when `NOTIFY_SOCKET` is unset.
fn notify(state: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(state) {
        warn!("sd_notify failed: {e}");
    }
}

struct Running {
    settings: Settings,
    schedule: Schedule,
    verify: Option<Schedule>,
    api: ApiClient,
}

impl Running {
    async fn new(settings: Settings) -> Result<Running, String> {
        let tz = settings.schedule.timezone.as_deref();
        let schedule = Schedule::parse(&settings.schedule.cron, tz)?;
        let verify = settings
            .verify
            .cron
            .as_deref()
            .map(|c| Schedule::parse(c, tz))
            .transpose()?;
        let api = commands::api_client(&settings)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Running {
            settings,
            schedule,
            verify,
            api,
        })
    }
}

/// Runs until `control.shutdown`; returns the exit code (0 after a clean stop).
pub async fn run(config_path: PathBuf, settings: Settings, control: Control) -> u8 {
    if let Err(e) = commands::check_metrics(&settings) {
        error!("cannot start: {e}");
        return exit::SETUP;
    }
    let mut running = match Running::new(settings).await {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start: {e}");
            return exit::SETUP;
        }
    };
    let watchdog = spawn_watchdog(control.shutdown.clone());
    notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status("waiting for the first pass"),
    ]);
    info!(
        cron = running.schedule.expr(),
        timezone = running
            .settings
            .schedule
            .timezone
            .as_deref()
            .unwrap_or("UTC"),
        "daemon started"
    );
    let mut metrics = Snapshot::default();
    if running.settings.schedule.run_on_start {
        pass(&running, &control, &mut metrics).await;
    }
    while !control.shutdown.is_cancelled() {
        let Some(next) = running.schedule.next_after(OffsetDateTime::now_utc()) else {
            error!(
                cron = running.schedule.expr(),
                "the schedule never fires again; stopping"
            );
            break;
        };
        let next_verify = running
            .verify
            .as_ref()
            .and_then(|v| v.next_after(OffsetDateTime::now_utc()));
        if let Some(v) = next_verify.filter(|v| *v < next) {
            let wait = until(v);
            tokio::select! {
                () = tokio::time::sleep(wait) => scrub(&running, &mut metrics).await,
                () = control.reload.notified() => reload(&config_path, &mut running).await,
                () = control.shutdown.cancelled() => {}
            }
            continue;
        }
        info!(at = %crate::model::timestamp(next), "next pass scheduled");
        let wait = until(next);
        tokio::select! {
            () = tokio::time::sleep(wait) => {
                pass(&running, &control, &mut metrics).await;
                for tick in running.schedule.missed(next, OffsetDateTime::now_utc()) {
                    warn!(tick = %crate::model::timestamp(tick), "scheduled tick skipped: the previous pass was still running");
                }
            }
            () = control.reload.notified() => reload(&config_path, &mut running).await,
            () = control.shutdown.cancelled() => {}
        }
    }
    notify(&[sd_notify::NotifyState::Stopping]);
    watchdog.abort();
    info!("daemon stopped");
    exit::OK
}

async fn pass(running: &Running, control: &Control, metrics: &mut Snapshot) {
    notify(&[sd_notify::NotifyState::Status("pass running")]);
    let opts = PassOptions {
        dry_run: false,
        prune_plan: false,
        cancel: control.shutdown.child_token(),
    };
    let progress = LogLines::new(running.settings.progress_interval);
    let run = commands::pass_and_report(&running.settings, &running.api, &progress, &opts, metrics);
    tokio::pin!(run);
    // A 3-hour transfer shows in `systemctl status` as it moves.
    let mut tick = tokio::time::interval(running.settings.progress_interval);
    tick.tick().await;
    let outcome = loop {
        tokio::select! {
            outcome = &mut run => break outcome,
            _ = tick.tick() => notify(&[sd_notify::NotifyState::Status(&progress.status())]),
        }
    };
    let status = match outcome {
        Ok(summary) => format!("last pass: {summary}"),
        Err(SyncError::Store(e @ StoreError::Locked { .. })) => {
            let StoreError::Locked { pid, .. } = &e else {
                unreachable!()
            };
            warn!(pid = %pid, "pass skipped: {e}");
            format!("last pass skipped: pid {pid} held the lock")
        }
        Err(e) => {
            error!("pass failed: {e}");
            format!("last pass failed: {e}")
        }
    };
    notify(&[sd_notify::NotifyState::Status(&status)]);
}

/// The `verify.cron` scrub (with repair when configured); findings go to the log and metrics.
async fn scrub(running: &Running, metrics: &mut Snapshot) {
    notify(&[sd_notify::NotifyState::Status("verify running")]);
    let status = match commands::verify::verify_and_repair(
        &running.settings,
        commands::verify::daemon_scope(&running.settings),
        &mut std::io::sink(),
        metrics,
    )
    .await
    {
        Ok(0) => "last verify: no problems".to_string(),
        Ok(n) => format!("last verify: {n} problems"),
        Err(e) => {
            warn!("verify skipped: {e}");
            format!("last verify failed: {e}")
        }
    };
    commands::pass::write_metrics_file(&running.settings, metrics);
    info!("{status}");
    notify(&[sd_notify::NotifyState::Status(&status)]);
}

async fn reload(path: &std::path::Path, running: &mut Running) {
    let loaded = match config::load(path) {
        Ok(settings) => Running::new(settings).await,
        Err(e) => Err(e.to_string()),
    };
    match loaded {
        Ok(new) => {
            info!(cron = new.schedule.expr(), "configuration reloaded");
            *running = new;
        }
        Err(e) => error!("reload failed, keeping the previous configuration: {e}"),
    }
}

/// Pings systemd's watchdog at half its interval, when `WatchdogSec=` is set.
fn spawn_watchdog(shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    let interval = sd_notify::watchdog_enabled().map(|d| d / 2);
    tokio::spawn(async move {
        let Some(interval) = interval.filter(|d| !d.is_zero()) else {
            return;
        };
        loop {
            notify(&[sd_notify::NotifyState::Watchdog]);
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = shutdown.cancelled() => return,
            }
        }
    })
}

/// How long until `at` (zero when it has passed).
fn until(at: OffsetDateTime) -> Duration {
    (at - OffsetDateTime::now_utc())
        .try_into()
        .unwrap_or(Duration::ZERO)
}
