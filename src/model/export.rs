//! A snapshot backup's export through a DBS download task, as values: the task record this tool
//! keeps in the backup's folder (`task.json`) so that a restart, or a second host reading the
//! same record, never creates a second task for the same backup, and what the manifest of an
//! exported copy says of its task.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The task record's file name, in the backup's folder beside `manifest.json`.
pub const TASK: &str = "task.json";

/// What an export's archive may be, by extension: the name of DBS's object is UNCONFIRMED and
/// a service may ignore `UseZstd`, so the first bytes tell which ([`export_kind`]).
pub const EXPORT_KINDS: [&str; 3] = ["tar.zst", "tar.gz", "tar"];

/// The file name an exported snapshot is published under when its first bytes do not say
/// otherwise (the tool asks DBS for zstd).
pub fn export_file_name(backup_id: &str) -> String {
    format!("{backup_id}.{}", EXPORT_KINDS[0])
}

/// Every name an exported snapshot of `backup_id` may have been published under.
pub fn export_file_names(backup_id: &str) -> Vec<String> {
    EXPORT_KINDS
        .iter()
        .map(|k| format!("{backup_id}.{k}"))
        .collect()
}

/// The kind of archive `head` (its first bytes, 262 or more to see a tar header) starts: zstd
/// (`28 B5 2F FD`), gzip (`1F 8B`) or tar (`ustar` at offset 257); `None`: none of them.
pub fn export_kind(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(EXPORT_KINDS[0])
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Some(EXPORT_KINDS[1])
    } else if head.get(257..262) == Some(b"ustar") {
        Some(EXPORT_KINDS[2])
    } else {
        None
    }
}

/// What this tool knows of one snapshot's download task. Written before `CreateDownload` is
/// sent (without a task id), again with the id DBS answered, and on every status change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub format: u32,
    pub instance_id: String,
    pub backup_id: String,
    pub region_id: String,
    /// `None`: `CreateDownload` may have been sent, but its answer was never recorded (a
    /// crash, a lost answer): the next pass looks the backup set's tasks up before creating.
    pub task_id: Option<String>,
    /// The last `DownloadStatus` seen, or `creating` before any answer.
    pub status: String,
    /// `RetryDownloadTask` calls made for this task, over all passes.
    pub retries: u32,
    /// The service's last word on a failure, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl TaskRecord {
    /// The record written just before `CreateDownload`.
    pub fn creating(
        instance_id: &str,
        backup_id: &str,
        region_id: &str,
        now: OffsetDateTime,
    ) -> TaskRecord {
        TaskRecord {
            format: 1,
            instance_id: instance_id.to_string(),
            backup_id: backup_id.to_string(),
            region_id: region_id.to_string(),
            task_id: None,
            status: "creating".into(),
            retries: 0,
            message: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// The manifest's word on an exported copy: which task made the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportInfo {
    /// `dbs`: a DBS download task.
    pub service: String,
    pub task_id: String,
    /// `ExportDataSize` as DBS reported it (recorded, not checked: its meaning is not
    /// documented precisely enough to compare with the archive's size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_data_size: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exports_kind_is_told_by_its_first_bytes() {
        assert_eq!(export_kind(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Some("tar.zst"));
        assert_eq!(export_kind(&[0x1f, 0x8b, 8]), Some("tar.gz"));
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(export_kind(&tar), Some("tar"));
        assert_eq!(export_kind(b"PK\x03\x04"), None);
        assert_eq!(export_kind(&[]), None);
        assert_eq!(export_file_names("7"), ["7.tar.zst", "7.tar.gz", "7.tar"]);
    }
}
