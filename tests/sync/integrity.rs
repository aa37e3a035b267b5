//! The integrity contract (RELIABILITY.md, top), one test per way it was found broken: format
//! verdicts never delete the cloud's bytes, a size of 0 is never a copy, a response's identity
//! only narrows, a body longer than `BackupSize` leaves nothing behind, writes never follow a
//! link, prune never touches another configuration's copies, names that collide with the tool's
//! own files are skipped, and a trickling server cannot hold a download forever.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::AtomicU64;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use dds_emulator::{BackupRecord, ContentFormat};
use time::OffsetDateTime;

use super::servers::Scripted;
use super::*;

fn crc64(bytes: &[u8]) -> u64 {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Xz, bytes)
}

/// An object a [`Scripted`] server serves: its bytes and the headers it answers with.
#[derive(Clone)]
struct Obj {
    bytes: Vec<u8>,
    etag: Option<String>,
    crc: Option<u64>,
}

impl Obj {
    /// With a strong ETag and the CRC-64 of its bytes, as OSS sends them.
    fn oss(bytes: Vec<u8>, etag: &str) -> Obj {
        let crc = Some(crc64(&bytes));
        Obj {
            bytes,
            etag: Some(etag.to_string()),
            crc,
        }
    }
}

/// 206 for a valid `bytes=N-` (ignoring `If-Range`), else 200; the object's headers on both.
fn serve(o: &Obj, headers: &HeaderMap) -> Response {
    let start = super::servers::range_start(headers, o.bytes.len());
    let mut h = HeaderMap::new();
    if let Some(etag) = &o.etag {
        h.insert("etag", etag.parse().unwrap());
    }
    if let Some(crc) = o.crc {
        h.insert("x-oss-hash-crc64ecma", crc.to_string().parse().unwrap());
    }
    match start {
        Some(n) => {
            let range = format!("bytes {n}-{}/{}", o.bytes.len() - 1, o.bytes.len());
            h.insert("content-range", range.parse().unwrap());
            (StatusCode::PARTIAL_CONTENT, h, o.bytes[n..].to_vec()).into_response()
        }
        None => (StatusCode::OK, h, o.bytes.clone()).into_response(),
    }
}

/// The demo data set plus `extra` backups of the replica set.
fn demo_config(extra: &[BackupRecord]) -> EmulatorConfig {
    let mut c = EmulatorConfig::demo(ID, SECRET);
    let replica = c.dataset.instance_mut(REPLICA).unwrap();
    replica.backups.extend(extra.iter().cloned());
    c
}

/// A scripted OSS serving `objects` by name (counting its requests), and an emulator of
/// `config` whose public URLs point at it.
async fn scripted_oss(
    mut config: EmulatorConfig,
    objects: HashMap<String, Obj>,
) -> (Emulator, Scripted, Arc<AtomicU64>) {
    let gets = Arc::new(AtomicU64::new(0));
    let count = gets.clone();
    let server = Scripted::start(move |path, headers| {
        count.fetch_add(1, Ordering::SeqCst);
        let name = path.rsplit('/').next().unwrap_or_default();
        match objects.get(name) {
            Some(o) => serve(o, headers),
            None => StatusCode::NOT_FOUND.into_response(),
        }
    })
    .await;
    config.public_url_base = Some(server.url.clone());
    let emu = common::loopback_emulator(config).await;
    (emu, server, gets)
}

/// The objects of `emu` as OSS would serve them, by name.
async fn objects_of(emu: &Emulator, ids: &[&str]) -> HashMap<String, Obj> {
    let mut out = HashMap::new();
    for id in ids {
        let (name, bytes) = object(emu, id).await;
        let etag = emu.object_summary(id).await.unwrap().etag;
        out.insert(name, Obj::oss(bytes, &etag));
    }
    out
}

fn manifest(dir: &Path, backup_id: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(folder(dir, backup_id).join("manifest.json")).unwrap())
        .unwrap()
}

