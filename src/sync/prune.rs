//! Retention: which copies to keep and which to delete, decided as a plan, then applied.
//!
//! [`decide`] is pure (`now` comes in) and knows no folders, so the local copies and the
//! archive's are judged by the same [`Rules`]. A copy is kept if any rule keeps it, and every
//! rule that does is named ([`Keep`]), as `restic forget` does:
//! - its target did not list this pass: a failed listing, or an instance no longer configured,
//!   says nothing about its backups, so nothing of it is removed;
//! - it is kept forever on the cloud, has no expiry time, or its `BackupExpireTime` + grace is
//!   not past;
//! - it is one of the newest `keep_last` of its group (every copy counts, sound or not);
//! - the tiers, restic's semantics: walking the group newest first, `keep_daily` N keeps a
//!   copy whose day differs from the day of the last copy that rule kept, until N days are
//!   counted (days with no copy count nothing); weeks (ISO), months and years alike, all read
//!   in `schedule.timezone`. As restic does, when the walk ends with a tier not full, the oldest
//!   copy is kept too (the longest history the rules allow). `keep_within` keeps every copy
//!   taken within that long of the group's newest sound copy, not of `now`: a source that stopped
//!   backing up keeps its last stretch. The tiers count only sound copies (no rot found, not
//!   `damaged`): a broken copy never takes a bucket a good one would have kept;
//! - with any tier set, the newest sound copy of its group.
//!
//! Groups are per instance/node (per instance for cluster backups), and a cluster backup is
//! one unit: its node copies are kept or removed together. A copy's time is when its backup
//! ended (else started).
//!
//! [`plan`] judges the local copies: the listing's expiry wins over the manifest's (the cloud
//! may have extended it), and a copy without a readable manifest is left out (not provably
//! ours, or damaged: reported, never deleted). The store applies the removals
//! (`Store::prune`), deleting only folders under the download dir that hold this tool's
//! manifest for that very backup, never through a link.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;

use crate::model::{Backup, BackupKey, LocalCopy, Target, Verdict};
use crate::schedule::Zone;

/// A folder to delete: a unit no rule keeps (or a local copy `download.keep_local` lets go).
#[derive(Debug, Clone, PartialEq)]
pub struct PruneItem {
    pub key: BackupKey,
    pub dir: PathBuf,
    pub expired_at: OffsetDateTime,
}

pub use crate::model::Rules;

/// One unit of retention, whatever store holds it: a copy, or a whole cluster backup.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// The unit's key ([`BackupKey::unit`]).
    pub key: BackupKey,
    /// The backup as best known: the listing's, else the manifest's.
    pub backup: Backup,
    /// No rot found and not `damaged` (for a cluster backup: every node's copy). Only sound
    /// copies fill the tiers.
    pub sound: bool,
    /// The cloud spoke of its backup this pass (listed it, or answered a lookup by its id):
    /// its expiry is the cloud's, not only what a manifest once recorded.
    pub confirmed: bool,
}

/// Why a unit is kept; a unit no rule keeps is removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keep {
    /// Its target's listing did not succeed this pass.
    NotListed,
    /// `BackupExpireTime` + grace is after `now`.
    NotExpired {
        until: OffsetDateTime,
    },
    NoExpiry,
    Forever,
    /// One of the newest `keep_last`: this is the n-th newest (from 1).
    Last(usize),
    /// The newest sound copy of this day (`2026-11-30`), ISO week (`2026-W48`), month
    /// (`2026-11`) or year (`2026`).
    Daily(String),
    Weekly(String),
    Monthly(String),
    Yearly(String),
    /// The oldest sound copy, kept because a tier still had buckets left (restic's rule).
    Oldest,
    /// Taken within `keep_within` of the group's newest sound copy.
    Within(Duration),
    /// Expired only as its manifest recorded: the cloud is asked (by its `BackupId`) before
    /// it goes, since `ModifyBackupExpireTime` may have extended it (issue #21).
    Unconfirmed,
    /// The newest sound copy of its group (kept whenever a tier is set).
    Newest,
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keep::NotListed => f.write_str("not listed this pass"),
            Keep::NotExpired { until } => {
                write!(f, "not expired (until {})", crate::model::timestamp(*until))
            }
            Keep::NoExpiry => f.write_str("no expiry time known"),
            Keep::Forever => f.write_str("kept forever on the cloud"),
            Keep::Last(n) => write!(f, "last {n}"),
            Keep::Daily(b) => write!(f, "daily {b}"),
            Keep::Weekly(b) => write!(f, "weekly {b}"),
            Keep::Monthly(b) => write!(f, "monthly {b}"),
            Keep::Yearly(b) => write!(f, "yearly {b}"),
            Keep::Oldest => f.write_str("oldest (a tier is not full)"),
            Keep::Within(d) => write!(f, "within {} of the newest", humantime::format_duration(*d)),
            Keep::Newest => f.write_str("newest sound copy"),
            Keep::Unconfirmed => f.write_str("expired as recorded; not yet confirmed by the cloud"),
        }
    }
}

