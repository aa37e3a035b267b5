//! The archive steps of a pass (`[archive]`): list the archive before planning (a backup held
//! there and let go locally is not fetched again), upload every verified local copy it lacks
//! once the downloads are done and seal there each cluster backup whose nodes all are, then
//! apply the archive's own retention (`[archive.prune]`) and `download.keep_local`. The
//! decisions are pure ([`plan`], [`crate::sync::prune`]); this file
//! does their I/O through [`Archive`] and [`Store`].
//!
//! A failure here (the store unreachable, a refused upload) is a failure of the pass, named
//! per backup, never a reason to delete anything: a listing that failed means no archive
//! retention and no `keep_local` this pass.

pub mod plan;

use std::collections::{BTreeMap, HashSet};

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::report::{Failure, Summary};
use crate::archive::{Archive, ArchiveListing, Archived};
use crate::model::{BackupKey, ClusterManifest};
use crate::store::Store;
use crate::throttle::Throttle;

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

/// What the archive steps leave to the local prune.
#[derive(Debug, Default)]
pub struct AfterArchive {
    /// Local copies `download.keep_local` lets go.
    pub let_go: Vec<crate::sync::prune::PruneItem>,
    /// Units the archive's own rules would not keep: not uploaded, and free to go locally by
    /// the local rules alone.
    pub declined: HashSet<BackupKey>,
}

/// Everything the archive does after the downloads: upload what it lacks (but what its own
/// retention would remove at once), apply that retention, and say what the local prune may
/// let go. `now` is the pass's.
pub async fn after_downloads(
    ctx: Context<'_>,
    archive: &Archive,
    listing: &mut ArchiveListing,
    summary: &mut Summary,
) -> AfterArchive {
    // One look at the disk for every step below: uploading only reads it.
    let copies = ctx.store.scan();
    let seals = local_seals(ctx.store, &copies);
    let declined = match &ctx.rules {
        Some(rules) => plan::declined(&copies, listing, &ctx.plan_rules(rules)),
        None => HashSet::new(),
    };
    upload_all(
        archive,
        (ctx.store, &copies),
        (listing, &declined),
        &ctx.throttle,
        ctx.cancel,
        summary,
    )
    .await;
    if ctx.cancel.is_cancelled() {
        return AfterArchive::default();
    }
    seal_all(archive, &seals, listing, summary).await;
    if let Some(rules) = &ctx.rules {
        let decisions = plan::retention(listing, &ctx.plan_rules(rules));
        let remove: Vec<BackupKey> = decisions
            .iter()
            .filter(|d| d.keep.is_empty())
            .map(|d| d.key.clone())
            .collect();
        remove_all(archive, listing, &remove, summary).await;
    }
    summary.archive_newest = newest(listing);
    let let_go = match ctx.keep_local {
        Some(age) => {
            let sealed = plan::archive_sealed(&seals, listing);
            plan::keep_local(&copies, &listing.copies, &sealed, ctx.now, age)
        }
        None => Vec::new(),
    };
    AfterArchive { let_go, declined }
}

/// What `--dry-run` shows of the archive: the uploads, the archive's retention plan, and the
/// local copies `keep_local` would let go. Read only: nothing is sent.
pub fn render_plan(
    ctx: &Context<'_>,
    copies: &[crate::model::LocalCopy],
    listing: &ArchiveListing,
    prune: &[crate::sync::prune::PruneItem],
) -> String {
    let mut out = String::new();
    let declined = match &ctx.rules {
        Some(rules) => plan::declined(copies, listing, &ctx.plan_rules(rules)),
        None => HashSet::new(),
    };
    let seals = local_seals(ctx.store, copies);
    let held = plan::archived_units(copies, listing, &seals);
    for item in prune
        .iter()
        .filter(|p| !held.contains(&p.key) && !declined.contains(&p.key))
    {
        out.push_str(&format!(
            "hold    {}  no rule keeps it, but the archive does not hold it yet: kept until it does\n",
            item.key.label()
        ));
    }
    let uploads: Vec<_> = plan::uploads(copies, &listing.copies)
        .into_iter()
        .filter(|u| !declined.contains(&u.manifest.key().unit()))
        .collect();
    for up in &uploads {
        out.push_str(&format!(
            "upload  {}  {} ({}) to the archive\n",
            up.manifest.key().label(),
            up.manifest.file,
            crate::units::human_bytes(up.manifest.size)
        ));
    }
    for seal in plan::seals(&seals, &plan::after_uploads(listing, &uploads)) {
        out.push_str(&format!(
            "seal    {}  cluster-manifest.json to the archive, after its {} nodes\n",
            seal.unit().label(),
            seal.nodes.len()
        ));
    }
    if let Some(age) = ctx.keep_local {
        let sealed = plan::archive_sealed(&seals, listing);
        for item in plan::keep_local(copies, &listing.copies, &sealed, ctx.now, age) {
            out.push_str(&format!(
                "let go  {}  local copy: archived, and older than download.keep_local\n",
                item.key.label()
            ));
        }
    }
    if let Some(rules) = &ctx.rules {
        let decisions = plan::retention(listing, &ctx.plan_rules(rules));
        out.push_str(&render_decisions("archive", &decisions));
    }
    out.push_str(&format!(
        "archive {} copies there, {} to upload\n",
        listing.copies.len(),
        uploads.len()
    ));
    out
}

