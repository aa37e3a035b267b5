//! `--verify`: re-checks every local copy against its manifest (size, sha256) and its format,
//! collecting every problem as data instead of stopping at the first; and the optional repair
//! that removes rotted copies so the next pass fetches them again.
//!
//! Rot (bytes that no longer match their manifest) is a problem that repair fixes. A format
//! finding on the bytes the manifest vouches for is the cloud's (rule 2 of the integrity
//! contract): `damaged` is a problem that repair never touches, `unrecognised` a note; the
//! verdict is recorded in the manifest.
//!
//! Reads only what [`Store::scan`] finds (real folders holding a manifest, no symlinks
//! followed), each data file once. Changes nothing but the verdicts in manifests, except
//! [`apply_repair`], which removes only the data file and manifest of copies [`plan_repair`]
//! picked, in the folder the layout gives their backup.

mod bytes;
pub mod format;
pub mod select;
pub mod verdict;

pub use bytes::check_bytes;

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::model::{BackupKey, LocalCopy, MANIFEST, Manifest};
use crate::store::{DataError, Store};
use crate::throttle::Throttle;
pub use select::Scope;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use verdict::FormatVerdict;

/// One problem with one local copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    BadManifest(String),
    Missing,
    NotAFile,
    Size {
        expected: u64,
        got: u64,
    },
    Sha256 {
        expected: String,
        got: String,
    },
    /// The bytes differ from the manifest and do not parse either (a symptom of rot).
    Format(String),
    /// The bytes are the ones the manifest vouches for and break inside their format: damaged
    /// at the source. A problem, but never repaired (the cloud has the same bytes).
    Damaged(String),
    /// The bytes are the ones the manifest vouches for and do not start like their format: a
    /// note, not a problem.
    Unrecognised(String),
    Unreadable(String),
}

impl Problem {
    /// Rot: bytes that no longer match their own manifest (as opposed to a missing file, a
    /// manifest problem, or damage at the source): the only thing repair removes.
    pub fn is_corrupt(&self) -> bool {
        matches!(
            self,
            Problem::Size { .. } | Problem::Sha256 { .. } | Problem::Format(_)
        )
    }

