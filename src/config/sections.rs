//! The `[api]`, `[[instances]]`, `[prune]`, `[schedule]` and `[verify]` sections: raw keys →
//! validated settings, every error naming its key.

use std::time::Duration;

use super::raw::{RawApi, RawHooks, RawInstance, RawPrune, RawSchedule, RawVerify};
use super::{
    ApiSettings, ConfigError, HookSettings, InstanceSettings, PruneSettings, Region,
    ScheduleSettings, VerifySettings, check_endpoint, positive,
};
use crate::api::client::PAGE_SIZES;
use crate::api::credentials::CredentialOptions;
use crate::api::endpoint;
use crate::names;
use crate::retry::RetryPolicy;

pub(super) type Bad<'a> = &'a dyn Fn(&str, String) -> ConfigError;
pub(super) type DurationOf<'a> =
    &'a dyn Fn(&str, Option<String>, &str) -> Result<Duration, ConfigError>;

/// `[api]`: region, endpoint, paging, timeouts and retries, and where credentials come from.
pub(super) fn api(
    api: RawApi,
    bad: Bad<'_>,
    duration: DurationOf<'_>,
) -> Result<(ApiSettings, CredentialOptions), ConfigError> {
    let credentials = credentials(&api, bad)?;
    let region_id = api
        .region_id
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| bad("api.region_id", "is required (e.g. \"cn-hangzhou\")".into()))?;
    check_region_id(&region_id).map_err(|r| bad("api.region_id", r))?;
    let concurrency = match api.concurrency {
        None => 4,
        Some(n @ 1..=64) => n as usize,
        Some(n) => {
            return Err(bad(
                "api.concurrency",
                format!("must be between 1 and 64 (got {n})"),
            ));
        }
    };
    let endpoint = match api.endpoint.filter(|e| !e.trim().is_empty()) {
        Some(e) => check_endpoint(&e).map_err(|r| bad("api.endpoint", r))?,
        None => endpoint::for_region(&region_id).ok_or_else(|| {
            bad(
                "api.region_id",
                endpoint::unknown_region(&region_id, "api.endpoint"),
            )
        })?,
    };
    let page_size = match api.page_size {
        None => 100,
        Some(n) if PAGE_SIZES.iter().any(|&p| i64::from(p) == n) => n as u32,
        Some(n) => {
            return Err(bad(
                "api.page_size",
                format!("must be 30, 50 or 100 (got {n})"),
            ));
        }
    };
    let retry = retry(
        "api",
        api.max_attempts,
        api.max_retry_time,
        "2m",
        bad,
        duration,
    )?;
    let timeout = positive(
        duration("api.timeout", api.timeout, "30s")?,
        "api.timeout",
        bad,
    )?;
    Ok((
        ApiSettings {
            region_id,
            endpoint,
            page_size,
            timeout,
            retry,
            concurrency,
        },
        credentials,
    ))
}

/// `<section>.max_attempts` (1 to 100) and `<section>.max_retry_time` into a retry budget.
pub(super) fn retry(
    section: &str,
    attempts: Option<i64>,
    time: Option<String>,
    default_time: &str,
    bad: Bad<'_>,
    duration: DurationOf<'_>,
) -> Result<RetryPolicy, ConfigError> {
    let max_attempts = match attempts {
        None => RetryPolicy::default().max_attempts,
        Some(n @ 1..=100) => n as u32,
        Some(n) => {
            return Err(bad(
                &format!("{section}.max_attempts"),
                format!("must be between 1 and 100 (got {n})"),
            ));
        }
    };
    Ok(RetryPolicy {
        max_attempts,
        max_elapsed: duration(&format!("{section}.max_retry_time"), time, default_time)?,
        ..RetryPolicy::default()
    })
}

/// The `[api]` keys that say where credentials come from.
fn credentials(api: &RawApi, bad: Bad<'_>) -> Result<CredentialOptions, ConfigError> {
    let ecs_metadata_url = match api.ecs_metadata_url.clone() {
        Some(u) => check_endpoint(&u).map_err(|r| bad("api.ecs_metadata_url", r))?,
        None => "http://100.100.100.200".to_string(),
    };
    let credentials = CredentialOptions {
        access_key_id: api.access_key_id.clone().filter(|s| !s.is_empty()),
        access_key_secret: api.access_key_secret.clone().filter(|s| !s.is_empty()),
        security_token: api.security_token.clone().filter(|s| !s.is_empty()),
        profile_path: api.profile_path.clone(),
        profile_name: api.profile.clone().filter(|s| !s.is_empty()),
        ecs_metadata_url,
        ecs_role_name: api.ecs_ram_role.clone().filter(|s| !s.is_empty()),
        allow_ecs: api.use_ecs_ram_role.unwrap_or(true),
        pinned: false,
    };
    if credentials.access_key_id.is_some() != credentials.access_key_secret.is_some() {
        return Err(bad(
            "api.access_key_id",
            "api.access_key_id and api.access_key_secret must be set together".into(),
        ));
    }
    Ok(credentials)
}

