//! The emulator's data set: instances, their backups (per node or per cluster) and the objects
//! behind the download URLs.
//!
//! Owns the domain records the fake API serves and the default demo data set. It holds plain data
//! only: no HTTP, no clock (the demo takes `now` as an argument), no content bytes (those are
//! generated on demand by `content`), no wire spelling (that is `wire`'s). The pieces:
//! [`Dataset`] and [`Instance`] here; `backup` ([`BackupRecord`], [`ObjectSpec`]); `cluster`
//! ([`ClusterBackupRecord`]); `dbs` (the DBS download tasks: [`DbsScript`], [`DownloadTasks`]);
//! `demo` ([`Dataset::demo`] and the `DEMO_*` names); `times`.

mod backup;
mod cluster;
mod dbs;
mod demo;
mod times;

use time::{Duration, OffsetDateTime};

pub use backup::{BackupRecord, ContentFormat, KEEP_FOREVER, ObjectSpec, object_name};
pub use cluster::ClusterBackupRecord;
pub use dbs::{
    Blocked, DEFAULT_EXPORT_SIZE, DbsScript, DownloadStatus, DownloadTask, DownloadTasks, NewTask,
    TASK_LIFETIME,
};
pub use demo::{
    DEMO_CLUSTER, DEMO_CLUSTER_SHARDS, DEMO_DISK, DEMO_REGION, DEMO_REGION_2, DEMO_REPLICA,
    DEMO_SHARDED, DEMO_SHARDS,
};
pub use times::{fmt_minutes, fmt_seconds, parse_minutes, parse_seconds, unix_millis};

/// The region an instance is in unless told otherwise.
pub const DEFAULT_REGION: &str = "cn-hangzhou";
/// The resource group an instance is in unless told otherwise (the account's default group).
pub const DEFAULT_RESOURCE_GROUP: &str = "rg-acfmemulator0001";

/// Everything the emulated account owns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    pub instances: Vec<Instance>,
}

/// One ApsaraDB for MongoDB instance: what `DescribeDBInstances` / `DescribeDBInstanceAttribute`
/// report about it, and its backups.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// `DBInstanceId`, e.g. `dds-demo-replica`.
    pub id: String,
    pub kind: InstanceKind,
    /// Per-node backups (`DescribeBackups`). Newest first or not: the API sorts on the way out.
    pub backups: Vec<BackupRecord>,
    /// `RegionId`; calls naming another region do not see the instance.
    pub region_id: String,
    /// `ZoneId`, e.g. `cn-hangzhou-h`.
    pub zone_id: String,
    /// `DBInstanceDescription` (the console name); may be empty.
    pub description: String,
    /// `StorageType`: `local_ssd`, `cloud_essd1`, `cloud_essd2`, ...
    pub storage_type: String,
    pub resource_group_id: String,
    /// `Tags.Tag[]` as (key, value), in order.
    pub tags: Vec<(String, String)>,
    /// `EngineVersion`, e.g. `4.4`.
    pub engine_version: String,
    /// `DBInstanceStatus`, e.g. `Running`.
    pub status: String,
    /// `DBInstanceClass` of a replica set, `NodeClass` of each shard of a cluster.
    pub node_class: String,
    /// `DBInstanceStorage` of a replica set, `NodeStorage` of each shard (GB).
    pub storage_gb: u32,
    /// `UseClusterBackup`: the cluster is backed up as a whole (`DescribeClusterBackups`).
    pub use_cluster_backup: bool,
    /// Cluster backups (`DescribeClusterBackups`); only served in cluster-backup mode.
    pub cluster_backups: Vec<ClusterBackupRecord>,
    /// How DBS download tasks of this instance behave.
    pub dbs: DbsScript,
}

/// Replica sets answer without `NodeId`; sharded clusters require one of their shard ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstanceKind {
    ReplicaSet,
    Sharded { shards: Vec<String> },
}

impl Dataset {
    pub fn new() -> Self {
        Dataset::default()
    }