    /// Worth a look, not a failure: `--verify` prints it as a NOTE and exits 0 for it.
    pub fn is_note(&self) -> bool {
        matches!(self, Problem::Unrecognised(_))
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::BadManifest(r) => write!(f, "manifest unreadable: {r}"),
            Problem::Missing => f.write_str("data file missing"),
            Problem::NotAFile => f.write_str("data file is not a regular file (symlink?)"),
            Problem::Size { expected, got } => write!(f, "size expected {expected} got {got}"),
            Problem::Sha256 { expected, got } => write!(f, "sha256 expected {expected} got {got}"),
            Problem::Format(r) => write!(f, "format: {r}"),
            Problem::Damaged(r) => write!(
                f,
                "damaged at the source: {r} (the bytes are the ones the cloud served)"
            ),
            Problem::Unrecognised(r) => write!(
                f,
                "unrecognised: {r} (the bytes are the ones the cloud served; the name may not say what they hold)"
            ),
            Problem::Unreadable(r) => write!(f, "cannot read: {r}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Finding {
    /// `instance[/node]/backup`, or the folder (under the store) when the manifest is unreadable.
    pub label: String,
    /// The backup, when the manifest says which.
    pub key: Option<BackupKey>,
    pub dir: PathBuf,
    pub problem: Problem,
}

#[derive(Debug, Default)]
pub struct VerifyReport {
    pub checked: usize,
    pub findings: Vec<Finding>,
    /// Manifests whose verdict the scrub recorded or changed.
    pub verdicts_recorded: usize,
    /// Copies skipped because they were verified within `max_age`.
    pub recent: usize,
    /// Due copies the sample left out.
    pub unsampled: usize,
    /// With a sample: the labels of the copies picked, in the order read.
    pub picked: Vec<String>,
    /// A shutdown stopped the scrub before every picked copy was checked (the one it was
    /// reading counts as not checked, with no finding).
    pub stopped: bool,
}

impl VerifyReport {
    /// Findings that make `--verify` exit 1 (everything but notes).
    pub fn problems(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| !f.problem.is_note())
            .count()
    }
}

/// Brings the manifest up to date after a check of bytes it vouches for: the verdict, when it
/// has none (written before verdicts existed) or a different one (the download checks gzip only
/// by its header; the scrub inflates it), a rot mark cleared, and `verified_at` set to `stamp`
/// (when given) if the check found no problem (a damaged or rotted copy stays due, so every
/// scrub reports it). Nothing is written when nothing changes. The caller holds the copy's lock.
fn update_manifest(
    dir: &Path,
    manifest: &Manifest,
    check: &CopyCheck,
    stamp: Option<OffsetDateTime>,
    report: &mut VerifyReport,
) {
    let now = stamp.unwrap_or_else(OffsetDateTime::now_utc);
    if let Some(rot) = check.problems.iter().find(|p| p.is_corrupt()) {
        // Recorded once: the next pass fetches the copy again, the metrics count it.
        if manifest.rot.is_none() {
            let mut updated = manifest.clone();
            updated.rot = Some(crate::model::Rot {
                found_at: now,
                problem: rot.to_string(),
                problems: check.problems.iter().filter(|p| !p.is_note()).count() as u64,
            });
            if let Err(e) = crate::store::write_manifest(&dir.join(MANIFEST), &updated) {
                tracing::warn!(backup = %manifest.key().label(), "cannot record the rot: {e}");
            }
        }
        return;
    }
    let Some(v) = &check.verdict else { return };
    let new_verdict =
        manifest.format_verdict != Some(v.verdict) || manifest.format_detail != v.detail;
    let clean = check.problems.iter().all(Problem::is_note);
    let unmark = clean && manifest.rot.is_some();
    let stamped = clean && stamp.is_some();
    if !(new_verdict || unmark || stamped) {
        return;
    }
    let mut updated = manifest.clone();
    updated.format_verdict = Some(v.verdict);
    updated.format_detail.clone_from(&v.detail);
    if clean {
        if let Some(at) = stamp {
            updated.verified_at = at;
        }
        updated.rot = None;
    }
    match crate::store::write_manifest(&dir.join(MANIFEST), &updated) {
        Ok(()) => report.verdicts_recorded += usize::from(new_verdict),
        Err(e) => {
            tracing::warn!(backup = %manifest.key().label(), "cannot update the manifest: {e}");
        }
    }
}

/// Checks every copy in the store, at full speed.
pub fn verify_store(store: &Store) -> VerifyReport {
    verify_scoped(
        store,
        &Scope::default(),
        OffsetDateTime::now_utc(),
        &Throttle::unlimited(),
        &CancellationToken::new(),
    )
}

/// Checks the copies `scope` picks at `now`, reading no faster than `throttle` allows, until
/// `stop` is cancelled (then at once, even in the middle of a copy: a scrub of terabytes must
/// not hold the daemon's shutdown; issue #21).
pub fn verify_scoped(
    store: &Store,
    scope: &Scope,
    now: OffsetDateTime,
    throttle: &Throttle,
    stop: &CancellationToken,
) -> VerifyReport {
    let mut report = VerifyReport::default();
    let copies = store.scan();
    let labelled: Vec<(String, Option<OffsetDateTime>)> = copies
        .iter()
        .map(|c| match &c.manifest {
            Ok(m) => (m.key().label(), Some(m.verified_at)),
            Err(_) => (c.dir.display().to_string(), None),
        })
        .collect();
    let selection = select::select(&labelled, now, scope);
    report.recent = selection.recent;
    report.unsampled = selection.unsampled;
    let mut copies: Vec<Option<LocalCopy>> = copies.into_iter().map(Some).collect();
    for i in selection.picked {
        let Some(copy) = copies[i].take() else {
            continue;
        };
        if stop.is_cancelled() {
            report.stopped = true;
            break;
        }
        if scope.sample.is_some() {
            report.picked.push(labelled[i].0.clone());
        }
        // `verified_at` is read only to pick the copies due (`max_age`): a scrub without one
        // stamps nothing, and so rewrites no manifest of a copy that is fine (issue #21).
        let stamp = scope.max_age.map(|_| now);
        check_one(store, copy, stamp, (throttle, stop), &mut report);
    }
    report
}

fn check_one(
    store: &Store,
    copy: LocalCopy,
    stamp: Option<OffsetDateTime>,
    (throttle, stop): (&Throttle, &CancellationToken),
    report: &mut VerifyReport,
) {
    report.checked += 1;
    let LocalCopy { dir, manifest } = copy;
    let manifest = match manifest {
        Ok(m) => m,
        Err(reason) => {
            let label = dir.strip_prefix(store.root()).unwrap_or(&dir);
            report.findings.push(Finding {
                label: label.display().to_string(),
                key: None,
                dir,
                problem: Problem::BadManifest(reason),
            });
            return;
        }
    };
    let key = manifest.key();
    // Under the copy's lock, and with its manifest read again: a pass may have published a
    // new copy (or pruned this one) since the scan.
    let _held = match store.copy_lock(&key) {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!(backup = %key.label(), "not checked: {e}");
            report.checked -= 1;
            return;
        }
    };
    let manifest = match crate::store::read_manifest(&dir.join(MANIFEST)) {
        Ok(now_there) if now_there.key() == key => now_there,
        _ => {
            tracing::info!(backup = %key.label(), "not checked: the copy changed or went since the scan");
            report.checked -= 1;
            return;
        }
    };
    let check = check_copy_limited(store, &dir, &manifest, throttle, stop);
    if stop.is_cancelled() {
        // Cut short: what it read says nothing about the copy.
        report.checked -= 1;
        report.stopped = true;
        return;
    }
    update_manifest(&dir, &manifest, &check, stamp, report);
    if manifest.rot.is_none() && check.problems.iter().any(|p| p.is_corrupt()) {
        // A cluster backup with a rotted node is no longer complete here.
        if let Err(e) = store.unseal_cluster(&manifest.key()) {
            tracing::warn!(backup = %manifest.key().label(), "cannot withdraw the cluster manifest: {e}");
        }
    }
    for problem in check.problems {
        report.findings.push(Finding {
            label: key.label(),
            key: Some(key.clone()),
            dir: dir.clone(),
            problem,
        });
    }
}

