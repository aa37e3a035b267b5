//! The domain's values, shared by the pure core and the I/O shell: a [`Backup`] as the program
//! sees it, which backup a copy belongs to ([`BackupKey`], fixed once per listing in
//! [`Listed`]), what is on disk for it ([`LocalState`], [`LocalCopy`], [`Manifest`]), the
//! the scan of the download dir as a value ([`OnDisk`]) and what the cloud listed
//! ([`Remote`]), the object's [`Identity`] and the resume [`Sidecar`], and the format
//! [`Verdict`]. No I/O, no
//! clock: everything else imports these, and this module imports nothing of the program's but
//! [`crate::text`].

mod archived;
mod cluster;
mod export;
mod fleet;
mod identity;
mod local;
mod parts;
mod query;
mod retention;
mod task;

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;

pub use archived::{ArchiveListing, Archived, ArchivedCluster};
pub use cluster::{CLUSTER_MANIFEST, ClusterManifest, ClusterNodeFile, ListedCluster};
pub use export::{
    EXPORT_KINDS, ExportInfo, TASK, TaskRecord, export_file_name, export_file_names, export_kind,
};
pub use fleet::{InstanceInfo, Selected};
pub use identity::{Identity, Likeness, Sidecar};
pub use local::{Holdings, OnDisk, Remote, StalePartial, Target};
pub use parts::PartMap;
pub use query::{ClusterQuery, InstanceFilter, ListQuery, lookback_window};
pub use retention::Rules;
pub use task::{DownloadTask, ExportLink, TaskList, TaskStatus};

/// The file beside every published copy.
pub const MANIFEST: &str = "manifest.json";
/// The largest object OSS stores (10,000 parts of 5 GiB, "48.8 TB"): a listed size above it
/// is a wrong listing, refused at the plan before anything is allocated for it.
pub const MAX_OBJECT_SIZE: u64 = 10_000 * (5 << 30);
/// Data sits under `<file>.part` until it is verified ...
pub const PART_SUFFIX: &str = ".part";
/// ... with the resume sidecar `<file>.part.json` beside it.
pub const SIDECAR_SUFFIX: &str = ".part.json";

/// Why a data file may not have this (sanitised) name: it would collide with the manifest, a
/// partial file, a sidecar or a temp file of this tool's. Pure, for the planner.
pub fn own_file_collision(name: &str) -> Option<String> {
    let temp = name.starts_with('.') && name.contains(".tmp-");
    (name == MANIFEST
        || name == TASK
        || name.ends_with(PART_SUFFIX)
        || name.ends_with(SIDECAR_SUFFIX)
        || temp)
        .then(|| format!("file name {name:?} collides with this tool's own files"))
}

/// Which download URL to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// The intranet URL when it is reachable from this host, else the public one.
    #[default]
    Auto,
    Intranet,
    Public,
}

/// A backup as the rest of the program sees it. Serialises with the API's field names (for the
/// manifest and `--list --json`); download URLs are deliberately not serialised, since they carry
/// a presigned signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Backup {
    pub backup_id: String,
    pub backup_job_id: Option<String>,
    pub backup_status: String,
    pub backup_type: Option<String>,
    pub backup_method: Option<String>,
    pub backup_mode: Option<String>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub backup_start_time: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub backup_end_time: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub backup_expire_time: Option<OffsetDateTime>,
    pub backup_size: Option<u64>,
    #[serde(skip)]
    pub download_url: Option<String>,
    #[serde(skip)]
    pub intranet_download_url: Option<String>,
    #[serde(rename = "BackupDBNames")]
    pub backup_db_names: Option<String>,
    pub backup_name: Option<String>,
    pub backup_scale: Option<String>,
    pub is_avail: bool,
    pub engine_version: Option<String>,
}

impl Backup {
    pub fn is_success(&self) -> bool {
        self.backup_status == "Success"
    }

    /// True when `BackupExpireTime` is the "kept forever" marker (year 9999).
    pub fn is_kept_forever(&self) -> bool {
        self.backup_expire_time.is_some_and(|t| t.year() >= 9999)
    }
}

/// Which backup a local copy belongs to.
///
/// For a cluster backup (`cluster`), `backup_id` is the `ClusterBackupId` and `node_id` the
/// shard whose part this is (the node's own BackupId is in the manifest); the whole cluster
/// backup, the unit retention keeps or removes, is the key without a node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BackupKey {
    pub instance_id: String,
    pub node_id: Option<String>,
    pub backup_id: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cluster: bool,
}

impl BackupKey {
    /// A backup of an instance, or of one shard node listed on its own.
    pub fn node(instance_id: &str, node_id: Option<&str>, backup_id: &str) -> BackupKey {
        BackupKey {
            instance_id: instance_id.to_string(),
            node_id: node_id.map(str::to_string),
            backup_id: backup_id.to_string(),
            cluster: false,
        }
    }

    /// One node's part of a cluster backup (`node` `Some`), or the whole of it (`None`).
    pub fn cluster(instance_id: &str, cluster_id: &str, node_id: Option<&str>) -> BackupKey {
        BackupKey {
            instance_id: instance_id.to_string(),
            node_id: node_id.map(str::to_string),
            backup_id: cluster_id.to_string(),
            cluster: true,
        }
    }

    /// The whole cluster backup this node part belongs to (itself for other keys).
    pub fn unit(&self) -> BackupKey {
        if self.cluster {
            BackupKey {
                node_id: None,
                ..self.clone()
            }
        } else {
            self.clone()
        }
    }

