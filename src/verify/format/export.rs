//! A DBS snapshot export (`<BackupId>.tar.zst`): zstd frames ([`super::zstd`]) around a tar
//! ([`super::tar`]) of split BSON files ([`super::bson`]), checked in one pass as the bytes
//! arrive. Owns only the plumbing: decoded bytes go straight from the zstd layer to the tar
//! layer, nothing is kept but the layers' own bounded state.
//!
//! Errors of the zstd layer are `tar.zst` errors at bytes of the file; errors of the tar and
//! BSON layers are `tar` errors at bytes of the decompressed archive, naming the entry.

use super::FormatError;
use super::tar::TarCheck;
use super::zstd::Frames;

/// A streaming `.tar.zst` checker: feed the file in any pieces, then [`TarZstdCheck::finish`].
#[derive(Default)]
pub struct TarZstdCheck {
    zstd: Frames,
    tar: TarCheck,
    offset: u64,
}

impl TarZstdCheck {
    /// Feeds the next bytes of the file.
    ///
    /// # Errors
    /// The first problem in any layer; once one is returned, the check is over.
    pub fn update(&mut self, data: &[u8]) -> Result<(), FormatError> {
        self.offset += data.len() as u64;
        let tar = &mut self.tar;
        self.zstd.update(data, &mut |decoded| tar.update(decoded))
    }

    /// Ends the file: every frame complete, and the archive in them too.
    ///
    /// # Errors
    /// A truncated frame (first, as it explains a truncated archive) or archive.
    pub fn finish(&self) -> Result<(), FormatError> {
        self.zstd.finish()?;
        self.tar.finish()
    }

    /// A problem outside the content, such as a failed read, at the current end of the input.
    pub(super) fn error(&self, reason: String) -> FormatError {
        FormatError {
            format: "tar.zst",
            member: None,
            offset: self.offset,
            reason,
        }
    }
}
