//! Why a listed backup is not downloaded: the plan's reasons, each shown as the operator reads
//! it in the log and in `--dry-run`.

use std::fmt;

use crate::text::shown;

/// Why a listed backup is not downloaded. `Display` shows the API's text as data
/// ([`crate::text::shown`]): this reason is logged and printed by `--dry-run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    NotSuccess(String),
    Unavailable,
    Expired(String),
    NoUrl(&'static str),
    BadUrl(String),
    BadName(String),
    NoSize,
    /// `BackupSize` 0: an empty file would count as the newest verified copy (hiding the age
    /// alert, protected by `keep_last`) without a byte ever checked.
    ZeroSize,
    /// Larger than any object OSS stores: a buggy or hostile listing (issue #21).
    TooBig(u64),
    Duplicate,
    /// A node of a cluster backup that cannot be copied whole.
    Cluster(String),
    /// A snapshot backup (no download URL) that this configuration does not export.
    Snapshot(&'static str),
    /// A snapshot backup of an instance on local disks (its `StorageType`): DBS exports only
    /// cloud-disk instances' snapshots, so no (billed) task is asked for.
    NotCloudDisk(String),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::NotSuccess(s) => write!(f, "status is {}, not Success", shown(s)),
            SkipReason::Unavailable => f.write_str("IsAvail is false"),
            SkipReason::Expired(t) => write!(f, "expired at {t}"),
            SkipReason::NoUrl(which) => {
                write!(f, "no {which} download URL (snapshot backups have none)")
            }
            SkipReason::BadUrl(r) => write!(f, "unusable download URL: {}", shown(r)),
            SkipReason::BadName(r) => write!(f, "unsafe name: {}", shown(r)),
            SkipReason::NoSize => {
                f.write_str("no BackupSize, so the download could not be verified")
            }
            SkipReason::ZeroSize => {
                f.write_str("BackupSize is 0: there is nothing to verify a copy against")
            }
            SkipReason::TooBig(size) => write!(
                f,
                "BackupSize {size} is larger than any object OSS stores ({}); the listing is wrong",
                crate::units::human_bytes(crate::model::MAX_OBJECT_SIZE)
            ),
            SkipReason::Duplicate => f.write_str("listed twice; the first entry is used"),
            SkipReason::Cluster(r) => {
                write!(f, "{r}; a cluster backup is copied whole or not at all")
            }
            SkipReason::Snapshot(r) => write!(f, "snapshot backup without a download URL: {r}"),
            SkipReason::NotCloudDisk(t) => write!(
                f,
                "snapshot backup without a download URL, of an instance on {} (not cloud disks): DBS exports only cloud-disk instances' snapshots",
                shown(t)
            ),
        }
    }
}
