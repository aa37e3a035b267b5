//! The partial file's life beside its backup: the resume sidecar, the length on disk, the
//! commit that publishes a checked file (fsync, rename, fsync the folder, the manifest written
//! atomically, the sidecar removed) and the discard of bytes that are not the object's.
//! Also opening a copy's data file for `--verify`. Blocking file I/O: callers run it off the
//! async workers.

use std::fs;
use std::os::unix::fs::OpenOptionsExt;

use super::{BackupPaths, Store, StoreError, io_err, is_real_file, write_atomic, write_manifest};
use crate::model::{Manifest, Sidecar};

/// Why a copy's data file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataError {
    Missing,
    /// A symlink, a folder or anything but a regular file: never followed.
    NotAFile,
    Unreadable(String),
}

impl Store {
    /// Opens a copy's data file for reading (never through a link) with its length.
    ///
    /// # Errors
    /// What is wrong with the file.
    pub fn open_data(&self, path: &std::path::Path) -> Result<(fs::File, u64), DataError> {
        let meta = fs::symlink_metadata(path).map_err(|_| DataError::Missing)?;
        if !meta.is_file() {
            return Err(DataError::NotAFile);
        }
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| DataError::Unreadable(e.to_string()))?;
        Ok((file, meta.len()))
    }

    /// The sidecar beside a partial file, if it is a real file that parses.
    pub fn read_sidecar(&self, paths: &BackupPaths) -> Option<Sidecar> {
        // Never through a link: a planted sidecar could claim any identity.
        if !is_real_file(&paths.sidecar) {
            return None;
        }
        fs::read(&paths.sidecar)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Writes the sidecar atomically.
    ///
    /// # Errors
    /// I/O errors, naming the path.
    pub fn write_sidecar(&self, paths: &BackupPaths, sidecar: &Sidecar) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(sidecar).expect("invariant: a sidecar serialises");
        write_atomic(&paths.sidecar, &bytes)
    }

    /// The partial file's length (0 when there is none).
    pub fn partial_len(&self, paths: &BackupPaths) -> u64 {
        fs::symlink_metadata(&paths.part)
            .ok()
            .filter(|m| m.is_file())
            .map_or(0, |m| m.len())
    }

    /// Publishes a checked partial file under its final name with `manifest`: fsync, rename,
    /// fsync the folder, the manifest written atomically, then the sidecar removed. A reader
    /// never sees the final name with other bytes than the manifest's.
    ///
    /// # Errors
    /// I/O errors, naming the path; the partial stays for the next pass to check again.
    pub fn commit(&self, paths: &BackupPaths, manifest: &Manifest) -> Result<(), StoreError> {
        // A scrub reading the old copy of this backup finishes first.
        let _held = self.copy_lock(&manifest.key())?;
        let part = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&paths.part)
            .map_err(io_err("open", &paths.part))?;
        // The check hashed `[0, size)`; what is published is the whole file (issue #21).
        let len = part.metadata().map_err(io_err("stat", &paths.part))?.len();
        if len != manifest.size {
            return Err(StoreError::Length {
                path: paths.part.clone(),
                expected: manifest.size,
                got: len,
            });
        }
        part.sync_all().map_err(io_err("fsync", &paths.part))?;
        fs::rename(&paths.part, &paths.file).map_err(io_err("rename", &paths.part))?;
        super::sync_dir(&paths.dir)?;
        write_manifest(&paths.manifest, manifest)?;
        let _ = fs::remove_file(&paths.sidecar);
        Ok(())
    }

    /// Removes a partial file's sidecar (a real file only): its partial is then never resumed.
    pub fn drop_sidecar(&self, paths: &BackupPaths) {
        if is_real_file(&paths.sidecar) {
            let _ = fs::remove_file(&paths.sidecar);
        }
    }

    /// Removes a partial file and its sidecar (best effort: a leftover is checked again, and
    /// then discarded, by the next pass).
    pub fn discard(&self, paths: &BackupPaths) {
        for p in [&paths.part, &paths.sidecar] {
            if is_real_file(p) {
                let _ = fs::remove_file(p);
            }
        }
    }
}
