//! The DBS download tasks (version 2021-01-01) over real HTTP on 127.0.0.1:0 with real
//! signatures: the walk over polls, the refusals (HTTP 200, `Success` "false"), a failed task
//! blocking new ones until retried, link and task expiry, the export served by the OSS side, and
//! the official `alibabacloud-dbs20210101` Python SDK (`tests/sdk_compat_dbs.py`).
//!
//! Calls are signed with the emulator's own [`dds_emulator::sign`], as in `tests/emulator.rs`.

mod common;

use std::io::Read;
use std::time::Duration;

use dds_emulator::data::{DEMO_DISK, DEMO_REGION, DEMO_REPLICA, fmt_seconds};
use dds_emulator::{
    self as emulator, DbsScript, DownloadStatus, Emulator, EmulatorConfig, Instance,
};
use serde_json::Value;

const ID: &str = "test-key-id";
const SECRET: &str = "test-key-secret";
const SNAPSHOT: &str = "32105001";

use common::client;

async fn demo() -> Emulator {
    start(EmulatorConfig::demo(ID, SECRET)).await
}

async fn start(config: EmulatorConfig) -> Emulator {
    emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// A demo emulator plus a cloud-disk instance `id` with one snapshot and `script`.
async fn with_disk(id: &str, script: DbsScript) -> Emulator {
    let emu = demo().await;
    let t = emu.now() - time::Duration::hours(3);
    emu.with_dataset(|d| {
        d.add_instance(
            Instance::replica_set(id)
                .storage("cloud_essd2")
                .with_snapshots(1, 77001, t, 1 << 20)
                .dbs(script.export_size(40_000)),
        );
    });
    emu
}

/// A signed POST (form body) of `action` with `version` and `secret`.
async fn call_as(
    emu: &Emulator,
    action: &str,
    version: &str,
    secret: &str,
    params: &[(&str, &str)],
) -> (u16, Value) {
    let ts = fmt_seconds(emu.now());
    let nonce = uuid::Uuid::new_v4().to_string();
    let mut all: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let common = [
        ("Action", action),
        ("Version", version),
        ("Format", "JSON"),
        ("AccessKeyId", ID),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", &nonce),
        ("Timestamp", &ts),
        ("RegionId", DEMO_REGION),
    ];
    all.extend(common.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let signature = dds_emulator::sign::signature(secret, "POST", &all);
    all.push(("Signature".into(), signature));
    let resp = client()
        .post(emu.base_url())
        .form(&all)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// A DBS call that the gateway lets through: HTTP 200, the body.
async fn dbs(emu: &Emulator, action: &str, params: &[(&str, &str)]) -> Value {
    let mut p = vec![("RegionCode", DEMO_REGION)];
    p.extend_from_slice(params);
    let (status, body) = call_as(emu, action, "2021-01-01", SECRET, &p).await;
    assert_eq!(status, 200, "{action}: {body}");
    for k in [
        "RequestId",
        "Success",
        "Code",
        "ErrCode",
        "ErrMessage",
        "Message",
    ] {
        assert!(body[k].is_string(), "{action}: {k} in {body}");
    }
    body
}

/// The `Data` of a call that must succeed.
async fn ok(emu: &Emulator, action: &str, params: &[(&str, &str)]) -> Value {
    let body = dbs(emu, action, params).await;
    assert_eq!(body["Success"], "true", "{action}: {body}");
    body["Data"].clone()
}

/// The `ErrCode` of a call that must be refused, after checking the refusal's shape.
async fn refused(emu: &Emulator, action: &str, params: &[(&str, &str)]) -> (String, String) {
    let body = dbs(emu, action, params).await;
    assert_eq!(body["Success"], "false", "{action}: {body}");
    assert_eq!(body["Code"], body["ErrCode"]);
    assert!(body.get("Data").is_none(), "{body}");
    let text = |k: &str| body[k].as_str().unwrap().to_string();
    (text("ErrCode"), text("ErrMessage"))
}

async fn create(emu: &Emulator, instance: &str, backup: &str) -> Value {
    let p = [
        ("InstanceName", instance),
        ("BakSetType", "full"),
        ("BakSetId", backup),
        ("BakSetSize", "20971520"),
        ("TargetType", "URL"),
        ("FormatType", "BSON"),
        ("UseZstd", "1"),
    ];
    ok(emu, "CreateDownload", &p).await
}

/// One `DescribeDownloadTask` poll of `instance`: `Data`.
async fn poll(emu: &Emulator, instance: &str) -> Value {
    ok(emu, "DescribeDownloadTask", &[("InstanceName", instance)]).await
}

/// The statuses `n` polls report for the instance's only task.
async fn walk(emu: &Emulator, instance: &str, n: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..n {
        let data = poll(emu, instance).await;
        let row = &data["Content"]["List"][0];
        seen.push(row["DownloadStatus"].as_str().unwrap().to_string());
    }
    seen
}

fn task_id(data: &Value) -> String {
    data["TaskId"].as_str().unwrap().to_string()
}

/// `Data` of `DescribeDownloadBackupSetStorageInfo` for a task.
async fn links(emu: &Emulator, task: &str, duration: &str) -> Value {
    let p = [("TaskId", task), ("Duration", duration)];
    ok(emu, "DescribeDownloadBackupSetStorageInfo", &p).await
}

#[tokio::test]
async fn a_demo_snapshot_walks_to_finished_and_serves_a_valid_tar_zst() {
    let emu = demo().await;
    let disk = ok(
        &emu,
        "DescribeDownloadSupport",
        &[("InstanceName", DEMO_DISK)],
    )
    .await;
    assert_eq!(disk, "true");
    let local = ok(
        &emu,
        "DescribeDownloadSupport",
        &[("InstanceName", DEMO_REPLICA)],
    )
    .await;
    assert_eq!(local, "false", "local_ssd");
    let created = create(&emu, DEMO_DISK, SNAPSHOT).await;
    let id = task_id(&created);
    assert!(id.starts_with("dt-"), "{created}");
    assert_eq!(created["BakSetId"], SNAPSHOT);
    assert_eq!(
        (&created["DownloadStatus"], &created["Progress"]),
        (&"initializing".into(), &"0/0".into())
    );
    for k in [
        "GmtCreate",
        "ExportDataSize",
        "BackupSetTime",
        "ImportDataSize",
    ] {
        assert!(created[k].is_i64(), "{k} is a number: {created}");
    }
    assert_eq!(created["ImportDataSize"], 20_971_520);
    assert_eq!(
        (&created["Format"], &created["TargetType"]),
        (&"BSON".into(), &"URL".into())
    );
    assert_eq!(created["RegionCode"], DEMO_REGION);
    let want = ["initializing", "queuing", "running", "finished"];
    assert_eq!(walk(&emu, DEMO_DISK, 4).await, want);
    let data = poll(&emu, DEMO_DISK).await;
    assert_eq!(
        (&data["TotalElements"], &data["TotalPages"]),
        (&1.into(), &1.into())
    );
    assert_eq!(
        (&data["PageNumber"], &data["PageSize"], &data["Extra"]),
        (&1.into(), &20.into(), &"".into())
    );
    let row = &data["Content"]["List"][0];
    for k in [
        "GmtCreate",
        "ExportDataSize",
        "BackupSetTime",
        "ImportDataSize",
        "Progress",
    ] {
        assert!(row[k].is_string(), "{k} is a string: {row}");
    }
    assert_eq!(row["GmtCreate"], created["GmtCreate"].to_string());
    assert_eq!(row["Progress"], "3/3");
    let export = emu.dbs_export(&id).expect("built on finishing");
    assert_eq!(row["ExportDataSize"], export.bytes.len().to_string());
    assert!(
        export.name.ends_with(&format!("_{SNAPSHOT}.tar.zst")),
        "{}",
        export.name
    );

    let l = links(&emu, &id, "600").await;
    let expires = l["ExpirationTime"].as_i64().unwrap();
    let now_ms = emu.now().unix_timestamp() * 1000;
    assert!(
        (now_ms + 598_000..=now_ms + 600_000).contains(&expires),
        "{l}"
    );
    let public = l["PublicUrl"].as_str().unwrap();
    let private = l["PrivateUrl"].as_str().unwrap();
    assert!(
        public.contains("/oss/public/") && private.contains("/oss/internal/"),
        "{l}"
    );
    assert!(public.contains(&format!("Expires={}", expires / 1000)));
    let resp = client().get(public).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["etag"], export.etag.as_str());
    assert_eq!(h["x-oss-hash-crc64ecma"], export.crc64.to_string().as_str());
    assert_eq!(h["content-length"], export.bytes.len().to_string().as_str());
    let body = resp.bytes().await.unwrap();
    assert_eq!(body, export.bytes);
    check_tar_zst(&body);
    let resp = client()
        .get(private)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(resp.bytes().await.unwrap(), export.bytes.slice(100..200));

    let stats = emu.stats();
    assert_eq!(stats.calls("CreateDownload"), 1);
    assert_eq!(stats.calls_with("DescribeDownloadTask", "Success"), 5);
    let tasks = emu.dbs_tasks();
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        (tasks[0].status, tasks[0].runs),
        (DownloadStatus::Finished, 1)
    );
    assert_eq!(
        (tasks[0].instance.as_str(), tasks[0].bak_set_id.as_str()),
        (DEMO_DISK, SNAPSHOT)
    );
}

/// A `.tar.zst` whose frame checksum holds and whose entries are `.bson` files tiled exactly by
/// their documents.
fn check_tar_zst(bytes: &[u8]) {
    let mut decoder = ruzstd::decoding::StreamingDecoder::new(bytes).unwrap();
    let mut tar = Vec::new();
    decoder.read_to_end(&mut tar).unwrap();
    let frame = decoder.into_frame_decoder();
    assert!(frame.get_checksum_from_data().is_some());
    assert_eq!(
        frame.get_checksum_from_data(),
        frame.get_calculated_checksum()
    );
    let mut archive = tar::Archive::new(tar.as_slice());
    let mut files = 0;
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        assert!(path.ends_with(".bson") && path.contains("/data/"), "{path}");
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        let mut at = 0;
        while at < data.len() {
            let len = i32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
            assert!(
                len >= 5 && at + len <= data.len() && data[at + len - 1] == 0,
                "{path} at {at}"
            );
            at += len;
        }
        assert_eq!(at, data.len(), "{path}");
        files += 1;
    }
    assert!(files >= 3, "{files}");
}

