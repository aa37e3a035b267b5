//! Helpers shared by the integration tests: running the real binary, private config files,
//! walking a download directory, hashing, and polling with a deadline (never a bare sleep).
#![allow(dead_code)] // each test crate uses its own subset

pub mod proxy;
pub mod world;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The `dds-backup-sync` binary with `HOME` set to `home` and nothing of the host's that could
/// change what it does: other credential sources, key overrides, the log level (a host
/// `RUST_LOG=off` would hide what tests read on stderr), systemd's socket.
pub fn binary(home: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_dds-backup-sync"));
    cmd.env("HOME", home)
        .env_remove("NOTIFY_SOCKET")
        .kill_on_drop(true);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("ALIBABA_CLOUD_")
            || name.starts_with("ALICLOUD_")
            || name.starts_with("DDS_BACKUP_SYNC")
            || name == "RUST_LOG"
        {
            cmd.env_remove(name.as_ref());
        }
    }
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

/// The text of a test config: the `[api]` block every test starts with (the endpoint and key
/// pair it is given, no ECS role), then what the test adds, line by line or section by section.
/// Add `[api]` keys with [`ConfigText::with`] before any section.
pub struct ConfigText(String);

impl ConfigText {
    pub fn api(endpoint: &str, id: &str, secret: &str) -> ConfigText {
        ConfigText(format!(
            "[api]\nregion_id = \"cn-hangzhou\"\nendpoint = \"{endpoint}\"\n\
             access_key_id = \"{id}\"\naccess_key_secret = \"{secret}\"\nuse_ecs_ram_role = false\n"
        ))
    }

    /// One more line of the section written last (an `[api]` key right after [`Self::api`]).
    pub fn with(mut self, line: &str) -> ConfigText {
        self.0.push_str(line);
        self.0.push('\n');
        self
    }

    /// An `[[instances]]` entry with a 30-day lookback (and its shard nodes, if any).
    pub fn instance(self, id: &str, nodes: &[&str]) -> ConfigText {
        let mut s = self.with(&format!("[[instances]]\nid = \"{id}\"\nlookback = \"30d\""));
        if !nodes.is_empty() {
            let list: Vec<String> = nodes.iter().map(|n| format!("\"{n}\"")).collect();
            s = s.with(&format!("node_ids = [{}]", list.join(", ")));
        }
        s
    }

    /// `[download]` into `dir`, public URLs.
    pub fn download(self, dir: &Path) -> ConfigText {
        self.with(&format!(
            "[download]\ndir = \"{}\"\nnetwork = \"public\"",
            dir.display()
        ))
    }

    pub fn text(self) -> String {
        self.0
    }
}

/// A test server on a free loopback port; it stops when dropped.
pub struct Served {
    pub url: String,
    stop: tokio_util::sync::CancellationToken,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The server's base URL, where a `&str` is wanted.
impl std::ops::Deref for Served {
    type Target = str;
    fn deref(&self) -> &str {
        &self.url
    }
}

impl std::fmt::Display for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

/// A free loopback port and its base URL, for an app that must know its own address.
pub async fn loopback() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

/// Serves `app` on 127.0.0.1:0 until the returned handle is dropped.
pub async fn serve(app: axum::Router) -> Served {
    let (listener, url) = loopback().await;
    serve_on(listener, url, app)
}

/// Serves `app` on `listener` (bound by [`loopback`]) until the handle is dropped.
pub fn serve_on(listener: tokio::net::TcpListener, url: String, app: axum::Router) -> Served {
    let stop = tokio_util::sync::CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(token.cancelled_owned())
            .await;
    });
    Served { url, stop }
}

/// A `[[discover]]` block for every instance of `region` at `endpoint`, no filter.
pub fn discover_block(endpoint: &str, region: &str) -> dds_backup_sync::config::DiscoverSettings {
    dds_backup_sync::config::DiscoverSettings {
        region: Some(dds_backup_sync::config::Region {
            id: region.into(),
            endpoint: endpoint.into(),
        }),
        instance_type: None,
        tags: Vec::new(),
        id_pattern: None,
        description_pattern: None,
        resource_group_id: None,
        lookback: Duration::from_secs(30 * 86400),
        expect_at_least: 1,
    }
}
