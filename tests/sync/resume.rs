//! Downloads under faults: a dropped connection resumed by Range in the same run, expired
//! URLs (before the start, and mid-resume, as often as needed), a 200 to a Range, a changed
//! object (If-Range, and a 206 whose ETag changed), a wrong CRC, a short object,
//! cancellation, and the retry budget of a long download.

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use dds_emulator::{ApiFaults, DropFault, StallFault};

use super::servers::{ApiProxy, Mute, Scripted};
use super::*;

/// Plants a partial file of `bytes[..len]` with a sidecar naming `etag`, as an earlier run
/// would have left it.
fn plant_partial(dir: &Path, backup_id: &str, name: &str, bytes: &[u8], len: usize, etag: &str) {
    let f = folder(dir, backup_id);
    std::fs::create_dir_all(&f).unwrap();
    std::fs::write(f.join(format!("{name}.part")), &bytes[..len]).unwrap();
    std::fs::write(
        f.join(format!("{name}.part.json")),
        serde_json::json!({"size": bytes.len(), "etag": etag, "crc64": null, "url_expires": null})
            .to_string(),
    )
    .unwrap();
}

/// The distinct Range headers in arrival order (a request answered 403 and retried after a
/// URL refresh carries the same range twice).
fn distinct_ranges(emu: &Emulator) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in emu.stats().ranges_seen {
        if out.last() != Some(&r) {
            out.push(r);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_connection_is_resumed_by_range_from_the_right_offset_in_the_same_run() {
    let emu = emulator_with(|_| {}).await;
    emu.set_faults(drop_faults(700_000, 2, Some(QP)));
    let etag = emu.object_summary(QP).await.unwrap().etag;
    let dir = tempfile::tempdir().unwrap();
    let summary = pass(&settings(&emu, dir.path())).await;
    assert_eq!((summary.fetched, summary.failed), (3, 0), "{summary}");
    let stats = emu.stats();
    assert_eq!(stats.dropped_bodies, 2);
    assert_eq!(stats.ranges_seen, vec!["bytes=700000-", "bytes=1400000-"]);
    assert_eq!(stats.if_range_seen, vec![etag.clone(), etag]);
    assert_eq!(stats.partial_responses, 2);
    // Nothing fetched twice: the whole object plus the two cut-off tails' overlap is zero.
    assert_eq!(
        summary.bytes,
        QP_SIZE + 1_048_576 + 307_200,
        "every byte fetched once"
    );
    assert_published(&emu, dir.path(), QP).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_url_is_refreshed_through_describe_backups_with_the_backup_id() {
    let emu = emulator_with(|_| {}).await;
    let proxy = ApiProxy::start(&emu.base_url()).await;
    // The listing hands out URLs that already expired.
    emu.set_faults(Faults {
        api: ApiFaults {
            expired_urls_next: 1,
            ..ApiFaults::default()
        },
        ..Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.api.endpoint = proxy.url.clone();
    let summary = pass(&s).await;
    assert_eq!((summary.fetched, summary.failed), (3, 0), "{summary}");
    let mut refreshed = proxy.backup_ids();
    refreshed.sort();
    assert_eq!(refreshed, vec![QP, TGZ, AR], "one refresh per backup");
    for id in [QP, TGZ, AR] {
        assert_published(&emu, dir.path(), id).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn urls_expiring_mid_download_are_refreshed_as_often_as_needed() {
    const CYCLES: u64 = 5;
    let emu = emulator_with(|_| {}).await;
    let proxy = ApiProxy::start(&emu.base_url()).await;
    // Each of QP's first five bodies stalls, then is cut. While it stalls, the test moves the
    // emulator's clock past the URL's lifetime, so every resume finds its URL expired.
    emu.set_faults(Faults {
        api: ApiFaults {
            url_ttl: Some(Duration::from_secs(60)),
            ..ApiFaults::default()
        },
        oss: OssFaults {
            stall: vec![StallFault {
                after_bytes: 100_000,
                duration: Duration::from_millis(400),
                count: CYCLES as u32,
                object: Some(QP.into()),
            }],
            drop: vec![DropFault {
                after_bytes: 200_000,
                count: CYCLES as u32,
                object: Some(QP.into()),
            }],
            ..OssFaults::default()
        },
    });
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.api.endpoint = proxy.url.clone();
    let run = tokio::spawn(async move { pass(&s).await });
    let mut bumped = 0;
    common::poll(Duration::from_secs(30), || {
        let stalled = emu.stats().stalled_bodies;
        while bumped < stalled {
            bumped += 1;
            // 61 s per cycle: past the 60 s URLs, well inside the API's 15-minute window.
            emu.set_clock_offset(time::Duration::seconds(61 * bumped as i64));
        }
        run.is_finished()
    })
    .await;
    let summary = run.await.unwrap();
    assert_eq!((summary.fetched, summary.failed), (3, 0), "{summary}");
    let stats = emu.stats();
    assert_eq!(stats.file_by_status.get(&403), Some(&CYCLES), "{stats:?}");
    assert_eq!(
        proxy.backup_ids(),
        vec![QP; CYCLES as usize],
        "each expiry refreshed by BackupId"
    );
    let offsets: Vec<String> = (1..=CYCLES)
        .map(|k| format!("bytes={}-", 200_000 * k))
        .collect();
    assert_eq!(distinct_ranges(&emu), offsets);
    assert_published(&emu, dir.path(), QP).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_url_that_only_looks_expired_to_a_skewed_host_clock_is_still_used() {
    // The server's clock is 10 minutes behind this host's (inside the API's 15-minute window):
    // its 5-minute URLs look expired here, but the server accepts them.
    let emu = emulator_with(|c| {
        c.clock_offset = time::Duration::minutes(-10);
        c.url_ttl = Duration::from_secs(300);
    })
    .await;
    let proxy = ApiProxy::start(&emu.base_url()).await;
    emu.set_faults(drop_faults(400_000, 4, Some(QP)));
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.api.endpoint = proxy.url.clone();
    let summary = pass(&s).await;
    assert_eq!((summary.fetched, summary.failed), (3, 0), "{summary}");
    let stats = emu.stats();
    assert_eq!(stats.file_by_status.get(&403), None, "no URL was refused");
    assert_eq!(stats.dropped_bodies, 4);
    // The listing's URLs look stale, so each is refreshed once; after that the server, not
    // this host's clock, says when a URL has expired: the four resumes need no refresh.
    let mut refreshed = proxy.backup_ids();
    refreshed.sort();
    assert_eq!(refreshed, vec![QP, TGZ, AR]);
    assert_published(&emu, dir.path(), QP).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_200_answer_to_a_range_request_restarts_from_zero() {
    let emu = emulator_with(|_| {}).await;
    let summary = emu.object_summary(QP).await.unwrap();
    let (name, bytes) = object(&emu, QP).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    // A partial from an earlier run, and a server that ignores ranges.
    plant_partial(dir.path(), QP, &name, &bytes, 1000, &summary.etag);
    emu.set_faults(oss_faults(OssFaults {
        ignore_range: true,
        ..OssFaults::default()
    }));
    let first = pass(&s).await;
    assert_eq!(first.failed, 0, "{first}");
    assert_eq!(
        (first.fetched, first.resumed),
        (3, 0),
        "a restart from zero is a fresh download, not a resume: {first}"
    );
    let stats = emu.stats();
    assert_eq!(stats.ranges_seen, vec!["bytes=1000-"]);
    assert_eq!(stats.partial_responses, 0, "the server ignored the range");
    assert_published(&emu, dir.path(), QP).await;

    // Within one run: the body is cut, the resume's Range is ignored, the file restarts.
    std::fs::remove_dir_all(folder(dir.path(), QP)).unwrap();
    emu.reset_stats();
    emu.set_faults(oss_faults(OssFaults {
        ignore_range: true,
        drop: vec![DropFault {
            after_bytes: 500_000,
            count: 1,
            object: Some(QP.into()),
        }],
        ..OssFaults::default()
    }));
    let second = pass(&s).await;
    assert_eq!((second.fetched, second.failed), (1, 0), "{second}");
    let stats = emu.stats();
    assert_eq!(stats.ranges_seen, vec!["bytes=500000-"]);
    assert_eq!(stats.file_by_status.get(&200), Some(&2));
    assert_published(&emu, dir.path(), QP).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partial_of_an_object_that_changed_restarts_with_the_new_version() {
    let emu = emulator_with(|_| {}).await;
    // A run cut short leaves a partial with the old ETag.
    emu.set_faults(drop_faults(500_000, 1, Some(QP)));
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    let mut quick = s.clone();
    quick.api.retry.max_attempts = 1;
    quick.download.retry.max_attempts = 1;
    let old = emu.object_summary(QP).await.unwrap();
    let first = pass(&quick).await;
    assert_eq!(first.failed, 1, "{first}");
    let part = common::files_ending(dir.path(), "_qp.xb.part");
    assert_eq!(part.len(), 1);
    assert_eq!(file_len(&part[0]), 500_000);
    // The object is re-uploaded (new bytes, new ETag): If-Range no longer matches.
    assert!(emu.bump_object_version(QP));
    let new = emu.object_summary(QP).await.unwrap();
    assert_ne!(old.etag, new.etag);
    emu.set_faults(Faults::default());
    emu.reset_stats();
    let second = pass(&s).await;
    assert_eq!(
        (second.resumed + second.fetched, second.failed),
        (1, 0),
        "{second}"
    );
    let stats = emu.stats();
    assert_eq!(stats.ranges_seen, vec!["bytes=500000-"]);
    assert_eq!(stats.if_range_seen, vec![old.etag]);
    assert_eq!(stats.partial_responses, 0);
    assert_published(&emu, dir.path(), QP).await; // the new version's bytes, sha256 and CRC
}

#[tokio::test(flavor = "multi_thread")]
async fn a_206_from_a_changed_object_is_not_spliced_onto_the_old_partial() {
    // A proxy that honours Range but ignores If-Range, for an object without a CRC header:
    // only the ETag can tell that the tail belongs to another version.
    let config = {
        let mut c = EmulatorConfig::demo(ID, SECRET);
        c.url_ttl = Duration::from_secs(3600);
        c
    };
    let helper = crate::common::loopback_emulator(config.clone()).await;
    let old = helper.object_summary(TGZ).await.unwrap();
    let (tgz_name, old_bytes) = object(&helper, TGZ).await;
    let mut objects = std::collections::HashMap::new();
    for id in [QP, AR] {
        let (name, bytes) = object(&helper, id).await;
        let etag = helper.object_summary(id).await.unwrap().etag;
        objects.insert(name, (bytes, etag));
    }
    assert!(helper.bump_object_version(TGZ));
    let new = helper.object_summary(TGZ).await.unwrap();
    let (_, new_bytes) = object(&helper, TGZ).await;
    objects.insert(tgz_name.clone(), (new_bytes.clone(), new.etag.clone()));
    let objects = Arc::new(objects);
    let server = Scripted::start(move |path, headers| {
        let name = path.rsplit('/').next().unwrap_or_default();
        let Some((bytes, etag)) = objects.get(name) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        serve_ignoring_if_range(bytes, etag, headers)
    })
    .await;
    let mut config = config;
    config.public_url_base = Some(server.url.clone());
    let emu = crate::common::loopback_emulator(config).await;
    let dir = tempfile::tempdir().unwrap();
    plant_partial(dir.path(), TGZ, &tgz_name, &old_bytes, 400_000, &old.etag);
    let summary = pass(&settings(&emu, dir.path())).await;
    assert_eq!(summary.failed, 0, "{summary}");
    let tgz: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.range.is_some() || s.if_range.is_some())
        .collect();
    assert_eq!(tgz.len(), 1, "{tgz:?}");
    assert_eq!(tgz[0].range.as_deref(), Some("bytes=400000-"));
    assert_eq!(tgz[0].if_range.as_deref(), Some(old.etag.as_str()));
    let f = folder(dir.path(), TGZ);
    assert!(
        std::fs::read(f.join(&tgz_name)).unwrap() == new_bytes,
        "the new version, not old head + new tail"
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["sha256"], common::sha256_hex(&new_bytes));
    assert_eq!(m["crc64_checked"], false, "no CRC header was sent");
}

/// 206 for `bytes=N-` whatever `If-Range` says, else 200; never a CRC header.
fn serve_ignoring_if_range(bytes: &[u8], etag: &str, headers: &HeaderMap) -> Response {
    let start = super::servers::range_start(headers, bytes.len());
    let mut h = HeaderMap::new();
    h.insert("etag", etag.parse().unwrap());
    match start {
        Some(n) => {
            h.insert(
                "content-range",
                format!("bytes {n}-{}/{}", bytes.len() - 1, bytes.len())
                    .parse()
                    .unwrap(),
            );
            (StatusCode::PARTIAL_CONTENT, h, bytes[n..].to_vec()).into_response()
        }
        None => (StatusCode::OK, h, bytes.to_vec()).into_response(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_crc_fails_the_backup_and_publishes_nothing() {
    let emu = emulator_with(|_| {}).await;
    emu.set_faults(oss_faults(OssFaults {
        wrong_crc: vec![TGZ.into()],
        ..OssFaults::default()
    }));
    let dir = tempfile::tempdir().unwrap();
    let summary = pass(&settings(&emu, dir.path())).await;
    assert_eq!((summary.fetched, summary.failed), (2, 1), "{summary}");
    assert!(!summary.ok());
    let failure = &summary.failures[0];
    assert_eq!(failure.kind, "crc_mismatch");
    assert_eq!(failure.backup, format!("{REPLICA}/{TGZ}"));
    assert!(
        failure.message.contains(TGZ) && failure.message.contains("CRC-64 mismatch"),
        "{failure:?}"
    );
    not_published(dir.path(), TGZ);
    assert!(
        common::files_ending(&folder(dir.path(), TGZ), ".part").is_empty(),
        "a corrupt partial is not kept for a resume"
    );
    assert_eq!(
        emu.stats().gets_by_object.values().sum::<u64>(),
        3,
        "no retry"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_object_fails_with_a_clear_size_mismatch_and_no_loop() {
    let emu = emulator_with(|_| {}).await;
    emu.set_faults(oss_faults(OssFaults {
        short_objects: [(AR.to_string(), 1000)].into(),
        ..OssFaults::default()
    }));
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    let summary = pass(&s).await;
    assert_eq!((summary.fetched, summary.failed), (2, 1), "{summary}");
    let f = &summary.failures[0];
    assert_eq!(f.kind, "size_mismatch");
    assert!(
        f.message.contains(AR) && f.message.contains("expected 307200 bytes, got 1000"),
        "{}",
        f.message
    );
    not_published(dir.path(), AR);
    let name = emu.object_summary(AR).await.unwrap().name;
    assert_eq!(emu.stats().gets_by_object.get(&name), Some(&1), "no retry");
    // A second pass fails the same way, again with a single request.
    emu.reset_stats();
    let again = pass(&s).await;
    assert_eq!(again.failed, 1, "{again}");
    assert_eq!(emu.stats().gets_by_object.get(&name), Some(&1));
    not_published(dir.path(), AR);
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_mid_download_keeps_the_partial_and_the_next_pass_resumes() {
    let emu = emulator_with(|_| {}).await;
    emu.set_faults(oss_faults(OssFaults {
        stall: vec![StallFault {
            after_bytes: 400_000,
            duration: Duration::from_secs(30),
            count: 1,
            object: Some(QP.into()),
        }],
        ..OssFaults::default()
    }));
    let etag = emu.object_summary(QP).await.unwrap().etag;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    let opts = PassOptions::default();
    let cancel = opts.cancel.clone();
    let data = dir.path().to_path_buf();
    // Cancel once QP is well under way and the two small backups are published.
    let canceller = tokio::spawn(async move {
        common::poll(Duration::from_secs(20), || {
            common::files_ending(&data, "_qp.xb.part")
                .first()
                .is_some_and(|p| file_len(p) >= 100_000)
                && common::files_ending(&data, "manifest.json").len() == 2
        })
        .await;
        cancel.cancel();
    });
    let started = Instant::now();
    let summary = pass_with(&s, &opts).await;
    canceller.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the stall was cut"
    );
    let cancelled: Vec<_> = summary
        .failures
        .iter()
        .filter(|f| f.kind == "cancelled")
        .collect();
    assert_eq!(cancelled.len(), 1, "{summary}");
    assert!(cancelled[0].message.contains("partial file is kept"));
    let part = common::files_ending(dir.path(), "_qp.xb.part");
    let kept = file_len(&part[0]);
    assert!((100_000..=400_000).contains(&kept), "{kept}");
    let sidecar: serde_json::Value = serde_json::from_slice(
        &std::fs::read(common::files_ending(dir.path(), "_qp.xb.part.json")[0].clone()).unwrap(),
    )
    .unwrap();
    assert_eq!(sidecar["etag"], etag.as_str());
    assert_eq!(sidecar["size"], QP_SIZE);

    emu.set_faults(Faults::default());
    emu.reset_stats();
    let next = pass(&s).await;
    assert_eq!((next.resumed, next.failed), (1, 0), "{next}");
    assert_eq!(emu.stats().ranges_seen, vec![format!("bytes={kept}-")]);
    assert_eq!(next.bytes, QP_SIZE - kept, "only the rest was fetched");
    assert_published(&emu, dir.path(), QP).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_stops_a_download_still_waiting_for_response_headers() {
    // Every URL points at a server that accepts and never answers.
    let mute = Mute::start().await;
    let emu = emulator_with(|c| c.public_url_base = Some(mute.url.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    let opts = PassOptions::default();
    let cancel = opts.cancel.clone();
    let run = tokio::spawn(async move { pass_with(&s, &opts).await });
    assert!(
        common::poll(Duration::from_secs(10), || mute.accepted() >= 3).await,
        "the three downloads connected"
    );
    let cancelled_at = Instant::now();
    cancel.cancel();
    // The read timeout is 30 s: only a cancellable wait ends within the bound.
    let summary = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the pass stopped promptly")
        .unwrap();
    assert!(cancelled_at.elapsed() < Duration::from_secs(5));
    // Stopped at a safe point, not failed: named in the summary, resumed next pass.
    assert_eq!((summary.failed, summary.stopped), (0, 3), "{summary}");
    assert!(summary.failures.iter().all(|f| f.kind == "cancelled"));
    assert_eq!(
        common::files_ending(dir.path(), ".part"),
        Vec::<std::path::PathBuf>::new(),
        "nothing arrived, so no empty partial is left"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_download_that_never_got_a_byte_leaves_no_partial_and_one_that_did_keeps_it() {
    let emu = emulator_with(|_| {}).await;
    // First pass: every file request gets a 503, so no download gets a byte and none leaves
    // a file behind. Second pass, without retries: QP is cut after 100 000 bytes and keeps
    // its partial for the next resume.
    emu.set_faults(oss_faults(OssFaults {
        errors_next: 1000,
        ..OssFaults::default()
    }));
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.download.concurrency = 1;
    let summary = pass(&s).await;
    assert_eq!((summary.fetched, summary.failed), (0, 3), "{summary}");
    assert_eq!(
        common::files_ending(dir.path(), ".part"),
        Vec::<std::path::PathBuf>::new()
    );
    assert_eq!(
        common::files_ending(dir.path(), ".part.json"),
        Vec::<std::path::PathBuf>::new()
    );
    emu.set_faults(drop_faults(100_000, 1, Some(QP)));
    s.download.read_timeout = Duration::from_secs(5);
    s.api.retry.max_attempts = 1;
    s.download.retry.max_attempts = 1;
    let summary = pass(&s).await;
    assert_eq!((summary.fetched, summary.failed), (2, 1), "{summary}");
    let part = common::files_ending(&folder(dir.path(), QP), ".part");
    assert_eq!(part.len(), 1, "the cut download keeps its partial");
    assert_eq!(std::fs::metadata(&part[0]).unwrap().len(), 100_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drop_after_the_retry_time_budget_still_resumes() {
    // The budget bounds retrying a dead server, not the length of a download: a body that
    // has flowed for longer than `max_elapsed` and is then cut must still resume.
    let emu = emulator_with(|_| {}).await;
    emu.set_faults(oss_faults(OssFaults {
        stall: vec![StallFault {
            after_bytes: 100_000,
            duration: Duration::from_millis(800),
            count: 1,
            object: Some(QP.into()),
        }],
        drop: vec![DropFault {
            after_bytes: 300_000,
            count: 1,
            object: Some(QP.into()),
        }],
        ..OssFaults::default()
    }));
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.api.retry.max_elapsed = Duration::from_millis(400);
    let summary = pass(&s).await;
    assert_eq!((summary.fetched, summary.failed), (3, 0), "{summary}");
    assert_eq!(emu.stats().ranges_seen, vec!["bytes=300000-"]);
    assert_published(&emu, dir.path(), QP).await;
}
