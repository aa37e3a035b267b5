//! The whole fleet against the emulator on 127.0.0.1:0, with real files in tempdirs:
//! `[[discover]]` with filters, shards found on every pass, a discovery that fails or finds
//! nothing (and so prunes and cleans nothing), two regions in one configuration, a region whose
//! API is down (one error, not a retry storm per target), and cluster backups copied whole.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dds_backup_sync::commands;
use dds_backup_sync::config::{DiscoverSettings, InstanceType, Region, Settings};
use dds_backup_sync::sync::report::Summary;
use dds_emulator::data::{DEMO_CLUSTER, DEMO_CLUSTER_SHARDS, DEMO_SHARDED};
use dds_emulator::{BackupRecord, Emulator, Faults, Instance, OssFaults};
use time::OffsetDateTime;

const ID: &str = "fleet-key-id";
const SECRET: &str = "fleet-key-secret";
const SHANGHAI: &str = "cn-shanghai";
/// The demo cluster's complete cluster backup and the one with a failed node.
const CB_OK: &str = "cb-demo0cluster00001";
const CB_FAILED: &str = "cb-demo0cluster00002";

async fn emulator() -> Emulator {
    common::world::emulator(ID, SECRET, None).await
}

/// No instance configured, public URLs, a fast retry policy.
fn settings(emu: &Emulator, dir: &Path) -> Settings {
    let mut s = common::world::settings(emu, ID, SECRET, dir);
    s.instances.clear();
    s
}

fn block(endpoint: &str, region: &str) -> DiscoverSettings {
    common::discover_block(endpoint, region)
}

async fn pass(s: &Settings) -> Summary {
    common::world::pass(s).await
}

