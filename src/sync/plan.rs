//! The sync plan: which listed backups to fetch, resume, leave alone or skip (with a reason),
//! which local copies retention removes, and which stale partial files go.
//!
//! Pure: what the cloud listed ([`Remote`]), a snapshot of the disk ([`OnDisk`]), `now`
//! and the [`Policy`] come in as values, a [`Plan`] comes out; every rule is a table test.
//! `--dry-run` renders the plan, a pass applies it.

use std::collections::{HashMap, HashSet};
use std::fmt;

use time::OffsetDateTime;

use super::prune::{Decision, PruneItem, Rules};
use crate::config::SnapshotInstances;
use crate::model::Network;
use crate::model::{Backup, ExportInfo};
use crate::model::{BackupKey, Listed, LocalState, OnDisk, Remote, StalePartial};
use crate::names;

pub use skip::SkipReason;
use snapshot::{is_snapshot, newest_snapshots, snapshot};

mod skip;
mod snapshot;

/// Which URL a download uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Public,
    Intranet,
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Via::Public => "public",
            Via::Intranet => "intranet",
        })
    }
}

/// One download to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetch {
    pub key: BackupKey,
    pub backup: Backup,
    pub file_name: String,
    pub url: String,
    pub via: Via,
    /// The public URL to fall back to when the intranet one cannot be reached (`auto` only).
    pub fallback: Option<String>,
    pub size: u64,
    /// Bytes already in the partial file (0: a fresh download).
    pub resume_from: u64,
    /// For an exported snapshot: the DBS task whose archive this is.
    pub export: Option<ExportInfo>,
    /// Waits for the archive's listing (it may hold this backup: see
    /// [`Policy::awaiting_archive`]).
    pub awaits_archive: bool,
}

/// A snapshot backup to export through a DBS download task, then download like any other.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    pub key: BackupKey,
    pub backup: Backup,
    /// `<BackupId>.tar.zst`.
    pub file_name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Fetch(Box<Fetch>),
    Export(Box<Export>),
    UpToDate {
        key: BackupKey,
        file_name: String,
    },
    /// No local copy, but a sound copy is in the archive (the local one went by
    /// `download.keep_local`): nothing to fetch.
    Archived {
        key: BackupKey,
        file_name: String,
    },
    Skip {
        key: BackupKey,
        reason: SkipReason,
    },
}

/// How to pick URLs this run; `intranet_reachable` is decided once per run by a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlPolicy {
    pub network: Network,
    pub intranet_reachable: bool,
}

/// How to plan: which URLs to use this run, and the retention rules (`None`: prune is off).
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub urls: UrlPolicy,
    pub retention: Option<Retention>,
    /// Which snapshot backups to export (`None`: `[snapshots] download` is off).
    pub exports: Option<ExportPolicy>,
    /// (backup, file name, size) of every sound copy the archive holds; a backup found there
    /// and not on disk is not fetched again.
    pub archived: HashSet<(BackupKey, String, u64)>,
    /// `download.keep_local`, while the archive has not answered its listing yet: a backup
    /// older than that may be one `keep_local` let go, so its fetch waits for the archive's
    /// word; every other fetch goes at once (a slow archive delays no download; issue #21).
    pub awaiting_archive: Option<std::time::Duration>,
}

impl Policy {
    /// Whether the archive, not listed yet, may hold `b` as a copy `keep_local` let go.
    fn may_hold(&self, b: &Backup, now: OffsetDateTime) -> bool {
        self.awaiting_archive.is_some_and(|keep| {
            b.backup_end_time
                .or(b.backup_start_time)
                .is_none_or(|taken| taken + keep <= now)
        })
    }

    /// Whether the archive holds a sound copy of `file_name` of `key` (of `size`, when known).
    fn holds(&self, key: &BackupKey, file_name: &str, size: Option<u64>) -> bool {
        self.archived
            .iter()
            .any(|(k, f, n)| k == key && f == file_name && size.is_none_or(|s| s == *n))
    }
}

/// Only a URL choice: no retention, no exports.
impl From<UrlPolicy> for Policy {
    fn from(urls: UrlPolicy) -> Policy {
        Policy {
            urls,
            retention: None,
            exports: None,
            archived: HashSet::new(),
            awaiting_archive: None,
        }
    }
}

/// `[snapshots]` as the planner needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportPolicy {
    pub instances: SnapshotInstances,
    pub latest_only: bool,
    /// Each instance's `StorageType`, where known ([`Remote::storage`]).
    pub storage: std::collections::BTreeMap<String, String>,
}

/// The local retention rules, and the time zone their day, week, month and year buckets are
/// read in (`schedule.timezone`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub rules: Rules,
    pub zone: crate::schedule::Zone,
}

