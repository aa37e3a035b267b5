//! The DBS download-task actions (product DBS, version 2021-01-01), served on the same `/` as the
//! dds ones: `DescribeDownloadSupport`, `CreateDownload`, `DescribeDownloadTask`,
//! `DescribeDownloadBackupSetStorageInfo` and `RetryDownloadTask`.
//!
//! Owns their parameters (DBS names the instance `InstanceName` and the region `RegionCode`), which
//! instance and backup a call may touch, and the refusals; the two actions a client repeats
//! (polling, links: building a task's export when a poll finishes it, presigning its links) are
//! in `tasks`. A business refusal is HTTP 200 with `Success` "false"
//! ([`Refusal`]); routing, signature, faults and a missing mandatory parameter stay the gateway's
//! 4xx errors ([`ApiError`]), exactly as for dds. The task state machine is `data::dbs`'s, the
//! bytes `export`'s, the spelling `wire::dbs`'s. Reference: `shared/docs/alibaba-fleet.md`
//! ("Snapshot backups") and the `alibabacloud-dbs20210101` SDK models.
//!
//! Every refusal code and text below is our invention (UNCONFIRMED): DBS documents none of them,
//! in particular not the one for "a task is already running for this instance".

use serde_json::Value;

use super::{Action, ApiError, Params, Shared, err, missing, param, to_json};
use crate::data::{BackupRecord, Blocked, Dataset, Instance, NewTask};
use crate::wire::{CreatedTaskJson, DbsResponse};

mod tasks;

/// The `Version` of every DBS action.
pub(super) const VERSION: &str = "2021-01-01";

// Refusal codes, all UNCONFIRMED (see the module comment).
/// A parameter's value is wrong (not a snapshot backup of the instance, `Duration` out of range,
/// an unknown `State`, ...).
const INVALID_PARAMETER: &str = "InvalidParameter";
const INSTANCE_NOT_FOUND: &str = "InstanceNotFound";
/// `CreateDownload` for an instance whose `DescribeDownloadSupport` is "false".
const NOT_SUPPORTED: &str = "DownloadNotSupported";
/// The instance has a task under way, or a failed one waiting for `RetryDownloadTask`.
const ALREADY_EXISTS: &str = "DownloadTaskAlreadyExists";
const TASK_NOT_FOUND: &str = "DownloadTaskNotFound";
/// Links asked for a task that is not `finished`.
const NOT_FINISHED: &str = "DownloadTaskNotFinished";
/// `RetryDownloadTask` of a task that is not `failed`.
const NOT_FAILED: &str = "DownloadTaskNotFailed";

/// `Duration` of the links: default, minimum, maximum (seconds).
const LINK_DURATION: (u64, u64, u64) = (7200, 300, 86400);
/// `PageSize` of `DescribeDownloadTask`: default and maximum (UNCONFIRMED, not documented).
const TASK_PAGE: (u64, u64) = (20, 100);

/// A business refusal: HTTP 200, `Success` "false", `ErrCode` = `Code` = `code`.
#[derive(Debug)]
struct Refusal {
    code: &'static str,
    message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

/// Why a DBS action did not answer with data.
#[derive(Debug)]
enum Fail {
    Gateway(ApiError),
    Refused(Refusal),
}

impl From<ApiError> for Fail {
    fn from(e: ApiError) -> Self {
        Fail::Gateway(e)
    }
}

impl From<Refusal> for Fail {
    fn from(r: Refusal) -> Self {
        Fail::Refused(r)
    }
}

/// The action's body and its outcome for the stats (`"Success"` or the refusal code).
pub(super) fn answer(
    shared: &Shared,
    action: Action,
    p: &Params,
    request_id: &str,
) -> Result<(Value, &'static str), ApiError> {
    let data = match action {
        Action::DescribeDownloadSupport => support(shared, p),
        Action::CreateDownload => create(shared, p),
        Action::DescribeDownloadTask => tasks::describe(shared, p),
        Action::DescribeDownloadBackupSetStorageInfo => tasks::storage_info(shared, p),
        Action::RetryDownloadTask => retry(shared, p),
        _ => return Err(err(500, "InternalError", "not a DBS action")),
    };
    let (body, outcome) = match data {
        Ok(data) => (DbsResponse::ok(request_id, data), "Success"),
        Err(Fail::Refused(r)) => (DbsResponse::refused(request_id, r.code, &r.message), r.code),
        Err(Fail::Gateway(e)) => return Err(e),
    };
    Ok((to_json(body)?, outcome))
}

/// A mandatory parameter: the gateway refuses a call without it (`Missing<Name>`, HTTP 400, as
/// for dds; UNCONFIRMED for DBS).
fn required<'a>(p: &'a Params, key: &str, code: &'static str) -> Result<&'a str, ApiError> {
    param(p, key).ok_or_else(|| missing(code, key))
}

fn region_code(p: &Params) -> Result<&str, ApiError> {
    required(p, "RegionCode", "MissingRegionCode")
}

fn instance_name(p: &Params) -> Result<&str, ApiError> {
    required(p, "InstanceName", "MissingInstanceName")
}

/// The instance `name` in `region` (`RegionCode`).
fn find<'a>(ds: &'a Dataset, name: &str, region: &str) -> Result<&'a Instance, Refusal> {
    ds.instance(name)
        .filter(|i| i.region_id == region)
        .ok_or_else(|| {
            refuse(
                INSTANCE_NOT_FOUND,
                format!("instance {name} not found in region {region}"),
            )
        })
}

