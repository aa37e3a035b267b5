//! One resumable, verified download: a streaming GET into the partial file, resumed with
//! `Range` + `If-Range`, checked (size, CRC-64) and only then published under its final name
//! with its manifest.
//!
//! OSS behaviour this relies on (`shared/docs/alibaba-facts.md` §4): a valid range gives 206 with
//! `Content-Range`; an invalid one, or a changed object under `If-Range`, gives 200 and the whole
//! object; an expired presigned URL gives 403 "Request has expired."; `x-oss-hash-crc64ecma` is
//! the CRC of the whole object. An HTTP error body is never written into the file.
//!
//! What it does not trust: a 206 whose ETag differs from the partial's (If-Range lost on the
//! way) restarts from zero like a 200; this host's clock only judges the listing's URLs, after a
//! refresh the server alone says when a URL has expired. The retry budget bounds a stretch
//! without progress, not a long download, and every wait (headers, body, error body, URL
//! refresh, backoff) ends at once on cancellation, keeping the partial file.

use std::sync::Arc;

use futures::future::BoxFuture;
use time::OffsetDateTime;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use super::body::Pace;
use super::body::Progressed;
use super::check;
pub use super::error::{DownloadError, MAX_REFRESH, RefreshError};
use super::oss::Step;
pub use super::oss::{parse_content_range, url_expires};
use super::plan::{Fetch, Via};
use super::request::{self, Link, State};
use super::sink::{Sink, Written};
use super::space::SpaceBook;
use crate::model::Sidecar;
use crate::progress::Bar;
use crate::retry::{self, RetryPolicy};
use crate::store::{self, BackupPaths, Manifest};
use crate::throttle::Throttle;

/// Gets a fresh download URL for a backup (by calling `DescribeBackups` with its BackupId).
pub type Refresh = Arc<
    dyn Fn(store::BackupKey, Via) -> BoxFuture<'static, Result<String, RefreshError>> + Send + Sync,
>;

/// What a finished download produced.
#[derive(Debug, Clone)]
pub struct Downloaded {
    pub manifest: Manifest,
    /// Bytes fetched over the network in this run.
    pub fetched: u64,
    pub resumed_from: u64,
    pub via: Via,
}

/// `download.streams`, `download.stream_cutoff`, `download.part_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streams {
    pub count: usize,
    pub cutoff: u64,
    pub part_size: u64,
}

impl Default for Streams {
    fn default() -> Self {
        Streams {
            count: 1,
            cutoff: u64::MAX,
            part_size: 64 << 20,
        }
    }
}

/// How a ranged download (`super::parts`) ended, for [`Downloader::run_in`].
pub(super) enum Ranged {
    Done(Box<Result<Downloaded, DownloadError>>),
    /// The server ignores ranges: the file goes over one connection instead.
    OneConnection,
}

/// Shared by every download of a run.
#[derive(Clone)]
pub struct Downloader {
    pub http: reqwest::Client,
    pub retry: RetryPolicy,
    pub refresh: Refresh,
    pub cancel: CancellationToken,
    /// `download.concurrency` permits, held while a download opens its file and receives, and
    /// released once the last byte is in: hashing the rest and publishing (fsync, rename,
    /// manifest) overlap the next download's transfer.
    pub slots: Arc<tokio::sync::Semaphore>,
    /// Disk space promised to the downloads in flight.
    pub space: Arc<SpaceBook>,
    /// The download dir: where partial files may be opened, never through a link.
    pub store: store::Store,
    /// The floor under which a transfer is cut and retried (see [`Pace`]).
    pub pace: Pace,
    /// The pass's bandwidth limit, one bucket shared by every download.
    pub throttle: Throttle,
    /// Ranged streams per big file (see `super::parts`).
    pub streams: Streams,
}

