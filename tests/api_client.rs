//! The DescribeBackups client against real HTTP on 127.0.0.1: paging, retry with fresh
//! signatures, error classification, clock skew, and hostile response bodies.

mod common;

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
use dds_backup_sync::http;
use dds_backup_sync::retry::RetryPolicy;
use dds_backup_sync::secret::Secret;
use dds_emulator::{ApiFaults, Emulator, EmulatorConfig, Faults, Instance};
use futures::StreamExt;

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
    common::world::emulator(ID, SECRET, extra).await
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
        // Newest first, so exactly the generated ids in order: nothing skipped or repeated at
        // a page boundary.
        let expected: Vec<String> = (5_000_000..5_000_250u64).map(|n| n.to_string()).collect();
        assert_eq!(
            ids, expected,
            "page size {page_size}: every backup exactly once"
        );
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 250);
        assert!(listing.rejected.is_empty());
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
    let started = std::time::Instant::now();
    let err = api.list_all(&query("dds-demo-replica")).await.unwrap_err();
    let took = started.elapsed();
    let ApiError::GaveUp {
        attempts, elapsed, ..
    } = err
    else {
        panic!("expected GaveUp, got {err}");
    };
    let calls = emu.stats().describe_calls;
    assert_eq!(
        u64::from(attempts),
        calls,
        "every attempt reached the server"
    );
    // Delays are 50-100 ms, so 450 ms allow about 5 to 10 attempts: far fewer than 100 (at
    // least 2 even when a loaded machine makes each call slow).
    assert!(
        (2..=10).contains(&calls),
        "time bound stops retrying: {calls} calls"
    );
    assert!(
        elapsed <= Duration::from_millis(450) + Duration::from_millis(400),
        "no delay starts past max_elapsed: {elapsed:?}"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
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
        text.contains("Specified instance does not exist."),
        "the API's Message: {text}"
    );
    let request_id = text
        .split("RequestId ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_default();
    assert_eq!(request_id.len(), 36, "the API's RequestId: {text}");
    assert!(!err.is_auth_or_setup() && !err.is_retryable());
    assert_eq!(emu.stats().describe_calls, 1, "not retried");

    emu.reset_stats();
    let err = api.list_all(&query("dds-demo-sharded")).await.unwrap_err();
    assert_eq!(
        err.class(),
        Class::Permanent,
        "sharded without NodeId: {err}"
    );
    assert_eq!(err.code(), Some("InvalidParameter.NodeId"), "{err}");
    assert!(err.to_string().contains("NodeId is required"), "{err}");
    assert_eq!(emu.stats().describe_calls, 1);

    emu.reset_stats();
    let wrong = client(&emu.base_url(), "not-the-secret", retry(5), 30);
    let err = wrong
        .list_all(&query("dds-demo-replica"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"));
    assert_eq!(err.class(), Class::Auth);
    assert!(err.is_auth_or_setup(), "exit code 2 territory");
    assert!(!err.to_string().contains("not-the-secret"));
    assert_eq!(emu.stats().describe_calls, 1);
}

#[tokio::test]
async fn clock_skew_says_by_how_much() {
    let emu = emulator(None).await;
    let api = client(&emu.base_url(), SECRET, retry(5), 30);
    for minutes in [30, -30] {
        emu.reset_stats();
        emu.set_clock_offset(time::Duration::minutes(minutes));
        let err = api.list_all(&query("dds-demo-replica")).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ApiError::ClockSkew { .. }), "{text}");
        assert!(
            text.contains("the host clock is off by about 30m"),
            "{minutes}: {text}"
        );
        assert!(err.is_auth_or_setup());
        assert_eq!(
            emu.stats().describe_calls,
            1,
            "a clock problem is not retried"
        );
    }
    // Within the 15-minute window the clock is good enough.
    emu.set_clock_offset(time::Duration::minutes(10));
    assert_eq!(
        api.list_all(&query("dds-demo-replica"))
            .await
            .unwrap()
            .backups
            .len(),
        7
    );
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
    let by_id = |id: &str| {
        listing
            .backups
            .iter()
            .find(|b| b.backup_id == id)
            .unwrap_or_else(|| panic!("{id} in {listing:?}"))
    };
    // BackupId came as a number, IsAvail as 1/0.
    assert!(by_id("32102001").is_avail);
    assert!(!by_id("32102005").is_avail);
    assert_eq!(by_id("32102001").backup_size, Some(2_621_440));
}

