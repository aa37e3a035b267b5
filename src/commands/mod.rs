//! The commands, one file each: a pass ([`pass`]: `--sync-now`, `--dry-run`, and the one
//! the daemon runs), [`list`], [`verify`] (the scrub and its repair), [`check`] and `demo` (with
//! the `demo` feature). Each returns
//! an exit code (see [`crate::exit`]); per-target failures are reported and counted, never fatal
//! to the other targets. This file holds what they share: the error type and the API client.

pub mod check;
#[cfg(feature = "demo")]
pub mod demo;
pub mod list;
pub mod pass;
pub mod verify;
pub mod verify_archive;

use crate::api::client::ApiClient;
use crate::api::credentials::{CredentialError, CredentialProvider};
use crate::config::Settings;
use crate::{exit, http, sync};

pub use pass::{exit_code, pass_and_report, sync_now};

/// At start, a metrics file that cannot be written is a setup error (once), not a warning
/// every pass.
///
/// # Errors
/// [`AppError::Metrics`].
pub fn check_metrics(settings: &Settings) -> Result<(), AppError> {
    match &settings.metrics.textfile {
        Some(path) => crate::metrics::check_writable(path, settings.metrics.file_mode)
            .map_err(AppError::Metrics),
        None => Ok(()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("credentials: {0}")]
    Credentials(#[from] CredentialError),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    #[error("{0}")]
    Sync(#[from] sync::SyncError),
    #[error("cannot start the bundled emulator: {0}")]
    Emulator(#[source] std::io::Error),
    #[error("cannot install the signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    #[error(
        "metrics.textfile cannot be written: {0}; fix the path or its folder's permissions (under systemd, ReadWritePaths= must include it)"
    )]
    Metrics(#[source] crate::store::StoreError),
    /// A task of the program itself panicked (a bug).
    #[error("the scrub thread stopped unexpectedly (a bug; please report it): {0}")]
    Scrub(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Archive(#[from] crate::archive::ArchiveError),
    #[error("--archive needs an [archive] section in the config (see config/example.toml)")]
    NoArchive,
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Credentials(_)
            | AppError::Metrics(_)
            | AppError::NoArchive
            | AppError::Config(_)
            | AppError::Archive(crate::archive::ArchiveError::Setup { .. }) => exit::SETUP,
            AppError::Archive(_) => exit::FAILED,
            AppError::Sync(e) => e.exit_code(),
            AppError::Http(_)
            | AppError::Output(_)
            | AppError::Emulator(_)
            | AppError::Signals(_)
            | AppError::Scrub(_) => exit::FAILED,
        }
    }
}

/// Builds the API client the settings describe, resolving credentials once.
pub async fn api_client(settings: &Settings) -> Result<ApiClient, AppError> {
    let credentials = CredentialProvider::from_settings(&settings.credentials).await?;
    tracing::info!(source = credentials.source_name(), endpoint = %settings.api.endpoint, "using credentials");
    let http = http::client(settings.api.timeout, settings.api.timeout).map_err(AppError::Http)?;
    Ok(ApiClient::new(
        http,
        settings.api.endpoint.clone(),
        settings.api.region_id.clone(),
        credentials,
        settings.api.retry,
        settings.api.page_size,
    ))
}
