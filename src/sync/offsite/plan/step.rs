//! The archive step of one pass as one value (issue #22): from the local copies, their seals,
//! the archive's listing, both sets of rules, `keep_local` and `now`, everything the step will
//! do — uploads, seals, archive removals, local copies removed or held — decided before any of
//! it is done. The pass applies it; `--dry-run` and `--prune-plan` print it.
//!
//! What depends on an upload (a seal after its nodes, a local copy let go once its twin is in
//! the archive) carries the keys of the work it waits for ([`Guarded::after`]): the decision is
//! made here, on what the archive will hold once the uploads are done, and the pass only checks
//! that the work it waits for succeeded. A failed upload therefore never lets a copy go.

use std::collections::HashSet;
use std::time::Duration;

use time::OffsetDateTime;

use super::{
    Rules, Upload, after_uploads, archive_sealed, archived_units, declined, keep_local, retention,
    seals, uploads,
};
use crate::model::{ArchiveListing, ArchivedCluster, BackupKey, ClusterManifest, LocalCopy};
use crate::sync::prune::{Decision, PruneItem};

/// What the archive step reads.
pub struct Inputs<'a> {
    pub copies: &'a [LocalCopy],
    /// The cluster manifests of the cluster backups complete here.
    pub seals: &'a [ClusterManifest],
    pub listing: &'a ArchiveListing,
    /// `[archive.prune]`, when on.
    pub rules: Option<Rules<'a>>,
    pub keep_local: Option<Duration>,
    /// The local retention plan's removals.
    pub prune: &'a [PruneItem],
    pub now: OffsetDateTime,
}

/// One action, done only once the work it waits for succeeded: uploads (by node key) and
/// seals (by cluster backup key).
#[derive(Debug, Clone, PartialEq)]
pub struct Guarded<T> {
    pub item: T,
    pub after: Vec<BackupKey>,
}

impl<T> Guarded<T> {
    /// Whether everything this waits for is in `done`.
    pub fn ready(&self, done: &HashSet<BackupKey>) -> bool {
        self.after.iter().all(|k| done.contains(k))
    }
}

/// Why a local copy goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// No local retention rule keeps it, and the archive holds it (or would remove it at once).
    Retention,
    /// Archived and older than `download.keep_local`.
    KeepLocal,
}

/// A local copy to remove, why, and after what.
pub type Removal = Guarded<(PruneItem, Why)>;

/// Everything the archive step of one pass does.
#[derive(Debug, Clone, Default)]
pub struct Step {
    pub uploads: Vec<Upload>,
    /// Cluster manifests to upload once their nodes' uploads succeeded.
    pub seals: Vec<Guarded<ClusterManifest>>,
    /// The archive's retention plan, read against what it holds once the uploads are done.
    pub retention: Vec<Decision>,
    /// Archived units to remove, each once the uploads of its instance/node succeeded (a failed
    /// upload leaves the archive's older copies where they are).
    pub remove: Vec<Guarded<BackupKey>>,
    /// Local copies to remove, and why: the only local removals of the pass.
    pub prune: Vec<Removal>,
    /// Local copies no retention rule keeps that the archive will not hold: kept until it does.
    pub hold: Vec<PruneItem>,
}

impl Step {
    /// Without the archive's word (its listing failed): nothing is sent, and every local copy
    /// retention would remove is held.
    pub fn unheard(prune: &[PruneItem]) -> Step {
        Step {
            hold: prune.to_vec(),
            ..Step::default()
        }
    }

    /// The archived units its retention keeps only because the cloud has not been asked about
    /// them (their recorded expiry passed and the listing does not show them): the ones to ask
    /// the API about by id.
    pub fn unconfirmed(&self) -> Vec<BackupKey> {
        self.retention
            .iter()
            .filter(|d| d.keep == [crate::sync::prune::Keep::Unconfirmed])
            .map(|d| d.key.clone())
            .collect()
    }

