//! What a pass did: the one-line summary, the per-backup failures, and the `--dry-run` plan.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::plan::Action;
use super::prune::Decision;

/// Counts and figures of one pass.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub listed: usize,
    pub fetched: usize,
    pub resumed: usize,
    pub up_to_date: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Copies published this pass whose format verdict is `damaged`: the cloud's bytes, kept,
    /// but the backup itself is broken (named in `failures`, kind `damaged`).
    pub damaged: usize,
    /// Downloads stopped by a shutdown request; their partial files resume next pass.
    pub stopped: usize,
    /// Snapshot exports whose DBS download task was still running when this pass stopped
    /// waiting for it (`snapshots.wait`): the next pass polls it again.
    pub exporting: usize,
    pub pruned: usize,
    /// Copies uploaded to the archive this pass, and their bytes.
    pub archived: usize,
    pub archive_bytes: u64,
    /// Archived copies (units) its retention removed.
    pub archive_pruned: usize,
    /// Per instance/node: the newest sound archived copy's backup time and the copies (empty
    /// without an archive, or when listing it failed).
    #[serde(skip)]
    pub archive_newest: std::collections::BTreeMap<(String, String), (i64, u64)>,
    /// What the metrics show of the local copies once the pass is done (`None`: a dry run, or
    /// a pass that stopped before it: the metrics read the disk then).
    #[serde(skip)]
    pub local: Option<crate::model::Holdings>,
    /// What each `[[discover]]` block selected (for the metrics).
    #[serde(skip)]
    pub selected: Vec<crate::model::Selected>,
    /// Targets (instance or node) whose listing failed, and discoveries that selected fewer
    /// instances than they expect.
    pub listing_errors: usize,
    pub bytes: u64,
    pub seconds: f64,
    /// One entry per failed backup: `label: message`.
    pub failures: Vec<Failure>,
    /// True when credentials, permissions or the clock are wrong (exit code 2).
    #[serde(skip)]
    pub setup_error: bool,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub backup: String,
    pub kind: FailureKind,
    pub message: String,
}

/// Why a backup failed in a pass: one word each, also the metrics' `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    Listing,
    /// A `[[discover]]` block selected fewer instances than its `expect_at_least`.
    Discovery,
    Export,
    Archive,
    /// Published, but the cloud's bytes are broken inside their format.
    Damaged,
    Http,
    SizeMismatch,
    CrcMismatch,
    DiskFull,
    Io,
    Transfer,
    TooSlow,
    UrlRefresh,
    /// Stopped by a shutdown request: not a failure, named so the next pass resumes it.
    Cancelled,
    /// A task of the program itself panicked (a bug): the partial file is kept.
    Panicked,
}

