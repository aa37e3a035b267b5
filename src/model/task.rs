//! What DBS says of a download task (the export of a snapshot backup), as plain values; the
//! wire types and their conversion stay in `api::model::dbs`. Pure.

use std::fmt;

/// `DownloadStatus` of a download task.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Initializing,
    Queuing,
    Running,
    Finished,
    Failed,
    Expired,
    /// A value this tool does not know (kept as sent, treated as still running).
    #[serde(untagged)]
    Other(String),
}

impl TaskStatus {
    pub fn parse(text: &str) -> TaskStatus {
        // The SDK docs spell the first state both "Initializing" and "initializing".
        match text.to_ascii_lowercase().as_str() {
            "initializing" => TaskStatus::Initializing,
            // The API reference spells it "queueing", the SDK docstrings "queuing".
            "queuing" | "queueing" => TaskStatus::Queuing,
            "running" => TaskStatus::Running,
            "finished" => TaskStatus::Finished,
            "failed" => TaskStatus::Failed,
            "expired" => TaskStatus::Expired,
            _ => TaskStatus::Other(text.to_string()),
        }
    }

    /// Still on its way to `finished` or `failed`.
    pub fn is_running(&self) -> bool {
        matches!(
            self,
            TaskStatus::Initializing
                | TaskStatus::Queuing
                | TaskStatus::Running
                | TaskStatus::Other(_)
        )
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskStatus::Initializing => f.write_str("initializing"),
            TaskStatus::Queuing => f.write_str("queuing"),
            TaskStatus::Running => f.write_str("running"),
            TaskStatus::Finished => f.write_str("finished"),
            TaskStatus::Failed => f.write_str("failed"),
            TaskStatus::Expired => f.write_str("expired"),
            TaskStatus::Other(s) => write!(f, "{}", crate::text::shown(s)),
        }
    }
}

/// One download task as DBS describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadTask {
    pub task_id: String,
    /// The backup set it exports (the dds `BackupId`).
    pub backup_set_id: String,
    pub status: TaskStatus,
    /// "tables done/total".
    pub progress: Option<String>,
    /// `ExportDataSize`: the amount of output data, in bytes (not necessarily the archive's
    /// size, so it is recorded, never checked against).
    pub export_data_size: Option<u64>,
    /// `GmtCreate`, ms since the epoch.
    pub created_ms: Option<u64>,
}

/// What `DescribeDownloadTask` answered: the tasks, and `Data.Extra` (where the service says
/// why a task failed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskList {
    pub tasks: Vec<DownloadTask>,
    pub extra: Option<String>,
    /// Entries that are not a task (no `TaskId`, a field of the wrong type), each with why:
    /// skipped and reported, never a reason to fail the export (issue #21).
    pub skipped: Vec<String>,
}

/// The links of a finished task, from `DescribeDownloadBackupSetStorageInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportLink {
    pub public_url: Option<String>,
    pub private_url: Option<String>,
    /// `ExpirationTime`, ms since the epoch.
    pub expires_ms: Option<u64>,
}
