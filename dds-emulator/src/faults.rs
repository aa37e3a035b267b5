//! Fault injection: what to break, how often, and for which object.
//!
//! Owns the [`Faults`] description (a scenario file, flags or a test builds it) and its runtime
//! form, whose "next N" counters are consumed atomically by concurrent requests, so a test that
//! asks for two throttles gets exactly two. It decides *whether* a fault fires; the API and OSS
//! handlers decide what firing looks like.
//!
//! Scenario file (TOML, or JSON when the name ends in `.json`); every key is optional:
//! ```toml
//! [api]
//! throttle_next = 2          # 400 Throttling.User (any action)
//! unavailable_next = 1       # 503 ServiceUnavailable
//! internal_error_next = 0    # 500 InternalError
//! expired_urls_next = 1      # the next responses carry URLs that already expired
//! url_ttl = "30s"            # lifetime of the URLs issued from now on
//! loose_types = true         # BackupId as a number, IsAvail as 1/0
//!
//! [oss]
//! errors_next = 1            # 503 on the next file requests
//! ignore_range = false       # always 200 with the whole object
//! wrong_crc = ["*"]          # wrong x-oss-hash-crc64ecma (object names or backup ids; "*" = all)
//! short_objects = { "32102001" = 1000 }   # serve only 1000 bytes of that object
//!
//! [[oss.drop]]               # cut the connection after 65536 body bytes, twice
//! after_bytes = 65536
//! count = 2
//! object = "32102001"        # optional: name or backup id
//!
//! [[oss.stall]]              # stop sending for 5 s after 1024 body bytes, once
//! after_bytes = 1024
//! duration = "5s"
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Every fault the emulator can inject. `Default` is "no faults".
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    pub api: ApiFaults,
    pub oss: OssFaults,
}

/// Faults of the API, every action alike; counters apply to requests that passed authentication.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiFaults {
    pub throttle_next: u32,
    pub unavailable_next: u32,
    pub internal_error_next: u32,
    pub expired_urls_next: u32,
    /// Overrides the configured URL lifetime.
    #[serde(deserialize_with = "opt_duration")]
    pub url_ttl: Option<Duration>,
    /// Emit the loose wire types seen in the wild: `BackupId` as a number, `IsAvail` as 1/0.
    pub loose_types: bool,
}

/// Faults of the OSS file endpoint.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OssFaults {
    /// Answer the next N file requests with 503.
    pub errors_next: u32,
    pub drop: Vec<DropFault>,
    pub stall: Vec<StallFault>,
    pub ignore_range: bool,
    /// Objects (name or backup id; `*` for all) served with a wrong CRC header.
    pub wrong_crc: Vec<String>,
    /// Object (name or backup id) → bytes actually served, fewer than `BackupSize`.
    pub short_objects: BTreeMap<String, u64>,
}

/// Close the connection after `after_bytes` bytes of a response body, for the next `count` GETs.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropFault {
    pub after_bytes: u64,
    #[serde(default = "one")]
    pub count: u32,
    /// Object name or backup id; `None` matches every object.
    #[serde(default)]
    pub object: Option<String>,
}

/// Stop sending for `duration` after `after_bytes` bytes of a response body, for `count` GETs.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StallFault {
    pub after_bytes: u64,
    #[serde(deserialize_with = "duration")]
    pub duration: Duration,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub object: Option<String>,
}

fn one() -> u32 {
    1
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(serde::de::Error::custom)
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

/// A scenario file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("reading scenario {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing scenario {path}: {message}")]
    Parse { path: String, message: String },
}

impl Faults {
    /// Reads a scenario file: JSON if the name ends in `.json`, TOML otherwise.
    pub fn from_file(path: &Path) -> Result<Faults, ScenarioError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: shown.clone(),
            source,
        })?;
        let parsed = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| e.to_string())
        } else {
            toml::from_str(&text).map_err(|e| e.to_string())
        };
        parsed.map_err(|message| ScenarioError::Parse {
            path: shown,
            message,
        })
    }
}

