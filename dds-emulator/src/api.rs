//! The fake `DescribeBackups` endpoint (`/`, GET with a query or POST with a form body).
//!
//! Owns the checks the real service makes, in the order a gateway makes them (routing, then
//! authentication, then the product's parameters), the real error codes and bodies, filtering,
//! sorting and paging, and presigning fresh URLs in every response. Signatures are verified with
//! the emulator's own code ([`super::sign`]), never the client's signer, so a signing bug in the
//! client fails against it. Reference: `shared/spec/DescribeBackups.txt`, `shared/docs/alibaba-facts.md`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use time::OffsetDateTime;

use super::data::{BackupRecord, Instance, InstanceKind, parse_minutes, parse_seconds};
use super::faults::ApiFault;
use super::sign::{signature, signatures_match, string_to_sign};
use super::wire::{BackupJson, Backups, DescribeResponse, render};
use super::{Shared, oss};

const ACTION: &str = "DescribeBackups";
const VERSION: &str = "2015-12-01";
const HOST_ID: &str = "mongodb.aliyuncs.com";
/// Both the timestamp tolerance and how long a nonce is remembered.
const WINDOW: time::Duration = time::Duration::minutes(15);

type Params = BTreeMap<String, String>;

/// An error answered with the real JSON body.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn err(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        code,
        message: message.into(),
    }
}

fn missing(code: &'static str, name: &str) -> ApiError {
    err(400, code, format!("{name} is mandatory for this action."))
}

pub(crate) async fn describe(
    State(shared): State<Arc<Shared>>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = collect_params(&method, query.as_deref(), &headers, &body);
    // The real default is XML: a client that forgets `Format=JSON` must notice here too.
    let xml = params
        .get("Format")
        .is_none_or(|f| f.eq_ignore_ascii_case("XML"));
    let request_id = uuid::Uuid::new_v4().to_string().to_uppercase();
    let (status, outcome, body) = match answer(&shared, &method, &params, &request_id) {
        Ok(v) => (StatusCode::OK, "Success", v),
        Err(e) => {
            let body = serde_json::json!({
                "RequestId": request_id,
                "HostId": HOST_ID,
                "Code": e.code,
                "Message": e.message,
                "Recommend": format!(
                    "https://api.aliyun.com/troubleshoot?q={}&product=Dds&requestId={request_id}",
                    e.code
                ),
            });
            (e.status, e.code, body)
        }
    };
    shared.stats.describe(outcome);
    let mut resp = render(status, &body, xml, outcome == "Success", &request_id);
    // The server's own clock, as a real server's Date header would show it (clients use it to
    // say how far off their clock is).
    if let Ok(v) = axum::http::HeaderValue::from_str(&super::wire::http_date(shared.now())) {
        resp.headers_mut().insert(axum::http::header::DATE, v);
    }
    resp
}

