//! What the archive steps of a pass will do, decided as values (pure: `now` comes in): which
//! local copies to upload, which cluster backups to seal there once all their nodes are, and
//! which local copies `download.keep_local` lets go because a sound archived copy of the very
//! same bytes exists. [`step`] composes them into the one value a pass applies.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;

use crate::model::{ArchiveListing, Archived, ClusterManifest, Remote};
use crate::model::{BackupKey, LocalCopy, Manifest};
use crate::sync::prune::PruneItem;
use crate::sync::prune::{Decision, Unit, decide};

mod step;
pub use step::{Guarded, Inputs, Step, Why, step};

/// One local copy to upload, and the archived copy of the same backup it replaces (different
/// bytes, or marked rotted by a scrub of the archive).
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub previous: Option<Archived>,
}

/// Every local copy with a readable manifest that no scrub found rotted, and whose bytes the
/// archive does not hold yet (compared by manifest: file, size, sha256). Damaged copies are
/// uploaded too: they are the cloud's bytes, and may be all there is.
pub fn uploads(copies: &[LocalCopy], archived: &[Archived]) -> Vec<Upload> {
    let by_key: HashMap<&BackupKey, &Archived> = archived.iter().map(|a| (&a.key, a)).collect();
    let mut out = Vec::new();
    for copy in copies {
        let Ok(manifest) = &copy.manifest else {
            continue;
        };
        if manifest.rot.is_some() {
            continue;
        }
        let previous = by_key.get(&manifest.key()).copied();
        if previous.is_some_and(|a| a.matches(manifest)) {
            continue;
        }
        out.push(Upload {
            dir: copy.dir.clone(),
            manifest: manifest.clone(),
            previous: previous.cloned(),
        });
    }
    out
}

/// The local copies `keep_local` removes: every copy of the unit (a backup, or a whole cluster
/// backup) has a sound archived twin, and the backup was taken more than `keep_local` before
/// `now`. The newest unit of each instance/node is kept whatever its age, so the disk always
/// holds the latest backup to restore from quickly. A cluster backup goes only once it is
/// complete here (in `sealed`): letting its nodes go earlier would leave it incomplete on disk
/// for ever, since an archived node is not fetched again.
pub fn keep_local(
    copies: &[LocalCopy],
    archived: &[Archived],
    sealed: &HashSet<BackupKey>,
    now: OffsetDateTime,
    keep_local: Duration,
) -> Vec<PruneItem> {
    let twins: HashMap<&BackupKey, &Archived> = archived
        .iter()
        .filter(|a| a.is_sound())
        .map(|a| (&a.key, a))
        .collect();
    // Per unit: its folder, when it was taken, and whether every copy in it is archived.
    let mut units: BTreeMap<BackupKey, Member> = BTreeMap::new();
    for copy in copies {
        let Ok(m) = &copy.manifest else { continue };
        let key = m.key();
        let archived = twins.get(&key).is_some_and(|a| a.matches(m))
            && (!key.cluster || sealed.contains(&key.unit()));
        let dir = match (key.cluster, copy.dir.parent()) {
            (true, Some(parent)) => parent.to_path_buf(),
            _ => copy.dir.clone(),
        };
        let taken = m.backup.backup_end_time.or(m.backup.backup_start_time);
        let entry = units.entry(key.unit()).or_insert(Member {
            key: key.unit(),
            dir,
            taken,
            archived: true,
        });
        entry.archived &= archived;
    }
    let mut groups: BTreeMap<crate::model::Target, Vec<Member>> = BTreeMap::new();
    for (unit, member) in units {
        groups.entry(unit.target()).or_default().push(member);
    }
    let mut out = Vec::new();
    for (_, mut members) in groups {
        members.sort_by_key(|m| std::cmp::Reverse((m.taken, m.key.backup_id.clone())));
        for m in members.into_iter().skip(1) {
            let Some(taken) = m.taken else { continue };
            if m.archived && taken + keep_local <= now {
                out.push(PruneItem {
                    key: m.key,
                    dir: m.dir,
                    expired_at: taken + keep_local,
                });
            }
        }
    }
    out
}

/// The units (backups, whole cluster backups) whose every local copy has a twin in the archive
/// (same file, size and sha256, not marked rotted), and, for a cluster backup sealed here
/// (`local_seals`), whose seal the archive holds too. With an archive configured, only these
/// may be pruned locally: a copy the archive never got is kept until it has it, whatever
/// retention says, so an archive that is down when a copy expires here loses nothing.
pub fn archived_units(
    copies: &[LocalCopy],
    listing: &ArchiveListing,
    local_seals: &[ClusterManifest],
) -> HashSet<BackupKey> {
    let twins: HashMap<&BackupKey, &Archived> =
        listing.copies.iter().map(|a| (&a.key, a)).collect();
    let sealed_there = archive_sealed(local_seals, listing);
    let mut units: BTreeMap<BackupKey, bool> = BTreeMap::new();
    for copy in copies {
        let Ok(m) = &copy.manifest else { continue };
        let key = m.key();
        let held = twins.get(&key).is_some_and(|a| a.matches(m));
        *units.entry(key.unit()).or_insert(true) &= held;
    }
    units
        .into_iter()
        .filter(|(unit, held)| {
            *held && (seal_of(local_seals, unit).is_none() || sealed_there.contains(unit))
        })
        .map(|(unit, _)| unit)
        .collect()
}