/// Everything a pass will do, decided before anything is done (rustic's `PrunePlan` is the
/// model): `--dry-run` renders it, a pass applies it.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// One per listed backup, in listing order.
    pub actions: Vec<Action>,
    /// Every local copy (unit) retention judged: kept and why, or removed.
    pub retention: Vec<Decision>,
    pub prune: Vec<PruneItem>,
    /// Partial files of backups that a successful listing of their target no longer shows.
    pub stale: Vec<StalePartial>,
}

impl Plan {
    /// The units retention would remove but for the cloud's word on their expiry
    /// ([`super::prune::Keep::Unconfirmed`]): the ones to ask the API about by id.
    pub fn unconfirmed(&self) -> Vec<BackupKey> {
        self.retention
            .iter()
            .filter(|d| d.keep == [super::prune::Keep::Unconfirmed])
            .map(|d| d.key.clone())
            .collect()
    }

    pub fn fetches(&self) -> impl Iterator<Item = &Fetch> {
        self.actions.iter().filter_map(|a| match a {
            Action::Fetch(f) => Some(f.as_ref()),
            _ => None,
        })
    }

    pub fn exports(&self) -> impl Iterator<Item = &Export> {
        self.actions.iter().filter_map(|a| match a {
            Action::Export(e) => Some(e.as_ref()),
            _ => None,
        })
    }

    /// The fetches that wait for the archive's listing, and then go only where the archive
    /// does not hold their copy (pure: the archive's copies come in).
    pub fn settle(
        waiting: Vec<Fetch>,
        archived: &HashSet<(BackupKey, String, u64)>,
    ) -> (Vec<Fetch>, usize) {
        let before = waiting.len();
        let go: Vec<Fetch> = waiting
            .into_iter()
            .filter(|f| !archived.contains(&(f.key.clone(), f.file_name.clone(), f.size)))
            .map(|f| Fetch {
                awaits_archive: false,
                ..f
            })
            .collect();
        let held = before - go.len();
        (go, held)
    }

    pub fn into_fetches(self) -> Vec<Fetch> {
        self.actions
            .into_iter()
            .filter_map(|a| match a {
                Action::Fetch(f) => Some(*f),
                _ => None,
            })
            .collect()
    }
}

/// The plan for what the cloud listed and what the disk holds.
pub fn plan(remote: &Remote, local: &OnDisk, now: OffsetDateTime, policy: &Policy) -> Plan {
    let actions = decide(&remote.listed, local, now, policy);
    let (retention, prune) = match policy.retention {
        Some(r) => {
            let listed: HashMap<BackupKey, Backup> = remote
                .listed
                .iter()
                .map(|l| (l.key.clone(), l.backup.clone()))
                .collect();
            let targets = &remote.targets;
            let confirmed = &remote.confirmed;
            let p = super::prune::plan(
                &local.copies,
                &listed,
                confirmed,
                targets,
                &r.rules,
                r.zone,
                now,
            );
            (p.decisions, p.remove)
        }
        None => (Vec::new(), Vec::new()),
    };
    let current: HashSet<&BackupKey> = remote.listed.iter().map(|l| &l.key).collect();
    let stale = local
        .partials
        .iter()
        .filter(|p| remote.targets.contains(&p.key.target()) && !current.contains(&p.key))
        .cloned()
        .collect();
    Plan {
        actions,
        retention,
        prune,
        stale,
    }
}

/// What to do with every listed backup: fetch, resume, leave alone, or skip with a reason.
pub fn decide(
    listed: &[Listed],
    local: &OnDisk,
    now: OffsetDateTime,
    policy: &Policy,
) -> Vec<Action> {
    let newest = newest_snapshots(listed, now);
    let latest = newest_per_target(listed);
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(listed.len());
    for Listed {
        key,
        backup: b,
        refused,
    } in listed
    {
        let key = key.clone();
        if !seen.insert(key.clone()) {
            out.push(Action::Skip {
                key,
                reason: SkipReason::Duplicate,
            });
            continue;
        }
        if let Some(r) = refused {
            out.push(Action::Skip {
                key,
                reason: SkipReason::Cluster(r.clone()),
            });
            continue;
        }
        // An instance, node or backup id that is no plain name (discovery is network input)
        // has no folder: skipped here, never a failure every pass (issue #21).
        if let Err((_, reason)) = key.folder_names() {
            out.push(Action::Skip {
                key,
                reason: SkipReason::BadName(reason),
            });
            continue;
        }
        if is_snapshot(b) {
            out.push(snapshot(key, b, local, now, policy, &newest));
            continue;
        }
        match select(b, now, policy.urls) {
            Err(reason) => out.push(Action::Skip { key, reason }),
            Ok(sel) => {
                let action = match local.state(&key, &sel.file_name) {
                    LocalState::Complete { size } if size == sel.size => Action::UpToDate {
                        key,
                        file_name: sel.file_name,
                    },
                    LocalState::Partial(n) if n <= sel.size => fetch(key, b, sel, n),
                    LocalState::Missing if policy.holds(&key, &sel.file_name, Some(sel.size)) => {
                        let file_name = sel.file_name;
                        Action::Archived { key, file_name }
                    }
                    // The newest of its target is never let go by keep_local: it goes now.
                    LocalState::Missing if !latest.contains(&key) && policy.may_hold(b, now) => {
                        let mut f = fetch(key, b, sel, 0);
                        if let Action::Fetch(f) = &mut f {
                            f.awaits_archive = true;
                        }
                        f
                    }
                    _ => fetch(key, b, sel, 0),
                };
                out.push(action);
            }
        }
    }
    out
}

