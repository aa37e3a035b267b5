//! Reading the config: the TOML file parsed strictly (a string is never taken for a number or a
//! boolean, and every error names the line and the key), then `DDS_BACKUP_SYNC__SECTION__KEY`
//! environment overrides ([`super::env`]), parsed strictly as the key's type and named in any
//! error. The
//! `config` crate's layering converted types silently (`concurrency = "4"` was accepted), so the
//! two layers are merged here, on `toml` values.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::ConfigError;
use super::raw::Raw;

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
    let overrides = super::env::overrides(env).map_err(|(var, why)| env_error(file, &var, &why))?;
    if overrides.is_empty() {
        return Ok(from_file);
    }
    let mut table = table;
    for o in &overrides {
        set(&mut table, &o.path, o.value.clone())
            .map_err(|at| env_error(file, &o.var, &format!("{at} is not a table")))?;
    }
    Raw::deserialize(toml::Value::Table(table)).map_err(|e| {
        let message = e.message().to_string();
        // Name the variable whose key the error is about (an unknown key names it in `...`).
        let var = overrides
            .iter()
            .find(|o| {
                o.path
                    .last()
                    .is_some_and(|key| message.contains(key.as_str()))
            })
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

/// Sets `value` at `path` in `table`, making the tables on the way; the key that is not a
/// table when one is in the way.
fn set(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let Some((key, rest)) = path.split_first() else {
        return Ok(());
    };
    if rest.is_empty() {
        table.insert(key.clone(), value);
        return Ok(());
    }
    match table
        .entry(key.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
    {
        toml::Value::Table(inner) => set(inner, rest, value),
        _ => Err(key.clone()),
    }
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
