//! `DescribeClusterBackups`: the cluster backups of a sharded cluster in cluster-backup mode,
//! newest first, paged by `PageNo` without a `TotalCount` (a client pages until a page comes back
//! shorter than `PageSize`), with freshly presigned URLs for every node's set.
//!
//! Owns its parameters and the rule that only clusters in cluster-backup mode answer.

use serde_json::Value;

use super::{
    ApiError, Params, Shared, Window, err, find_instance, instance_id, page_number, page_size,
    paged, param, to_json, url_expiry, urls,
};
use crate::data::ClusterBackupRecord;
use crate::wire::{ClusterBackupJson, ClusterBackupsResponse};

pub(super) fn answer(shared: &Shared, p: &Params, request_id: &str) -> Result<Value, ApiError> {
    let q = Query::parse(p)?;
    let ds = shared.dataset();
    let instance = find_instance(&ds, q.instance, p)?;
    if !(instance.is_sharded() && instance.use_cluster_backup) {
        // The real code for "not a cluster in cluster-backup mode" is UNCONFIRMED; this is the
        // family the service uses to refuse an action for an instance's type.
        return Err(err(
            400,
            "OperationDenied.DBInstanceType",
            "The operation is not supported for the type of the instance: cluster backups need a sharded cluster in cluster backup mode.",
        ));
    }
    let mut rows: Vec<&ClusterBackupRecord> = instance
        .cluster_backups
        .iter()
        .filter(|c| q.matches(c))
        .collect();
    rows.sort_by(|a, b| b.start.cmp(&a.start).then_with(|| b.id.cmp(&a.id)));
    let expires = url_expiry(shared);
    let page: Vec<ClusterBackupJson> = paged(rows, q.page_no, q.page_size)
        .map(|c| {
            ClusterBackupJson::new(instance, c, !q.only_cluster, |b| {
                urls(shared, &instance.id, b, expires)
            })
        })
        .collect();
    to_json(ClusterBackupsResponse {
        request_id: request_id.to_string(),
        max_results: page.len(),
        page_number: q.page_no,
        page_size: q.page_size,
        cluster_backups: page,
    })
}

/// The action's parameters, validated.
struct Query<'a> {
    instance: &'a str,
    /// A `ClusterBackupId`.
    backup_id: Option<&'a str>,
    window: Window,
    /// `IsOnlyGetClusterBackUp=true`: leave out the per-node sets.
    only_cluster: bool,
    page_no: u32,
    page_size: u32,
}

impl<'a> Query<'a> {
    fn parse(p: &'a Params) -> Result<Query<'a>, ApiError> {
        Ok(Query {
            instance: instance_id(p)?,
            page_size: page_size(p)?,
            page_no: page_number(p, "PageNo")?,
            window: Window::parse(p)?,
            backup_id: param(p, "BackupId"),
            only_cluster: param(p, "IsOnlyGetClusterBackUp")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        })
    }

    /// `BackupId` wins over the window ("invalid if you specify the BackupId parameter").
    fn matches(&self, c: &ClusterBackupRecord) -> bool {
        match self.backup_id {
            Some(id) => c.id == id,
            None => self.window.contains(c.start),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    use crate::api::tests::params;

    #[test]
    fn parameters_and_matching() {
        let p = params(&[("DBInstanceId", "dds-c"), ("PageNumber", "0")]);
        let q = Query::parse(&p).unwrap();
        assert_eq!((q.page_no, q.page_size, q.only_cluster), (1, 30, false));
        let p = params(&[("DBInstanceId", "dds-c"), ("PageNo", "0")]);
        assert_eq!(
            Query::parse(&p).err().map(|e| e.code),
            Some("InvalidPageNumber.Malformed")
        );
        assert_eq!(
            Query::parse(&params(&[])).err().map(|e| e.code),
            Some("MissingDBInstanceId")
        );
        let t = datetime!(2030-06-01 12:00:00 UTC);
        let c = ClusterBackupRecord::new("cb-1", t, Vec::new());
        let p = params(&[
            ("DBInstanceId", "dds-c"),
            ("StartTime", "2030-06-01T12:01Z"),
            ("IsOnlyGetClusterBackUp", "true"),
        ]);
        let q = Query::parse(&p).unwrap();
        assert!(q.only_cluster && !q.matches(&c));
        let mut p = p.clone();
        p.insert("BackupId".into(), "cb-1".into());
        assert!(Query::parse(&p).unwrap().matches(&c), "BackupId wins");
    }
}
