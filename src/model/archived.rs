//! What the archive holds, as values the planners read: one [`Archived`] copy per manifest
//! found in its own folder under the archive's prefix, one [`ArchivedCluster`] per cluster
//! manifest found in its cluster backup's folder, and the [`ArchiveListing`] of a pass.
//! Pure.

use super::{BackupKey, ClusterManifest, Manifest, Verdict};

/// One copy in the archive: its manifest, and the folder (object name prefix) it sits in.
#[derive(Debug, Clone, PartialEq)]
pub struct Archived {
    pub key: BackupKey,
    pub manifest: Manifest,
    /// `<prefix>/<instance>/[<node>/]<BackupId>`, as the archive names objects.
    pub folder: String,
    /// Why the data object is not the manifest's (absent, another size): then the archive
    /// does not hold this copy, whatever its manifest says (issue #21).
    pub missing: Option<String>,
}

impl Archived {
    /// Neither marked as rotted by a scrub of the archive nor damaged as the cloud made it.
    pub fn is_sound(&self) -> bool {
        self.is_there()
            && self.manifest.rot.is_none()
            && self.manifest.format_verdict != Some(Verdict::Damaged)
    }

    /// Its data object is there with the manifest's size.
    pub fn is_there(&self) -> bool {
        self.missing.is_none()
    }

    /// Whether this archived copy is the same bytes as a local copy's manifest says (and no
    /// scrub found it rotted).
    pub fn matches(&self, local: &Manifest) -> bool {
        self.is_there()
            && self.manifest.rot.is_none()
            && self.manifest.file == local.file
            && self.manifest.size == local.size
            && self.manifest.sha256 == local.sha256
    }
}

/// A cluster backup sealed in the archive: its `cluster-manifest.json`, uploaded only after
/// every node copy it names, so it says the cluster backup is complete there.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchivedCluster {
    /// The whole cluster backup ([`BackupKey::cluster`] without a node).
    pub unit: BackupKey,
    pub manifest: ClusterManifest,
}

/// What one listing of the archive found.
#[derive(Debug, Clone, Default)]
pub struct ArchiveListing {
    pub copies: Vec<Archived>,
    pub clusters: Vec<ArchivedCluster>,
    /// `manifest.json` objects that are not a manifest of ours in the folder its ids give
    /// (object name, why; both already shown as data): reported, never trusted or deleted.
    pub unusable: Vec<(String, String)>,
}
