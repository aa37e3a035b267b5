//! The sync pass: list → plan → download (concurrently) → publish → prune → report.
//!
//! [`plan`] and [`prune::plan`] are pure; [`download`] and [`sink`] do the I/O of one file;
//! [`run`] wires a pass together and [`report`] says what happened.

pub mod archive;
pub mod body;
pub mod check;
pub mod download;
pub mod error;
pub mod export;
pub mod follow;
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