#[tokio::test]
async fn a_second_task_is_refused_while_one_runs_and_bad_requests_are_refused() {
    let emu = demo().await;
    let first = task_id(&create(&emu, DEMO_DISK, SNAPSHOT).await);
    let p = [
        ("InstanceName", DEMO_DISK),
        ("BakSetId", "32105002"),
        ("FormatType", "BSON"),
    ];
    let (code, text) = refused(&emu, "CreateDownload", &p).await;
    assert_eq!(code, "DownloadTaskAlreadyExists");
    assert!(text.contains(DEMO_DISK) && text.contains(&first), "{text}");
    assert_eq!(
        emu.stats()
            .calls_with("CreateDownload", "DownloadTaskAlreadyExists"),
        1
    );
    assert_eq!(emu.stats().calls("CreateDownload"), 2);

    /// (action, parameters, the refusal code)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 5] = [
        (
            "CreateDownload",
            &[
                ("InstanceName", DEMO_DISK),
                ("BakSetId", "32102007"),
                ("FormatType", "BSON"),
            ],
            "InvalidParameter",
        ),
        (
            "CreateDownload",
            &[
                ("InstanceName", DEMO_REPLICA),
                ("BakSetId", "32102007"),
                ("FormatType", "BSON"),
            ],
            "DownloadNotSupported",
        ),
        (
            "DescribeDownloadSupport",
            &[("InstanceName", "dds-nowhere")],
            "InstanceNotFound",
        ),
        (
            "DescribeDownloadBackupSetStorageInfo",
            &[("TaskId", &first)],
            "DownloadTaskNotFinished",
        ),
        (
            "RetryDownloadTask",
            &[("TaskId", &first)],
            "DownloadTaskNotFailed",
        ),
    ];
    for (action, params, want) in cases {
        assert_eq!(
            refused(&emu, action, params).await.0,
            want,
            "{action} {params:?}"
        );
    }
    // In another region the instance is not found.
    let p = [("RegionCode", "cn-shanghai"), ("InstanceName", DEMO_DISK)];
    let (status, body) = call_as(&emu, "DescribeDownloadSupport", "2021-01-01", SECRET, &p).await;
    assert_eq!(
        (status, &body["ErrCode"]),
        (200, &"InstanceNotFound".into())
    );
    // Filters: another backup set has no task.
    let p = [("InstanceName", DEMO_DISK), ("BackupSetId", "32105002")];
    let data = ok(&emu, "DescribeDownloadTask", &p).await;
    assert_eq!(data["TotalElements"], 0);
    assert_eq!(data["Content"]["List"], Value::Array(Vec::new()));
}

