//! The download step of a pass: every planned fetch, concurrently (each checked, then
//! committed by the store), with fresh URLs from the listing API when the signed ones expire,
//! and each outcome counted in the [`Summary`].

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tracing::{error, info, warn};

use super::super::download::{DownloadError, Downloaded, Downloader, Pace, Refresh, RefreshError};
use super::super::plan::{Fetch, Via};
use super::super::report::{Failure, Summary};
use crate::api::client::ApiClient;
use crate::model::BackupKey;
use crate::progress::Progress;

/// The API client of each listed instance's region, for fresh download URLs.
#[derive(Clone)]
pub(super) struct Clients {
    pub(super) base: ApiClient,
    pub(super) by_instance: std::collections::HashMap<String, ApiClient>,
    /// Exported snapshots: their DBS client and task, for fresh links.
    pub(super) exports: std::collections::HashMap<BackupKey, (crate::api::dbs::DbsClient, String)>,
    pub(super) link_duration: Duration,
}

pub(super) async fn download_all(
    pass: &super::Pass<'_>,
    api: Clients,
    fetches: Vec<Fetch>,
    progress: &dyn Progress,
    summary: &mut Summary,
) -> Vec<crate::model::Manifest> {
    let (settings, store, opts) = (pass.settings, pass.store, pass.opts);
    progress.set_total(fetches.iter().map(|f| f.size - f.resume_from).sum());
    let downloader = Downloader {
        http: pass.http.clone(),
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
            settings.schedule.zone,
        ),
        streams: crate::sync::download::Streams {
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
    let mut published = Vec::new();
    while let Some((label, result)) = results.next().await {
        published.extend(record(label, result, summary));
    }
    published
}

/// Counts one download's outcome in the summary and says it in the log; the manifest of the
/// copy it published.
fn record(
    label: String,
    result: Result<Downloaded, DownloadError>,
    summary: &mut Summary,
) -> Option<crate::model::Manifest> {
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
            Some(done.manifest)
        }
        Err(e) => {
            if matches!(e, DownloadError::Cancelled { .. }) {
                // Not a failure: named in the summary, resumed by the next pass.
                summary.stopped += 1;
                warn!(backup = %label, "{e}; the next pass resumes it");
            } else {
                summary.failed += 1;
                // A refused key or a wrong clock mid-download exits 2, as in a listing.
                summary.setup_error |= e.is_setup();
                error!(backup = %label, kind = e.kind().as_str(), "download failed: {e}");
            }
            summary.failures.push(Failure {
                backup: label,
                kind: e.kind(),
                message: e.to_string(),
            });
            None
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
                kind: crate::sync::report::FailureKind::Damaged,
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
                return crate::sync::export::fresh_link(dbs, task_id, via, clients.link_duration)
                    .await;
            }
            let api = clients
                .by_instance
                .get(&key.instance_id)
                .unwrap_or(&clients.base);
            let backup = crate::listing::one(api, &key)
                .await?
                .ok_or_else(|| RefreshError::Gone(key.label()))?;
            match via {
                Via::Public => backup.download_url,
                Via::Intranet => backup.intranet_download_url,
            }
            .ok_or_else(|| RefreshError::NoUrl(format!("the listing has no {via} URL any more")))
        })
    })
}
