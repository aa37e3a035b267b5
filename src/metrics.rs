//! Prometheus text-format metrics for node_exporter's textfile collector, rewritten atomically
//! after each pass.
//!
//! [`render`] is pure (the figures in, text out); [`write`] gathers the figures from the store
//! and writes them. The series operators alert on is
//! `dds_backup_sync_newest_verified_backup_age_seconds` per instance/node.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use time::OffsetDateTime;

use crate::store::{self, Store, StoreError};
use crate::sync::report::Summary;

pub mod scrub;

/// Everything one metrics file says.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub pass_start: i64,
    pub pass_end: i64,
    /// When the last pass that ended without any failure ended (0: never, in this process).
    pub last_success: i64,
    /// Whether the last pass that ran to its end had no failures (`None`: none has, in this
    /// process); a pass stopped by a shutdown request leaves it as it was.
    pub pass_ok: Option<bool>,
    /// The last pass was stopped at a safe point by a shutdown request: its own outcome.
    pub cancelled: bool,
    pub summary: Summary,
    /// Failures of the last pass, by reason.
    pub failures_by_reason: BTreeMap<String, u64>,
    /// Per (instance, node): the newest verified backup's end time (Unix seconds) and copies.
    pub newest: BTreeMap<(String, String), (i64, u64)>,
    /// Per (instance, node): local copies whose format verdict is `damaged`, `unrecognised`.
    pub verdicts: BTreeMap<(String, String), (u64, u64)>,
    pub verify_mismatches: u64,
    /// Per (instance, node): the newest sound archived copy's backup time and the archived
    /// copies, as the last pass that listed the archive saw them (a pass that could not list
    /// it leaves them as they were, so their age keeps growing and alerts).
    pub archive_newest: BTreeMap<(String, String), (i64, u64)>,
    pub disk_free_bytes: Option<u64>,
    pub now: i64,
}

impl Figures {
    /// Records a pass that ran from `start` to `end` (Unix seconds).
    pub fn record_pass(&mut self, summary: &Summary, start: i64, end: i64) {
        self.pass_start = start;
        self.pass_end = end;
        self.cancelled = summary.stopped > 0 && summary.stopped_cleanly();
        if !self.cancelled {
            self.pass_ok = Some(summary.ok());
        }
        if summary.ok() {
            self.last_success = end;
        }
        // Every reason is written, 0 when fine: an alert on one never sees a series vanish.
        self.failures_by_reason = crate::sync::report::FailureKind::ALL
            .iter()
            .map(|k| (k.to_string(), 0))
            .collect();
        // A download stopped by a shutdown is no failure: it shows as outcome="stopped".
        let failed = summary.failures.iter();
        for f in failed.filter(|f| f.kind != crate::sync::report::FailureKind::Cancelled) {
            *self
                .failures_by_reason
                .entry(f.kind.to_string())
                .or_default() += 1;
        }
        if !summary.archive_newest.is_empty() {
            self.archive_newest = summary.archive_newest.clone();
        }
        self.summary = summary.clone();
    }
}

/// The file's text.
pub fn render(s: &Figures) -> String {
    let mut out = String::new();
    let version = format!("{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"));
    gauge(
        &mut out,
        "build_info",
        "The version that wrote this file (always 1).",
        &[(version, 1.0)],
    );
    pass_gauges(s, &mut out);
    copy_gauges(s, &mut out);
    let one = |v: f64| vec![(String::new(), v)];
    gauge(
        &mut out,
        "verify_mismatches",
        "Copies a scrub found rotted (not yet fetched again) or damaged at the source.",
        &one(s.verify_mismatches as f64),
    );
    if let Some(free) = s.disk_free_bytes {
        gauge(
            &mut out,
            "disk_free_bytes",
            "Free bytes on the download directory's file system.",
            &one(free as f64),
        );
    }
    out
}

/// One gauge: its help, its type, and one line per sample (labels, value).
fn gauge(out: &mut String, name: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP dds_backup_sync_{name} {help}");
    let _ = writeln!(out, "# TYPE dds_backup_sync_{name} gauge");
    for (labels, value) in samples {
        let _ = writeln!(out, "dds_backup_sync_{name}{labels} {value}");
    }
}

