//! A finished export's link: which one to use (private or public), and what the object behind
//! it is: its size and its first bytes, from one ranged GET.

use std::time::Duration;

use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, RANGE};

use crate::api::model::dbs::ExportLink;
use crate::config::Network;
use crate::secret::redact_url;
use crate::sync::oss::parse_content_range;
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
/// (a presigned URL is signed for GET only).
pub(super) async fn probe(http: &reqwest::Client, url: &str) -> Result<(u64, Vec<u8>), String> {
    let shown_url = redact_url(url);
    let resp = http
        .get(url)
        .header(RANGE, format!("bytes=0-{}", PROBE - 1))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot reach the export link {shown_url}: {}",
                e.without_url()
            )
        })?;
    let header = |name| resp.headers().get(name).and_then(|v| v.to_str().ok());
    let size = match resp.status().as_u16() {
        206 => header(CONTENT_RANGE)
            .and_then(parse_content_range)
            .map(|(_, total)| total),
        200 => header(CONTENT_LENGTH).and_then(|v| v.parse().ok()),
        status => {
            return Err(format!(
                "the export link {shown_url} answered HTTP {status}"
            ));
        }
    };
    let size =
        size.ok_or_else(|| format!("the export link {shown_url} did not say the archive's size"))?;
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
