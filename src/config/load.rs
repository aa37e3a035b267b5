//! Reading the config: the TOML file parsed strictly (a string is never taken for a number or a
//! boolean, and every error names the line and the key), then `DDS_BACKUP_SYNC__SECTION__KEY`
//! environment overrides, parsed strictly as the key's type and named in any error. The
//! `config` crate's layering converted types silently (`concurrency = "4"` was accepted), so the
//! two layers are merged here, on `toml` values.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::ConfigError;
use super::raw::Raw;

/// Keys whose values are integers or booleans (every other key is a string, a path or a
/// list): an environment override of one must spell exactly that.
const INTEGERS: [(&str, &str); 10] = [
    ("api", "page_size"),
    ("api", "concurrency"),
    ("api", "max_attempts"),
    ("download", "concurrency"),
    ("download", "max_attempts"),
    ("prune", "keep_last"),
    ("prune", "keep_daily"),
    ("prune", "keep_weekly"),
    ("prune", "keep_monthly"),
    ("prune", "keep_yearly"),
];
const BOOLEANS: [(&str, &str); 4] = [
    ("api", "use_ecs_ram_role"),
    ("prune", "enabled"),
    ("schedule", "run_on_start"),
    ("verify", "repair"),
];

/// One environment override: `DDS_BACKUP_SYNC__<SECTION>__<KEY>`.
struct Override {
    var: String,
    section: String,
    key: String,
    value: toml::Value,
}

/// The raw settings from `text` (the file at `file`) and the environment.
///
/// # Errors
/// A TOML error (naming the line and key), a strict type error of an override (naming the
/// variable), an unknown key anywhere.
pub(super) fn raw(
    file: &Path,
    text: &str,
    table: toml::Table,
    env: &HashMap<String, String>,
) -> Result<Raw, ConfigError> {
    // The file alone first, from its text, so its errors carry a line.
    let from_file: Raw = toml::from_str(text).map_err(|e| parse_error(file, text, &e))?;
    let overrides = overrides(file, env)?;
    if overrides.is_empty() {
        return Ok(from_file);
    }
    let mut table = table;
    for o in &overrides {
        let section = table
            .entry(o.section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match section {
            toml::Value::Table(t) => {
                t.insert(o.key.clone(), o.value.clone());
            }
            _ => return Err(env_error(file, &o.var, "that section is not a table")),
        }
    }
    Raw::deserialize(toml::Value::Table(table)).map_err(|e| {
        let message = e.message().to_string();
        // Name the variable whose key the error is about (an unknown key names it in `...`).
        let var = overrides
            .iter()
            .find(|o| message.contains(&format!("`{}`", o.key)) || message.contains(&o.key))
            .map(|o| o.var.clone())
            .unwrap_or_else(|| {
                let all: Vec<&str> = overrides.iter().map(|o| o.var.as_str()).collect();
                all.join(", ")
            });
        env_error(file, &var, &message)
    })
}

fn env_error(file: &Path, var: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        file: file.to_path_buf(),
        key: format!("environment {var}"),
        reason: reason.to_string(),
    }
}

fn overrides(file: &Path, env: &HashMap<String, String>) -> Result<Vec<Override>, ConfigError> {
    let prefix = format!("{}__", super::ENV_PREFIX);
    let mut out = Vec::new();
    let mut vars: Vec<(&String, &String)> = env.iter().collect();
    vars.sort();
    for (var, value) in vars {
        let Some(rest) = var.strip_prefix(&prefix) else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        let Some((section, key)) = rest.split_once("__") else {
            return Err(env_error(
                file,
                var,
                "expected DDS_BACKUP_SYNC__<SECTION>__<KEY>, e.g. DDS_BACKUP_SYNC__DOWNLOAD__DIR",
            ));
        };
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        if section == "instances" || section == "discover" {
            return Err(env_error(
                file,
                var,
                &format!("[[{section}]] cannot be set from the environment; edit the file"),
            ));
        }
        let typed = |kind: &str| format!("must be {kind} (got {value:?})");
        let is = |table: &[(&str, &str)]| table.contains(&(section.as_str(), key.as_str()));
        let value = if is(&INTEGERS) {
            let n: i64 = value
                .trim()
                .parse()
                .map_err(|_| env_error(file, var, &typed("a whole number")))?;
            toml::Value::Integer(n)
        } else if is(&BOOLEANS) {
            match value.trim() {
                "true" => toml::Value::Boolean(true),
                "false" => toml::Value::Boolean(false),
                _ => return Err(env_error(file, var, &typed("true or false"))),
            }
        } else {
            toml::Value::String(value.clone())
        };
        out.push(Override {
            var: var.clone(),
            section,
            key,
            value,
        });
    }
    Ok(out)
}

/// A TOML error as one line naming the line number and the key (`section.key`) it is about.
pub(super) fn parse_error(file: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let at = e.span().map(|s| s.start.min(text.len()));
    let line = at.map(|a| text[..a].matches('\n').count() + 1);
    let key = at.and_then(|a| key_at(text, a));
    ConfigError::Parse {
        file: file.to_path_buf(),
        line,
        key,
        message: super::one_line(e.message()),
    }
}

/// The `section.key` of the line holding byte `at`, read from the text.
fn key_at(text: &str, at: usize) -> Option<String> {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or_default();
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"'))?;
    let section = text[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    Some(match section {
        Some(s) => format!("{s}.{key}"),
        None => key.to_string(),
    })
}
