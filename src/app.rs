//! Wiring: settings → API client, and the `--list` command's output.
//!
//! Commands return an exit code; per-target failures are reported and counted, never fatal to
//! the other targets.

use std::io::Write;

use serde::Serialize;
use time::OffsetDateTime;

use crate::api::client::ApiClient;
use crate::api::credentials::{CredentialError, CredentialProvider};
use crate::api::model::Backup;
use crate::config::Settings;
use crate::config::{
    ApiSettings, DownloadSettings, InstanceSettings, LogFormat, Network, PruneSettings,
    ScheduleSettings,
};
use crate::exit;
use crate::http;
use crate::listing::{self, TargetListing};
use crate::progress::{self, Progress};
use crate::retry::RetryPolicy;
use crate::secret::Secret;
use crate::sync::{self, PassOptions};
use crate::text::shown;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("credentials: {0}")]
    Credentials(#[from] CredentialError),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    #[error("{0}")]
    Sync(#[from] sync::SyncError),
    #[error("cannot start the bundled emulator: {0}")]
    Emulator(#[source] std::io::Error),
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Credentials(_) => exit::SETUP,
            AppError::Sync(e) => e.exit_code(),
            AppError::Http(_) | AppError::Output(_) | AppError::Emulator(_) => exit::FAILED,
        }
    }
}

/// Builds the API client the settings describe, resolving credentials once.
pub async fn api_client(settings: &Settings) -> Result<ApiClient, AppError> {
    let credentials = CredentialProvider::from_settings(&settings.credentials).await?;
    tracing::info!(source = credentials.source_name(), endpoint = %settings.api.endpoint, "using credentials");
    let http = http::client(settings.api.timeout, settings.api.timeout).map_err(AppError::Http)?;
    Ok(ApiClient::new(
        http,
        settings.api.endpoint.clone(),
        settings.api.region_id.clone(),
        credentials,
        settings.api.retry,
        settings.api.page_size,
    ))
}

/// `--sync-now` (and `--dry-run`): one pass; Ctrl-C or SIGTERM stops it at a safe point.
pub async fn sync_now(
    settings: &Settings,
    dry_run: bool,
    progress: &dyn Progress,
) -> Result<sync::report::Summary, AppError> {
    let api = api_client(settings).await?;
    let opts = PassOptions {
        dry_run,
        cancel: tokio_util::sync::CancellationToken::new(),
    };
    let guard = spawn_signal_handler(opts.cancel.clone());
    let mut metrics = crate::metrics::Snapshot::default();
    let summary = pass_and_report(settings, &api, progress, &opts, &mut metrics).await;
    guard.abort();
    Ok(summary?)
}

/// One pass, then its report: the summary in the log and, when configured, the metrics file.
/// Shared by `--sync-now` and the daemon; `metrics` carries state between passes.
pub async fn pass_and_report(
    settings: &Settings,
    api: &ApiClient,
    progress: &dyn Progress,
    opts: &PassOptions,
    metrics: &mut crate::metrics::Snapshot,
) -> Result<sync::report::Summary, sync::SyncError> {
    let start = OffsetDateTime::now_utc().unix_timestamp();
    let summary = sync::run_pass(settings, api, progress, opts).await?;
    // Metrics first: whoever reads the log line can rely on the file being current.
    if !opts.dry_run {
        write_metrics(settings, &summary, start, metrics);
    }
    summary.log();
    Ok(summary)
}

fn write_metrics(
    settings: &Settings,
    summary: &sync::report::Summary,
    start: i64,
    snapshot: &mut crate::metrics::Snapshot,
) {
    if settings.metrics.textfile.is_none() {
        return;
    }
    let end = OffsetDateTime::now_utc().unix_timestamp();
    snapshot.pass_start = start;
    snapshot.pass_end = end;
    snapshot.pass_ok = summary.ok();
    if summary.ok() {
        snapshot.last_success = end;
    }
    snapshot.failures_by_reason.clear();
    for f in &summary.failures {
        *snapshot
            .failures_by_reason
            .entry(f.kind.to_string())
            .or_default() += 1;
    }
    snapshot.summary = summary.clone();
    write_metrics_file(settings, snapshot);
}

