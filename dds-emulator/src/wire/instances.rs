//! Wire shapes of `DescribeDBInstances` and `DescribeDBInstanceAttribute`: one instance struct for
//! both, with the attribute-only fields optional.
//!
//! JSON types follow the SDK models (`DescribeDBInstancesResponseBody*`,
//! `DescribeDBInstanceAttributeResponseBody*`): `NodeStorage`, `ReadonlyReplicas` (of a shard),
//! `DBInstanceStorage` and `Port` are numbers, `ReplicationFactor` is a string, `UseClusterBackup`
//! a bool. Node ids the data set does not hold (mongos, config server) are derived from the
//! instance id, so they are stable.

use serde::Serialize;

use crate::data::Instance;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct InstancesResponse {
    pub request_id: String,
    pub total_count: usize,
    pub page_number: u32,
    pub page_size: u32,
    #[serde(rename = "DBInstances")]
    pub db_instances: DbInstances,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AttributeResponse {
    pub request_id: String,
    #[serde(rename = "DBInstances")]
    pub db_instances: DbInstances,
}

#[derive(Serialize)]
pub(crate) struct DbInstances {
    #[serde(rename = "DBInstance")]
    pub db_instance: Vec<DbInstanceJson>,
}

/// One instance. `None` fields are left out: the shard, mongos and config-server lists of a
/// replica set, the class and storage of a cluster (it has them per node), and every
/// attribute-only field in a `DescribeDBInstances` row.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DbInstanceJson {
    #[serde(rename = "DBInstanceId")]
    db_instance_id: String,
    /// `sharding` or `replicate`.
    #[serde(rename = "DBInstanceType")]
    db_instance_type: &'static str,
    #[serde(rename = "DBInstanceDescription")]
    db_instance_description: String,
    #[serde(rename = "DBInstanceStatus")]
    db_instance_status: String,
    #[serde(rename = "DBInstanceClass", skip_serializing_if = "Option::is_none")]
    db_instance_class: Option<String>,
    #[serde(rename = "DBInstanceStorage", skip_serializing_if = "Option::is_none")]
    db_instance_storage: Option<u32>,
    engine: &'static str,
    engine_version: String,
    storage_type: String,
    region_id: String,
    zone_id: String,
    resource_group_id: String,
    charge_type: &'static str,
    network_type: &'static str,
    lock_mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    replication_factor: Option<String>,
    tags: Tags,
    #[serde(skip_serializing_if = "Option::is_none")]
    shard_list: Option<ShardList>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mongos_list: Option<MongosList>,
    // DescribeDBInstanceAttribute only.
    #[serde(skip_serializing_if = "Option::is_none")]
    use_cluster_backup: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    storage_engine: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replica_set_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    configserver_list: Option<ConfigserverList>,
}

