//! The settings `--demo` runs with: the bundled emulator's demo data set, every key spelled out.

use super::{
    ApiSettings, DownloadSettings, InstanceSettings, LogFormat, Network, PruneSettings,
    ScheduleSettings, Settings,
};
use crate::retry::RetryPolicy;
use crate::secret::Secret;

impl Settings {
    /// Settings for the demo data set of the bundled emulator at `endpoint` (`--demo`, and
    /// the tests' starting point).
    pub fn demo(endpoint: &str, id: &str, secret: &str, dir: &std::path::Path) -> Settings {
        let instance = |id: &str, nodes: &[&str]| InstanceSettings {
            id: id.to_string(),
            region: None,
            node_ids: nodes.iter().map(|s| s.to_string()).collect(),
            lookback: std::time::Duration::from_secs(30 * 86400),
            src_region: None,
            dest_region: None,
            resource_group_id: None,
        };
        Settings {
            file: "<demo>".into(),
            api: ApiSettings {
                region_id: "cn-hangzhou".into(),
                endpoint: endpoint.to_string(),
                page_size: 30,
                timeout: std::time::Duration::from_secs(10),
                retry: RetryPolicy::default(),
                concurrency: 4,
            },
            credentials: crate::api::credentials::CredentialOptions {
                access_key_id: Some(id.to_string()),
                access_key_secret: Some(Secret::new(secret)),
                security_token: None,
                profile_path: None,
                profile_name: None,
                ecs_metadata_url: "http://127.0.0.1:9".into(),
                ecs_role_name: None,
                allow_ecs: false,
                // The emulator knows only these keys: the shell's ALIBABA_CLOUD_* must not win.
                pinned: true,
            },
            instances: vec![
                instance("dds-demo-replica", &[]),
                instance("dds-demo-sharded", &["d-demo-shard-0", "d-demo-shard-1"]),
            ],
            discover: Vec::new(),
            download: DownloadSettings {
                dir: dir.to_path_buf(),
                network: Network::Auto,
                concurrency: 4,
                read_timeout: std::time::Duration::from_secs(30),
                probe_timeout: std::time::Duration::from_secs(1),
                min_rate: 64 * 1024,
                connect_timeout: std::time::Duration::from_secs(10),
                retry: RetryPolicy::default(),
                bandwidth: crate::rate::Limit::Off,
                streams: 4,
                stream_cutoff: 256 * 1024 * 1024,
                part_size: 64 * 1024 * 1024,
                keep_local: None,
            },
            prune: PruneSettings {
                enabled: true,
                rules: crate::model::Rules {
                    keep_last: 1,
                    ..crate::model::Rules::default()
                },
            },
            schedule: ScheduleSettings {
                cron: crate::schedule::Schedule::parse("0 0 3 * * *", None)
                    .expect("the demo's schedule parses"),
                zone: crate::schedule::Zone::default(),
                run_on_start: false,
            },
            metrics: crate::config::MetricsSettings::default(),
            verify: crate::config::VerifySettings::default(),
            hooks: super::HookSettings::default(),
            snapshots: super::SnapshotSettings::default(),
            archive: None,
            logging: LogFormat::Text,
            progress_interval: std::time::Duration::from_secs(15),
        }
    }

    /// What `--demo` runs: [`Settings::demo`] with the fleet features on. The sharded
    /// instance's shard nodes are found by `DescribeDBInstanceAttribute` (no `node_ids`), a
    /// `[[discover]]` block finds the cloud-disk cluster in the second region, whose cluster
    /// backups are copied whole, and the cloud-disk replica set's newest snapshot is exported
    /// through the emulator's DBS download task.
    pub fn demo_fleet(endpoint: &str, id: &str, secret: &str, dir: &std::path::Path) -> Settings {
        let mut s = Settings::demo(endpoint, id, secret, dir);
        for inst in &mut s.instances {
            inst.node_ids.clear();
        }
        let mut disk = s.instances[0].clone();
        disk.id = "dds-demo-disk".into();
        s.instances.push(disk);
        s.snapshots = super::SnapshotSettings {
            download: true,
            endpoint: Some(endpoint.to_string()),
            wait: std::time::Duration::from_secs(30),
            poll_interval: std::time::Duration::from_millis(100),
            ..super::SnapshotSettings::default()
        };
        s.discover.push(super::DiscoverSettings {
            region: Some(super::Region {
                id: "cn-shanghai".into(),
                endpoint: endpoint.to_string(),
            }),
            instance_type: Some(super::InstanceType::Sharding),
            tags: vec![("env".into(), "prod".into())],
            id_pattern: Some("dds-demo-*".into()),
            description_pattern: None,
            resource_group_id: None,
            lookback: std::time::Duration::from_secs(30 * 86400),
            expect_at_least: 1,
        });
        s
    }
}
