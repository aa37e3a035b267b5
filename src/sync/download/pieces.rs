//! The pieces both ways of downloading a file are made of (issue #22: they were written twice,
//! once for one connection and once for the ranged streams): readying the folder, claiming
//! the disk space, saying a failed write, and getting a fresh URL once the signed one expired.

use tokio_util::sync::CancellationToken;
use tracing::info;

use super::{DownloadError, Downloader, MAX_REFRESH, RefreshError};
use crate::store::{self, BackupPaths};
use crate::sync::plan::{Fetch, Via};
use crate::sync::space::Claim;

impl Downloader {
    /// The download's folder made (real folders only) and a crash's leftovers recovered.
    pub(in crate::sync) fn ready_folder(
        &self,
        fetch: &Fetch,
        paths: &BackupPaths,
    ) -> Result<(), DownloadError> {
        let store_err = |source| DownloadError::Store {
            backup: fetch.key.label(),
            source,
        };
        self.store.ensure_dir(paths).map_err(store_err)?;
        store::recover_unpublished(paths).map_err(store_err)
    }

    /// Claims `needed` bytes of the disk for this download, beside what the others in flight
    /// were promised; a full disk is said before any byte is fetched.
    pub(in crate::sync) fn claim_space(
        &self,
        fetch: &Fetch,
        paths: &BackupPaths,
        needed: u64,
    ) -> Result<Claim, DownloadError> {
        self.space
            .claim(needed, || store::free_space(&paths.dir))
            .map_err(|short| DownloadError::DiskFull {
                backup: fetch.key.label(),
                dir: paths.dir.clone(),
                needed,
                available: short.free,
                promised: short.promised,
            })
    }

    /// A write to the partial file that failed: a full disk (ENOSPC, EDQUOT) said as one, with
    /// the `needed` bytes still to write and what the other downloads were promised (not
    /// `own`, this download's claim); anything else as the store's error.
    pub(in crate::sync) fn write_error(
        &self,
        fetch: &Fetch,
        paths: &BackupPaths,
        (needed, own): (u64, Option<&Claim>),
        e: std::io::Error,
    ) -> DownloadError {
        let backup = fetch.key.label();
        if store::is_disk_full(&e) {
            let own = own.map_or(0, Claim::left);
            return DownloadError::DiskFull {
                backup,
                dir: paths.dir.clone(),
                needed,
                available: store::free_space(&paths.dir).unwrap_or(0),
                promised: self.space.outstanding().saturating_sub(own),
            };
        }
        DownloadError::Store {
            backup,
            source: store::io_err("write", &paths.part)(e),
        }
    }

    /// A fresh URL for `fetch` (the `refreshes`-th since the last progress), asked of the
    /// listing (or DBS) unless `stop` fires first; at most [`MAX_REFRESH`] without progress.
    pub(in crate::sync) async fn fresh_url(
        &self,
        fetch: &Fetch,
        via: Via,
        refreshes: &mut u32,
        stop: &CancellationToken,
    ) -> Result<String, DownloadError> {
        let backup = fetch.key.label();
        *refreshes += 1;
        if *refreshes > MAX_REFRESH {
            return Err(DownloadError::Refresh {
                backup,
                source: Box::new(RefreshError::StillExpired),
            });
        }
        info!(backup = %backup, via = %via, "download URL expired; asking for a fresh one");
        let fresh = tokio::select! {
            biased;
            () = stop.cancelled() => return Err(DownloadError::Cancelled { backup }),
            url = (self.refresh)(fetch.key.clone(), via) => url,
        };
        fresh.map_err(|source| DownloadError::Refresh {
            backup,
            source: Box::new(source),
        })
    }
}
