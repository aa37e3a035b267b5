//! The real binary, as cron or systemd runs it: kill -9 mid-download then a resumed run, the
//! lock (exit 75), a failed backup (exit 1), and what `--dry-run` prints.

use std::process::{Output, Stdio};
use std::time::Duration;

use dds_emulator::StallFault;

use super::*;

/// A private (0600) config for the replica set, public URLs, quick retries.
pub(super) fn config(home: &Path, emu: &Emulator, data: &Path, extra: &str) -> PathBuf {
    common::write_config(
        home,
        &common::ConfigText::api(&emu.base_url(), ID, SECRET)
            .with("max_attempts = 3")
            .with("max_retry_time = \"20s\"")
            .instance(REPLICA, &[])
            .download(data)
            .with(extra)
            .text(),
        0o600,
    )
}

async fn run(home: &Path, config: &Path, args: &[&str]) -> Output {
    common::world::run(home, config, args, "info").await
}

/// Every file under `data` with its length, except the lock file (any run creates that).
fn data_files(data: &Path) -> Vec<(PathBuf, u64)> {
    common::files_under(data)
        .into_iter()
        .filter(|p| !p.ends_with(".dds-backup-sync.lock"))
        .map(|p| {
            let len = file_len(&p);
            (p, len)
        })
        .collect()
}

/// A line of the plan: `<action> <instance>/<backup> ...`.
fn has_line(stdout: &str, action: &str, backup_id: &str) -> bool {
    stdout
        .lines()
        .any(|l| l.starts_with(action) && l.contains(&format!("{REPLICA}/{backup_id}")))
}

