//! Uploading one verified local copy: its data (one PUT up to `part_size`, else a multipart
//! upload with `uploads` parts in flight), then its manifest.
//!
//! Memory is bounded by `uploads` × `part_size` whatever the file size. The bytes sent are
//! hashed on the way: if they are not the manifest's sha256 (the local copy rotted since its
//! check), the multipart upload is aborted before it completes, so no object with those bytes
//! ever appears. Every request is signed with its payload's sha256 (SigV4), which the store
//! checks, so a part damaged in transit is refused. The bandwidth limit is the pass's.

use object_store::path::Path as ObjectPath;
use object_store::{MultipartUpload, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{Archive, ArchiveError, Archived};
use crate::model::{MANIFEST, Manifest};
use crate::throttle::Throttle;

impl Archive {
    /// Uploads one local copy: `data`, opened by the store (its size as opened), whose path is
    /// `file` and manifest `manifest`, replacing `previous` (an archived copy of the same
    /// backup that differs or rotted). Returns the bytes sent.
    ///
    /// # Errors
    /// The local file cannot be read or no longer matches its manifest, the store refused a
    /// request (after object_store's retries), or a shutdown came: in every case no manifest
    /// names bytes that are not there.
    pub async fn upload(
        &self,
        data: (std::fs::File, u64),
        file: &std::path::Path,
        manifest: &Manifest,
        previous: Option<&Archived>,
        throttle: &Throttle,
        cancel: &CancellationToken,
    ) -> Result<u64, ArchiveError> {
        let object = self.data_object(manifest)?;
        let (data, len) = data;
        let mut reader = tokio::fs::File::from_std(data);
        if len != manifest.size {
            return Err(ArchiveError::Mismatch {
                path: file.display().to_string(),
                what: format!("{len} bytes, the manifest says {}", manifest.size),
            });
        }
        if let Some(old) = previous {
            // The old manifest goes first: while the new bytes replace the old, no manifest
            // vouches for either.
            let location = ObjectPath::from(old.folder.as_str()).join(MANIFEST);
            self.store
                .delete(&location)
                .await
                .map_err(|e| ArchiveError::store("delete", &location, e))?;
        }
        let mut sha = Sha256::new();
        let sent = if len <= self.part_size as u64 {
            let body = read_part(&mut reader, self.part_size, throttle, cancel, &mut sha)
                .await
                .map_err(|e| e.or_local(file))?;
            check_sha(sha, manifest, file)?;
            let n = body.len() as u64;
            self.store
                .put(&object, PutPayload::from(body))
                .await
                .map_err(|e| ArchiveError::store("upload", &object, e))?;
            n
        } else {
            self.multipart(
                &object,
                &mut reader,
                throttle,
                cancel,
                &mut sha,
                file,
                manifest,
            )
            .await?
        };
        let stored = self
            .store
            .head(&object)
            .await
            .map_err(|e| ArchiveError::store("check", &object, e))?;
        if stored.size != manifest.size {
            return Err(ArchiveError::Store {
                op: "check",
                object: object.to_string(),
                reason: format!(
                    "the store holds {} bytes after the upload, not {}",
                    stored.size, manifest.size
                ),
            });
        }
        self.put_manifest(manifest).await?;
        Ok(sent)
    }

    #[allow(clippy::too_many_arguments)]
    async fn multipart(
        &self,
        object: &ObjectPath,
        reader: &mut tokio::fs::File,
        throttle: &Throttle,
        cancel: &CancellationToken,
        sha: &mut Sha256,
        file: &std::path::Path,
        manifest: &Manifest,
    ) -> Result<u64, ArchiveError> {
        let mut upload = self
            .store
            .put_multipart(object)
            .await
            .map_err(|e| ArchiveError::store("start the upload of", object, e))?;
        let sent = match self
            .send_parts(object, upload.as_mut(), reader, throttle, cancel, sha)
            .await
        {
            Ok(sent) => sent,
            Err(e) => {
                // S3 keeps the parts of an unfinished upload (and bills them) until it is
                // aborted: abort now; a kill -9 leaves them to the bucket's lifecycle rule.
                let _ = upload.abort().await;
                return Err(e.or_local(file));
            }
        };
        if let Err(e) = check_sha(sha.clone(), manifest, file) {
            let _ = upload.abort().await;
            return Err(e);
        }
        upload
            .complete()
            .await
            .map_err(|e| ArchiveError::store("complete the upload of", object, e))?;
        Ok(sent)
    }

    /// Reads, hashes and sends the parts. Each part is its own task: a part in flight keeps
    /// going (signing, sending, waiting for the store) while the next one is read, not only
    /// while this loop waits for a free slot. Dropping the set on an error or a shutdown
    /// aborts the parts still in flight.
    async fn send_parts(
        &self,
        object: &ObjectPath,
        upload: &mut dyn MultipartUpload,
        reader: &mut tokio::fs::File,
        throttle: &Throttle,
        cancel: &CancellationToken,
        sha: &mut Sha256,
    ) -> Result<u64, PartError> {
        let mut inflight = JoinSet::new();
        let mut sent = 0u64;
        loop {
            let body = read_part(reader, self.part_size, throttle, cancel, sha).await?;
            if body.is_empty() {
                break;
            }
            sent += body.len() as u64;
            while inflight.len() >= self.uploads {
                finish_one(&mut inflight, object, cancel).await?;
            }
            inflight.spawn(upload.put_part(PutPayload::from(body)));
        }
        while !inflight.is_empty() {
            finish_one(&mut inflight, object, cancel).await?;
        }
        Ok(sent)
    }
}

/// Why reading or sending a part stopped.
enum PartError {
    Io(std::io::Error),
    Archive(ArchiveError),
}

impl PartError {
    fn or_local(self, file: &std::path::Path) -> ArchiveError {
        match self {
            PartError::Io(e) => ArchiveError::Local {
                path: file.display().to_string(),
                reason: e.to_string(),
            },
            PartError::Archive(e) => e,
        }
    }
}

async fn finish_one(
    inflight: &mut JoinSet<object_store::Result<()>>,
    object: &ObjectPath,
    cancel: &CancellationToken,
) -> Result<(), PartError> {
    let failed = |e| PartError::Archive(ArchiveError::store("upload a part of", object, e));
    tokio::select! {
        biased;
        () = cancel.cancelled() => Err(PartError::Archive(ArchiveError::Cancelled)),
        done = inflight.join_next() => match done {
            Some(Ok(Err(e))) => Err(failed(e)),
            // A part's task panicked: the upload cannot complete.
            Some(Err(e)) => Err(failed(object_store::Error::JoinError { source: e })),
            _ => Ok(()),
        },
    }
}

/// Reads up to `size` bytes (fewer only at the end of the file), no faster than `throttle`.
async fn read_part(
    reader: &mut tokio::fs::File,
    size: usize,
    throttle: &Throttle,
    cancel: &CancellationToken,
    sha: &mut Sha256,
) -> Result<Vec<u8>, PartError> {
    const CHUNK: usize = 1024 * 1024;
    let mut body = Vec::with_capacity(size.min(64 * CHUNK));
    while body.len() < size {
        let want = CHUNK.min(size - body.len());
        let start = body.len();
        body.resize(start + want, 0);
        let n = reader
            .read(&mut body[start..])
            .await
            .map_err(PartError::Io)?;
        body.truncate(start + n);
        if n == 0 {
            break;
        }
        throttle
            .take(n as u64, cancel)
            .await
            .map_err(|_| PartError::Archive(ArchiveError::Cancelled))?;
        sha.update(&body[start..]);
    }
    Ok(body)
}

fn check_sha(sha: Sha256, manifest: &Manifest, file: &std::path::Path) -> Result<(), ArchiveError> {
    let got = crate::hex::hex(&sha.finalize());
    if got == manifest.sha256 {
        return Ok(());
    }
    Err(ArchiveError::Mismatch {
        path: file.display().to_string(),
        what: format!("sha256 {got}, the manifest says {}", manifest.sha256),
    })
}
