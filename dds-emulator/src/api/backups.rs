//! `DescribeBackups`: the per-node backup sets of one instance, filtered, newest first, paged,
//! with freshly presigned URLs.
//!
//! Owns its parameters (`NodeId`, `BackupId`, `BackupJobId`, the window, paging) and the node
//! rules of sharded clusters. Reference: `shared/spec/DescribeBackups.txt`.

use serde_json::Value;

use super::{
    ApiError, Params, Shared, Window, err, find_instance, instance_id, page_number, page_size,
    paged, param, to_json, url_expiry, urls,
};
use crate::data::{BackupRecord, Instance};
use crate::wire::{BackupJson, Backups, DescribeResponse};

pub(super) fn answer(shared: &Shared, p: &Params, request_id: &str) -> Result<Value, ApiError> {
    let q = Query::parse(p)?;
    let ds = shared.dataset();
    let instance = find_instance(&ds, &q.instance, p)?;
    check_node(instance, q.node_id.as_deref())?;
    // A cluster in cluster-backup mode keeps its backups as cluster backups; whether the real
    // per-node listing still shows their node sets is UNCONFIRMED. Listing none makes a client
    // that depends on it fail here, not in production.
    let listed: &[BackupRecord] = if instance.use_cluster_backup && instance.is_sharded() {
        &[]
    } else {
        &instance.backups
    };
    let mut rows: Vec<&BackupRecord> = listed.iter().filter(|b| q.matches(b)).collect();
    rows.sort_by(|a, b| {
        b.start
            .cmp(&a.start)
            .then_with(|| b.backup_id.cmp(&a.backup_id))
    });
    let total = rows.len();
    let loose = shared.faults().loose_types();
    let expires = url_expiry(shared);
    let page: Vec<BackupJson> = paged(rows, q.page_number, q.page_size)
        .map(|b| BackupJson::new(b, urls(shared, &instance.id, b, expires), loose))
        .collect();
    to_json(DescribeResponse {
        total_count: total,
        request_id: request_id.to_string(),
        page_size: q.page_size,
        page_number: q.page_number,
        backups: Backups { backup: page },
    })
}

/// The action's parameters, validated.
struct Query {
    instance: String,
    node_id: Option<String>,
    backup_ids: Option<Vec<String>>,
    job_id: Option<String>,
    window: Window,
    page_size: u32,
    page_number: u32,
}

impl Query {
    fn parse(p: &Params) -> Result<Query, ApiError> {
        let instance = instance_id(p)?;
        let page_size = page_size(p)?;
        let page_number = page_number(p, "PageNumber")?;
        let window = Window::parse(p)?;
        Ok(Query {
            instance: instance.to_string(),
            node_id: param(p, "NodeId").map(str::to_string),
            backup_ids: param(p, "BackupId").map(|s| {
                s.split(',')
                    .map(|id| id.trim().to_string())
                    .filter(|id| !id.is_empty())
                    .collect()
            }),
            job_id: param(p, "BackupJobId").map(str::to_string),
            window,
            page_size,
            page_number,
        })
    }

    /// `BackupId` wins over the time window ("This parameter is invalid if you specify the
    /// BackupId parameter").
    fn matches(&self, b: &BackupRecord) -> bool {
        if let Some(node) = &self.node_id
            && b.node_id.as_ref().is_some_and(|n| n != node)
        {
            return false;
        }
        if self.job_id.as_ref().is_some_and(|j| *j != b.backup_job_id) {
            return false;
        }
        if let Some(ids) = &self.backup_ids {
            return ids.contains(&b.backup_id);
        }
        self.window.contains(b.start)
    }
}

fn check_node(instance: &Instance, node: Option<&str>) -> Result<(), ApiError> {
    if !instance.is_sharded() {
        return Ok(());
    }
    match node {
        None => Err(err(
            400,
            "InvalidParameter.NodeId",
            "NodeId is required for sharded cluster instance",
        )),
        Some(n) if instance.shards().iter().any(|s| s == n) => Ok(()),
        Some(_) => Err(err(
            404,
            "InvalidNodeId.NotFound",
            "Specified node does not exist in the instance.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::api::tests::params;

    /// Extra parameters → the expected error code.
    type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>);

    #[test]
    fn query_validation_table() {
        let base = [("DBInstanceId", "dds-1")];
        let cases: &[Case] = &[
            (&[], None),
            (&[("PageSize", "50")], None),
            (&[("PageSize", "10")], Some("InvalidPageSize.Malformed")),
            (&[("PageSize", "x")], Some("InvalidPageSize.Malformed")),
            (&[("PageNumber", "0")], Some("InvalidPageNumber.Malformed")),
            (&[("StartTime", "2022-01-13T13:00Z")], None),
            (
                &[("StartTime", "2022-01-13T13:00:00Z")],
                Some("InvalidStartTime.Malformed"),
            ),
            (
                &[("EndTime", "2022-01-13")],
                Some("InvalidEndTime.Malformed"),
            ),
            (
                &[
                    ("StartTime", "2022-01-14T13:00Z"),
                    ("EndTime", "2022-01-13T13:00Z"),
                ],
                Some("InvalidStartTimeAndEndTime.Malformed"),
            ),
            (
                &[
                    ("StartTime", "2022-01-13T13:00Z"),
                    ("EndTime", "2022-01-13T13:00Z"),
                ],
                Some("InvalidStartTimeAndEndTime.Malformed"),
            ),
        ];
        for (extra, want) in cases {
            let mut p = params(&base);
            p.extend(params(extra));
            let got = Query::parse(&p).err().map(|e| e.code);
            assert_eq!(got, *want, "{extra:?}");
        }
        assert_eq!(
            Query::parse(&Params::new()).err().map(|e| e.code),
            Some("MissingDBInstanceId")
        );
    }

    #[test]
    fn sharded_instances_need_one_of_their_nodes() {
        let s = Instance::sharded("dds-s", &["d-0"]);
        assert_eq!(
            check_node(&s, None).unwrap_err().code,
            "InvalidParameter.NodeId"
        );
        assert_eq!(
            check_node(&s, Some("d-9")).unwrap_err().code,
            "InvalidNodeId.NotFound"
        );
        assert!(check_node(&s, Some("d-0")).is_ok());
        assert!(check_node(&Instance::replica_set("dds-r"), None).is_ok());
    }
}
