//! The on-disk layout under `download.dir`: where a backup's file, partial file, sidecar and
//! manifest live, atomic manifest writes, the scan of local copies, and the run lock.
//!
//! Layout: `<dir>/<instance>/[<node>/]<BackupId>/<file>` plus `manifest.json` beside it; a
//! cluster backup is `<dir>/<instance>/<ClusterBackupId>/<node>/<file>` (a manifest beside each
//! node's file) with `cluster-manifest.json` in `<ClusterBackupId>/`, written last, once every
//! node's file is verified ([`Store::seal_cluster`]).
//! Partial data only ever sits under `<file>.part` (with `<file>.part.json`, the resume sidecar).
//! Every path is built from ids checked by [`crate::names`], so nothing lands outside `dir`;
//! nothing is written through a link ([`safe`]). The scan never follows symlinks, never enters
//! a folder holding another run's lock (another configuration's download dir), and counts a
//! manifest only in the folder its own instance/node/BackupId give (rules 3 and 4 of the
//! integrity contract, RELIABILITY.md).

mod apply;
mod cluster;
mod partial;
pub use partial::DataError;
mod locks;
mod safe;
mod scan;
mod task;

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

pub use crate::model::{BackupKey, LocalCopy, LocalState, Manifest, StalePartial};
use crate::names;
pub use safe::{
    DIR_MODE, FILE_MODE, free_space, open_partial, sync_dir, write_atomic, write_atomic_mode,
};

pub use crate::model::{MANIFEST, own_file_collision};
use crate::model::{PART_SUFFIX, SIDECAR_SUFFIX};
const LOCK_FILE: &str = ".dds-backup-sync.lock";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("refusing {what}: {reason}")]
    UnsafeName { what: String, reason: String },
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("another dds-backup-sync run (pid {pid}{}) holds the lock {}; try again later{}", holder.as_ref().map(|c| format!(", config {c}")).unwrap_or_default(), path.display(), if holder.is_some() { " (two configurations must not share a download.dir: give each its own)" } else { "" })]
    Locked {
        path: PathBuf,
        pid: String,
        /// The config file of the run that holds it, as it wrote it in the lock file.
        holder: Option<String>,
    },
    /// A partial whose length is not the size that was checked: never published.
    #[error("refusing to publish {}: it holds {got} bytes, not the {expected} that were checked; the next pass fetches it again", path.display())]
    Length {
        path: PathBuf,
        expected: u64,
        got: u64,
    },
    #[error("refusing {}: it is {what}; this tool never writes through links (move it away)", path.display())]
    Link { path: PathBuf, what: &'static str },
    /// `download.dir` itself cannot be used: a setup problem (exit 2).
    #[error("download.dir {} cannot be used: {source}; make it a folder the service user can write (under systemd, ReadWritePaths= must include it)", path.display())]
    Root {
        path: PathBuf,
        #[source]
        source: Box<StoreError>,
    },
}

/// `op` failed on `path`.
pub fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError + use<> {
    let path = path.to_path_buf();
    move |source| StoreError::Io { op, path, source }
}