impl FailureKind {
    pub const ALL: [FailureKind; 15] = [
        FailureKind::Listing,
        FailureKind::Discovery,
        FailureKind::Export,
        FailureKind::Archive,
        FailureKind::Damaged,
        FailureKind::Http,
        FailureKind::SizeMismatch,
        FailureKind::CrcMismatch,
        FailureKind::DiskFull,
        FailureKind::Io,
        FailureKind::Transfer,
        FailureKind::TooSlow,
        FailureKind::UrlRefresh,
        FailureKind::Cancelled,
        FailureKind::Panicked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Listing => "listing",
            FailureKind::Discovery => "discovery",
            FailureKind::Export => "export",
            FailureKind::Archive => "archive",
            FailureKind::Damaged => "damaged",
            FailureKind::Http => "http",
            FailureKind::SizeMismatch => "size_mismatch",
            FailureKind::CrcMismatch => "crc_mismatch",
            FailureKind::DiskFull => "disk_full",
            FailureKind::Io => "io",
            FailureKind::Transfer => "transfer",
            FailureKind::TooSlow => "too_slow",
            FailureKind::UrlRefresh => "url_refresh",
            FailureKind::Cancelled => "cancelled",
            FailureKind::Panicked => "panicked",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// So a check reads as the log does: `failure.kind == "archive"`.
impl PartialEq<&str> for FailureKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Summary {
    pub fn mib_per_s(&self) -> f64 {
        if self.seconds <= 0.0 {
            0.0
        } else {
            self.bytes as f64 / self.seconds / 1_048_576.0
        }
    }

    /// Logs the failures (a stop at a safe point as a WARN), the one-line summary, and the
    /// counts for machines: as fields with JSON logs, as one JSON line with text logs.
    pub fn log(&self, format: crate::config::LogFormat) {
        for f in &self.failures {
            if f.kind == FailureKind::Cancelled {
                tracing::warn!(backup = %f.backup, kind = f.kind.as_str(), "{}", f.message);
            } else {
                tracing::error!(backup = %f.backup, kind = f.kind.as_str(), "{}", f.message);
            }
        }
        if self.ok() {
            tracing::info!("pass finished: {self}");
        } else {
            tracing::warn!("pass finished with problems: {self}");
        }
        match format {
            // JSON logs: the counts as fields of their own (a JSON text inside `message` would
            // be encoded twice); each failure has its line above.
            crate::config::LogFormat::Json => tracing::info!(
                target: "dds_backup_sync::summary",
                listed = self.listed,
                fetched = self.fetched,
                resumed = self.resumed,
                up_to_date = self.up_to_date,
                skipped = self.skipped,
                failed = self.failed,
                damaged = self.damaged,
                stopped = self.stopped,
                exporting = self.exporting,
                pruned = self.pruned,
                archived = self.archived,
                archive_bytes = self.archive_bytes,
                archive_pruned = self.archive_pruned,
                listing_errors = self.listing_errors,
                bytes = self.bytes,
                seconds = self.seconds,
                failures = self.failures.len(),
                dry_run = self.dry_run,
                "pass summary"
            ),
            // Text logs: one JSON line, easy to grep or ship.
            crate::config::LogFormat::Text => {
                if let Ok(json) = serde_json::to_string(self) {
                    tracing::info!(target: "dds_backup_sync::summary", "{}", crate::text::json_safe(&json));
                }
            }
        }
    }

    /// Nothing failed, nothing damaged was published, and the pass ran to its end.
    pub fn ok(&self) -> bool {
        self.stopped_cleanly() && self.stopped == 0
    }

    /// Nothing failed and nothing damaged was published, though a shutdown request may have
    /// stopped downloads at a safe point (exit 0: `systemctl stop` is not a failure).
    pub fn stopped_cleanly(&self) -> bool {
        self.failed == 0 && self.listing_errors == 0 && self.damaged == 0
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}listed {}, fetched {}, resumed {}, up to date {}, skipped {}, failed {}, {}{}{}pruned {}, {}listing errors {}, {} in {} ({:.1} MiB/s)",
            if self.dry_run { "dry run: " } else { "" },
            self.listed,
            self.fetched,
            self.resumed,
            self.up_to_date,
            self.skipped,
            self.failed,
            if self.damaged > 0 {
                format!("damaged {}, ", self.damaged)
            } else {
                String::new()
            },
            if self.stopped > 0 {
                format!("stopped by shutdown {}, ", self.stopped)
            } else {
                String::new()
            },
            if self.exporting > 0 {
                format!("exports still running {}, ", self.exporting)
            } else {
                String::new()
            },
            self.pruned,
            if self.archived > 0 || self.archive_pruned > 0 {
                format!(
                    "archived {} ({}), archive pruned {}, ",
                    self.archived,
                    human_bytes(self.archive_bytes),
                    self.archive_pruned
                )
            } else {
                String::new()
            },
            self.listing_errors,
            human_bytes(self.bytes),
            humantime::format_duration(Duration::from_millis((self.seconds * 1000.0) as u64)),
            self.mib_per_s()
        )
    }
}

pub use crate::units::human_bytes;

