//! Snapshot backups of a cloud-disk instance exported through DBS download tasks, against the
//! emulator on 127.0.0.1:0 (which plays DBS: tasks walking initializing → queuing → running →
//! finished over polls, the one-task-per-instance refusal, scripted failures, expiring links)
//! with real files in tempdirs: the newest snapshot exported and published, a task carried
//! across a kill -9 (exactly one `CreateDownload`), a failed task retried (bounded), an expired
//! link refreshed mid-download, `download = false` (no DBS call), and `--dry-run`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use dds_backup_sync::commands;
use dds_backup_sync::config::{Settings, SnapshotInstances};
use dds_backup_sync::model::{Manifest, TASK, TaskRecord, Verdict};
use dds_backup_sync::sync::report::Summary;
use dds_emulator::data::DEMO_DISK;
use dds_emulator::{DbsScript, DropFault, Emulator, Faults, OssFaults, StallFault};

const ID: &str = "snap-key-id";
const SECRET: &str = "snap-key-secret";
/// The demo disk instance's two daily snapshots: the newest, and the day before.
const NEWEST: &str = "32105001";
const OLDER: &str = "32105002";
const DBS_ACTIONS: [&str; 5] = [
    "DescribeDownloadSupport",
    "CreateDownload",
    "DescribeDownloadTask",
    "DescribeDownloadBackupSetStorageInfo",
    "RetryDownloadTask",
];

/// The demo data set with the disk instance's DBS behaving as `script` says.
async fn emulator(script: DbsScript) -> Emulator {
    let emu = common::world::emulator(ID, SECRET, None).await;
    emu.with_dataset(|d| d.instance_mut(DEMO_DISK).unwrap().dbs = script);
    emu
}

/// The disk instance only, exports on (DBS at the emulator), quick polls and retries.
fn settings(emu: &Emulator, dir: &Path) -> Settings {
    let mut s = common::world::settings(emu, ID, SECRET, dir);
    s.instances.truncate(1);
    s.instances[0].id = DEMO_DISK.into();
    s.snapshots.download = true;
    s.snapshots.endpoint = Some(emu.base_url());
    s.snapshots.wait = Duration::from_secs(30);
    s.snapshots.poll_interval = Duration::from_millis(100);
    s
}

async fn pass(s: &Settings) -> Summary {
    common::world::pass(s).await
}

fn folder(dir: &Path, backup_id: &str) -> PathBuf {
    dir.join(DEMO_DISK).join(backup_id)
}

fn manifest(dir: &Path, backup_id: &str) -> Manifest {
    let text = std::fs::read(folder(dir, backup_id).join("manifest.json")).unwrap();
    serde_json::from_slice(&text).unwrap()
}

fn task_record(dir: &Path, backup_id: &str) -> Option<TaskRecord> {
    let text = std::fs::read(folder(dir, backup_id).join(TASK)).ok()?;
    serde_json::from_slice(&text).ok()
}

fn calls(emu: &Emulator, action: &str) -> u64 {
    emu.stats().calls(action)
}

