//! Command-line arguments: what the user typed, turned into one [`Mode`].
//!
//! Only parsing lives here; loading the config and running belong to `main.rs` and the library.

use std::path::PathBuf;

use clap::Parser;

/// The modes `--max-age` and `--sample` make no sense with.
const OTHER_MODES: [&str; 6] = ["sync_now", "dry_run", "list", "demo", "check", "prune_plan"];

#[derive(Debug, Parser)]
#[command(
    name = "dds-backup-sync",
    version,
    about = "Keeps a verified local copy of every ApsaraDB for MongoDB backup",
    after_help = "Without a mode flag it runs as a daemon on schedule.cron.\n\
Exit codes: 0 fine; 1 some backup failed or a verify mismatch; 2 config/usage/auth error; \
75 another run holds the lock."
)]
pub struct Cli {
    /// Config file [default: $DDS_BACKUP_SYNC_CONFIG, else /etc/dds-backup-sync/config.toml]
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Run one sync pass now (list, download, verify, publish, prune) and exit.
    #[arg(long, group = "mode")]
    pub sync_now: bool,

    /// With --sync-now (or alone): print the plan (fetch / resume / skip / prune) and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Re-hash every local copy against its manifest and report mismatches.
    #[arg(long, group = "mode")]
    pub verify: bool,

    /// With --verify: check the copies in the archive (`[archive]`) instead, streamed from the
    /// object store (nothing is written to disk).
    #[arg(long, requires = "verify", conflicts_with_all = ["max_age", "sample"])]
    pub archive: bool,

    /// Print the retention plan only: every local (and archived) copy, keep or remove, and the
    /// rules that keep it. Changes nothing.
    #[arg(long, group = "mode")]
    pub prune_plan: bool,

    /// Check the setup without downloading: config, credentials, API, download.dir, metrics,
    /// the intranet host. One line per check; exit 0 when all pass, 2 otherwise.
    #[arg(long, group = "mode")]
    pub check: bool,
    /// With --verify: only copies whose manifest was last verified longer ago than DURATION
    /// (e.g. "30d").
    // `requires` alone lets `--sync-now --max-age` through: clap does not require an arg that
    // conflicts with one present (the mode group), so the other modes are refused by name.
    #[arg(long, requires = "verify", conflicts_with_all = OTHER_MODES, value_name = "DURATION", value_parser = parse_duration)]
    pub max_age: Option<std::time::Duration>,

    /// With --verify: a random PERCENT (1-100) of the copies (after --max-age).
    #[arg(long, requires = "verify", conflicts_with_all = OTHER_MODES, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(1..=100))]
    pub sample: Option<u8>,

    /// List the remote backups of every configured instance/node.
    #[arg(long, group = "mode")]
    pub list: bool,

    /// With --list: JSON on stdout (logs stay on stderr).
    #[arg(long, requires = "list")]
    pub json: bool,

    /// Start the bundled emulator and sync its demo data into DIR [default: ./dds-demo].
    #[arg(long, group = "mode", value_name = "DIR", num_args = 0..=1, default_missing_value = "dds-demo")]
    pub demo: Option<PathBuf>,
}

/// What one invocation does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Daemon,
    SyncNow {
        dry_run: bool,
    },
    Verify {
        max_age: Option<std::time::Duration>,
        sample: Option<u8>,
    },
    VerifyArchive,
    PrunePlan,
    List {
        json: bool,
    },
    Check,
    Demo {
        dir: PathBuf,
    },
}

impl Cli {
    pub fn mode(&self) -> Mode {
        if let Some(dir) = &self.demo {
            Mode::Demo { dir: dir.clone() }
        } else if self.check {
            Mode::Check
        } else if self.list {
            Mode::List { json: self.json }
        } else if self.verify && self.archive {
            Mode::VerifyArchive
        } else if self.prune_plan {
            Mode::PrunePlan
        } else if self.verify {
            Mode::Verify {
                max_age: self.max_age,
                sample: self.sample,
            }
        } else if self.sync_now || self.dry_run {
            Mode::SyncNow {
                dry_run: self.dry_run,
            }
        } else {
            Mode::Daemon
        }
    }
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) if d.is_zero() => Err("must be greater than zero".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{text:?} is not a duration like \"30d\" ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(args: &[&str]) -> Result<Mode, clap::Error> {
        let mut argv = vec!["dds-backup-sync"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).map(|c| c.mode())
    }

    #[test]
    fn modes() {
        assert_eq!(mode(&[]).unwrap(), Mode::Daemon);
        assert_eq!(
            mode(&["--sync-now"]).unwrap(),
            Mode::SyncNow { dry_run: false }
        );
        assert_eq!(
            mode(&["--sync-now", "--dry-run"]).unwrap(),
            Mode::SyncNow { dry_run: true }
        );
        assert_eq!(
            mode(&["--dry-run"]).unwrap(),
            Mode::SyncNow { dry_run: true }
        );
        assert_eq!(
            mode(&["--list", "--json"]).unwrap(),
            Mode::List { json: true }
        );
        assert_eq!(
            mode(&["--verify"]).unwrap(),
            Mode::Verify {
                max_age: None,
                sample: None
            }
        );
        assert_eq!(
            mode(&["--verify", "--max-age", "30d", "--sample", "10"]).unwrap(),
            Mode::Verify {
                max_age: Some(std::time::Duration::from_secs(30 * 86400)),
                sample: Some(10)
            }
        );
        assert_eq!(mode(&["--check"]).unwrap(), Mode::Check);
        assert!(mode(&["--check", "--list"]).is_err(), "one mode at a time");
        for bad in [
            &["--verify", "--sample", "0"][..],
            &["--verify", "--sample", "101"],
            &["--verify", "--max-age", "soon"],
            &["--verify", "--max-age", "0s"],
            &["--sample", "50"],
            &["--sync-now", "--max-age", "1d"],
            &["--list", "--sample", "5"],
        ] {
            assert!(mode(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            mode(&["--demo"]).unwrap(),
            Mode::Demo {
                dir: "dds-demo".into()
            }
        );
        assert_eq!(
            mode(&["--demo", "/tmp/d"]).unwrap(),
            Mode::Demo {
                dir: "/tmp/d".into()
            }
        );
    }

    #[test]
    fn conflicting_modes_are_usage_errors() {
        for args in [
            &["--list", "--sync-now"][..],
            &["--json"],
            &["--verify", "--list"],
            &["--bogus"],
        ] {
            let e = mode(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
    }
}
