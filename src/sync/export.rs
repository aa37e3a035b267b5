//! The export step of a pass, between plan and download: for every snapshot backup the plan
//! exports, drive its DBS download task (create → poll → link, [`step::next`] decides) and hand
//! the finished archive to the downloader as an ordinary [`Fetch`]. The task record is written
//! before the call that creates a task and after every answer ([`Store::write_task`]), so a
//! restart or a second host never creates a second task for the same backup.
//!
//! Only one task per instance can run at DBS: an instance's exports go one after another, and
//! one still running holds the rest back to a later pass. `--dry-run` makes no DBS call.

mod link;
pub mod step;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use self::step::Next;
use super::plan::{Export, Fetch, Via};
use super::report::Failure;
use crate::api::client::ApiClient;
use crate::api::dbs::{CreateRequest, DbsClient};
use crate::api::error::ApiError;
use crate::api::model::dbs::{DownloadTask, TaskList, TaskStatus};
use crate::config::{Network, SnapshotSettings};
use crate::model::{BackupKey, ExportInfo, TaskRecord};
use crate::store::Store;
use crate::text::shown;

/// What the export step needs of the pass.
pub struct Exporter<'a> {
    pub settings: &'a SnapshotSettings,
    /// `snapshots.network`, else `download.network`.
    pub network: Network,
    pub intranet_reachable: bool,
    pub store: &'a Store,
    pub http: reqwest::Client,
    /// Each instance's dds client (its region); DBS clients are made from them.
    pub clients: &'a HashMap<String, ApiClient>,
    pub base: &'a ApiClient,
    pub concurrency: usize,
    /// `download.retry`: the probe of a finished export is retried as a download is.
    pub retry: crate::retry::RetryPolicy,
    pub cancel: CancellationToken,
}

/// What the export step produced for the download step.
#[derive(Default)]
pub struct Exported {
    pub fetches: Vec<Fetch>,
    /// The DBS client and task of every fetch, to ask for a fresh link when one expires.
    pub tasks: HashMap<BackupKey, (DbsClient, String)>,
    pub failures: Vec<Failure>,
    /// Tasks still running when this pass stopped waiting for them.
    pub pending: usize,
    /// A failure was the credentials', the permissions' or the clock's (exit 2).
    pub setup_error: bool,
}

/// One export's state while a pass drives it.
struct Drive<'e> {
    e: &'e Export,
    dbs: DbsClient,
    deadline: Instant,
    /// `DescribeDownloadSupport` said yes in this pass.
    checked_support: bool,
    /// A new task was made for an expired one in this pass (at most once).
    renewed: bool,
}

enum Outcome {
    Ready(Box<Fetch>, DbsClient, String),
    Pending,
    Failed(ExportError),
}

/// Why one snapshot export failed this pass.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A DBS call failed: its class and RequestId kept, so a refused key exits 2.
    #[error(transparent)]
    Api(Box<ApiError>),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The GET of the finished export's first bytes (its size and kind) failed for good.
    #[error("the export link: {0}")]
    Probe(Box<crate::sync::error::DownloadError>),
    /// What DBS said of the task, or of its link (network text already shown as data).
    #[error("{0}")]
    Task(String),
}

impl From<ApiError> for ExportError {
    fn from(e: ApiError) -> Self {
        ExportError::Api(Box::new(e))
    }
}

impl ExportError {
    /// Credentials, permissions or the clock are wrong (the pass exits 2).
    pub fn is_setup(&self) -> bool {
        matches!(self, ExportError::Api(e) if e.is_auth_or_setup())
    }
}

impl Outcome {
    fn failed(message: impl Into<String>) -> Outcome {
        Outcome::Failed(ExportError::Task(message.into()))
    }
}

