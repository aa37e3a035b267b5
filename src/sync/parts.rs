//! One big file over several ranged streams (`download.streams` for files of at least
//! `download.stream_cutoff`): the file is cut into `download.part_size` parts, and each stream
//! takes the next missing part, so a slow connection never holds the others back.
//!
//! Every part is a `Range: bytes=a-b` GET with `If-Match` on the ETag the first answer fixed,
//! accepted only as a 206 whose `Content-Range` is exactly `a-b/size` from the same object; a
//! 412 or another identity restarts the file from zero, a 200 (ranges ignored) hands it to the
//! one-connection path. Writes are positional into the one preallocated `.part`; the sidecar
//! records each complete part with its CRC-64, so after a kill -9 only the missing parts are
//! fetched. The per-part CRCs combine (in offset order) into the object's, and a [`Follower`]
//! hashes the contiguous complete prefix in order (sha256, the CRC-64 of the bytes on disk, the
//! format check). An expired URL is refreshed once for all streams.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::body::Progressed;
use super::download::{Downloaded, Downloader, Ranged};
use super::error::DownloadError;
use super::follow::Follower;
use super::plan::{Fetch, Via};
use super::request::State;
use super::space::Claim;
use crate::model::{Identity, PartMap, Sidecar};
use crate::progress::Bar;
use crate::store::{self, BackupPaths};

mod stream;

/// Network bytes of one stream gathered before one positional write.
const WRITE_BATCH: usize = 1 << 20;
/// 200s to ranged GETs, once parts are recorded, before the file goes to one connection.
const MAX_WHOLE_ANSWERS: u32 = 3;
/// The sidecar is rewritten at most this often while parts complete.
const SIDECAR_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Why a part failed.
enum PartErr {
    Fail(DownloadError),
    /// The URL of generation `.0` expired: refresh it (once for all streams) and go on.
    Expired(u64),
    /// Another object (412, another ETag, a wrong `Content-Range`): start from zero.
    Changed(String),
    NoRanges,
    /// The URL changed under this attempt (the intranet fallback): just ask again.
    Again,
}

/// What the streams of one file share.
struct Shared {
    map: PartMap,
    in_flight: Vec<bool>,
    identity: Identity,
    url: String,
    /// Bumped at every new URL, so a refresh is asked once for all streams.
    generation: u64,
    via: Via,
    fallback: Option<String>,
    fetched: u64,
    refreshes: u32,
    /// When the sidecar was last written, and whether parts completed since.
    saved: std::time::Instant,
    unsaved: bool,
    /// 200s answered to ranged GETs after parts were recorded.
    whole_answers: u32,
}

/// One file's ranged download.
struct Job<'a> {
    dl: &'a Downloader,
    fetch: &'a Fetch,
    paths: &'a BackupPaths,
    bar: &'a dyn Bar,
    backup: String,
    file: Arc<File>,
    shared: Mutex<Shared>,
    /// Stops every stream of this file (a fatal error in one, or the pass's shutdown).
    stop: CancellationToken,
    follower: Follower,
    /// Sidecar writes one at a time, each with the newest map.
    sidecar_lock: tokio::sync::Mutex<()>,
    refresh_lock: tokio::sync::Mutex<()>,
}

impl Downloader {
    /// Whether `fetch` goes over several ranged streams.
    pub(super) fn uses_streams(&self, fetch: &Fetch) -> bool {
        self.streams.count > 1
            && fetch.size >= self.streams.cutoff
            && fetch.size > self.streams.part_size
    }

    /// Downloads `fetch` over several ranged streams, then checks and commits it.
    pub(super) async fn run_parts(
        &self,
        fetch: &Fetch,
        paths: &BackupPaths,
        bar: &dyn Bar,
    ) -> Ranged {
        // An object that changes mid-file restarts it from zero, once in this pass.
        for round in 0..2 {
            match self.ranged(fetch, paths, bar).await {
                Err(PartErr::Changed(why)) if round == 0 => {
                    warn!(backup = %fetch.key.label(), "{why}; restarting the file from zero");
                    self.store.discard(paths);
                }
                Err(PartErr::Changed(why)) => {
                    self.store.discard(paths);
                    return Ranged::Done(Box::new(Err(DownloadError::Transfer {
                        backup: fetch.key.label(),
                        url: crate::secret::redact_url(&fetch.url),
                        reason: format!("{why}, twice in a row; the next pass starts it again"),
                    })));
                }
                Err(PartErr::NoRanges) => {
                    // The partial stays: one connection keeps its contiguous prefix (as its
                    // sidecar records it) and cuts the file there.
                    info!(backup = %fetch.key.label(), "the server ignores ranges; downloading over one connection");
                    return Ranged::OneConnection;
                }
                // The parts done stay recorded in the sidecar for the next run.
                Err(PartErr::Fail(e)) => return Ranged::Done(Box::new(Err(e))),
                Err(PartErr::Expired(_) | PartErr::Again) => {
                    return Ranged::Done(Box::new(Err(DownloadError::Refresh {
                        backup: fetch.key.label(),
                        source: Box::new(crate::sync::error::RefreshError::Expired),
                    })));
                }
                Ok(done) => return Ranged::Done(Box::new(Ok(done))),
            }
        }
        unreachable!("the loop returns in its second round")
    }

