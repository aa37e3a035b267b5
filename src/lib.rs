//! dds-backup-sync keeps a verified local copy of every ApsaraDB for MongoDB backup.
//!
//! The data path of one backup, each step in one module, none importing one that imports it
//! (`tests/architecture.rs` checks it):
//!
//! fleet ([`fleet`], pure) → listing ([`listing`]) → [`model::Listed`] → plan ([`sync::plan`], a value)
//! → export (snapshots only: [`sync::export`], its DBS download task) → download
//! ([`sync::download`], [`sync::parts`], [`sync::request`], [`sync::body`], [`sync::sink`];
//! every GET built by [`sync::oss`]) → check ([`sync::check`], pure) → commit ([`store`]) →
//! offsite ([`sync::offsite`]: the archive step, decided as one value by
//! [`sync::offsite::plan::step`], applied through [`archive`]) → prune ([`sync::prune`],
//! applied by the store) → report ([`sync::report`], [`metrics`]).
//!
//! The pure core (no clock, disk or network; `now` comes in):
//! - [`model`]: the domain's values: `Backup`, `BackupKey`, `Listed`, `Manifest`, what is on
//!   disk (`OnDisk`), the retention `Rules`, the object's `Identity`, the format `Verdict`.
//! - [`fleet`]: which instances a pass covers (configured and discovered) and how each is
//!   listed (one instance, per shard node, or by its cluster backups).
//! - [`sync::plan`], [`sync::prune`], [`sync::check`]: what to fetch, keep and publish;
//!   [`sync::export::step`]: the next step of a snapshot's download task.
//! - [`verify::format`], [`verify::verdict`]: archive format checks and their verdicts.
//! - [`api::sign`] (signature V1), [`api::model`] (wire JSON → `Backup`), [`names`] (ids and
//!   file names as path segments), [`urls`] (the one URL rule), [`units`] (`64KiB`),
//!   [`text`] (network text shown as data), [`hex`], [`retry`] (the backoff policy),
//!   [`rate`] (token-bucket arithmetic and the bandwidth timetable).
//!
//! The I/O shell:
//! - [`store`]: the only module that opens, renames, deletes or stats under `download.dir`
//!   (paths, lock, the scan of what is on disk, sidecar, partial file, commit, prune and repair), never
//!   through a link.
//! - [`listing`]: discovery, shard lookups and listings, per region, several at once; the one
//!   way to list a target (a pass, a URL refresh, `--check`).
//! - [`archive`]: the only code that talks to the object store of `[archive]`.
//! - [`api::client`], [`api::fleet`], [`api::dbs`] and [`api::credentials`]: `DescribeBackups`,
//!   the fleet calls and the DBS download-task calls over HTTP; env, config,
//!   aliyun CLI profile and ECS RAM role credentials.
//! - [`sync::run`]: one pass wired together; [`sync::download`] and its helpers move bytes.
//! - [`verify`]: the scrub over the store's copies.
//! - [`commands`]: one file per command (pass, list, verify, demo); [`daemon`]: the schedule,
//!   SIGHUP reload and sd_notify; [`signals`]: the one signal source; [`metrics`]: the textfile.
//! - [`config`]: TOML + env layering into validated, immutable [`config::Settings`];
//!   [`schedule`]: DST-correct cron (chrono stays inside it); [`http`]: the one HTTP client
//!   builder (rustls + webpki roots); [`progress`]: bars on a TTY, log lines otherwise;
//!   [`secret`]: redaction; [`exit`]: the exit codes; [`cli`]: the flags; [`hooks`]: commands
//!   and pings after a pass; [`throttle`]: the shared bandwidth limit that downloads and the
//!   scrub wait on.
//!
//! The fake DescribeBackups API + OSS used by the tests, the benchmark and `--demo` is its own
//! crate, `dds-emulator` (folder `dds-emulator/`), which never depends on this one; the daemon
//! links it only through the default `demo` feature.

pub mod api;
pub mod archive;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod exit;
pub mod fleet;
pub mod hex;
pub mod hooks;
pub mod http;
pub mod listing;
pub mod metrics;
pub mod model;
pub mod names;
pub mod progress;
pub mod rate;
pub mod retry;
pub mod schedule;
pub mod secret;
pub mod signals;
pub mod store;
pub mod sync;
pub mod text;
pub mod throttle;
pub mod units;
pub mod urls;
pub mod verify;