impl Exporter<'_> {
    /// Drives every export, instances side by side, each instance's exports in turn.
    pub async fn run(&self, exports: Vec<Export>) -> Exported {
        let mut by_instance: Vec<(String, Vec<Export>)> = Vec::new();
        for e in exports {
            match by_instance
                .iter_mut()
                .find(|(i, _)| *i == e.key.instance_id)
            {
                Some((_, list)) => list.push(e),
                None => by_instance.push((e.key.instance_id.clone(), vec![e])),
            }
        }
        let results = futures::stream::iter(by_instance)
            .map(|(_, list)| self.instance(list))
            .buffer_unordered(self.concurrency.max(1))
            .collect::<Vec<_>>()
            .await;
        let mut out = Exported::default();
        for (export, outcome) in results.into_iter().flatten() {
            let label = export.key.label();
            match outcome {
                Outcome::Ready(fetch, dbs, task_id) => {
                    out.tasks.insert(export.key.clone(), (dbs, task_id));
                    out.fetches.push(*fetch);
                }
                Outcome::Pending => out.pending += 1,
                Outcome::Failed(err) => {
                    tracing::error!(backup = %label, kind = "export", "snapshot export failed: {err}");
                    out.setup_error |= err.is_setup();
                    out.failures.push(Failure {
                        backup: label,
                        kind: crate::sync::report::FailureKind::Export,
                        message: err.to_string(),
                    });
                }
            }
        }
        out
    }

    /// One instance's exports, one after another: a task still running holds the rest back.
    async fn instance(&self, list: Vec<Export>) -> Vec<(Export, Outcome)> {
        let mut out = Vec::with_capacity(list.len());
        let mut busy = false;
        for e in list {
            let outcome = if busy || self.cancel.is_cancelled() {
                info!(backup = %e.key.label(), "snapshot export waits for this instance's running download task (one at a time)");
                Outcome::Pending
            } else {
                self.one(&e).await
            };
            busy |= matches!(outcome, Outcome::Pending);
            out.push((e, outcome));
        }
        out
    }

    fn dbs(&self, instance_id: &str) -> DbsClient {
        let api = self.clients.get(instance_id).unwrap_or(self.base);
        let region = api.region_id();
        let endpoint = self
            .settings
            .endpoint
            .clone()
            .or_else(|| crate::api::endpoint::dbs_for_region(region))
            // Checked when the settings were read: an unknown region needs snapshots.endpoint.
            .unwrap_or_else(|| format!("https://dbs-api.{region}.aliyuncs.com"));
        DbsClient::new(api, region, &endpoint)
    }

    /// Drives one export until its archive can be downloaded, it fails, or `wait` runs out.
    async fn one(&self, e: &Export) -> Outcome {
        let mut d = Drive {
            e,
            dbs: self.dbs(&e.key.instance_id),
            deadline: Instant::now() + self.settings.wait,
            checked_support: false,
            renewed: false,
        };
        loop {
            let record = match self.store.read_task(&e.key) {
                Ok(r) => r,
                Err(err) => return Outcome::Failed(err.into()),
            };
            let listed = match d
                .dbs
                .tasks(&e.key.instance_id, Some(&e.key.backup_id))
                .await
            {
                Ok(l) => l,
                Err(err) => return Outcome::Failed(err.into()),
            };
            for why in &listed.skipped {
                warn!(backup = %e.key.label(), "DescribeDownloadTask listed an entry that is not a task; skipped: {}", shown(why));
            }
            let next = step::next(
                record.as_ref(),
                &listed,
                &e.key.backup_id,
                self.settings.retries,
            );
            if let Err(outcome) = self.advance(&mut d, next, record, &listed).await {
                return outcome;
            }
            if self.cancel.is_cancelled() {
                return Outcome::Pending;
            }
        }
    }

    /// Takes one step of an export; `Err` ends it for this pass, with its outcome.
    async fn advance(
        &self,
        d: &mut Drive<'_>,
        next: Next,
        record: Option<TaskRecord>,
        listed: &TaskList,
    ) -> Result<(), Outcome> {
        let e = d.e;
        let record = record.unwrap_or_else(|| self.fresh_record(e));
        let why = || shown(listed.extra.as_deref().unwrap_or("no reason given")).to_string();
        match next {
            Next::Create | Next::Renew(_) if d.renewed => {
                Err(Outcome::failed("a new download task expired at once"))
            }
            step @ (Next::Create | Next::Renew(_)) => {
                if let Some(outcome) = self.blocked(e, &d.dbs).await {
                    return Err(outcome);
                }
                if let Next::Renew(t) = step {
                    warn!(backup = %e.key.label(), task = %shown(&t.task_id), "the download task's archive expired before it was copied; creating a new task");
                    d.renewed = true;
                }
                self.create(d, record).await.map_err(Outcome::Failed)
            }
            Next::Adopt(t) => {
                info!(backup = %e.key.label(), task = %shown(&t.task_id), status = %t.status, "found this backup's download task at DBS; recording it");
                self.save(e, record, &t).map_err(Outcome::Failed)
            }
            Next::Wait(t) => {
                self.save(e, record, &t).map_err(Outcome::Failed)?;
                self.pause(d, &t).await
            }
            Next::Retry(t) => {
                let mut r = record;
                r.retries += 1;
                r.message = listed.extra.clone();
                warn!(backup = %e.key.label(), task = %shown(&t.task_id), retry = r.retries, of = self.settings.retries, "download task failed ({}); retrying it", why());
                // The retry is counted on disk before it is sent, whatever else changed (the
                // same task may well still say `failed`): neither a crash nor a DBS that is slow
                // to show the retry can make it unbounded (issue #21).
                self.record(e, r, &t).map_err(Outcome::Failed)?;
                d.dbs
                    .retry(&e.key.instance_id, &t.task_id)
                    .await
                    .map_err(|err| Outcome::Failed(err.into()))?;
                self.pause(d, &t).await
            }
            Next::GiveUp(t) => {
                let tries = record.retries;
                let _ = self.save(e, record, &t);
                Err(Outcome::failed(format!(
                    "download task {} failed: {} (retried {tries} of snapshots.retries = {} times; DBS keeps a failed task, which blocks new ones for this instance until it is retried or cleared in the console)",
                    shown(&t.task_id),
                    why(),
                    self.settings.retries,
                )))
            }
            Next::Link(t) => {
                let _ = self.save(e, record, &t);
                Err(self.ready(e, d.dbs.clone(), &t).await)
            }
            Next::Lost(id) => Err(Outcome::failed(format!(
                "download task {} recorded in {} is not listed by DescribeDownloadTask any more; remove that file to let the next pass create a new task",
                shown(&id),
                crate::model::TASK
            ))),
        }
    }

    /// What stops a new task for this export: DBS runs one task per instance, and a failed one
    /// blocks new ones. Another backup set's running task makes this export wait for a later
    /// pass; another's failed task is reported (asking would only be refused).
    async fn blocked(&self, e: &Export, dbs: &DbsClient) -> Option<Outcome> {
        let all = match dbs.tasks(&e.key.instance_id, None).await {
            Ok(l) => l,
            Err(err) => return Some(Outcome::Failed(err.into())),
        };
        let other = all.tasks.iter().find(|t| {
            t.backup_set_id != e.key.backup_id
                && (t.status.is_running() || t.status == TaskStatus::Failed)
        })?;
        if other.status == TaskStatus::Failed {
            return Some(Outcome::failed(format!(
                "download task {} of backup set {} failed, and DBS creates no new task for this instance until it is retried (RetryDownloadTask) or cleared in the console",
                shown(&other.task_id),
                shown(&other.backup_set_id)
            )));
        }
        info!(backup = %e.key.label(), task = %shown(&other.task_id), of = %shown(&other.backup_set_id), "waiting for the instance's running download task of another backup set (DBS runs one at a time)");
        Some(Outcome::Pending)
    }

    fn fresh_record(&self, e: &Export) -> TaskRecord {
        let region = self
            .clients
            .get(&e.key.instance_id)
            .unwrap_or(self.base)
            .region_id();
        TaskRecord::creating(
            &e.key.instance_id,
            &e.key.backup_id,
            region,
            OffsetDateTime::now_utc(),
        )
    }

    /// Waits `poll_interval` before the next look at the task, or ends the export for this
    /// pass (`Pending`) when that would pass `wait` or the pass is stopping: every loop of an
    /// export sleeps and respects its deadline.
    async fn pause(&self, d: &Drive<'_>, t: &DownloadTask) -> Result<(), Outcome> {
        let interval = self.settings.poll_interval;
        if Instant::now() + interval > d.deadline {
            info!(backup = %d.e.key.label(), task = %shown(&t.task_id), status = %t.status, progress = %shown(t.progress.as_deref().unwrap_or("")), "download task still running; the next pass polls it again");
            return Err(Outcome::Pending);
        }
        tokio::select! {
            () = self.cancel.cancelled() => Err(Outcome::Pending),
            () = tokio::time::sleep(interval) => Ok(()),
        }
    }

    /// Records what DBS said of the task, when that changes the record.
    fn save(&self, e: &Export, r: TaskRecord, t: &DownloadTask) -> Result<(), ExportError> {
        if r.task_id.as_deref() == Some(&t.task_id) && r.status == t.status.to_string() {
            return Ok(());
        }
        self.record(e, r, t)
    }

    /// Writes the record with what DBS said of the task.
    fn record(&self, e: &Export, mut r: TaskRecord, t: &DownloadTask) -> Result<(), ExportError> {
        r.task_id = Some(t.task_id.clone());
        r.status = t.status.to_string();
        r.updated_at = OffsetDateTime::now_utc();
        Ok(self.store.write_task(&e.key, &r)?)
    }

    /// Asks DBS whether it can export the instance (once per export), records the intent, and
    /// creates the task.
    async fn create(&self, d: &mut Drive<'_>, old: TaskRecord) -> Result<(), ExportError> {
        let e = d.e;
        if !d.checked_support {
            match d.dbs.supports(&e.key.instance_id).await {
                Ok(true) => d.checked_support = true,
                Ok(false) => {
                    return Err(ExportError::Task(format!(
                        "DBS cannot export instance {} (DescribeDownloadSupport answered false)",
                        shown(&e.key.instance_id)
                    )));
                }
                Err(err) => return Err(err.into()),
            }
        }
        // The record goes to disk before the call that creates anything.
        let mut r = self.fresh_record(e);
        r.created_at = old.created_at;
        self.store.write_task(&e.key, &r)?;
        info!(backup = %e.key.label(), "creating a DBS download task for this snapshot (billed per GB converted)");
        let req = CreateRequest {
            instance_id: e.key.instance_id.clone(),
            backup_id: e.key.backup_id.clone(),
            backup_size: e.backup.backup_size.unwrap_or(0),
            format_type: self.settings.format_type.clone(),
        };
        let task = d.dbs.create(&req).await?;
        info!(backup = %e.key.label(), task = %shown(&task.task_id), "download task created");
        self.save(e, r, &task)
    }

    /// The finished task's archive as a [`Fetch`]: a link for the configured network, and the
    /// archive's size (asked of the object itself: DBS states no size to check it against).
    async fn ready(&self, e: &Export, dbs: DbsClient, t: &DownloadTask) -> Outcome {
        let link = match dbs.link(&t.task_id, self.settings.link_duration).await {
            Ok(l) => l,
            Err(err) => return Outcome::Failed(err.into()),
        };
        let Some((url, via, fallback)) = link::choose(&link, self.network, self.intranet_reachable)
        else {
            return Outcome::failed(format!(
                "DescribeDownloadBackupSetStorageInfo gave no {} link for task {}",
                match self.network {
                    Network::Intranet => "private",
                    Network::Public => "public",
                    Network::Auto => "private or public",
                },
                shown(&t.task_id)
            ));
        };
        for u in std::iter::once(&url).chain(fallback.as_ref()) {
            if let Err(reason) = crate::urls::check(u) {
                return Outcome::failed(format!("unusable export link: {}", shown(&reason)));
            }
        }
        let label = e.key.label();
        let probing = (label.as_str(), self.retry, &self.cancel);
        let (size, file_name) = match link::probe(&self.http, &url, probing).await {
            Ok((s, _)) if s > crate::model::MAX_OBJECT_SIZE => {
                return Outcome::failed(format!(
                    "the export link says the archive holds {s} bytes, more than any object OSS stores"
                ));
            }
            // Named by what its first bytes are, not by what was asked (issue #21).
            Ok((s, head)) if s > 0 => match crate::model::export_kind(&head) {
                Some(kind) => (s, format!("{}.{kind}", e.key.backup_id)),
                None => (s, e.file_name.clone()),
            },
            Ok(_) => return Outcome::failed("the export archive is empty"),
            Err(err) => return Outcome::Failed(ExportError::Probe(Box::new(err))),
        };
        let local = self
            .store
            .paths(&e.key, &file_name)
            .ok()
            .map(|p| self.store.partial_len(&p));
        let fetch = Fetch {
            key: e.key.clone(),
            backup: e.backup.clone(),
            file_name,
            url,
            via,
            fallback,
            size,
            resume_from: local.filter(|n| *n <= size).unwrap_or(0),
            export: Some(ExportInfo {
                service: "dbs".into(),
                task_id: t.task_id.clone(),
                export_data_size: t.export_data_size,
            }),
            awaits_archive: false,
        };
        Outcome::Ready(Box::new(fetch), dbs, t.task_id.clone())
    }
}

/// A fresh link for an export whose link expired mid-download.
pub async fn fresh_link(
    dbs: &DbsClient,
    task_id: &str,
    via: Via,
    valid_for: Duration,
) -> Result<String, crate::sync::error::RefreshError> {
    let link = dbs.link(task_id, valid_for).await?;
    match via {
        Via::Public => link.public_url,
        Via::Intranet => link.private_url,
    }
    .ok_or_else(|| {
        crate::sync::error::RefreshError::NoUrl(format!(
            "DBS gave no {via} link for task {} any more",
            shown(task_id)
        ))
    })
}
