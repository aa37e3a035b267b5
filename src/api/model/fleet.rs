//! The wire types of the fleet actions, `DescribeDBInstances`, `DescribeDBInstanceAttribute`
//! and `DescribeClusterBackups`, and their conversion into plain values
//! ([`InstanceInfo`], [`ClusterBackup`]). Field names and types follow the official SDK models
//! (`shared/docs/alibaba-fleet.md`); like [`super::parse_page`] every field is read leniently
//! (a number where a string is documented, and the other way round) and a wrong one is named.
//! No I/O.

use serde_json::Value;
use time::OffsetDateTime;

use super::{Backup, ModelError, WireBackup, as_bool, as_text, as_u64, parse_time};
pub use crate::model::InstanceInfo;

/// A `DescribeDBInstances` page.
#[derive(Debug, Clone, Default)]
pub struct InstancePage {
    pub request_id: String,
    pub total_count: u64,
    pub instances: Vec<InstanceInfo>,
    pub rejected: Vec<ModelError>,
}

/// One node's backup inside a cluster backup.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterNode {
    /// The shard (`InstanceName`, else `ExtraInfo.NodeId`).
    pub node_id: String,
    /// The node's backup; its `BackupExpireTime` is the cluster backup's.
    pub backup: Backup,
}

/// One cluster backup of a sharded cluster on cloud disks: one unit of retention.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterBackup {
    pub id: String,
    pub status: String,
    pub is_avail: bool,
    pub start: Option<OffsetDateTime>,
    pub end: Option<OffsetDateTime>,
    pub expire: Option<OffsetDateTime>,
    pub size: Option<u64>,
    pub nodes: Vec<ClusterNode>,
    /// Node entries that could not be understood: the cluster backup is then incomplete.
    pub rejected: Vec<ModelError>,
}

/// A `DescribeClusterBackups` page (no `TotalCount`: the caller pages until a short page).
#[derive(Debug, Clone, Default)]
pub struct ClusterPage {
    pub request_id: String,
    pub page_size: u64,
    pub backups: Vec<ClusterBackup>,
    pub rejected: Vec<ModelError>,
}

fn body(what: &'static str, bytes: &[u8]) -> Result<Value, ModelError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| ModelError::Shape {
        what,
        reason: e.to_string(),
    })?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(ModelError::Shape {
            what,
            reason: "not a JSON object".into(),
        })
    }
}

fn text_at(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(|x| as_text(x).ok())
        .filter(|s| !s.is_empty())
}

/// `{"Outer": {"Inner": [..]}}`, the SDK's list wrapping; absent is empty.
fn nested<'a>(v: &'a Value, outer: &str, inner: &str) -> &'a [Value] {
    v.get(outer)
        .and_then(|o| o.get(inner))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn instance(v: &Value) -> Result<InstanceInfo, ModelError> {
    let id = text_at(v, "DBInstanceId").ok_or_else(|| ModelError::Field {
        backup_id: "?".into(),
        field: "DBInstanceId",
        reason: "missing".into(),
    })?;
    let tags = nested(v, "Tags", "Tag")
        .iter()
        .filter_map(|t| Some((text_at(t, "Key")?, text_at(t, "Value").unwrap_or_default())))
        .collect();
    let shards = nested(v, "ShardList", "ShardAttribute")
        .iter()
        .filter_map(|s| text_at(s, "NodeId"))
        .collect();
    let use_cluster_backup = match v.get("UseClusterBackup") {
        None | Some(Value::Null) => false,
        Some(b) => as_bool(b).map_err(|reason| ModelError::Field {
            backup_id: id.clone(),
            field: "UseClusterBackup",
            reason,
        })?,
    };
    Ok(InstanceInfo {
        instance_type: text_at(v, "DBInstanceType"),
        description: text_at(v, "DBInstanceDescription").unwrap_or_default(),
        storage_type: text_at(v, "StorageType"),
        region_id: text_at(v, "RegionId"),
        resource_group_id: text_at(v, "ResourceGroupId"),
        tags,
        shards,
        use_cluster_backup,
        id,
    })
}

/// Decodes a `DescribeDBInstances` page.
///
/// # Errors
/// Not JSON, or no usable `TotalCount`. A bad instance entry lands in `rejected`.
pub fn parse_instances(bytes: &[u8]) -> Result<InstancePage, ModelError> {
    const WHAT: &str = "DescribeDBInstances";
    let v = body(WHAT, bytes)?;
    let total_count = v
        .get("TotalCount")
        .ok_or_else(|| "missing".to_string())
        .and_then(as_u64)
        .map_err(|reason| ModelError::PageField {
            field: "TotalCount",
            reason,
        })?;
    let (instances, rejected) = nested(&v, "DBInstances", "DBInstance")
        .iter()
        .map(instance)
        .partition::<Vec<_>, _>(Result::is_ok);
    Ok(InstancePage {
        request_id: text_at(&v, "RequestId").unwrap_or_default(),
        total_count,
        instances: instances.into_iter().flatten().collect(),
        rejected: rejected.into_iter().filter_map(Result::err).collect(),
    })
}

