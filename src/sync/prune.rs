//! Retention: which local copies to delete, decided as a plan, then applied.
//!
//! [`plan`] is pure (`now` comes in): a copy goes when its `BackupExpireTime` plus the grace is
//! past, except backups kept forever, the newest `keep_last` copies of each instance/node, and
//! anything without a readable manifest (not provably ours, or damaged: reported, never deleted).
//! A cluster backup is one unit: its node copies are kept or removed together, and `keep_last`
//! counts cluster backups (per instance), not node files.
//! The store applies the plan (`Store::prune`), deleting only folders under the download dir that
//! hold this tool's manifest for that very backup, never through a link.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;

use crate::model::Backup;
use crate::model::{BackupKey, LocalCopy};

#[derive(Debug, Clone, PartialEq)]
pub struct PruneItem {
    pub key: BackupKey,
    pub dir: PathBuf,
    pub expired_at: OffsetDateTime,
}

/// Plans the deletions. `listed` holds the current listing's view of each backup: its expiry
/// time wins over the manifest's (the cloud may have extended it).
pub fn plan(
    copies: &[LocalCopy],
    listed: &HashMap<BackupKey, Backup>,
    now: OffsetDateTime,
    grace: Duration,
    keep_last: usize,
) -> Vec<PruneItem> {
    // One member per unit: a copy, or a whole cluster backup (the folder above its nodes).
    type Member<'a> = (PathBuf, BackupKey, &'a Backup);
    let mut units: BTreeMap<BackupKey, Member<'_>> = BTreeMap::new();
    for copy in copies {
        let Ok(manifest) = &copy.manifest else {
            continue;
        };
        let key = manifest.key();
        let backup = listed.get(&key).unwrap_or(&manifest.backup);
        let unit = key.unit();
        let dir = match (key.cluster, copy.dir.parent()) {
            (true, Some(parent)) => parent.to_path_buf(),
            _ => copy.dir.clone(),
        };
        units.entry(unit.clone()).or_insert((dir, unit, backup));
    }
    let mut groups: BTreeMap<(String, Option<String>, bool), Vec<Member<'_>>> = BTreeMap::new();
    for (unit, member) in units {
        groups
            .entry((unit.instance_id, unit.node_id, unit.cluster))
            .or_default()
            .push(member);
    }
    let mut out = Vec::new();
    for (_, mut members) in groups {
        // Newest first, by when the backup was taken.
        members.sort_by_key(|(_, key, b)| {
            std::cmp::Reverse((
                b.backup_end_time.or(b.backup_start_time),
                key.backup_id.clone(),
            ))
        });
        for (dir, key, backup) in members.into_iter().skip(keep_last) {
            if backup.is_kept_forever() {
                continue;
            }
            let Some(expire) = backup.backup_expire_time else {
                continue;
            };
            if expire + grace <= now {
                out.push(PruneItem {
                    key,
                    dir,
                    expired_at: expire,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
