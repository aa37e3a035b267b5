//! Configuration: TOML file + `DDS_BACKUP_SYNC__SECTION__KEY` environment overrides, merged on
//! `toml` values ([`load`], [`env`]: the `config` crate was weighed and dropped, it converted
//! types silently, `concurrency = "4"` was accepted) into a raw serde struct (unknown keys
//! refused), then validated into immutable [`Settings`] that hold ready values (the schedule,
//! the time zone, the retention rules), parsed once.
//!
//! Every error names the key, the file and the reason, and happens before any request is sent.
//! A config file that holds a secret must not be readable by group or others.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::api::credentials::CredentialOptions;
use crate::retry::RetryPolicy;

pub const DEFAULT_PATH: &str = "/etc/dds-backup-sync/config.toml";
pub const ENV_PATH: &str = "DDS_BACKUP_SYNC_CONFIG";
const ENV_PREFIX: &str = "DDS_BACKUP_SYNC";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config {}: cannot read it: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config {}{}{}: {message}", file.display(),
        line.map(|l| format!(" line {l}")).unwrap_or_default(),
        key.as_ref().map(|k| format!(" ({k})")).unwrap_or_default())]
    Parse {
        file: PathBuf,
        line: Option<usize>,
        key: Option<String>,
        message: String,
    },
    #[error("config {}: {key}: {reason}", file.display())]
    Invalid {
        file: PathBuf,
        key: String,
        reason: String,
    },
    #[error(
        "config {} holds {key} but is readable by group or others (mode {mode:04o}); run `chmod 600 {}` (and chown it to the service user)",
        file.display(), file.display()
    )]
    Permissions {
        file: PathBuf,
        key: &'static str,
        mode: u32,
    },
}

/// Error texts from the TOML parser span several lines (with a caret diagram); an operator's
/// log wants one.
fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with('|') && !l.chars().all(|c| c == '^' || c == ' ')
        })
        .collect();
    lines.join("; ").replace(" ;", ";")
}

/// Where logs go and in which shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

pub use crate::model::Network;
pub use archive::{ArchiveSettings, MIN_PART};
use sections::prune_settings;
pub use snapshots::{SnapshotInstances, SnapshotSettings};

// ---- validated -------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Settings {
    /// The file these settings came from (for messages).
    pub file: PathBuf,
    pub api: ApiSettings,
    pub credentials: CredentialOptions,
    pub instances: Vec<InstanceSettings>,
    /// `[[discover]]`: instances found through `DescribeDBInstances` on every pass.
    pub discover: Vec<DiscoverSettings>,
    pub download: DownloadSettings,
    pub prune: PruneSettings,
    pub schedule: ScheduleSettings,
    pub metrics: MetricsSettings,
    pub verify: VerifySettings,
    pub hooks: HookSettings,
    /// `[snapshots]`: exports of cloud-disk snapshot backups through DBS download tasks.
    pub snapshots: SnapshotSettings,
    /// `[archive]`: the object store verified copies are uploaded to; `None`: no archive.
    pub archive: Option<ArchiveSettings>,
    pub logging: LogFormat,
    /// How often a long download logs its progress (and the daemon updates `STATUS=`).
    pub progress_interval: Duration,
}

#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub region_id: String,
    pub endpoint: String,
    pub page_size: u32,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// How many listings (targets, discoveries) run at once.
    pub concurrency: usize,
}

/// Where API calls for some instances go: a region and its endpoint. `[api]` gives the
/// default; `[[instances]]` and `[[discover]]` may name another.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region {
    pub id: String,
    pub endpoint: String,
}

/// `DBInstanceType` to discover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceType {
    Replicate,
    Sharding,
}

impl InstanceType {
    pub fn api_name(self) -> &'static str {
        match self {
            InstanceType::Replicate => "replicate",
            InstanceType::Sharding => "sharding",
        }
    }
}