/// Refreshes the store-derived figures and rewrites the metrics file, when one is configured.
pub fn write_metrics_file(settings: &Settings, snapshot: &mut crate::metrics::Snapshot) {
    let Some(path) = &settings.metrics.textfile else {
        return;
    };
    crate::metrics::observe_store(&crate::store::Store::new(&settings.download.dir), snapshot);
    if let Err(e) = crate::metrics::write(path, snapshot) {
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

/// Cancels `token` on SIGINT or SIGTERM.
pub fn spawn_signal_handler(
    token: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = term => {}
        }
        tracing::warn!(
            "shutdown requested: stopping at a safe point (partial files are kept for resume)"
        );
        token.cancel();
    })
}

/// `--demo DIR`: the bundled emulator on a free loopback port, then a real pass into DIR.
#[cfg(feature = "demo")]
pub async fn demo(dir: &std::path::Path) -> Result<u8, AppError> {
    let (id, secret) = ("demo-access-key-id", "demo-access-key-secret");
    let config = dds_emulator::EmulatorConfig::demo(id, secret);
    let emulator = dds_emulator::start(config, std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(AppError::Emulator)?;
    let dir = std::path::absolute(dir).map_err(AppError::Output)?;
    let settings = demo_settings(&emulator.base_url(), id, secret, &dir);
    println!(
        "demo: emulator at {}, downloading into {}",
        emulator.base_url(),
        dir.display()
    );
    let summary = sync_now(&settings, false, progress::for_stderr().as_ref()).await?;
    println!("demo: {summary}");
    println!(
        "demo: look at {} (each backup has its file and a manifest.json); run again to see that nothing is downloaded twice",
        dir.display()
    );
    emulator.shutdown().await;
    Ok(exit_code(&summary))
}

/// Settings for the demo data set of the bundled emulator at `endpoint` (also without the `demo`
/// feature: it only builds [`Settings`]).
pub fn demo_settings(endpoint: &str, id: &str, secret: &str, dir: &std::path::Path) -> Settings {
    let instance = |id: &str, nodes: &[&str]| InstanceSettings {
        id: id.to_string(),
        node_ids: nodes.iter().map(|s| s.to_string()).collect(),
        lookback: std::time::Duration::from_secs(30 * 86400),
        src_region: None,
        dest_region: None,
        resource_group_id: None,
    };
    Settings {
        file: "<demo>".into(),
        api: ApiSettings {
            region_id: "cn-hangzhou".into(),
            endpoint: endpoint.to_string(),
            page_size: 30,
            timeout: std::time::Duration::from_secs(10),
            retry: RetryPolicy::default(),
        },
        credentials: crate::api::credentials::CredentialOptions {
            access_key_id: Some(id.to_string()),
            access_key_secret: Some(Secret::new(secret)),
            security_token: None,
            profile_path: None,
            profile_name: None,
            ecs_metadata_url: "http://127.0.0.1:9".into(),
            ecs_role_name: None,
            allow_ecs: false,
        },
        instances: vec![
            instance("dds-demo-replica", &[]),
            instance("dds-demo-sharded", &["d-demo-shard-0", "d-demo-shard-1"]),
        ],
        download: DownloadSettings {
            dir: dir.to_path_buf(),
            network: Network::Auto,
            concurrency: 4,
            read_timeout: std::time::Duration::from_secs(30),
            probe_timeout: std::time::Duration::from_secs(1),
            min_rate: 64 * 1024,
        },
        prune: PruneSettings {
            enabled: true,
            grace: std::time::Duration::ZERO,
            keep_last: 1,
        },
        schedule: ScheduleSettings {
            cron: "0 0 3 * * *".into(),
            timezone: None,
            run_on_start: false,
        },
        metrics: crate::config::MetricsSettings::default(),
        verify: crate::config::VerifySettings::default(),
        logging: LogFormat::Text,
    }
}

/// `--verify`: re-hash every local copy; one line per problem, a summary, exit 1 on any problem.
/// Holds the run lock while reading, so it never reads a file a pass is writing. With
/// `verify.repair`, corrupt copies of backups still listed are removed and a pass fetches them.
pub async fn verify(settings: &Settings, out: &mut dyn Write) -> Result<u8, AppError> {
    let mut metrics = crate::metrics::Snapshot::default();
    let problems = verify_and_repair(settings, out, &mut metrics).await?;
    Ok(if problems == 0 {
        exit::OK
    } else {
        exit::FAILED
    })
}

/// The scrub behind `--verify` and `verify.cron`; returns the number of problems found.
pub async fn verify_and_repair(
    settings: &Settings,
    out: &mut dyn Write,
    metrics: &mut crate::metrics::Snapshot,
) -> Result<usize, AppError> {
    let store = crate::store::Store::new(&settings.download.dir);
    let report = {
        let _lock = store
            .lock()
            .map_err(|e| AppError::Sync(sync::SyncError::Store(e)))?;
        crate::verify::verify_store(&store)
    };
    for f in &report.findings {
        if f.problem.is_note() {
            tracing::warn!(backup = %f.label, "verify: {}", f.problem);
            writeln!(out, "NOTE {}: {}", f.label, f.problem)?;
        } else {
            tracing::error!(backup = %f.label, "verify: {}", f.problem);
            writeln!(out, "PROBLEM {}: {}", f.label, f.problem)?;
        }
    }
    let problems = report.problems();
    metrics.verify_mismatches = problems as u64;
    let notes = report.findings.len() - problems;
    writeln!(
        out,
        "verified {} copies, {} problems{}",
        report.checked,
        problems,
        if notes > 0 {
            format!(", {notes} notes")
        } else {
            String::new()
        }
    )?;
    tracing::info!(target: "dds_backup_sync::summary", checked = report.checked, problems, "verify finished");
    if settings.verify.repair && report.findings.iter().any(|f| f.problem.is_corrupt()) {
        let api = api_client(settings).await?;
        let listings = listing::list_targets(
            &api,
            listing::queries(&settings.instances, OffsetDateTime::now_utc()),
        )
        .await;
        let listed: std::collections::HashSet<crate::store::BackupKey> = listings
            .iter()
            .filter_map(|l| l.result.as_ref().ok().map(|r| (&l.query, r)))
            .flat_map(|(q, r)| {
                r.backups.iter().map(|b| crate::store::BackupKey {
                    instance_id: q.instance_id.clone(),
                    node_id: q.node_id.clone(),
                    backup_id: b.backup_id.clone(),
                })
            })
            .collect();
        let plan = crate::verify::plan_repair(&report.findings, &listed);
        let repaired = {
            let _lock = store
                .lock()
                .map_err(|e| AppError::Sync(sync::SyncError::Store(e)))?;
            crate::verify::apply_repair(&store, &report.findings, &plan)
        };
        for key in &repaired.removed {
            writeln!(out, "REPAIR {}: corrupt copy removed", key.label())?;
        }
        for (key, reason) in &repaired.failed {
            writeln!(out, "REPAIR FAILED {}: {reason}", key.label())?;
        }
        if !repaired.removed.is_empty() {
            let summary = pass_and_report(
                settings,
                &api,
                &progress::Silent,
                &PassOptions::default(),
                metrics,
            )
            .await?;
            writeln!(out, "REPAIR pass: {summary}")?;
        }
    }
    Ok(problems)
}

/// `--list`: a table (or JSON) of the remote backups per instance/node.
pub async fn list(settings: &Settings, json: bool, out: &mut dyn Write) -> Result<u8, AppError> {
    let api = api_client(settings).await?;
    let queries = listing::queries(&settings.instances, OffsetDateTime::now_utc());
    let listings = listing::list_targets(&api, queries).await;
    if json {
        write_json(&listings, out)?;
    } else {
        write_table(&listings, out)?;
    }
    let auth = listings
        .iter()
        .filter_map(|l| l.result.as_ref().err())
        .any(|e| e.is_auth_or_setup());
    let failed = listings.iter().any(|l| l.result.is_err());
    Ok(if auth {
        exit::SETUP
    } else if failed {
        exit::FAILED
    } else {
        exit::OK
    })
}

#[derive(Serialize)]
struct JsonTarget<'a> {
    instance: &'a str,
    node: Option<&'a str>,
    backups: Vec<JsonBackup<'a>>,
    /// Entries the API described badly, with the reason.
    rejected: Vec<String>,
    error: Option<String>,
}

