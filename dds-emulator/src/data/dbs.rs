//! DBS download tasks (product DBS, version 2021-01-01), the only way to export a cloud-disk
//! instance's `Snapshot` backup: the per-instance script a test turns ([`DbsScript`]) and the task
//! state machine ([`DownloadTasks`], [`DownloadTask`]).
//!
//! A task walks initializing → queuing → running → finished (or failed, when its run is scripted
//! to fail), one step every `polls_per_step` polls of `DescribeDownloadTask`; a poll reports the
//! state and then advances it, so with one poll per step the 4th poll sees `finished`. A finished
//! task shows `expired` three days after it finished. Only one task per instance may be under way,
//! and a failed one blocks new ones until `RetryDownloadTask` starts it again.
//!
//! Plain data, like the rest of `data`: time comes in as `now`, refusals are facts
//! ([`Blocked`]) that `api::dbs` spells; no HTTP, no export bytes (`export` builds those).
//! Reference: `shared/docs/alibaba-fleet.md`, "Snapshot backups".

use std::time::Duration as StdDuration;

use time::{Duration, OffsetDateTime};

/// A finished `URL` task expires this long after it finished.
pub const TASK_LIFETIME: Duration = Duration::days(3);
/// BSON bytes in an export unless a script says otherwise (before compression).
pub const DEFAULT_EXPORT_SIZE: u64 = 384 * 1024;

/// How DBS treats one instance's download tasks; `Default`: supported (on cloud disks), every run
/// succeeds, one poll per step, links as long as the caller's `Duration`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbsScript {
    /// `DescribeDownloadSupport` says "false" even on a cloud disk; `CreateDownload` refuses.
    pub unsupported: bool,
    /// The first N runs of each task fail (every `RetryDownloadTask` starts a new run).
    pub fail_first: u32,
    /// Every run fails, with this text.
    pub fail_always: Option<String>,
    /// `DescribeDownloadTask` polls per state (at least 1).
    pub polls_per_step: u32,
    /// Caps the lifetime of the links `DescribeDownloadBackupSetStorageInfo` issues, so a test
    /// can have them expire mid-download.
    pub link_ttl: Option<StdDuration>,
    /// BSON bytes in the export, before compression (about; documents are not cut).
    pub export_size: u64,
    /// Polls after a `RetryDownloadTask` that still report the run before it as `failed` (a
    /// real DBS takes the retry in asynchronously; the issue #21 probe saw one such poll).
    pub retry_lag: u32,
    /// The `FormatType` values `CreateDownload` accepts (`None`: any); others are refused with
    /// `DBS.ParamIsInValid` (its text is emulated; the real value for MongoDB is UNCONFIRMED).
    pub format_types: Option<Vec<String>>,
    /// Exports are gzip whatever `UseZstd` asked (a service that ignores it).
    pub gzip: bool,
    /// `DescribeDownloadTask` rows name no `BakSetId`, and its `BackupSetId` filter is ignored:
    /// every task of the instance is listed (a service answering as the issue #21 probe did).
    pub nameless_rows: bool,
}

impl Default for DbsScript {
    fn default() -> Self {
        DbsScript {
            unsupported: false,
            fail_first: 0,
            fail_always: None,
            polls_per_step: 1,
            link_ttl: None,
            export_size: DEFAULT_EXPORT_SIZE,
            retry_lag: 0,
            format_types: None,
            gzip: false,
            nameless_rows: false,
        }
    }
}

impl DbsScript {
    /// The first `n` runs of every task of the instance fail.
    pub fn fail_times(mut self, n: u32) -> Self {
        self.fail_first = n;
        self
    }

    /// Every run fails with `message` (in `Data.Extra`).
    pub fn fail_always(mut self, message: &str) -> Self {
        self.fail_always = Some(message.to_string());
        self
    }

    /// Polls of `DescribeDownloadTask` per state (0 counts as 1).
    pub fn polls_per_step(mut self, n: u32) -> Self {
        self.polls_per_step = n.max(1);
        self
    }

    /// Links expire after `ttl` at most, whatever `Duration` the caller asked for.
    pub fn link_ttl(mut self, ttl: StdDuration) -> Self {
        self.link_ttl = Some(ttl);
        self
    }

