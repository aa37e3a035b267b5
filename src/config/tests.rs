use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;

use super::*;

const MINIMAL: &str = r#"
[api]
region_id = "cn-hangzhou"
[[instances]]
id = "dds-bp1"
"#;

fn write(dir: &tempfile::TempDir, text: &str, mode: u32) -> PathBuf {
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn load_text(text: &str) -> Result<Settings, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, text, 0o600);
    load_with_env(&path, Some(HashMap::new()))
}

fn err(text: &str) -> String {
    load_text(text).unwrap_err().to_string()
}

#[test]
fn minimal_config_gets_the_documented_defaults() {
    let s = load_text(MINIMAL).unwrap();
    assert_eq!(s.api.endpoint, "https://mongodb.aliyuncs.com");
    assert_eq!(s.api.page_size, 100);
    assert_eq!(s.instances[0].lookback, Duration::from_secs(7 * 86400));
    assert!(s.instances[0].node_ids.is_empty());
    assert_eq!(s.download.dir, PathBuf::from("/var/lib/dds-backup-sync"));
    assert_eq!(s.download.network, Network::Auto);
    assert_eq!(s.download.concurrency, 4);
    assert!(s.prune.enabled);
    assert_eq!(s.prune.rules.grace, Duration::ZERO);
    assert_eq!(s.prune.rules.keep_last, 1);
    assert_eq!(s.schedule.cron.expr(), "0 0 3 * * *");
    assert!(s.credentials.allow_ecs);
    assert!(s.verify.cron.is_none());
    assert!(!s.verify.repair);
    assert!(s.metrics.textfile.is_none());
    assert!(!s.schedule.run_on_start);
}