/// `1`/`0`/`true`/`false`, any case.
fn flag(key: &str, v: &str) -> Result<bool, Refusal> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(refuse(
            INVALID_PARAMETER,
            format!("{key} must be true or false, not {v}"),
        )),
    }
}

/// A number parameter, `None` when absent.
fn number<T: std::str::FromStr>(p: &Params, key: &str) -> Result<Option<T>, Refusal> {
    param(p, key)
        .map(|v| {
            v.parse::<T>().map_err(|_| {
                refuse(
                    INVALID_PARAMETER,
                    format!("{key} must be a number, not {v}"),
                )
            })
        })
        .transpose()
}

/// `DescribeDownloadSupport`: `Data` "true" for cloud-disk instances not scripted otherwise.
fn support(shared: &Shared, p: &Params) -> Result<Value, Fail> {
    let (region, name) = (region_code(p)?, instance_name(p)?);
    let ds = shared.dataset();
    let supported = find(&ds, name, region)?.supports_download();
    Ok(Value::from(if supported { "true" } else { "false" }))
}

/// `CreateDownload`'s parameters, validated.
struct Create<'a> {
    region: &'a str,
    instance: &'a str,
    bak_set_id: &'a str,
    bak_set_size: Option<u64>,
    format: &'a str,
    zstd: bool,
}

impl<'a> Create<'a> {
    fn parse(p: &'a Params) -> Result<Create<'a>, Fail> {
        let (region, instance) = (region_code(p)?, instance_name(p)?);
        let format = required(p, "FormatType", "MissingFormatType")?;
        match param(p, "BakSetType").unwrap_or("full") {
            "full" => {}
            "pitr" => Err(refuse(INVALID_PARAMETER, "BakSetType pitr is not emulated"))?,
            other => Err(refuse(
                INVALID_PARAMETER,
                format!("BakSetType must be full or pitr, not {other}"),
            ))?,
        }
        match param(p, "TargetType").unwrap_or("URL") {
            "URL" => {}
            "OSS" => Err(refuse(INVALID_PARAMETER, "TargetType OSS is not emulated"))?,
            other => Err(refuse(
                INVALID_PARAMETER,
                format!("TargetType must be URL or OSS, not {other}"),
            ))?,
        }
        let bak_set_id = param(p, "BakSetId").ok_or_else(|| {
            refuse(
                INVALID_PARAMETER,
                "BakSetId is required when BakSetType is full",
            )
        })?;
        Ok(Create {
            region,
            instance,
            bak_set_id,
            bak_set_size: number(p, "BakSetSize")?,
            format,
            zstd: param(p, "UseZstd").map_or(Ok(true), |v| flag("UseZstd", v))?,
        })
    }
}

/// `CreateDownload`: a new task for a `Snapshot` backup of the instance, unless one is under way
/// or failed.
fn create(shared: &Shared, p: &Params) -> Result<Value, Fail> {
    let q = Create::parse(p)?;
    let spec = {
        let ds = shared.dataset();
        let inst = find(&ds, q.instance, q.region)?;
        if !inst.supports_download() {
            Err(refuse(
                NOT_SUPPORTED,
                format!("instance {} does not support backup download", inst.id),
            ))?;
        }
        if let Some(accepted) = &inst.dbs.format_types
            && !accepted.iter().any(|f| f == q.format)
        {
            Err(refuse(
                "DBS.ParamIsInValid",
                format!(
                    "formatType {} is not supported for this engine (emulated text)",
                    q.format
                ),
            ))?;
        }
        let b = snapshot_backup(inst, q.bak_set_id)?;
        NewTask {
            instance: inst.id.clone(),
            region: inst.region_id.clone(),
            bak_set_id: b.backup_id.clone(),
            backup_set_time: b.start,
            import_size: q.bak_set_size.unwrap_or(b.size),
            format: q.format.to_string(),
            target_type: "URL".into(),
            zstd: q.zstd && !inst.dbs.gzip,
            script: inst.dbs.clone(),
        }
    };
    let now = shared.now();
    let mut dbs = shared.dbs();
    let task = dbs
        .tasks
        .create(spec, now)
        .map_err(|b| blocked(q.instance, b))?;
    Ok(to_json(CreatedTaskJson::new(task))?)
}

/// A successful `Snapshot` backup of the instance (per node or a cluster backup's node).
fn snapshot_backup<'a>(inst: &'a Instance, id: &str) -> Result<&'a BackupRecord, Refusal> {
    inst.all_backups()
        .find(|b| b.backup_id == id && b.method == "Snapshot" && b.status == "Success")
        .ok_or_else(|| {
            refuse(
                INVALID_PARAMETER,
                format!(
                    "BakSetId {id} is not a snapshot backup of instance {}",
                    inst.id
                ),
            )
        })
}

