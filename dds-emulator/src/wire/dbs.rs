//! Wire shapes of the DBS download-task actions (version 2021-01-01).
//!
//! Types follow the official SDK models (`alibabacloud-dbs20210101` 3.0.0, the same as the C#
//! `dbs-20210101` models): every body carries `RequestId`, `Success` (a *string*, "true" or
//! "false"), `Code`, `ErrCode`, `ErrMessage`, `Message` and `Data`. `CreateDownload`'s task has
//! `GmtCreate`, `BackupSetTime`, `ExportDataSize` and `ImportDataSize` as numbers, while the
//! rows of `DescribeDownloadTask` carry the same fields as strings; `ExpirationTime` is a number
//! (ms). `DescribeDownloadSupport`'s `Data` is the string "true"/"false".

use serde::Serialize;
use serde_json::Value;

use crate::data::{DownloadStatus, DownloadTask, unix_millis};

/// The envelope of every DBS answer; a refusal has no `Data`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DbsResponse {
    request_id: String,
    success: &'static str,
    code: String,
    err_code: String,
    err_message: String,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Value>,
}

impl DbsResponse {
    /// Success: `Code` "200" and `Message` "successful" (UNCONFIRMED: the values the service
    /// sends on success are not documented; clients should look at `Success` only).
    pub fn ok(request_id: &str, data: Value) -> DbsResponse {
        DbsResponse {
            request_id: request_id.to_string(),
            success: "true",
            code: "200".into(),
            err_code: String::new(),
            err_message: String::new(),
            message: "successful".into(),
            data: Some(data),
        }
    }

    /// A business refusal (HTTP 200): `Code` and `ErrCode` both `code`, `Message` and
    /// `ErrMessage` both `message`.
    pub fn refused(request_id: &str, code: &str, message: &str) -> DbsResponse {
        DbsResponse {
            request_id: request_id.to_string(),
            success: "false",
            code: code.into(),
            err_code: code.into(),
            err_message: message.into(),
            message: message.into(),
            data: None,
        }
    }
}

/// `CreateDownload`'s `Data`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreatedTaskJson {
    task_id: String,
    bak_set_id: String,
    download_status: &'static str,
    gmt_create: i64,
    export_data_size: u64,
    import_data_size: u64,
    format: String,
    progress: String,
    region_code: String,
    target_type: String,
    backup_set_time: i64,
    db_list: String,
    target_path: String,
}

impl CreatedTaskJson {
    pub fn new(t: &DownloadTask) -> CreatedTaskJson {
        CreatedTaskJson {
            task_id: t.task_id.clone(),
            bak_set_id: t.spec.bak_set_id.clone(),
            download_status: DownloadStatus::Initializing.as_str(),
            gmt_create: unix_millis(t.created),
            export_data_size: 0,
            import_data_size: t.spec.import_size,
            format: t.spec.format.clone(),
            progress: "0/0".into(),
            region_code: t.spec.region.clone(),
            target_type: t.spec.target_type.clone(),
            backup_set_time: unix_millis(t.spec.backup_set_time),
            db_list: String::new(),
            target_path: String::new(),
        }
    }
}

/// `DescribeDownloadTask`'s `Data`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TaskPageJson {
    pub content: TaskContent,
    pub page_number: u64,
    pub page_size: u64,
    pub total_elements: u64,
    pub total_pages: u64,
    /// Why the failed tasks of this page failed (one line each); empty otherwise.
    pub extra: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TaskContent {
    pub list: Vec<TaskRowJson>,
}

/// One row of `Data.Content.List`: every field a string.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TaskRowJson {
    task_id: String,
    bak_set_id: String,
    backup_set_time: String,
    download_status: &'static str,
    progress: String,
    format: String,
    export_data_size: String,
    import_data_size: String,
    target_type: String,
    gmt_create: String,
    region_code: String,
    db_list: String,
    target_path: String,
}

impl TaskRowJson {
    /// `status` and `progress` as this poll reports them; `export_size` is 0 until finished.
    pub fn new(
        t: &DownloadTask,
        status: DownloadStatus,
        progress: String,
        export_size: u64,
    ) -> TaskRowJson {
        TaskRowJson {
            task_id: t.task_id.clone(),
            bak_set_id: if t.spec.script.nameless_rows {
                String::new()
            } else {
                t.spec.bak_set_id.clone()
            },
            backup_set_time: unix_millis(t.spec.backup_set_time).to_string(),
            download_status: status.as_str(),
            progress,
            format: t.spec.format.clone(),
            export_data_size: export_size.to_string(),
            import_data_size: t.spec.import_size.to_string(),
            target_type: t.spec.target_type.clone(),
            gmt_create: unix_millis(t.created).to_string(),
            region_code: t.spec.region.clone(),
            db_list: String::new(),
            target_path: String::new(),
        }
    }
}

/// `DescribeDownloadBackupSetStorageInfo`'s `Data`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StorageInfoJson {
    pub public_url: String,
    pub private_url: String,
    /// ms since the epoch.
    pub expiration_time: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DbsScript, DownloadTasks, NewTask};
    use time::macros::datetime;

    #[test]
    fn numbers_where_the_sdk_has_numbers_and_strings_in_rows() {
        let t0 = datetime!(2030-06-01 12:00:00 UTC);
        let mut tasks = DownloadTasks::default();
        let spec = NewTask {
            instance: "dds-a".into(),
            region: "cn-hangzhou".into(),
            bak_set_id: "7".into(),
            backup_set_time: t0,
            import_size: 100,
            format: "BSON".into(),
            target_type: "URL".into(),
            zstd: true,
            script: DbsScript::default(),
        };
        let t = tasks.create(spec, t0).unwrap();
        let created = serde_json::to_value(CreatedTaskJson::new(t)).unwrap();
        assert_eq!(created["GmtCreate"], 1_906_545_600_000i64);
        assert_eq!(created["BackupSetTime"], 1_906_545_600_000i64);
        assert_eq!(created["ExportDataSize"], 0);
        assert_eq!(
            (&created["DownloadStatus"], &created["Progress"]),
            (&"initializing".into(), &"0/0".into())
        );
        let row = serde_json::to_value(TaskRowJson::new(
            t,
            DownloadStatus::Finished,
            "3/3".into(),
            4096,
        ))
        .unwrap();
        assert_eq!(row["GmtCreate"], "1906545600000");
        assert_eq!(row["ExportDataSize"], "4096");
        assert_eq!(row["ImportDataSize"], "100");
        assert_eq!(row["DownloadStatus"], "finished");
        let ok = serde_json::to_value(DbsResponse::ok("r", Value::from("true"))).unwrap();
        assert_eq!(
            (&ok["Success"], &ok["Data"]),
            (&"true".into(), &"true".into())
        );
        let no = serde_json::to_value(DbsResponse::refused("r", "X", "why")).unwrap();
        assert_eq!(
            (&no["Success"], &no["ErrCode"], &no["Code"]),
            (&"false".into(), &"X".into(), &"X".into())
        );
        assert!(no.get("Data").is_none());
    }
}
