//! Reading the download dir: the layout's folders (real folders only, never one holding
//! another run's lock), the copies with a manifest, and the [`OnDisk`] a pass plans
//! with, taken in one walk. Only reads: planning (and so `--dry-run`) changes nothing.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::{LOCK_FILE, PART_SUFFIX, SIDECAR_SUFFIX, Store, is_real_file, read_manifest};
use crate::model::{BackupKey, LocalCopy, LocalState, MANIFEST, OnDisk, StalePartial, TASK};

/// One folder of the layout, as read: its manifest (if it has one) and its regular files.
struct Folder {
    key: BackupKey,
    dir: PathBuf,
    manifest: Option<Result<crate::model::Manifest, String>>,
    /// Name → length, regular files only; `None` for an entry that is not a regular file.
    files: BTreeMap<String, Option<u64>>,
}

impl Store {
    /// Every folder under `dir` that holds a manifest, at the depths the layout uses; symlinks
    /// are never followed and folders without a manifest are not this tool's.
    pub fn scan(&self) -> Vec<LocalCopy> {
        self.layout_dirs()
            .into_iter()
            .filter(|d| is_real_file(&d.join(MANIFEST)))
            .map(|dir| {
                let manifest = read_manifest(&dir.join(MANIFEST));
                self.checked_against_path(LocalCopy { dir, manifest })
            })
            .collect()
    }

    /// The whole download dir in one walk: what the planner needs, as a value.
    pub fn on_disk(&self) -> OnDisk {
        let mut snap = OnDisk::default();
        for dir in self.layout_dirs() {
            if let Some(folder) = self.read_folder(&dir) {
                record(&mut snap, folder);
            }
        }
        snap
    }

    /// What is on disk for one backup's file (the state a snapshot would record).
    pub fn local_state(&self, paths: &super::BackupPaths) -> LocalState {
        let name = paths
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A copy behind a linked folder is not in the download dir: the download says why.
        if self.check_real(&paths.dir).is_err() {
            return LocalState::Missing;
        }
        let Some(folder) = self.read_folder(&paths.dir) else {
            return LocalState::Missing;
        };
        let key = folder.key.clone();
        let mut snap = OnDisk::default();
        record(&mut snap, folder);
        snap.state(&key, &name)
    }

    fn read_folder(&self, dir: &Path) -> Option<Folder> {
        let key = self.key_of_dir(dir)?;
        let manifest = is_real_file(&dir.join(MANIFEST)).then(|| {
            let manifest = read_manifest(&dir.join(MANIFEST));
            let copy = self.checked_against_path(LocalCopy {
                dir: dir.to_path_buf(),
                manifest,
            });
            copy.manifest
        });
        let files = fs::read_dir(dir)
            .ok()?
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let meta = fs::symlink_metadata(e.path()).ok();
                let len = meta.filter(|m| m.is_file()).map(|m| m.len());
                Some((name, len))
            })
            .collect();
        Some(Folder {
            key,
            dir: dir.to_path_buf(),
            manifest,
            files,
        })
    }

    /// A manifest counts only in the folder its key gives: one copied elsewhere by hand (or
    /// another tool's) is reported as unusable, so it is never pruned or trusted.
    fn checked_against_path(&self, mut copy: LocalCopy) -> LocalCopy {
        if let Ok(m) = &copy.manifest {
            let at = self.backup_dir(&m.key()).ok();
            if at.as_ref() != Some(&copy.dir) {
                copy.manifest = Err(format!(
                    "{} describes {}, which does not belong in this folder",
                    copy.dir.join(MANIFEST).display(),
                    m.key().label()
                ));
            }
        }
        copy
    }

    /// The backup a folder at the layout's depths stands for, read from its path.
    pub(super) fn key_of_dir(&self, dir: &Path) -> Option<BackupKey> {
        let rel: Vec<String> = dir
            .strip_prefix(&self.root)
            .ok()?
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        match rel.as_slice() {
            [inst, backup] => Some(BackupKey::node(inst, None, backup)),
            [inst, cluster, node] if cluster.starts_with(crate::names::CLUSTER_PREFIX) => {
                Some(BackupKey::cluster(inst, cluster, Some(node)))
            }
            [inst, node, backup] => Some(BackupKey::node(inst, Some(node), backup)),
            _ => None,
        }
    }

    /// The folders where the layout keeps backups, `<dir>/<instance>/<x>` and
    /// `<dir>/<instance>/<node>/<x>`: real folders only, symlinks never entered.
    fn layout_dirs(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for inst in real_dirs(&self.root) {
            for dir2 in real_dirs(&inst) {
                // A folder with a manifest is a backup; one without may be a shard node.
                if !is_real_file(&dir2.join(MANIFEST)) {
                    out.extend(real_dirs(&dir2));
                }
                out.push(dir2);
            }
        }
        out.sort();
        out
    }
}

