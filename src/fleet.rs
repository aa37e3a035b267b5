//! The fleet as values: which instances a pass covers (configured ones, and those the
//! `[[discover]]` blocks found), how each is listed ([`Shape`]: as one instance, per shard
//! node, or by its cluster backups), and the listing queries that follow.
//!
//! Pure: what the API said comes in as [`InstanceInfo`], `now` as an argument. The calls
//! themselves are in [`crate::listing`].

use std::fmt;

use time::OffsetDateTime;

use crate::config::{DiscoverSettings, InstanceSettings, InstanceType, Region};
use crate::model::{ClusterQuery, InstanceFilter, InstanceInfo, ListQuery, lookback_window};
use crate::names;

/// Where an instance of the pass came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Configured,
    Discovered,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Configured => "configured",
            Source::Discovered => "discovered",
        })
    }
}

/// One instance the pass covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub settings: InstanceSettings,
    pub source: Source,
    /// What `DescribeDBInstances` said of it (discovered instances only).
    pub found: Option<InstanceInfo>,
}

/// How an instance is listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// `DescribeBackups` of the instance (a replica set, or a type not known).
    Plain,
    /// `DescribeBackups` per shard node; `discovered`: the ids came from the API this pass.
    Nodes { ids: Vec<String>, discovered: bool },
    /// `DescribeClusterBackups`: a sharded cluster on cloud disks in cluster-backup mode.
    Cluster,
}

/// One listing to make.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    Backups(ListQuery),
    Clusters(ClusterQuery),
}

impl Query {
    /// `instance`, `instance/node` or `instance (cluster backups)`, for messages.
    pub fn target(&self) -> String {
        match self {
            Query::Backups(q) => q.target(),
            Query::Clusters(q) => format!("{} (cluster backups)", q.instance_id),
        }
    }

    pub fn instance_id(&self) -> &str {
        match self {
            Query::Backups(q) => &q.instance_id,
            Query::Clusters(q) => &q.instance_id,
        }
    }
}

/// The `DescribeDBInstances` requests of a block (the region is the client's): one per
/// instance type, since the API lists only replica sets when `DBInstanceType` is left out.
pub fn filters(d: &DiscoverSettings) -> Vec<InstanceFilter> {
    let types = match d.instance_type {
        Some(t) => vec![t],
        None => vec![InstanceType::Replicate, InstanceType::Sharding],
    };
    types
        .into_iter()
        .map(|t| InstanceFilter {
            instance_type: Some(t.api_name().to_string()),
            tags: d.tags.clone(),
            resource_group_id: d.resource_group_id.clone(),
        })
        .collect()
}

/// Whether a block selects an instance the API returned. The API filtered by type, tags and
/// resource group already; they are checked again here so a server that ignores a filter
/// cannot widen the fleet. The patterns are only checked here.
pub fn selects(d: &DiscoverSettings, info: &InstanceInfo) -> bool {
    let type_ok = d.instance_type.is_none_or(|t| match t {
        InstanceType::Sharding => info.is_sharded(),
        InstanceType::Replicate => !info.is_sharded(),
    });
    let tags_ok = d.tags.iter().all(|want| info.tags.contains(want));
    let rg_ok = d
        .resource_group_id
        .as_ref()
        .is_none_or(|rg| info.resource_group_id.as_ref() == Some(rg));
    let id_ok = d
        .id_pattern
        .as_ref()
        .is_none_or(|p| names::glob(p, &info.id));
    let desc_ok = d
        .description_pattern
        .as_ref()
        .is_none_or(|p| names::glob(p, &info.description));
    type_ok && tags_ok && rg_ok && id_ok && desc_ok
}

/// The instances of the pass: every configured one, then every discovered one not configured
/// (a configured entry wins over a discovered one with the same id; the first block that
/// finds an instance wins over later ones). `found` is per block, in block order.
pub fn members(
    configured: &[InstanceSettings],
    blocks: &[DiscoverSettings],
    found: &[(usize, Vec<InstanceInfo>)],
) -> Vec<Member> {
    let mut out: Vec<Member> = configured
        .iter()
        .map(|s| Member {
            settings: s.clone(),
            source: Source::Configured,
            found: None,
        })
        .collect();
    // A set of the ids taken, not a search of `out` per instance: discovery of 100,000
    // instances spent a minute of CPU here before the first listing (issue #21).
    let mut taken: std::collections::HashSet<String> =
        configured.iter().map(|s| s.id.clone()).collect();
    for (block, infos) in found {
        let Some(d) = blocks.get(*block) else {
            continue;
        };
        for info in infos.iter().filter(|i| selects(d, i)) {
            if !taken.insert(info.id.clone()) {
                continue;
            }
            out.push(Member {
                settings: discovered_settings(d, &info.id),
                source: Source::Discovered,
                found: Some(info.clone()),
            });
        }
    }
    out
}

fn discovered_settings(d: &DiscoverSettings, id: &str) -> InstanceSettings {
    InstanceSettings {
        id: id.to_string(),
        region: d.region.clone(),
        node_ids: Vec::new(),
        lookback: d.lookback,
        src_region: None,
        dest_region: None,
        resource_group_id: d.resource_group_id.clone(),
    }
}

/// Whether `DescribeDBInstanceAttribute` must say how to list the instance: its nodes are not
/// configured, and it may be sharded (a configured instance of unknown type, or a discovered
/// sharded one, whose backup mode only that call tells).
pub fn needs_attribute(m: &Member) -> bool {
    m.settings.node_ids.is_empty() && m.found.as_ref().is_none_or(InstanceInfo::is_sharded)
}

/// How to list a member, from what the API said of it (`attribute`: this pass's
/// `DescribeDBInstanceAttribute`, when it answered). Configured node ids win.
pub fn shape(m: &Member, attribute: Option<&InstanceInfo>) -> Shape {
    if !m.settings.node_ids.is_empty() {
        return Shape::Nodes {
            ids: m.settings.node_ids.clone(),
            discovered: false,
        };
    }
    match attribute.or(m.found.as_ref()) {
        Some(i) if i.use_cluster_backup => Shape::Cluster,
        Some(i) if i.is_sharded() && !i.shards.is_empty() => Shape::Nodes {
            ids: i.shards.clone(),
            discovered: true,
        },
        _ => Shape::Plain,
    }
}

/// The listings of one member, with the lookback window ending at `now`.
pub fn queries(m: &Member, shape: &Shape, now: OffsetDateTime) -> Vec<Query> {
    let s = &m.settings;
    let window = Some(lookback_window(now, s.lookback));
    let base = ListQuery {
        instance_id: s.id.clone(),
        window,
        src_region: s.src_region.clone(),
        dest_region: s.dest_region.clone(),
        resource_group_id: s.resource_group_id.clone(),
        ..ListQuery::default()
    };
    match shape {
        Shape::Plain => vec![Query::Backups(base)],
        Shape::Nodes { ids, .. } => ids
            .iter()
            .map(|node| {
                Query::Backups(ListQuery {
                    node_id: Some(node.clone()),
                    ..base.clone()
                })
            })
            .collect(),
        Shape::Cluster => vec![Query::Clusters(ClusterQuery {
            instance_id: s.id.clone(),
            backup_id: None,
            window,
            resource_group_id: s.resource_group_id.clone(),
        })],
    }
}

/// The region every listing of `m` goes to (`None`: `[api]`'s).
pub fn region(m: &Member) -> Option<&Region> {
    m.settings.region.as_ref()
}

#[cfg(test)]
mod tests;
