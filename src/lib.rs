//! dds-backup-sync keeps a verified local copy of every ApsaraDB for MongoDB backup.
//!
//! Architecture (a pure core inside a thin I/O shell):
//! - [`api`]: the `DescribeBackups` client. [`api::sign`] is the pure signature V1;
//!   [`api::model`] turns lenient wire JSON into domain [`api::model::Backup`]s;
//!   [`api::client`] builds, signs, sends with bounded retry and pages;
//!   [`api::credentials`] finds credentials (env, config, aliyun CLI profile, ECS RAM role).
//! - [`config`]: TOML + env layering into validated, immutable [`config::Settings`].
//! - [`names`]: ids and file names that become path segments (nothing escapes the download dir).
//! - [`retry`]: the bounded backoff policy shared by API calls and downloads.
//! - [`http`]: the one HTTP client builder (rustls + webpki roots).
//! - [`secret`]: redaction of secrets and presigned URLs.
//! - [`units`]: byte sizes as operators write them (`64KiB`, `400MiB`).
//! - [`text`]: network text shown as data (controls and bidi escaped) in logs, errors and `--list`.
//!
//! The fake DescribeBackups API + OSS used by the tests, the benchmark and `--demo` is its own
//! crate, `dds-emulator` (folder `dds-emulator/`), which never depends on this one.

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod exit;
pub mod http;
pub mod listing;
pub mod metrics;
pub mod names;
pub mod progress;
pub mod retry;
pub mod schedule;
pub mod secret;
pub mod store;
pub mod sync;
pub mod text;
pub mod units;
pub mod verify;
