//! `--list [--json]`: the remote backups per instance/node, as a table (human sizes) or as
//! JSON (raw bytes), each with whether a verified local copy exists, every network-sourced
//! text shown as data.

use std::collections::HashSet;
use std::io::Write;

use serde::Serialize;
use time::OffsetDateTime;

use super::{AppError, api_client};
use crate::config::Settings;
use crate::exit;
use crate::listing::{self, TargetListing};
use crate::model::{Backup, BackupKey, LocalState};
use crate::store::Store;
use crate::sync::report::human_bytes;
use crate::text::shown;

/// `--list`: a table (or JSON) of the remote backups per instance/node.
pub async fn list(settings: &Settings, json: bool, out: &mut dyn Write) -> Result<u8, AppError> {
    let api = api_client(settings).await?;
    let queries = listing::queries(&settings.instances, OffsetDateTime::now_utc());
    let listings = listing::list_targets(&api, queries).await;
    // Which backups have a verified copy here: the store's snapshot only reads.
    let local: Local = Store::new(&settings.download.dir)
        .snapshot()
        .states
        .into_iter()
        .filter(|(_, state)| matches!(state, LocalState::Complete(_)))
        .map(|((key, _), _)| key)
        .collect();
    if json {
        write_json(&listings, &local, out)?;
    } else {
        write_table(&listings, &local, out)?;
    }
    let auth = listings
        .iter()
        .filter_map(|l| l.result.as_ref().err())
        .any(|e| e.is_auth_or_setup());
    let failed = listings.iter().any(|l| l.result.is_err());
    Ok(if auth {
        exit::SETUP
    } else if failed {
        exit::FAILED
    } else {
        exit::OK
    })
}

/// The backups with a verified local copy.
type Local = HashSet<BackupKey>;

fn has_copy(local: &Local, l: &TargetListing, b: &Backup) -> bool {
    local.contains(&BackupKey {
        instance_id: l.query.instance_id.clone(),
        node_id: l.query.node_id.clone(),
        backup_id: b.backup_id.clone(),
    })
}

#[derive(Serialize)]
struct JsonTarget<'a> {
    instance: &'a str,
    node: Option<&'a str>,
    backups: Vec<JsonBackup<'a>>,
    /// Entries the API described badly, with the reason.
    rejected: Vec<String>,
    error: Option<String>,
}

#[derive(Serialize)]
struct JsonBackup<'a> {
    #[serde(flatten)]
    backup: &'a Backup,
    has_public_url: bool,
    has_intranet_url: bool,
    /// A verified copy of it is in `download.dir`.
    local_copy: bool,
}

fn write_json(
    listings: &[TargetListing],
    local: &Local,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let targets: Vec<JsonTarget<'_>> = listings
        .iter()
        .map(|l| {
            let (backups, rejected, error) = match &l.result {
                Ok(listing) => (
                    listing
                        .backups
                        .iter()
                        .map(|b| JsonBackup {
                            backup: b,
                            has_public_url: b.download_url.is_some(),
                            has_intranet_url: b.intranet_download_url.is_some(),
                            local_copy: has_copy(local, l, b),
                        })
                        .collect(),
                    listing.rejected.iter().map(ToString::to_string).collect(),
                    None,
                ),
                Err(e) => (Vec::new(), Vec::new(), Some(e.to_string())),
            };
            JsonTarget {
                instance: &l.query.instance_id,
                node: l.query.node_id.as_deref(),
                backups,
                rejected,
                error,
            }
        })
        .collect();
    // The values stay exact; only the characters serde_json leaves raw are escaped as JSON.
    let json = serde_json::to_string_pretty(&targets).map_err(std::io::Error::other)?;
    writeln!(out, "{}", crate::text::json_safe(&json))
}

/// Every text the API sent is shown as data: a status or method must not drive the terminal.
fn write_table(
    listings: &[TargetListing],
    local: &Local,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let time = |t: Option<OffsetDateTime>| {
        t.map(crate::api::client::timestamp)
            .unwrap_or_else(|| "-".into())
    };
    for l in listings {
        writeln!(out, "== {}", l.query.target())?;
        let listing = match &l.result {
            Ok(listing) => listing,
            Err(e) => {
                writeln!(out, "   error: {e}")?;
                continue;
            }
        };
        if listing.backups.is_empty() {
            writeln!(out, "   (no backups in the lookback window)")?;
        } else {
            writeln!(
                out,
                "   {:<12} {:<8} {:<5} {:<8} {:<17} {:<20} {:<20} {:>10} {:<5}  URLS",
                "BACKUP_ID", "STATUS", "AVAIL", "METHOD", "TYPE", "END", "EXPIRES", "SIZE", "LOCAL"
            )?;
        }
        for b in &listing.backups {
            let urls = match (b.download_url.is_some(), b.intranet_download_url.is_some()) {
                (true, true) => "public+intranet",
                (true, false) => "public",
                (false, true) => "intranet",
                (false, false) => "none",
            };
            writeln!(
                out,
                "   {:<12} {:<8} {:<5} {:<8} {:<17} {:<20} {:<20} {:>10} {:<5}  {}",
                shown(&b.backup_id),
                shown(&b.backup_status),
                if b.is_avail { "yes" } else { "no" },
                shown(b.backup_method.as_deref().unwrap_or("-")),
                shown(b.backup_type.as_deref().unwrap_or("-")),
                time(b.backup_end_time),
                if b.is_kept_forever() {
                    "forever".to_string()
                } else {
                    time(b.backup_expire_time)
                },
                b.backup_size.map(human_bytes).unwrap_or_else(|| "-".into()),
                if has_copy(local, l, b) { "yes" } else { "no" },
                urls,
            )?;
        }
        for r in &listing.rejected {
            writeln!(out, "   skipped: {r}")?;
        }
    }
    Ok(())
}
