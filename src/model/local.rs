//! What is on disk, as a value the planner reads: the [`LocalSnapshot`] the store takes once
//! per pass, and what the cloud listed ([`Remote`]). Pure.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use super::{BackupKey, Listed, ListedCluster, LocalCopy, LocalState};

/// One instance, one shard node of a sharded cluster, or the cluster backups of a cluster:
/// what one listing covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    pub instance_id: String,
    pub node_id: Option<String>,
    /// `DescribeClusterBackups` of the instance (then `node_id` is `None`).
    pub cluster: bool,
}

impl BackupKey {
    pub fn target(&self) -> Target {
        Target {
            instance_id: self.instance_id.clone(),
            node_id: if self.cluster {
                None
            } else {
                self.node_id.clone()
            },
            cluster: self.cluster,
        }
    }
}

/// What the cloud listed this pass: every backup with its key, in listing order, and the
/// targets whose listing succeeded (a target that failed to list says nothing about its
/// backups: nothing of it is pruned or cleaned).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Remote {
    pub listed: Vec<Listed>,
    pub targets: BTreeSet<Target>,
    /// The cluster backups listed (their node parts are in `listed`).
    pub clusters: Vec<ListedCluster>,
    /// Each instance's `StorageType`, where a lookup or a discovery said it.
    pub storage: std::collections::BTreeMap<String, String>,
    /// Backups not in the listing that the cloud was asked about by their id (before a copy
    /// goes on the expiry its manifest recorded): what it answered, `None` when it no longer
    /// has the backup.
    pub confirmed: HashMap<BackupKey, Option<super::Backup>>,
}

/// Partial files in a folder without a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StalePartial {
    pub key: BackupKey,
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
}

/// The download dir as one scan saw it: per backup and file name what is there, every copy
/// with a manifest, and the folders that hold only partial files.
#[derive(Debug, Clone, Default)]
pub struct LocalSnapshot {
    pub states: HashMap<(BackupKey, String), LocalState>,
    pub copies: Vec<LocalCopy>,
    pub partials: Vec<StalePartial>,
}

impl LocalSnapshot {
    /// What is on disk for `file_name` of backup `key` (nothing recorded: missing).
    pub fn state(&self, key: &BackupKey, file_name: &str) -> LocalState {
        self.states
            .get(&(key.clone(), file_name.to_string()))
            .cloned()
            .unwrap_or(LocalState::Missing)
    }
}
