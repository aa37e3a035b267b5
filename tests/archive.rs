//! The archive (`[archive]`) against a real S3 server: Garage on loopback (one node, and a
//! three-node cluster with replication 3), the emulator as the cloud. Uploads and re-runs, a
//! kill -9 in the middle of a multipart upload, the archive's retention over a simulated year,
//! `--verify --archive` finding a corrupted object, `download.keep_local`, a wrong key, and a
//! node lost during an upload.
//!
//! Garage is a test server only (AGPL, run as a separate process, never linked). Without the
//! `garage` binary on PATH each test says so and returns, unless `DDS_REQUIRE_GARAGE=1` or `CI` is set (then it fails).

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dds_backup_sync::archive::{Archive, ArchiveSettings};
use dds_backup_sync::config::{Network, Settings};
use dds_backup_sync::model::{BackupKey, Manifest, Remote, Target};
use dds_backup_sync::secret::Secret;
use dds_backup_sync::sync::report::Summary;
use dds_backup_sync::{commands, http};
use dds_emulator::data::{DEMO_CLUSTER, DEMO_CLUSTER_SHARDS};
use dds_emulator::garage::Garage;
use dds_emulator::{Emulator, Instance};
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use time::OffsetDateTime;

const ID: &str = "archive-key-id";
const SECRET: &str = "archive-key-secret";
const REPLICA: &str = "dds-demo-replica";
const PREFIX: &str = "mongo/prod";
const MIB: u64 = 1024 * 1024;

/// A started Garage, or `None` (with a note) when the binary is absent and CI does not ask.
fn garage(dir: &Path) -> Option<Garage> {
    if dds_emulator::garage::binary().is_none() {
        assert!(
            std::env::var("DDS_REQUIRE_GARAGE").as_deref() != Ok("1"),
            "DDS_REQUIRE_GARAGE=1 but garage is not on PATH"
        );
        dds_emulator::tools::unavailable(
            "archive",
            "garage is not on PATH (cargo install --locked garage@2.5.0)",
        );
        return None;
    }
    Some(Garage::start(dir).expect("garage starts"))
}

fn archive_settings(g: &Garage) -> ArchiveSettings {
    ArchiveSettings {
        url: format!("s3://{}/{PREFIX}", g.bucket()),
        bucket: g.bucket().to_string(),
        prefix: PREFIX.into(),
        endpoint: Some(g.endpoint()),
        region: g.region().to_string(),
        path_style: true,
        access_key_id: g.access_key_id().to_string(),
        secret_access_key: Secret::new(g.secret_access_key()),
        part_size: 5 * MIB,
        uploads: 2,
        prune: None,
    }
}

/// A raw S3 client on the same bucket, for what the test itself looks at or breaks.
fn raw(g: &Garage) -> Arc<dyn ObjectStore> {
    http::install_crypto_provider();
    Arc::new(
        AmazonS3Builder::new()
            .with_bucket_name(g.bucket())
            .with_region(g.region())
            .with_endpoint(g.endpoint())
            .with_allow_http(true)
            .with_access_key_id(g.access_key_id())
            .with_secret_access_key(g.secret_access_key())
            .build()
            .unwrap(),
    )
}

async fn names(store: &dyn ObjectStore) -> Vec<String> {
    let mut out: Vec<String> = store
        .list(None)
        .map(|m| m.unwrap().location.to_string())
        .collect()
        .await;
    out.sort();
    out
}

/// What most tests start from: a scratch folder, Garage, the emulator, the download dir.
struct World {
    _tmp: tempfile::TempDir,
    g: Garage,
    emu: Emulator,
    dir: std::path::PathBuf,
}

async fn world() -> Option<World> {
    let tmp = tempfile::tempdir().unwrap();
    let g = garage(&tmp.path().join("garage"))?;
    let emu = emulator(None).await;
    let dir = tmp.path().join("data");
    Some(World {
        _tmp: tmp,
        g,
        emu,
        dir,
    })
}

async fn emulator(extra: Option<Instance>) -> Emulator {
    common::world::emulator(ID, SECRET, extra).await
}

/// The demo replica set (three downloadable backups, the biggest 2.5 MiB) into `dir`.
fn settings(emu: &Emulator, dir: &Path, g: &Garage) -> Settings {
    let mut s = common::world::settings(emu, ID, SECRET, dir);
    s.instances.truncate(1);
    s.archive = Some(archive_settings(g));
    s
}

async fn pass(s: &Settings) -> Summary {
    common::world::pass(s).await
}

fn local_manifests(dir: &Path) -> Vec<Manifest> {
    common::files_ending(dir, "manifest.json")
        .iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect()
}

async fn object_sha(store: &dyn ObjectStore, name: &str) -> String {
    let bytes = store
        .get(&ObjectPath::from(name))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    common::sha256_hex(&bytes)
}

fn object_name(m: &Manifest) -> String {
    let node = m
        .node_id
        .as_ref()
        .map(|n| format!("{n}/"))
        .unwrap_or_default();
    format!(
        "{PREFIX}/{}/{node}{}/{}",
        m.instance_id, m.backup.backup_id, m.file
    )
}