/// `lookback`: how far back a listing asks, 7 days unless set, at most 10 years.
pub(super) fn lookback(
    key: &str,
    raw: Option<String>,
    bad: Bad<'_>,
    duration: DurationOf<'_>,
) -> Result<Duration, ConfigError> {
    let lookback = positive(duration(key, raw, "7d")?, key, bad)?;
    if lookback > Duration::from_secs(3650 * 86400) {
        return Err(bad(key, "must be at most 3650d".into()));
    }
    Ok(lookback)
}

/// A region id is lowercase letters, digits and dashes (`cn-hangzhou`).
pub(super) fn check_region_id(region_id: &str) -> Result<(), String> {
    if region_id.is_empty()
        || !region_id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!(
            "{region_id:?} is not a region id like \"cn-hangzhou\""
        ));
    }
    Ok(())
}

/// `<key>.region_id` / `<key>.endpoint` of an entry: `None` (`[api]`'s) when neither is set
/// or they say the same; a region of its own takes that region's endpoint from the SDK's map
/// unless `endpoint` is given.
pub(super) fn region(
    key: &str,
    region_id: Option<String>,
    endpoint: Option<String>,
    default: &Region,
    bad: Bad<'_>,
) -> Result<Option<Region>, ConfigError> {
    let id = match region_id.filter(|r| !r.trim().is_empty()) {
        None => default.id.clone(),
        Some(r) => {
            check_region_id(&r).map_err(|reason| bad(&format!("{key}.region_id"), reason))?;
            r
        }
    };
    let endpoint = match endpoint.filter(|e| !e.trim().is_empty()) {
        Some(e) => check_endpoint(&e).map_err(|r| bad(&format!("{key}.endpoint"), r))?,
        None if id == default.id => default.endpoint.clone(),
        None => endpoint::for_region(&id).ok_or_else(|| {
            bad(
                &format!("{key}.region_id"),
                endpoint::unknown_region(&id, &format!("{key}.endpoint")),
            )
        })?,
    };
    let region = Region { id, endpoint };
    Ok((region != *default).then_some(region))
}

/// `[[instances]]`: ids safe as folder names and listed once (none at all is fine when
/// `[[discover]]` finds them).
pub(super) fn instances(
    raw: Vec<RawInstance>,
    default_region: &Region,
    bad: Bad<'_>,
    duration: DurationOf<'_>,
) -> Result<Vec<InstanceSettings>, ConfigError> {
    let mut instances = Vec::with_capacity(raw.len());
    for (i, inst) in raw.into_iter().enumerate() {
        let key = |k: &str| format!("instances[{i}].{k}");
        let id = inst
            .id
            .ok_or_else(|| bad(&key("id"), "is required".into()))?;
        names::check_id("instance id", &id).map_err(|r| bad(&key("id"), r))?;
        if instances.iter().any(|x: &InstanceSettings| x.id == id) {
            return Err(bad(&key("id"), format!("instance {id:?} is listed twice")));
        }
        // From here on the entry has a good id: messages name it, not its position.
        let key = |k: &str| format!("instances[{id}].{k}");
        let mut node_ids: Vec<String> = Vec::new();
        for node in inst.node_ids {
            names::check_id("node id", &node).map_err(|r| bad(&key("node_ids"), r))?;
            if node.starts_with(names::CLUSTER_PREFIX) {
                return Err(bad(
                    &key("node_ids"),
                    format!("{node:?} looks like a cluster backup id, not a shard node id (d-...)"),
                ));
            }
            if node_ids.contains(&node) {
                return Err(bad(
                    &key("node_ids"),
                    format!("node {node:?} is listed twice"),
                ));
            }
            node_ids.push(node);
        }
        let lookback = lookback(&key("lookback"), inst.lookback, bad, duration)?;
        let region = region(
            &format!("instances[{id}]"),
            inst.region_id,
            inst.endpoint,
            default_region,
            bad,
        )?;
        instances.push(InstanceSettings {
            region,
            id,
            node_ids,
            lookback,
            src_region: inst.src_region.filter(|s| !s.is_empty()),
            dest_region: inst.dest_region.filter(|s| !s.is_empty()),
            resource_group_id: inst.resource_group_id.filter(|s| !s.is_empty()),
        });
    }

    Ok(instances)
}

/// `[prune]` (and `[archive.prune]`: `section` names the keys in errors): on by default, no
/// grace, the newest copy always kept, no tier.
pub(super) fn prune_settings(
    raw: RawPrune,
    section: &str,
    bad: Bad<'_>,
    duration: DurationOf<'_>,
) -> Result<PruneSettings, ConfigError> {
    let count = |key: &str, value: Option<i64>, default: usize| match value {
        None => Ok(default),
        Some(n @ 0..=10_000) => Ok(n as usize),
        Some(n) => Err(bad(
            &format!("{section}.{key}"),
            format!("must be between 0 and 10000 (got {n})"),
        )),
    };
    // Empty or zero: off, as a count of 0 is.
    let keep_within = match raw.keep_within.filter(|t| !t.trim().is_empty()) {
        None => None,
        Some(text) => Some(duration(&format!("{section}.keep_within"), Some(text), "")?)
            .filter(|d| !d.is_zero()),
    };
    Ok(PruneSettings {
        enabled: raw.enabled.unwrap_or(true),
        rules: crate::model::Rules {
            grace: duration(&format!("{section}.grace"), raw.grace, "0s")?,
            keep_last: count("keep_last", raw.keep_last, 1)?,
            keep_daily: count("keep_daily", raw.keep_daily, 0)?,
            keep_weekly: count("keep_weekly", raw.keep_weekly, 0)?,
            keep_monthly: count("keep_monthly", raw.keep_monthly, 0)?,
            keep_yearly: count("keep_yearly", raw.keep_yearly, 0)?,
            keep_within,
        },
    })
}

