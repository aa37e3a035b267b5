//! The emulator's own check of Alibaba Cloud RPC signature V1 (HMAC-SHA1), and the HMAC-SHA1 and
//! percent-encoding its OSS URLs use.
//!
//! Owns the server's side of the signature: the string to sign it recomputes from the parameters
//! it received, the signature it expects, and the constant-time comparison. It must not be shared
//! with the client the emulator tests (`dds-backup-sync`'s `api::sign`): a fake server that signs
//! with the client's code agrees with every bug in it. This one is written from the provider's
//! rules alone, reproduces the published vectors, and the official SDK's compatibility test keeps
//! it honest. Reference: <https://www.alibabacloud.com/help/en/sdk/product-overview/rpc-mechanism>
//! and `shared/docs/alibaba-facts.md` §1.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// RFC 3986 percent-encoding as the signature defines it: the unreserved `A-Z a-z 0-9 - _ . ~`
/// stay, every other UTF-8 byte is `%XY` in upper-case hex (so space is `%20`, `*` is `%2A`).
pub fn percent_encode(s: &str) -> String {
    const UNRESERVED: &[u8] = b"-_.~";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || UNRESERVED.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `base64(HMAC-SHA1(key, msg))`.
pub fn hmac_sha1_b64(key: &str, msg: &str) -> String {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("invariant: HMAC accepts any key size");
    mac.update(msg.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The StringToSign the server derives from what it received: `METHOD&%2F&` then the
/// canonicalized query string (every parameter but `Signature`, encoded, sorted by name, joined
/// as `k=v` with `&`; empty values kept), percent-encoded once more.
pub fn string_to_sign<K: AsRef<str>, V: AsRef<str>>(method: &str, params: &[(K, V)]) -> String {
    // Sorted by the raw name in byte order, as the official SDKs do (a tree map of the names).
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .filter(|(k, _)| *k != "Signature")
        .collect();
    sorted.sort_unstable();
    let encoded: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect();
    let cqs = encoded.join("&");
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        percent_encode("/"),
        percent_encode(&cqs)
    )
}

/// The signature the server expects for these parameters: `base64(HMAC-SHA1(secret + "&",
/// StringToSign))`, before any URL encoding.
pub fn signature<K: AsRef<str>, V: AsRef<str>>(
    secret: &str,
    method: &str,
    params: &[(K, V)],
) -> String {
    hmac_sha1_b64(&format!("{secret}&"), &string_to_sign(method, params))
}

/// Compares two signatures in constant time, so the emulator does not leak how much matched.
pub fn signatures_match(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_A: &[(&str, &str)] = &[
        ("AccessKeyId", "testid"),
        ("Action", "DescribeRegions"),
        ("Format", "XML"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
        ("SignatureVersion", "1.0"),
        ("Timestamp", "2016-02-23T12:46:24Z"),
        ("Version", "2014-05-26"),
    ];

    const VECTOR_C: &[(&str, &str)] = &[
        ("AccessKeyId", "accessKeyId"),
        ("Action", ""),
        ("Format", "JSON"),
        ("RegionId", "regionId"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", "MOCK_UUID"),
        ("SignatureType", ""),
        ("SignatureVersion", "1.0"),
        ("Timestamp", "mock date"),
        ("Version", ""),
    ];

    #[test]
    fn published_vector_a() {
        assert_eq!(
            string_to_sign("GET", VECTOR_A),
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        assert_eq!(
            signature("testsecret", "GET", VECTOR_A),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
        // The order received and a `Signature` parameter change nothing.
        let mut shuffled: Vec<(&str, &str)> = VECTOR_A.iter().rev().copied().collect();
        shuffled.insert(3, ("Signature", "ignored"));
        assert_eq!(
            signature("testsecret", "get", &shuffled),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
    }

    #[test]
    fn published_vector_c_with_and_without_security_token() {
        assert_eq!(
            signature("accessKeySecret", "GET", VECTOR_C),
            "7loPmFjvDnzOVnQeQNj85S6nFGY="
        );
        let mut with_token = VECTOR_C.to_vec();
        with_token.push(("SecurityToken", "accessKeyStsToken"));
        assert_eq!(
            signature("accessKeySecret", "GET", &with_token),
            "5Nxdcler+ihqWqv0Hr2On4PsBf4="
        );
    }

    #[test]
    fn percent_encoding_table() {
        for (raw, enc) in [
            ("a b", "a%20b"),
            ("*", "%2A"),
            ("+", "%2B"),
            ("/", "%2F"),
            ("~-_.", "~-_."),
            ("é", "%C3%A9"),
            (":", "%3A"),
            ("=&%", "%3D%26%25"),
        ] {
            assert_eq!(percent_encode(raw), enc, "{raw}");
        }
    }

    #[test]
    fn constant_time_compare() {
        assert!(signatures_match("abc", "abc"));
        assert!(!signatures_match("abc", "abd"));
        assert!(!signatures_match("abc", "ab"));
    }
}
