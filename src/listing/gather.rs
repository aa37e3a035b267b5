//! Turns what the API answered into what the planner reads: every listed backup keyed once
//! ([`Listed`]), the targets that listed, and the cluster backups with what makes one
//! unusable. Pure.

use super::{FleetListing, Found, Query, TargetListing};
use crate::api::error::ApiError;
use crate::api::model::fleet::ClusterBackup;
use crate::model::{BackupKey, Listed, ListedCluster, Remote, Target};
use crate::text::shown;

/// The listings as the planner sees them, and what went wrong on the way.
#[derive(Debug, Default)]
pub struct Gathered {
    /// Every listed backup once with its key, and the targets that listed.
    pub remote: Remote,
    /// Discoveries and targets whose listing failed (which, why).
    pub failures: Vec<(String, ApiError)>,
    /// Entries the API described badly (skipped, each with a reason logged by the client).
    pub rejected: usize,
    /// What each discovery that answered selected.
    pub selected: Vec<crate::model::Selected>,
}

/// Everything of a fleet listing, keyed.
pub fn gather(fleet: FleetListing) -> Gathered {
    let mut out = Gathered {
        failures: fleet.discovery_failures,
        selected: fleet.selected,
        ..Gathered::default()
    };
    for l in fleet.listings {
        add(&mut out, l);
    }
    for m in fleet.members {
        if let Some(t) = m.storage_type {
            out.remote.storage.insert(m.member.settings.id, t);
        }
    }
    out
}

fn add(out: &mut Gathered, l: TargetListing) {
    let TargetListing { query, result } = l;
    let found = match result {
        Ok(found) => found,
        Err(e) => {
            out.failures.push((query.target(), e));
            return;
        }
    };
    match (query, found) {
        (Query::Backups(q), Found::Backups(listing)) => {
            out.rejected += listing.rejected.len();
            out.remote.targets.insert(Target {
                instance_id: q.instance_id.clone(),
                node_id: q.node_id.clone(),
                cluster: false,
            });
            out.remote
                .listed
                .extend(listing.backups.into_iter().map(|backup| Listed {
                    key: BackupKey::node(&q.instance_id, q.node_id.as_deref(), &backup.backup_id),
                    backup,
                    refused: None,
                }));
        }
        (Query::Clusters(q), Found::Clusters(backups)) => {
            out.remote.targets.insert(Target {
                instance_id: q.instance_id.clone(),
                node_id: None,
                cluster: true,
            });
            for cb in backups {
                out.rejected += cb.rejected.len();
                add_cluster(&mut out.remote, &q.instance_id, cb);
            }
        }
        // A query is answered in its own kind (see `list_queries`).
        (query, _) => unreachable!("{} answered in another kind", query.target()),
    }
}

/// Why a cluster backup cannot be copied, if it cannot. The API's texts are shown as data.
pub fn cluster_problem(cb: &ClusterBackup) -> Option<String> {
    if let Err(r) = crate::names::check_cluster_id(&cb.id) {
        return Some(r);
    }
    let failed: Vec<String> = cb
        .nodes
        .iter()
        .filter(|n| !n.backup.is_success())
        .map(|n| {
            format!(
                "{} is {}",
                shown(&n.node_id),
                shown(&n.backup.backup_status)
            )
        })
        .collect();
    if !failed.is_empty() {
        return Some(format!(
            "cluster backup has a failed node ({})",
            failed.join(", ")
        ));
    }
    if !cb.is_avail {
        return Some("cluster backup has IsAvail 0 (its node backups are incomplete)".into());
    }
    if let Some(r) = cb.rejected.first() {
        return Some(format!(
            "a node entry of the cluster backup is not understood: {r}"
        ));
    }
    if cb.nodes.is_empty() {
        return Some("the cluster backup lists no node backup".into());
    }
    // A node named twice is not two nodes: the listing cannot say which nodes make the whole,
    // so nothing of it is sealed as complete (issue #21).
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = cb.nodes.iter().find(|n| !seen.insert(&n.node_id)) {
        return Some(format!(
            "node {} is listed twice in the cluster backup",
            shown(&twice.node_id)
        ));
    }
    None
}

fn add_cluster(remote: &mut Remote, instance_id: &str, cb: ClusterBackup) {
    let problem = cluster_problem(&cb);
    let unit = BackupKey::cluster(instance_id, &cb.id, None);
    let mut nodes = Vec::with_capacity(cb.nodes.len());
    for n in cb.nodes {
        let key = BackupKey::cluster(instance_id, &cb.id, Some(&n.node_id));
        nodes.push(key.clone());
        remote.listed.push(Listed {
            key,
            backup: n.backup,
            refused: problem.clone(),
        });
    }
    remote.clusters.push(ListedCluster {
        unit,
        nodes,
        problem,
        status: cb.status,
        start: cb.start,
        end: cb.end,
        expire: cb.expire,
        size: cb.size,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::fleet::ClusterNode;
    use crate::model::Backup;

    fn node(id: &str, status: &str) -> ClusterNode {
        ClusterNode {
            node_id: id.into(),
            backup: Backup {
                backup_id: format!("b-{id}"),
                backup_job_id: None,
                backup_status: status.into(),
                backup_type: None,
                backup_method: None,
                backup_mode: None,
                backup_start_time: None,
                backup_end_time: None,
                backup_expire_time: None,
                backup_size: Some(10),
                download_url: None,
                intranet_download_url: None,
                backup_db_names: None,
                backup_name: None,
                backup_scale: None,
                is_avail: true,
                engine_version: None,
            },
        }
    }

    fn cluster(id: &str, avail: bool, nodes: Vec<ClusterNode>) -> ClusterBackup {
        ClusterBackup {
            id: id.into(),
            status: "OK".into(),
            is_avail: avail,
            start: None,
            end: None,
            expire: None,
            size: None,
            nodes,
            rejected: Vec::new(),
        }
    }

    #[test]
    fn a_cluster_backup_is_usable_only_whole() {
        let ok = cluster(
            "cb-1",
            true,
            vec![node("d-1", "Success"), node("d-2", "Success")],
        );
        assert_eq!(cluster_problem(&ok), None);
        let failed = cluster(
            "cb-2",
            false,
            vec![node("d-1", "Success"), node("d-2", "Failed")],
        );
        let p = cluster_problem(&failed).unwrap();
        assert!(p.contains("failed node (d-2 is Failed)"), "{p}");
        let unavailable = cluster("cb-3", false, vec![node("d-1", "Success")]);
        assert!(cluster_problem(&unavailable).unwrap().contains("IsAvail 0"));
        assert!(cluster_problem(&cluster("cb-4", true, vec![])).is_some());
        let odd = cluster("x-5", true, vec![node("d-1", "Success")]);
        assert!(cluster_problem(&odd).unwrap().contains("cb-"));
    }

    #[test]
    fn every_node_of_a_refused_cluster_is_refused() {
        let mut remote = Remote::default();
        add_cluster(
            &mut remote,
            "dds-c",
            cluster(
                "cb-2",
                false,
                vec![node("d-1", "Success"), node("d-2", "Failed")],
            ),
        );
        assert_eq!(remote.listed.len(), 2);
        assert!(
            remote
                .listed
                .iter()
                .all(|l| l.refused.is_some() && l.key.cluster)
        );
        assert_eq!(
            remote.clusters[0].unit,
            BackupKey::cluster("dds-c", "cb-2", None)
        );
        assert_eq!(remote.clusters[0].nodes[1].node_id.as_deref(), Some("d-2"));
    }
}
