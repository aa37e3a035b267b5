//! The config file exactly as it may be written: every key optional here, unknown keys refused
//! (`deny_unknown_fields`). Validation into [`super::Settings`] happens in `config.rs`.

use std::path::PathBuf;

use serde::Deserialize;

use super::{LogFormat, Network};
use crate::secret::Secret;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Raw {
    pub(super) api: RawApi,
    #[serde(default)]
    pub(super) instances: Vec<RawInstance>,
    #[serde(default)]
    pub(super) discover: Vec<RawDiscover>,
    #[serde(default)]
    pub(super) download: RawDownload,
    #[serde(default)]
    pub(super) prune: RawPrune,
    #[serde(default)]
    pub(super) schedule: RawSchedule,
    #[serde(default)]
    pub(super) logging: RawLogging,
    #[serde(default)]
    pub(super) metrics: RawMetrics,
    #[serde(default)]
    pub(super) verify: RawVerify,
    #[serde(default)]
    pub(super) hooks: RawHooks,
    #[serde(default)]
    pub(super) snapshots: RawSnapshots,
    pub(super) archive: Option<RawArchive>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawArchive {
    pub(super) url: Option<String>,
    pub(super) endpoint: Option<String>,
    pub(super) region: Option<String>,
    pub(super) path_style: Option<bool>,
    pub(super) access_key_id: Option<String>,
    pub(super) secret_access_key: Option<Secret>,
    pub(super) part_size: Option<String>,
    pub(super) uploads: Option<i64>,
    pub(super) prune: Option<RawPrune>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApi {
    pub(super) region_id: Option<String>,
    pub(super) endpoint: Option<String>,
    pub(super) page_size: Option<i64>,
    pub(super) concurrency: Option<i64>,
    pub(super) access_key_id: Option<String>,
    pub(super) access_key_secret: Option<Secret>,
    pub(super) security_token: Option<Secret>,
    pub(super) profile: Option<String>,
    pub(super) profile_path: Option<PathBuf>,
    pub(super) ecs_ram_role: Option<String>,
    pub(super) ecs_metadata_url: Option<String>,
    pub(super) use_ecs_ram_role: Option<bool>,
    pub(super) timeout: Option<String>,
    pub(super) max_attempts: Option<i64>,
    pub(super) max_retry_time: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInstance {
    pub(super) id: Option<String>,
    pub(super) region_id: Option<String>,
    pub(super) endpoint: Option<String>,
    #[serde(default)]
    pub(super) node_ids: Vec<String>,
    pub(super) lookback: Option<String>,
    pub(super) src_region: Option<String>,
    pub(super) dest_region: Option<String>,
    pub(super) resource_group_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDiscover {
    pub(super) region_id: Option<String>,
    pub(super) endpoint: Option<String>,
    pub(super) instance_type: Option<String>,
    #[serde(default)]
    pub(super) tags: std::collections::BTreeMap<String, String>,
    pub(super) id_pattern: Option<String>,
    pub(super) description_pattern: Option<String>,
    pub(super) resource_group_id: Option<String>,
    pub(super) lookback: Option<String>,
    pub(super) expect_at_least: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDownload {
    pub(super) keep_local: Option<String>,
    pub(super) dir: Option<PathBuf>,
    pub(super) network: Option<Network>,
    pub(super) concurrency: Option<i64>,
    pub(super) read_timeout: Option<String>,
    pub(super) probe_timeout: Option<String>,
    pub(super) min_rate: Option<String>,
    pub(super) connect_timeout: Option<String>,
    pub(super) max_attempts: Option<i64>,
    pub(super) max_retry_time: Option<String>,
    pub(super) bandwidth_limit: Option<String>,
    pub(super) bandwidth_schedule: Option<String>,
    pub(super) streams: Option<i64>,
    pub(super) stream_cutoff: Option<String>,
    pub(super) part_size: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPrune {
    pub(super) enabled: Option<bool>,
    pub(super) grace: Option<String>,
    pub(super) keep_last: Option<i64>,
    pub(super) keep_daily: Option<i64>,
    pub(super) keep_weekly: Option<i64>,
    pub(super) keep_monthly: Option<i64>,
    pub(super) keep_yearly: Option<i64>,
    pub(super) keep_within: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    pub(super) cron: Option<String>,
    pub(super) timezone: Option<String>,
    pub(super) run_on_start: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVerify {
    pub(super) cron: Option<String>,
    pub(super) repair: Option<bool>,
    pub(super) max_age: Option<String>,
    pub(super) bandwidth_limit: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHooks {
    pub(super) on_success: Option<String>,
    pub(super) on_failure: Option<String>,
    pub(super) ping_url: Option<String>,
    pub(super) timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub(super) textfile: Option<PathBuf>,
    pub(super) file_mode: Option<RawMode>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLogging {
    pub(super) format: Option<LogFormat>,
    pub(super) progress_interval: Option<String>,
}

/// `metrics.file_mode` as written: `"0644"`, or a bare number (TOML reads `644` as decimal, so
/// it is refused with the spelling to use).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawMode {
    Text(String),
    Number(i64),
}

/// `instances = "all"` or a list of ids.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawInstances {
    Word(String),
    List(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSnapshots {
    pub(super) download: Option<bool>,
    pub(super) endpoint: Option<String>,
    pub(super) instances: Option<RawInstances>,
    pub(super) network: Option<Network>,
    pub(super) wait: Option<String>,
    pub(super) poll_interval: Option<String>,
    pub(super) latest_only: Option<bool>,
    pub(super) retries: Option<i64>,
    pub(super) link_duration: Option<String>,
    pub(super) format_type: Option<String>,
}
