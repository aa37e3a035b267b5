//! Whole passes: fetch, verify and publish; idempotence; the network choice; prune; stale
//! partials; concurrency; and a watcher that nothing complete-looking is ever wrong.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use dds_backup_sync::config::Network;
use dds_backup_sync::listing;
use dds_backup_sync::model::OnDisk;
use dds_backup_sync::progress::{Bar, Progress, Silent};
use dds_backup_sync::store::Store;
use dds_backup_sync::sync::download::Downloader;
use dds_backup_sync::sync::plan::{self, Action, UrlPolicy, Via};
use dds_emulator::{BackupRecord, ContentFormat, DropFault, Instance, OssFaults, StallFault};
use time::OffsetDateTime;

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_pass_publishes_verified_copies_and_a_second_pass_downloads_nothing() {
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
    // Skipped backups leave nothing behind, not even an empty folder.
    for id in ["32102004", "32102005", "32102006", "32102007"] {
        assert!(!folder(dir.path(), id).exists(), "{id}");
    }
    assert!(common::files_ending(dir.path(), ".part").is_empty());

    emu.reset_stats();
    let second = pass(&s).await;
    assert_eq!(
        (
            second.fetched,
            second.resumed,
            second.up_to_date,
            second.bytes
        ),
        (0, 0, 3, 0),
        "{second}"
    );
    let stats = emu.stats();
    assert_eq!(stats.file_gets + stats.file_heads, 0, "no file requested");
    assert_eq!(
        stats.calls("DescribeBackups"),
        1,
        "one listing, no URL refresh"
    );
    assert_eq!(stats.calls("DescribeDBInstanceAttribute"), 1, "one lookup");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_network_setting_picks_the_url_and_auto_falls_back_when_intranet_is_closed() {
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
            by_network.keys().collect::<Vec<_>>(),
            vec![path],
            "{network:?}"
        );
        assert_eq!(by_network[path], 3, "{network:?}");
        assert_published(&emu, dir.path(), QP).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_falls_back_to_public_per_download_when_an_intranet_connection_fails() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let emu = emulator_with(|c| c.intranet_url_base = Some(format!("http://{closed}"))).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    // As if the probe had said "reachable": each download must fall back on its own.
    let api = commands::api_client(&s).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let listings = listing::list_all(&api, &s, now).await;
    let urls = UrlPolicy {
        network: Network::Auto,
        intranet_reachable: true,
    };
    let remote = listing::gather(listings).remote;
    let actions = plan::decide(&remote.listed, &OnDisk::default(), now, &urls.into());
    let store = Store::new(dir.path());
    let downloader = Downloader {
        http: http::client(Duration::from_secs(2), Duration::from_secs(5)).unwrap(),
        retry: s.download.retry,
        refresh: Arc::new(|_, _| {
            Box::pin(async {
                let why = "no refresh in this test".to_string();
                Err(dds_backup_sync::sync::download::RefreshError::NoUrl(why))
            })
        }),
        cancel: Default::default(),
        slots: Arc::new(tokio::sync::Semaphore::new(1)),
        space: Arc::default(),
        store: store.clone(),
        pace: dds_backup_sync::sync::download::Pace {
            min_rate: 0,
            window: Duration::from_secs(60),
        },
        throttle: Default::default(),
        streams: Default::default(),
    };
    let mut done = 0;
    for a in actions {
        if let Action::Fetch(f) = a {
            assert_eq!(f.via, Via::Intranet);
            assert!(f.fallback.is_some());
            let paths = store.paths(&f.key, &f.file_name).unwrap();
            let got = downloader.run(&f, &paths, &Silent).await.unwrap();
            assert_eq!(got.via, Via::Public, "fell back");
            done += 1;
        }
    }
    assert_eq!(done, 3);
    assert_eq!(emu.stats().gets_by_network.get("public"), Some(&3));
    for id in [QP, TGZ, AR] {
        assert_published(&emu, dir.path(), id).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_plans_and_writes_nothing() {
    let emu = emulator_with(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    let summary = pass_with(&s, &dry()).await;
    assert!(summary.dry_run);
    assert_eq!(
        (summary.fetched, summary.skipped, summary.failed),
        (3, 4, 0),
        "{summary}"
    );
    assert_eq!(emu.stats().file_gets, 0);
    let files: Vec<_> = common::files_under(dir.path())
        .into_iter()
        .filter(|p| !p.ends_with(".dds-backup-sync.lock"))
        .collect();
    assert!(files.is_empty(), "{files:?}");
}

/// Rewrites a published copy's manifest so its `BackupExpireTime` is `at`.
fn set_manifest_expiry(dir: &std::path::Path, backup_id: &str, at: OffsetDateTime) {
    let path = folder(dir, backup_id).join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    m["backup"]["BackupExpireTime"] = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
        .into();
    std::fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_honours_expiry_grace_keep_last_dry_run_and_ownership() {
    let emu = emulator_with(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    assert_eq!(pass(&s).await.fetched, 3);
    // QP (newest) and TGZ expired two days ago, as the listing now says; AR is kept forever.
    let past = OffsetDateTime::now_utc() - time::Duration::days(2);
    emu.with_dataset(|d| {
        for id in [QP, TGZ] {
            d.backup_mut(id).unwrap().expire = past;
        }
    });
    let root = dir.path().join(REPLICA);
    // Not ours: a folder without a manifest, one with a corrupt manifest, and a symlink to a
    // folder outside that holds a real (expired) manifest.
    std::fs::create_dir_all(root.join("foreign")).unwrap();
    std::fs::write(root.join("foreign/notes.txt"), "keep me").unwrap();
    std::fs::create_dir_all(root.join("99999")).unwrap();
    std::fs::write(root.join("99999/manifest.json"), "{not json").unwrap();
    let outside = tempfile::tempdir().unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join(TGZ).join("manifest.json")).unwrap())
            .unwrap();
    manifest["backup"]["BackupId"] = "88888".into();
    std::fs::write(
        outside.path().join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    std::fs::write(outside.path().join("data.tar.gz"), b"outside").unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("88888")).unwrap();
    let kept_forever_and_foreign = || {
        assert!(root.join(AR).join("manifest.json").exists(), "kept forever");
        assert!(
            root.join("foreign/notes.txt").exists(),
            "no manifest: not ours"
        );
        assert!(
            root.join("99999/manifest.json").exists(),
            "a corrupt manifest is kept"
        );
        assert!(
            outside.path().join("data.tar.gz").exists() && root.join("88888").exists(),
            "symlinks are never followed"
        );
    };

    s.prune.rules.keep_last = 3;
    assert_eq!(pass(&s).await.pruned, 0, "the newest three are kept");
    s.prune.rules.keep_last = 0;
    s.prune.rules.grace = Duration::from_secs(3 * 86400);
    assert_eq!(pass(&s).await.pruned, 0, "still within the grace");
    s.prune.rules.grace = Duration::ZERO;
    let would = pass_with(&s, &dry()).await;
    assert_eq!(would.pruned, 2, "{would}");
    assert!(root.join(QP).exists() && root.join(TGZ).exists(), "dry run");

    s.prune.rules.keep_last = 1;
    let summary = pass(&s).await;
    assert_eq!(summary.pruned, 1, "{summary}");
    assert!(!root.join(TGZ).exists(), "expired and not among the newest");
    assert!(root.join(QP).join("manifest.json").exists(), "the newest");
    kept_forever_and_foreign();

    s.prune.rules.keep_last = 0;
    let summary = pass(&s).await;
    assert_eq!((summary.pruned, summary.fetched), (1, 0), "{summary}");
    assert!(!root.join(QP).exists());
    kept_forever_and_foreign();
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_uses_the_manifest_for_backups_the_listing_no_longer_shows() {
    let emu = emulator_with(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.prune.rules.keep_last = 0;
    assert_eq!(pass(&s).await.fetched, 3);
    // Gone from the cloud: TGZ's manifest says it expired yesterday, QP's says next week.
    emu.with_dataset(|d| {
        d.instance_mut(REPLICA)
            .unwrap()
            .backups
            .retain(|b| b.backup_id != QP && b.backup_id != TGZ)
    });
    let now = OffsetDateTime::now_utc();
    set_manifest_expiry(dir.path(), TGZ, now - time::Duration::days(1));
    set_manifest_expiry(dir.path(), QP, now + time::Duration::days(7));
    let summary = pass(&s).await;
    assert_eq!((summary.pruned, summary.failed), (1, 0), "{summary}");
    assert!(!folder(dir.path(), TGZ).exists());
    assert!(folder(dir.path(), QP).join("manifest.json").exists());
    assert!(folder(dir.path(), AR).join("manifest.json").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_partials_of_unlisted_backups_go_and_those_of_listed_backups_stay() {
    let emu = emulator_with(|_| {}).await;
    // QP's download is cut and not retried: its partial belongs to a listed backup.
    emu.set_faults(drop_faults(300_000, 1, Some(QP)));
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.api.retry.max_attempts = 1;
    s.download.retry.max_attempts = 1;
    let plant = |rel: &str, files: &[&str]| {
        let d = dir.path().join(rel);
        std::fs::create_dir_all(&d).unwrap();
        for f in files {
            std::fs::write(d.join(f), b"partial").unwrap();
        }
        d
    };
    let stale = plant(
        "dds-demo-replica/12345678",
        &["old_qp.xb.part", "old_qp.xb.part.json", "not-ours.txt"],
    );
    // Listed but skipped (IsAvail false): still listed, so its partial stays.
    let unavailable = plant("dds-demo-replica/32102005", &["u_qp.xb.part"]);
    // An instance this configuration does not list: not ours to judge.
    let other = plant("dds-other/555", &["x.tar.gz.part"]);

    let summary = pass(&s).await;
    assert_eq!((summary.fetched, summary.failed), (2, 1), "{summary}");
    assert!(!stale.join("old_qp.xb.part").exists());
    assert!(!stale.join("old_qp.xb.part.json").exists());
    assert!(
        stale.join("not-ours.txt").exists(),
        "only partials are touched"
    );
    assert!(unavailable.join("u_qp.xb.part").exists());
    assert!(other.join("x.tar.gz.part").exists());
    let part = common::files_ending(&folder(dir.path(), QP), ".part");
    assert_eq!(part.len(), 1, "the failed download's partial is kept");
    assert_eq!(file_len(&part[0]), 300_000);
    assert_eq!(
        common::files_ending(&folder(dir.path(), QP), ".part.json").len(),
        1
    );
    // The backup disappears from the listing: now its partial goes too.
    emu.with_dataset(|d| {
        d.instance_mut(REPLICA)
            .unwrap()
            .backups
            .retain(|b| b.backup_id != QP)
    });
    let summary = pass(&s).await;
    assert_eq!(summary.failed, 0, "{summary}");
    assert!(common::files_ending(&folder(dir.path(), QP), ".part").is_empty());
    assert!(common::files_ending(&folder(dir.path(), QP), ".part.json").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn with_concurrency_two_and_drops_every_file_ends_correct() {
    const MANY: &str = "dds-many";
    let emu = emulator_with(|c| {
        c.dataset
            .add_instance(Instance::replica_set(MANY).with_generated(
                6,
                41_000_000,
                OffsetDateTime::now_utc(),
                600_000,
            ));
    })
    .await;
    emu.set_faults(drop_faults(150_000, 8, None));
    let ids: Vec<String> = (41_000_000..41_000_006).map(|n| n.to_string()).collect();
    let mut expected = Vec::new();
    for id in &ids {
        expected.push(object(&emu, id).await);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.instances[0].id = MANY.into();
    s.download.concurrency = 2;
    // Samples how many partial files exist at once: the downloads plus the finished ones still
    // publishing, never more than twice the concurrency.
    let data = dir.path().to_path_buf();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let sampler = std::thread::spawn(move || {
        let mut most = 0;
        while !flag.load(Ordering::Relaxed) {
            most = most.max(common::files_ending(&data, ".part").len());
            std::thread::sleep(Duration::from_millis(1));
        }
        most
    });
    // A bar appears when its download gets a slot: the third and later bars only once as
    // many downloads as came before them, minus two, have been served whole.
    let served = || emu.stats().bytes_served;
    let bars = CountingBars {
        served: &served,
        size: 600_000,
        concurrency: 2,
        made: AtomicUsize::new(0),
        early: std::sync::Mutex::new(Vec::new()),
    };
    let api = commands::api_client(&s).await.unwrap();
    let summary = run_pass(&s, &api, &bars, &PassOptions::default())
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let most = sampler.join().unwrap();
    assert_eq!(bars.made.load(Ordering::Relaxed), 6, "one bar per download");
    assert_eq!(
        *bars.early.lock().unwrap(),
        Vec::<String>::new(),
        "bars made while downloads still waited for a slot"
    );
    assert_eq!((summary.fetched, summary.failed), (6, 0), "{summary}");
    assert!(most <= 4, "{most} partial files at once with concurrency 2");
    let stats = emu.stats();
    assert_eq!(
        stats.most_open_bodies, 2,
        "two bodies at once with concurrency 2: {stats:?}"
    );
    // Every drop budget was spent on some body; a budget only fails to fire on a body that
    // ends within 150 KB, which needs three fired drops of that file first: at least 6 fired.
    assert_eq!(emu.faults_remaining().oss.drop[0].count, 0);
    assert!(emu.stats().dropped_bodies >= 6, "{:?}", emu.stats());
    for (id, (name, bytes)) in ids.iter().zip(&expected) {
        let f = dir.path().join(MANY).join(id);
        assert!(
            std::fs::read(f.join(name)).unwrap() == *bytes,
            "{id} differs"
        );
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(f.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(m["sha256"], common::sha256_hex(bytes));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watcher_never_sees_an_incomplete_or_wrong_file_under_a_final_name() {
    let emu = emulator_with(|_| {}).await;
    // Every body is cut at least once and QP also stalls, so downloads overlap, resume and
    // publish at different times while the watcher samples.
    emu.set_faults(oss_faults(OssFaults {
        drop: vec![DropFault {
            after_bytes: 100_000,
            count: 6,
            object: None,
        }],
        stall: vec![StallFault {
            after_bytes: 50_000,
            duration: Duration::from_millis(300),
            count: 2,
            object: Some(QP.into()),
        }],
        ..OssFaults::default()
    }));
    let mut expected = Vec::new();
    for id in [QP, TGZ, AR] {
        expected.push(object(&emu, id).await);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.api.retry.max_attempts = 10;
    s.download.retry.max_attempts = 10;
    let watcher = Watcher::start(dir.path().to_path_buf(), expected.clone());
    let summary = pass(&s).await;
    let seen = watcher.finish();
    assert_eq!((summary.fetched, summary.failed), (3, 0), "{summary}");
    assert!(emu.stats().dropped_bodies >= 3);
    let names: BTreeSet<String> = seen
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let want: BTreeSet<String> = expected.into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, want, "the watcher checked every published file");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_garbled_archive_is_caught_while_downloading() {
    let emu = emulator_with(|_| {}).await;
    // Random bytes behind an xbstream name: size and CRC match, the framing does not. The
    // bytes are the cloud's, so they are published with the verdict, never discarded.
    let start = OffsetDateTime::now_utc() - time::Duration::hours(3);
    assert!(
        emu.add_backup(
            REPLICA,
            BackupRecord::new("32109999", start, "garbled_qp.xb", 200_000)
                .format(ContentFormat::Random)
        )
    );
    let dir = tempfile::tempdir().unwrap();
    let summary = pass(&settings(&emu, dir.path())).await;
    assert_eq!((summary.fetched, summary.failed), (4, 0), "{summary}");
    assert!(
        summary.ok(),
        "unrecognised is a note, not a failure: {summary}"
    );
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(folder(dir.path(), "32109999").join("manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(m["format_verdict"], "unrecognised");
    assert!(
        m["format_detail"]
            .as_str()
            .unwrap()
            .contains("xbstream at byte 0"),
        "{m}"
    );
}

/// Counts progress bars, and notes any made before its download could have had a slot.
struct CountingBars<'a> {
    served: &'a (dyn Fn() -> u64 + Send + Sync),
    size: u64,
    concurrency: usize,
    made: AtomicUsize,
    early: std::sync::Mutex<Vec<String>>,
}

impl Progress for CountingBars<'_> {
    fn bar(&self, label: &str, _total: u64) -> Box<dyn Bar> {
        let before = self.made.fetch_add(1, Ordering::SeqCst);
        let done_needed = before.saturating_sub(self.concurrency - 1) as u64;
        let served = (self.served)();
        if served < done_needed * self.size {
            self.early.lock().unwrap().push(format!(
                "bar {} ({label}) with {served} bytes served",
                before + 1
            ));
        }
        Box::new(Silent)
    }

    fn set_total(&self, _total: u64) {}
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shutdown_during_a_long_api_retry_wait_stops_the_pass_at_once() {
    let emu = emulator_with(|c| {
        c.faults.api.throttle_next = 100;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    // A throttled listing waits seconds between attempts.
    s.api.retry = RetryPolicy {
        max_attempts: 6,
        base_delay: Duration::from_secs(5),
        max_delay: Duration::from_secs(10),
        max_elapsed: Duration::from_secs(60),
    };
    let opts = PassOptions::default();
    let cancel = opts.cancel.clone();
    let stats = || emu.stats().describe_calls;
    let run = pass_with(&s, &opts);
    let canceller = async {
        assert!(common::poll(Duration::from_secs(10), || stats() >= 1).await);
        cancel.cancel();
        std::time::Instant::now()
    };
    let (summary, cancelled_at) = tokio::join!(run, canceller);
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(2),
        "the pass went on for {:?} after the stop",
        cancelled_at.elapsed()
    );
    assert_eq!(
        (summary.failed, summary.listing_errors),
        (0, 0),
        "{summary}"
    );
    assert_eq!(summary.stopped, 1, "{summary}");
    assert_eq!(commands::exit_code(&summary), 0, "a stop is not a failure");
    assert!(emu.stats().file_gets == 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_is_pruned_on_its_recorded_expiry_only_after_the_cloud_confirms_it() {
    // Issue #21.5: the cloud extended QP's expiry (`ModifyBackupExpireTime`) after the copy
    // was made, and the listing's window no longer shows QP or TGZ: the manifest's old expiry
    // alone must not prune QP. TGZ was deleted at the cloud (`DeleteBackup`): its recorded
    // expiry stands.
    let emu = emulator_with(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.prune.rules.keep_last = 0;
    assert_eq!(pass(&s).await.fetched, 3);
    let now = OffsetDateTime::now_utc();
    let extended = now + time::Duration::days(300);
    emu.with_dataset(|d| {
        d.backup_mut(QP).unwrap().expire = extended;
        d.instance_mut(REPLICA)
            .unwrap()
            .backups
            .retain(|b| b.backup_id != TGZ);
    });
    set_manifest_expiry(dir.path(), QP, now - time::Duration::days(1));
    set_manifest_expiry(dir.path(), TGZ, now - time::Duration::days(1));
    // A window of one hour: the demo's backups (days old) are not listed, only asked for.
    s.instances[0].lookback = Duration::from_secs(3600);

    let would = pass_with(&s, &dry()).await;
    assert_eq!(would.pruned, 1, "{would}");
    let summary = pass(&s).await;
    assert_eq!((summary.pruned, summary.failed), (1, 0), "{summary}");
    assert!(
        !folder(dir.path(), TGZ).exists(),
        "gone at the cloud, expired as recorded"
    );
    let qp: serde_json::Value = serde_json::from_slice(
        &std::fs::read(folder(dir.path(), QP).join("manifest.json")).unwrap(),
    )
    .unwrap();
    let recorded = OffsetDateTime::parse(
        qp["backup"]["BackupExpireTime"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(
        recorded.unix_timestamp(),
        extended.unix_timestamp(),
        "the cloud's new expiry is recorded"
    );
    // Recorded: the next pass needs no question about QP.
    let asked = emu.stats().calls("DescribeBackups");
    assert_eq!(pass(&s).await.pruned, 0);
    assert_eq!(
        emu.stats().calls("DescribeBackups"),
        asked + 1,
        "only the listing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_small_file_is_written_without_a_resume_sidecar() {
    // Issue #21.21: the first pass wrote and fsynced a resume sidecar even for a 3 KiB file;
    // a file of up to 1 MiB is fetched again whole after a crash instead.
    use dds_emulator::StallFault;
    let emu = emulator_with(|_| {}).await;
    emu.set_faults(oss_faults(OssFaults {
        stall: vec![StallFault {
            after_bytes: 200_000,
            duration: Duration::from_millis(1500),
            count: 1,
            object: Some(AR.into()),
        }],
        ..OssFaults::default()
    }));
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&emu, dir.path());
    let run = {
        let s = s.clone();
        tokio::spawn(async move { pass(&s).await })
    };
    let (name, _) = object(&emu, AR).await;
    let part = folder(dir.path(), AR).join(format!("{name}.part"));
    let written = common::poll(Duration::from_secs(10), || file_len(&part) > 0).await;
    assert!(written, "the small file's partial never held bytes");
    assert!(
        !folder(dir.path(), AR)
            .join(format!("{name}.part.json"))
            .exists(),
        "a sidecar for a 300 KiB file"
    );
    let summary = run.await.unwrap();
    assert_eq!(summary.failed, 0, "{summary}");
    assert_published(&emu, dir.path(), AR).await;
}