fn blocked(instance: &str, b: Blocked) -> Refusal {
    match b {
        Blocked::Running { task_id } => refuse(
            ALREADY_EXISTS,
            format!("a download task for instance {instance} is already running (task {task_id})"),
        ),
        Blocked::Failed { task_id } => refuse(
            ALREADY_EXISTS,
            format!(
                "the download task {task_id} of instance {instance} failed; retry it with RetryDownloadTask before creating another"
            ),
        ),
    }
}

/// `RetryDownloadTask`: a failed task starts a new run; `Data` is the task id (UNCONFIRMED).
fn retry(shared: &Shared, p: &Params) -> Result<Value, Fail> {
    let region = region_code(p)?;
    let id = required(p, "TaskId", "MissingTaskId")?;
    let instance = param(p, "InstanceName");
    let now = shared.now();
    let mut dbs = shared.dbs();
    let task = dbs
        .tasks
        .get_mut(id)
        .filter(|t| t.spec.region == region && instance.is_none_or(|i| i == t.spec.instance))
        .ok_or_else(|| refuse(TASK_NOT_FOUND, format!("download task {id} not found")))?;
    task.retry(now).map_err(|status| {
        refuse(
            NOT_FAILED,
            format!("download task {id} is {status}; only a failed task can be retried"),
        )
    })?;
    Ok(Value::from(id))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    use crate::api::tests::params;

    /// The refusal or gateway code a parameter check answered ("ok" when it passed).
    pub(super) fn code<T>(r: Result<T, Fail>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(Fail::Gateway(e)) => e.code,
            Err(Fail::Refused(r)) => r.code,
        }
    }

    #[test]
    fn create_parameters() {
        let base = [
            ("RegionCode", "cn-hangzhou"),
            ("InstanceName", "dds-x"),
            ("BakSetId", "7"),
            ("FormatType", "BSON"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut p = params(&base);
            p.extend(params(extra));
            p
        };
        let p = with(&[]);
        let q = Create::parse(&p).ok().unwrap();
        assert!(q.zstd && q.bak_set_size.is_none());
        let p = with(&[
            ("UseZstd", "0"),
            ("BakSetSize", "1024"),
            ("TargetType", "URL"),
        ]);
        let q = Create::parse(&p).ok().unwrap();
        assert_eq!((q.zstd, q.bak_set_size), (false, Some(1024)));
        for (extra, want) in [
            (("UseZstd", "maybe"), INVALID_PARAMETER),
            (("BakSetType", "pitr"), INVALID_PARAMETER),
            (("TargetType", "OSS"), INVALID_PARAMETER),
            (("BakSetSize", "big"), INVALID_PARAMETER),
            (("BakSetId", ""), INVALID_PARAMETER),
            (("FormatType", ""), "MissingFormatType"),
            (("RegionCode", ""), "MissingRegionCode"),
        ] {
            assert_eq!(code(Create::parse(&with(&[extra]))), want, "{extra:?}");
        }
    }
}
