//! API errors and their classification by `Code` (not by HTTP status: throttling comes as 400).
//!
//! [`classify`] is pure and table-tested; [`ApiError`] carries the API's Code, Message and
//! RequestId so an operator can quote them to support. No request signature or secret is ever
//! stored in an error. Those texts are stored as sent and shown as data
//! ([`crate::text::shown`]): an error message is logged, and a server must not forge log lines.

use std::time::Duration;

use super::credentials::CredentialError;
use super::model::ModelError;
use crate::text::shown;

/// What a failed call means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Try again after a backoff (throttling, 5xx, transport, a reused nonce).
    Transient,
    /// Credentials or permissions are wrong: stop, exit code 2.
    Auth,
    /// The host clock is off by more than the API's 15-minute window.
    ClockSkew,
    /// The request itself is wrong (unknown instance, malformed time): stop.
    Permanent,
}

/// Classifies an error response by its `Code`, falling back to the HTTP status for codes this
/// table does not know. Reference: `shared/docs/alibaba-facts.md` §2.
pub fn classify(status: u16, code: &str) -> Class {
    match code {
        "Throttling" | "Throttling.User" | "Throttling.Api" | "ServiceUnavailable"
        | "InternalError" | "SignatureNonceUsed" => Class::Transient,
        "SignatureDoesNotMatch"
        | "IncompleteSignature"
        | "InvalidAccessKeyId.NotFound"
        | "InvalidAccessKeyId.Inactive"
        | "InvalidSecurityToken.Expired"
        | "InvalidSecurityToken.Malformed"
        | "InvalidSecurityToken.Mismatch"
        | "Forbidden.RAM"
        | "Forbidden"
        | "Forbidden.AccessKeyDisabled" => Class::Auth,
        "InvalidTimeStamp.Expired" => Class::ClockSkew,
        _ if code.starts_with("Throttling") => Class::Transient,
        _ if status == 429 || status >= 500 => Class::Transient,
        _ => Class::Permanent,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "{action} failed with {}: {} (HTTP {status}, RequestId {}){}",
        shown(code),
        shown(message),
        shown(request_id),
        credentials.as_ref().map(|c| format!("; the credentials came from {c}: check that key id and secret belong together and may call {action}")).unwrap_or_default()
    )]
    Service {
        action: &'static str,
        status: u16,
        code: String,
        message: String,
        request_id: String,
        /// For a refused signature or key: which credential source was used (never the secret).
        credentials: Option<String>,
    },
    #[error(
        "the host clock is off by {} compared with the API server, which refused the request (InvalidTimeStamp.Expired, RequestId {}); fix the clock (NTP) and retry",
        skew.map(|s| format!("about {}", humantime::format_duration(Duration::from_secs(s.unsigned_abs())))).unwrap_or_else(|| "more than 15 minutes".into()),
        shown(request_id)
    )]
    ClockSkew {
        /// Server time minus local time, in seconds, when the response said what time it was.
        skew: Option<i64>,
        request_id: String,
    },
    #[error(
        "HTTP {status} from {endpoint} with a body that is not an API error: {}",
        shown(snippet)
    )]
    Http {
        status: u16,
        endpoint: String,
        snippet: String,
    },
    #[error("cannot reach {endpoint}: {}", describe_transport(source))]
    Transport {
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("response from {endpoint} is larger than {limit} bytes; refusing to read it")]
    TooLarge { endpoint: String, limit: usize },
    #[error("{action} for {target}: {source} (RequestId {})", shown(request_id))]
    Decode {
        action: &'static str,
        target: String,
        request_id: String,
        #[source]
        source: ModelError,
    },
    #[error("{action} for {target}: {reason}")]
    Paging {
        action: &'static str,
        target: String,
        reason: String,
    },
    #[error("gave up after {attempts} attempts in {}: {last}", humantime::format_duration(Duration::from_secs(elapsed.as_secs())))]
    GaveUp {
        attempts: u32,
        elapsed: Duration,
        #[source]
        last: Box<ApiError>,
    },
    #[error("credentials: {0}")]
    Credentials(#[from] CredentialError),
    /// An earlier call of this pass to the region gave up: the rest of the pass does not try
    /// it again (one error per region, not one retry storm per target).
    #[error(
        "not tried: the API of region {region} failed earlier in this pass ({first}); the next pass tries again"
    )]
    RegionDown { region: String, first: String },
}