    /// `CreateDownload` accepts only these `FormatType` values.
    pub fn format_types(mut self, accepted: &[&str]) -> Self {
        self.format_types = Some(accepted.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Task rows without `BakSetId`, the `BackupSetId` filter ignored.
    pub fn nameless_rows(mut self) -> Self {
        self.nameless_rows = true;
        self
    }

    /// Exports are gzip, whatever `UseZstd` says.
    pub fn gzip(mut self) -> Self {
        self.gzip = true;
        self
    }

    /// The next `n` polls after a retry still say `failed`.
    pub fn retry_lag(mut self, n: u32) -> Self {
        self.retry_lag = n;
        self
    }

    /// The instance does not support backup download.
    pub fn unsupported(mut self) -> Self {
        self.unsupported = true;
        self
    }

    /// About `bytes` of BSON in each export (keep tests fast; the default is a few hundred KiB).
    pub fn export_size(mut self, bytes: u64) -> Self {
        self.export_size = bytes;
        self
    }

    /// Why run `run` (from 1) of a task exporting `bak_set_id` fails; `None`: it succeeds.
    pub fn failure(&self, run: u32, bak_set_id: &str) -> Option<String> {
        if let Some(text) = &self.fail_always {
            return Some(text.clone());
        }
        (run <= self.fail_first).then(|| {
            format!(
                "export of backup set {bak_set_id} failed: emulated conversion failure (run {run} of {} scripted to fail)",
                self.fail_first
            )
        })
    }
}

/// `DownloadStatus`, spelled as the API does by [`DownloadStatus::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DownloadStatus {
    Initializing,
    Queuing,
    Running,
    Finished,
    Failed,
    Expired,
}

impl DownloadStatus {
    pub const ALL: [DownloadStatus; 6] = [
        DownloadStatus::Initializing,
        DownloadStatus::Queuing,
        DownloadStatus::Running,
        DownloadStatus::Finished,
        DownloadStatus::Failed,
        DownloadStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DownloadStatus::Initializing => "initializing",
            DownloadStatus::Queuing => "queuing",
            DownloadStatus::Running => "running",
            DownloadStatus::Finished => "finished",
            DownloadStatus::Failed => "failed",
            DownloadStatus::Expired => "expired",
        }
    }

    /// A `State` filter value: case-insensitive, `queueing` (the API reference's spelling) too.
    pub fn parse(s: &str) -> Option<DownloadStatus> {
        let s = s.to_ascii_lowercase();
        if s == "queueing" {
            return Some(DownloadStatus::Queuing);
        }
        DownloadStatus::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// `Progress`, "tables done/total", of a task in this state exporting `tables` tables.
    pub fn progress(self, tables: u32) -> String {
        match self {
            DownloadStatus::Initializing => "0/0".to_string(),
            DownloadStatus::Queuing => format!("0/{tables}"),
            DownloadStatus::Running | DownloadStatus::Failed => format!("{}/{tables}", tables / 2),
            DownloadStatus::Finished | DownloadStatus::Expired => format!("{tables}/{tables}"),
        }
    }

    /// Under way or failed: the instance may not start another task.
    pub fn blocks_new_tasks(self) -> bool {
        !matches!(self, DownloadStatus::Finished | DownloadStatus::Expired)
    }
}

impl std::fmt::Display for DownloadStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `CreateDownload` asks for, checked by the caller against the data set.
#[derive(Clone, Debug, PartialEq)]
pub struct NewTask {
    pub instance: String,
    pub region: String,
    pub bak_set_id: String,
    /// The backup's start.
    pub backup_set_time: OffsetDateTime,
    /// `BakSetSize` as sent, else the backup's `BackupSize`.
    pub import_size: u64,
    /// `FormatType` as sent.
    pub format: String,
    pub target_type: String,
    /// `UseZstd`: a `.tar.zst`, else a `.tar.gz`.
    pub zstd: bool,
    pub script: DbsScript,
}

/// One download task and where its current run stands.
#[derive(Clone, Debug, PartialEq)]
pub struct DownloadTask {
    pub task_id: String,
    pub spec: NewTask,
    pub created: OffsetDateTime,
    /// Runs started: 1, plus one per `RetryDownloadTask`.
    pub runs: u32,
    /// Polls of the current run so far.
    polls: u32,
    /// What the current run ends with when it fails.
    failure: Option<String>,
    /// When the current run reached `finished` or `failed`.
    done_at: Option<OffsetDateTime>,
    /// Polls left that report the run before the last retry (`failed`, with its text).
    lag: u32,
    lag_failure: Option<String>,
}

/// The steps before the last; the last is finished or failed.
const LAST_STEP: u32 = 3;

impl DownloadTask {
    fn new(task_id: String, spec: NewTask, now: OffsetDateTime) -> DownloadTask {
        let failure = spec.script.failure(1, &spec.bak_set_id);
        DownloadTask {
            task_id,
            spec,
            created: now,
            runs: 1,
            polls: 0,
            failure,
            done_at: None,
            lag: 0,
            lag_failure: None,
        }
    }

    fn step(&self) -> u32 {
        (self.polls / self.spec.script.polls_per_step.max(1)).min(LAST_STEP)
    }

