//! `--verify` and the daemon's `verify.cron`: the scrub (under the run lock), its findings
//! printed and counted, and with `verify.repair` the repair of rotted copies still listed,
//! followed by a pass that downloads them again.

use std::collections::HashSet;
use std::io::Write;

use time::OffsetDateTime;

use super::{AppError, api_client, pass_and_report};
use crate::config::Settings;
use crate::metrics::Figures;
use crate::model::BackupKey;
use crate::rate::Limit;
use crate::store::Store;
use crate::sync::{self, PassOptions};
use crate::throttle::Throttle;
use crate::verify::{Scope, VerifyReport};
use crate::{exit, listing, progress};

/// `--verify`: re-hash every local copy; one line per problem, a summary, exit 1 on any problem.
/// Holds the run lock while reading, so it never reads a file a pass is writing. With
/// `verify.repair`, corrupt copies of backups still listed are removed and a pass fetches them.
pub async fn verify(
    settings: &Settings,
    scope: Scope,
    out: &mut dyn Write,
) -> Result<u8, AppError> {
    let mut metrics = Figures::default();
    let never = tokio_util::sync::CancellationToken::new();
    let problems = verify_and_repair(settings, scope, &mut &mut *out, &mut metrics, &never).await?;
    Ok(if problems == 0 {
        exit::OK
    } else {
        exit::FAILED
    })
}

/// The scrub's read limit (`verify.bandwidth_limit`), for the local and the archive scrub.
pub(super) fn scrub_throttle(settings: &Settings) -> Throttle {
    Throttle::new(
        settings
            .verify
            .bandwidth_limit
            .map_or(Limit::Off, Limit::Fixed),
        crate::schedule::Zone::default(),
    )
}