/// One `[[discover]]` block: a region and the filters an instance must pass.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoverSettings {
    /// `None`: `[api]`'s.
    pub region: Option<Region>,
    /// `None`: replica sets and sharded clusters.
    pub instance_type: Option<InstanceType>,
    /// Every tag must match (sent as `Tag.N.Key/Value`, checked again here).
    pub tags: Vec<(String, String)>,
    /// Glob (`*`, `?`) on `DBInstanceId`.
    pub id_pattern: Option<String>,
    /// Glob (`*`, `?`) on `DBInstanceDescription`.
    pub description_pattern: Option<String>,
    pub resource_group_id: Option<String>,
    pub lookback: Duration,
    /// `expect_at_least`: a pass whose discovery selects fewer instances fails (exit 1), so a
    /// tag typo or a re-tagged fleet never stops copies in silence. Default 1; 0 allows none.
    pub expect_at_least: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InstanceSettings {
    pub id: String,
    /// `region_id` / `endpoint` of the entry; `None`: `[api]`'s.
    pub region: Option<Region>,
    /// Shard nodes of a sharded cluster; empty for replica sets and standalone instances.
    pub node_ids: Vec<String>,
    pub lookback: Duration,
    pub src_region: Option<String>,
    pub dest_region: Option<String>,
    pub resource_group_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DownloadSettings {
    pub dir: PathBuf,
    pub network: Network,
    pub concurrency: usize,
    pub read_timeout: Duration,
    pub probe_timeout: Duration,
    /// Bytes per second a transfer must keep up, averaged over `read_timeout`; 0: no floor.
    pub min_rate: u64,
    pub connect_timeout: Duration,
    /// Attempts and time for a stretch of a download without progress (its own budget, not
    /// the API's: a download may wait out a flaky link longer than a listing).
    pub retry: crate::retry::RetryPolicy,
    /// Bytes per second over all downloads of a pass together (`bandwidth_limit`, or the
    /// `bandwidth_schedule` timetable read in `schedule.timezone`).
    pub bandwidth: crate::rate::Limit,
    /// Ranged connections per file of at least `stream_cutoff` bytes (1: one connection).
    pub streams: usize,
    pub stream_cutoff: u64,
    /// The unit of work of a ranged stream.
    pub part_size: u64,
    /// `keep_local`: a local copy whose verified archive copy exists goes once it is this old
    /// (needs `[archive]`); `None`: local copies follow `[prune]` alone.
    pub keep_local: Option<Duration>,
}

/// `[prune]` or `[archive.prune]`: whether it is on, and its rules, ready for the planner.
#[derive(Debug, Clone)]
pub struct PruneSettings {
    pub enabled: bool,
    pub rules: crate::model::Rules,
}

#[derive(Debug, Clone)]
pub struct ScheduleSettings {
    /// When the daemon runs a pass, parsed once at load, read in `zone`.
    pub cron: crate::schedule::Schedule,
    /// `schedule.timezone`, parsed once at load (UTC when unset): the cron's zone, the
    /// bandwidth timetable's and retention's calendar.
    pub zone: crate::schedule::Zone,
    pub run_on_start: bool,
}

#[derive(Debug, Clone, Default)]
pub struct VerifySettings {
    /// When the daemon also runs the `--verify` scrub (same time zone as `schedule`), parsed
    /// once at load; `None`: never.
    pub cron: Option<crate::schedule::Schedule>,
    /// Remove corrupt copies whose backup is still listed, so the next pass fetches them again.
    pub repair: bool,
    /// The daemon's scrub checks only copies not verified for this long (a slice per run).
    pub max_age: Option<Duration>,
    /// Bytes per second the scrub reads at most; `None`: no limit.
    pub bandwidth_limit: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct MetricsSettings {
    /// node_exporter textfile-collector file, rewritten atomically after each pass.
    pub textfile: Option<PathBuf>,
    /// The file's mode: node_exporter runs as another user, and the file holds no secret.
    pub file_mode: u32,
}

/// `[hooks]`: what to run around a pass (see [`crate::hooks`]).
#[derive(Debug, Clone, Default)]
pub struct HookSettings {
    pub on_success: Option<String>,
    pub on_failure: Option<String>,
    pub ping_url: Option<String>,
    /// For each command and each ping.
    pub timeout: Duration,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            textfile: None,
            file_mode: 0o644,
        }
    }
}

/// The config file to read: `--config`, else `DDS_BACKUP_SYNC_CONFIG`, else the default path.
pub fn resolve_path(cli: Option<&Path>, env: Option<String>) -> PathBuf {
    cli.map(Path::to_path_buf)
        .or_else(|| env.filter(|s| !s.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
}

/// Loads and validates the settings from `file` plus the process environment.
///
/// # Errors
/// The file is missing or not TOML, a key is unknown or of the wrong type, a value is impossible,
/// or the file holds a secret and is readable by group or others.
pub fn load(file: &Path) -> Result<Settings, ConfigError> {
    load_with_env(file, None)
}

/// [`load`] with the environment given as a map (`None`: the process environment), so tests
/// can exercise overrides without touching the process environment.
pub fn load_with_env(
    file: &Path,
    env: Option<std::collections::HashMap<String, String>>,
) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| load::parse_error(file, &text, &e))?;
    check_permissions(file, &table)?;
    let env = env.unwrap_or_else(|| std::env::vars().collect());
    let raw = load::raw(file, &text, table, &env)?;
    validate(raw, file, &env)
}

fn check_permissions(file: &Path, table: &toml::Table) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let secret_key = [
        "api.access_key_secret",
        "api.security_token",
        "archive.secret_access_key",
    ]
    .into_iter()
    .find(|k| {
        let (section, name) = k.split_once('.').unwrap_or_default();
        table
            .get(section)
            .and_then(toml::Value::as_table)
            .and_then(|t| t.get(name))
            .and_then(toml::Value::as_str)
            .is_some_and(|v| !v.is_empty())
    });
    let Some(key) = secret_key else {
        return Ok(());
    };
    let mode = std::fs::metadata(file)
        .map(|m| m.permissions().mode() & 0o7777)
        .map_err(|e| ConfigError::Invalid {
            file: file.to_path_buf(),
            key: key.into(),
            reason: e.to_string(),
        })?;
    if mode & 0o077 != 0 {
        return Err(ConfigError::Permissions {
            file: file.to_path_buf(),
            key,
            mode,
        });
    }
    Ok(())
}

