//! `DescribeDownloadTask` (the instance's tasks; each one listed is polled) and
//! `DescribeDownloadBackupSetStorageInfo` (presigned links to a finished task's export): the
//! two actions a client repeats while it waits for and then downloads an export.
//!
//! Owns their parameters, the poll that builds an export when it finishes a task, and the
//! links' lifetime. Refusals and the shared helpers are the parent's.

use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;

use super::{
    Fail, INVALID_PARAMETER, LINK_DURATION, NOT_FINISHED, Refusal, Shared, TASK_NOT_FOUND,
    TASK_PAGE, find, instance_name, number, param, refuse, region_code, to_json,
};
use crate::api::Params;
use crate::data::{DownloadStatus, DownloadTask, DownloadTasks, unix_millis};
use crate::export;
use crate::wire::{StorageInfoJson, TaskContent, TaskPageJson, TaskRowJson};

/// `DescribeDownloadTask`'s parameters, validated.
struct TaskQuery<'a> {
    region: &'a str,
    instance: &'a str,
    backup_set_id: Option<&'a str>,
    state: Option<DownloadStatus>,
    /// `TaskType=pitr`: nothing matches (only full downloads are emulated).
    pitr: bool,
    /// `StartTime` / `EndTime` on `GmtCreate`, ms, inclusive.
    created: (Option<i64>, Option<i64>),
    page: u64,
    page_size: u64,
    ascending: bool,
}

impl<'a> TaskQuery<'a> {
    fn parse(p: &'a Params) -> Result<TaskQuery<'a>, Fail> {
        let (region, instance) = (region_code(p)?, instance_name(p)?);
        let invalid =
            |key: &str, v: &str| refuse(INVALID_PARAMETER, format!("{key} {v} is not valid"));
        let state = param(p, "State")
            .map(|s| DownloadStatus::parse(s).ok_or_else(|| invalid("State", s)))
            .transpose()?;
        let pitr = match param(p, "TaskType") {
            None | Some("full") => false,
            Some("pitr") => true,
            Some(other) => Err(invalid("TaskType", other))?,
        };
        let page = number::<u64>(p, "CurrentPage")?.unwrap_or(1);
        let page_size = number::<u64>(p, "PageSize")?.unwrap_or(TASK_PAGE.0);
        if page == 0 || page_size == 0 || page_size > TASK_PAGE.1 {
            Err(invalid(
                "CurrentPage/PageSize",
                &format!("{page}/{page_size}"),
            ))?;
        }
        let ascending = match param(p, "OrderDirect") {
            None | Some("desc") => false,
            Some("asc") => true,
            Some(other) => Err(invalid("OrderDirect", other))?,
        };
        Ok(TaskQuery {
            region,
            instance,
            backup_set_id: param(p, "BackupSetId"),
            state,
            pitr,
            created: (number(p, "StartTime")?, number(p, "EndTime")?),
            page,
            page_size,
            ascending,
        })
    }

    fn matches(&self, t: &DownloadTask, now: OffsetDateTime) -> bool {
        let created = unix_millis(t.created);
        t.spec.instance == self.instance
            && t.spec.region == self.region
            && !self.pitr
            && (t.spec.script.nameless_rows
                || self.backup_set_id.is_none_or(|b| b == t.spec.bak_set_id))
            && self.state.is_none_or(|s| s == t.status(now))
            && self.created.0.is_none_or(|s| created >= s)
            && self.created.1.is_none_or(|e| created <= e)
    }

    /// The ids of the page's tasks, newest first unless `OrderDirect=asc`, and the total.
    fn page(&self, tasks: &DownloadTasks, now: OffsetDateTime) -> (Vec<String>, u64) {
        let mut rows: Vec<&DownloadTask> = tasks
            .all()
            .iter()
            .filter(|t| self.matches(t, now))
            .collect();
        // A stable sort: creation order (the order tasks are kept in) breaks ties.
        rows.sort_by_key(|t| t.created);
        if !self.ascending {
            rows.reverse();
        }
        let total = rows.len() as u64;
        let skip = (self.page - 1).saturating_mul(self.page_size);
        let ids = rows
            .into_iter()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .take(self.page_size as usize)
            .map(|t| t.task_id.clone())
            .collect();
        (ids, total)
    }
}

/// `DescribeDownloadTask`: the instance's tasks, filtered and paged; each task listed is polled
/// (reported, then advanced one poll), and its export is built on the poll that finishes it.
pub(super) fn describe(shared: &Shared, p: &Params) -> Result<Value, Fail> {
    let q = TaskQuery::parse(p)?;
    find(&shared.dataset(), q.instance, q.region)?;
    let now = shared.now();
    let mut guard = shared.dbs();
    let dbs = &mut *guard;
    let (ids, total) = q.page(&dbs.tasks, now);
    let (mut list, mut extra) = (Vec::new(), Vec::new());
    for id in ids {
        let task = dbs
            .tasks
            .get_mut(&id)
            .expect("invariant: the page was listed under this lock");
        let (status, finished) = task.poll(now);
        if finished {
            dbs.exports.ensure(task, now);
        }
        let size = match status {
            DownloadStatus::Finished | DownloadStatus::Expired => {
                dbs.exports.get(&id).map_or(0, |e| e.info.layout.size)
            }
            _ => 0,
        };
        if let Some(why) = task
            .failure(now)
            .filter(|_| status == DownloadStatus::Failed)
        {
            extra.push(why.to_string());
        }
        let progress = status.progress(export::tables());
        list.push(TaskRowJson::new(task, status, progress, size));
    }
    Ok(to_json(TaskPageJson {
        content: TaskContent { list },
        page_number: q.page,
        page_size: q.page_size,
        total_elements: total,
        total_pages: total.div_ceil(q.page_size),
        extra: extra.join("\n"),
    })?)
}

/// `Duration`: 300..=86400 seconds, 7200 when absent.
fn link_duration(p: &Params) -> Result<Duration, Refusal> {
    let (default, min, max) = LINK_DURATION;
    let secs = number::<u64>(p, "Duration")?.unwrap_or(default);
    if !(min..=max).contains(&secs) {
        return Err(refuse(
            INVALID_PARAMETER,
            format!("Duration must be {min} to {max} seconds, not {secs}"),
        ));
    }
    Ok(Duration::from_secs(secs))
}

/// The task a storage-info call names: `TaskId`, else the newest task of `InstanceName` +
/// `BackupSetId` (a finished one if there is one).
fn named_task<'a>(
    tasks: &'a DownloadTasks,
    p: &Params,
    region: &str,
    now: OffsetDateTime,
) -> Result<&'a DownloadTask, Refusal> {
    let instance = param(p, "InstanceName");
    let in_scope = |t: &&DownloadTask| {
        t.spec.region == region && instance.is_none_or(|i| i == t.spec.instance)
    };
    if let Some(id) = param(p, "TaskId") {
        return tasks
            .get(id)
            .filter(in_scope)
            .ok_or_else(|| refuse(TASK_NOT_FOUND, format!("download task {id} not found")));
    }
    let (Some(instance), Some(backup)) = (instance, param(p, "BackupSetId")) else {
        return Err(refuse(
            INVALID_PARAMETER,
            "TaskId, or InstanceName and BackupSetId, must be given",
        ));
    };
    let mine: Vec<&DownloadTask> = tasks
        .all()
        .iter()
        .filter(in_scope)
        .filter(|t| t.spec.bak_set_id == backup)
        .collect();
    let finished = mine
        .iter()
        .rev()
        .find(|t| t.status(now) == DownloadStatus::Finished);
    finished.or(mine.last()).copied().ok_or_else(|| {
        refuse(
            TASK_NOT_FOUND,
            format!("no download task for backup set {backup} of instance {instance}"),
        )
    })
}

