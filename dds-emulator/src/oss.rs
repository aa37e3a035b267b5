//! The fake OSS: presigned V1 URLs and object GET/HEAD with OSS's Range semantics.
//!
//! Owns URL signing with the emulator's own OSS key (the real URLs are signed by the service, not
//! with the caller's key; DBS export links are signed the same way), the checks OSS makes on such
//! a URL (key, expiry, signature), the range rules (an invalid or out-of-bounds range gives 200
//! with the whole object unless `x-oss-range-behavior: standard`), the response headers and the
//! streamed body with its faults and its pacing: `body_rate` (a steady link per body) and
//! `conn_rate` (the ceiling of one connection: each response body on its own, so N ranged GETs
//! in parallel get N times it; sent in chunks of at most ~20 ms of bytes, 16–256 KiB, never
//! ahead of schedule by more than one chunk).
//! Reference: `shared/docs/alibaba-facts.md` §4 and the OSS GetObject / range download docs.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use super::content::ObjectInfo;
use super::sign::{hmac_sha1_b64, percent_encode, signatures_match};
use super::wire::{OssError, http_date, iso_millis, oss_error, oss_request_id};
use super::{Resolved, Shared};

mod body;
use body::body_stream;

/// The bucket name in the canonical resource (the URL path carries only instance and object).
const BUCKET: &str = "rdsbak-emulator";

/// The emulator's OSS secret, derived from the API secret so URLs survive a restart of an
/// emulator with the same configuration (and the API secret itself never signs a URL).
pub(crate) fn derive_secret(api_secret: &str) -> String {
    hmac_sha1_b64(api_secret, "dds-emulator-oss-key")
}

/// OSS V1 query-string signing: `GET\n\n\n{Expires}\n/{bucket}/{object}`.
fn string_to_sign(expires: i64, instance: &str, name: &str) -> String {
    format!("GET\n\n\n{expires}\n/{BUCKET}/{instance}/{name}")
}

/// `{base}/oss/{public|internal}/{instance}/{object}?Expires=..&OSSAccessKeyId=..&Signature=..&Region=..`
pub(crate) fn presign(
    shared: &Shared,
    intranet: bool,
    instance: &str,
    name: &str,
    expires: i64,
) -> String {
    let sig = hmac_sha1_b64(
        &shared.oss_key_secret,
        &string_to_sign(expires, instance, name),
    );
    let (base, network) = if intranet {
        (&shared.intranet_base, "internal")
    } else {
        (&shared.public_base, "public")
    };
    format!(
        "{base}/oss/{network}/{}/{}?Expires={expires}&OSSAccessKeyId={}&Signature={}&Region={}",
        percent_encode(instance),
        percent_encode(name),
        percent_encode(&shared.oss_key_id),
        percent_encode(&sig),
        percent_encode(&shared.region),
    )
}

