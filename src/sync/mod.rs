//! The sync pass: list → plan → export → download (concurrently) → check → commit → offsite
//! (the archive: upload, seal, its retention) → prune → report.
//!
//! [`plan`], [`prune`], [`check`] and [`offsite::plan`] are pure; [`export`] drives DBS
//! download tasks; [`download`] (with [`parts`], [`request`], [`body`], [`sink`]) does the
//! I/O of one file; [`offsite`] applies the archive step; [`run`] wires a pass together and
//! [`report`] says what happened.

pub mod body;
pub mod check;
pub mod download;
pub mod error;
pub mod export;
pub mod follow;
pub mod offsite;
pub mod oss;
pub mod parts;
pub mod plan;
pub mod prune;
pub mod report;
pub mod request;
pub mod run;
pub mod sink;
pub mod space;

pub use run::{PassOptions, SyncError, run_pass};