/// A seed for `--sample` from the clock: another pick each run, told in the output so a run
/// can be repeated.
pub fn clock_seed() -> u64 {
    let now = OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

/// The daemon's `verify.cron` run: the copies not verified for `verify.max_age` (all without
/// it), so each run checks a slice.
pub fn daemon_scope(settings: &Settings) -> Scope {
    Scope {
        max_age: settings.verify.max_age,
        sample: None,
        seed: clock_seed(),
    }
}

/// The scrub behind `--verify` and `verify.cron`; returns the number of problems found.
///
/// It holds the scrub lock (a second scrub is refused) and each copy's lock while reading it,
/// not the run lock: a pass runs meanwhile. The reads block, so they run on a blocking thread.
pub async fn verify_and_repair<W: Write>(
    settings: &Settings,
    scope: Scope,
    out: &mut W,
    metrics: &mut Figures,
    stop: &tokio_util::sync::CancellationToken,
) -> Result<usize, AppError> {
    let store = Store::new(&settings.download.dir);
    let throttle = scrub_throttle(settings);
    let started = OffsetDateTime::now_utc().unix_timestamp();
    let scrub = store.clone();
    let config = settings.file.clone();
    let stopped = stop.clone();
    let report = tokio::task::spawn_blocking(move || {
        // The scrub lock, not the run lock: a pass runs meanwhile; each copy is held under its
        // own lock while it is read.
        let _lock = scrub
            .scrub_lock(Some(&config))
            .map_err(sync::SyncError::Store)?;
        Ok::<_, sync::SyncError>(crate::verify::verify_scoped(
            &scrub,
            &scope,
            OffsetDateTime::now_utc(),
            &throttle,
            &stopped,
        ))
    })
    .await
    .map_err(AppError::Scrub)??;
    let problems = print_findings(&report, &scope, out)?;
    if report.stopped {
        // A scrub cut short says nothing of the copies it did not reach: no repair, and the
        // last full count stays.
        return Ok(problems);
    }
    metrics.verify_mismatches = problems as u64;
    write_scrub_figures(settings, started, &report, problems);
    if settings.verify.repair && report.findings.iter().any(|f| f.problem.is_corrupt()) {
        repair(settings, &store, &report, out, metrics).await?;
    }
    Ok(problems)
}

/// The figures of a scrub that ran to its end, beside the metrics file (when one is set).
fn write_scrub_figures(settings: &Settings, start: i64, report: &VerifyReport, problems: usize) {
    let Some(textfile) = &settings.metrics.textfile else {
        return;
    };
    let figures = crate::metrics::scrub::Scrub {
        start,
        end: OffsetDateTime::now_utc().unix_timestamp(),
        checked: report.checked as u64,
        problems: problems as u64,
    };
    if let Err(e) = crate::metrics::scrub::write(textfile, settings.metrics.file_mode, &figures) {
        tracing::warn!("cannot write the scrub's metrics: {e}");
    }
}

/// One line per copy a sample picked (`PICKED`), one per finding (`PROBLEM` or `NOTE`), then
/// the count, which says what the scope left out; returns the problems.
fn print_findings(
    report: &VerifyReport,
    scope: &Scope,
    out: &mut dyn Write,
) -> Result<usize, AppError> {
    for label in &report.picked {
        writeln!(out, "PICKED {label}")?;
    }
    for f in &report.findings {
        if f.problem.is_note() {
            tracing::warn!(backup = %f.label, "verify: {}", f.problem);
            writeln!(out, "NOTE {}: {}", f.label, f.problem)?;
        } else {
            tracing::error!(backup = %f.label, "verify: {}", f.problem);
            writeln!(out, "PROBLEM {}: {}", f.label, f.problem)?;
        }
    }
    let problems = report.problems();
    let notes = report.findings.len() - problems;
    let notes_text = if notes > 0 {
        format!(", {notes} notes")
    } else {
        String::new()
    };
    writeln!(
        out,
        "verified {} copies, {problems} problems{notes_text}{}",
        report.checked,
        scope_text(report, scope)
    )?;
    tracing::info!(target: "dds_backup_sync::summary", checked = report.checked, problems, "verify finished");
    Ok(problems)
}

/// What the scope left out, for the count line; empty for a full scrub.
fn scope_text(report: &VerifyReport, scope: &Scope) -> String {
    let mut parts = Vec::new();
    if let Some(age) = scope.max_age {
        parts.push(format!(
            "{} verified within {} skipped",
            report.recent,
            humantime::format_duration(age)
        ));
    }
    if let Some(pct) = scope.sample {
        parts.push(format!(
            "sample {pct}% (seed {}): {} picked, {} left for another run",
            scope.seed,
            report.picked.len(),
            report.unsampled
        ));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
    }
}

/// Removes the rotted copies of backups the cloud still lists (the store checks each again),
/// then runs a pass that downloads them afresh.
async fn repair<W: Write>(
    settings: &Settings,
    store: &Store,
    report: &VerifyReport,
    out: &mut W,
    metrics: &mut Figures,
) -> Result<(), AppError> {
    let api = api_client(settings).await?;
    let fleet = listing::list_fleet(
        &api,
        listing::Scope::of(settings),
        OffsetDateTime::now_utc(),
        &tokio_util::sync::CancellationToken::new(),
    )
    .await;
    let remote = listing::gather(fleet).remote;
    let listed: HashSet<BackupKey> = remote.listed.into_iter().map(|l| l.key).collect();
    let plan = crate::verify::plan_repair(&report.findings, &listed);
    // Each removal holds its copy's lock (the store takes it).
    let repaired = crate::verify::apply_repair(store, &report.findings, &plan);
    for key in &repaired.removed {
        writeln!(out, "REPAIR {}: corrupt copy removed", key.label())?;
    }
    for (key, reason) in &repaired.failed {
        writeln!(out, "REPAIR FAILED {}: {reason}", key.label())?;
    }
    if !repaired.removed.is_empty() {
        let opts = PassOptions::default();
        match pass_and_report(settings, &api, &progress::Silent, &opts, metrics).await {
            Ok(summary) => writeln!(out, "REPAIR pass: {summary}")?,
            // A pass is running: it, or the next one, fetches the removed copies.
            Err(sync::SyncError::Store(e @ crate::store::StoreError::Locked { .. })) => {
                writeln!(
                    out,
                    "REPAIR pass: not run now ({e}); the next pass fetches the removed copies"
                )?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemons_scrub_checks_the_slice_verify_max_age_gives() {
        let mut s = Settings::demo(
            "http://127.0.0.1:1",
            "id",
            "secret",
            std::path::Path::new("/tmp/x"),
        );
        assert_eq!(daemon_scope(&s).max_age, None, "no max_age: every copy");
        s.verify.max_age = Some(std::time::Duration::from_secs(30 * 86400));
        let scope = daemon_scope(&s);
        assert_eq!(scope.max_age, s.verify.max_age);
        assert_eq!(scope.sample, None, "the daemon never samples");
    }
}
