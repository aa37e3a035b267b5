//! The daemon as operators run it: the real binary on a schedule against the bundled emulator,
//! driven through a tick, a skipped overlapping tick, SIGTERM mid-download then a resumed pass,
//! SIGHUP reloads (good and bad), systemd's notify protocol, and the metrics file.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dds_emulator::{Emulator, Faults, OssFaults, StallFault};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

const ID: &str = "daemon-key-id";
const SECRET: &str = "daemon-key-secret";
/// The demo's biggest replica-set object (2.5 MiB): slow enough to interrupt.
const BIG: &str = "32102001";

async fn emulator() -> Emulator {
    common::world::emulator(ID, SECRET, None).await
}

fn write_config(dir: &Path, endpoint: &str, cron: &str, extra: &str) -> PathBuf {
    let text = common::ConfigText::api(endpoint, ID, SECRET)
        .with("max_retry_time = \"5s\"")
        .instance("dds-demo-replica", &[])
        .download(&dir.join("data"))
        .with(&format!("[schedule]\ncron = \"{cron}\""))
        .with(&format!(
            "[metrics]\ntextfile = \"{}\"",
            dir.join("metrics/dds.prom").display()
        ))
        .with(extra)
        .text();
    common::write_config(dir, &text, 0o600)
}

/// Adds `run_on_start = true` to the config's `[schedule]`.
fn run_on_start(config: &Path) {
    let text = std::fs::read_to_string(config)
        .unwrap()
        .replace("[schedule]\n", "[schedule]\nrun_on_start = true\n");
    std::fs::write(config, text).unwrap();
}

