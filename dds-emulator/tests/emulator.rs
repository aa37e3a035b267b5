//! The emulator against real HTTP on 127.0.0.1:0 with real signatures: the API checks, paging,
//! the OSS range rules, every fault knob, the fleet actions (instances, cluster backups), the
//! binary, and the official Python SDK.
//!
//! Requests are signed here with the emulator's own [`dds_emulator::sign`] (this crate must not
//! depend on the daemon): what anchors that code to the real service is its unit tests on the
//! published vectors and `official_python_sdk_is_compatible` below. The daemon's signer meets
//! the emulator in every integration test of the daemon.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dds_emulator::data::{
    DEMO_CLUSTER, DEMO_CLUSTER_SHARDS, DEMO_DISK, DEMO_REGION_2, DEMO_REPLICA, DEMO_SHARDED,
    DEMO_SHARDS, fmt_minutes, fmt_seconds,
};
use dds_emulator::{
    self as emulator, ApiFaults, BackupRecord, ClusterBackupRecord, DropFault, Emulator,
    EmulatorConfig, Faults, Instance, OssFaults, StallFault,
};
use serde_json::Value;
use time::OffsetDateTime;

const ID: &str = "test-key-id";
const SECRET: &str = "test-key-secret";
const ANY: &str = "127.0.0.1:0";

use common::client;

async fn start(config: EmulatorConfig) -> Emulator {
    emulator::start(config, ANY.parse().unwrap()).await.unwrap()
}

async fn demo() -> Emulator {
    start(EmulatorConfig::demo(ID, SECRET)).await
}

/// How to sign one call; the defaults make a valid request.
struct Sig<'a> {
    method: &'a str,
    secret: &'a str,
    key_id: &'a str,
    timestamp: OffsetDateTime,
    nonce: String,
    token: Option<&'a str>,
}

impl Default for Sig<'_> {
    fn default() -> Self {
        Sig {
            method: "GET",
            secret: SECRET,
            key_id: ID,
            timestamp: OffsetDateTime::now_utc(),
            nonce: uuid::Uuid::new_v4().to_string(),
            token: None,
        }
    }
}

/// `params` plus the common parameters of a `DescribeBackups` call, signed (`Signature` last).
fn signed(params: &[(&str, &str)], sig: &Sig<'_>) -> Vec<(String, String)> {
    signed_action("DescribeBackups", params, sig)
}

/// `params` plus the common parameters of an `action` call, signed (`Signature` last).
/// `RegionId` is `cn-hangzhou` unless `params` has one; `("RegionId", "")` leaves it out.
fn signed_action(action: &str, params: &[(&str, &str)], sig: &Sig<'_>) -> Vec<(String, String)> {
    let ts = fmt_seconds(sig.timestamp);
    let mut all: Vec<(String, String)> = params
        .iter()
        .filter(|(k, v)| *k != "RegionId" || !v.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let common = [
        ("Action", action),
        ("Version", "2015-12-01"),
        ("Format", "JSON"),
        ("AccessKeyId", sig.key_id),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", &sig.nonce),
        ("Timestamp", &ts),
    ];
    all.extend(common.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    if let Some(token) = sig.token {
        all.push(("SecurityToken".into(), token.into()));
    }
    if !params.iter().any(|(k, _)| *k == "RegionId") {
        all.push(("RegionId".into(), "cn-hangzhou".into()));
    }
    let signature = dds_emulator::sign::signature(sig.secret, sig.method, &all);
    all.push(("Signature".into(), signature));
    all
}

async fn send(emu: &Emulator, all: &[(String, String)], method: &str) -> (u16, Value) {
    let c = client();
    let req = if method == "POST" {
        c.post(emu.base_url()).form(all)
    } else {
        c.get(emu.base_url()).query(all)
    };
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    (status, body)
}

async fn call_with(emu: &Emulator, params: &[(&str, &str)], sig: Sig<'_>) -> (u16, Value) {
    let all = signed(params, &sig);
    send(emu, &all, sig.method).await
}

async fn call(emu: &Emulator, params: &[(&str, &str)]) -> (u16, Value) {
    call_with(emu, params, Sig::default()).await
}

/// A signed GET of `action`.
async fn call_action(emu: &Emulator, action: &str, params: &[(&str, &str)]) -> (u16, Value) {
    let all = signed_action(action, params, &Sig::default());
    send(emu, &all, "GET").await
}

fn code(body: &Value) -> &str {
    body["Code"].as_str().unwrap_or("")
}

fn backups(body: &Value) -> &Vec<Value> {
    body["Backups"]["Backup"]
        .as_array()
        .expect("Backups.Backup")
}

fn find<'a>(body: &'a Value, id: &str) -> &'a Value {
    backups(body)
        .iter()
        .find(|b| b["BackupId"] == id)
        .expect("backup in the page")
}

