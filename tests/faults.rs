//! The fault suite of RELIABILITY.md: what the tool survives with nothing lost and nothing
//! corrupt published. Each test injects one kind of fault through the emulator (or the OS),
//! then checks the files, the manifests and the report.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dds_emulator::{ApiFaults, DropFault, Emulator, Faults, Instance, OssFaults, StallFault};

const ID: &str = "fault-key-id";
const SECRET: &str = "fault-key-secret";
const BIG_ID: &str = "77000000";
const BIG: u64 = 48 << 20;

async fn emulator(extra: Option<Instance>) -> Emulator {
    common::world::emulator(ID, SECRET, extra).await
}

fn big_instance() -> Instance {
    Instance::replica_set("dds-big").with_generated(
        1,
        77_000_000,
        time::OffsetDateTime::now_utc(),
        BIG,
    )
}

fn many_instance(count: u64, size: u64) -> Instance {
    Instance::replica_set("dds-many").with_generated(
        count,
        78_000_000,
        time::OffsetDateTime::now_utc(),
        size,
    )
}

fn write_config(dir: &Path, endpoint: &str, instance: &str, data: &Path, extra: &str) -> PathBuf {
    common::write_config(
        dir,
        &common::ConfigText::api(endpoint, ID, SECRET)
            .with("max_retry_time = \"20s\"")
            .instance(instance, &[])
            .download(data)
            .with(extra)
            .text(),
        0o600,
    )
}

fn command(config: &Path, home: &Path) -> tokio::process::Command {
    let mut cmd = common::binary(home);
    cmd.arg("--sync-now")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn");
    cmd
}

/// Watches a folder while a test runs: any file under its final name (not `.part`, not a
/// manifest or sidecar) must already be complete and correct.
struct Watcher {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Result<u64, String>>,
}

impl Watcher {
    fn start(dir: PathBuf, expected: Vec<(String, u64, String)>) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut checks = 0u64;
            let mut verified = std::collections::HashSet::new();
            loop {
                // The scan after `finish` still sees a file published just before it.
                let last = flag.load(Ordering::Relaxed);
                for (name, size, sha) in &expected {
                    for p in common::files_ending(&dir, name) {
                        let Ok(meta) = std::fs::metadata(&p) else {
                            continue;
                        };
                        checks += 1;
                        if meta.len() != *size {
                            return Err(format!(
                                "{} visible with {} bytes, expected {size}",
                                p.display(),
                                meta.len()
                            ));
                        }
                        if verified.insert(p.clone()) {
                            let got = common::sha256_hex(&std::fs::read(&p).unwrap());
                            if &got != sha {
                                return Err(format!("{} visible with wrong content", p.display()));
                            }
                        }
                    }
                }
                if last {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Ok(checks)
        });
        Watcher { stop, handle }
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("watcher: {e}"))
    }
}

