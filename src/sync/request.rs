//! One attempt of a download: the GET (ranged when resuming, with `If-Range`), the checks of
//! the answer before a byte lands (status, `Content-Range`, the object's identity, the size),
//! the sidecar written first, then the body streamed into the sink. The retry loop around it
//! lives in [`super::download`].

use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, ETAG, LAST_MODIFIED};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::body::{self, Limits, Pace, Progressed};
use super::error::DownloadError;
use super::oss::{Step, error_response, header, parse_content_range, url_expires};
use super::plan::{Fetch, Via};
use super::sink::Sink;
use crate::model::{Identity, Likeness, Sidecar};
use crate::progress::Bar;
use crate::store::{self, BackupPaths, Store};

/// What an attempt needs of the run: the HTTP client, the shutdown signal, the rate floor, and
/// the store that writes the sidecar.
pub(super) struct Link<'a> {
    pub http: &'a reqwest::Client,
    pub cancel: &'a CancellationToken,
    pub pace: Pace,
    pub throttle: &'a crate::throttle::Throttle,
    pub store: &'a Store,
}

pub(super) struct State {
    pub(super) url: String,
    pub(super) via: Via,
    pub(super) fallback: Option<String>,
    /// The URL is still the listing's, which may have sat in the queue until it expired. Once
    /// refreshed, only the server says when a URL has expired: this host's clock may be off.
    pub(super) from_listing: bool,
    /// The offset, the bytes fetched this run, and the space still claimed.
    pub(super) at: Progressed,
    /// Bytes of an earlier run's partial that end up in the file (0 once it restarts).
    pub(super) resumed_from: u64,
    pub(super) sidecar: Sidecar,
    /// Fresh URLs asked for since bytes last arrived.
    pub(super) refreshes: u32,
}

/// Runs `fut` unless a shutdown comes first: a server that never answers must not hold up
/// a stop until the read timeout.
pub(super) async fn unless_cancelled<T>(
    cancel: &CancellationToken,
    backup: &str,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, DownloadError> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => Err(DownloadError::Cancelled { backup: backup.to_string() }),
        out = fut => Ok(out),
    }
}

/// One GET (ranged when resuming) and its body into the sink.
pub(super) async fn one_request(
    link: &Link<'_>,
    fetch: &Fetch,
    paths: &BackupPaths,
    st: &mut State,
    sink: &mut Sink,
    bar: &dyn Bar,
) -> Result<(), Step> {
    let backup = fetch.key.label();
    let Some(resp) = send(link, &backup, st).await? else {
        return Ok(());
    };
    let got = Identity {
        etag: header(&resp, ETAG),
        crc64: header(&resp, "x-oss-hash-crc64ecma").and_then(|v| v.parse::<u64>().ok()),
        last_modified: header(&resp, LAST_MODIFIED),
    };
    if !accept(fetch, paths, st, sink, bar, &resp, &got).await? {
        return Ok(());
    }
    // Fixed by the first response, only ever narrowed: a response that omits the CRC or
    // the ETag never switches a check off.
    if st.at.offset == 0 {
        st.sidecar.identity.restart_with(&got);
    } else {
        st.sidecar.identity.narrow(&got);
    }
    st.sidecar.size = fetch.size;
    st.sidecar.url_expires = url_expires(&st.url);
    if fetch.size <= NO_SIDECAR_UP_TO && st.at.offset == 0 {
        // A small file is fetched again whole after a crash: a sidecar (written and fsynced
        // before its first byte) would cost more than it saves (issue #21). None may be left
        // from an earlier run either: a partial is resumed only with its own sidecar.
        link.store.drop_sidecar(paths);
    } else {
        save_sidecar(link, &backup, paths, &st.sidecar).await?;
    }
    let lim = Limits {
        size: fetch.size,
        pace: link.pace,
        throttle: link.throttle,
        cancel: link.cancel,
        backup: &backup,
        url: &st.url,
        part: &paths.part,
    };
    body::stream(resp, &lim, &mut st.at, sink, bar)
        .await
        .map_err(Step::Fail)
}

