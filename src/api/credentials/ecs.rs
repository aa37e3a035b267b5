//! ECS RAM role credentials from the instance metadata service, cached and refreshed before
//! they expire.
//!
//! Owns the metadata protocol (optional session token, role discovery, the credentials
//! document) and the refresh policy ([`next_step`], pure). Must not: retry on its own (the API
//! client's retry wraps every `get`), go through an HTTP proxy, or put a token, a key or a
//! response body into a log or an error.
//!
//! Protocol: <https://www.alibabacloud.com/help/en/ecs/user-guide/attach-an-instance-ram-role-to-an-ecs-instance>
//! and <https://www.alibabacloud.com/help/en/ecs/user-guide/view-instance-metadata> (security
//! hardening mode: `PUT /latest/api/token`).

use std::time::Duration;

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Mutex;

use super::{CredentialError, Credentials};
use crate::secret::{Secret, redact_url};

/// Every metadata call gets this long: the service is local, and off ECS the address does not
/// answer at all, so a longer wait only delays the "no credentials" error.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(1);
/// The session token's lifetime we ask for (the documented maximum, 6 h).
const TOKEN_TTL_SECONDS: &str = "21600";
const TOKEN_TTL_HEADER: &str = "X-aliyun-ecs-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "X-aliyun-ecs-metadata-token";
/// Refresh this long before `Expiration`: a signed request (with the API client's retries,
/// capped at minutes) must never carry a token that expires on its way.
pub const REFRESH_MARGIN: time::Duration = time::Duration::minutes(5);
/// After a failed refresh while the old keys still work, wait this long before asking again,
/// so an outage does not add a metadata timeout to every API call.
pub const RETRY_AFTER_FAILURE: time::Duration = time::Duration::seconds(30);

/// True when credentials expiring at `expiration` should be replaced at `now`.
pub fn needs_refresh(expiration: OffsetDateTime, now: OffsetDateTime) -> bool {
    expiration - now < REFRESH_MARGIN
}

/// What [`EcsRole::get`] does with its cached credentials.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    UseCached,
    /// Fetch new ones; when `keep_on_failure`, the cached ones are still valid and a failed
    /// fetch only warns.
    Refresh {
        keep_on_failure: bool,
    },
}

/// The refresh policy: early refresh, keep valid keys through a failed refresh, and do not
/// retry a failed refresh on every call.
pub fn next_step(
    expiration: OffsetDateTime,
    last_failure: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Next {
    if !needs_refresh(expiration, now) {
        return Next::UseCached;
    }
    if now >= expiration {
        return Next::Refresh {
            keep_on_failure: false,
        };
    }
    match last_failure {
        Some(failed) if now - failed < RETRY_AFTER_FAILURE => Next::UseCached,
        _ => Next::Refresh {
            keep_on_failure: true,
        },
    }
}

/// The credentials document, as the metadata service spells it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireCredentials {
    code: Option<String>,
    access_key_id: Option<String>,
    access_key_secret: Option<Secret>,
    security_token: Option<Secret>,
    expiration: Option<String>,
}

