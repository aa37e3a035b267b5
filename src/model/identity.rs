//! The identity of the object a file's bytes come from (rule 1 of the integrity contract,
//! RELIABILITY.md): what the responses said (ETag, CRC-64, Last-Modified), fixed by the first
//! response and only ever narrowed, so a later response that omits a header cannot switch a
//! check off, and one that cannot be matched to the object is never spliced onto its bytes.
//! Also the resume sidecar kept beside a partial file, which carries it across runs. Pure.

use serde::{Deserialize, Serialize};

/// Beside the partial file: what a later run needs to resume safely.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    pub size: u64,
    /// What the responses said the object is: only ever narrowed (see [`Identity`]).
    #[serde(flatten)]
    pub identity: Identity,
    /// The presigned URL's `Expires` (Unix seconds); the URL itself is not stored.
    pub url_expires: Option<i64>,
    /// For a file fetched by several ranged streams: which parts are in the file (its length
    /// says nothing then: parts land out of order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<super::PartMap>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub etag: Option<String>,
    /// `x-oss-hash-crc64ecma`: the CRC-64/XZ of the whole object, on every response.
    pub crc64: Option<u64>,
    #[serde(default)]
    pub last_modified: Option<String>,
}

/// How a response relates to what earlier responses said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Likeness {
    /// The same ETag, and nothing else disagrees: its bytes may continue the partial.
    Same,
    /// Something both sides carry disagrees: another object (or version).
    Changed,
    /// Nothing contradicts it, but no ETag on both sides proves it is the same object.
    Unknown,
}

/// The weak and strong forms of a tag, with or without quotes, compare equal.
fn norm(tag: &str) -> &str {
    tag.trim().trim_start_matches("W/").trim_matches('"')
}

impl Identity {
    pub fn compare(&self, got: &Identity) -> Likeness {
        let etags = match (&self.etag, &got.etag) {
            (Some(a), Some(b)) => Some(norm(a) == norm(b)),
            _ => None,
        };
        let crc_differs = matches!((self.crc64, got.crc64), (Some(a), Some(b)) if a != b);
        let modified_differs = matches!(
            (&self.last_modified, &got.last_modified),
            (Some(a), Some(b)) if a.trim() != b.trim()
        );
        match etags {
            Some(false) => Likeness::Changed,
            _ if crc_differs || modified_differs => Likeness::Changed,
            Some(true) => Likeness::Same,
            None => Likeness::Unknown,
        }
    }

    /// Adds what `got` says and this identity does not know yet; never drops a field.
    pub fn narrow(&mut self, got: &Identity) {
        if self.etag.is_none() {
            self.etag.clone_from(&got.etag);
        }
        if self.crc64.is_none() {
            self.crc64 = got.crc64;
        }
        if self.last_modified.is_none() {
            self.last_modified.clone_from(&got.last_modified);
        }
    }

    /// A response that starts the file from byte 0: a changed object replaces the identity,
    /// anything else narrows it (the CRC an earlier response announced for this object is
    /// still checked).
    pub fn restart_with(&mut self, got: &Identity) {
        if self.compare(got) == Likeness::Changed {
            *self = got.clone();
        } else {
            self.narrow(got);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(etag: Option<&str>, crc: Option<u64>, lm: Option<&str>) -> Identity {
        Identity {
            etag: etag.map(str::to_string),
            crc64: crc,
            last_modified: lm.map(str::to_string),
        }
    }

    #[test]
    fn compare() {
        use Likeness::*;
        let known = id(Some("\"A\""), Some(7), Some("Mon"));
        let cases = [
            (id(Some("\"A\""), Some(7), Some("Mon")), Same),
            (id(Some("W/\"A\""), None, None), Same),
            (id(Some("A"), Some(7), None), Same),
            (id(Some("\"B\""), Some(7), Some("Mon")), Changed),
            (id(Some("\"A\""), Some(8), None), Changed),
            (id(Some("\"A\""), None, Some("Tue")), Changed),
            (id(None, Some(8), None), Changed),
            (id(None, Some(7), Some("Mon")), Unknown),
            (id(None, None, None), Unknown),
        ];
        for (got, want) in cases {
            assert_eq!(known.compare(&got), want, "{got:?}");
        }
        assert_eq!(Identity::default().compare(&known), Unknown);
    }

    #[test]
    fn narrowing_never_drops_a_field() {
        let mut known = id(Some("\"A\""), None, None);
        known.narrow(&id(None, Some(7), Some("Mon")));
        assert_eq!(known, id(Some("\"A\""), Some(7), Some("Mon")));
        known.narrow(&id(None, None, None));
        assert_eq!(known, id(Some("\"A\""), Some(7), Some("Mon")));
        // Restarting on a response that omits the CRC keeps the one announced before.
        known.restart_with(&id(Some("\"A\""), None, None));
        assert_eq!(known.crc64, Some(7));
        known.restart_with(&id(None, None, None));
        assert_eq!(known.crc64, Some(7));
        // Another object replaces it.
        known.restart_with(&id(Some("\"B\""), None, None));
        assert_eq!(known, id(Some("\"B\""), None, None));
    }
}
