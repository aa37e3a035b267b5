//! `[snapshots]`: whether and how snapshot backups of cloud-disk instances are exported through
//! DBS download tasks (billed per GB converted, so off unless asked for), every error naming
//! its key (`snapshots.key`).

use std::time::Duration;

use super::raw::{RawInstances, RawSnapshots};
use super::sections::{Bad, DurationOf};
use super::{ConfigError, Network, check_endpoint};
use crate::api::dbs::LINK_DURATION;

/// Which instances' snapshots to export.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SnapshotInstances {
    #[default]
    All,
    Only(Vec<String>),
}

impl SnapshotInstances {
    pub fn selects(&self, instance_id: &str) -> bool {
        match self {
            SnapshotInstances::All => true,
            SnapshotInstances::Only(ids) => ids.iter().any(|i| i == instance_id),
        }
    }
}

/// `[snapshots]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotSettings {
    /// Create download tasks at all (`false`: no DBS call is ever made).
    pub download: bool,
    /// The DBS endpoint for every region (an emulator, say); `None`: the SDK's table.
    pub endpoint: Option<String>,
    pub instances: SnapshotInstances,
    /// The export's private or public link; `None`: `download.network`.
    pub network: Option<Network>,
    /// How long one pass polls a running task before leaving it to the next pass.
    pub wait: Duration,
    /// Time between two polls of a running task within `wait`.
    pub poll_interval: Duration,
    /// Export only the newest eligible snapshot of each instance.
    pub latest_only: bool,
    /// `RetryDownloadTask` calls per task, at most, over all passes.
    pub retries: u32,
    /// How long an export link is asked to stay valid (`Duration` of
    /// `DescribeDownloadBackupSetStorageInfo`); an expired one is asked for anew.
    pub link_duration: Duration,
    /// `CreateDownload`'s `FormatType`: undocumented for MongoDB (the reference lists CSV, SQL
    /// and Parquet; empty is refused), so a setting, sent as it is (issue #21).
    pub format_type: String,
}

impl Default for SnapshotSettings {
    fn default() -> Self {
        SnapshotSettings {
            download: false,
            endpoint: None,
            instances: SnapshotInstances::All,
            network: None,
            wait: Duration::from_secs(300),
            poll_interval: Duration::from_secs(15),
            latest_only: true,
            retries: 2,
            link_duration: Duration::from_secs(7200),
            format_type: "BSON".into(),
        }
    }
}

pub(super) fn validate(
    raw: RawSnapshots,
    bad: Bad<'_>,
    duration: DurationOf<'_>,
) -> Result<SnapshotSettings, ConfigError> {
    let d = SnapshotSettings::default();
    let instances = match raw.instances {
        None => SnapshotInstances::All,
        Some(RawInstances::Word(w)) if w.trim() == "all" => SnapshotInstances::All,
        Some(RawInstances::Word(w)) => {
            return Err(bad(
                "snapshots.instances",
                format!("{w:?} is not \"all\" or a list of instance ids like [\"dds-bp1...\"]"),
            ));
        }
        Some(RawInstances::List(ids)) => {
            if let Some(id) = ids
                .iter()
                .find(|i| crate::names::check_id("instance id", i).is_err())
            {
                return Err(bad(
                    "snapshots.instances",
                    format!("{:?} is not an instance id", crate::text::shown(id)),
                ));
            }
            SnapshotInstances::Only(ids)
        }
    };
    let endpoint = match raw.endpoint.filter(|e| !e.trim().is_empty()) {
        Some(e) => Some(check_endpoint(&e).map_err(|r| bad("snapshots.endpoint", r))?),
        None => None,
    };
    let retries = match raw.retries {
        None => d.retries,
        Some(n @ 0..=10) => n as u32,
        Some(n) => {
            return Err(bad(
                "snapshots.retries",
                format!("must be between 0 and 10 (got {n}): every retry is a billed conversion"),
            ));
        }
    };
    let link_duration = duration("snapshots.link_duration", raw.link_duration, "2h")?;
    let secs = link_duration.as_secs();
    if !LINK_DURATION.contains(&secs) {
        return Err(bad(
            "snapshots.link_duration",
            format!(
                "must be between 5m and 24h (the API's Duration range), got {}",
                humantime::format_duration(link_duration)
            ),
        ));
    }
    let poll_interval = duration("snapshots.poll_interval", raw.poll_interval, "15s")?;
    if poll_interval < Duration::from_millis(100) {
        return Err(bad(
            "snapshots.poll_interval",
            "must be at least 100ms".into(),
        ));
    }
    let format_type = format_type(raw.format_type, d.format_type, bad)?;
    Ok(SnapshotSettings {
        format_type,
        download: raw.download.unwrap_or(d.download),
        endpoint,
        instances,
        network: raw.network,
        wait: duration("snapshots.wait", raw.wait, "5m")?,
        poll_interval,
        latest_only: raw.latest_only.unwrap_or(d.latest_only),
        retries,
        link_duration,
    })
}

/// `snapshots.format_type`: a format name as DBS spells one (letters and digits).
fn format_type(raw: Option<String>, default: String, bad: Bad<'_>) -> Result<String, ConfigError> {
    match raw {
        None => Ok(default),
        Some(f) if !f.trim().is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric()) => Ok(f),
        Some(f) => Err(bad(
            "snapshots.format_type",
            format!("{f:?} is not a format name (letters and digits, e.g. \"BSON\")"),
        )),
    }
}
