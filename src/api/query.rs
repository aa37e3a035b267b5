//! What a listing asks for, as request parameters: those of `DescribeBackups`
//! ([`ListQuery`]), `DescribeDBInstances` ([`InstanceFilter`]) and `DescribeClusterBackups`
//! ([`ClusterQuery`]), whose values live in [`crate::model`]. Pure: the clients in
//! [`super::client`] and [`super::fleet`] send them.

use time::OffsetDateTime;
use time::macros::format_description;

pub use crate::model::{ClusterQuery, InstanceFilter, ListQuery, lookback_window};

/// The API takes at most 20 tags per request.
pub const MAX_TAGS: usize = 20;

impl ListQuery {
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