/// What retention decided for one unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub key: BackupKey,
    /// When its backup was taken (ended, else started).
    pub taken: Option<OffsetDateTime>,
    /// Its `BackupExpireTime` (the listing's, else the manifest's).
    pub expire: Option<OffsetDateTime>,
    /// Every rule that keeps it; empty: it is removed.
    pub keep: Vec<Keep>,
}

impl Decision {
    pub fn removed(&self) -> bool {
        self.keep.is_empty()
    }
}

/// Decides every unit: per group (instance, node, cluster), newest first; groups in key
/// order. `targets`: the targets whose listing succeeded this pass.
pub fn decide(
    units: Vec<Unit>,
    targets: &BTreeSet<Target>,
    rules: &Rules,
    zone: Zone,
    now: OffsetDateTime,
) -> Vec<Decision> {
    let mut groups: BTreeMap<(String, Option<String>, bool), Vec<Unit>> = BTreeMap::new();
    for unit in units {
        let group = (
            unit.key.instance_id.clone(),
            unit.key.node_id.clone(),
            unit.key.cluster,
        );
        groups.entry(group).or_default().push(unit);
    }
    let mut out = Vec::new();
    for (_, mut members) in groups {
        // Newest first, by when the backup was taken (undated ones last).
        members.sort_by_key(|u| Reverse((taken(&u.backup), u.key.backup_id.clone())));
        out.extend(decide_group(members, targets, rules, zone, now));
    }
    out
}

fn taken(b: &Backup) -> Option<OffsetDateTime> {
    b.backup_end_time.or(b.backup_start_time)
}

/// One group, sorted newest first.
fn decide_group(
    members: Vec<Unit>,
    targets: &BTreeSet<Target>,
    rules: &Rules,
    zone: Zone,
    now: OffsetDateTime,
) -> Vec<Decision> {
    // The tiers see only sound copies with a time.
    let dated = |u: &Unit| u.sound && taken(&u.backup).is_some();
    let newest_sound = members.iter().position(|u| u.sound);
    let newest_dated = members
        .iter()
        .find(|u| dated(u))
        .and_then(|u| taken(&u.backup));
    let oldest_dated = members.iter().rposition(dated);
    let mut tiers = Tiers::new(rules);
    let mut out = Vec::with_capacity(members.len());
    for (rank, unit) in members.into_iter().enumerate() {
        let at = taken(&unit.backup);
        let mut keep = floors(&unit, targets, rules.grace, now);
        if rank < rules.keep_last {
            keep.push(Keep::Last(rank + 1));
        }
        if let (true, Some(at)) = (unit.sound, at) {
            keep.extend(tiers.walk(zone.date_of(at), Some(rank) == oldest_dated));
            if let (Some(within), Some(newest)) = (rules.keep_within, newest_dated)
                && (newest - at).unsigned_abs() < within
            {
                keep.push(Keep::Within(within));
            }
        }
        if rules.tiers() && Some(rank) == newest_sound {
            keep.push(Keep::Newest);
        }
        // "No longer listed" is never read as "expired": the recorded expiry is checked with
        // the cloud first.
        if keep.is_empty() && !unit.confirmed {
            keep.push(Keep::Unconfirmed);
        }
        out.push(Decision {
            key: unit.key,
            taken: at,
            expire: unit.backup.backup_expire_time,
            keep,
        });
    }
    out
}

/// The rules that keep a unit whatever its rank: its listing, and the cloud's expiry.
fn floors(
    unit: &Unit,
    targets: &BTreeSet<Target>,
    grace: Duration,
    now: OffsetDateTime,
) -> Vec<Keep> {
    let mut keep = Vec::new();
    if !targets.contains(&unit.key.target()) {
        keep.push(Keep::NotListed);
    }
    let b = &unit.backup;
    match b.backup_expire_time {
        _ if b.is_kept_forever() => keep.push(Keep::Forever),
        None => keep.push(Keep::NoExpiry),
        Some(expire) => {
            // A grace too long to add is no deadline at all.
            let until = time::Duration::try_from(grace)
                .ok()
                .and_then(|g| expire.checked_add(g));
            match until {
                Some(until) if until <= now => {}
                Some(until) => keep.push(Keep::NotExpired { until }),
                None => keep.push(Keep::NotExpired { until: expire }),
            }
        }
    }
    keep
}

/// Day, ISO week, month, year.
#[derive(Debug, Clone, Copy)]
enum Period {
    Day,
    Week,
    Month,
    Year,
}

