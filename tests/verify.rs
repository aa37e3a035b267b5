//! `--verify` on real copies made by a real pass: it finds flipped bytes, truncated archives,
//! missing files and corrupt manifests, never follows symlinks, holds the lock, and with
//! `verify.repair` gets a corrupt copy downloaded again.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use dds_backup_sync::emulator::{self, Emulator, EmulatorConfig};
use dds_backup_sync::store::Store;
use dds_backup_sync::verify::format::{self, Format};

const ID: &str = "verify-key-id";
const SECRET: &str = "verify-key-secret";

async fn setup(extra: &str) -> (Emulator, tempfile::TempDir, PathBuf) {
    let emu = emulator::start(
        EmulatorConfig::demo(ID, SECRET),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[api]\nregion_id = \"cn-hangzhou\"\nendpoint = \"{}\"\naccess_key_id = \"{ID}\"\naccess_key_secret = \"{SECRET}\"\nuse_ecs_ram_role = false\n[[instances]]\nid = \"dds-demo-replica\"\nlookback = \"30d\"\n[[instances]]\nid = \"dds-demo-sharded\"\nnode_ids = [\"d-demo-shard-0\", \"d-demo-shard-1\"]\nlookback = \"30d\"\n[download]\ndir = \"{}\"\nnetwork = \"public\"\n{extra}\n",
            emu.base_url(),
            dir.path().join("data").display()
        ),
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
    assert!(stdout.contains("verified 9 copies, 0 problems"), "{stdout}");
    for id in [
        "32102001", "32102002", "32102003", "32103001", "32103002", "32103003",
    ] {
        let file = data_file(&dir.path().join("data"), id);
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let f = Format::for_name(&name).unwrap_or_else(|| panic!("{name} has a known format"));
        format::check(f, std::fs::File::open(&file).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
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
    // A symlinked backup folder pointing outside: not followed.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("manifest.json"), "{}").unwrap();
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
    assert!(line("dds-demo-replica/32102002: format").contains("gzip at byte"));
    assert!(
        line("dds-demo-sharded/d-demo-shard-0/32103001: size")
            .contains(&format!("size expected {len} got {}", len - 1000))
    );
    assert!(line("dds-demo-sharded/d-demo-shard-0/32103001: format").contains("xbstream"));
    assert!(line("32103004").contains("data file missing"));
    assert!(line("32103005").contains("manifest unreadable"));
    assert!(
        !stdout.contains("55555"),
        "the symlink was followed:\n{stdout}"
    );
    assert!(stdout.contains("problems"));
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_holds_the_lock() {
    let (_emu, dir, config) = setup("").await;
    let _held = Store::new(dir.path().join("data")).lock().unwrap();
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
    assert!(stdout.contains("REPAIR"), "{stdout}");
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