    /// The state as of `now`, without polling.
    pub fn status(&self, now: OffsetDateTime) -> DownloadStatus {
        if self.lag > 0 {
            return DownloadStatus::Failed;
        }
        match self.step() {
            0 => DownloadStatus::Initializing,
            1 => DownloadStatus::Queuing,
            2 => DownloadStatus::Running,
            _ if self.failure.is_some() => DownloadStatus::Failed,
            _ if self.done_at.is_some_and(|t| now - t > TASK_LIFETIME) => DownloadStatus::Expired,
            _ => DownloadStatus::Finished,
        }
    }

    /// One `DescribeDownloadTask` poll: the state it reports, then one poll further along.
    /// `true` when this poll made the run succeed (the export is due now).
    pub fn poll(&mut self, now: OffsetDateTime) -> (DownloadStatus, bool) {
        let shown = self.status(now);
        if self.lag > 0 {
            self.lag -= 1;
            return (shown, false);
        }
        if self.step() == LAST_STEP {
            return (shown, false);
        }
        self.polls += 1;
        let done = self.step() == LAST_STEP;
        if done {
            self.done_at = Some(now);
        }
        (shown, done && self.failure.is_none())
    }

    /// The failure text of the current run, once it has failed.
    pub fn failure(&self, now: OffsetDateTime) -> Option<&str> {
        match self.status(now) {
            DownloadStatus::Failed if self.lag > 0 => self.lag_failure.as_deref(),
            DownloadStatus::Failed => self.failure.as_deref(),
            _ => None,
        }
    }

    /// `RetryDownloadTask`: a failed task starts a new run from `initializing`.
    pub fn retry(&mut self, now: OffsetDateTime) -> Result<(), DownloadStatus> {
        match self.status(now) {
            DownloadStatus::Failed => {
                self.lag = self.spec.script.retry_lag;
                self.lag_failure = self.failure.clone();
                self.runs += 1;
                self.polls = 0;
                self.done_at = None;
                self.failure = self.spec.script.failure(self.runs, &self.spec.bak_set_id);
                Ok(())
            }
            other => Err(other),
        }
    }
}

/// Why an instance may not start a task now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// A task is initializing, queuing or running.
    Running { task_id: String },
    /// A failed task waits for `RetryDownloadTask`.
    Failed { task_id: String },
}

/// Every download task of the emulated account, in creation order; kept for the emulator's
/// lifetime.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DownloadTasks {
    tasks: Vec<DownloadTask>,
}

impl DownloadTasks {
    pub fn all(&self) -> &[DownloadTask] {
        &self.tasks
    }

    pub fn get(&self, task_id: &str) -> Option<&DownloadTask> {
        self.tasks.iter().find(|t| t.task_id == task_id)
    }

    pub fn get_mut(&mut self, task_id: &str) -> Option<&mut DownloadTask> {
        self.tasks.iter_mut().find(|t| t.task_id == task_id)
    }

    /// The task that keeps `instance` from starting another, if any.
    pub fn blocking(&self, instance: &str, now: OffsetDateTime) -> Option<Blocked> {
        self.tasks
            .iter()
            .filter(|t| t.spec.instance == instance)
            .find_map(|t| match t.status(now) {
                DownloadStatus::Failed => Some(Blocked::Failed {
                    task_id: t.task_id.clone(),
                }),
                s if s.blocks_new_tasks() => Some(Blocked::Running {
                    task_id: t.task_id.clone(),
                }),
                _ => None,
            })
    }

    /// Starts a task unless the instance has one under way or failed.
    pub fn create(&mut self, spec: NewTask, now: OffsetDateTime) -> Result<&DownloadTask, Blocked> {
        if let Some(blocked) = self.blocking(&spec.instance, now) {
            return Err(blocked);
        }
        let id = task_id(&spec.instance, &spec.bak_set_id, self.tasks.len());
        self.tasks.push(DownloadTask::new(id, spec, now));
        Ok(&self.tasks[self.tasks.len() - 1])
    }
}

