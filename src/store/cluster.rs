//! The store's side of cluster backups: sealing one (`cluster-manifest.json`, written last,
//! only when every node's file is verified) and removing a whole cluster copy, after checking
//! that everything in its folder is this tool's for that very cluster backup.

use std::fs;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::{MANIFEST, PART_SUFFIX, SIDECAR_SUFFIX, Store, StoreError, io_err, read_manifest};
use crate::model::{BackupKey, CLUSTER_MANIFEST, ClusterManifest, ListedCluster};

impl Store {
    /// Writes `cluster-manifest.json` for `cluster` when every node part has a verified copy
    /// here. Returns whether it was written now (`false`: already there and the same).
    ///
    /// # Errors
    /// A node is not complete yet (the reason), or the write failed.
    pub fn seal_cluster(
        &self,
        cluster: &ListedCluster,
        now: OffsetDateTime,
    ) -> Result<bool, String> {
        let mut manifests = Vec::with_capacity(cluster.nodes.len());
        for key in &cluster.nodes {
            let dir = self.backup_dir(key).map_err(|e| e.to_string())?;
            // A node folder reached through a link (or not there yet) holds no copy of ours.
            if self.check_real(&dir).is_ok()
                && let Ok(m) = read_manifest(&dir.join(MANIFEST))
                && fs::symlink_metadata(dir.join(&m.file))
                    .is_ok_and(|f| f.is_file() && f.len() == m.size)
            {
                manifests.push(m);
            }
        }
        let dir = self.backup_dir(&cluster.unit).map_err(|e| e.to_string())?;
        let path = dir.join(CLUSTER_MANIFEST);
        let sealed = match ClusterManifest::seal(cluster, &manifests, now) {
            Ok(sealed) => sealed,
            Err(reason) => {
                // A seal of other nodes than the cloud lists now (it named more nodes later)
                // no longer says the cluster backup is complete here (issue #21).
                if read_cluster_manifest(&path).is_ok_and(|old| !old.names_exactly(cluster)) {
                    self.check_real(&dir).map_err(|e| e.to_string())?;
                    fs::remove_file(&path).map_err(|e| io_err("remove", &path)(e).to_string())?;
                    return Err(format!("{reason}; its seal, of other nodes, was withdrawn"));
                }
                return Err(reason);
            }
        };
        if read_cluster_manifest(&path).is_ok_and(|old| old.same_as(&sealed)) {
            return Ok(false);
        }
        let mut bytes =
            serde_json::to_vec_pretty(&sealed).expect("invariant: a manifest serialises");
        bytes.push(b'\n');
        super::write_atomic(&path, &bytes).map_err(|e| e.to_string())?;
        Ok(true)
    }

    /// Withdraws the cluster manifest of the cluster backup `key` is a node part of (a node's
    /// copy found rotted, or removed for repair): the cluster is no longer complete here until a
    /// pass has that node verified again and seals it anew. Nothing for other keys.
    ///
    /// # Errors
    /// The folder is not a real one, or the removal failed.
    pub fn unseal_cluster(&self, key: &BackupKey) -> Result<(), StoreError> {
        if !key.cluster {
            return Ok(());
        }
        let dir = self.backup_dir(&key.unit())?;
        let path = dir.join(CLUSTER_MANIFEST);
        if !fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            return Ok(());
        }
        self.check_real(&dir)?;
        fs::remove_file(&path).map_err(io_err("remove", &path))?;
        super::sync_dir(&dir)
    }

    /// Whether the cluster backup `unit` is complete here: its `cluster-manifest.json` is a real
    /// file that reads as this tool's cluster manifest for that very cluster backup.
    pub fn is_sealed(&self, unit: &BackupKey) -> bool {
        self.cluster_manifest(unit).is_some()
    }

    /// The cluster manifest of cluster backup `unit` when it is sealed here (see
    /// [`Store::is_sealed`]).
    pub fn cluster_manifest(&self, unit: &BackupKey) -> Option<ClusterManifest> {
        let dir = self.backup_dir(&unit.unit()).ok()?;
        read_cluster_manifest(&dir.join(CLUSTER_MANIFEST))
            .ok()
            .filter(|m| m.instance_id == unit.instance_id && m.cluster_backup_id == unit.backup_id)
    }

    /// Removes a whole cluster copy (`unit`: a cluster key without a node) when everything in
    /// its folder is this tool's for that cluster backup: its cluster manifest, node folders
    /// whose manifest names a part of it, and node folders holding only partial files.
    ///
    /// # Errors
    /// Why it was left alone, or the removal failed.
    pub(super) fn remove_cluster(&self, unit: &BackupKey) -> Result<PathBuf, StoreError> {
        let dir = self.backup_dir(unit)?;
        if !fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            return Err(refuse(&dir, "it is not a real folder".into()));
        }
        self.check_real(&dir)?;
        for entry in fs::read_dir(&dir).map_err(io_err("read", &dir))? {
            let entry = entry.map_err(io_err("read", &dir))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(io_err("read", &path))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = if kind.is_file() {
                name == CLUSTER_MANIFEST || is_temp_of(&name, CLUSTER_MANIFEST)
            } else {
                kind.is_dir() && node_folder_of(&path, unit)
            };
            if !ours {
                return Err(refuse(
                    &dir,
                    format!(
                        "{} is not this tool's for this cluster backup",
                        path.display()
                    ),
                ));
            }
        }
        fs::remove_dir_all(&dir).map_err(io_err("remove", &dir))?;
        Ok(dir)
    }
}

/// Reads a cluster manifest; refuses symlinks and anything that is not one.
pub fn read_cluster_manifest(path: &Path) -> Result<ClusterManifest, String> {
    if !fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
        return Err(format!(
            "{} is missing or not a regular file",
            path.display()
        ));
    }
    let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not a valid cluster manifest: {e}", path.display()))
}

/// A node folder of `unit`: its manifest names a part of that cluster backup, or (no
/// manifest) it holds only regular partial files and sidecars.
fn node_folder_of(dir: &Path, unit: &BackupKey) -> bool {
    if let Ok(m) = read_manifest(&dir.join(MANIFEST)) {
        return m.key().unit() == *unit
            && Some(m.key().node_id.as_deref()) == Some(dir.file_name().and_then(|n| n.to_str()));
    }
    fs::read_dir(dir).into_iter().flatten().flatten().all(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        e.file_type().is_ok_and(|t| t.is_file())
            && (name.ends_with(PART_SUFFIX) || name.ends_with(SIDECAR_SUFFIX))
    })
}

/// A temp file [`super::write_atomic`] leaves behind for `target` when killed.
fn is_temp_of(name: &str, target: &str) -> bool {
    name.starts_with(&format!(".{target}.tmp-"))
}

fn refuse(dir: &Path, reason: String) -> StoreError {
    StoreError::UnsafeName {
        what: format!("removing {}", dir.display()),
        reason,
    }
}
