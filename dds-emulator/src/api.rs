//! The fake ApsaraDB for MongoDB RPC API on `/` (GET with a query or POST with a form body):
//! `DescribeBackups`, `DescribeDBInstances`, `DescribeDBInstanceAttribute` and
//! `DescribeClusterBackups`, all dds version 2015-12-01; and on the same path, routed by
//! `Action`, the DBS download-task actions (version 2021-01-01, `dbs`).
//!
//! Owns the order in which a gateway checks a call (routing and signature V1 in `auth`, then the
//! injected faults, then the product's parameters), the real error bodies, and what the actions
//! share: paging, the `StartTime`/`EndTime` window, finding an instance in the caller's region,
//! presigning fresh URLs. One file per action below (`backups`, `instances`, `cluster_backups`;
//! `dbs` for the five DBS actions, whose refusals are HTTP 200 bodies with `Success` "false");
//! wire spelling is `wire`'s. Signatures are verified with the emulator's own code
//! ([`super::sign`]), never the client's signer, so a signing bug in the client fails against it.
//! References: `shared/spec/DescribeBackups.txt`, `shared/docs/alibaba-facts.md`,
//! `shared/docs/alibaba-fleet.md` and the official SDK's models.

mod auth;
mod backups;
mod cluster_backups;
mod dbs;
mod instances;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::data::{BackupRecord, Dataset, Instance, parse_minutes};
use super::faults::ApiFault;
use super::wire::render;
use super::{Shared, oss};

const HOST_ID: &str = "mongodb.aliyuncs.com";

type Params = BTreeMap<String, String>;

/// The actions the gateway routes to.
// Variants spelled exactly as the API's `Action` values, prefix and all, so a grep finds both.
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    DescribeBackups,
    DescribeDBInstances,
    DescribeDBInstanceAttribute,
    DescribeClusterBackups,
    // DBS, version 2021-01-01.
    DescribeDownloadSupport,
    CreateDownload,
    DescribeDownloadTask,
    DescribeDownloadBackupSetStorageInfo,
    RetryDownloadTask,
}

impl Action {
    const ALL: [Action; 9] = [
        Action::DescribeBackups,
        Action::DescribeDBInstances,
        Action::DescribeDBInstanceAttribute,
        Action::DescribeClusterBackups,
        Action::DescribeDownloadSupport,
        Action::CreateDownload,
        Action::DescribeDownloadTask,
        Action::DescribeDownloadBackupSetStorageInfo,
        Action::RetryDownloadTask,
    ];

    fn name(self) -> &'static str {
        match self {
            Action::DescribeBackups => "DescribeBackups",
            Action::DescribeDBInstances => "DescribeDBInstances",
            Action::DescribeDBInstanceAttribute => "DescribeDBInstanceAttribute",
            Action::DescribeClusterBackups => "DescribeClusterBackups",
            Action::DescribeDownloadSupport => "DescribeDownloadSupport",
            Action::CreateDownload => "CreateDownload",
            Action::DescribeDownloadTask => "DescribeDownloadTask",
            Action::DescribeDownloadBackupSetStorageInfo => "DescribeDownloadBackupSetStorageInfo",
            Action::RetryDownloadTask => "RetryDownloadTask",
        }
    }

    /// The `Version` the action's product requires: dds `2015-12-01` or DBS `2021-01-01`.
    fn version(self) -> &'static str {
        match self {
            Action::DescribeBackups
            | Action::DescribeDBInstances
            | Action::DescribeDBInstanceAttribute
            | Action::DescribeClusterBackups => auth::VERSION,
            Action::DescribeDownloadSupport
            | Action::CreateDownload
            | Action::DescribeDownloadTask
            | Action::DescribeDownloadBackupSetStorageInfo
            | Action::RetryDownloadTask => dbs::VERSION,
        }
    }

    fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == s)
    }
}

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

fn instance_not_found() -> ApiError {
    err(
        404,
        "InvalidDBInstanceId.NotFound",
        "Specified instance does not exist.",
    )
}

pub(crate) async fn handle(
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
    let (status, outcome, body, action) = match answer(&shared, &method, &params, &request_id) {
        Ok((action, v, outcome)) => (StatusCode::OK, outcome, v, Some(action.name())),
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
            (e.status, e.code, body, None)
        }
    };
    let asked = params.get("Action").map(String::as_str).unwrap_or_default();
    shared.stats.api_call(asked, outcome);
    let mut resp = render(status, &body, xml, action, &request_id);
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

/// Routing, authentication, injected faults (the same for every action), then the action: its
/// body and its outcome for the stats (`"Success"`, or a DBS refusal's code).
fn answer(
    shared: &Shared,
    method: &Method,
    p: &Params,
    request_id: &str,
) -> Result<(Action, Value, &'static str), ApiError> {
    let action = auth::route(p)?;
    auth::authenticate(shared, method.as_str(), p)?;
    if let Some(fault) = shared.faults().next_api_fault() {
        return Err(fault_error(fault));
    }
    let ok = |body| (body, "Success");
    let (body, outcome) = match action {
        Action::DescribeBackups => backups::answer(shared, p, request_id).map(ok),
        Action::DescribeDBInstances => instances::list(shared, p, request_id).map(ok),
        Action::DescribeDBInstanceAttribute => instances::attribute(shared, p, request_id).map(ok),
        Action::DescribeClusterBackups => cluster_backups::answer(shared, p, request_id).map(ok),
        Action::DescribeDownloadSupport
        | Action::CreateDownload
        | Action::DescribeDownloadTask
        | Action::DescribeDownloadBackupSetStorageInfo
        | Action::RetryDownloadTask => dbs::answer(shared, action, p, request_id),
    }?;
    Ok((action, body, outcome))
}

