//! What the fleet calls say of an instance, as a plain value ([`InstanceInfo`]); the wire
//! types and their conversion stay in `api::model::fleet`. Pure.

/// One instance as `DescribeDBInstances` or `DescribeDBInstanceAttribute` describe it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceInfo {
    pub id: String,
    /// `sharding`, `replicate` (or another value the API adds later).
    pub instance_type: Option<String>,
    pub description: String,
    /// `local_ssd`, `cloud_essd1`, ...
    pub storage_type: Option<String>,
    pub region_id: Option<String>,
    pub resource_group_id: Option<String>,
    pub tags: Vec<(String, String)>,
    /// `ShardList.ShardAttribute[].NodeId`, in the API's order.
    pub shards: Vec<String>,
    /// `UseClusterBackup` (only `DescribeDBInstanceAttribute` says it).
    pub use_cluster_backup: bool,
}

impl InstanceInfo {
    pub fn is_sharded(&self) -> bool {
        self.instance_type.as_deref() == Some("sharding") || !self.shards.is_empty()
    }
}
