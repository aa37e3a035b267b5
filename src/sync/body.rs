//! Streaming one response body into the partial file: network chunks batched for `writev`,
//! never more than `BackupSize`, and a floor under the transfer rate ([`Pace`]) so a trickling
//! server cannot hold a download for ever. Whatever arrived before a failure is kept: it is
//! exactly the bytes up to the offset.

use std::time::Instant;

use bytes::Bytes;

use super::download::{Downloader, State};
use super::error::DownloadError;
use super::plan::Fetch;
use super::sink::Sink;
use crate::progress::Bar;
use crate::store::BackupPaths;

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
struct Window {
    start: Instant,
    bytes: u64,
}

impl Pace {
    /// Counts `n` more bytes; `Some(rate)` when a window ended below the floor.
    fn too_slow(&self, w: &mut Window, n: u64) -> Option<u64> {
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

impl Downloader {
    pub(super) async fn stream_body(
        &self,
        fetch: &Fetch,
        paths: &BackupPaths,
        st: &mut State,
        sink: &mut Sink,
        bar: &dyn Bar,
        mut resp: reqwest::Response,
    ) -> Result<(), DownloadError> {
        let backup = fetch.key.label();
        let mut batch: Vec<Bytes> = Vec::new();
        let mut batched = 0usize;
        let mut window = Window {
            start: Instant::now(),
            bytes: 0,
        };
        let result = loop {
            let next = tokio::select! {
                biased;
                () = self.cancel.cancelled() => break Err(DownloadError::Cancelled { backup: backup.clone() }),
                next = resp.chunk() => next,
            };
            match next {
                Ok(Some(chunk)) => {
                    if st.offset + chunk.len() as u64 > fetch.size {
                        break Err(DownloadError::Size {
                            backup: backup.clone(),
                            what: "the server sent more than BackupSize",
                            expected: fetch.size,
                            got: st.offset + chunk.len() as u64,
                        });
                    }
                    st.offset += chunk.len() as u64;
                    st.claim.wrote(chunk.len() as u64);
                    st.fetched += chunk.len() as u64;
                    bar.inc(chunk.len() as u64);
                    let n = chunk.len() as u64;
                    batched += chunk.len();
                    batch.push(chunk);
                    if batched >= CHUNK || batch.len() >= MAX_PIECES {
                        batched = 0;
                        sink.write(std::mem::take(&mut batch))
                            .await
                            .map_err(|()| DownloadError::writer_stopped(&backup, &paths.part))?;
                    }
                    if let Some(rate) = self.pace.too_slow(&mut window, n) {
                        break Err(DownloadError::TooSlow {
                            backup: backup.clone(),
                            url: crate::secret::redact_url(&st.url),
                            rate,
                            min_rate: self.pace.min_rate,
                            window: self.pace.window,
                            offset: st.offset,
                        });
                    }
                }
                Ok(None) if st.offset < fetch.size => {
                    break Err(DownloadError::Size {
                        backup: backup.clone(),
                        what: "the object ended before BackupSize",
                        expected: fetch.size,
                        got: st.offset,
                    });
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(DownloadError::transfer(&backup, &st.url, e)),
            }
        };
        // Whatever happened, what arrived is kept: it is exactly the bytes up to `offset`.
        if !batch.is_empty() {
            sink.write(batch)
                .await
                .map_err(|()| DownloadError::writer_stopped(&backup, &paths.part))?;
        }
        result
    }
}
