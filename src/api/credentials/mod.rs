//! Finds the Alibaba Cloud credentials the API client signs with, and keeps ECS RAM role
//! credentials fresh.
//!
//! Owns the order of the sources (the one the official SDKs and the aliyun CLI use, with the
//! config file's explicit settings slotted in after the environment):
//! 1. environment: `ALIBABA_CLOUD_ACCESS_KEY_ID` / `_SECRET` / `ALIBABA_CLOUD_SECURITY_TOKEN`,
//!    or the aliyun CLI's `ALICLOUD_ACCESS_KEY` / `ALICLOUD_SECRET_KEY` / `ALICLOUD_SECURITY_TOKEN`;
//! 2. the config file: `api.access_key_id` + `api.access_key_secret` (+ `api.security_token`),
//!    or an explicit `api.ecs_ram_role`;
//! 3. the aliyun CLI profile file `~/.aliyun/config.json` ([`profile`]);
//! 4. the ECS RAM role through the instance metadata service ([`ecs`]).
//!
//! The choice is pure ([`choose_source`]: env, options and file contents come in as
//! arguments); [`CredentialProvider`] is the thin I/O shell around it.
//!
//! Must not: sign requests, read the daemon's config file (the config module hands over
//! [`CredentialOptions`]), or let a secret reach a log, an error message or `Debug` output
//! (every secret is a [`Secret`]; errors carry names, paths, modes and URLs only).
//!
//! Reference: <https://www.alibabacloud.com/help/en/sdk/developer-reference/v2-manage-access-credentials>

pub mod ecs;
pub mod profile;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::secret::Secret;
use crate::text::shown;

pub use profile::{ProfileContents, ProfileInput};

/// The metadata service every ECS instance reaches at a link-local-like address.
pub const DEFAULT_METADATA_URL: &str = "http://100.100.100.200";

/// What to fix when nothing was found; shown at the end of [`CredentialError::NotFound`].
const HOW_TO_FIX: &str = "set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, \
     or api.access_key_id and api.access_key_secret in the config file, \
     or configure an aliyun CLI profile (aliyun configure), \
     or run on an ECS instance with a RAM role attached";

/// One set of keys to sign with. `Debug` shows the key id only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: Secret,
    /// Present for STS credentials (StsToken profiles, ECS RAM roles); sent as `SecurityToken`.
    pub security_token: Option<Secret>,
}

/// What the config module passes in. `Debug` is safe: the secrets are [`Secret`]s.
#[derive(Clone, Debug)]
pub struct CredentialOptions {
    /// `api.access_key_id`; must come with `access_key_secret`.
    pub access_key_id: Option<String>,
    /// `api.access_key_secret`.
    pub access_key_secret: Option<Secret>,
    /// `api.security_token`, for STS keys written into the config file.
    pub security_token: Option<Secret>,
    /// `api.profile_path`; `None` means `$HOME/.aliyun/config.json`.
    pub profile_path: Option<PathBuf>,
    /// `api.profile`; `None` means `ALIBABA_CLOUD_PROFILE`, then the file's `current`.
    pub profile_name: Option<String>,
    /// `api.ecs_metadata_url`, normally [`DEFAULT_METADATA_URL`].
    pub ecs_metadata_url: String,
    /// `api.ecs_ram_role`: use this role (skipping the profile file and role discovery).
    pub ecs_role_name: Option<String>,
    /// `api.use_ecs_ram_role`: whether to try the metadata service when nothing else was found.
    /// An explicit `ecs_role_name` or an `EcsRamRole` profile is honoured either way.
    pub allow_ecs: bool,
    /// The configured key pair is used whatever the environment holds (`--demo`, whose
    /// emulator knows only its own keys: an operator's `ALIBABA_CLOUD_*` must not win there).
    pub pinned: bool,
}

impl Default for CredentialOptions {
    fn default() -> Self {
        CredentialOptions {
            access_key_id: None,
            access_key_secret: None,
            security_token: None,
            profile_path: None,
            profile_name: None,
            ecs_metadata_url: DEFAULT_METADATA_URL.to_string(),
            ecs_role_name: None,
            allow_ecs: true,
            pinned: false,
        }
    }
}

