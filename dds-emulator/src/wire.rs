//! Wire shapes of both endpoints: the API response structs and their JSON/XML rendering, the OSS
//! XML error body, and the date formats each side uses. `DescribeBackups` is here; the fleet
//! actions are in `wire/instances.rs` (`DescribeDBInstances`, `DescribeDBInstanceAttribute`) and
//! `wire/cluster.rs` (`DescribeClusterBackups`), the DBS download-task actions in `wire/dbs.rs`.
//!
//! Owns spelling and layout only (field names, order, JSON types, content types), checked against
//! the official SDK's models (`alibabacloud-dds20151201` 9.5.0); what to answer is decided by `api`
//! and `oss`.

mod cluster;
mod dbs;
mod instances;

pub(crate) use cluster::{ClusterBackupJson, ClusterBackupsResponse};
pub(crate) use dbs::{
    CreatedTaskJson, DbsResponse, StorageInfoJson, TaskContent, TaskPageJson, TaskRowJson,
};
pub(crate) use instances::{AttributeResponse, DbInstanceJson, DbInstances, InstancesResponse};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::format_description;

use super::data::{BackupRecord, fmt_seconds};

/// The `HostId` of OSS error bodies.
const OSS_HOST_ID: &str = "rdsbak-emulator.oss-cn-hangzhou.aliyuncs.com";

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DescribeResponse {
    pub total_count: usize,
    pub request_id: String,
    pub page_size: u32,
    pub page_number: u32,
    pub backups: Backups,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Backups {
    pub backup: Vec<BackupJson>,
}

/// The 17 fields in the order of the spec's example.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct BackupJson {
    backup_status: String,
    backup_type: String,
    backup_start_time: String,
    #[serde(rename = "BackupIntranetDownloadURL")]
    backup_intranet_download_url: String,
    backup_size: u64,
    #[serde(rename = "BackupDownloadURL")]
    backup_download_url: String,
    backup_mode: String,
    backup_end_time: String,
    /// A string, or a number under the `loose_types` fault.
    backup_id: Value,
    #[serde(rename = "BackupDBNames")]
    backup_db_names: String,
    backup_method: String,
    backup_job_id: String,
    backup_name: String,
    backup_scale: String,
    /// `true`/`false`, or `1`/`0` under the `loose_types` fault (the spec's example shows `1`).
    is_avail: Value,
    engine_version: String,
    backup_expire_time: String,
}

impl BackupJson {
    /// `urls` is `(public, intranet)`; empty strings when the backup has no object.
    pub fn new(b: &BackupRecord, urls: (String, String), loose: bool) -> BackupJson {
        let backup_id = match (loose, b.backup_id.parse::<u64>()) {
            (true, Ok(n)) => Value::from(n),
            _ => Value::from(b.backup_id.clone()),
        };
        BackupJson {
            backup_status: b.status.clone(),
            backup_type: b.backup_type.clone(),
            backup_start_time: fmt_seconds(b.start),
            backup_intranet_download_url: urls.1,
            backup_size: b.size,
            backup_download_url: urls.0,
            backup_mode: b.mode.clone(),
            backup_end_time: fmt_seconds(b.end),
            backup_id,
            backup_db_names: b.db_names.clone(),
            backup_method: b.method.clone(),
            backup_job_id: b.backup_job_id.clone(),
            backup_name: b.backup_name.clone(),
            backup_scale: b.scale.clone(),
            is_avail: if loose {
                Value::from(u8::from(b.is_avail))
            } else {
                Value::from(b.is_avail)
            },
            engine_version: b.engine_version.clone(),
            backup_expire_time: fmt_seconds(b.expire),
        }
    }
}

/// The answer as JSON or as XML. The XML root is `<Action>Response` (`action` is `None` for
/// errors, whose root is `Error`).
pub(crate) fn render(
    status: StatusCode,
    body: &Value,
    xml: bool,
    action: Option<&str>,
    request_id: &str,
) -> Response {
    let (content_type, text) = if xml {
        let root = match action {
            Some(action) => format!("{action}Response"),
            None => "Error".to_string(),
        };
        let mut out = String::from("<?xml version='1.0' encoding='UTF-8'?>");
        to_xml(&root, body, &mut out);
        ("text/xml;charset=utf-8", out)
    } else {
        ("application/json;charset=utf-8", body.to_string())
    };
    let mut resp = (status, text).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-acs-request-id", v);
    }
    resp
}

/// The POP XML shape: objects become nested elements, arrays repeat their parent's element name.
fn to_xml(name: &str, v: &Value, out: &mut String) {
    match v {
        Value::Array(items) => items.iter().for_each(|item| to_xml(name, item, out)),
        Value::Object(map) => {
            out.push_str(&format!("<{name}>"));
            for (k, item) in map {
                to_xml(k, item, out);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::String(s) => out.push_str(&format!("<{name}>{}</{name}>", xml_escape(s))),
        other => out.push_str(&format!("<{name}>{other}</{name}>")),
    }
}

pub(crate) fn oss_request_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    id[..24].to_string()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// An OSS error, answered as its XML body.
#[derive(Debug)]
pub(crate) struct OssError {
    status: u16,
    code: &'static str,
    message: String,
    /// The extra elements some codes carry (`Expires`, `StringToSign`, ...).
    extra: Vec<(&'static str, String)>,
}

pub(crate) fn oss_error(
    status: u16,
    code: &'static str,
    message: &str,
    extra: &[(&'static str, String)],
) -> OssError {
    OssError {
        status,
        code,
        message: message.to_string(),
        extra: extra.to_vec(),
    }
}

impl IntoResponse for OssError {
    fn into_response(self) -> Response {
        let id = oss_request_id();
        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{}</Code>\n  <Message>{}</Message>\n  <RequestId>{id}</RequestId>\n  <HostId>{OSS_HOST_ID}</HostId>\n",
            self.code,
            xml_escape(&self.message)
        );
        for (k, v) in &self.extra {
            xml.push_str(&format!("  <{k}>{}</{k}>\n", xml_escape(v)));
        }
        xml.push_str("</Error>\n");
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, xml).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        h.insert(header::SERVER, HeaderValue::from_static("AliyunOSS"));
        if let Ok(v) = HeaderValue::from_str(&id) {
            h.insert("x-oss-request-id", v);
        }
        resp
    }
}

/// `2024-05-26T04:33:11.000Z`, as in OSS error bodies.
pub(crate) fn iso_millis(t: OffsetDateTime) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.format(fmt).unwrap_or_default()
}

/// `Tue, 17 Nov 2015 17:27:45 GMT`.
pub(crate) fn http_date(t: OffsetDateTime) -> String {
    let fmt = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_rendering_repeats_array_elements() {
        let v = serde_json::json!({"Backups": {"Backup": [{"BackupId": "1"}, {"BackupId": "2"}]}, "TotalCount": 2});
        let mut out = String::new();
        to_xml("R", &v, &mut out);
        assert_eq!(
            out,
            "<R><Backups><Backup><BackupId>1</BackupId></Backup><Backup><BackupId>2</BackupId></Backup></Backups><TotalCount>2</TotalCount></R>"
        );
    }

    #[test]
    fn dates_format_like_oss() {
        let t = time::macros::datetime!(2015-11-17 17:27:45 UTC);
        assert_eq!(http_date(t), "Tue, 17 Nov 2015 17:27:45 GMT");
        assert_eq!(iso_millis(t), "2015-11-17T17:27:45.000Z");
    }
}