#[tokio::test]
async fn a_pass_uploads_every_copy_and_a_second_uploads_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(g) = garage(&tmp.path().join("garage")) else {
        return;
    };
    let store = raw(&g);
    // Objects that are not this tool's: outside the prefix, and inside it without a manifest.
    for other in ["other/keep.bin", "mongo/prod-old/x", "mongo/prod/notes.txt"] {
        store
            .put(&ObjectPath::from(other), PutPayload::from_static(b"theirs"))
            .await
            .unwrap();
    }
    let emu = emulator(None).await;
    let dir = tmp.path().join("data");
    let s = settings(&emu, &dir, &g);
    let first = pass(&s).await;
    assert!(first.ok(), "{first}: {:?}", first.failures);
    assert_eq!(first.archived, 3, "{first}");
    let manifests = local_manifests(&dir);
    assert_eq!(manifests.len(), 3);
    for m in &manifests {
        let name = object_name(m);
        assert_eq!(object_sha(store.as_ref(), &name).await, m.sha256, "{name}");
        let archived: Manifest = serde_json::from_slice(
            &store
                .get(&ObjectPath::from(format!(
                    "{}/manifest.json",
                    name.rsplit_once('/').unwrap().0
                )))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(archived.sha256, m.sha256);
    }
    let before: Vec<_> = store
        .list(Some(&ObjectPath::from(PREFIX)))
        .map(|m| {
            let m = m.unwrap();
            (m.location.to_string(), m.last_modified, m.e_tag)
        })
        .collect()
        .await;
    let second = pass(&s).await;
    assert!(second.ok(), "{second}");
    assert_eq!(second.archived, 0, "{second}");
    let after: Vec<_> = store
        .list(Some(&ObjectPath::from(PREFIX)))
        .map(|m| {
            let m = m.unwrap();
            (m.location.to_string(), m.last_modified, m.e_tag)
        })
        .collect()
        .await;
    assert_eq!(before, after, "a re-run rewrote objects");
    let all = names(store.as_ref()).await;
    for other in ["other/keep.bin", "mongo/prod-old/x", "mongo/prod/notes.txt"] {
        assert!(
            all.contains(&other.to_string()),
            "{other} was touched: {all:?}"
        );
    }
}

#[tokio::test]
async fn keep_local_lets_archived_copies_go_and_they_are_not_fetched_again() {
    let Some(World { _tmp, g, emu, dir }) = world().await else {
        return;
    };
    let mut s = settings(&emu, &dir, &g);
    // The demo's backups are days old: every copy but the newest goes once archived.
    s.download.keep_local = Some(Duration::from_secs(3600));
    let first = pass(&s).await;
    assert!(first.ok(), "{first}: {:?}", first.failures);
    assert_eq!(first.archived, 3);
    assert_eq!(first.pruned, 2, "{first}");
    assert_eq!(local_manifests(&dir).len(), 1);
    // What the pass hands the metrics (the copies it read once, kept up to date through its
    // downloads and prunes) is what the disk holds.
    let scanned =
        dds_backup_sync::model::Holdings::of(&dds_backup_sync::store::Store::new(&dir).scan());
    assert_eq!(first.local.as_ref(), Some(&scanned));
    assert_eq!(scanned.newest.values().map(|v| v.1).sum::<u64>(), 1);
    let served = emu.stats().file_gets;
    let second = pass(&s).await;
    assert!(second.ok(), "{second}");
    assert_eq!(
        (second.fetched, second.archived, second.up_to_date),
        (0, 0, 3),
        "{second}"
    );
    assert_eq!(
        emu.stats().file_gets,
        served,
        "an archived backup was downloaded again"
    );
    assert_eq!(
        raw_count(&g).await,
        6,
        "three copies, each a data object and a manifest"
    );
}

async fn raw_count(g: &Garage) -> usize {
    names(raw(g).as_ref()).await.len()
}

#[tokio::test]
async fn a_wrong_archive_key_fails_the_pass_and_lets_nothing_go() {
    let Some(World { _tmp, g, emu, dir }) = world().await else {
        return;
    };
    let mut s = settings(&emu, &dir, &g);
    s.download.keep_local = Some(Duration::from_secs(1));
    if let Some(a) = &mut s.archive {
        a.secret_access_key = Secret::new("not-the-secret");
    }
    let summary = pass(&s).await;
    assert!(!summary.ok());
    assert!(
        summary.failures.iter().any(|f| f.kind == "archive"),
        "{:?}",
        summary.failures
    );
    assert_eq!(
        summary.fetched, 3,
        "the downloads go on without the archive"
    );
    assert_eq!(
        local_manifests(&dir).len(),
        3,
        "nothing let go for an archive not seen"
    );
    let text = format!("{:?} {summary}", summary.failures);
    assert!(!text.contains("not-the-secret"), "{text}");
}

/// A copy in the archive for the year test: one small file per day, expired by the cloud a
/// week after it was taken.
fn year_manifest(day: OffsetDateTime, content: &[u8]) -> Manifest {
    let id = format!("{}", 50_000_000 + (day.unix_timestamp() / 86_400));
    let mut m: Manifest = serde_json::from_value(serde_json::json!({
        "format": 1,
        "instance_id": "dds-year",
        "node_id": null,
        "backup": {
            "BackupId": id, "BackupJobId": null, "BackupStatus": "Success", "BackupType": null,
            "BackupMethod": "Physical", "BackupMode": null,
            "BackupStartTime": null, "BackupEndTime": null, "BackupExpireTime": null,
            "BackupSize": content.len(), "BackupDBNames": null, "BackupName": null,
            "BackupScale": null, "IsAvail": true, "EngineVersion": null
        },
        "file": format!("hins_{id}_qp.xb"),
        "size": content.len(),
        "sha256": common::sha256_hex(content),
        "crc64": "0",
        "crc64_checked": false,
        "downloaded_at": "2026-01-01T00:00:00Z",
        "verified_at": "2026-01-01T00:00:00Z"
    }))
    .unwrap();
    m.backup.backup_end_time = Some(day);
    m.backup.backup_start_time = Some(day);
    m.backup.backup_expire_time = Some(day + time::Duration::days(7));
    m
}

