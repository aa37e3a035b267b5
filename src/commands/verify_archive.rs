//! `--verify --archive`: the scrub of the archive. Every archived copy is read back as a stream
//! (never stored on disk) and checked like a local one: size, sha256 and format against its
//! manifest. A copy whose bytes no longer match is marked rotted in its archived manifest, so the
//! next pass uploads it again from the local copy, or fetches it again while the cloud lists it.
//! A cluster backup's seal must name node copies that are there with those very bytes; a node
//! found rotted withdraws its cluster's seal (a pass seals it again once the node is re-uploaded).

use std::io::Write;

use time::OffsetDateTime;

use super::AppError;
use crate::archive::{Archive, ArchiveListing, Archived};
use crate::config::Settings;
use crate::exit;
use crate::model::Rot;
use crate::throttle::Throttle;
use crate::verify::{CopyCheck, check_bytes};

/// Checks every archived copy; one line per problem, a summary, exit 1 on any problem.
///
/// # Errors
/// No `[archive]` is configured, the client cannot be built, or the archive cannot be listed.
pub async fn verify_archive(settings: &Settings, out: &mut dyn Write) -> Result<u8, AppError> {
    let config = settings.archive.as_ref().ok_or(AppError::NoArchive)?;
    let archive = Archive::new(config)?;
    let listing = archive.list().await?;
    let throttle = super::verify::scrub_throttle(settings);
    let mut problems = listing.unusable.len();
    for (object, reason) in &listing.unusable {
        writeln!(out, "PROBLEM {object}: {reason}")?;
    }
    problems += check_seals(&listing, out)?;
    let mut checked = 0usize;
    for copy in &listing.copies {
        if copy.manifest.rot.is_some() {
            writeln!(
                out,
                "PROBLEM {}: marked rotted by an earlier scrub; the next pass uploads it again",
                copy.key.label()
            )?;
            problems += 1;
            continue;
        }
        if let Some(why) = &copy.missing {
            writeln!(out, "PROBLEM {}: {why}", copy.key.label())?;
            problems += 1;
            mark_rotted(&archive, copy, why.clone(), 1, out).await?;
            continue;
        }
        let check = match check_one(&archive, copy, throttle.clone()).await {
            Ok(check) => check,
            Err(e) => {
                writeln!(out, "PROBLEM {}: {e}", copy.key.label())?;
                problems += 1;
                continue;
            }
        };
        checked += 1;
        for p in &check.problems {
            let tag = if p.is_note() { "NOTE" } else { "PROBLEM" };
            writeln!(out, "{tag} {}: {p}", copy.key.label())?;
        }
        problems += check.problems.iter().filter(|p| !p.is_note()).count();
        let corrupt: Vec<_> = check.problems.iter().filter(|p| p.is_corrupt()).collect();
        if let Some(first) = corrupt.first() {
            mark_rotted(&archive, copy, first.to_string(), corrupt.len(), out).await?;
        }
    }
    writeln!(
        out,
        "archive {}: {checked} copies checked, {problems} problems",
        archive.url()
    )?;
    Ok(if problems == 0 {
        exit::OK
    } else {
        exit::FAILED
    })
}

/// Every seal in the archive names node copies that are there with the very bytes it records.
fn check_seals(listing: &ArchiveListing, out: &mut dyn Write) -> Result<usize, AppError> {
    let mut problems = 0;
    for cluster in &listing.clusters {
        for node in &cluster.manifest.nodes {
            let there = listing.copies.iter().any(|a| {
                a.key.unit() == cluster.unit
                    && a.key.node_id.as_deref() == Some(node.node_id.as_str())
                    && a.is_there()
                    && node.is_copy(&a.manifest)
            });
            if !there {
                writeln!(
                    out,
                    "PROBLEM {}: sealed in the archive, but node {} is not there with the bytes the seal names; the next pass seals it again once the node is uploaded",
                    cluster.unit.label(),
                    crate::text::shown(&node.node_id)
                )?;
                problems += 1;
            }
        }
    }
    Ok(problems)
}

/// Streams one copy's object through the check on a blocking thread (the format checks read).
async fn check_one(
    archive: &Archive,
    copy: &Archived,
    throttle: Throttle,
) -> Result<CopyCheck, AppError> {
    let (size, stream) = archive.read(copy).await?;
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    let manifest = copy.manifest.clone();
    tokio::task::spawn_blocking(move || check_bytes(&manifest, size, reader, &throttle))
        .await
        .map_err(AppError::Scrub)
}

/// Marks a copy rotted in its archived manifest (`problem`, the first of `count`), after
/// withdrawing its cluster's seal: the next pass uploads it again.
async fn mark_rotted(
    archive: &Archive,
    copy: &Archived,
    problem: String,
    count: usize,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    if copy.key.cluster
        && let Err(e) = archive.remove_cluster_manifest(&copy.key.unit()).await
    {
        writeln!(
            out,
            "PROBLEM {}: cannot withdraw its cluster's seal: {e}",
            copy.key.label()
        )?;
    }
    let mut manifest = copy.manifest.clone();
    manifest.rot = Some(Rot {
        found_at: OffsetDateTime::now_utc(),
        problem,
        problems: count as u64,
    });
    match archive.put_manifest(&manifest).await {
        Ok(()) => writeln!(
            out,
            "MARKED {}: rotted in the archive; the next pass uploads it again",
            copy.key.label()
        )?,
        Err(e) => writeln!(
            out,
            "PROBLEM {}: cannot mark it rotted: {e}",
            copy.key.label()
        )?,
    }
    Ok(())
}
