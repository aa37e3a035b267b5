//! One sync pass, end to end: take the lock, list every target, decide the network, plan,
//! download concurrently, prune, and return the [`Summary`].
//!
//! Per-backup failures are collected, never fatal to the pass; only the lock and the setup
//! (credentials) stop it early.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::download::{DownloadError, Downloader, Pace, Refresh};
use super::plan::{self, Action, Fetch, UrlPolicy, Via};
use super::prune;
use super::report::{self, Failure, Summary};
use crate::api::client::{ApiClient, ListQuery};
use crate::config::{Network, Settings};
use crate::listing;
use crate::model::Backup;
use crate::progress::Progress;
use crate::store::{BackupKey, Store, StoreError};

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

/// Runs one pass with the given settings and API client.
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
    let _lock = store.lock()?;
    let now = OffsetDateTime::now_utc();
    let mut summary = Summary {
        dry_run: opts.dry_run,
        ..Summary::default()
    };

    let listings = listing::list_targets(api, listing::queries(&settings.instances, now)).await;
    let mut listed_ok: Vec<(ListQuery, Vec<Backup>)> = Vec::new();
    for l in listings {
        match l.result {
            Ok(listing) => {
                summary.skipped += listing.rejected.len();
                listed_ok.push((l.query, listing.backups));
            }
            Err(e) => {
                summary.listing_errors += 1;
                summary.setup_error |= e.is_auth_or_setup();
                summary.failures.push(Failure {
                    backup: l.query.target(),
                    kind: "listing",
                    message: e.to_string(),
                });
            }
        }
    }
    summary.listed = listed_ok.iter().map(|(_, b)| b.len()).sum();

    let urls = UrlPolicy {
        network: settings.download.network,
        intranet_reachable: settings.download.network == Network::Auto
            && probe_intranet(&listed_ok, settings.download.probe_timeout).await,
    };
    let mut actions = Vec::new();
    for (query, backups) in &listed_ok {
        let mut local = |key: &BackupKey, file: &str| match store.paths(key, file) {
            Ok(paths) => store.local_state(&paths),
            Err(_) => crate::store::LocalState::Missing,
        };
        actions.extend(plan::plan_target(
            &query.instance_id,
            query.node_id.as_deref(),
            backups,
            now,
            urls,
            &mut local,
        ));
    }
    let listed: HashMap<BackupKey, Backup> = listed_ok
        .iter()
        .flat_map(|(q, backups)| {
            backups.iter().map(|b| {
                let key = BackupKey {
                    instance_id: q.instance_id.clone(),
                    node_id: q.node_id.clone(),
                    backup_id: b.backup_id.clone(),
                };
                (key, b.clone())
            })
        })
        .collect();
    let copies = store.scan();
    for c in &copies {
        if let Err(reason) = &c.manifest {
            warn!(dir = %c.dir.display(), "local copy with an unreadable manifest is kept and treated as unverified: {reason}");
        }
    }
    let prune_items = if settings.prune.enabled {
        prune::plan(
            &copies,
            &listed,
            now,
            settings.prune.grace,
            settings.prune.keep_last,
        )
    } else {
        Vec::new()
    };

    for a in &actions {
        match a {
            Action::Skip { key, reason } => {
                summary.skipped += 1;
                info!(backup = %key.label(), "skipping: {reason}");
            }
            Action::UpToDate { .. } => summary.up_to_date += 1,
            Action::Fetch(_) => {}
        }
    }
    if opts.dry_run {
        print!("{}", report::render_plan(&actions, &prune_items));
        summary.fetched = actions
            .iter()
            .filter(|a| matches!(a, Action::Fetch(f) if f.resume_from == 0))
            .count();
        summary.resumed = actions
            .iter()
            .filter(|a| matches!(a, Action::Fetch(f) if f.resume_from > 0))
            .count();
        summary.pruned = prune_items.len();
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }

    let fetches: Vec<Fetch> = actions
        .into_iter()
        .filter_map(|a| match a {
            Action::Fetch(f) => Some(*f),
            _ => None,
        })
        .collect();
    download_all(settings, api, &store, fetches, progress, opts, &mut summary).await?;

    if !opts.cancel.is_cancelled() {
        for result in prune::apply(store.root(), &prune_items, false) {
            match result {
                Ok(dir) => {
                    summary.pruned += 1;
                    info!(dir = %dir.display(), "pruned an expired local copy");
                }
                Err(e) => warn!("not pruned: {e}"),
            }
        }
        clean_stale_partials(&store, &listed_ok);
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

async fn download_all(
    settings: &Settings,
    api: &ApiClient,
    store: &Store,
    fetches: Vec<Fetch>,
    progress: &dyn Progress,
    opts: &PassOptions,
    summary: &mut Summary,
) -> Result<(), SyncError> {
    progress.set_total(fetches.iter().map(|f| f.size - f.resume_from).sum());
    let http = crate::http::client(Duration::from_secs(10), settings.download.read_timeout)
        .map_err(SyncError::Http)?;
    let downloader = Downloader {
        http,
        retry: settings.api.retry,
        refresh: refresher(api.clone()),
        cancel: opts.cancel.clone(),
        slots: Arc::new(tokio::sync::Semaphore::new(settings.download.concurrency)),
        space: Arc::default(),
        store: store.clone(),
        pace: Pace {
            min_rate: settings.download.min_rate,
            window: settings.download.read_timeout,
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
                bar.finish(if result.is_ok() { "done" } else { "failed" });
                (label, result)
            }
        })
        // Twice the slots: while `concurrency` downloads hold the network, as many finished
        // ones can be hashing their last batches and publishing without holding it up.
        .buffer_unordered(settings.download.concurrency * 2);
    futures::pin_mut!(results);
    while let Some((label, result)) = results.next().await {
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
            Err(e @ DownloadError::Cancelled { .. }) => {
                // Not a failure: named in the summary, resumed by the next pass.
                summary.stopped += 1;
                warn!(backup = %label, "{e}; the next pass resumes it");
                summary.failures.push(Failure {
                    backup: label,
                    kind: e.kind(),
                    message: e.to_string(),
                });
            }
            Err(e) => {
                summary.failed += 1;
                error!(backup = %label, kind = e.kind(), "download failed: {e}");
                summary.failures.push(Failure {
                    backup: label,
                    kind: e.kind(),
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(())
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

/// Fresh URLs come from `DescribeBackups` filtered by the BackupId (and the NodeId).
fn refresher(api: ApiClient) -> Refresh {
    Arc::new(move |key: BackupKey, via: Via| {
        let api = api.clone();
        Box::pin(async move {
            let query = ListQuery {
                instance_id: key.instance_id.clone(),
                node_id: key.node_id.clone(),
                backup_id: Some(key.backup_id.clone()),
                ..ListQuery::default()
            };
            let listing = api.list_all(&query).await.map_err(|e| e.to_string())?;
            let backup = listing
                .backups
                .into_iter()
                .find(|b| b.backup_id == key.backup_id)
                .ok_or_else(|| format!("backup {} is no longer listed", key.backup_id))?;
            match via {
                Via::Public => backup.download_url,
                Via::Intranet => backup.intranet_download_url,
            }
            .ok_or_else(|| format!("the listing has no {via} URL any more"))
        })
    })
}

/// `auto`: is the intranet download host reachable from here? One TCP connect per run.
async fn probe_intranet(listed: &[(ListQuery, Vec<Backup>)], timeout: Duration) -> bool {
    let Some(url) = listed
        .iter()
        .flat_map(|(_, b)| b.iter())
        .find_map(|b| b.intranet_download_url.as_deref())
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

/// Removes partial files (and their sidecars) of backups that a successful listing no longer
/// shows. Only `*.part` and `*.part.json` in folders without a manifest are touched.
fn clean_stale_partials(store: &Store, listed_ok: &[(ListQuery, Vec<Backup>)]) {
    let current: HashSet<(String, Option<String>, String)> = listed_ok
        .iter()
        .flat_map(|(q, backups)| {
            backups.iter().map(|b| {
                (
                    q.instance_id.clone(),
                    q.node_id.clone(),
                    b.backup_id.clone(),
                )
            })
        })
        .collect();
    let targets: HashSet<(String, Option<String>)> = listed_ok
        .iter()
        .map(|(q, _)| (q.instance_id.clone(), q.node_id.clone()))
        .collect();
    for stale in store.scan_partials() {
        let target = (stale.key.instance_id.clone(), stale.key.node_id.clone());
        let id = (
            stale.key.instance_id.clone(),
            stale.key.node_id.clone(),
            stale.key.backup_id.clone(),
        );
        if !targets.contains(&target) || current.contains(&id) {
            continue;
        }
        for file in &stale.files {
            match std::fs::remove_file(file) {
                Ok(()) => {
                    info!(file = %file.display(), "removed the partial file of a backup that is no longer listed")
                }
                Err(e) => warn!(file = %file.display(), "cannot remove a stale partial file: {e}"),
            }
        }
        let _ = std::fs::remove_dir(&stale.dir);
    }
}
