//! The `[download]` section: raw keys → [`DownloadSettings`], every error naming its key.

use std::path::PathBuf;
use std::time::Duration;

use super::raw::RawDownload;
use super::{ConfigError, DownloadSettings, positive};
use crate::rate::{Limit, Timetable};

/// The floor under which a transfer counts as stalled: slow enough that a 300 GB backup would
/// take two months, fast enough for any real link.
const DEFAULT_MIN_RATE: &str = "64KiB";

type Bad<'a> = &'a dyn Fn(&str, String) -> ConfigError;
type DurationOf<'a> = &'a dyn Fn(&str, Option<String>, &str) -> Result<Duration, ConfigError>;

pub(super) fn validate(
    d: RawDownload,
    bad: Bad<'_>,
    duration: DurationOf<'_>,
) -> Result<DownloadSettings, ConfigError> {
    let dir = d
        .dir
        .unwrap_or_else(|| PathBuf::from("/var/lib/dds-backup-sync"));
    if dir.as_os_str().is_empty() {
        return Err(bad("download.dir", "must not be empty".into()));
    }
    let dir = std::path::absolute(&dir).map_err(|e| bad("download.dir", e.to_string()))?;
    let concurrency = match d.concurrency {
        None => 4,
        Some(n @ 1..=64) => n as usize,
        Some(n) => {
            return Err(bad(
                "download.concurrency",
                format!("must be between 1 and 64 (got {n})"),
            ));
        }
    };
    let retry = super::sections::retry(
        "download",
        d.max_attempts,
        d.max_retry_time,
        "5m",
        bad,
        duration,
    )?;
    let min_rate = crate::units::parse_size(d.min_rate.as_deref().unwrap_or(DEFAULT_MIN_RATE))
        .map_err(|r| {
            bad(
                "download.min_rate",
                format!("{r} (\"0\" turns the floor off)"),
            )
        })?;
    let bandwidth = bandwidth(d.bandwidth_limit, d.bandwidth_schedule, bad)?;
    let (streams, stream_cutoff, part_size) =
        streams(d.streams, d.stream_cutoff, d.part_size, bad)?;
    let keep_local = match d.keep_local {
        Some(text) => Some(duration("download.keep_local", Some(text), "")?),
        None => None,
    };
    Ok(DownloadSettings {
        keep_local,
        bandwidth,
        streams,
        stream_cutoff,
        part_size,
        dir,
        network: d.network.unwrap_or_default(),
        concurrency,
        read_timeout: positive(
            duration("download.read_timeout", d.read_timeout, "60s")?,
            "download.read_timeout",
            bad,
        )?,
        probe_timeout: positive(
            duration("download.probe_timeout", d.probe_timeout, "3s")?,
            "download.probe_timeout",
            bad,
        )?,
        min_rate,
        connect_timeout: positive(
            duration("download.connect_timeout", d.connect_timeout, "10s")?,
            "download.connect_timeout",
            bad,
        )?,
        retry,
    })
}

/// `download.streams`, `download.stream_cutoff`, `download.part_size`.
fn streams(
    streams: Option<i64>,
    stream_cutoff: Option<String>,
    part_size: Option<String>,
    bad: Bad<'_>,
) -> Result<(usize, u64, u64), ConfigError> {
    let streams = match streams {
        None => 4,
        Some(n @ 1..=32) => n as usize,
        Some(n) => {
            return Err(bad(
                "download.streams",
                format!("must be between 1 and 32 (got {n}); 1 is one connection per file"),
            ));
        }
    };
    let size = |key: &str, v: Option<String>, default: &str, min: u64| {
        let n =
            crate::units::parse_size(v.as_deref().unwrap_or(default)).map_err(|r| bad(key, r))?;
        if n < min {
            return Err(bad(
                key,
                format!("must be at least {} bytes (got {n})", min),
            ));
        }
        Ok(n)
    };
    let part_size = size("download.part_size", part_size, "64MiB", 64 * 1024)?;
    let stream_cutoff = size("download.stream_cutoff", stream_cutoff, "256MiB", 1)?;
    Ok((streams, stream_cutoff, part_size))
}

/// `download.bandwidth_limit` (one rate) or `download.bandwidth_schedule` (a timetable), not both.
fn bandwidth(
    limit: Option<String>,
    schedule: Option<String>,
    bad: Bad<'_>,
) -> Result<Limit, ConfigError> {
    let limit = limit.filter(|l| !l.trim().is_empty());
    let schedule = schedule.filter(|s| !s.trim().is_empty());
    match (limit, schedule) {
        (None, None) => Ok(Limit::Off),
        (Some(_), Some(_)) => Err(bad(
            "download.bandwidth_schedule",
            "set either download.bandwidth_limit or download.bandwidth_schedule, not both".into(),
        )),
        (Some(l), None) => crate::units::parse_size(&l).map(Limit::Fixed).map_err(|r| {
            bad(
                "download.bandwidth_limit",
                format!("{r} (bytes per second; empty = no limit)"),
            )
        }),
        (None, Some(s)) => Timetable::parse(&s)
            .map(Limit::Timetable)
            .map_err(|r| bad("download.bandwidth_schedule", r)),
    }
}