#[test]
fn bandwidth_keys_parse_and_say_which_key_is_wrong() {
    let with = |keys: &str| format!("{MINIMAL}[download]\n{keys}\n");
    assert_eq!(
        load_text(MINIMAL).unwrap().download.bandwidth,
        crate::rate::Limit::Off
    );
    let s = load_text(&with("bandwidth_limit = \"200MiB\"")).unwrap();
    assert_eq!(s.download.bandwidth, crate::rate::Limit::Fixed(200 << 20));
    let s = load_text(&with("bandwidth_limit = \"\"")).unwrap();
    assert_eq!(s.download.bandwidth, crate::rate::Limit::Off);
    let s = load_text(&with("bandwidth_schedule = \"08:00,50MiB 20:00,off\"")).unwrap();
    assert_eq!(s.download.bandwidth.at_minute(9 * 60), Some(50 << 20));
    for (keys, needle) in [
        (
            "bandwidth_limit = \"fast\"",
            "download.bandwidth_limit: \"fast\" is not a size",
        ),
        (
            "bandwidth_schedule = \"8am,1MiB\"",
            "download.bandwidth_schedule: \"8am,1MiB\" is not HH:MM,RATE",
        ),
        (
            "bandwidth_limit = \"1MiB\"\nbandwidth_schedule = \"08:00,off\"",
            "download.bandwidth_schedule: set either",
        ),
    ] {
        let e = err(&with(keys));
        assert!(e.contains(needle), "{keys}: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
}

#[test]
fn verify_slice_keys_parse_and_say_which_key_is_wrong() {
    let with = |keys: &str| format!("{MINIMAL}[verify]\n{keys}\n");
    let s = load_text(MINIMAL).unwrap();
    assert_eq!((s.verify.max_age, s.verify.bandwidth_limit), (None, None));
    let s = load_text(&with("max_age = \"30d\"\nbandwidth_limit = \"100MiB\"")).unwrap();
    assert_eq!(s.verify.max_age, Some(Duration::from_secs(30 * 86400)));
    assert_eq!(s.verify.bandwidth_limit, Some(100 << 20));
    for (keys, needle) in [
        (
            "max_age = \"soon\"",
            "verify.max_age: \"soon\" is not a duration",
        ),
        (
            "max_age = \"0s\"",
            "verify.max_age: must be greater than zero",
        ),
        (
            "bandwidth_limit = \"lots\"",
            "verify.bandwidth_limit: \"lots\" is not a size",
        ),
    ] {
        let e = err(&with(keys));
        assert!(e.contains(needle), "{keys}: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
}

#[test]
fn example_config_is_valid() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/example.toml"))
        .unwrap();
    let s = load_text(&text).unwrap();
    assert_eq!(s.instances.len(), 2);
    assert_eq!(s.instances[1].node_ids.len(), 2);
}

#[test]
fn regional_endpoint_and_override() {
    let s = load_text(&MINIMAL.replace("cn-hangzhou", "ap-southeast-1")).unwrap();
    assert_eq!(
        s.api.endpoint,
        "https://mongodb.ap-southeast-1.aliyuncs.com"
    );
    let s =
        load_text(&MINIMAL.replace("[api]", "[api]\nendpoint = \"http://127.0.0.1:9/\"")).unwrap();
    assert_eq!(s.api.endpoint, "http://127.0.0.1:9");
}

#[test]
fn bad_values_name_key_and_file() {
    for (text, needle) in [
        (
            MINIMAL.replace("[api]", "[api]\npage_size = 40"),
            "api.page_size: must be 30, 50 or 100 (got 40)",
        ),
        (
            MINIMAL.replace("[api]", "[api]\npage_size = \"lots\""),
            "api.page_size",
        ),
        (MINIMAL.replace("[api]", "[api]\nbogus = 1"), "bogus"),
        (
            format!("{MINIMAL}[metrics]\nfile_mode = \"0400\"\n"),
            "metrics.file_mode: \"0400\" is not a file mode",
        ),
        (
            format!("{MINIMAL}[metrics]\nfile_mode = \"rw-r--r--\"\n"),
            "metrics.file_mode",
        ),
        (
            format!("{MINIMAL}[download]\nmax_attempts = 0\n"),
            "download.max_attempts: must be between 1 and 100 (got 0)",
        ),
        (
            format!("{MINIMAL}[download]\nmin_rate = \"fast\"\n"),
            "download.min_rate: \"fast\" is not a size",
        ),
        (
            format!("{MINIMAL}[download]\nconnect_timeout = \"0s\"\n"),
            "download.connect_timeout: must be greater than zero",
        ),
        (
            MINIMAL.replace("cn-hangzhou", "mars-1"),
            "api.region_id: no known MongoDB API endpoint",
        ),
        (
            MINIMAL.replace("region_id = \"cn-hangzhou\"", ""),
            "api.region_id: is required",
        ),
        (
            MINIMAL.replace("[api]", "[api]\nendpoint = \"ftp://x\""),
            "api.endpoint",
        ),
        (
            MINIMAL.replace("[api]", "[api]\nendpoint = \"https://u:p@x\""),
            "must not contain credentials",
        ),
        (
            MINIMAL.replace("dds-bp1", "../etc"),
            "instances[0].id: instance id",
        ),
        (
            format!("{MINIMAL}lookback = \"soon\""),
            "instances[dds-bp1].lookback",
        ),
        (
            format!("{MINIMAL}lookback = \"0s\""),
            "must be greater than zero",
        ),
        (
            format!("{MINIMAL}node_ids = [\"d-1\", \"d-1\"]"),
            "listed twice",
        ),
        (
            format!("{MINIMAL}[download]\nnetwork = \"wifi\""),
            "network",
        ),
        (
            format!("{MINIMAL}[download]\nconcurrency = 0"),
            "download.concurrency",
        ),
        (
            format!("{MINIMAL}[prune]\nkeep_last = -1"),
            "prune.keep_last",
        ),
        (
            format!("{MINIMAL}[schedule]\ncron = \"0 3 * * *\""),
            "has 5 fields",
        ),
        (
            "[api]\nregion_id = \"cn-hangzhou\"\n".to_string(),
            "instances: at least one [[instances]] entry with an id, or a [[discover]] block",
        ),
        ("this is not toml".to_string(), "config.toml"),
    ] {
        let e = err(&text);
        assert!(e.contains(needle), "{needle:?} not in {e:?}");
        assert!(e.contains("config.toml"), "file not named in {e:?}");
        assert!(!e.contains('\n'), "multi-line error {e:?}");
    }
}

#[test]
fn verify_keys() {
    let s = load_text(&format!(
        "{MINIMAL}[verify]\ncron = \"0 30 4 * * sun\"\nrepair = true"
    ))
    .unwrap();
    assert_eq!(
        s.verify.cron.as_ref().map(|c| c.expr()),
        Some("0 30 4 * * sun")
    );
    assert!(s.verify.repair);
    // Empty means "never".
    let s = load_text(&format!("{MINIMAL}[verify]\ncron = \"  \"")).unwrap();
    assert!(s.verify.cron.is_none());
    assert!(!s.verify.repair);
    for (text, needle) in [
        // Exactly schedule.cron's rules: six fields, seconds first.
        (
            "cron = \"0 3 * * *\"",
            "verify.cron: \"0 3 * * *\" has 5 fields",
        ),
        (
            "cron = \"0 0 3 * * * 2030\"",
            "verify.cron: \"0 0 3 * * * 2030\" has 7 fields",
        ),
        ("cron = \"every night\"", "verify.cron: "),
        ("repair = [true]", "repair"),
        ("scrub = true", "scrub"),
    ] {
        let e = err(&format!("{MINIMAL}[verify]\n{text}"));
        assert!(e.contains(needle), "{needle:?} not in {e:?}");
        assert!(e.contains("config.toml"), "file not named in {e:?}");
    }
}

#[test]
fn missing_file_is_a_clear_error() {
    let e = load_with_env(Path::new("/nonexistent/dds.toml"), Some(HashMap::new())).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/dds.toml"), "{e}");
}

#[test]
fn secret_in_a_readable_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = MINIMAL.replace(
        "[api]",
        "[api]\naccess_key_id = \"id\"\naccess_key_secret = \"s3cr3t-value\"",
    );
    let path = write(&dir, &text, 0o644);
    let e = load_with_env(&path, Some(HashMap::new())).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ConfigError::Permissions { .. }));
    assert!(msg.contains("chmod 600") && msg.contains("0644"), "{msg}");
    assert!(!msg.contains("s3cr3t-value"));
    let path = write(&dir, &text, 0o600);
    let s = load_with_env(&path, Some(HashMap::new())).unwrap();
    assert_eq!(
        s.credentials.access_key_secret.as_ref().map(|s| s.expose()),
        Some("s3cr3t-value")
    );
    assert!(
        !format!("{s:?}").contains("s3cr3t-value"),
        "Debug leaks the secret"
    );
    // Without a secret, a world-readable file is fine.
    let path = write(&dir, MINIMAL, 0o644);
    assert!(load_with_env(&path, Some(HashMap::new())).is_ok());
}

