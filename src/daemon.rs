//! Daemon mode: a pass on `schedule.cron`, never two at once; SIGTERM/SIGINT stop at a safe
//! point and exit 0; SIGHUP reloads the config (a bad one is logged and the old one kept);
//! systemd `Type=notify` (READY, STATUS, STOPPING, WATCHDOG) when run under systemd.
//!
//! The schedule math is in [`crate::schedule`]; a pass is [`crate::commands::pass_and_report`]. This
//! module only waits, dispatches and reports. Passes run one after another in this loop, so a
//! tick that comes while a pass still runs is skipped (and logged), never started twice; the
//! run lock keeps a cron-started `--sync-now` on the same directory out as well. The
//! `verify.cron` scrub runs in its own task beside the passes (it takes the scrub lock, not the
//! run lock), cancelled with the shutdown. Waits read the wall clock again every
//! [`clock::SLICE`], so a suspend or a clock step never makes a tick late, early or double.

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::api::client::ApiClient;
use crate::commands;
use crate::config::{self, Settings};
use crate::exit;
use crate::metrics::Figures;
use crate::progress::LogLines;
use crate::schedule::Schedule;
use crate::store::StoreError;
use crate::sync::{PassOptions, SyncError};

pub use crate::signals::Control;
use clock::{Clock, SystemClock};

mod clock;

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
    async fn new(settings: Settings) -> Result<Running, commands::AppError> {
        let schedule = settings.schedule.cron.clone();
        let verify = settings.verify.cron.clone();
        let api = commands::api_client(&settings).await?;
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
        timezone = running.settings.schedule.zone.name(),
        "daemon started"
    );
    let mut metrics = Figures::default();
    if running.settings.schedule.run_on_start {
        pass(&running, &control, &mut metrics).await;
    }
    run_loop(&config_path, &mut running, &control, &mut metrics).await;
    notify(&[sd_notify::NotifyState::Stopping]);
    watchdog.abort();
    info!("daemon stopped");
    exit::OK
}

/// Passes on `schedule.cron`, scrubs on `verify.cron` beside them (a scrub of terabytes never
/// holds a pass, SIGTERM or SIGHUP; issue #21), reloads on SIGHUP, until the shutdown. Every
/// wait reads the wall clock again at least every [`clock::SLICE`].
async fn run_loop(
    config_path: &std::path::Path,
    running: &mut Running,
    control: &Control,
    metrics: &mut Figures,
) {
    let clock = SystemClock;
    let mut scrub: Option<Scrub> = None;
    let (mut last_pass, mut last_scrub) = (None, None);
    while !control.shutdown.is_cancelled() {
        let now = clock.now();
        let Some(next_pass) = clock::next_tick(&running.schedule, now, last_pass) else {
            error!(
                cron = running.schedule.expr(),
                "the schedule never fires again; stopping"
            );
            break;
        };
        let next_scrub = match (&scrub, &running.verify) {
            (None, Some(v)) => clock::next_tick(v, now, last_scrub),
            _ => None,
        };
        let next = next_scrub.map_or(next_pass, |s| s.min(next_pass));
        if next == next_pass {
            info!(at = %crate::model::timestamp(next), "next pass scheduled");
        }
        tokio::select! {
            () = clock::until(&clock, next) => {
                // A scrub tick on a pass tick runs too: beside the pass.
                if next_scrub == Some(next) {
                    last_scrub = next_scrub;
                    scrub = Some(Scrub::start(running, control, metrics));
                }
                if next_pass == next {
                    last_pass = Some(next_pass);
                    pass(running, control, metrics).await;
                    for tick in running.schedule.missed(next_pass, clock.now()) {
                        warn!(tick = %crate::model::timestamp(tick), "scheduled tick skipped: the previous pass was still running");
                    }
                }
            }
            done = Scrub::done(&mut scrub) => {
                scrub = None;
                finish_scrub(done, &running.settings, metrics);
            }
            () = control.reload.notified() => reload(config_path, running).await,
            () = control.shutdown.cancelled() => {}
        }
    }
    if let Some(s) = scrub.take() {
        // Cancelled with the shutdown: it stops within the copy it reads.
        s.stop.cancel();
        let _ = s.handle.await;
    }
}