/// GET: the query. POST: the query merged with the form body (the official Python SDK sends
/// every parameter in the query of a POST with an empty body); the body wins on conflicts.
fn collect_params(
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Params {
    let mut params: Params = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if method == Method::POST && is_form && !body.is_empty() {
        params.extend(url::form_urlencoded::parse(body).into_owned());
    }
    params
}

/// Routing, authentication, injected faults, then the product's own checks and the page.
fn answer(
    shared: &Shared,
    method: &Method,
    p: &Params,
    request_id: &str,
) -> Result<Value, ApiError> {
    route(p)?;
    authenticate(shared, method.as_str(), p)?;
    if let Some(fault) = shared.faults().next_api_fault() {
        return Err(fault_error(fault));
    }
    let q = Query::parse(p)?;
    let ds = shared.dataset();
    let instance = ds.instance(&q.instance).ok_or_else(|| {
        err(
            404,
            "InvalidDBInstanceId.NotFound",
            "Specified instance does not exist.",
        )
    })?;
    check_node(instance, q.node_id.as_deref())?;
    let mut rows: Vec<&BackupRecord> = instance.backups.iter().filter(|b| q.matches(b)).collect();
    rows.sort_by(|a, b| {
        b.start
            .cmp(&a.start)
            .then_with(|| b.backup_id.cmp(&a.backup_id))
    });
    let total = rows.len();
    let skip = (q.page_number as usize - 1).saturating_mul(q.page_size as usize);
    let faults = shared.faults();
    let expires = url_expiry(shared);
    let page: Vec<BackupJson> = rows
        .into_iter()
        .skip(skip)
        .take(q.page_size as usize)
        .map(|b| {
            let url = |intranet| {
                b.object
                    .as_ref()
                    .map(|o| oss::presign(shared, intranet, &instance.id, &o.name, expires))
                    .unwrap_or_default()
            };
            BackupJson::new(b, (url(false), url(true)), faults.loose_types())
        })
        .collect();
    let resp = DescribeResponse {
        total_count: total,
        request_id: request_id.to_string(),
        page_size: q.page_size,
        page_number: q.page_number,
        backups: Backups { backup: page },
    };
    serde_json::to_value(resp).map_err(|e| err(500, "InternalError", e.to_string()))
}

/// What a fired API fault looks like on the wire.
fn fault_error(fault: ApiFault) -> ApiError {
    match fault {
        ApiFault::Throttle => err(
            400,
            "Throttling.User",
            "Request was denied due to user flow control.",
        ),
        ApiFault::Unavailable => err(
            503,
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
        ),
        ApiFault::Internal => err(
            500,
            "InternalError",
            "The request processing has failed due to some unknown error, exception or failure.",
        ),
    }
}

/// `Expires` (Unix seconds) for the URLs of one response.
fn url_expiry(shared: &Shared) -> i64 {
    let faults = shared.faults();
    let now = shared.now().unix_timestamp();
    if faults.take_expired_urls() {
        // Expired a minute ago, so clock rounding cannot revive it.
        now - 60
    } else {
        now + faults.url_ttl().unwrap_or(shared.url_ttl).as_secs() as i64
    }
}

/// The gateway first finds the API: `Action` and `Version`.
fn route(p: &Params) -> Result<(), ApiError> {
    match p.get("Action").map(String::as_str) {
        None | Some("") => return Err(missing("MissingAction", "Action")),
        Some(ACTION) => {}
        Some(_) => {
            return Err(err(
                404,
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
            ));
        }
    }
    match p.get("Version").map(String::as_str) {
        None | Some("") => Err(missing("MissingVersion", "Version")),
        Some(VERSION) => Ok(()),
        Some(_) => Err(err(
            400,
            "InvalidVersion",
            "Specified parameter Version is not valid.",
        )),
    }
}

/// Signature V1: key, method, version, timestamp, signature, token, then the nonce (recorded only
/// once the request is authentic, so forged requests cannot burn nonces).
fn authenticate(shared: &Shared, method: &str, p: &Params) -> Result<(), ApiError> {
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

/// The product's parameters, validated.
struct Query {
    instance: String,
    node_id: Option<String>,
    backup_ids: Option<Vec<String>>,
    job_id: Option<String>,
    start: Option<OffsetDateTime>,
    end: Option<OffsetDateTime>,
    page_size: u32,
    page_number: u32,
}

impl Query {
    fn parse(p: &Params) -> Result<Query, ApiError> {
        let get = |k: &str| p.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let instance =
            get("DBInstanceId").ok_or_else(|| missing("MissingDBInstanceId", "DBInstanceId"))?;
        let page_size = match get("PageSize") {
            None => 30,
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| [30, 50, 100].contains(n))
                .ok_or_else(|| {
                    err(
                        400,
                        "InvalidPageSize.Malformed",
                        "The specified parameter PageSize is not valid.",
                    )
                })?,
        };
        let page_number = match get("PageNumber") {
            None => 1,
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1 && *n <= i32::MAX as u32)
                .ok_or_else(|| {
                    err(
                        400,
                        "InvalidPageNumber.Malformed",
                        "The specified parameter PageNumber is not valid.",
                    )
                })?,
        };
        let time = |k: &str, code: &'static str| -> Result<Option<OffsetDateTime>, ApiError> {
            get(k)
                .map(|s| {
                    parse_minutes(s).ok_or_else(|| {
                        err(
                            400,
                            code,
                            format!("The Specified parameter {k} is not valid."),
                        )
                    })
                })
                .transpose()
        };
        let start = time("StartTime", "InvalidStartTime.Malformed")?;
        let end = time("EndTime", "InvalidEndTime.Malformed")?;
        if let (Some(s), Some(e)) = (start, end)
            && e <= s
        {
            return Err(err(
                400,
                "InvalidStartTimeAndEndTime.Malformed",
                "The Specified parameter StartTime or EndTime is not valid.",
            ));
        }
        Ok(Query {
            instance: instance.to_string(),
            node_id: get("NodeId").map(str::to_string),
            backup_ids: get("BackupId").map(|s| {
                s.split(',')
                    .map(|id| id.trim().to_string())
                    .filter(|id| !id.is_empty())
                    .collect()
            }),
            job_id: get("BackupJobId").map(str::to_string),
            start,
            end,
            page_size,
            page_number,
        })
    }

    /// `BackupId` wins over the time window ("This parameter is invalid if you specify the
    /// BackupId parameter"); the window is inclusive at minute precision.
    fn matches(&self, b: &BackupRecord) -> bool {
        if let Some(node) = &self.node_id
            && b.node_id.as_ref().is_some_and(|n| n != node)
        {
            return false;
        }
        if self.job_id.as_ref().is_some_and(|j| *j != b.backup_job_id) {
            return false;
        }
        if let Some(ids) = &self.backup_ids {
            return ids.contains(&b.backup_id);
        }
        let minute = time::Duration::minutes(1);
        self.start.is_none_or(|s| b.start >= s) && self.end.is_none_or(|e| b.start < e + minute)
    }
}