/// What one copy's check found: its problems, and (when its bytes are the ones the manifest
/// vouches for) the format verdict they earn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyCheck {
    pub problems: Vec<Problem>,
    pub verdict: Option<FormatVerdict>,
}

/// Size, sha256 and format of one copy, from one read of the file, and the verdict for its
/// manifest. A format finding on bytes
/// that differ from the manifest is rot ([`Problem::Format`]); on the bytes the manifest
/// vouches for it is the cloud's: `damaged` (a problem) or `unrecognised` (a note).
pub fn check_copy(store: &Store, dir: &Path, manifest: &Manifest) -> CopyCheck {
    let never = CancellationToken::new();
    check_copy_limited(store, dir, manifest, &Throttle::unlimited(), &never)
}

/// [`check_copy`], reading no faster than `throttle` allows, until `stop`.
fn check_copy_limited(
    store: &Store,
    dir: &Path,
    manifest: &Manifest,
    throttle: &Throttle,
    stop: &CancellationToken,
) -> CopyCheck {
    let only = |p| CopyCheck {
        problems: vec![p],
        verdict: None,
    };
    let Some(name) = crate::names::sanitize_file_name(&manifest.file)
        .ok()
        .filter(|n| n != MANIFEST)
    else {
        return only(Problem::BadManifest(format!(
            "file name {:?} is not usable",
            manifest.file
        )));
    };
    let (file, len) = match store.open_data(&dir.join(name)) {
        Ok(opened) => opened,
        Err(DataError::Missing) => return only(Problem::Missing),
        Err(DataError::NotAFile) => return only(Problem::NotAFile),
        Err(DataError::Unreadable(e)) => return only(Problem::Unreadable(e)),
    };
    bytes::check_bytes(manifest, len, Stoppable { inner: file, stop }, throttle)
}

/// A reader that fails as soon as `stop` is cancelled.
struct Stoppable<'a, R> {
    inner: R,
    stop: &'a CancellationToken,
}

impl<R: std::io::Read> std::io::Read for Stoppable<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.stop.is_cancelled() {
            return Err(std::io::Error::other("stopped by a shutdown request"));
        }
        self.inner.read(buf)
    }
}

/// The backups whose copies [`apply_repair`] should remove: corrupt content (size, sha256 or
/// format) and still listed, so the next pass can fetch them again. A corrupt copy of a backup
/// the cloud no longer lists is left alone: it may still be the best there is. A missing data
/// file needs no repair (the next pass fetches it anyway), a bad manifest needs a human.
pub fn plan_repair(findings: &[Finding], listed: &HashSet<BackupKey>) -> Vec<BackupKey> {
    let mut keys: Vec<BackupKey> = findings
        .iter()
        .filter(|f| f.problem.is_corrupt())
        .filter_map(|f| f.key.clone())
        .filter(|k| listed.contains(k))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// What [`apply_repair`] did.
#[derive(Debug, Default)]
pub struct Repaired {
    pub removed: Vec<BackupKey>,
    /// Backups left as they were, and why.
    pub failed: Vec<(BackupKey, String)>,
}

/// Removes the data file, then the manifest, of every planned backup that has a corrupt-content
/// finding, so the next pass downloads it afresh (a crash in between leaves a manifest without
/// its file, which a pass also fetches again). Acts only on the folder the layout gives the
/// backup (never a symlink, never outside the store) and only while its manifest still names
/// that backup; the store takes each copy's lock.
pub fn apply_repair(store: &Store, findings: &[Finding], plan: &[BackupKey]) -> Repaired {
    let mut done = Repaired::default();
    for key in plan {
        let Some(f) = findings
            .iter()
            .find(|f| f.problem.is_corrupt() && f.key.as_ref() == Some(key))
        else {
            continue;
        };
        match remove_copy(store, key, &f.dir) {
            Ok(()) => {
                tracing::warn!(backup = %f.label, "removed a corrupt copy; the next pass downloads it again");
                done.removed.push(key.clone());
            }
            Err(reason) => {
                tracing::error!(backup = %f.label, "repair skipped: {reason}");
                done.failed.push((key.clone(), reason));
            }
        }
    }
    done
}

/// Repair acts only on the folder the findings were about, and only if it is where the layout
/// keeps the backup; the store checks the rest again.
fn remove_copy(store: &Store, key: &BackupKey, dir: &Path) -> Result<(), String> {
    let expected = store.backup_dir(key).map_err(|e| e.to_string())?;
    if dir != expected || !dir.starts_with(store.root()) {
        return Err(format!(
            "{} is not where the layout keeps this backup",
            dir.display()
        ));
    }
    store.remove_copy(key).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
