//! `--verify` and the daemon's `verify.cron`: the scrub (under the run lock), its findings
//! printed and counted, and with `verify.repair` the repair of rotted copies still listed,
//! followed by a pass that downloads them again.

use std::collections::HashSet;
use std::io::Write;

use time::OffsetDateTime;

use super::{AppError, api_client, pass_and_report};
use crate::config::Settings;
use crate::metrics::Snapshot;
use crate::model::BackupKey;
use crate::store::Store;
use crate::sync::{self, PassOptions};
use crate::verify::VerifyReport;
use crate::{exit, listing, progress};

/// `--verify`: re-hash every local copy; one line per problem, a summary, exit 1 on any problem.
/// Holds the run lock while reading, so it never reads a file a pass is writing. With
/// `verify.repair`, corrupt copies of backups still listed are removed and a pass fetches them.
pub async fn verify(settings: &Settings, out: &mut dyn Write) -> Result<u8, AppError> {
    let mut metrics = Snapshot::default();
    let problems = verify_and_repair(settings, out, &mut metrics).await?;
    Ok(if problems == 0 {
        exit::OK
    } else {
        exit::FAILED
    })
}

/// The scrub behind `--verify` and `verify.cron`; returns the number of problems found.
pub async fn verify_and_repair(
    settings: &Settings,
    out: &mut dyn Write,
    metrics: &mut Snapshot,
) -> Result<usize, AppError> {
    let store = Store::new(&settings.download.dir);
    let report = {
        let _lock = store.lock().map_err(sync::SyncError::Store)?;
        crate::verify::verify_store(&store)
    };
    let problems = print_findings(&report, out)?;
    metrics.verify_mismatches = problems as u64;
    if settings.verify.repair && report.findings.iter().any(|f| f.problem.is_corrupt()) {
        repair(settings, &store, &report, out, metrics).await?;
    }
    Ok(problems)
}

/// One line per finding (`PROBLEM` or `NOTE`), then the count; returns the problems.
fn print_findings(report: &VerifyReport, out: &mut dyn Write) -> Result<usize, AppError> {
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
        "verified {} copies, {problems} problems{notes_text}",
        report.checked
    )?;
    tracing::info!(target: "dds_backup_sync::summary", checked = report.checked, problems, "verify finished");
    Ok(problems)
}

/// Removes the rotted copies of backups the cloud still lists (the store checks each again),
/// then runs a pass that downloads them afresh.
async fn repair(
    settings: &Settings,
    store: &Store,
    report: &VerifyReport,
    out: &mut dyn Write,
    metrics: &mut Snapshot,
) -> Result<(), AppError> {
    let api = api_client(settings).await?;
    let queries = listing::queries(&settings.instances, OffsetDateTime::now_utc());
    let remote = listing::gather(listing::list_targets(&api, queries).await).remote;
    let listed: HashSet<BackupKey> = remote.listed.into_iter().map(|l| l.key).collect();
    let plan = crate::verify::plan_repair(&report.findings, &listed);
    let repaired = {
        let _lock = store.lock().map_err(sync::SyncError::Store)?;
        crate::verify::apply_repair(store, &report.findings, &plan)
    };
    for key in &repaired.removed {
        writeln!(out, "REPAIR {}: corrupt copy removed", key.label())?;
    }
    for (key, reason) in &repaired.failed {
        writeln!(out, "REPAIR FAILED {}: {reason}", key.label())?;
    }
    if !repaired.removed.is_empty() {
        let opts = PassOptions::default();
        let summary = pass_and_report(settings, &api, &progress::Silent, &opts, metrics).await?;
        writeln!(out, "REPAIR pass: {summary}")?;
    }
    Ok(())
}