/// Adds one folder to the snapshot. Per file name: a published file that matches its manifest
/// is `Complete`; else its `.part` (a partial of that length, or, when it is not a regular file,
/// `Missing`: the download refuses it); else a file under its final name without a readable
/// manifest (a crash between the rename and the manifest write) counts as a partial of its
/// length, to be verified again (the download's recovery moves it back to the partial name).
fn record(snap: &mut OnDisk, folder: Folder) {
    let Folder {
        key,
        dir,
        manifest,
        files,
    } = folder;
    let readable = manifest.as_ref().and_then(|m| m.as_ref().ok());
    let mut set = |name: &str, state| {
        snap.states
            .entry((key.clone(), name.to_string()))
            .or_insert(state);
    };
    // A copy a scrub found rotted is not up to date: the next pass fetches it again.
    if let Some(m) = readable
        && m.rot.is_none()
        && files.get(&m.file) == Some(&Some(m.size))
    {
        set(&m.file, LocalState::Complete { size: m.size });
    }
    for (name, len) in &files {
        if let Some(base) = name.strip_suffix(PART_SUFFIX) {
            let len = len.map(|n| ranged_progress(&dir, base).unwrap_or(n));
            set(base, len.map_or(LocalState::Missing, LocalState::Partial));
        }
    }
    if readable.is_none() {
        for (name, len) in &files {
            if let Some(len) = len
                && super::own_file_collision(name).is_none()
            {
                set(name, LocalState::Partial(*len));
            }
        }
    }
    let stale: Vec<PathBuf> = files
        .iter()
        .filter(|(n, len)| {
            len.is_some() && (n.ends_with(PART_SUFFIX) || n.ends_with(SIDECAR_SUFFIX) || *n == TASK)
        })
        .map(|(n, _)| dir.join(n))
        .collect();
    match manifest {
        Some(manifest) => snap.copies.push(LocalCopy { dir, manifest }),
        None if !stale.is_empty() => snap.partials.push(StalePartial {
            key,
            dir,
            files: stale,
        }),
        None => {}
    }
}

/// The bytes a ranged download's partial really holds: its sidecar's complete parts (the file
/// itself is preallocated to the whole size, so its length says nothing; issue #21).
fn ranged_progress(dir: &Path, base: &str) -> Option<u64> {
    let sidecar = dir.join(format!("{base}{SIDECAR_SUFFIX}"));
    if !is_real_file(&sidecar) {
        return None;
    }
    let s: crate::model::Sidecar = serde_json::from_slice(&fs::read(&sidecar).ok()?).ok()?;
    Some(s.parts?.done_bytes(s.size))
}

/// The real sub-folders of `dir` that are this run's to look into: symlinks are skipped
/// (`file_type` does not follow them), and so is a folder holding a run lock, which is the
/// download dir of another configuration nested in this one.
fn real_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| fs::symlink_metadata(p.join(LOCK_FILE)).is_err())
        .collect();
    out.sort();
    out
}