#[tokio::test]
async fn the_archives_tiers_over_a_simulated_year_keep_7_daily_4_weekly_12_monthly() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(g) = garage(&tmp.path().join("garage")) else {
        return;
    };
    let archive = Archive::new(&archive_settings(&g)).unwrap();
    let now = time::macros::datetime!(2026-12-01 12:00 UTC);
    let local = tmp.path().join("copies");
    std::fs::create_dir_all(&local).unwrap();
    let days: Vec<OffsetDateTime> = (0..400)
        .map(|n| time::macros::datetime!(2026-12-01 02:00 UTC) - time::Duration::days(n))
        .collect();
    let throttle = dds_backup_sync::throttle::Throttle::unlimited();
    let cancel = tokio_util::sync::CancellationToken::new();
    futures::stream::iter(&days)
        .map(|day| {
            let (archive, local, throttle, cancel) = (&archive, &local, &throttle, &cancel);
            async move {
                let content = format!("backup of {day}");
                let m = year_manifest(*day, content.as_bytes());
                let file = local.join(&m.file);
                std::fs::write(&file, &content).unwrap();
                let data = std::fs::File::open(&file).unwrap();
                let len = data.metadata().unwrap().len();
                archive
                    .upload((data, len), &file, &m, None, throttle, cancel)
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    let mut listing = archive.list().await.unwrap();
    assert_eq!(listing.copies.len(), 400);
    let rules = dds_backup_sync::sync::prune::Rules {
        keep_daily: 7,
        keep_weekly: 4,
        keep_monthly: 12,
        ..rules_off()
    };
    // Asked by id, the cloud said it no longer has them: their recorded expiries stand.
    let gone = listing
        .copies
        .iter()
        .map(|a| (a.key.clone(), None))
        .collect();
    let remote = Remote {
        targets: [Target {
            instance_id: "dds-year".into(),
            node_id: None,
            cluster: false,
        }]
        .into(),
        confirmed: gone,
        ..Remote::default()
    };
    let zone = dds_backup_sync::schedule::Zone::default();
    let decisions = dds_backup_sync::sync::offsite::plan::retention(
        &listing,
        &dds_backup_sync::sync::offsite::plan::Rules {
            rules: &rules,
            remote: &remote,
            zone,
            now,
        },
    );
    let remove: Vec<BackupKey> = decisions
        .iter()
        .filter(|d| d.keep.is_empty())
        .map(|d| d.key.clone())
        .collect();
    let mut summary = Summary::default();
    dds_backup_sync::sync::offsite::remove_all(&archive, &mut listing, &remove, &mut summary).await;
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    // Expected, worked out by hand from the calendar (restic: each rule walks all copies,
    // newest first, on its own):
    // - daily 7: Nov 25 .. Dec 1 (also the ones the cloud has not expired yet);
    // - weekly 4: the newest of ISO weeks 49 (Dec 1, a Tuesday), 48 (Sun Nov 29), 47 (Sun Nov
    //   22), 46 (Sun Nov 15): two more;
    // - monthly 12: Dec 1, Nov 30, then the last day of October back to January: ten more.
    let mut expected: Vec<String> = (0..7)
        .map(|n| (time::macros::date!(2026 - 12 - 01) - time::Duration::days(n)).to_string())
        .collect();
    expected.extend(["2026-11-22", "2026-11-15"].map(String::from));
    expected.extend(
        [
            "2026-10-31",
            "2026-09-30",
            "2026-08-31",
            "2026-07-31",
            "2026-06-30",
            "2026-05-31",
            "2026-04-30",
            "2026-03-31",
            "2026-02-28",
            "2026-01-31",
        ]
        .map(String::from),
    );
    assert_eq!(expected.len(), 19);
    expected.sort();
    let fresh = archive.list().await.unwrap();
    let mut kept: Vec<String> = fresh
        .copies
        .iter()
        .map(|a| {
            a.manifest
                .backup
                .backup_end_time
                .unwrap()
                .date()
                .to_string()
        })
        .collect();
    kept.sort();
    assert_eq!(kept, expected);
    // The data objects of removed copies went with their manifests.
    assert_eq!(raw_count(&g).await, 2 * expected.len());
}

fn rules_off() -> dds_backup_sync::sync::prune::Rules {
    dds_backup_sync::sync::prune::Rules {
        grace: Duration::ZERO,
        keep_last: 0,
        keep_daily: 0,
        keep_weekly: 0,
        keep_monthly: 0,
        keep_yearly: 0,
        keep_within: None,
    }
}

/// `[archive]` on Garage `g`, under [`PREFIX`], as a config file has it.
fn archive_toml(g: &Garage) -> String {
    format!(
        "[archive]\nurl = \"s3://{}/{PREFIX}\"\nendpoint = \"{}\"\nregion = \"{}\"\n\
         path_style = true\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"",
        g.bucket(),
        g.endpoint(),
        g.region(),
        g.access_key_id(),
        g.secret_access_key()
    )
}

/// The binary with `args` on `config`, warnings and errors logged; its output.
async fn run_binary(home: &Path, config: &Path, args: &[&str]) -> std::process::Output {
    common::world::run(home, config, args, "warn").await
}

/// The config file the binary tests run with: the emulator, the archive in Garage.
fn config_file(
    dir: &Path,
    emu: &Emulator,
    instance: &str,
    g: &Garage,
    extra: &str,
) -> std::path::PathBuf {
    let data = dir.join("data");
    common::write_config(
        dir,
        &common::ConfigText::api(&emu.base_url(), ID, SECRET)
            .with("max_retry_time = \"20s\"")
            .instance(instance, &[])
            .download(&data)
            .with(extra)
            .with(&archive_toml(g))
            .with("part_size = \"5MiB\"\nuploads = 1")
            .text(),
        0o600,
    )
}

#[tokio::test]
async fn a_kill_during_a_multipart_upload_leaves_no_copy_and_a_clean_run_finishes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(g) = garage(&tmp.path().join("garage")) else {
        return;
    };
    let big = Instance::replica_set("dds-big").with_generated(
        1,
        77_000_000,
        OffsetDateTime::now_utc(),
        24 * MIB,
    );
    let emu = emulator(Some(big)).await;
    // 24 MiB at 8 MiB/s: the download takes about 3 s, the upload (five parts) as long.
    let config = config_file(
        tmp.path(),
        &emu,
        "dds-big",
        &g,
        "bandwidth_limit = \"8MiB\"",
    );
    let log = tmp.path().join("stderr.log");
    let mut child = common::binary(tmp.path())
        .args(["--config", config.to_str().unwrap(), "--sync-now"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = common::poll(Duration::from_secs(60), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("uploading to the archive"))
    })
    .await;
    assert!(
        started,
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // Garage counts the multipart upload once it is created: kill -9 (by the child's PID)
    // while it is unfinished.
    let store = raw(&g);
    let in_flight = common::poll(Duration::from_secs(30), || {
        g.bucket_info()
            .is_ok_and(|t| t.contains("Unfinished uploads:") && !t.contains("\t0 multipart"))
    })
    .await;
    assert!(in_flight, "{}", g.bucket_info().unwrap_or_default());
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let left = names(store.as_ref()).await;
    assert!(
        child_was_uploading(&log),
        "the kill came after the upload finished: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(
        left.is_empty(),
        "a killed upload left objects that could pass for a copy: {left:?}"
    );
    let out = common::binary(tmp.path())
        .args(["--config", config.to_str().unwrap(), "--sync-now"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifests = local_manifests(&tmp.path().join("data"));
    assert_eq!(manifests.len(), 1);
    assert_eq!(
        object_sha(store.as_ref(), &object_name(&manifests[0])).await,
        manifests[0].sha256
    );
    assert_eq!(names(store.as_ref()).await.len(), 2);
}

/// The log of a run killed mid-upload says it started uploading and never that it finished.
fn child_was_uploading(log: &Path) -> bool {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.contains("uploading to the archive") && !text.contains(" archived")
}

#[tokio::test]
async fn verify_archive_finds_a_corrupted_object_and_the_next_pass_uploads_it_again() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(g) = garage(&tmp.path().join("garage")) else {
        return;
    };
    let emu = emulator(None).await;
    let config = config_file(tmp.path(), &emu, REPLICA, &g, "");
    let run = |args: &'static [&'static str]| {
        let config = config.clone();
        let home = tmp.path().to_path_buf();
        async move {
            common::binary(&home)
                .arg("--config")
                .arg(&config)
                .args(args)
                .output()
                .await
                .unwrap()
        }
    };
    assert!(run(&["--sync-now"]).await.status.success());
    let clean = run(&["--verify", "--archive"]).await;
    let text = String::from_utf8_lossy(&clean.stdout).to_string();
    assert_eq!(clean.status.code(), Some(0), "{text}");
    assert!(text.contains("3 copies checked, 0 problems"), "{text}");
    // One byte changed in one archived object, its size the same.
    let manifests = local_manifests(&tmp.path().join("data"));
    let victim = &manifests[0];
    let name = ObjectPath::from(object_name(victim));
    let store = raw(&g);
    let mut bytes = store
        .get(&name)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    bytes[100] ^= 0xff;
    store.put(&name, PutPayload::from(bytes)).await.unwrap();
    let found = run(&["--verify", "--archive"]).await;
    let text = String::from_utf8_lossy(&found.stdout).to_string();
    assert_eq!(found.status.code(), Some(1), "{text}");
    assert!(
        text.contains("PROBLEM") && text.contains(&victim.backup.backup_id),
        "{text}"
    );
    assert!(text.contains("MARKED"), "{text}");
    let again = run(&["--sync-now"]).await;
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        object_sha(store.as_ref(), name.as_ref()).await,
        victim.sha256
    );
    let after = run(&["--verify", "--archive"]).await;
    assert_eq!(
        after.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&after.stdout)
    );
}