#[test]
fn half_set_keys_are_refused() {
    let e = err(&MINIMAL.replace("[api]", "[api]\naccess_key_id = \"id\""));
    assert!(e.contains("must be set together"), "{e}");
}

#[test]
fn environment_overrides_any_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, MINIMAL, 0o600);
    let env: HashMap<String, String> = [
        ("DDS_BACKUP_SYNC__API__PAGE_SIZE", "50"),
        ("DDS_BACKUP_SYNC__DOWNLOAD__DIR", "/srv/backups"),
        ("DDS_BACKUP_SYNC__DOWNLOAD__NETWORK", "public"),
        ("DDS_BACKUP_SYNC__PRUNE__ENABLED", "false"),
        ("DDS_BACKUP_SYNC__API__ACCESS_KEY_ID", "12345"),
        ("DDS_BACKUP_SYNC__API__ACCESS_KEY_SECRET", "from-env"),
        ("DDS_BACKUP_SYNC_CONFIG", "/ignored"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let s = load_with_env(&path, Some(env)).unwrap();
    assert_eq!(s.api.page_size, 50);
    assert_eq!(s.download.dir, PathBuf::from("/srv/backups"));
    assert_eq!(s.download.network, Network::Public);
    assert!(!s.prune.enabled);
    assert_eq!(s.credentials.access_key_id.as_deref(), Some("12345"));

    let bad: HashMap<String, String> = [(
        "DDS_BACKUP_SYNC__API__PAGE_SIZE".to_string(),
        "7".to_string(),
    )]
    .into();
    let e = load_with_env(&path, Some(bad)).unwrap_err().to_string();
    assert!(e.contains("api.page_size"), "{e}");
}

#[test]
fn path_resolution_order() {
    assert_eq!(
        resolve_path(Some(Path::new("/a.toml")), Some("/b.toml".into())),
        PathBuf::from("/a.toml")
    );
    assert_eq!(
        resolve_path(None, Some("/b.toml".into())),
        PathBuf::from("/b.toml")
    );
    assert_eq!(
        resolve_path(None, Some(String::new())),
        PathBuf::from(DEFAULT_PATH)
    );
    assert_eq!(resolve_path(None, None), PathBuf::from(DEFAULT_PATH));
}

#[test]
fn messages_say_what_to_fix() {
    for (text, needles) in [
        (
            format!("{MINIMAL}[download]\nnetwork = \"internal\"\n"),
            vec![
                "line 7",
                "download.network",
                "`auto`",
                "`intranet`",
                "`public`",
            ],
        ),
        (
            format!("{MINIMAL}[download]\nconcurrency = \"4\"\n"),
            vec!["line 7", "download.concurrency", "string \"4\""],
        ),
        (
            format!("{MINIMAL}[download]\nconcurrency = 4.7\n"),
            vec!["line 7", "download.concurrency", "float"],
        ),
        (
            format!("{MINIMAL}[schedule]\nrun_on_start = \"yes\"\n"),
            vec!["line 7", "schedule.run_on_start", "string \"yes\""],
        ),
        (
            format!("{MINIMAL}[download]\nconcurency = 4\n"),
            vec!["line 7", "unknown field `concurency`", "concurrency"],
        ),
        (
            format!("{MINIMAL}[schedule]\ncron = \"0 0 25 * * *\"\n"),
            vec!["schedule.cron", "hour", "0-23", "25"],
        ),
        // Issue #21.10: a schedule that parses but can never fire.
        (
            format!("{MINIMAL}[schedule]\ncron = \"0 0 0 30 2 *\"\n"),
            vec!["schedule.cron", "never fires"],
        ),
        (
            format!("{MINIMAL}[verify]\ncron = \"0 0 0 31 11 *\"\n"),
            vec!["verify.cron", "never fires"],
        ),
        (
            MINIMAL.replace("id = \"dds-bp1\"", "id = \"dds-bp1\"\nnode_ids = [\"a/b\"]"),
            vec!["instances[dds-bp1].node_ids"],
        ),
    ] {
        let e = load_text(&text).unwrap_err().to_string();
        for needle in needles {
            assert!(e.contains(needle), "{needle:?} not in {e}");
        }
        assert!(!e.contains('\n'), "one line: {e}");
    }
}

#[test]
fn cron_macros_work() {
    for (text, cron) in [
        ("@daily", "0 0 0 * * *"),
        ("@hourly", "0 0 * * * *"),
        ("@weekly", "0 0 0 * * 0"),
        ("@monthly", "0 0 0 1 * *"),
        ("@yearly", "0 0 0 1 1 *"),
    ] {
        let s = load_text(&format!("{MINIMAL}[schedule]\ncron = \"{text}\"\n")).unwrap();
        assert_eq!(s.schedule.cron.expr(), cron, "{text}");
    }
    let e = load_text(&format!("{MINIMAL}[schedule]\ncron = \"@reboot\"\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("@reboot") && e.contains("@daily"), "{e}");
}

#[test]
fn environment_overrides_are_strict_and_name_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, MINIMAL, 0o600);
    for (var, value, needles) in [
        (
            "DDS_BACKUP_SYNC__DOWNLOAD__CONCURENCY",
            "4",
            vec![
                "environment DDS_BACKUP_SYNC__DOWNLOAD__CONCURENCY",
                "unknown field",
            ],
        ),
        (
            "DDS_BACKUP_SYNC__DOWNLOAD__CONCURRENCY",
            "4.7",
            vec!["DDS_BACKUP_SYNC__DOWNLOAD__CONCURRENCY", "a whole number"],
        ),
        (
            "DDS_BACKUP_SYNC__SCHEDULE__RUN_ON_START",
            "yes",
            vec!["DDS_BACKUP_SYNC__SCHEDULE__RUN_ON_START", "true or false"],
        ),
    ] {
        let env: HashMap<String, String> = [(var.to_string(), value.to_string())].into();
        let e = load_with_env(&path, Some(env)).unwrap_err().to_string();
        assert!(
            !e.contains(&path.display().to_string()) || e.contains("environment"),
            "{e}"
        );
        for needle in needles {
            assert!(e.contains(needle), "{needle:?} not in {e}");
        }
    }
    let env: HashMap<String, String> = [(
        "DDS_BACKUP_SYNC__DOWNLOAD__CONCURRENCY".to_string(),
        "8".to_string(),
    )]
    .into();
    assert_eq!(
        load_with_env(&path, Some(env))
            .unwrap()
            .download
            .concurrency,
        8
    );
}

#[test]
fn fleet_keys() {
    let s = load_text(
        r#"
[api]
region_id = "cn-hangzhou"
endpoint = "http://127.0.0.1:9000"
concurrency = 8
[[instances]]
id = "dds-a"
[[instances]]
id = "dds-b"
region_id = "cn-beijing"
[[instances]]
id = "dds-c"
region_id = "cn-shanghai"
endpoint = "http://127.0.0.1:9001"
[[discover]]
region_id = "cn-qingdao"
instance_type = "sharding"
tags = { env = "prod", team = "db" }
id_pattern = "dds-bp1*"
description_pattern = "*orders*"
resource_group_id = "rg-1"
lookback = "2d"
[[discover]]
"#,
    )
    .unwrap();
    assert_eq!(s.api.concurrency, 8);
    let region = |i: usize| {
        let r = s.instances[i].region.as_ref().unwrap();
        (r.id.as_str(), r.endpoint.as_str())
    };
    assert_eq!(s.instances[0].region, None, "[api]'s");
    assert_eq!(
        region(1),
        ("cn-beijing", "https://mongodb.aliyuncs.com"),
        "the SDK's map"
    );
    assert_eq!(region(2), ("cn-shanghai", "http://127.0.0.1:9001"));
    let d = &s.discover[0];
    assert_eq!(
        d.region.as_ref().unwrap().endpoint,
        "https://mongodb.cn-qingdao.aliyuncs.com"
    );
    assert_eq!(d.instance_type, Some(InstanceType::Sharding));
    assert_eq!(
        d.tags,
        [("env".into(), "prod".into()), ("team".into(), "db".into())]
    );
    assert_eq!(d.id_pattern.as_deref(), Some("dds-bp1*"));
    assert_eq!(d.lookback, Duration::from_secs(2 * 86400));
    let plain = &s.discover[1];
    assert_eq!((&plain.region, plain.instance_type), (&None, None));
    // Discovery alone is a fleet: no [[instances]] needed.
    let only = load_text("[api]\nregion_id = \"cn-hangzhou\"\n[[discover]]\n").unwrap();
    assert!(only.instances.is_empty() && only.discover.len() == 1);
    assert_eq!(only.api.concurrency, 4, "the default");
}

#[test]
fn bad_fleet_keys_name_the_key() {
    for (text, needle) in [
        (
            format!("{MINIMAL}region_id = \"Mars 1\""),
            "instances[dds-bp1].region_id: \"Mars 1\" is not a region id",
        ),
        (
            format!("{MINIMAL}region_id = \"mars-1\""),
            "instances[dds-bp1].region_id: no known MongoDB API endpoint for region \"mars-1\"; set instances[dds-bp1].endpoint",
        ),
        (
            format!("{MINIMAL}[[discover]]\ninstance_type = \"serverless\""),
            "discover[0].instance_type: \"serverless\" is not \"replicate\" or \"sharding\"",
        ),
        (
            format!("{MINIMAL}[[discover]]\nendpoint = \"ftp://x\""),
            "discover[0].endpoint",
        ),
        (
            format!("{MINIMAL}[[discover]]\nlookback = \"0s\""),
            "discover[0].lookback: must be greater than zero",
        ),
        (
            format!("{MINIMAL}[[discover]]\ntags = {{ \"\" = \"x\" }}"),
            "discover[0].tags: tag key \"\" is empty",
        ),
        (
            format!("{MINIMAL}[[discover]]\nregions = \"x\""),
            "unknown field",
        ),
        (
            MINIMAL.replace("[api]", "[api]\nconcurrency = 0"),
            "api.concurrency: must be between 1 and 64 (got 0)",
        ),
    ] {
        let e = err(&text);
        assert!(e.contains(needle), "{needle:?} not in {e:?}");
        assert!(!e.contains('\n'), "multi-line error {e:?}");
    }
}

#[test]
fn snapshot_keys() {
    let s = load_text(MINIMAL).unwrap();
    assert_eq!(s.snapshots, SnapshotSettings::default());
    assert!(
        !s.snapshots.download,
        "exports are billed: off unless asked for"
    );
    assert!(s.snapshots.latest_only);
    let s = load_text(&format!(
        "{MINIMAL}\n[snapshots]\ndownload = true\nendpoint = \"http://127.0.0.1:9/\"\ninstances = [\"dds-bp1\"]\nnetwork = \"public\"\nwait = \"30s\"\npoll_interval = \"200ms\"\nlatest_only = false\nretries = 3\nlink_duration = \"6h\"\nformat_type = \"MONGODUMP\"\n"
    ))
    .unwrap();
    let want = SnapshotSettings {
        download: true,
        endpoint: Some("http://127.0.0.1:9".into()),
        instances: SnapshotInstances::Only(vec!["dds-bp1".into()]),
        network: Some(Network::Public),
        wait: Duration::from_secs(30),
        poll_interval: Duration::from_millis(200),
        latest_only: false,
        retries: 3,
        link_duration: Duration::from_secs(6 * 3600),
        format_type: "MONGODUMP".into(),
    };
    assert_eq!(s.snapshots, want);
    let s = load_text(&format!("{MINIMAL}\n[snapshots]\ninstances = \"all\"\n")).unwrap();
    assert_eq!(s.snapshots.instances, SnapshotInstances::All);
}

#[test]
fn bad_snapshot_keys_name_the_key() {
    for (body, key, says) in [
        (
            "instances = \"some\"",
            "snapshots.instances",
            "\"all\" or a list",
        ),
        (
            "instances = [\"../x\"]",
            "snapshots.instances",
            "not an instance id",
        ),
        ("retries = 11", "snapshots.retries", "between 0 and 10"),
        (
            "link_duration = \"1m\"",
            "snapshots.link_duration",
            "between 5m and 24h",
        ),
        (
            "poll_interval = \"1ms\"",
            "snapshots.poll_interval",
            "at least 100ms",
        ),
        ("wait = \"soon\"", "snapshots.wait", "not a duration"),
        ("endpoint = \"ftp://x\"", "snapshots.endpoint", "https://"),
        ("donwload = true", "snapshots", "donwload"),
        (
            "format_type = \"B SON\"",
            "snapshots.format_type",
            "not a format name",
        ),
    ] {
        let e = err(&format!("{MINIMAL}\n[snapshots]\n{body}\n"));
        assert!(e.contains(key) && e.contains(says), "{body}: {e}");
    }
    // Exports on in a region the DBS table does not know: say which key fixes it.
    let e = err(
        "[api]\nregion_id = \"mars-north-1\"\nendpoint = \"https://m.example\"\n[[instances]]\nid = \"dds-1\"\n[snapshots]\ndownload = true\n",
    );
    assert!(
        e.contains("snapshots.endpoint") && e.contains("mars-north-1"),
        "{e}"
    );
}

#[test]
fn stream_keys() {
    let s = load_text(MINIMAL).unwrap();
    assert_eq!(
        (
            s.download.streams,
            s.download.stream_cutoff,
            s.download.part_size
        ),
        (4, 256 << 20, 64 << 20)
    );
    let s = load_text(&format!(
        "{MINIMAL}\n[download]\nstreams = 8\nstream_cutoff = \"1GiB\"\npart_size = \"16MiB\"\n"
    ))
    .unwrap();
    assert_eq!(
        (
            s.download.streams,
            s.download.stream_cutoff,
            s.download.part_size
        ),
        (8, 1 << 30, 16 << 20)
    );
    for (body, key, says) in [
        ("streams = 0", "download.streams", "between 1 and 32"),
        ("streams = 33", "download.streams", "between 1 and 32"),
        (
            "part_size = \"1KiB\"",
            "download.part_size",
            "at least 65536 bytes",
        ),
        ("stream_cutoff = \"lots\"", "download.stream_cutoff", ""),
    ] {
        let e = err(&format!("{MINIMAL}\n[download]\n{body}\n"));
        assert!(e.contains(key) && e.contains(says), "{body}: {e}");
    }
}

#[test]
fn progress_interval_key() {
    assert_eq!(
        load_text(MINIMAL).unwrap().progress_interval,
        Duration::from_secs(60)
    );
    let s = load_text(&format!(
        "{MINIMAL}\n[logging]\nprogress_interval = \"5m\"\n"
    ))
    .unwrap();
    assert_eq!(s.progress_interval, Duration::from_secs(300));
    let e = err(&format!(
        "{MINIMAL}\n[logging]\nprogress_interval = \"0s\"\n"
    ));
    assert!(
        e.contains("logging.progress_interval") && e.contains("greater than zero"),
        "{e}"
    );
}

#[test]
fn prune_tier_keys() {
    let p = load_text(MINIMAL).unwrap().prune.rules;
    assert_eq!(
        (p.keep_daily, p.keep_weekly, p.keep_monthly, p.keep_yearly),
        (0, 0, 0, 0)
    );
    assert_eq!(p.keep_within, None);
    let p = load_text(&format!(
        "{MINIMAL}[prune]\nkeep_daily = 7\nkeep_weekly = 4\nkeep_monthly = 12\nkeep_yearly = 3\nkeep_within = \"30d\"\n"
    ))
    .unwrap()
    .prune
    .rules;
    assert_eq!(
        (p.keep_daily, p.keep_weekly, p.keep_monthly, p.keep_yearly),
        (7, 4, 12, 3)
    );
    assert_eq!(p.keep_within, Some(Duration::from_secs(30 * 86400)));
    assert_eq!(p.keep_last, 1, "untouched");
    // Empty or zero: off.
    for off in ["\"\"", "\"0s\""] {
        let p = load_text(&format!("{MINIMAL}[prune]\nkeep_within = {off}\n"))
            .unwrap()
            .prune
            .rules;
        assert_eq!(p.keep_within, None, "{off}");
    }
    // Environment overrides are whole numbers, as keep_last is.
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, MINIMAL, 0o600);
    let env = HashMap::from([(
        "DDS_BACKUP_SYNC__PRUNE__KEEP_WEEKLY".to_string(),
        "5".into(),
    )]);
    assert_eq!(
        load_with_env(&path, Some(env))
            .unwrap()
            .prune
            .rules
            .keep_weekly,
        5
    );
    for (body, key) in [
        ("keep_daily = -1", "prune.keep_daily"),
        ("keep_weekly = 10001", "prune.keep_weekly"),
        ("keep_monthly = -3", "prune.keep_monthly"),
        ("keep_yearly = 20000", "prune.keep_yearly"),
        ("keep_within = \"a month\"", "prune.keep_within"),
        ("keep_daily = \"7\"", "keep_daily"),
    ] {
        let e = err(&format!("{MINIMAL}[prune]\n{body}\n"));
        assert!(e.contains(key) && !e.contains('\n'), "{body}: {e}");
    }
}

