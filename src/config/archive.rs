//! `[archive]`: the S3-compatible object store that verified copies are uploaded to (and its
//! own retention, `[archive.prune]`), every error naming its key (`archive.key`).
//!
//! The credentials are the store's own (`archive.access_key_id` / `secret_access_key`, or the
//! environment's `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`), never the Alibaba API's: the
//! archive is often another cloud, and a key that can delete backups there should not also
//! list them here.

use std::collections::HashMap;

use super::raw::RawArchive;
use super::sections::{Bad, DurationOf};
use super::{ConfigError, PruneSettings, check_endpoint};
use crate::secret::Secret;

/// S3's floor for every part of a multipart upload but the last.
pub const MIN_PART: u64 = 5 * 1024 * 1024;
/// S3's ceiling for one part.
const MAX_PART: u64 = 5 * 1024 * 1024 * 1024;

/// `[archive]`, validated.
#[derive(Debug, Clone)]
pub struct ArchiveSettings {
    /// `s3://bucket/prefix` as written (for messages).
    pub url: String,
    pub bucket: String,
    /// Object names start with this (no leading or trailing `/`; empty: the bucket's root).
    pub prefix: String,
    /// `None`: AWS S3 for `region`.
    pub endpoint: Option<String>,
    pub region: String,
    /// `bucket` in the path (`http://host/bucket/key`) rather than in the host name.
    pub path_style: bool,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// Bytes per part of a multipart upload; files up to this size go in one PUT.
    pub part_size: u64,
    /// Parts of one file in flight at once (memory: `uploads` × `part_size`).
    pub uploads: usize,
    /// `[archive.prune]`; `None`: the archive keeps every copy (nothing is ever deleted there).
    pub prune: Option<PruneSettings>,
}

pub(super) fn validate(
    raw: RawArchive,
    env: &HashMap<String, String>,
    bad: Bad<'_>,
    duration: DurationOf<'_>,
) -> Result<ArchiveSettings, ConfigError> {
    let url = raw.url.filter(|u| !u.trim().is_empty()).ok_or_else(|| {
        bad(
            "archive.url",
            "is required, like \"s3://bucket/prefix\"".into(),
        )
    })?;
    let (bucket, prefix) = parse_url(url.trim()).map_err(|r| bad("archive.url", r))?;
    let endpoint = match raw.endpoint.filter(|e| !e.trim().is_empty()) {
        Some(e) => Some(check_endpoint(&e).map_err(|r| bad("archive.endpoint", r))?),
        None => None,
    };
    let region = raw
        .region
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "us-east-1".into());
    let (access_key_id, secret_access_key) =
        credentials(raw.access_key_id, raw.secret_access_key, env, bad)?;
    let part_size = match raw.part_size {
        None => 16 * 1024 * 1024,
        Some(text) => crate::units::parse_size(&text).map_err(|r| bad("archive.part_size", r))?,
    };
    if !(MIN_PART..=MAX_PART).contains(&part_size) {
        return Err(bad(
            "archive.part_size",
            format!(
                "must be between 5MiB and 5GiB, S3's limits for one part (got {part_size} bytes)"
            ),
        ));
    }
    let uploads = match raw.uploads {
        None => 4,
        Some(n @ 1..=32) => n as usize,
        Some(n) => {
            return Err(bad(
                "archive.uploads",
                format!("must be between 1 and 32 (got {n})"),
            ));
        }
    };
    let prune = match raw.prune {
        None => None,
        Some(p) => Some(super::prune_settings(p, "archive.prune", bad, duration)?),
    };
    Ok(ArchiveSettings {
        url: url.trim().to_string(),
        bucket,
        prefix,
        endpoint,
        region,
        path_style: raw.path_style.unwrap_or(false),
        access_key_id,
        secret_access_key,
        part_size,
        uploads,
        prune,
    })
}

/// The key pair: both from the file, or both from the environment; never one of each (a
/// half-set pair is a typo, and mixing would sign with a secret the operator did not mean).
fn credentials(
    id: Option<String>,
    secret: Option<Secret>,
    env: &HashMap<String, String>,
    bad: Bad<'_>,
) -> Result<(String, Secret), ConfigError> {
    let id = id.filter(|i| !i.trim().is_empty());
    let secret = secret.filter(|s| !s.is_empty());
    match (id, secret) {
        (Some(id), Some(secret)) => Ok((id.trim().to_string(), secret)),
        (Some(_), None) => Err(bad(
            "archive.secret_access_key",
            "is required when archive.access_key_id is set".into(),
        )),
        (None, Some(_)) => Err(bad(
            "archive.access_key_id",
            "is required when archive.secret_access_key is set".into(),
        )),
        (None, None) => {
            let get = |k: &str| {
                env.get(k)
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
            };
            match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
                (Some(id), Some(secret)) => Ok((id, Secret::new(secret))),
                _ => Err(bad(
                    "archive.access_key_id",
                    "no key for the object store: set archive.access_key_id and \
                     archive.secret_access_key (in a file only its owner can read), or \
                     AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                        .into(),
                )),
            }
        }
    }
}

