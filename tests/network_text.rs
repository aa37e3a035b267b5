//! Rule 5 of the integrity contract against the real binary: every text that comes from the
//! network is shown as data. A fake API sends statuses, methods, types, ids, error codes and
//! messages laced with newlines, carriage returns, ESC sequences and bidi overrides; neither
//! `--sync-now` (text and JSON logs) nor `--list` may print them raw, so no log line can be
//! forged and no terminal state can be changed by the server.

mod common;

use std::path::Path;
use std::process::Output;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::any;

const ID: &str = "net-text-key-id";
const SECRET: &str = "net-text-key-secret";
const FORGED: &str = "forged line";

/// The listing of `dds-net`: one entry per way a text field can carry control characters.
fn backups(base: &str) -> serde_json::Value {
    serde_json::json!([
        {
            "BackupId": "301", "IsAvail": true, "BackupSize": 10,
            "BackupStatus": "Failed\n2026-12-01T00:00:00Z ERROR forged line",
            "BackupMethod": "\u{1b}[31mred\u{1b}[0m",
            "BackupType": "Full\rBackup",
            "BackupDownloadURL": format!("{base}/oss/301.ar"),
        },
        {
            // A bad id is skipped, but its label is still logged and listed.
            "BackupId": "bad\nid 2026-12-01T00:00:00Z ERROR forged line", "IsAvail": true,
            "BackupStatus": "Success", "BackupSize": 10,
            "BackupMethod": "Physical\u{202e}lacisyhP",
            "BackupDownloadURL": format!("{base}/oss/bad.ar"),
        },
        {
            // Listed and fetched: OSS answers with an error Code that carries controls.
            "BackupId": "303", "IsAvail": true, "BackupStatus": "Success", "BackupSize": 10,
            // C1 CSI and DEL: controls that serde_json leaves raw.
            "BackupMethod": "Physical\u{9b}2J\u{7f}", "BackupType": "FullBackup",
            "BackupDownloadURL": format!("{base}/oss/303.ar"),
        },
        {
            // Rejected by the parser; the reason quotes the value.
            "BackupId": "304", "BackupStatus": "Success",
            "BackupEndTime": "yesterday\n2026-12-01T00:00:00Z ERROR forged line \u{1b}[2J",
        },
    ])
}

/// DescribeBackups for `dds-net`, an API error full of controls for any other instance, and an
/// OSS-style XML error for every download.
async fn server() -> common::Served {
    let (listener, base) = common::loopback().await;
    let listing = serde_json::json!({
        "TotalCount": 4, "RequestId": "R-1", "PageSize": 30, "PageNumber": 1,
        "Backups": {"Backup": backups(&base)}
    })
    .to_string();
    let api_error = serde_json::json!({
        "Code": "Bad\u{1b}]0;pwned\u{7}Code",
        "Message": "nope\n2026-12-01T00:00:00Z ERROR forged line\r\u{1b}[2K",
        "RequestId": "R\r\n2026-12-01T00:00:00Z ERROR forged line",
    })
    .to_string();
    let api = any(move |body: String| {
        let (listing, api_error) = (listing.clone(), api_error.clone());
        async move {
            let instance = url::form_urlencoded::parse(body.as_bytes())
                .find(|(k, _)| k == "DBInstanceId")
                .map(|(_, v)| v.into_owned());
            if instance.as_deref() == Some("dds-net") {
                (StatusCode::OK, listing)
            } else {
                (StatusCode::BAD_REQUEST, api_error)
            }
        }
    });
    let oss = any(|| async {
        (
            StatusCode::NOT_FOUND,
            "<?xml version=\"1.0\"?><Error><Code>NoSuch\n2026-12-01T00:00:00Z ERROR forged line \u{1b}[2JKey</Code></Error>",
        )
    });
    let app = Router::new().route("/", api).route("/oss/{name}", oss);
    common::serve_on(listener, base, app)
}

fn config(endpoint: &str, data: &Path, format: &str) -> String {
    common::ConfigText::api(endpoint, ID, SECRET)
        .with("max_attempts = 1")
        .instance("dds-net", &[])
        .instance("dds-err", &[])
        .download(data)
        .with(&format!("[logging]\nformat = \"{format}\""))
        .text()
}

