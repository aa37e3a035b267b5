//! The archive: the one owner of the S3-compatible object store that verified copies are
//! uploaded to (`[archive]`), as `store` is of `download.dir`.
//!
//! Layout, the same as on disk: `<prefix>/<instance>/[<node>/]<BackupId>/<file>` and
//! `manifest.json` beside it (a cluster backup's nodes: `<prefix>/<instance>/<ClusterBackupId>/
//! <node>/…`). A copy exists in the archive only once its manifest does: the data object goes
//! up first (one PUT, or a multipart upload that S3 shows as an object only when completed),
//! then the manifest, so an object without a manifest is never taken for a copy. A cluster
//! backup's `cluster-manifest.json` goes up only after every node copy it names, and is deleted
//! before any of them, so it always means the cluster backup is complete there.
//! Every object name is built from ids checked by [`crate::names`]; nothing outside `prefix` is
//! listed, read or deleted. The client is the Arrow project's `object_store` (S3 signature V4,
//! multipart upload, retries with backoff); its requests sign headers, so no URL it logs or
//! returns carries a credential.

mod checked;
mod upload;

use std::sync::Arc;

use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

pub use crate::config::ArchiveSettings;
pub use crate::model::{ArchiveListing, Archived, ArchivedCluster};
use crate::model::{BackupKey, CLUSTER_MANIFEST, ClusterManifest, MANIFEST, Manifest};
use crate::names;

/// A manifest is a few KiB; anything bigger under that name is not one of ours.
const MAX_MANIFEST: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive {url}: cannot set up the object store client: {reason}")]
    Setup { url: String, reason: String },
    #[error("archive: cannot {op} {object}: {reason}")]
    Store {
        op: &'static str,
        object: String,
        reason: String,
    },
    #[error("archive: cannot read the local copy {path}: {reason}")]
    Local { path: String, reason: String },
    #[error(
        "archive: the bytes read from {path} for upload do not match its manifest ({what}); the \
         upload was aborted and the local copy is left for `--verify`"
    )]
    Mismatch { path: String, what: String },
    #[error("archive: refusing {what}: {reason}")]
    UnsafeName { what: String, reason: String },
    #[error("archive: stopped by a shutdown request; the unfinished upload was aborted")]
    Cancelled,
}

impl ArchiveError {
    /// The object store's own text, shown as data (it is network-sourced).
    fn store(op: &'static str, object: &ObjectPath, e: object_store::Error) -> ArchiveError {
        ArchiveError::Store {
            op,
            // Object names come from the store's listing: shown as data (rule 5).
            object: crate::text::shown(object.as_ref()).to_string(),
            reason: crate::text::shown(&plain_reason(&crate::text::error_chain(&e))).to_string(),
        }
    }
}

/// The store client's text, with a connection that could not be made said as the API's
/// messages say it ("connection refused at http://host:port") instead of its retry internals.
fn plain_reason(text: &str) -> String {
    const CONNECT: [(&str, &str); 3] = [
        ("Connection refused", "connection refused"),
        ("dns error", "the host name does not resolve"),
        ("tcp connect error", "cannot connect"),
    ];
    let Some((_, said)) = CONNECT.iter().find(|(marker, _)| text.contains(marker)) else {
        return text.to_string();
    };
    // "… performing GET http://host:port/bucket?… in 1.6s …": the endpoint only.
    let endpoint = ["http://", "https://"]
        .iter()
        .filter_map(|scheme| text.find(scheme))
        .min()
        .and_then(|at| url::Url::parse(text[at..].split([')', ' ']).next()?).ok())
        .map(|u| u.origin().ascii_serialization());
    match endpoint {
        Some(at) => format!("{said} at {at}"),
        None => said.to_string(),
    }
}

pub struct Archive {
    store: Arc<dyn ObjectStore>,
    /// Keys the client could not read, taken out of the listing pages ([`checked`]).
    skipped: checked::Skipped,
    prefix: ObjectPath,
    url: String,
    part_size: usize,
    uploads: usize,
}