    /// Readies a round: the folder, the parts an earlier run completed, the space (claimed,
    /// then allocated), the follower hashing the complete prefix.
    async fn start<'a>(
        &'a self,
        fetch: &'a Fetch,
        paths: &'a BackupPaths,
        bar: &'a dyn Bar,
    ) -> Result<(Job<'a>, Claim, u64), PartErr> {
        let backup = fetch.key.label();
        let store_err = |source| {
            PartErr::Fail(DownloadError::Store {
                backup: backup.clone(),
                source,
            })
        };
        self.ready_folder(fetch, paths).map_err(PartErr::Fail)?;
        let file = store::open_partial(&paths.part).map_err(store_err)?;
        let (map, identity) = self.resume_map(fetch, paths, &file).await;
        let resumed = map.done_bytes(fetch.size);
        let (mut claim, needed) = self.claim(fetch, paths, &file, resumed)?;
        preallocate(&file, fetch.size)
            .map_err(|e| PartErr::Fail(self.write_error(fetch, paths, (fetch.size, None), e)))?;
        // The space is the file's now.
        claim.wrote(needed);
        if resumed > 0 {
            info!(backup = %backup, parts_done = map.done.len() - map.missing().len(), bytes = resumed, "resuming the parts still missing");
        }
        bar.set_position(resumed);
        let format = crate::verify::format::Format::for_name(&fetch.file_name);
        let follower = file
            .try_clone()
            .and_then(|f| Follower::start(f, format))
            .map_err(|e| store_err(store::io_err("open", &paths.part)(e)))?;
        follower.advance(map.prefix(fetch.size));
        let job = Job {
            dl: self,
            fetch,
            paths,
            bar,
            backup: backup.clone(),
            file: Arc::new(file),
            shared: Mutex::new(Shared {
                in_flight: vec![false; map.done.len()],
                map,
                identity,
                url: fetch.url.clone(),
                generation: 0,
                via: fetch.via,
                fallback: fetch.fallback.clone(),
                fetched: 0,
                refreshes: 0,
                saved: std::time::Instant::now(),
                unsaved: false,
                whole_answers: 0,
            }),
            stop: self.cancel.child_token(),
            follower,
            sidecar_lock: tokio::sync::Mutex::new(()),
            refresh_lock: tokio::sync::Mutex::new(()),
        };
        Ok((job, claim, resumed))
    }

    /// Claims the space the file still needs: what it does not already hold (its blocks,
    /// preallocated by an earlier run, or the parts it has, are taken from the free space
    /// already; issue #21). A refused download leaves no empty partial behind.
    fn claim(
        &self,
        fetch: &Fetch,
        paths: &BackupPaths,
        file: &File,
        resumed: u64,
    ) -> Result<(Claim, u64), PartErr> {
        let needed = fetch
            .size
            .saturating_sub(store::allocated(file).max(resumed));
        match self.claim_space(fetch, paths, needed) {
            Ok(claim) => Ok((claim, needed)),
            Err(e) => {
                if resumed == 0 && self.store.partial_len(paths) == 0 {
                    self.store.discard(paths);
                }
                Err(PartErr::Fail(e))
            }
        }
    }

    /// One round: prepare, run the streams, hash, check, commit.
    async fn ranged(
        &self,
        fetch: &Fetch,
        paths: &BackupPaths,
        bar: &dyn Bar,
    ) -> Result<Downloaded, PartErr> {
        let (job, claim, resumed) = self.start(fetch, paths, bar).await?;
        // The sidecar says "parts" before any byte lands: the file's length says nothing now.
        job.save_sidecar().await.map_err(PartErr::Fail)?;
        let n = self
            .streams
            .count
            .min(job.lock().map.missing().len())
            .max(1);
        let results = futures::future::join_all((0..n).map(|_| job.stream())).await;
        // Whatever ended the streams (a failed part, a shutdown), the parts they completed go
        // on record for the next run (best effort: a later pass may fetch them again).
        if std::mem::take(&mut job.lock().unsaved) {
            let _ = job.save_sidecar().await;
        }
        self.finish(fetch, paths, job, results, claim, resumed)
            .await
    }

    /// After the streams: the follower's hashes against the parts' CRCs, then the check and
    /// the commit every download goes through.
    async fn finish(
        &self,
        fetch: &Fetch,
        paths: &BackupPaths,
        job: Job<'_>,
        results: Vec<Result<(), PartErr>>,
        claim: Claim,
        resumed: u64,
    ) -> Result<Downloaded, PartErr> {
        let backup = fetch.key.label();
        let store_err = |source| {
            PartErr::Fail(DownloadError::Store {
                backup: backup.clone(),
                source,
            })
        };
        let Job {
            shared, follower, ..
        } = job;
        let shared = shared.into_inner().unwrap_or_else(|e| e.into_inner());
        let written = follower.finish().await;
        // A stream stopped because another failed says "cancelled": the other's error is why.
        if self.cancel.is_cancelled() {
            return Err(PartErr::Fail(DownloadError::Cancelled { backup }));
        }
        if let Some(err) = results.into_iter().find_map(Result::err) {
            return Err(err);
        }
        if !shared.map.is_complete() {
            return Err(PartErr::Fail(DownloadError::Transfer {
                backup,
                url: crate::secret::redact_url(&fetch.url),
                reason: "the streams stopped with parts still missing".into(),
            }));
        }
        let written = written.map_err(|e| store_err(store::io_err("read", &paths.part)(e)))?;
        // What arrived (the parts' CRCs) and what is on disk (the follower's) must agree.
        if let Some(c) = shared
            .map
            .combined(fetch.size)
            .filter(|c| *c != written.crc64)
        {
            self.store.discard(paths);
            return Err(PartErr::Fail(DownloadError::Crc {
                backup,
                expected: c,
                got: written.crc64,
            }));
        }
        let st = State {
            url: shared.url,
            via: shared.via,
            fallback: None,
            from_listing: false,
            at: Progressed {
                offset: fetch.size,
                fetched: shared.fetched,
                claim,
            },
            resumed_from: resumed,
            sidecar: Sidecar {
                size: fetch.size,
                identity: shared.identity,
                url_expires: None,
                parts: Some(shared.map),
            },
            refreshes: 0,
        };
        self.check_and_commit(fetch, paths, &st, written)
            .await
            .map_err(PartErr::Fail)
    }

    /// The parts an earlier run completed, from its sidecar: kept only for the same object
    /// (an ETag), size and part size. A one-connection partial counts as its whole parts (their
    /// CRCs read back from the file).
    async fn resume_map(
        &self,
        fetch: &Fetch,
        paths: &BackupPaths,
        file: &File,
    ) -> (PartMap, Identity) {
        let fresh = PartMap::new(fetch.size, self.streams.part_size);
        let Some(old) = self
            .store
            .read_sidecar(paths)
            .filter(|s| s.size == fetch.size && s.identity.etag.is_some())
        else {
            return (fresh, Identity::default());
        };
        match old.parts {
            Some(map) if map.fits(fetch.size, self.streams.part_size) => (map, old.identity),
            Some(_) => (fresh, Identity::default()),
            None => {
                let have = fetch.resume_from.min(self.store.partial_len(paths));
                let (file, size) = (file.try_clone(), fetch.size);
                let map = tokio::task::spawn_blocking(move || {
                    let mut map = PartMap::new(size, fresh.part_size);
                    if let Ok(file) = file {
                        for i in 0..map.done.len() {
                            let r = map.range(i, size);
                            if r.end > have {
                                break;
                            }
                            match crc_of(&file, r) {
                                Ok(crc) => map.mark(i, crc),
                                Err(_) => break,
                            }
                        }
                    }
                    map
                })
                .await
                .unwrap_or(fresh);
                (map, old.identity)
            }
        }
    }
}