    pub fn instance(&self, id: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.id == id)
    }

    pub fn instance_mut(&mut self, id: &str) -> Option<&mut Instance> {
        self.instances.iter_mut().find(|i| i.id == id)
    }

    /// Adds (or replaces, by id) an instance.
    pub fn add_instance(&mut self, instance: Instance) -> &mut Instance {
        self.instances.retain(|i| i.id != instance.id);
        self.instances.push(instance);
        let last = self.instances.len() - 1;
        &mut self.instances[last]
    }

    /// Finds a backup by id in any instance: per-node backups and the nodes of cluster backups.
    pub fn backup(&self, backup_id: &str) -> Option<(&Instance, &BackupRecord)> {
        self.instances.iter().find_map(|i| {
            i.all_backups()
                .find(|b| b.backup_id == backup_id)
                .map(|b| (i, b))
        })
    }

    pub fn backup_mut(&mut self, backup_id: &str) -> Option<&mut BackupRecord> {
        self.instances
            .iter_mut()
            .flat_map(Instance::all_backups_mut)
            .find(|b| b.backup_id == backup_id)
    }

    /// The backup whose object is `name` under `instance`, as the OSS side sees it.
    pub fn object(&self, instance: &str, name: &str) -> Option<&BackupRecord> {
        self.instance(instance)?
            .all_backups()
            .find(|b| b.object.as_ref().is_some_and(|o| o.name == name))
    }
}

impl Instance {
    pub fn replica_set(id: &str) -> Instance {
        Instance::with_kind(id, InstanceKind::ReplicaSet, "dds.mongo.mid")
    }

    pub fn sharded(id: &str, shards: &[&str]) -> Instance {
        let shards = shards.iter().map(|s| s.to_string()).collect();
        Instance::with_kind(
            id,
            InstanceKind::Sharded { shards },
            "mdb.shard.2x.xlarge.d",
        )
    }

    fn with_kind(id: &str, kind: InstanceKind, node_class: &str) -> Instance {
        Instance {
            id: id.to_string(),
            kind,
            backups: Vec::new(),
            region_id: DEFAULT_REGION.into(),
            zone_id: zone_of(DEFAULT_REGION),
            description: String::new(),
            storage_type: "local_ssd".into(),
            resource_group_id: DEFAULT_RESOURCE_GROUP.into(),
            tags: Vec::new(),
            engine_version: "4.2".into(),
            status: "Running".into(),
            node_class: node_class.into(),
            storage_gb: 20,
            use_cluster_backup: false,
            cluster_backups: Vec::new(),
            dbs: DbsScript::default(),
        }
    }

    /// Moves the instance to `region` (and a zone in it).
    pub fn region(mut self, region: &str) -> Self {
        self.region_id = region.to_string();
        self.zone_id = zone_of(region);
        self
    }

    pub fn description(mut self, text: &str) -> Self {
        self.description = text.to_string();
        self
    }

    /// `StorageType`, e.g. `cloud_essd1`.
    pub fn storage(mut self, storage_type: &str) -> Self {
        self.storage_type = storage_type.to_string();
        self
    }

    pub fn resource_group(mut self, id: &str) -> Self {
        self.resource_group_id = id.to_string();
        self
    }

