//! The `DescribeBackups` client: build → sign → send with bounded retry → decode, and pagination
//! written once as a stream.
//!
//! Every attempt is signed anew with a fresh nonce and timestamp (the API refuses a reused nonce).
//! Requests go as POST with a form body, so signatures never sit in a URL that a proxy might log.
//! Errors are classified by the API's `Code` ([`super::error::classify`]).

use futures::{Stream, TryStreamExt};
use time::OffsetDateTime;
use time::macros::format_description;
use tracing::{debug, warn};

use super::credentials::CredentialProvider;
use super::error::{ApiError, Class};
use super::model::{self, Backup, ModelError, Page};
pub use super::query::{ListQuery, lookback_window, minute};
use super::sign::{self, Common};
/// `yyyy-MM-ddTHH:mm:ssZ`, the Timestamp format.
pub use crate::model::timestamp;
use crate::retry::{self, RetryPolicy};
use crate::text::shown;

const ACTION: &str = "DescribeBackups";
/// The dds API's version; [`ApiClient::dbs`] makes a client of the DBS API (`2021-01-01`).
const VERSION: &str = "2015-12-01";
/// A DescribeBackups page of 100 backups is a few hundred KiB; anything far larger is not an
/// honest answer and is not read into memory.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Paging stops here even if `TotalCount` promises more (a lying count must not loop forever).
const MAX_PAGES: u64 = 10_000;

/// Page sizes the API accepts.
pub const PAGE_SIZES: [u32; 3] = [30, 50, 100];

/// Everything one listing found: the backups and the entries that could not be understood.
#[derive(Debug, Default, Clone)]
pub struct Listing {
    pub backups: Vec<Backup>,
    pub rejected: Vec<ModelError>,
}