/// Decodes a credentials document for `role` fetched from `url`, checking it is usable at `now`.
pub fn parse_credentials(
    body: &[u8],
    url: &str,
    role: &str,
    now: OffsetDateTime,
) -> Result<(Credentials, OffsetDateTime), CredentialError> {
    let bad = |reason: String| CredentialError::MetadataResponse {
        url: url.to_string(),
        reason,
    };
    // Only the position of a parse error: the body holds the keys.
    let wire: WireCredentials = serde_json::from_slice(body).map_err(|e| {
        bad(format!(
            "credentials document is not the expected JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let code = wire.code.unwrap_or_default();
    if code != "Success" {
        return Err(CredentialError::MetadataCode {
            url: url.to_string(),
            role: role.to_string(),
            code,
        });
    }
    let missing = |field: &str| bad(format!("credentials document has no {field}"));
    let access_key_id =
        super::nonblank(wire.access_key_id).ok_or_else(|| missing("AccessKeyId"))?;
    let access_key_secret = wire
        .access_key_secret
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("AccessKeySecret"))?;
    let security_token = wire
        .security_token
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("SecurityToken"))?;
    let expiration_text = wire.expiration.ok_or_else(|| missing("Expiration"))?;
    let expiration = OffsetDateTime::parse(&expiration_text, &Rfc3339).map_err(|_| {
        bad(format!(
            "Expiration {expiration_text:?} is not an RFC 3339 time"
        ))
    })?;
    if expiration <= now {
        return Err(CredentialError::Expired {
            role: role.to_string(),
            expiration: expiration_text,
        });
    }
    let credentials = Credentials {
        access_key_id,
        access_key_secret,
        security_token: Some(security_token),
    };
    Ok((credentials, expiration))
}

/// One fetch's result.
pub struct Fetched {
    pub role: String,
    pub credentials: Credentials,
    pub expiration: OffsetDateTime,
}

/// Talks to the metadata service at one base URL.
pub struct MetadataClient {
    http: reqwest::Client,
    base: url::Url,
}

impl MetadataClient {
    /// A client for `base` (normally [`super::DEFAULT_METADATA_URL`]).
    pub fn new(base: &str) -> Result<Self, CredentialError> {
        let bad = |reason: &str| CredentialError::MetadataUrl {
            url: redact_url(base),
            reason: reason.to_string(),
        };
        let parsed = crate::urls::check(base).map_err(|r| bad(&r))?;
        if parsed.cannot_be_a_base() {
            return Err(bad("must be an http:// or https:// URL"));
        }
        let http = crate::http::Options {
            connect_timeout: METADATA_TIMEOUT,
            read_timeout: METADATA_TIMEOUT,
            total_timeout: Some(METADATA_TIMEOUT),
            // HTTP_PROXY must not capture 100.100.100.200: a proxy is not this instance.
            no_proxy: true,
        }
        .build()
        .map_err(CredentialError::Client)?;
        Ok(MetadataClient { http, base: parsed })
    }

    fn url(&self, segments: &[&str]) -> url::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            // `extend` percent-encodes, so a role name cannot change the path.
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Token, then (unless `role` is given) the attached role, then that role's credentials.
    pub async fn fetch(&self, role: Option<&str>) -> Result<Fetched, CredentialError> {
        let token = self.token().await;
        let role = match role {
            Some(role) => role.to_string(),
            None => self.discover_role(token.as_ref()).await?,
        };
        let url = self.url(&["latest", "meta-data", "ram", "security-credentials", &role]);
        let body = self
            .get(
                url.clone(),
                token.as_ref(),
                "; is this RAM role attached to the instance?",
            )
            .await?;
        let (credentials, expiration) = parse_credentials(
            &body,
            &redact_url(url.as_str()),
            &role,
            OffsetDateTime::now_utc(),
        )?;
        Ok(Fetched {
            role,
            credentials,
            expiration,
        })
    }

    /// A session token for hardened (IMDSv2-style) instances. Any failure falls back to no
    /// token, which instances in normal mode accept; in hardened mode the next call then
    /// fails with a status that says so.
    async fn token(&self) -> Option<Secret> {
        let url = self.url(&["latest", "api", "token"]);
        let outcome = self
            .http
            .put(url)
            .header(TOKEN_TTL_HEADER, TOKEN_TTL_SECONDS)
            .send()
            .await;
        match outcome {
            Ok(resp) if resp.status().is_success() => match resp.text().await {
                Ok(text) if !text.trim().is_empty() => Some(Secret::new(text.trim())),
                _ => None,
            },
            Ok(resp) => {
                tracing::debug!(
                    status = resp.status().as_u16(),
                    "no ECS metadata token; continuing without one"
                );
                None
            }
            Err(e) => {
                let error = describe(&e);
                tracing::debug!(%error, "no ECS metadata token; continuing without one");
                None
            }
        }
    }

    async fn discover_role(&self, token: Option<&Secret>) -> Result<String, CredentialError> {
        let url = self.url(&["latest", "meta-data", "ram", "security-credentials", ""]);
        let shown = redact_url(url.as_str());
        let body = self
            .get(url, token, "; is a RAM role attached to this instance?")
            .await?;
        // One role per instance; the listing is that name (a trailing newline at most).
        String::from_utf8_lossy(&body)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_string)
            .ok_or_else(|| CredentialError::MetadataResponse {
                url: shown,
                reason: "no RAM role is attached to this instance".into(),
            })
    }

    async fn get(
        &self,
        url: url::Url,
        token: Option<&Secret>,
        hint_404: &'static str,
    ) -> Result<Vec<u8>, CredentialError> {
        let shown = redact_url(url.as_str());
        let unreachable = |e: reqwest::Error| CredentialError::MetadataUnreachable {
            url: shown.clone(),
            reason: describe(&e),
        };
        let mut request = self.http.get(url);
        if let Some(token) = token {
            request = request.header(TOKEN_HEADER, token.expose());
        }
        let resp = request.send().await.map_err(unreachable)?;
        let status = resp.status().as_u16();
        if !resp.status().is_success() {
            let hint = match status {
                404 => hint_404,
                401 | 403 => {
                    "; the instance may require a metadata token (security hardening mode)"
                }
                _ => "",
            };
            return Err(CredentialError::MetadataStatus {
                url: shown,
                status,
                hint,
            });
        }
        Ok(resp.bytes().await.map_err(unreachable)?.to_vec())
    }
}

/// A transport error in one line, without the URL (the caller names it) and with the root
/// cause, which is the useful part ("Connection refused").
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!(
            "no answer within {} s (not an ECS instance, or the metadata service is blocked)",
            METADATA_TIMEOUT.as_secs()
        );
    }
    let mut root: &dyn std::error::Error = e;
    while let Some(next) = root.source() {
        root = next;
    }
    if e.is_connect() {
        format!("cannot connect: {root}")
    } else {
        format!("request failed: {root}")
    }
}

