//! The download-task record of a snapshot export (`task.json` in the backup's folder): read,
//! written atomically (before the call that creates a task, and after every answer), removed
//! once the copy is published. Like every file here it is reached through real folders only.

use std::fs;

use super::{Store, StoreError, io_err, is_real_file, safe};
use crate::model::{BackupKey, TASK, TaskRecord};

impl Store {
    /// The task record of `key`, if one was written. `Err`: a record is there but unreadable
    /// (the caller must not create a second task on the strength of it being unreadable).
    pub fn read_task(&self, key: &BackupKey) -> Result<Option<TaskRecord>, StoreError> {
        let dir = self.backup_dir(key)?;
        let path = dir.join(TASK);
        if fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        self.check_real(&dir)?;
        let bad = |reason: String| StoreError::UnsafeName {
            what: format!("reading {}", path.display()),
            reason,
        };
        if !is_real_file(&path) {
            return Err(bad("it is not a regular file".into()));
        }
        let bytes = fs::read(&path).map_err(io_err("read", &path))?;
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            bad(format!(
                "not a task record of this tool ({e}); remove it to start over"
            ))
        })
    }

    /// Writes `record` as `key`'s task record, atomically and durably (its folder is created
    /// through real folders if need be).
    pub fn write_task(&self, key: &BackupKey, record: &TaskRecord) -> Result<(), StoreError> {
        let dir = self.backup_dir(key)?;
        safe::real_dirs_below(self.root(), &dir, true)?;
        let mut bytes = serde_json::to_vec_pretty(record).expect("invariant: a record serialises");
        bytes.push(b'\n');
        safe::write_atomic(&dir.join(TASK), &bytes)
    }

    /// Removes `key`'s task record (its copy is published; the manifest names the task).
    pub fn remove_task(&self, key: &BackupKey) -> Result<(), StoreError> {
        let dir = self.backup_dir(key)?;
        self.check_real(&dir)?;
        let path = dir.join(TASK);
        match fs::remove_file(&path) {
            Ok(()) => safe::sync_dir(&dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &path)(e)),
        }
    }
}