/// The published archive is the emulator's export of that task, byte for byte, checked as a
/// tar.zst of BSON files, and its manifest names the task.
fn assert_exported(emu: &Emulator, dir: &Path, backup_id: &str) {
    let m = manifest(dir, backup_id);
    assert_eq!(m.file, format!("{backup_id}.tar.zst"));
    assert_eq!(m.backup.backup_id, backup_id);
    assert_eq!(m.backup.backup_method.as_deref(), Some("Snapshot"));
    assert_eq!(m.format_verdict, Some(Verdict::Ok), "{:?}", m.format_detail);
    let export = m.export.as_ref().expect("the manifest names the task");
    assert_eq!(export.service, "dbs");
    let bytes = std::fs::read(folder(dir, backup_id).join(&m.file)).unwrap();
    let served = emu
        .dbs_export(&export.task_id)
        .expect("the emulator built this task's export");
    assert!(bytes == served.bytes, "published bytes are the export's");
    assert_eq!(m.size, bytes.len() as u64);
    assert_eq!(m.sha256, common::sha256_hex(&bytes));
    assert!(m.crc64_checked);
    assert!(
        !folder(dir, backup_id).join(TASK).exists(),
        "task.json goes once published"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_newest_snapshot_is_exported_verified_and_published_once() {
    let emu = emulator(DbsScript::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    let first = pass(&s).await;
    assert_eq!(
        (first.fetched, first.failed, first.exporting),
        (1, 0, 0),
        "{first}"
    );
    assert_exported(&emu, dir.path(), NEWEST);
    // latest_only: the day-before snapshot is skipped, and no task is made for it.
    assert!(!folder(dir.path(), OLDER).exists());
    assert_eq!(calls(&emu, "CreateDownload"), 1);
    assert_eq!(calls(&emu, "DescribeDownloadSupport"), 1);

    // The next pass finds the copy up to date: no DBS call at all.
    emu.reset_stats();
    let second = pass(&s).await;
    assert_eq!((second.fetched, second.up_to_date), (0, 1), "{second}");
    for action in DBS_ACTIONS {
        assert_eq!(calls(&emu, action), 0, "{action}");
    }

    // --list shows the exported copy like any other.
    let mut out = Vec::new();
    assert_eq!(commands::list::list(&s, true, &mut out).await.unwrap(), 0);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let local: Vec<(String, bool)> = v[0]["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let id = b["BackupId"].as_str().unwrap().to_string();
            (id, b["local_copy"].as_bool().unwrap())
        })
        .collect();
    assert_eq!(local, [(NEWEST.into(), true), (OLDER.into(), false)], "{v}");

    // The scrub checks the archive the same way.
    let mut out = Vec::new();
    let code = commands::verify::verify(&s, Default::default(), &mut out)
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&out);
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_download_false_no_dbs_call_is_made_and_the_snapshot_is_skipped() {
    let emu = emulator(DbsScript::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.snapshots.download = false;
    let summary = pass(&s).await;
    assert_eq!((summary.fetched, summary.failed), (0, 0), "{summary}");
    assert_eq!(summary.skipped, 2, "both snapshots are skipped: {summary}");
    for action in DBS_ACTIONS {
        assert_eq!(calls(&emu, action), 0, "{action}");
    }
    assert!(
        common::files_under(dir.path())
            .iter()
            .all(|p| p.ends_with(".dds-backup-sync.lock"))
    );

    // Exports on, but not for this instance: skipped too, still no DBS call.
    s.snapshots.download = true;
    s.snapshots.instances = SnapshotInstances::Only(vec!["dds-other".into()]);
    let summary = pass(&s).await;
    assert_eq!((summary.fetched, summary.skipped), (0, 2), "{summary}");
    assert_eq!(calls(&emu, "CreateDownload"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_still_running_is_left_to_the_next_pass_which_polls_the_same_task() {
    let emu = emulator(DbsScript::default().polls_per_step(3)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.snapshots.wait = Duration::ZERO;
    let first = pass(&s).await;
    assert_eq!(
        (first.fetched, first.exporting, first.failed),
        (0, 1, 0),
        "{first}"
    );
    assert!(
        first.to_string().contains("exports still running 1"),
        "{first}"
    );
    let record = task_record(dir.path(), NEWEST).expect("task.json is written");
    let task_id = record
        .task_id
        .clone()
        .expect("with the task id DBS answered");
    let mut passes = 1;
    while task_record(dir.path(), NEWEST).is_some() {
        assert!(passes < 20, "the task never finished");
        let summary = pass(&s).await;
        assert_eq!(summary.failed, 0, "{summary}");
        passes += 1;
    }
    assert_eq!(
        calls(&emu, "CreateDownload"),
        1,
        "one task over {passes} passes"
    );
    assert_eq!(
        manifest(dir.path(), NEWEST).export.unwrap().task_id,
        task_id
    );
    assert_exported(&emu, dir.path(), NEWEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_task_is_retried_and_then_succeeds() {
    let emu = emulator(DbsScript::default().fail_times(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    let summary = pass(&s).await;
    assert_eq!((summary.fetched, summary.failed), (1, 0), "{summary}");
    assert_eq!(calls(&emu, "RetryDownloadTask"), 1);
    assert_eq!(calls(&emu, "CreateDownload"), 1);
    assert_exported(&emu, dir.path(), NEWEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_that_keeps_failing_is_retried_at_most_n_times_over_all_passes() {
    let emu = emulator(DbsScript::default().fail_always("conversion ran out of \"quota\"")).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.snapshots.retries = 2;
    let first = pass(&s).await;
    assert_eq!((first.fetched, first.failed), (0, 1), "{first}");
    let message = &first.failures[0].message;
    assert_eq!(first.failures[0].kind, "export");
    assert!(
        message.contains(r#"conversion ran out of "quota""#),
        "{message}"
    );
    assert!(message.contains("snapshots.retries = 2"), "{message}");
    assert_eq!(calls(&emu, "RetryDownloadTask"), 2);
    let record = task_record(dir.path(), NEWEST).unwrap();
    assert_eq!((record.retries, record.status.as_str()), (2, "failed"));

    // Later passes report it again and retry nothing: never a loop, never a second task.
    for _ in 0..2 {
        let again = pass(&s).await;
        assert_eq!(again.failed, 1, "{again}");
    }
    assert_eq!(calls(&emu, "RetryDownloadTask"), 2);
    assert_eq!(calls(&emu, "CreateDownload"), 1);
    assert!(!folder(dir.path(), NEWEST).join("manifest.json").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_link_that_expires_mid_download_is_asked_for_anew_and_resumed() {
    let emu = emulator(
        DbsScript::default()
            .export_size(4 * 1024 * 1024)
            .link_ttl(Duration::from_secs(60)),
    )
    .await;
    // The archive's body stalls once, then is cut; while it stalls the emulator's clock moves
    // past the link's lifetime, so the resume finds its link expired. (Each fault counts two
    // GETs: the one-byte size probe, then the download.)
    emu.set_faults(Faults {
        oss: OssFaults {
            stall: vec![StallFault {
                after_bytes: 20_000,
                duration: Duration::from_millis(400),
                count: 2,
                object: None,
            }],
            drop: vec![DropFault {
                after_bytes: 40_000,
                count: 2,
                object: None,
            }],
            ..OssFaults::default()
        },
        ..Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    let run = tokio::spawn(async move { pass(&s).await });
    let mut bumped = false;
    common::poll(Duration::from_secs(30), || {
        if !bumped && emu.stats().stalled_bodies > 0 {
            emu.set_clock_offset(time::Duration::seconds(61));
            bumped = true;
        }
        run.is_finished()
    })
    .await;
    let summary = run.await.unwrap();
    assert_eq!((summary.fetched, summary.failed), (1, 0), "{summary}");
    assert!(bumped);
    let stats = emu.stats();
    assert_eq!(stats.file_by_status.get(&403), Some(&1), "{stats:?}");
    assert_eq!(
        stats.calls("DescribeDownloadBackupSetStorageInfo"),
        2,
        "the first link, and one fresh one"
    );
    assert!(
        stats.ranges_seen.iter().any(|r| r == "bytes=40000-"),
        "{stats:?}"
    );
    assert_exported(&emu, dir.path(), NEWEST);
}

/// The real binary with a private config for the disk instance and exports on.
fn config(home: &Path, emu: &Emulator, data: &Path, extra: &str) -> PathBuf {
    common::write_config(
        home,
        &common::ConfigText::api(&emu.base_url(), ID, SECRET)
            .with("max_attempts = 3")
            .instance(DEMO_DISK, &[])
            .download(data)
            .with(&format!(
                "[snapshots]\ndownload = true\nendpoint = \"{}\"\npoll_interval = \"100ms\"\n{extra}",
                emu.base_url()
            ))
            .text(),
        0o600,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_says_it_would_create_a_task_and_calls_no_dbs_action() {
    let emu = emulator(DbsScript::default()).await;
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let cfg = config(home.path(), &emu, &data, "");
    let out = common::binary(home.path())
        .args(["--sync-now", "--dry-run", "--config"])
        .arg(&cfg)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("export")
            && l.contains(&format!("{DEMO_DISK}/{NEWEST}"))
            && l.contains(&format!(
                "would create a download task for snapshot {NEWEST}"
            ))),
        "{stdout}"
    );
    assert!(stdout.contains("snapshots.latest_only"), "{stdout}");
    for action in DBS_ACTIONS {
        assert_eq!(calls(&emu, action), 0, "{action}");
    }
    assert!(!data.exists(), "a dry run creates nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_carried_across_kill_9_and_a_restart_is_created_exactly_once() {
    // Slow enough (20 polls per state, 100 ms apart) that the first run is killed while the
    // task still runs.
    let emu = emulator(DbsScript::default().polls_per_step(20)).await;
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let cfg = config(home.path(), &emu, &data, "wait = \"10m\"");
    let mut child = common::binary(home.path())
        .args(["--sync-now", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let recorded = common::poll(Duration::from_secs(20), || {
        task_record(&data, NEWEST).is_some_and(|r| r.task_id.is_some())
            && calls(&emu, "DescribeDownloadTask") >= 3
    })
    .await;
    assert!(recorded, "the task id was recorded and polled");
    child.kill().await.unwrap(); // SIGKILL: no chance to clean up
    let task_id = task_record(&data, NEWEST).unwrap().task_id.unwrap();
    assert!(!folder(&data, NEWEST).join("manifest.json").exists());

    let out = common::binary(home.path())
        .args(["--sync-now", "--config"])
        .arg(&cfg)
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        calls(&emu, "CreateDownload"),
        1,
        "the restart polled the recorded task"
    );
    assert_eq!(manifest(&data, NEWEST).export.unwrap().task_id, task_id);
    assert_exported(&emu, &data, NEWEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_task_record_of_a_snapshot_no_longer_listed_is_removed_with_its_folder() {
    let emu = emulator(DbsScript::default().polls_per_step(50)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.snapshots.wait = Duration::ZERO;
    let first = pass(&s).await;
    assert_eq!(first.exporting, 1, "{first}");
    assert!(task_record(dir.path(), NEWEST).is_some());
    // The cloud deleted the snapshot: the next pass lists only the older one.
    emu.with_dataset(|d| {
        let disk = d.instance_mut(DEMO_DISK).unwrap();
        disk.backups.retain(|b| b.backup_id != NEWEST);
    });
    let second = pass(&s).await;
    assert_eq!(second.failed, 0, "{second}");
    assert!(
        !folder(dir.path(), NEWEST).exists(),
        "task.json and its folder are gone"
    );
    // The one task DBS runs for the instance still runs: the older snapshot waits for it
    // instead of asking DBS for a second one.
    assert_eq!(calls(&emu, "CreateDownload"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_asks_dbs_whether_each_instance_can_be_exported_and_creates_nothing() {
    let emu = emulator(DbsScript::default()).await;
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let cfg = common::write_config(
        home.path(),
        &common::ConfigText::api(&emu.base_url(), ID, SECRET)
            .instance(DEMO_DISK, &[])
            .instance("dds-demo-replica", &[])
            .download(&data)
            .with(&format!(
                "[snapshots]\ndownload = true\nendpoint = \"{}\"",
                emu.base_url()
            ))
            .text(),
        0o600,
    );
    let out = common::binary(home.path())
        .args(["--check", "--config"])
        .arg(&cfg)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let line = |id: &str| {
        stdout
            .lines()
            .find(|l| l.contains(&format!("snapshots {id} (DescribeDownloadSupport)")))
            .unwrap_or_else(|| panic!("no line for {id}:\n{stdout}"))
            .to_string()
    };
    assert!(line(DEMO_DISK).starts_with("OK") && line(DEMO_DISK).contains("can export"));
    assert!(line("dds-demo-replica").contains("cannot export it"));
    assert_eq!(calls(&emu, "DescribeDownloadSupport"), 2);
    assert_eq!(calls(&emu, "CreateDownload"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_dbs_still_shows_as_failed_is_counted_and_never_sent_again_at_once() {
    // Issue #21.6: DBS still said `failed` on the poll right after a retry; the retry count was
    // not written (same task, same status), and one pass sent 157 retries in 10 s.
    let emu = emulator(
        DbsScript::default()
            .fail_always("no quota left")
            .retry_lag(1),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.snapshots.retries = 2;
    s.snapshots.wait = Duration::from_secs(5);
    let first = tokio::time::timeout(Duration::from_secs(30), pass(&s))
        .await
        .expect("the pass ends");
    assert_eq!((first.fetched, first.failed), (0, 1), "{first}");
    assert_eq!(calls(&emu, "RetryDownloadTask"), 2, "{:?}", first.failures);
    let record = task_record(dir.path(), NEWEST).unwrap();
    assert_eq!(record.retries, 2);
    let again = tokio::time::timeout(Duration::from_secs(30), pass(&s))
        .await
        .expect("the pass ends");
    assert_eq!(again.failed, 1, "{again}");
    assert_eq!(calls(&emu, "RetryDownloadTask"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn format_type_is_a_setting_and_a_refusal_is_reported_in_dbss_words() {
    // Issue #21.22: `FormatType` for MongoDB is undocumented; a refusal says why, verbatim.
    let emu = emulator(DbsScript::default().format_types(&["MONGODUMP"])).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    let refused = pass(&s).await;
    assert_eq!((refused.fetched, refused.failed), (0, 1), "{refused}");
    let message = &refused.failures[0].message;
    assert!(
        message.contains("DBS.ParamIsInValid")
            && message.contains("formatType BSON is not supported"),
        "{message}"
    );
    s.snapshots.format_type = "MONGODUMP".into();
    let taken = pass(&s).await;
    assert_eq!((taken.fetched, taken.failed), (1, 0), "{taken}");
    assert_exported(&emu, dir.path(), NEWEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_is_named_and_checked_by_its_first_bytes() {
    // Issue #21.22: a service that ignores `UseZstd` sends gzip; the copy is named `.tar.gz`
    // and checked as gzip, not refused as a broken `.tar.zst`, and not exported again.
    let emu = emulator(DbsScript::default().gzip()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    let first = pass(&s).await;
    assert_eq!((first.fetched, first.failed), (1, 0), "{first}");
    let m = manifest(dir.path(), NEWEST);
    assert_eq!(m.file, format!("{NEWEST}.tar.gz"));
    assert_ne!(
        m.format_verdict,
        Some(Verdict::Damaged),
        "{:?}",
        m.format_detail
    );
    assert_ne!(
        m.format_verdict,
        Some(Verdict::Unrecognised),
        "{:?}",
        m.format_detail
    );
    let bytes = std::fs::read(folder(dir.path(), NEWEST).join(&m.file)).unwrap();
    let served = emu.dbs_export(&m.export.as_ref().unwrap().task_id).unwrap();
    assert!(bytes == served.bytes);
    let creates = calls(&emu, "CreateDownload");
    let second = pass(&s).await;
    assert_eq!((second.fetched, second.failed), (0, 0), "{second}");
    assert_eq!(calls(&emu, "CreateDownload"), creates, "exported once");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_that_names_no_backup_set_is_never_adopted_for_this_one() {
    // Issue #21.3: DBS listed a task without `BakSetId` (and ignored the filter), and it was
    // adopted for any backup set: another set's archive was published as this backup.
    let emu = emulator(DbsScript::default().nameless_rows()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    let first = pass(&s).await;
    assert_eq!((first.fetched, first.failed), (1, 0), "{first}");
    // A newer snapshot: its export must be its own task's.
    let newer = "32105009";
    emu.with_dataset(|d| {
        let start = time::OffsetDateTime::now_utc() - time::Duration::minutes(5);
        d.instance_mut(DEMO_DISK)
            .unwrap()
            .backups
            .push(dds_emulator::BackupRecord::snapshot(newer, start, 4096));
    });
    let second = pass(&s).await;
    assert_eq!((second.fetched, second.failed), (1, 0), "{second}");
    let task = manifest(dir.path(), newer).export.unwrap().task_id;
    let of = emu
        .dbs_tasks()
        .into_iter()
        .find(|t| t.task_id == task)
        .unwrap()
        .bak_set_id;
    assert_eq!(of, newer, "published the archive of backup set {of}");
    assert_exported(&emu, dir.path(), newer);
}

/// Issue #22.5: a key DBS refuses during an export is a setup error (exit 2), as in a
/// listing; it was a plain export failure (exit 1), its class lost in a string.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_refused_by_dbs_during_an_export_exits_2() {
    use common::proxy::{ApiProxy, REFUSED_REQUEST_ID, param};
    let emu = emulator(DbsScript::default()).await;
    let refuse = std::sync::Arc::new(|p: &common::proxy::Params| {
        param(p, "Action").as_deref() == Some("CreateDownload")
    });
    let proxy = ApiProxy::start_refusing(&emu.base_url(), refuse).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.snapshots.endpoint = Some(proxy.url.clone());
    let summary = pass(&s).await;
    let export = summary.failures.iter().find(|f| f.kind == "export");
    let message = &export.expect("the export failed").message;
    assert!(message.contains(REFUSED_REQUEST_ID), "{message}");
    assert!(summary.setup_error, "{summary}: {:?}", summary.failures);
    assert_eq!(commands::pass::exit_code(&summary), 2);
}

/// Issue #22.3: the export's size probe is an OSS GET like every other, with the download's
/// retry: one 503 from OSS no longer fails the export for this pass.
#[tokio::test(flavor = "multi_thread")]
async fn the_exports_probe_is_retried_like_a_download() {
    let emu = emulator(DbsScript::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    emu.set_faults(Faults {
        oss: OssFaults {
            errors_next: 1,
            ..OssFaults::default()
        },
        ..Faults::default()
    });
    let summary = pass(&s).await;
    assert!(summary.ok(), "{summary}: {:?}", summary.failures);
    assert_eq!(emu.stats().file_by_status.get(&503).copied(), Some(1));
    assert_exported(&emu, dir.path(), NEWEST);
}