#[tokio::test]
async fn a_three_node_cluster_that_loses_a_node_during_an_upload_still_completes_it() {
    let tmp = tempfile::tempdir().unwrap();
    if dds_emulator::garage::binary().is_none() {
        garage(tmp.path());
        return;
    }
    let mut cluster = Garage::start_cluster(&tmp.path().join("garage"), 3).expect("cluster starts");
    let big = Instance::replica_set("dds-big").with_generated(
        1,
        77_000_000,
        OffsetDateTime::now_utc(),
        24 * MIB,
    );
    let emu = emulator(Some(big)).await;
    let dir = tmp.path().join("data");
    let mut s = settings(&emu, &dir, &cluster);
    s.instances[0].id = "dds-big".into();
    s.download.bandwidth = dds_backup_sync::rate::Limit::Fixed(8 * MIB);
    let running = tokio::spawn({
        let s = s.clone();
        async move { pass(&s).await }
    });
    // The local manifest is written just before the upload starts.
    let published = common::poll(Duration::from_secs(60), || {
        !common::files_ending(&dir, "manifest.json").is_empty()
    })
    .await;
    assert!(published);
    cluster.stop_node(2).unwrap();
    let summary = running.await.unwrap();
    assert!(summary.ok(), "{summary}: {:?}", summary.failures);
    assert_eq!(summary.archived, 1);
    let m = &local_manifests(&dir)[0];
    assert_eq!(
        object_sha(raw(&cluster).as_ref(), &object_name(m)).await,
        m.sha256
    );
}

#[tokio::test]
async fn dry_run_and_prune_plan_say_what_the_archive_would_do_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(g) = garage(&tmp.path().join("garage")) else {
        return;
    };
    let emu = emulator(None).await;
    let config = config_file(tmp.path(), &emu, REPLICA, &g, "");
    // The archive's own rules: the newest copy, and (as on disk) what the cloud still holds.
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("[archive.prune]\nkeep_last = 1\n");
    std::fs::write(&config, text).unwrap();
    let run = |args: &'static [&'static str]| {
        let (config, home) = (config.clone(), tmp.path().to_path_buf());
        async move {
            let out = common::binary(&home)
                .arg("--config")
                .arg(&config)
                .args(args)
                .output()
                .await
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).to_string()
        }
    };
    let store = raw(&g);
    let before = run(&["--dry-run"]).await;
    assert!(
        before.contains("archive 0 copies there, 0 to upload"),
        "{before}"
    );
    assert!(
        names(store.as_ref()).await.is_empty(),
        "a dry run sent something"
    );
    // Only the archive is changed by hand: one copy's manifest gone.
    let mut s = settings(&emu, &tmp.path().join("data"), &g);
    s.archive.as_mut().unwrap().prune = None;
    assert!(pass(&s).await.ok());
    let victim = local_manifests(&tmp.path().join("data")).remove(0);
    let data = object_name(&victim);
    let manifest = format!("{}/manifest.json", data.rsplit_once('/').unwrap().0);
    store.delete(&ObjectPath::from(manifest)).await.unwrap();
    let objects = names(store.as_ref()).await;
    let plan = run(&["--dry-run"]).await;
    assert!(
        plan.contains(&format!("upload  {REPLICA}/{}", victim.backup.backup_id)),
        "{plan}"
    );
    assert!(
        plan.contains("archive 2 copies there, 1 to upload"),
        "{plan}"
    );
    assert!(
        plan.lines().any(|l| l.starts_with("archive: keep    ")),
        "{plan}"
    );
    let retention = run(&["--prune-plan"]).await;
    assert!(
        !retention.contains("fetch ") && !retention.contains("upload "),
        "{retention}"
    );
    assert_eq!(
        retention
            .lines()
            .filter(|l| l.starts_with("keep    "))
            .count(),
        3,
        "{retention}"
    );
    assert!(
        retention.contains("archive: keep    ") && retention.contains("last 1"),
        "{retention}"
    );
    // The archive's plan is the pass's: read against what it holds once the upload is done.
    assert!(
        retention.contains("archive: total   3 copies: 3 to keep, 0 to remove"),
        "{retention}"
    );
    assert_eq!(
        names(store.as_ref()).await,
        objects,
        "a plan changed the archive"
    );
    let check = common::binary(tmp.path())
        .arg("--config")
        .arg(&config)
        .arg("--check")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains(&format!(
            "OK   archive: s3://{}/{PREFIX} lists: 2 copies there",
            g.bucket()
        )),
        "{text}"
    );
}