/// The source [`choose_source`] picked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Keys that never change while the process runs.
    Static {
        credentials: Credentials,
        /// For the startup log line: "environment", "config file", "aliyun profile 'x'".
        name: String,
    },
    /// Ask the metadata service, for this role or (when `None`) the one attached to the instance.
    EcsRamRole {
        role_name: Option<String>,
        origin: EcsOrigin,
    },
}

/// Why the ECS metadata service is being asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EcsOrigin {
    /// `api.ecs_ram_role` is set.
    Config,
    /// The aliyun profile with this name has mode `EcsRamRole`.
    Profile(String),
    /// Nothing else was found; `tried` lists what was, for the error when this fails too.
    Fallback { tried: Vec<String> },
}

/// Everything that can go wrong finding credentials. Messages are one line and never contain a
/// secret; what the metadata service sent (a role name, a Code, an Expiration) is shown as data.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("no credentials found (tried: {}); {HOW_TO_FIX}", tried.join("; "))]
    NotFound { tried: Vec<String> },
    #[error("{present} is set but {missing} is not; set both or neither")]
    HalfSet {
        present: &'static str,
        missing: &'static str,
    },
    #[error("aliyun profile file {}: {reason}", path.display())]
    ProfileFile { path: PathBuf, reason: String },
    #[error(
        "aliyun profile '{profile}' in {} uses mode '{mode}', which dds-backup-sync does not \
         support; use a profile with mode AK, StsToken or EcsRamRole",
        path.display()
    )]
    UnsupportedProfileMode {
        path: PathBuf,
        profile: String,
        mode: String,
    },
    #[error("invalid ECS metadata service URL {url:?}: {reason}")]
    MetadataUrl { url: String, reason: String },
    #[error("cannot build the HTTP client for the ECS metadata service: {0}")]
    Client(#[source] reqwest::Error),
    #[error("ECS metadata service {url}: {reason}")]
    MetadataUnreachable { url: String, reason: String },
    #[error("ECS metadata service {url} answered HTTP {status}{hint}")]
    MetadataStatus {
        url: String,
        status: u16,
        /// Empty, or "; " and what the status usually means.
        hint: &'static str,
    },
    #[error("ECS metadata service {url}: {}", shown(reason))]
    MetadataResponse { url: String, reason: String },
    #[error(
        "ECS metadata service {url}: credentials for RAM role '{}' came with Code \"{}\", \
         not \"Success\"",
        shown(role),
        shown(code)
    )]
    MetadataCode {
        url: String,
        role: String,
        code: String,
    },
    #[error(
        "credentials for ECS RAM role '{}' were already expired when received \
         (Expiration {}); check the host clock",
        shown(role),
        shown(expiration)
    )]
    Expired { role: String, expiration: String },
}