/// The public URL of a demo backup, from a fresh DescribeBackups call.
async fn url_of(emu: &Emulator, backup_id: &str) -> String {
    let (status, body) = call(
        emu,
        &[("DBInstanceId", DEMO_REPLICA), ("BackupId", backup_id)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    find(&body, backup_id)["BackupDownloadURL"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn signed_get_returns_the_demo_data_with_every_field() {
    let emu = demo().await;
    let (status, body) = call(&emu, &[("DBInstanceId", DEMO_REPLICA)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["TotalCount"], 7);
    assert_eq!(body["PageSize"], 30);
    assert_eq!(body["PageNumber"], 1);
    assert!(body["RequestId"].as_str().is_some_and(|s| s.len() == 36));
    let rows = backups(&body);
    assert_eq!(rows.len(), 7);
    let fields = [
        "BackupStatus",
        "BackupType",
        "BackupStartTime",
        "BackupIntranetDownloadURL",
        "BackupSize",
        "BackupDownloadURL",
        "BackupMode",
        "BackupEndTime",
        "BackupId",
        "BackupDBNames",
        "BackupMethod",
        "BackupJobId",
        "BackupName",
        "BackupScale",
        "IsAvail",
        "EngineVersion",
        "BackupExpireTime",
    ];
    for row in rows {
        let obj = row.as_object().unwrap();
        assert_eq!(obj.len(), 17, "{row}");
        for f in fields {
            assert!(obj.contains_key(f), "{f} missing in {row}");
        }
        assert!(
            row["BackupId"].is_string()
                && row["IsAvail"].is_boolean()
                && row["BackupSize"].is_u64()
        );
    }
    let starts: Vec<&str> = rows
        .iter()
        .map(|r| r["BackupStartTime"].as_str().unwrap())
        .collect();
    let mut sorted = starts.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(starts, sorted, "newest first");
    let url = find(&body, "32102001")["BackupDownloadURL"]
        .as_str()
        .unwrap();
    assert!(url.starts_with(&format!(
        "{}/oss/public/{DEMO_REPLICA}/hins19360001_data_",
        emu.base_url()
    )));
    assert!(
        url.contains("_qp.xb?Expires=")
            && url.contains("&OSSAccessKeyId=")
            && url.contains("&Signature=")
    );
    let intranet = find(&body, "32102001")["BackupIntranetDownloadURL"]
        .as_str()
        .unwrap();
    assert!(intranet.contains("/oss/internal/"));
    assert_eq!(
        find(&body, "32102007")["BackupDownloadURL"],
        "",
        "snapshot has no URL"
    );
    assert_eq!(find(&body, "32102004")["BackupStatus"], "Failed");
    assert_eq!(
        find(&body, "32102003")["BackupExpireTime"],
        "9999-01-01T00:00:00Z"
    );
    assert_eq!(emu.stats().describe("Success"), 1);
}

#[tokio::test]
async fn post_with_form_body_and_post_with_query_both_verify() {
    let emu = demo().await;
    let sig = Sig {
        method: "POST",
        ..Default::default()
    };
    let (status, body) = call_with(&emu, &[("DBInstanceId", DEMO_REPLICA)], sig).await;
    assert_eq!(status, 200, "{body}");
    // The Python SDK's way: POST, every parameter in the query, empty body.
    let all = signed(
        &[("DBInstanceId", DEMO_REPLICA)],
        &Sig {
            method: "POST",
            ..Default::default()
        },
    );
    let resp = client()
        .post(emu.base_url())
        .query(&all)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // A GET signature does not verify as a POST.
    let all = signed(&[("DBInstanceId", DEMO_REPLICA)], &Sig::default());
    let (status, body) = send(&emu, &all, "POST").await;
    assert_eq!((status, code(&body)), (400, "SignatureDoesNotMatch"));
}

#[tokio::test]
async fn authentication_errors_match_the_real_service() {
    let emu = demo().await;
    let p = [("DBInstanceId", DEMO_REPLICA)];
    let (status, body) = call_with(
        &emu,
        &p,
        Sig {
            secret: "wrong",
            ..Default::default()
        },
    )
    .await;
    assert_eq!((status, code(&body)), (400, "SignatureDoesNotMatch"));
    let msg = body["Message"].as_str().unwrap();
    assert!(msg.starts_with(
        "Specified signature is not matched with our calculation. server string to sign is:GET&%2F&"
    ));
    assert!(!body.to_string().contains(SECRET));
    for k in ["RequestId", "HostId", "Code", "Message", "Recommend"] {
        assert!(body[k].is_string(), "{k} in {body}");
    }

    let (status, body) = call_with(
        &emu,
        &p,
        Sig {
            key_id: "nobody",
            ..Default::default()
        },
    )
    .await;
    assert_eq!((status, code(&body)), (404, "InvalidAccessKeyId.NotFound"));

    let stale = OffsetDateTime::now_utc() - time::Duration::minutes(16);
    let (status, body) = call_with(
        &emu,
        &p,
        Sig {
            timestamp: stale,
            ..Default::default()
        },
    )
    .await;
    assert_eq!((status, code(&body)), (400, "InvalidTimeStamp.Expired"));

    // A bad timestamp format: sign a hand-made parameter list.
    let mut all = signed(&p, &Sig::default());
    all.retain(|(k, _)| k != "Signature" && k != "Timestamp");
    all.push(("Timestamp".into(), "2026-01-01 00:00:00".into()));
    let sig = dds_emulator::sign::signature(SECRET, "GET", &all);
    all.push(("Signature".into(), sig));
    let (status, body) = send(&emu, &all, "GET").await;
    assert_eq!((status, code(&body)), (400, "InvalidTimeStamp.Format"));

    let nonce = uuid::Uuid::new_v4().to_string();
    let first = Sig {
        nonce: nonce.clone(),
        ..Default::default()
    };
    assert_eq!(call_with(&emu, &p, first).await.0, 200);
    let again = Sig {
        nonce,
        ..Default::default()
    };
    let (status, body) = call_with(&emu, &p, again).await;
    assert_eq!((status, code(&body)), (400, "SignatureNonceUsed"));

    let stats = emu.stats();
    assert_eq!(stats.describe("SignatureDoesNotMatch"), 1);
    assert_eq!(stats.describe("SignatureNonceUsed"), 1);
    assert_eq!(stats.describe_calls, 6);
}

#[tokio::test]
async fn without_format_json_the_answer_is_xml_like_the_real_default() {
    let emu = demo().await;
    let mut all = signed(&[("DBInstanceId", DEMO_REPLICA)], &Sig::default());
    all.retain(|(k, _)| k != "Format" && k != "Signature");
    let sig = dds_emulator::sign::signature(SECRET, "GET", &all);
    all.push(("Signature".into(), sig));
    let resp = client()
        .get(emu.base_url())
        .query(&all)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    let text = resp.text().await.unwrap();
    assert!(text.starts_with("<?xml"), "{text}");
    assert!(
        text.contains("<DescribeBackupsResponse>") && text.contains("<TotalCount>7</TotalCount>")
    );
    assert_eq!(text.matches("<Backup>").count(), 7);
}

#[tokio::test]
async fn the_emulator_clock_can_be_skewed() {
    let emu = demo().await;
    emu.set_clock_offset(time::Duration::minutes(20));
    let (status, body) = call(&emu, &[("DBInstanceId", DEMO_REPLICA)]).await;
    assert_eq!((status, code(&body)), (400, "InvalidTimeStamp.Expired"));
    let (status, _) = call_with(
        &emu,
        &[("DBInstanceId", DEMO_REPLICA)],
        Sig {
            timestamp: emu.now(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn security_token_is_required_when_configured() {
    let mut config = EmulatorConfig::demo(ID, SECRET);
    config.security_token = Some("sts-token".into());
    let emu = start(config).await;
    let p = [("DBInstanceId", DEMO_REPLICA)];
    let (status, body) = call(&emu, &p).await;
    assert_eq!(
        (status, code(&body)),
        (403, "InvalidSecurityToken.MismatchWithAccessKey")
    );
    let with = |token| Sig {
        token: Some(token),
        ..Default::default()
    };
    assert_eq!(call_with(&emu, &p, with("other")).await.0, 403);
    assert_eq!(call_with(&emu, &p, with("sts-token")).await.0, 200);
}

/// Parameters → expected HTTP status and error code.
type ErrorCase<'a> = (&'a [(&'a str, &'a str)], u16, &'a str);

#[tokio::test]
async fn parameter_errors() {
    let emu = demo().await;
    let cases: &[ErrorCase] = &[
        (&[], 400, "MissingDBInstanceId"),
        (
            &[("DBInstanceId", "dds-nope")],
            404,
            "InvalidDBInstanceId.NotFound",
        ),
        (
            &[("DBInstanceId", DEMO_REPLICA), ("PageSize", "20")],
            400,
            "InvalidPageSize.Malformed",
        ),
        (
            &[("DBInstanceId", DEMO_REPLICA), ("PageNumber", "0")],
            400,
            "InvalidPageNumber.Malformed",
        ),
        (
            &[
                ("DBInstanceId", DEMO_REPLICA),
                ("StartTime", "2022-01-13T13:00:00Z"),
            ],
            400,
            "InvalidStartTime.Malformed",
        ),
        (
            &[("DBInstanceId", DEMO_REPLICA), ("EndTime", "yesterday")],
            400,
            "InvalidEndTime.Malformed",
        ),
        (
            &[
                ("DBInstanceId", DEMO_REPLICA),
                ("StartTime", "2022-01-14T13:00Z"),
                ("EndTime", "2022-01-13T13:00Z"),
            ],
            400,
            "InvalidStartTimeAndEndTime.Malformed",
        ),
        (
            &[("DBInstanceId", DEMO_SHARDED)],
            400,
            "InvalidParameter.NodeId",
        ),
        (
            &[("DBInstanceId", DEMO_SHARDED), ("NodeId", "d-nope")],
            404,
            "InvalidNodeId.NotFound",
        ),
    ];
    for (params, want_status, want_code) in cases {
        let (status, body) = call(&emu, params).await;
        assert_eq!(
            (status, code(&body)),
            (*want_status, *want_code),
            "{params:?}"
        );
    }
    let (_, body) = call(&emu, &[("DBInstanceId", DEMO_SHARDED)]).await;
    assert_eq!(
        body["Message"],
        "NodeId is required for sharded cluster instance"
    );

    // A different action is routed nowhere.
    let mut all = signed(&[], &Sig::default());
    all.retain(|(k, _)| k != "Action" && k != "Signature");
    all.push(("Action".into(), "DescribeRegions".into()));
    let sig = dds_emulator::sign::signature(SECRET, "GET", &all);
    all.push(("Signature".into(), sig));
    let (status, body) = send(&emu, &all, "GET").await;
    assert_eq!((status, code(&body)), (404, "InvalidAction.NotFound"));
}

#[tokio::test]
async fn filters_by_node_backup_id_job_and_time() {
    let emu = demo().await;
    let (status, body) = call(
        &emu,
        &[("DBInstanceId", DEMO_SHARDED), ("NodeId", DEMO_SHARDS[1])],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["TotalCount"], 3);
    let (_, body) = call(
        &emu,
        &[
            ("DBInstanceId", DEMO_REPLICA),
            ("BackupId", "32102001,32102003"),
        ],
    )
    .await;
    assert_eq!(body["TotalCount"], 2);
    let (_, body) = call(
        &emu,
        &[("DBInstanceId", DEMO_REPLICA), ("BackupJobId", "1123002")],
    )
    .await;
    assert_eq!(body["TotalCount"], 1);
    let now = OffsetDateTime::now_utc();
    let window = [
        ("DBInstanceId", DEMO_REPLICA),
        ("StartTime", &fmt_minutes(now - time::Duration::hours(30))),
        ("EndTime", &fmt_minutes(now)),
    ];
    let (_, body) = call(&emu, &window).await;
    // -2 h, -5 h (snapshot) and -26 h.
    assert_eq!(body["TotalCount"], 3, "{body}");
}

#[tokio::test]
async fn pages_through_three_pages() {
    let emu = demo().await;
    let now = OffsetDateTime::now_utc();
    emu.with_dataset(|d| {
        d.add_instance(Instance::replica_set("dds-many").with_generated(65, 40_000_000, now, 1024));
    });
    let mut seen = Vec::new();
    for (page, want) in [("1", 30), ("2", 30), ("3", 5), ("4", 0)] {
        let (status, body) =
            call(&emu, &[("DBInstanceId", "dds-many"), ("PageNumber", page)]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["TotalCount"], 65);
        assert_eq!(body["PageNumber"].to_string(), page);
        assert_eq!(backups(&body).len(), want);
        seen.extend(
            backups(&body)
                .iter()
                .map(|b| b["BackupId"].as_str().unwrap().to_string()),
        );
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 65);
    assert_eq!(seen[0], "40000000", "newest first");
    let (_, body) = call(&emu, &[("DBInstanceId", "dds-many"), ("PageSize", "100")]).await;
    assert_eq!(backups(&body).len(), 65);
}

#[tokio::test]
async fn ranges_follow_oss_rules_and_crc_covers_the_whole_object() {
    let emu = demo().await;
    let url = url_of(&emu, "32102002").await;
    let c = client();
    let full = c.get(&url).send().await.unwrap();
    assert_eq!(full.status().as_u16(), 200);
    let h = full.headers().clone();
    let etag = h["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    assert!(h.contains_key("last-modified") && h.contains_key("x-oss-request-id"));
    let crc: u64 = h["x-oss-hash-crc64ecma"].to_str().unwrap().parse().unwrap();
    let body = full.bytes().await.unwrap();
    assert_eq!(body.len(), 1_048_576);
    assert_eq!(
        crc,
        crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Xz, &body)
    );
    assert_eq!(&body[..2], &[0x1f, 0x8b], "a .tar.gz is gzip");

    let part = c
        .get(&url)
        .header("Range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 1000-1999/1048576");
    assert_eq!(
        part.headers()["x-oss-hash-crc64ecma"].to_str().unwrap(),
        crc.to_string()
    );
    assert_eq!(part.bytes().await.unwrap(), body[1000..2000]);

    let open = c
        .get(&url)
        .header("Range", "bytes=1048000-")
        .send()
        .await
        .unwrap();
    assert_eq!(open.status().as_u16(), 206);
    assert_eq!(open.bytes().await.unwrap(), body[1_048_000..]);

    for r in ["bytes=1048576-", "bytes=0-2000000", "bytes=5-1"] {
        let resp = c.get(&url).header("Range", r).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{r}");
        assert_eq!(resp.bytes().await.unwrap().len(), body.len());
    }
    let resp = c
        .get(&url)
        .header("Range", "bytes=100-")
        .header("If-Range", "\"0000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        200,
        "If-Range mismatch → whole object"
    );
    let resp = c
        .get(&url)
        .header("Range", "bytes=100-")
        .header("If-Range", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 206);
    let head = c.head(&url).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(head.headers()["content-length"], "1048576");

    let s = emu.stats();
    assert_eq!(s.ranged_requests, 7);
    assert_eq!(s.partial_responses, 3);
    assert_eq!(s.ranges_seen[0], "bytes=1000-1999");
    assert_eq!(s.file_heads, 1);
    let summary = emu.object_summary("32102002").await.unwrap();
    assert_eq!((summary.crc64, summary.etag), (crc, etag));
    assert_eq!(
        emu.object_bytes("32102002", 10..20).await.unwrap(),
        body[10..20]
    );
}

#[tokio::test]
async fn oss_rejects_expired_and_tampered_urls_with_xml() {
    let emu = demo().await;
    let url = url_of(&emu, "32102001").await;
    emu.set_clock_offset(time::Duration::hours(2));
    let resp = client().get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert_eq!(resp.headers()["content-type"], "application/xml");
    let text = resp.text().await.unwrap();
    assert!(
        text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{text}"
    );
    assert!(
        text.contains("<Code>AccessDenied</Code>")
            && text.contains("<Message>Request has expired.</Message>")
    );
    assert!(
        text.contains("<Expires>") && text.contains("<ServerTime>") && text.contains("<HostId>")
    );
    emu.set_clock_offset(time::Duration::ZERO);

    let tampered = url.replace("&Signature=", "&Signature=x");
    let resp = client().get(&tampered).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("<Code>SignatureDoesNotMatch</Code>")
    );
    let no_query = url.split('?').next().unwrap();
    assert_eq!(
        client()
            .get(no_query)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
    let other = url.replace("hins19360001_data_", "hins19360001_other_");
    assert_eq!(
        client().get(&other).send().await.unwrap().status().as_u16(),
        403,
        "signature covers the key"
    );
    // The intranet URL is signed for the same object and works on the same server by default.
    let (_, body) = call(
        &emu,
        &[("DBInstanceId", DEMO_REPLICA), ("BackupId", "32102001")],
    )
    .await;
    let intranet = find(&body, "32102001")["BackupIntranetDownloadURL"]
        .as_str()
        .unwrap();
    assert_eq!(
        client()
            .head(intranet)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn api_faults_fire_exactly_as_configured() {
    let emu = demo().await;
    emu.set_faults(Faults {
        api: ApiFaults {
            throttle_next: 2,
            unavailable_next: 1,
            internal_error_next: 1,
            ..Default::default()
        },
        ..Default::default()
    });
    let p = [("DBInstanceId", DEMO_REPLICA)];
    let mut got = Vec::new();
    for _ in 0..5 {
        let (status, body) = call(&emu, &p).await;
        got.push((status, code(&body).to_string()));
    }
    let want = [
        (400, "Throttling.User"),
        (400, "Throttling.User"),
        (503, "ServiceUnavailable"),
        (500, "InternalError"),
        (200, ""),
    ];
    assert_eq!(
        got,
        want.iter()
            .map(|(s, c)| (*s, c.to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(emu.faults_remaining(), Faults::default());
    assert_eq!(emu.stats().describe("Throttling.User"), 2);
    let (_, body) = {
        emu.set_faults(Faults::default());
        call(&emu, &p).await
    };
    assert_eq!(body["TotalCount"], 7);
}

#[tokio::test]
async fn url_faults_expired_short_ttl_and_loose_types() {
    let emu = demo().await;
    emu.set_faults(Faults {
        api: ApiFaults {
            expired_urls_next: 1,
            ..Default::default()
        },
        ..Default::default()
    });
    let url = url_of(&emu, "32102003").await;
    let resp = client().get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert!(resp.text().await.unwrap().contains("Request has expired."));
    let url = url_of(&emu, "32102003").await;
    assert_eq!(
        client().get(&url).send().await.unwrap().status().as_u16(),
        200
    );

    emu.set_faults(Faults {
        api: ApiFaults {
            url_ttl: Some(Duration::from_secs(30)),
            loose_types: true,
            ..Default::default()
        },
        ..Default::default()
    });
    let (_, body) = call(
        &emu,
        &[("DBInstanceId", DEMO_REPLICA), ("BackupId", "32102003")],
    )
    .await;
    let row = &backups(&body)[0];
    assert_eq!(row["BackupId"], 32102003);
    assert_eq!(row["IsAvail"], 1);
    let url = row["BackupDownloadURL"].as_str().unwrap();
    let expires: i64 = url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "Expires")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let left = expires - emu.now().unix_timestamp();
    assert!((28..=30).contains(&left), "{left}");
}

#[tokio::test]
async fn oss_faults_errors_ignore_range_wrong_crc_and_short_objects() {
    let emu = demo().await;
    let url = url_of(&emu, "32102003").await;
    let c = client();
    let good_crc = emu.object_summary("32102003").await.unwrap().crc64;
    emu.set_faults(Faults {
        oss: OssFaults {
            errors_next: 1,
            ignore_range: true,
            wrong_crc: vec!["32102003".into()],
            ..Default::default()
        },
        ..Default::default()
    });
    let resp = c.get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    let resp = c
        .get(&url)
        .header("Range", "bytes=10-")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "range ignored");
    let crc: u64 = resp.headers()["x-oss-hash-crc64ecma"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = resp.bytes().await.unwrap();
    assert_ne!(crc, good_crc);
    assert_eq!(
        crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Xz, &body),
        good_crc
    );

    emu.set_faults(Faults {
        oss: OssFaults {
            short_objects: [("32102003".to_string(), 1000)].into(),
            ..Default::default()
        },
        ..Default::default()
    });
    let (_, listed) = call(
        &emu,
        &[("DBInstanceId", DEMO_REPLICA), ("BackupId", "32102003")],
    )
    .await;
    assert_eq!(
        backups(&listed)[0]["BackupSize"],
        307_200,
        "BackupSize still claims the full size"
    );
    let resp = c.get(&url).send().await.unwrap();
    assert_eq!(resp.headers()["content-length"], "1000");
    assert_eq!(resp.bytes().await.unwrap().len(), 1000);
}

#[tokio::test]
async fn drop_and_stall_faults_cut_and_pause_bodies() {
    let emu = demo().await;
    let url = url_of(&emu, "32102001").await;
    let c = client();
    emu.set_faults(Faults {
        oss: OssFaults {
            drop: vec![DropFault {
                after_bytes: 100_000,
                count: 1,
                object: Some("32102001".into()),
            }],
            ..Default::default()
        },
        ..Default::default()
    });
    let mut resp = c.get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut got = 0usize;
    let err = loop {
        match resp.chunk().await {
            Ok(Some(b)) => got += b.len(),
            Ok(None) => panic!("the body should have been cut"),
            Err(e) => break e,
        }
    };
    assert_eq!(got, 100_000, "{err}");
    // Resume from the offset: the fault is spent.
    let rest = c
        .get(&url)
        .header("Range", "bytes=100000-")
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status().as_u16(), 206);
    assert_eq!(rest.bytes().await.unwrap().len(), 2_621_440 - 100_000);
    assert_eq!(emu.stats().dropped_bodies, 1);

    emu.set_faults(Faults {
        oss: OssFaults {
            stall: vec![StallFault {
                after_bytes: 4096,
                duration: Duration::from_millis(300),
                count: 1,
                object: None,
            }],
            ..Default::default()
        },
        ..Default::default()
    });
    let started = Instant::now();
    let body = c.get(&url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(body.len(), 2_621_440);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(emu.stats().stalled_bodies, 1);
}

#[tokio::test]
async fn body_rate_paces_every_body_like_a_slower_link() {
    let mut config = EmulatorConfig::demo(ID, SECRET);
    config.body_rate = Some(5 << 20);
    let emu = start(config).await;
    let url = url_of(&emu, "32102001").await;
    let started = Instant::now();
    let body = client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let whole = emu.object_bytes("32102001", 0..2_621_440).await.unwrap();
    assert!(body[..] == whole[..], "paced bytes are the object's bytes");
    // Sent in 256 KiB pieces, the last one due when 9 × 256 KiB have gone at 5 MiB/s.
    assert!(
        elapsed >= Duration::from_millis(450),
        "2.5 MiB at 5 MiB/s took only {elapsed:?}"
    );
}

/// One GET of `range` (`None`: the whole object): its bytes and how long it took.
async fn timed_get(
    c: &reqwest::Client,
    url: &str,
    range: Option<(u64, u64)>,
) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut req = c.get(url);
    if let Some((a, b)) = range {
        req = req.header("Range", format!("bytes={a}-{b}"));
    }
    let resp = req.send().await.unwrap();
    let want = if range.is_some() { 206 } else { 200 };
    assert_eq!(resp.status().as_u16(), want);
    let body = resp.bytes().await.unwrap().to_vec();
    (body, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conn_rate_caps_each_response_so_parallel_ranges_add_up() {
    const MIB: u64 = 1 << 20;
    let mut config = EmulatorConfig::demo(ID, SECRET);
    config.conn_rate = Some(4 * MIB);
    let emu = start(config).await;
    assert_eq!(emu.conn_rate(), Some(4 * MIB));
    let now = OffsetDateTime::now_utc();
    let object = BackupRecord::new("50000002", now, "hins1_data_rate_qp.xb", MIB)
        .format(emulator::ContentFormat::Random);
    assert!(emu.add_backup(DEMO_REPLICA, object));
    // Built before the clock starts: the CRC pass is not the pacing under test.
    assert_eq!(emu.object_summary("50000002").await.unwrap().size, MIB);
    let whole = emu.object_bytes("50000002", 0..MIB).await.unwrap();
    let url = url_of(&emu, "50000002").await;
    let c = client();

    let (body, one) = timed_get(&c, &url, None).await;
    assert!(body == whole, "paced bytes are the object's bytes");
    // 1 MiB at 4 MiB/s is 250 ms; each chunk leaves when its last byte is due.
    assert!(
        one >= Duration::from_millis(200),
        "1 MiB at 4 MiB/s took only {one:?}"
    );
    assert!(one < Duration::from_secs(10), "{one:?}");

    // Two connections, half each: each has its own ceiling, so together twice the rate.
    let half = MIB / 2;
    let started = Instant::now();
    let ((a, _), (b, _)) = tokio::join!(
        timed_get(&c, &url, Some((0, half - 1))),
        timed_get(&c, &url, Some((half, MIB - 1)))
    );
    let two = started.elapsed();
    assert!(a[..] == whole[..half as usize] && b[..] == whole[half as usize..]);
    assert!(
        two >= Duration::from_millis(100),
        "512 KiB at 4 MiB/s took only {two:?}"
    );
    assert!(
        two.as_secs_f64() < one.as_secs_f64() * 0.8,
        "two parallel halves took {two:?}, one whole GET {one:?}: not about half"
    );

    // Switched off at runtime: the next body is as fast as the socket.
    emu.set_conn_rate(None);
    assert_eq!(emu.conn_rate(), None);
    let (body, off) = timed_get(&c, &url, None).await;
    assert!(body == whole);
    assert!(off < one / 2, "uncapped {off:?} vs capped {one:?}");
    eprintln!(
        "conn_rate 4 MiB/s: one 1 MiB GET {one:?}, two 512 KiB halves {two:?}, uncapped {off:?}"
    );
    emu.set_conn_rate(Some(0));
    assert_eq!(emu.conn_rate(), None, "0 means no cap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conn_rate_paces_what_is_sent_through_short_segments() {
    // An xbstream body is cut at every 1 MiB chunk and its small header: chunks shorter than the
    // paced size must be charged for what they carry, or the body runs slow.
    const SIZE: u64 = 4 << 20;
    let emu = demo().await;
    let now = OffsetDateTime::now_utc();
    let object = BackupRecord::new("50000004", now, "hins1_data_segments_qp.xb", SIZE)
        .format(emulator::ContentFormat::Xbstream);
    assert!(emu.add_backup(DEMO_REPLICA, object));
    assert_eq!(emu.object_summary("50000004").await.unwrap().size, SIZE);
    let url = url_of(&emu, "50000004").await;
    emu.set_conn_rate(Some(16 << 20));
    let mut resp = client().get(&url).send().await.unwrap();
    // From the headers on: the body alone, 4 MiB at 16 MiB/s = 250 ms.
    let started = Instant::now();
    let mut got = 0u64;
    while let Some(c) = resp.chunk().await.unwrap() {
        got += c.len() as u64;
    }
    let took = started.elapsed();
    assert_eq!(got, SIZE);
    assert!(
        took >= Duration::from_millis(225) && took <= Duration::from_millis(300),
        "4 MiB at 16 MiB/s took {took:?}, not about 250 ms"
    );
}

#[tokio::test]
async fn conn_rate_switched_on_reaches_a_body_in_flight() {
    const SIZE: u64 = 16 << 20;
    let emu = demo().await;
    let now = OffsetDateTime::now_utc();
    let object = BackupRecord::new("50000003", now, "hins1_data_inflight_qp.xb", SIZE)
        .format(emulator::ContentFormat::Random);
    assert!(emu.add_backup(DEMO_REPLICA, object));
    let url = url_of(&emu, "50000003").await;
    let mut resp = client().get(&url).send().await.unwrap();
    let mut got = resp.chunk().await.unwrap().unwrap().len() as u64;
    // 64 KiB/s: far more than the socket buffers hold is still to come once capped.
    emu.set_conn_rate(Some(64 << 10));
    let capped_at = Instant::now();
    while got < SIZE && capped_at.elapsed() < Duration::from_millis(500) {
        match resp.chunk().await.unwrap() {
            Some(c) => got += c.len() as u64,
            None => break,
        }
    }
    // What the socket and hyper had buffered before the cap, plus ~0.5 s at 64 KiB/s.
    assert!(got < SIZE, "the whole body arrived after the cap was set");
    emu.set_conn_rate(None);
    while let Some(c) = resp.chunk().await.unwrap() {
        got += c.len() as u64;
    }
    assert_eq!(got, SIZE);
}

#[tokio::test]
async fn a_new_object_version_changes_etag_and_defeats_if_range() {
    let emu = demo().await;
    let url = url_of(&emu, "32102003").await;
    let c = client();
    let first = c.get(&url).send().await.unwrap();
    let old_etag = first.headers()["etag"].to_str().unwrap().to_string();
    let old = first.bytes().await.unwrap();
    assert!(emu.bump_object_version("32102003"));
    let resp = c
        .get(&url)
        .header("Range", "bytes=1000-")
        .header("If-Range", &old_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_ne!(resp.headers()["etag"].to_str().unwrap(), old_etag);
    let new = resp.bytes().await.unwrap();
    assert_eq!(new.len(), old.len());
    assert_ne!(new, old);
}

#[tokio::test]
async fn intranet_urls_can_point_elsewhere() {
    let mut config = EmulatorConfig::demo(ID, SECRET);
    config.intranet_url_base = Some("http://127.0.0.1:9".into());
    let emu = start(config).await;
    let (_, body) = call(
        &emu,
        &[("DBInstanceId", DEMO_REPLICA), ("BackupId", "32102001")],
    )
    .await;
    let intranet = find(&body, "32102001")["BackupIntranetDownloadURL"]
        .as_str()
        .unwrap();
    assert!(intranet.starts_with("http://127.0.0.1:9/oss/internal/"));
    assert!(client().get(intranet).send().await.is_err());
}

#[tokio::test]
async fn added_backups_and_big_random_objects_are_served() {
    let emu = demo().await;
    let now = OffsetDateTime::now_utc();
    let big = BackupRecord::new("50000001", now, "hins1_data_big_qp.xb", 64 << 20)
        .format(emulator::ContentFormat::Random);
    assert!(emu.add_backup(DEMO_REPLICA, big));
    assert!(!emu.add_backup("dds-none", BackupRecord::failed("1", now)));
    let url = url_of(&emu, "50000001").await;
    let mut resp = client().get(&url).send().await.unwrap();
    let mut n = 0u64;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        n += chunk.len() as u64;
    }
    assert_eq!(n, 64 << 20);
    assert_eq!(emu.stats().bytes_served, 64 << 20);
    assert_eq!(emu.stats().gets_by_object["hins1_data_big_qp.xb"], 1);
}

#[tokio::test]
async fn tar_gz_demo_objects_pass_gzip_and_tar() {
    if !dds_emulator::tools::have("tar_gz_demo_objects", "tar", "--version") {
        return;
    }
    let emu = demo().await;
    let body = client()
        .get(url_of(&emu, "32102002").await)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.tar.gz");
    std::fs::write(&path, &body).unwrap();
    let out = Command::new("tar").arg("-tzf").arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "dds-backup/32102002.bson"
    );
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_server() {
    let emu = demo().await;
    let addr = emu.addr();
    emu.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());

    let emu = demo().await;
    let addr = emu.addr();
    // A body in flight must not keep the server alive after drop.
    emu.set_faults(Faults {
        oss: OssFaults {
            stall: vec![StallFault {
                after_bytes: 10,
                duration: Duration::from_secs(600),
                count: 1,
                object: None,
            }],
            ..Default::default()
        },
        ..Default::default()
    });
    let url = url_of(&emu, "32102001").await;
    let resp = client().get(&url).send().await.unwrap();
    drop(emu);
    let body = tokio::time::timeout(Duration::from_secs(10), resp.bytes())
        .await
        .unwrap();
    assert!(body.is_err(), "the stalled body is cut");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "server still accepting after drop"
        );
        tokio::task::yield_now().await;
    }
}

/// Spawns the binary, returns the child and the URL it printed.
fn spawn_binary(extra: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dds-emulator"))
        .args(["--listen", ANY, "--access-key-id", ID])
        .args(extra)
        .env("DDS_EMULATOR_ACCESS_KEY_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the binary printed its URL");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    (child, url)
}

#[tokio::test]
async fn the_binary_serves_on_a_free_port_and_logs_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::write(&scenario, "[api]\nthrottle_next = 1\n").unwrap();
    let (child, url) = spawn_binary(&["--scenario", scenario.to_str().unwrap()]);
    let addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    assert_ne!(addr.port(), 0);
    // Reuse the helpers through a throwaway in-process handle's URL format: sign and send by hand.
    let all = signed(&[("DBInstanceId", DEMO_REPLICA)], &Sig::default());
    let resp = client().get(&url).query(&all).send().await.unwrap();
    assert_eq!(
        resp.status().as_u16(),
        400,
        "the scenario throttles the first call"
    );
    let all = signed(&[("DBInstanceId", DEMO_REPLICA)], &Sig::default());
    let body: Value = client()
        .get(&url)
        .query(&all)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["TotalCount"], 7);
    let file_url = find(&body, "32102001")["BackupDownloadURL"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        client()
            .head(&file_url)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    // SIGTERM: a clean exit.
    let killed = Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit status {:?}", out.status);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("/oss/public/"), "{log}");
    assert!(
        !log.contains("Signature=") && !log.contains(SECRET),
        "{log}"
    );
}

#[tokio::test]
async fn the_binary_caps_each_connection_with_conn_rate() {
    let help = Command::new(env!("CARGO_BIN_EXE_dds-emulator"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--conn-rate <BYTES_PER_SEC>"), "{help}");
    let (mut child, url) = spawn_binary(&["--conn-rate", "4194304"]);
    let all = signed(&[("DBInstanceId", DEMO_REPLICA)], &Sig::default());
    let body: Value = client()
        .get(&url)
        .query(&all)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let file_url = find(&body, "32102001")["BackupDownloadURL"]
        .as_str()
        .unwrap()
        .to_string();
    let (bytes, took) = timed_get(&client(), &file_url, Some((0, (1 << 20) - 1))).await;
    assert_eq!(bytes.len(), 1 << 20);
    assert!(
        took >= Duration::from_millis(200),
        "1 MiB under --conn-rate 4194304 took only {took:?}"
    );
    child.kill().unwrap();
    let _ = child.wait();
}

#[tokio::test]
async fn official_python_sdk_is_compatible() {
    if !common::sdk_available(
        "official_python_sdk_is_compatible",
        "alibabacloud_dds20151201",
        "alibabacloud-dds20151201",
    ) {
        return;
    }
    let emu = demo().await;
    common::run_sdk_script("sdk_compat.py", emu.base_url(), ID, SECRET).await;
    let stats = emu.stats();
    assert!(stats.describe("Success") >= 2);
    assert_eq!(stats.describe("SignatureDoesNotMatch"), 1);
    assert_eq!(stats.calls_with("DescribeDBInstances", "Success"), 2);
    assert_eq!(
        stats.calls_with("DescribeDBInstanceAttribute", "Success"),
        1
    );
    assert_eq!(stats.calls_with("DescribeClusterBackups", "Success"), 2);
}

// The fleet actions: DescribeDBInstances, DescribeDBInstanceAttribute, DescribeClusterBackups.

fn instance_ids(body: &Value) -> Vec<String> {
    body["DBInstances"]["DBInstance"]
        .as_array()
        .expect("DBInstances.DBInstance")
        .iter()
        .map(|i| i["DBInstanceId"].as_str().unwrap().to_string())
        .collect()
}

/// The one page of a `DescribeDBInstances` call, checked against its `TotalCount`.
async fn listed(emu: &Emulator, params: &[(&str, &str)]) -> Vec<String> {
    let (status, body) = call_action(emu, "DescribeDBInstances", params).await;
    assert_eq!(status, 200, "{params:?}: {body}");
    let ids = instance_ids(&body);
    assert_eq!(body["TotalCount"], ids.len(), "{params:?}");
    ids
}

/// A `DescribeClusterBackups` call for the demo cluster, from its region.
async fn cluster(emu: &Emulator, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut p = vec![("DBInstanceId", DEMO_CLUSTER), ("RegionId", DEMO_REGION_2)];
    p.extend_from_slice(extra);
    call_action(emu, "DescribeClusterBackups", &p).await
}

fn cluster_ids(body: &Value) -> Vec<String> {
    body["ClusterBackups"]
        .as_array()
        .expect("ClusterBackups")
        .iter()
        .map(|c| c["ClusterBackupId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn describe_dbinstances_filters_by_region_type_tag_id_and_group() {
    let emu = demo().await;
    emu.with_dataset(|d| {
        d.add_instance(
            Instance::replica_set("dds-other-group")
                .resource_group("rg-other")
                .tag("env", "dev"),
        );
    });
    let prod = [("Tag.1.Key", "env"), ("Tag.1.Value", "prod")];
    let sharding = ("DBInstanceType", "sharding");
    let shanghai = ("RegionId", DEMO_REGION_2);
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a [&'a str]);
    let cases: Vec<Case> = vec![
        // Without DBInstanceType the service lists replica sets only (`replicate` is the default).
        (vec![], &[DEMO_REPLICA, DEMO_DISK, "dds-other-group"]),
        (vec![sharding], &[DEMO_SHARDED]),
        (vec![shanghai, sharding], &[DEMO_CLUSTER]),
        (vec![shanghai], &[]),
        (prod.to_vec(), &[DEMO_REPLICA]),
        ([&prod[..], &[shanghai, sharding]].concat(), &[DEMO_CLUSTER]),
        ([&prod[..], &[sharding]].concat(), &[]),
        (
            vec![("Tag.1.Key", "env")],
            &[DEMO_REPLICA, "dds-other-group"],
        ),
        (vec![("DBInstanceId", DEMO_REPLICA)], &[DEMO_REPLICA]),
        (vec![("ResourceGroupId", "rg-other")], &["dds-other-group"]),
        (
            vec![("DBInstanceDescription", "demo replica")],
            &[DEMO_REPLICA],
        ),
        (vec![("DBInstanceType", "serverless")], &[]),
    ];
    for (params, want) in &cases {
        assert_eq!(listed(&emu, params).await, *want, "{params:?}");
    }
    let (status, body) = call_action(&emu, "DescribeDBInstances", &[("RegionId", "")]).await;
    assert_eq!((status, code(&body)), (400, "MissingRegionId"));
    assert_eq!(
        emu.stats().calls("DescribeDBInstances"),
        cases.len() as u64 + 1
    );
}

#[tokio::test]
async fn describe_dbinstances_rows_have_the_sdk_fields_and_types() {
    let emu = demo().await;
    let (status, body) = call_action(
        &emu,
        "DescribeDBInstances",
        &[("RegionId", DEMO_REGION_2), ("DBInstanceType", "sharding")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["TotalCount"], &body["PageNumber"], &body["PageSize"]),
        (&1.into(), &1.into(), &30.into())
    );
    assert!(body["RequestId"].is_string());
    let row = &body["DBInstances"]["DBInstance"][0];
    for (field, want) in [
        ("DBInstanceId", DEMO_CLUSTER),
        ("DBInstanceType", "sharding"),
        ("DBInstanceStatus", "Running"),
        ("StorageType", "cloud_essd1"),
        ("RegionId", DEMO_REGION_2),
        ("EngineVersion", "4.4"),
    ] {
        assert_eq!(row[field], want, "{field}");
    }
    for field in ["DBInstanceDescription", "ZoneId", "ResourceGroupId"] {
        assert!(row[field].is_string(), "{field}");
    }
    assert_eq!(
        row["Tags"]["Tag"],
        serde_json::json!([{"Key": "env", "Value": "prod"}])
    );
    let shards = row["ShardList"]["ShardAttribute"].as_array().unwrap();
    let ids: Vec<&str> = shards
        .iter()
        .map(|s| s["NodeId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, DEMO_CLUSTER_SHARDS);
    for s in shards {
        assert!(s["NodeClass"].is_string() && s["NodeDescription"].is_string());
        assert!(s["NodeStorage"].is_u64() && s["ReadonlyReplicas"].is_u64());
    }
    let mongos = row["MongosList"]["MongosAttribute"].as_array().unwrap();
    assert!(!mongos.is_empty() && mongos[0]["NodeId"].as_str().unwrap().starts_with("s-"));
    assert!(
        row.get("UseClusterBackup").is_none(),
        "DescribeDBInstanceAttribute only"
    );

    let (_, body) = call_action(&emu, "DescribeDBInstances", &[]).await;
    let replica = &body["DBInstances"]["DBInstance"][0];
    assert_eq!(replica["DBInstanceType"], "replicate");
    assert!(replica.get("ShardList").is_none() && replica.get("MongosList").is_none());
    assert!(replica["ReplicationFactor"].is_string() && replica["DBInstanceStorage"].is_u64());
}

#[tokio::test]
async fn describe_dbinstances_pages_with_total_count() {
    let emu = demo().await;
    let region = "ap-southeast-1";
    emu.with_dataset(|d| {
        for n in 0..65 {
            d.add_instance(Instance::replica_set(&format!("dds-page-{n:02}")).region(region));
        }
    });
    let mut seen = Vec::new();
    for (page, want) in [(1, 30), (2, 30), (3, 5), (4, 0)] {
        let (status, body) = call_action(
            &emu,
            "DescribeDBInstances",
            &[("RegionId", region), ("PageNumber", &page.to_string())],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (&body["TotalCount"], &body["PageNumber"], &body["PageSize"]),
            (&65.into(), &page.into(), &30.into())
        );
        let ids = instance_ids(&body);
        assert_eq!(ids.len(), want, "page {page}");
        seen.extend(ids);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 65);
    let p50 = |page: &'static str| {
        [
            ("RegionId", region),
            ("PageSize", "50"),
            ("PageNumber", page),
        ]
    };
    let (_, first) = call_action(&emu, "DescribeDBInstances", &p50("1")).await;
    let (_, second) = call_action(&emu, "DescribeDBInstances", &p50("2")).await;
    assert_eq!(
        (instance_ids(&first).len(), instance_ids(&second).len()),
        (50, 15)
    );
    for (k, v, want) in [
        ("PageSize", "20", "InvalidPageSize.Malformed"),
        ("PageNumber", "0", "InvalidPageNumber.Malformed"),
    ] {
        let (status, body) =
            call_action(&emu, "DescribeDBInstances", &[("RegionId", region), (k, v)]).await;
        assert_eq!((status, code(&body)), (400, want));
    }
}

#[tokio::test]
async fn describe_dbinstance_attribute_details_one_instance_in_its_region() {
    let emu = demo().await;
    let attribute = |params: Vec<(&'static str, &'static str)>| {
        let emu = &emu;
        async move { call_action(emu, "DescribeDBInstanceAttribute", &params).await }
    };
    let (status, body) = attribute(vec![
        ("DBInstanceId", DEMO_CLUSTER),
        ("RegionId", DEMO_REGION_2),
    ])
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("TotalCount").is_none() && body["RequestId"].is_string());
    let all = body["DBInstances"]["DBInstance"].as_array().unwrap();
    assert_eq!(all.len(), 1);
    let i = &all[0];
    assert_eq!(i["UseClusterBackup"], true);
    assert_eq!(i["StorageType"], "cloud_essd1");
    assert_eq!(i["StorageEngine"], "WiredTiger");
    assert_eq!(i["RegionId"], DEMO_REGION_2);
    assert_eq!(
        i["ConfigserverList"]["ConfigserverAttribute"][0]["NodeId"],
        format!("{DEMO_CLUSTER}-cs")
    );
    let shards: Vec<&str> = i["ShardList"]["ShardAttribute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["NodeId"].as_str().unwrap())
        .collect();
    assert_eq!(shards, DEMO_CLUSTER_SHARDS);
    // The official SDK sends no RegionId for this action: the id alone finds it.
    let (status, _) = attribute(vec![("DBInstanceId", DEMO_CLUSTER), ("RegionId", "")]).await;
    assert_eq!(status, 200);
    // From another region (cn-hangzhou, the helper's default) it does not exist.
    let (status, body) = attribute(vec![("DBInstanceId", DEMO_CLUSTER)]).await;
    assert_eq!((status, code(&body)), (404, "InvalidDBInstanceId.NotFound"));

    let (_, body) = attribute(vec![("DBInstanceId", DEMO_REPLICA)]).await;
    let r = &body["DBInstances"]["DBInstance"][0];
    assert_eq!(r["UseClusterBackup"], false);
    assert_eq!(r["DBInstanceDescription"], "demo replica set");
    assert_eq!(r["Tags"]["Tag"][0]["Key"], "env");
    assert!(r["ReplicaSetName"].as_str().unwrap().starts_with("mgset-"));
    let (_, body) = attribute(vec![("DBInstanceId", DEMO_SHARDED)]).await;
    let s = &body["DBInstances"]["DBInstance"][0];
    assert_eq!(
        (&s["UseClusterBackup"], &s["StorageType"]),
        (&false.into(), &"local_ssd".into())
    );

    let (status, body) = attribute(vec![("DBInstanceId", "dds-nope")]).await;
    assert_eq!((status, code(&body)), (404, "InvalidDBInstanceId.NotFound"));
    let (status, body) = attribute(vec![]).await;
    assert_eq!((status, code(&body)), (400, "MissingDBInstanceId"));
}

#[tokio::test]
async fn describe_cluster_backups_lists_both_demo_backups_with_sdk_types() {
    let emu = demo().await;
    let (status, body) = cluster(&emu, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("TotalCount").is_none(), "no TotalCount: {body}");
    assert_eq!(
        (&body["PageNumber"], &body["PageSize"], &body["MaxResults"]),
        (&1.into(), &30.into(), &2.into())
    );
    let cbs = body["ClusterBackups"].as_array().unwrap();
    let [complete, broken] = cbs.as_slice() else {
        panic!("two cluster backups: {body}");
    };
    assert_eq!(
        (&complete["IsAvail"], &broken["IsAvail"]),
        (&1.into(), &0.into())
    );
    assert_eq!(
        (
            &complete["ClusterBackupStatus"],
            &broken["ClusterBackupStatus"]
        ),
        (&"OK".into(), &"Failed".into())
    );
    assert_eq!(
        complete["ClusterBackupSize"],
        (393_216 + 327_680).to_string()
    );
    assert!(
        complete["ClusterBackupId"]
            .as_str()
            .unwrap()
            .starts_with("cb-")
    );
    assert_eq!(complete["ClusterBackupMode"], "Automated");
    assert_eq!(complete["EngineVersion"], "4.4");
    for f in [
        "AttachLogStatus",
        "Progress",
        "BackupExpireTime",
        "ClusterBackupEndTime",
    ] {
        assert!(complete[f].is_string(), "{f}");
    }
    assert!(complete["ExtraInfo"].is_object());
    assert!(
        complete["ClusterBackupStartTime"].as_str() > broken["ClusterBackupStartTime"].as_str(),
        "newest first"
    );
    let nodes = complete["Backups"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    for (n, shard) in nodes.iter().zip(DEMO_CLUSTER_SHARDS) {
        assert_eq!(n["InstanceName"], shard);
        assert_eq!(n["ExtraInfo"]["NodeId"], shard);
        assert_eq!(n["ExtraInfo"]["NodeType"], "db");
        assert!(
            n["ExtraInfo"]["StorageSize"].is_string()
                && n["ExtraInfo"]["InstanceClass"].is_string()
        );
        assert!(n["BackupSize"].is_string() && n["BackupId"].is_string());
        assert_eq!(
            (&n["IsAvail"], &n["BackupStatus"]),
            (&"1".into(), &"Success".into())
        );
        assert!(n["BackupName"].as_str().unwrap().ends_with(".tar.gz"));
        let public = n["BackupDownloadURL"].as_str().unwrap();
        assert!(
            public.contains(&format!("/oss/public/{DEMO_CLUSTER}/")),
            "{public}"
        );
        assert!(
            n["BackupIntranetDownloadURL"]
                .as_str()
                .unwrap()
                .contains("/oss/internal/")
        );
    }
    let failed = broken["Backups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["BackupStatus"] == "Failed")
        .expect("a failed node");
    assert_eq!(
        (
            &failed["BackupDownloadURL"],
            &failed["BackupIntranetDownloadURL"]
        ),
        (&"".into(), &"".into())
    );
    assert_eq!(
        (&failed["IsAvail"], &failed["BackupSize"]),
        (&"0".into(), &"0".into())
    );
    let stats = emu.stats();
    assert_eq!(stats.calls("DescribeClusterBackups"), 1);
    assert_eq!(stats.calls_with("DescribeClusterBackups", "Success"), 1);
    assert_eq!(stats.calls("DescribeBackups"), 0);
}

#[tokio::test]
async fn cluster_backup_nodes_download_like_any_backup() {
    let emu = demo().await;
    let (_, body) = cluster(&emu, &[]).await;
    let node = &body["ClusterBackups"][0]["Backups"][0];
    let id = node["BackupId"].as_str().unwrap().to_string();
    let size: u64 = node["BackupSize"].as_str().unwrap().parse().unwrap();
    let url = node["BackupDownloadURL"].as_str().unwrap();
    let c = client();
    let full = c.get(url).send().await.unwrap();
    assert_eq!(full.status().as_u16(), 200);
    let etag = full.headers()["etag"].to_str().unwrap().to_string();
    let crc: u64 = full.headers()["x-oss-hash-crc64ecma"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let bytes = full.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, size);
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "a .tar.gz is gzip");
    assert_eq!(
        crc,
        crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Xz, &bytes)
    );
    let part = c
        .get(url)
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 100-199/{size}")
    );
    assert_eq!(part.bytes().await.unwrap(), bytes[100..200]);
    let summary = emu.object_summary(&id).await.unwrap();
    assert_eq!(
        (summary.instance.as_str(), summary.size),
        (DEMO_CLUSTER, size)
    );
    assert_eq!((summary.crc64, summary.etag.as_str()), (crc, etag.as_str()));
    assert_eq!(emu.object_bytes(&id, 0..10).await.unwrap(), bytes[..10]);
    let fresh = emu.presigned_url(&id, false).unwrap();
    assert_eq!(c.get(&fresh).send().await.unwrap().status().as_u16(), 200);
    assert!(emu.bump_object_version(&id));
    let again = c.head(url).send().await.unwrap();
    assert_ne!(again.headers()["etag"].to_str().unwrap(), etag);
    assert!(
        emu.presigned_url("32104004", false).is_none(),
        "the failed node has no object"
    );
}

#[tokio::test]
async fn cluster_backups_filter_by_id_window_and_only_cluster() {
    let emu = demo().await;
    let (_, all) = cluster(&emu, &[]).await;
    let ids = cluster_ids(&all);
    let (_, body) = cluster(&emu, &[("BackupId", &ids[1])]).await;
    assert_eq!(cluster_ids(&body), [ids[1].clone()]);
    // The complete backup is 4 hours old, the broken one 28.
    let cut = fmt_minutes(emu.now() - time::Duration::hours(10));
    let (_, body) = cluster(&emu, &[("StartTime", &cut)]).await;
    assert_eq!(cluster_ids(&body), [ids[0].clone()]);
    let (_, body) = cluster(&emu, &[("EndTime", &cut)]).await;
    assert_eq!(cluster_ids(&body), [ids[1].clone()]);
    let (_, body) = cluster(&emu, &[("IsOnlyGetClusterBackUp", "true")]).await;
    assert_eq!(cluster_ids(&body), ids);
    assert!(
        body["ClusterBackups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("Backups").is_none())
    );
    for (k, v, want) in [
        ("StartTime", "2030-01-01", "InvalidStartTime.Malformed"),
        ("PageSize", "10", "InvalidPageSize.Malformed"),
        ("PageNo", "0", "InvalidPageNumber.Malformed"),
    ] {
        let (status, body) = cluster(&emu, &[(k, v)]).await;
        assert_eq!((status, code(&body)), (400, want), "{k}={v}");
    }
}

#[tokio::test]
async fn cluster_backups_page_by_page_no_until_a_short_page() {
    let emu = demo().await;
    let now = emu.now();
    let mut inst = Instance::sharded("dds-many-cb", &["d-many-0"])
        .storage("cloud_essd1")
        .cluster_mode();
    for n in 0..65u64 {
        let start = now - time::Duration::hours(n as i64 + 1);
        let node = BackupRecord::new(
            &format!("3300{n:04}"),
            start,
            &format!("hins33_data_{n}.tar.gz"),
            4096,
        )
        .node("d-many-0");
        inst = inst.cluster_backup(ClusterBackupRecord::new(
            &format!("cb-many{n:04}"),
            start,
            vec![node],
        ));
    }
    emu.with_dataset(|d| {
        d.add_instance(inst);
    });
    // The client's loop: there is no TotalCount, so page until a page comes back short.
    let (mut ids, mut sizes) = (Vec::new(), Vec::new());
    for page_no in 1u32.. {
        assert!(page_no < 10, "runaway paging");
        let (status, body) = call_action(
            &emu,
            "DescribeClusterBackups",
            &[
                ("DBInstanceId", "dds-many-cb"),
                ("PageNo", &page_no.to_string()),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("TotalCount").is_none());
        assert_eq!(
            (&body["PageNumber"], &body["PageSize"]),
            (&page_no.into(), &30.into())
        );
        let page = cluster_ids(&body);
        assert_eq!(body["MaxResults"], page.len());
        sizes.push(page.len());
        ids.extend(page);
        if sizes[sizes.len() - 1] < 30 {
            break;
        }
    }
    assert_eq!(sizes, [30, 30, 5]);
    let want: Vec<String> = (0..65).map(|n| format!("cb-many{n:04}")).collect();
    assert_eq!(ids, want, "newest first, each once");
    // PageNumber is not this action's parameter: it changes nothing.
    let (_, body) = call_action(
        &emu,
        "DescribeClusterBackups",
        &[("DBInstanceId", "dds-many-cb"), ("PageNumber", "2")],
    )
    .await;
    assert_eq!(cluster_ids(&body)[0], want[0]);
}

#[tokio::test]
async fn cluster_backups_refuse_instances_not_in_cluster_mode() {
    let emu = demo().await;
    for id in [DEMO_SHARDED, DEMO_REPLICA] {
        let (status, body) =
            call_action(&emu, "DescribeClusterBackups", &[("DBInstanceId", id)]).await;
        assert_eq!(
            (status, code(&body)),
            (400, "OperationDenied.DBInstanceType"),
            "{id}"
        );
    }
    // From cn-hangzhou the Shanghai cluster does not exist, like an unknown id.
    for id in [DEMO_CLUSTER, "dds-nope"] {
        let (status, body) =
            call_action(&emu, "DescribeClusterBackups", &[("DBInstanceId", id)]).await;
        assert_eq!(
            (status, code(&body)),
            (404, "InvalidDBInstanceId.NotFound"),
            "{id}"
        );
    }
    let (status, body) = call_action(&emu, "DescribeClusterBackups", &[]).await;
    assert_eq!((status, code(&body)), (400, "MissingDBInstanceId"));
    assert_eq!(
        emu.stats()
            .calls_with("DescribeClusterBackups", "OperationDenied.DBInstanceType"),
        2
    );
}

#[tokio::test]
async fn describe_backups_of_a_cluster_in_cluster_mode_lists_nothing_and_regions_apply() {
    let emu = demo().await;
    for shard in DEMO_CLUSTER_SHARDS {
        let (status, body) = call(
            &emu,
            &[
                ("DBInstanceId", DEMO_CLUSTER),
                ("NodeId", shard),
                ("RegionId", DEMO_REGION_2),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["TotalCount"], 0);
        assert!(backups(&body).is_empty());
    }
    let (status, body) = call(
        &emu,
        &[("DBInstanceId", DEMO_CLUSTER), ("RegionId", DEMO_REGION_2)],
    )
    .await;
    assert_eq!((status, code(&body)), (400, "InvalidParameter.NodeId"));
    let (status, body) = call(
        &emu,
        &[
            ("DBInstanceId", DEMO_CLUSTER),
            ("NodeId", DEMO_CLUSTER_SHARDS[0]),
        ],
    )
    .await;
    assert_eq!((status, code(&body)), (404, "InvalidDBInstanceId.NotFound"));
    let (status, body) = call(
        &emu,
        &[("DBInstanceId", DEMO_REPLICA), ("RegionId", DEMO_REGION_2)],
    )
    .await;
    assert_eq!((status, code(&body)), (404, "InvalidDBInstanceId.NotFound"));
    let (status, body) = call(&emu, &[("DBInstanceId", DEMO_REPLICA), ("RegionId", "")]).await;
    assert_eq!((status, &body["TotalCount"]), (200, &7.into()));
}

#[tokio::test]
async fn gateway_rules_and_api_faults_apply_to_every_action() {
    let emu = demo().await;
    emu.set_faults(Faults {
        api: ApiFaults {
            throttle_next: 1,
            unavailable_next: 1,
            internal_error_next: 1,
            ..Default::default()
        },
        ..Default::default()
    });
    let calls: [(&str, Vec<(&str, &str)>); 3] = [
        ("DescribeDBInstances", vec![]),
        (
            "DescribeDBInstanceAttribute",
            vec![("DBInstanceId", DEMO_REPLICA)],
        ),
        (
            "DescribeClusterBackups",
            vec![("DBInstanceId", DEMO_CLUSTER), ("RegionId", DEMO_REGION_2)],
        ),
    ];
    let want = [
        (400, "Throttling.User"),
        (503, "ServiceUnavailable"),
        (500, "InternalError"),
    ];
    for ((action, p), want) in calls.iter().zip(want) {
        let (status, body) = call_action(&emu, action, p).await;
        assert_eq!((status, code(&body)), want, "{action}");
    }
    for (action, p) in &calls {
        let (status, body) = call_action(&emu, action, p).await;
        assert_eq!(status, 200, "{action}: {body}");
    }
    for (action, p) in &calls {
        let sig = Sig {
            secret: "wrong-secret",
            ..Default::default()
        };
        let (status, body) = send(&emu, &signed_action(action, p, &sig), "GET").await;
        assert_eq!(
            (status, code(&body)),
            (400, "SignatureDoesNotMatch"),
            "{action}"
        );
    }
    // A nonce is spent whatever the action.
    let nonce = uuid::Uuid::new_v4().to_string();
    let with_nonce = || Sig {
        nonce: nonce.clone(),
        ..Default::default()
    };
    let first = signed_action("DescribeDBInstances", &[], &with_nonce());
    assert_eq!(send(&emu, &first, "GET").await.0, 200);
    let second = signed_action("DescribeClusterBackups", &calls[2].1, &with_nonce());
    let (status, body) = send(&emu, &second, "GET").await;
    assert_eq!((status, code(&body)), (400, "SignatureNonceUsed"));
    // Without Format=JSON: XML whose root is named after the action.
    let mut all = signed_action("DescribeDBInstances", &[], &Sig::default());
    all.retain(|(k, _)| k != "Format" && k != "Signature");
    let sig = dds_emulator::sign::signature(SECRET, "GET", &all);
    all.push(("Signature".into(), sig));
    let text = client()
        .get(emu.base_url())
        .query(&all)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("<DescribeDBInstancesResponse>"), "{text}");
    assert!(
        text.contains("<DBInstanceId>dds-demo-replica</DBInstanceId>"),
        "{text}"
    );
    let stats = emu.stats();
    assert_eq!(stats.calls("DescribeDBInstances"), 5);
    assert_eq!(
        stats.calls_with("DescribeClusterBackups", "SignatureNonceUsed"),
        1
    );
    assert_eq!(
        stats.calls_with("DescribeDBInstanceAttribute", "ServiceUnavailable"),
        1
    );
}