/// QP's body stops for a minute after 1 MB.
fn stall_qp(emu: &Emulator) {
    emu.set_faults(oss_faults(OssFaults {
        stall: vec![StallFault {
            after_bytes: 1_000_000,
            duration: Duration::from_secs(60),
            count: 1,
            object: Some(QP.into()),
        }],
        ..OssFaults::default()
    }));
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_download_then_a_second_run_resumes_from_the_partial() {
    let emu = emulator_with(|_| {}).await;
    // QP's body stops for a minute after 1 MB: the first run is killed while it waits.
    stall_qp(&emu);
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let cfg = config(home.path(), &emu, &data, "");
    let mut child = common::binary(home.path())
        .args(["--sync-now", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (name, bytes) = object(&emu, QP).await;
    let part = folder(&data, QP).join(format!("{name}.part"));
    let grown = common::poll(Duration::from_secs(20), || {
        file_len(&part) >= 500_000 && common::files_ending(&data, "manifest.json").len() == 2
    })
    .await;
    assert!(
        grown,
        "the partial grew and the two small backups were published"
    );
    child.kill().await.unwrap(); // SIGKILL: no chance to clean up
    let kept = file_len(&part);
    assert!((500_000..QP_SIZE).contains(&kept), "{kept}");
    assert!(folder(&data, QP).join(format!("{name}.part.json")).exists());
    not_published(&data, QP);

    emu.set_faults(Faults::default());
    emu.reset_stats();
    let out = run(home.path(), &cfg, &["--sync-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stats = emu.stats();
    assert_eq!(stats.ranges_seen, vec![format!("bytes={kept}-")]);
    assert_eq!(
        stats.if_range_seen,
        vec![emu.object_summary(QP).await.unwrap().etag]
    );
    assert_eq!(stats.bytes_served, QP_SIZE - kept, "only the rest was sent");
    assert!(std::fs::read(folder(&data, QP).join(&name)).unwrap() == bytes);
    assert_published(&emu, &data, QP).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_on_a_locked_directory_exits_75_naming_the_holder() {
    let emu = emulator_with(|_| {}).await;
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let cfg = config(home.path(), &emu, &data, "");
    let held = dds_backup_sync::store::Store::new(&data).lock().unwrap();
    let out = run(home.path(), &cfg, &["--sync-now"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{stderr}");
    assert!(
        stderr.contains(&format!("pid {}", std::process::id())),
        "{stderr}"
    );
    assert_eq!(emu.stats().describe_calls + emu.stats().file_gets, 0);
    // A dry run only reads: it takes no lock, so it runs beside the holder.
    let out = run(home.path(), &cfg, &["--dry-run"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(emu.stats().file_gets, 0);
    drop(held);
    let out = run(home.path(), &cfg, &["--sync-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(common::files_ending(&data, "manifest.json").len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_crc_makes_the_run_exit_1_naming_the_backup() {
    let emu = emulator_with(|_| {}).await;
    emu.set_faults(oss_faults(OssFaults {
        wrong_crc: vec![TGZ.into()],
        ..OssFaults::default()
    }));
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let cfg = config(home.path(), &emu, &data, "");
    let out = run(home.path(), &cfg, &["--sync-now"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains(&format!("{REPLICA}/{TGZ}")) && l.contains("CRC-64 mismatch")),
        "{stderr}"
    );
    assert!(stderr.contains("failed 1"), "{stderr}");
    not_published(&data, TGZ);
    assert_published(&emu, &data, QP).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_prints_fetch_resume_skip_ok_and_prune_lines_and_changes_nothing() {
    let emu = emulator_with(|_| {}).await;
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let cfg = config(home.path(), &emu, &data, "[prune]\nkeep_last = 0\n");
    // An earlier run left a partial of QP.
    let (name, bytes) = object(&emu, QP).await;
    let etag = emu.object_summary(QP).await.unwrap().etag;
    let f = folder(&data, QP);
    std::fs::create_dir_all(&f).unwrap();
    std::fs::write(f.join(format!("{name}.part")), &bytes[..4096]).unwrap();
    std::fs::write(
        f.join(format!("{name}.part.json")),
        serde_json::json!({"size": QP_SIZE, "etag": etag}).to_string(),
    )
    .unwrap();
    // A crash between the rename and the manifest left TGZ under its final name, unverified.
    let (tgz_name, tgz_bytes) = object(&emu, TGZ).await;
    std::fs::create_dir_all(folder(&data, TGZ)).unwrap();
    std::fs::write(folder(&data, TGZ).join(&tgz_name), &tgz_bytes).unwrap();
    let before = data_files(&data);

    let out = run(home.path(), &cfg, &["--dry-run"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let line = |prefix: &str, id: &str| has_line(&stdout, prefix, id);
    assert!(
        line("resume", QP) && stdout.contains(&format!("from 4096 of {QP_SIZE}")),
        "{stdout}"
    );
    assert!(
        line("resume", TGZ) && stdout.contains("from 1048576 of 1048576"),
        "{stdout}"
    );
    assert!(line("fetch", AR), "{stdout}");
    for (id, reason) in [
        ("32102004", "not Success"),
        ("32102005", "IsAvail is false"),
        ("32102006", "expired"),
        ("32102007", "exports are off; [snapshots] download = true"),
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("skip") && l.contains(id) && l.contains(reason)),
            "{id}: {stdout}"
        );
    }
    assert_eq!(emu.stats().file_gets, 0);
    assert_eq!(
        data_files(&data),
        before,
        "nothing written, moved or removed"
    );

    // After a real run, with two copies expired: dry run lists them as remove and keeps them.
    let out = run(home.path(), &cfg, &["--sync-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let past = time::OffsetDateTime::now_utc() - time::Duration::days(2);
    emu.with_dataset(|d| {
        for id in [QP, TGZ] {
            d.backup_mut(id).unwrap().expire = past;
        }
    });
    // A corrupt manifest is reported, and never pruned.
    std::fs::create_dir_all(data.join(REPLICA).join("99999")).unwrap();
    std::fs::write(data.join(REPLICA).join("99999/manifest.json"), "{").unwrap();
    let before = data_files(&data);
    emu.reset_stats();
    let out = run(home.path(), &cfg, &["--dry-run"]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(has_line(&stdout, "ok", AR), "{stdout}");
    let prunes: Vec<&str> = stdout.lines().filter(|l| l.starts_with("remove")).collect();
    assert_eq!(prunes.len(), 2, "{stdout}");
    assert!(prunes.iter().any(|l| l.contains(QP)) && prunes.iter().any(|l| l.contains(TGZ)));
    assert!(
        prunes.iter().all(|l| l.contains("; no rule keeps it")),
        "{stdout}"
    );
    // Every other local copy is listed as kept, with the rule that keeps it.
    assert!(
        stdout.lines().any(|l| l.starts_with("keep")
            && l.contains(AR)
            && l.contains("kept forever on the cloud")),
        "{stdout}"
    );
    assert!(
        stderr.contains("99999") && stderr.contains("unreadable manifest"),
        "{stderr}"
    );
    assert_eq!(data_files(&data), before, "nothing deleted");
    assert_eq!(emu.stats().file_gets, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unusable_download_dir_is_a_setup_problem_exit_2_naming_the_key() {
    let emu = emulator_with(|_| {}).await;
    let home = tempfile::tempdir().unwrap();
    // A regular file where a folder of the path should be: no run, root or not, can use it.
    let blocker = home.path().join("not-a-folder");
    std::fs::write(&blocker, b"x").unwrap();
    let cfg = config(home.path(), &emu, &blocker.join("data"), "");
    let out = run(home.path(), &cfg, &["--sync-now"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("download.dir"), "{stderr}");
    assert_eq!(emu.stats().file_gets, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_sync_now_at_a_safe_point_and_exits_0() {
    let emu = emulator_with(|_| {}).await;
    stall_qp(&emu);
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let cfg = config(home.path(), &emu, &data, "");
    let child = common::binary(home.path())
        .args(["--sync-now", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (name, _) = object(&emu, QP).await;
    let part = folder(&data, QP).join(format!("{name}.part"));
    assert!(
        common::poll(Duration::from_secs(20), || file_len(&part) >= 500_000).await,
        "the download is under way"
    );
    let pid = child.id().expect("running") as libc::pid_t;
    // SAFETY: signalling our own child by its PID.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("stops promptly")
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        file_len(&part) >= 500_000,
        "the partial is kept for a resume"
    );
    not_published(&data, QP);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_root_folder_and_the_lock_file_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let emu = emulator_with(|_| {}).await;
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("fresh").join("data");
    let cfg = config(home.path(), &emu, &data, "");
    let out = run(home.path(), &cfg, &["--sync-now"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o750, "the root folder");
    assert_eq!(
        mode(&data.join(".dds-backup-sync.lock")),
        0o600,
        "the lock holds the pid"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_only_reads_and_says_what_it_would_download_in_total() {
    let emu = emulator_with(|_| {}).await;
    let home = tempfile::tempdir().unwrap();
    // A download dir that does not exist yet (or could not be written): a dry run creates
    // nothing, not even the dir or the lock file.
    let data = home.path().join("not-yet");
    let cfg = config(home.path(), &emu, &data, "");
    let out = run(home.path(), &cfg, &["--dry-run"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!data.exists(), "a dry run wrote {}", data.display());
    let total = QP_SIZE + 1_048_576 + 307_200;
    assert!(
        stdout.lines().any(|l| l.starts_with("total")
            && l.contains("3 downloads")
            && l.contains(&format!("{total} bytes"))),
        "{stdout}"
    );
}
