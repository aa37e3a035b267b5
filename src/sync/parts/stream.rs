//! The streams of one ranged download: each takes the next missing part, fetches it (the
//! checks of its answer, its body written at its offset), records it, and retries or refreshes
//! the URL (once for all streams) as the download's policy says.

use std::os::unix::fs::FileExt;
use std::time::Instant;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, ETAG, LAST_MODIFIED};
use tracing::warn;

use super::{Job, MAX_WHOLE_ANSWERS, PartErr, SIDECAR_EVERY, Shared, WRITE_BATCH};
use crate::model::{Identity, Likeness, Sidecar};
use crate::retry;
use crate::store;
use crate::sync::body::{Pace, Window};
use crate::sync::error::DownloadError;
use crate::sync::oss::{Step, error_response, header, parse_range_exact, url_expires};
use crate::sync::plan::Via;

impl Job<'_> {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        // A poisoned lock only means a stream panicked mid-update; the map is still whole.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the sidecar with the newest map and identity, one writer at a time.
    pub(super) async fn save_sidecar(&self) -> Result<(), DownloadError> {
        let _one = self.sidecar_lock.lock().await;
        let sidecar = {
            let s = self.lock();
            Sidecar {
                size: self.fetch.size,
                identity: s.identity.clone(),
                url_expires: url_expires(&s.url),
                parts: Some(s.map.clone()),
            }
        };
        let (store, paths) = (self.dl.store.clone(), self.paths.clone());
        tokio::task::spawn_blocking(move || store.write_sidecar(&paths, &sidecar))
            .await
            .unwrap_or_else(|e| {
                Err(store::io_err("write", &self.paths.sidecar)(
                    std::io::Error::other(e),
                ))
            })
            .map_err(|source| DownloadError::Store {
                backup: self.backup.clone(),
                source,
            })
    }

    /// The next missing part no stream is on.
    fn take(&self) -> Option<usize> {
        let mut s = self.lock();
        let i = s.map.missing().into_iter().find(|i| !s.in_flight[*i])?;
        s.in_flight[i] = true;
        Some(i)
    }

    fn release(&self, i: usize) {
        self.lock().in_flight[i] = false;
    }

    /// Part `i` is in the file with `crc`: record it, let the follower hash on, and save the
    /// sidecar at most every [`SIDECAR_EVERY`]: rewriting and fsyncing it after every part
    /// made small parts cost O(parts²) (issue #21); a kill -9 forgets at most that long of
    /// parts, which the next run fetches again.
    async fn complete(&self, i: usize, crc: u64) -> Result<(), DownloadError> {
        let (prefix, due) = {
            let mut s = self.lock();
            s.map.mark(i, crc);
            s.in_flight[i] = false;
            s.refreshes = 0;
            let due = s.saved.elapsed() >= SIDECAR_EVERY;
            s.unsaved = !due;
            if due {
                s.saved = Instant::now();
            }
            (s.map.prefix(self.fetch.size), due)
        };
        self.follower.advance(prefix);
        if due {
            self.save_sidecar().await?;
        }
        Ok(())
    }

    /// One stream: parts until none is missing, retried per the download's policy.
    pub(super) async fn stream(&self) -> Result<(), PartErr> {
        // Counted per failure; a part done starts a fresh budget.
        let mut budget = retry::Budget::new(self.dl.retry);
        loop {
            if self.stop.is_cancelled() {
                return Ok(());
            }
            let Some(i) = self.take() else {
                // Nothing left for this stream: what it and the others did goes on record now
                // (the last parts may crawl for a long time).
                if std::mem::take(&mut self.lock().unsaved) {
                    self.save_sidecar().await.map_err(PartErr::Fail)?;
                }
                return Ok(());
            };
            let err = match self.part(i).await {
                // Stopped by another stream's failure (or the shutdown): that one reports.
                Err(_) if self.stop.is_cancelled() => {
                    self.release(i);
                    return Ok(());
                }
                Ok(crc) => {
                    self.complete(i, crc).await.map_err(PartErr::Fail)?;
                    budget = retry::Budget::new(self.dl.retry);
                    continue;
                }
                Err(e) => e,
            };
            self.release(i);
            let e = match err {
                PartErr::Expired(generation) => {
                    if let Err(e) = self.refresh(generation).await {
                        self.stop.cancel();
                        return Err(PartErr::Fail(e));
                    }
                    continue;
                }
                PartErr::Again => continue,
                PartErr::Fail(e) if e.is_retryable() => e,
                fatal => {
                    self.stop.cancel();
                    return Err(fatal);
                }
            };
            let attempt = budget.attempt();
            let Some(delay) = budget.next_delay() else {
                self.stop.cancel();
                return Err(PartErr::Fail(DownloadError::GaveUp {
                    backup: self.backup.clone(),
                    attempts: attempt,
                    last: Box::new(e),
                }));
            };
            warn!(backup = %self.backup, part = i, attempt, "part interrupted, retrying in {delay:?}: {e}");
            if !retry::sleep(delay, &self.stop).await {
                return Ok(());
            }
        }
    }

    /// A fresh URL for all streams, unless another stream already got one since `generation`.
    async fn refresh(&self, generation: u64) -> Result<(), DownloadError> {
        let _one = self.refresh_lock.lock().await;
        let (via, mut refreshes) = {
            let s = self.lock();
            if s.generation != generation {
                return Ok(());
            }
            (s.via, s.refreshes)
        };
        let fresh = (self.dl)
            .fresh_url(self.fetch, via, &mut refreshes, &self.stop)
            .await;
        let mut s = self.lock();
        // A part completed meanwhile reset the count: this refresh is the first since then.
        s.refreshes = refreshes.min(s.refreshes + 1);
        s.url = fresh?;
        s.generation += 1;
        Ok(())
    }
}