/// A second pass over a published state makes no file request at all.
async fn second_pass_gets_nothing(s: &Settings, gets: impl Fn() -> u64) {
    let before = gets();
    let again = pass(s).await;
    assert_eq!(gets(), before, "a second pass made a GET: {again}");
    assert_eq!((again.fetched, again.resumed), (0, 0), "{again}");
}

fn summary_json(s: &Summary) -> serde_json::Value {
    serde_json::to_value(s).unwrap()
}

const GARBLED: &str = "32109999";

fn three_hours_ago() -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::hours(3)
}

/// QP damaged inside (a flipped payload byte: it still starts as xbstream), a `_qp.xb` of
/// random bytes (unrecognised), the demo's `.tar.gz` and `.ar` (ok): every one of them matches
/// its CRC-64, so every one is published, each with its verdict.
async fn verdict_setup() -> (Emulator, Scripted, Arc<AtomicU64>, HashMap<String, Obj>) {
    let garbled = BackupRecord::new(GARBLED, three_hours_ago(), "garbled_qp.xb", 200_000)
        .format(ContentFormat::Random);
    let config = demo_config(&[garbled]);
    let helper = common::loopback_emulator(config.clone()).await;
    let mut objects = objects_of(&helper, &[QP, TGZ, AR, GARBLED]).await;
    let (qp_name, _) = object(&helper, QP).await;
    let qp = objects.get_mut(&qp_name).unwrap();
    qp.bytes[1_000_000] ^= 0x40;
    qp.crc = Some(crc64(&qp.bytes));
    let (emu, server, gets) = scripted_oss(config, objects.clone()).await;
    (emu, server, gets, objects)
}

