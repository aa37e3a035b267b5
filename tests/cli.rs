//! The binary as a user runs it: `--list` (table and JSON), config errors with their exit
//! codes, the config path order, and environment overrides.

mod common;

use std::path::Path;
use std::process::Output;

use dds_backup_sync::emulator::{self, Emulator, EmulatorConfig};

const ID: &str = "cli-key-id";
const SECRET: &str = "cli-key-secret";

async fn emulator() -> Emulator {
    emulator::start(
        EmulatorConfig::demo(ID, SECRET),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

fn config_text(endpoint: &str, secret: &str) -> String {
    format!(
        r#"[api]
region_id = "cn-hangzhou"
endpoint = "{endpoint}"
access_key_id = "{ID}"
access_key_secret = "{secret}"
use_ecs_ram_role = false
max_attempts = 2
[[instances]]
id = "dds-demo-replica"
lookback = "30d"
[[instances]]
id = "dds-demo-sharded"
node_ids = ["d-demo-shard-0", "d-demo-shard-1"]
lookback = "30d"
"#
    )
}

async fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = common::binary(dir);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().await.unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn list_shows_the_demo_data_as_a_table() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(dir.path(), &config_text(&emu.base_url(), SECRET), 0o600);
    let out = run(
        dir.path(),
        &["--list", "--config", cfg.to_str().unwrap()],
        &[],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for needle in [
        "== dds-demo-replica",
        "== dds-demo-sharded/d-demo-shard-0",
        "== dds-demo-sharded/d-demo-shard-1",
        "32102001",
        "Failed",
        "forever",
        "Snapshot",
        "none",
    ] {
        assert!(
            stdout.contains(needle),
            "{needle:?} missing from:\n{stdout}"
        );
    }
    assert!(!stdout.contains("INFO"), "logs stay on stderr");
}

#[tokio::test(flavor = "multi_thread")]
async fn list_json_is_only_json_on_stdout() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(dir.path(), &config_text(&emu.base_url(), SECRET), 0o600);
    let out = run(
        dir.path(),
        &["--list", "--json", "--config", cfg.to_str().unwrap()],
        &[("RUST_LOG", "debug")],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is JSON and nothing else");
    let targets = v.as_array().unwrap();
    assert_eq!(targets.len(), 3);
    assert_eq!(targets[1]["node"], "d-demo-shard-0");
    let replica = targets[0]["backups"].as_array().unwrap();
    assert_eq!(replica.len(), 7);
    assert!(
        replica
            .iter()
            .all(|b| b["BackupId"].is_string() && b.get("BackupDownloadURL").is_none()),
        "no presigned URLs in JSON"
    );
    assert!(!text(&out.stderr).is_empty(), "logs went to stderr");
}

#[tokio::test(flavor = "multi_thread")]
async fn config_errors_exit_2_before_any_request() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let base = config_text(&emu.base_url(), SECRET);
    for (text_in, mode, needle) in [
        (
            base.replace("[api]", "[api]\nbogus_key = 1"),
            0o600,
            "bogus_key",
        ),
        (
            base.replace("max_attempts = 2", "page_size = 40"),
            0o600,
            "api.page_size: must be 30, 50 or 100 (got 40)",
        ),
        (base.clone(), 0o644, "chmod 600"),
        (
            base.replace("lookback = \"30d\"", "lookback = \"a while\""),
            0o600,
            "instances[0].lookback",
        ),
    ] {
        let cfg = common::write_config(dir.path(), &text_in, mode);
        let out = run(
            dir.path(),
            &["--list", "--config", cfg.to_str().unwrap()],
            &[],
        )
        .await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{needle}: {stderr}");
        assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
        assert!(
            stderr.contains(cfg.to_str().unwrap()),
            "names the file: {stderr}"
        );
    }
    assert_eq!(emu.stats().describe_calls, 0, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_exit_2() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(
        dir.path(),
        &config_text(&emu.base_url(), "wrong-secret"),
        0o600,
    );
    let out = run(
        dir.path(),
        &["--list", "--config", cfg.to_str().unwrap()],
        &[],
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("SignatureDoesNotMatch"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--list", "--sync-now"], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = run(
        dir.path(),
        &["--list", "--config", "/nonexistent/dds.toml"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("/nonexistent/dds.toml"),
        "{}",
        text(&out.stderr)
    );
    let out = run(dir.path(), &["--help"], &[]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("Exit codes"));
}

#[tokio::test(flavor = "multi_thread")]
async fn config_path_from_env_and_key_overrides() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(dir.path(), &config_text(&emu.base_url(), SECRET), 0o600);
    let out = run(
        dir.path(),
        &["--list", "--json"],
        &[
            ("DDS_BACKUP_SYNC_CONFIG", cfg.to_str().unwrap()),
            ("DDS_BACKUP_SYNC__API__PAGE_SIZE", "30"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(serde_json::from_slice::<serde_json::Value>(&out.stdout).is_ok());
    // An override with an impossible value is named like a file value.
    let out = run(
        dir.path(),
        &["--list"],
        &[
            ("DDS_BACKUP_SYNC_CONFIG", cfg.to_str().unwrap()),
            ("DDS_BACKUP_SYNC__API__PAGE_SIZE", "7"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("api.page_size"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn off_a_terminal_logs_are_plain_and_json_when_asked() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let base = format!(
        "{}[download]\ndir = \"{}\"\nnetwork = \"public\"\n",
        config_text(&emu.base_url(), SECRET),
        data.display()
    );
    let cfg = common::write_config(dir.path(), &base, 0o600);
    let out = run(
        dir.path(),
        &["--sync-now", "--config", cfg.to_str().unwrap()],
        &[],
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no escape codes when stderr is not a terminal"
    );
    assert!(stderr.contains("pass finished"), "{stderr}");

    let cfg = common::write_config(
        dir.path(),
        &format!("{base}[logging]\nformat = \"json\"\n"),
        0o600,
    );
    let out = run(
        dir.path(),
        &["--sync-now", "--config", cfg.to_str().unwrap()],
        &[],
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines.iter().any(|v| v["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("pass finished"))),
        "{stderr}"
    );
}
