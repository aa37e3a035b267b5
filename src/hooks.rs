//! Hooks after a pass, for dead-man's switches and chat: `[hooks] on_success` / `on_failure`
//! (a command run by `sh -c`, the summary as JSON on its stdin and the counts in
//! `DDS_BACKUP_SYNC_*` environment variables, killed after `hooks.timeout`), and `ping_url`
//! (healthchecks.io style: `<url>/start` when a pass starts, `<url>` on success, `<url>/fail`
//! on failure). A hook that fails or hangs is logged; it never fails or holds up the pass
//! beyond its timeout, and the start ping does not hold it up at all.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tracing::{info, warn};

pub use crate::config::HookSettings;
use crate::sync::report::Summary;

impl HookSettings {
    fn client(&self) -> Option<reqwest::Client> {
        crate::http::Options {
            connect_timeout: self.timeout,
            read_timeout: self.timeout,
            total_timeout: Some(self.timeout),
            no_proxy: false,
        }
        .build()
        .ok()
    }

    /// `<ping_url>/start`, in the background: a slow monitoring service never delays a pass.
    pub fn started(&self) {
        if let (Some(url), Some(http)) = (&self.ping_url, self.client()) {
            let url = format!("{}/start", url.trim_end_matches('/'));
            tokio::spawn(async move { ping(&http, &url).await });
        }
    }

    /// The hooks for a pass that ran to its end: success or failure. (A pass stopped by a
    /// shutdown request is neither: a restart must not page anyone.)
    pub async fn finished(&self, summary: &Summary) {
        if summary.stopped > 0 && summary.stopped_cleanly() {
            return;
        }
        let ok = summary.ok();
        let command = if ok {
            &self.on_success
        } else {
            &self.on_failure
        };
        if let Some(command) = command {
            run_command(command, summary, ok, self.timeout).await;
        }
        if let (Some(url), Some(http)) = (&self.ping_url, self.client()) {
            let base = url.trim_end_matches('/');
            let url = if ok {
                base.to_string()
            } else {
                format!("{base}/fail")
            };
            ping(&http, &url).await;
        }
    }
}

async fn ping(http: &reqwest::Client, url: &str) {
    let shown = crate::secret::redact_url(url);
    match http.get(url).send().await {
        Ok(r) if r.status().is_success() => info!(url = %shown, "pinged"),
        Ok(r) => {
            warn!(url = %shown, status = r.status().as_u16(), "hook ping answered with an error")
        }
        Err(e) => {
            warn!(url = %shown, "hook ping failed: {}", crate::text::error_chain(&e.without_url()))
        }
    }
}

/// The counts a hook command finds in its environment.
fn env_of(summary: &Summary, ok: bool) -> Vec<(&'static str, String)> {
    vec![
        (
            "DDS_BACKUP_SYNC_OUTCOME",
            if ok { "success" } else { "failure" }.into(),
        ),
        ("DDS_BACKUP_SYNC_LISTED", summary.listed.to_string()),
        ("DDS_BACKUP_SYNC_FETCHED", summary.fetched.to_string()),
        ("DDS_BACKUP_SYNC_RESUMED", summary.resumed.to_string()),
        ("DDS_BACKUP_SYNC_FAILED", summary.failed.to_string()),
        // Listings (and discoveries) that failed: no backup failed, but a target went unseen.
        (
            "DDS_BACKUP_SYNC_LISTING_ERRORS",
            summary.listing_errors.to_string(),
        ),
        ("DDS_BACKUP_SYNC_STOPPED", summary.stopped.to_string()),
        ("DDS_BACKUP_SYNC_DAMAGED", summary.damaged.to_string()),
        ("DDS_BACKUP_SYNC_PRUNED", summary.pruned.to_string()),
        ("DDS_BACKUP_SYNC_BYTES", summary.bytes.to_string()),
        ("DDS_BACKUP_SYNC_SUMMARY", summary.to_string()),
    ]
}

async fn run_command(command: &str, summary: &Summary, ok: bool, timeout: Duration) {
    let json = serde_json::to_vec(summary).unwrap_or_default();
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .envs(env_of(summary, ok))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        // Its own process group, so a timeout kills what the shell started too (an orphan
        // would keep our stderr open, and a cron job waiting on it, for as long as it runs).
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            warn!("hook command could not start: {e}");
            return;
        }
    };
    let group = child.id();
    let run = async {
        if let Some(mut stdin) = child.stdin.take() {
            // A command that does not read its stdin is fine: a broken pipe is not a failure.
            let _ = stdin.write_all(&json).await;
        }
        child.wait().await
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(status)) if status.success() => info!("hook command finished"),
        Ok(Ok(status)) => warn!(%status, "hook command failed (the pass is not affected)"),
        Ok(Err(e)) => warn!("hook command: {e}"),
        Err(_) => {
            if let Some(pid) = group.and_then(|p| libc::pid_t::try_from(p).ok()) {
                // SAFETY: signalling the process group this function started, by its id.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
            }
            warn!(
                "hook command still running after {timeout:?}: killed (the pass is not affected)"
            );
        }
    }
}
