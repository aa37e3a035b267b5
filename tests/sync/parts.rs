//! Several ranged streams per file (`download.streams`), with parts small enough that the demo's
//! 2.5 MiB `_qp.xb` is cut into ten: the parts land out of order and the file is still the
//! object's exact bytes; a kill -9 with parts done out of order, then a run that fetches only
//! the missing ones; a server that ignores ranges; a part from another version of the object;
//! an expired URL mid-file.

use std::process::Stdio;

use dds_emulator::{ApiFaults, StallFault};

use super::*;

const PART: u64 = 256 * 1024;

/// Ranged streams for files of 2 MiB and more (only the 2.5 MiB `_qp.xb`), in 256 KiB parts.
fn ranged(emu: &Emulator, dir: &Path, streams: usize) -> Settings {
    let mut s = settings(emu, dir);
    s.download.streams = streams;
    s.download.stream_cutoff = 2 << 20;
    s.download.part_size = PART;
    s
}

/// `QP`'s first body stops for `pause` after 100 000 bytes: that stream's part waits while the
/// other streams go on.
fn stall_qp(pause: Duration) -> OssFaults {
    OssFaults {
        stall: vec![StallFault {
            after_bytes: 100_000,
            duration: pause,
            count: 1,
            object: Some(QP.into()),
        }],
        ..OssFaults::default()
    }
}

/// The ranges asked for `QP`'s object, as sent.
fn ranges(emu: &Emulator) -> Vec<String> {
    emu.stats().ranges_seen
}