fn check_node(instance: &Instance, node: Option<&str>) -> Result<(), ApiError> {
    let InstanceKind::Sharded { shards } = &instance.kind else {
        return Ok(());
    };
    match node {
        None => Err(err(
            400,
            "InvalidParameter.NodeId",
            "NodeId is required for sharded cluster instance",
        )),
        Some(n) if shards.iter().any(|s| s == n) => Ok(()),
        Some(_) => Err(err(
            404,
            "InvalidNodeId.NotFound",
            "Specified node does not exist in the instance.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Extra parameters → the expected error code.
    type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>);

    #[test]
    fn query_validation_table() {
        let base = [("DBInstanceId", "dds-1")];
        let cases: &[Case] = &[
            (&[], None),
            (&[("PageSize", "50")], None),
            (&[("PageSize", "10")], Some("InvalidPageSize.Malformed")),
            (&[("PageSize", "x")], Some("InvalidPageSize.Malformed")),
            (&[("PageNumber", "0")], Some("InvalidPageNumber.Malformed")),
            (&[("StartTime", "2022-01-13T13:00Z")], None),
            (
                &[("StartTime", "2022-01-13T13:00:00Z")],
                Some("InvalidStartTime.Malformed"),
            ),
            (
                &[("EndTime", "2022-01-13")],
                Some("InvalidEndTime.Malformed"),
            ),
            (
                &[
                    ("StartTime", "2022-01-14T13:00Z"),
                    ("EndTime", "2022-01-13T13:00Z"),
                ],
                Some("InvalidStartTimeAndEndTime.Malformed"),
            ),
            (
                &[
                    ("StartTime", "2022-01-13T13:00Z"),
                    ("EndTime", "2022-01-13T13:00Z"),
                ],
                Some("InvalidStartTimeAndEndTime.Malformed"),
            ),
        ];
        for (extra, want) in cases {
            let mut p = params(&base);
            p.extend(params(extra));
            let got = Query::parse(&p).err().map(|e| e.code);
            assert_eq!(got, *want, "{extra:?}");
        }
        assert_eq!(
            Query::parse(&Params::new()).err().map(|e| e.code),
            Some("MissingDBInstanceId")
        );
    }

    #[test]
    fn routing_errors() {
        let p = params(&[("Action", "DescribeRegions"), ("Version", VERSION)]);
        assert_eq!(route(&p).unwrap_err().code, "InvalidAction.NotFound");
        let p = params(&[("Action", ACTION), ("Version", "2014-05-26")]);
        assert_eq!(route(&p).unwrap_err().code, "InvalidVersion");
        assert!(route(&params(&[("Action", ACTION), ("Version", VERSION)])).is_ok());
    }
}