#[derive(Serialize)]
struct JsonBackup<'a> {
    #[serde(flatten)]
    backup: &'a Backup,
    has_public_url: bool,
    has_intranet_url: bool,
}

fn write_json(listings: &[TargetListing], out: &mut dyn Write) -> std::io::Result<()> {
    let targets: Vec<JsonTarget<'_>> = listings
        .iter()
        .map(|l| {
            let (backups, rejected, error) = match &l.result {
                Ok(listing) => (
                    listing
                        .backups
                        .iter()
                        .map(|b| JsonBackup {
                            backup: b,
                            has_public_url: b.download_url.is_some(),
                            has_intranet_url: b.intranet_download_url.is_some(),
                        })
                        .collect(),
                    listing.rejected.iter().map(ToString::to_string).collect(),
                    None,
                ),
                Err(e) => (Vec::new(), Vec::new(), Some(e.to_string())),
            };
            JsonTarget {
                instance: &l.query.instance_id,
                node: l.query.node_id.as_deref(),
                backups,
                rejected,
                error,
            }
        })
        .collect();
    // The values stay exact; only the characters serde_json leaves raw are escaped as JSON.
    let json = serde_json::to_string_pretty(&targets).map_err(std::io::Error::other)?;
    writeln!(out, "{}", crate::text::json_safe(&json))
}