impl CredentialError {
    /// True for failures that may pass on their own: the metadata service did not answer or
    /// answered 429/5xx. Everything else needs the operator.
    pub fn is_retryable(&self) -> bool {
        match self {
            CredentialError::MetadataUnreachable { .. } => true,
            CredentialError::MetadataStatus { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// The names of one set of environment variables.
struct EnvNames {
    id: &'static str,
    secret: &'static str,
    token: &'static str,
    label: &'static str,
}

const ENV_SETS: [EnvNames; 2] = [
    EnvNames {
        id: "ALIBABA_CLOUD_ACCESS_KEY_ID",
        secret: "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        token: "ALIBABA_CLOUD_SECURITY_TOKEN",
        label: "environment",
    },
    // The aliyun CLI's older names, which operators often already have exported.
    EnvNames {
        id: "ALICLOUD_ACCESS_KEY",
        secret: "ALICLOUD_SECRET_KEY",
        token: "ALICLOUD_SECURITY_TOKEN",
        label: "environment (ALICLOUD_*)",
    },
];

/// Picks the credential source, first match wins (see the module docs for the order).
///
/// `env` looks up an environment variable (`std::env::var` in production); `profile` is what
/// the shell found at the profile path (`None` when no path could be formed, e.g. no `HOME`).
/// Empty or blank values count as unset everywhere.
///
/// # Errors
/// A half-set pair of keys, an unusable profile file or profile, or nothing found while the
/// ECS fallback is disabled.
pub fn choose_source(
    env: &dyn Fn(&str) -> Option<String>,
    opts: &CredentialOptions,
    profile: Option<&ProfileInput>,
) -> Result<Source, CredentialError> {
    let env = |name: &str| nonblank(env(name));
    let mut tried = Vec::new();

    if opts.pinned
        && let Some(source) = config_source(opts)?
    {
        return Ok(source);
    }
    if let Some(source) = env_source(&env)? {
        return Ok(source);
    }
    tried.push("environment: ALIBABA_CLOUD_ACCESS_KEY_ID and ALICLOUD_ACCESS_KEY not set".into());

    if let Some(source) = config_source(opts)? {
        return Ok(source);
    }
    tried.push("config file: api.access_key_id not set".into());

    let wanted = match nonblank(opts.profile_name.clone()) {
        Some(name) => Some((name, "api.profile")),
        None => env("ALIBABA_CLOUD_PROFILE").map(|name| (name, "ALIBABA_CLOUD_PROFILE")),
    };
    match profile::resolve(
        profile,
        wanted.as_ref().map(|(n, from)| (n.as_str(), *from)),
    )? {
        profile::Outcome::Found(source) => return Ok(source),
        profile::Outcome::Skipped(why) => tried.push(why),
    }

    // The official SDKs' switch for hosts where probing 100.100.100.200 is unwanted.
    let disabled =
        env("ALIBABA_CLOUD_ECS_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !opts.allow_ecs || disabled {
        let why = if disabled {
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED=true"
        } else {
            "api.use_ecs_ram_role = false"
        };
        tried.push(format!("ECS RAM role: disabled by {why}"));
        return Err(CredentialError::NotFound { tried });
    }
    // ALIBABA_CLOUD_ECS_METADATA names the role in the official SDKs; without it we ask.
    let role_name = env("ALIBABA_CLOUD_ECS_METADATA");
    Ok(Source::EcsRamRole {
        role_name,
        origin: EcsOrigin::Fallback { tried },
    })
}

/// Step 1: either set of environment variables.
fn env_source(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Source>, CredentialError> {
    for names in &ENV_SETS {
        let id = env(names.id);
        let secret = env(names.secret).map(Secret::new);
        let token = env(names.token).map(Secret::new);
        // A lone token variable is ignored: other tools leave it behind, and it means nothing
        // without keys.
        if let Some(credentials) = pair(id, secret, token, names.id, names.secret, None)? {
            let name = names.label.to_string();
            return Ok(Some(Source::Static { credentials, name }));
        }
    }
    Ok(None)
}

/// Step 2: keys or a role name written into the daemon's config file.
fn config_source(opts: &CredentialOptions) -> Result<Option<Source>, CredentialError> {
    let keys = pair(
        nonblank(opts.access_key_id.clone()),
        nonblank_secret(opts.access_key_secret.as_ref()),
        nonblank_secret(opts.security_token.as_ref()),
        "api.access_key_id",
        "api.access_key_secret",
        Some("api.security_token"),
    )?;
    if let Some(credentials) = keys {
        let name = "config file".to_string();
        return Ok(Some(Source::Static { credentials, name }));
    }
    // An explicit role in our own config is more deliberate than whatever profile the user
    // running the daemon happens to have, so it comes before the profile file.
    Ok(
        nonblank(opts.ecs_role_name.clone()).map(|role| Source::EcsRamRole {
            role_name: Some(role),
            origin: EcsOrigin::Config,
        }),
    )
}

fn nonblank(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn nonblank_secret(value: Option<&Secret>) -> Option<Secret> {
    value
        .map(|s| Secret::new(s.expose().trim()))
        .filter(|s| !s.is_empty())
}

/// Keys from an id/secret pair: both or neither, and a token only with them.
fn pair(
    id: Option<String>,
    secret: Option<Secret>,
    token: Option<Secret>,
    id_name: &'static str,
    secret_name: &'static str,
    token_name: Option<&'static str>,
) -> Result<Option<Credentials>, CredentialError> {
    match (id, secret) {
        (Some(access_key_id), Some(access_key_secret)) => Ok(Some(Credentials {
            access_key_id,
            access_key_secret: Secret::new(access_key_secret.expose().trim()),
            security_token: nonblank_secret(token.as_ref()),
        })),
        (Some(_), None) => Err(CredentialError::HalfSet {
            present: id_name,
            missing: secret_name,
        }),
        (None, Some(_)) => Err(CredentialError::HalfSet {
            present: secret_name,
            missing: id_name,
        }),
        (None, None) => match (token, token_name) {
            (Some(_), Some(token_name)) => Err(CredentialError::HalfSet {
                present: token_name,
                missing: id_name,
            }),
            _ => Ok(None),
        },
    }
}

/// Hands out credentials for signing. Cheap to clone (one `Arc`); static sources always give
/// the same keys, an ECS RAM role refreshes them before they expire.
#[derive(Clone)]
pub struct CredentialProvider {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    kind: Kind,
}

enum Kind {
    Static(Credentials),
    Ecs(ecs::EcsRole),
}

impl fmt::Debug for CredentialProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialProvider")
            .field("source", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl CredentialProvider {
    /// A provider that always returns `credentials` (tests, embedding).
    pub fn fixed(credentials: Credentials, source_name: impl Into<String>) -> Self {
        let inner = Inner {
            name: source_name.into(),
            kind: Kind::Static(credentials),
        };
        CredentialProvider {
            inner: Arc::new(inner),
        }
    }

    /// Resolves the source from the settings and the process environment. An ECS RAM role is
    /// asked for its first credentials right away, so a missing role fails at startup.
    pub async fn from_settings(opts: &CredentialOptions) -> Result<Self, CredentialError> {
        Self::from_settings_with_env(opts, &|name| std::env::var(name).ok()).await
    }

    /// [`CredentialProvider::from_settings`] with the environment looked up through `env`
    /// (tests must not mutate the real one: `set_var` is unsafe with threads).
    pub async fn from_settings_with_env(
        opts: &CredentialOptions,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<Self, CredentialError> {
        let profile = match opts.profile_path.clone() {
            Some(path) => Some(profile::read(path).await),
            None => match nonblank(env("HOME")) {
                Some(home) => Some(
                    profile::read(PathBuf::from(home).join(".aliyun").join("config.json")).await,
                ),
                None => None,
            },
        };
        let (role_name, origin) = match choose_source(env, opts, profile.as_ref())? {
            Source::Static { credentials, name } => return Ok(Self::fixed(credentials, name)),
            Source::EcsRamRole { role_name, origin } => (role_name, origin),
        };
        let client = ecs::MetadataClient::new(&opts.ecs_metadata_url)?;
        let role = match ecs::EcsRole::start(client, role_name).await {
            Ok(role) => role,
            // Probing the metadata service was a guess; report it with everything else tried.
            Err(e) => {
                return Err(match origin {
                    EcsOrigin::Fallback { mut tried } => {
                        tried.push(format!("ECS RAM role: {e}"));
                        CredentialError::NotFound { tried }
                    }
                    _ => e,
                });
            }
        };
        // A discovered role name is the metadata service's text.
        let name = match &origin {
            EcsOrigin::Profile(profile) => format!(
                "ECS RAM role '{}' (aliyun profile '{profile}')",
                shown(role.role())
            ),
            EcsOrigin::Config | EcsOrigin::Fallback { .. } => {
                format!("ECS RAM role '{}'", shown(role.role()))
            }
        };
        Ok(CredentialProvider {
            inner: Arc::new(Inner {
                name,
                kind: Kind::Ecs(role),
            }),
        })
    }

    /// Credentials valid for at least the next few minutes (or the last good ones, when a
    /// refresh failed while they are still valid).
    ///
    /// # Errors
    /// Only for an ECS RAM role whose credentials expired and could not be refreshed.
    pub async fn get(&self) -> Result<Credentials, CredentialError> {
        match &self.inner.kind {
            Kind::Static(credentials) => Ok(credentials.clone()),
            Kind::Ecs(role) => role.get().await,
        }
    }

    /// Where the credentials come from, for the startup log line: "environment",
    /// "config file", "aliyun profile 'default'", "ECS RAM role 'name'".
    pub fn source_name(&self) -> &str {
        &self.inner.name
    }
}

#[cfg(test)]
mod tests;