impl ApiError {
    pub fn class(&self) -> Class {
        match self {
            ApiError::Service { status, code, .. } => classify(*status, code),
            ApiError::ClockSkew { .. } => Class::ClockSkew,
            ApiError::Http { status, .. } if *status == 429 || *status >= 500 => Class::Transient,
            ApiError::Http {
                status: 401 | 403, ..
            } => Class::Auth,
            ApiError::Transport { .. } => Class::Transient,
            ApiError::GaveUp { last, .. } => last.class(),
            ApiError::Credentials(e) if e.is_retryable() => Class::Transient,
            ApiError::Credentials(_) => Class::Auth,
            _ => Class::Permanent,
        }
    }

    /// Whether the region's API itself looks down: a call gave up on transient errors
    /// (timeouts, refused connections, 5xx, throttling) after all its retries.
    pub fn is_region_down(&self) -> bool {
        matches!(self, ApiError::GaveUp { .. }) && self.class() == Class::Transient
    }

    pub fn is_retryable(&self) -> bool {
        !matches!(self, ApiError::GaveUp { .. }) && self.class() == Class::Transient
    }

    /// True when the fix is on the operator's side (credentials, permissions, clock): the
    /// program exits with code 2 rather than 1.
    pub fn is_auth_or_setup(&self) -> bool {
        matches!(self.class(), Class::Auth | Class::ClockSkew)
    }

    /// The API's error code, when the service sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Service { code, .. } => Some(code),
            ApiError::ClockSkew { .. } => Some("InvalidTimeStamp.Expired"),
            ApiError::GaveUp { last, .. } => last.code(),
            _ => None,
        }
    }
}

/// What a failed request ran into, in words an operator can act on (reqwest says only "error
/// sending request"; the cause is further down its chain).
pub fn describe_transport(e: &reqwest::Error) -> String {
    let chain = crate::text::error_chain(e).to_ascii_lowercase();
    let what = if e.is_timeout() || chain.contains("timed out") {
        "timed out"
    } else if chain.contains("connection refused") {
        "connection refused (nothing listens there: check the endpoint and any firewall)"
    } else if chain.contains("dns error") || chain.contains("failed to lookup address") {
        "DNS lookup failed (check the endpoint's host name and the resolver)"
    } else if chain.contains("certificate") || chain.contains("tls") || chain.contains("handshake")
    {
        "TLS handshake failed (a proxy or a wrong endpoint?)"
    } else if chain.contains("reset") || chain.contains("closed") {
        "connection closed by the other side"
    } else {
        "request failed"
    };
    // The deepest cause says it best ("Connection refused (os error 111)"); reqwest's own
    // layers above it add nothing.
    let mut deepest: &dyn std::error::Error = e;
    while let Some(next) = deepest.source() {
        deepest = next;
    }
    format!("{what}: {deepest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        for (status, code, class) in [
            (400, "Throttling", Class::Transient),
            (400, "Throttling.User", Class::Transient),
            (503, "ServiceUnavailable", Class::Transient),
            (500, "InternalError", Class::Transient),
            (400, "SignatureNonceUsed", Class::Transient),
            (502, "BadGateway", Class::Transient),
            (400, "SignatureDoesNotMatch", Class::Auth),
            (404, "InvalidAccessKeyId.NotFound", Class::Auth),
            (400, "InvalidAccessKeyId.Inactive", Class::Auth),
            (403, "Forbidden.RAM", Class::Auth),
            (400, "InvalidTimeStamp.Expired", Class::ClockSkew),
            (404, "InvalidDBInstanceId.NotFound", Class::Permanent),
            (404, "InvalidInstanceId.NotFound", Class::Permanent),
            (400, "InvalidStartTime.Malformed", Class::Permanent),
            (400, "InvalidEndTime.Malformed", Class::Permanent),
            (
                400,
                "InvalidStartTimeAndEndTime.Malformed",
                Class::Permanent,
            ),
            (400, "InvalidPageSize.Malformed", Class::Permanent),
        ] {
            assert_eq!(classify(status, code), class, "{status} {code}");
        }
    }

    #[test]
    fn the_api_texts_are_shown_as_data() {
        let e = ApiError::Service {
            action: "DescribeBackups",
            status: 400,
            code: "Bad\u{1b}[2J".into(),
            message: "no\nERROR forged".into(),
            request_id: "R\r1".into(),
            credentials: None,
        };
        assert_eq!(
            e.to_string(),
            r"DescribeBackups failed with Bad\u{1b}[2J: no\nERROR forged (HTTP 400, RequestId R\r1)"
        );
    }

    #[test]
    fn clock_skew_message_says_by_how_much() {
        let e = ApiError::ClockSkew {
            skew: Some(-1380),
            request_id: "R".into(),
        };
        let msg = e.to_string();
        assert!(msg.contains("host clock is off by about 23m"), "{msg}");
        let e = ApiError::ClockSkew {
            skew: None,
            request_id: "R".into(),
        };
        assert!(e.to_string().contains("more than 15 minutes"));
    }
}