#[tokio::test(flavor = "multi_thread")]
async fn format_verdicts_are_recorded_and_the_clouds_bytes_are_always_published() {
    let (emu, _server, gets, served) = verdict_setup().await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    let first = pass(&s).await;
    assert_eq!((first.fetched, first.failed), (4, 0), "{first}");
    let json = summary_json(&first);
    assert_eq!(json["damaged"], 1, "{json}");
    assert!(
        !first.ok(),
        "a pass that published a damaged copy is not ok"
    );
    assert_eq!(commands::exit_code(&first), 1);
    let named = first
        .failures
        .iter()
        .find(|f| f.backup == format!("{REPLICA}/{QP}"))
        .expect("the damaged copy is named in the summary");
    assert_eq!(named.kind, "damaged");
    assert!(
        named.message.contains("byte") && named.message.contains("same bytes"),
        "{}",
        named.message
    );
    for (id, verdict) in [
        (QP, "damaged"),
        (GARBLED, "unrecognised"),
        (TGZ, "ok"),
        (AR, "ok"),
    ] {
        let m = manifest(dir.path(), id);
        assert_eq!(m["format_verdict"], verdict, "{id}: {m}");
        let name = m["file"].as_str().unwrap();
        assert!(
            std::fs::read(folder(dir.path(), id).join(name)).unwrap() == served[name].bytes,
            "{id}: the published file is exactly what the cloud served"
        );
        assert_eq!(m["crc64_checked"], true);
    }
    assert!(
        manifest(dir.path(), QP)["format_detail"]
            .as_str()
            .unwrap()
            .contains("at byte")
    );

    // The verdict never brings a copy back into the plan: a second pass makes no GET.
    let before = gets.load(Ordering::SeqCst);
    let second = pass(&s).await;
    assert_eq!(
        gets.load(Ordering::SeqCst),
        before,
        "no GET for published copies"
    );
    assert_eq!((second.up_to_date, second.fetched), (4, 0), "{second}");
    assert!(second.ok(), "{second}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_size_of_zero_is_skipped_at_the_plan_with_a_reason() {
    let emu = emulator_with(|_| {}).await;
    assert!(emu.add_backup(
        REPLICA,
        BackupRecord::new("32109990", three_hours_ago(), "empty.tar.gz", 0)
    ));
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    let summary = pass(&s).await;
    assert_eq!((summary.fetched, summary.failed), (3, 0), "{summary}");
    assert_eq!(
        summary.skipped, 5,
        "the four demo skips and the empty one: {summary}"
    );
    second_pass_gets_nothing(&s, || emu.stats().file_gets).await;
    assert!(
        !folder(dir.path(), "32109990").exists(),
        "no empty 'verified' copy"
    );
    let out = report_plan(&s).await;
    assert!(
        out.lines()
            .any(|l| l.contains("32109990") && l.contains("BackupSize is 0")),
        "{out}"
    );
}

/// The plan lines `--dry-run` prints for the replica set's listing, nothing on disk.
async fn report_plan(s: &Settings) -> String {
    let api = commands::api_client(s).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let listings = dds_backup_sync::listing::list_all(&api, s, now).await;
    let remote = dds_backup_sync::listing::gather(listings).remote;
    let urls = dds_backup_sync::sync::plan::UrlPolicy {
        network: Network::Public,
        intranet_reachable: false,
    };
    let actions = dds_backup_sync::sync::plan::decide(
        &remote.listed,
        &dds_backup_sync::model::OnDisk::default(),
        now,
        &urls.into(),
    );
    dds_backup_sync::sync::report::render_plan(&actions, &[], &Default::default())
}

/// A partial and its sidecar from an earlier run that saw `etag` and `crc`.
fn plant(dir: &Path, id: &str, name: &str, head: &[u8], size: usize, etag: &str, crc: Option<u64>) {
    let f = folder(dir, id);
    std::fs::create_dir_all(&f).unwrap();
    std::fs::write(f.join(format!("{name}.part")), head).unwrap();
    let sidecar =
        serde_json::json!({"size": size, "etag": etag, "crc64": crc, "url_expires": null});
    std::fs::write(f.join(format!("{name}.part.json")), sidecar.to_string()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resumed_206_without_a_crc_header_is_still_checked_against_the_first_ones() {
    // The first run saw the object's CRC; the resuming 206 (same ETag) omits it and carries
    // wrong bytes. The CRC the object once announced must still be checked.
    // One data set for both emulators: object names carry the data set's times.
    let config = demo_config(&[]);
    let (tgz_name, good) = {
        let helper = common::loopback_emulator(config.clone()).await;
        object(&helper, TGZ).await
    };
    let etag = "\"tgz-etag\"";
    let mut bad = good.clone();
    bad[900_000] ^= 0xff;
    let bad_obj = Obj {
        bytes: bad,
        etag: Some(etag.into()),
        crc: None,
    };
    let objects = HashMap::from([(tgz_name.clone(), bad_obj)]);
    let (emu, server, _) = scripted_oss(config, objects).await;
    let dir = tempfile::tempdir().unwrap();
    plant(
        dir.path(),
        TGZ,
        &tgz_name,
        &good[..400_000],
        good.len(),
        etag,
        Some(crc64(&good)),
    );
    let summary = pass(&settings(&emu, dir.path())).await;
    let f = summary
        .failures
        .iter()
        .find(|f| f.backup.ends_with(TGZ))
        .unwrap_or_else(|| panic!("TGZ must fail its CRC check: {summary}"));
    assert_eq!(f.kind, "crc_mismatch", "{f:?}");
    not_published(dir.path(), TGZ);
    assert!(
        server
            .seen()
            .iter()
            .any(|s| s.range.as_deref() == Some("bytes=400000-")),
        "the partial was resumed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_206_without_an_etag_is_never_spliced_onto_the_partial() {
    // The partial is of the old version (ETag A). A proxy answers the Range with 206 from the
    // new version and no ETag, and a plain GET with 200 and the new ETag.
    let mut config = demo_config(&[]);
    let helper = common::loopback_emulator(config.clone()).await;
    let (tgz_name, old) = object(&helper, TGZ).await;
    assert!(helper.bump_object_version(TGZ));
    let (_, new) = object(&helper, TGZ).await;
    let mut objects = objects_of(&helper, &[QP, AR]).await;
    objects.insert(tgz_name.clone(), Obj::oss(new.clone(), "\"B\""));
    let tgz = tgz_name.clone();
    let server = Scripted::start(move |path, headers| {
        let name = path.rsplit('/').next().unwrap_or_default();
        let Some(o) = objects.get(name) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let mut r = serve(o, headers);
        if name == tgz && r.status() == StatusCode::PARTIAL_CONTENT {
            r.headers_mut().remove("etag");
        }
        r
    })
    .await;
    config.public_url_base = Some(server.url.clone());
    let emu = common::loopback_emulator(config).await;
    let dir = tempfile::tempdir().unwrap();
    plant(
        dir.path(),
        TGZ,
        &tgz_name,
        &old[..400_000],
        old.len(),
        "\"A\"",
        None,
    );
    let s = settings(&emu, dir.path());
    let summary = pass(&s).await;
    assert_eq!(summary.failed, 0, "{summary}");
    second_pass_gets_nothing(&s, || server.seen().len() as u64).await;
    let got = std::fs::read(folder(dir.path(), TGZ).join(&tgz_name)).unwrap();
    assert!(
        got == new,
        "the new version, not the old head + the new tail"
    );
    let tgz: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.range.is_some())
        .collect();
    assert_eq!(tgz.len(), 1, "one ranged try, then a whole GET: {tgz:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_longer_than_backup_size_leaves_nothing_to_publish_later() {
    // No Content-Length: the excess shows only once BackupSize bytes are in.
    let mut config = demo_config(&[]);
    let (ar_name, bytes) = {
        let helper = common::loopback_emulator(config.clone()).await;
        object(&helper, AR).await
    };
    let served = Arc::new(AtomicU64::new(0));
    let count = served.clone();
    let server = Scripted::start(move |_, _| {
        count.fetch_add(1, Ordering::SeqCst);
        let first = bytes.clone();
        let stream = futures::stream::unfold(0u8, move |step| {
            let first = first.clone();
            async move {
                match step {
                    0 => Some((Ok::<_, std::io::Error>(first), 1)),
                    1 => {
                        // Let the first chunk reach the file before the excess arrives.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Some((Ok(vec![7u8; 500]), 2))
                    }
                    _ => None,
                }
            }
        });
        (StatusCode::OK, Body::from_stream(stream)).into_response()
    })
    .await;
    config.public_url_base = Some(server.url.clone());
    let emu = common::loopback_emulator(config).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    for round in 1..=2 {
        let summary = pass(&s).await;
        let f = summary
            .failures
            .iter()
            .find(|f| f.backup.ends_with(AR))
            .unwrap_or_else(|| panic!("round {round}: AR must fail: {summary}"));
        assert_eq!(f.kind, "size_mismatch", "{f:?}");
        not_published(dir.path(), AR);
        assert!(
            !folder(dir.path(), AR)
                .join(format!("{ar_name}.part"))
                .exists(),
            "round {round}: the partial of a response that disagreed with BackupSize is discarded"
        );
    }
    assert!(
        served.load(Ordering::SeqCst) >= 2 + 2 * 2,
        "each round asked the server again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_never_follow_a_link_inside_the_download_dir() {
    let emu = emulator_with(|_| {}).await;
    let tmp = tempfile::tempdir().unwrap();
    let (data, outside) = (tmp.path().join("data"), tmp.path().join("outside"));
    std::fs::create_dir_all(&outside).unwrap();
    let victim = |name: &str| {
        let p = outside.join(name);
        std::fs::write(&p, b"precious, not a backup").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    };
    let intact = |p: &Path| {
        std::fs::read(p).unwrap() == b"precious, not a backup"
            && std::fs::metadata(p).unwrap().permissions().mode() & 0o777 == 0o600
    };
    let (tgz_name, _) = object(&emu, TGZ).await;
    let (ar_name, _) = object(&emu, AR).await;
    // A planted `<file>.part` symlink and a hard-linked `<file>.part`.
    let linked = victim("linked");
    let hard = victim("hard");
    std::fs::create_dir_all(folder(&data, TGZ)).unwrap();
    std::os::unix::fs::symlink(&linked, folder(&data, TGZ).join(format!("{tgz_name}.part")))
        .unwrap();
    std::fs::create_dir_all(folder(&data, AR)).unwrap();
    std::fs::hard_link(&hard, folder(&data, AR).join(format!("{ar_name}.part"))).unwrap();
    let s = settings(&emu, &data);
    let summary = pass(&s).await;
    assert!(
        intact(&linked),
        "a symlinked partial is never written through"
    );
    assert!(
        intact(&hard),
        "a hard-linked partial is never written through"
    );
    assert_eq!((summary.fetched, summary.failed), (1, 2), "{summary}");
    for f in &summary.failures {
        assert!(f.message.contains("link"), "{f:?}");
    }
    not_published(&data, TGZ);
    let qp_gets = || {
        let m: serde_json::Value = serde_json::from_slice(
            &std::fs::read(folder(&data, QP).join("manifest.json")).unwrap(),
        )
        .unwrap();
        let file = m["file"].as_str().unwrap().to_string();
        emu.stats().gets_by_object.get(&file).copied().unwrap_or(0)
    };
    let before = qp_gets();
    let again = pass(&s).await;
    assert_eq!(qp_gets(), before, "no GET for the published copy: {again}");
    assert!(
        intact(&linked) && intact(&hard),
        "still untouched on a second pass"
    );

    // A symlinked lock file is refused, and its target left alone.
    let tmp2 = tempfile::tempdir().unwrap();
    let lock_victim = victim("lock");
    std::fs::create_dir_all(tmp2.path()).unwrap();
    std::os::unix::fs::symlink(&lock_victim, tmp2.path().join(".dds-backup-sync.lock")).unwrap();
    let api = commands::api_client(&s).await.unwrap();
    let s2 = settings(&emu, tmp2.path());
    let err = run_pass(&s2, &api, &Silent, &PassOptions::default())
        .await
        .expect_err("a symlinked lock file is refused");
    assert!(err.to_string().contains("link"), "{err}");
    assert!(intact(&lock_victim));

    // A symlinked `<dir>/<instance>` puts nothing outside the dir.
    let tmp3 = tempfile::tempdir().unwrap();
    let away = outside.join("instance");
    std::fs::create_dir_all(&away).unwrap();
    std::os::unix::fs::symlink(&away, tmp3.path().join(REPLICA)).unwrap();
    let s3 = settings(&emu, tmp3.path());
    let summary = pass(&s3).await;
    assert_eq!((summary.fetched, summary.failed), (0, 3), "{summary}");
    assert!(
        common::files_under(&away).is_empty(),
        "nothing written through the link"
    );
    assert!(
        summary.failures.iter().all(|f| f.message.contains("link")),
        "{summary:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_download_dir_may_itself_be_a_symlink() {
    let emu = emulator_with(|_| {}).await;
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    std::fs::create_dir_all(&real).unwrap();
    std::os::unix::fs::symlink(&real, tmp.path().join("data")).unwrap();
    let s = settings(&emu, &tmp.path().join("data"));
    let summary = pass(&s).await;
    assert_eq!((summary.fetched, summary.failed), (3, 0), "{summary}");
    assert!(real.join(REPLICA).join(QP).join("manifest.json").is_file());
    second_pass_gets_nothing(&s, || emu.stats().file_gets).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_never_deletes_another_configurations_copies_or_misplaced_manifests() {
    let emu = emulator_with(|_| {}).await;
    let old = "32109980";
    assert!(emu.add_backup(
        REPLICA,
        BackupRecord::new(
            old,
            OffsetDateTime::now_utc() - time::Duration::days(5),
            "old.ar",
            1000
        )
    ));
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().to_path_buf(), tmp.path().join("nested"));
    // Configuration B keeps its copies in a folder inside A's download dir.
    let sb = settings(&emu, &b);
    assert_eq!(pass(&sb).await.failed, 0);
    // The backup leaves the cloud's listing and its expiry passes: B's own copy, for B to prune.
    emu.with_dataset(|d| {
        d.instance_mut(REPLICA)
            .unwrap()
            .backups
            .retain(|r| r.backup_id != old)
    });
    let b_copy = b.join(REPLICA).join(old);
    let edit = |m: &Path| {
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(m).unwrap()).unwrap();
        v["backup"]["BackupExpireTime"] = "2020-01-01T00:00:00Z".into();
        std::fs::write(m, v.to_string()).unwrap();
    };
    edit(&b_copy.join("manifest.json"));
    // And in A's own tree, a manifest copied into a folder that is not its backup's.
    let misplaced = a.join(REPLICA).join("31111111");
    std::fs::create_dir_all(&misplaced).unwrap();
    std::fs::copy(
        b_copy.join("manifest.json"),
        misplaced.join("manifest.json"),
    )
    .unwrap();
    let sa = settings(&emu, &a);
    let summary = pass(&sa).await;
    assert_eq!(summary.pruned, 0, "{summary}");
    assert!(
        b_copy.join("manifest.json").is_file(),
        "B's copy is B's to prune"
    );
    assert!(
        misplaced.join("manifest.json").is_file(),
        "not a copy of this tool's layout"
    );
    // B itself prunes it.
    assert_eq!(pass(&sb).await.pruned, 1);
    assert!(!b_copy.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn names_that_collide_with_the_tools_own_files_are_skipped_at_the_plan() {
    let emu = emulator_with(|_| {}).await;
    for (id, name) in [
        ("32109971", "manifest.json"),
        ("32109972", "x.part"),
        ("32109973", "x.part.json"),
    ] {
        assert!(emu.add_backup(
            REPLICA,
            BackupRecord::new(id, three_hours_ago(), name, 1000)
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    let summary = pass(&s).await;
    assert_eq!((summary.fetched, summary.failed), (3, 0), "{summary}");
    assert_eq!(summary.skipped, 4 + 3, "{summary}");
    second_pass_gets_nothing(&s, || emu.stats().file_gets).await;
    for id in ["32109971", "32109972", "32109973"] {
        assert!(!folder(dir.path(), id).exists(), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trickling_server_is_cut_below_min_rate_and_the_backup_fails_within_its_budget() {
    // One byte every 20 ms (50 B/s) never trips the read timeout; the default min_rate does.
    let server = Scripted::start(move |_, _| {
        let stream = futures::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Some((Ok::<_, std::io::Error>(vec![0x1f]), ()))
        });
        let mut h = HeaderMap::new();
        h.insert("etag", "\"T\"".parse().unwrap());
        (StatusCode::OK, h, Body::from_stream(stream)).into_response()
    })
    .await;
    let emu = emulator_with(|c| c.public_url_base = Some(server.url.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.download.read_timeout = Duration::from_secs(1);
    s.download.retry.max_attempts = 2;
    let started = std::time::Instant::now();
    let summary = tokio::time::timeout(Duration::from_secs(30), pass(&s))
        .await
        .expect("a trickle must not hold the pass for ever");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(summary.failed, 3, "{summary}");
    for f in &summary.failures {
        assert_eq!(f.kind, "too_slow", "{f:?}");
        assert!(f.message.contains("min_rate"), "{}", f.message);
    }
    // What did arrive is kept for a resume.
    assert!(!common::files_ending(dir.path(), ".part").is_empty());
}