#[tokio::test]
async fn gateway_errors_stay_the_dds_ones() {
    let emu = demo().await;
    let p = [("RegionCode", DEMO_REGION), ("InstanceName", DEMO_DISK)];
    let (status, body) = call_as(&emu, "DescribeDownloadSupport", "2015-12-01", SECRET, &p).await;
    assert_eq!(
        (status, &body["Code"]),
        (400, &"InvalidVersion".into()),
        "{body}"
    );
    let (status, body) = call_as(&emu, "DescribeDownloadSupport", "2021-01-01", "wrong", &p).await;
    assert_eq!(
        (status, &body["Code"]),
        (400, &"SignatureDoesNotMatch".into())
    );
    assert!(
        body["Recommend"].is_string() && body.get("Success").is_none(),
        "{body}"
    );
    let (status, body) = call_as(&emu, "DescribeBackups", "2021-01-01", SECRET, &[]).await;
    assert_eq!((status, &body["Code"]), (400, &"InvalidVersion".into()));
    let (status, body) = call_as(&emu, "CreateDownload", "2021-01-01", SECRET, &p).await;
    assert_eq!(
        (status, &body["Code"]),
        (400, &"MissingFormatType".into()),
        "{body}"
    );
    let p = [("InstanceName", DEMO_DISK)];
    let (status, body) = call_as(&emu, "DescribeDownloadTask", "2021-01-01", SECRET, &p).await;
    assert_eq!((status, &body["Code"]), (400, &"MissingRegionCode".into()));
    assert_eq!(emu.stats().describe("InvalidVersion"), 2);
}

