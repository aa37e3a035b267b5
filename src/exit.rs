//! The documented exit codes (README, "Exit codes").

/// Everything fine.
pub const OK: u8 = 0;
/// Some backup failed, or `--verify` found a mismatch.
pub const FAILED: u8 = 1;
/// Config, usage, credential or permission problem: fix the setup.
pub const SETUP: u8 = 2;
/// Another run holds the lock on the download directory (EX_TEMPFAIL).
pub const LOCKED: u8 = 75;
