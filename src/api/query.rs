//! What a listing asks for, as values: the parameters of `DescribeBackups`
//! ([`ListQuery`]), `DescribeDBInstances` ([`InstanceFilter`]) and `DescribeClusterBackups`
//! ([`ClusterQuery`]), and the lookback window. Pure: the clients in [`super::client`] and
//! [`super::fleet`] send them.

use std::time::Duration;

use time::OffsetDateTime;
use time::macros::format_description;

/// The API takes at most 20 tags per request.
pub const MAX_TAGS: usize = 20;

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

    /// The request parameters of one page (without the common ones). Pure.
    pub fn params(&self, page_number: u64, page_size: u32) -> Vec<(String, String)> {
        let mut p = vec![
            ("DBInstanceId".to_string(), self.instance_id.clone()),
            ("PageNumber".to_string(), page_number.to_string()),
            ("PageSize".to_string(), page_size.to_string()),
        ];
        let optional = [
            ("NodeId", &self.node_id),
            ("BackupId", &self.backup_id),
            ("BackupJobId", &self.backup_job_id),
            ("SrcRegion", &self.src_region),
            ("DestRegion", &self.dest_region),
            ("ResourceGroupId", &self.resource_group_id),
        ];
        for (name, value) in optional {
            if let Some(v) = value {
                p.push((name.to_string(), v.clone()));
            }
        }
        // The API ignores the window when a BackupId is given; sending both only invites a
        // validation error.
        if let (Some((start, end)), None) = (self.window, &self.backup_id) {
            p.push(("StartTime".to_string(), minute(start)));
            p.push(("EndTime".to_string(), minute(end)));
        }
        p
    }
}

/// `yyyy-MM-ddTHH:mmZ`, the StartTime/EndTime format.
pub fn minute(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .expect("invariant: a UTC date formats")
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

impl InstanceFilter {
    /// The request parameters of one page (without the common ones). Pure.
    pub fn params(&self, page_number: u64, page_size: u32) -> Vec<(String, String)> {
        let mut p = vec![
            ("PageNumber".to_string(), page_number.to_string()),
            ("PageSize".to_string(), page_size.to_string()),
        ];
        if let Some(t) = &self.instance_type {
            p.push(("DBInstanceType".into(), t.clone()));
        }
        if let Some(rg) = &self.resource_group_id {
            p.push(("ResourceGroupId".into(), rg.clone()));
        }
        for (i, (k, v)) in self.tags.iter().take(MAX_TAGS).enumerate() {
            p.push((format!("Tag.{}.Key", i + 1), k.clone()));
            p.push((format!("Tag.{}.Value", i + 1), v.clone()));
        }
        p
    }
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

impl ClusterQuery {
    /// The request parameters of one page (without the common ones). Pure.
    pub fn params(&self, page_no: u64, page_size: u32) -> Vec<(String, String)> {
        let mut p = vec![
            ("DBInstanceId".to_string(), self.instance_id.clone()),
            ("PageNo".to_string(), page_no.to_string()),
            ("PageSize".to_string(), page_size.to_string()),
        ];
        if let Some(id) = &self.backup_id {
            p.push(("BackupId".into(), id.clone()));
        } else if let Some((start, end)) = self.window {
            p.push(("StartTime".into(), minute(start)));
            p.push(("EndTime".into(), minute(end)));
        }
        if let Some(rg) = &self.resource_group_id {
            p.push(("ResourceGroupId".into(), rg.clone()));
        }
        p
    }
}