    /// `instance[/node]/backup` (`instance/cluster[/node]` for a cluster backup), for
    /// messages. The backup id comes from the API and is not checked yet when a skipped
    /// backup is reported, so every part is shown as data.
    /// The folder names of this backup's copy, in layout order (`<instance>/[<node>/]<BackupId>`,
    /// a cluster's node `<instance>/<ClusterBackupId>/<node>`), each id checked to be a plain
    /// name first: the one layout the store and the archive share.
    ///
    /// # Errors
    /// Which id (e.g. "node id") could escape its folder, and why.
    pub fn folder_names(&self) -> Result<Vec<&str>, (&'static str, String)> {
        crate::names::check_id("instance id", &self.instance_id).map_err(|r| ("instance id", r))?;
        if let Some(node) = &self.node_id {
            crate::names::check_id("node id", node).map_err(|r| ("node id", r))?;
        }
        let mut parts = vec![self.instance_id.as_str()];
        if self.cluster {
            crate::names::check_cluster_id(&self.backup_id)
                .map_err(|r| ("cluster backup id", r))?;
            parts.push(&self.backup_id);
            parts.extend(self.node_id.as_deref());
        } else {
            crate::names::check_id("backup id", &self.backup_id).map_err(|r| ("backup id", r))?;
            parts.extend(self.node_id.as_deref());
            parts.push(&self.backup_id);
        }
        Ok(parts)
    }

    pub fn label(&self) -> String {
        use crate::text::shown;
        if self.cluster {
            let node = self.node_id.as_deref().map(|n| format!("/{}", shown(n)));
            return format!(
                "{}/{}{}",
                shown(&self.instance_id),
                shown(&self.backup_id),
                node.unwrap_or_default()
            );
        }
        match &self.node_id {
            Some(n) => format!(
                "{}/{}/{}",
                shown(&self.instance_id),
                shown(n),
                shown(&self.backup_id)
            ),
            None => format!("{}/{}", shown(&self.instance_id), shown(&self.backup_id)),
        }
    }
}

/// One listed backup with its identity, computed once per listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub key: BackupKey,
    pub backup: Backup,
    /// Why it must not be copied whatever it says itself (a node of a cluster backup that is
    /// incomplete: the cluster is one unit).
    pub refused: Option<String>,
}

/// What is recorded beside every published file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub instance_id: String,
    pub node_id: Option<String>,
    /// Set for one node's part of a cluster backup: its `ClusterBackupId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_backup_id: Option<String>,
    /// The backup's API fields as listed (download URLs excluded: they carry signatures).
    pub backup: Backup,
    pub file: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
    /// CRC-64/XZ of the file, as OSS's `x-oss-hash-crc64ecma` (decimal).
    pub crc64: String,
    /// Whether OSS sent a CRC header that was checked.
    pub crc64_checked: bool,
    /// What the format check says of the bytes; absent in manifests written before verdicts
    /// existed (the next `--verify` records one).
    #[serde(default)]
    pub format_verdict: Option<Verdict>,
    /// For `damaged` and `unrecognised`: what the check found, and at which byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_detail: Option<String>,
    /// Set by a scrub that found the bytes no longer match this manifest (rot): the copy is no
    /// longer up to date, so the next pass fetches it again, and the metrics count it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rot: Option<Rot>,
    /// For a snapshot exported by a DBS download task: the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<ExportInfo>,
    #[serde(with = "time::serde::rfc3339")]
    pub downloaded_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub verified_at: OffsetDateTime,
}

impl Manifest {
    /// When the backup was taken, for ages and "newest" (the listing's end time, else its start
    /// time, else when this copy was verified).
    pub fn taken(&self) -> OffsetDateTime {
        self.backup
            .backup_end_time
            .or(self.backup.backup_start_time)
            .unwrap_or(self.verified_at)
    }

    pub fn key(&self) -> BackupKey {
        match &self.cluster_backup_id {
            Some(cb) => BackupKey::cluster(&self.instance_id, cb, self.node_id.as_deref()),
            None => BackupKey::node(
                &self.instance_id,
                self.node_id.as_deref(),
                &self.backup.backup_id,
            ),
        }
    }
}

/// What is on disk for one backup.
#[derive(Debug, Clone, PartialEq)]
pub enum LocalState {
    /// Published with a readable manifest and the recorded size. Only the size: the manifest
    /// itself is in the snapshot's copies once, not a second time per file (issue #21).
    Complete {
        size: u64,
    },
    /// A partial file of this many bytes.
    Partial(u64),
    Missing,
}

/// A folder of this tool's, found by `Store::scan`.
#[derive(Debug, Clone)]
pub struct LocalCopy {
    pub dir: PathBuf,
    /// The manifest, or why it could not be read (a corrupt manifest is reported, never pruned).
    pub manifest: Result<Manifest, String>,
}

/// What a scrub found wrong with a copy's bytes, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rot {
    #[serde(with = "time::serde::rfc3339")]
    pub found_at: OffsetDateTime,
    /// The first problem found, and how many there were.
    pub problem: String,
    #[serde(default)]
    pub problems: u64,
}

/// A time as the API and the logs spell it: `yyyy-MM-ddTHH:mm:ssZ` (UTC).
pub fn timestamp(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .expect("invariant: a UTC date formats")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Unrecognised,
    Damaged,
    NotChecked,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Ok => "ok",
            Verdict::Unrecognised => "unrecognised",
            Verdict::Damaged => "damaged",
            Verdict::NotChecked => "not checked",
        })
    }
}

/// A verdict and, for `unrecognised` and `damaged`, what the check found and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatVerdict {
    pub verdict: Verdict,
    pub detail: Option<String>,
}
