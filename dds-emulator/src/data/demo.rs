//! The default data set ([`Dataset::demo`]) and the names tests and the daemon's `--demo` refer to.
//!
//! The backups of `dds-demo-replica` and `dds-demo-sharded` are counted by tests in both crates:
//! add new demo data as new instances or cluster backups, never as rows of those two. The
//! daemon's `--demo` settings name those two and discover sharded clusters in `cn-shanghai`, so
//! `dds-demo-disk` (a replica set in `cn-hangzhou`) is not in its counts.

use time::{Duration, OffsetDateTime};

use super::{
    BackupRecord, ClusterBackupRecord, DEFAULT_REGION, Dataset, Instance, KEEP_FOREVER, object_name,
};

/// The replica-set instance of [`Dataset::demo`].
pub const DEMO_REPLICA: &str = "dds-demo-replica";
/// The sharded instance of [`Dataset::demo`] (per-node backups).
pub const DEMO_SHARDED: &str = "dds-demo-sharded";
/// The shard nodes of [`DEMO_SHARDED`].
pub const DEMO_SHARDS: [&str; 2] = ["d-demo-shard-0", "d-demo-shard-1"];
/// The sharded instance of [`Dataset::demo`] in cluster-backup mode, in [`DEMO_REGION_2`].
pub const DEMO_CLUSTER: &str = "dds-demo-cluster";
/// The shard nodes of [`DEMO_CLUSTER`].
pub const DEMO_CLUSTER_SHARDS: [&str; 2] = ["d-demo-cluster-0", "d-demo-cluster-1"];
/// The cloud-disk replica set of [`Dataset::demo`] in [`DEMO_REGION`]: `Snapshot` backups only,
/// exported through DBS download tasks.
pub const DEMO_DISK: &str = "dds-demo-disk";
/// The region of [`DEMO_REPLICA`], [`DEMO_SHARDED`] and [`DEMO_DISK`].
pub const DEMO_REGION: &str = DEFAULT_REGION;
/// The region of [`DEMO_CLUSTER`].
pub const DEMO_REGION_2: &str = "cn-shanghai";

impl Dataset {
    /// The default data set; every time is relative to `now` so the demo works in any year.
    ///
    /// `dds-demo-replica` (tag `env=prod`): physical `_qp.xb` and `.tar.gz`, a logical `.ar` kept
    /// forever, a failed backup, an unavailable one (`IsAvail` false, URLs present), an expired
    /// one and a snapshot without URLs. `dds-demo-sharded`: three jobs over `d-demo-shard-0` and
    /// `d-demo-shard-1`. Both in `cn-hangzhou` on `local_ssd`. `dds-demo-cluster` (`cn-shanghai`,
    /// `cloud_essd1`, cluster-backup mode, tag `env=prod`): a complete cluster backup 4 hours old
    /// and a 28-hour-old one whose second node failed. `dds-demo-disk` (`cn-hangzhou`,
    /// `cloud_essd1`, no tags): two daily `Snapshot` backups without URLs, 6 and 30 hours old,
    /// whose DBS download tasks finish after the default polls.
    pub fn demo(now: OffsetDateTime) -> Dataset {
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let at = |hours: i64| now - Duration::hours(hours);
        Dataset {
            instances: vec![
                demo_replica(now, &at),
                demo_sharded(&at),
                demo_cluster(&at),
                demo_disk(&at),
            ],
        }
    }
}

