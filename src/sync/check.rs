//! The decision between download and commit: are these bytes the object's (rule 1 of the
//! integrity contract, RELIABILITY.md)? The length must be exactly `BackupSize` and the CRC-64
//! must match whenever a response announced one; then the manifest to commit is built, with the
//! format verdict the sink found, which is recorded and never a reason to throw the cloud's
//! bytes away (rule 2). Pure: the facts and `now` come in.

use time::OffsetDateTime;

use super::error::DownloadError;
use super::plan::Fetch;
use super::sink::Written;
use crate::model::Manifest;

/// The manifest to commit for `written`, or why the bytes are not the object's.
///
/// # Errors
/// [`DownloadError::Size`] or [`DownloadError::Crc`]: the partial file must be discarded.
pub fn check(
    fetch: &Fetch,
    written: &Written,
    crc: Option<u64>,
    now: OffsetDateTime,
) -> Result<Manifest, DownloadError> {
    let backup = fetch.key.label();
    if written.len != fetch.size {
        return Err(DownloadError::Size {
            backup,
            what: "the downloaded file differs from BackupSize",
            expected: fetch.size,
            got: written.len,
        });
    }
    if let Some(expected) = crc.filter(|c| *c != written.crc64) {
        return Err(DownloadError::Crc {
            backup,
            expected,
            got: written.crc64,
        });
    }
    Ok(Manifest {
        format: 1,
        instance_id: fetch.key.instance_id.clone(),
        node_id: fetch.key.node_id.clone(),
        cluster_backup_id: fetch.key.cluster.then(|| fetch.key.backup_id.clone()),
        backup: fetch.backup.clone(),
        file: fetch.file_name.clone(),
        size: written.len,
        sha256: written.sha256.clone(),
        crc64: written.crc64.to_string(),
        crc64_checked: crc.is_some(),
        format_verdict: Some(written.verdict.verdict),
        format_detail: written.verdict.detail.clone(),
        rot: None,
        export: fetch.export.clone(),
        downloaded_at: now,
        verified_at: now,
    })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::model::{BackupKey, FormatVerdict, Verdict};
    use crate::sync::plan::Via;

    fn fetch() -> Fetch {
        let backup: crate::model::Backup = serde_json::from_value(serde_json::json!({
            "BackupId": "7", "BackupStatus": "Success", "IsAvail": true, "BackupSize": 4
        }))
        .unwrap();
        Fetch {
            key: BackupKey {
                instance_id: "dds-1".into(),
                node_id: None,
                backup_id: "7".into(),
                cluster: false,
            },
            backup,
            file_name: "a_qp.xb".into(),
            url: "http://oss/a_qp.xb".into(),
            via: Via::Public,
            fallback: None,
            size: 4,
            resume_from: 0,
            export: None,
            awaits_archive: false,
        }
    }

    fn written(len: u64, crc64: u64, verdict: Verdict) -> Written {
        Written {
            len,
            sha256: "ab".into(),
            crc64,
            verdict: FormatVerdict {
                verdict,
                detail: (verdict == Verdict::Damaged).then(|| "at byte 3: bad".to_string()),
            },
        }
    }

    #[test]
    fn size_and_crc_decide_and_the_verdict_is_only_recorded() {
        let now = datetime!(2026-12-01 12:00 UTC);
        let f = fetch();
        let ok = check(&f, &written(4, 9, Verdict::Ok), Some(9), now).unwrap();
        assert!(ok.crc64_checked && ok.size == 4 && ok.downloaded_at == now);
        let unchecked = check(&f, &written(4, 9, Verdict::Ok), None, now).unwrap();
        assert!(!unchecked.crc64_checked);
        let damaged = check(&f, &written(4, 9, Verdict::Damaged), Some(9), now).unwrap();
        assert_eq!(damaged.format_verdict, Some(Verdict::Damaged));
        assert_eq!(damaged.format_detail.as_deref(), Some("at byte 3: bad"));
        let short = check(&f, &written(3, 9, Verdict::Ok), Some(9), now).unwrap_err();
        assert_eq!(short.kind(), "size_mismatch");
        let wrong = check(&f, &written(4, 8, Verdict::Ok), Some(9), now).unwrap_err();
        assert_eq!(wrong.kind(), "crc_mismatch");
    }
}
