//! Cluster backups as values: what a listing said of one ([`ListedCluster`]) and the
//! `cluster-manifest.json` written once every node's file is verified ([`ClusterManifest`]).
//! Pure.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{BackupKey, Manifest};

/// Written in `<dir>/<instance>/<ClusterBackupId>/`, last.
pub const CLUSTER_MANIFEST: &str = "cluster-manifest.json";

/// One cluster backup as listed: its node parts and, when it cannot be copied, why.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedCluster {
    /// The whole cluster backup ([`BackupKey::cluster`] without a node).
    pub unit: BackupKey,
    /// Every node part the listing named, in its order.
    pub nodes: Vec<BackupKey>,
    /// Why none of it is downloaded (`IsAvail` 0, a failed node, an entry not understood).
    pub problem: Option<String>,
    pub status: String,
    pub start: Option<OffsetDateTime>,
    pub end: Option<OffsetDateTime>,
    pub expire: Option<OffsetDateTime>,
    pub size: Option<u64>,
}

/// One node's verified file, as the cluster manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterNodeFile {
    pub node_id: String,
    pub backup_id: String,
    pub file: String,
    pub size: u64,
    pub sha256: String,
}

/// `cluster-manifest.json`: the cluster backup is complete here, every node file verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterManifest {
    pub format: u32,
    pub instance_id: String,
    pub cluster_backup_id: String,
    pub status: String,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub start: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub end: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub expire: Option<OffsetDateTime>,
    pub size: Option<u64>,
    pub nodes: Vec<ClusterNodeFile>,
    #[serde(with = "time::serde::rfc3339")]
    pub sealed_at: OffsetDateTime,
}

impl ClusterNodeFile {
    /// Whether `copy` (a node copy's manifest, here or in the archive) is this very file.
    pub fn is_copy(&self, copy: &Manifest) -> bool {
        copy.backup.backup_id == self.backup_id
            && copy.file == self.file
            && copy.size == self.size
            && copy.sha256 == self.sha256
    }
}

impl ClusterManifest {
    /// The cluster backup it seals ([`BackupKey::cluster`] without a node).
    pub fn unit(&self) -> BackupKey {
        BackupKey::cluster(&self.instance_id, &self.cluster_backup_id, None)
    }

    /// The manifest for `cluster` when `manifests` (what is on disk for its nodes, in any
    /// order) hold a verified, up-to-date copy of every node part; else why not.
    ///
    /// # Errors
    /// The listing found a problem, named no node, or a node has no verified copy here.
    pub fn seal(
        cluster: &ListedCluster,
        manifests: &[Manifest],
        now: OffsetDateTime,
    ) -> Result<ClusterManifest, String> {
        if let Some(p) = &cluster.problem {
            return Err(p.clone());
        }
        if cluster.nodes.is_empty() {
            return Err("the listing named no node backup".into());
        }
        let distinct: std::collections::HashSet<&BackupKey> = cluster.nodes.iter().collect();
        if distinct.len() != cluster.nodes.len() {
            return Err("the listing names a node twice".into());
        }
        let mut nodes = Vec::with_capacity(cluster.nodes.len());
        for key in &cluster.nodes {
            let m = manifests
                .iter()
                .find(|m| m.key() == *key && m.rot.is_none())
                .ok_or_else(|| format!("node {} has no verified copy yet", key.label()))?;
            nodes.push(ClusterNodeFile {
                node_id: key.node_id.clone().unwrap_or_default(),
                backup_id: m.backup.backup_id.clone(),
                file: m.file.clone(),
                size: m.size,
                sha256: m.sha256.clone(),
            });
        }
        Ok(ClusterManifest {
            format: 1,
            instance_id: cluster.unit.instance_id.clone(),
            cluster_backup_id: cluster.unit.backup_id.clone(),
            status: cluster.status.clone(),
            start: cluster.start,
            end: cluster.end,
            expire: cluster.expire,
            size: cluster.size,
            nodes,
            sealed_at: now,
        })
    }

    /// Whether it names exactly the nodes `cluster` lists (a seal of another set of nodes says
    /// nothing about this listing's cluster backup: withdrawn).
    pub fn names_exactly(&self, cluster: &ListedCluster) -> bool {
        let sealed: std::collections::BTreeSet<&str> =
            self.nodes.iter().map(|n| n.node_id.as_str()).collect();
        let listed: std::collections::BTreeSet<&str> = cluster
            .nodes
            .iter()
            .filter_map(|k| k.node_id.as_deref())
            .collect();
        sealed == listed && self.nodes.len() == cluster.nodes.len()
    }

    /// Says the same as `other` but for when it was written (nothing to rewrite).
    pub fn same_as(&self, other: &ClusterManifest) -> bool {
        ClusterManifest {
            sealed_at: other.sealed_at,
            ..self.clone()
        } == *other
    }
}