async fn object_name(emu: &Emulator, id: &str) -> (String, u64, Vec<u8>) {
    let summary = emu.object_summary(id).await.unwrap();
    let bytes = emu.object_bytes(id, 0..summary.size).await.unwrap();
    (summary.name, summary.size, bytes)
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_many_times_then_a_normal_run_gives_the_exact_file() {
    let emu = emulator(Some(big_instance())).await;
    // Slow the body down so kills land mid-download: a short pause every so often.
    emu.set_faults(Faults {
        oss: OssFaults {
            stall: vec![StallFault {
                after_bytes: 4 << 20,
                duration: Duration::from_millis(150),
                count: 100,
                object: None,
            }],
            ..OssFaults::default()
        },
        ..Faults::default()
    });
    let (name, size, bytes) = object_name(&emu, BIG_ID).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(dir.path(), &emu.base_url(), "dds-big", &data, "");
    let watcher = Watcher::start(
        data.clone(),
        vec![(name.clone(), size, common::sha256_hex(&bytes))],
    );
    let mut kills = 0;
    let mut partial_sizes = Vec::new();
    for round in 0..12u64 {
        let mut child = command(&config, dir.path()).spawn().unwrap();
        // Kill at a different moment each round, once the partial has grown past the last one.
        let floor = partial_sizes.last().copied().unwrap_or(0);
        let grown = {
            let data = data.clone();
            let end = Instant::now() + Duration::from_secs(20);
            loop {
                let len = common::files_ending(&data, ".part")
                    .first()
                    .and_then(|p| std::fs::metadata(p).ok())
                    .map_or(0, |m| m.len());
                if len > floor + (round % 3) * (1 << 20) || Instant::now() > end {
                    break len;
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break len;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        if child.try_wait().unwrap().is_some() {
            break; // finished before we could kill it
        }
        child.start_kill().unwrap();
        child.wait().await.unwrap();
        kills += 1;
        partial_sizes.push(grown);
    }
    assert!(
        kills >= 3,
        "the download finished too fast to be killed ({kills} kills)"
    );
    let served_before = emu.stats().bytes_served;
    emu.set_faults(Faults::default());
    // What a kill mid-manifest-write leaves behind (pid 1 is never this tool's): cleaned up.
    let stale_tmp = data
        .join("dds-big")
        .join(BIG_ID)
        .join(".manifest.json.tmp-1");
    std::fs::write(&stale_tmp, b"{\"half\":").unwrap();
    let out = command(&config, dir.path()).output().await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checks = watcher.finish();
    assert!(checks > 0, "the watcher saw the published file");
    assert!(!stale_tmp.exists(), "the stale temp file was removed");
    let final_path = common::files_ending(&data, &name)
        .into_iter()
        .find(|p| !p.to_string_lossy().ends_with(".part"))
        .unwrap();
    assert_eq!(
        std::fs::read(&final_path).unwrap(),
        bytes,
        "byte-identical after {kills} kill -9s"
    );
    // Resume worked: everything served in all, across kills, is far less than one download per run.
    let total = emu.stats().bytes_served;
    assert!(
        total < size * 2,
        "served {total} bytes for a {size}-byte object over {} runs",
        kills + 1
    );
    assert!(served_before > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn random_drops_across_many_concurrent_files() {
    let count = 12;
    let emu = emulator(Some(many_instance(count, 3 << 20))).await;
    let mut drops = Vec::new();
    for i in 0..count {
        drops.push(DropFault {
            after_bytes: 100_000 + i * 211_111,
            count: 2,
            object: Some((78_000_000 + i).to_string()),
        });
    }
    emu.set_faults(Faults {
        oss: OssFaults {
            drop: drops,
            ..OssFaults::default()
        },
        ..Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(
        dir.path(),
        &emu.base_url(),
        "dds-many",
        &data,
        "concurrency = 4",
    );
    let out = command(&config, dir.path()).output().await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats = emu.stats();
    // Each file is cut once at its offset, and again on the resumed body when enough remains.
    assert!(
        stats.dropped_bodies >= count + 5,
        "{} cuts",
        stats.dropped_bodies
    );
    assert!(
        stats.partial_responses >= count,
        "every file resumed by Range"
    );
    for i in 0..count {
        let id = (78_000_000 + i).to_string();
        let (name, _, bytes) = object_name(&emu, &id).await;
        let path = common::files_ending(&data, &name)
            .into_iter()
            .find(|p| p.ends_with(&name))
            .unwrap();
        assert_eq!(std::fs::read(path).unwrap(), bytes, "{id}");
    }
    assert!(common::files_ending(&data, ".part").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_body_times_out_and_resumes() {
    let emu = emulator(None).await;
    emu.set_faults(Faults {
        oss: OssFaults {
            stall: vec![StallFault {
                after_bytes: 500_000,
                duration: Duration::from_secs(30),
                count: 1,
                object: Some("32102001".into()),
            }],
            ..OssFaults::default()
        },
        ..Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(
        dir.path(),
        &emu.base_url(),
        "dds-demo-replica",
        &data,
        "read_timeout = \"1s\"",
    );
    let started = Instant::now();
    let out = command(&config, dir.path()).output().await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the 30 s stall was cut by the 1 s read timeout"
    );
    let stats = emu.stats();
    assert!(
        stats
            .ranges_seen
            .iter()
            .any(|r| r.starts_with("bytes=") && r != "bytes=0-"),
        "{:?}",
        stats.ranges_seen
    );
    let (name, _, bytes) = object_name(&emu, "32102001").await;
    let path = common::files_ending(&data, &name)
        .into_iter()
        .find(|p| p.ends_with(&name))
        .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), bytes);
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_storms_and_5xx_bursts_from_the_api_are_ridden_out() {
    let emu = emulator(None).await;
    emu.set_faults(Faults {
        api: ApiFaults {
            throttle_next: 3,
            unavailable_next: 2,
            internal_error_next: 1,
            ..ApiFaults::default()
        },
        oss: OssFaults {
            errors_next: 3,
            ..OssFaults::default()
        },
    });
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Small delays so the storm passes quickly; the bound on attempts still holds.
    let config = write_config(dir.path(), &emu.base_url(), "dds-demo-replica", &data, "");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "max_retry_time = \"20s\"",
        "max_retry_time = \"60s\"\nmax_attempts = 10",
    );
    std::fs::write(&config, text).unwrap();
    let out = command(&config, dir.path()).output().await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats = emu.stats();
    assert_eq!(stats.describe("Throttling.User"), 3);
    assert_eq!(stats.describe("ServiceUnavailable"), 2);
    assert_eq!(stats.describe("InternalError"), 1);
    assert_eq!(stats.file_by_status.get(&503).copied().unwrap_or(0), 3);
    assert_eq!(common::files_ending(&data, "manifest.json").len(), 3);
}

/// Issue #22.5: a key refused while a download asks for a fresh URL is a setup error, as a
/// refused listing is: exit 2, naming the API's code and its RequestId (it was a plain
/// download failure, exit 1, with the API error flattened to text).
#[tokio::test]
async fn a_key_refused_during_a_url_refresh_exits_2_and_names_the_request() {
    use common::proxy::{ApiProxy, REFUSED_REQUEST_ID, param};
    let emu = emulator(None).await;
    emu.set_faults(Faults {
        api: ApiFaults {
            expired_urls_next: 1,
            ..ApiFaults::default()
        },
        ..Faults::default()
    });
    // The listing passes; the refresh (asked by BackupId) finds the key revoked.
    let refresh = Arc::new(|p: &common::proxy::Params| param(p, "BackupId").is_some());
    let proxy = ApiProxy::start_refusing(&emu.base_url(), refresh).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(dir.path(), &proxy.url, "dds-demo-replica", &data, "");
    let out = command(&config, dir.path()).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !proxy.backup_ids().is_empty(),
        "no refresh was asked: {stderr}"
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("InvalidAccessKeyId.NotFound") && stderr.contains(REFUSED_REQUEST_ID),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_urls_before_start_mid_body_and_on_resume() {
    let emu = emulator(None).await;
    // Before start: the listing hands out already-expired URLs once; mid-body: a stall longer than
    // a 2 s URL lifetime, then a drop, so the resume finds its URL expired.
    emu.set_faults(Faults {
        api: ApiFaults {
            expired_urls_next: 1,
            ..ApiFaults::default()
        },
        ..Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(dir.path(), &emu.base_url(), "dds-demo-replica", &data, "");
    let out = command(&config, dir.path()).output().await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        emu.stats().describe("Success") >= 2,
        "fresh URLs were asked for"
    );

    std::fs::remove_dir_all(&data).unwrap();
    emu.reset_stats();
    emu.set_faults(Faults {
        api: ApiFaults {
            url_ttl: Some(Duration::from_secs(2)),
            ..ApiFaults::default()
        },
        oss: OssFaults {
            stall: vec![StallFault {
                after_bytes: 300_000,
                duration: Duration::from_millis(3500),
                count: 1,
                object: Some("32102001".into()),
            }],
            drop: vec![DropFault {
                after_bytes: 600_000,
                count: 1,
                object: Some("32102001".into()),
            }],
            ..OssFaults::default()
        },
    });
    let out = command(&config, dir.path()).output().await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats = emu.stats();
    assert!(
        stats.describe("Success") >= 2,
        "the expired URL was refreshed: {:?}",
        stats.describe_by_outcome
    );
    let (name, _, bytes) = object_name(&emu, "32102001").await;
    let path = common::files_ending(&data, &name)
        .into_iter()
        .find(|p| p.ends_with(&name))
        .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), bytes);
}

/// Mounts a small tmpfs (root only); returns None with a message where that is not possible.
fn small_tmpfs(dir: &Path, size: &str) -> Option<TmpfsGuard> {
    std::fs::create_dir_all(dir).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Some(TmpfsGuard(dir.to_path_buf()))
    } else {
        // CI runs as root and must run these: never a quiet pass there.
        dds_emulator::tools::unavailable("disk_full", "a tmpfs cannot be mounted (not root?)");
        None
    }
}

/// The demo replica set synced into a fresh tmpfs of `size` at `dir/name`: the mount, the data
/// folder and the config. `None` (with a SKIP message) where tmpfs cannot be mounted.
fn demo_on_tmpfs(
    emu: &Emulator,
    dir: &Path,
    name: &str,
    size: &str,
    extra: &str,
) -> Option<(TmpfsGuard, PathBuf, PathBuf)> {
    let data = dir.join(name);
    let mount = small_tmpfs(&data, size)?;
    let config = write_config(dir, &emu.base_url(), "dds-demo-replica", &data, extra);
    Some((mount, data, config))
}

/// Writes `path` until the filesystem is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 << 10];
    while f.write_all(&block).is_ok() {}
    while f.write_all(&block[..512]).is_ok() {}
    let _ = f.sync_all();
}

struct TmpfsGuard(PathBuf);

impl Drop for TmpfsGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn disk_full_is_a_clear_error_and_other_backups_are_unaffected() {
    let emu = emulator(None).await;
    let dir = tempfile::tempdir().unwrap();
    // The demo's three files need 3.8 MiB; 2 MiB fits the small ones, not the 2.5 MiB one.
    let Some((_mount, data, config)) =
        demo_on_tmpfs(&emu, dir.path(), "data", "2m", "concurrency = 1")
    else {
        return;
    };
    let out = command(&config, dir.path()).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not enough space in"), "{stderr}");
    assert!(stderr.contains("bytes still to fetch"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The others were not affected.
    assert!(
        !common::files_ending(&data, "manifest.json").is_empty(),
        "{stderr}"
    );
    for m in common::files_ending(&data, "manifest.json") {
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&m).unwrap()).unwrap();
        let file = m.parent().unwrap().join(manifest["file"].as_str().unwrap());
        assert_eq!(
            std::fs::metadata(file).unwrap().len(),
            manifest["size"].as_u64().unwrap()
        );
    }

    drop(_mount);

    // Concurrent downloads share the free space: 3 MiB holds 2.5 + 0.3 MiB, not 2.5 + 1 MiB.
    // Every body stalls a moment so all three claim their space at once; whichever does not fit
    // is refused before it writes a byte, naming what the others were promised, and the disk
    // never fills.
    emu.set_faults(Faults {
        oss: OssFaults {
            stall: vec![StallFault {
                after_bytes: 1,
                duration: Duration::from_millis(500),
                count: 3,
                object: None,
            }],
            ..OssFaults::default()
        },
        ..Faults::default()
    });
    let Some((_mount, data, config)) =
        demo_on_tmpfs(&emu, dir.path(), "data2", "3m", "concurrency = 4")
    else {
        return;
    };
    let out = command(&config, dir.path()).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("not enough space in")
            && stderr.contains("promised to downloads in progress"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("No space left"),
        "the disk never filled: {stderr}"
    );
    assert_eq!(common::files_ending(&data, ".part"), Vec::<PathBuf>::new());
    assert_eq!(
        common::files_ending(&data, "manifest.json").len(),
        2,
        "{stderr}"
    );
    drop(_mount);

    // Space taken by someone else mid-download: the write fails with the same clear error and
    // the partial file is kept with its sidecar. The disk fills only once the partial file
    // holds bytes: the server's stall alone says nothing of what the client wrote (it may not
    // even have written its sidecar yet, and then fails on that, with nothing to keep).
    emu.set_faults(Faults {
        oss: OssFaults {
            stall: vec![StallFault {
                after_bytes: 600_000,
                duration: Duration::from_secs(3),
                count: 1,
                object: Some("32102001".into()),
            }],
            ..OssFaults::default()
        },
        ..Faults::default()
    });
    emu.reset_stats();
    let Some((_mount, data, config)) =
        demo_on_tmpfs(&emu, dir.path(), "data3", "3m", "concurrency = 1")
    else {
        return;
    };
    let run = command(&config, dir.path()).output();
    let filler = async {
        let deadline = Instant::now() + Duration::from_secs(20);
        let written = || {
            common::files_ending(&data, ".part")
                .iter()
                .any(|p| std::fs::metadata(p).is_ok_and(|m| m.len() >= 256 << 10))
        };
        while emu.stats().stalled_bodies == 0 || !written() {
            assert!(
                Instant::now() < deadline,
                "the big body never stalled with bytes on disk"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        fill(&data.join("filler"));
    };
    let (out, ()) = tokio::join!(run, filler);
    let out = out.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("not enough space in") && stderr.contains("32102001"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let parts = common::files_ending(&data, ".part");
    assert_eq!(parts.len(), 1, "{stderr}");
    assert!(
        PathBuf::from(format!("{}.json", parts[0].display())).exists(),
        "{} has its sidecar",
        parts[0].display()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_ranged_download_resumes_on_a_disk_with_room_for_it() {
    // Issue #21.8: the preallocated `.part` of an interrupted ranged download counted against
    // the free space ("3145728 bytes still to fetch, 2088960 free" every pass, for ever), and
    // a refused ranged download left an empty `.part` behind.
    let emu = emulator(None).await;
    let dir = tempfile::tempdir().unwrap();
    let ranged = "concurrency = 1\nstreams = 4\nstream_cutoff = \"2MiB\"\npart_size = \"256KiB\"";
    // 4.5 MiB: the 2.5 MiB partial an earlier run preallocated, then 2 MiB free, where the
    // small files (1.3 MiB) fit but a second 2.5 MiB would not.
    let Some((_mount, data, config)) = demo_on_tmpfs(&emu, dir.path(), "data", "4608k", ranged)
    else {
        return;
    };
    let (name, size, bytes) = object_name(&emu, "32102001").await;
    let folder = data.join("dds-demo-replica").join("32102001");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join(format!("{name}.part")),
        vec![0u8; size as usize],
    )
    .unwrap();
    let out = command(&config, dir.path()).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(std::fs::read(folder.join(&name)).unwrap() == bytes);
    drop(_mount);

    // 1 MiB holds neither the big file nor a byte of it: refused, and no empty `.part` left.
    let Some((_mount, data, config)) = demo_on_tmpfs(&emu, dir.path(), "data2", "1m", ranged)
    else {
        return;
    };
    let out = command(&config, dir.path()).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not enough space in"), "{stderr}");
    assert_eq!(
        common::files_ending(&data.join("dds-demo-replica").join("32102001"), ".part"),
        Vec::<PathBuf>::new()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_at_the_first_start_is_a_failed_pass_not_a_setup_error() {
    // Issue #21.11: the lock file could not be written, which exited 2, and the unit's
    // `RestartPreventExitStatus=2` then never restarted the service.
    let emu = emulator(None).await;
    let dir = tempfile::tempdir().unwrap();
    let Some((_mount, data, config)) = demo_on_tmpfs(&emu, dir.path(), "data", "1m", "") else {
        return;
    };
    fill(&data.join("filler"));
    let out = command(&config, dir.path()).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("No space left"), "{stderr}");
    assert!(!stderr.contains("cannot be used"), "{stderr}");
    assert_eq!(emu.stats().file_gets, 0);
}
