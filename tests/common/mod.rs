//! Helpers shared by the integration tests: running the real binary, private config files,
//! walking a download directory, hashing, and polling with a deadline (never a bare sleep).
#![allow(dead_code)] // each test crate uses its own subset

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The `dds-backup-sync` binary with `HOME` set to `home` and the host's Alibaba Cloud
/// credentials removed, so nothing outside the test can change what it does.
pub fn binary(home: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_dds-backup-sync"));
    cmd.env("HOME", home)
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        .env_remove("ALIBABA_CLOUD_SECURITY_TOKEN")
        .env_remove("DDS_BACKUP_SYNC_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .kill_on_drop(true);
    cmd
}

/// Writes `dir/config.toml` with `mode` (0600 unless a test wants otherwise).
pub fn write_config(dir: &Path, text: &str, mode: u32) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// Every regular file below `dir` (symlinked folders are not entered), sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => out.extend(files_under(&p)),
                Ok(_) => out.push(p),
                Err(_) => {}
            }
        }
    }
    out.sort();
    out
}

/// The files below `dir` whose name ends with `suffix`.
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Polls `check` every 10 ms until it holds or `deadline` passes; returns the last answer.
pub async fn poll(deadline: Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check()
}

/// Starts the bundled emulator on a free loopback port; it stops when the handle is dropped.
pub async fn loopback_emulator(config: dds_emulator::EmulatorConfig) -> dds_emulator::Emulator {
    dds_backup_sync::http::install_crypto_provider();
    dds_emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}