/// What the last pass did.
fn pass_gauges(s: &Figures, out: &mut String) {
    let mut gauge =
        |name: &str, help: &str, samples: &[(String, f64)]| gauge(out, name, help, samples);
    let one = |v: f64| vec![(String::new(), v)];
    gauge(
        "last_pass_start_timestamp_seconds",
        "Start of the last pass.",
        &one(s.pass_start as f64),
    );
    gauge(
        "last_pass_end_timestamp_seconds",
        "End of the last pass.",
        &one(s.pass_end as f64),
    );
    gauge(
        "last_success_timestamp_seconds",
        "End of the last pass without failures.",
        &one(s.last_success as f64),
    );
    if let Some(ok) = s.pass_ok {
        gauge(
            "last_pass_success",
            "1 if the last pass that ran to its end had no failures.",
            &one(if ok { 1.0 } else { 0.0 }),
        );
    }
    gauge(
        "last_pass_cancelled",
        "1 if the last pass was stopped at a safe point by a shutdown request.",
        &one(if s.cancelled { 1.0 } else { 0.0 }),
    );
    gauge(
        "last_pass_bytes_downloaded",
        "Bytes downloaded by the last pass.",
        &one(s.summary.bytes as f64),
    );
    gauge(
        "last_pass_backups",
        "Backups by outcome in the last pass.",
        &[
            ("fetched", s.summary.fetched),
            ("resumed", s.summary.resumed),
            ("up_to_date", s.summary.up_to_date),
            ("skipped", s.summary.skipped),
            ("failed", s.summary.failed),
            // Stopped by a shutdown request at a safe point; the next pass resumes them.
            ("stopped", s.summary.stopped),
            ("pruned", s.summary.pruned),
            // Snapshot exports whose DBS task was still running when the pass moved on.
            ("exporting", s.summary.exporting),
        ]
        .map(|(k, v)| (format!("{{outcome=\"{k}\"}}"), v as f64)),
    );
    let reasons: Vec<(String, f64)> = s
        .failures_by_reason
        .iter()
        .map(|(k, v)| (format!("{{reason=\"{}\"}}", escape(k)), *v as f64))
        .collect();
    gauge(
        "last_pass_failures",
        "Failures in the last pass, by reason.",
        &reasons,
    );
    let selected: Vec<(String, f64)> = (s.summary.selected.iter())
        .map(|d| {
            let labels = format!("{{block=\"{}\",region=\"{}\"}}", d.block, escape(&d.region));
            (labels, d.selected as f64)
        })
        .collect();
    gauge(
        "discovered_instances",
        "Instances each [[discover]] block selected in the last pass that listed it; alert at 0.",
        &selected,
    );
}

/// Per instance/node: the newest verified copy, the copies, their format verdicts.
fn copy_gauges(s: &Figures, out: &mut String) {
    let mut gauge =
        |name: &str, help: &str, samples: &[(String, f64)]| gauge(out, name, help, samples);
    let labels = |(inst, node): &(String, String)| {
        format!(
            "{{instance=\"{}\",node=\"{}\"}}",
            escape(inst),
            escape(node)
        )
    };
    let newest: Vec<(String, f64)> = s
        .newest
        .iter()
        .map(|(k, (t, _))| (labels(k), *t as f64))
        .collect();
    gauge(
        "newest_verified_backup_end_timestamp_seconds",
        "BackupEndTime of the newest verified local copy.",
        &newest,
    );
    let age: Vec<(String, f64)> = s
        .newest
        .iter()
        .map(|(k, (t, _))| (labels(k), (s.now - t).max(0) as f64))
        .collect();
    gauge(
        "newest_verified_backup_age_seconds",
        "Age of the newest verified local copy; alert when it grows too old.",
        &age,
    );
    let copies: Vec<(String, f64)> = s
        .newest
        .iter()
        .map(|(k, (_, n))| (labels(k), *n as f64))
        .collect();
    gauge("local_copies", "Verified local copies.", &copies);
    let archive_age: Vec<(String, f64)> = s
        .archive_newest
        .iter()
        .map(|(k, (t, _))| (labels(k), (s.now - t).max(0) as f64))
        .collect();
    gauge(
        "archive_newest_backup_age_seconds",
        "Age of the newest sound copy in the archive; alert on it apart from the local copies.",
        &archive_age,
    );
    let archived: Vec<(String, f64)> = s
        .archive_newest
        .iter()
        .map(|(k, (_, n))| (labels(k), *n as f64))
        .collect();
    gauge("archive_copies", "Sound copies in the archive.", &archived);
    let by_verdict = |pick: fn(&(u64, u64)) -> u64| -> Vec<(String, f64)> {
        s.newest
            .keys()
            .map(|k| {
                let n = s.verdicts.get(k).map(pick).unwrap_or(0);
                (labels(k), n as f64)
            })
            .collect()
    };
    gauge(
        "damaged_copies",
        "Local copies damaged at the source (the cloud's bytes, broken inside their format).",
        &by_verdict(|v| v.0),
    );
    gauge(
        "unrecognised_copies",
        "Local copies that do not start like their file name's format.",
        &by_verdict(|v| v.1),
    );
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Fills the store-derived parts of a figures: newest verified copy per instance/node and
/// free disk space, read from the disk (outside a pass, which hands over what it holds).
pub fn observe_store(store: &Store, figures: &mut Figures) {
    observe(store, crate::model::Holdings::of(&store.scan()), figures);
}

/// Fills the store-derived parts of a figures from `holdings` (one read of the copies).
pub fn observe(store: &Store, holdings: crate::model::Holdings, figures: &mut Figures) {
    figures.newest = holdings.newest;
    figures.verdicts = holdings.verdicts;
    figures.verify_mismatches = holdings.problems;
    figures.disk_free_bytes = store::free_space(store.root()).ok();
    figures.now = OffsetDateTime::now_utc().unix_timestamp();
}

/// Writes the file atomically (node_exporter must never read half a file).
pub fn write(path: &Path, mode: u32, figures: &Figures) -> Result<(), StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(store::io_err("create", dir))?;
    }
    store::write_atomic_mode(path, render(figures).as_bytes(), mode)
}