/// `true` if `pattern` names this object (by name or backup id) or is `*`.
fn matches(pattern: &str, name: &str, backup_id: &str) -> bool {
    pattern == "*" || pattern == name || pattern == backup_id
}

/// A counter consumed one request at a time.
#[derive(Debug, Default)]
struct Budget(AtomicU32);

impl Budget {
    fn new(n: u32) -> Self {
        Budget(AtomicU32::new(n))
    }

    /// Takes one unit; `false` when none is left (never goes below zero under contention).
    fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    fn left(&self) -> u32 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The runtime form of [`Faults`]; replaced as a whole by `Emulator::set_faults`.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    faults: Faults,
    throttle: Budget,
    unavailable: Budget,
    internal: Budget,
    expired_urls: Budget,
    file_errors: Budget,
    drops: Vec<Budget>,
    stalls: Vec<Budget>,
}

/// An API fault that fires instead of the normal answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ApiFault {
    Throttle,
    Unavailable,
    Internal,
}

/// What to do to one file response body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BodyPlan {
    pub drop_after: Option<u64>,
    pub stall: Option<(u64, Duration)>,
}

impl FaultState {
    pub fn new(faults: Faults) -> Self {
        let a = &faults.api;
        FaultState {
            throttle: Budget::new(a.throttle_next),
            unavailable: Budget::new(a.unavailable_next),
            internal: Budget::new(a.internal_error_next),
            expired_urls: Budget::new(a.expired_urls_next),
            file_errors: Budget::new(faults.oss.errors_next),
            drops: faults
                .oss
                .drop
                .iter()
                .map(|d| Budget::new(d.count))
                .collect(),
            stalls: faults
                .oss
                .stall
                .iter()
                .map(|s| Budget::new(s.count))
                .collect(),
            faults,
        }
    }

    /// The configured faults with the counters as they stand now (what is left to fire).
    pub fn remaining(&self) -> Faults {
        let mut f = self.faults.clone();
        f.api.throttle_next = self.throttle.left();
        f.api.unavailable_next = self.unavailable.left();
        f.api.internal_error_next = self.internal.left();
        f.api.expired_urls_next = self.expired_urls.left();
        f.oss.errors_next = self.file_errors.left();
        for (d, b) in f.oss.drop.iter_mut().zip(&self.drops) {
            d.count = b.left();
        }
        for (s, b) in f.oss.stall.iter_mut().zip(&self.stalls) {
            s.count = b.left();
        }
        f
    }

    /// Throttling first (the gateway throttles before the service runs), then server errors.
    pub fn next_api_fault(&self) -> Option<ApiFault> {
        if self.throttle.take() {
            Some(ApiFault::Throttle)
        } else if self.unavailable.take() {
            Some(ApiFault::Unavailable)
        } else if self.internal.take() {
            Some(ApiFault::Internal)
        } else {
            None
        }
    }

    /// `true` if the URLs of this response must already be expired.
    pub fn take_expired_urls(&self) -> bool {
        self.expired_urls.take()
    }

    pub fn url_ttl(&self) -> Option<Duration> {
        self.faults.api.url_ttl
    }

    pub fn loose_types(&self) -> bool {
        self.faults.api.loose_types
    }

    pub fn take_file_error(&self) -> bool {
        self.file_errors.take()
    }

    pub fn ignore_range(&self) -> bool {
        self.faults.oss.ignore_range
    }

    pub fn wrong_crc(&self, name: &str, backup_id: &str) -> bool {
        self.faults
            .oss
            .wrong_crc
            .iter()
            .any(|p| matches(p, name, backup_id))
    }

    /// The size actually served, if this object is configured short.
    pub fn short_size(&self, name: &str, backup_id: &str) -> Option<u64> {
        self.faults
            .oss
            .short_objects
            .iter()
            .find(|(p, _)| matches(p, name, backup_id))
            .map(|(_, size)| *size)
    }