#[tokio::test]
async fn a_copy_the_archive_never_got_is_not_pruned_until_it_has_it() {
    const TGZ: &str = "32102002";
    let Some(World { _tmp, g, emu, dir }) = world().await else {
        return;
    };
    let mut s = settings(&emu, &dir, &g);
    let secret = s.archive.as_ref().unwrap().secret_access_key.clone();
    s.archive.as_mut().unwrap().secret_access_key = Secret::new("not-the-secret");
    let first = pass(&s).await;
    assert_eq!((first.fetched, first.archived), (3, 0), "{first}");
    // The cloud lets the `.tar.gz` backup go (it is not the newest): local retention would
    // remove it, but the archive (still unreachable) never got it.
    let past = OffsetDateTime::now_utc() - time::Duration::days(2);
    emu.with_dataset(|d| d.backup_mut(TGZ).unwrap().expire = past);
    let second = pass(&s).await;
    assert_eq!(second.pruned, 0, "{second}");
    let tgz = dir.join(REPLICA).join(TGZ);
    assert!(
        tgz.join("manifest.json").exists(),
        "pruned before the archive had it"
    );
    // The archive is back: the copy goes up first, then it is pruned here.
    s.archive.as_mut().unwrap().secret_access_key = secret;
    let third = pass(&s).await;
    assert!(third.ok(), "{third}: {:?}", third.failures);
    assert_eq!((third.archived, third.pruned), (3, 1), "{third}");
    assert!(!tgz.exists());
    let archive = Archive::new(s.archive.as_ref().unwrap()).unwrap();
    let listing = archive.list().await.unwrap();
    assert!(listing.copies.iter().any(|a| a.key.backup_id == TGZ));
}