impl Period {
    fn bucket(self, d: time::Date) -> String {
        match self {
            Period::Day => format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
            Period::Week => {
                let (year, week, _) = d.to_iso_week_date();
                format!("{year:04}-W{week:02}")
            }
            Period::Month => format!("{:04}-{:02}", d.year(), u8::from(d.month())),
            Period::Year => format!("{:04}", d.year()),
        }
    }

    fn keep(self, bucket: String) -> Keep {
        match self {
            Period::Day => Keep::Daily(bucket),
            Period::Week => Keep::Weekly(bucket),
            Period::Month => Keep::Monthly(bucket),
            Period::Year => Keep::Yearly(bucket),
        }
    }
}

/// The tier rules' state along one group's walk: buckets left, and the last bucket kept.
struct Tiers(Vec<(Period, usize, Option<String>)>);

impl Tiers {
    fn new(rules: &Rules) -> Tiers {
        let all = [
            (Period::Day, rules.keep_daily),
            (Period::Week, rules.keep_weekly),
            (Period::Month, rules.keep_monthly),
            (Period::Year, rules.keep_yearly),
        ];
        Tiers(all.into_iter().map(|(p, n)| (p, n, None)).collect())
    }

    /// The next sound copy of the walk, taken on local date `date`: the buckets it opens.
    /// `oldest`: the walk's last copy, kept too while any tier has buckets left.
    fn walk(&mut self, date: time::Date, oldest: bool) -> Vec<Keep> {
        let mut keep = Vec::new();
        let mut left_over = false;
        for (period, left, last) in &mut self.0 {
            if *left == 0 {
                continue;
            }
            let bucket = period.bucket(date);
            if last.as_ref() != Some(&bucket) {
                *left -= 1;
                *last = Some(bucket.clone());
                keep.push(period.keep(bucket));
            } else if oldest {
                left_over = true;
            }
        }
        if left_over && keep.is_empty() {
            keep.push(Keep::Oldest);
        }
        keep
    }
}

/// Local retention: every unit's decision (for `--dry-run`), and the folders to delete.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LocalRetention {
    pub decisions: Vec<Decision>,
    pub remove: Vec<PruneItem>,
}

/// Decides the local copies. `listed` holds the current listing's view of each backup, and
/// `confirmed` what the cloud answered when asked by id (`None`: it no longer has it): either
/// way its expiry time wins over the manifest's. A copy the cloud said nothing of this pass is
/// never removed on its manifest's expiry alone ([`Keep::Unconfirmed`]). A cluster backup's
/// folder is the one above its nodes'.
pub fn plan(
    copies: &[LocalCopy],
    listed: &HashMap<BackupKey, Backup>,
    confirmed: &HashMap<BackupKey, Option<Backup>>,
    targets: &BTreeSet<Target>,
    rules: &Rules,
    zone: Zone,
    now: OffsetDateTime,
) -> LocalRetention {
    let mut units: BTreeMap<BackupKey, (PathBuf, Unit)> = BTreeMap::new();
    for copy in copies {
        let Ok(manifest) = &copy.manifest else {
            continue;
        };
        let key = manifest.key();
        let asked = confirmed.get(&key);
        let backup = listed
            .get(&key)
            .or(asked.and_then(Option::as_ref))
            .unwrap_or(&manifest.backup);
        let spoke = listed.contains_key(&key) || asked.is_some();
        let dir = match (key.cluster, copy.dir.parent()) {
            (true, Some(parent)) => parent.to_path_buf(),
            _ => copy.dir.clone(),
        };
        let (_, unit) = units.entry(key.unit()).or_insert_with(|| {
            let unit = Unit {
                key: key.unit(),
                backup: backup.clone(),
                sound: true,
                confirmed: true,
            };
            (dir, unit)
        });
        unit.confirmed &= spoke;
        // A cluster backup is sound only if every node's copy is.
        unit.sound &= manifest.rot.is_none() && manifest.format_verdict != Some(Verdict::Damaged);
    }
    let dirs: HashMap<BackupKey, PathBuf> = units
        .iter()
        .map(|(key, (dir, _))| (key.clone(), dir.clone()))
        .collect();
    let units = units.into_values().map(|(_, unit)| unit).collect();
    let decisions = decide(units, targets, rules, zone, now);
    let remove = decisions
        .iter()
        .filter(|d| d.removed())
        .filter_map(|d| {
            Some(PruneItem {
                key: d.key.clone(),
                dir: dirs.get(&d.key)?.clone(),
                // Only an expired unit is ever removed, so it has an expiry.
                expired_at: d.expire?,
            })
        })
        .collect();
    LocalRetention { decisions, remove }
}

#[cfg(test)]
mod tests;