#[tokio::test]
async fn a_failed_task_blocks_new_ones_until_retried_and_failures_are_bounded() {
    let emu = with_disk("dds-flaky", DbsScript::default().fail_times(2)).await;
    let id = task_id(&create(&emu, "dds-flaky", "77001").await);
    for run in 1..=2 {
        assert_eq!(
            walk(&emu, "dds-flaky", 3).await,
            ["initializing", "queuing", "running"]
        );
        let data = poll(&emu, "dds-flaky").await;
        let row = &data["Content"]["List"][0];
        assert_eq!(
            (&row["DownloadStatus"], &row["Progress"]),
            (&"failed".into(), &"1/3".into())
        );
        let extra = data["Extra"].as_str().unwrap();
        assert!(
            extra.starts_with("export of backup set 77001 failed"),
            "{extra}"
        );
        assert_eq!(row["ExportDataSize"], "0");
        let (code, text) = refused(
            &emu,
            "CreateDownload",
            &[
                ("InstanceName", "dds-flaky"),
                ("BakSetId", "77001"),
                ("FormatType", "BSON"),
            ],
        )
        .await;
        assert_eq!(code, "DownloadTaskAlreadyExists");
        assert!(text.contains("failed") && text.contains(&id), "{text}");
        assert_eq!(
            refused(
                &emu,
                "DescribeDownloadBackupSetStorageInfo",
                &[("TaskId", &id)]
            )
            .await
            .0,
            "DownloadTaskNotFinished"
        );
        assert!(emu.dbs_export(&id).is_none());
        let p = [("InstanceName", "dds-flaky"), ("TaskId", id.as_str())];
        assert_eq!(ok(&emu, "RetryDownloadTask", &p).await, id.as_str());
        assert_eq!(emu.dbs_tasks()[0].runs, run + 1);
    }
    assert_eq!(
        walk(&emu, "dds-flaky", 4).await,
        ["initializing", "queuing", "running", "finished"]
    );
    assert_eq!(poll(&emu, "dds-flaky").await["Extra"], "");
    assert!(emu.dbs_export(&id).is_some());
    assert_eq!(emu.stats().calls_with("RetryDownloadTask", "Success"), 2);

    let emu = with_disk(
        "dds-broken",
        DbsScript::default().fail_always("disk quota exceeded"),
    )
    .await;
    let id = task_id(&create(&emu, "dds-broken", "77001").await);
    for _ in 0..3 {
        assert_eq!(walk(&emu, "dds-broken", 4).await[3], "failed");
        assert_eq!(
            poll(&emu, "dds-broken").await["Extra"],
            "disk quota exceeded"
        );
        ok(&emu, "RetryDownloadTask", &[("TaskId", &id)]).await;
    }
}