#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    endpoint: String,
    region_id: String,
    credentials: CredentialProvider,
    retry: RetryPolicy,
    page_size: u32,
    /// The API version every call is signed with: dds's, or DBS's for a [`ApiClient::dbs`].
    version: &'static str,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("endpoint", &self.endpoint)
            .field("region_id", &self.region_id)
            .field("version", &self.version)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    pub fn new(
        http: reqwest::Client,
        endpoint: impl Into<String>,
        region_id: impl Into<String>,
        credentials: CredentialProvider,
        retry: RetryPolicy,
        page_size: u32,
    ) -> Self {
        ApiClient {
            http,
            endpoint: endpoint.into(),
            region_id: region_id.into(),
            credentials,
            retry,
            page_size,
            version: VERSION,
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn region_id(&self) -> &str {
        &self.region_id
    }

    /// A client for another region (its own endpoint), sharing this one's HTTP connection pool,
    /// credentials, retry budget and page size.
    pub fn for_region(&self, region_id: &str, endpoint: &str) -> ApiClient {
        ApiClient {
            endpoint: endpoint.to_string(),
            region_id: region_id.to_string(),
            ..self.clone()
        }
    }

    /// A client of another product's RPC API (DBS, for snapshot exports) at `endpoint`: the
    /// same signer, credentials, retry budget, error classification and connection pool, another
    /// `Version`.
    pub fn for_product(&self, version: &'static str, region_id: &str, endpoint: &str) -> ApiClient {
        ApiClient {
            version,
            ..self.for_region(region_id, endpoint)
        }
    }

    pub(super) fn page_size(&self) -> u32 {
        self.page_size
    }

    /// Where the credentials come from (for messages; never the secret).
    pub fn credentials_source(&self) -> &str {
        self.credentials.source_name()
    }

    /// One page, retried per the policy.
    pub async fn page(&self, query: &ListQuery, page_number: u64) -> Result<Page, ApiError> {
        let params = query.params(page_number, self.page_size);
        let (body, request_id) = self.call(ACTION, &params).await?;
        let page = model::parse_page(&body).map_err(|source| ApiError::Decode {
            action: ACTION,
            target: query.target(),
            request_id: request_id.clone(),
            source,
        })?;
        for rejected in &page.rejected {
            warn!(target = %query.target(), request_id = %shown(&page.request_id), "skipping a backup the API described badly: {rejected}");
        }
        Ok(page)
    }

    /// All pages of a listing as one stream: stops when `TotalCount` is reached, on a short or
    /// empty page, or at a hard page limit (a lying `TotalCount` never loops forever).
    pub fn pages<'a>(
        &'a self,
        query: &'a ListQuery,
    ) -> impl Stream<Item = Result<Page, ApiError>> + 'a {
        struct State {
            next: u64,
            seen: u64,
            done: bool,
        }
        let start = State {
            next: 1,
            seen: 0,
            done: false,
        };
        futures::stream::try_unfold(start, move |mut st| async move {
            if st.done {
                return Ok(None);
            }
            if st.next > MAX_PAGES {
                return Err(ApiError::Paging {
                    action: ACTION,
                    target: query.target(),
                    reason: format!(
                        "still more pages after {MAX_PAGES}; TotalCount cannot be trusted"
                    ),
                });
            }
            let page = self.page(query, st.next).await?;
            let count = (page.backups.len() + page.rejected.len()) as u64;
            st.seen += count;
            // A page is short (the last one) only against the size the server says it served:
            // one that pages by fewer than asked must be followed, not cut off after page 1.
            let full = match page.page_size {
                0 => u64::from(self.page_size),
                served => served.min(u64::from(self.page_size)),
            };
            st.done = count == 0 || count < full || st.seen >= page.total_count;
            debug!(target = %query.target(), page = st.next, count, total = page.total_count, "listed a page");
            st.next += 1;
            Ok(Some((page, st)))
        })
    }

    /// Every backup of a listing, collected.
    pub async fn list_all(&self, query: &ListQuery) -> Result<Listing, ApiError> {
        self.pages(query)
            .try_fold(Listing::default(), |mut acc, page| async move {
                acc.backups.extend(page.backups);
                acc.rejected.extend(page.rejected);
                Ok(acc)
            })
            .await
    }

    /// Sends one call of `action` with retries; returns the body and the RequestId of the
    /// successful answer.
    pub(super) async fn call(
        &self,
        action: &'static str,
        params: &[(String, String)],
    ) -> Result<(Vec<u8>, String), ApiError> {
        let mut budget = retry::Budget::new(self.retry);
        loop {
            let attempt = budget.attempt();
            let err = match self.attempt(action, params).await {
                Ok(ok) => return Ok(ok),
                Err(e) => e,
            };
            if err.class() != Class::Transient {
                return Err(err);
            }
            match budget.next_delay() {
                Some(delay) => {
                    warn!(attempt, ?delay, region = %self.region_id, "{action} failed, retrying: {err}");
                    tokio::time::sleep(delay).await;
                }
                None => {
                    return Err(ApiError::GaveUp {
                        attempts: attempt,
                        elapsed: budget.elapsed(),
                        last: Box::new(err),
                    });
                }
            }
        }
    }

    async fn attempt(
        &self,
        action: &'static str,
        params: &[(String, String)],
    ) -> Result<(Vec<u8>, String), ApiError> {
        let creds = self.credentials.get().await?;
        let nonce = uuid::Uuid::new_v4().to_string();
        let now = OffsetDateTime::now_utc();
        let stamp = timestamp(now);
        let common = Common {
            action,
            version: self.version,
            access_key_id: &creds.access_key_id,
            security_token: creds.security_token.as_ref().map(|t| t.expose()),
            region_id: Some(&self.region_id),
            nonce: &nonce,
            timestamp: &stamp,
        };
        let signed = sign::sign_request("POST", common, creds.access_key_secret.expose(), params);
        let transport = |source: reqwest::Error| ApiError::Transport {
            endpoint: self.endpoint.clone(),
            source: source.without_url(),
        };
        let mut resp = self
            .http
            .post(&self.endpoint)
            .form(&signed)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status().as_u16();
        let server_date = resp
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(httpdate_to_unix);
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(ApiError::TooLarge {
                    endpoint: self.endpoint.clone(),
                    limit: MAX_BODY,
                });
            }
            body.extend_from_slice(&chunk);
        }
        if (200..300).contains(&status) {
            let head = serde_json::from_slice::<ErrorBody>(&body).ok();
            let request_id = head
                .as_ref()
                .and_then(|b| b.request_id.clone())
                .unwrap_or_default();
            // DBS answers a refusal with HTTP 200 and `"Success": "false"` (its SDK models
            // carry Success, ErrCode and ErrMessage in every body): an error like any other.
            if let Some(b) = head.filter(|b| b.success.as_deref() == Some("false")) {
                let mut err = ApiError::Service {
                    action,
                    status,
                    code: b.err_code.or(b.code).unwrap_or_else(|| "Unknown".into()),
                    message: b.err_message.or(b.message).unwrap_or_default(),
                    request_id,
                    credentials: None,
                };
                scrub(&mut err, &creds);
                return Err(err);
            }
            return Ok((body, request_id));
        }
        let mut err = self.error_from(action, status, &body, server_date, now);
        scrub(&mut err, &creds);
        if err.class() == super::error::Class::Auth
            && let ApiError::Service { credentials, .. } = &mut err
        {
            *credentials = Some(self.credentials.source_name().to_string());
        }
        Err(err)
    }

    fn error_from(
        &self,
        action: &'static str,
        status: u16,
        body: &[u8],
        server_date: Option<i64>,
        sent_at: OffsetDateTime,
    ) -> ApiError {
        // DBS names its code and message `ErrCode` / `ErrMessage` too.
        let Some((code, message, request_id)) = serde_json::from_slice::<ErrorBody>(body)
            .ok()
            .and_then(|b| {
                let code = b.code.or(b.err_code)?;
                Some((code, b.message.or(b.err_message), b.request_id))
            })
        else {
            return ApiError::Http {
                status,
                endpoint: self.endpoint.clone(),
                snippet: snippet(body),
            };
        };
        let request_id = request_id.unwrap_or_default();
        if code == "InvalidTimeStamp.Expired" {
            return ApiError::ClockSkew {
                // A Date header that disagrees by less than a minute cannot explain the refusal
                // (the window is 15 minutes): say "more than 15 minutes" rather than a wrong figure.
                skew: server_date
                    .map(|server| server - sent_at.unix_timestamp())
                    .filter(|s| s.abs() >= 60),
                request_id,
            };
        }
        ApiError::Service {
            action,
            status,
            code,
            message: message.unwrap_or_default(),
            request_id,
            credentials: None,
        }
    }
}

