//! The archive's HTTP client: object_store's own (reqwest), with every `ListObjectsV2` answer
//! checked before object_store reads it. object_store reads an HTML page answered with 200 (a
//! proxy's) as an empty listing, stops at `IsTruncated` without a continuation token, and fails
//! a whole page (so every listing, for ever) on one foreign key it cannot parse as a path
//! (`pfx/../x`, `pfx/a//b`). Here the first two are errors, and such a key is taken out of the
//! page and reported (issue #21). The check itself is pure ([`check_listing`]).

use std::sync::{Arc, Mutex};

use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse,
    HttpResponseBody, HttpService, ReqwestConnector,
};
use object_store::path::Path as ObjectPath;

/// Keys of listed objects the store client cannot read, as listed (shown as data later).
pub type Skipped = Arc<Mutex<Vec<String>>>;

/// Connects object_store through [`Checked`].
#[derive(Debug, Default)]
pub struct CheckedConnector {
    pub skipped: Skipped,
}

impl HttpConnector for CheckedConnector {
    fn connect(&self, options: &object_store::ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(Checked {
            inner,
            skipped: self.skipped.clone(),
        }))
    }
}

#[derive(Debug)]
struct Checked {
    inner: HttpClient,
    skipped: Skipped,
}

#[async_trait::async_trait]
impl HttpService for Checked {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let listing = req.method() == reqwest::Method::GET
            && req
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|p| p == "list-type=2"));
        let resp = self.inner.execute(req).await?;
        if !listing || !resp.status().is_success() {
            return Ok(resp);
        }
        let (parts, body) = resp.into_parts();
        // A page is at most 1,000 keys: a few hundred KiB.
        let bytes = body.bytes().await?;
        match check_listing(&bytes) {
            Ok((page, skipped)) => {
                self.skipped
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(skipped);
                Ok(HttpResponse::from_parts(
                    parts,
                    HttpResponseBody::from(page),
                ))
            }
            Err(why) => Err(HttpError::new(
                HttpErrorKind::Decode,
                std::io::Error::other(why),
            )),
        }
    }
}

/// A `ListObjectsV2` page as object_store will read it, and the keys taken out of it; or why
/// it is not a listing at all.
///
/// # Errors
/// Not text, not a `ListBucketResult`, or truncated without a continuation token.
pub fn check_listing(body: &[u8]) -> Result<(String, Vec<String>), String> {
    let text = std::str::from_utf8(body)
        .map_err(|_| "the store answered a listing that is not text".to_string())?;
    if !text.contains("<ListBucketResult") {
        let start: String = text.chars().take(60).collect();
        return Err(format!(
            "the store answered a listing that is not a ListBucketResult (a proxy's page?): {}",
            crate::text::shown(&start)
        ));
    }
    let truncated = tag(text, "IsTruncated").is_some_and(|t| t.trim() == "true");
    let token = tag(text, "NextContinuationToken").is_some_and(|t| !t.trim().is_empty());
    if truncated && !token {
        return Err(
            "the store's listing says it is truncated but gives no continuation token".into(),
        );
    }
    let mut page = String::with_capacity(text.len());
    let mut skipped = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("<Contents>") {
        let Some(len) = rest[start..].find("</Contents>") else {
            break;
        };
        let end = start + len + "</Contents>".len();
        let entry = &rest[start..end];
        page.push_str(&rest[..start]);
        let key = tag(entry, "Key").map(unescape).unwrap_or_default();
        if ObjectPath::parse(&key).is_ok() {
            page.push_str(entry);
        } else {
            skipped.push(key);
        }
        rest = &rest[end..];
    }
    page.push_str(rest);
    Ok((page, skipped))
}

/// The text of the first `<name>…</name>` in `xml`.
fn tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(&xml[start..end])
}

/// XML's five entities and numeric character references, as S3 escapes a key.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp..];
        let Some(semi) = after.find(';') else {
            out.push_str(after);
            return out;
        };
        let entity = &after[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => out.push(c),
            None => out.push_str(&after[..=semi]),
        }
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(keys: &[&str], truncated: bool, token: Option<&str>) -> String {
        let contents: String = keys
            .iter()
            .map(|k| {
                format!(
                    "<Contents><Key>{k}</Key><LastModified>2026-12-01T00:00:00.000Z</LastModified>\
                     <ETag>\"e\"</ETag><Size>4</Size></Contents>"
                )
            })
            .collect();
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><Name>b</Name>\
             <Prefix>pfx/</Prefix><KeyCount>{}</KeyCount><IsTruncated>{truncated}</IsTruncated>{}{contents}\
             </ListBucketResult>",
            keys.len(),
            token
                .map(|t| format!("<NextContinuationToken>{t}</NextContinuationToken>"))
                .unwrap_or_default()
        )
    }

    #[test]
    fn a_page_that_is_no_listing_is_an_error() {
        // Issue #21.14: read as an empty archive, everything was uploaded again.
        let html = b"<html><body><h1>502 Bad Gateway</h1></body></html>";
        let e = check_listing(html).unwrap_err();
        assert!(e.contains("not a ListBucketResult"), "{e}");
        let e = check_listing(page(&["pfx/a"], true, None).as_bytes()).unwrap_err();
        assert!(e.contains("no continuation token"), "{e}");
        assert!(check_listing(page(&["pfx/a"], true, Some("t1")).as_bytes()).is_ok());
        assert!(check_listing(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn a_key_the_client_cannot_read_is_taken_out_and_reported() {
        // Issue #21.15: one such key failed every listing, for ever.
        let body = page(
            &[
                "pfx/good/manifest.json",
                "pfx/../x",
                "pfx/a//b",
                "pfx/a&amp;b",
            ],
            false,
            None,
        );
        let (kept, skipped) = check_listing(body.as_bytes()).unwrap();
        assert_eq!(skipped, ["pfx/../x", "pfx/a//b"]);
        assert!(kept.contains("pfx/good/manifest.json") && kept.contains("pfx/a&amp;b"));
        assert!(!kept.contains("pfx/../x") && !kept.contains("pfx/a//b"));
        assert!(kept.ends_with("</ListBucketResult>"));
        assert_eq!(unescape("a&amp;b&#x41;&#66;&lt;"), "a&bAB<");
    }
}