#[tokio::test(flavor = "multi_thread")]
async fn a_big_file_over_four_capped_streams_is_the_objects_exact_bytes() {
    let emu = emulator_with(|_| {}).await;
    // Every connection capped, like one OSS connection: the streams share the file between them.
    emu.set_conn_rate(Some(8 << 20));
    let dir = tempfile::tempdir().unwrap();
    let s = ranged(&emu, dir.path(), 4);
    let summary = pass(&s).await;
    assert_eq!((summary.fetched, summary.failed), (3, 0), "{summary}");
    assert_published(&emu, dir.path(), QP).await;
    let seen = ranges(&emu);
    let parts: Vec<&String> = seen
        .iter()
        .filter(|r| r.contains('-') && !r.ends_with('-'))
        .collect();
    assert_eq!(parts.len(), 10, "one ranged GET per part: {seen:?}");
    for i in 0..10u64 {
        let want = format!("bytes={}-{}", i * PART, ((i + 1) * PART).min(QP_SIZE) - 1);
        assert!(seen.contains(&want), "{want} in {seen:?}");
    }
    // The smaller files (below stream_cutoff) kept one connection.
    assert_published(&emu, dir.path(), TGZ).await;
    assert!(
        !folder(dir.path(), QP)
            .join(format!("{}.part.json", object(&emu, QP).await.0))
            .exists()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_ignores_ranges_gets_the_file_over_one_connection() {
    let emu = emulator_with(|_| {}).await;
    emu.set_faults(oss_faults(OssFaults {
        ignore_range: true,
        ..OssFaults::default()
    }));
    let dir = tempfile::tempdir().unwrap();
    let summary = pass(&ranged(&emu, dir.path(), 4)).await;
    assert_eq!((summary.fetched, summary.failed), (3, 0), "{summary}");
    assert_published(&emu, dir.path(), QP).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_part_from_another_version_of_the_object_restarts_the_file_from_zero() {
    let emu = emulator_with(|_| {}).await;
    // One stream stalls in its part while the others finish theirs; meanwhile the object
    // changes, so the parts that follow come from another version (another ETag).
    emu.set_faults(oss_faults(stall_qp(Duration::from_millis(600))));
    let dir = tempfile::tempdir().unwrap();
    let mut s = ranged(&emu, dir.path(), 2);
    s.instances.truncate(1);
    let run = {
        let s = s.clone();
        tokio::spawn(async move { pass(&s).await })
    };
    let stalled = common::poll(Duration::from_secs(20), || emu.stats().stalled_bodies > 0).await;
    assert!(stalled);
    assert!(emu.bump_object_version(QP));
    let summary = run.await.unwrap();
    assert_eq!(summary.failed, 0, "{summary}");
    // The published file is the new version, byte for byte.
    assert_published(&emu, dir.path(), QP).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_url_mid_file_is_refreshed_once_for_all_streams() {
    let emu = emulator_with(|_| {}).await;
    emu.set_faults(Faults {
        api: ApiFaults {
            url_ttl: Some(Duration::from_secs(60)),
            ..ApiFaults::default()
        },
        oss: stall_qp(Duration::from_millis(400)),
    });
    let dir = tempfile::tempdir().unwrap();
    let s = ranged(&emu, dir.path(), 4);
    let run = tokio::spawn(async move { pass(&s).await });
    let mut bumped = false;
    common::poll(Duration::from_secs(30), || {
        if !bumped && emu.stats().stalled_bodies > 0 {
            // Past the 60 s URLs: every part asked from now on finds its URL expired.
            emu.set_clock_offset(time::Duration::seconds(61));
            bumped = true;
        }
        run.is_finished()
    })
    .await;
    let summary = run.await.unwrap();
    assert!(bumped);
    assert_eq!((summary.fetched, summary.failed), (3, 0), "{summary}");
    assert_published(&emu, dir.path(), QP).await;
    assert!(
        emu.stats()
            .file_by_status
            .get(&403)
            .is_some_and(|n| *n >= 1)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_with_parts_done_out_of_order_then_only_the_missing_parts_are_fetched() {
    let emu = emulator_with(|_| {}).await;
    // The stream on the first part asked stalls for a minute; the others finish parts past it.
    emu.set_faults(oss_faults(stall_qp(Duration::from_secs(60))));
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let cfg = process::config(
        home.path(),
        &emu,
        &data,
        "streams = 4\nstream_cutoff = \"2MiB\"\npart_size = \"256KiB\"",
    );
    let mut child = common::binary(home.path())
        .args(["--sync-now", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (name, _) = object(&emu, QP).await;
    let sidecar = folder(&data, QP).join(format!("{name}.part.json"));
    let done = |path: &Path| -> Vec<bool> {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| {
                v["parts"]["done"]
                    .as_array()
                    .map(|a| a.iter().map(|d| !d.is_null()).collect())
            })
            .unwrap_or_default()
    };
    let out_of_order = common::poll(Duration::from_secs(20), || {
        let d = done(&sidecar);
        // A part still missing (the stalled one) with parts after it done: out of order.
        let gap = d.iter().position(|x| !x);
        d.len() == 10
            && gap.is_some_and(|g| d[g + 1..].iter().any(|x| *x))
            && d.iter().filter(|x| **x).count() >= 5
            && common::files_ending(&data, "manifest.json").len() == 2
    })
    .await;
    assert!(
        out_of_order,
        "parts past the stalled first one were done: {:?}",
        done(&sidecar)
    );
    child.kill().await.unwrap(); // SIGKILL: no chance to clean up
    let kept = done(&sidecar);
    let missing: u64 = (0..10u64)
        .filter(|i| !kept[*i as usize])
        .map(|i| ((i + 1) * PART).min(QP_SIZE) - i * PART)
        .sum();

    emu.set_faults(Faults::default());
    emu.reset_stats();
    let out = common::binary(home.path())
        .args(["--sync-now", "--config"])
        .arg(&cfg)
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats = emu.stats();
    assert_eq!(
        stats.bytes_served, missing,
        "only the missing parts were fetched"
    );
    assert_published(&emu, &data, QP).await;
}

/// `bytes=a-b` of a `Range` header.
fn closed_range(headers: &axum::http::HeaderMap) -> Option<(u64, u64)> {
    let r = headers
        .get("range")?
        .to_str()
        .ok()?
        .strip_prefix("bytes=")?;
    let (a, b) = r.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// How the scripted OSS of [`scripted_oss`] answers one ranged GET.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// 206 with `Content-Range: bytes a-b/size`.
    Exact,
    /// 206 with the unit spelt `Bytes` (units are case-insensitive, RFC 9110 §14.1).
    Capitalised,
    /// 206 naming (and carrying) the range shifted by one byte.
    Shifted,
    /// 200 with the whole object, as a server (or a proxy) ignoring `Range` does.
    Whole,
}

/// The demo's `QP` object behind a scripted OSS: `answer(start, n)` says how to answer the
/// `n`-th request (from 0) for the part starting at `start`.
async fn scripted_oss(
    answer: impl Fn(u64, usize) -> Answer + Send + Sync + 'static,
) -> (Emulator, servers::Scripted) {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    // The object (its bytes and ETag) of the emulator that lists this server's URLs, filled
    // in once that emulator runs (the demo names objects by when the emulator starts).
    type Served = (Vec<u8>, String);
    let object_slot: Arc<std::sync::OnceLock<Served>> = Arc::default();
    let slot = object_slot.clone();
    let asked = std::sync::Mutex::new(std::collections::HashMap::<u64, usize>::new());
    let server = servers::Scripted::start(move |path, headers| {
        let Some((bytes, etag)) = slot.get().filter(|_| path.ends_with("_qp.xb")) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let size = bytes.len() as u64;
        let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Xz, bytes);
        let mut h = axum::http::HeaderMap::new();
        h.insert("etag", etag.parse().unwrap());
        h.insert("x-oss-hash-crc64ecma", crc.to_string().parse().unwrap());
        let Some((a, b)) = closed_range(headers) else {
            return (StatusCode::OK, h, bytes.clone()).into_response();
        };
        let n = {
            let mut asked = asked.lock().unwrap();
            let n = asked.entry(a).or_default();
            *n += 1;
            *n - 1
        };
        let (a, b, unit) = match answer(a, n) {
            Answer::Whole => return (StatusCode::OK, h, bytes.clone()).into_response(),
            Answer::Exact => (a, b, "bytes"),
            Answer::Capitalised => (a, b, "Bytes"),
            Answer::Shifted => (a + 1, b + 1, "bytes"),
        };
        h.insert(
            "content-range",
            format!("{unit} {a}-{b}/{size}").parse().unwrap(),
        );
        let body = bytes[a as usize..=(b as usize).min(bytes.len() - 1)].to_vec();
        (StatusCode::PARTIAL_CONTENT, h, body).into_response()
    })
    .await;
    let emu = emulator_with(|c| c.public_url_base = Some(server.url.clone())).await;
    let (_, bytes) = object(&emu, QP).await;
    let etag = emu.object_summary(QP).await.unwrap().etag;
    assert!(object_slot.set((bytes, etag)).is_ok());
    (emu, server)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_part_answered_with_another_content_range_is_never_spliced_in() {
    // The fourth part is answered with a range shifted by one byte (and its bytes) for the
    // whole first pass, then right.
    let shift = Arc::new(AtomicBool::new(true));
    let shifting = shift.clone();
    let (emu, server) = scripted_oss(move |a, _| {
        if a == 3 * PART && shifting.load(Ordering::Relaxed) {
            Answer::Shifted
        } else {
            Answer::Exact
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = ranged(&emu, dir.path(), 4);
    s.download.retry.max_attempts = 2;
    let summary = pass(&s).await;
    let qp = summary
        .failures
        .iter()
        .find(|f| f.backup.ends_with(QP))
        .unwrap_or_else(|| panic!("QP failed: {summary}"));
    assert!(qp.message.contains("Content-Range"), "{}", qp.message);
    not_published(dir.path(), QP);
    // Issue #21.17: the parts that came right are kept for the next pass, recorded with their
    // CRCs; the shifted one is not among them.
    let (name, bytes) = object(&emu, QP).await;
    let sidecar: serde_json::Value = serde_json::from_slice(
        &std::fs::read(folder(dir.path(), QP).join(format!("{name}.part.json"))).unwrap(),
    )
    .unwrap();
    let done: Vec<Option<u64>> = sidecar["parts"]["done"]
        .as_array()
        .unwrap()
        .iter()
        .map(serde_json::Value::as_u64)
        .collect();
    assert_eq!(done[3], None, "{done:?}");
    let kept: Vec<u64> = (0..10u64).filter(|i| done[*i as usize].is_some()).collect();
    assert!(!kept.is_empty(), "{done:?}");
    for i in &kept {
        let part = &bytes[(i * PART) as usize..((i + 1) * PART).min(QP_SIZE) as usize];
        let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Xz, part);
        assert_eq!(done[*i as usize], Some(crc), "part {i}");
    }
    // The next pass asks only for the parts not recorded.
    shift.store(false, Ordering::Relaxed);
    let before = server.seen().len();
    let again = pass(&s).await;
    assert_qp_ok(&again);
    assert_published(&emu, dir.path(), QP).await;
    let asked: Vec<String> = server.seen()[before..]
        .iter()
        .filter(|r| r.path.ends_with("_qp.xb"))
        .filter_map(|r| r.range.clone())
        .collect();
    for i in &kept {
        let range = format!("bytes={}-{}", i * PART, ((i + 1) * PART).min(QP_SIZE) - 1);
        assert!(!asked.contains(&range), "{range} asked again: {asked:?}");
    }
}

/// `QP` did not fail (the scripted OSS serves only `QP`: the other backups fail with 404).
fn assert_qp_ok(summary: &Summary) {
    assert!(
        summary.failures.iter().all(|f| !f.backup.ends_with(QP)),
        "{summary}: {:?}",
        summary.failures
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_content_range_unit_in_capitals_is_accepted() {
    // Issue #21.17: `Content-Range: Bytes …` failed every pass.
    let (emu, server) = scripted_oss(|_, _| Answer::Capitalised).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = ranged(&emu, dir.path(), 4);
    s.instances.truncate(1);
    let summary = pass(&s).await;
    assert_qp_ok(&summary);
    assert_published(&emu, dir.path(), QP).await;
    assert!(server.seen().len() >= 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_200_to_a_ranged_get_does_not_throw_away_the_parts_done() {
    // Issue #21.17: a single 200 (a proxy's hiccup) on the sixth part sent the whole file
    // over one connection from zero, discarding every completed part.
    let (emu, server) = scripted_oss(|a, n| {
        if a == 5 * PART && n == 0 {
            Answer::Whole
        } else {
            Answer::Exact
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = ranged(&emu, dir.path(), 2);
    s.instances.truncate(1);
    let summary = pass(&s).await;
    assert_qp_ok(&summary);
    assert_published(&emu, dir.path(), QP).await;
    let seen: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|r| r.path.ends_with("_qp.xb"))
        .collect();
    let whole = seen
        .iter()
        .filter(|r| r.range.as_deref().is_none_or(|r| r.ends_with('-')))
        .count();
    assert_eq!(whole, 0, "no request for the whole object: {seen:?}");
    let first = seen
        .iter()
        .filter(|r| r.range.as_deref() == Some(&format!("bytes=0-{}", PART - 1)))
        .count();
    assert_eq!(first, 1, "the first part was fetched once: {seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partial_longer_than_the_object_is_cut_to_its_size_before_publishing() {
    // Issue #21.1: a `.part` left by a kill -9 while the object was bigger (a re-created DBS
    // task, a replaced backup) is reused by the ranged path; preallocation only grows, so
    // without a cut the bytes past the object's end were published under its manifest.
    let emu = emulator_with(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = ranged(&emu, dir.path(), 4);
    s.instances.truncate(1);
    let (name, _) = object(&emu, QP).await;
    let f = folder(dir.path(), QP);
    std::fs::create_dir_all(&f).unwrap();
    std::fs::write(
        f.join(format!("{name}.part")),
        vec![0x5a; QP_SIZE as usize + (1 << 20)],
    )
    .unwrap();
    let summary = pass(&s).await;
    assert_eq!(summary.failed, 0, "{summary}");
    assert_eq!(file_len(&f.join(&name)), QP_SIZE);
    assert_published(&emu, dir.path(), QP).await;
}
