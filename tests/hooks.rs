//! `[hooks]` against the real binary: `ping_url` on a loopback server sees `/start` then the
//! outcome, `on_success` / `on_failure` get the summary on stdin and in the environment, and a
//! hook that fails or hangs never changes the pass's exit code.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use dds_emulator::{EmulatorConfig, Faults, OssFaults};

const ID: &str = "hooks-key-id";
const SECRET: &str = "hooks-key-secret";

/// A monitoring service that records the paths it was asked for.
async fn monitor() -> (common::Served, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = Router::new().fallback(move |uri: axum::http::Uri| {
        let record = record.clone();
        async move {
            record.lock().unwrap().push(uri.path().to_string());
            "OK"
        }
    });
    (common::serve(app).await, seen)
}

fn config(dir: &Path, endpoint: &str, hooks: &str) -> std::path::PathBuf {
    let text = common::ConfigText::api(endpoint, ID, SECRET)
        .instance("dds-demo-replica", &[])
        .download(&dir.join("data"))
        .with(&format!("[hooks]\n{hooks}"))
        .text();
    common::write_config(dir, &text, 0o600)
}

async fn sync_now(dir: &Path, cfg: &Path) -> std::process::Output {
    common::binary(dir)
        .arg("--sync-now")
        .arg("--config")
        .arg(cfg)
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn success_runs_on_success_with_the_summary_and_pings_start_then_the_url() {
    let emu = common::loopback_emulator(EmulatorConfig::demo(ID, SECRET)).await;
    let (server, seen) = monitor().await;
    let dir = tempfile::tempdir().unwrap();
    let out_json = dir.path().join("summary.json");
    let out_env = dir.path().join("env.txt");
    let hooks = format!(
        "ping_url = \"{server}/check-1\"\n\
         on_success = \"cat > {}; echo $DDS_BACKUP_SYNC_OUTCOME $DDS_BACKUP_SYNC_FETCHED > {}\"\n\
         on_failure = \"touch {}/failure-ran\"\n",
        out_json.display(),
        out_env.display(),
        dir.path().display()
    );
    let cfg = config(dir.path(), &emu.base_url(), &hooks);
    let out = sync_now(dir.path(), &cfg).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_json).unwrap()).unwrap();
    assert_eq!(summary["fetched"], 3, "{summary}");
    assert_eq!(
        std::fs::read_to_string(&out_env).unwrap().trim(),
        "success 3"
    );
    assert!(!dir.path().join("failure-ran").exists());
    assert!(
        common::poll(Duration::from_secs(5), || seen.lock().unwrap().len() >= 2).await,
        "{:?}",
        seen.lock().unwrap()
    );
    let mut paths = seen.lock().unwrap().clone();
    paths.sort();
    assert_eq!(paths, ["/check-1", "/check-1/start"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn failure_runs_on_failure_and_pings_fail_and_a_broken_hook_changes_nothing() {
    let emu = common::loopback_emulator(EmulatorConfig::demo(ID, SECRET)).await;
    emu.set_faults(Faults {
        oss: OssFaults {
            wrong_crc: vec!["32102002".into()],
            ..OssFaults::default()
        },
        ..Faults::default()
    });
    let (server, seen) = monitor().await;
    let dir = tempfile::tempdir().unwrap();
    let hooks = format!(
        "ping_url = \"{server}/check-2\"\n\
         on_failure = \"echo $DDS_BACKUP_SYNC_OUTCOME $DDS_BACKUP_SYNC_LISTING_ERRORS $DDS_BACKUP_SYNC_FAILED > {}/failure.txt; exit 3\"\n",
        dir.path().display()
    );
    let cfg = config(dir.path(), &emu.base_url(), &hooks);
    let out = sync_now(dir.path(), &cfg).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the pass's own exit code: {stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("failure.txt"))
            .unwrap()
            .trim(),
        "failure 0 1",
        "outcome, listing errors, failed"
    );
    assert!(stderr.contains("hook command failed"), "{stderr}");
    assert!(
        common::poll(Duration::from_secs(5), || seen
            .lock()
            .unwrap()
            .contains(&"/check-2/fail".to_string()))
        .await,
        "{:?}",
        seen.lock().unwrap()
    );

    // A hook that hangs is killed at hooks.timeout; the pass still exits as it should.
    emu.set_faults(Faults::default());
    let hooks = "timeout = \"1s\"\non_success = \"sleep 30\"\n";
    let cfg = config(dir.path(), &emu.base_url(), hooks);
    let started = std::time::Instant::now();
    let out = sync_now(dir.path(), &cfg).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("killed"));
}
