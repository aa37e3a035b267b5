//! The `[[discover]]` blocks: raw keys → [`DiscoverSettings`], every error naming its key
//! (`discover[N].key`).

use super::raw::RawDiscover;
use super::sections::{Bad, DurationOf, lookback, region};
use super::{ConfigError, DiscoverSettings, InstanceType, Region};
use crate::api::fleet::MAX_TAGS;

/// Every `[[discover]]` block, validated.
pub(super) fn discover(
    raw: Vec<RawDiscover>,
    default_region: &Region,
    bad: Bad<'_>,
    duration: DurationOf<'_>,
) -> Result<Vec<DiscoverSettings>, ConfigError> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, d) in raw.into_iter().enumerate() {
        let key = |k: &str| format!("discover[{i}].{k}");
        let instance_type = match d.instance_type.as_deref().map(str::trim) {
            None | Some("") => None,
            Some("replicate") => Some(InstanceType::Replicate),
            Some("sharding") => Some(InstanceType::Sharding),
            Some(other) => {
                return Err(bad(
                    &key("instance_type"),
                    format!(
                        "{other:?} is not \"replicate\" or \"sharding\" (leave it out for both)"
                    ),
                ));
            }
        };
        if d.tags.len() > MAX_TAGS {
            return Err(bad(
                &key("tags"),
                format!(
                    "at most {MAX_TAGS} tags (the API's limit), got {}",
                    d.tags.len()
                ),
            ));
        }
        if let Some(k) = d.tags.keys().find(|k| k.trim().is_empty()) {
            return Err(bad(&key("tags"), format!("tag key {k:?} is empty")));
        }
        let pattern = |k: &str, p: Option<String>| -> Result<Option<String>, ConfigError> {
            match p.filter(|p| !p.is_empty()) {
                Some(p) if p.chars().any(char::is_control) => {
                    Err(bad(&key(k), format!("{p:?} holds a control character")))
                }
                other => Ok(other),
            }
        };
        out.push(DiscoverSettings {
            region: region(
                &format!("discover[{i}]"),
                d.region_id,
                d.endpoint,
                default_region,
                bad,
            )?,
            instance_type,
            tags: d.tags.into_iter().collect(),
            id_pattern: pattern("id_pattern", d.id_pattern)?,
            description_pattern: pattern("description_pattern", d.description_pattern)?,
            resource_group_id: d.resource_group_id.filter(|s| !s.is_empty()),
            lookback: lookback(&key("lookback"), d.lookback, bad, duration)?,
            expect_at_least: match d.expect_at_least {
                None => 1,
                Some(n) if (0..=100_000).contains(&n) => n as usize,
                Some(n) => {
                    return Err(bad(
                        &key("expect_at_least"),
                        format!("must be between 0 and 100000 (got {n})"),
                    ));
                }
            },
        });
    }
    Ok(out)
}
