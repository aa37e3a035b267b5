//! `--list`'s archive part (with `[archive]`): which listed backups have a sound copy in the
//! archive, and the archived copies the cloud does not list now, which only the archive holds
//! (the ones a restore after the cloud's expiry comes from). One listing of the archive, read
//! only; a listing that fails is shown as the archive's error, never as "not archived".

use std::collections::HashSet;
use std::io::Write;

use crate::archive::{Archive, ArchiveListing, Archived};
use crate::config::Settings;
use crate::model::BackupKey;
use crate::sync::report::human_bytes;

/// What `--list` knows of the archive.
pub struct ArchiveSection {
    pub url: String,
    /// The listing, or why there is none (already one line, secrets never in it).
    pub result: Result<ArchiveListing, String>,
}

impl ArchiveSection {
    /// Lists the archive of `settings` (`None` without `[archive]`).
    pub async fn of(settings: &Settings) -> Option<ArchiveSection> {
        let config = settings.archive.as_ref()?;
        let result = match Archive::new(config) {
            Ok(archive) => archive.list().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        Some(ArchiveSection {
            url: config.url.clone(),
            result,
        })
    }

    /// The backups with a sound archived copy; `None` when the archive could not be listed.
    pub fn held(&self) -> Option<HashSet<BackupKey>> {
        let listing = self.result.as_ref().ok()?;
        Some(
            listing
                .copies
                .iter()
                .filter(|a| a.is_sound())
                .map(|a| a.key.clone())
                .collect(),
        )
    }

    /// The archived copies whose backup is not among `listed` (the cloud's rows now), oldest
    /// first.
    pub fn unlisted(&self, listed: &HashSet<BackupKey>) -> Vec<&Archived> {
        let Ok(listing) = &self.result else {
            return Vec::new();
        };
        let mut out: Vec<&Archived> = listing
            .copies
            .iter()
            .filter(|a| !listed.contains(&a.key))
            .collect();
        out.sort_by_key(|a| (a.manifest.taken(), a.key.clone()));
        out
    }
}

/// `ok`, `missing` (its data object is absent or of another size), `rotted` (a scrub of the
/// archive found its bytes changed) or `damaged` (as the cloud made it).
pub fn state(copy: &Archived) -> &'static str {
    if !copy.is_there() {
        "missing"
    } else if copy.manifest.rot.is_some() {
        "rotted"
    } else if !copy.is_sound() {
        "damaged"
    } else {
        "ok"
    }
}

/// The table's last section: the archive's error, or the copies only it holds.
pub fn write_table(
    section: &ArchiveSection,
    unlisted: &[&Archived],
    local: &HashSet<BackupKey>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    if let Err(e) = &section.result {
        writeln!(out, "== archive {}", section.url)?;
        return writeln!(out, "   error: {e}");
    }
    let copies = match unlisted.len() {
        1 => "1 copy".to_string(),
        n => format!("{n} copies"),
    };
    writeln!(
        out,
        "== archive {}: {copies} the cloud no longer lists",
        section.url
    )?;
    if unlisted.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "   {:<48} {:<20} {:>10} {:<5}  STATE",
        "BACKUP", "END", "SIZE", "LOCAL"
    )?;
    for copy in unlisted {
        writeln!(
            out,
            "   {:<48} {:<20} {:>10} {:<5}  {}",
            copy.key.label(),
            crate::model::timestamp(copy.manifest.taken()),
            human_bytes(copy.manifest.size),
            if local.contains(&copy.key) {
                "yes"
            } else {
                "no"
            },
            state(copy)
        )?;
    }
    Ok(())
}