#[tokio::test]
async fn polls_per_step_unsupported_and_gzip_exports() {
    let emu = with_disk("dds-slow", DbsScript::default().polls_per_step(2)).await;
    let id = task_id(&create(&emu, "dds-slow", "77001").await);
    let seen = walk(&emu, "dds-slow", 7).await;
    assert_eq!(
        seen[..6],
        [
            "initializing",
            "initializing",
            "queuing",
            "queuing",
            "running",
            "running"
        ]
    );
    assert_eq!(seen[6], "finished");
    let p = [("InstanceName", "dds-slow"), ("State", "finished")];
    assert_eq!(
        ok(&emu, "DescribeDownloadTask", &p).await["TotalElements"],
        1
    );
    let p = [("InstanceName", "dds-slow"), ("State", "running")];
    assert_eq!(
        ok(&emu, "DescribeDownloadTask", &p).await["TotalElements"],
        0
    );
    // By instance and backup set instead of task id.
    let p = [("InstanceName", "dds-slow"), ("BackupSetId", "77001")];
    let l = ok(&emu, "DescribeDownloadBackupSetStorageInfo", &p).await;
    assert!(l["PublicUrl"].as_str().unwrap().contains(&id), "{l}");

    let emu = with_disk("dds-off", DbsScript::default().unsupported()).await;
    assert_eq!(
        ok(
            &emu,
            "DescribeDownloadSupport",
            &[("InstanceName", "dds-off")]
        )
        .await,
        "false"
    );
    let p = [
        ("InstanceName", "dds-off"),
        ("BakSetId", "77001"),
        ("FormatType", "BSON"),
    ];
    assert_eq!(
        refused(&emu, "CreateDownload", &p).await.0,
        "DownloadNotSupported"
    );

    let p = [
        ("InstanceName", DEMO_DISK),
        ("BakSetId", SNAPSHOT),
        ("FormatType", "BSON"),
        ("UseZstd", "false"),
    ];
    let id = task_id(&ok(&emu, "CreateDownload", &p).await);
    walk(&emu, DEMO_DISK, 4).await;
    let export = emu.dbs_export(&id).unwrap();
    assert!(export.name.ends_with(".tar.gz") && export.bytes.starts_with(&[0x1f, 0x8b, 8]));
}

#[tokio::test]
async fn links_expire_like_other_urls_and_duration_is_bounded() {
    let emu = with_disk(
        "dds-ttl",
        DbsScript::default().link_ttl(Duration::from_secs(60)),
    )
    .await;
    let id = task_id(&create(&emu, "dds-ttl", "77001").await);
    walk(&emu, "dds-ttl", 4).await;
    for bad in ["299", "86401", "soon"] {
        let p = [("TaskId", id.as_str()), ("Duration", bad)];
        let (code, _) = refused(&emu, "DescribeDownloadBackupSetStorageInfo", &p).await;
        assert_eq!(code, "InvalidParameter", "{bad}");
    }
    let now_s = emu.now().unix_timestamp();
    let l = links(&emu, &id, "86400").await;
    let expires = l["ExpirationTime"].as_i64().unwrap() / 1000;
    assert!(
        (now_s + 59..=now_s + 61).contains(&expires),
        "capped by link_ttl: {l}"
    );
    let url = l["PublicUrl"].as_str().unwrap().to_string();
    assert_eq!(
        client().get(&url).send().await.unwrap().status().as_u16(),
        200
    );
    emu.set_clock_offset(time::Duration::seconds(62));
    let resp = client().get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("<Code>AccessDenied</Code>")
            && text.contains("<Message>Request has expired.</Message>"),
        "{text}"
    );
    // Without a cap, `Duration` (default 7200 s) sets the expiry.
    let emu = demo().await;
    let id = task_id(&create(&emu, DEMO_DISK, SNAPSHOT).await);
    walk(&emu, DEMO_DISK, 4).await;
    let now_ms = emu.now().unix_timestamp() * 1000;
    let l = ok(
        &emu,
        "DescribeDownloadBackupSetStorageInfo",
        &[("TaskId", &id)],
    )
    .await;
    let expires = l["ExpirationTime"].as_i64().unwrap();
    assert!(
        (now_ms + 7_198_000..=now_ms + 7_201_000).contains(&expires),
        "{l}"
    );
}

