//! Every key `config/example.toml` documents can be set from the environment
//! (`DDS_BACKUP_SYNC__<SECTION>__[<TABLE>__]<KEY>`), and is taken with its type: the settings
//! loaded with the override equal those loaded with the same value written in the file
//! (issue #22: the override types came from a hand-kept list that three features forgot).

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use dds_backup_sync::config::load_with_env;

/// A configuration every documented key can be added to: an instance, an archive, and static
/// keys (each documented key replaces the line of the same key here).
const BASE: &str = r#"
[api]
region_id = "cn-hangzhou"
access_key_id = "LTAIbase"
access_key_secret = "base-secret"
use_ecs_ram_role = false

[[instances]]
id = "dds-bp1"

[download]
[snapshots]
[prune]
[schedule]
[verify]
[metrics]
[hooks]
[logging]

[archive]
url = "s3://base-bucket/prefix"
access_key_id = "base-id"
secret_access_key = "base-secret"

[archive.prune]
"#;

/// (section path, key, value as TOML text) of every key the example documents, set or
/// commented out, outside the `[[…]]` lists (which the environment cannot set).
fn documented() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string("config/example.toml").unwrap();
    let mut section: Option<String> = None;
    let mut out = Vec::new();
    for line in text.lines() {
        let bare = line.trim().trim_start_matches('#').trim();
        if bare.starts_with("[[") {
            section = None;
            continue;
        }
        if let Some(name) = bare.strip_prefix('[').and_then(|b| b.split(']').next()) {
            section = Some(name.trim().to_string());
            continue;
        }
        let Some(section) = &section else { continue };
        // A documented key is a line that parses as TOML `key = value`; prose does not.
        let Ok(table) = bare.parse::<toml::Table>() else {
            continue;
        };
        let Some((key, value)) = table.into_iter().next() else {
            continue;
        };
        let Some(raw) = bare.split_once('=').map(|(_, v)| v) else {
            continue;
        };
        // The value's own text, without a trailing comment.
        let raw: toml::Table = format!("v = {}", raw.trim()).parse().unwrap();
        assert_eq!(raw["v"], value);
        out.push((section.clone(), key, toml_text(&value)));
    }
    out
}

fn toml_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Array(a) => {
            let items: Vec<String> = a.iter().map(toml_text).collect();
            format!("[{}]", items.join(", "))
        }
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => panic!("the example documents a value this test cannot write: {other:?}"),
    }
}

/// The environment's spelling of a TOML value: a string's text, anything else as TOML.
fn env_text(v: &str) -> String {
    let parsed: toml::Table = format!("v = {v}").parse().unwrap();
    match &parsed["v"] {
        toml::Value::String(s) => s.clone(),
        _ => v.to_string(),
    }
}

/// `BASE` with `key = value` in `[section]` (replacing the base's own line for it).
fn with_key(section: &str, key: &str, value: &str) -> String {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in BASE.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix('[').filter(|_| !t.starts_with("[[")) {
            current = name.trim_end_matches(']').to_string();
        } else if t.starts_with("[[") {
            current.clear();
        }
        if current == section && t.split('=').next().map(str::trim) == Some(key) {
            continue;
        }
        out.push(line.to_string());
        if t == format!("[{section}]") {
            out.push(format!("{key} = {value}"));
        }
    }
    out.join("\n")
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

#[test]
fn every_documented_key_is_taken_from_the_environment_with_its_type() {
    let dir = tempfile::tempdir().unwrap();
    let keys = documented();
    assert!(
        keys.len() > 60,
        "only {} keys read from the example",
        keys.len()
    );
    let none = || Some(HashMap::new());
    // One file name for all three loads: the settings record the file they came from.
    let base = load_with_env(&write(dir.path(), "config.toml", BASE), none()).unwrap();
    let mut failures = Vec::new();
    let mut changed = 0;
    for (section, key, value) in &keys {
        let env_value = env_text(value);
        if env_value.is_empty() {
            // An empty variable is no override (as an unset one): nothing to compare.
            continue;
        }
        let in_file = write(dir.path(), "config.toml", &with_key(section, key, value));
        let from_file = load_with_env(&in_file, none());
        let var = format!(
            "DDS_BACKUP_SYNC__{}__{}",
            section.replace('.', "__").to_uppercase(),
            key.to_uppercase()
        );
        let env = HashMap::from([(var.clone(), env_value.clone())]);
        let from_env = load_with_env(&write(dir.path(), "config.toml", BASE), Some(env));
        match (&from_file, &from_env) {
            (Ok(f), Ok(e)) if format!("{f:?}") == format!("{e:?}") => {
                changed += usize::from(format!("{f:?}") != format!("{base:?}"));
            }
            _ => failures.push(format!(
                "{var}={env_value:?}: in the file {:?}, from the environment {:?}",
                from_file.map(|_| "loads").map_err(|e| e.to_string()),
                from_env
                    .map(|_| "loads (differently)")
                    .map_err(|e| e.to_string())
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // An ignored override would load as the base: where the example's value is the default,
    // that is the file's answer too (nothing to tell apart); the others were seen taken.
    assert!(changed >= 15, "only {changed} overrides changed anything");
}