    /// Adds a tag. Keys are not checked for uniqueness (the real service allows one value per key).
    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.tags.push((key.to_string(), value.to_string()));
        self
    }

    pub fn engine(mut self, version: &str) -> Self {
        self.engine_version = version.to_string();
        self
    }

    pub fn status(mut self, status: &str) -> Self {
        self.status = status.to_string();
        self
    }

    /// Cluster-backup mode (`UseClusterBackup` true): backups are listed by
    /// `DescribeClusterBackups`, per-node `DescribeBackups` lists nothing. Meaningful for sharded
    /// clusters on cloud disks only; pair it with [`Instance::storage`].
    pub fn cluster_mode(mut self) -> Self {
        self.use_cluster_backup = true;
        self
    }

    pub fn cluster_backup(mut self, backup: ClusterBackupRecord) -> Self {
        self.cluster_backups.push(backup);
        self
    }

    /// How DBS download tasks of this instance behave (failures, pace, link lifetime, support).
    pub fn dbs(mut self, script: DbsScript) -> Self {
        self.dbs = script;
        self
    }

    /// `DescribeDownloadSupport`: cloud-disk instances (`cloud_*` storage) unless scripted
    /// otherwise.
    pub fn supports_download(&self) -> bool {
        self.storage_type.starts_with("cloud_") && !self.dbs.unsupported
    }

    /// The shard ids of a sharded cluster; empty for a replica set.
    pub fn shards(&self) -> &[String] {
        match &self.kind {
            InstanceKind::ReplicaSet => &[],
            InstanceKind::Sharded { shards } => shards,
        }
    }

    pub fn is_sharded(&self) -> bool {
        matches!(self.kind, InstanceKind::Sharded { .. })
    }

    /// Every backup whose object OSS may serve: per-node backups, then the nodes of cluster backups.
    pub fn all_backups(&self) -> impl Iterator<Item = &BackupRecord> {
        self.backups
            .iter()
            .chain(self.cluster_backups.iter().flat_map(|c| c.nodes.iter()))
    }

    fn all_backups_mut(&mut self) -> impl Iterator<Item = &mut BackupRecord> {
        self.backups.iter_mut().chain(
            self.cluster_backups
                .iter_mut()
                .flat_map(|c| c.nodes.iter_mut()),
        )
    }

    /// Adds `count` successful physical backups an hour apart, newest at `newest`, with ids from
    /// `first_id` upwards: enough rows to exercise paging.
    pub fn with_generated(
        self,
        count: u64,
        first_id: u64,
        newest: OffsetDateTime,
        size: u64,
    ) -> Instance {
        self.with_generated_every(count, first_id, newest, size, Duration::hours(1))
    }

    /// [`Instance::with_generated`], `every` apart.
    pub fn with_generated_every(
        self,
        count: u64,
        first_id: u64,
        newest: OffsetDateTime,
        size: u64,
        every: Duration,
    ) -> Instance {
        self.with_series(count, first_id, newest, every, |id, start| {
            let name = object_name(&format!("hins{first_id}"), start, &format!("_{id}_qp.xb"));
            BackupRecord::new(id, start, &name, size)
        })
    }

    /// Adds `count` daily `Snapshot` backups (no URLs), newest at `newest`, ids from `first_id`
    /// upwards: what a cloud-disk instance lists.
    pub fn with_snapshots(
        self,
        count: u64,
        first_id: u64,
        newest: OffsetDateTime,
        size: u64,
    ) -> Instance {
        self.with_series(count, first_id, newest, Duration::days(1), |id, start| {
            BackupRecord::snapshot(id, start, size)
        })
    }

    /// `count` backups `every` apart, newest at `newest`, ids (and job ids) from `first_id` up.
    fn with_series(
        mut self,
        count: u64,
        first_id: u64,
        newest: OffsetDateTime,
        every: Duration,
        make: impl Fn(&str, OffsetDateTime) -> BackupRecord,
    ) -> Instance {
        for n in 0..count {
            let id = (first_id + n).to_string();
            let start = newest - every * (n as i32);
            self.backups.push(make(&id, start).job(&id));
        }
        self
    }
}

/// A zone of `region` (the real ones are `<region>-<letter>`).
fn zone_of(region: &str) -> String {
    format!("{region}-h")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn lookups_reach_cluster_backup_nodes() {
        let t = datetime!(2030-06-01 12:00:00 UTC);
        let node = BackupRecord::new("n1", t, "hins1_data_1.tar.gz", 10).node("d-s0");
        let failed = BackupRecord::failed("n2", t).node("d-s1");
        let inst = Instance::sharded("dds-c", &["d-s0", "d-s1"])
            .cluster_mode()
            .cluster_backup(ClusterBackupRecord::new("cb-1", t, vec![node, failed]));
        let mut d = Dataset::new();
        d.add_instance(inst);
        assert_eq!(d.backup("n1").map(|(i, _)| i.id.as_str()), Some("dds-c"));
        assert_eq!(
            d.object("dds-c", "hins1_data_1.tar.gz")
                .map(|b| b.backup_id.as_str()),
            Some("n1")
        );
        assert!(d.backup_mut("n2").is_some());
        assert!(d.backup("nope").is_none());
    }

    #[test]
    fn builders_set_the_listing_fields() {
        let i = Instance::sharded("dds-x", &["d-a"])
            .region("cn-shanghai")
            .storage("cloud_essd1")
            .tag("env", "prod")
            .description("orders")
            .resource_group("rg-1")
            .cluster_mode();
        assert_eq!(
            (i.region_id.as_str(), i.zone_id.as_str()),
            ("cn-shanghai", "cn-shanghai-h")
        );
        assert_eq!(i.storage_type, "cloud_essd1");
        assert_eq!(i.tags, vec![("env".to_string(), "prod".to_string())]);
        assert!(i.use_cluster_backup && i.is_sharded());
        assert_eq!(i.shards(), ["d-a".to_string()]);
        let r = Instance::replica_set("dds-r");
        assert_eq!(
            (r.region_id.as_str(), r.storage_type.as_str()),
            (DEFAULT_REGION, "local_ssd")
        );
        assert!(r.shards().is_empty() && !r.use_cluster_backup);
    }
}
