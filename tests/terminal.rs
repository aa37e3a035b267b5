//! What a person sees on a terminal, through tmux (a real pty, 100 columns): the progress bars
//! fit the width (no wrapped bar lines), and log lines print whole above the bars. Skips with
//! a note when tmux is not installed (`.ci/run` installs it).

mod common;

use std::process::Command;
use std::time::Duration;

use dds_emulator::{Dataset, EmulatorConfig};

const ID: &str = "tty-key-id";
const SECRET: &str = "tty-key-secret";
const INSTANCE: &str = "dds-tty-with-a-rather-long-instance-name";

/// tmux on this test's own server (its own socket), so nothing of anyone else's is touched.
fn tmux(args: &[&str]) -> std::process::Output {
    let socket = format!("dds-tty-{}", std::process::id());
    Command::new("tmux")
        .args(["-L", &socket])
        .args(args)
        .output()
        .unwrap()
}

/// Stops this test's tmux server by its PID (and with it the pane's processes).
fn stop_server() {
    let pid = String::from_utf8_lossy(&tmux(&["display-message", "-p", "#{pid}"]).stdout)
        .trim()
        .parse::<libc::pid_t>()
        .ok();
    let _ = tmux(&["kill-server"]);
    if let Some(pid) = pid.filter(|p| *p > 1) {
        // SAFETY: signalling the tmux server this test started, by its PID; harmless if the
        // kill-server above already ended it.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bars_fit_a_100_column_terminal_and_logs_print_whole_above_them() {
    if !dds_emulator::tools::have("bars_fit_a_100_column_terminal", "tmux", "-V") {
        return;
    }
    let mut config = EmulatorConfig::new(ID, SECRET, Dataset::new());
    let newest = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    config.dataset.add_instance(
        dds_emulator::Instance::replica_set(INSTANCE).with_generated(
            6,
            90_000_000,
            newest,
            8 << 20,
        ),
    );
    config.body_rate = Some(6 << 20);
    let emu = common::loopback_emulator(config).await;
    let dir = tempfile::tempdir().unwrap();
    let text = common::ConfigText::api(&emu.base_url(), ID, SECRET)
        .instance(INSTANCE, &[])
        .download(&dir.path().join("data"))
        .with("concurrency = 2")
        .text();
    let cfg = common::write_config(dir.path(), &text, 0o600);
    let session = format!("dds-tty-{}", std::process::id());
    let command = format!(
        "HOME={} {} --sync-now --config {}; sleep 60",
        dir.path().display(),
        env!("CARGO_BIN_EXE_dds-backup-sync"),
        cfg.display()
    );
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "100",
        "-y",
        "40",
        &command,
    ]);
    assert!(started.status.success(), "{started:?}");
    // Read the screen until bars and at least one published line are on it: as the rows are
    // (a bar that wrapped leaves a row that does not end with `]`, or one that starts inside a
    // bar), and with wrapped rows joined (a log line cut by a bar redraw would not end whole).
    let capture = |join: bool| {
        let mut args = vec!["capture-pane", "-p", "-t", session.as_str()];
        if join {
            args.push("-J");
        }
        String::from_utf8_lossy(&tmux(&args).stdout).into_owned()
    };
    let (mut rows, mut joined) = (String::new(), String::new());
    let seen = common::poll(Duration::from_secs(30), || {
        rows = capture(false);
        joined = capture(true);
        rows.contains("total ") && joined.contains("verified and published")
    })
    .await;
    stop_server();
    assert!(seen, "no bars and log lines on screen:\n{rows}");
    for row in rows.lines().filter(|l| l.contains("/s [")) {
        assert!(
            row.chars().count() <= 100 && row.trim_end().ends_with(']'),
            "a bar that does not fit the terminal: {row}\n{rows}"
        );
    }
    assert!(
        !rows
            .lines()
            .any(|l| l.starts_with('░') || l.starts_with('█')),
        "a bar wrapped onto the next row:\n{rows}"
    );
    for line in joined
        .lines()
        .filter(|l| l.contains("verified and published"))
    {
        assert!(
            line.trim_end().ends_with("via=public"),
            "a log line cut by a bar: {line}\n{joined}"
        );
    }
}
