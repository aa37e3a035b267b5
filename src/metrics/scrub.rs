//! The last scrub's figures (when it ran, how many copies it checked, what it found) in a file
//! of their own beside the metrics file, `<name>_scrub.prom`: the daemon's `verify.cron` and a
//! `--verify` from the command line both write it, and neither rewrites the other's figures
//! (the pass figures are the daemon's alone). An alert on its end time says when no scrub ran.

use std::path::{Path, PathBuf};

use crate::store::{self, StoreError};

/// One scrub that ran to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scrub {
    pub start: i64,
    pub end: i64,
    pub checked: u64,
    pub problems: u64,
}

/// Where the scrub's figures go, beside `textfile`: `dds_backup_sync.prom` →
/// `dds_backup_sync_scrub.prom`.
pub fn path(textfile: &Path) -> PathBuf {
    let stem = textfile
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("dds_backup_sync");
    textfile.with_file_name(format!("{stem}_scrub.prom"))
}

/// The file's text. Pure.
pub fn render(s: &Scrub) -> String {
    let mut out = String::new();
    let figures = [
        (
            "last_scrub_start_timestamp_seconds",
            "Start of the last scrub that ran to its end.",
            s.start,
        ),
        (
            "last_scrub_end_timestamp_seconds",
            "End of the last scrub that ran to its end; alert when it is days old.",
            s.end,
        ),
        (
            "last_scrub_copies",
            "Copies the last scrub checked.",
            s.checked as i64,
        ),
        (
            "last_scrub_problems",
            "Problems the last scrub found (rot, damage, missing files).",
            s.problems as i64,
        ),
    ];
    for (name, help, value) in figures {
        super::gauge(&mut out, name, help, &[(String::new(), value as f64)]);
    }
    out
}

/// Writes the scrub's figures beside `textfile`, atomically.
///
/// # Errors
/// The write failed, naming the path.
pub fn write(textfile: &Path, mode: u32, s: &Scrub) -> Result<(), StoreError> {
    if let Some(dir) = textfile.parent() {
        std::fs::create_dir_all(dir).map_err(store::io_err("create", dir))?;
    }
    store::write_atomic_mode(&path(textfile), render(s).as_bytes(), mode)
}
