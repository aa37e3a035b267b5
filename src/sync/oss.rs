//! Asking OSS for an object and reading its answers: [`get`], the one way every GET of a
//! presigned URL is built (the one-connection download, each ranged stream, an export's probe);
//! `Content-Range`, a presigned URL's `Expires`, the XML error body's `Code`, all pure and
//! table-tested; and reading an error response (a bounded part of its body, which never
//! reaches the file) into the next step.

use reqwest::header::{IF_MATCH, IF_RANGE, RANGE};

use super::error::DownloadError;
use crate::secret::redact_url;

/// What part of an object a GET asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask<'a> {
    /// The whole object.
    Whole,
    /// From `offset` to the end, the bytes of the version `if_range` names (else the whole
    /// object again: a 200), for a resume.
    From {
        offset: u64,
        if_range: Option<&'a str>,
    },
    /// Bytes `start..end`, of the version `if_match` names only (else 412), for a part.
    Part {
        start: u64,
        end: u64,
        if_match: Option<&'a str>,
    },
}

/// The GET of `url` for `ask`, on the download client (its connect and read timeouts). A
/// presigned URL is signed for GET only: no HEAD, no other headers that would be signed.
pub fn get(http: &reqwest::Client, url: &str, ask: Ask<'_>) -> reqwest::RequestBuilder {
    let req = http.get(url);
    match ask {
        Ask::Whole | Ask::From { offset: 0, .. } => req,
        Ask::From { offset, if_range } => {
            let req = req.header(RANGE, format!("bytes={offset}-"));
            match if_range {
                Some(etag) => req.header(IF_RANGE, etag),
                None => req,
            }
        }
        Ask::Part {
            start,
            end,
            if_match,
        } => {
            let req = req.header(RANGE, format!("bytes={start}-{}", end - 1));
            match if_match {
                Some(etag) => req.header(IF_MATCH, etag),
                None => req,
            }
        }
    }
}

/// How much of an error body is read, to quote it; it is never written to the file.
const MAX_ERROR_BODY: usize = 4096;

/// `bytes START-END/TOTAL` → (START, TOTAL).
pub fn parse_content_range(value: &str) -> Option<(u64, u64)> {
    parse_range_exact(value).map(|(start, _, total)| (start, total))
}

/// `bytes START-END/TOTAL` → (START, END, TOTAL); the unit is case-insensitive (RFC 9110
/// §14.1: `Bytes` is `bytes`; issue #21).
pub fn parse_range_exact(value: &str) -> Option<(u64, u64, u64)> {
    let (unit, rest) = value.trim().split_once(' ')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let (range, total) = rest.trim_start().split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let (start, end, total) = (
        start.parse().ok()?,
        end.parse::<u64>().ok()?,
        total.parse().ok()?,
    );
    (start <= end && end < total).then_some((start, end, total))
}

/// The `Expires` query parameter of a presigned URL (Unix seconds).
pub fn url_expires(url: &str) -> Option<i64> {
    let parsed = url::Url::parse(url).ok()?;
    parsed
        .query_pairs()
        .find(|(k, _)| k == "Expires")
        .and_then(|(_, v)| v.parse().ok())
}

/// The text of the first `<tag>…</tag>` in an XML error body, as sent (at most 100
/// characters): whoever shows it shows it as data ([`crate::text::shown`]).
pub fn xml_tag(text: &str, tag: &str) -> Option<String> {
    let start = text.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = text[start..].find(&format!("</{tag}>"))? + start;
    Some(text[start..end].chars().take(100).collect())
}

/// How a request attempt went wrong: the URL expired (get a fresh one and go on), or a failure.
pub enum Step {
    Expired,
    Fail(DownloadError),
}

/// Reads (a bounded part of) an error response; never writes it anywhere but the message.
pub async fn error_response(backup: &str, url: &str, mut resp: reqwest::Response) -> Step {
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_ERROR_BODY {
            break;
        }
    }
    let text = String::from_utf8_lossy(&body);
    if status == 403 && text.contains("Request has expired") {
        return Step::Expired;
    }
    Step::Fail(DownloadError::Http {
        backup: backup.to_string(),
        status,
        code: xml_tag(&text, "Code"),
        url: redact_url(url),
    })
}

pub fn header(
    resp: &reqwest::Response,
    name: impl reqwest::header::AsHeaderName,
) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        assert_eq!(parse_content_range("bytes 100-999/1000"), Some((100, 1000)));
        assert_eq!(parse_content_range("bytes 0-0/1"), Some((0, 1)));
        assert_eq!(parse_range_exact("Bytes 1-2/3"), Some((1, 2, 3)));
        assert_eq!(parse_range_exact("BYTES 0-9/10"), Some((0, 9, 10)));
        for bad in [
            "bytes 5-4/10",
            "bytes 0-10/10",
            "bytes */10",
            "items 0-1/2",
            "bytes 0-1",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn expires_and_xml() {
        assert_eq!(
            url_expires("http://h/o?Expires=1700000000&Signature=x"),
            Some(1_700_000_000)
        );
        assert_eq!(url_expires("http://h/o"), None);
        let body = "<?xml?><Error><Code>AccessDenied</Code><Message>Request has expired.</Message></Error>";
        assert_eq!(xml_tag(body, "Code").as_deref(), Some("AccessDenied"));
        assert_eq!(
            xml_tag("<Code>a\nb</Code>", "Code").as_deref(),
            Some("a\nb")
        );
        assert_eq!(xml_tag("<Code>a", "Code"), None);
    }
}
