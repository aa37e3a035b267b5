//! The sync engine against the bundled emulator: every numbered step of a pass (list, plan,
//! URL choice, download with resume, verify and publish, prune, report), with real files.

mod common;

use std::path::Path;
use std::time::Duration;

use dds_backup_sync::config::{Network, Settings};
use dds_backup_sync::emulator::{self, Emulator, EmulatorConfig, Faults, OssFaults};
use dds_backup_sync::progress::Silent;
use dds_backup_sync::retry::RetryPolicy;
use dds_backup_sync::store::Store;
use dds_backup_sync::sync::report::Summary;
use dds_backup_sync::sync::{PassOptions, run_pass};
use dds_backup_sync::{app, http};

const ID: &str = "sync-key-id";
const SECRET: &str = "sync-key-secret";
/// The demo replica set's downloadable backups: `_qp.xb` (2.5 MiB), `.tar.gz`, `.ar` (forever).
const QP: &str = "32102001";
const TGZ: &str = "32102002";
const AR: &str = "32102003";

async fn emulator_with(config: impl FnOnce(&mut EmulatorConfig)) -> Emulator {
    let mut c = EmulatorConfig::demo(ID, SECRET);
    config(&mut c);
    emulator::start(c, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn settings(emu: &Emulator, dir: &Path) -> Settings {
    http::install_crypto_provider();
    let mut s = app::demo_settings(&emu.base_url(), ID, SECRET, dir);
    s.instances.truncate(1); // the replica set
    s.download.network = Network::Public;
    s.api.retry = RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        max_elapsed: Duration::from_secs(10),
    };
    s
}

async fn pass(s: &Settings) -> Summary {
    pass_with(s, &PassOptions::default()).await
}

async fn pass_with(s: &Settings, opts: &PassOptions) -> Summary {
    let api = app::api_client(s).await.unwrap();
    run_pass(s, &api, &Silent, opts).await.unwrap()
}

async fn assert_published(emu: &Emulator, dir: &Path, backup_id: &str) {
    let summary = emu.object_summary(backup_id).await.unwrap();
    let bytes = emu.object_bytes(backup_id, 0..summary.size).await.unwrap();
    let folder = dir.join("dds-demo-replica").join(backup_id);
    assert_eq!(
        std::fs::read(folder.join(&summary.name)).unwrap(),
        bytes,
        "{backup_id} content"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["size"], summary.size);
    assert_eq!(manifest["crc64"], summary.crc64.to_string());
    let sha: String = common::sha256_hex(&bytes);
    assert_eq!(manifest["sha256"], sha);
    assert_eq!(manifest["backup"]["BackupId"], backup_id);
}

fn not_published(dir: &Path, backup_id: &str) {
    let folder = dir.join("dds-demo-replica").join(backup_id);
    assert!(
        !folder.join("manifest.json").exists(),
        "{backup_id} has a manifest"
    );
    if let Ok(entries) = std::fs::read_dir(&folder) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(
                name.ends_with(".part") || name.ends_with(".part.json"),
                "{backup_id}: {name} under a final name"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pass_fetches_verifies_and_publishes_then_a_second_pass_does_nothing() {
    let emu = emulator_with(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    let first = pass(&s).await;
    assert_eq!(
        (first.listed, first.fetched, first.skipped, first.failed),
        (7, 3, 4, 0),
        "{first}"
    );
    for id in [QP, TGZ, AR] {
        assert_published(&emu, dir.path(), id).await;
    }
    assert!(common::files_ending(dir.path(), ".part").is_empty());
    emu.reset_stats();
    let second = pass(&s).await;
    assert_eq!(
        (second.fetched, second.up_to_date, second.bytes),
        (0, 3, 0),
        "{second}"
    );
    assert_eq!(
        emu.stats().file_gets,
        0,
        "idempotent: no file requested again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_200_answer_to_a_range_request_restarts_from_zero() {
    let emu = emulator_with(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    // A partial from an earlier run: the first 1000 bytes, with its sidecar.
    pass(&s).await;
    let folder = dir.path().join("dds-demo-replica").join(QP);
    let name = emu.object_summary(QP).await.unwrap().name;
    let etag = emu.object_summary(QP).await.unwrap().etag;
    let file = folder.join(&name);
    let bytes = std::fs::read(&file).unwrap();
    std::fs::remove_file(folder.join("manifest.json")).unwrap();
    std::fs::remove_file(&file).unwrap();
    std::fs::write(folder.join(format!("{name}.part")), &bytes[..1000]).unwrap();
    std::fs::write(
        folder.join(format!("{name}.part.json")),
        serde_json::json!({"size": bytes.len(), "etag": etag, "crc64": null, "url_expires": null})
            .to_string(),
    )
    .unwrap();
    emu.set_faults(Faults {
        oss: OssFaults {
            ignore_range: true,
            ..OssFaults::default()
        },
        ..Faults::default()
    });
    emu.reset_stats();
    let summary = pass(&s).await;
    assert_eq!((summary.resumed, summary.failed), (1, 0), "{summary}");
    let stats = emu.stats();
    assert_eq!(stats.ranges_seen, vec!["bytes=1000-".to_string()]);
    assert_eq!(stats.partial_responses, 0, "the server ignored the range");
    assert_published(&emu, dir.path(), QP).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_object_under_if_range_restarts_with_the_new_version() {
    let emu = emulator_with(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    // Interrupt QP mid-body so a partial with the old ETag stays behind.
    emu.set_faults(Faults {
        oss: OssFaults {
            drop: vec![emulator::DropFault {
                after_bytes: 500_000,
                count: 100,
                object: Some(QP.into()),
            }],
            ..OssFaults::default()
        },
        ..Faults::default()
    });
    let mut quick = s.clone();
    quick.api.retry.max_attempts = 1;
    let first = pass(&quick).await;
    assert_eq!(first.failed, 1, "{first}");
    let part = common::files_ending(dir.path(), "_qp.xb.part");
    assert_eq!(part.len(), 1);
    assert_eq!(std::fs::metadata(&part[0]).unwrap().len(), 500_000);
    // The object changes (new ETag); the resume's If-Range no longer matches.
    assert!(emu.bump_object_version(QP));
    emu.set_faults(Faults::default());
    emu.reset_stats();
    let second = pass(&s).await;
    assert_eq!(second.failed, 0, "{second}");
    assert_eq!(emu.stats().ranges_seen, vec!["bytes=500000-".to_string()]);
    assert_eq!(emu.stats().if_range_seen.len(), 1);
    assert_published(&emu, dir.path(), QP).await; // the new version's bytes and CRC
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_crc_is_never_published() {
    let emu = emulator_with(|_| {}).await;
    emu.set_faults(Faults {
        oss: OssFaults {
            wrong_crc: vec![TGZ.into()],
            ..OssFaults::default()
        },
        ..Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let summary = pass(&settings(&emu, dir.path())).await;
    assert_eq!((summary.fetched, summary.failed), (2, 1), "{summary}");
    let failure = &summary.failures[0];
    assert_eq!(failure.kind, "crc_mismatch");
    assert!(
        failure.backup.ends_with(TGZ) && failure.message.contains("CRC-64 mismatch"),
        "{failure:?}"
    );
    not_published(dir.path(), TGZ);
    assert!(
        common::files_ending(dir.path(), ".tar.gz.part").is_empty(),
        "the corrupt partial is removed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_object_fails_with_a_clear_size_mismatch() {
    let emu = emulator_with(|_| {}).await;
    emu.set_faults(Faults {
        oss: OssFaults {
            short_objects: [(AR.to_string(), 1000)].into(),
            ..OssFaults::default()
        },
        ..Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let summary = pass(&settings(&emu, dir.path())).await;
    assert_eq!(summary.failed, 1, "{summary}");
    let f = &summary.failures[0];
    assert_eq!(f.kind, "size_mismatch");
    assert!(
        f.message.contains("expected 307200 bytes, got 1000"),
        "{}",
        f.message
    );
    not_published(dir.path(), AR);
    assert!(
        emu.stats().file_gets < 10,
        "no retry loop on a permanent mismatch"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_network_choice_picks_the_url() {
    for (network, closed_intranet, path) in [
        (Network::Public, false, "public"),
        (Network::Intranet, false, "internal"),
        (Network::Auto, false, "internal"),
        (Network::Auto, true, "public"),
    ] {
        // A loopback port with nothing listening stands for an unreachable intranet endpoint.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let emu = emulator_with(|c| {
            if closed_intranet {
                c.intranet_url_base = Some(format!("http://{closed}"));
            }
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(&emu, dir.path());
        s.download.network = network;
        s.download.probe_timeout = Duration::from_millis(500);
        let summary = pass(&s).await;
        assert_eq!(
            (summary.fetched, summary.failed),
            (3, 0),
            "{network:?}: {summary}"
        );
        let by_network = emu.stats().gets_by_network;
        assert_eq!(
            by_network.get(path).copied(),
            Some(3),
            "{network:?}: {by_network:?}"
        );
        assert_eq!(by_network.len(), 1, "{network:?}: {by_network:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_falls_back_to_public_per_download_when_intranet_connections_fail() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let emu = emulator_with(|c| c.intranet_url_base = Some(format!("http://{closed}"))).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.download.network = Network::Auto;
    // Pretend the probe said "reachable": every download must then fall back on its own.
    let api = app::api_client(&s).await.unwrap();
    let listing = api
        .list_all(&dds_backup_sync::api::client::ListQuery {
            instance_id: "dds-demo-replica".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let urls = dds_backup_sync::sync::plan::UrlPolicy {
        network: Network::Auto,
        intranet_reachable: true,
    };
    let actions = dds_backup_sync::sync::plan::plan_target(
        "dds-demo-replica",
        None,
        &listing.backups,
        time::OffsetDateTime::now_utc(),
        urls,
        &mut |_, _| dds_backup_sync::store::LocalState::Missing,
    );
    let store = Store::new(dir.path());
    let downloader = dds_backup_sync::sync::download::Downloader {
        http: http::client(Duration::from_secs(2), Duration::from_secs(5)).unwrap(),
        retry: s.api.retry,
        refresh: std::sync::Arc::new(|_, _| {
            Box::pin(async { Err("no refresh in this test".to_string()) })
        }),
        cancel: Default::default(),
    };
    let mut done = 0;
    for a in actions {
        if let dds_backup_sync::sync::plan::Action::Fetch(f) = a {
            assert_eq!(f.via, dds_backup_sync::sync::plan::Via::Intranet);
            let paths = store.paths(&f.key, &f.file_name).unwrap();
            let got = downloader.run(&f, &paths, &Silent).await.unwrap();
            assert_eq!(
                got.via,
                dds_backup_sync::sync::plan::Via::Public,
                "fell back"
            );
            done += 1;
        }
    }
    assert_eq!(done, 3);
    assert_published(&emu, dir.path(), QP).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_plans_and_changes_nothing() {
    let emu = emulator_with(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    let opts = PassOptions {
        dry_run: true,
        ..PassOptions::default()
    };
    let summary = pass_with(&s, &opts).await;
    assert!(summary.dry_run);
    assert_eq!((summary.fetched, summary.skipped), (3, 4), "{summary}");
    assert_eq!(emu.stats().file_gets, 0);
    assert!(
        common::files_ending(dir.path(), "manifest.json").is_empty()
            && common::files_ending(dir.path(), ".part").is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_honours_expiry_grace_keep_last_and_ownership() {
    let emu = emulator_with(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    pass(&s).await;
    // Age the copies: QP and TGZ expired two days ago (as the listing will now say too).
    let past = time::OffsetDateTime::now_utc() - time::Duration::days(2);
    emu.with_dataset(|d| {
        for id in [QP, TGZ] {
            d.backup_mut(id).unwrap().expire = past;
        }
    });
    // A foreign folder, a folder with a corrupt manifest, and a symlink to outside.
    let root = dir.path().join("dds-demo-replica");
    std::fs::create_dir_all(root.join("foreign")).unwrap();
    std::fs::write(root.join("foreign/notes.txt"), "keep me").unwrap();
    std::fs::create_dir_all(root.join("99999")).unwrap();
    std::fs::write(root.join("99999/manifest.json"), "{not json").unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("manifest.json"), "{}").unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("88888")).unwrap();

    // keep_last = 3 keeps all three copies even though two expired.
    s.prune.keep_last = 3;
    assert_eq!(pass(&s).await.pruned, 0);
    // A grace of 3 days keeps them too.
    s.prune.keep_last = 0;
    s.prune.grace = Duration::from_secs(3 * 86400);
    assert_eq!(pass(&s).await.pruned, 0);
    // Dry run says what it would prune, and prunes nothing.
    s.prune.grace = Duration::ZERO;
    let dry = pass_with(
        &s,
        &PassOptions {
            dry_run: true,
            ..PassOptions::default()
        },
    )
    .await;
    assert_eq!(dry.pruned, 2);
    assert!(root.join(QP).exists() && root.join(TGZ).exists());
    // For real: the two expired go; the forever one, and everything not ours, stay.
    let summary = pass(&s).await;
    assert_eq!(summary.pruned, 2, "{summary}");
    assert!(!root.join(QP).exists() && !root.join(TGZ).exists());
    assert!(root.join(AR).join("manifest.json").exists(), "kept forever");
    assert!(root.join("foreign/notes.txt").exists());
    assert!(
        root.join("99999/manifest.json").exists(),
        "a corrupt manifest is reported, not pruned"
    );
    assert!(outside.path().join("manifest.json").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_keeps_the_partial_and_the_next_pass_resumes() {
    let emu = emulator_with(|_| {}).await;
    emu.set_faults(Faults {
        oss: OssFaults {
            stall: vec![emulator::StallFault {
                after_bytes: 400_000,
                duration: Duration::from_secs(30),
                count: 1,
                object: Some(QP.into()),
            }],
            ..OssFaults::default()
        },
        ..Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    let opts = PassOptions::default();
    let cancel = opts.cancel.clone();
    let data = dir.path().to_path_buf();
    let canceller = tokio::spawn(async move {
        let end = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < end {
            if common::files_ending(&data, "_qp.xb.part")
                .first()
                .is_some_and(|p| std::fs::metadata(p).unwrap().len() >= 100_000)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cancel.cancel();
    });
    let summary = pass_with(&s, &opts).await;
    canceller.await.unwrap();
    assert_eq!(
        summary
            .failures
            .iter()
            .filter(|f| f.kind == "cancelled")
            .count(),
        1,
        "{summary}"
    );
    let part = common::files_ending(dir.path(), "_qp.xb.part");
    let kept = std::fs::metadata(&part[0]).unwrap().len();
    assert!(
        common::files_ending(dir.path(), "_qp.xb.part.json").len() == 1,
        "sidecar kept"
    );
    emu.set_faults(Faults::default());
    emu.reset_stats();
    let next = pass(&s).await;
    assert_eq!((next.resumed, next.failed), (1, 0), "{next}");
    assert_eq!(emu.stats().ranges_seen, vec![format!("bytes={kept}-")]);
    assert_published(&emu, dir.path(), QP).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_partials_of_unlisted_backups_are_removed() {
    let emu = emulator_with(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    let stale = dir.path().join("dds-demo-replica/12345678");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("old_qp.xb.part"), b"partial").unwrap();
    std::fs::write(stale.join("old_qp.xb.part.json"), b"{}").unwrap();
    std::fs::write(stale.join("not-ours.txt"), b"x").unwrap();
    pass(&s).await;
    assert!(!stale.join("old_qp.xb.part").exists() && !stale.join("old_qp.xb.part.json").exists());
    assert!(
        stale.join("not-ours.txt").exists(),
        "only .part files are touched"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_on_a_locked_directory_exits_75_naming_the_holder() {
    use std::os::unix::fs::PermissionsExt;
    let emu = emulator_with(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[api]\nregion_id = \"cn-hangzhou\"\nendpoint = \"{}\"\naccess_key_id = \"{ID}\"\naccess_key_secret = \"{SECRET}\"\nuse_ecs_ram_role = false\n[[instances]]\nid = \"dds-demo-replica\"\n[download]\ndir = \"{}\"\n",
            emu.base_url(),
            data.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let held = Store::new(&data).lock().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_dds-backup-sync"))
        .args(["--sync-now", "--config"])
        .arg(&config)
        .env("HOME", dir.path())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{stderr}");
    assert!(
        stderr.contains(&format!("pid {}", std::process::id())),
        "{stderr}"
    );
    assert_eq!(emu.stats().file_gets, 0);
    drop(held);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_dds-backup-sync"))
        .args(["--sync-now", "--config"])
        .arg(&config)
        .env("HOME", dir.path())
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_garbled_archive_is_caught_while_downloading() {
    use dds_backup_sync::emulator::{BackupRecord, ContentFormat};
    let emu = emulator_with(|_| {}).await;
    // Random bytes behind an xbstream name: size and CRC match, the framing does not.
    let start = time::OffsetDateTime::now_utc() - time::Duration::hours(3);
    assert!(
        emu.add_backup(
            "dds-demo-replica",
            BackupRecord::new("32109999", start, "garbled_qp.xb", 200_000)
                .format(ContentFormat::Random)
        )
    );
    let dir = tempfile::tempdir().unwrap();
    let summary = pass(&settings(&emu, dir.path())).await;
    assert_eq!((summary.fetched, summary.failed), (3, 1), "{summary}");
    let f = &summary.failures[0];
    assert_eq!(f.kind, "format", "{f:?}");
    assert!(
        f.message.contains("not a well-formed archive") && f.message.contains("xbstream at byte 0"),
        "{}",
        f.message
    );
    not_published(dir.path(), "32109999");
}
