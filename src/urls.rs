//! The one rule for a URL this program sends a request to: an absolute `http` or `https` URL
//! with a host and without user info (credentials in a URL would be logged and sent as they
//! are). Used for configured endpoints, the metadata service, and download URLs from the API.
//! Pure.

/// The URL, if `raw` passes the rule.
///
/// # Errors
/// A one-line reason quoting the text (as data).
pub fn check(raw: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("scheme {:?} is not http or https", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it carries user credentials".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("it has no host".into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        for (raw, ok) in [
            ("https://mongodb.aliyuncs.com", true),
            ("http://127.0.0.1:9/x?Expires=1", true),
            ("ftp://h/x", false),
            ("file:///etc/passwd", false),
            ("http://u:p@h/x", false),
            ("not a url", false),
            ("mailto:ops@example.com", false),
        ] {
            assert_eq!(check(raw).is_ok(), ok, "{raw}");
        }
        assert_eq!(
            check("http://u@h/").unwrap_err(),
            "it carries user credentials"
        );
    }
}
