//! Publishing a finished download: the checks (size, CRC-64), then fsync, rename to the final
//! name, fsync the folder, and the manifest (with the format verdict) written atomically. Also the resume sidecar
//! kept beside a partial file. Blocking file I/O: callers run it off the async workers.

use std::path::Path;

use time::OffsetDateTime;

use super::download::Downloaded;
use super::error::DownloadError;
use super::plan::{Fetch, Via};
use super::sink::Written;
use crate::model::Sidecar;
use crate::store::{self, BackupPaths, Manifest, StoreError};

/// Checks size and CRC, then fsync, rename to the final name, fsync the folder, and write
/// the manifest. A file that fails a check is removed, never published; the format verdict is
/// recorded, never a reason to remove the cloud's bytes. `fetched` is what this
/// run downloaded, `resumed_from` what an earlier run had (0 for a fresh or restarted file).
pub fn publish(
    fetch: &Fetch,
    paths: &BackupPaths,
    crc: Option<u64>,
    (fetched, resumed_from): (u64, u64),
    via: Via,
    written: Written,
) -> Result<Downloaded, DownloadError> {
    let backup = fetch.key.label();
    let discard = || {
        let _ = std::fs::remove_file(&paths.part);
        let _ = std::fs::remove_file(&paths.sidecar);
    };
    if written.len != fetch.size {
        discard();
        return Err(DownloadError::Size {
            backup,
            what: "the downloaded file differs from BackupSize",
            expected: fetch.size,
            got: written.len,
        });
    }
    if let Some(expected) = crc.filter(|c| *c != written.crc64) {
        discard();
        return Err(DownloadError::Crc {
            backup,
            expected,
            got: written.crc64,
        });
    }
    // The bytes are the object's: whatever the format check says is recorded, never a reason
    // to throw them away (the cloud has the same bytes; a copy of them is the best there is).
    let store_err = |source| DownloadError::Store {
        backup: backup.clone(),
        source,
    };
    std::fs::File::open(&paths.part)
        .and_then(|f| f.sync_all())
        .map_err(|e| store_err(store::io_err("fsync", &paths.part)(e)))?;
    std::fs::rename(&paths.part, &paths.file)
        .map_err(|e| store_err(store::io_err("rename", &paths.part)(e)))?;
    store::sync_dir(&paths.dir).map_err(store_err)?;
    let now = OffsetDateTime::now_utc();
    let manifest = Manifest {
        format: 1,
        instance_id: fetch.key.instance_id.clone(),
        node_id: fetch.key.node_id.clone(),
        backup: fetch.backup.clone(),
        file: fetch.file_name.clone(),
        size: written.len,
        sha256: written.sha256,
        crc64: written.crc64.to_string(),
        crc64_checked: crc.is_some(),
        format_verdict: Some(written.verdict.verdict),
        format_detail: written.verdict.detail.clone(),
        downloaded_at: now,
        verified_at: now,
    };
    store::write_manifest(&paths.manifest, &manifest).map_err(store_err)?;
    let _ = std::fs::remove_file(&paths.sidecar);
    Ok(Downloaded {
        manifest,
        fetched,
        resumed_from,
        via,
    })
}

pub fn read_sidecar(path: &Path) -> Option<Sidecar> {
    // Never through a link: a planted sidecar could claim any identity.
    std::fs::symlink_metadata(path)
        .ok()
        .filter(|m| m.is_file())?;
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

pub fn write_sidecar(path: &Path, sidecar: &Sidecar) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(sidecar).expect("invariant: a sidecar serialises");
    store::write_atomic(path, &bytes)
}
