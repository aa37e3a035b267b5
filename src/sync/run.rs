//! One sync pass, end to end: take the lock, list every target, snapshot the disk, decide the
//! network, plan (a value), download concurrently (each download checked, then committed by
//! the store), prune, and return the [`Summary`].
//!
//! Per-backup failures are collected, never fatal to the pass; only the lock and the setup
//! (credentials) stop it early.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::download::{DownloadError, Downloaded, Downloader, Pace, Refresh};
use super::plan::{self, Action, ExportPolicy, Fetch, Plan, Policy, Retention, UrlPolicy, Via};
use super::prune::PruneItem;
use super::report::{self, Failure, Summary};
use crate::api::client::{ApiClient, ListQuery};
use crate::config::{Network, Settings};
use crate::listing;
use crate::model::{BackupKey, Remote};
use crate::progress::Progress;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
}

impl SyncError {
    pub fn exit_code(&self) -> u8 {
        match self {
            SyncError::Store(StoreError::Locked { .. }) => crate::exit::LOCKED,
            SyncError::Store(StoreError::Root { .. }) => crate::exit::SETUP,
            _ => crate::exit::FAILED,
        }
    }
}

/// How to run a pass.
#[derive(Clone, Default)]
pub struct PassOptions {
    pub dry_run: bool,
    pub cancel: CancellationToken,
}

