//! The offsite step of a pass (`[archive]`): the archive (the object store [`Archive`] owns)
//! is listed before planning (a backup held there and let go locally is not fetched again);
//! once the downloads are done, the step uploads every verified local copy it lacks, seals
//! there each cluster backup whose nodes all are, applies the archive's own retention
//! (`[archive.prune]`) and `download.keep_local`. What it does is decided as one value
//! ([`plan::step`], pure); this file does its I/O through [`Archive`] and [`Store`].
//!
//! A failure here (the store unreachable, a refused upload) is a failure of the pass, named
//! per backup, never a reason to delete anything: a listing that failed means no archive
//! retention and no `keep_local` this pass.

pub mod plan;

use std::collections::{BTreeMap, HashSet};

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::prune::PruneItem;
use super::report::{Failure, Summary};
use crate::archive::{Archive, ArchiveListing, Archived};
use crate::model::{BackupKey, ClusterManifest};
use crate::store::Store;
use crate::throttle::Throttle;
use plan::{Step, Why};

/// The archive of `[archive]` and what it holds now; `None` without an archive, or when the
/// client cannot be built or the listing failed (recorded in `summary`: nothing about the
/// archive is assumed this pass, so nothing is let go for it).
pub async fn open(
    settings: &crate::config::Settings,
    summary: &mut Summary,
) -> Option<(Archive, ArchiveListing)> {
    answer(ask(settings)?, summary).await
}

/// The archive's listing, asked for in its own task (so a slow store holds up nothing until
/// its answer is needed): the client and its listing, or (the archive's URL, why not).
pub type Asked = tokio::task::JoinHandle<Result<(Archive, ArchiveListing), (String, String)>>;

/// Asks the archive for its listing, when `[archive]` is configured.
pub fn ask(settings: &crate::config::Settings) -> Option<Asked> {
    let config = settings.archive.clone()?;
    Some(tokio::spawn(async move {
        let archive = Archive::new(&config).map_err(|e| (config.url.clone(), e.to_string()))?;
        match archive.list().await {
            Ok(listing) => Ok((archive, listing)),
            Err(e) => Err((archive.url().to_string(), e.to_string())),
        }
    }))
}

/// The archive's answer, waited for: a failure is recorded in `summary` (kind `archive`) and
/// gives `None`; objects it could not use are warned about.
pub async fn answer(asked: Asked, summary: &mut Summary) -> Option<(Archive, ArchiveListing)> {
    match asked.await {
        Ok(Ok((archive, listing))) => {
            for (object, reason) in &listing.unusable {
                warn!(object = %object, "archive object ignored: {reason}");
            }
            Some((archive, listing))
        }
        Ok(Err((url, why))) => {
            fail(summary, url, why);
            None
        }
        Err(e) => {
            fail(
                summary,
                "archive".into(),
                format!("the listing task failed: {e}"),
            );
            None
        }
    }
}

/// The archive step of this pass, decided (pure, [`plan::step`]): from the local copies as
/// they are after the downloads, the archive's listing and the local prune plan.
pub fn decide(
    ctx: &Context<'_>,
    copies: &[crate::model::LocalCopy],
    listing: &ArchiveListing,
    prune: &[PruneItem],
) -> Step {
    let seals = local_seals(ctx.store, copies);
    plan::step(&plan::Inputs {
        copies,
        seals: &seals,
        listing,
        rules: ctx.rules.as_ref().map(|r| ctx.plan_rules(r)),
        keep_local: ctx.keep_local,
        prune,
        now: ctx.now,
    })
}

/// Does what `step` says (uploads, then the seals and archive removals whose uploads
/// succeeded) and returns the local copies to remove: those whose uploads and seals succeeded.
/// A stop mid-way removes nothing locally.
pub async fn apply(
    ctx: &Context<'_>,
    archive: &Archive,
    listing: &mut ArchiveListing,
    step: &Step,
    summary: &mut Summary,
) -> Vec<PruneItem> {
    let mut done = HashSet::new();
    let sent = upload_all(archive, ctx, listing, &step.uploads, summary).await;
    done.extend(sent);
    if ctx.cancel.is_cancelled() {
        return Vec::new();
    }
    for seal in &step.seals {
        if seal.ready(&done) && seal_one(archive, &seal.item, listing, summary).await {
            done.insert(seal.item.unit());
        }
    }
    let remove: Vec<BackupKey> = (step.remove.iter())
        .filter(|r| r.ready(&done))
        .map(|r| r.item.clone())
        .collect();
    remove_all(archive, listing, &remove, summary).await;
    summary.archive_newest = newest(listing);
    step.local_removals(&done)
}

