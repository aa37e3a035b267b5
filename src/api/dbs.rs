//! The DBS download-task client: the calls that export a cloud-disk instance's snapshot backup
//! (`shared/docs/alibaba-fleet.md`, "Snapshot backups"). It is an [`ApiClient`] of another
//! `Version` ([`ApiClient::for_product`]): the same signer, credentials, retry budget and error
//! classification as the dds calls, and a DBS refusal (HTTP 200 with `"Success": "false"`)
//! comes back as [`ApiError::Service`] with the service's own code and message.

use std::time::Duration;

use super::client::ApiClient;
use super::error::ApiError;
use super::fleet::decode;
use super::model::dbs::{self, DownloadTask, ExportLink, TaskList};

/// The DBS API version of the download-task actions.
pub const VERSION: &str = "2021-01-01";
/// `DescribeDownloadBackupSetStorageInfo` accepts `Duration` in this range (seconds).
pub const LINK_DURATION: std::ops::RangeInclusive<u64> = 300..=86_400;

/// One region's DBS API.
#[derive(Debug, Clone)]
pub struct DbsClient {
    api: ApiClient,
}

/// What `CreateDownload` is asked for: one full backup set, exported as a zstd-compressed
/// archive behind a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    pub instance_id: String,
    pub backup_id: String,
    /// `BakSetSize`, as `DescribeBackups` listed it.
    pub backup_size: u64,
    /// `FormatType` (`snapshots.format_type`).
    pub format_type: String,
}

impl DbsClient {
    /// The DBS client of `region_id` at `endpoint`, sharing `base`'s transport and credentials.
    pub fn new(base: &ApiClient, region_id: &str, endpoint: &str) -> DbsClient {
        DbsClient {
            api: base.for_product(VERSION, region_id, endpoint),
        }
    }

    pub fn endpoint(&self) -> &str {
        self.api.endpoint()
    }

    fn region(&self) -> (String, String) {
        ("RegionCode".into(), self.api.region_id().to_string())
    }

    /// `DescribeDownloadSupport`: whether DBS can export this instance's backups.
    ///
    /// # Errors
    /// The call failed after its retries, was refused, or its answer could not be read.
    pub async fn supports(&self, instance_id: &str) -> Result<bool, ApiError> {
        const ACTION: &str = "DescribeDownloadSupport";
        let params = [self.region(), ("InstanceName".into(), instance_id.into())];
        let (body, request_id) = self.api.call(ACTION, &params).await?;
        dbs::parse_support(&body).map_err(decode(ACTION, instance_id, request_id))
    }

    /// `CreateDownload`: a task that exports one full backup set to a URL, as `tar.zst`.
    ///
    /// # Errors
    /// As [`DbsClient::supports`]; DBS refuses a second task while one runs, and any new
    /// task while a failed one waits for a retry.
    pub async fn create(&self, req: &CreateRequest) -> Result<DownloadTask, ApiError> {
        const ACTION: &str = "CreateDownload";
        let params = [
            self.region(),
            ("InstanceName".into(), req.instance_id.clone()),
            ("BakSetType".into(), "full".into()),
            ("BakSetId".into(), req.backup_id.clone()),
            ("BakSetSize".into(), req.backup_size.to_string()),
            ("TargetType".into(), "URL".into()),
            // The FormatType value for MongoDB is not documented (the docstring lists CSV, SQL
            // and Parquet): `snapshots.format_type`, "BSON" unless set.
            ("FormatType".into(), req.format_type.clone()),
            ("UseZstd".into(), "true".into()),
        ];
        let (body, request_id) = self.api.call(ACTION, &params).await?;
        let target = format!("backup {} of {}", req.backup_id, req.instance_id);
        dbs::parse_created(&body).map_err(decode(ACTION, &target, request_id))
    }

    /// `DescribeDownloadTask` for one backup set of an instance (`None`: all of the
    /// instance's): the tasks, newest first (the first page of 100 is plenty: one task runs at a
    /// time).
    ///
    /// # Errors
    /// As [`DbsClient::supports`].
    pub async fn tasks(
        &self,
        instance_id: &str,
        backup_id: Option<&str>,
    ) -> Result<TaskList, ApiError> {
        const ACTION: &str = "DescribeDownloadTask";
        let mut params = vec![
            self.region(),
            ("InstanceName".into(), instance_id.into()),
            ("CurrentPage".into(), "1".into()),
            ("PageSize".into(), "100".into()),
            ("OrderColumn".into(), "gmt_create".into()),
            ("OrderDirect".into(), "desc".into()),
        ];
        if let Some(id) = backup_id {
            params.push(("BackupSetId".into(), id.into()));
        }
        let (body, request_id) = self.api.call(ACTION, &params).await?;
        let target = match backup_id {
            Some(id) => format!("backup {id} of {instance_id}"),
            None => format!("instance {instance_id}"),
        };
        dbs::parse_tasks(&body).map_err(decode(ACTION, &target, request_id))
    }

    /// `DescribeDownloadBackupSetStorageInfo`: fresh links to a finished task's archive, valid
    /// for `valid_for` (clamped to what the API accepts).
    ///
    /// # Errors
    /// As [`DbsClient::supports`].
    pub async fn link(&self, task_id: &str, valid_for: Duration) -> Result<ExportLink, ApiError> {
        const ACTION: &str = "DescribeDownloadBackupSetStorageInfo";
        let secs = valid_for
            .as_secs()
            .clamp(*LINK_DURATION.start(), *LINK_DURATION.end());
        let params = [
            self.region(),
            ("TaskId".into(), task_id.into()),
            ("Duration".into(), secs.to_string()),
        ];
        let (body, request_id) = self.api.call(ACTION, &params).await?;
        dbs::parse_link(&body).map_err(decode(ACTION, task_id, request_id))
    }

    /// `RetryDownloadTask`: runs a failed task again.
    ///
    /// # Errors
    /// As [`DbsClient::supports`].
    pub async fn retry(&self, instance_id: &str, task_id: &str) -> Result<(), ApiError> {
        const ACTION: &str = "RetryDownloadTask";
        let params = [
            self.region(),
            ("InstanceName".into(), instance_id.into()),
            ("TaskId".into(), task_id.into()),
        ];
        self.api.call(ACTION, &params).await.map(|_| ())
    }
}
