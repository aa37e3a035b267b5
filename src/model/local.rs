//! What is on disk, as a value the planner reads: the [`OnDisk`] the store takes once
//! per pass, and what the cloud listed ([`Remote`]). Pure.

use std::collections::{BTreeMap, BTreeSet, HashMap};
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
pub struct OnDisk {
    pub states: HashMap<(BackupKey, String), LocalState>,
    pub copies: Vec<LocalCopy>,
    pub partials: Vec<StalePartial>,
}

impl OnDisk {
    /// What is on disk for `file_name` of backup `key` (nothing recorded: missing).
    pub fn state(&self, key: &BackupKey, file_name: &str) -> LocalState {
        self.states
            .get(&(key.clone(), file_name.to_string()))
            .cloned()
            .unwrap_or(LocalState::Missing)
    }

    /// Records a copy published this pass (replacing what its folder held), so the steps after
    /// the downloads read the copies without walking the disk again.
    pub fn published(&mut self, dir: PathBuf, manifest: super::Manifest) {
        let copy = LocalCopy {
            dir,
            manifest: Ok(manifest),
        };
        match self.copies.iter_mut().find(|c| c.dir == copy.dir) {
            Some(old) => *old = copy,
            None => self.copies.push(copy),
        }
    }

    /// Forgets the copies in `dirs` (removed by the prune), and every copy beneath them.
    pub fn removed(&mut self, dirs: &[PathBuf]) {
        self.copies
            .retain(|c| !dirs.iter().any(|d| c.dir.starts_with(d)));
    }
}

/// What the metrics show of the local copies, counted in one read of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holdings {
    /// Per (instance, node): the newest copy's backup time (Unix seconds) and the copies.
    pub newest: BTreeMap<(String, String), (i64, u64)>,
    /// Per (instance, node): copies whose format verdict is `damaged`, `unrecognised`.
    pub verdicts: BTreeMap<(String, String), (u64, u64)>,
    /// What the scrubs found and no pass has fixed yet (and copies damaged at the source).
    pub problems: u64,
}

impl Holdings {
    pub fn of(copies: &[LocalCopy]) -> Holdings {
        use super::Verdict;
        let mut out = Holdings::default();
        for m in copies.iter().filter_map(|c| c.manifest.as_ref().ok()) {
            let at = (m.instance_id.clone(), m.node_id.clone().unwrap_or_default());
            let v = out.verdicts.entry(at.clone()).or_default();
            match m.format_verdict {
                Some(Verdict::Damaged) => v.0 += 1,
                Some(Verdict::Unrecognised) => v.1 += 1,
                _ => {}
            }
            out.problems += match (&m.rot, m.format_verdict) {
                (Some(rot), _) => rot.problems.max(1),
                (None, Some(Verdict::Damaged)) => 1,
                _ => 0,
            };
            let end = m.taken().unix_timestamp();
            let entry = out.newest.entry(at).or_insert((end, 0));
            entry.0 = entry.0.max(end);
            entry.1 += 1;
        }
        out
    }
}