fn validate(
    raw: raw::Raw,
    file: &Path,
    env: &std::collections::HashMap<String, String>,
) -> Result<Settings, ConfigError> {
    let bad = |key: &str, reason: String| ConfigError::Invalid {
        file: file.to_path_buf(),
        key: key.to_string(),
        reason,
    };
    let duration =
        |key: &str, value: Option<String>, default: &str| -> Result<Duration, ConfigError> {
            let text = value.unwrap_or_else(|| default.to_string());
            humantime::parse_duration(text.trim()).map_err(|e| {
                bad(
                    key,
                    format!("{text:?} is not a duration like \"30s\", \"7d\" ({e})"),
                )
            })
        };
    let (api, credentials) = sections::api(raw.api, &bad, &duration)?;
    let default_region = Region {
        id: api.region_id.clone(),
        endpoint: api.endpoint.clone(),
    };
    let instances = sections::instances(raw.instances, &default_region, &bad, &duration)?;
    let discover = discover::discover(raw.discover, &default_region, &bad, &duration)?;
    if instances.is_empty() && discover.is_empty() {
        return Err(bad(
            "instances",
            "at least one [[instances]] entry with an id, or a [[discover]] block, is required"
                .into(),
        ));
    }
    let download = download::validate(raw.download, &bad, &duration)?;

    let prune = prune_settings(raw.prune, "prune", &bad, &duration)?;
    let (schedule, verify) = sections::schedule(raw.schedule, raw.verify, &bad, &duration)?;
    let hooks = sections::hooks(raw.hooks, &bad, &duration)?;
    let snapshots = snapshots::validate(raw.snapshots, &bad, &duration)?;
    if snapshots.download && snapshots.endpoint.is_none() {
        dbs_endpoints_known(&instances, &discover, &default_region, &bad)?;
    }
    let metrics = sections::metrics(raw.metrics, &bad)?;
    let archive = match raw.archive {
        Some(a) => Some(archive::validate(a, env, &bad, &duration)?),
        None => None,
    };
    if download.keep_local.is_some() && archive.is_none() {
        return Err(bad(
            "download.keep_local",
            "needs an [archive]: a local copy is only let go once an archive holds it".into(),
        ));
    }
    Ok(Settings {
        file: file.to_path_buf(),
        api,
        credentials,
        instances,
        discover,
        download,
        prune,
        schedule,
        metrics,
        verify,
        hooks,
        snapshots,
        archive,
        logging: raw.logging.format.unwrap_or_default(),
        progress_interval: positive(
            duration(
                "logging.progress_interval",
                raw.logging.progress_interval,
                "60s",
            )?,
            "logging.progress_interval",
            &bad,
        )?,
    })
}

/// With exports on, every region an instance can be in must have a DBS endpoint in the SDK's
/// table, or `snapshots.endpoint` must say where DBS is.
fn dbs_endpoints_known(
    instances: &[InstanceSettings],
    discover: &[DiscoverSettings],
    default: &Region,
    bad: sections::Bad<'_>,
) -> Result<(), ConfigError> {
    let regions = instances
        .iter()
        .map(|i| i.region.as_ref())
        .chain(discover.iter().map(|d| d.region.as_ref()))
        .map(|r| r.unwrap_or(default));
    for region in regions {
        if crate::api::endpoint::dbs_for_region(&region.id).is_none() {
            return Err(bad(
                "snapshots.endpoint",
                format!(
                    "no known DBS endpoint for region {:?}; set snapshots.endpoint",
                    region.id
                ),
            ));
        }
    }
    Ok(())
}

fn positive(
    d: Duration,
    key: &str,
    bad: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Duration, ConfigError> {
    if d.is_zero() {
        Err(bad(key, "must be greater than zero".into()))
    } else {
        Ok(d)
    }
}

/// An endpoint must be an absolute http(s) URL without user info; http is allowed for emulators.
fn check_endpoint(raw: &str) -> Result<String, String> {
    crate::urls::check(raw).map_err(|reason| {
        let fix = if reason.contains("credentials") {
            "an endpoint must not contain credentials; use api.access_key_id/secret"
        } else {
            "use https:// (or http:// for an emulator) and a host"
        };
        format!("{:?}: {reason}; {fix}", crate::text::shown(raw))
    })?;
    Ok(raw.trim().trim_end_matches('/').to_string())
}

mod archive;
mod demo;
mod discover;
mod download;
mod env;
mod load;
mod raw;
mod sections;
mod snapshots;
#[cfg(test)]
mod tests;
