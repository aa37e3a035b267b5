//! `--verify` on real copies made by a real pass: it finds flipped bytes, truncated archives,
//! missing files and corrupt manifests, never follows symlinks, holds the lock, and with
//! `verify.repair` gets a corrupt copy downloaded again.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use dds_backup_sync::store::Store;
use dds_backup_sync::verify::format::{self, FormatOutcome};
use dds_emulator::{Emulator, EmulatorConfig};

const ID: &str = "verify-key-id";
const SECRET: &str = "verify-key-secret";

async fn setup(extra: &str) -> (Emulator, tempfile::TempDir, PathBuf) {
    let emu = common::loopback_emulator(EmulatorConfig::demo(ID, SECRET)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        common::ConfigText::api(&emu.base_url(), ID, SECRET)
            .instance("dds-demo-replica", &[])
            .instance("dds-demo-sharded", &["d-demo-shard-0", "d-demo-shard-1"])
            .download(&dir.path().join("data"))
            .with(extra)
            .text(),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run(&config, dir.path(), "--sync-now").await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (emu, dir, config)
}

async fn run(config: &Path, home: &Path, mode: &str) -> Output {
    common::binary(home)
        .arg(mode)
        .arg("--config")
        .arg(config)
        .output()
        .await
        .unwrap()
}

fn data_file(root: &Path, backup: &str) -> PathBuf {
    let dir = find_dir(root, backup).unwrap();
    std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| !p.ends_with("manifest.json"))
        .unwrap()
}

