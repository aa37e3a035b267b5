//! A string that must never reach a log, an error message or `Debug` output.
//!
//! Owns redaction only: the value is reachable through [`Secret::expose`], which makes every
//! place that handles the plain text easy to find.

use std::fmt;

/// A secret value (access key secret, STS token). `Debug` and `Display` print `******`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The plain text, for signing only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("******")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("******")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A URL fit for logs: scheme, host, port and path, without the query (which holds presigned
/// `Signature`, `OSSAccessKeyId` and `security-token` values) and without any user info.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            let had_query = u.query().is_some();
            u.set_query(None);
            u.set_fragment(None);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            let mut s = u.to_string();
            if had_query {
                s.push_str("?<redacted>");
            }
            s
        }
        // Not a URL we can take apart: keep only what precedes any query or user info.
        Err(_) => {
            let cut = raw.split(['?', '#']).next().unwrap_or_default();
            match cut.rsplit_once('@') {
                Some((_, host)) => format!("<redacted>@{host}"),
                None => cut.to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_query_and_user_info() {
        assert_eq!(
            redact_url("http://u:p@oss.example.com:8080/a/b.tar.gz?Expires=1&Signature=abc"),
            "http://oss.example.com:8080/a/b.tar.gz?<redacted>"
        );
        assert_eq!(redact_url("http://h/x"), "http://h/x");
        assert_eq!(redact_url("not a url?Signature=x"), "not a url");
    }

    #[test]
    fn debug_and_display_are_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "******");
        assert_eq!(format!("{s}"), "******");
        assert_eq!(s.expose(), "hunter2");
    }
}
