//! One cluster backup as `DescribeClusterBackups` reports it: the whole-cluster record and the
//! backup set of each shard node in it. Plain data; the wire spelling (strings where the API has
//! strings) is `wire`'s business.

use time::{Duration, OffsetDateTime};

use super::BackupRecord;

/// A backup of a whole sharded cluster in cluster-backup mode.
///
/// Every node is a [`BackupRecord`] whose `node_id` is the shard id; its object is served by OSS
/// exactly like a per-node backup's (ranges, CRC-64, ETag), and the data set's lookups by backup id
/// find it.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterBackupRecord {
    /// `ClusterBackupId`, e.g. `cb-o8c2ugnxo26kx***`.
    pub id: String,
    /// `ClusterBackupMode`: `Automated` or `Manual`.
    pub mode: String,
    /// `ClusterBackupStatus`: `OK` when every node succeeded, else `Failed` (the full value set is
    /// UNCONFIRMED; the API reference shows only `OK`).
    pub status: String,
    /// `IsAvail` (1/0 on the wire): 0 = some node's set is incomplete or failed.
    pub is_avail: bool,
    /// `AttachLogStatus`: `Init`, `No_Need`, `Running`, `Ready` or `Failed`.
    pub attach_log_status: String,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    /// `BackupExpireTime`; [`super::KEEP_FOREVER`] means kept forever.
    pub expire: OffsetDateTime,
    /// `ClusterBackupSize` in bytes (a string on the wire).
    pub size: u64,
    pub engine_version: String,
    /// `Progress` in percent (a string on the wire).
    pub progress: String,
    /// One backup set per shard.
    pub nodes: Vec<BackupRecord>,
}

impl ClusterBackupRecord {
    /// An automated cluster backup of `nodes` started at `start`. Status, availability, size and
    /// end follow from the nodes: `OK` and available only if every node is a successful,
    /// available backup; the size is their sum; the end is the last node's end (or 2 minutes
    /// after `start` without nodes). Expires 7 days after the start.
    pub fn new(id: &str, start: OffsetDateTime, nodes: Vec<BackupRecord>) -> ClusterBackupRecord {
        let complete = nodes.iter().all(|n| n.status == "Success" && n.is_avail);
        let end = nodes
            .iter()
            .map(|n| n.end)
            .max()
            .unwrap_or(start + Duration::minutes(2));
        ClusterBackupRecord {
            id: id.to_string(),
            mode: "Automated".into(),
            status: if complete { "OK" } else { "Failed" }.into(),
            is_avail: complete,
            attach_log_status: "No_Need".into(),
            start,
            end,
            expire: start + Duration::days(7),
            size: nodes.iter().map(|n| n.size).sum(),
            engine_version: "4.4".into(),
            progress: "100".into(),
            nodes,
        }
    }

    pub fn manual(mut self) -> Self {
        self.mode = "Manual".into();
        self
    }

    pub fn expires(mut self, at: OffsetDateTime) -> Self {
        self.expire = at;
        self
    }

    pub fn engine(mut self, version: &str) -> Self {
        self.engine_version = version.to_string();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn status_size_and_end_follow_the_nodes() {
        let t = datetime!(2030-06-01 12:00:00 UTC);
        let a = BackupRecord::new("1", t, "a.tar.gz", 100).node("d-0");
        let mut b = BackupRecord::new("2", t + Duration::minutes(1), "b.tar.gz", 50).node("d-1");
        b.end = t + Duration::minutes(9);
        let ok = ClusterBackupRecord::new("cb-1", t, vec![a.clone(), b]);
        assert_eq!(
            (ok.status.as_str(), ok.is_avail, ok.size),
            ("OK", true, 150)
        );
        assert_eq!(ok.end, t + Duration::minutes(9));
        let failed =
            ClusterBackupRecord::new("cb-2", t, vec![a, BackupRecord::failed("3", t).node("d-1")]);
        assert_eq!((failed.status.as_str(), failed.is_avail), ("Failed", false));
    }
}
