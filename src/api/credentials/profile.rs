//! The aliyun CLI's profile file (`~/.aliyun/config.json`): reading it, parsing it and turning
//! the chosen profile into a credential [`Source`].
//!
//! Owns the file's layout and the profile modes we accept (AK, StsToken, EcsRamRole). Must
//! not: run or write anything for the CLI, or put a value from the file other than profile
//! names and modes into an error (serde's messages can quote values, so they are reduced to a
//! position).
//!
//! Layout: <https://github.com/aliyun/aliyun-cli/blob/master/config/profile.go>

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{CredentialError, Credentials, EcsOrigin, Source};
use crate::secret::Secret;

/// What the shell found at the profile path.
#[derive(Debug)]
pub struct ProfileInput {
    pub path: PathBuf,
    pub contents: ProfileContents,
}

/// The file's state; its text is held as a [`Secret`] because it contains keys.
#[derive(Debug)]
pub enum ProfileContents {
    Missing,
    /// Exists but could not be read; the I/O error's message.
    Unreadable(String),
    Text(Secret),
}

/// Reads the file at `path`; a missing file is normal, not an error.
pub async fn read(path: PathBuf) -> ProfileInput {
    let contents = match tokio::fs::read_to_string(&path).await {
        Ok(text) => ProfileContents::Text(Secret::new(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ProfileContents::Missing,
        Err(e) => ProfileContents::Unreadable(e.to_string()),
    };
    ProfileInput { path, contents }
}

/// What the profile step of the chain came to.
#[derive(Debug)]
pub(super) enum Outcome {
    Found(Source),
    /// Nothing to use here, and nobody asked for it: the reason, for the "tried" list.
    Skipped(String),
}

#[derive(Deserialize)]
struct RawFile {
    current: Option<String>,
    profiles: Option<Vec<RawProfile>>,
}

#[derive(Deserialize)]
struct RawProfile {
    name: Option<String>,
    mode: Option<String>,
    access_key_id: Option<String>,
    access_key_secret: Option<Secret>,
    sts_token: Option<Secret>,
    ram_role_name: Option<String>,
}

/// The profile step: `wanted` is an explicitly requested profile name and where the request
/// came from (`api.profile` or `ALIBABA_CLOUD_PROFILE`). An explicit request that cannot be
/// met is an error; otherwise a missing file or profile is skipped.
pub(super) fn resolve(
    input: Option<&ProfileInput>,
    wanted: Option<(&str, &str)>,
) -> Result<Outcome, CredentialError> {
    let Some(input) = input else {
        return match wanted {
            Some((name, from)) => Err(CredentialError::ProfileFile {
                path: PathBuf::from("~/.aliyun/config.json"),
                reason: format!(
                    "{from} asks for profile '{name}' but HOME is not set; set api.profile_path"
                ),
            }),
            None => Ok(Outcome::Skipped("aliyun profile: HOME not set".into())),
        };
    };
    let path = &input.path;
    let file_error = |reason: String| CredentialError::ProfileFile {
        path: path.clone(),
        reason,
    };
    let text = match &input.contents {
        ProfileContents::Text(text) => text,
        ProfileContents::Missing => {
            return match wanted {
                Some((name, from)) => Err(file_error(format!(
                    "not found, but {from} asks for profile '{name}'"
                ))),
                None => Ok(Outcome::Skipped(format!(
                    "aliyun profile: {} not found",
                    path.display()
                ))),
            };
        }
        ProfileContents::Unreadable(reason) => {
            return Err(file_error(format!("cannot be read: {reason}")));
        }
    };
    let file: RawFile =
        serde_json::from_str(text.expose()).map_err(|e| file_error(json_reason(&e)))?;
    let current = file.current.filter(|c| !c.trim().is_empty());
    // The CLI falls back to "default" when `current` is unset.
    let (name, required) = match (wanted, current.as_deref()) {
        (Some((name, from)), _) => (name.to_string(), Some(from)),
        (None, Some(current)) => (current.to_string(), Some("its \"current\"")),
        (None, None) => ("default".to_string(), None),
    };
    let found = file
        .profiles
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.name.as_deref() == Some(name.as_str()));
    match (found, required) {
        (Some(profile), _) => to_source(path, &name, profile).map(Outcome::Found),
        (None, Some(from)) => Err(file_error(format!(
            "has no profile '{name}' (named by {from})"
        ))),
        (None, None) => Ok(Outcome::Skipped(format!(
            "aliyun profile: {} has no current or 'default' profile",
            path.display()
        ))),
    }
}

/// A parse error's kind and position only: serde's own message may quote a value.
fn json_reason(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => "is not valid JSON (it ends too early)".into(),
        Category::Syntax | Category::Io => {
            format!(
                "is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            )
        }
        Category::Data => format!(
            "does not have the aliyun CLI's layout (wrong type at line {}, column {})",
            e.line(),
            e.column()
        ),
    }
}

fn to_source(path: &Path, name: &str, p: RawProfile) -> Result<Source, CredentialError> {
    let mode = p.mode.unwrap_or_default();
    let missing = |field: &str| CredentialError::ProfileFile {
        path: path.to_path_buf(),
        reason: format!("profile '{name}' (mode {mode}) has no {field}"),
    };
    let secret = |value: Option<Secret>| {
        value
            .map(|s| Secret::new(s.expose().trim()))
            .filter(|s| !s.is_empty())
    };
    let static_source = |security_token: Option<Secret>| -> Result<Source, CredentialError> {
        let access_key_id =
            super::nonblank(p.access_key_id.clone()).ok_or_else(|| missing("access_key_id"))?;
        let access_key_secret =
            secret(p.access_key_secret.clone()).ok_or_else(|| missing("access_key_secret"))?;
        let credentials = Credentials {
            access_key_id,
            access_key_secret,
            security_token,
        };
        Ok(Source::Static {
            credentials,
            name: format!("aliyun profile '{name}'"),
        })
    };
    match mode.as_str() {
        "AK" => static_source(None),
        "StsToken" => {
            let token = secret(p.sts_token.clone()).ok_or_else(|| missing("sts_token"))?;
            static_source(Some(token))
        }
        // No role name means "the role attached to this instance", as with the CLI.
        "EcsRamRole" => Ok(Source::EcsRamRole {
            role_name: super::nonblank(p.ram_role_name),
            origin: EcsOrigin::Profile(name.to_string()),
        }),
        "" => Err(CredentialError::ProfileFile {
            path: path.to_path_buf(),
            reason: format!("profile '{name}' has no mode"),
        }),
        _ => Err(CredentialError::UnsupportedProfileMode {
            path: path.to_path_buf(),
            profile: name.to_string(),
            mode,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/home/op/.aliyun/config.json";

    fn input(text: &str) -> ProfileInput {
        ProfileInput {
            path: PathBuf::from(PATH),
            contents: ProfileContents::Text(Secret::new(text)),
        }
    }

    /// A compact, secret-free summary of an outcome, for table comparisons.
    fn summary(result: Result<Outcome, CredentialError>) -> String {
        match result {
            Ok(Outcome::Found(Source::Static {
                credentials: c,
                name,
            })) => format!(
                "static {name} id={} secret={} token={}",
                c.access_key_id,
                c.access_key_secret.expose(),
                c.security_token.as_ref().map_or("-", |t| t.expose())
            ),
            Ok(Outcome::Found(Source::EcsRamRole { role_name, origin })) => {
                format!("ecs role={role_name:?} origin={origin:?}")
            }
            Ok(Outcome::Skipped(why)) => format!("skipped: {why}"),
            Err(e) => format!("error: {e}"),
        }
    }

    const FILE: &str = r#"{
        "current": "work",
        "profiles": [
            {"name": "default", "mode": "AK", "access_key_id": "AKID", "access_key_secret": "aksecret",
             "sts_token": "", "ram_role_name": "", "region_id": "cn-hangzhou", "expired_seconds": 0},
            {"name": "work", "mode": "StsToken", "access_key_id": "STS.ID", "access_key_secret": "stssecret",
             "sts_token": "ststoken"},
            {"name": "ecs", "mode": "EcsRamRole", "ram_role_name": "backup-role"},
            {"name": "ecs-any", "mode": "EcsRamRole", "ram_role_name": ""},
            {"name": "arn", "mode": "RamRoleArn", "access_key_id": "x", "access_key_secret": "y"},
            {"name": "nomode", "access_key_id": "x", "access_key_secret": "y"},
            {"name": "empty-ak", "mode": "AK", "access_key_id": "x", "access_key_secret": " "}
        ],
        "meta_path": ""
    }"#;

    #[test]
    fn profiles_by_mode_and_name() {
        let cases: &[(Option<&str>, &str)] = &[
            (
                None,
                "static aliyun profile 'work' id=STS.ID secret=stssecret token=ststoken",
            ),
            (
                Some("default"),
                "static aliyun profile 'default' id=AKID secret=aksecret token=-",
            ),
            (
                Some("ecs"),
                "ecs role=Some(\"backup-role\") origin=Profile(\"ecs\")",
            ),
            (Some("ecs-any"), "ecs role=None origin=Profile(\"ecs-any\")"),
            (
                Some("arn"),
                "error: aliyun profile 'arn' in /home/op/.aliyun/config.json uses mode 'RamRoleArn', \
                 which dds-backup-sync does not support; use a profile with mode AK, StsToken or EcsRamRole",
            ),
            (
                Some("nomode"),
                "error: aliyun profile file /home/op/.aliyun/config.json: profile 'nomode' has no mode",
            ),
            (
                Some("empty-ak"),
                "error: aliyun profile file /home/op/.aliyun/config.json: profile 'empty-ak' (mode AK) has no access_key_secret",
            ),
            (
                Some("nope"),
                "error: aliyun profile file /home/op/.aliyun/config.json: has no profile 'nope' (named by api.profile)",
            ),
        ];
        for (wanted, expected) in cases {
            let got = summary(resolve(
                Some(&input(FILE)),
                wanted.map(|w| (w, "api.profile")),
            ));
            assert_eq!(&got, expected, "wanted {wanted:?}");
        }
    }

    #[test]
    fn file_states() {
        let missing = ProfileInput {
            path: PathBuf::from(PATH),
            contents: ProfileContents::Missing,
        };
        let unreadable = ProfileInput {
            path: PathBuf::from(PATH),
            contents: ProfileContents::Unreadable("Permission denied (os error 13)".into()),
        };
        let no_current = input(r#"{"profiles": [{"name": "other", "mode": "AK"}]}"#);
        let default_only = input(
            r#"{"profiles": [{"name": "default", "mode": "AK", "access_key_id": "a", "access_key_secret": "b"}]}"#,
        );
        let bad_current =
            input(r#"{"current": "gone", "profiles": [{"name": "default", "mode": "AK"}]}"#);
        // (what the shell found, the explicitly wanted profile and who asked, expected)
        type Case<'a> = (
            Option<&'a ProfileInput>,
            Option<(&'a str, &'a str)>,
            &'a str,
        );
        let cases: Vec<Case> = vec![
            (None, None, "skipped: aliyun profile: HOME not set"),
            (
                None,
                Some(("p", "ALIBABA_CLOUD_PROFILE")),
                "error: aliyun profile file ~/.aliyun/config.json: ALIBABA_CLOUD_PROFILE asks for profile 'p' but HOME is not set; set api.profile_path",
            ),
            (
                Some(&missing),
                None,
                "skipped: aliyun profile: /home/op/.aliyun/config.json not found",
            ),
            (
                Some(&missing),
                Some(("p", "api.profile")),
                "error: aliyun profile file /home/op/.aliyun/config.json: not found, but api.profile asks for profile 'p'",
            ),
            (
                Some(&unreadable),
                None,
                "error: aliyun profile file /home/op/.aliyun/config.json: cannot be read: Permission denied (os error 13)",
            ),
            (
                Some(&no_current),
                None,
                "skipped: aliyun profile: /home/op/.aliyun/config.json has no current or 'default' profile",
            ),
            (
                Some(&default_only),
                None,
                "static aliyun profile 'default' id=a secret=b token=-",
            ),
            (
                Some(&bad_current),
                None,
                "error: aliyun profile file /home/op/.aliyun/config.json: has no profile 'gone' (named by its \"current\")",
            ),
        ];
        for (i, (input, wanted, expected)) in cases.into_iter().enumerate() {
            assert_eq!(summary(resolve(input, wanted)), expected, "case {i}");
        }
    }

    #[test]
    fn malformed_files_name_a_position_but_no_value() {
        let cases = [
            (
                "{\"current\": \"a\",",
                "is not valid JSON (it ends too early)",
            ),
            (
                "{\"current\" \"a\"}",
                "is not valid JSON (line 1, column 12)",
            ),
            (
                r#"{"profiles": [{"name": "a", "access_key_secret": 12345678}]}"#,
                "does not have the aliyun CLI's layout (wrong type at line 1, column 57)",
            ),
            (
                "[]",
                "does not have the aliyun CLI's layout (wrong type at line 1, column 2)",
            ),
        ];
        for (text, reason) in cases {
            let got = summary(resolve(Some(&input(text)), None));
            assert_eq!(
                got,
                format!("error: aliyun profile file {PATH}: {reason}"),
                "{text}"
            );
            assert!(!got.contains("12345678"));
        }
    }

    #[tokio::test]
    async fn read_tells_missing_from_present() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.json");
        assert!(matches!(
            read(path.clone()).await.contents,
            ProfileContents::Missing
        ));
        std::fs::write(&path, "{}").expect("write");
        match read(path).await.contents {
            ProfileContents::Text(t) => assert_eq!(t.expose(), "{}"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