/// With an archive configured: keeps out of `prune` every local copy the archive does not hold
/// and its rules would keep (all of them when it could not be listed this pass: `listing`
/// `None`), each said in the log.
pub fn hold_unarchived(
    store: &Store,
    listing: Option<(&ArchiveListing, &HashSet<BackupKey>)>,
    prune: &mut Vec<crate::sync::prune::PruneItem>,
) {
    let (held, declined) = match listing {
        Some((l, declined)) => {
            let copies = store.scan();
            let seals = local_seals(store, &copies);
            (plan::archived_units(&copies, l, &seals), declined.clone())
        }
        None => (HashSet::new(), HashSet::new()),
    };
    prune.retain(|item| {
        let ok = held.contains(&item.key) || declined.contains(&item.key);
        if !ok {
            warn!(backup = %item.key.label(), "not pruned: the archive does not hold this copy yet; it is kept until it does");
        }
        ok
    });
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

/// Seals in the archive every cluster backup complete here whose nodes all are there now
/// (after the uploads), and records each seal in `listing`.
async fn seal_all(
    archive: &Archive,
    seals: &[ClusterManifest],
    listing: &mut ArchiveListing,
    summary: &mut Summary,
) {
    for seal in plan::seals(seals, listing) {
        let unit = seal.unit();
        match archive.put_cluster_manifest(&seal).await {
            Ok(()) => {
                info!(backup = %unit.label(), nodes = seal.nodes.len(), "sealed in the archive: every node is there");
                listing.clusters.retain(|c| c.unit != unit);
                listing.clusters.push(crate::archive::ArchivedCluster {
                    unit,
                    manifest: seal,
                });
            }
            Err(e) => fail(summary, unit.label(), e.to_string()),
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

/// `--prune-plan`'s archive lines: its retention plan (nothing without `[archive.prune]`).
pub fn render_retention(ctx: &Context<'_>, listing: &ArchiveListing) -> String {
    match &ctx.rules {
        Some(rules) => {
            render_decisions("archive", &plan::retention(listing, &ctx.plan_rules(rules)))
        }
        None => String::new(),
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

/// Uploads every local copy the archive lacks, one copy at a time (its parts in parallel), and
/// records each uploaded copy in `listing` so the steps after this see it.
pub async fn upload_all(
    archive: &Archive,
    (store, copies): (&Store, &[crate::model::LocalCopy]),
    (listing, declined): (&mut ArchiveListing, &HashSet<BackupKey>),
    throttle: &Throttle,
    cancel: &CancellationToken,
    summary: &mut Summary,
) {
    let uploads = plan::uploads(copies, &listing.copies);
    for up in uploads
        .into_iter()
        .filter(|u| !declined.contains(&u.manifest.key().unit()))
    {
        if cancel.is_cancelled() {
            return;
        }
        let key = up.manifest.key();
        let label = key.label();
        let file = up.dir.join(&up.manifest.file);
        if key.cluster && !unseal(archive, listing, &key.unit(), summary).await {
            continue;
        }
        info!(backup = %label, file = %up.manifest.file, bytes = up.manifest.size, archive = %archive.url(), "uploading to the archive");
        let data = match store.open_data(&file) {
            Ok(data) => data,
            Err(e) => {
                fail(
                    summary,
                    label,
                    format!("cannot read {}: {e:?}", file.display()),
                );
                continue;
            }
        };
        match archive
            .upload(
                data,
                &file,
                &up.manifest,
                up.previous.as_ref(),
                throttle,
                cancel,
            )
            .await
        {
            Ok(sent) => {
                summary.archived += 1;
                summary.archive_bytes += sent;
                info!(backup = %label, file = %up.manifest.file, "archived");
                let folder = match archive.folder(&key) {
                    Ok(f) => f,
                    Err(_) => continue,
                };
                listing.copies.retain(|a| a.key != key);
                listing.copies.push(Archived {
                    key,
                    manifest: up.manifest,
                    folder: folder.to_string(),
                    missing: None,
                });
            }
            Err(crate::archive::ArchiveError::Cancelled) => {
                summary.stopped += 1;
                return;
            }
            Err(e) => fail(summary, label, e.to_string()),
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
        kind: "archive",
        message,
    });
}
