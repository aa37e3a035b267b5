//! Applying what the pure planners decided: prune (whole copies), stale partial files, and
//! repair (a rotted copy's data file and manifest). Each takes keys (or what the snapshot
//! found), and checks everything again before it deletes: the folder is the one the layout
//! gives the key, reached through real folders only, and (for copies) still holds this tool's
//! manifest naming that very backup (rules 3 and 4 of the integrity contract).

use std::fs;
use std::path::{Path, PathBuf};

use super::{PART_SUFFIX, SIDECAR_SUFFIX, Store, StoreError, io_err, is_real_file, read_manifest};
use crate::model::{BackupKey, MANIFEST, StalePartial, TASK};

impl Store {
    /// Removes the copy of every key (its whole folder; for a whole cluster backup, the
    /// cluster's folder). Returns, per key, the folder removed or why it was left alone.
    pub fn prune(&self, keys: &[BackupKey]) -> Vec<Result<PathBuf, StoreError>> {
        keys.iter()
            .map(|key| {
                // A scrub reading this copy finishes first.
                let _held = self.copy_lock(key)?;
                if key.cluster && key.node_id.is_none() {
                    return self.remove_cluster(key);
                }
                let dir = self.own_copy(key)?;
                fs::remove_dir_all(&dir).map_err(io_err("remove", &dir))?;
                Ok(dir)
            })
            .collect()
    }

    /// Writes the cloud's current `BackupExpireTime` for `key` into its copy's manifest (the
    /// expiry grew, by `ModifyBackupExpireTime`, after the copy was made), so later passes read
    /// it without asking. Nothing is written when it is the same.
    ///
    /// # Errors
    /// The copy is not where the layout keeps it, its manifest names another backup, or the
    /// write failed.
    pub fn record_expiry(
        &self,
        key: &BackupKey,
        expire: Option<time::OffsetDateTime>,
    ) -> Result<bool, StoreError> {
        let _held = self.copy_lock(key)?;
        let dir = self.own_copy(key)?;
        let path = dir.join(MANIFEST);
        let mut manifest = read_manifest(&path).map_err(|reason| refuse(&dir, reason))?;
        if manifest.backup.backup_expire_time == expire {
            return Ok(false);
        }
        manifest.backup.backup_expire_time = expire;
        super::write_manifest(&path, &manifest)?;
        Ok(true)
    }

    /// Removes a rotted copy's data file, then its manifest, so the next pass downloads it
    /// afresh (a crash in between leaves a manifest without its file, which a pass also fetches
    /// again).
    ///
    /// # Errors
    /// Why the copy was left alone: not where the layout keeps it, not a real folder, its
    /// manifest now describes another backup, or a removal failed.
    pub fn remove_copy(&self, key: &BackupKey) -> Result<(), StoreError> {
        let _held = self.copy_lock(key)?;
        let dir = self.own_copy(key)?;
        self.unseal_cluster(key)?;
        let manifest_path = dir.join(MANIFEST);
        let manifest = read_manifest(&manifest_path).map_err(|reason| refuse(&dir, reason))?;
        let name = crate::names::sanitize_file_name(&manifest.file).map_err(|r| refuse(&dir, r))?;
        let file = dir.join(name);
        match fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", &file)(e)),
        }
        fs::remove_file(&manifest_path).map_err(io_err("remove", &manifest_path))?;
        super::sync_dir(&dir)
    }

    /// Removes the partial files (and sidecars) the plan found stale, and their folder once
    /// empty. Only `*.part` and `*.part.json` regular files in a folder without a manifest, at
    /// the place the layout gives their key. Returns the files removed.
    pub fn remove_stale_partials(&self, stale: &[StalePartial]) -> Vec<PathBuf> {
        let mut removed = Vec::new();
        for s in stale {
            let ours = self.backup_dir(&s.key).is_ok_and(|d| d == s.dir)
                && self.check_real(&s.dir).is_ok()
                && fs::symlink_metadata(s.dir.join(MANIFEST)).is_err();
            if !ours {
                tracing::warn!(dir = %s.dir.display(), "stale partial files left alone: the folder changed since the scan");
                continue;
            }
            for file in s.files.iter().filter(|f| is_partial_of(&s.dir, f)) {
                match fs::remove_file(file) {
                    Ok(()) => removed.push(file.clone()),
                    Err(e) => {
                        tracing::warn!(file = %file.display(), "cannot remove a stale partial file: {e}")
                    }
                }
            }
            let _ = fs::remove_dir(&s.dir);
        }
        removed
    }

    /// The folder of `key`'s copy, if it is this tool's: where the layout keeps it, reached
    /// through real folders, holding a readable manifest that names `key`.
    fn own_copy(&self, key: &BackupKey) -> Result<PathBuf, StoreError> {
        let dir = self.backup_dir(key)?;
        if !fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            return Err(refuse(&dir, "it is not a real folder".into()));
        }
        // And every folder above it: `<dir>/<instance>` could be a link to elsewhere.
        self.check_real(&dir)?;
        let manifest = read_manifest(&dir.join(MANIFEST))
            .map_err(|_| refuse(&dir, "it holds no manifest of this tool".into()))?;
        if manifest.key() != *key {
            return Err(refuse(
                &dir,
                format!("its manifest now describes {}", manifest.key().label()),
            ));
        }
        Ok(dir)
    }
}

fn refuse(dir: &Path, reason: String) -> StoreError {
    StoreError::UnsafeName {
        what: format!("removing {}", dir.display()),
        reason,
    }
}

/// A regular `*.part` / `*.part.json` file directly in `dir`.
fn is_partial_of(dir: &Path, file: &Path) -> bool {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    // A snapshot's download-task record goes with its partial: the backup is no longer listed.
    file.parent() == Some(dir)
        && (name.ends_with(PART_SUFFIX) || name.ends_with(SIDECAR_SUFFIX) || name == TASK)
        && is_real_file(file)
}