/// `s3://bucket[/prefix]` → bucket and prefix. The bucket follows S3's naming rules; every
/// prefix segment is a plain name (no `.`/`..`, nothing empty), so the prefix is a folder the
/// tool can own, never a pattern.
pub fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("s3://").ok_or_else(|| {
        format!("{url:?} does not start with s3:// (like \"s3://bucket/prefix\")")
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !bucket_ok {
        return Err(format!(
            "{bucket:?} is not an S3 bucket name (3 to 63 lowercase letters, digits, dots and \
             hyphens)"
        ));
    }
    let prefix = prefix.trim_matches('/');
    for segment in prefix.split('/').filter(|_| !prefix.is_empty()) {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(format!(
                "prefix {prefix:?} has an empty, \".\" or \"..\" segment"
            ));
        }
        if segment
            .chars()
            .any(|c| c.is_control() || matches!(c, '*' | '?' | '\\'))
        {
            return Err(format!(
                "prefix segment {segment:?} holds a control character, '*', '?' or '\\'"
            ));
        }
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    use super::parse_url;
    use crate::config::{ConfigError, Settings, load_with_env};

    const MINIMAL: &str = "[api]\nregion_id = \"cn-hangzhou\"\n[[instances]]\nid = \"dds-bp1\"\n";
    const ARCHIVE: &str = "[archive]\nurl = \"s3://mongo-backups/prod\"\n";

    fn load(text: &str, mode: u32, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load_with_env(&path, Some(env))
    }

    const KEYS: [(&str, &str); 2] = [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
    ];

    #[test]
    fn an_archive_gets_its_documented_defaults_and_the_environments_key() {
        let s = load(&format!("{MINIMAL}{ARCHIVE}"), 0o644, &KEYS).unwrap();
        let a = s.archive.unwrap();
        assert_eq!(
            (a.bucket.as_str(), a.prefix.as_str()),
            ("mongo-backups", "prod")
        );
        assert_eq!(
            (a.region.as_str(), a.endpoint.as_deref(), a.path_style),
            ("us-east-1", None, false)
        );
        assert_eq!((a.part_size, a.uploads), (16 * 1024 * 1024, 4));
        assert_eq!(a.access_key_id, "AKIDEXAMPLE");
        assert_eq!(a.secret_access_key.expose(), "wJalrXUtnFEMI");
        assert!(
            a.prune.is_none(),
            "without [archive.prune] the archive deletes nothing"
        );
        assert!(
            !format!("{a:?}").contains("wJalrXUtnFEMI"),
            "the secret in Debug"
        );
        assert!(load(MINIMAL, 0o644, &KEYS).unwrap().archive.is_none());
    }

    #[test]
    fn archive_keys_and_its_own_prune() {
        let text = format!(
            "{MINIMAL}[download]\nkeep_local = \"2d\"\n{ARCHIVE}endpoint = \"http://127.0.0.1:3900\"\n\
             region = \"garage\"\npath_style = true\naccess_key_id = \"GK1\"\n\
             secret_access_key = \"s3cr3t\"\npart_size = \"8MiB\"\nuploads = 2\n\
             [archive.prune]\nkeep_daily = 7\nkeep_weekly = 4\nkeep_monthly = 12\n"
        );
        let s = load(&text, 0o600, &[]).unwrap();
        assert_eq!(s.download.keep_local, Some(Duration::from_secs(2 * 86_400)));
        let a = s.archive.unwrap();
        assert_eq!(a.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
        assert!(a.path_style);
        assert_eq!((a.part_size, a.uploads), (8 * 1024 * 1024, 2));
        let p = a.prune.unwrap().rules;
        assert_eq!((p.keep_daily, p.keep_weekly, p.keep_monthly), (7, 4, 12));
    }

    #[test]
    fn bad_archive_keys_name_the_key_and_a_readable_secret_is_refused() {
        let key = "access_key_id = \"GK1\"\nsecret_access_key = \"s3cr3t\"\n";
        for (text, needle) in [
            (format!("{MINIMAL}[archive]\n{key}"), "archive.url"),
            (
                format!("{MINIMAL}[archive]\nurl = \"gs://b/p\"\n{key}"),
                "archive.url",
            ),
            (format!("{MINIMAL}{ARCHIVE}"), "archive.access_key_id"),
            (
                format!("{MINIMAL}{ARCHIVE}access_key_id = \"GK1\"\n"),
                "archive.secret_access_key",
            ),
            (
                format!("{MINIMAL}{ARCHIVE}{key}part_size = \"1MiB\"\n"),
                "archive.part_size",
            ),
            (
                format!("{MINIMAL}{ARCHIVE}{key}uploads = 0\n"),
                "archive.uploads",
            ),
            (
                format!("{MINIMAL}{ARCHIVE}{key}endpoint = \"ftp://x\"\n"),
                "archive.endpoint",
            ),
            (
                format!("{MINIMAL}{ARCHIVE}{key}[archive.prune]\nkeep_daily = -1\n"),
                "archive.prune.keep_daily",
            ),
            (
                format!("{MINIMAL}[download]\nkeep_local = \"2d\"\n"),
                "download.keep_local",
            ),
            (format!("{MINIMAL}{ARCHIVE}{key}bucket = \"x\"\n"), "bucket"),
        ] {
            let e = load(&text, 0o600, &[]).unwrap_err().to_string();
            assert!(e.contains(needle), "{needle:?} not in {e:?}");
            assert!(!e.contains('\n') && !e.contains("s3cr3t"), "{e:?}");
        }
        let e = load(&format!("{MINIMAL}{ARCHIVE}{key}"), 0o644, &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("archive.secret_access_key") && e.contains("chmod 600"),
            "{e}"
        );
    }

    #[test]
    fn urls_name_a_bucket_and_a_plain_prefix() {
        assert_eq!(
            parse_url("s3://backups/mongo/prod/").unwrap(),
            ("backups".into(), "mongo/prod".into())
        );
        assert_eq!(
            parse_url("s3://backups").unwrap(),
            ("backups".into(), "".into())
        );
        for bad in [
            "backups/x",
            "s3://B/x",
            "s3://ab",
            "s3://backups/a//b",
            "s3://backups/../x",
            "s3://backups/a/*",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