    /// The local copies to remove now that the work in `done` succeeded.
    pub fn local_removals(&self, done: &HashSet<BackupKey>) -> Vec<PruneItem> {
        self.prune
            .iter()
            .filter(|g| g.ready(done))
            .map(|g| g.item.0.clone())
            .collect()
    }
}

/// The archive step, decided.
pub fn step(i: &Inputs<'_>) -> Step {
    let declined = match &i.rules {
        Some(r) => declined(i.copies, i.listing, r),
        None => HashSet::new(),
    };
    let uploads: Vec<Upload> = uploads(i.copies, &i.listing.copies)
        .into_iter()
        .filter(|u| !declined.contains(&u.manifest.key().unit()))
        .collect();
    let uploaded: Vec<BackupKey> = uploads.iter().map(|u| u.manifest.key()).collect();
    let of_unit = |unit: &BackupKey| -> Vec<BackupKey> {
        uploaded
            .iter()
            .filter(|k| k.unit() == *unit)
            .cloned()
            .collect()
    };
    let mut future = after_uploads(i.listing, &uploads);
    let seals: Vec<Guarded<ClusterManifest>> = seals(i.seals, &future)
        .into_iter()
        .map(|s| Guarded {
            after: of_unit(&s.unit()),
            item: s,
        })
        .collect();
    for s in &seals {
        let unit = s.item.unit();
        future.clusters.retain(|c| c.unit != unit);
        future.clusters.push(ArchivedCluster {
            unit,
            manifest: s.item.clone(),
        });
    }
    let retention = i.rules.as_ref().map(|r| retention(&future, r));
    let remove = removals(retention.as_deref().unwrap_or_default(), &uploaded);
    for r in &remove {
        future.copies.retain(|a| a.key.unit() != r.item);
        future.clusters.retain(|c| c.unit != r.item);
    }
    let sealed: HashSet<BackupKey> = seals.iter().map(|s| s.item.unit()).collect();
    let needs = |unit: &BackupKey| -> Vec<BackupKey> {
        let mut after = of_unit(unit);
        if sealed.contains(unit) {
            after.push(unit.clone());
        }
        after
    };
    let (prune, hold) = local(i, &future, &declined, needs);
    Step {
        uploads,
        seals,
        retention: retention.unwrap_or_default(),
        remove,
        prune,
        hold,
    }
}

/// The local copies that go (the local plan's and those `keep_local` lets go, each after the
/// work `needs` names) and those held, read against what the archive will hold: `future`.
fn local(
    i: &Inputs<'_>,
    future: &ArchiveListing,
    declined: &HashSet<BackupKey>,
    needs: impl Fn(&BackupKey) -> Vec<BackupKey>,
) -> (Vec<Removal>, Vec<PruneItem>) {
    let held = archived_units(i.copies, future, i.seals);
    let let_go = match i.keep_local {
        Some(age) => {
            let there = archive_sealed(i.seals, future);
            keep_local(i.copies, &future.copies, &there, i.now, age)
        }
        None => Vec::new(),
    };
    let mut prune: Vec<Removal> = Vec::new();
    let mut hold = Vec::new();
    let candidates = i.prune.iter().map(|p| (p, Why::Retention));
    for (item, why) in candidates.chain(let_go.iter().map(|p| (p, Why::KeepLocal))) {
        if prune.iter().any(|g| g.item.0.key == item.key) {
            continue;
        }
        let after = if declined.contains(&item.key) {
            Vec::new()
        } else if held.contains(&item.key) {
            needs(&item.key)
        } else {
            hold.push(item.clone());
            continue;
        };
        prune.push(Guarded {
            item: (item.clone(), why),
            after,
        });
    }
    (prune, hold)
}

/// The archived units retention removes, each after the uploads of its instance/node.
fn removals(decisions: &[Decision], uploaded: &[BackupKey]) -> Vec<Guarded<BackupKey>> {
    decisions
        .iter()
        .filter(|d| d.removed())
        .map(|d| Guarded {
            item: d.key.clone(),
            after: uploaded
                .iter()
                .filter(|k| k.target() == d.key.target())
                .cloned()
                .collect(),
        })
        .collect()
}