fn find_dir(root: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(root).ok()?.flatten() {
        if e.file_type().unwrap().is_dir() {
            if e.file_name() == name {
                return Some(e.path());
            }
            if let Some(p) = find_dir(&e.path(), name) {
                return Some(p);
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn clean_copies_verify_and_every_demo_file_is_well_formed() {
    let (_emu, dir, config) = setup("").await;
    let out = run(&config, dir.path(), "--verify").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.trim(), "verified 9 copies, 0 problems");
    // What the download-time check and the scrub accept: every object the emulator serves is
    // a real gzip or xbstream stream, so a format error is never the emulator's.
    let copies = Store::new(dir.path().join("data")).scan();
    assert_eq!(copies.len(), 9);
    let mut seen = std::collections::BTreeSet::new();
    for copy in copies {
        let m = copy.manifest.unwrap();
        let file = std::fs::File::open(copy.dir.join(&m.file)).unwrap();
        match format::check_format(&m.file, file) {
            Ok(FormatOutcome::Valid(f)) => {
                seen.insert(format!("{f:?}"));
            }
            other => panic!("{}: {other:?}", m.file),
        }
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["Gzip", "Xbstream"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn flipped_truncated_missing_and_corrupt_are_all_reported() {
    let (_emu, dir, config) = setup("").await;
    let data = dir.path().join("data");
    // A flipped byte inside a .tar.gz.
    let tgz = data_file(&data, "32102002");
    let mut bytes = std::fs::read(&tgz).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&tgz, bytes).unwrap();
    // A truncated _qp.xb.
    let xb = data_file(&data, "32103001");
    let len = std::fs::metadata(&xb).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&xb)
        .unwrap()
        .set_len(len - 1000)
        .unwrap();
    // A missing file and a corrupt manifest.
    std::fs::remove_file(data_file(&data, "32103004")).unwrap();
    std::fs::write(
        find_dir(&data, "32103005").unwrap().join("manifest.json"),
        "{ not json",
    )
    .unwrap();
    // A symlinked backup folder pointing outside, holding a corrupt copy that would be
    // reported if it were followed.
    let outside = tempfile::tempdir().unwrap();
    let good = find_dir(&data, "32102003").unwrap();
    for e in std::fs::read_dir(&good).unwrap().flatten() {
        std::fs::write(outside.path().join(e.file_name()), b"not the data").unwrap();
    }
    std::fs::copy(
        good.join("manifest.json"),
        outside.path().join("manifest.json"),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path(), data.join("dds-demo-replica/55555")).unwrap();

    let out = run(&config, dir.path(), "--verify").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let line = |needle: &str| {
        stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} missing:\n{stdout}"))
            .to_string()
    };
    assert!(line("dds-demo-replica/32102002: sha256").contains("sha256 expected"));
    // The emulator's gzip holds stored blocks: the flipped byte inflates, the CRC32 catches it.
    assert!(
        line("dds-demo-replica/32102002: format").contains("format: gzip member 1 at byte ")
            && line("dds-demo-replica/32102002: format").contains(": CRC32 mismatch: ")
    );
    assert!(
        line("dds-demo-sharded/d-demo-shard-0/32103001: size")
            .contains(&format!("size expected {len} got {}", len - 1000))
    );
    assert!(line("dds-demo-sharded/d-demo-shard-0/32103001: format").contains("xbstream"));
    assert!(line("32103004").contains("data file missing"));
    // An unreadable manifest names no backup: the folder, relative to the download dir.
    assert!(
        line("32103005")
            .starts_with("PROBLEM dds-demo-sharded/d-demo-shard-0/32103005: manifest unreadable: ")
    );
    assert!(
        !stdout.contains("55555") && !stdout.contains("32102003"),
        "the symlink was followed:\n{stdout}"
    );
    // flipped: sha256 + format; cut: size + format + sha256; missing; manifest.
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("PROBLEM ")).count(),
        7,
        "{stdout}"
    );
    assert!(
        stdout.ends_with("verified 9 copies, 7 problems\n"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_holds_the_scrub_lock_not_the_run_lock() {
    let (_emu, dir, config) = setup("").await;
    let store = Store::new(dir.path().join("data"));
    // A pass holding the run lock does not stop a scrub...
    let pass = store.lock().unwrap();
    let out = run(&config, dir.path(), "--verify").await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(pass);
    // ...another scrub does.
    let _scrub = store.scrub_lock(None).unwrap();
    let out = run(&config, dir.path(), "--verify").await;
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn repair_refetches_corrupt_copies_byte_identical() {
    let (emu, dir, config) = setup("[verify]\nrepair = true").await;
    let data = dir.path().join("data");
    let file = data_file(&data, "32102001");
    let good = std::fs::read(&file).unwrap();
    let mut bad = good.clone();
    bad[12345] ^= 0xff;
    std::fs::write(&file, &bad).unwrap();
    emu.reset_stats();
    let out = run(&config, dir.path(), "--verify").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "problems were found: {stdout}");
    assert!(
        stdout.contains("REPAIR dds-demo-replica/32102001: corrupt copy removed"),
        "{stdout}"
    );
    assert!(!stdout.contains("REPAIR FAILED"), "{stdout}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        good,
        "re-downloaded byte-identical"
    );
    assert_eq!(
        emu.stats().file_gets,
        1,
        "only the corrupt copy was fetched again"
    );
    let again = run(&config, dir.path(), "--verify").await;
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Replaces a copy's bytes and makes its manifest vouch for them, as if the cloud had served
/// exactly these bytes (right size, CRC-64 matched at download).
fn as_if_served(root: &Path, backup: &str, bytes: &[u8]) {
    let file = data_file(root, backup);
    std::fs::write(&file, bytes).unwrap();
    let path = find_dir(root, backup).unwrap().join("manifest.json");
    let mut m = read_json(&path);
    m["size"] = bytes.len().into();
    m["sha256"] = common::sha256_hex(bytes).into();
    std::fs::write(&path, m.to_string()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn damage_at_the_source_is_a_problem_unrecognised_a_note_and_repair_removes_only_rot() {
    let (emu, dir, config) = setup("[verify]\nrepair = true").await;
    let data = dir.path().join("data");
    // Damaged at the source: a .tar.gz whose bytes the manifest vouches for, broken inside.
    let tgz = std::fs::read(data_file(&data, "32102002")).unwrap();
    let mut damaged = tgz.clone();
    damaged[tgz.len() / 2] ^= 0x01;
    as_if_served(&data, "32102002", &damaged);
    // Unrecognised: an .ar that does not start like gzip at all.
    // (Same length: the listing's BackupSize still matches the copy.)
    let ar_len = std::fs::metadata(data_file(&data, "32102003"))
        .unwrap()
        .len() as u32;
    let random: Vec<u8> = (0..ar_len).map(|i| (i * 31 % 251) as u8 + 3).collect();
    as_if_served(&data, "32102003", &random);
    // Rot: a flipped byte the manifest does not vouch for.
    let qp = data_file(&data, "32102001");
    let good = std::fs::read(&qp).unwrap();
    let mut rotted = good.clone();
    rotted[12345] ^= 0xff;
    std::fs::write(&qp, &rotted).unwrap();
    // A manifest from before verdicts existed.
    let old = find_dir(&data, "32103002").unwrap().join("manifest.json");
    let mut m = read_json(&old);
    m.as_object_mut().unwrap().remove("format_verdict");
    m.as_object_mut().unwrap().remove("format_detail");
    std::fs::write(&old, m.to_string()).unwrap();
    emu.reset_stats();

    let out = run(&config, dir.path(), "--verify").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let has = |prefix: &str, needle: &str| {
        stdout
            .lines()
            .any(|l| l.starts_with(prefix) && l.contains(needle))
    };
    assert!(
        has("PROBLEM dds-demo-replica/32102002: damaged", "at byte"),
        "{stdout}"
    );
    assert!(
        has("NOTE dds-demo-replica/32102003: unrecognised", "gzip"),
        "{stdout}"
    );
    assert!(!has("PROBLEM dds-demo-replica/32102003", ""), "{stdout}");
    assert!(
        has("PROBLEM dds-demo-replica/32102001: sha256", ""),
        "{stdout}"
    );
    assert!(
        has("REPAIR dds-demo-replica/32102001", "corrupt copy removed"),
        "{stdout}"
    );
    assert!(!has("REPAIR dds-demo-replica/32102002", ""), "{stdout}");
    assert_eq!(std::fs::read(&qp).unwrap(), good, "rot repaired");
    assert_eq!(
        std::fs::read(data_file(&data, "32102002")).unwrap(),
        damaged,
        "the cloud's damaged bytes are kept"
    );
    assert_eq!(emu.stats().file_gets, 1, "only the rotted copy was fetched");
    // The scrub records its verdicts in the manifests.
    let verdict = |b: &str| {
        read_json(&find_dir(&data, b).unwrap().join("manifest.json"))["format_verdict"].clone()
    };
    assert_eq!(verdict("32102002"), "damaged");
    assert_eq!(verdict("32102003"), "unrecognised");
    assert_eq!(verdict("32103002"), "ok");

    // Again: the damage is still reported, nothing is removed or fetched, a pass GETs nothing.
    emu.reset_stats();
    let again = run(&config, dir.path(), "--verify").await;
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert_eq!(again.status.code(), Some(1), "{stdout}");
    assert!(!stdout.contains("REPAIR"), "{stdout}");
    let sync = run(&config, dir.path(), "--sync-now").await;
    assert_eq!(
        sync.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&sync.stderr)
    );
    assert_eq!(
        emu.stats().file_gets,
        0,
        "a verdict never brings a copy back"
    );
}

async fn run_args(config: &Path, home: &Path, args: &[&str]) -> Output {
    common::binary(home)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .await
        .unwrap()
}

/// `verified N copies` from the count line.
fn checked_count(stdout: &str) -> usize {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("verified "))
        .unwrap_or_else(|| panic!("no count line in {stdout}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn verified_at(manifest: &Path) -> String {
    read_json(manifest)["verified_at"]
        .as_str()
        .unwrap()
        .to_string()
}

fn set_verified_at(manifest: &Path, at: &str) {
    let mut m = read_json(manifest);
    m["verified_at"] = serde_json::Value::String(at.into());
    std::fs::write(manifest, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn max_age_checks_only_copies_not_verified_for_that_long_and_stamps_them() {
    let (_emu, dir, config) = setup("").await;
    let mut manifests = common::files_ending(&dir.path().join("data"), "manifest.json");
    manifests.sort();
    assert!(manifests.len() >= 4, "{manifests:?}");
    let (old, recent) = manifests.split_at(manifests.len() / 2);
    for m in old {
        set_verified_at(m, "2020-01-01T00:00:00Z");
    }
    let recent_before: Vec<String> = recent.iter().map(|m| verified_at(m)).collect();
    let out = run_args(&config, dir.path(), &["--verify", "--max-age", "7d"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(checked_count(&stdout), old.len(), "{stdout}");
    assert!(
        stdout.contains(&format!("{} verified within 7days skipped", recent.len())),
        "{stdout}"
    );
    for m in old {
        assert!(
            !verified_at(m).starts_with("2020-"),
            "{}: verified_at not updated",
            m.display()
        );
    }
    let recent_after: Vec<String> = recent.iter().map(|m| verified_at(m)).collect();
    assert_eq!(recent_before, recent_after, "recent copies were re-checked");
    // Now every copy is fresh: nothing to check.
    let out = run_args(&config, dir.path(), &["--verify", "--max-age", "7d"]).await;
    assert_eq!(checked_count(&String::from_utf8_lossy(&out.stdout)), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn sample_checks_that_share_of_the_copies() {
    let (_emu, dir, config) = setup("").await;
    let n = common::files_ending(&dir.path().join("data"), "manifest.json").len();
    let out = run_args(&config, dir.path(), &["--verify", "--sample", "50"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let got = checked_count(&stdout);
    assert!(
        (n / 2..=n.div_ceil(2)).contains(&got),
        "{got} of {n}: {stdout}"
    );
    assert!(stdout.contains("sample 50%"), "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("PICKED ")).count(),
        got,
        "{stdout}"
    );
    let out = run_args(&config, dir.path(), &["--verify", "--sample", "100"]).await;
    assert_eq!(checked_count(&String::from_utf8_lossy(&out.stdout)), n);
    for bad in ["0", "101", "half"] {
        let out = run_args(&config, dir.path(), &["--verify", "--sample", bad]).await;
        assert_eq!(out.status.code(), Some(2), "--sample {bad}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scrub_reads_no_faster_than_its_bandwidth_limit() {
    let (_emu, dir, config) = setup("").await;
    let total: u64 = common::files_ending(&dir.path().join("data"), "manifest.json")
        .iter()
        .map(|m| read_json(m)["size"].as_u64().unwrap())
        .sum();
    // About 1.5 s of reading at the limit.
    let limit = total * 2 / 3;
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("[verify]\nbandwidth_limit = \"{limit}\"\n"));
    std::fs::write(&config, text).unwrap();
    let started = std::time::Instant::now();
    let out = run(&config, dir.path(), "--verify").await;
    let elapsed = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let expected = total as f64 / limit as f64;
    eprintln!(
        "scrub: {total} bytes in {elapsed:.2} s at a limit of {limit} B/s (expected {expected:.2} s)"
    );
    assert!(
        (0.7 * expected..=2.0 * expected).contains(&elapsed),
        "{total} bytes took {elapsed:.2} s; at the limit they take {expected:.2} s"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_that_failed_its_scrub_is_counted_and_fetched_again_by_the_next_pass() {
    let (emu, dir, config) = setup("").await;
    let data = dir.path().join("data");
    let file = data_file(&data, "32102001");
    let good = std::fs::read(&file).unwrap();
    let mut bad = good.clone();
    bad[4321] ^= 0x10;
    std::fs::write(&file, &bad).unwrap();
    let out = run(&config, dir.path(), "--verify").await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The finding is in the store, so every later metrics file shows it ...
    let mut snapshot = dds_backup_sync::metrics::Figures::default();
    dds_backup_sync::metrics::observe_store(&Store::new(&data), &mut snapshot);
    assert_eq!(
        snapshot.verify_mismatches, 2,
        "its sha256 and its xbstream CRC"
    );
    // ... and the next pass does not call the copy up to date: it fetches it again.
    emu.reset_stats();
    let out = run(&config, dir.path(), "--sync-now").await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(emu.stats().file_gets, 1, "only the rotted copy");
    assert_eq!(std::fs::read(&file).unwrap(), good);
    dds_backup_sync::metrics::observe_store(&Store::new(&data), &mut snapshot);
    assert_eq!(snapshot.verify_mismatches, 0, "fixed by the pass");
    let out = run(&config, dir.path(), "--verify").await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pass_runs_while_a_scrub_is_in_progress_and_a_second_scrub_is_refused() {
    let (emu, dir, config) = setup("").await;
    let data = dir.path().join("data");
    let total: u64 = common::files_ending(&data, "manifest.json")
        .iter()
        .map(|m| read_json(m)["size"].as_u64().unwrap())
        .sum();
    // A scrub of about 20 s: plenty of time for a pass beside it.
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("[verify]\nbandwidth_limit = \"{}\"\n", total / 20));
    std::fs::write(&config, text).unwrap();
    let mut scrub = common::binary(dir.path())
        .args(["--verify", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = scrub.id().unwrap().to_string();
    let lock = data.join(".dds-backup-sync.scrub.lock");
    let holding = common::poll(std::time::Duration::from_secs(10), || {
        std::fs::read_to_string(&lock).is_ok_and(|t| t.lines().next() == Some(pid.as_str()))
    })
    .await;
    assert!(holding, "the scrub took its lock");

    // A new backup appears; a pass fetches it while the scrub reads.
    let fresh = dds_emulator::BackupRecord::new(
        "32109001",
        time::OffsetDateTime::now_utc() - time::Duration::hours(1),
        "hins19360001_data_fresh_qp.xb",
        200_000,
    );
    assert!(emu.add_backup("dds-demo-replica", fresh));
    let pass = run(&config, dir.path(), "--sync-now").await;
    assert_eq!(
        pass.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&pass.stderr)
    );
    assert!(find_dir(&data, "32109001").is_some_and(|d| d.join("manifest.json").exists()));
    // A second scrub is refused at once, naming the first.
    let second = run(&config, dir.path(), "--verify").await;
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(75), "{stderr}");
    assert!(stderr.contains(&pid), "{stderr}");
    assert!(
        scrub.try_wait().unwrap().is_none(),
        "all of this happened while the first scrub ran"
    );
    scrub.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scrub_without_a_max_age_rewrites_no_manifest_of_a_sound_copy() {
    // Issue #21.21: `--verify` rewrote (and fsynced) every manifest to stamp `verified_at`,
    // which nothing reads without a max age: 84 MiB written for 10,000 copies.
    let (_emu, dir, config) = setup("").await;
    let mut manifests = common::files_ending(&dir.path().join("data"), "manifest.json");
    manifests.sort();
    assert!(!manifests.is_empty());
    let before: Vec<Vec<u8>> = manifests
        .iter()
        .map(|m| std::fs::read(m).unwrap())
        .collect();
    let out = run_args(&config, dir.path(), &["--verify"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(checked_count(&stdout), manifests.len(), "{stdout}");
    let after: Vec<Vec<u8>> = manifests
        .iter()
        .map(|m| std::fs::read(m).unwrap())
        .collect();
    assert!(before == after, "a sound copy's manifest was rewritten");
}

/// Issue #26.2: `--verify` from the command line writes the last scrub's figures (start, end,
/// copies checked, problems) beside the metrics file, as the daemon's scheduled scrub does, so
/// "no scrub in 8 days" can alert whoever runs it.
#[tokio::test(flavor = "multi_thread")]
async fn a_scrub_from_the_command_line_writes_its_figures_beside_the_metrics() {
    let (_emu, dir, config) = setup("").await;
    let textfile = dir.path().join("prom").join("dds_backup_sync.prom");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}[metrics]\ntextfile = \"{}\"\n", textfile.display()),
    )
    .unwrap();
    let before = time::OffsetDateTime::now_utc().unix_timestamp();
    let out = run(&config, dir.path(), "--verify").await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let scrub = dir.path().join("prom").join("dds_backup_sync_scrub.prom");
    let figures = std::fs::read_to_string(&scrub).unwrap_or_else(|e| panic!("{scrub:?}: {e}"));
    let value = |name: &str| -> f64 {
        let line = figures
            .lines()
            .find(|l| l.starts_with(&format!("dds_backup_sync_{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {figures}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(value("last_scrub_copies"), 9.0);
    assert_eq!(value("last_scrub_problems"), 0.0);
    assert!(value("last_scrub_start_timestamp_seconds") >= before as f64);
    assert!(
        value("last_scrub_end_timestamp_seconds") >= value("last_scrub_start_timestamp_seconds")
    );
}