/// A scripted server: each request gets the next (status, body) of the script; the last one
/// repeats. Stops when the handle is dropped.
async fn scripted(script: Vec<(u16, String)>) -> (common::Served, Arc<AtomicU32>) {
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
    (common::serve(app).await, calls)
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
        let (url, calls) = scripted(vec![(200, body.clone())]).await;
        let api = client(&url, SECRET, retry(2), 30);
        let err = api.list_all(&query("dds-x")).await.unwrap_err();
        assert!(matches!(err, ApiError::Decode { .. }), "{body}: {err}");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "{body}: not retried");
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

    let (url, calls) = scripted(vec![(502, "<html>Bad Gateway</html>".into())]).await;
    let err = client(&url, SECRET, retry(2), 30)
        .list_all(&query("dds-x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApiError::GaveUp { attempts: 2, last, .. } if matches!(**last, ApiError::Http { status: 502, .. })),
        "{err}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
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
    let (url, calls) = scripted(vec![(200, huge)]).await;
    let err = client(&url, SECRET, retry(3), 30)
        .list_all(&query("dds-x"))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::TooLarge { .. }), "{err}");
    assert!(
        err.to_string().contains("larger than 16777216 bytes"),
        "{err}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1, "not retried");
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
    // Says what happened in words an operator can act on, with the host.
    let text = err.to_string();
    assert!(
        text.contains("connection refused") && text.contains(&closed.to_string()),
        "{err}"
    );
    assert!(!text.contains("error sending request"), "{err}");
}

#[tokio::test]
async fn throttling_up_to_the_attempt_limit_still_succeeds() {
    let emu = emulator(None).await;
    let api = client(&emu.base_url(), SECRET, retry(4), 30);
    emu.set_faults(Faults {
        api: ApiFaults {
            throttle_next: 3,
            ..ApiFaults::default()
        },
        ..Faults::default()
    });
    let listing = api.list_all(&query("dds-demo-replica")).await.unwrap();
    assert_eq!(listing.backups.len(), 7);
    let stats = emu.stats();
    assert_eq!(
        stats.describe_calls, 4,
        "3 throttled attempts and the 4th, the last allowed"
    );
    assert_eq!(stats.describe("Throttling.User"), 3);
    assert_eq!(stats.describe("Success"), 1);
    assert_eq!(stats.describe("SignatureNonceUsed"), 0);

    // One more throttle than attempts: the same client gives up, after exactly 4 calls.
    emu.reset_stats();
    emu.set_faults(Faults {
        api: ApiFaults {
            throttle_next: 4,
            ..ApiFaults::default()
        },
        ..Faults::default()
    });
    let err = api.list_all(&query("dds-demo-replica")).await.unwrap_err();
    assert!(matches!(err, ApiError::GaveUp { attempts: 4, .. }), "{err}");
    assert!(
        err.to_string().contains("gave up after 4 attempts"),
        "{err}"
    );
    assert!(err.to_string().contains("Throttling.User"), "{err}");
    assert!(!err.is_retryable(), "the retries are spent");
    assert_eq!(emu.stats().describe_calls, 4);
}

#[tokio::test]
async fn a_failure_on_a_later_page_is_retried_on_that_page() {
    let now = time::OffsetDateTime::now_utc();
    let emu = emulator(Some(
        Instance::replica_set("dds-many").with_generated(120, 7_000_000, now, 1024),
    ))
    .await;
    let api = client(&emu.base_url(), SECRET, retry(4), 50);
    let q = query("dds-many");
    let mut pages = std::pin::pin!(api.pages(&q));
    let first = pages.next().await.unwrap().unwrap();
    assert_eq!(first.backups.len(), 50);
    emu.set_faults(Faults {
        api: ApiFaults {
            unavailable_next: 1,
            throttle_next: 1,
            ..ApiFaults::default()
        },
        ..Faults::default()
    });
    let mut rest = Vec::new();
    while let Some(page) = pages.next().await {
        rest.extend(page.unwrap().backups);
    }
    assert_eq!(rest.len(), 70);
    assert_eq!(
        rest[0].backup_id, "7000050",
        "page 2 was asked again, not page 3"
    );
    let stats = emu.stats();
    assert_eq!(stats.describe("Success"), 3);
    assert_eq!(stats.describe_calls, 5);
}