/// Every text the API sent is shown as data: a status or method must not drive the terminal.
fn write_table(listings: &[TargetListing], out: &mut dyn Write) -> std::io::Result<()> {
    let time = |t: Option<OffsetDateTime>| {
        t.map(crate::api::client::timestamp)
            .unwrap_or_else(|| "-".into())
    };
    for l in listings {
        writeln!(out, "== {}", l.query.target())?;
        let listing = match &l.result {
            Ok(listing) => listing,
            Err(e) => {
                writeln!(out, "   error: {e}")?;
                continue;
            }
        };
        if listing.backups.is_empty() {
            writeln!(out, "   (no backups in the lookback window)")?;
        } else {
            writeln!(
                out,
                "   {:<12} {:<8} {:<5} {:<8} {:<17} {:<20} {:<20} {:>14}  URLS",
                "BACKUP_ID", "STATUS", "AVAIL", "METHOD", "TYPE", "END", "EXPIRES", "SIZE"
            )?;
        }
        for b in &listing.backups {
            let urls = match (b.download_url.is_some(), b.intranet_download_url.is_some()) {
                (true, true) => "public+intranet",
                (true, false) => "public",
                (false, true) => "intranet",
                (false, false) => "none",
            };
            writeln!(
                out,
                "   {:<12} {:<8} {:<5} {:<8} {:<17} {:<20} {:<20} {:>14}  {}",
                shown(&b.backup_id),
                shown(&b.backup_status),
                if b.is_avail { "yes" } else { "no" },
                shown(b.backup_method.as_deref().unwrap_or("-")),
                shown(b.backup_type.as_deref().unwrap_or("-")),
                time(b.backup_end_time),
                if b.is_kept_forever() {
                    "forever".to_string()
                } else {
                    time(b.backup_expire_time)
                },
                b.backup_size
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "-".into()),
                urls,
            )?;
        }
        for r in &listing.rejected {
            writeln!(out, "   skipped: {r}")?;
        }
    }
    Ok(())
}
