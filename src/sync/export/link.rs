//! A finished export's link: which one to use (private or public), and what the object behind
//! it is: its size and its first bytes, from one ranged GET, retried as a download is.

use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::api::model::dbs::ExportLink;
use crate::config::Network;
use crate::retry::RetryPolicy;
use crate::secret::redact_url;
use crate::sync::error::DownloadError;
use crate::sync::oss::{self, Ask, Step, parse_content_range};
use crate::sync::plan::Via;

/// Bytes of an export read to tell what it is (a tar header's `ustar` sits at 257).
const PROBE: u64 = 512;

/// The link to use: the private one when it is asked for (or reachable, with `auto`, the
/// public one then the fallback), else the public one.
pub(super) fn choose(
    link: &ExportLink,
    network: Network,
    intranet: bool,
) -> Option<(String, Via, Option<String>)> {
    let private = link.private_url.clone();
    let public = link.public_url.clone();
    match network {
        Network::Public => public.map(|p| (p, Via::Public, None)),
        Network::Intranet => private.map(|p| (p, Via::Intranet, None)),
        Network::Auto => match (private, public) {
            (Some(i), p) if intranet => Some((i, Via::Intranet, p)),
            (_, Some(p)) => Some((p, Via::Public, None)),
            (Some(i), None) => Some((i, Via::Intranet, None)),
            (None, None) => None,
        },
    }
}

/// The object's size and its first bytes (enough to see a tar header), from one ranged GET
/// (a presigned URL is signed for GET only), built and retried as a download's are
/// ([`crate::sync::oss::get`], the download's client and retry budget).
///
/// # Errors
/// The GET failed for good (or the shutdown stopped it), or the answer did not say the size.
pub(super) async fn probe(
    http: &reqwest::Client,
    url: &str,
    (backup, retry, cancel): (&str, RetryPolicy, &CancellationToken),
) -> Result<(u64, Vec<u8>), DownloadError> {
    let mut budget = crate::retry::Budget::new(retry);
    loop {
        let attempt = budget.attempt();
        let err = match once(http, url, backup).await {
            Ok(found) => return Ok(found),
            Err(Step::Expired) => {
                return Err(DownloadError::Refresh {
                    backup: backup.to_string(),
                    source: Box::new(crate::sync::error::RefreshError::Expired),
                });
            }
            Err(Step::Fail(e)) if e.is_retryable() => e,
            Err(Step::Fail(e)) => return Err(e),
        };
        let Some(delay) = budget.next_delay() else {
            return Err(DownloadError::GaveUp {
                backup: backup.to_string(),
                attempts: attempt,
                last: Box::new(err),
            });
        };
        warn!(
            backup,
            attempt, "the export link's probe failed, retrying in {delay:?}: {err}"
        );
        if !crate::retry::sleep(delay, cancel).await {
            return Err(DownloadError::Cancelled {
                backup: backup.to_string(),
            });
        }
    }
}

/// One probe GET.
async fn once(http: &reqwest::Client, url: &str, backup: &str) -> Result<(u64, Vec<u8>), Step> {
    let ask = Ask::Part {
        start: 0,
        end: PROBE,
        if_match: None,
    };
    let resp = oss::get(http, url, ask)
        .send()
        .await
        .map_err(|e| Step::Fail(DownloadError::transfer(backup, url, e)))?;
    let header = |name| resp.headers().get(name).and_then(|v| v.to_str().ok());
    let size = match resp.status().as_u16() {
        206 => header(CONTENT_RANGE)
            .and_then(parse_content_range)
            .map(|(_, total)| total),
        200 => header(CONTENT_LENGTH).and_then(|v| v.parse().ok()),
        _ => return Err(oss::error_response(backup, url, resp).await),
    };
    let size = size.ok_or_else(|| {
        Step::Fail(DownloadError::Transfer {
            backup: backup.to_string(),
            url: redact_url(url),
            reason: "the answer did not say the archive's size".into(),
        })
    })?;
    // At most PROBE bytes of the answer are read, even from a 200 with the whole object.
    let mut head = Vec::with_capacity(PROBE as usize);
    let mut resp = resp;
    while head.len() < PROBE as usize {
        match resp.chunk().await {
            Ok(Some(chunk)) => head.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    head.truncate(PROBE as usize);
    Ok((size, head))
}