/// Says in the log each local copy the archive step holds.
pub fn warn_held(hold: &[PruneItem]) {
    for item in hold {
        warn!(backup = %item.key.label(), "not pruned: the archive does not hold this copy yet; it is kept until it does");
    }
}

/// What `--dry-run` shows of the archive step: the same value the pass applies, as lines.
pub fn render_plan(step: &Step, listing: &ArchiveListing) -> String {
    let mut out = String::new();
    for item in &step.hold {
        out.push_str(&format!(
            "hold    {}  no rule keeps it, but the archive does not hold it yet: kept until it does\n",
            item.key.label()
        ));
    }
    for up in &step.uploads {
        out.push_str(&format!(
            "upload  {}  {} ({}) to the archive\n",
            up.manifest.key().label(),
            up.manifest.file,
            crate::units::human_bytes(up.manifest.size)
        ));
    }
    for seal in &step.seals {
        out.push_str(&format!(
            "seal    {}  cluster-manifest.json to the archive, after its {} nodes\n",
            seal.item.unit().label(),
            seal.item.nodes.len()
        ));
    }
    for g in step.prune.iter().filter(|g| g.item.1 == Why::KeepLocal) {
        let once = if g.after.is_empty() {
            ""
        } else {
            ", once its upload succeeds"
        };
        out.push_str(&format!(
            "let go  {}  local copy: archived, and older than download.keep_local{once}\n",
            g.item.0.key.label()
        ));
    }
    out.push_str(&render_decisions("archive", &step.retention));
    out.push_str(&format!(
        "archive {} copies there, {} to upload\n",
        listing.copies.len(),
        step.uploads.len()
    ));
    out
}

/// The cluster manifests of the cluster backups among `copies` that are complete here.
fn local_seals(store: &Store, copies: &[crate::model::LocalCopy]) -> Vec<ClusterManifest> {
    let units: std::collections::BTreeSet<BackupKey> = copies
        .iter()
        .filter_map(|c| c.manifest.as_ref().ok())
        .map(|m| m.key().unit())
        .filter(|unit| unit.cluster)
        .collect();
    units
        .iter()
        .filter_map(|unit| store.cluster_manifest(unit))
        .collect()
}

/// Seals in the archive a cluster backup complete here whose nodes all are there now, and
/// records the seal in `listing`; `false` if it could not be sealed (recorded in `summary`).
async fn seal_one(
    archive: &Archive,
    seal: &ClusterManifest,
    listing: &mut ArchiveListing,
    summary: &mut Summary,
) -> bool {
    let unit = seal.unit();
    match archive.put_cluster_manifest(seal).await {
        Ok(()) => {
            info!(backup = %unit.label(), nodes = seal.nodes.len(), "sealed in the archive: every node is there");
            listing.clusters.retain(|c| c.unit != unit);
            listing.clusters.push(crate::archive::ArchivedCluster {
                unit,
                manifest: seal.clone(),
            });
            true
        }
        Err(e) => {
            fail(summary, unit.label(), e.to_string());
            false
        }
    }
}

/// Withdraws the archive's seal of `unit` (a cluster backup) before a node copy of it is
/// replaced or deleted, so no seal names bytes that are not there. `false`: it could not be
/// withdrawn (recorded in `summary`), and the node must be left alone.
async fn unseal(
    archive: &Archive,
    listing: &mut ArchiveListing,
    unit: &BackupKey,
    summary: &mut Summary,
) -> bool {
    if !listing.clusters.iter().any(|c| c.unit == *unit) {
        return true;
    }
    match archive.remove_cluster_manifest(unit).await {
        Ok(()) => {
            listing.clusters.retain(|c| c.unit != *unit);
            true
        }
        Err(e) => {
            fail(summary, unit.label(), e.to_string());
            false
        }
    }
}

/// The archive's retention decisions as `--dry-run` / `--prune-plan` lines.
pub fn render_decisions(what: &str, decisions: &[crate::sync::prune::Decision]) -> String {
    crate::sync::report::render_retention(decisions)
        .lines()
        .map(|l| format!("{what}: {l}\n"))
        .collect()
}

impl Context<'_> {
    fn plan_rules<'r>(&'r self, rules: &'r crate::sync::prune::Rules) -> plan::Rules<'r> {
        plan::Rules {
            rules,
            remote: self.remote,
            zone: self.zone,
            now: self.now,
        }
    }
}

/// What the archive steps need of the pass.
pub struct Context<'a> {
    pub store: &'a Store,
    pub remote: &'a crate::model::Remote,
    pub rules: Option<crate::sync::prune::Rules>,
    pub keep_local: Option<std::time::Duration>,
    pub zone: crate::schedule::Zone,
    pub now: time::OffsetDateTime,
    pub throttle: Throttle,
    pub cancel: &'a CancellationToken,
}