    /// Consumes the first matching drop and stall rule with budget left, for one GET body.
    pub fn body_plan(&self, name: &str, backup_id: &str) -> BodyPlan {
        let applies = |object: &Option<String>| {
            object
                .as_deref()
                .is_none_or(|p| matches(p, name, backup_id))
        };
        let drop_after = self
            .faults
            .oss
            .drop
            .iter()
            .zip(&self.drops)
            .find(|(d, b)| applies(&d.object) && b.take())
            .map(|(d, _)| d.after_bytes);
        let stall = self
            .faults
            .oss
            .stall
            .iter()
            .zip(&self.stalls)
            .find(|(s, b)| applies(&s.object) && b.take())
            .map(|(s, _)| (s.after_bytes, s.duration));
        BodyPlan { drop_after, stall }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_consumed_exactly() {
        let s = FaultState::new(Faults {
            api: ApiFaults {
                throttle_next: 2,
                internal_error_next: 1,
                ..Default::default()
            },
            ..Default::default()
        });
        assert_eq!(s.next_api_fault(), Some(ApiFault::Throttle));
        assert_eq!(s.remaining().api.throttle_next, 1);
        assert_eq!(s.next_api_fault(), Some(ApiFault::Throttle));
        assert_eq!(s.next_api_fault(), Some(ApiFault::Internal));
        assert_eq!(s.next_api_fault(), None);
    }

    #[test]
    fn body_rules_match_objects_and_run_out() {
        let s = FaultState::new(Faults {
            oss: OssFaults {
                drop: vec![DropFault {
                    after_bytes: 10,
                    count: 1,
                    object: Some("b1".into()),
                }],
                stall: vec![StallFault {
                    after_bytes: 0,
                    duration: Duration::from_secs(1),
                    count: 2,
                    object: None,
                }],
                ..Default::default()
            },
            ..Default::default()
        });
        let other = s.body_plan("other", "b2");
        assert_eq!(other.drop_after, None, "the drop is for b1 only");
        assert!(other.stall.is_some());
        let p = s.body_plan("f.tar.gz", "b1");
        assert_eq!(p.drop_after, Some(10));
        assert_eq!(p.stall, Some((0, Duration::from_secs(1))));
        assert_eq!(
            s.body_plan("f.tar.gz", "b1"),
            BodyPlan::default(),
            "both budgets are spent"
        );
    }

    #[test]
    fn scenario_files_parse_as_toml_and_json() {
        let dir = tempfile::tempdir().unwrap();
        let toml_path = dir.path().join("s.toml");
        std::fs::write(
            &toml_path,
            "[api]\nthrottle_next = 2\nurl_ttl = \"30s\"\n[oss]\nwrong_crc = [\"*\"]\nshort_objects = { \"1\" = 5 }\n[[oss.drop]]\nafter_bytes = 100\n[[oss.stall]]\nafter_bytes = 1\nduration = \"250ms\"\ncount = 3\n",
        )
        .unwrap();
        let f = Faults::from_file(&toml_path).unwrap();
        assert_eq!(f.api.throttle_next, 2);
        assert_eq!(f.api.url_ttl, Some(Duration::from_secs(30)));
        assert_eq!(f.oss.drop[0].count, 1);
        assert_eq!(f.oss.stall[0].duration, Duration::from_millis(250));
        assert_eq!(f.oss.short_objects["1"], 5);
        let json_path = dir.path().join("s.json");
        std::fs::write(&json_path, r#"{"oss": {"ignore_range": true}}"#).unwrap();
        assert!(Faults::from_file(&json_path).unwrap().oss.ignore_range);
        std::fs::write(&json_path, r#"{"oss": {"ignore_rang": true}}"#).unwrap();
        let err = Faults::from_file(&json_path).unwrap_err().to_string();
        assert!(err.contains("ignore_rang"), "{err}");
    }
}