#[test]
fn the_prune_keys_name_their_section() {
    let raw = raw::RawPrune {
        keep_daily: Some(-1),
        ..raw::RawPrune::default()
    };
    let bad = |key: &str, reason: String| ConfigError::Invalid {
        file: PathBuf::from("c.toml"),
        key: key.to_string(),
        reason,
    };
    let duration = |_: &str, _: Option<String>, _: &str| Ok(Duration::ZERO);
    let e = sections::prune_settings(raw, "archive.prune", &bad, &duration).unwrap_err();
    assert!(e.to_string().contains("archive.prune.keep_daily"), "{e}");
}

#[test]
fn messages_point_the_right_way() {
    // Issue #26.5: a misspelled region is named with the one it most likely means.
    let e = err(&MINIMAL.replace("cn-hangzhou", "cn-hangzou"));
    assert!(e.contains("did you mean \"cn-hangzhou\""), "{e}");
    let e = err(&MINIMAL.replace("cn-hangzhou", "mars-1"));
    assert!(!e.contains("did you mean"), "{e}");
    // A mode written as a bare number says how to write it.
    let e = err(&format!("{MINIMAL}[metrics]\nfile_mode = 644\n"));
    assert!(
        e.contains("metrics.file_mode") && e.contains("\"0644\""),
        "{e}"
    );
}