/// The plan as `--dry-run` prints it, one line per backup and per local copy retention
/// judged (keep, and which rules keep it; or remove). `tasks`: the download task records of
/// the snapshots to export, where the store holds one.
pub fn render_plan(
    actions: &[Action],
    retention: &[Decision],
    tasks: &std::collections::HashMap<crate::model::BackupKey, crate::model::TaskRecord>,
) -> String {
    let mut out = String::new();
    for a in actions {
        let line = match a {
            Action::Fetch(f) if f.resume_from > 0 => format!(
                "resume  {}  {} from {} of {} via {}",
                f.key.label(),
                f.file_name,
                f.resume_from,
                f.size,
                f.via
            ),
            Action::Fetch(f) => format!(
                "fetch   {}  {} ({}) via {}",
                f.key.label(),
                f.file_name,
                human_bytes(f.size),
                f.via
            ),
            Action::UpToDate { key, file_name } => format!(
                "ok      {}  {} (verified copy present)",
                key.label(),
                file_name
            ),
            Action::Archived { key, file_name } => format!(
                "ok      {}  {} (in the archive; no local copy kept)",
                key.label(),
                file_name
            ),
            Action::Skip { key, reason } => format!("skip    {}  {reason}", key.label()),
            Action::Export(e) => match tasks
                .get(&e.key)
                .and_then(|t| Some((t.task_id.as_ref()?, t)))
            {
                Some((id, t)) => format!(
                    "export  {}  {} would poll download task {} (last seen {})",
                    e.key.label(),
                    e.file_name,
                    crate::text::shown(id),
                    crate::text::shown(&t.status)
                ),
                None => format!(
                    "export  {}  {} would create a download task for snapshot {} (billed by DBS)",
                    e.key.label(),
                    e.file_name,
                    e.key.backup_id
                ),
            },
        };
        out.push_str(&line);
        out.push('\n');
    }
    for d in retention {
        out.push_str(&retention_line(d));
    }
    let (count, bytes) = actions
        .iter()
        .filter_map(|a| match a {
            Action::Fetch(f) => Some(f.size - f.resume_from),
            _ => None,
        })
        .fold((0, 0u64), |(n, b), size| (n + 1, b + size));
    out.push_str(&format!(
        "total   {count} downloads, {} ({bytes} bytes) to fetch, {} copies to prune\n",
        human_bytes(bytes),
        retention.iter().filter(|d| d.removed()).count()
    ));
    out
}

/// The retention plan alone, as `restic forget --dry-run` shows one: a line per unit, then
/// the counts.
pub fn render_retention(decisions: &[Decision]) -> String {
    let mut out: String = decisions.iter().map(retention_line).collect();
    let removed = decisions.iter().filter(|d| d.removed()).count();
    out.push_str(&format!(
        "total   {} copies: {} to keep, {removed} to remove\n",
        decisions.len(),
        decisions.len() - removed
    ));
    out
}

/// `keep    <label>  taken <time>  <rules>`, or `remove  <label>  taken <time>  expired <time>;
/// no rule keeps it`.
fn retention_line(d: &Decision) -> String {
    let taken = d
        .taken
        .map_or_else(|| "unknown".to_string(), crate::model::timestamp);
    if d.removed() {
        let expired = d
            .expire
            .map(|e| format!("expired {}; ", crate::model::timestamp(e)))
            .unwrap_or_default();
        return format!(
            "remove  {}  taken {taken}  {expired}no rule keeps it\n",
            d.key.label()
        );
    }
    let keep: Vec<String> = d.keep.iter().map(ToString::to_string).collect();
    format!(
        "keep    {}  taken {taken}  {}\n",
        d.key.label(),
        keep.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line() {
        let s = Summary {
            listed: 5,
            fetched: 2,
            bytes: 3 * 1_048_576,
            seconds: 1.5,
            ..Summary::default()
        };
        assert_eq!(
            s.to_string(),
            "listed 5, fetched 2, resumed 0, up to date 0, skipped 0, failed 0, pruned 0, listing errors 0, 3.0 MiB in 1s 500ms (2.0 MiB/s)"
        );
        assert!(s.ok());
        assert_eq!(human_bytes(1023), "1023 B");
    }

    #[test]
    fn retention_lines_name_the_rules() {
        use super::super::prune::Keep;
        use crate::model::BackupKey;
        use time::macros::datetime;
        let kept = Decision {
            key: BackupKey::node("dds-1", None, "b2"),
            taken: Some(datetime!(2026-11-30 02:00 UTC)),
            expire: Some(datetime!(2026-11-01 00:00 UTC)),
            keep: vec![
                Keep::Daily("2026-11-30".into()),
                Keep::Monthly("2026-11".into()),
            ],
        };
        let removed = Decision {
            key: BackupKey::cluster("dds-2", "cb-1", None),
            taken: None,
            keep: Vec::new(),
            ..kept.clone()
        };
        assert_eq!(
            render_retention(&[kept.clone(), removed.clone()]),
            "keep    dds-1/b2  taken 2026-11-30T02:00:00Z  daily 2026-11-30, monthly 2026-11\n\
             remove  dds-2/cb-1  taken unknown  expired 2026-11-01T00:00:00Z; no rule keeps it\n\
             total   2 copies: 1 to keep, 1 to remove\n"
        );
        let plan = render_plan(&[], &[kept, removed], &Default::default());
        assert!(
            plan.ends_with("total   0 downloads, 0 B (0 bytes) to fetch, 1 copies to prune\n"),
            "{plan}"
        );
    }
}
