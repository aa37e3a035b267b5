//! The gateway's part of every call: routing (`Action`, and the `Version` of its product: dds
//! `2015-12-01`, DBS `2021-01-01`) and the signature V1 checks
//! (key, method, version, timestamp window, signature, STS token, nonce), with the real error codes.
//!
//! Owns nothing about the product: it must not look at the data set or the action's parameters.

use time::OffsetDateTime;

use super::{Action, ApiError, Params, Shared, err, missing};
use crate::data::parse_seconds;
use crate::sign::{signature, signatures_match, string_to_sign};

/// The dds `Version` (DBS's is `super::dbs::VERSION`).
pub(super) const VERSION: &str = "2015-12-01";
/// Both the timestamp tolerance and how long a nonce is remembered.
const WINDOW: time::Duration = time::Duration::minutes(15);

/// The gateway first finds the API: `Action` and `Version`.
pub(super) fn route(p: &Params) -> Result<Action, ApiError> {
    let action = match p.get("Action").map(String::as_str) {
        None | Some("") => return Err(missing("MissingAction", "Action")),
        Some(name) => Action::parse(name).ok_or_else(|| {
            err(
                404,
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
            )
        })?,
    };
    match p.get("Version").map(String::as_str) {
        None | Some("") => Err(missing("MissingVersion", "Version")),
        Some(v) if v == action.version() => Ok(action),
        Some(_) => Err(err(
            400,
            "InvalidVersion",
            "Specified parameter Version is not valid.",
        )),
    }
}

/// Signature V1: key, method, version, timestamp, signature, token, then the nonce (recorded only
/// once the request is authentic, so forged requests cannot burn nonces).
pub(super) fn authenticate(shared: &Shared, method: &str, p: &Params) -> Result<(), ApiError> {
    let get = |k: &str| p.get(k).map(String::as_str).filter(|v| !v.is_empty());
    if get("AccessKeyId") != Some(shared.access_key_id.as_str()) {
        return Err(err(
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        ));
    }
    match get("SignatureMethod") {
        None => return Err(missing("MissingSignatureMethod", "SignatureMethod")),
        Some("HMAC-SHA1") => {}
        Some(_) => {
            return Err(err(
                400,
                "InvalidSignatureMethod",
                "Specified signature method is not supported.",
            ));
        }
    }
    match get("SignatureVersion") {
        None => return Err(missing("MissingSignatureVersion", "SignatureVersion")),
        Some("1.0") => {}
        Some(_) => {
            return Err(err(
                400,
                "InvalidSignatureVersion",
                "Specified signature version is not supported.",
            ));
        }
    }
    let ts = get("Timestamp").ok_or_else(|| missing("MissingTimestamp", "Timestamp"))?;
    let ts = parse_seconds(ts).ok_or_else(|| {
        err(
            400,
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        )
    })?;
    let now = shared.now();
    if (now - ts).abs() > WINDOW {
        return Err(err(
            400,
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        ));
    }
    let nonce =
        get("SignatureNonce").ok_or_else(|| missing("MissingSignatureNonce", "SignatureNonce"))?;
    let given = get("Signature").ok_or_else(|| missing("MissingSignature", "Signature"))?;
    let pairs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let expected = signature(&shared.access_key_secret, method, &pairs);
    if !signatures_match(&expected, given) {
        return Err(err(
            400,
            "SignatureDoesNotMatch",
            format!(
                "Specified signature is not matched with our calculation. server string to sign is:{}",
                string_to_sign(method, &pairs)
            ),
        ));
    }
    if get("SecurityToken") != shared.security_token.as_deref() {
        return Err(err(
            403,
            "InvalidSecurityToken.MismatchWithAccessKey",
            "Specified SecurityToken mismatch with the AccessKey.",
        ));
    }
    remember_nonce(shared, nonce, now)
}

fn remember_nonce(shared: &Shared, nonce: &str, now: OffsetDateTime) -> Result<(), ApiError> {
    let mut seen = shared.nonces.lock().unwrap_or_else(|e| e.into_inner());
    // Timestamps may be up to 15 min in the past or the future: remember twice the window.
    seen.retain(|_, at| now - *at <= WINDOW * 2);
    if seen.insert(nonce.to_string(), now).is_some() {
        return Err(err(
            400,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::api::tests::params;

    #[test]
    fn routing_errors() {
        let p = params(&[("Action", "DescribeRegions"), ("Version", VERSION)]);
        assert_eq!(route(&p).unwrap_err().code, "InvalidAction.NotFound");
        let p = params(&[("Action", "DescribeBackups"), ("Version", "2014-05-26")]);
        assert_eq!(route(&p).unwrap_err().code, "InvalidVersion");
        // Each product's actions want its own version.
        let p = params(&[("Action", "DescribeBackups"), ("Version", "2021-01-01")]);
        assert_eq!(route(&p).unwrap_err().code, "InvalidVersion");
        let p = params(&[("Action", "CreateDownload"), ("Version", VERSION)]);
        assert_eq!(route(&p).unwrap_err().code, "InvalidVersion");
        assert_eq!(
            route(&params(&[("Version", VERSION)])).unwrap_err().code,
            "MissingAction"
        );
        for action in Action::ALL {
            let p = params(&[("Action", action.name()), ("Version", action.version())]);
            assert_eq!(route(&p).unwrap(), action);
        }
    }
}
