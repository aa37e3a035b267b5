//! Alibaba Cloud RPC signature V1 (HMAC-SHA1), as a pure function.
//!
//! Owns percent-encoding, the canonicalized query string, the StringToSign and the signature.
//! It takes every input (parameters, nonce, timestamp) as an argument: no clock, no RNG, no I/O,
//! so the published vectors can be reproduced byte for byte. The bundled emulator checks signatures
//! with its own code (its `sign` module), never this one: a server that shared it would
//! agree with every bug in it.
//! Reference: <https://www.alibabacloud.com/help/en/sdk/product-overview/rpc-mechanism> and
//! `shared/docs/alibaba-facts.md` §1.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// Percent-encodes per RFC 3986 as the signature requires: only `A-Z a-z 0-9 - _ . ~` stay,
/// everything else becomes upper-case `%XY` of its UTF-8 bytes (space is `%20`, never `+`).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// The canonicalized query string: every parameter except `Signature`, sorted by name in byte
/// order, encoded and joined as `k=v` with `&`. Empty values stay (`Action=`).
pub fn canonical_query<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k.as_ref() != "Signature")
        .map(|(k, v)| (percent_encode(k.as_ref()), percent_encode(v.as_ref())))
        .collect();
    // Sorting the encoded names equals sorting the raw names for the ASCII names the API uses,
    // and is what the official SDKs do.
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `METHOD & enc("/") & enc(CQS)`: the CQS is encoded a second time.
pub fn string_to_sign<K: AsRef<str>, V: AsRef<str>>(method: &str, params: &[(K, V)]) -> String {
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        percent_encode("/"),
        percent_encode(&canonical_query(params))
    )
}

/// `base64(HMAC-SHA1(secret + "&", StringToSign))`, not yet URL-encoded.
pub fn signature<K: AsRef<str>, V: AsRef<str>>(
    secret: &str,
    method: &str,
    params: &[(K, V)],
) -> String {
    let key = format!("{secret}&");
    let mut mac =
        Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("invariant: HMAC accepts any key size");
    mac.update(string_to_sign(method, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The common parameters of one RPC call; `nonce` and `timestamp` come from the caller so that
/// every attempt (including retries) can be re-signed with fresh values.
#[derive(Clone, Copy)]
pub struct Common<'a> {
    pub action: &'a str,
    pub version: &'a str,
    pub access_key_id: &'a str,
    pub security_token: Option<&'a str>,
    pub region_id: Option<&'a str>,
    pub nonce: &'a str,
    /// UTC, `yyyy-MM-ddTHH:mm:ssZ`.
    pub timestamp: &'a str,
}

/// Adds the common parameters to `params` and returns the full, signed parameter list
/// (including `Signature`), ready to be sent as a query string or a form body.
pub fn sign_request(
    method: &str,
    common: Common<'_>,
    secret: &str,
    params: &[(String, String)],
) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = params.to_vec();
    let mut push = |k: &str, v: &str| all.push((k.to_string(), v.to_string()));
    push("Action", common.action);
    push("Version", common.version);
    push("Format", "JSON");
    push("AccessKeyId", common.access_key_id);
    push("SignatureMethod", "HMAC-SHA1");
    push("SignatureVersion", "1.0");
    push("SignatureNonce", common.nonce);
    push("Timestamp", common.timestamp);
    if let Some(token) = common.security_token {
        push("SecurityToken", token);
    }
    if let Some(region) = common.region_id {
        push("RegionId", region);
    }
    let sig = signature(secret, method, &all);
    all.push(("Signature".to_string(), sig));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn vector_a_string_to_sign_and_signature() {
        let params = p(&[
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ]);
        assert_eq!(
            string_to_sign("GET", &params),
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        assert_eq!(
            signature("testsecret", "GET", &params),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
    }

    #[test]
    fn vector_a_is_order_independent() {
        let params = p(&[
            ("Version", "2014-05-26"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("Format", "XML"),
            ("Action", "DescribeRegions"),
            ("AccessKeyId", "testid"),
            ("Signature", "ignored"),
        ]);
        assert_eq!(
            signature("testsecret", "GET", &params),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
    }

    fn vector_c() -> Vec<(String, String)> {
        p(&[
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
        ])
    }

    #[test]
    fn vector_c_without_token() {
        assert_eq!(
            signature("accessKeySecret", "GET", &vector_c()),
            "7loPmFjvDnzOVnQeQNj85S6nFGY="
        );
    }

    #[test]
    fn vector_c_with_security_token() {
        let mut params = vector_c();
        params.push(("SecurityToken".into(), "accessKeyStsToken".into()));
        assert_eq!(
            signature("accessKeySecret", "GET", &params),
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
        ] {
            assert_eq!(percent_encode(raw), enc, "{raw}");
        }
    }

    #[test]
    fn sign_request_adds_common_params_and_signs_them() {
        let common = Common {
            action: "DescribeBackups",
            version: "2015-12-01",
            access_key_id: "id",
            security_token: Some("tok"),
            region_id: Some("cn-hangzhou"),
            nonce: "n-1",
            timestamp: "2026-01-01T00:00:00Z",
        };
        let signed = sign_request("POST", common, "secret", &p(&[("DBInstanceId", "dds-1")]));
        let sig = signed
            .iter()
            .find(|(k, _)| k == "Signature")
            .map(|(_, v)| v.clone())
            .unwrap();
        assert_eq!(sig, signature("secret", "POST", &signed));
        assert_ne!(sig, signature("secret", "GET", &signed));
        assert!(signed.contains(&("SecurityToken".into(), "tok".into())));
        assert!(signed.contains(&("Format".into(), "JSON".into())));
    }
}