pub(crate) async fn get_object(
    State(shared): State<Arc<Shared>>,
    Path((network, instance, name)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    serve(
        shared,
        false,
        &network,
        &instance,
        &name,
        query.as_deref(),
        &headers,
    )
    .await
}

pub(crate) async fn head_object(
    State(shared): State<Arc<Shared>>,
    Path((network, instance, name)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    serve(
        shared,
        true,
        &network,
        &instance,
        &name,
        query.as_deref(),
        &headers,
    )
    .await
}

async fn serve(
    shared: Arc<Shared>,
    head: bool,
    network: &str,
    instance: &str,
    name: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    let text = |h: header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok());
    let (range, if_range) = (text(header::RANGE), text(header::IF_RANGE));
    shared
        .stats
        .file_request(head, network, name, range, if_range);
    let resp = match authorize(&shared, network, instance, name, query) {
        Ok(r) => respond(&shared, head, r, headers).await,
        Err(e) => e.into_response(),
    };
    shared.stats.file_status(resp.status().as_u16());
    resp
}

/// The checks OSS makes before looking at the object, in its order: key, expiry, signature.
fn authorize(
    shared: &Shared,
    network: &str,
    instance: &str,
    name: &str,
    query: Option<&str>,
) -> Result<Resolved, OssError> {
    if network != "public" && network != "internal" {
        return Err(oss_error(
            404,
            "NoSuchBucket",
            "The specified bucket does not exist.",
            &[],
        ));
    }
    if shared.faults().take_file_error() {
        return Err(oss_error(
            503,
            "ServiceUnavailable",
            "Please reduce your request rate.",
            &[],
        ));
    }
    check_signature(shared, instance, name, query)?;
    shared.resolve(instance, name).ok_or_else(|| {
        oss_error(
            404,
            "NoSuchKey",
            "The specified key does not exist.",
            &[("Key", format!("{instance}/{name}"))],
        )
    })
}

/// The checks OSS makes on a presigned URL: its key, its expiry, its signature.
fn check_signature(
    shared: &Shared,
    instance: &str,
    name: &str,
    query: Option<&str>,
) -> Result<(), OssError> {
    let q: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let (Some(expires), Some(key_id), Some(sig)) =
        (get("Expires"), get("OSSAccessKeyId"), get("Signature"))
    else {
        return Err(oss_error(
            403,
            "AccessDenied",
            "You have no right to access this object because of bucket acl.",
            &[],
        ));
    };
    if key_id != shared.oss_key_id {
        return Err(oss_error(
            403,
            "InvalidAccessKeyId",
            "The OSS Access Key Id you provided does not exist in our records.",
            &[("OSSAccessKeyId", key_id.to_string())],
        ));
    }
    let now = shared.now();
    let expires_at = expires
        .parse::<i64>()
        .ok()
        .and_then(|e| OffsetDateTime::from_unix_timestamp(e).ok().map(|t| (e, t)));
    let Some((expires, expires_at)) = expires_at else {
        return Err(oss_error(403, "AccessDenied", "Invalid argument.", &[]));
    };
    if now.unix_timestamp() > expires {
        return Err(oss_error(
            403,
            "AccessDenied",
            "Request has expired.",
            &[
                ("Expires", iso_millis(expires_at)),
                ("ServerTime", iso_millis(now)),
            ],
        ));
    }
    let to_sign = string_to_sign(expires, instance, name);
    if !signatures_match(&hmac_sha1_b64(&shared.oss_key_secret, &to_sign), sig) {
        return Err(oss_error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            &[
                ("OSSAccessKeyId", key_id.to_string()),
                ("SignatureProvided", sig.to_string()),
                ("StringToSign", to_sign),
            ],
        ));
    }
    Ok(())
}

async fn respond(shared: &Arc<Shared>, head: bool, r: Resolved, headers: &HeaderMap) -> Response {
    let built = match r.built.clone() {
        Some(info) => Ok(info),
        None => shared.object_info(&r.key).await,
    };
    let info = match built {
        Ok(info) => info,
        Err(e) => {
            return oss_error(
                500,
                "InternalError",
                &format!("building the object failed: {e}"),
                &[],
            )
            .into_response();
        }
    };
    let faults = shared.faults();
    let size = info.layout.size;
    let last_modified = http_date(r.last_modified);
    let text = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    let range = if faults.ignore_range() {
        RangePlan::Full
    } else {
        plan_range(
            text("range"),
            text("if-range"),
            &info.etag,
            &last_modified,
            size,
            text("x-oss-range-behavior").is_some_and(|b| b.eq_ignore_ascii_case("standard")),
        )
    };
    let (status, start, len) = match range {
        RangePlan::Full => (StatusCode::OK, 0, size),
        RangePlan::Partial(a, b) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        RangePlan::Unsatisfiable => {
            return oss_error(
                416,
                "InvalidRange",
                "The requested range cannot be satisfied",
                &[("ActualObjectSize", size.to_string())],
            )
            .into_response();
        }
    };
    let crc = if faults.wrong_crc(&r.key.name, &r.key.backup_id) {
        info.crc64.wrapping_add(1)
    } else {
        info.crc64
    };
    let body = if head {
        Body::empty()
    } else {
        let plan = faults.body_plan(&r.key.name, &r.key.backup_id);
        Body::from_stream(body_stream(shared.clone(), info.clone(), start, len, plan))
    };
    let mut resp = (status, body).into_response();
    let range = (status == StatusCode::PARTIAL_CONTENT).then_some((start, len));
    set_headers(resp.headers_mut(), &info, (len, range), last_modified, crc);
    resp
}

