//! The sync plan: which listed backups to fetch, resume, leave alone or skip (with a reason),
//! which local copies retention removes, and which stale partial files go.
//!
//! Pure: what the cloud listed ([`Remote`]), a snapshot of the disk ([`LocalSnapshot`]), `now`
//! and the [`Policy`] come in as values, a [`Plan`] comes out; every rule is a table test.
//! `--dry-run` renders the plan, a pass applies it.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use time::OffsetDateTime;

use super::prune::PruneItem;
use crate::model::Backup;
use crate::model::Network;
use crate::model::{BackupKey, Listed, LocalSnapshot, LocalState, Remote, StalePartial};
use crate::names;
use crate::text::shown;

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

/// Why a listed backup is not downloaded. `Display` shows the API's text as data
/// ([`crate::text::shown`]): this reason is logged and printed by `--dry-run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    NotSuccess(String),
    Unavailable,
    Expired(String),
    NoUrl(&'static str),
    BadUrl(String),
    BadName(String),
    NoSize,
    /// `BackupSize` 0: an empty file would count as the newest verified copy (hiding the age
    /// alert, protected by `keep_last`) without a byte ever checked.
    ZeroSize,
    Duplicate,
    /// A node of a cluster backup that cannot be copied whole.
    Cluster(String),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::NotSuccess(s) => write!(f, "status is {}, not Success", shown(s)),
            SkipReason::Unavailable => f.write_str("IsAvail is false"),
            SkipReason::Expired(t) => write!(f, "expired at {t}"),
            SkipReason::NoUrl(which) => {
                write!(f, "no {which} download URL (snapshot backups have none)")
            }
            SkipReason::BadUrl(r) => write!(f, "unusable download URL: {}", shown(r)),
            SkipReason::BadName(r) => write!(f, "unsafe name: {}", shown(r)),
            SkipReason::NoSize => {
                f.write_str("no BackupSize, so the download could not be verified")
            }
            SkipReason::ZeroSize => {
                f.write_str("BackupSize is 0: there is nothing to verify a copy against")
            }
            SkipReason::Duplicate => f.write_str("listed twice; the first entry is used"),
            SkipReason::Cluster(r) => {
                write!(f, "{r}; a cluster backup is copied whole or not at all")
            }
        }
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
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Fetch(Box<Fetch>),
    UpToDate { key: BackupKey, file_name: String },
    Skip { key: BackupKey, reason: SkipReason },
}

/// How to pick URLs this run; `intranet_reachable` is decided once per run by a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlPolicy {
    pub network: Network,
    pub intranet_reachable: bool,
}

/// How to plan: which URLs to use this run, and the retention rules (`None`: prune is off).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub urls: UrlPolicy,
    pub retention: Option<Retention>,
}

/// Keep a copy until its `BackupExpireTime` + `grace`, and always the newest `keep_last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub grace: Duration,
    pub keep_last: usize,
}

/// Everything a pass will do, decided before anything is done (rustic's `PrunePlan` is the
/// model): `--dry-run` renders it, a pass applies it.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// One per listed backup, in listing order.
    pub actions: Vec<Action>,
    pub prune: Vec<PruneItem>,
    /// Partial files of backups that a successful listing of their target no longer shows.
    pub stale: Vec<StalePartial>,
}

impl Plan {
    pub fn fetches(&self) -> impl Iterator<Item = &Fetch> {
        self.actions.iter().filter_map(|a| match a {
            Action::Fetch(f) => Some(f.as_ref()),
            _ => None,
        })
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
pub fn plan(remote: &Remote, local: &LocalSnapshot, now: OffsetDateTime, policy: &Policy) -> Plan {
    let actions = decide(&remote.listed, local, now, policy.urls);
    let prune = match policy.retention {
        Some(r) => {
            let listed: HashMap<BackupKey, Backup> = remote
                .listed
                .iter()
                .map(|l| (l.key.clone(), l.backup.clone()))
                .collect();
            super::prune::plan(&local.copies, &listed, now, r.grace, r.keep_last)
        }
        None => Vec::new(),
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
        prune,
        stale,
    }
}

/// What to do with every listed backup: fetch, resume, leave alone, or skip with a reason.
pub fn decide(
    listed: &[Listed],
    local: &LocalSnapshot,
    now: OffsetDateTime,
    urls: UrlPolicy,
) -> Vec<Action> {
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
        match select(b, now, urls) {
            Err(reason) => out.push(Action::Skip { key, reason }),
            Ok(sel) => {
                let action = match local.state(&key, &sel.file_name) {
                    LocalState::Complete(m) if m.size == sel.size => Action::UpToDate {
                        key,
                        file_name: sel.file_name,
                    },
                    LocalState::Partial(n) if n <= sel.size => fetch(key, b, sel, n),
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
    }))
}

fn select(b: &Backup, now: OffsetDateTime, urls: UrlPolicy) -> Result<Selected, SkipReason> {
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
