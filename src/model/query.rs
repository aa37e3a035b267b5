//! What a listing asks for, as values: one instance or shard node ([`ListQuery`]), the
//! instances of a region ([`InstanceFilter`]), the cluster backups of an instance
//! ([`ClusterQuery`]), and the lookback window. Their request parameters are built in
//! `api::query`. Pure.

use std::time::Duration;

use time::OffsetDateTime;

/// What to list: one instance, or one shard node of a sharded instance, plus the spec's filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    pub instance_id: String,
    pub node_id: Option<String>,
    pub backup_id: Option<String>,
    pub backup_job_id: Option<String>,
    /// StartTime/EndTime, sent with minute precision (UTC).
    pub window: Option<(OffsetDateTime, OffsetDateTime)>,
    pub src_region: Option<String>,
    pub dest_region: Option<String>,
    pub resource_group_id: Option<String>,
}

impl ListQuery {
    /// `instance` or `instance/node`, for messages.
    pub fn target(&self) -> String {
        match &self.node_id {
            Some(node) => format!("{}/{}", self.instance_id, node),
            None => self.instance_id.clone(),
        }
    }
}

/// The lookback window ending now: `[now - lookback, now + 1 minute)`, minute precision.
/// The end is rounded up so a backup that started this minute is included.
pub fn lookback_window(
    now: OffsetDateTime,
    lookback: Duration,
) -> (OffsetDateTime, OffsetDateTime) {
    let floor = now
        .replace_second(0)
        .and_then(|t| t.replace_nanosecond(0))
        .unwrap_or(now);
    let end = floor + Duration::from_secs(60);
    (end - lookback, end)
}

/// What `DescribeDBInstances` is asked for; the region is the client's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceFilter {
    /// `DBInstanceType`: `sharding` or `replicate`; `None`: both.
    pub instance_type: Option<String>,
    /// `Tag.N.Key` / `Tag.N.Value`: every one must match.
    pub tags: Vec<(String, String)>,
    pub resource_group_id: Option<String>,
}

/// What `DescribeClusterBackups` is asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterQuery {
    pub instance_id: String,
    /// One cluster backup (its `ClusterBackupId`), for refreshing URLs.
    pub backup_id: Option<String>,
    pub window: Option<(OffsetDateTime, OffsetDateTime)>,
    pub resource_group_id: Option<String>,
}
