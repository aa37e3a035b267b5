//! `DescribeBackups` wire types, exactly as the API spells them, and their conversion into the
//! domain [`Backup`].
//!
//! Real responses are looser than the published schema (`BackupId` as string or number, `IsAvail`
//! as bool or 0/1, `BackupSize` as number or numeric string, fields missing), so the wire structs
//! hold raw JSON values and the conversion names the field that is wrong. One malformed backup is
//! rejected on its own and does not hide the others. No I/O here.

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use crate::model::Backup;
use crate::text::shown;

/// A backup whose `BackupExpireTime` is this value is retained forever.
pub const FOREVER: &str = "9999-01-01T00:00:00Z";

/// A `DescribeBackups` response body as sent.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WirePage {
    pub request_id: Option<String>,
    pub total_count: Option<Value>,
    pub page_number: Option<Value>,
    pub page_size: Option<Value>,
    pub backups: Option<WireBackups>,
}

#[derive(Debug, Deserialize)]
pub struct WireBackups {
    #[serde(rename = "Backup", default)]
    pub backup: Vec<Value>,
}

/// One backup as sent; every field optional and untyped so the conversion can name the culprit.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WireBackup {
    pub backup_id: Option<Value>,
    pub backup_job_id: Option<Value>,
    pub backup_status: Option<Value>,
    pub backup_type: Option<Value>,
    pub backup_method: Option<Value>,
    pub backup_mode: Option<Value>,
    pub backup_start_time: Option<Value>,
    pub backup_end_time: Option<Value>,
    pub backup_expire_time: Option<Value>,
    pub backup_size: Option<Value>,
    #[serde(rename = "BackupDownloadURL")]
    pub backup_download_url: Option<Value>,
    #[serde(rename = "BackupIntranetDownloadURL")]
    pub backup_intranet_download_url: Option<Value>,
    #[serde(rename = "BackupDBNames")]
    pub backup_db_names: Option<Value>,
    pub backup_name: Option<Value>,
    pub backup_scale: Option<Value>,
    pub is_avail: Option<Value>,
    pub engine_version: Option<Value>,
}

/// A decoded page: the backups that made sense, and a reason for each one that did not.
#[derive(Debug, Clone)]
pub struct Page {
    pub request_id: String,
    pub total_count: u64,
    pub page_number: u64,
    pub page_size: u64,
    pub backups: Vec<Backup>,
    pub rejected: Vec<ModelError>,
}

/// Why a page or one backup was not understood. The id and the reasons may quote the API's
/// text, so `Display` shows them as data ([`crate::text::shown`]): they are logged and listed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("response body is not valid DescribeBackups JSON: {}", shown(reason))]
    Body { reason: String },
    #[error("response body is not a valid {what} answer: {}", shown(reason))]
    Shape { what: &'static str, reason: String },
    #[error("response field {field} is invalid: {}", shown(reason))]
    PageField { field: &'static str, reason: String },
    #[error(
        "backup {}: field {field} is invalid: {}",
        shown(backup_id),
        shown(reason)
    )]
    Field {
        backup_id: String,
        field: &'static str,
        reason: String,
    },
}

/// Decodes a whole response body.
///
/// # Errors
/// The body is not JSON, or a page-level field (`TotalCount`, `Backups`) is missing or wrong.
/// Problems inside one backup land in [`Page::rejected`] instead.
pub fn parse_page(body: &[u8]) -> Result<Page, ModelError> {
    let wire: WirePage = serde_json::from_slice(body).map_err(|e| ModelError::Body {
        reason: e.to_string(),
    })?;
    let total_count = match &wire.total_count {
        Some(v) => as_u64(v).map_err(|reason| ModelError::PageField {
            field: "TotalCount",
            reason,
        })?,
        None => {
            return Err(ModelError::PageField {
                field: "TotalCount",
                reason: "missing".into(),
            });
        }
    };
    let number = |field: &'static str, v: &Option<Value>| -> Result<u64, ModelError> {
        v.as_ref()
            .map(as_u64)
            .transpose()
            .map(|n| n.unwrap_or(0))
            .map_err(|reason| ModelError::PageField { field, reason })
    };
    let page_number = number("PageNumber", &wire.page_number)?;
    let page_size = number("PageSize", &wire.page_size)?;
    let raw = match wire.backups {
        Some(b) => b.backup,
        None if total_count == 0 => Vec::new(),
        None => {
            return Err(ModelError::PageField {
                field: "Backups",
                reason: "missing".into(),
            });
        }
    };
    let mut backups = Vec::with_capacity(raw.len());
    let mut rejected = Vec::new();
    for (i, value) in raw.into_iter().enumerate() {
        match serde_json::from_value::<WireBackup>(value)
            .map_err(|e| ModelError::Field {
                backup_id: format!("#{i}"),
                field: "Backup",
                reason: e.to_string(),
            })
            .and_then(Backup::try_from)
        {
            Ok(b) => backups.push(b),
            Err(e) => rejected.push(e),
        }
    }
    Ok(Page {
        request_id: wire.request_id.unwrap_or_default(),
        total_count,
        page_number,
        page_size,
        backups,
        rejected,
    })
}

