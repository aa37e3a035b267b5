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

/// What one `[[discover]]` block selected this pass, and how many it must (`expect_at_least`):
/// fewer fails the pass, and the count is a metric, so a discovery that finds nothing is never
/// silent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    pub block: usize,
    pub region: String,
    pub selected: usize,
    pub expected: usize,
}

impl Selected {
    /// `discover[N] (region)`, as messages name a block.
    pub fn label(&self) -> String {
        format!("discover[{}] ({})", self.block, self.region)
    }

    pub fn too_few(&self) -> bool {
        self.selected < self.expected
    }

    /// Why a block that selected too few fails the pass, and what to check.
    pub fn problem(&self) -> String {
        format!(
            "selected {} instances, fewer than expect_at_least = {}: check its region, tags, \
             id_pattern and description_pattern against the instances there (a typo, or a \
             re-tagged fleet); set expect_at_least = 0 if an empty block is expected",
            self.selected, self.expected
        )
    }
}
