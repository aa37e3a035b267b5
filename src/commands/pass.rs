//! A pass as a command: `--sync-now` and `--dry-run`, and [`pass_and_report`], which the
//! daemon runs on its schedule: the pass, then the metrics file, then the summary in the log.

use time::OffsetDateTime;

use super::{AppError, api_client};
use crate::api::client::ApiClient;
use crate::config::Settings;
use crate::exit;
use crate::progress::Progress;
use crate::sync::{self, PassOptions};

/// `--sync-now` (and `--dry-run`): one pass; Ctrl-C or SIGTERM stops it at a safe point.
pub async fn sync_now(
    settings: &Settings,
    dry_run: bool,
    progress: &dyn Progress,
) -> Result<sync::report::Summary, AppError> {
    if !dry_run {
        super::check_metrics(settings)?;
    }
    let api = api_client(settings).await?;
    let opts = PassOptions {
        dry_run,
        ..PassOptions::default()
    };
    let control = crate::signals::Control::install().map_err(AppError::Signals)?;
    let opts = PassOptions {
        cancel: control.shutdown.child_token(),
        ..opts
    };
    let mut metrics = crate::metrics::Figures::default();
    Ok(pass_and_report(settings, &api, progress, &opts, &mut metrics).await?)
}

/// `--prune-plan`: a dry run that prints only the retention plan (local copies, and the
/// archive's when one is configured). Lists the cloud (for expiry times and which listings
/// succeeded), changes nothing.
pub async fn prune_plan(settings: &Settings) -> Result<sync::report::Summary, AppError> {
    let api = api_client(settings).await?;
    let opts = PassOptions {
        dry_run: true,
        prune_plan: true,
        cancel: tokio_util::sync::CancellationToken::new(),
    };
    Ok(sync::run_pass(settings, &api, &crate::progress::Silent, &opts).await?)
}

/// One pass, then its report: the summary in the log and, when configured, the metrics file.
/// Shared by `--sync-now` and the daemon; `metrics` carries state between passes.
pub async fn pass_and_report(
    settings: &Settings,
    api: &ApiClient,
    progress: &dyn Progress,
    opts: &PassOptions,
    metrics: &mut crate::metrics::Figures,
) -> Result<sync::report::Summary, sync::SyncError> {
    let start = OffsetDateTime::now_utc().unix_timestamp();
    if !opts.dry_run {
        settings.hooks.started();
    }
    let summary = sync::run_pass(settings, api, progress, opts).await?;
    // Metrics first: whoever reads the log line can rely on the file being current.
    if !opts.dry_run && settings.metrics.textfile.is_some() {
        let end = OffsetDateTime::now_utc().unix_timestamp();
        metrics.record_pass(&summary, start, end);
        write_metrics(settings, summary.local.clone(), metrics);
    }
    summary.log(settings.logging);
    if !opts.dry_run {
        settings.hooks.finished(&summary).await;
    }
    Ok(summary)
}

/// Refreshes the store-derived figures and rewrites the metrics file, when one is configured.
pub fn write_metrics_file(settings: &Settings, figures: &mut crate::metrics::Figures) {
    write_metrics(settings, None, figures);
}

/// Rewrites the metrics file with the local copies' figures: those a pass counted, else read
/// from the disk.
fn write_metrics(
    settings: &Settings,
    holdings: Option<crate::model::Holdings>,
    figures: &mut crate::metrics::Figures,
) {
    let Some(path) = &settings.metrics.textfile else {
        return;
    };
    let store = crate::store::Store::new(&settings.download.dir);
    match holdings {
        Some(h) => crate::metrics::observe(&store, h, figures),
        None => crate::metrics::observe_store(&store, figures),
    }
    if let Err(e) = crate::metrics::write(path, settings.metrics.file_mode, figures) {
        tracing::warn!("cannot write the metrics file: {e}");
    }
}

/// The exit code a pass's summary calls for.
pub fn exit_code(summary: &sync::report::Summary) -> u8 {
    if summary.setup_error {
        exit::SETUP
    } else if summary.stopped_cleanly() {
        // Also a pass stopped at a safe point by SIGTERM: the daemon exits 0 then too, and
        // `systemctl stop` of the one-shot unit must not mark it failed.
        exit::OK
    } else {
        exit::FAILED
    }
}