/// One manifest object of a listing, read.
enum Read {
    Copy(Box<Archived>),
    Cluster(Box<ArchivedCluster>),
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client holds the secret key: only say where the archive is.
        f.debug_struct("Archive").field("url", &self.url).finish()
    }
}

impl Archive {
    /// A client for `[archive]` (no request is made yet).
    ///
    /// # Errors
    /// The endpoint or settings are refused by the client builder.
    pub fn new(settings: &ArchiveSettings) -> Result<Archive, ArchiveError> {
        // object_store's HTTP client is reqwest with rustls: ring, as everywhere in this tool.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let connector = checked::CheckedConnector::default();
        let skipped = connector.skipped.clone();
        let mut builder = AmazonS3Builder::new()
            .with_http_connector(connector)
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(settings.secret_access_key.expose())
            .with_virtual_hosted_style_request(!settings.path_style);
        if let Some(endpoint) = &settings.endpoint {
            builder = builder
                .with_endpoint(endpoint.trim_end_matches('/'))
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let store = builder.build().map_err(|e| ArchiveError::Setup {
            url: settings.url.clone(),
            reason: e.to_string(),
        })?;
        Ok(Archive {
            store: Arc::new(store),
            skipped,
            prefix: ObjectPath::from(settings.prefix.as_str()),
            url: settings.url.clone(),
            part_size: usize::try_from(settings.part_size).unwrap_or(usize::MAX),
            uploads: settings.uploads,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The folder of one backup's copy, every id checked first (the disk layout's rules).
    ///
    /// # Errors
    /// An id that is not a plain name.
    pub fn folder(&self, key: &BackupKey) -> Result<ObjectPath, ArchiveError> {
        let parts = key
            .folder_names()
            .map_err(|(what, reason)| ArchiveError::UnsafeName {
                what: what.to_string(),
                reason,
            })?;
        Ok(parts
            .into_iter()
            .fold(self.prefix.clone(), |path, part| path.join(part)))
    }

    /// The object holding a copy's data, its name checked like a local file's.
    fn data_object(&self, manifest: &Manifest) -> Result<ObjectPath, ArchiveError> {
        let name = names::sanitize_file_name(&manifest.file)
            .ok()
            .filter(|n| *n == manifest.file && n != MANIFEST)
            .ok_or_else(|| ArchiveError::UnsafeName {
                what: "file name".into(),
                reason: format!("{:?} is not a plain file name", manifest.file),
            })?;
        Ok(self.folder(&manifest.key())?.join(name.as_str()))
    }

    /// Every copy under `prefix`: each `manifest.json` and `cluster-manifest.json` read and
    /// checked to sit in the folder its own ids give (anything else is listed as unusable).
    ///
    /// # Errors
    /// The listing itself failed (then nothing about the archive is known this pass).
    pub async fn list(&self) -> Result<ArchiveListing, ArchiveError> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        self.skipped_keys();
        let mut objects = self.store.list(prefix);
        let mut manifests = Vec::new();
        // Every other object's size: a manifest counts as a copy only with its data beside it.
        let mut sizes = std::collections::HashMap::new();
        while let Some(meta) = objects.next().await {
            let meta = meta.map_err(|e| ArchiveError::store("list", &self.prefix, e))?;
            if matches!(meta.location.filename(), Some(MANIFEST | CLUSTER_MANIFEST)) {
                manifests.push(meta);
            } else {
                sizes.insert(meta.location, meta.size);
            }
        }
        let reads = futures::stream::iter(manifests)
            .map(|meta| async move {
                let read = self.read_any(&meta.location, meta.size).await;
                (meta.location, read)
            })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await;
        let mut listing = ArchiveListing::default();
        for (location, read) in reads {
            match read {
                Ok(Read::Copy(mut a)) => {
                    a.missing = self.data_state(&a.manifest, &sizes);
                    listing.copies.push(*a);
                }
                Ok(Read::Cluster(c)) => listing.clusters.push(*c),
                Err(reason) => listing.unusable.push((
                    crate::text::shown(location.as_ref()).to_string(),
                    crate::text::shown(&reason).to_string(),
                )),
            }
        }
        for key in self.skipped_keys() {
            listing.unusable.push((
                crate::text::shown(&key).to_string(),
                "a key the store client cannot read (`..`, an empty segment): skipped".into(),
            ));
        }
        listing.copies.sort_by(|a, b| a.key.cmp(&b.key));
        listing.clusters.sort_by(|a, b| a.unit.cmp(&b.unit));
        Ok(listing)
    }

    /// What is wrong with a listed copy's data object, if anything: absent (a lifecycle rule
    /// or a person deleted it), or not the manifest's size. Such a copy is not archived.
    fn data_state(
        &self,
        manifest: &Manifest,
        sizes: &std::collections::HashMap<ObjectPath, u64>,
    ) -> Option<String> {
        let object = self.data_object(manifest).ok()?;
        match sizes.get(&object) {
            None => Some(format!(
                "its data object {} is missing",
                crate::text::shown(object.as_ref())
            )),
            Some(size) if *size != manifest.size => Some(format!(
                "its data object {} holds {size} bytes, its manifest says {}",
                crate::text::shown(object.as_ref()),
                manifest.size
            )),
            Some(_) => None,
        }
    }

    /// The keys taken out of the listing pages since the last call.
    fn skipped_keys(&self) -> Vec<String> {
        std::mem::take(&mut *self.skipped.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A listed manifest or cluster manifest, read and checked to sit where its ids say.
    async fn read_any(&self, location: &ObjectPath, size: u64) -> Result<Read, String> {
        if size > MAX_MANIFEST {
            return Err(format!("{size} bytes is too big for a manifest"));
        }
        let bytes = self
            .store
            .get(location)
            .await
            .map_err(|e| ArchiveError::store("read", location, e).to_string())?
            .bytes()
            .await
            .map_err(|e| ArchiveError::store("read", location, e).to_string())?;
        if location.filename() == Some(CLUSTER_MANIFEST) {
            return self
                .read_cluster(location, &bytes)
                .map(|c| Read::Cluster(Box::new(c)));
        }
        self.read_manifest(location, &bytes)
            .map(|a| Read::Copy(Box::new(a)))
    }

    fn read_cluster(&self, location: &ObjectPath, bytes: &[u8]) -> Result<ArchivedCluster, String> {
        let manifest: ClusterManifest = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a cluster manifest of this tool: {e}"))?;
        let unit = manifest.unit();
        if self
            .cluster_manifest_object(&unit)
            .map_err(|e| e.to_string())?
            != *location
        {
            return Err(format!(
                "a cluster manifest of {} outside its folder",
                unit.label()
            ));
        }
        Ok(ArchivedCluster { unit, manifest })
    }

    fn read_manifest(&self, location: &ObjectPath, bytes: &[u8]) -> Result<Archived, String> {
        let manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a manifest of this tool: {e}"))?;
        let key = manifest.key();
        let folder = self.folder(&key).map_err(|e| e.to_string())?;
        if folder.clone().join(MANIFEST) != *location {
            return Err(format!(
                "a manifest of {} outside its folder {folder}",
                key.label()
            ));
        }
        self.data_object(&manifest).map_err(|e| e.to_string())?;
        Ok(Archived {
            key,
            manifest,
            folder: folder.to_string(),
            missing: None,
        })
    }

    /// Writes `manifest` as the copy's manifest (after its data, or to mark it rotted).
    ///
    /// # Errors
    /// The PUT failed.
    pub async fn put_manifest(&self, manifest: &Manifest) -> Result<(), ArchiveError> {
        let location = self.folder(&manifest.key())?.join(MANIFEST);
        self.put_json(&location, manifest).await
    }

    /// Writes a manifest of this tool as pretty JSON, one PUT.
    async fn put_json(
        &self,
        location: &ObjectPath,
        value: &impl serde::Serialize,
    ) -> Result<(), ArchiveError> {
        let mut bytes = serde_json::to_vec_pretty(value).expect("invariant: a manifest serialises");
        bytes.push(b'\n');
        self.store
            .put(location, PutPayload::from(bytes))
            .await
            .map_err(|e| ArchiveError::store("write", location, e))?;
        Ok(())
    }

    fn cluster_manifest_object(&self, unit: &BackupKey) -> Result<ObjectPath, ArchiveError> {
        Ok(self.folder(&unit.unit())?.join(CLUSTER_MANIFEST))
    }

    /// Seals a cluster backup in the archive: writes its `cluster-manifest.json` (the local
    /// one), once every node copy it names is there.
    ///
    /// # Errors
    /// An id is not a plain name, or the PUT failed.
    pub async fn put_cluster_manifest(&self, sealed: &ClusterManifest) -> Result<(), ArchiveError> {
        let location = self.cluster_manifest_object(&sealed.unit())?;
        self.put_json(&location, sealed).await
    }

    /// Withdraws the seal of cluster backup `unit` from the archive (before any of its node
    /// copies is deleted or replaced). Nothing to do when it is not there.
    ///
    /// # Errors
    /// An id is not a plain name, or the DELETE failed.
    pub async fn remove_cluster_manifest(&self, unit: &BackupKey) -> Result<(), ArchiveError> {
        let location = self.cluster_manifest_object(unit)?;
        match self.store.delete(&location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(ArchiveError::store("delete", &location, e)),
        }
    }

    /// Deletes one archived copy: its manifest first (from then on it is not a copy), then its
    /// data object. Only the two objects the manifest's own ids name are touched.
    ///
    /// # Errors
    /// A DELETE failed (a copy whose manifest is gone but whose data is left is not a copy; the
    /// next prune of it cannot happen, so the error says which object is left).
    pub async fn remove(&self, copy: &Archived) -> Result<(), ArchiveError> {
        let data = self.data_object(&copy.manifest)?;
        let manifest = ObjectPath::from(copy.folder.as_str()).join(MANIFEST);
        self.store
            .delete(&manifest)
            .await
            .map_err(|e| ArchiveError::store("delete", &manifest, e))?;
        match self.store.delete(&data).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(ArchiveError::store("delete", &data, e)),
        }
    }

    /// The data of one archived copy as a stream of chunks (for `--verify --archive`: read,
    /// never stored), and the size the store reports.
    ///
    /// # Errors
    /// The GET failed.
    pub async fn read(
        &self,
        copy: &Archived,
    ) -> Result<
        (
            u64,
            futures::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>,
        ),
        ArchiveError,
    > {
        let data = self.data_object(&copy.manifest)?;
        let got = self
            .store
            .get(&data)
            .await
            .map_err(|e| ArchiveError::store("read", &data, e))?;
        let size = got.meta.size;
        let stream = got
            .into_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other))
            .boxed();
        Ok((size, stream))
    }
}

#[cfg(test)]
mod reason_tests {
    #[test]
    fn a_connection_that_could_not_be_made_is_said_plainly() {
        let raw = "Generic S3 error: Error performing list request: Error performing GET \
                   http://127.0.0.1:9/backups?list-type=2&prefix=p%2F in 1.6s, after 10 \
                   retries, max_retries: 10, retry_timeout: 180s  - HTTP error: error sending \
                   request: client error (Connect): tcp connect error: Connection refused \
                   (os error 111)";
        assert_eq!(
            super::plain_reason(raw),
            "connection refused at http://127.0.0.1:9"
        );
        assert_eq!(super::plain_reason("Access Denied"), "Access Denied");
    }
}