/// Runs one pass with the given settings and API client: list → plan → download (check,
/// commit) → prune → report.
///
/// # Errors
/// The lock is held by another run, or the download directory cannot be used at all.
pub async fn run_pass(
    settings: &Settings,
    api: &ApiClient,
    progress: &dyn Progress,
    opts: &PassOptions,
) -> Result<Summary, SyncError> {
    let started = Instant::now();
    let store = Store::new(&settings.download.dir);
    // A dry run only reads (a missing dir is an empty one): it takes no lock and creates
    // nothing, so it runs beside a pass, and as a user who cannot write the dir.
    let _lock = if opts.dry_run {
        None
    } else {
        Some(store.lock_for(Some(&settings.file))?)
    };
    let now = OffsetDateTime::now_utc();
    let mut summary = Summary {
        dry_run: opts.dry_run,
        ..Summary::default()
    };
    let fleet = listing::list_fleet(api, listing::Scope::of(settings), now, &opts.cancel).await;
    if opts.cancel.is_cancelled() {
        // Stopped while listing (maybe in a long retry wait): nothing is planned on half a
        // listing; the next pass starts over.
        warn!("stopped by a shutdown request while listing; nothing downloaded or pruned");
        summary.stopped = 1;
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }
    let clients = fleet.clients.clone();
    let gathered = listing::gather(fleet);
    count_listing(&gathered, &mut summary);
    let remote = gathered.remote;
    let local = store.snapshot();
    for c in &local.copies {
        if let Err(reason) = &c.manifest {
            warn!(dir = %c.dir.display(), "local copy with an unreadable manifest is kept and treated as unverified: {reason}");
        }
    }
    let policy = policy(settings, &remote).await;
    let plan = plan::plan(&remote, &local, now, &policy);
    count_plan(&plan, &mut summary);
    if opts.dry_run {
        print_dry_run(&store, &plan, &mut summary);
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }
    let Plan { prune, stale, .. } = plan.clone();
    let exports: Vec<_> = plan.exports().cloned().collect();
    let exported = export_all(settings, api, &clients, &store, &policy, exports, opts).await?;
    summary.exporting = exported.pending;
    summary.failed += exported.failures.len();
    summary.failures.extend(exported.failures);
    let mut fetches = plan.into_fetches();
    fetches.extend(exported.fetches);
    download_all(
        settings,
        Clients {
            base: api.clone(),
            by_instance: clients,
            exports: exported.tasks,
            link_duration: settings.snapshots.link_duration,
        },
        &store,
        fetches,
        progress,
        opts,
        &mut summary,
    )
    .await?;
    if !opts.cancel.is_cancelled() {
        seal_clusters(&store, &remote);
        apply_prune(&store, &prune, &mut summary);
        for file in store.remove_stale_partials(&stale) {
            info!(file = %file.display(), "removed the partial file of a backup that is no longer listed");
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// `--dry-run`: the plan as lines, and the counts it would have. What the store holds of each
/// export's task is read (no DBS call in a dry run).
fn print_dry_run(store: &Store, plan: &Plan, summary: &mut Summary) {
    let tasks = plan
        .exports()
        .filter_map(|e| Some((e.key.clone(), store.read_task(&e.key).ok()??)))
        .collect();
    print!(
        "{}",
        report::render_plan(&plan.actions, &plan.prune, &tasks)
    );
    summary.fetched = plan.fetches().filter(|f| f.resume_from == 0).count();
    summary.resumed = plan.fetches().filter(|f| f.resume_from > 0).count();
    summary.pruned = plan.prune.len();
}

/// How this pass plans: the URL choice (one probe of the intranet host) and retention.
async fn policy(settings: &Settings, remote: &Remote) -> Policy {
    Policy {
        urls: UrlPolicy {
            network: settings.download.network,
            intranet_reachable: settings.download.network == Network::Auto
                && probe_intranet(remote, settings.download.probe_timeout).await,
        },
        retention: settings.prune.enabled.then_some(Retention {
            grace: settings.prune.grace,
            keep_last: settings.prune.keep_last,
        }),
        exports: settings.snapshots.download.then(|| ExportPolicy {
            instances: settings.snapshots.instances.clone(),
            latest_only: settings.snapshots.latest_only,
            storage: remote.storage.clone(),
        }),
    }
}

/// The export step: every snapshot the plan exports, driven through its DBS download task to
/// an archive ready to download (or left running for the next pass).
async fn export_all(
    settings: &Settings,
    api: &ApiClient,
    clients: &std::collections::HashMap<String, ApiClient>,
    store: &Store,
    policy: &Policy,
    exports: Vec<super::plan::Export>,
    opts: &PassOptions,
) -> Result<super::export::Exported, SyncError> {
    if exports.is_empty() {
        return Ok(super::export::Exported::default());
    }
    let http = crate::http::client(
        settings.download.connect_timeout,
        settings.download.read_timeout,
    )
    .map_err(SyncError::Http)?;
    let exporter = super::export::Exporter {
        settings: &settings.snapshots,
        network: settings
            .snapshots
            .network
            .unwrap_or(settings.download.network),
        intranet_reachable: policy.urls.intranet_reachable,
        store,
        http,
        clients,
        base: api,
        concurrency: settings.api.concurrency,
        cancel: opts.cancel.clone(),
    };
    Ok(exporter.run(exports).await)
}

fn count_listing(gathered: &listing::Gathered, summary: &mut Summary) {
    summary.skipped += gathered.rejected;
    summary.listed = gathered.remote.listed.len();
    for (target, e) in &gathered.failures {
        summary.listing_errors += 1;
        summary.setup_error |= e.is_auth_or_setup();
        summary.failures.push(Failure {
            backup: target.clone(),
            kind: "listing",
            message: e.to_string(),
        });
    }
}

fn count_plan(plan: &Plan, summary: &mut Summary) {
    for a in &plan.actions {
        match a {
            Action::Skip { key, reason } => {
                summary.skipped += 1;
                info!(backup = %key.label(), "skipping: {reason}");
            }
            Action::UpToDate { .. } => summary.up_to_date += 1,
            Action::Fetch(_) | Action::Export(_) => {}
        }
    }
}

/// Removes the copies retention planned to remove; the store checks each one again.
fn apply_prune(store: &Store, prune: &[PruneItem], summary: &mut Summary) {
    let keys: Vec<BackupKey> = prune.iter().map(|p| p.key.clone()).collect();
    for (key, result) in keys.iter().zip(store.prune(&keys)) {
        match result {
            Ok(dir) => {
                summary.pruned += 1;
                info!(backup = %key.label(), dir = %dir.display(), "pruned an expired local copy");
            }
            Err(e) => warn!(backup = %key.label(), "not pruned: {e}"),
        }
    }
}

/// Writes the cluster manifest of every listed cluster backup whose nodes are all verified
/// here now (the last step of copying one).
fn seal_clusters(store: &Store, remote: &Remote) {
    let now = OffsetDateTime::now_utc();
    for cluster in remote.clusters.iter().filter(|c| c.problem.is_none()) {
        let label = cluster.unit.label();
        match store.seal_cluster(cluster, now) {
            Ok(true) => {
                info!(backup = %label, nodes = cluster.nodes.len(), "cluster backup complete: every node's file verified");
            }
            Ok(false) => {}
            Err(reason) => {
                warn!(backup = %label, "cluster backup not complete here yet: {reason}");
            }
        }
    }
}

/// The API client of each listed instance's region, for fresh download URLs.
struct Clients {
    base: ApiClient,
    by_instance: std::collections::HashMap<String, ApiClient>,
    /// Exported snapshots: their DBS client and task, for fresh links.
    exports: std::collections::HashMap<BackupKey, (crate::api::dbs::DbsClient, String)>,
    link_duration: Duration,
}

async fn download_all(
    settings: &Settings,
    api: Clients,
    store: &Store,
    fetches: Vec<Fetch>,
    progress: &dyn Progress,
    opts: &PassOptions,
    summary: &mut Summary,
) -> Result<(), SyncError> {
    progress.set_total(fetches.iter().map(|f| f.size - f.resume_from).sum());
    let http = crate::http::client(
        settings.download.connect_timeout,
        settings.download.read_timeout,
    )
    .map_err(SyncError::Http)?;
    let downloader = Downloader {
        http,
        retry: settings.download.retry,
        refresh: refresher(api),
        cancel: opts.cancel.clone(),
        slots: Arc::new(tokio::sync::Semaphore::new(settings.download.concurrency)),
        space: Arc::default(),
        store: store.clone(),
        pace: Pace {
            min_rate: settings.download.min_rate,
            window: settings.download.read_timeout,
        },
        // One bucket per pass, from this pass's settings: a SIGHUP reload takes effect at the
        // next pass. The zone was validated with the settings.
        throttle: crate::throttle::Throttle::new(
            settings.download.bandwidth.clone(),
            crate::schedule::Zone::parse(settings.schedule.timezone.as_deref()).unwrap_or_default(),
        ),
        streams: super::download::Streams {
            count: settings.download.streams,
            cutoff: settings.download.stream_cutoff,
            part_size: settings.download.part_size,
        },
    };
    let results = futures::stream::iter(fetches)
        .map(|fetch| {
            let downloader = &downloader;
            async move {
                let label = fetch.key.label();
                // The bar appears when the transfer starts, not while it waits for a slot.
                let Some(slot) = downloader.slot().await else {
                    let backup = label.clone();
                    return (label, Err(DownloadError::Cancelled { backup }));
                };
                let bar = progress.bar(&label, fetch.size);
                let result = match store.paths(&fetch.key, &fetch.file_name) {
                    Ok(paths) => downloader.run_in(slot, &fetch, &paths, bar.as_ref()).await,
                    Err(source) => Err(DownloadError::Store {
                        backup: label.clone(),
                        source,
                    }),
                };
                // An exported snapshot is published: its manifest names the task now.
                if result.is_ok()
                    && fetch.export.is_some()
                    && let Err(e) = store.remove_task(&fetch.key)
                {
                    warn!(backup = %label, "cannot remove the download task record: {e}");
                }
                bar.finish(if result.is_ok() { "done" } else { "failed" });
                (label, result)
            }
        })
        // Twice the slots: while `concurrency` downloads hold the network, as many finished
        // ones can be hashing their last batches and publishing without holding it up.
        .buffer_unordered(settings.download.concurrency * 2);
    futures::pin_mut!(results);
    while let Some((label, result)) = results.next().await {
        record(label, result, summary);
    }
    Ok(())
}

/// Counts one download's outcome in the summary and says it in the log.
fn record(label: String, result: Result<Downloaded, DownloadError>, summary: &mut Summary) {
    match result {
        Ok(done) => {
            summary.bytes += done.fetched;
            if done.resumed_from > 0 {
                summary.resumed += 1;
            } else {
                summary.fetched += 1;
            }
            info!(backup = %label, size = done.manifest.size, sha256 = %done.manifest.sha256, via = %done.via, "verified and published");
            report_verdict(&label, &done.manifest, summary);
        }
        Err(e) => {
            if matches!(e, DownloadError::Cancelled { .. }) {
                // Not a failure: named in the summary, resumed by the next pass.
                summary.stopped += 1;
                warn!(backup = %label, "{e}; the next pass resumes it");
            } else {
                summary.failed += 1;
                error!(backup = %label, kind = e.kind(), "download failed: {e}");
            }
            summary.failures.push(Failure {
                backup: label,
                kind: e.kind(),
                message: e.to_string(),
            });
        }
    }
}

/// A published copy's format verdict, said where an operator looks: `damaged` is an ERROR and
/// named in the summary (the pass exits 1), `unrecognised` a WARN.
fn report_verdict(label: &str, m: &crate::model::Manifest, summary: &mut Summary) {
    use crate::model::Verdict;
    let detail = m.format_detail.as_deref().unwrap_or("no detail");
    match m.format_verdict {
        Some(Verdict::Damaged) => {
            let same = if m.crc64_checked {
                "the cloud's copy has the same bytes (its CRC-64 matched), so the backup itself is damaged"
            } else {
                "the cloud sent no CRC-64 to compare, so the cloud's copy is likely damaged the same way"
            };
            let message = format!(
                "{label}: damaged at the source: {detail}; {same}; the copy is kept as it is, restore from another backup"
            );
            error!(backup = %label, kind = "damaged", "{message}");
            summary.damaged += 1;
            summary.failures.push(Failure {
                backup: label.to_string(),
                kind: "damaged",
                message,
            });
        }
        Some(Verdict::Unrecognised) => {
            warn!(backup = %label, "published, but the content does not start like its file name says: {detail}");
        }
        _ => {}
    }
}

/// Fresh URLs come from `DescribeBackups` filtered by the BackupId (and the NodeId), or for a
/// cluster backup's node from `DescribeClusterBackups` filtered by the ClusterBackupId, each in
/// the instance's region.
fn refresher(clients: Clients) -> Refresh {
    let clients = Arc::new(clients);
    Arc::new(move |key: BackupKey, via: Via| {
        let clients = clients.clone();
        Box::pin(async move {
            if let Some((dbs, task_id)) = clients.exports.get(&key) {
                return super::export::fresh_link(dbs, task_id, via, clients.link_duration).await;
            }
            let api = clients
                .by_instance
                .get(&key.instance_id)
                .unwrap_or(&clients.base);
            let backup = fresh_listing(api, &key).await?;
            match via {
                Via::Public => backup.download_url,
                Via::Intranet => backup.intranet_download_url,
            }
            .ok_or_else(|| format!("the listing has no {via} URL any more"))
        })
    })
}

/// The backup `key` names, as listed now.
async fn fresh_listing(api: &ApiClient, key: &BackupKey) -> Result<crate::model::Backup, String> {
    if key.cluster {
        let query = crate::api::fleet::ClusterQuery {
            instance_id: key.instance_id.clone(),
            backup_id: Some(key.backup_id.clone()),
            ..Default::default()
        };
        let clusters = api
            .list_cluster_backups(&query)
            .await
            .map_err(|e| e.to_string())?;
        return clusters
            .into_iter()
            .filter(|c| c.id == key.backup_id)
            .flat_map(|c| c.nodes)
            .find(|n| Some(&n.node_id) == key.node_id.as_ref())
            .map(|n| n.backup)
            .ok_or_else(|| format!("cluster backup {} is no longer listed", key.label()));
    }
    let query = ListQuery {
        instance_id: key.instance_id.clone(),
        node_id: key.node_id.clone(),
        backup_id: Some(key.backup_id.clone()),
        ..ListQuery::default()
    };
    let listing = api.list_all(&query).await.map_err(|e| e.to_string())?;
    listing
        .backups
        .into_iter()
        .find(|b| b.backup_id == key.backup_id)
        .ok_or_else(|| format!("backup {} is no longer listed", key.backup_id))
}

/// `auto`: is the intranet download host reachable from here? One TCP connect per run.
async fn probe_intranet(remote: &Remote, timeout: Duration) -> bool {
    let Some(url) = remote
        .listed
        .iter()
        .find_map(|l| l.backup.intranet_download_url.as_deref())
        .and_then(|u| url::Url::parse(u).ok())
    else {
        return false;
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    let reachable = matches!(
        tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await,
        Ok(Ok(_))
    );
    info!(host, port, reachable, "probed the intranet download host");
    reachable
}
