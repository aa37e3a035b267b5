//! The monitoring files shipped in `monitoring/` (issue #26): the Prometheus rules pass
//! `promtool check rules` and their own unit tests (`promtool test rules`), and every metric
//! the rules and the Grafana dashboard name exists in the files a real pass and a real scrub
//! write.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const ID: &str = "monitoring-key-id";
const SECRET: &str = "monitoring-key-secret";

fn monitoring() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("monitoring")
}

/// The `dds_backup_sync_…` names in `text`.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("dds_backup_sync_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

#[test]
fn the_alert_rules_pass_promtool_and_their_own_tests() {
    if !dds_emulator::tools::have("alert rules", "promtool", "--version") {
        return;
    }
    for args in [
        vec!["check", "rules", "alerts.yml"],
        vec!["test", "rules", "alerts.test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(&args)
            .current_dir(monitoring())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_metric_the_rules_and_the_dashboard_name_is_written() {
    let emu = common::world::emulator(ID, SECRET, None).await;
    let dir = tempfile::tempdir().unwrap();
    let textfile = dir.path().join("prom").join("dds_backup_sync.prom");
    let config = common::write_config(
        dir.path(),
        &common::ConfigText::api(&emu.base_url(), ID, SECRET)
            .instance("dds-demo-replica", &[])
            .download(&dir.path().join("data"))
            .with(&format!("[metrics]\ntextfile = \"{}\"", textfile.display()))
            .text(),
        0o600,
    );
    for mode in ["--sync-now", "--verify"] {
        let out = common::world::run(dir.path(), &config, &[mode], "warn").await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Every gauge says its name in a TYPE line, samples or not (the archive's need [archive]).
    let mut written = BTreeSet::new();
    for file in ["dds_backup_sync.prom", "dds_backup_sync_scrub.prom"] {
        let text = std::fs::read_to_string(dir.path().join("prom").join(file)).unwrap();
        written.extend(
            text.lines()
                .filter_map(|l| l.strip_prefix("# TYPE "))
                .filter_map(|l| l.split_whitespace().next())
                .map(String::from),
        );
    }
    for file in ["alerts.yml", "grafana-dashboard.json"] {
        let text = std::fs::read_to_string(monitoring().join(file)).unwrap();
        let used = names_in(&text);
        assert!(!used.is_empty(), "{file} names no metric");
        let unknown: Vec<&String> = used.difference(&written).collect();
        assert!(
            unknown.is_empty(),
            "{file} names metrics no file has: {unknown:?}"
        );
    }
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(monitoring().join("grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
    assert!(dashboard["panels"].as_array().is_some_and(|p| p.len() >= 5));
    assert!(
        written.contains("dds_backup_sync_build_info"),
        "{written:?}"
    );
}