/// A server that answers each DescribeBackups call with `answer(PageNumber, PageSize)`.
async fn paged(
    answer: impl Fn(u64, u64) -> (u16, String) + Clone + Send + Sync + 'static,
) -> (common::Served, Arc<AtomicU32>) {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let app = Router::new().route(
        "/",
        any(move |body: String| {
            counter.fetch_add(1, Ordering::SeqCst);
            let param = |name: &str| {
                url::form_urlencoded::parse(body.as_bytes())
                    .find(|(k, _)| k == name)
                    .and_then(|(_, v)| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            let (status, body) = answer(param("PageNumber"), param("PageSize"));
            async move { (StatusCode::from_u16(status).unwrap(), body).into_response() }
        }),
    );
    (common::serve(app).await, calls)
}

#[tokio::test]
async fn a_short_first_page_ends_a_lying_listing() {
    // Claims 1000, serves 5 on page 1, then empty pages.
    let (url, calls) = paged(|n, _| {
        (
            200,
            if n == 1 {
                page(1000, 0..5)
            } else {
                page(1000, 0..0)
            },
        )
    })
    .await;
    let listing = client(&url, SECRET, retry(2), 30)
        .list_all(&query("dds-x"))
        .await
        .unwrap();
    assert_eq!(listing.backups.len(), 5);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Full pages forever with a lying count: still ends, at the empty page.
    let (url, calls) = paged(|n, size| {
        let from = (n - 1) * size;
        let to = if n <= 3 { from + size } else { from };
        (200, page(1000, from..to))
    })
    .await;
    let listing = client(&url, SECRET, retry(2), 30)
        .list_all(&query("dds-x"))
        .await
        .unwrap();
    assert_eq!(listing.backups.len(), 90);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_server_that_pages_by_fewer_than_asked_is_followed_to_the_end() {
    // Asked for 100 per page, this server answers 30 per page (and says so in PageSize):
    // a page of 30 is full, not the last one.
    let (url, calls) = paged(|n, _| {
        let from = (n - 1) * 30;
        let to = (from + 30).min(70);
        let mut body: serde_json::Value = serde_json::from_str(&page(70, from..to)).unwrap();
        body["PageSize"] = 30.into();
        body["PageNumber"] = n.into();
        (200, body.to_string())
    })
    .await;
    let listing = client(&url, SECRET, retry(2), 100)
        .list_all(&query("dds-x"))
        .await
        .unwrap();
    let ids: Vec<String> = listing
        .backups
        .iter()
        .map(|b| b.backup_id.clone())
        .collect();
    let expected: Vec<String> = (0..70u64).map(|n| n.to_string()).collect();
    assert_eq!(ids, expected);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn errors_are_classified_by_code_not_by_http_status() {
    let throttled = r#"{"RequestId":"R1","Code":"Throttling","Message":"Request was denied due to request throttling."}"#;
    let (url, calls) = scripted(vec![(400, throttled.into()), (200, page(1, 0..1))]).await;
    let listing = client(&url, SECRET, retry(3), 30)
        .list_all(&query("dds-x"))
        .await
        .unwrap();
    assert_eq!(listing.backups.len(), 1);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "a 400 Throttling is retried"
    );

    let ram = r#"{"RequestId":"R2","Code":"Forbidden.RAM","Message":"User not authorized to operate on the specified resource."}"#;
    let (url, calls) = scripted(vec![(403, ram.into())]).await;
    let err = client(&url, SECRET, retry(3), 30)
        .list_all(&query("dds-x"))
        .await
        .unwrap_err();
    assert_eq!(err.class(), Class::Auth, "{err}");
    assert!(err.is_auth_or_setup());
    assert!(err.to_string().contains("RequestId R2"), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "not retried");

    let unknown_5xx = r#"{"RequestId":"R3","Code":"SomethingNew","Message":"?"}"#;
    let (url, calls) = scripted(vec![(500, unknown_5xx.into()), (200, page(1, 0..1))]).await;
    client(&url, SECRET, retry(3), 30)
        .list_all(&query("dds-x"))
        .await
        .unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "an unknown code on a 5xx is retried"
    );
}

#[tokio::test]
async fn an_endless_body_is_cut_off_without_reading_it_all() {
    // Streams 64 KiB chunks forever and counts what it handed to the connection: the client
    // must stop at its 16 MiB limit (plus what socket buffers hold), not read on.
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = sent.clone();
    let app = Router::new().route(
        "/",
        any(move || {
            let counter = counter.clone();
            async move {
                let chunk = bytes::Bytes::from(vec![b' '; 64 * 1024]);
                let stream = futures::stream::repeat_with(move || {
                    counter.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                    Ok::<_, std::io::Error>(chunk.clone())
                });
                axum::body::Body::from_stream(stream)
            }
        }),
    );
    let server = common::serve(app).await;
    let api = client(&server, SECRET, retry(3), 30);
    let err = tokio::time::timeout(Duration::from_secs(60), api.list_all(&query("dds-x")))
        .await
        .expect("the client stops reading an endless body")
        .unwrap_err();
    assert!(matches!(err, ApiError::TooLarge { .. }), "{err}");
    let sent = sent.load(Ordering::SeqCst);
    assert!(
        sent < 48 * 1024 * 1024,
        "the server produced only what the limit and the buffers took: {sent} bytes"
    );
}

#[tokio::test]
async fn debug_output_never_shows_a_secret() {
    const KEY_SECRET: &str = "dbg-Secret-Value-7f3a";
    const TOKEN: &str = "dbg-Sts-Token-91c2";
    let mut config = EmulatorConfig::demo(ID, KEY_SECRET);
    config.security_token = Some(TOKEN.into());
    let emu = common::loopback_emulator(config).await;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        common::ConfigText::api(&emu.base_url(), ID, KEY_SECRET)
            .with(&format!("security_token = \"{TOKEN}\""))
            .with("[[instances]]\nid = \"dds-demo-replica\"")
            .text(),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let settings =
        dds_backup_sync::config::load_with_env(&path, Some(std::collections::HashMap::new()))
            .unwrap();

    // The real path from options to a client: the config file's keys, no environment, no ECS.
    http::install_crypto_provider();
    let provider = CredentialProvider::from_settings_with_env(&settings.credentials, &|_| None)
        .await
        .unwrap();
    let creds = provider.get().await.unwrap();
    let api = ApiClient::new(
        http::client(Duration::from_secs(5), Duration::from_secs(5)).unwrap(),
        settings.api.endpoint.clone(),
        settings.api.region_id.clone(),
        provider.clone(),
        retry(2),
        settings.api.page_size,
    );
    let listing = api.list_all(&query("dds-demo-replica")).await.unwrap();
    assert_eq!(listing.backups.len(), 7, "the keys and the token do work");

    for (what, text) in [
        ("Settings", format!("{settings:?}")),
        ("Settings (pretty)", format!("{settings:#?}")),
        ("CredentialOptions", format!("{:?}", settings.credentials)),
        ("CredentialProvider", format!("{provider:?}")),
        ("Credentials", format!("{creds:?}")),
        ("ApiClient", format!("{api:?}")),
        ("ApiClient (pretty)", format!("{api:#?}")),
    ] {
        assert!(
            !text.contains(KEY_SECRET) && !text.contains(TOKEN),
            "{what} leaks a secret: {text}"
        );
    }
    assert!(format!("{:?}", settings.credentials).contains("******"));
    assert!(
        format!("{settings:?}").contains(ID),
        "the key id is not a secret"
    );
}
