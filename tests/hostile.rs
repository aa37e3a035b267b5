//! Hostile API answers against a real pass: ids and file names that try to escape the download
//! directory, other URL schemes, credentials in URLs, absurd sizes, duplicates. Each is a skip
//! with a reason or a clear error, never a panic, never a write outside `download.dir`.

mod common;

use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::routing::any;
use dds_backup_sync::config::Network;
use dds_backup_sync::progress::Silent;
use dds_backup_sync::sync::{PassOptions, run_pass};
use dds_backup_sync::{commands, http};

fn backup(id: serde_json::Value, url: &str, size: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "BackupId": id, "BackupStatus": "Success", "IsAvail": true, "BackupSize": size,
        "BackupDownloadURL": url, "BackupIntranetDownloadURL": "",
        "BackupStartTime": "2026-11-27T03:00:00Z", "BackupEndTime": "2026-11-27T03:05:00Z",
        "BackupExpireTime": "2099-01-01T00:00:00Z", "BackupMethod": "Physical"
    })
}

/// Serves one DescribeBackups body for every request (and 404 for anything else).
async fn server(body: String) -> common::Served {
    let app = Router::new().route(
        "/",
        any(move || {
            let body = body.clone();
            async move { body }
        }),
    );
    common::serve(app).await
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_ids_names_and_urls_are_skipped_with_reasons() {
    http::install_crypto_provider();
    let long = "a".repeat(4096);
    let backups = vec![
        backup(
            "../../../../tmp/pwned".into(),
            "http://127.0.0.1:9/x/evil.ar?Expires=1",
            10.into(),
        ),
        backup("a/b".into(), "http://127.0.0.1:9/x/evil.ar", 10.into()),
        backup(
            "nul\u{0}id".into(),
            "http://127.0.0.1:9/x/evil.ar",
            10.into(),
        ),
        backup("ctl\nid".into(), "http://127.0.0.1:9/x/evil.ar", 10.into()),
        backup(
            long.clone().into(),
            "http://127.0.0.1:9/x/evil.ar",
            10.into(),
        ),
        backup("101".into(), "file:///etc/passwd", 10.into()),
        backup("102".into(), "ftp://127.0.0.1/x.ar", 10.into()),
        backup("103".into(), "http://user:pass@127.0.0.1:9/x.ar", 10.into()),
        backup("104".into(), "http://127.0.0.1:9/x/..", 10.into()),
        backup("105".into(), "not a url at all", 10.into()),
        backup("106".into(), "http://127.0.0.1:9/x/ok.ar", (-5).into()),
        backup(
            "107".into(),
            "http://127.0.0.1:9/x/ok.ar",
            "99999999999999999999999".into(),
        ),
        backup(
            "108".into(),
            &format!("http://127.0.0.1:9/x/{long}.ar"),
            10.into(),
        ),
    ];
    let n = backups.len();
    let body =
        serde_json::json!({"TotalCount": n, "RequestId": "R", "Backups": {"Backup": backups}})
            .to_string();
    let endpoint = server(body).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = dds_backup_sync::config::Settings::demo(&endpoint, "id", "secret", &data);
    s.instances.truncate(1);
    s.download.network = Network::Public;
    s.download.read_timeout = Duration::from_secs(2);
    s.api.retry.max_attempts = 1;
    s.download.retry.max_attempts = 1;
    let api = commands::api_client(&s).await.unwrap();
    let summary = run_pass(&s, &api, &Silent, &PassOptions::default())
        .await
        .unwrap();
    // Every entry but one is skipped by the parser or the plan (bad ids, schemes, credentials,
    // names, sizes); the long-named one is planned under a shortened name and fails to connect
    // (port 9 is closed): a clear, one-line error.
    assert_eq!(summary.skipped, n - 1, "{summary}");
    assert_eq!(summary.failed, 1, "{summary}");
    for f in &summary.failures {
        assert!(!f.message.contains('\n'), "one-line errors: {f:?}");
    }
    assert!(!Path::new("/tmp/pwned").exists());
    for p in common::files_under(dir.path()) {
        assert!(
            p.starts_with(&data),
            "{} written outside the download dir",
            p.display()
        );
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        // NAME_MAX is 255 bytes: the shortened name plus ".part.json" must fit.
        assert!(name.len() <= 255 && !name.contains('\n'), "{name:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_backup_ids_are_fetched_once() {
    http::install_crypto_provider();
    let backups = vec![
        backup("201".into(), "http://127.0.0.1:9/x/a.ar", 10.into()),
        backup("201".into(), "http://127.0.0.1:9/x/b.ar", 10.into()),
    ];
    let body = serde_json::json!({"TotalCount": 2, "Backups": {"Backup": backups}}).to_string();
    let endpoint = server(body).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = dds_backup_sync::config::Settings::demo(&endpoint, "id", "secret", dir.path());
    s.instances.truncate(1);
    s.download.network = Network::Public;
    s.api.retry.max_attempts = 1;
    s.download.retry.max_attempts = 1;
    let opts = PassOptions {
        dry_run: true,
        ..PassOptions::default()
    };
    let api = commands::api_client(&s).await.unwrap();
    let summary = run_pass(&s, &api, &Silent, &opts).await.unwrap();
    assert_eq!((summary.fetched, summary.skipped), (1, 1), "{summary}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_size_beyond_what_oss_stores_is_skipped_at_the_plan() {
    // Issue #21.7: BackupSize 10^18 made the ranged path allocate one entry per part before
    // any check (SIGABRT: every pass of the daemon died, no instance was copied).
    http::install_crypto_provider();
    let backups = vec![
        backup(
            "301".into(),
            "http://127.0.0.1:9/x/huge_qp.xb",
            1_000_000_000_000_000_000u64.into(),
        ),
        backup("302".into(), "http://127.0.0.1:9/x/small.ar", 10.into()),
    ];
    let body = serde_json::json!({"TotalCount": 2, "Backups": {"Backup": backups}}).to_string();
    let endpoint = server(body).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = dds_backup_sync::config::Settings::demo(&endpoint, "id", "secret", dir.path());
    s.instances.truncate(1);
    s.download.network = Network::Public;
    s.download.streams = 4;
    s.download.stream_cutoff = 1 << 20;
    s.api.retry.max_attempts = 1;
    s.download.retry.max_attempts = 1;
    let api = commands::api_client(&s).await.unwrap();
    let summary = run_pass(&s, &api, &Silent, &PassOptions::default())
        .await
        .unwrap();
    // The huge one is skipped; the small one is planned (and fails to connect: port 9).
    assert_eq!((summary.skipped, summary.failed), (1, 1), "{summary}");
    assert!(
        summary.failures.iter().all(|f| f.backup.ends_with("302")),
        "{:?}",
        summary.failures
    );
}
