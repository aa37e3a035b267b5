//! Wire shapes of `DescribeClusterBackups`.
//!
//! Types follow the SDK model (`DescribeClusterBackupsResponseBody*`), which differs from
//! `DescribeBackups` in ways a client must not paper over: the cluster's `IsAvail` is a number
//! (1/0) but a node's `IsAvail` is a *string* ("1"/"0"); `ClusterBackupSize`, a node's
//! `BackupSize` and `StorageSize` are strings; both `ExtraInfo`s are objects (the API reference
//! calls the cluster one a JSON string, the SDK parses an object with `RegistryFromHistory`).
//! There is no `TotalCount`.

use serde::Serialize;

use crate::data::{BackupRecord, ClusterBackupRecord, Instance, fmt_seconds};

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ClusterBackupsResponse {
    pub request_id: String,
    /// Entries on this page (UNCONFIRMED: the model says "the maximum number of entries returned
    /// in this request").
    pub max_results: usize,
    pub page_number: u32,
    pub page_size: u32,
    pub cluster_backups: Vec<ClusterBackupJson>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ClusterBackupJson {
    cluster_backup_id: String,
    cluster_backup_mode: String,
    cluster_backup_status: String,
    is_avail: u8,
    attach_log_status: String,
    cluster_backup_start_time: String,
    cluster_backup_end_time: String,
    cluster_backup_size: String,
    backup_expire_time: String,
    engine_version: String,
    progress: String,
    extra_info: ClusterExtraInfo,
    /// Left out with `IsOnlyGetClusterBackUp=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    backups: Option<Vec<NodeBackupJson>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ClusterExtraInfo {
    /// "1": migrated from a historical (pre-cluster-mode) backup.
    registry_from_history: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct NodeBackupJson {
    backup_id: String,
    backup_name: String,
    /// The shard id (`d-...`).
    instance_name: String,
    #[serde(rename = "BackupDownloadURL")]
    backup_download_url: String,
    #[serde(rename = "BackupIntranetDownloadURL")]
    backup_intranet_download_url: String,
    backup_size: String,
    backup_status: String,
    is_avail: String,
    backup_start_time: String,
    backup_end_time: String,
    extra_info: NodeExtraInfo,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct NodeExtraInfo {
    node_id: String,
    node_type: &'static str,
    instance_class: String,
    /// MB.
    storage_size: String,
}

impl ClusterBackupJson {
    /// `urls(node)` gives a node's `(public, intranet)` URLs (empty strings without an object);
    /// `nodes: false` leaves the per-node sets out.
    pub fn new(
        i: &Instance,
        c: &ClusterBackupRecord,
        nodes: bool,
        urls: impl Fn(&BackupRecord) -> (String, String),
    ) -> ClusterBackupJson {
        ClusterBackupJson {
            cluster_backup_id: c.id.clone(),
            cluster_backup_mode: c.mode.clone(),
            cluster_backup_status: c.status.clone(),
            is_avail: u8::from(c.is_avail),
            attach_log_status: c.attach_log_status.clone(),
            cluster_backup_start_time: fmt_seconds(c.start),
            cluster_backup_end_time: fmt_seconds(c.end),
            cluster_backup_size: c.size.to_string(),
            backup_expire_time: fmt_seconds(c.expire),
            engine_version: c.engine_version.clone(),
            progress: c.progress.clone(),
            extra_info: ClusterExtraInfo {
                registry_from_history: "0",
            },
            backups: nodes.then(|| c.nodes.iter().map(|b| node(i, b, urls(b))).collect()),
        }
    }
}

fn node(i: &Instance, b: &BackupRecord, (public, intranet): (String, String)) -> NodeBackupJson {
    let shard = b.node_id.clone().unwrap_or_default();
    let avail = b.is_avail && b.status == "Success";
    NodeBackupJson {
        backup_id: b.backup_id.clone(),
        backup_name: b.backup_name.clone(),
        instance_name: shard.clone(),
        backup_download_url: public,
        backup_intranet_download_url: intranet,
        backup_size: b.size.to_string(),
        backup_status: b.status.clone(),
        is_avail: if avail { "1" } else { "0" }.to_string(),
        backup_start_time: fmt_seconds(b.start),
        backup_end_time: fmt_seconds(b.end),
        extra_info: NodeExtraInfo {
            node_id: shard,
            node_type: "db",
            instance_class: i.node_class.clone(),
            storage_size: (u64::from(i.storage_gb) * 1024).to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn strings_where_the_sdk_has_strings() {
        let t = datetime!(2030-06-01 12:00:00 UTC);
        let i = Instance::sharded("dds-c", &["d-0", "d-1"]).cluster_mode();
        let c = ClusterBackupRecord::new(
            "cb-1",
            t,
            vec![
                BackupRecord::new("1", t, "a.tar.gz", 100).node("d-0"),
                BackupRecord::failed("2", t).node("d-1"),
            ],
        );
        let urls = |b: &BackupRecord| match b.object {
            Some(_) => ("pub".to_string(), "int".to_string()),
            None => (String::new(), String::new()),
        };
        let v = serde_json::to_value(ClusterBackupJson::new(&i, &c, true, urls)).unwrap();
        assert_eq!(v["IsAvail"], 0);
        assert_eq!(v["ClusterBackupSize"], "100");
        assert_eq!(v["ClusterBackupStatus"], "Failed");
        assert!(v["ExtraInfo"].is_object());
        let [ok, failed] = v["Backups"].as_array().unwrap().as_slice() else {
            panic!("two nodes");
        };
        assert_eq!(
            (&ok["BackupSize"], &ok["IsAvail"]),
            (&"100".into(), &"1".into())
        );
        assert_eq!(ok["InstanceName"], "d-0");
        assert_eq!(ok["ExtraInfo"]["NodeType"], "db");
        assert_eq!(ok["ExtraInfo"]["StorageSize"], "20480");
        assert_eq!(failed["BackupIntranetDownloadURL"], "");
        assert_eq!(
            (&failed["BackupStatus"], &failed["IsAvail"]),
            (&"Failed".into(), &"0".into())
        );
        let bare = serde_json::to_value(ClusterBackupJson::new(&i, &c, false, urls)).unwrap();
        assert!(bare.get("Backups").is_none());
    }
}