impl Downloader {
    fn link(&self) -> Link<'_> {
        Link {
            http: &self.http,
            cancel: &self.cancel,
            pace: self.pace,
            throttle: &self.throttle,
            store: &self.store,
        }
    }

    /// Waits for a download slot; `None` if the run is cancelled first.
    pub async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => None,
            slot = self.slots.clone().acquire_owned() => slot.ok(),
        }
    }

    /// Waits for a slot, then downloads, verifies and publishes one backup.
    ///
    /// # Errors
    /// Any failure of this backup; the partial file is kept unless it proved corrupt.
    pub async fn run(
        &self,
        fetch: &Fetch,
        paths: &BackupPaths,
        bar: &dyn Bar,
    ) -> Result<Downloaded, DownloadError> {
        let Some(slot) = self.slot().await else {
            return Err(DownloadError::Cancelled {
                backup: fetch.key.label(),
            });
        };
        self.run_in(slot, fetch, paths, bar).await
    }

    /// Downloads, verifies and publishes one backup in `slot`, which it gives back once the
    /// last byte is in.
    ///
    /// # Errors
    /// Any failure of this backup; the partial file is kept unless it proved corrupt.
    pub async fn run_in(
        &self,
        slot: OwnedSemaphorePermit,
        fetch: &Fetch,
        paths: &BackupPaths,
        bar: &dyn Bar,
    ) -> Result<Downloaded, DownloadError> {
        if self.uses_streams(fetch) {
            let ranged = self.run_parts(fetch, paths, bar).await;
            if let Ranged::Done(result) = ranged {
                drop(slot);
                return *result;
            }
        }
        let store_err = |source| DownloadError::Store {
            backup: fetch.key.label(),
            source,
        };
        let mut st = self.prepare(fetch, paths)?;
        let keep = st.at.offset;
        bar.set_position(keep);
        let format = crate::verify::format::Format::for_name(&fetch.file_name);
        let file = store::open_partial(&paths.part).map_err(store_err)?;
        let mut sink = Sink::open(file, &paths.part, keep, format)
            .map_err(|e| store_err(store::io_err("open", &paths.part)(e)))?;
        let outcome = self.transfer(fetch, paths, &mut st, &mut sink, bar).await;
        // The network part is over: the next download's request goes out while this one's
        // last batches are hashed and it publishes.
        drop(slot);
        // A write error (disk full) explains a failed transfer better than "the writer stopped".
        let written = match (outcome, sink.finish().await) {
            (_, Err(e)) => {
                let needed = fetch.size.saturating_sub(self.store.partial_len(paths));
                let own = (needed, Some(&st.at.claim));
                return Err(self.write_error(fetch, paths, own, e));
            }
            (Err(e), Ok(w)) => {
                // Nothing arrived (an empty partial would only be clutter for the next pass),
                // or the bytes came from a response that disagreed with BackupSize: never
                // resumed or published (a later pass would otherwise publish them unasked).
                if w.len == 0 || e.discards_partial() {
                    self.store.discard(paths);
                }
                return Err(e);
            }
            (Ok(()), Ok(w)) => w,
        };
        self.check_and_commit(fetch, paths, &st, written).await
    }

    /// Readies one download: its folder (real folders only), a crash's leftovers recovered,
    /// the partial kept only with a sidecar that names the object, and the disk space claimed.
    fn prepare(&self, fetch: &Fetch, paths: &BackupPaths) -> Result<State, DownloadError> {
        let backup = fetch.key.label();
        self.ready_folder(fetch, paths)?;
        // A partial is only trusted with its sidecar: without the ETag a changed object could
        // not be told apart from the one we started.
        let old = self
            .store
            .read_sidecar(paths)
            .filter(|s| s.size == fetch.size && fetch.resume_from > 0);
        // A ranged download's parts land out of order: only its contiguous prefix is a
        // partial this path can continue (its file is cut there).
        let keep = match &old {
            Some(s) if s.identity.etag.is_some() => {
                s.parts.as_ref().map_or(fetch.resume_from, |p| {
                    p.prefix(fetch.size).min(fetch.resume_from)
                })
            }
            _ => 0,
        };
        let old = old.map(|s| Sidecar { parts: None, ..s });
        let needed = fetch.size.saturating_sub(keep);
        let claim = self.claim_space(fetch, paths, needed)?;
        if keep > 0 {
            info!(backup = %backup, offset = keep, "resuming");
        }
        Ok(State {
            url: fetch.url.clone(),
            via: fetch.via,
            fallback: fetch.fallback.clone(),
            from_listing: true,
            at: Progressed {
                offset: keep,
                fetched: 0,
                claim,
            },
            resumed_from: keep,
            sidecar: old.unwrap_or(Sidecar {
                size: fetch.size,
                ..Sidecar::default()
            }),
            refreshes: 0,
        })
    }

    /// The facts are in: a pure check decides, the store commits (or discards). fsync, rename
    /// and the manifest write block: they run off the async workers, where they would stall
    /// every other download's network reads.
    pub(super) async fn check_and_commit(
        &self,
        fetch: &Fetch,
        paths: &BackupPaths,
        st: &State,
        written: Written,
    ) -> Result<Downloaded, DownloadError> {
        let backup = fetch.key.label();
        let (fetch, paths, store) = (fetch.clone(), paths.clone(), self.store.clone());
        let crc = st.sidecar.identity.crc64;
        let (fetched, resumed_from, via) = (st.at.fetched, st.resumed_from, st.via);
        tokio::task::spawn_blocking(move || {
            let manifest = match check::check(&fetch, &written, crc, OffsetDateTime::now_utc()) {
                Ok(m) => m,
                Err(e) => {
                    store.discard(&paths);
                    return Err(e);
                }
            };
            store.commit(&paths, &manifest).map_err(|source| {
                // Bytes that are not what was checked are never resumed either.
                if matches!(source, store::StoreError::Length { .. }) {
                    store.discard(&paths);
                }
                DownloadError::Store {
                    backup: fetch.key.label(),
                    source,
                }
            })?;
            Ok(Downloaded {
                manifest,
                fetched,
                resumed_from,
                via,
            })
        })
        .await
        .unwrap_or_else(|e| {
            Err(DownloadError::Panicked {
                backup,
                what: "the check-and-publish task",
                reason: e.to_string(),
            })
        })
    }

    /// Requests and streams until the partial file holds `fetch.size` bytes.
    async fn transfer(
        &self,
        fetch: &Fetch,
        paths: &BackupPaths,
        st: &mut State,
        sink: &mut Sink,
        bar: &dyn Bar,
    ) -> Result<(), DownloadError> {
        let backup = fetch.key.label();
        // The retry budget (attempts and time) bounds a stretch without progress, not the
        // download: a body that flowed for an hour and then dropped starts a fresh budget.
        let mut budget = retry::Budget::new(self.retry);
        while st.at.offset < fetch.size {
            if self.cancel.is_cancelled() {
                return Err(DownloadError::Cancelled { backup });
            }
            if st.from_listing
                && url_expires(&st.url)
                    .is_some_and(|e| e <= OffsetDateTime::now_utc().unix_timestamp())
            {
                self.refresh_url(fetch, st).await?;
            }
            let attempt = budget.attempt();
            let fetched_before = st.at.fetched;
            let result = request::one_request(&self.link(), fetch, paths, st, sink, bar).await;
            // Bytes that trickled in below the floor are no progress: the budget still counts
            // down, so a server that only ever trickles fails the backup for this pass.
            let slow = matches!(&result, Err(Step::Fail(DownloadError::TooSlow { .. })));
            if st.at.fetched > fetched_before && !slow {
                budget.progressed();
                st.refreshes = 0;
            }
            let err = match result {
                Ok(()) => continue,
                Err(Step::Expired) => {
                    self.refresh_url(fetch, st).await?;
                    continue;
                }
                Err(Step::Fail(e)) => e,
            };
            if !err.is_retryable() {
                return Err(err);
            }
            let Some(delay) = budget.next_delay() else {
                return Err(DownloadError::GaveUp {
                    backup,
                    attempts: budget.attempts(),
                    last: Box::new(err),
                });
            };
            warn!(backup = %backup, offset = st.at.offset, attempt, "download interrupted, retrying in {delay:?}: {err}");
            if !retry::sleep(delay, &self.cancel).await {
                return Err(DownloadError::Cancelled { backup });
            }
        }
        Ok(())
    }

    async fn refresh_url(&self, fetch: &Fetch, st: &mut State) -> Result<(), DownloadError> {
        st.url = self
            .fresh_url(fetch, st.via, &mut st.refreshes, &self.cancel)
            .await?;
        st.from_listing = false;
        Ok(())
    }
}

mod pieces;
