//! The DescribeBackups client against real HTTP on 127.0.0.1: paging, retry with fresh
//! signatures, error classification, clock skew, and hostile response bodies.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::any;
use dds_backup_sync::api::client::{ApiClient, ListQuery};
use dds_backup_sync::api::credentials::{CredentialProvider, Credentials};
use dds_backup_sync::api::error::{ApiError, Class};
use dds_backup_sync::emulator::{self, ApiFaults, Emulator, EmulatorConfig, Faults, Instance};
use dds_backup_sync::http;
use dds_backup_sync::retry::RetryPolicy;
use dds_backup_sync::secret::Secret;

const ID: &str = "api-key-id";
const SECRET: &str = "api-key-secret";

fn retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_elapsed: Duration::from_secs(10),
    }
}

fn client(endpoint: &str, secret: &str, policy: RetryPolicy, page_size: u32) -> ApiClient {
    http::install_crypto_provider();
    let creds = Credentials {
        access_key_id: ID.into(),
        access_key_secret: Secret::new(secret),
        security_token: None,
    };
    ApiClient::new(
        http::client(Duration::from_secs(5), Duration::from_secs(5)).unwrap(),
        endpoint,
        "cn-hangzhou",
        CredentialProvider::fixed(creds, "test"),
        policy,
        page_size,
    )
}