fn demo_replica(now: OffsetDateTime, at: &dyn Fn(i64) -> OffsetDateTime) -> Instance {
    let mut replica = Instance::replica_set(DEMO_REPLICA)
        .description("demo replica set")
        .tag("env", "prod");
    let host = "hins19360001";
    let mut push = |b: BackupRecord| replica.backups.push(b);
    push(
        BackupRecord::new(
            "32102001",
            at(2),
            &object_name(host, at(2), "_qp.xb"),
            2_621_440,
        )
        .job("1123001"),
    );
    push(
        BackupRecord::new(
            "32102002",
            at(26),
            &object_name(host, at(26), ".tar.gz"),
            1_048_576,
        )
        .job("1123002"),
    );
    push(
        BackupRecord::new(
            "32102003",
            at(50),
            &object_name(host, at(50), ".ar"),
            307_200,
        )
        .job("1123003")
        .logical()
        .manual()
        .expires(KEEP_FOREVER),
    );
    push(BackupRecord::failed("32102004", at(74)).job("1123004"));
    let mut unavailable = BackupRecord::new(
        "32102005",
        at(98),
        &object_name(host, at(98), "_qp.xb"),
        65_536,
    )
    .job("1123005");
    unavailable.is_avail = false;
    push(unavailable);
    push(
        BackupRecord::new(
            "32102006",
            at(8 * 24),
            &object_name(host, at(8 * 24), ".tar.gz"),
            204_800,
        )
        .job("1123006")
        .expires(now - Duration::hours(1)),
    );
    push(BackupRecord::snapshot("32102007", at(5), 10_485_760).job("1123007"));
    replica
}

fn demo_sharded(at: &dyn Fn(i64) -> OffsetDateTime) -> Instance {
    let mut sharded = Instance::sharded(DEMO_SHARDED, &DEMO_SHARDS);
    let jobs: [(&str, i64, &str, [u64; 2]); 3] = [
        ("1124001", 3, "_qp.xb", [1_572_864, 1_258_291]),
        ("1124002", 27, ".tar.gz", [716_800, 655_360]),
        ("1124003", 51, ".ar", [122_880, 98_304]),
    ];
    let mut id = 32103001u64;
    for (job, hours, ext, sizes) in jobs {
        for (shard_no, (shard, size)) in DEMO_SHARDS.iter().zip(sizes).enumerate() {
            let host = format!("hins1936010{}", shard_no + 1);
            let mut b = BackupRecord::new(
                &id.to_string(),
                at(hours),
                &object_name(&host, at(hours), ext),
                size,
            )
            .job(job)
            .node(shard);
            if ext == ".ar" {
                b = b.logical();
            }
            sharded.backups.push(b);
            id += 1;
        }
    }
    sharded
}

fn demo_cluster(at: &dyn Fn(i64) -> OffsetDateTime) -> Instance {
    let node = |id: &str, shard_no: usize, hours: i64, size: u64| {
        let host = format!("hins1936020{}", shard_no + 1);
        BackupRecord::new(
            id,
            at(hours),
            &object_name(&host, at(hours), ".tar.gz"),
            size,
        )
        .job(id)
        .node(DEMO_CLUSTER_SHARDS[shard_no])
    };
    let complete = ClusterBackupRecord::new(
        "cb-demo0cluster00001",
        at(4),
        vec![
            node("32104001", 0, 4, 393_216),
            node("32104002", 1, 4, 327_680),
        ],
    );
    let broken = ClusterBackupRecord::new(
        "cb-demo0cluster00002",
        at(28),
        vec![
            node("32104003", 0, 28, 262_144),
            BackupRecord::failed("32104004", at(28))
                .job("32104004")
                .node(DEMO_CLUSTER_SHARDS[1]),
        ],
    );
    Instance::sharded(DEMO_CLUSTER, &DEMO_CLUSTER_SHARDS)
        .region(DEMO_REGION_2)
        .storage("cloud_essd1")
        .engine("4.4")
        .description("demo sharded cluster (cluster backups)")
        .tag("env", "prod")
        .cluster_mode()
        .cluster_backup(complete)
        .cluster_backup(broken)
}