/// `[schedule]` and `[verify]`: both cron expressions read in one time zone.
pub(super) fn schedule(
    raw: RawSchedule,
    verify: RawVerify,
    bad: Bad<'_>,
    duration: DurationOf<'_>,
) -> Result<(ScheduleSettings, VerifySettings), ConfigError> {
    let cron = crate::schedule::expand(&raw.cron.unwrap_or_else(|| "0 0 3 * * *".to_string()))
        .map_err(|r| bad("schedule.cron", r))?;
    let timezone = raw.timezone.filter(|t| !t.trim().is_empty());
    let zone = crate::schedule::Zone::parse(timezone.as_deref())
        .map_err(|r| bad("schedule.timezone", r))?;
    let cron = crate::schedule::Schedule::parse(&cron, timezone.as_deref())
        .map_err(|r| bad("schedule.cron", r))?;
    let verify_cron = verify
        .cron
        .filter(|c| !c.trim().is_empty())
        .map(|c| crate::schedule::expand(&c))
        .transpose()
        .map_err(|r| bad("verify.cron", r))?
        .map(|c| crate::schedule::Schedule::parse(&c, timezone.as_deref()))
        .transpose()
        .map_err(|r| bad("verify.cron", r))?;
    let max_age = match verify.max_age.filter(|a| !a.trim().is_empty()) {
        None => None,
        Some(a) => Some(positive(
            duration("verify.max_age", Some(a), "")?,
            "verify.max_age",
            bad,
        )?),
    };
    let bandwidth_limit = match verify.bandwidth_limit.filter(|l| !l.trim().is_empty()) {
        None => None,
        Some(l) => Some(crate::units::parse_size(&l).map_err(|r| {
            bad(
                "verify.bandwidth_limit",
                format!("{r} (bytes per second; empty = no limit)"),
            )
        })?)
        .filter(|&n| n > 0),
    };
    Ok((
        ScheduleSettings {
            cron,
            zone,
            run_on_start: raw.run_on_start.unwrap_or(false),
        },
        VerifySettings {
            cron: verify_cron,
            repair: verify.repair.unwrap_or(false),
            max_age,
            bandwidth_limit,
        },
    ))
}

/// `[hooks]`: commands and a ping URL around every pass.
pub(super) fn hooks(
    raw: RawHooks,
    bad: Bad<'_>,
    duration: DurationOf<'_>,
) -> Result<HookSettings, ConfigError> {
    let ping_url = raw.ping_url.filter(|u| !u.trim().is_empty());
    if let Some(u) = &ping_url {
        crate::urls::check(u).map_err(|r| bad("hooks.ping_url", r))?;
    }
    let command = |c: Option<String>| c.filter(|c| !c.trim().is_empty());
    Ok(HookSettings {
        on_success: command(raw.on_success),
        on_failure: command(raw.on_failure),
        ping_url,
        timeout: positive(
            duration("hooks.timeout", raw.timeout, "30s")?,
            "hooks.timeout",
            bad,
        )?,
    })
}

/// `[metrics]`: an absolute textfile path (or none) and its mode.
pub(super) fn metrics(
    raw: super::raw::RawMetrics,
    bad: Bad<'_>,
) -> Result<super::MetricsSettings, ConfigError> {
    let textfile = raw.textfile.filter(|p| !p.as_os_str().is_empty());
    let mode_text = match raw.file_mode {
        None => "0644".to_string(),
        Some(super::raw::RawMode::Text(t)) => t,
        Some(super::raw::RawMode::Number(n)) => {
            return Err(bad(
                "metrics.file_mode",
                format!("{n} is a number; write the mode as a string, \"0{n}\" (octal)"),
            ));
        }
    };
    let file_mode = u32::from_str_radix(mode_text.trim().trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o777 && m & 0o600 == 0o600)
        .ok_or_else(|| {
            bad(
                "metrics.file_mode",
                format!(
                    "{mode_text:?} is not a file mode like \"0644\" (octal, owner read and write)"
                ),
            )
        })?;
    if let Some(p) = &textfile
        && (p.is_relative() || p.file_name().is_none())
    {
        return Err(bad(
            "metrics.textfile",
            format!("{} must be an absolute file path", p.display()),
        ));
    }
    Ok(super::MetricsSettings {
        textfile,
        file_mode,
    })
}