/// The cluster backups sealed here whose very seal (the same nodes and bytes) the archive
/// holds: complete in both places.
pub fn archive_sealed(
    local_seals: &[ClusterManifest],
    listing: &ArchiveListing,
) -> HashSet<BackupKey> {
    listing
        .clusters
        .iter()
        .filter(|c| seal_of(local_seals, &c.unit).is_some_and(|l| l.same_as(&c.manifest)))
        .map(|c| c.unit.clone())
        .collect()
}

/// The local cluster manifests to upload now: every node file one names has an archived copy
/// of the very same bytes (not marked rotted), and the archive holds no seal saying the same.
/// Uploaded after the nodes, a seal in the archive means the cluster backup is complete there.
pub fn seals(local_seals: &[ClusterManifest], listing: &ArchiveListing) -> Vec<ClusterManifest> {
    let there = archive_sealed(local_seals, listing);
    local_seals
        .iter()
        .filter(|seal| {
            let unit = seal.unit();
            !there.contains(&unit)
                && seal.nodes.iter().all(|n| {
                    let key =
                        BackupKey::cluster(&unit.instance_id, &unit.backup_id, Some(&n.node_id));
                    listing
                        .copies
                        .iter()
                        .any(|a| a.key == key && a.matches(&a.manifest) && n.is_copy(&a.manifest))
                })
        })
        .cloned()
        .collect()
}

fn seal_of<'a>(
    local_seals: &'a [ClusterManifest],
    unit: &BackupKey,
) -> Option<&'a ClusterManifest> {
    local_seals.iter().find(|s| s.unit() == *unit)
}

/// The archive's retention rules (`[archive.prune]`) and what they are read against: the
/// pass's listing (current expiry, which targets listed), the time zone, `now`.
#[derive(Clone, Copy)]
pub struct Rules<'a> {
    pub rules: &'a crate::sync::prune::Rules,
    pub remote: &'a Remote,
    pub zone: crate::schedule::Zone,
    pub now: OffsetDateTime,
}

/// The archive's retention plan: every archived unit, keep or remove and why, with the cloud's
/// current expiry where the listing has it. A cluster backup is sound only if every node's
/// copy is.
pub fn retention(listing: &ArchiveListing, r: &Rules<'_>) -> Vec<Decision> {
    let listed: HashMap<&BackupKey, &crate::model::Backup> = r
        .remote
        .listed
        .iter()
        .map(|l| (&l.key, &l.backup))
        .collect();
    let mut units: BTreeMap<BackupKey, Unit> = BTreeMap::new();
    for a in &listing.copies {
        // The listing's view, else what the cloud answered when asked by id, else the
        // manifest's; a copy the cloud said nothing of this pass is never removed on its
        // recorded expiry alone (issue #21.5): it is asked about first.
        let asked = r.remote.confirmed.get(&a.key);
        let backup = (listed.get(&a.key).copied())
            .or(asked.and_then(Option::as_ref))
            .unwrap_or(&a.manifest.backup);
        let spoke = listed.contains_key(&a.key) || asked.is_some();
        let unit = units.entry(a.key.unit()).or_insert_with(|| Unit {
            key: a.key.unit(),
            backup: backup.clone(),
            sound: true,
            confirmed: true,
        });
        unit.confirmed &= spoke;
        unit.sound &= a.is_sound();
    }
    decide(
        units.into_values().collect(),
        &r.remote.targets,
        r.rules,
        r.zone,
        r.now,
    )
}

/// The units of local copies not archived yet that the archive's rules would remove as soon
/// as they were uploaded: they are not uploaded (no upload-then-delete every pass), and the
/// local rules alone decide when they go here.
pub fn declined(
    copies: &[LocalCopy],
    listing: &ArchiveListing,
    r: &Rules<'_>,
) -> HashSet<BackupKey> {
    let pending = uploads(copies, &listing.copies);
    if pending.is_empty() {
        return HashSet::new();
    }
    let keys: HashSet<BackupKey> = pending.iter().map(|u| u.manifest.key().unit()).collect();
    retention(&after_uploads(listing, &pending), r)
        .into_iter()
        .filter(|d| d.removed() && keys.contains(&d.key))
        .map(|d| d.key)
        .collect()
}

/// What the archive would hold once `pending` are uploaded (each replacing the archived copy of
/// its backup), for planning ahead of the uploads.
pub fn after_uploads(listing: &ArchiveListing, pending: &[Upload]) -> ArchiveListing {
    let mut future = listing.clone();
    for up in pending {
        let key = up.manifest.key();
        future.copies.retain(|a| a.key != key);
        future.copies.push(Archived {
            key,
            manifest: up.manifest.clone(),
            folder: String::new(),
            missing: None,
        });
    }
    future
}

/// One unit of local copies as `keep_local` weighs it.
struct Member {
    key: BackupKey,
    dir: PathBuf,
    taken: Option<OffsetDateTime>,
    /// Every copy in the unit has a sound archived twin.
    archived: bool,
}

#[cfg(test)]
mod tests;