fn demo_disk(at: &dyn Fn(i64) -> OffsetDateTime) -> Instance {
    Instance::replica_set(DEMO_DISK)
        .storage("cloud_essd1")
        .engine("4.4")
        .description("demo cloud-disk instance (snapshot backups)")
        .with_snapshots(2, 32105001, at(6), 20_971_520)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::InstanceKind;
    use time::macros::datetime;

    #[test]
    fn demo_has_the_promised_mix() {
        let now = datetime!(2030-06-01 12:00:00 UTC);
        let d = Dataset::demo(now);
        let replica = d.instance(DEMO_REPLICA).unwrap();
        let b = &replica.backups;
        assert!(b.iter().any(|b| b.status == "Failed"));
        assert!(b.iter().any(|b| !b.is_avail && b.object.is_some()));
        assert!(b.iter().any(|b| b.expire == KEEP_FOREVER));
        assert!(b.iter().any(|b| b.expire < now));
        assert!(
            b.iter()
                .any(|b| b.method == "Snapshot" && b.object.is_none())
        );
        for ext in ["_qp.xb", ".tar.gz", ".ar"] {
            assert!(
                b.iter()
                    .any(|b| b.object.as_ref().is_some_and(|o| o.name.ends_with(ext)))
            );
        }
        let sharded = d.instance(DEMO_SHARDED).unwrap();
        assert_eq!(
            sharded.kind,
            InstanceKind::Sharded {
                shards: DEMO_SHARDS.iter().map(|s| s.to_string()).collect()
            }
        );
        assert!(sharded.backups.iter().all(|b| b.node_id.is_some()));
        assert_eq!(
            d.object(DEMO_REPLICA, "hins19360001_data_20300601100000_qp.xb")
                .map(|b| b.backup_id.as_str()),
            Some("32102001")
        );
    }

    #[test]
    fn demo_cluster_has_a_complete_and_a_broken_cluster_backup() {
        let d = Dataset::demo(datetime!(2030-06-01 12:00:00 UTC));
        let c = d.instance(DEMO_CLUSTER).unwrap();
        assert_eq!(c.region_id, DEMO_REGION_2);
        assert!(c.use_cluster_backup && c.backups.is_empty());
        assert_eq!(c.shards(), DEMO_CLUSTER_SHARDS.map(String::from));
        let [complete, broken] = &c.cluster_backups[..] else {
            panic!("two cluster backups");
        };
        assert!(complete.is_avail && !broken.is_avail);
        assert!(complete.start > broken.start);
        assert!(
            complete.nodes.iter().all(|n| n.object.is_some()
                && n.backup_name.ends_with(".tar.gz")
                && n.size < 1 << 20)
        );
        assert!(
            broken
                .nodes
                .iter()
                .any(|n| n.status == "Failed" && n.object.is_none())
        );
        for (n, shard) in complete.nodes.iter().zip(DEMO_CLUSTER_SHARDS) {
            assert_eq!(n.node_id.as_deref(), Some(shard));
        }
        for i in [DEMO_REPLICA, DEMO_SHARDED] {
            let i = d.instance(i).unwrap();
            assert_eq!(
                (i.region_id.as_str(), i.storage_type.as_str()),
                (DEMO_REGION, "local_ssd")
            );
            assert!(!i.supports_download());
        }
    }

    #[test]
    fn demo_disk_has_two_daily_snapshots_and_supports_download() {
        let now = datetime!(2030-06-01 12:00:00 UTC);
        let d = Dataset::demo(now);
        let disk = d.instance(DEMO_DISK).unwrap();
        assert_eq!(disk.region_id, DEMO_REGION);
        assert!(disk.supports_download() && disk.tags.is_empty() && !disk.is_sharded());
        let ids: Vec<_> = disk.backups.iter().map(|b| b.backup_id.as_str()).collect();
        assert_eq!(ids, ["32105001", "32105002"]);
        assert!(
            disk.backups
                .iter()
                .all(|b| b.method == "Snapshot" && b.object.is_none() && b.status == "Success")
        );
        assert_eq!(disk.backups[0].start, now - Duration::hours(6));
        assert_eq!(disk.backups[1].start, now - Duration::hours(30));
        assert_eq!(disk.dbs, crate::data::DbsScript::default());
    }
}
