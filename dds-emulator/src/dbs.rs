//! The DBS side's state in [`Shared`]: the download tasks and the export each finished task
//! serves, behind one lock, plus what the OSS side and tests read of it.
//!
//! Owns keeping exports (built once per task by [`export`](crate::export), kept for the
//! emulator's lifetime like the tasks) and finding one by its URL path. What a task does is
//! `data::dbs`'s; what the actions answer is `api::dbs`'s.

use std::collections::HashMap;
use std::sync::{Arc, MutexGuard};

use bytes::Bytes;
use time::OffsetDateTime;

use crate::content::{ObjectInfo, ObjectKey};
use crate::data::{ContentFormat, DownloadStatus, DownloadTask, DownloadTasks};
use crate::export::{self, ExportSpec};
use crate::{Emulator, Resolved, Shared};

/// Tasks and their exports (two fields, so a caller can hold a task and its export at once).
#[derive(Default)]
pub(crate) struct DbsState {
    pub tasks: DownloadTasks,
    pub exports: Exports,
}

/// Task id → its export, from the moment the task finished.
#[derive(Default)]
pub(crate) struct Exports(HashMap<String, Arc<ServedExport>>);

/// A built export and where the OSS side serves it: `/oss/{network}/{instance}/{name}`.
#[derive(Debug)]
pub(crate) struct ServedExport {
    pub instance: String,
    pub name: String,
    pub bak_set_id: String,
    pub built_at: OffsetDateTime,
    pub info: Arc<ObjectInfo>,
}

impl Exports {
    pub fn get(&self, task_id: &str) -> Option<&Arc<ServedExport>> {
        self.0.get(task_id)
    }

    /// The export of `task`, built now if it is not yet (a few milliseconds, under the lock:
    /// a test tool can afford it, and nobody then sees a finished task without its export).
    pub fn ensure(&mut self, task: &DownloadTask, now: OffsetDateTime) -> Arc<ServedExport> {
        if let Some(e) = self.0.get(&task.task_id) {
            return e.clone();
        }
        let built = export::build(&ExportSpec {
            instance: &task.spec.instance,
            bak_set_id: &task.spec.bak_set_id,
            bson_size: task.spec.script.export_size,
            zstd: task.spec.zstd,
        });
        tracing::debug!(
            task = %task.task_id,
            instance = %task.spec.instance,
            backup_id = %task.spec.bak_set_id,
            files = built.files.len(),
            tar_bytes = built.tar_size,
            bytes = built.bytes.len(),
            "built DBS export"
        );
        let served = Arc::new(ServedExport {
            instance: task.spec.instance.clone(),
            name: format!(
                "{}_{}.{}",
                task.task_id,
                task.spec.bak_set_id,
                export::extension(task.spec.zstd)
            ),
            bak_set_id: task.spec.bak_set_id.clone(),
            built_at: now,
            info: Arc::new(ObjectInfo::of_bytes(built.bytes)),
        });
        self.0.insert(task.task_id.clone(), served.clone());
        served
    }
}

impl Shared {
    pub(crate) fn dbs(&self) -> MutexGuard<'_, DbsState> {
        self.dbs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The export whose URL path is `instance`/`name`.
    pub(crate) fn resolve_export(&self, instance: &str, name: &str) -> Option<Resolved> {
        let dbs = self.dbs();
        let e = dbs
            .exports
            .0
            .values()
            .find(|e| e.instance == instance && e.name == name)?;
        Some(Resolved {
            instance: e.instance.clone(),
            // Only `name` and `backup_id` matter for a built object: faults match on them.
            key: ObjectKey {
                backup_id: e.bak_set_id.clone(),
                name: e.name.clone(),
                size: e.info.layout.size,
                version: 0,
                format: ContentFormat::Random,
            },
            last_modified: e.built_at,
            built: Some(e.info.clone()),
        })
    }
}

/// One DBS download task as a test sees it ([`Emulator::dbs_tasks`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbsTaskSummary {
    pub task_id: String,
    pub instance: String,
    pub bak_set_id: String,
    /// As of the emulator's clock, without polling.
    pub status: DownloadStatus,
    /// Runs started: 1, plus one per `RetryDownloadTask`.
    pub runs: u32,
}

/// A finished task's export as the OSS side serves it ([`Emulator::dbs_export`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbsExport {
    pub task_id: String,
    pub instance: String,
    /// The object name in the URL path, e.g. `dt-…_32105001.tar.zst`.
    pub name: String,
    pub bak_set_id: String,
    pub bytes: Bytes,
    /// Quoted, as in the `ETag` header.
    pub etag: String,
    /// `x-oss-hash-crc64ecma`.
    pub crc64: u64,
}

impl Emulator {
    /// Every DBS download task so far, in creation order.
    pub fn dbs_tasks(&self) -> Vec<DbsTaskSummary> {
        let now = self.shared.now();
        self.shared
            .dbs()
            .tasks
            .all()
            .iter()
            .map(|t| DbsTaskSummary {
                task_id: t.task_id.clone(),
                instance: t.spec.instance.clone(),
                bak_set_id: t.spec.bak_set_id.clone(),
                status: t.status(now),
                runs: t.runs,
            })
            .collect()
    }

    /// The export of a task, once it has finished.
    pub fn dbs_export(&self, task_id: &str) -> Option<DbsExport> {
        let dbs = self.shared.dbs();
        let e = dbs.exports.get(task_id)?;
        let mut bytes = vec![0; e.info.layout.size as usize];
        e.info.layout.read_at(0, &mut bytes);
        Some(DbsExport {
            task_id: task_id.to_string(),
            instance: e.instance.clone(),
            name: e.name.clone(),
            bak_set_id: e.bak_set_id.clone(),
            bytes: Bytes::from(bytes),
            etag: e.info.etag.clone(),
            crc64: e.info.crc64,
        })
    }
}
