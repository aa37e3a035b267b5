//! What can go wrong with one download, as one typed error per cause; each message names the
//! backup and says what was expected and what came. Texts from the server (an OSS error code,
//! a URL, a reason quoting a response) are shown as data ([`crate::text::shown`]).

use std::path::PathBuf;

use super::report::FailureKind;
use crate::store::StoreError;
use crate::text::shown;

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("{backup}: HTTP {status} from {}{}", shown(url), code.as_ref().map(|c| format!(" ({})", shown(c))).unwrap_or_default())]
    Http {
        backup: String,
        status: u16,
        code: Option<String>,
        url: String,
    },
    #[error("{backup}: {what}: expected {expected} bytes, got {got}")]
    Size {
        backup: String,
        what: &'static str,
        expected: u64,
        got: u64,
    },
    #[error(
        "{backup}: CRC-64 mismatch: OSS says {expected}, the downloaded file has {got}; the file was discarded"
    )]
    Crc {
        backup: String,
        expected: u64,
        got: u64,
    },
    #[error("{backup}: not enough space in {}: {needed} bytes still to fetch, {available} free{}; any partial file is kept for a later resume", dir.display(), promised_text(*promised))]
    DiskFull {
        backup: String,
        dir: PathBuf,
        needed: u64,
        available: u64,
        /// Of `available`, the bytes other downloads of this pass still have to write.
        promised: u64,
    },
    #[error("{backup}: {source}")]
    Store {
        backup: String,
        #[source]
        source: StoreError,
    },
    #[error("{backup}: transfer from {} failed: {}", shown(url), shown(reason))]
    Transfer {
        backup: String,
        url: String,
        reason: String,
    },
    #[error(
        "{backup}: the transfer from {} ran at {rate} B/s over the last {}s, below download.min_rate ({min_rate} B/s); cut, to be resumed from byte {offset}",
        shown(url), window.as_secs()
    )]
    TooSlow {
        backup: String,
        url: String,
        rate: u64,
        min_rate: u64,
        window: std::time::Duration,
        offset: u64,
    },
    #[error("{backup}: cannot get a fresh download URL: {source}")]
    Refresh {
        backup: String,
        #[source]
        source: Box<RefreshError>,
    },
    #[error("{backup}: gave up after {attempts} attempts: {last}")]
    GaveUp {
        backup: String,
        attempts: u32,
        #[source]
        last: Box<DownloadError>,
    },
    #[error("{backup}: stopped by a shutdown request; the partial file is kept")]
    Cancelled { backup: String },
    /// A task of the program itself panicked: a bug, never the network's or the disk's.
    #[error(
        "{backup}: {what} stopped unexpectedly (a bug; please report it): {reason}; the partial file is kept"
    )]
    Panicked {
        backup: String,
        what: &'static str,
        reason: String,
    },
}

/// At most this many fresh URLs per download: an API that keeps handing out expired URLs
/// must not loop.
pub const MAX_REFRESH: u32 = 3;

/// Why no fresh download URL could be had.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The listing (or DBS) call failed: its class and RequestId kept, so a refused key is a
    /// setup error (exit 2) as it is in a listing.
    #[error(transparent)]
    Api(#[from] crate::api::error::ApiError),
    #[error("backup {} is no longer listed", shown(.0))]
    Gone(String),
    /// The answer had no URL of the kind in use (already shown as data).
    #[error("{0}")]
    NoUrl(String),
    #[error(
        "the URL was still expired after {MAX_REFRESH} fresh ones; is this host's clock right?"
    )]
    StillExpired,
    /// The ranged streams found their URL expired again in their last round.
    #[error("the URL expired")]
    Expired,
}

/// ", N of them promised to downloads in progress" when other downloads hold some of the space.
fn promised_text(promised: u64) -> String {
    if promised == 0 {
        String::new()
    } else {
        format!(" ({promised} of them promised to downloads in progress)")
    }
}

impl DownloadError {
    /// A request that failed or a body that broke off, said in words an operator can act on
    /// (the URL without its query, which holds the signature).
    pub(crate) fn transfer(backup: &str, url: &str, e: reqwest::Error) -> Self {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection failed"
        } else {
            "connection lost"
        };
        DownloadError::Transfer {
            backup: backup.to_string(),
            url: crate::secret::redact_url(url),
            reason: format!("{kind}: {}", crate::text::error_chain(&e.without_url())),
        }
    }

    /// The writer thread stopped; the real cause comes out of `Sink::finish`.
    pub(crate) fn writer_stopped(backup: &str, part: &std::path::Path) -> Self {
        DownloadError::Store {
            backup: backup.to_string(),
            source: StoreError::Io {
                op: "write",
                path: part.to_path_buf(),
                source: std::io::Error::other("the writer stopped"),
            },
        }
    }

    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            DownloadError::Http { status, .. } => {
                *status == 408 || *status == 429 || *status >= 500
            }
            DownloadError::Transfer { .. } | DownloadError::TooSlow { .. } => true,
            _ => false,
        }
    }

    /// The bytes written so far came from a response that disagreed with `BackupSize`: they
    /// must never be resumed or published.
    pub(crate) fn discards_partial(&self) -> bool {
        matches!(self, DownloadError::Size { .. })
    }

    /// Credentials, permissions or the clock are wrong (the pass exits 2, as for a listing).
    pub fn is_setup(&self) -> bool {
        match self {
            DownloadError::Refresh { source, .. } => match source.as_ref() {
                RefreshError::Api(e) => e.is_auth_or_setup(),
                _ => false,
            },
            DownloadError::GaveUp { last, .. } => last.is_setup(),
            _ => false,
        }
    }

    /// A short machine-friendly reason, for the summary and metrics.
    pub fn kind(&self) -> FailureKind {
        match self {
            DownloadError::Http { .. } => FailureKind::Http,
            DownloadError::Size { .. } => FailureKind::SizeMismatch,
            DownloadError::Crc { .. } => FailureKind::CrcMismatch,
            DownloadError::DiskFull { .. } => FailureKind::DiskFull,
            // ENOSPC from any write (the file, or a sidecar written before the first byte):
            // the same alert as the space check's refusal.
            DownloadError::Store {
                source: StoreError::Io { source, .. },
                ..
            } if crate::store::is_disk_full(source) => FailureKind::DiskFull,
            DownloadError::Store { .. } => FailureKind::Io,
            DownloadError::Transfer { .. } => FailureKind::Transfer,
            DownloadError::TooSlow { .. } => FailureKind::TooSlow,
            DownloadError::Refresh { .. } => FailureKind::UrlRefresh,
            DownloadError::GaveUp { last, .. } => last.kind(),
            DownloadError::Cancelled { .. } => FailureKind::Cancelled,
            DownloadError::Panicked { .. } => FailureKind::Panicked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_that_finds_the_disk_full_is_a_disk_full_failure() {
        let store = |source: std::io::Error| DownloadError::Store {
            backup: "dds-1/1".into(),
            source: StoreError::Io {
                op: "write",
                path: PathBuf::from("/d/dds-1/1/.f.part.json.tmp-1"),
                source,
            },
        };
        // ENOSPC as the kernel reports it, e.g. writing a sidecar.
        assert_eq!(
            store(std::io::Error::from_raw_os_error(28)).kind(),
            "disk_full"
        );
        assert_eq!(store(std::io::Error::other("EIO")).kind(), "io");
    }
}