#[tokio::test]
async fn finished_tasks_expire_after_three_days_and_no_longer_block() {
    let emu = demo().await;
    let id = task_id(&create(&emu, DEMO_DISK, SNAPSHOT).await);
    walk(&emu, DEMO_DISK, 4).await;
    emu.set_clock_offset(time::Duration::days(3) - time::Duration::minutes(1));
    assert_eq!(walk(&emu, DEMO_DISK, 1).await, ["finished"]);
    emu.set_clock_offset(time::Duration::days(3) + time::Duration::minutes(1));
    assert_eq!(walk(&emu, DEMO_DISK, 1).await, ["expired"]);
    assert_eq!(emu.dbs_tasks()[0].status, DownloadStatus::Expired);
    let (code, text) = refused(
        &emu,
        "DescribeDownloadBackupSetStorageInfo",
        &[("TaskId", &id)],
    )
    .await;
    assert_eq!(code, "DownloadTaskNotFinished");
    assert!(text.contains("expired"), "{text}");
    let again = task_id(&create(&emu, DEMO_DISK, SNAPSHOT).await);
    assert_ne!(again, id);
    // Newest first.
    let data = poll(&emu, DEMO_DISK).await;
    let ids: Vec<&str> = data["Content"]["List"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["TaskId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [again.as_str(), id.as_str()]);
}

#[tokio::test]
async fn the_same_calls_give_the_same_task_ids_and_bytes_in_a_new_emulator() {
    let mut seen = Vec::new();
    for _ in 0..2 {
        let emu = demo().await;
        let id = task_id(&create(&emu, DEMO_DISK, SNAPSHOT).await);
        walk(&emu, DEMO_DISK, 4).await;
        let export = emu.dbs_export(&id).unwrap();
        seen.push((id, export.bytes, export.etag, export.crc64));
        emu.shutdown().await;
        // The demo's backup times move with the clock; the bytes must not.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert_eq!(
        (&seen[0].0, &seen[0].2, seen[0].3),
        (&seen[1].0, &seen[1].2, seen[1].3)
    );
    assert!(seen[0].1 == seen[1].1, "identical bytes");
}

#[tokio::test]
async fn official_python_dbs_sdk_is_compatible() {
    if !common::sdk_available(
        "official_python_dbs_sdk_is_compatible",
        "alibabacloud_dbs20210101",
        "alibabacloud-dbs20210101",
    ) {
        return;
    }
    let emu = with_disk("dds-sdk-flaky", DbsScript::default().fail_times(1)).await;
    common::run_sdk_script("sdk_compat_dbs.py", emu.base_url(), ID, SECRET).await;
    let stats = emu.stats();
    for action in [
        "DescribeDownloadSupport",
        "CreateDownload",
        "DescribeDownloadTask",
        "DescribeDownloadBackupSetStorageInfo",
        "RetryDownloadTask",
    ] {
        assert!(
            stats.calls_with(action, "Success") >= 1,
            "{action}: {stats:?}"
        );
    }
    assert_eq!(
        stats.calls_with("CreateDownload", "DownloadTaskAlreadyExists"),
        1
    );
    assert_eq!(stats.describe("SignatureDoesNotMatch"), 1);
    let tasks = emu.dbs_tasks();
    assert!(
        tasks.iter().all(|t| t.status == DownloadStatus::Finished),
        "{tasks:?}"
    );
}
