//! What to do next with one snapshot's download task, from the record this tool keeps and what
//! DBS lists for the backup set. Pure: a table of cases, no clock, disk or network.
//!
//! The rules that keep the bill and the service's one-task-per-instance limit safe: a task is
//! created only when neither the record nor DBS knows one for this backup set; a record without
//! a task id (a crash between writing it and recording the answer) adopts the task DBS lists;
//! a failed task is retried at most `max_retries` times over all passes, never in a loop.

use crate::model::TaskRecord;
use crate::model::{DownloadTask, TaskList, TaskStatus};

/// The next step for one export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Neither the record nor DBS knows a task for this backup set: create one.
    Create,
    /// The record has no task id, but DBS lists one for this backup set: record it.
    Adopt(DownloadTask),
    /// The task is on its way (`initializing`, `queuing`, `running`).
    Wait(DownloadTask),
    /// The task finished: ask for its link and download.
    Link(DownloadTask),
    /// The task failed and may be retried once more.
    Retry(DownloadTask),
    /// The task failed and its retries are spent: report it, do nothing else.
    GiveUp(DownloadTask),
    /// The task's archive expired (three days after it finished) before it was copied: a new
    /// task is needed.
    Renew(DownloadTask),
    /// The record names a task DBS does not list: report it, create nothing.
    Lost(String),
}

/// The next step for the export of `backup_id`, given the record (if any) and DBS's list of
/// that backup set's tasks.
pub fn next(
    record: Option<&TaskRecord>,
    listed: &TaskList,
    backup_id: &str,
    max_retries: u32,
) -> Next {
    // Only a task that names this backup set: one without `BakSetId` may be any set's, and
    // adopting it published another backup's archive as this one (issue #21).
    let of_set = |t: &&DownloadTask| t.backup_set_id == backup_id;
    let task = match record.and_then(|r| r.task_id.as_deref()) {
        Some(id) => match listed.tasks.iter().find(|t| t.task_id == id) {
            Some(t) => t.clone(),
            None => return Next::Lost(id.to_string()),
        },
        None => {
            // Newest first; an expired task is only worth adopting when it is the only one.
            let mut candidates: Vec<&DownloadTask> = listed.tasks.iter().filter(of_set).collect();
            candidates.sort_by_key(|t| std::cmp::Reverse(t.created_ms));
            let live = candidates.iter().find(|t| t.status != TaskStatus::Expired);
            return match live.or(candidates.first()) {
                Some(t) if t.status == TaskStatus::Expired => Next::Create,
                Some(t) => Next::Adopt((*t).clone()),
                None => Next::Create,
            };
        }
    };
    let retries = record.map_or(0, |r| r.retries);
    match &task.status {
        TaskStatus::Finished => Next::Link(task),
        TaskStatus::Failed if retries < max_retries => Next::Retry(task),
        TaskStatus::Failed => Next::GiveUp(task),
        TaskStatus::Expired => Next::Renew(task),
        _ => Next::Wait(task),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn task(id: &str, status: TaskStatus, created: u64) -> DownloadTask {
        DownloadTask {
            task_id: id.into(),
            backup_set_id: "7".into(),
            status,
            progress: None,
            export_data_size: None,
            created_ms: Some(created),
        }
    }

    fn record(task_id: Option<&str>, retries: u32) -> TaskRecord {
        let mut r =
            TaskRecord::creating("dds-1", "7", "cn-hangzhou", datetime!(2026-12-01 0:00 UTC));
        r.task_id = task_id.map(str::to_string);
        r.retries = retries;
        r
    }

    fn list(tasks: Vec<DownloadTask>) -> TaskList {
        TaskList {
            tasks,
            extra: None,
            skipped: Vec::new(),
        }
    }

    #[test]
    fn creates_only_when_nobody_knows_a_task() {
        assert_eq!(next(None, &list(vec![]), "7", 2), Next::Create);
        assert_eq!(
            next(Some(&record(None, 0)), &list(vec![]), "7", 2),
            Next::Create
        );
        // A crash after CreateDownload, or another host's task: adopted, not duplicated.
        let running = task("dt-1", TaskStatus::Running, 1);
        assert_eq!(
            next(Some(&record(None, 0)), &list(vec![running.clone()]), "7", 2),
            Next::Adopt(running.clone())
        );
        assert_eq!(
            next(None, &list(vec![running.clone()]), "7", 2),
            Next::Adopt(running)
        );
        // Only an expired task of this set: a new one is needed.
        let old = task("dt-0", TaskStatus::Expired, 1);
        assert_eq!(next(None, &list(vec![old.clone()]), "7", 2), Next::Create);
        // The newest live task wins over an older expired one.
        let newer = task("dt-2", TaskStatus::Finished, 5);
        assert_eq!(
            next(None, &list(vec![old, newer.clone()]), "7", 2),
            Next::Adopt(newer)
        );
        // Another backup set's task is not this one's.
        let mut other = task("dt-9", TaskStatus::Running, 1);
        other.backup_set_id = "8".into();
        assert_eq!(next(None, &list(vec![other]), "7", 2), Next::Create);
        // Nor is a task that names no backup set (issue #21.3).
        let mut unnamed = task("dt-8", TaskStatus::Finished, 9);
        unnamed.backup_set_id = String::new();
        assert_eq!(
            next(Some(&record(None, 0)), &list(vec![unnamed]), "7", 2),
            Next::Create
        );
    }

    #[test]
    fn walks_a_recorded_task() {
        let r = record(Some("dt-1"), 0);
        for (status, want) in [
            (TaskStatus::Initializing, "wait"),
            (TaskStatus::Queuing, "wait"),
            (TaskStatus::Running, "wait"),
            (TaskStatus::Other("paused".into()), "wait"),
            (TaskStatus::Finished, "link"),
            (TaskStatus::Failed, "retry"),
            (TaskStatus::Expired, "renew"),
        ] {
            let got = next(
                Some(&r),
                &list(vec![task("dt-1", status.clone(), 1)]),
                "7",
                2,
            );
            let name = match got {
                Next::Wait(_) => "wait",
                Next::Link(_) => "link",
                Next::Retry(_) => "retry",
                Next::Renew(_) => "renew",
                other => panic!("{status}: {other:?}"),
            };
            assert_eq!(name, want, "{status}");
        }
        assert_eq!(
            next(Some(&r), &list(vec![]), "7", 2),
            Next::Lost("dt-1".into())
        );
    }

    #[test]
    fn retries_are_bounded_over_passes() {
        let failed = list(vec![task("dt-1", TaskStatus::Failed, 1)]);
        assert!(matches!(
            next(Some(&record(Some("dt-1"), 1)), &failed, "7", 2),
            Next::Retry(_)
        ));
        assert!(matches!(
            next(Some(&record(Some("dt-1"), 2)), &failed, "7", 2),
            Next::GiveUp(_)
        ));
        assert!(matches!(
            next(Some(&record(Some("dt-1"), 0)), &failed, "7", 0),
            Next::GiveUp(_)
        ));
    }
}