impl Job<'_> {
    /// One part: the ranged GET, its checks, its body written at its offset; its CRC-64.
    async fn part(&self, i: usize) -> Result<u64, PartErr> {
        let size = self.fetch.size;
        let (range, url, generation, etag) = {
            let s = self.lock();
            (
                s.map.range(i, size),
                s.url.clone(),
                s.generation,
                s.identity.etag.clone(),
            )
        };
        let ask = crate::sync::oss::Ask::Part {
            start: range.start,
            end: range.end,
            if_match: etag.as_deref(),
        };
        let req = crate::sync::oss::get(&self.dl.http, &url, ask);
        let sent = tokio::select! {
            biased;
            () = self.stop.cancelled() => return Err(PartErr::Fail(DownloadError::Cancelled { backup: self.backup.clone() })),
            sent = req.send() => sent,
        };
        let resp = match sent {
            Ok(r) => r,
            Err(e) if e.is_connect() && self.to_fallback(generation) => {
                warn!(backup = %self.backup, "intranet URL unreachable ({}); falling back to the public URL", e.without_url());
                return Err(PartErr::Again);
            }
            Err(e) => {
                return Err(PartErr::Fail(DownloadError::transfer(
                    &self.backup,
                    &url,
                    e,
                )));
            }
        };
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => {}
            StatusCode::OK => return Err(self.whole_answer(&url)),
            StatusCode::PRECONDITION_FAILED => {
                return Err(PartErr::Changed(
                    "the object changed (If-Match refused)".into(),
                ));
            }
            _ => {
                return Err(match error_response(&self.backup, &url, resp).await {
                    Step::Expired => PartErr::Expired(generation),
                    Step::Fail(e) => PartErr::Fail(e),
                });
            }
        }
        self.accept(&resp, &range)?;
        self.body(resp, range, &url).await
    }

    /// A 200 (the whole object) to a ranged GET. Before any part is recorded the server is
    /// taken to ignore ranges: one connection. After, one 200 (a proxy's hiccup) must not cost
    /// the parts done (issue #21): the part is asked again, and only a few more 200s hand
    /// the file to one connection, which keeps the contiguous prefix.
    fn whole_answer(&self, url: &str) -> PartErr {
        let mut s = self.lock();
        if s.map.done_bytes(self.fetch.size) == 0 || s.whole_answers >= MAX_WHOLE_ANSWERS {
            return PartErr::NoRanges;
        }
        s.whole_answers += 1;
        PartErr::Fail(DownloadError::Transfer {
            backup: self.backup.clone(),
            url: crate::secret::redact_url(url),
            reason: "answered 200 (the whole object) to a ranged GET".into(),
        })
    }

    /// Falls back from the intranet URL to the public one (once, for all streams).
    fn to_fallback(&self, generation: u64) -> bool {
        let mut s = self.lock();
        if s.via != Via::Intranet || s.generation != generation {
            return s.via == Via::Public && s.generation != generation;
        }
        let Some(public) = s.fallback.take() else {
            return false;
        };
        s.url = public;
        s.via = Via::Public;
        s.generation += 1;
        true
    }

    /// A 206 for exactly this range of an object of this size, from the object the file's
    /// other parts came from (the first answer fixes the identity).
    fn accept(
        &self,
        resp: &reqwest::Response,
        range: &std::ops::Range<u64>,
    ) -> Result<(), PartErr> {
        let size = self.fetch.size;
        let got = Identity {
            etag: header(resp, ETAG),
            crc64: header(resp, "x-oss-hash-crc64ecma").and_then(|v| v.parse::<u64>().ok()),
            last_modified: header(resp, LAST_MODIFIED),
        };
        let mut s = self.lock();
        if s.identity.etag.is_none() && got.etag.is_none() {
            // Without an ETag no part can be matched to the others: one connection.
            return Err(PartErr::NoRanges);
        }
        if s.identity.etag.is_some() && s.identity.compare(&got) != Likeness::Same {
            return Err(PartErr::Changed(
                "a part came from another version of the object".into(),
            ));
        }
        // The same object, the wrong bytes: never spliced in, but no reason to give up the
        // parts already recorded either (issue #21): this part is asked again.
        let got_range = header(resp, CONTENT_RANGE);
        if got_range.as_deref().and_then(parse_range_exact)
            != Some((range.start, range.end - 1, size))
        {
            return Err(PartErr::Fail(DownloadError::Transfer {
                backup: self.backup.clone(),
                url: crate::secret::redact_url(&self.fetch.url),
                reason: format!(
                    "a part answered with Content-Range {:?} instead of bytes {}-{}/{size}",
                    got_range.unwrap_or_default(),
                    range.start,
                    range.end - 1
                ),
            }));
        }
        s.identity.narrow(&got);
        Ok(())
    }

    /// Streams one part's body to its offset, under the shared bandwidth limit and the rate
    /// floor; its CRC-64 once every byte is written.
    async fn body(
        &self,
        mut resp: reqwest::Response,
        range: std::ops::Range<u64>,
        url: &str,
    ) -> Result<u64, PartErr> {
        let fail = |e: DownloadError| PartErr::Fail(e);
        let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Xz);
        let mut at = range.start;
        let mut batch: Vec<Bytes> = Vec::new();
        let mut batched = 0usize;
        let pace: Pace = self.dl.pace;
        let mut window = Window::new();
        loop {
            let next = tokio::select! {
                biased;
                () = self.stop.cancelled() => return Err(fail(DownloadError::Cancelled { backup: self.backup.clone() })),
                next = resp.chunk() => next,
            };
            let chunk = match next {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => return Err(fail(DownloadError::transfer(&self.backup, url, e))),
            };
            let n = chunk.len() as u64;
            if at + batched as u64 + n > range.end {
                return Err(PartErr::Changed("a part's body ran past its range".into()));
            }
            let waiting = Instant::now();
            self.dl.throttle.take(n, &self.stop).await.map_err(|_| {
                fail(DownloadError::Cancelled {
                    backup: self.backup.clone(),
                })
            })?;
            window.hold(waiting.elapsed());
            crc.update(&chunk);
            self.bar.inc(n);
            self.lock().fetched += n;
            batched += chunk.len();
            batch.push(chunk);
            if batched >= WRITE_BATCH {
                at = self
                    .write(at, std::mem::take(&mut batch))
                    .await
                    .map_err(fail)?;
                batched = 0;
            }
            if let Some(rate) = pace.too_slow(&mut window, n) {
                return Err(fail(DownloadError::TooSlow {
                    backup: self.backup.clone(),
                    url: crate::secret::redact_url(url),
                    rate,
                    min_rate: pace.min_rate,
                    window: pace.window,
                    offset: at,
                }));
            }
        }
        at = self.write(at, batch).await.map_err(fail)?;
        if at < range.end {
            return Err(fail(DownloadError::Transfer {
                backup: self.backup.clone(),
                url: crate::secret::redact_url(url),
                reason: format!(
                    "a part ended after {} of {} bytes",
                    at - range.start,
                    range.end - range.start
                ),
            }));
        }
        Ok(crc.finalize())
    }

    /// Writes `batch` at `at`, off the async workers; the offset after it.
    async fn write(&self, at: u64, batch: Vec<Bytes>) -> Result<u64, DownloadError> {
        if batch.is_empty() {
            return Ok(at);
        }
        let file = self.file.clone();
        let written = tokio::task::spawn_blocking(move || {
            let mut pos = at;
            for piece in &batch {
                file.write_all_at(piece, pos)?;
                pos += piece.len() as u64;
            }
            // Start the writeback of what was just written, so the fsync before publishing
            // finds little left to do (as the one-connection path does every 8 MiB).
            use std::os::fd::AsRawFd;
            // SAFETY: a valid open descriptor and a range inside the file; the call only
            // schedules I/O, and its failure is harmless (the final fsync does the work).
            unsafe {
                libc::sync_file_range(
                    file.as_raw_fd(),
                    at as libc::off64_t,
                    (pos - at) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
            Ok::<u64, std::io::Error>(pos)
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        written.map_err(|e| {
            let needed = (self.fetch.size, None);
            self.dl.write_error(self.fetch, self.paths, needed, e)
        })
    }
}
