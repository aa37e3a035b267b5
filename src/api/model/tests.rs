use super::*;

const SPEC_EXAMPLE: &str = r#"{
  "TotalCount": 1, "RequestId": "275D43C3-F12F-5224-B375-************",
  "PageSize": 30, "PageNumber": 1,
  "Backups": { "Backup": [ {
    "BackupStatus": "Success", "BackupType": "FullBackup",
    "BackupStartTime": "2022-01-14T03:56:17Z",
    "BackupIntranetDownloadURL": "http://rdsbak-hz-v3.oss-cn-hangzhou-internal.aliyuncs.com/custins5559/hins1936_data_20220525040000_qp.xb?Expires=165361&OSSAccessKeyId=x&Signature=y&Region=cn-hangzhou",
    "BackupSize": 6168576,
    "BackupDownloadURL": "http://rdsbak-hz-v3.oss-cn-hangzhou.aliyuncs.com/custins5559/hins1936_data_20220525040000_qp.xb?Expires=165361&OSSAccessKeyId=x&Signature=y&Region=cn-hangzhou",
    "BackupMode": "Automated", "BackupEndTime": "2022-01-14T03:57:34Z",
    "BackupId": "32102****", "BackupDBNames": "database", "BackupMethod": "Physical",
    "BackupJobId": "1123xxxx", "BackupName": "12345678.tar.gz", "BackupScale": "DBInstance",
    "IsAvail": true, "EngineVersion": "4.2", "BackupExpireTime": "2025-08-30T09:49:11Z"
  } ] } }"#;

#[test]
fn spec_example_parses_every_field() {
    let page = parse_page(SPEC_EXAMPLE.as_bytes()).unwrap();
    assert_eq!(page.total_count, 1);
    assert_eq!(page.page_size, 30);
    assert!(page.rejected.is_empty());
    let b = &page.backups[0];
    assert_eq!(b.backup_id, "32102****");
    assert_eq!(b.backup_job_id.as_deref(), Some("1123xxxx"));
    assert_eq!(b.backup_size, Some(6_168_576));
    assert!(b.is_avail && b.is_success());
    assert_eq!(b.backup_method.as_deref(), Some("Physical"));
    assert_eq!(b.backup_db_names.as_deref(), Some("database"));
    assert_eq!(b.engine_version.as_deref(), Some("4.2"));
    assert_eq!(b.backup_scale.as_deref(), Some("DBInstance"));
    assert_eq!(b.backup_name.as_deref(), Some("12345678.tar.gz"));
    assert_eq!(
        b.backup_expire_time.unwrap(),
        time::macros::datetime!(2025-08-30 09:49:11 UTC)
    );
    assert!(
        b.download_url
            .as_deref()
            .unwrap()
            .contains("oss-cn-hangzhou.aliyuncs")
    );
    assert!(
        b.intranet_download_url
            .as_deref()
            .unwrap()
            .contains("internal")
    );
}

fn one(backup: &str) -> Result<Backup, ModelError> {
    let body = format!(r#"{{"TotalCount":1,"Backups":{{"Backup":[{backup}]}}}}"#);
    let page = parse_page(body.as_bytes()).unwrap();
    match (page.backups.first(), page.rejected.first()) {
        (Some(b), None) => Ok(b.clone()),
        (None, Some(e)) => Err(e.clone()),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn lenient_types_are_accepted() {
    let b = one(r#"{"BackupId":2072,"BackupJobId":775051,"BackupStatus":"Success","IsAvail":1,"BackupSize":"6168576"}"#).unwrap();
    assert_eq!(b.backup_id, "2072");
    assert_eq!(b.backup_job_id.as_deref(), Some("775051"));
    assert!(b.is_avail);
    assert_eq!(b.backup_size, Some(6_168_576));
    let b = one(r#"{"BackupId":"1","BackupStatus":"Failed","IsAvail":0,"BackupDownloadURL":""}"#)
        .unwrap();
    assert!(!b.is_avail && !b.is_success());
    assert_eq!(b.download_url, None, "empty URL means no URL");
    assert_eq!(b.backup_size, None);
}

#[test]
fn bad_fields_are_named() {
    for (json, field) in [
        (r#"{"BackupStatus":"Success"}"#, "BackupId"),
        (
            r#"{"BackupId":"1","BackupStatus":"Success","BackupSize":-5}"#,
            "BackupSize",
        ),
        (
            r#"{"BackupId":"1","BackupStatus":"Success","BackupSize":"lots"}"#,
            "BackupSize",
        ),
        (
            r#"{"BackupId":"1","BackupStatus":"Success","IsAvail":"maybe"}"#,
            "IsAvail",
        ),
        (
            r#"{"BackupId":"1","BackupStatus":"Success","BackupEndTime":"yesterday"}"#,
            "BackupEndTime",
        ),
        (r#"{"BackupId":"1"}"#, "BackupStatus"),
        (r#"{"BackupId":{},"BackupStatus":"Success"}"#, "BackupId"),
        (
            r#"{"BackupId":"1","BackupStatus":"Success","BackupDownloadURL":[1]}"#,
            "BackupDownloadURL",
        ),
    ] {
        match one(json) {
            Err(ModelError::Field { field: f, .. }) => assert_eq!(f, field, "{json}"),
            other => panic!("{json}: expected an error on {field}, got {other:?}"),
        }
    }
}

#[test]
fn page_level_errors() {
    assert!(matches!(
        parse_page(b"<xml/>"),
        Err(ModelError::Body { .. })
    ));
    assert!(matches!(
        parse_page(br#"{"TotalCount":3"#),
        Err(ModelError::Body { .. })
    ));
    assert!(matches!(
        parse_page(br#"{"TotalCount":3}"#),
        Err(ModelError::PageField {
            field: "Backups",
            ..
        })
    ));
    assert!(matches!(
        parse_page(br#"{"Backups":{"Backup":[]}}"#),
        Err(ModelError::PageField {
            field: "TotalCount",
            ..
        })
    ));
    let empty = parse_page(br#"{"TotalCount":0}"#).unwrap();
    assert!(empty.backups.is_empty());
}

#[test]
fn times() {
    assert!(parse_time("2022-01-13T13:00Z").is_ok());
    assert!(parse_time(FOREVER).unwrap().year() == 9999);
    assert!(parse_time("2022-13-01T00:00:00Z").is_err());
}

#[test]
fn rejections_show_the_api_text_as_data() {
    let err = one(r#"{"BackupId":"a\nb\u001b[2J","BackupStatus":"Success","IsAvail":"x\ny"}"#)
        .unwrap_err();
    let msg = err.to_string();
    assert!(!msg.contains(['\n', '\u{1b}']), "{msg}");
    assert!(
        msg.starts_with(r"backup a\nb\u{1b}[2J: field IsAvail"),
        "{msg}"
    );
}
