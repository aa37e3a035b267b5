//! How to run an emulator: credentials, data set, faults, URL lifetime and bases, clock skew and
//! body pacing (`body_rate`, `conn_rate`), as [`EmulatorConfig`]. Plain data: nothing here starts
//! or serves anything, and its `Debug` never prints a secret.

use std::fmt;
use std::time::Duration;

use time::OffsetDateTime;

use crate::{Dataset, Faults};

/// How to run an emulator. Build it with [`EmulatorConfig::demo`] or [`EmulatorConfig::new`] and
/// adjust the public fields.
#[derive(Clone)]
pub struct EmulatorConfig {
    pub access_key_id: String,
    pub access_key_secret: String,
    /// When set, every request must carry this `SecurityToken` (STS credentials).
    pub security_token: Option<String>,
    pub dataset: Dataset,
    pub faults: Faults,
    /// Lifetime of the presigned URLs in each response (default 1 h).
    pub url_ttl: Duration,
    /// Base of `BackupDownloadURL` (default: this server, e.g. `http://127.0.0.1:PORT`).
    pub public_url_base: Option<String>,
    /// Base of `BackupIntranetDownloadURL` (default: this server); point it at a closed port to
    /// simulate "intranet unreachable".
    pub intranet_url_base: Option<String>,
    /// Added to the system clock: simulates a server whose clock differs from the client's.
    pub clock_offset: time::Duration,
    /// Goes into the URLs' `Region` parameter.
    pub region: String,
    /// Paces every file body to this many bytes per second (a link slower than loopback, for
    /// benchmarks and the demo); `None`: as fast as the socket takes it.
    pub body_rate: Option<u64>,
    /// Caps each GET response body at this many bytes per second, like the ceiling of one OSS
    /// connection: every body (each connection, each ranged request) is paced on its own, so N
    /// ranged GETs in parallel together get N times the rate. Applies on top of `body_rate`
    /// (the slower wins); `None` or `Some(0)`: no cap. Changeable later with
    /// [`Emulator::set_conn_rate`](crate::Emulator::set_conn_rate).
    pub conn_rate: Option<u64>,
}

impl EmulatorConfig {
    pub fn new(access_key_id: &str, access_key_secret: &str, dataset: Dataset) -> Self {
        EmulatorConfig {
            access_key_id: access_key_id.to_string(),
            access_key_secret: access_key_secret.to_string(),
            security_token: None,
            dataset,
            faults: Faults::default(),
            url_ttl: Duration::from_secs(3600),
            public_url_base: None,
            intranet_url_base: None,
            clock_offset: time::Duration::ZERO,
            region: "cn-hangzhou".into(),
            body_rate: None,
            conn_rate: None,
        }
    }

    /// The default data set ([`Dataset::demo`]) relative to the current time.
    pub fn demo(access_key_id: &str, access_key_secret: &str) -> Self {
        EmulatorConfig::new(
            access_key_id,
            access_key_secret,
            Dataset::demo(OffsetDateTime::now_utc()),
        )
    }
}

impl fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"******")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "******"),
            )
            .field("instances", &self.dataset.instances.len())
            .field("faults", &self.faults)
            .field("url_ttl", &self.url_ttl)
            .field("body_rate", &self.body_rate)
            .field("conn_rate", &self.conn_rate)
            .field("public_url_base", &self.public_url_base)
            .field("intranet_url_base", &self.intranet_url_base)
            .field("clock_offset", &self.clock_offset)
            .finish()
    }
}