/// What a scheduled scrub returns: its problems and the metrics it leaves (a repair may run a
/// pass), or why it could not run; `None` problems when a shutdown cut it short.
type ScrubDone = Result<(Option<usize>, Figures), ScrubError>;

/// Why a scheduled scrub did not run to its end.
#[derive(Debug, thiserror::Error)]
enum ScrubError {
    #[error(transparent)]
    Failed(#[from] commands::AppError),
    #[error("the scrub task stopped unexpectedly (a bug; please report it): {0}")]
    Panicked(#[from] tokio::task::JoinError),
}

/// The `verify.cron` scrub in its own task.
struct Scrub {
    handle: tokio::task::JoinHandle<ScrubDone>,
    stop: CancellationToken,
}

impl Scrub {
    fn start(running: &Running, control: &Control, metrics: &Figures) -> Scrub {
        notify(&[sd_notify::NotifyState::Status("verify running")]);
        info!("scheduled scrub started");
        let settings = running.settings.clone();
        let stop = control.shutdown.child_token();
        let token = stop.clone();
        let mut m = metrics.clone();
        let handle = tokio::spawn(async move {
            let scope = commands::verify::daemon_scope(&settings);
            let mut sink = std::io::sink();
            let found =
                commands::verify::verify_and_repair(&settings, scope, &mut sink, &mut m, &token)
                    .await?;
            Ok(((!token.is_cancelled()).then_some(found), m))
        });
        Scrub { handle, stop }
    }

    /// The running scrub's outcome; never, when there is none.
    async fn done(scrub: &mut Option<Scrub>) -> ScrubDone {
        match scrub {
            Some(s) => (&mut s.handle).await.unwrap_or_else(|e| Err(e.into())),
            None => std::future::pending().await,
        }
    }
}

/// Findings of a scheduled scrub go to the log and the metrics file.
fn finish_scrub(done: ScrubDone, settings: &Settings, metrics: &mut Figures) {
    let status = match done {
        Ok((None, _)) => "last verify: stopped by a shutdown request".to_string(),
        Ok((Some(n), after)) => {
            // A repair ran a pass: its figures are the newest.
            if after.pass_end > metrics.pass_end {
                *metrics = after.clone();
            }
            metrics.verify_mismatches = after.verify_mismatches;
            if n == 0 {
                "last verify: no problems".to_string()
            } else {
                format!("last verify: {n} problems")
            }
        }
        Err(e) => {
            warn!("verify skipped: {e}");
            format!("last verify failed: {e}")
        }
    };
    commands::pass::write_metrics_file(settings, metrics);
    info!("{status}");
    notify(&[sd_notify::NotifyState::Status(&status)]);
}

async fn pass(running: &Running, control: &Control, metrics: &mut Figures) {
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
    // A SIGHUP meanwhile is answered at once; the loop applies it once the pass is over.
    let mut reload_asked = false;
    let outcome = loop {
        tokio::select! {
            outcome = &mut run => break outcome,
            _ = tick.tick() => notify(&[sd_notify::NotifyState::Status(&progress.status())]),
            () = control.reload.notified(), if !reload_asked => {
                reload_asked = true;
                announce_reload(&running.settings.file);
            }
        }
    };
    if reload_asked {
        control.reload.notify_one();
    }
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

/// A SIGHUP during a pass: says at once whether the new configuration is valid, and that it
/// applies from the next pass.
fn announce_reload(path: &std::path::Path) {
    match config::load(path) {
        Ok(_) => info!(
            "SIGHUP: the new configuration is valid; it applies from the next pass (this one goes on as it started)"
        ),
        Err(e) => error!("SIGHUP: the new configuration is not valid, the current one stays: {e}"),
    }
}

async fn reload(path: &std::path::Path, running: &mut Running) {
    let loaded = match config::load(path) {
        Ok(settings) => Running::new(settings).await,
        Err(e) => Err(e.into()),
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
