//! Snapshot backups in the plan: listed without download URLs, exported only through a DBS
//! download task, when `[snapshots]` says so and the instance can be exported. Pure.

use std::collections::{HashMap, HashSet};

use time::OffsetDateTime;

use super::{Action, Export, LocalState, Policy, SkipReason, eligible};
use crate::model::{Backup, BackupKey, Listed, OnDisk};

/// A snapshot backup: listed without download URLs (`BackupMethod` `Snapshot`), exported only
/// through a DBS download task.
pub(super) fn is_snapshot(b: &Backup) -> bool {
    b.backup_method.as_deref() == Some("Snapshot")
        && b.download_url.is_none()
        && b.intranet_download_url.is_none()
}

/// The snapshot backup an export would take: fit (success, available, not expired), of a
/// replica set, not just listed as one node's part.
fn exportable(b: &Backup, key: &BackupKey, now: OffsetDateTime) -> Result<(), SkipReason> {
    eligible(b, now)?;
    if key.node_id.is_some() || key.cluster {
        return Err(SkipReason::Snapshot(
            "exports of one shard's snapshot are not supported; only replica sets are exported",
        ));
    }
    Ok(())
}

/// The newest exportable snapshot of each instance (by start time, then id).
pub(super) fn newest_snapshots(listed: &[Listed], now: OffsetDateTime) -> HashSet<BackupKey> {
    let mut best: HashMap<&str, &Listed> = HashMap::new();
    for l in listed.iter().filter(|l| {
        is_snapshot(&l.backup) && l.refused.is_none() && exportable(&l.backup, &l.key, now).is_ok()
    }) {
        let order = |l: &Listed| (l.backup.backup_start_time, l.key.backup_id.clone());
        best.entry(l.key.instance_id.as_str())
            .and_modify(|b| {
                if order(l) > order(b) {
                    *b = l;
                }
            })
            .or_insert(l);
    }
    best.into_values().map(|l| l.key.clone()).collect()
}

pub(super) fn snapshot(
    key: BackupKey,
    b: &Backup,
    local: &OnDisk,
    now: OffsetDateTime,
    policy: &Policy,
    newest: &HashSet<BackupKey>,
) -> Action {
    let skip = |reason| Action::Skip {
        key: key.clone(),
        reason,
    };
    let Some(exports) = &policy.exports else {
        return skip(SkipReason::Snapshot(
            "exports are off; [snapshots] download = true exports it through a DBS download task (billed per GB)",
        ));
    };
    if let Err(reason) = exportable(b, &key, now) {
        return skip(reason);
    }
    if !exports.instances.selects(&key.instance_id) {
        return skip(SkipReason::Snapshot(
            "its instance is not in snapshots.instances",
        ));
    }
    if let Some(t) = exports.storage.get(&key.instance_id)
        && !t.starts_with("cloud_")
    {
        return skip(SkipReason::NotCloudDisk(t.clone()));
    }
    // Published under the name its first bytes gave (any of the export kinds).
    let names = crate::model::export_file_names(&b.backup_id);
    if let Some(file_name) = names
        .iter()
        .find(|n| matches!(local.state(&key, n), LocalState::Complete { .. }))
    {
        let file_name = file_name.clone();
        return Action::UpToDate { key, file_name };
    }
    // An export's size is not listed: any sound archived copy of it will do.
    if let Some(file_name) = names.iter().find(|n| {
        matches!(local.state(&key, n), LocalState::Missing) && policy.holds(&key, n, None)
    }) {
        let file_name = file_name.clone();
        return Action::Archived { key, file_name };
    }
    let file_name = crate::model::export_file_name(&b.backup_id);
    if exports.latest_only && !newest.contains(&key) {
        return skip(SkipReason::Snapshot(
            "not the newest snapshot of its instance (snapshots.latest_only)",
        ));
    }
    Action::Export(Box::new(Export {
        key,
        backup: b.clone(),
        file_name,
    }))
}