/// The demo's sharded cluster (`dds-demo-cluster`, cluster-backup mode, in Shanghai),
/// discovered, into `dir`: one complete cluster backup of two nodes to copy.
fn cluster_settings(emu: &Emulator, dir: &Path, g: &Garage) -> Settings {
    let mut s = settings(emu, dir, g);
    s.instances.clear();
    s.discover = vec![common::discover_block(&emu.base_url(), "cn-shanghai")];
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_backup_is_sealed_in_the_archive_after_its_nodes_and_pruned_with_its_seal() {
    let Some(World { _tmp, g, emu, dir }) = world().await else {
        return;
    };
    let mut s = cluster_settings(&emu, &dir, &g);
    let store = raw(&g);
    let unit = format!("{PREFIX}/{DEMO_CLUSTER}/cb-demo0cluster00001");
    let seal = ObjectPath::from(format!("{unit}/cluster-manifest.json"));
    let first = pass(&s).await;
    assert!(first.ok(), "{first}: {:?}", first.failures);
    assert_eq!((first.fetched, first.archived), (2, 2), "{first}");
    let local: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            dir.join(DEMO_CLUSTER)
                .join("cb-demo0cluster00001")
                .join("cluster-manifest.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let archived: serde_json::Value =
        serde_json::from_slice(&store.get(&seal).await.unwrap().bytes().await.unwrap()).unwrap();
    assert_eq!(archived, local, "the archive's seal is the local one");
    // Written after every node's manifest.
    let sealed_at = store.head(&seal).await.unwrap().last_modified;
    for node in DEMO_CLUSTER_SHARDS {
        let name = format!("{unit}/{node}/");
        let node_manifest = names(store.as_ref())
            .await
            .into_iter()
            .find(|n| n.starts_with(&name) && n.ends_with("/manifest.json"))
            .unwrap_or_else(|| panic!("no manifest under {name}"));
        let at = store
            .head(&ObjectPath::from(node_manifest))
            .await
            .unwrap()
            .last_modified;
        assert!(at <= sealed_at, "the seal went up before node {node}");
    }
    let etag = store.head(&seal).await.unwrap().e_tag;
    let second = pass(&s).await;
    assert!(second.ok(), "{second}");
    assert_eq!(second.archived, 0, "{second}");
    assert_eq!(
        store.head(&seal).await.unwrap().e_tag,
        etag,
        "the seal was rewritten"
    );
    // A node's object rots in the archive: the scrub withdraws the seal, and the next pass
    // uploads the node again and seals the cluster backup anew.
    let node_data = names(store.as_ref())
        .await
        .into_iter()
        .find(|n| {
            n.starts_with(&format!("{unit}/{}/", DEMO_CLUSTER_SHARDS[1])) && !n.ends_with(".json")
        })
        .unwrap();
    store
        .put(
            &ObjectPath::from(node_data),
            PutPayload::from_static(b"rotten"),
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    let code = commands::verify_archive::verify_archive(&s, &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("MARKED"), "{text}");
    assert!(store.head(&seal).await.is_err(), "the seal stayed: {text}");
    let healed = pass(&s).await;
    assert!(healed.ok(), "{healed}: {:?}", healed.failures);
    assert_eq!(healed.archived, 1, "{healed}");
    let resealed: serde_json::Value =
        serde_json::from_slice(&store.get(&seal).await.unwrap().bytes().await.unwrap()).unwrap();
    assert_eq!(resealed["nodes"], local["nodes"]);
    let mut out = Vec::new();
    let code = commands::verify_archive::verify_archive(&s, &mut out)
        .await
        .unwrap();
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out));
    // The cloud lets the cluster backup go and no rule keeps it: it leaves the archive whole,
    // its seal with it.
    emu.with_dataset(|d| {
        let inst = d.instance_mut(DEMO_CLUSTER).unwrap();
        for cb in &mut inst.cluster_backups {
            cb.expire = OffsetDateTime::now_utc() - time::Duration::hours(1);
        }
    });
    s.prune.rules.keep_last = 0;
    s.archive.as_mut().unwrap().prune = Some(dds_backup_sync::config::PruneSettings {
        enabled: true,
        rules: dds_backup_sync::sync::prune::Rules {
            keep_last: 0,
            grace: Duration::ZERO,
            ..s.prune.rules
        },
    });
    let third = pass(&s).await;
    assert!(third.ok(), "{third}: {:?}", third.failures);
    let left: Vec<String> = names(store.as_ref())
        .await
        .into_iter()
        .filter(|n| n.starts_with(&unit))
        .collect();
    assert!(left.is_empty(), "left in the archive: {left:?}");
}

#[tokio::test]
async fn list_says_what_the_archive_holds_and_shows_the_copies_the_cloud_no_longer_lists() {
    const OLDEST: &str = "32102003";
    let Some(World { _tmp, g, emu, dir }) = world().await else {
        return;
    };
    let mut s = settings(&emu, &dir, &g);
    s.download.keep_local = Some(Duration::from_secs(3600));
    let first = pass(&s).await;
    assert!(first.ok(), "{first}: {:?}", first.failures);
    // The cloud forgets its oldest backup: only the archive has it now.
    emu.with_dataset(|d| {
        d.instance_mut(REPLICA)
            .unwrap()
            .backups
            .retain(|b| b.backup_id != OLDEST)
    });
    let mut out = Vec::new();
    let code = commands::list::list(&s, false, &mut out).await.unwrap();
    let table = String::from_utf8(out).unwrap();
    assert_eq!(code, 0, "{table}");
    let row = |id: &str| {
        table
            .lines()
            .find(|l| l.trim_start().starts_with(id))
            .unwrap_or_else(|| panic!("no row {id}: {table}"))
            .to_string()
    };
    assert!(table.contains("ARCHIVE"), "{table}");
    // The newest stays here and is archived; the middle one is only archived now.
    assert!(row("32102001").contains("yes    yes"), "{table}");
    assert!(row("32102002").contains("no     yes"), "{table}");
    assert!(
        table.contains("== archive s3://backups/mongo/prod: 1 copy the cloud no longer lists"),
        "{table}"
    );
    assert!(
        row(&format!("{REPLICA}/{OLDEST}")).contains("ok"),
        "{table}"
    );

    let mut out = Vec::new();
    commands::list::list(&s, true, &mut out).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let targets = json.as_array().unwrap();
    let backups = targets[0]["backups"].as_array().unwrap();
    let archived = |id: &str| {
        backups
            .iter()
            .find(|b| b["BackupId"] == id)
            .map(|b| b["archived"].clone())
    };
    assert_eq!(archived("32102001"), Some(true.into()), "{json}");
    assert_eq!(archived("32102002"), Some(true.into()), "{json}");
    assert_eq!(
        archived("32102004"),
        Some(false.into()),
        "a failed backup: {json}"
    );
    let archive = targets.iter().find(|t| t["archive"].is_string()).unwrap();
    assert_eq!(archive["backups"][0]["BackupId"], OLDEST, "{json}");
    assert_eq!(archive["backups"][0]["instance"], REPLICA, "{json}");

    // An archive that cannot be listed is said, and the exit code is 1.
    s.archive.as_mut().unwrap().secret_access_key = Secret::new("not-the-secret");
    let mut out = Vec::new();
    let code = commands::list::list(&s, false, &mut out).await.unwrap();
    let table = String::from_utf8(out).unwrap();
    assert_eq!(code, 1, "{table}");
    assert!(
        table.contains("== archive s3://backups/mongo/prod\n   error: "),
        "{table}"
    );
    assert!(!table.contains("not-the-secret"));
}

#[tokio::test]
async fn dry_run_says_a_cluster_backup_is_sealed_in_the_archive_after_its_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(g) = garage(&tmp.path().join("garage")) else {
        return;
    };
    let emu = emulator(None).await;
    let data = tmp.path().join("data");
    // The demo cluster, discovered, downloaded once with the archive out of reach.
    let mut s = cluster_settings(&emu, &data, &g);
    s.archive.as_mut().unwrap().secret_access_key = Secret::new("not-the-secret");
    let first = pass(&s).await;
    assert_eq!((first.fetched, first.archived), (2, 0), "{first}");
    let config = common::write_config(
        tmp.path(),
        &common::ConfigText::api(&emu.base_url(), ID, SECRET)
            .with(&format!(
                "[[discover]]\nregion_id = \"cn-shanghai\"\nendpoint = \"{}\"\n\
                 id_pattern = \"{DEMO_CLUSTER}\"\nlookback = \"30d\"",
                emu.base_url()
            ))
            .download(&data)
            .with(&archive_toml(&g))
            .text(),
        0o600,
    );
    let out = common::binary(tmp.path())
        .arg("--config")
        .arg(&config)
        .arg("--dry-run")
        .output()
        .await
        .unwrap();
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unit = format!("{DEMO_CLUSTER}/cb-demo0cluster00001");
    for node in DEMO_CLUSTER_SHARDS {
        assert!(plan.contains(&format!("upload  {unit}/{node}")), "{plan}");
    }
    assert!(
        plan.contains(&format!(
            "seal    {unit}  cluster-manifest.json to the archive, after its 2 nodes"
        )),
        "{plan}"
    );
    assert!(
        names(raw(&g).as_ref()).await.is_empty(),
        "a dry run sent something"
    );
}

