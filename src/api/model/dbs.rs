//! The wire types of the DBS download-task actions (`DescribeDownloadSupport`,
//! `CreateDownload`, `DescribeDownloadTask`, `DescribeDownloadBackupSetStorageInfo`) and their
//! conversion into plain values ([`DownloadTask`], [`ExportLink`]). Field names and types follow
//! the official `dbs-20210101` SDK models: `CreateDownload` sends `GmtCreate` and
//! `ExportDataSize` as numbers, `DescribeDownloadTask` the same fields as strings; both are read
//! leniently, and a wrong one is named. No I/O.

use serde_json::Value;

use super::{ModelError, as_bool, as_text, as_u64};
pub use crate::model::{DownloadTask, ExportLink, TaskList, TaskStatus};

fn body(what: &'static str, bytes: &[u8]) -> Result<Value, ModelError> {
    serde_json::from_slice(bytes).map_err(|e| ModelError::Shape {
        what,
        reason: e.to_string(),
    })
}

fn field<T>(
    obj: &Value,
    name: &'static str,
    read: fn(&Value) -> Result<T, String>,
) -> Result<Option<T>, ModelError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(v) => read(v).map(Some).map_err(|reason| ModelError::PageField {
            field: name,
            reason,
        }),
    }
}

/// `DescribeDownloadSupport`: `Data` is "true" or "false".
pub fn parse_support(bytes: &[u8]) -> Result<bool, ModelError> {
    let v = body("DescribeDownloadSupport", bytes)?;
    Ok(field(&v, "Data", as_bool)?.unwrap_or(false))
}

fn task(v: &Value) -> Result<DownloadTask, ModelError> {
    let task_id = field(v, "TaskId", as_text)?.ok_or(ModelError::PageField {
        field: "TaskId",
        reason: "missing".into(),
    })?;
    Ok(DownloadTask {
        task_id,
        backup_set_id: field(v, "BakSetId", as_text)?.unwrap_or_default(),
        status: TaskStatus::parse(&field(v, "DownloadStatus", as_text)?.unwrap_or_default()),
        progress: field(v, "Progress", as_text)?,
        export_data_size: field(v, "ExportDataSize", as_u64)?,
        created_ms: field(v, "GmtCreate", as_u64)?,
    })
}

/// `CreateDownload`: the new task in `Data`.
pub fn parse_created(bytes: &[u8]) -> Result<DownloadTask, ModelError> {
    let v = body("CreateDownload", bytes)?;
    task(v.get("Data").unwrap_or(&Value::Null))
}

/// `DescribeDownloadTask`: `Data.Content.List[]`, and `Data.Extra`.
pub fn parse_tasks(bytes: &[u8]) -> Result<TaskList, ModelError> {
    let v = body("DescribeDownloadTask", bytes)?;
    let data = v.get("Data").unwrap_or(&Value::Null);
    let list = match data.pointer("/Content/List") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(items)) => items.as_slice(),
        Some(_) => {
            return Err(ModelError::PageField {
                field: "Data.Content.List",
                reason: "not a list".into(),
            });
        }
    };
    let mut tasks = Vec::new();
    let mut skipped = Vec::new();
    for (i, item) in list.iter().enumerate() {
        match task(item) {
            Ok(t) => tasks.push(t),
            Err(e) => skipped.push(format!("task {}: {e}", i + 1)),
        }
    }
    Ok(TaskList {
        tasks,
        extra: field(data, "Extra", as_text)?,
        skipped,
    })
}

/// `DescribeDownloadBackupSetStorageInfo`: the links in `Data`.
pub fn parse_link(bytes: &[u8]) -> Result<ExportLink, ModelError> {
    let v = body("DescribeDownloadBackupSetStorageInfo", bytes)?;
    let data = v.get("Data").unwrap_or(&Value::Null);
    Ok(ExportLink {
        public_url: field(data, "PublicUrl", as_text)?,
        private_url: field(data, "PrivateUrl", as_text)?,
        expires_ms: field(data, "ExpirationTime", as_u64)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_read_strings_and_numbers_alike() {
        let listed = br#"{"RequestId":"r","Success":"true","Data":{"Extra":"",
            "Content":{"List":[{"TaskId":"dt-1","BakSetId":"32102007","DownloadStatus":"running",
            "Progress":"1/3","ExportDataSize":"1024","GmtCreate":"1700000000000"}]}}}"#;
        let list = parse_tasks(listed).unwrap();
        assert_eq!(list.extra, None);
        assert_eq!(
            list.tasks,
            vec![DownloadTask {
                task_id: "dt-1".into(),
                backup_set_id: "32102007".into(),
                status: TaskStatus::Running,
                progress: Some("1/3".into()),
                export_data_size: Some(1024),
                created_ms: Some(1_700_000_000_000),
            }]
        );
        let created = br#"{"Success":"true","Data":{"TaskId":"dt-2","BakSetId":"9",
            "DownloadStatus":"Initializing","ExportDataSize":0,"GmtCreate":1700000000000}}"#;
        let t = parse_created(created).unwrap();
        assert_eq!(
            (t.task_id.as_str(), t.status),
            ("dt-2", TaskStatus::Initializing)
        );
        assert!(TaskStatus::parse("someday").is_running());
        assert!(!TaskStatus::Failed.is_running());
    }

    #[test]
    fn support_link_and_bad_fields() {
        assert!(parse_support(br#"{"Success":"true","Data":"true"}"#).unwrap());
        assert!(!parse_support(br#"{"Success":"true","Data":"false"}"#).unwrap());
        let link = parse_link(
            br#"{"Data":{"PublicUrl":"https://a/x","PrivateUrl":"","ExpirationTime":1700000000000}}"#,
        )
        .unwrap();
        assert_eq!(link.public_url.as_deref(), Some("https://a/x"));
        assert_eq!(link.private_url, None);
        assert_eq!(link.expires_ms, Some(1_700_000_000_000));
        // One entry that is not a task is skipped with its reason; the others are read
        // (issue #21.16: one entry without `TaskId` failed the whole export).
        let bad = parse_tasks(
            br#"{"Data":{"Content":{"List":[{"TaskId":"dt-1","ExportDataSize":"lots"},{},
            {"TaskId":"dt-2","BakSetId":"7","DownloadStatus":"running"}]}}}"#,
        )
        .unwrap();
        assert_eq!(bad.tasks.len(), 1);
        assert_eq!(bad.tasks[0].task_id, "dt-2");
        assert_eq!(bad.skipped.len(), 2);
        assert!(
            bad.skipped[0].contains("ExportDataSize"),
            "{:?}",
            bad.skipped
        );
        assert!(bad.skipped[1].contains("TaskId"), "{:?}", bad.skipped);
        assert!(parse_tasks(br#"{"Data":{"Content":{"List":{}}}}"#).is_err());
    }
}