/// Decodes a `DescribeDBInstanceAttribute` answer: its one instance.
///
/// # Errors
/// Not JSON, no instance in it, or an instance without an id.
pub fn parse_attribute(bytes: &[u8]) -> Result<InstanceInfo, ModelError> {
    const WHAT: &str = "DescribeDBInstanceAttribute";
    let v = body(WHAT, bytes)?;
    let first = nested(&v, "DBInstances", "DBInstance")
        .first()
        .ok_or_else(|| ModelError::PageField {
            field: "DBInstances",
            reason: "no instance in the answer".into(),
        })?;
    instance(first)
}

fn time_at(v: &Value, key: &'static str, id: &str) -> Result<Option<OffsetDateTime>, ModelError> {
    text_at(v, key)
        .map(|s| parse_time(&s))
        .transpose()
        .map_err(|reason| ModelError::Field {
            backup_id: id.to_string(),
            field: key,
            reason,
        })
}

fn node(v: &Value, cluster: &ClusterBackup) -> Result<ClusterNode, ModelError> {
    let wire: WireBackup = serde_json::from_value(v.clone()).map_err(|e| ModelError::Field {
        backup_id: cluster.id.clone(),
        field: "Backups",
        reason: e.to_string(),
    })?;
    let mut backup = Backup::try_from(wire)?;
    let node_id = text_at(v, "InstanceName")
        .or_else(|| v.get("ExtraInfo").and_then(|x| text_at(x, "NodeId")))
        .ok_or_else(|| ModelError::Field {
            backup_id: backup.backup_id.clone(),
            field: "InstanceName",
            reason: "missing (the node the backup belongs to)".into(),
        })?;
    // A node's entry carries no expiry of its own: the cluster backup expires as a whole.
    backup.backup_expire_time = cluster.expire;
    Ok(ClusterNode { node_id, backup })
}

fn cluster(v: &Value) -> Result<ClusterBackup, ModelError> {
    let id = text_at(v, "ClusterBackupId").ok_or_else(|| ModelError::Field {
        backup_id: "?".into(),
        field: "ClusterBackupId",
        reason: "missing".into(),
    })?;
    let field = |field: &'static str| {
        let id = id.clone();
        move |reason: String| ModelError::Field {
            backup_id: id,
            field,
            reason,
        }
    };
    let is_avail = match v.get("IsAvail") {
        None | Some(Value::Null) => false,
        Some(b) => as_bool(b).map_err(field("IsAvail"))?,
    };
    let size = match v.get("ClusterBackupSize") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(n) => Some(as_u64(n).map_err(field("ClusterBackupSize"))?),
    };
    let mut out = ClusterBackup {
        status: text_at(v, "ClusterBackupStatus").unwrap_or_default(),
        is_avail,
        start: time_at(v, "ClusterBackupStartTime", &id)?,
        end: time_at(v, "ClusterBackupEndTime", &id)?,
        expire: time_at(v, "BackupExpireTime", &id)?,
        size,
        nodes: Vec::new(),
        rejected: Vec::new(),
        id,
    };
    let entries = v.get("Backups").and_then(Value::as_array).cloned();
    for entry in entries.unwrap_or_default() {
        match node(&entry, &out) {
            Ok(n) => out.nodes.push(n),
            Err(e) => out.rejected.push(e),
        }
    }
    Ok(out)
}