/// One role's credentials, cached behind a tokio mutex so concurrent callers share a refresh.
pub struct EcsRole {
    client: MetadataClient,
    role: String,
    state: Mutex<State>,
}

struct State {
    credentials: Credentials,
    expiration: OffsetDateTime,
    last_failure: Option<OffsetDateTime>,
}

impl EcsRole {
    /// Fetches the first credentials (discovering the role when `role` is `None`).
    pub async fn start(
        client: MetadataClient,
        role: Option<String>,
    ) -> Result<Self, CredentialError> {
        let fetched = client.fetch(role.as_deref()).await?;
        let state = State {
            credentials: fetched.credentials,
            expiration: fetched.expiration,
            last_failure: None,
        };
        Ok(EcsRole {
            client,
            role: fetched.role,
            state: Mutex::new(state),
        })
    }

    pub fn role(&self) -> &str {
        &self.role
    }

    /// Cached credentials, refreshed per [`next_step`].
    pub async fn get(&self) -> Result<Credentials, CredentialError> {
        let mut state = self.state.lock().await;
        let now = OffsetDateTime::now_utc();
        let keep_on_failure = match next_step(state.expiration, state.last_failure, now) {
            Next::UseCached => return Ok(state.credentials.clone()),
            Next::Refresh { keep_on_failure } => keep_on_failure,
        };
        match self.client.fetch(Some(&self.role)).await {
            Ok(fetched) => {
                tracing::debug!(role = %crate::text::shown(&self.role), expiration = %rfc3339(fetched.expiration), "refreshed ECS RAM role credentials");
                *state = State {
                    credentials: fetched.credentials,
                    expiration: fetched.expiration,
                    last_failure: None,
                };
                Ok(state.credentials.clone())
            }
            Err(e) if keep_on_failure => {
                tracing::warn!(
                    role = %crate::text::shown(&self.role),
                    expiration = %rfc3339(state.expiration),
                    error = %e,
                    "refreshing ECS RAM role credentials failed; using the current ones until they expire"
                );
                state.last_failure = Some(now);
                Ok(state.credentials.clone())
            }
            Err(e) => Err(e),
        }
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-28 11:00:00 UTC);