impl TryFrom<WireBackup> for Backup {
    type Error = ModelError;

    fn try_from(w: WireBackup) -> Result<Self, ModelError> {
        let backup_id = match w.backup_id.as_ref().map(as_id) {
            Some(Ok(id)) => id,
            Some(Err(reason)) => {
                return Err(ModelError::Field {
                    backup_id: "?".into(),
                    field: "BackupId",
                    reason,
                });
            }
            None => {
                return Err(ModelError::Field {
                    backup_id: "?".into(),
                    field: "BackupId",
                    reason: "missing".into(),
                });
            }
        };
        let err = |field: &'static str| {
            let id = backup_id.clone();
            move |reason: String| ModelError::Field {
                backup_id: id,
                field,
                reason,
            }
        };
        let text = |field: &'static str, v: &Option<Value>| -> Result<Option<String>, ModelError> {
            v.as_ref().map(as_text).transpose().map_err(err(field))
        };
        let when = |field: &'static str,
                    v: &Option<Value>|
         -> Result<Option<OffsetDateTime>, ModelError> {
            match text(field, v)? {
                Some(s) if !s.is_empty() => parse_time(&s).map(Some).map_err(err(field)),
                _ => Ok(None),
            }
        };
        let url = |field: &'static str, v: &Option<Value>| -> Result<Option<String>, ModelError> {
            // An empty URL means "no URL for this network".
            Ok(text(field, v)?.filter(|s| !s.trim().is_empty()))
        };
        Ok(Backup {
            backup_job_id: w
                .backup_job_id
                .as_ref()
                .filter(|v| !v.is_null())
                .map(as_id)
                .transpose()
                .map_err(err("BackupJobId"))?,
            backup_status: text("BackupStatus", &w.backup_status)?
                .ok_or_else(|| err("BackupStatus")("missing".into()))?,
            backup_type: text("BackupType", &w.backup_type)?,
            backup_method: text("BackupMethod", &w.backup_method)?,
            backup_mode: text("BackupMode", &w.backup_mode)?,
            backup_start_time: when("BackupStartTime", &w.backup_start_time)?,
            backup_end_time: when("BackupEndTime", &w.backup_end_time)?,
            backup_expire_time: when("BackupExpireTime", &w.backup_expire_time)?,
            backup_size: w
                .backup_size
                .as_ref()
                .filter(|v| !v.is_null())
                .map(as_u64)
                .transpose()
                .map_err(err("BackupSize"))?,
            download_url: url("BackupDownloadURL", &w.backup_download_url)?,
            intranet_download_url: url(
                "BackupIntranetDownloadURL",
                &w.backup_intranet_download_url,
            )?,
            backup_db_names: text("BackupDBNames", &w.backup_db_names)?,
            backup_name: text("BackupName", &w.backup_name)?,
            backup_scale: text("BackupScale", &w.backup_scale)?,
            is_avail: match &w.is_avail {
                None | Some(Value::Null) => false,
                Some(v) => as_bool(v).map_err(err("IsAvail"))?,
            },
            engine_version: text("EngineVersion", &w.engine_version)?,
            backup_id,
        })
    }
}

/// Parses the API's UTC times (`yyyy-MM-ddTHH:mm:ssZ`); also takes the minute-precision form.
pub fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| {
            // `2022-01-13T13:00Z`: minute precision, as StartTime/EndTime are written.
            let with_seconds = s
                .strip_suffix('Z')
                .filter(|p| p.len() == 16)
                .map(|p| format!("{p}:00Z"))
                .ok_or(())?;
            OffsetDateTime::parse(&with_seconds, &Rfc3339).map_err(|_| ())
        })
        .map_err(|_| format!("{s:?} is not a UTC time like 2022-01-14T03:56:17Z"))
}

pub(super) fn as_id(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::Number(n) if n.is_u64() => Ok(n.to_string()),
        other => Err(format!(
            "expected a non-empty string or integer, got {}",
            kind(other)
        )),
    }
}

pub(super) fn as_text(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(format!("expected a string, got {}", kind(other))),
    }
}

pub(super) fn as_u64(v: &Value) -> Result<u64, String> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| format!("expected a non-negative integer, got {n}")),
        Value::String(s) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("expected a non-negative integer, got {s:?}")),
        other => Err(format!("expected an integer, got {}", kind(other))),
    }
}

pub(super) fn as_bool(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(format!("expected true/false or 1/0, got {s:?}")),
        },
        other => Err(format!("expected true/false or 1/0, got {}", kind(other))),
    }
}

fn kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{:?}", truncate(s, 40)),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

pub mod dbs;
pub mod fleet;
#[cfg(test)]
mod tests;