/// Decodes a `DescribeClusterBackups` page.
///
/// # Errors
/// Not JSON, or `ClusterBackups` is not a list. A bad cluster entry lands in `rejected`.
pub fn parse_cluster_page(bytes: &[u8]) -> Result<ClusterPage, ModelError> {
    const WHAT: &str = "DescribeClusterBackups";
    let v = body(WHAT, bytes)?;
    let entries = match v.get("ClusterBackups") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => {
            return Err(ModelError::PageField {
                field: "ClusterBackups",
                reason: "not a list".into(),
            });
        }
    };
    let page_size = v
        .get("PageSize")
        .map(as_u64)
        .transpose()
        .map_err(|reason| ModelError::PageField {
            field: "PageSize",
            reason,
        })?
        .unwrap_or(0);
    let (backups, rejected) = entries
        .iter()
        .map(cluster)
        .partition::<Vec<_>, _>(Result::is_ok);
    Ok(ClusterPage {
        request_id: text_at(&v, "RequestId").unwrap_or_default(),
        page_size,
        backups: backups.into_iter().flatten().collect(),
        rejected: rejected.into_iter().filter_map(Result::err).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_page_reads_the_sdk_shape() {
        let body = br#"{"RequestId":"R","TotalCount":2,"PageNumber":1,"PageSize":30,
          "DBInstances":{"DBInstance":[
            {"DBInstanceId":"dds-a","DBInstanceType":"replicate","StorageType":"local_ssd",
             "RegionId":"cn-hangzhou","Tags":{"Tag":[{"Key":"env","Value":"prod"}]}},
            {"DBInstanceId":"dds-b","DBInstanceType":"sharding","StorageType":"cloud_essd1",
             "ShardList":{"ShardAttribute":[{"NodeId":"d-1","NodeStorage":20},{"NodeId":"d-2"}]}},
            {"DBInstanceType":"replicate"}]}}"#;
        let page = parse_instances(body).unwrap();
        assert_eq!(page.total_count, 2);
        assert_eq!(page.instances.len(), 2);
        assert_eq!(page.rejected.len(), 1, "the entry without an id");
        assert_eq!(page.instances[0].tags, [("env".into(), "prod".into())]);
        assert!(!page.instances[0].is_sharded());
        assert_eq!(page.instances[1].shards, ["d-1", "d-2"]);
        assert!(page.instances[1].is_sharded());
        assert!(
            parse_instances(br#"{"DBInstances":{}}"#).is_err(),
            "no TotalCount"
        );
        assert!(parse_instances(b"[]").is_err());
    }

    #[test]
    fn attribute_says_cluster_backup_mode() {
        let body = br#"{"DBInstances":{"DBInstance":[{"DBInstanceId":"dds-c",
          "DBInstanceType":"sharding","UseClusterBackup":true,"StorageType":"cloud_essd1",
          "ShardList":{"ShardAttribute":[{"NodeId":"d-1"}]}}]}}"#;
        let info = parse_attribute(body).unwrap();
        assert!(info.use_cluster_backup);
        assert_eq!(info.shards, ["d-1"]);
        assert!(parse_attribute(br#"{"DBInstances":{"DBInstance":[]}}"#).is_err());
    }

    #[test]
    fn cluster_backups_take_strings_where_the_sdk_has_them() {
        let body = br#"{"PageSize":30,"PageNumber":1,"ClusterBackups":[
          {"ClusterBackupId":"cb-1","ClusterBackupStatus":"OK","IsAvail":1,
           "ClusterBackupStartTime":"2026-11-30T01:00:00Z","ClusterBackupEndTime":"2026-11-30T01:10:00Z",
           "ClusterBackupSize":"2048","BackupExpireTime":"2026-12-07T01:00:00Z",
           "Backups":[
             {"BackupId":"5001","InstanceName":"d-1","BackupStatus":"Success","IsAvail":"1",
              "BackupSize":"1024","BackupDownloadURL":"https://x/a.tar.gz","BackupIntranetDownloadURL":"",
              "BackupStartTime":"2026-11-30T01:00:00Z","BackupEndTime":"2026-11-30T01:05:00Z",
              "ExtraInfo":{"NodeId":"d-1","NodeType":"db"}},
             {"BackupId":"5002","BackupStatus":"Failed","IsAvail":"0","BackupSize":"0",
              "ExtraInfo":{"NodeId":"d-2"}},
             {"BackupId":"5003","BackupStatus":"Success","IsAvail":"maybe","InstanceName":"d-3"}]}]}"#;
        let page = parse_cluster_page(body).unwrap();
        let c = &page.backups[0];
        assert_eq!(
            (c.id.as_str(), c.is_avail, c.size),
            ("cb-1", true, Some(2048))
        );
        assert_eq!(c.nodes.len(), 2);
        assert_eq!(c.nodes[0].node_id, "d-1");
        assert_eq!(c.nodes[0].backup.backup_size, Some(1024));
        assert!(c.nodes[0].backup.is_avail);
        assert_eq!(c.nodes[0].backup.backup_expire_time, c.expire);
        assert_eq!(c.nodes[0].backup.intranet_download_url, None);
        assert_eq!(c.nodes[1].node_id, "d-2", "from ExtraInfo");
        assert!(!c.nodes[1].backup.is_success());
        assert_eq!(c.rejected.len(), 1, "IsAvail \"maybe\"");
        assert!(parse_cluster_page(br#"{"ClusterBackups":{}}"#).is_err());
        assert!(
            parse_cluster_page(br#"{"RequestId":"R"}"#)
                .unwrap()
                .backups
                .is_empty()
        );
    }
}