/// The headers OSS sends with an object: its size, ETag, date, CRC-64 and, for a range, which.
fn set_headers(
    h: &mut HeaderMap,
    info: &ObjectInfo,
    (len, range): (u64, Option<(u64, u64)>),
    last_modified: String,
    crc: u64,
) {
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    set("content-type", "application/octet-stream".into());
    set("content-length", len.to_string());
    set("accept-ranges", "bytes".into());
    set("etag", info.etag.clone());
    set("last-modified", last_modified);
    set("x-oss-hash-crc64ecma", crc.to_string());
    set("x-oss-request-id", oss_request_id());
    set("x-oss-object-type", "Normal".into());
    set("x-oss-storage-class", "Standard".into());
    set("server", "AliyunOSS".into());
    if let Some((start, len)) = range {
        let size = info.layout.size;
        set(
            "content-range",
            format!("bytes {}-{}/{size}", start, start + len - 1),
        );
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RangePlan {
    Full,
    /// Inclusive byte positions.
    Partial(u64, u64),
    Unsatisfiable,
}

/// OSS's rules: one `bytes=` range (`a-b`, `a-`, `-n`); anything invalid or out of bounds is
/// ignored (200, whole object). With `standard` behaviour an end past the size is clamped and a
/// start past it is 416. A non-matching `If-Range` (ETag or date) also means the whole object.
fn plan_range(
    range: Option<&str>,
    if_range: Option<&str>,
    etag: &str,
    last_modified: &str,
    size: u64,
    standard: bool,
) -> RangePlan {
    let Some(spec) = range.and_then(|r| r.trim().strip_prefix("bytes=")) else {
        return RangePlan::Full;
    };
    if let Some(v) = if_range {
        let v = v.trim();
        let weak_stripped = v.strip_prefix("W/").unwrap_or(v);
        if v != last_modified && weak_stripped.trim_matches('"') != etag.trim_matches('"') {
            return RangePlan::Full;
        }
    }
    if spec.contains(',') {
        return RangePlan::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangePlan::Full;
    };
    let parse = |s: &str| s.trim().parse::<u64>().ok();
    let (start, end) = match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, false) => match parse(b) {
            Some(n) if n > 0 && size > 0 => (size.saturating_sub(n), size - 1),
            _ => return RangePlan::Full,
        },
        (false, true) => match parse(a) {
            Some(s) => (s, size.saturating_sub(1)),
            None => return RangePlan::Full,
        },
        (false, false) => match (parse(a), parse(b)) {
            (Some(s), Some(e)) if s <= e => (s, e),
            _ => return RangePlan::Full,
        },
        (true, true) => return RangePlan::Full,
    };
    if start >= size {
        return if standard {
            RangePlan::Unsatisfiable
        } else {
            RangePlan::Full
        };
    }
    if end >= size {
        return if standard {
            RangePlan::Partial(start, size - 1)
        } else {
            RangePlan::Full
        };
    }
    RangePlan::Partial(start, end)
}

#[cfg(test)]
mod tests {
    use super::body::{CHUNK, MIN_PACED_CHUNK, paced_chunk};
    use super::*;

    #[test]
    fn paced_chunks_carry_about_20_ms_within_bounds() {
        assert_eq!(paced_chunk(4 << 20), (4 << 20) / 50);
        assert_eq!(paced_chunk(1024), MIN_PACED_CHUNK);
        assert_eq!(paced_chunk(1 << 30), CHUNK as u64);
    }

    #[test]
    fn range_rules_table() {
        let etag = "\"ABC\"";
        let lm = "Tue, 17 Nov 2015 17:27:45 GMT";
        use RangePlan::*;
        let cases: &[(Option<&str>, Option<&str>, bool, RangePlan)] = &[
            (None, None, false, Full),
            (Some("bytes=0-499"), None, false, Partial(0, 499)),
            (Some("bytes=500-999"), None, false, Partial(500, 999)),
            (Some("bytes=500-"), None, false, Partial(500, 999)),
            (Some("bytes=-500"), None, false, Partial(500, 999)),
            (Some("bytes=1000-"), None, false, Full),
            (Some("bytes=1000-"), None, true, Unsatisfiable),
            (Some("bytes=500-2000"), None, false, Full),
            (Some("bytes=500-2000"), None, true, Partial(500, 999)),
            (Some("bytes=9-3"), None, false, Full),
            (Some("bytes=0-1,5-6"), None, false, Full),
            (Some("items=0-1"), None, false, Full),
            (Some("bytes=x-1"), None, false, Full),
            (Some("bytes=10-"), Some("\"ABC\""), false, Partial(10, 999)),
            (Some("bytes=10-"), Some("\"OTHER\""), false, Full),
            (Some("bytes=10-"), Some(lm), false, Partial(10, 999)),
            (
                Some("bytes=10-"),
                Some("Wed, 18 Nov 2015 17:27:45 GMT"),
                false,
                Full,
            ),
        ];
        for (range, if_range, standard, want) in cases {
            assert_eq!(
                plan_range(*range, *if_range, etag, lm, 1000, *standard),
                *want,
                "{range:?} {if_range:?} {standard}"
            );
        }
    }
}