fn to_json(v: impl Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| err(500, "InternalError", e.to_string()))
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

/// `(public, intranet)` URLs of a backup's object; empty strings when it has none.
fn urls(shared: &Shared, instance: &str, b: &BackupRecord, expires: i64) -> (String, String) {
    let url = |intranet| {
        b.object
            .as_ref()
            .map(|o| oss::presign(shared, intranet, instance, &o.name, expires))
            .unwrap_or_default()
    };
    (url(false), url(true))
}

/// A parameter, trimmed; empty counts as absent.
fn param<'a>(p: &'a Params, key: &str) -> Option<&'a str> {
    p.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// `PageSize`: 30 (default), 50 or 100.
fn page_size(p: &Params) -> Result<u32, ApiError> {
    match param(p, "PageSize") {
        None => Ok(30),
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
            }),
    }
}

/// The page number under `key` (`PageNumber`, or `PageNo` for cluster backups), from 1.
fn page_number(p: &Params, key: &str) -> Result<u32, ApiError> {
    match param(p, key) {
        None => Ok(1),
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1 && *n <= i32::MAX as u32)
            .ok_or_else(|| {
                err(
                    400,
                    "InvalidPageNumber.Malformed",
                    format!("The specified parameter {key} is not valid."),
                )
            }),
    }
}

/// Rows `number` (from 1) of `size`.
fn paged<T>(rows: Vec<T>, number: u32, size: u32) -> impl Iterator<Item = T> {
    let skip = (number as usize - 1).saturating_mul(size as usize);
    rows.into_iter().skip(skip).take(size as usize)
}

/// `StartTime` / `EndTime` (`yyyy-MM-ddTHH:mmZ`), applied to a backup's start.
#[derive(Clone, Copy, Debug, Default)]
struct Window {
    start: Option<OffsetDateTime>,
    end: Option<OffsetDateTime>,
}

impl Window {
    fn parse(p: &Params) -> Result<Window, ApiError> {
        let time = |k: &str, code: &'static str| -> Result<Option<OffsetDateTime>, ApiError> {
            param(p, k)
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
        Ok(Window { start, end })
    }

    /// Inclusive at both ends, at minute precision.
    fn contains(&self, t: OffsetDateTime) -> bool {
        let minute = time::Duration::minutes(1);
        self.start.is_none_or(|s| t >= s) && self.end.is_none_or(|e| t < e + minute)
    }
}

/// The instance `id`, if it is in the caller's region. Endpoints are regional (or the central
/// one routes by `RegionId`), so an instance in another region is simply not found; a call
/// without `RegionId` (the official SDK sends none for these actions) sees every region.
fn find_instance<'a>(ds: &'a Dataset, id: &str, p: &Params) -> Result<&'a Instance, ApiError> {
    ds.instance(id)
        .filter(|i| param(p, "RegionId").is_none_or(|r| r == i.region_id))
        .ok_or_else(instance_not_found)
}

/// The `DBInstanceId` every per-instance action requires.
fn instance_id(p: &Params) -> Result<&str, ApiError> {
    param(p, "DBInstanceId").ok_or_else(|| missing("MissingDBInstanceId", "DBInstanceId"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Request parameters from pairs, for the tests of every action.
    pub(crate) fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn shared_parameters_table() {
        assert_eq!(page_size(&params(&[])).unwrap(), 30);
        assert_eq!(page_size(&params(&[("PageSize", "100")])).unwrap(), 100);
        assert_eq!(
            page_size(&params(&[("PageSize", "20")])).unwrap_err().code,
            "InvalidPageSize.Malformed"
        );
        assert_eq!(
            page_number(&params(&[("PageNo", "3")]), "PageNo").unwrap(),
            3
        );
        assert_eq!(
            page_number(&params(&[("PageNo", "0")]), "PageNo")
                .unwrap_err()
                .message,
            "The specified parameter PageNo is not valid."
        );
        assert_eq!(paged(vec![1, 2, 3, 4, 5], 2, 2).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(paged(vec![1, 2, 3], 3, 30).count(), 0);
    }

    #[test]
    fn region_hides_instances_of_other_regions() {
        let mut ds = Dataset::new();
        ds.add_instance(Instance::replica_set("dds-a").region("cn-shanghai"));
        let find = |pairs: &[(&str, &str)]| {
            find_instance(&ds, "dds-a", &params(pairs))
                .map(|i| i.id.clone())
                .map_err(|e| e.code)
        };
        assert_eq!(find(&[]), Ok("dds-a".to_string()));
        assert_eq!(
            find(&[("RegionId", "cn-shanghai")]),
            Ok("dds-a".to_string())
        );
        assert_eq!(
            find(&[("RegionId", "cn-hangzhou")]),
            Err("InvalidDBInstanceId.NotFound")
        );
    }
}
