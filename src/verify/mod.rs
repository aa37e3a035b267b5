//! `--verify`: re-checks every local copy against its manifest (size, sha256) and its format,
//! collecting every problem as data instead of stopping at the first; and the optional repair
//! that removes corrupt copies so the next pass fetches them again.
//!
//! Reads only what [`Store::scan`] finds (real folders holding a manifest, no symlinks
//! followed). Never modifies anything, except [`apply_repair`], which removes only the data file
//! and manifest of copies proven corrupt, inside the download directory.

pub mod format;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::store::{BackupKey, LocalCopy, MANIFEST, Manifest, Store};
use format::Format;

/// One problem with one local copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    BadManifest(String),
    Missing,
    NotAFile,
    Size { expected: u64, got: u64 },
    Sha256 { expected: String, got: String },
    Format(String),
    Unreadable(String),
}

impl Problem {
    /// Corrupt content (as opposed to a missing file or a manifest problem): what repair removes.
    pub fn is_corrupt(&self) -> bool {
        matches!(
            self,
            Problem::Size { .. } | Problem::Sha256 { .. } | Problem::Format(_)
        )
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
            Problem::Unreadable(r) => write!(f, "cannot read: {r}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Finding {
    /// `instance[/node]/backup`, or the folder when the manifest is unreadable.
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
}

/// Checks every copy in the store.
pub fn verify_store(store: &Store) -> VerifyReport {
    let mut report = VerifyReport::default();
    for copy in store.scan() {
        report.checked += 1;
        let LocalCopy { dir, manifest } = copy;
        let manifest = match manifest {
            Ok(m) => m,
            Err(reason) => {
                report.findings.push(Finding {
                    label: dir.display().to_string(),
                    key: None,
                    dir,
                    problem: Problem::BadManifest(reason),
                });
                continue;
            }
        };
        let key = manifest.key();
        for problem in verify_copy(&dir, &manifest) {
            report.findings.push(Finding {
                label: key.label(),
                key: Some(key.clone()),
                dir: dir.clone(),
                problem,
            });
        }
    }
    report
}

/// Size, sha256 and format of one copy, from one read of the file.
pub fn verify_copy(dir: &Path, manifest: &Manifest) -> Vec<Problem> {
    let Ok(name) = crate::names::sanitize_file_name(&manifest.file) else {
        return vec![Problem::BadManifest(format!(
            "file name {:?} is not usable",
            manifest.file
        ))];
    };
    let path = dir.join(name);
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(_) => return vec![Problem::Missing],
    };
    if !meta.is_file() {
        return vec![Problem::NotAFile];
    }
    let mut problems = Vec::new();
    if meta.len() != manifest.size {
        problems.push(Problem::Size {
            expected: manifest.size,
            got: meta.len(),
        });
    }
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => return vec![Problem::Unreadable(e.to_string())],
    };
    let mut tee = Tee {
        inner: file,
        sha: Sha256::new(),
    };
    if let Some(format) = Format::for_name(&manifest.file)
        && let Err(e) = format::check(format, &mut tee)
    {
        problems.push(Problem::Format(e.to_string()));
    }
    // Whatever the format check did not read still counts for the hash.
    if let Err(e) = std::io::copy(&mut tee, &mut std::io::sink()) {
        return vec![Problem::Unreadable(e.to_string())];
    }
    let got = crate::sync::sink::hex(&tee.sha.finalize());
    if got != manifest.sha256 {
        problems.push(Problem::Sha256 {
            expected: manifest.sha256.clone(),
            got,
        });
    }
    problems
}

/// Hashes every byte read through it.
struct Tee<R> {
    inner: R,
    sha: Sha256,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
}

/// Removes the data file and the manifest of every copy with corrupt content whose backup is
/// still listed (`listed`), so the next pass downloads it afresh. A corrupt copy of a backup the
/// cloud no longer has is left alone: it may still be the best there is. Returns the folders
/// repaired.
pub fn apply_repair(
    store: &Store,
    report: &VerifyReport,
    listed: &dyn Fn(&BackupKey) -> bool,
) -> Vec<PathBuf> {
    let mut done = Vec::new();
    for f in report
        .findings
        .iter()
        .filter(|f| f.problem.is_corrupt() && f.key.as_ref().is_some_and(listed))
    {
        if done.contains(&f.dir) || !f.dir.starts_with(store.root()) {
            continue;
        }
        let Ok(manifest) = crate::store::read_manifest(&f.dir.join(MANIFEST)) else {
            continue;
        };
        if let Ok(name) = crate::names::sanitize_file_name(&manifest.file) {
            let _ = std::fs::remove_file(f.dir.join(name));
        }
        if std::fs::remove_file(f.dir.join(MANIFEST)).is_ok() {
            tracing::warn!(backup = %f.label, "removed a corrupt copy; the next pass downloads it again");
            done.push(f.dir.clone());
        }
    }
    done
}