/// Checks at start that the metrics file can be written (its folder made, a file created in
/// it), so a wrong path is a setup error once, not a warning every pass.
///
/// # Errors
/// What failed, naming the path.
pub fn check_writable(path: &Path, mode: u32) -> Result<(), StoreError> {
    let probe = path.with_file_name(format!(
        ".{}.probe-{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("metrics"),
        std::process::id()
    ));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(store::io_err("create", dir))?;
    }
    store::write_atomic_mode(&probe, b"", mode)?;
    std::fs::remove_file(&probe).map_err(store::io_err("remove", &probe))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_pass_counts_its_downloads_as_stopped_not_as_failures() {
        // Issue #26.3: a SIGTERM mid-pass (a restart) is not a failure of any backup.
        let summary = Summary {
            stopped: 2,
            failures: vec![crate::sync::report::Failure {
                backup: "dds-1/1".into(),
                kind: crate::sync::report::FailureKind::Cancelled,
                message: "stopped by a shutdown request".into(),
            }],
            ..Summary::default()
        };
        let mut s = Figures::default();
        s.record_pass(&summary, 0, 1);
        let text = render(&s);
        assert!(
            text.contains("dds_backup_sync_last_pass_cancelled 1"),
            "{text}"
        );
        assert!(
            text.contains("dds_backup_sync_last_pass_backups{outcome=\"stopped\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("dds_backup_sync_last_pass_failures{reason=\"cancelled\"} 0"),
            "{text}"
        );
    }

    #[test]
    fn renders_the_alerting_series() {
        let mut s = Figures {
            pass_start: 100,
            pass_end: 160,
            last_success: 160,
            pass_ok: Some(true),
            now: 1000,
            ..Figures::default()
        };
        s.newest.insert(("dds-1".into(), String::new()), (400, 3));
        s.newest.insert(("dds-2".into(), "d-0".into()), (900, 1));
        s.failures_by_reason.insert("crc_mismatch".into(), 2);
        s.summary.exporting = 1;
        s.verdicts.insert(("dds-1".into(), String::new()), (1, 2));
        let text = render(&s);
        for line in [
            "dds_backup_sync_last_pass_success 1",
            "dds_backup_sync_newest_verified_backup_age_seconds{instance=\"dds-1\",node=\"\"} 600",
            "dds_backup_sync_newest_verified_backup_age_seconds{instance=\"dds-2\",node=\"d-0\"} 100",
            "dds_backup_sync_local_copies{instance=\"dds-1\",node=\"\"} 3",
            "dds_backup_sync_damaged_copies{instance=\"dds-1\",node=\"\"} 1",
            "dds_backup_sync_unrecognised_copies{instance=\"dds-1\",node=\"\"} 2",
            "dds_backup_sync_damaged_copies{instance=\"dds-2\",node=\"d-0\"} 0",
            "dds_backup_sync_last_pass_failures{reason=\"crc_mismatch\"} 2",
            "dds_backup_sync_last_pass_backups{outcome=\"exporting\"} 1",
            "# TYPE dds_backup_sync_last_pass_end_timestamp_seconds gauge",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
    #[test]
    fn the_archives_age_is_kept_when_a_pass_could_not_list_it() {
        let mut s = Figures {
            now: 1000,
            ..Figures::default()
        };
        let mut listed = Summary::default();
        listed
            .archive_newest
            .insert(("dds-1".into(), String::new()), (300, 4));
        s.record_pass(&listed, 0, 10);
        // The next pass could not list the archive: the last figures stay, and age.
        s.record_pass(&Summary::default(), 20, 30);
        s.now = 2000;
        let text = render(&s);
        for line in [
            "dds_backup_sync_archive_newest_backup_age_seconds{instance=\"dds-1\",node=\"\"} 1700",
            "dds_backup_sync_archive_copies{instance=\"dds-1\",node=\"\"} 4",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