/// Error texts are quoted to operators and logs: the API's "server string to sign is: ..." tail
/// carries the request's parameters (an STS token among them), so it is cut, and any credential
/// value the body echoes is masked.
fn scrub(err: &mut ApiError, creds: &super::credentials::Credentials) {
    let text = match err {
        ApiError::Service { message, .. } => message,
        ApiError::Http { snippet, .. } => snippet,
        _ => return,
    };
    if let Some(at) = text.to_ascii_lowercase().find("string to sign") {
        text.truncate(at);
        text.push_str("[string to sign omitted]");
    }
    let secrets = [
        Some(creds.access_key_secret.expose()),
        creds.security_token.as_ref().map(|t| t.expose()),
    ];
    for secret in secrets.into_iter().flatten().filter(|s| s.len() >= 4) {
        *text = text.replace(secret, "******");
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
    request_id: Option<String>,
    /// DBS: "true" / "false" (a string), with `ErrCode` and `ErrMessage` when "false".
    #[serde(default, deserialize_with = "success_flag")]
    success: Option<String>,
    err_code: Option<String>,
    err_message: Option<String>,
}

/// `Success` as a string whether it came as `"false"` or `false`.
fn success_flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde::Deserialize::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

/// The first 200 characters of a non-API body (an HTML error page, say) for an error message:
/// runs of whitespace, line breaks included, become one space so it reads as one line. Any
/// other character is kept as sent; the error's `Display` shows it as data.
fn snippet(body: &[u8]) -> String {
    let head = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let words: Vec<&str> = head.split_whitespace().collect();
    words.join(" ").chars().take(200).collect()
}

/// Parses an HTTP `Date` header (IMF-fixdate) into Unix seconds.
fn httpdate_to_unix(value: &str) -> Option<i64> {
    let fmt = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(value, &fmt)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use time::macros::datetime;

    #[test]
    fn params_carry_every_filter() {
        let q = ListQuery {
            instance_id: "dds-1".into(),
            node_id: Some("d-1".into()),
            backup_job_id: Some("77".into()),
            window: Some((
                datetime!(2022-01-13 13:00:59 UTC),
                datetime!(2022-01-14 13:00 UTC),
            )),
            src_region: Some("cn-beijing".into()),
            dest_region: Some("cn-hangzhou".into()),
            resource_group_id: Some("rg-1".into()),
            ..Default::default()
        };
        let p = q.params(2, 50);
        for pair in [
            ("DBInstanceId", "dds-1"),
            ("NodeId", "d-1"),
            ("PageNumber", "2"),
            ("PageSize", "50"),
            ("BackupJobId", "77"),
            ("StartTime", "2022-01-13T13:00Z"),
            ("EndTime", "2022-01-14T13:00Z"),
            ("SrcRegion", "cn-beijing"),
            ("DestRegion", "cn-hangzhou"),
            ("ResourceGroupId", "rg-1"),
        ] {
            assert!(
                p.contains(&(pair.0.into(), pair.1.into())),
                "{pair:?} in {p:?}"
            );
        }
    }

    #[test]
    fn backup_id_replaces_the_window() {
        let q = ListQuery {
            instance_id: "dds-1".into(),
            backup_id: Some("123".into()),
            window: Some((
                datetime!(2022-01-13 13:00 UTC),
                datetime!(2022-01-14 13:00 UTC),
            )),
            ..Default::default()
        };
        let p = q.params(1, 30);
        assert!(p.contains(&("BackupId".into(), "123".into())));
        assert!(!p.iter().any(|(k, _)| k == "StartTime" || k == "EndTime"));
    }

    #[test]
    fn window_rounds_to_minutes() {
        let (start, end) = lookback_window(
            datetime!(2026-11-28 13:37:42.5 UTC),
            Duration::from_secs(7 * 86400),
        );
        assert_eq!(minute(start), "2026-11-21T13:38Z");
        assert_eq!(minute(end), "2026-11-28T13:38Z");
    }

    #[test]
    fn formats_and_http_dates() {
        assert_eq!(
            timestamp(datetime!(2016-02-23 12:46:24 UTC)),
            "2016-02-23T12:46:24Z"
        );
        assert_eq!(
            httpdate_to_unix("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(httpdate_to_unix("garbage"), None);
    }
}
