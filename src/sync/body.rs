//! Streaming one response body into the partial file: network chunks batched for `writev`,
//! never more than `BackupSize`, and a floor under the transfer rate ([`Pace`]) so a trickling
//! server cannot hold a download for ever. Whatever arrived before a failure is kept: it is
//! exactly the bytes up to the offset.

use std::time::Instant;

use bytes::Bytes;

use std::path::Path;

use tokio_util::sync::CancellationToken;

use super::error::DownloadError;
use super::sink::Sink;
use super::space::Claim;
use crate::progress::Bar;
use crate::throttle::Throttle;

/// Network chunks are batched up to this size and written with one `writev` (see crates.md:
/// large writes are much slower, tiny ones waste syscalls); batching, not copying them
/// together, saves a memory copy of every byte.
const CHUNK: usize = 128 * 1024;
/// A batch is also sent once it holds this many pieces, whatever their size (bounded `writev`).
const MAX_PIECES: usize = 64;

/// A transfer slower than `min_rate` bytes per second, averaged over `window`, is cut and
/// resumed: `read_timeout` alone resets on every byte, so a server trickling a byte a second
/// would hold a download (and the pass) for ever. `min_rate` 0 turns the floor off.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub min_rate: u64,
    pub window: std::time::Duration,
}

/// Bytes received in the current window of a [`Pace`].
pub(super) struct Window {
    start: Instant,
    bytes: u64,
}

impl Window {
    pub(super) fn new() -> Window {
        Window {
            start: Instant::now(),
            bytes: 0,
        }
    }

    /// Time held back by our own bandwidth limit is not the server's slowness.
    pub(super) fn hold(&mut self, waited: std::time::Duration) {
        self.start += waited;
    }
}

impl Pace {
    /// Counts `n` more bytes; `Some(rate)` when a window ended below the floor.
    pub(super) fn too_slow(&self, w: &mut Window, n: u64) -> Option<u64> {
        w.bytes += n;
        let elapsed = w.start.elapsed();
        if self.min_rate == 0 || elapsed < self.window {
            return None;
        }
        let rate = (w.bytes as f64 / elapsed.as_secs_f64()) as u64;
        *w = Window {
            start: Instant::now(),
            bytes: 0,
        };
        (rate < self.min_rate).then_some(rate)
    }
}

/// Where a download stands: the bytes in the partial file, the bytes fetched in this run, and
/// the disk space it may still fill.
pub struct Progressed {
    pub offset: u64,
    pub fetched: u64,
    pub claim: Claim,
}

/// What bounds one body: the object's size, the rate floor, a shutdown, and the names for
/// messages.
pub struct Limits<'a> {
    pub size: u64,
    pub pace: Pace,
    /// The pass's shared bandwidth limit: a chunk waits for its tokens before it counts.
    pub throttle: &'a Throttle,
    pub cancel: &'a CancellationToken,
    pub backup: &'a str,
    pub url: &'a str,
    pub part: &'a Path,
}

/// Waits until the pass's bandwidth limit lets `n` more bytes through.
async fn admit(lim: &Limits<'_>, window: &mut Window, n: u64) -> Result<(), DownloadError> {
    let waiting = Instant::now();
    lim.throttle
        .take(n, lim.cancel)
        .await
        .map_err(|_| DownloadError::Cancelled {
            backup: lim.backup.to_string(),
        })?;
    // Time held back by our own limit is not the server's slowness: the rate floor's window
    // does not count it.
    window.start += waiting.elapsed();
    Ok(())
}

fn overrun(lim: &Limits<'_>, got: u64) -> DownloadError {
    DownloadError::Size {
        backup: lim.backup.to_string(),
        what: "the server sent more than BackupSize",
        expected: lim.size,
        got,
    }
}

/// Streams `resp` into `sink` after `at.offset`, never past `lim.size`.
///
/// # Errors
/// The body broke off, ran past or short of the size, fell below the rate floor, or a
/// shutdown came; what arrived until then is written and counted in `at`.
pub async fn stream(
    mut resp: reqwest::Response,
    lim: &Limits<'_>,
    at: &mut Progressed,
    sink: &mut Sink,
    bar: &dyn Bar,
) -> Result<(), DownloadError> {
    let backup = lim.backup.to_string();
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batched = 0usize;
    let mut window = Window {
        start: Instant::now(),
        bytes: 0,
    };
    let result = loop {
        let next = tokio::select! {
            biased;
            () = lim.cancel.cancelled() => break Err(DownloadError::Cancelled { backup: backup.clone() }),
            next = resp.chunk() => next,
        };
        match next {
            Ok(Some(chunk)) => {
                if at.offset + chunk.len() as u64 > lim.size {
                    break Err(overrun(lim, at.offset + chunk.len() as u64));
                }
                // Tokens first: a shutdown during the wait drops this chunk unwritten, and the
                // offset still says exactly what is in the file.
                if let Err(e) = admit(lim, &mut window, chunk.len() as u64).await {
                    break Err(e);
                }
                at.offset += chunk.len() as u64;
                at.claim.wrote(chunk.len() as u64);
                at.fetched += chunk.len() as u64;
                bar.inc(chunk.len() as u64);
                let n = chunk.len() as u64;
                batched += chunk.len();
                batch.push(chunk);
                if batched >= CHUNK || batch.len() >= MAX_PIECES {
                    batched = 0;
                    sink.write(std::mem::take(&mut batch))
                        .await
                        .map_err(|()| DownloadError::writer_stopped(&backup, lim.part))?;
                }
                if let Some(rate) = lim.pace.too_slow(&mut window, n) {
                    break Err(DownloadError::TooSlow {
                        backup: backup.clone(),
                        url: crate::secret::redact_url(lim.url),
                        rate,
                        min_rate: lim.pace.min_rate,
                        window: lim.pace.window,
                        offset: at.offset,
                    });
                }
            }
            Ok(None) if at.offset < lim.size => {
                break Err(DownloadError::Size {
                    backup: backup.clone(),
                    what: "the object ended before BackupSize",
                    expected: lim.size,
                    got: at.offset,
                });
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(DownloadError::transfer(&backup, lim.url, e)),
        }
    };
    // Whatever happened, what arrived is kept: it is exactly the bytes up to `offset`.
    if !batch.is_empty() {
        sink.write(batch)
            .await
            .map_err(|()| DownloadError::writer_stopped(&backup, lim.part))?;
    }
    result
}