/// Where everything of one backup lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupPaths {
    pub dir: PathBuf,
    pub file: PathBuf,
    pub part: PathBuf,
    pub sidecar: PathBuf,
    pub manifest: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Store { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of one backup; every id is checked first.
    ///
    /// # Errors
    /// An id that could escape the download directory.
    pub fn backup_dir(&self, key: &BackupKey) -> Result<PathBuf, StoreError> {
        let parts = key
            .folder_names()
            .map_err(|(what, reason)| StoreError::UnsafeName {
                what: what.to_string(),
                reason,
            })?;
        Ok(parts.iter().fold(self.root.clone(), |dir, p| dir.join(p)))
    }

    pub fn paths(&self, key: &BackupKey, file_name: &str) -> Result<BackupPaths, StoreError> {
        let clean =
            names::sanitize_file_name(file_name).map_err(|reason| StoreError::UnsafeName {
                what: "file name".into(),
                reason,
            })?;
        if let Some(reason) = own_file_collision(&clean) {
            return Err(StoreError::UnsafeName {
                what: "file name".into(),
                reason,
            });
        }
        let dir = self.backup_dir(key)?;
        Ok(BackupPaths {
            file: dir.join(&clean),
            part: dir.join(format!("{clean}{PART_SUFFIX}")),
            sidecar: dir.join(format!("{clean}{SIDECAR_SUFFIX}")),
            manifest: dir.join(MANIFEST),
            dir,
        })
    }

    /// Takes the run lock (flock on a file in `dir`); the kernel drops it if this process dies.
    ///
    /// # Errors
    /// [`StoreError::Locked`] with the holder's pid when another run holds it.
    pub fn lock(&self) -> Result<RunLock, StoreError> {
        self.lock_for(None)
    }

    /// [`Store::lock`], writing `config` (the file this run's settings came from) beside the
    /// pid, so a run of another configuration on the same dir is told which one holds it.
    ///
    /// # Errors
    /// As [`Store::lock`].
    pub fn lock_for(&self, config: Option<&Path>) -> Result<RunLock, StoreError> {
        self.lock_named(LOCK_FILE, config)
    }

    /// Takes the flock on the file `name` in the root (created 0600 if missing), writing this
    /// process's pid and `config` into it, or says who holds it.
    fn lock_named(&self, name: &str, config: Option<&Path>) -> Result<RunLock, StoreError> {
        // A full disk is not a setup problem (exit 2 would keep systemd from ever restarting
        // the service, issue #21): it is the I/O error it is, and the next try may succeed.
        let root_err = |source: StoreError| match source {
            StoreError::Io { source: ref e, .. } if is_disk_full(e) => source,
            source => StoreError::Root {
                path: self.root.clone(),
                source: Box::new(source),
            },
        };
        {
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(&self.root)
                .map_err(|e| root_err(io_err("create", &self.root)(e)))?;
        }
        let path = self.root.join(name);
        let mut file = safe::open_lock(&path).map_err(root_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let mut lines = text.lines().map(str::trim);
                let pid = lines.next().filter(|p| !p.is_empty()).unwrap_or("unknown");
                // Another run wrote it: shown as data.
                let holder = lines
                    .next()
                    .filter(|c| !c.is_empty())
                    .map(|c| crate::text::shown(c).to_string());
                return Err(StoreError::Locked {
                    path,
                    pid: crate::text::shown(pid).to_string(),
                    holder,
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(root_err(io_err("lock", &path)(e))),
        }
        file.set_len(0)
            .map_err(|e| root_err(io_err("write", &path)(e)))?;
        let holder = config.map(|c| c.display().to_string()).unwrap_or_default();
        writeln!(
            file,
            "{}\n{}",
            std::process::id(),
            holder.replace('\n', " ")
        )
        .map_err(|e| root_err(io_err("write", &path)(e)))?;
        Ok(RunLock { _file: file })
    }

    /// Checks that the download dir can be used: created if missing (0750), a file created
    /// and removed in it. Used by `--check`; a pass finds the same through its lock.
    ///
    /// # Errors
    /// [`StoreError::Root`] saying what failed.
    pub fn probe_writable(&self) -> Result<(), StoreError> {
        use std::os::unix::fs::DirBuilderExt;
        let root_err = |source| StoreError::Root {
            path: self.root.clone(),
            source: Box::new(source),
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(&self.root)
            .map_err(|e| root_err(io_err("create", &self.root)(e)))?;
        let probe = self
            .root
            .join(format!(".dds-backup-sync.probe-{}", std::process::id()));
        write_atomic(&probe, b"").map_err(root_err)?;
        fs::remove_file(&probe).map_err(|e| root_err(io_err("remove", &probe)(e)))
    }

    /// Makes the backup's folder (and its parents below the root, 0750), refusing any that is a
    /// link or not a folder.
    ///
    /// # Errors
    /// [`StoreError::Link`] naming the component; I/O errors.
    pub fn ensure_dir(&self, paths: &BackupPaths) -> Result<(), StoreError> {
        safe::real_dirs_below(&self.root, &paths.dir, true)
    }

    /// Checks that `dir` (below the root) is reached through real folders only.
    ///
    /// # Errors
    /// [`StoreError::Link`] naming the component; I/O errors.
    pub fn check_real(&self, dir: &Path) -> Result<(), StoreError> {
        safe::real_dirs_below(&self.root, dir, false)
    }
}

/// Held for the length of a run; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// Whether `e` says the filesystem (or the user's quota) is full.
pub fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(libc::EDQUOT)
}

/// The bytes of disk an open file already holds (its allocated blocks; 0 if unknown).
pub fn allocated(file: &fs::File) -> u64 {
    use std::os::unix::fs::MetadataExt;
    file.metadata().map_or(0, |m| m.blocks() * 512)
}

fn is_real_file(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
}

/// Moves an unverified file under its final name (no readable manifest, no partial) back to
/// the partial name, so it is checked like any partial before it counts as a copy. Also removes
/// the temp files a killed run left behind for this backup's manifest and sidecar (see
/// [`write_atomic`]); the caller holds the directory lock, so no other run is writing them.
///
/// # Errors
/// The rename failed.
pub fn recover_unpublished(paths: &BackupPaths) -> Result<(), StoreError> {
    for target in [&paths.manifest, &paths.sidecar] {
        safe::remove_stale_temps(target);
    }
    let unpublished = read_manifest(&paths.manifest).is_err()
        && is_real_file(&paths.file)
        && fs::symlink_metadata(&paths.part).is_err();
    if unpublished {
        fs::rename(&paths.file, &paths.part).map_err(io_err("rename", &paths.file))?;
    }
    Ok(())
}

/// Reads a manifest; refuses symlinks and anything that is not a well-formed manifest.
pub fn read_manifest(path: &Path) -> Result<Manifest, String> {
    if !is_real_file(path) {
        return Err(format!(
            "{} is missing or not a regular file",
            path.display()
        ));
    }
    let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not a valid manifest: {e}", path.display()))
}

pub fn write_manifest(path: &Path, manifest: &Manifest) -> Result<(), StoreError> {
    let mut bytes = serde_json::to_vec_pretty(manifest).expect("invariant: a manifest serialises");
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests;
