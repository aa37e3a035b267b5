//! Lists every configured target (an instance, or each shard node of a sharded instance)
//! through the paging client. Used by `--list` and by the sync pass.
//!
//! Expanding the configuration into queries is pure ([`queries`]); [`list_targets`] is the
//! thin I/O around it. A target that fails does not stop the others.

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::api::client::{self, ApiClient, ListQuery, Listing};
use crate::api::error::ApiError;
use crate::config::InstanceSettings;
use crate::model::{BackupKey, Listed, Remote, Target};

/// One query per instance, or per shard node, with the lookback window ending at `now`.
pub fn queries(instances: &[InstanceSettings], now: OffsetDateTime) -> Vec<ListQuery> {
    let mut out = Vec::new();
    for inst in instances {
        let base = ListQuery {
            instance_id: inst.id.clone(),
            window: Some(client::lookback_window(now, inst.lookback)),
            src_region: inst.src_region.clone(),
            dest_region: inst.dest_region.clone(),
            resource_group_id: inst.resource_group_id.clone(),
            ..ListQuery::default()
        };
        if inst.node_ids.is_empty() {
            out.push(base);
        } else {
            out.extend(inst.node_ids.iter().map(|node| ListQuery {
                node_id: Some(node.clone()),
                ..base.clone()
            }));
        }
    }
    out
}

/// The outcome of listing one target.
#[derive(Debug)]
pub struct TargetListing {
    pub query: ListQuery,
    pub result: Result<Listing, ApiError>,
}

/// Lists every target, one after another (the API throttles per account; listing is cheap
/// next to downloading).
pub async fn list_targets(api: &ApiClient, queries: Vec<ListQuery>) -> Vec<TargetListing> {
    list_targets_until(api, queries, &CancellationToken::new()).await
}

/// [`list_targets`], stopping at once when `cancel` fires, even in the middle of a retry wait:
/// the targets not listed by then are left out (and so nothing of theirs is pruned).
pub async fn list_targets_until(
    api: &ApiClient,
    queries: Vec<ListQuery>,
    cancel: &CancellationToken,
) -> Vec<TargetListing> {
    let mut out = Vec::with_capacity(queries.len());
    for query in queries {
        let result = tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            result = api.list_all(&query) => result,
        };
        if let Err(e) = &result {
            tracing::error!(target = %query.target(), "listing failed: {e}");
        }
        out.push(TargetListing { query, result });
    }
    out
}

/// The listings as the planner sees them, and what went wrong on the way.
#[derive(Debug, Default)]
pub struct Gathered {
    /// Every listed backup once with its key, and the targets that listed.
    pub remote: Remote,
    /// Targets whose listing failed (`instance[/node]`, why).
    pub failures: Vec<(String, ApiError)>,
    /// Entries the API described badly (skipped, each with a reason logged by the client).
    pub rejected: usize,
}

/// Turns the listings into [`Listed`] backups, each keyed once here (instance, node and
/// BackupId), and the targets that listed successfully.
pub fn gather(listings: Vec<TargetListing>) -> Gathered {
    let mut out = Gathered::default();
    for l in listings {
        match l.result {
            Ok(listing) => {
                out.rejected += listing.rejected.len();
                out.remote.targets.insert(Target {
                    instance_id: l.query.instance_id.clone(),
                    node_id: l.query.node_id.clone(),
                });
                out.remote
                    .listed
                    .extend(listing.backups.into_iter().map(|backup| Listed {
                        key: BackupKey {
                            instance_id: l.query.instance_id.clone(),
                            node_id: l.query.node_id.clone(),
                            backup_id: backup.backup_id.clone(),
                        },
                        backup,
                    }));
            }
            Err(e) => out.failures.push((l.query.target(), e)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use time::macros::datetime;

    #[test]
    fn sharded_instances_expand_per_node() {
        let inst = |id: &str, nodes: &[&str]| InstanceSettings {
            id: id.into(),
            node_ids: nodes.iter().map(|s| s.to_string()).collect(),
            lookback: Duration::from_secs(3600),
            src_region: None,
            dest_region: None,
            resource_group_id: Some("rg-1".into()),
        };
        let qs = queries(
            &[inst("dds-a", &[]), inst("dds-b", &["d-0", "d-1"])],
            datetime!(2026-11-28 12:00 UTC),
        );
        let targets: Vec<String> = qs.iter().map(ListQuery::target).collect();
        assert_eq!(targets, ["dds-a", "dds-b/d-0", "dds-b/d-1"]);
        assert!(
            qs.iter()
                .all(|q| q.resource_group_id.as_deref() == Some("rg-1"))
        );
        let (start, end) = qs[0].window.unwrap();
        assert_eq!(end - start, time::Duration::hours(1));
    }
}
