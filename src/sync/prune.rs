//! Retention: which local copies to delete, decided as a plan, then applied.
//!
//! [`plan`] is pure (`now` comes in): a copy goes when its `BackupExpireTime` plus the grace is
//! past, except backups kept forever, the newest `keep_last` copies of each instance/node, and
//! anything without a readable manifest (not provably ours, or damaged: reported, never deleted).
//! [`apply`] deletes only folders under the download dir that hold a manifest, never following
//! symlinks, and does nothing under `--dry-run`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use time::OffsetDateTime;

use crate::model::Backup;
use crate::model::{BackupKey, LocalCopy, MANIFEST};
use crate::store::{StoreError, io_err};

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
    type Member<'a> = (&'a LocalCopy, BackupKey, &'a Backup);
    let mut groups: BTreeMap<(String, Option<String>), Vec<Member<'_>>> = BTreeMap::new();
    for copy in copies {
        let Ok(manifest) = &copy.manifest else {
            continue;
        };
        let key = manifest.key();
        let backup = listed.get(&key).unwrap_or(&manifest.backup);
        groups
            .entry((key.instance_id.clone(), key.node_id.clone()))
            .or_default()
            .push((copy, key, backup));
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
        for (copy, key, backup) in members.into_iter().skip(keep_last) {
            if backup.is_kept_forever() {
                continue;
            }
            let Some(expire) = backup.backup_expire_time else {
                continue;
            };
            if expire + grace <= now {
                out.push(PruneItem {
                    key,
                    dir: copy.dir.clone(),
                    expired_at: expire,
                });
            }
        }
    }
    out
}

/// Deletes the planned folders (unless `dry_run`). Each must sit inside `root`, be a real
/// folder (not a symlink) and still hold a manifest. Returns what was removed.
pub fn apply(root: &Path, items: &[PruneItem], dry_run: bool) -> Vec<Result<PathBuf, StoreError>> {
    items
        .iter()
        .map(|item| {
            check_removable(root, &item.dir)?;
            if !dry_run {
                std::fs::remove_dir_all(&item.dir).map_err(io_err("remove", &item.dir))?;
            }
            Ok(item.dir.clone())
        })
        .collect()
}

fn check_removable(root: &Path, dir: &Path) -> Result<(), StoreError> {
    let refuse = |reason: &str| StoreError::UnsafeName {
        what: format!("pruning {}", dir.display()),
        reason: reason.to_string(),
    };
    if !dir.starts_with(root)
        || dir == root
        || dir
            .components()
            .any(|c| c == std::path::Component::ParentDir)
    {
        return Err(refuse("it is not inside the download directory"));
    }
    // Every folder on the way must be real: `<dir>/<instance>` could be a link to elsewhere.
    crate::store::Store::new(root).check_real(dir)?;
    let meta = std::fs::symlink_metadata(dir).map_err(io_err("inspect", dir))?;
    if !meta.is_dir() {
        return Err(refuse("it is not a real folder (a symlink?)"));
    }
    if !std::fs::symlink_metadata(dir.join(MANIFEST)).is_ok_and(|m| m.is_file()) {
        return Err(refuse("it holds no manifest of this tool"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