#[tokio::test]
async fn a_copy_whose_data_object_is_gone_is_not_archived_and_is_uploaded_again() {
    // Issue #21.2: a lifecycle rule (or a person) deleted the data object and left its
    // manifest; keep_local let the last local copy go on the manifest's word alone.
    let Some(World { _tmp, g, emu, dir }) = world().await else {
        return;
    };
    let mut s = settings(&emu, &dir, &g);
    let first = pass(&s).await;
    assert!(first.ok() && first.archived == 3, "{first}");
    let store = raw(&g);
    let manifests = local_manifests(&dir);
    // The oldest copy: keep_local would let it go (the newest always stays).
    let victim = manifests
        .iter()
        .min_by_key(|m| m.backup.backup_end_time)
        .unwrap()
        .clone();
    let data = ObjectPath::from(object_name(&victim));
    store.delete(&data).await.unwrap();

    let mut out = Vec::new();
    let code = commands::verify_archive::verify_archive(&s, &mut out)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("MARKED") && text.contains(&victim.backup.backup_id),
        "{text}"
    );

    s.download.keep_local = Some(Duration::from_secs(3600));
    let second = pass(&s).await;
    assert!(second.ok(), "{second}: {:?}", second.failures);
    assert_eq!(second.archived, 1, "the copy is uploaded again: {second}");
    assert_eq!(
        object_sha(store.as_ref(), data.as_ref()).await,
        victim.sha256
    );
}

#[tokio::test]
async fn object_names_from_the_archive_are_shown_as_data() {
    // Issue #21.13: object names under the prefix (network text) reached the log and
    // `--verify --archive` raw: a U+202E turns the rest of a line around, a U+2028 breaks it.
    let tmp = tempfile::tempdir().unwrap();
    let Some(g) = garage(&tmp.path().join("garage")) else {
        return;
    };
    let emu = emulator(None).await;
    let config = config_file(tmp.path(), &emu, REPLICA, &g, "");
    let store = raw(&g);
    for name in ["dds-\u{202e}evil", "dds-\u{2028}split"] {
        let object = ObjectPath::parse(format!("{PREFIX}/{name}/1/manifest.json")).unwrap();
        store
            .put(&object, PutPayload::from_static(b"{\"not\": \"ours\"}"))
            .await
            .unwrap();
    }
    let pass = run_binary(tmp.path(), &config, &["--sync-now"]).await;
    let verify = run_binary(tmp.path(), &config, &["--verify", "--archive"]).await;
    for out in [&pass, &verify] {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !text.contains('\u{202e}') && !text.contains('\u{2028}'),
            "{text}"
        );
    }
    let text = String::from_utf8_lossy(&verify.stdout).to_string();
    assert!(text.contains("dds-\\u{202e}evil"), "{text}");
    assert!(text.contains("dds-\\u{2028}split"), "{text}");
}

/// `[archive]` on a scripted S3 endpoint (no Garage needed).
fn scripted_archive(endpoint: &str) -> ArchiveSettings {
    ArchiveSettings {
        url: format!("s3://b/{PREFIX}"),
        bucket: "b".into(),
        prefix: PREFIX.into(),
        endpoint: Some(endpoint.into()),
        region: "us-east-1".into(),
        path_style: true,
        access_key_id: "k".into(),
        secret_access_key: Secret::new("s"),
        part_size: 5 * MIB,
        uploads: 1,
        prune: None,
    }
}

#[tokio::test]
async fn listings_that_are_no_listing_fail_and_unreadable_keys_are_skipped() {
    // Issue #21.14: a 200 with an HTML page (or IsTruncated without a token) was read as an
    // empty archive, so everything was uploaded again. Issue #21.15: one foreign key the client
    // cannot parse failed every listing, for ever.
    use axum::extract::Query;
    use std::collections::HashMap;
    http::install_crypto_provider();
    let answer = Arc::new(std::sync::Mutex::new(String::new()));
    let page = answer.clone();
    let app = axum::Router::new().fallback(move |Query(q): Query<HashMap<String, String>>| {
        let page = page.lock().unwrap().clone();
        async move {
            if q.get("list-type").map(String::as_str) == Some("2") {
                (axum::http::StatusCode::OK, page)
            } else {
                (axum::http::StatusCode::NOT_FOUND, String::new())
            }
        }
    });
    let server = common::serve(app).await;
    let archive = Archive::new(&scripted_archive(&server.url)).unwrap();
    let set = |body: &str| *answer.lock().unwrap() = body.to_string();
    let listing = |keys: &[&str], truncated: &str| {
        let contents: String = keys
            .iter()
            .map(|k| {
                format!(
                    "<Contents><Key>{k}</Key><LastModified>2026-12-01T00:00:00.000Z</LastModified>\
                     <ETag>\"e\"</ETag><Size>4</Size></Contents>"
                )
            })
            .collect();
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><Name>b</Name>\
             <Prefix>{PREFIX}/</Prefix><KeyCount>{}</KeyCount><IsTruncated>{truncated}</IsTruncated>\
             {contents}</ListBucketResult>",
            keys.len()
        )
    };

    set("<html><body><h1>Welcome to our proxy</h1></body></html>");
    let e = archive.list().await.unwrap_err().to_string();
    assert!(e.contains("not a ListBucketResult"), "{e}");
    set(&listing(&[&format!("{PREFIX}/x/1/data.ar")], "true"));
    let e = archive.list().await.unwrap_err().to_string();
    assert!(e.contains("no continuation token"), "{e}");

    set(&listing(
        &[
            &format!("{PREFIX}/../x"),
            &format!("{PREFIX}/a//b"),
            &format!("{PREFIX}/dds-1/7/f.ar"),
        ],
        "false",
    ));
    let got = archive.list().await.unwrap();
    assert!(got.copies.is_empty());
    let skipped: Vec<&str> = got.unusable.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        skipped,
        [format!("{PREFIX}/../x"), format!("{PREFIX}/a//b")],
        "{:?}",
        got.unusable
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_archive_listing_holds_no_download_it_cannot_answer_for() {
    // Issue #21.12: the archive was listed before planning, so a slow endpoint held every
    // download of the pass. Now the newest backup (never let go by keep_local) is fetched while
    // the archive's listing is still unanswered; the older ones wait for its word.
    use std::sync::atomic::{AtomicBool, Ordering};
    http::install_crypto_provider();
    let release = Arc::new(AtomicBool::new(false));
    let released_in_time = Arc::new(AtomicBool::new(false));
    let (gate, in_time) = (release.clone(), released_in_time.clone());
    let empty = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><Name>b</Name>\
         <Prefix>{PREFIX}/</Prefix><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated>\
         </ListBucketResult>"
    );
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let (gate, in_time, empty) = (gate.clone(), in_time.clone(), empty.clone());
        async move {
            if !uri.query().is_some_and(|q| q.contains("list-type=2")) {
                // Uploads are not this test's business.
                return (axum::http::StatusCode::NOT_IMPLEMENTED, String::new());
            }
            let ok = common::poll(Duration::from_secs(15), || gate.load(Ordering::Relaxed)).await;
            in_time.store(ok, Ordering::Relaxed);
            (axum::http::StatusCode::OK, empty)
        }
    });
    let server = common::serve(app).await;
    let emu = emulator(None).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = Settings::demo(&emu.base_url(), ID, SECRET, dir.path());
    s.instances.truncate(1);
    s.download.network = Network::Public;
    s.archive = Some(scripted_archive(&server.url));
    // The demo's backups are days old: all but the newest may be ones keep_local let go.
    s.download.keep_local = Some(Duration::from_secs(3600));
    let run = {
        let s = s.clone();
        tokio::spawn(async move { pass(&s).await })
    };
    // The listing is answered once a file was served (or, without the fix, never in time).
    let served = common::poll(Duration::from_secs(10), || emu.stats().file_gets >= 1).await;
    release.store(true, Ordering::Relaxed);
    let summary = run.await.unwrap();
    assert!(
        served,
        "no download while the archive's listing was unanswered"
    );
    assert!(released_in_time.load(Ordering::Relaxed));
    // Every backup fetched in the end: the empty archive holds none of the older ones.
    assert_eq!(summary.fetched, 3, "{summary}");
}