struct Selected {
    url: String,
    via: Via,
    fallback: Option<String>,
    file_name: String,
    size: u64,
}

fn fetch(key: BackupKey, b: &Backup, sel: Selected, resume_from: u64) -> Action {
    Action::Fetch(Box::new(Fetch {
        key,
        backup: b.clone(),
        file_name: sel.file_name,
        url: sel.url,
        via: sel.via,
        fallback: sel.fallback,
        size: sel.size,
        resume_from,
        export: None,
        awaits_archive: false,
    }))
}

/// The newest listed backup of each target (by when it was taken).
fn newest_per_target(listed: &[Listed]) -> HashSet<BackupKey> {
    let mut best: HashMap<crate::model::Target, &Listed> = HashMap::new();
    for l in listed {
        let taken = |l: &Listed| l.backup.backup_end_time.or(l.backup.backup_start_time);
        let slot = best.entry(l.key.target()).or_insert(l);
        if taken(l) > taken(slot) {
            *slot = l;
        }
    }
    best.into_values().map(|l| l.key.clone()).collect()
}

/// A backup fit to copy: a safe id, `Success`, available, not expired.
pub(super) fn eligible(b: &Backup, now: OffsetDateTime) -> Result<(), SkipReason> {
    names::check_id("backup id", &b.backup_id).map_err(SkipReason::BadName)?;
    if !b.is_success() {
        return Err(SkipReason::NotSuccess(b.backup_status.clone()));
    }
    if !b.is_avail {
        return Err(SkipReason::Unavailable);
    }
    if let Some(t) = b
        .backup_expire_time
        .filter(|t| *t <= now && !b.is_kept_forever())
    {
        return Err(SkipReason::Expired(crate::model::timestamp(t)));
    }
    Ok(())
}

fn select(b: &Backup, now: OffsetDateTime, urls: UrlPolicy) -> Result<Selected, SkipReason> {
    eligible(b, now)?;
    let public = b.download_url.as_deref();
    let intranet = b.intranet_download_url.as_deref();
    let (url, via, fallback) = match urls.network {
        Network::Public => (
            public.ok_or(SkipReason::NoUrl("public"))?,
            Via::Public,
            None,
        ),
        Network::Intranet => (
            intranet.ok_or(SkipReason::NoUrl("intranet"))?,
            Via::Intranet,
            None,
        ),
        Network::Auto => match (intranet, public) {
            (Some(i), p) if urls.intranet_reachable => (i, Via::Intranet, p),
            (_, Some(p)) => (p, Via::Public, None),
            (Some(i), None) => (i, Via::Intranet, None),
            (None, None) => return Err(SkipReason::NoUrl("public or intranet")),
        },
    };
    let parsed = check_url(url)?;
    if let Some(f) = fallback {
        check_url(f)?;
    }
    let file_name = names::file_name_from_url(&parsed).map_err(SkipReason::BadName)?;
    if let Some(reason) = crate::model::own_file_collision(&file_name) {
        return Err(SkipReason::BadName(reason));
    }
    let size = b.backup_size.ok_or(SkipReason::NoSize)?;
    if size == 0 {
        return Err(SkipReason::ZeroSize);
    }
    if size > crate::model::MAX_OBJECT_SIZE {
        return Err(SkipReason::TooBig(size));
    }
    Ok(Selected {
        url: url.to_string(),
        via,
        fallback: fallback.map(str::to_string),
        file_name,
        size,
    })
}

/// Only plain http(s) URLs without user info are fetched (the one rule: [`crate::urls`]).
pub fn check_url(raw: &str) -> Result<url::Url, SkipReason> {
    crate::urls::check(raw).map_err(SkipReason::BadUrl)
}

#[cfg(test)]
mod tests;
