//! Secrets and signatures never reach the output, even at trace level; files and folders get
//! the documented modes.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use dds_emulator::Emulator;

const ID: &str = "sec-key-id";
const SECRET: &str = "Sup3rS3cretValue-do-not-print";
const TOKEN: &str = "STS-token-value-must-stay-hidden";

async fn emulator() -> Emulator {
    common::world::emulator_with(ID, SECRET, |c| c.security_token = Some(TOKEN.to_string())).await
}

fn config(dir: &Path, endpoint: &str, secret: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        common::ConfigText::api(endpoint, ID, secret)
            .with(&format!("security_token = \"{TOKEN}\""))
            .with("max_attempts = 2")
            .instance("dds-demo-replica", &[])
            .download(&dir.join("data"))
            .text(),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

async fn run(config: &Path, home: &Path, args: &[&str]) -> Output {
    common::world::run(home, config, args, "trace").await
}

/// Every presigned query value the emulator can hand out, to look for in the output.
fn assert_clean(out: &Output, forbidden: &[String]) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.len() > 1000,
        "a trace-level run should say a lot:\n{text}"
    );
    for f in forbidden {
        assert!(!text.contains(f.as_str()), "output contains {f:?}");
    }
    for needle in ["Signature=", "security-token=", "OSSAccessKeyId="] {
        for (i, _) in text.match_indices(needle) {
            let value: String = text[i + needle.len()..].chars().take(8).collect();
            assert!(
                value.starts_with("<redacted") || value.starts_with('*'),
                "{needle} followed by {value:?}"
            );
        }
    }
}

fn url_secrets(emu: &Emulator) -> Vec<String> {
    let url = emu.presigned_url("32102001", false).unwrap();
    let parsed = url::Url::parse(&url).unwrap();
    parsed
        .query_pairs()
        .filter(|(k, _)| k == "Signature" || k == "security-token")
        .map(|(_, v)| v.into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trace_level_sync_shows_no_secret_token_or_url_signature() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &emu.base_url(), SECRET);
    let out = run(&cfg, dir.path(), &["--sync-now"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut forbidden = vec![SECRET.to_string(), TOKEN.to_string()];
    forbidden.extend(url_secrets(&emu));
    assert_clean(&out, &forbidden);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signature_error_does_not_echo_the_token() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &emu.base_url(), "a-wrong-secret-value");
    let out = run(&cfg, dir.path(), &["--list"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("SignatureDoesNotMatch"), "{stderr}");
    assert!(stderr.contains("[string to sign omitted]"), "{stderr}");
    assert_clean(
        &out,
        &[
            SECRET.to_string(),
            TOKEN.to_string(),
            "a-wrong-secret-value".to_string(),
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn files_are_0640_and_folders_0750() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &emu.base_url(), SECRET);
    // Under the units' UMask=0077 too (issue #26.6): the modes are set, not left to the umask.
    let bin = common::binary(dir.path());
    let program = bin.as_std().get_program().to_owned();
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg("umask 077; exec \"$0\" \"$@\"")
        .arg(program)
        .args(["--sync-now", "--config"])
        .arg(&cfg)
        .env("HOME", dir.path())
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        .env_remove("ALIBABA_CLOUD_SECURITY_TOKEN")
        .kill_on_drop(true);
    let out = cmd.output().await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = dir.path().join("data/dds-demo-replica");
    let mut files = 0;
    for backup in std::fs::read_dir(&data).unwrap().flatten() {
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&backup.path()), 0o750, "{}", backup.path().display());
        for f in std::fs::read_dir(backup.path()).unwrap().flatten() {
            assert_eq!(mode(&f.path()), 0o640, "{}", f.path().display());
            files += 1;
        }
    }
    assert_eq!(files, 6, "3 backups x (file + manifest)");
}