/// Sends the GET; `None` when the intranet host could not be reached and the public URL
/// takes over (the caller asks again).
async fn send(
    link: &Link<'_>,
    backup: &str,
    st: &mut State,
) -> Result<Option<reqwest::Response>, Step> {
    let ask = super::oss::Ask::From {
        offset: st.at.offset,
        if_range: st.sidecar.identity.etag.as_deref(),
    };
    let req = super::oss::get(link.http, &st.url, ask);
    let sent = unless_cancelled(link.cancel, backup, req.send())
        .await
        .map_err(Step::Fail)?;
    let resp = match sent {
        Ok(r) => r,
        Err(e) if e.is_connect() && st.via == Via::Intranet && st.fallback.is_some() => {
            warn!(backup = %backup, "intranet URL unreachable ({}); falling back to the public URL", e.without_url());
            st.url = st.fallback.take().unwrap_or_default();
            st.via = Via::Public;
            return Ok(None);
        }
        Err(e) => return Err(Step::Fail(DownloadError::transfer(backup, &st.url, e))),
    };
    if !resp.status().is_success() {
        let step = unless_cancelled(link.cancel, backup, error_response(backup, &st.url, resp));
        return Err(step.await.map_err(Step::Fail)?);
    }
    Ok(Some(resp))
}

/// Whether this answer's bytes may go into the file at the current offset: a 206 only for
/// exactly the range asked and from the object the partial came from; a 200 restarts the
/// file from zero. `false` when the file was restarted and must be asked for again.
async fn accept(
    fetch: &Fetch,
    paths: &BackupPaths,
    st: &mut State,
    sink: &mut Sink,
    bar: &dyn Bar,
    resp: &reqwest::Response,
    got: &Identity,
) -> Result<bool, Step> {
    let backup = fetch.key.label();
    let total = if resp.status() == StatusCode::PARTIAL_CONTENT {
        let range = header(resp, CONTENT_RANGE).and_then(|v| parse_content_range(&v));
        let likeness = st.sidecar.identity.compare(got);
        match range {
            Some((start, total))
                if start == st.at.offset && (st.at.offset == 0 || likeness == Likeness::Same) =>
            {
                total
            }
            _ => {
                // A range we did not ask for, or one that cannot be matched to the object
                // the partial came from (another ETag, or none at all: If-Range not
                // honoured on the way): its bytes must not be spliced onto the partial.
                // Start over with a plain GET.
                warn!(backup = %backup, offset = st.at.offset, ?likeness, "unusable 206 answer; restarting from zero");
                restart(sink, st, bar, &backup, paths).await?;
                return Ok(false);
            }
        }
    } else {
        if st.at.offset > 0 {
            info!(backup = %backup, offset = st.at.offset, "server sent the whole object (range ignored or object changed); restarting from zero");
            restart(sink, st, bar, &backup, paths).await?;
        }
        header(resp, CONTENT_LENGTH)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(fetch.size)
    };
    if total != fetch.size {
        return Err(Step::Fail(DownloadError::Size {
            backup,
            what: "the object's size differs from BackupSize",
            expected: fetch.size,
            got: total,
        }));
    }
    Ok(true)
}

/// Files up to this size get no resume sidecar: after a crash they are fetched again whole.
const NO_SIDECAR_UP_TO: u64 = 1 << 20;

/// Writes the sidecar before any byte of this response lands, off the async workers.
async fn save_sidecar(
    link: &Link<'_>,
    backup: &str,
    paths: &BackupPaths,
    sidecar: &Sidecar,
) -> Result<(), Step> {
    let (store, for_store, sidecar) = (link.store.clone(), paths.clone(), sidecar.clone());
    tokio::task::spawn_blocking(move || store.write_sidecar(&for_store, &sidecar))
        .await
        .unwrap_or_else(|e| {
            Err(store::io_err("write", &paths.sidecar)(
                std::io::Error::other(e),
            ))
        })
        .map_err(|source| {
            Step::Fail(DownloadError::Store {
                backup: backup.to_string(),
                source,
            })
        })
}

/// Empties the partial file (and the hashes) and starts the count from zero.
pub(super) async fn restart(
    sink: &mut Sink,
    st: &mut State,
    bar: &dyn Bar,
    backup: &str,
    paths: &BackupPaths,
) -> Result<(), Step> {
    sink.restart()
        .await
        .map_err(|()| Step::Fail(DownloadError::writer_stopped(backup, &paths.part)))?;
    st.at.offset = 0;
    st.resumed_from = 0;
    st.at.claim.restart(st.sidecar.size);
    bar.set_position(0);
    Ok(())
}