/// A daemon process whose stderr is collected as it arrives.
struct Daemon {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Daemon {
    fn spawn(config: &Path, home: &Path, notify_socket: Option<&Path>) -> Daemon {
        let mut cmd = common::binary(home);
        cmd.arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(sock) = notify_socket {
            cmd.env("NOTIFY_SOCKET", sock);
        }
        let mut child = cmd.spawn().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Daemon { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    async fn wait_log(&self, needle: &str, times: usize, deadline: Duration) {
        let log = self.log.clone();
        let ok = common::poll(deadline, || {
            log.lock().unwrap().matches(needle).count() >= times
        })
        .await;
        assert!(ok, "waited for {times}x {needle:?}; log:\n{}", self.log());
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = self.child.id().unwrap() as libc::pid_t;
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    async fn exit_code(mut self, deadline: Duration) -> i32 {
        let status = tokio::time::timeout(deadline, self.child.wait())
            .await
            .expect("daemon did not exit in time")
            .unwrap();
        status.code().expect("exited by a signal")
    }
}

fn published(dir: &Path) -> usize {
    common::files_under(dir)
        .iter()
        .filter(|p| p.ends_with("manifest.json"))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tick_runs_a_pass_and_sigterm_exits_zero() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &emu.base_url(), "*/2 * * * * *", "");
    let daemon = Daemon::spawn(&config, dir.path(), None);
    daemon
        .wait_log("pass finished", 1, Duration::from_secs(20))
        .await;
    assert_eq!(
        published(&dir.path().join("data")),
        3,
        "the demo replica set has 3 downloadable backups"
    );
    let metrics = std::fs::read_to_string(dir.path().join("metrics/dds.prom")).unwrap();
    assert!(
        metrics.contains("dds_backup_sync_last_pass_success 1"),
        "{metrics}"
    );
    // node_exporter runs as another user: the file holds no secret and is world-readable.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.path().join("metrics/dds.prom"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o644, "metrics.file_mode defaults to 0644");
    assert!(metrics.contains("dds_backup_sync_newest_verified_backup_age_seconds{instance=\"dds-demo-replica\",node=\"\"}"));
    // The next tick finds nothing to do.
    daemon
        .wait_log("pass finished", 2, Duration::from_secs(10))
        .await;
    assert!(daemon.log().contains("up to date 3"), "{}", daemon.log());
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.exit_code(Duration::from_secs(10)).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_overlapping_tick_is_skipped_not_doubled() {
    let emu = emulator().await;
    emu.set_faults(Faults {
        oss: OssFaults {
            stall: vec![StallFault {
                after_bytes: 65536,
                duration: Duration::from_millis(2500),
                count: 1,
                object: Some(BIG.into()),
            }],
            ..OssFaults::default()
        },
        ..Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &emu.base_url(), "* * * * * *", "");
    let daemon = Daemon::spawn(&config, dir.path(), None);
    daemon
        .wait_log("scheduled tick skipped", 1, Duration::from_secs(20))
        .await;
    daemon
        .wait_log("pass finished", 2, Duration::from_secs(10))
        .await;
    let log = daemon.log();
    // One pass at a time: every "pass finished" follows its own start, never two at once.
    assert_eq!(daemon.count("another run holds the lock"), 0, "{log}");
    assert!(
        emu.stats().gets_by_object.values().all(|&n| n == 1),
        "each file fetched once: {:?}",
        emu.stats().gets_by_object
    );
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.exit_code(Duration::from_secs(10)).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_download_keeps_the_partial_and_the_next_pass_resumes() {
    let emu = emulator().await;
    emu.set_faults(Faults {
        oss: OssFaults {
            stall: vec![StallFault {
                after_bytes: 300_000,
                duration: Duration::from_secs(30),
                count: 1,
                object: Some(BIG.into()),
            }],
            ..OssFaults::default()
        },
        ..Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &emu.base_url(), "0 0 3 * * *", "");
    // run_on_start, on a schedule that will not fire during the test.
    run_on_start(&config);
    let daemon = Daemon::spawn(&config, dir.path(), None);
    let data = dir.path().join("data");
    let part = || {
        common::files_under(&data)
            .into_iter()
            .find(|p| p.to_string_lossy().ends_with("_qp.xb.part"))
    };
    assert!(
        common::poll(Duration::from_secs(20), || part()
            .is_some_and(|p| std::fs::metadata(p).unwrap().len() >= 100_000))
        .await,
        "no partial file grew; log:\n{}",
        daemon.log()
    );
    let stopped_at = Instant::now();
    daemon.signal(libc::SIGTERM);
    let log_handle = daemon.log.clone();
    assert_eq!(daemon.exit_code(Duration::from_secs(10)).await, 0);
    assert!(stopped_at.elapsed() < Duration::from_secs(10));
    let log = log_handle.lock().unwrap().clone();
    assert!(log.contains("stopped by a shutdown request"), "{log}");
    // A stop is its own outcome, not a failed pass.
    let metrics = std::fs::read_to_string(dir.path().join("metrics/dds.prom")).unwrap();
    assert!(
        metrics.contains("dds_backup_sync_last_pass_cancelled 1"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("dds_backup_sync_last_pass_success 0"),
        "{metrics}"
    );
    let part = part().expect("the partial file is kept");
    let kept = std::fs::metadata(&part).unwrap().len();
    assert!(kept >= 100_000);
    assert!(
        PathBuf::from(format!("{}.json", part.display())).exists(),
        "the resume sidecar is kept"
    );

    // The next start resumes from the partial's length, and the result is byte-identical.
    emu.set_faults(Faults::default());
    emu.reset_stats();
    let daemon = Daemon::spawn(&config, dir.path(), None);
    daemon
        .wait_log("pass finished", 1, Duration::from_secs(20))
        .await;
    let stats = emu.stats();
    assert!(
        stats
            .ranges_seen
            .iter()
            .any(|r| r == &format!("bytes={kept}-")),
        "expected a Range from {kept}: {:?}",
        stats.ranges_seen
    );
    let final_path = PathBuf::from(part.to_string_lossy().trim_end_matches(".part"));
    let expected = emu.object_bytes(BIG, 0..2_621_440).await.unwrap();
    assert_eq!(std::fs::read(&final_path).unwrap(), expected);
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.exit_code(Duration::from_secs(10)).await, 0);
}

/// Issue #26.5: a SIGHUP during a long pass is answered at once (the new configuration is
/// valid, or why not, and it applies from the next pass), not after the pass.
#[tokio::test(flavor = "multi_thread")]
async fn a_sighup_during_a_pass_is_answered_at_once() {
    let emu = emulator().await;
    emu.set_faults(Faults {
        oss: OssFaults {
            stall: vec![StallFault {
                after_bytes: 300_000,
                duration: Duration::from_secs(30),
                count: 1,
                object: Some(BIG.into()),
            }],
            ..OssFaults::default()
        },
        ..Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &emu.base_url(), "0 0 3 * * *", "");
    run_on_start(&config);
    let daemon = Daemon::spawn(&config, dir.path(), None);
    assert!(
        common::poll(Duration::from_secs(20), || emu.stats().stalled_bodies > 0).await,
        "the big body never stalled; log:\n{}",
        daemon.log()
    );
    daemon.signal(libc::SIGHUP);
    daemon
        .wait_log("applies from the next pass", 1, Duration::from_secs(5))
        .await;
    assert_eq!(daemon.count("pass finished"), 0, "{}", daemon.log());
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.exit_code(Duration::from_secs(10)).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_and_a_bad_config_keeps_the_old_one() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &emu.base_url(), "*/2 * * * * *", "");
    let daemon = Daemon::spawn(&config, dir.path(), None);
    daemon
        .wait_log("daemon started", 1, Duration::from_secs(10))
        .await;

    std::fs::write(
        &config,
        "[api]\nregion_id = \"cn-hangzhou\"\nbogus_key = 1\n",
    )
    .unwrap();
    daemon.signal(libc::SIGHUP);
    daemon
        .wait_log(
            "reload failed, keeping the previous configuration",
            1,
            Duration::from_secs(10),
        )
        .await;
    assert!(
        daemon.log().contains("bogus_key"),
        "the reason names the key:\n{}",
        daemon.log()
    );
    // Still running on the old schedule.
    let before = daemon.count("pass finished");
    daemon
        .wait_log("pass finished", before + 1, Duration::from_secs(10))
        .await;

    write_config(dir.path(), &emu.base_url(), "*/3 * * * * *", "");
    daemon.signal(libc::SIGHUP);
    daemon
        .wait_log(
            "configuration reloaded cron=\"*/3 * * * * *\"",
            1,
            Duration::from_secs(10),
        )
        .await;
    daemon.signal(libc::SIGINT);
    assert_eq!(daemon.exit_code(Duration::from_secs(10)).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn systemd_notify_protocol() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // The big backup's body stalls for a second, so the pass's progress shows in STATUS=.
    emu.set_faults(Faults {
        oss: OssFaults {
            stall: vec![StallFault {
                after_bytes: 500_000,
                duration: Duration::from_secs(1),
                count: 1,
                object: Some(BIG.into()),
            }],
            ..OssFaults::default()
        },
        ..Faults::default()
    });
    let config = write_config(
        dir.path(),
        &emu.base_url(),
        "*/2 * * * * *",
        "[logging]\nprogress_interval = \"100ms\"",
    );
    let daemon = Daemon::spawn(&config, dir.path(), Some(&socket_path));
    let messages = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let messages = messages.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let end = Instant::now() + Duration::from_secs(30);
            while Instant::now() < end {
                if let Ok(n) = socket.recv(&mut buf) {
                    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let stop = msg.contains("STOPPING=1");
                    messages.lock().unwrap().push(msg);
                    if stop {
                        break;
                    }
                }
            }
        })
    };
    let seen = |needle: &str| messages.lock().unwrap().iter().any(|m| m.contains(needle));
    assert!(
        common::poll(Duration::from_secs(10), || seen("READY=1")).await,
        "no READY=1"
    );
    assert!(
        common::poll(Duration::from_secs(15), || seen("STATUS=pass running: ")
            && seen(" downloaded ("))
        .await,
        "no progress in STATUS: {:?}",
        messages.lock().unwrap()
    );
    assert!(
        common::poll(Duration::from_secs(15), || seen("STATUS=last pass: listed")).await,
        "no STATUS: {:?}",
        messages.lock().unwrap()
    );
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.exit_code(Duration::from_secs(10)).await, 0);
    reader.join().unwrap();
    assert!(seen("STOPPING=1"), "{:?}", messages.lock().unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_verify_schedule_scrubs_and_reports_in_metrics() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &emu.base_url(),
        "0 0 3 * * *",
        "[verify]\ncron = \"*/2 * * * * *\"",
    );
    run_on_start(&config);
    let daemon = Daemon::spawn(&config, dir.path(), None);
    daemon
        .wait_log("pass finished", 1, Duration::from_secs(20))
        .await;
    daemon
        .wait_log("last verify: no problems", 1, Duration::from_secs(10))
        .await;
    // Flip one byte of a published file: the next scrub finds it.
    let file = common::files_under(&dir.path().join("data"))
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[1000] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    daemon
        .wait_log("last verify: 2 problems", 1, Duration::from_secs(10))
        .await;
    assert!(daemon.log().contains("sha256 expected"), "{}", daemon.log());
    let metrics_file = dir.path().join("metrics/dds.prom");
    let reported = common::poll(Duration::from_secs(10), || {
        std::fs::read_to_string(&metrics_file)
            .is_ok_and(|m| m.contains("dds_backup_sync_verify_mismatches 2"))
    })
    .await;
    assert!(
        reported,
        "{}",
        std::fs::read_to_string(&metrics_file).unwrap_or_default()
    );
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.exit_code(Duration::from_secs(10)).await, 0);
}

/// `(fetched, MiB/s)` of every "pass finished" line so far.
fn passes(log: &str) -> Vec<(usize, f64)> {
    log.lines()
        .filter_map(|l| l.split_once("pass finished: ").map(|(_, rest)| rest))
        .filter_map(|rest| {
            let fetched = rest
                .split("fetched ")
                .nth(1)?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            let rate = rest.rsplit_once('(')?.1.split(' ').next()?.parse().ok()?;
            Some((fetched, rate))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_applies_a_new_bandwidth_limit_from_the_next_pass_on() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &emu.base_url(), "*/2 * * * * *", "");
    let daemon = Daemon::spawn(&config, dir.path(), None);
    let log = daemon.log.clone();
    let fetched_passes = move || {
        passes(&log.lock().unwrap())
            .into_iter()
            .filter(|p| p.0 == 3)
            .count()
    };
    let f = fetched_passes.clone();
    assert!(
        common::poll(Duration::from_secs(15), move || f() >= 1).await,
        "{}",
        daemon.log()
    );

    let text = std::fs::read_to_string(&config).unwrap().replace(
        "network = \"public\"",
        "network = \"public\"\nbandwidth_limit = \"1MiB\"",
    );
    std::fs::write(&config, text).unwrap();
    daemon.signal(libc::SIGHUP);
    daemon
        .wait_log("configuration reloaded", 1, Duration::from_secs(10))
        .await;
    // Make the next pass download everything again.
    std::fs::remove_dir_all(dir.path().join("data/dds-demo-replica")).unwrap();
    let f = fetched_passes.clone();
    assert!(
        common::poll(Duration::from_secs(30), move || f() >= 2).await,
        "{}",
        daemon.log()
    );
    let (_, unlimited) = passes(&daemon.log())[0];
    let (_, limited) = *passes(&daemon.log()).iter().rfind(|p| p.0 == 3).unwrap();
    eprintln!(
        "daemon: first pass {unlimited} MiB/s, after the reload {limited} MiB/s (limit 1 MiB/s)"
    );
    assert!(
        (0.5..=1.2).contains(&limited),
        "after the reload: {limited} MiB/s\n{}",
        daemon.log()
    );
    daemon.signal(libc::SIGINT);
    assert_eq!(daemon.exit_code(Duration::from_secs(10)).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_scrub_runs_beside_passes_and_stops_at_once_on_sigterm() {
    // Issue #21.9: the scheduled scrub ran inline: while it read, no pass ran and SIGTERM was
    // not heard (systemd killed the daemon at TimeoutStopSec).
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    // Passes every 2 s; a scrub every second, read at 64 KiB/s: a minute for the demo's 3.8 MiB.
    let config = write_config(
        dir.path(),
        &emu.base_url(),
        "*/2 * * * * *",
        "[verify]\ncron = \"* * * * * *\"\nbandwidth_limit = \"64KiB\"",
    );
    run_on_start(&config);
    let daemon = Daemon::spawn(&config, dir.path(), None);
    daemon
        .wait_log("pass finished", 1, Duration::from_secs(20))
        .await;
    // Passes go on while the scrub reads (it starts a second after the first pass).
    daemon
        .wait_log("pass finished", 4, Duration::from_secs(20))
        .await;
    assert!(
        daemon.log().contains("scheduled scrub started"),
        "{}",
        daemon.log()
    );
    assert_eq!(daemon.count("last verify"), 0, "{}", daemon.log());
    let asked = Instant::now();
    daemon.signal(libc::SIGTERM);
    let log = daemon.log.clone();
    assert_eq!(daemon.exit_code(Duration::from_secs(10)).await, 0);
    assert!(asked.elapsed() < Duration::from_secs(10));
    let log = log.lock().unwrap().clone();
    assert!(!log.contains("last verify: 0 problems"), "{log}");
}