async fn run(home: &Path, format: &str, args: &[&str]) -> Output {
    let endpoint = server().await;
    let cfg = common::write_config(home, &config(&endpoint, &home.join("data"), format), 0o600);
    let mut cmd = common::binary(home);
    cmd.args(args).arg("--config").arg(&cfg);
    // The host's log level must not hide the lines this test reads.
    cmd.env_remove("RUST_LOG");
    cmd.output().await.unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// No raw ESC, CR or bidi override anywhere, and every line that mentions the forged text shows
/// the newline before it as `\n`: the server's text stayed inside the line it was quoted in.
fn assert_shown_as_data(what: &str, out: &[u8]) {
    let s = text(out);
    assert!(!out.contains(&0x1b), "{what}: a raw ESC byte in\n{s}");
    assert!(!out.contains(&b'\r'), "{what}: a raw CR byte in\n{s}");
    assert!(
        !s.contains('\u{202e}'),
        "{what}: a raw bidi override in\n{s}"
    );
    assert!(!s.contains('\u{7}'), "{what}: a raw BEL in\n{s}");
    assert!(
        !s.contains(['\u{9b}', '\u{7f}']),
        "{what}: a raw C1 CSI or DEL in\n{s}"
    );
    for line in s.lines().filter(|l| l.contains(FORGED)) {
        assert!(
            line.contains(r"\n") && !line.trim_start().starts_with("2026-12-01T00:00:00Z ERROR"),
            "{what}: a line forged by the server: {line:?}\nin\n{s}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_now_logs_network_text_as_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), "text", &["--sync-now"]).await;
    let stderr = text(&out.stderr);
    // One listing failed and one download failed: a pass with problems, not a crash.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_shown_as_data("stderr", &out.stderr);
    assert_shown_as_data("stdout", &out.stdout);
    for needle in [
        // SkipReason::NotSuccess
        r"status is Failed\n2026-12-01T00:00:00Z ERROR forged line, not Success",
        // the label of a skipped backup with a bad id
        r"dds-net/bad\nid 2026-12-01T00:00:00Z ERROR forged line",
        // the API error's Code, Message and RequestId
        r"Bad\u{1b}]0;pwned\u{7}Code",
        r"nope\n2026-12-01T00:00:00Z ERROR forged line\r\u{1b}[2K",
        r"RequestId R\r\n2026-12-01T00:00:00Z ERROR forged line",
        // the OSS error Code
        r"NoSuch\n2026-12-01T00:00:00Z ERROR forged line \u{1b}[2JKey",
    ] {
        assert!(stderr.contains(needle), "{needle:?} not in\n{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_stay_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), "json", &["--sync-now"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_shown_as_data("stderr", &out.stderr);
    let mut lines = 0;
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line:?}"));
        assert!(v.is_object(), "{line}");
        lines += 1;
    }
    assert!(lines > 3, "{stderr}");
    assert!(stderr.contains("status is Failed"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn list_prints_network_text_as_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), "text", &["--list"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert_shown_as_data("stdout", &out.stdout);
    assert_shown_as_data("stderr", &out.stderr);
    for needle in [
        r"Failed\n2026-12-01T00:00:00Z ERROR forged line",
        r"\u{1b}[31mred\u{1b}[0m",
        r"Full\rBackup",
        r"Physical\u{202e}lacisyhP",
        r"Physical\u{9b}2J\u{7f}",
        r"bad\nid 2026-12-01T00:00:00Z ERROR forged line",
        r"nope\n2026-12-01T00:00:00Z ERROR forged line",
        r"Bad\u{1b}]0;pwned\u{7}Code",
    ] {
        assert!(stdout.contains(needle), "{needle:?} not in\n{stdout}");
    }
    // The rejected entry is listed with its reason, on one line.
    assert!(stdout.contains("skipped: backup 304"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn list_json_keeps_the_data_and_escapes_it_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), "text", &["--list", "--json"]).await;
    let stdout = text(&out.stdout);
    assert_shown_as_data("stdout", &out.stdout);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let backup = &v[0]["backups"][0];
    // JSON is already data: the value is exactly what the API sent.
    assert_eq!(
        backup["BackupMethod"].as_str(),
        Some("\u{1b}[31mred\u{1b}[0m"),
        "{stdout}"
    );
    assert_eq!(
        backup["BackupType"].as_str(),
        Some("Full\rBackup"),
        "{stdout}"
    );
    let backups = &v[0]["backups"];
    assert_eq!(
        backups[1]["BackupMethod"].as_str(),
        Some("Physical\u{202e}lacisyhP")
    );
    assert_eq!(
        backups[2]["BackupMethod"].as_str(),
        Some("Physical\u{9b}2J\u{7f}")
    );
    // Written as JSON escapes, which a terminal shows as text.
    assert!(stdout.contains(r"Physical\u202elacisyhP"), "{stdout}");
}