/// The archived copies (backup, file, size) the planner may count as held.
pub fn held(listing: &ArchiveListing) -> std::collections::HashSet<(BackupKey, String, u64)> {
    listing
        .copies
        .iter()
        .filter(|a| a.is_sound())
        .map(|a| (a.key.clone(), a.manifest.file.clone(), a.manifest.size))
        .collect()
}

/// Uploads `uploads`, one copy at a time (its parts in parallel), records each uploaded copy
/// in `listing`, and returns the keys of those that were.
async fn upload_all(
    archive: &Archive,
    ctx: &Context<'_>,
    listing: &mut ArchiveListing,
    uploads: &[plan::Upload],
    summary: &mut Summary,
) -> Vec<BackupKey> {
    let mut sent = Vec::new();
    for up in uploads {
        if ctx.cancel.is_cancelled() {
            break;
        }
        let key = up.manifest.key();
        if key.cluster && !unseal(archive, listing, &key.unit(), summary).await {
            continue;
        }
        match upload_one(archive, ctx, up, summary).await {
            Some(folder) => {
                listing.copies.retain(|a| a.key != key);
                listing.copies.push(Archived {
                    key: key.clone(),
                    manifest: up.manifest.clone(),
                    folder,
                    missing: None,
                });
                sent.push(key);
            }
            None => continue,
        }
    }
    sent
}

/// Uploads one copy; its folder in the archive once it is there.
async fn upload_one(
    archive: &Archive,
    ctx: &Context<'_>,
    up: &plan::Upload,
    summary: &mut Summary,
) -> Option<String> {
    let key = up.manifest.key();
    let label = key.label();
    let file = up.dir.join(&up.manifest.file);
    info!(backup = %label, file = %up.manifest.file, bytes = up.manifest.size, archive = %archive.url(), "uploading to the archive");
    let data = match ctx.store.open_data(&file) {
        Ok(data) => data,
        Err(e) => {
            let why = format!("cannot read {}: {e:?}", file.display());
            fail(summary, label, why);
            return None;
        }
    };
    let sent = archive.upload(
        data,
        &file,
        &up.manifest,
        up.previous.as_ref(),
        &ctx.throttle,
        ctx.cancel,
    );
    match sent.await {
        Ok(sent) => {
            summary.archived += 1;
            summary.archive_bytes += sent;
            info!(backup = %label, file = %up.manifest.file, "archived");
            archive.folder(&key).ok().map(|f| f.to_string())
        }
        Err(crate::archive::ArchiveError::Cancelled) => {
            summary.stopped += 1;
            None
        }
        Err(e) => {
            fail(summary, label, e.to_string());
            None
        }
    }
}

/// Deletes the archived units `remove` names (every node copy of a cluster backup with it).
pub async fn remove_all(
    archive: &Archive,
    listing: &mut ArchiveListing,
    remove: &[BackupKey],
    summary: &mut Summary,
) {
    for unit in remove {
        if unit.cluster && !unseal(archive, listing, unit, summary).await {
            continue;
        }
        let members: Vec<Archived> = listing
            .copies
            .iter()
            .filter(|a| a.key.unit() == *unit)
            .cloned()
            .collect();
        for copy in members {
            match archive.remove(&copy).await {
                Ok(()) => {
                    listing.copies.retain(|a| a.key != copy.key);
                    info!(backup = %copy.key.label(), "pruned an archived copy");
                }
                Err(e) => fail(summary, copy.key.label(), e.to_string()),
            }
        }
        summary.archive_pruned += 1;
    }
}

/// Per instance/node: the newest archived copy's backup time (Unix seconds) and the copies,
/// for the metrics ("the archive is stale" alerts apart from the local copies).
pub fn newest(listing: &ArchiveListing) -> BTreeMap<(String, String), (i64, u64)> {
    let mut out: BTreeMap<(String, String), (i64, u64)> = BTreeMap::new();
    for a in listing.copies.iter().filter(|a| a.is_sound()) {
        let m = &a.manifest;
        let end = m.taken().unix_timestamp();
        let e = out
            .entry((m.instance_id.clone(), m.node_id.clone().unwrap_or_default()))
            .or_insert((end, 0));
        e.0 = e.0.max(end);
        e.1 += 1;
    }
    out
}

fn fail(summary: &mut Summary, backup: String, message: String) {
    summary.failed += 1;
    summary.failures.push(Failure {
        backup,
        kind: super::report::FailureKind::Archive,
        message,
    });
}