/// Instance folders under the download dir.
fn instances_on_disk(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A replica set in Shanghai with one small downloadable backup.
fn shanghai_replica(id: &str, tag: (&str, &str)) -> Instance {
    let start = OffsetDateTime::now_utc() - time::Duration::hours(3);
    let mut inst = Instance::replica_set(id)
        .region(SHANGHAI)
        .tag(tag.0, tag.1)
        .storage("local_ssd");
    let name = format!("{id}_data.tar.gz");
    inst.backups.push(BackupRecord::new(
        &format!("9{}", id.len()),
        start,
        &name,
        4096,
    ));
    inst
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_syncs_exactly_the_instances_its_filters_select() {
    let emu = emulator().await;
    emu.with_dataset(|d| {
        d.add_instance(shanghai_replica("dds-bp1prod", ("env", "prod")));
        d.add_instance(shanghai_replica("dds-bp1dev", ("env", "dev")));
        d.add_instance(shanghai_replica("dds-bp2prod", ("env", "prod")));
    });
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    let mut by_tag_and_id = block(&emu.base_url(), SHANGHAI);
    by_tag_and_id.tags = vec![("env".into(), "prod".into())];
    by_tag_and_id.id_pattern = Some("dds-bp1*".into());
    let mut sharded = block(&emu.base_url(), SHANGHAI);
    sharded.instance_type = Some(InstanceType::Sharding);
    s.discover = vec![by_tag_and_id, sharded];
    let summary = pass(&s).await;
    assert_eq!(summary.failed + summary.listing_errors, 0, "{summary}");
    // The Hangzhou instances are in another region; dev and bp2 fail a filter.
    assert_eq!(instances_on_disk(dir.path()), ["dds-bp1prod", DEMO_CLUSTER]);
    assert_eq!(
        summary.fetched, 3,
        "one replica backup and two cluster nodes: {summary}"
    );
    // Both instance types asked for when the block names none; sharding only when it does.
    assert!(emu.stats().calls("DescribeDBInstances") >= 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shard_added_between_two_passes_is_listed_without_a_config_change() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.instances = Settings::demo(&emu.base_url(), ID, SECRET, dir.path()).instances;
    s.instances.remove(0);
    s.instances[0].node_ids.clear();
    let first = pass(&s).await;
    assert_eq!((first.fetched, first.failed), (6, 0), "{first}");
    let shard = "d-demo-shard-2";
    emu.with_dataset(|d| {
        let inst = d.instance_mut(DEMO_SHARDED).unwrap();
        if let dds_emulator::data::InstanceKind::Sharded { shards } = &mut inst.kind {
            shards.push(shard.into());
        }
        let start = OffsetDateTime::now_utc() - time::Duration::hours(1);
        inst.backups
            .push(BackupRecord::new("32109001", start, "hins_new_shard.tar.gz", 8192).node(shard));
    });
    let second = pass(&s).await;
    assert_eq!((second.fetched, second.up_to_date), (1, 6), "{second}");
    assert!(
        dir.path()
            .join(DEMO_SHARDED)
            .join(shard)
            .join("32109001")
            .join("manifest.json")
            .is_file()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_discovery_that_fails_or_finds_nothing_prunes_and_cleans_nothing() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.prune.rules.keep_last = 0;
    let mut d = block(&emu.base_url(), SHANGHAI);
    d.tags = vec![("env".into(), "prod".into())];
    s.discover = vec![d];
    let first = pass(&s).await;
    assert_eq!((first.fetched, first.failed), (2, 0), "{first}");
    let cluster_dir = dir.path().join(DEMO_CLUSTER).join(CB_OK);
    // A partial file of a backup no longer listed: a successful listing would clean it.
    let stale = dir
        .path()
        .join(DEMO_CLUSTER)
        .join("cb-gone0000000001")
        .join(DEMO_CLUSTER_SHARDS[0]);
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("x.tar.gz.part"), b"partial").unwrap();
    let before = common::files_under(dir.path());

    // The API refuses every call for a while: the discovery fails.
    let mut failing = s.clone();
    failing.discover[0].region.as_mut().unwrap().endpoint = {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", closed.local_addr().unwrap())
    };
    let summary = pass(&failing).await;
    assert_eq!(summary.listing_errors, 1, "{summary}");
    assert!(
        summary
            .failures
            .iter()
            .any(|f| f.backup.starts_with("discover[0]")),
        "{:?}",
        summary.failures
    );
    assert_eq!(summary.pruned, 0);
    assert_eq!(common::files_under(dir.path()), before, "nothing removed");

    // The discovery answers, but nothing matches any more.
    let mut empty = s.clone();
    empty.discover[0].tags = vec![("env".into(), "nowhere".into())];
    let summary = pass(&empty).await;
    assert_eq!((summary.listed, summary.pruned), (0, 0), "{summary}");
    assert_eq!(common::files_under(dir.path()), before, "nothing removed");
    assert!(cluster_dir.join("cluster-manifest.json").is_file());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_regions_in_one_config_each_go_to_their_own_endpoint() {
    let hangzhou = emulator().await;
    let shanghai = emulator().await;
    // Each endpoint knows only its region's instance: an answer from the wrong one is none.
    hangzhou.with_dataset(|d| d.instances.retain(|i| i.id != DEMO_CLUSTER));
    shanghai.with_dataset(|d| d.instances.retain(|i| i.id == DEMO_CLUSTER));
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&hangzhou, dir.path());
    s.instances = Settings::demo(&hangzhou.base_url(), ID, SECRET, dir.path()).instances;
    s.instances.truncate(1);
    let mut cluster = s.instances[0].clone();
    cluster.id = DEMO_CLUSTER.into();
    cluster.region = Some(Region {
        id: SHANGHAI.into(),
        endpoint: shanghai.base_url(),
    });
    s.instances.push(cluster);
    let summary = pass(&s).await;
    assert_eq!(
        (summary.failed, summary.listing_errors),
        (0, 0),
        "{summary}"
    );
    assert_eq!(summary.fetched, 3 + 2, "{summary}");
    assert!(
        dir.path()
            .join(DEMO_CLUSTER)
            .join(CB_OK)
            .join("cluster-manifest.json")
            .is_file()
    );
    assert_eq!(hangzhou.stats().calls("DescribeClusterBackups"), 0);
    assert!(shanghai.stats().calls("DescribeClusterBackups") >= 1);
    assert_eq!(shanghai.stats().calls("DescribeBackups"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_region_whose_api_is_down_costs_one_retry_budget_and_the_rest_proceeds() {
    let emu = emulator().await;
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let down = common::serve(axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                r#"{"Code":"ServiceUnavailable","Message":"down","RequestId":"R"}"#,
            )
        }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.instances = Settings::demo(&emu.base_url(), ID, SECRET, dir.path()).instances;
    s.instances.truncate(1);
    for id in ["dds-beijing-a", "dds-beijing-b", "dds-beijing-c"] {
        let mut inst = s.instances[0].clone();
        inst.id = id.into();
        inst.region = Some(Region {
            id: "cn-beijing".into(),
            endpoint: down.to_string(),
        });
        s.instances.push(inst);
    }
    let summary = pass(&s).await;
    assert_eq!(
        summary.fetched, 3,
        "the Hangzhou replica is copied: {summary}"
    );
    assert_eq!(summary.listing_errors, 3, "{summary}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        s.api.retry.max_attempts as usize,
        "one call's retries, then the region is not tried again"
    );
    // Each target says why, naming the first failure (the first one's shard lookup).
    let said = |f: &dds_backup_sync::sync::report::Failure| {
        f.message
            .contains("not tried: the API of region cn-beijing failed earlier")
            && f.message.contains("ServiceUnavailable")
    };
    assert!(summary.failures.iter().all(said), "{:?}", summary.failures);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_backup_is_sealed_only_when_every_node_is_verified() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.discover = vec![block(&emu.base_url(), SHANGHAI)];
    // One node's object is served short: that node fails, so the cluster is not complete.
    let node_backup = "32104002";
    emu.set_faults(Faults {
        oss: OssFaults {
            short_objects: [(node_backup.to_string(), 100)].into(),
            ..OssFaults::default()
        },
        ..Faults::default()
    });
    let first = pass(&s).await;
    let cluster = dir.path().join(DEMO_CLUSTER).join(CB_OK);
    assert_eq!((first.fetched, first.failed), (1, 1), "{first}");
    assert!(
        cluster
            .join(DEMO_CLUSTER_SHARDS[0])
            .join("manifest.json")
            .is_file()
    );
    assert!(
        !cluster.join("cluster-manifest.json").exists(),
        "not before every node is in"
    );
    // The failed node's cluster backup is skipped whole, with its reason, and nothing of it lands.
    assert!(!dir.path().join(DEMO_CLUSTER).join(CB_FAILED).exists());

    emu.set_faults(Faults::default());
    let second = pass(&s).await;
    assert_eq!((second.fetched, second.failed), (1, 0), "{second}");
    let sealed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cluster.join("cluster-manifest.json")).unwrap())
            .unwrap();
    assert_eq!(sealed["cluster_backup_id"], CB_OK);
    assert_eq!(sealed["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(sealed["nodes"][1]["backup_id"], node_backup);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_cluster_backup_is_pruned_as_a_whole() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.discover = vec![block(&emu.base_url(), SHANGHAI)];
    s.prune.rules.keep_last = 0;
    let first = pass(&s).await;
    assert_eq!(first.fetched, 2, "{first}");
    let cluster = dir.path().join(DEMO_CLUSTER).join(CB_OK);
    assert!(cluster.join("cluster-manifest.json").is_file());
    emu.with_dataset(|d| {
        let inst = d.instance_mut(DEMO_CLUSTER).unwrap();
        for cb in &mut inst.cluster_backups {
            cb.expire = OffsetDateTime::now_utc() - time::Duration::hours(1);
        }
    });
    let second = pass(&s).await;
    assert_eq!(second.pruned, 1, "one unit, not one per node: {second}");
    assert!(!cluster.exists(), "the whole cluster copy is gone");
}

#[tokio::test(flavor = "multi_thread")]
async fn list_says_where_each_target_came_from_and_how_it_is_listed() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.instances = Settings::demo(&emu.base_url(), ID, SECRET, dir.path()).instances;
    s.instances[1].node_ids.clear();
    s.discover = vec![block(&emu.base_url(), SHANGHAI)];
    let mut out = Vec::new();
    let code = commands::list::list(&s, true, &mut out).await.unwrap();
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let targets = v.as_array().unwrap();
    let about: Vec<(String, String, String, String)> = targets
        .iter()
        .map(|t| {
            let s = |k: &str| t[k].as_str().unwrap_or("-").to_string();
            (
                s("instance"),
                s("source"),
                s("listed_as"),
                s("storage_type"),
            )
        })
        .collect();
    let row = |a: &str, b: &str, c: &str, d: &str| (a.into(), b.into(), c.into(), d.into());
    assert_eq!(
        about,
        [
            row("dds-demo-replica", "configured", "instance", "local_ssd"),
            row(DEMO_SHARDED, "configured", "nodes", "local_ssd"),
            row(DEMO_SHARDED, "configured", "nodes", "local_ssd"),
            row(DEMO_CLUSTER, "discovered", "cluster_backups", "cloud_essd1"),
        ]
    );
    let cluster = &targets[3];
    assert_eq!(cluster["region"], SHANGHAI);
    let rows = cluster["backups"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "two cluster backups of two nodes");
    assert_eq!(rows[0]["cluster_backup_id"], CB_OK);
    assert!(rows[0]["cluster_problem"].is_null());
    assert!(
        rows[3]["cluster_problem"]
            .as_str()
            .unwrap()
            .contains("failed node"),
        "{}",
        rows[3]
    );
    // The table says the same in words.
    let mut out = Vec::new();
    commands::list::list(&s, false, &mut out).await.unwrap();
    let table = String::from_utf8(out).unwrap();
    assert!(
        table.contains(&format!(
            "== {DEMO_CLUSTER} (cluster backups)  (discovered, sharded cluster in cluster-backup mode, storage cloud_essd1, region cn-shanghai)"
        )),
        "{table}"
    );
    assert!(table.contains("2 shard nodes discovered"), "{table}");
    assert!(
        table.contains(&format!("cluster backup {CB_FAILED}: not copied")),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotted_node_unseals_its_cluster_until_a_pass_has_it_again() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.discover = vec![block(&emu.base_url(), SHANGHAI)];
    assert_eq!(pass(&s).await.fetched, 2);
    let cluster = dir.path().join(DEMO_CLUSTER).join(CB_OK);
    let sealed = cluster.join("cluster-manifest.json");
    assert!(sealed.is_file());
    // Flip one byte of a node's file: the scrub finds it.
    let node = cluster.join(DEMO_CLUSTER_SHARDS[1]);
    let file = std::fs::read_dir(&node)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "gz"))
        .unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let store = dds_backup_sync::store::Store::new(dir.path());
    let report = dds_backup_sync::verify::verify_store(&store);
    assert!(
        !report.findings.is_empty(),
        "the scrub found the flipped byte"
    );
    assert!(!sealed.exists(), "the cluster is no longer complete here");
    let again = pass(&s).await;
    assert_eq!((again.fetched, again.failed), (1, 0), "{again}");
    assert!(sealed.is_file(), "sealed again once the node is verified");
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_ids_from_discovery_are_skipped_with_a_reason_and_the_rest_is_copied() {
    // Issue #21.16: an instance id that is no plain name (from a buggy or hostile
    // DescribeDBInstances) failed the whole pass, every pass.
    let emu = emulator().await;
    emu.with_dataset(|d| {
        d.add_instance(shanghai_replica("dds-bp1prod", ("env", "prod")));
        d.add_instance(shanghai_replica("..", ("env", "prod")));
        d.add_instance(shanghai_replica("dds-a/../../x", ("env", "prod")));
    });
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    let mut prod = block(&emu.base_url(), SHANGHAI);
    prod.tags = vec![("env".into(), "prod".into())];
    s.discover = vec![prod];
    let summary = pass(&s).await;
    assert_eq!(summary.failed, 0, "{summary}: {:?}", summary.failures);
    assert!(summary.ok(), "{summary}: {:?}", summary.failures);
    assert_eq!(
        instances_on_disk(dir.path()),
        ["dds-bp1prod", DEMO_CLUSTER],
        "{summary}"
    );
    // Each hostile instance is skipped at the plan, and the same again next pass.
    let again = pass(&s).await;
    assert!(again.ok() && again.failed == 0, "{again}");
    assert_eq!(again.skipped, summary.skipped, "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_slow_listing_does_not_hold_the_others_behind_it() {
    // Issue #21.19: listings ran `api.concurrency` at a time through an ordered buffer: one
    // slow answer held every call behind it.
    use common::proxy::{ApiProxy, Hold, param};
    use std::sync::atomic::AtomicBool;
    let emu = emulator().await;
    let ids: Vec<String> = (0..6).map(|i| format!("dds-bp{i}fast")).collect();
    emu.with_dataset(|d| {
        d.add_instance(shanghai_replica("dds-bp0slow", ("env", "prod")));
        for id in &ids {
            d.add_instance(shanghai_replica(id, ("env", "prod")));
        }
    });
    // The slow instance's listing is answered only once every other listing was asked for.
    let all_asked = Arc::new(AtomicBool::new(false));
    let seen = all_asked.clone();
    let others = ids.clone();
    let hold: Hold = Arc::new(move |call, calls| {
        let listing =
            |p: &common::proxy::Params| param(p, "Action").as_deref() == Some("DescribeBackups");
        if !listing(call) || param(call, "DBInstanceId").as_deref() != Some("dds-bp0slow") {
            return false;
        }
        let asked = others.iter().all(|id| {
            calls
                .iter()
                .any(|p| listing(p) && param(p, "DBInstanceId").as_deref() == Some(id.as_str()))
        });
        seen.store(asked, Ordering::Relaxed);
        !asked
    });
    let proxy = ApiProxy::start_holding(&emu.base_url(), Some(hold)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    s.api.concurrency = 2;
    let mut prod = block(&proxy.url, SHANGHAI);
    prod.tags = vec![("env".into(), "prod".into())];
    prod.id_pattern = Some("dds-bp*".into());
    s.discover = vec![prod];
    let summary = pass(&s).await;
    assert!(summary.ok(), "{summary}");
    assert!(
        all_asked.load(Ordering::Relaxed),
        "the other listings waited behind the slow one"
    );
    assert_eq!(instances_on_disk(dir.path()).len(), 7, "{summary}");
}

/// Issue #26: a `[[discover]]` block that selects nothing (a tag typo, a re-tagged fleet) fails
/// the pass (exit 1) with a WARN naming the block, shows in the metrics as a 0 and a
/// `discovery` failure, and is a FAIL line of `--check`; `expect_at_least = 0` allows it.
#[tokio::test(flavor = "multi_thread")]
async fn a_discovery_that_selects_nothing_fails_the_pass_and_says_so() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    let mut d = block(&emu.base_url(), SHANGHAI);
    d.tags = vec![("env".into(), "nowhere".into())];
    s.discover = vec![d];
    let summary = pass(&s).await;
    assert!(!summary.ok(), "{summary}");
    assert_eq!(commands::pass::exit_code(&summary), 1);
    let failure = summary.failures.iter().find(|f| f.kind == "discovery");
    let failure = failure.expect("a discovery failure");
    assert_eq!(failure.backup, format!("discover[0] ({SHANGHAI})"));
    assert!(failure.message.contains("expect_at_least"), "{failure:?}");
    let mut figures = dds_backup_sync::metrics::Figures::default();
    figures.record_pass(&summary, 0, 1);
    let text = dds_backup_sync::metrics::render(&figures);
    assert!(
        text.contains(&format!(
            "dds_backup_sync_discovered_instances{{block=\"0\",region=\"{SHANGHAI}\"}} 0"
        )),
        "{text}"
    );
    assert!(
        text.contains("dds_backup_sync_last_pass_failures{reason=\"discovery\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("dds_backup_sync_last_pass_failures{reason=\"crc_mismatch\"} 0"),
        "every reason is written, 0 when fine: {text}"
    );
    s.discover[0].expect_at_least = 0;
    let allowed = pass(&s).await;
    assert!(allowed.ok(), "{allowed}: {:?}", allowed.failures);

    // --check says FAIL for the block, and exits non-zero.
    let config = common::write_config(
        dir.path(),
        &common::ConfigText::api(&emu.base_url(), ID, SECRET)
            .with(&format!(
                "[[discover]]\nregion_id = \"{SHANGHAI}\"\nendpoint = \"{}\"\ntags = {{ env = \"nowhere\" }}",
                emu.base_url()
            ))
            .download(&dir.path().join("data"))
            .text(),
        0o600,
    );
    let out = common::world::run(dir.path(), &config, &["--check"], "warn").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find(|l| l.contains("discover[0]"));
    let line = line.unwrap_or_else(|| panic!("no discover line: {stdout}"));
    assert!(line.starts_with("FAIL"), "{stdout}");
    assert!(line.contains("0 selected"), "{line}");
    assert_ne!(out.status.code(), Some(0), "{stdout}");
}

/// Issue #26.1: an instance copied before and no longer listed (dropped from the config or by
/// discovery, or its listing failed) keeps its age series, so the age alert fires instead of
/// the series vanishing.
#[tokio::test(flavor = "multi_thread")]
async fn an_instance_no_longer_listed_keeps_its_age_series() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = common::world::settings(&emu, ID, SECRET, dir.path());
    s.instances.truncate(2);
    let first = pass(&s).await;
    assert!(first.ok(), "{first}: {:?}", first.failures);
    let dropped = s.instances[1].id.clone();
    s.instances.truncate(1);
    let second = pass(&s).await;
    assert!(second.ok(), "{second}: {:?}", second.failures);
    let mut figures = dds_backup_sync::metrics::Figures::default();
    figures.record_pass(&second, 0, 1);
    let store = dds_backup_sync::store::Store::new(dir.path());
    dds_backup_sync::metrics::observe(&store, second.local.clone().unwrap(), &mut figures);
    let text = dds_backup_sync::metrics::render(&figures);
    let age = format!("dds_backup_sync_newest_verified_backup_age_seconds{{instance=\"{dropped}\"");
    assert!(text.contains(&age), "no age series for {dropped}:\n{text}");
}