/// `dt-` and 16 hex digits, a pure function of the instance, the backup set and how many tasks
/// came before: the same calls give the same ids in every emulator.
fn task_id(instance: &str, bak_set_id: &str, seq: usize) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let seq = seq.to_le_bytes();
    let parts = [
        instance.as_bytes(),
        b"\0",
        bak_set_id.as_bytes(),
        b"\0",
        &seq,
    ];
    for b in parts.iter().flat_map(|p| p.iter()) {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("dt-{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2030-06-01 12:00:00 UTC);

    fn spec(instance: &str, script: DbsScript) -> NewTask {
        NewTask {
            instance: instance.into(),
            region: "cn-hangzhou".into(),
            bak_set_id: "7".into(),
            backup_set_time: T0,
            import_size: 100,
            format: "BSON".into(),
            target_type: "URL".into(),
            zstd: true,
            script,
        }
    }

    fn walk(task: &mut DownloadTask, polls: usize) -> Vec<&'static str> {
        (0..polls).map(|_| task.poll(T0).0.as_str()).collect()
    }

    #[test]
    fn a_task_walks_one_step_per_poll_and_the_fourth_poll_sees_finished() {
        let mut tasks = DownloadTasks::default();
        let id = tasks
            .create(spec("dds-a", DbsScript::default()), T0)
            .unwrap()
            .task_id
            .clone();
        assert!(id.starts_with("dt-") && id.len() == 19, "{id}");
        let t = tasks.get_mut(&id).unwrap();
        assert_eq!(t.status(T0).progress(3), "0/0");
        let seen: Vec<_> = (0..5).map(|_| t.poll(T0)).collect();
        assert_eq!(
            seen,
            [
                (DownloadStatus::Initializing, false),
                (DownloadStatus::Queuing, false),
                (DownloadStatus::Running, true),
                (DownloadStatus::Finished, false),
                (DownloadStatus::Finished, false),
            ]
        );
        assert_eq!(t.status(T0).progress(3), "3/3");
        let later = T0 + TASK_LIFETIME + Duration::seconds(1);
        assert_eq!(t.status(T0 + TASK_LIFETIME), DownloadStatus::Finished);
        assert_eq!(t.status(later), DownloadStatus::Expired);
    }

    #[test]
    fn polls_per_step_stretch_the_walk() {
        let mut tasks = DownloadTasks::default();
        let script = DbsScript::default().polls_per_step(2);
        let id = tasks
            .create(spec("dds-a", script), T0)
            .unwrap()
            .task_id
            .clone();
        let t = tasks.get_mut(&id).unwrap();
        let want = [
            "initializing",
            "initializing",
            "queuing",
            "queuing",
            "running",
            "running",
            "finished",
        ];
        assert_eq!(walk(t, 7), want);
    }

    #[test]
    fn one_task_per_instance_and_a_failed_one_blocks_until_retried() {
        let mut tasks = DownloadTasks::default();
        let script = DbsScript::default().fail_times(1);
        let first = tasks
            .create(spec("dds-a", script.clone()), T0)
            .unwrap()
            .task_id
            .clone();
        let running = tasks.create(spec("dds-a", script.clone()), T0);
        assert_eq!(
            running.unwrap_err(),
            Blocked::Running {
                task_id: first.clone()
            }
        );
        assert!(
            tasks.create(spec("dds-b", script.clone()), T0).is_ok(),
            "other instances"
        );
        let t = tasks.get_mut(&first).unwrap();
        assert_eq!(t.retry(T0), Err(DownloadStatus::Initializing));
        assert_eq!(walk(t, 4), ["initializing", "queuing", "running", "failed"]);
        assert!(t.failure(T0).unwrap().contains("backup set 7 failed"));
        assert_eq!(t.status(T0).progress(4), "2/4");
        let failed = tasks.create(spec("dds-a", script.clone()), T0);
        assert_eq!(
            failed.unwrap_err(),
            Blocked::Failed {
                task_id: first.clone()
            }
        );
        let t = tasks.get_mut(&first).unwrap();
        assert_eq!(t.retry(T0), Ok(()));
        assert_eq!((t.runs, t.failure(T0)), (2, None));
        assert_eq!(
            walk(t, 4),
            ["initializing", "queuing", "running", "finished"]
        );
        assert_eq!(t.retry(T0), Err(DownloadStatus::Finished));
        let again = tasks
            .create(spec("dds-a", script), T0)
            .unwrap()
            .task_id
            .clone();
        assert_ne!(again, first, "a finished task no longer blocks");
    }

    #[test]
    fn failures_are_bounded_unless_always() {
        let s = DbsScript::default().fail_times(2);
        assert!(s.failure(1, "7").is_some() && s.failure(2, "7").is_some());
        assert_eq!(s.failure(3, "7"), None);
        let s = DbsScript::default().fail_always("disk full");
        assert_eq!(s.failure(9, "7").as_deref(), Some("disk full"));
        assert_eq!(DbsScript::default().failure(1, "7"), None);
    }

    #[test]
    fn status_spellings() {
        assert_eq!(
            DownloadStatus::parse("Initializing"),
            Some(DownloadStatus::Initializing)
        );
        assert_eq!(
            DownloadStatus::parse("queueing"),
            Some(DownloadStatus::Queuing)
        );
        assert_eq!(DownloadStatus::parse("done"), None);
        for s in DownloadStatus::ALL {
            assert_eq!(DownloadStatus::parse(s.as_str()), Some(s));
        }
        assert_ne!(task_id("dds-a", "7", 0), task_id("dds-a", "7", 1));
    }
}
