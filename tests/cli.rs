//! The binary as a user runs it: `--list` (table and JSON), config errors with their exit
//! codes, the config path order, and environment overrides.

mod common;

use std::path::Path;
use std::process::Output;

use dds_emulator::{self as emulator, Emulator, EmulatorConfig};

const ID: &str = "cli-key-id";
const SECRET: &str = "cli-key-secret";

async fn emulator() -> Emulator {
    common::world::emulator(ID, SECRET, None).await
}

fn config_text(endpoint: &str, secret: &str) -> String {
    common::ConfigText::api(endpoint, ID, secret)
        .with("max_attempts = 2")
        .instance("dds-demo-replica", &[])
        .instance("dds-demo-sharded", &["d-demo-shard-0", "d-demo-shard-1"])
        .text()
}

async fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = common::binary(dir);
    cmd.args(args).envs(env.iter().copied());
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
        "32103006",
        "Success",
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
    let row = |id: &str| -> Vec<String> {
        stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("no row for {id} in:\n{stdout}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(row("32102001")[1..3], ["Success", "yes"]);
    assert_eq!(row("32102004")[1], "Failed");
    assert_eq!(row("32102005")[1..3], ["Success", "no"], "IsAvail false");
    assert_eq!(row("32102001").last().unwrap(), "public+intranet");
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
    let shape: Vec<(String, serde_json::Value, usize)> = targets
        .iter()
        .map(|t| {
            assert!(t["error"].is_null(), "{t}");
            (
                t["instance"].as_str().unwrap().to_string(),
                t["node"].clone(),
                t["backups"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("dds-demo-replica".to_string(), serde_json::Value::Null, 7),
            ("dds-demo-sharded".to_string(), "d-demo-shard-0".into(), 3),
            ("dds-demo-sharded".to_string(), "d-demo-shard-1".into(), 3),
        ]
    );
    let replica = targets[0]["backups"].as_array().unwrap();
    let ids: Vec<&str> = replica
        .iter()
        .map(|b| b["BackupId"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"32102001") && ids.contains(&"32102004"),
        "{ids:?}"
    );
    let failed = replica
        .iter()
        .find(|b| b["BackupId"] == "32102004")
        .unwrap();
    assert_eq!(failed["BackupStatus"], "Failed");
    let snapshot = replica
        .iter()
        .find(|b| b["BackupId"] == "32102007")
        .unwrap();
    assert_eq!(snapshot["has_public_url"], false);
    assert_eq!(replica[0]["has_public_url"], true);
    let shard_ids: Vec<&str> = targets[2]["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["BackupId"].as_str().unwrap())
        .collect();
    assert_eq!(
        shard_ids,
        ["32103002", "32103004", "32103006"],
        "shard 1's own backups"
    );
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
            "instances[dds-demo-replica].lookback",
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
    let stdout = text(&out.stdout);
    // Which credential source was used, never the secret.
    assert!(
        stdout.contains("the credentials came from config file"),
        "{stdout}"
    );
    assert!(
        !stderr.contains("wrong-secret") && !stdout.contains("wrong-secret"),
        "the secret is never printed"
    );
    assert_eq!(
        emu.stats()
            .calls_with("DescribeBackups", "SignatureDoesNotMatch"),
        3,
        "one call per target"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--list", "--sync-now"], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("cannot be used with"),
        "{}",
        text(&out.stderr)
    );
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
    // The pass summary's counts are fields of their own, not a JSON text inside `message`.
    let summary = lines
        .iter()
        .find(|v| v["target"] == "dds_backup_sync::summary")
        .unwrap_or_else(|| panic!("no summary line: {stderr}"));
    // (A second run in the same directory: everything is up to date.)
    assert_eq!(summary["fields"]["listed"], 13, "{summary}");
    assert_eq!(summary["fields"]["up_to_date"], 9, "{summary}");
    assert_eq!(summary["fields"]["failed"], 0, "{summary}");
    assert_eq!(summary["fields"]["bytes"], 0, "{summary}");
    assert!(
        !summary["fields"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains('{'),
        "{summary}"
    );
}

fn instance_only(endpoint: &str, id: &str) -> String {
    common::ConfigText::api(endpoint, ID, SECRET)
        .with("max_attempts = 2")
        .instance(id, &[])
        .text()
}

#[tokio::test(flavor = "multi_thread")]
async fn page_size_override_from_the_environment_takes_effect() {
    let mut config = EmulatorConfig::demo(ID, SECRET);
    config
        .dataset
        .add_instance(emulator::Instance::replica_set("dds-many").with_generated(
            70,
            9_000_000,
            time::OffsetDateTime::now_utc(),
            1024,
        ));
    let emu = common::loopback_emulator(config).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(
        dir.path(),
        &instance_only(&emu.base_url(), "dds-many"),
        0o600,
    );
    let cfg = cfg.to_str().unwrap();
    let count = |out: &Output| {
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v[0]["backups"].as_array().unwrap().len()
    };

    // The default page size (100): one call for 70 backups.
    let out = run(dir.path(), &["--list", "--json", "--config", cfg], &[]).await;
    assert_eq!(count(&out), 70);
    assert_eq!(emu.stats().calls_with("DescribeBackups", "Success"), 1);

    // Overridden to 30: three calls (30 + 30 + 10), the same 70 backups.
    emu.reset_stats();
    let out = run(
        dir.path(),
        &["--list", "--json", "--config", cfg],
        &[("DDS_BACKUP_SYNC__API__PAGE_SIZE", "30")],
    )
    .await;
    assert_eq!(count(&out), 70);
    assert_eq!(emu.stats().calls_with("DescribeBackups", "Success"), 3);
    assert_eq!(emu.stats().calls("DescribeBackups"), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_target_exits_1_and_the_others_are_still_listed() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let text_in = format!(
        "{}[[instances]]\nid = \"dds-gone\"\n",
        config_text(&emu.base_url(), SECRET)
    );
    let cfg = common::write_config(dir.path(), &text_in, 0o600);
    let out = run(
        dir.path(),
        &["--list", "--config", cfg.to_str().unwrap()],
        &[],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(stdout.contains("32102001"), "{stdout}");
    assert!(stdout.contains("32103006"), "{stdout}");
    let gone = stdout
        .split("== dds-gone")
        .nth(1)
        .expect("a section for dds-gone");
    assert!(
        gone.contains("error:") && gone.contains("InvalidDBInstanceId.NotFound"),
        "{stdout}"
    );

    let out = run(
        dir.path(),
        &["--list", "--json", "--config", cfg.to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 4);
    assert!(
        v[3]["error"]
            .as_str()
            .is_some_and(|e| e.contains("InvalidDBInstanceId.NotFound")),
        "{v}"
    );
    assert_eq!(v[0]["backups"].as_array().unwrap().len(), 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_host_clock_exits_2_and_says_by_how_much() {
    let emu = emulator().await;
    emu.set_clock_offset(time::Duration::minutes(30));
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(dir.path(), &config_text(&emu.base_url(), SECRET), 0o600);
    let out = run(
        dir.path(),
        &["--list", "--config", cfg.to_str().unwrap()],
        &[],
    )
    .await;
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("the host clock is off by about 30m"), "{all}");
    assert_eq!(
        emu.stats().describe("Success"),
        0,
        "every target was refused"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_credentials_anywhere_exits_2_before_any_request() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let text_in = config_text(&emu.base_url(), SECRET)
        .replace(&format!("access_key_id = \"{ID}\"\n"), "")
        .replace(&format!("access_key_secret = \"{SECRET}\"\n"), "");
    // No secret in the file, so a readable mode is fine here.
    let cfg = common::write_config(dir.path(), &text_in, 0o644);
    let out = run(
        dir.path(),
        &["--list", "--config", cfg.to_str().unwrap()],
        &[],
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no credentials found"), "{stderr}");
    assert!(
        stderr.contains("ALIBABA_CLOUD_ACCESS_KEY_ID"),
        "says what to set: {stderr}"
    );
    assert_eq!(emu.stats().describe_calls, 0);

    // The same file with the keys in the environment works.
    let out = run(
        dir.path(),
        &["--list", "--config", cfg.to_str().unwrap()],
        &[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", ID),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("32102001"));
}

#[tokio::test(flavor = "multi_thread")]
async fn config_flag_wins_over_the_environment_path() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(dir.path(), &config_text(&emu.base_url(), SECRET), 0o600);
    let missing = dir.path().join("not-there.toml");
    let missing = missing.to_str().unwrap();

    let out = run(
        dir.path(),
        &["--list", "--json", "--config", cfg.to_str().unwrap()],
        &[("DDS_BACKUP_SYNC_CONFIG", missing)],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(serde_json::from_slice::<serde_json::Value>(&out.stdout).is_ok());

    // Without --config the environment's path is read, and a missing file is named.
    let out = run(
        dir.path(),
        &["--list"],
        &[("DDS_BACKUP_SYNC_CONFIG", missing)],
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(missing), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_runs_on_a_fresh_directory_and_says_its_summary_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    // One `--demo` run: its stdout and stderr together, after checking it exited 0.
    let demo = || async {
        // Every Alibaba operator has keys in their shell: the demo uses its own (issue #26).
        let out = common::binary(dir.path())
            .arg("--demo")
            .arg(&data)
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI-an-operators-real-key")
            .env(
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                "an-operators-real-secret",
            )
            .output()
            .await
            .unwrap();
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{all}");
        all
    };
    let all = demo().await;
    assert_eq!(
        all.matches("listed 19, fetched 12").count(),
        1,
        "the summary once:\n{all}"
    );
    assert!(
        !all.contains("\"listed\":19"),
        "no JSON summary line in the demo:\n{all}"
    );
    // The replica set, both shards of the sharded instance (found without node ids), and the
    // cloud-disk cluster of the second region, discovered, copied whole and sealed, and the
    // newest snapshot of the cloud-disk replica set, exported through a DBS download task.
    assert_eq!(common::files_ending(&data, "/manifest.json").len(), 12);
    let exported = common::files_ending(&data, ".tar.zst");
    assert_eq!(exported.len(), 1, "{exported:?}");
    assert!(exported[0].ends_with("dds-demo-disk/32105001/32105001.tar.zst"));
    assert!(common::files_ending(&data, "task.json").is_empty());
    let sealed = common::files_ending(&data, "cluster-manifest.json");
    assert_eq!(sealed.len(), 1, "{sealed:?}");
    assert!(all.contains("cluster backup complete"), "{all}");
    // As the demo says: a second run downloads nothing.
    let all = demo().await;
    assert!(all.contains("listed 19, fetched 0"), "{all}");
}

#[tokio::test(flavor = "multi_thread")]
async fn list_shows_human_sizes_and_which_backups_have_a_verified_local_copy() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let text_cfg = common::ConfigText::api(&emu.base_url(), ID, SECRET)
        .instance("dds-demo-replica", &[])
        .download(&data)
        .text();
    let cfg = common::write_config(dir.path(), &text_cfg, 0o600);
    let cfg = cfg.to_str().unwrap();
    let out = run(dir.path(), &["--sync-now", "--config", cfg], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(dir.path(), &["--list", "--config", cfg], &[]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let row = |id: &str| {
        stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("no row for {id} in:\n{stdout}"))
            .to_string()
    };
    assert!(stdout.contains("LOCAL"), "{stdout}");
    assert!(row("32102001").contains("2.5 MiB"), "{stdout}");
    assert!(
        row("32102001").contains(" yes "),
        "verified copy present:\n{stdout}"
    );
    assert!(
        row("32102004").contains(" no "),
        "a failed backup has none:\n{stdout}"
    );
    let out = run(dir.path(), &["--list", "--json", "--config", cfg], &[]).await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let backups = v[0]["backups"].as_array().unwrap();
    let qp = backups
        .iter()
        .find(|b| b["BackupId"] == "32102001")
        .unwrap();
    assert_eq!(qp["BackupSize"], 2_621_440, "raw bytes in JSON");
    assert_eq!(qp["local_copy"], true);
    let failed = backups
        .iter()
        .find(|b| b["BackupId"] == "32102004")
        .unwrap();
    assert_eq!(failed["local_copy"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unwritable_metrics_path_stops_the_run_at_start_with_exit_2() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the metrics folder should be: no user, root included, can write.
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, b"x").unwrap();
    let text_cfg = common::ConfigText::api(&emu.base_url(), ID, SECRET)
        .instance("dds-demo-replica", &[])
        .download(&dir.path().join("data"))
        .with(&format!(
            "[metrics]\ntextfile = \"{}\"",
            blocker.join("dds.prom").display()
        ))
        .text();
    let cfg = common::write_config(dir.path(), &text_cfg, 0o600);
    let out = run(
        dir.path(),
        &["--sync-now", "--config", cfg.to_str().unwrap()],
        &[],
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("metrics.textfile"), "{stderr}");
    assert_eq!(emu.stats().file_gets, 0, "nothing downloaded");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_says_ok_or_what_to_fix_one_line_each_and_downloads_nothing() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let good = common::ConfigText::api(&emu.base_url(), ID, SECRET)
        .instance("dds-demo-replica", &[])
        .instance("dds-demo-sharded", &["d-demo-shard-0", "d-demo-shard-1"])
        .download(&data)
        .text();
    let cfg = common::write_config(dir.path(), &good, 0o600);
    let out = run(
        dir.path(),
        &["--check", "--config", cfg.to_str().unwrap()],
        &[],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    for needle in [
        "OK   config:",
        "OK   credentials: from config file",
        "OK   api dds-demo-replica: signature accepted",
        "OK   api dds-demo-sharded/d-demo-shard-0: signature accepted",
        "OK   download.dir:",
        "OK   intranet download host:",
    ] {
        assert!(stdout.contains(needle), "{needle:?} missing:\n{stdout}");
    }
    assert!(stdout.lines().all(|l| l.starts_with("OK ")), "{stdout}");
    assert_eq!(emu.stats().file_gets, 0, "a check downloads nothing");

    // A wrong secret and a download dir under a regular file: both say what to fix, exit 2.
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, b"x").unwrap();
    let bad = common::ConfigText::api(&emu.base_url(), ID, "wrong-secret")
        .instance("dds-demo-replica", &[])
        .download(&blocker.join("data"))
        .text();
    let cfg = common::write_config(dir.path(), &bad, 0o600);
    let out = run(
        dir.path(),
        &["--check", "--config", cfg.to_str().unwrap()],
        &[],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("FAIL api dds-demo-replica")
                && l.contains("SignatureDoesNotMatch")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("FAIL download.dir") && l.contains("ReadWritePaths=")),
        "{stdout}"
    );
    assert!(!stdout.contains("wrong-secret"), "never the secret");

    // A config that does not load is a FAIL line too.
    let cfg = common::write_config(dir.path(), "[api]\nbogus = 1\n", 0o600);
    let out = run(
        dir.path(),
        &["--check", "--config", cfg.to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stdout).starts_with("FAIL config:"),
        "{}",
        text(&out.stdout)
    );
}