/// Reserves the file's whole size on disk where the filesystem can (so a full disk shows at
/// the start, not in the middle of a part); elsewhere the file is only extended. A partial
/// longer than the object (left by a kill -9 while the object was bigger: a re-created DBS
/// task, a replaced backup) is cut to its size: preallocation only grows, and the bytes past
/// the end would otherwise be published with the object's (issue #21).
fn preallocate(file: &File, size: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    if file.metadata()?.len() > size {
        file.set_len(size)?;
    }
    // SAFETY: a valid open descriptor; the call only allocates blocks for the range.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, size as libc::off_t) };
    match rc {
        0 => Ok(()),
        libc::EOPNOTSUPP | libc::EINVAL => {
            if file.metadata()?.len() < size {
                file.set_len(size)?;
            }
            Ok(())
        }
        errno => Err(std::io::Error::from_raw_os_error(errno)),
    }
}

/// The CRC-64/XZ of `range` of `file`.
fn crc_of(file: &File, range: std::ops::Range<u64>) -> std::io::Result<u64> {
    let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Xz);
    let mut buf = vec![0u8; 256 * 1024];
    let mut at = range.start;
    while at < range.end {
        let want = ((range.end - at) as usize).min(buf.len());
        let n = file.read_at(&mut buf[..want], at)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        crc.update(&buf[..n]);
        at += n as u64;
    }
    Ok(crc.finalize())
}