    #[test]
    fn refresh_decisions() {
        let m = time::Duration::minutes;
        let s = time::Duration::seconds;
        let keep = Next::Refresh {
            keep_on_failure: true,
        };
        let must = Next::Refresh {
            keep_on_failure: false,
        };
        // (expires in, last failure this long ago, expected)
        let cases = [
            (m(60), None, Next::UseCached),
            (m(6), None, Next::UseCached),
            (m(5), None, Next::UseCached),
            (
                m(5) - s(1),
                None,
                Next::Refresh {
                    keep_on_failure: true,
                },
            ),
            (m(4), None, keep),
            (
                m(1),
                None,
                Next::Refresh {
                    keep_on_failure: true,
                },
            ),
            (m(4), Some(s(10)), Next::UseCached),
            (
                m(4),
                Some(s(30)),
                Next::Refresh {
                    keep_on_failure: true,
                },
            ),
            (s(0), None, must),
            (
                s(-1),
                Some(s(1)),
                Next::Refresh {
                    keep_on_failure: false,
                },
            ),
        ];
        for (i, (expires_in, failed_ago, expected)) in cases.into_iter().enumerate() {
            let got = next_step(NOW + expires_in, failed_ago.map(|ago| NOW - ago), NOW);
            assert_eq!(
                got, expected,
                "case {i}: expires in {expires_in}, failed {failed_ago:?} ago"
            );
        }
        assert!(needs_refresh(NOW + m(1), NOW));
        assert!(!needs_refresh(NOW + m(30), NOW));
    }

    fn doc(code: &str, expiration: &str) -> String {
        format!(
            r#"{{"Code":"{code}","AccessKeyId":"STS.id","AccessKeySecret":"topsecret",
                "SecurityToken":"tokentoken","Expiration":"{expiration}","LastUpdated":"2026-11-28T06:00:00Z"}}"#
        )
    }

    #[test]
    fn credentials_documents() {
        let url = "http://100.100.100.200/latest/meta-data/ram/security-credentials/r";
        let (creds, exp) = parse_credentials(
            doc("Success", "2026-11-28T12:00:00Z").as_bytes(),
            url,
            "r",
            NOW,
        )
        .expect("valid document");
        assert_eq!(creds.access_key_id, "STS.id");
        assert_eq!(creds.access_key_secret.expose(), "topsecret");
        assert_eq!(
            creds.security_token.as_ref().map(Secret::expose),
            Some("tokentoken")
        );
        assert_eq!(exp, datetime!(2026-11-28 12:00:00 UTC));

        let cases = [
            (
                doc("Failed", "2026-11-28T12:00:00Z"),
                "credentials for RAM role 'r' came with Code \"Failed\", not \"Success\"",
            ),
            (
                doc("Success", "2026-11-28T10:00:00Z"),
                "credentials for ECS RAM role 'r' were already expired when received (Expiration 2026-11-28T10:00:00Z); check the host clock",
            ),
            (
                doc("Success", "tomorrow"),
                "Expiration \"tomorrow\" is not an RFC 3339 time",
            ),
            (
                r#"{"Code":"Success","AccessKeyId":"a"}"#.to_string(),
                "credentials document has no AccessKeySecret",
            ),
            (
                r#"{"Code":"Success","AccessKeySecret":"topsecret""#.to_string(),
                "credentials document is not the expected JSON (line 1, column 47)",
            ),
            (
                "<html>".to_string(),
                "credentials document is not the expected JSON (line 1, column 1)",
            ),
        ];
        for (body, expected) in cases {
            let err = parse_credentials(body.as_bytes(), url, "r", NOW).expect_err(&body);
            let text = err.to_string();
            assert!(text.contains(expected), "{text}");
            assert!(
                !text.contains("topsecret") && !text.contains("tokentoken"),
                "{text}"
            );
            assert!(!err.is_retryable());
        }
    }

    #[test]
    fn urls_encode_the_role_and_keep_a_base_path() {
        let client = MetadataClient::new("http://127.0.0.1:9/").expect("client");
        assert_eq!(
            client
                .url(&["latest", "meta-data", "ram", "security-credentials", ""])
                .as_str(),
            "http://127.0.0.1:9/latest/meta-data/ram/security-credentials/"
        );
        assert_eq!(
            client
                .url(&[
                    "latest",
                    "meta-data",
                    "ram",
                    "security-credentials",
                    "a/../b"
                ])
                .as_str(),
            "http://127.0.0.1:9/latest/meta-data/ram/security-credentials/a%2F..%2Fb"
        );
        let prefixed = MetadataClient::new("http://127.0.0.1:9/proxy").expect("client");
        assert_eq!(
            prefixed.url(&["latest", "api", "token"]).as_str(),
            "http://127.0.0.1:9/proxy/latest/api/token"
        );
        for bad in ["not a url", "ftp://host/", "mailto:x@y"] {
            let err = MetadataClient::new(bad).err().expect(bad);
            assert!(
                matches!(err, CredentialError::MetadataUrl { .. }),
                "{bad}: {err}"
            );
        }
    }
}
