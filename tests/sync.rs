//! The sync engine against the bundled emulator on 127.0.0.1:0, with real files in tempdirs:
//! every step of a pass (list, plan, URL choice, download with resume, verify and publish,
//! prune, report), the faults that matter on the way, and the binary as cron or systemd run it.
//!
//! One test target, split by concern (each file under `tests/sync/`):
//! - `bandwidth`: the shared bandwidth limit, measured, and a shutdown while waiting on it;
//! - `engine`: a whole pass, idempotence, the network choice, prune, stale partials,
//!   concurrency, and a watcher that nothing complete-looking is ever wrong;
//! - `resume`: dropped connections, expired URLs, a 200 to a Range, a changed object, a wrong
//!   CRC, a short object, cancellation, and the retry budget of long downloads;
//! - `integrity`: the integrity contract (RELIABILITY.md), one test per way it was broken;
//! - `parts`: several ranged streams per file: out-of-order parts, kill -9 then only the
//!   missing parts, a server ignoring ranges, another version mid-file, an expired URL;
//! - `process`: the real binary: kill -9 then resume, the lock, exit codes, `--dry-run` output;
//! - `servers`: small scripted servers for what the emulator cannot do (record the
//!   `DescribeBackups` parameters, answer a Range while ignoring `If-Range`).

#[path = "sync/bandwidth.rs"]
mod bandwidth;
mod common;
#[path = "sync/engine.rs"]
mod engine;
#[path = "sync/integrity.rs"]
mod integrity;
#[path = "sync/parts.rs"]
mod parts;
#[path = "sync/process.rs"]
mod process;
#[path = "sync/resume.rs"]
mod resume;
#[path = "sync/servers.rs"]
mod servers;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dds_backup_sync::config::{Network, Settings};
use dds_backup_sync::progress::Silent;
use dds_backup_sync::retry::RetryPolicy;
use dds_backup_sync::sync::report::Summary;
use dds_backup_sync::sync::{PassOptions, run_pass};
use dds_backup_sync::{commands, http};
use dds_emulator::{DropFault, Emulator, EmulatorConfig, Faults, OssFaults};

const ID: &str = "sync-key-id";
const SECRET: &str = "sync-key-secret";
const REPLICA: &str = "dds-demo-replica";
/// The demo replica set's downloadable backups: `_qp.xb` (2.5 MiB), `.tar.gz` (1 MiB), and an
/// `.ar` (300 KiB) kept forever. The other four are skipped (failed, unavailable, expired,
/// snapshot without URLs).
const QP: &str = "32102001";
const TGZ: &str = "32102002";
const AR: &str = "32102003";
const QP_SIZE: u64 = 2_621_440;

async fn emulator_with(config: impl FnOnce(&mut EmulatorConfig)) -> Emulator {
    common::world::emulator_with(ID, SECRET, config).await
}

/// The replica set only, public URLs, and a fast retry policy (5 ms first delay).
fn settings(emu: &Emulator, dir: &Path) -> Settings {
    let mut s = common::world::settings(emu, ID, SECRET, dir);
    s.instances.truncate(1);
    s.api.retry.max_attempts = 5;
    s.download.retry = s.api.retry;
    s
}

/// Cuts the next `count` bodies (of `object` only, when given) after `after_bytes` bytes.
fn drop_faults(after_bytes: u64, count: u32, object: Option<&str>) -> Faults {
    oss_faults(OssFaults {
        drop: vec![DropFault {
            after_bytes,
            count,
            object: object.map(str::to_string),
        }],
        ..OssFaults::default()
    })
}

fn oss_faults(oss: OssFaults) -> Faults {
    Faults {
        oss,
        ..Faults::default()
    }
}

async fn pass(s: &Settings) -> Summary {
    common::world::pass(s).await
}

async fn pass_with(s: &Settings, opts: &PassOptions) -> Summary {
    common::world::pass_with(s, opts).await
}

fn dry() -> PassOptions {
    PassOptions {
        dry_run: true,
        ..PassOptions::default()
    }
}

/// The folder of a replica-set backup.
fn folder(dir: &Path, backup_id: &str) -> PathBuf {
    dir.join(REPLICA).join(backup_id)
}

/// The object's name and its bytes, as the emulator serves it now.
async fn object(emu: &Emulator, backup_id: &str) -> (String, Vec<u8>) {
    let summary = emu.object_summary(backup_id).await.unwrap();
    let bytes = emu.object_bytes(backup_id, 0..summary.size).await.unwrap();
    (summary.name, bytes)
}

/// The file under its final name is byte-identical to the emulator's object, and the manifest
/// records its size, sha256 and CRC-64.
async fn assert_published(emu: &Emulator, dir: &Path, backup_id: &str) {
    let summary = emu.object_summary(backup_id).await.unwrap();
    let (name, bytes) = object(emu, backup_id).await;
    let folder = folder(dir, backup_id);
    assert!(
        std::fs::read(folder.join(&name)).unwrap() == bytes,
        "{backup_id}: the published file differs from the object"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["size"], summary.size);
    assert_eq!(manifest["sha256"], common::sha256_hex(&bytes));
    assert_eq!(manifest["crc64"], summary.crc64.to_string());
    assert_eq!(manifest["backup"]["BackupId"], backup_id);
    assert!(
        !folder.join(format!("{name}.part")).exists()
            && !folder.join(format!("{name}.part.json")).exists(),
        "{backup_id}: partial or sidecar left behind"
    );
}

/// No manifest and nothing under a final name: at most a partial file and its sidecar.
fn not_published(dir: &Path, backup_id: &str) {
    let folder = folder(dir, backup_id);
    assert!(
        !folder.join("manifest.json").exists(),
        "{backup_id} has a manifest"
    );
    for e in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(
            name.ends_with(".part") || name.ends_with(".part.json"),
            "{backup_id}: {name} under a final name"
        );
    }
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Watches a download directory from a thread while a pass runs: any file that shows up under
/// an expected final name must already have its full size and the right content. Polls
/// continuously; it waits for no event, it samples.
struct Watcher {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Result<HashSet<PathBuf>, String>>,
}

impl Watcher {
    /// `expected`: (file name, bytes) of every object that may appear.
    fn start(dir: PathBuf, expected: Vec<(String, Vec<u8>)>) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut seen = HashSet::new();
            loop {
                // Read the flag before scanning: the scan after `finish` sees every file the
                // pass published before it returned.
                let last = flag.load(Ordering::Relaxed);
                for path in common::files_under(&dir) {
                    let Some((_, bytes)) = expected
                        .iter()
                        .find(|(name, _)| path.file_name().is_some_and(|n| n == name.as_str()))
                    else {
                        continue;
                    };
                    if seen.contains(&path) {
                        continue;
                    }
                    // Read the content at once: a half-written file would show here.
                    let Ok(got) = std::fs::read(&path) else {
                        continue; // pruned or renamed between listing and reading
                    };
                    if got.len() != bytes.len() {
                        return Err(format!(
                            "{} visible with {} of {} bytes",
                            path.display(),
                            got.len(),
                            bytes.len()
                        ));
                    }
                    if &got != bytes {
                        return Err(format!("{} visible with wrong content", path.display()));
                    }
                    seen.insert(path);
                }
                if last {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(seen)
        });
        Watcher { stop, handle }
    }

    /// Stops and returns every final file it saw (and checked) while running.
    fn finish(self) -> HashSet<PathBuf> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("watcher: {e}"))
    }
}
