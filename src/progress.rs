//! Progress reporting behind a trait: indicatif bars on a terminal, periodic log lines
//! otherwise (systemd, cron), so no escape codes reach a journal or a mail. On a terminal the
//! bars fit its width (a long label is cut, the bar takes what is left), and log lines go
//! through [`log_writer`], which prints them whole above the bars instead of into them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One download's progress.
pub trait Bar: Send + Sync {
    fn set_position(&self, pos: u64);
    fn inc(&self, delta: u64);
    fn finish(&self, message: &str);
}

/// Makes bars for a run.
pub trait Progress: Send + Sync {
    /// A bar for one download of `total` bytes.
    fn bar(&self, label: &str, total: u64) -> Box<dyn Bar>;
    /// Sets the total bytes of the whole run (for the overall bar).
    fn set_total(&self, total: u64);
}

/// Picks bars on a terminal and log lines elsewhere (at most every `interval` per download:
/// `logging.progress_interval`).
pub fn for_stderr(interval: Duration) -> Box<dyn Progress> {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        Box::new(Bars::new())
    } else {
        Box::new(LogLines::new(interval))
    }
}

/// The bars on screen, if any: log lines are printed above them.
static ON_SCREEN: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// Where log lines go: stderr, above the bars when bars are drawn.
pub fn log_writer() -> LogWriter {
    LogWriter
}

/// An `io::Write` for the log subscriber (see [`log_writer`]).
pub struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    /// One log event arrives as one call: printed whole, with the bars out of the way.
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let multi = ON_SCREEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match multi {
            Some(multi) => multi.suspend(|| std::io::stderr().write_all(buf)),
            None => std::io::stderr().write_all(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// indicatif: one bar per active download plus an overall bar with bytes, rate and ETA.
pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
}

impl Drop for Bars {
    fn drop(&mut self) {
        *ON_SCREEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

impl Bars {
    fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        *ON_SCREEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(multi.clone());
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template(
                "total {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} [{wide_bar}]",
            )
            .expect("invariant: the template is valid"),
        );
        Bars { multi, overall }
    }
}

impl Progress for Bars {
    fn bar(&self, label: &str, total: u64) -> Box<dyn Bar> {
        let bar = self
            .multi
            .insert_before(&self.overall, ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template(
                // The label fits 32 columns and the bar takes what the terminal has left: a
                // fixed-width bar wrapped (and left stale lines) in 100 columns.
                "{prefix:32} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>11} [{wide_bar}]",
            )
            .expect("invariant: the template is valid"),
        );
        bar.set_prefix(keep_tail(label, 32));
        Box::new(IndicatifBar {
            bar,
            overall: self.overall.clone(),
        })
    }

    fn set_total(&self, total: u64) {
        self.overall.set_length(total);
    }
}

/// `label` in at most `width` characters, cut at the front: the backup id at its end is what
/// tells two bars apart.
fn keep_tail(label: &str, width: usize) -> String {
    let n = label.chars().count();
    if n <= width {
        return label.to_string();
    }
    let tail: String = label.chars().skip(n - (width - 1)).collect();
    format!("…{tail}")
}

struct IndicatifBar {
    bar: ProgressBar,
    overall: ProgressBar,
}

impl Bar for IndicatifBar {
    fn set_position(&self, pos: u64) {
        let old = self.bar.position();
        self.bar.set_position(pos);
        if pos >= old {
            self.overall.inc(pos - old);
        } else {
            self.overall
                .set_position(self.overall.position().saturating_sub(old - pos));
        }
    }

    fn inc(&self, delta: u64) {
        self.bar.inc(delta);
        self.overall.inc(delta);
    }

    fn finish(&self, _message: &str) {
        self.bar.finish_and_clear();
    }
}

/// Log lines at most every `interval` per download, and the pass's totals for systemd's
/// `STATUS=` ([`LogLines::status`]).
pub struct LogLines {
    interval: Duration,
    done: std::sync::Arc<AtomicU64>,
    total: AtomicU64,
    started: Instant,
}

impl LogLines {
    pub fn new(interval: Duration) -> Self {
        LogLines {
            interval,
            done: std::sync::Arc::default(),
            total: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// What the pass has downloaded so far, for `STATUS=`: "pass running: 1.2 GiB of 3.4 GiB
    /// downloaded (45.6 MiB/s)".
    pub fn status(&self) -> String {
        let done = self.done.load(Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        format!(
            "pass running: {} of {} downloaded ({:.1} MiB/s)",
            crate::units::human_bytes(done),
            crate::units::human_bytes(self.total.load(Ordering::Relaxed)),
            done as f64 / secs / 1_048_576.0
        )
    }
}

impl Progress for LogLines {
    fn bar(&self, label: &str, total: u64) -> Box<dyn Bar> {
        Box::new(LogBar {
            label: label.to_string(),
            total,
            pos: AtomicU64::new(0),
            started: Instant::now(),
            last: Mutex::new(Instant::now()),
            interval: self.interval,
            overall: self.done.clone(),
        })
    }

    fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
        tracing::info!(bytes = total, "bytes to download this pass");
    }
}

struct LogBar {
    label: String,
    total: u64,
    pos: AtomicU64,
    started: Instant,
    last: Mutex<Instant>,
    interval: Duration,
    /// The pass's bytes, over all downloads.
    overall: std::sync::Arc<AtomicU64>,
}

impl Bar for LogBar {
    fn set_position(&self, pos: u64) {
        self.pos.store(pos, Ordering::Relaxed);
    }

    fn inc(&self, delta: u64) {
        self.overall.fetch_add(delta, Ordering::Relaxed);
        let pos = self.pos.fetch_add(delta, Ordering::Relaxed) + delta;
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        if last.elapsed() >= self.interval {
            *last = Instant::now();
            let secs = self.started.elapsed().as_secs_f64().max(0.001);
            tracing::info!(
                backup = %self.label,
                bytes = pos,
                total = self.total,
                percent = (pos as f64 * 100.0 / self.total.max(1) as f64) as u64,
                mib_per_s = format!("{:.1}", pos as f64 / secs / 1_048_576.0),
                "downloading"
            );
        }
    }

    fn finish(&self, _message: &str) {}
}

/// No output at all (tests, `--list`).
pub struct Silent;

impl Progress for Silent {
    fn bar(&self, _label: &str, _total: u64) -> Box<dyn Bar> {
        Box::new(Silent)
    }

    fn set_total(&self, _total: u64) {}
}

impl Bar for Silent {
    fn set_position(&self, _pos: u64) {}
    fn inc(&self, _delta: u64) {}
    fn finish(&self, _message: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_labels_keep_their_tail() {
        assert_eq!(keep_tail("dds-1/123", 32), "dds-1/123");
        let cut = keep_tail("dds-tty-with-a-rather-long-instance-name/90000004", 32);
        assert_eq!(cut.chars().count(), 32);
        assert!(cut.starts_with('…') && cut.ends_with("/90000004"), "{cut}");
    }
}

#[cfg(test)]
mod status_tests {
    use super::*;

    #[test]
    fn status_counts_every_download_of_the_pass() {
        let lines = LogLines::new(Duration::from_secs(3600));
        lines.set_total(3 << 20);
        let (a, b) = (lines.bar("a", 1 << 20), lines.bar("b", 2 << 20));
        a.inc(1 << 20);
        b.inc(512 << 10);
        let status = lines.status();
        assert!(
            status.starts_with("pass running: 1.5 MiB of 3.0 MiB downloaded ("),
            "{status}"
        );
    }
}