async fn emulator(extra: Option<Instance>) -> Emulator {
    let mut config = EmulatorConfig::demo(ID, SECRET);
    if let Some(i) = extra {
        config.dataset.add_instance(i);
    }
    emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn query(instance: &str) -> ListQuery {
    ListQuery {
        instance_id: instance.into(),
        ..ListQuery::default()
    }
}

#[tokio::test]
async fn pages_until_total_count() {
    let now = time::OffsetDateTime::now_utc();
    let emu = emulator(Some(
        Instance::replica_set("dds-many").with_generated(250, 5_000_000, now, 1024),
    ))
    .await;
    for (page_size, calls) in [(100, 3), (50, 5), (30, 9)] {
        emu.reset_stats();
        let api = client(&emu.base_url(), SECRET, retry(3), page_size);
        let listing = api.list_all(&query("dds-many")).await.unwrap();
        let mut ids: Vec<&str> = listing
            .backups
            .iter()
            .map(|b| b.backup_id.as_str())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(
            ids.len(),
            250,
            "page size {page_size}: every backup exactly once"
        );
        assert_eq!(listing.backups.len(), 250);
        assert_eq!(
            emu.stats().describe("Success"),
            calls,
            "page size {page_size}"
        );
    }
}

#[tokio::test]
async fn window_and_node_filters_reach_the_api() {
    let emu = emulator(None).await;
    let api = client(&emu.base_url(), SECRET, retry(3), 30);
    let now = time::OffsetDateTime::now_utc();
    let q = ListQuery {
        instance_id: "dds-demo-sharded".into(),
        node_id: Some("d-demo-shard-1".into()),
        window: Some(dds_backup_sync::api::client::lookback_window(
            now,
            Duration::from_secs(30 * 86400),
        )),
        ..ListQuery::default()
    };
    let listing = api.list_all(&q).await.unwrap();
    assert_eq!(listing.backups.len(), 3, "{listing:?}");
    // A window that ends before every backup lists nothing.
    let q = ListQuery {
        window: Some((
            now - time::Duration::days(400),
            now - time::Duration::days(300),
        )),
        ..q
    };
    assert!(api.list_all(&q).await.unwrap().backups.is_empty());
}

#[tokio::test]
async fn throttling_and_5xx_are_retried_with_fresh_nonces() {
    let emu = emulator(None).await;
    emu.set_faults(Faults {
        api: ApiFaults {
            throttle_next: 2,
            unavailable_next: 1,
            internal_error_next: 1,
            ..ApiFaults::default()
        },
        ..Faults::default()
    });
    let api = client(&emu.base_url(), SECRET, retry(6), 30);
    let listing = api.list_all(&query("dds-demo-replica")).await.unwrap();
    assert_eq!(listing.backups.len(), 7);
    let stats = emu.stats();
    assert_eq!(stats.describe("Throttling.User"), 2);
    assert_eq!(stats.describe("ServiceUnavailable"), 1);
    assert_eq!(stats.describe("InternalError"), 1);
    assert_eq!(
        stats.describe("SignatureNonceUsed"),
        0,
        "every attempt is signed anew"
    );
    assert_eq!(stats.describe("Success"), 1);
}

#[tokio::test]
async fn retries_are_bounded_by_attempts_and_by_time() {
    let emu = emulator(None).await;
    emu.set_faults(Faults {
        api: ApiFaults {
            throttle_next: 100,
            ..ApiFaults::default()
        },
        ..Faults::default()
    });
    let api = client(&emu.base_url(), SECRET, retry(4), 30);
    match api.list_all(&query("dds-demo-replica")).await {
        Err(ApiError::GaveUp { attempts, last, .. }) => {
            assert_eq!(attempts, 4);
            assert_eq!(last.code(), Some("Throttling.User"));
        }
        other => panic!("expected GaveUp, got {other:?}"),
    }
    assert_eq!(emu.stats().describe_calls, 4);

    emu.reset_stats();
    let slow = RetryPolicy {
        max_attempts: 100,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(100),
        max_elapsed: Duration::from_millis(450),
    };
    let api = client(&emu.base_url(), SECRET, slow, 30);
    let err = api.list_all(&query("dds-demo-replica")).await.unwrap_err();
    assert!(matches!(err, ApiError::GaveUp { .. }), "{err}");
    let calls = emu.stats().describe_calls;
    assert!(
        (3..=10).contains(&calls),
        "time bound stops retrying: {calls} calls"
    );
}

#[tokio::test]
async fn permanent_errors_fail_fast_with_code_message_and_request_id() {
    let emu = emulator(None).await;
    let api = client(&emu.base_url(), SECRET, retry(5), 30);
    let err = api.list_all(&query("dds-nope")).await.unwrap_err();
    let text = err.to_string();
    assert_eq!(err.code(), Some("InvalidDBInstanceId.NotFound"), "{text}");
    assert_eq!(err.class(), Class::Permanent);
    assert!(
        text.contains("RequestId ") && !text.contains("RequestId )"),
        "{text}"
    );
    assert_eq!(emu.stats().describe_calls, 1, "not retried");

    emu.reset_stats();
    let err = api.list_all(&query("dds-demo-sharded")).await.unwrap_err();
    assert_eq!(
        err.class(),
        Class::Permanent,
        "sharded without NodeId: {err}"
    );
    assert_eq!(emu.stats().describe_calls, 1);

    emu.reset_stats();
    let wrong = client(&emu.base_url(), "not-the-secret", retry(5), 30);
    let err = wrong
        .list_all(&query("dds-demo-replica"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"));
    assert!(err.is_auth_or_setup(), "exit code 2 territory");
    assert!(!err.to_string().contains("not-the-secret"));
    assert_eq!(emu.stats().describe_calls, 1);
}

#[tokio::test]
async fn clock_skew_says_by_how_much() {
    let emu = emulator(None).await;
    emu.set_clock_offset(time::Duration::minutes(30));
    let api = client(&emu.base_url(), SECRET, retry(5), 30);
    let err = api.list_all(&query("dds-demo-replica")).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ApiError::ClockSkew { .. }), "{text}");
    assert!(
        text.contains("the host clock is off by about 30m"),
        "{text}"
    );
    assert!(err.is_auth_or_setup());
}

#[tokio::test]
async fn loose_wire_types_parse() {
    let emu = emulator(None).await;
    emu.set_faults(Faults {
        api: ApiFaults {
            loose_types: true,
            ..ApiFaults::default()
        },
        ..Faults::default()
    });
    let api = client(&emu.base_url(), SECRET, retry(2), 30);
    let listing = api.list_all(&query("dds-demo-replica")).await.unwrap();
    assert_eq!(listing.backups.len(), 7);
    assert!(listing.rejected.is_empty());
    assert!(
        listing.backups.iter().any(|b| b.is_avail) && listing.backups.iter().any(|b| !b.is_avail)
    );
}

/// A scripted server: each request gets the next (status, body) of the script; the last one
/// repeats. Stops when the test's runtime ends.
async fn scripted(script: Vec<(u16, String)>) -> (String, Arc<AtomicU32>) {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let script = Arc::new(script);
    let app = Router::new().route(
        "/",
        any(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) as usize;
            let (status, body) = script[n.min(script.len() - 1)].clone();
            async move { (StatusCode::from_u16(status).unwrap(), body).into_response() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), calls)
}

fn page(total: u64, ids: std::ops::Range<u64>) -> String {
    let backups: Vec<serde_json::Value> = ids
        .map(|i| serde_json::json!({"BackupId": i, "BackupStatus": "Success", "IsAvail": true, "BackupSize": 10}))
        .collect();
    serde_json::json!({"TotalCount": total, "RequestId": "R", "Backups": {"Backup": backups}})
        .to_string()
}

#[tokio::test]
async fn a_lying_total_count_does_not_loop() {
    // Promises 1000, serves one full page of 30, then a short page, then empty pages forever.
    let (url, calls) = scripted(vec![
        (200, page(1000, 0..30)),
        (200, page(1000, 30..35)),
        (200, page(1000, 0..0)),
    ])
    .await;
    let api = client(&url, SECRET, retry(2), 30);
    let listing = api.list_all(&query("dds-x")).await.unwrap();
    assert_eq!(listing.backups.len(), 35);
    assert_eq!(calls.load(Ordering::SeqCst), 2, "stopped at the short page");

    let (url, calls) = scripted(vec![(200, page(1000, 0..30)), (200, page(1000, 0..0))]).await;
    let api = client(&url, SECRET, retry(2), 30);
    assert_eq!(
        api.list_all(&query("dds-x")).await.unwrap().backups.len(),
        30
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2, "stopped at the empty page");
}

#[tokio::test]
async fn hostile_bodies_are_clear_errors() {
    for (body, needle) in [
        (
            "<html>oops</html>".to_string(),
            "not valid DescribeBackups JSON",
        ),
        (
            r#"{"TotalCount": 3, "Backups": {"Backup": [{"BackupId""#.to_string(),
            "not valid DescribeBackups JSON",
        ),
        (
            r#"{"TotalCount": 3}"#.to_string(),
            "Backups is invalid: missing",
        ),
        (
            r#"{"TotalCount": -3, "Backups": {"Backup": []}}"#.to_string(),
            "TotalCount is invalid",
        ),
    ] {
        let (url, _) = scripted(vec![(200, body.clone())]).await;
        let api = client(&url, SECRET, retry(2), 30);
        let err = api.list_all(&query("dds-x")).await.unwrap_err();
        assert!(matches!(err, ApiError::Decode { .. }), "{body}: {err}");
        assert!(err.to_string().contains(needle), "{body}: {err}");
        assert!(err.to_string().contains("dds-x"), "names the target: {err}");
    }
}

#[tokio::test]
async fn a_bad_entry_is_skipped_and_the_rest_listed() {
    let body = serde_json::json!({"TotalCount": 3, "Backups": {"Backup": [
        {"BackupId": "1", "BackupStatus": "Success", "BackupSize": 10},
        {"BackupId": "2", "BackupStatus": "Success", "BackupSize": "lots"},
        {"BackupId": "3", "BackupStatus": "Success", "BackupSize": 30},
    ]}})
    .to_string();
    let (url, _) = scripted(vec![(200, body)]).await;
    let listing = client(&url, SECRET, retry(2), 30)
        .list_all(&query("dds-x"))
        .await
        .unwrap();
    assert_eq!(
        listing
            .backups
            .iter()
            .map(|b| b.backup_id.as_str())
            .collect::<Vec<_>>(),
        ["1", "3"]
    );
    assert_eq!(listing.rejected.len(), 1);
    assert!(
        listing.rejected[0]
            .to_string()
            .contains("backup 2: field BackupSize is invalid")
    );
}

#[tokio::test]
async fn a_proxy_error_page_is_retried_then_reported() {
    let (url, calls) = scripted(vec![
        (502, "<html>Bad Gateway</html>".into()),
        (200, page(1, 0..1)),
    ])
    .await;
    let api = client(&url, SECRET, retry(3), 30);
    assert_eq!(
        api.list_all(&query("dds-x")).await.unwrap().backups.len(),
        1
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let (url, _) = scripted(vec![(502, "<html>Bad Gateway</html>".into())]).await;
    let err = client(&url, SECRET, retry(2), 30)
        .list_all(&query("dds-x"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("HTTP 502") && err.to_string().contains("Bad Gateway"),
        "{err}"
    );
}

#[tokio::test]
async fn an_absurdly_large_body_is_refused() {
    let huge = format!(
        r#"{{"TotalCount": 1, "Pad": "{}"}}"#,
        "x".repeat(17 * 1024 * 1024)
    );
    let (url, _) = scripted(vec![(200, huge)]).await;
    let err = client(&url, SECRET, retry(1), 30)
        .list_all(&query("dds-x"))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::TooLarge { .. }), "{err}");
}

#[tokio::test]
async fn unreachable_endpoint_is_a_transport_error_after_retries() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = client(&format!("http://{closed}"), SECRET, retry(2), 30)
        .list_all(&query("dds-x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApiError::GaveUp { last, .. } if matches!(**last, ApiError::Transport { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("cannot reach"), "{err}");
}