/// Rewrites the `BackupExpireTime` of the archived manifest of `backup_id` (of `REPLICA`).
async fn set_archived_expiry(store: &dyn ObjectStore, backup_id: &str, at: OffsetDateTime) {
    let name = ObjectPath::from(format!("{PREFIX}/{REPLICA}/{backup_id}/manifest.json"));
    let bytes = store.get(&name).await.unwrap().bytes().await.unwrap();
    let mut m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    m["backup"]["BackupExpireTime"] = serde_json::Value::String(
        at.format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
    );
    let text = serde_json::to_vec_pretty(&m).unwrap();
    store.put(&name, PutPayload::from(text)).await.unwrap();
}

/// Issue #21.5, the archive's side: an archived copy whose recorded expiry has passed, and
/// that the listing no longer shows, is asked about by id before the archive's retention
/// removes it. The cloud extended QP's expiry: kept; it deleted TGZ: removed on its record.
#[tokio::test]
async fn an_archived_copy_goes_on_its_recorded_expiry_only_after_the_cloud_confirms_it() {
    const QP: &str = "32102001";
    const TGZ: &str = "32102002";
    let Some(World { _tmp, g, emu, dir }) = world().await else {
        return;
    };
    let mut s = settings(&emu, &dir, &g);
    let first = pass(&s).await;
    assert!(first.ok(), "{first}: {:?}", first.failures);
    assert_eq!(first.archived, 3);
    let store = raw(&g);
    let now = OffsetDateTime::now_utc();
    emu.with_dataset(|d| {
        d.backup_mut(QP).unwrap().expire = now + time::Duration::days(300);
        d.instance_mut(REPLICA)
            .unwrap()
            .backups
            .retain(|b| b.backup_id != TGZ);
    });
    for id in [QP, TGZ] {
        set_archived_expiry(store.as_ref(), id, now - time::Duration::days(1)).await;
    }
    // A window of one hour: the demo's backups (days old) are not listed, only asked for.
    s.instances[0].lookback = Duration::from_secs(3600);
    let mut rules = s.prune.rules;
    rules.keep_last = 0;
    s.archive.as_mut().unwrap().prune = Some(dds_backup_sync::config::PruneSettings {
        enabled: true,
        rules,
    });
    let summary = pass(&s).await;
    assert!(summary.ok(), "{summary}: {:?}", summary.failures);
    let left = names(store.as_ref()).await;
    let has = |id: &str| left.iter().any(|n| n.contains(&format!("/{id}/")));
    assert!(
        !has(TGZ),
        "gone at the cloud, expired as recorded: {left:?}"
    );
    assert!(has(QP), "the cloud extended its expiry: {left:?}");
    assert_eq!(summary.archive_pruned, 1, "{summary}");
}

/// Issue #26.5: an archive that cannot be reached says so as the API's messages do
/// ("connection refused at <endpoint>"), not with the object store's retry internals.
#[tokio::test]
async fn an_unreachable_archive_says_connection_refused_at_its_endpoint() {
    http::install_crypto_provider();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let settings = ArchiveSettings {
        url: "s3://backups/p".into(),
        bucket: "backups".into(),
        prefix: "p".into(),
        endpoint: Some(endpoint.clone()),
        region: "garage".into(),
        path_style: true,
        access_key_id: "GK-unreachable".into(),
        secret_access_key: Secret::new("not-used"),
        part_size: 5 * MIB,
        uploads: 1,
        prune: None,
    };
    let archive = Archive::new(&settings).unwrap();
    let err = tokio::time::timeout(Duration::from_secs(120), archive.list())
        .await
        .expect("the listing gave up in time")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("connection refused at {endpoint}")),
        "{err}"
    );
}