#[derive(Serialize)]
struct Tags {
    #[serde(rename = "Tag")]
    tag: Vec<TagJson>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TagJson {
    key: String,
    value: String,
}

#[derive(Serialize)]
struct ShardList {
    #[serde(rename = "ShardAttribute")]
    shard_attribute: Vec<ShardAttribute>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ShardAttribute {
    node_id: String,
    node_class: String,
    node_storage: u32,
    node_description: String,
    readonly_replicas: u32,
}

#[derive(Serialize)]
struct MongosList {
    #[serde(rename = "MongosAttribute")]
    mongos_attribute: Vec<NodeAttribute>,
}

#[derive(Serialize)]
struct ConfigserverList {
    #[serde(rename = "ConfigserverAttribute")]
    configserver_attribute: Vec<NodeAttribute>,
}

/// A mongos or config-server node.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct NodeAttribute {
    node_id: String,
    node_class: &'static str,
    node_description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    node_storage: Option<u32>,
    port: u16,
    status: &'static str,
}

impl DbInstanceJson {
    /// A `DescribeDBInstances` row, or with `detail` the `DescribeDBInstanceAttribute` element.
    pub fn new(i: &Instance, detail: bool) -> DbInstanceJson {
        let sharded = i.is_sharded();
        let base = i.id.strip_prefix("dds-").unwrap_or(&i.id);
        DbInstanceJson {
            db_instance_id: i.id.clone(),
            db_instance_type: if sharded { "sharding" } else { "replicate" },
            db_instance_description: i.description.clone(),
            db_instance_status: i.status.clone(),
            db_instance_class: (!sharded).then(|| i.node_class.clone()),
            db_instance_storage: (!sharded).then_some(i.storage_gb),
            engine: "MongoDB",
            engine_version: i.engine_version.clone(),
            storage_type: i.storage_type.clone(),
            region_id: i.region_id.clone(),
            zone_id: i.zone_id.clone(),
            resource_group_id: i.resource_group_id.clone(),
            charge_type: "PostPaid",
            network_type: "VPC",
            lock_mode: "Unlock",
            replication_factor: (!sharded).then(|| "3".to_string()),
            tags: Tags {
                tag: i
                    .tags
                    .iter()
                    .map(|(key, value)| TagJson {
                        key: key.clone(),
                        value: value.clone(),
                    })
                    .collect(),
            },
            shard_list: sharded.then(|| shard_list(i)),
            mongos_list: sharded.then(|| mongos_list(base)),
            use_cluster_backup: detail.then_some(i.use_cluster_backup),
            storage_engine: detail.then_some("WiredTiger"),
            replica_set_name: (detail && !sharded).then(|| format!("mgset-{base}")),
            configserver_list: (detail && sharded).then(|| ConfigserverList {
                configserver_attribute: vec![NodeAttribute {
                    node_id: format!("{}-cs", i.id),
                    node_class: "dds.cs.mid",
                    node_description: String::new(),
                    node_storage: Some(20),
                    port: 3717,
                    status: "Running",
                }],
            }),
        }
    }
}

fn shard_list(i: &Instance) -> ShardList {
    ShardList {
        shard_attribute: i
            .shards()
            .iter()
            .map(|id| ShardAttribute {
                node_id: id.clone(),
                node_class: i.node_class.clone(),
                node_storage: i.storage_gb,
                node_description: String::new(),
                readonly_replicas: 0,
            })
            .collect(),
    }
}

/// Two mongos, `s-<id without dds->-<n>`.
fn mongos_list(base: &str) -> MongosList {
    MongosList {
        mongos_attribute: (0..2)
            .map(|n| NodeAttribute {
                node_id: format!("s-{base}-{n}"),
                node_class: "dds.mongos.mid",
                node_description: String::new(),
                node_storage: None,
                port: 3717,
                status: "Running",
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_follow_the_sdk_model() {
        let i = Instance::sharded("dds-x", &["d-x-0"]).tag("env", "prod");
        let v = serde_json::to_value(DbInstanceJson::new(&i, true)).unwrap();
        assert_eq!(v["DBInstanceType"], "sharding");
        let shard = &v["ShardList"]["ShardAttribute"][0];
        assert_eq!(shard["NodeId"], "d-x-0");
        assert!(shard["NodeStorage"].is_u64() && shard["ReadonlyReplicas"].is_u64());
        assert_eq!(v["MongosList"]["MongosAttribute"][0]["NodeId"], "s-x-0");
        assert_eq!(
            v["ConfigserverList"]["ConfigserverAttribute"][0]["NodeId"],
            "dds-x-cs"
        );
        assert_eq!(v["UseClusterBackup"], false);
        assert_eq!(v["Tags"]["Tag"][0]["Value"], "prod");
        assert!(v.get("DBInstanceClass").is_none() && v.get("ReplicaSetName").is_none());

        let r = serde_json::to_value(DbInstanceJson::new(&Instance::replica_set("dds-r"), false))
            .unwrap();
        assert_eq!(r["DBInstanceType"], "replicate");
        assert!(r["ReplicationFactor"].is_string() && r["DBInstanceStorage"].is_u64());
        for absent in [
            "ShardList",
            "MongosList",
            "UseClusterBackup",
            "ConfigserverList",
        ] {
            assert!(r.get(absent).is_none(), "{absent}");
        }
        assert_eq!(r["Tags"]["Tag"], serde_json::json!([]));
    }
}