/// `DescribeDownloadBackupSetStorageInfo`: presigned public and internal links to a finished
/// task's export, valid for `Duration` (or the script's shorter `link_ttl`).
pub(super) fn storage_info(shared: &Shared, p: &Params) -> Result<Value, Fail> {
    let region = region_code(p)?;
    let duration = link_duration(p)?;
    let now = shared.now();
    let mut guard = shared.dbs();
    let dbs = &mut *guard;
    let task = named_task(&dbs.tasks, p, region, now)?;
    let status = task.status(now);
    if status != DownloadStatus::Finished {
        Err(refuse(
            NOT_FINISHED,
            format!("download task {} is {status}, not finished", task.task_id),
        ))?;
    }
    let export = dbs.exports.ensure(task, now);
    let ttl = task
        .spec
        .script
        .link_ttl
        .map_or(duration, |cap| cap.min(duration));
    let expires = now.unix_timestamp() + ttl.as_secs() as i64;
    let url =
        |intranet| crate::oss::presign(shared, intranet, &export.instance, &export.name, expires);
    Ok(to_json(StorageInfoJson {
        public_url: url(false),
        private_url: url(true),
        expiration_time: expires * 1000,
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::tests::code;
    use crate::api::tests::params;

    #[test]
    fn task_query_and_duration_parameters() {
        let base = [("RegionCode", "cn-hangzhou"), ("InstanceName", "dds-x")];
        let with = |extra: &[(&str, &str)]| {
            let mut p = params(&base);
            p.extend(params(extra));
            p
        };
        let p = with(&[]);
        let q = TaskQuery::parse(&p).ok().unwrap();
        assert_eq!(
            (q.page, q.page_size, q.ascending, q.pitr),
            (1, 20, false, false)
        );
        let p = with(&[
            ("State", "queueing"),
            ("TaskType", "pitr"),
            ("OrderDirect", "asc"),
        ]);
        let q = TaskQuery::parse(&p).ok().unwrap();
        assert_eq!(
            (q.state, q.pitr, q.ascending),
            (Some(DownloadStatus::Queuing), true, true)
        );
        for extra in [
            ("State", "done"),
            ("PageSize", "0"),
            ("PageSize", "101"),
            ("CurrentPage", "x"),
        ] {
            assert_eq!(
                code(TaskQuery::parse(&with(&[extra]))),
                INVALID_PARAMETER,
                "{extra:?}"
            );
        }
        assert_eq!(
            code(TaskQuery::parse(&params(&base[..1]))),
            "MissingInstanceName"
        );
        let d = |v: &str| link_duration(&params(&[("Duration", v)])).map_err(|r| r.code);
        assert_eq!(
            link_duration(&params(&[])).unwrap(),
            Duration::from_secs(7200)
        );
        assert_eq!(d("300"), Ok(Duration::from_secs(300)));
        assert_eq!(d("86400"), Ok(Duration::from_secs(86400)));
        assert_eq!(d("299"), Err(INVALID_PARAMETER));
        assert_eq!(d("86401"), Err(INVALID_PARAMETER));
    }
}
