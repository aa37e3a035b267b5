//! One sync pass, end to end: take the lock, list every target, snapshot the disk, decide the
//! network, plan (a value), download concurrently (each download checked, then committed by
//! the store), prune, and return the [`Summary`].
//!
//! Per-backup failures are collected, never fatal to the pass; only the lock and the setup
//! (credentials) stop it early.

use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::plan::{Action, ExportPolicy, Plan, Policy, Retention, UrlPolicy};
use super::prune::PruneItem;
use super::report::{Failure, Summary};
use crate::api::client::ApiClient;
use crate::config::{Network, Settings};
use crate::listing;
use crate::model::{BackupKey, Remote};
use crate::progress::Progress;
use crate::store::{Store, StoreError};

mod asking;
mod confirm;
mod dry;
mod fetch;
use asking::Asking;
use confirm::{Ask, plan_confirmed};
use dry::print_dry_run;
use fetch::{Clients, download_all};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
}

impl SyncError {
    pub fn exit_code(&self) -> u8 {
        match self {
            SyncError::Store(StoreError::Locked { .. }) => crate::exit::LOCKED,
            SyncError::Store(StoreError::Root { .. }) => crate::exit::SETUP,
            _ => crate::exit::FAILED,
        }
    }
}

/// How to run a pass.
#[derive(Clone, Default)]
pub struct PassOptions {
    pub dry_run: bool,
    /// With `dry_run`: print only the retention plan (`--prune-plan`).
    pub prune_plan: bool,
    pub cancel: CancellationToken,
}

/// Runs one pass with the given settings and API client: list → plan → download (check,
/// commit) → prune → report.
///
/// # Errors
/// The lock is held by another run, or the download directory cannot be used at all.
pub async fn run_pass(
    settings: &Settings,
    api: &ApiClient,
    progress: &dyn Progress,
    opts: &PassOptions,
) -> Result<Summary, SyncError> {
    let started = Instant::now();
    let store = Store::new(&settings.download.dir);
    // The archive is asked at once, in its own task: its listing overlaps the cloud's, and a
    // slow store delays only the fetches it may have an answer for.
    let mut archive = Asking::new(super::offsite::ask(settings));
    // A dry run only reads (a missing dir is an empty one): it takes no lock and creates
    // nothing, so it runs beside a pass, and as a user who cannot write the dir.
    let _lock = if opts.dry_run {
        None
    } else {
        Some(store.lock_for(Some(&settings.file))?)
    };
    let now = OffsetDateTime::now_utc();
    let mut summary = Summary {
        dry_run: opts.dry_run,
        ..Summary::default()
    };
    let Some((clients, mut remote)) = list(settings, api, now, opts, &mut summary).await else {
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    };
    let mut local = store.on_disk();
    warn_unreadable(&local);
    // A backup the archive holds, let go locally, is not fetched again: what the archive has
    // answered by now is used; a dry run waits for it (it says what the pass would do).
    archive
        .take_if_ready(opts.dry_run, &mut summary, &opts.cancel)
        .await;
    let awaiting = archive.asked.as_ref().and(settings.download.keep_local);
    let policy = policy(settings, &remote, archive.held(), awaiting).await;
    let pass = Pass::new((settings, api, &clients), &store, opts, now)?;
    let plan = plan_confirmed(&pass.ask(), &mut remote, &mut local, now, &policy).await;
    count_plan(&plan, &mut summary);
    if opts.dry_run {
        let step = match archive.ready.as_ref() {
            Some((_, l)) => Some((
                offsite_step(&pass, &mut remote, l, &local.copies, &plan.prune).await,
                l,
            )),
            None => None,
        };
        print_dry_run(&pass, &plan, step, &mut summary);
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }
    let Plan { prune, stale, .. } = plan.clone();
    let published = fetch_all(&pass, &policy, plan, (progress, &mut archive), &mut summary).await;
    for m in published {
        if let Ok(dir) = store.backup_dir(&m.key()) {
            local.published(dir, m);
        }
    }
    archive.take(&mut summary, &opts.cancel).await;
    if !opts.cancel.is_cancelled() {
        let after = (&mut archive, &mut local, prune, stale);
        finish(&pass, &mut remote, after, &mut summary).await;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// After the downloads: seal, archive, prune, and count what the disk holds now.
async fn finish(
    pass: &Pass<'_>,
    remote: &mut Remote,
    (archive, local, prune, stale): (
        &mut Asking,
        &mut crate::model::OnDisk,
        Vec<PruneItem>,
        Vec<crate::model::StalePartial>,
    ),
    summary: &mut Summary,
) {
    let store = pass.store;
    seal_clusters(store, remote);
    let prune = archive_step(pass, remote, archive, &local.copies, prune, summary).await;
    let removed = apply_prune(store, &prune, summary);
    local.removed(&removed);
    remove_stale(store, &stale);
    summary.local = Some(crate::model::Holdings::of(&local.copies));
}

/// The list step: every target of the fleet, gathered into what the cloud listed, with each
/// instance's API client; `None` when a shutdown stopped it (nothing is planned on half a
/// listing; the next pass starts over).
async fn list(
    settings: &Settings,
    api: &ApiClient,
    now: OffsetDateTime,
    opts: &PassOptions,
    summary: &mut Summary,
) -> Option<(std::collections::HashMap<String, ApiClient>, Remote)> {
    let fleet = listing::list_fleet(api, listing::Scope::of(settings), now, &opts.cancel).await;
    if opts.cancel.is_cancelled() {
        warn!("stopped by a shutdown request while listing; nothing downloaded or pruned");
        summary.stopped = 1;
        return None;
    }
    let clients = fleet.clients.clone();
    let gathered = listing::gather(fleet);
    count_listing(&gathered, summary);
    Some((clients, gathered.remote))
}

/// The archive step after the downloads, decided as one value from the copies as they are
/// now, then applied: the local copies to remove (the local plan's `prune`, less what the
/// archive does not hold yet, plus what `keep_local` lets go). With an archive configured but
/// not heard from this pass, no local copy goes.
async fn archive_step(
    pass: &Pass<'_>,
    remote: &mut Remote,
    archive: &mut Asking,
    copies: &[crate::model::LocalCopy],
    prune: Vec<PruneItem>,
    summary: &mut Summary,
) -> Vec<PruneItem> {
    if pass.settings.archive.is_none() {
        return prune;
    }
    let Some((archive, listing)) = archive.ready.as_mut() else {
        super::offsite::warn_held(&prune);
        return Vec::new();
    };
    let step = offsite_step(pass, remote, listing, copies, &prune).await;
    super::offsite::warn_held(&step.hold);
    let ctx = archive_context(pass, remote);
    super::offsite::apply(&ctx, archive, listing, &step, summary).await
}

/// The archive step, decided once the cloud has answered (by id) for the archived copies its
/// retention would remove on the expiry their manifests recorded (issue #21.5, the archive's
/// side): a backup the cloud still has keeps its archived copy until the expiry it says now.
async fn offsite_step(
    pass: &Pass<'_>,
    remote: &mut Remote,
    listing: &crate::model::ArchiveListing,
    copies: &[crate::model::LocalCopy],
    prune: &[PruneItem],
) -> super::offsite::plan::Step {
    let decide = |remote: &Remote| {
        super::offsite::decide(&archive_context(pass, remote), copies, listing, prune)
    };
    let step = decide(remote);
    let units = step.unconfirmed();
    if units.is_empty() {
        return step;
    }
    let answers = confirm::ask_archived(&pass.ask(), listing, &units).await;
    remote.confirmed.extend(answers);
    decide(remote)
}

fn warn_unreadable(local: &crate::model::OnDisk) {
    for c in &local.copies {
        if let Err(reason) = &c.manifest {
            warn!(dir = %c.dir.display(), "local copy with an unreadable manifest is kept and treated as unverified: {reason}");
        }
    }
}

fn remove_stale(store: &Store, stale: &[crate::model::StalePartial]) {
    for file in store.remove_stale_partials(stale) {
        info!(file = %file.display(), "removed the partial file of a backup that is no longer listed");
    }
}

/// What the archive steps need of this pass: its rules, time, bandwidth limit and cancel.
fn archive_context<'a>(pass: &'a Pass<'_>, remote: &'a Remote) -> super::offsite::Context<'a> {
    let settings = pass.settings;
    let zone = settings.schedule.zone;
    super::offsite::Context {
        store: pass.store,
        remote,
        rules: settings
            .archive
            .as_ref()
            .and_then(|a| a.prune.as_ref())
            .filter(|p| p.enabled)
            .map(|p| p.rules),
        keep_local: settings.download.keep_local,
        zone,
        now: pass.now,
        throttle: crate::throttle::Throttle::new(settings.download.bandwidth.clone(), zone),
        cancel: &pass.opts.cancel,
    }
}

/// What every step of a pass shares.
struct Pass<'a> {
    settings: &'a Settings,
    api: &'a ApiClient,
    /// The API client of each listed instance (its region).
    clients: &'a std::collections::HashMap<String, ApiClient>,
    store: &'a Store,
    opts: &'a PassOptions,
    http: reqwest::Client,
    now: OffsetDateTime,
}

impl<'a> Pass<'a> {
    fn new(
        (settings, api, clients): (
            &'a Settings,
            &'a ApiClient,
            &'a std::collections::HashMap<String, ApiClient>,
        ),
        store: &'a Store,
        opts: &'a PassOptions,
        now: OffsetDateTime,
    ) -> Result<Pass<'a>, SyncError> {
        // One download client a pass, for the exports and the downloads alike.
        let http = crate::http::client(
            settings.download.connect_timeout,
            settings.download.read_timeout,
        )
        .map_err(SyncError::Http)?;
        Ok(Pass {
            settings,
            api,
            clients,
            store,
            opts,
            http,
            now,
        })
    }

    /// What asking the cloud about single backups needs.
    fn ask(&self) -> Ask<'_> {
        Ask {
            api: self.api,
            clients: self.clients,
            store: self.store,
            opts: self.opts,
        }
    }
}

/// Exports the snapshots the plan exports, then downloads every fetch (the plan's and the
/// finished exports').
async fn fetch_all(
    pass: &Pass<'_>,
    policy: &Policy,
    plan: Plan,
    (progress, archive): (&dyn Progress, &mut Asking),
    summary: &mut Summary,
) -> Vec<crate::model::Manifest> {
    let (settings, api, opts) = (pass.settings, pass.api, pass.opts);
    let exports: Vec<_> = plan.exports().cloned().collect();
    let exported = export_all(pass, pass.clients, policy, exports).await;
    summary.exporting = exported.pending;
    summary.setup_error |= exported.setup_error;
    summary.failed += exported.failures.len();
    summary.failures.extend(exported.failures);
    let mut fetches = plan.into_fetches();
    fetches.extend(exported.fetches);
    let clients = Clients {
        base: api.clone(),
        by_instance: pass.clients.clone(),
        exports: exported.tasks,
        link_duration: settings.snapshots.link_duration,
    };
    let (waiting, now): (Vec<_>, Vec<_>) = fetches.into_iter().partition(|f| f.awaits_archive);
    let mut published = download_all(pass, clients.clone(), now, progress, summary).await;
    if waiting.is_empty() || opts.cancel.is_cancelled() {
        return published;
    }
    // The fetches the archive may hold: once it has answered, only those it does not.
    archive.take(summary, &opts.cancel).await;
    let (go, held) = Plan::settle(waiting, &archive.held());
    summary.up_to_date += held;
    published.extend(download_all(pass, clients, go, progress, summary).await);
    published
}

/// How this pass plans: the URL choice (one probe of the intranet host) and retention.
async fn policy(
    settings: &Settings,
    remote: &Remote,
    archived: std::collections::HashSet<(BackupKey, String, u64)>,
    awaiting_archive: Option<Duration>,
) -> Policy {
    Policy {
        urls: UrlPolicy {
            network: settings.download.network,
            intranet_reachable: settings.download.network == Network::Auto
                && probe_intranet(remote, settings.download.probe_timeout).await,
        },
        retention: settings.prune.enabled.then_some(Retention {
            rules: settings.prune.rules,
            zone: settings.schedule.zone,
        }),
        exports: settings.snapshots.download.then(|| ExportPolicy {
            instances: settings.snapshots.instances.clone(),
            latest_only: settings.snapshots.latest_only,
            storage: remote.storage.clone(),
        }),
        archived,
        awaiting_archive,
    }
}

/// The export step: every snapshot the plan exports, driven through its DBS download task to
/// an archive ready to download (or left running for the next pass).
async fn export_all(
    pass: &Pass<'_>,
    clients: &std::collections::HashMap<String, ApiClient>,
    policy: &Policy,
    exports: Vec<super::plan::Export>,
) -> super::export::Exported {
    if exports.is_empty() {
        return super::export::Exported::default();
    }
    let settings = pass.settings;
    let exporter = super::export::Exporter {
        settings: &settings.snapshots,
        network: settings
            .snapshots
            .network
            .unwrap_or(settings.download.network),
        intranet_reachable: policy.urls.intranet_reachable,
        store: pass.store,
        http: pass.http.clone(),
        clients,
        base: pass.api,
        concurrency: settings.api.concurrency,
        retry: settings.download.retry,
        cancel: pass.opts.cancel.clone(),
    };
    exporter.run(exports).await
}

fn count_listing(gathered: &listing::Gathered, summary: &mut Summary) {
    summary.skipped += gathered.rejected;
    summary.listed = gathered.remote.listed.len();
    summary.selected = gathered.selected.clone();
    for s in gathered.selected.iter().filter(|s| s.too_few()) {
        let message = s.problem();
        warn!(block = s.block, region = %s.region, "discovery: {message}");
        summary.listing_errors += 1;
        summary.failures.push(Failure {
            backup: s.label(),
            kind: super::report::FailureKind::Discovery,
            message,
        });
    }
    for (target, e) in &gathered.failures {
        summary.listing_errors += 1;
        summary.setup_error |= e.is_auth_or_setup();
        summary.failures.push(Failure {
            backup: target.clone(),
            kind: super::report::FailureKind::Listing,
            message: e.to_string(),
        });
    }
}

fn count_plan(plan: &Plan, summary: &mut Summary) {
    for a in &plan.actions {
        match a {
            Action::Skip { key, reason } => {
                summary.skipped += 1;
                info!(backup = %key.label(), "skipping: {reason}");
            }
            Action::UpToDate { .. } | Action::Archived { .. } => summary.up_to_date += 1,
            Action::Fetch(_) | Action::Export(_) => {}
        }
    }
}

/// Removes the copies retention planned to remove (the store checks each one again), and
/// returns the folders removed.
fn apply_prune(
    store: &Store,
    prune: &[PruneItem],
    summary: &mut Summary,
) -> Vec<std::path::PathBuf> {
    let keys: Vec<BackupKey> = prune.iter().map(|p| p.key.clone()).collect();
    let mut removed = Vec::new();
    for (key, result) in keys.iter().zip(store.prune(&keys)) {
        match result {
            Ok(dir) => {
                summary.pruned += 1;
                info!(backup = %key.label(), dir = %dir.display(), "pruned a local copy (no retention rule keeps it, or it is archived and older than download.keep_local)");
                removed.push(dir);
            }
            Err(e) => warn!(backup = %key.label(), "not pruned: {e}"),
        }
    }
    removed
}

/// Writes the cluster manifest of every listed cluster backup whose nodes are all verified
/// here now (the last step of copying one).
fn seal_clusters(store: &Store, remote: &Remote) {
    let now = OffsetDateTime::now_utc();
    for cluster in remote.clusters.iter().filter(|c| c.problem.is_none()) {
        let label = cluster.unit.label();
        match store.seal_cluster(cluster, now) {
            Ok(true) => {
                info!(backup = %label, nodes = cluster.nodes.len(), "cluster backup complete: every node's file verified");
            }
            Ok(false) => {}
            Err(reason) => {
                warn!(backup = %label, "cluster backup not complete here yet: {reason}");
            }
        }
    }
}

/// `auto`: is the intranet download host reachable from here? One TCP connect per run.
async fn probe_intranet(remote: &Remote, timeout: Duration) -> bool {
    let Some(url) = remote
        .listed
        .iter()
        .find_map(|l| l.backup.intranet_download_url.as_deref())
        .and_then(|u| url::Url::parse(u).ok())
    else {
        return false;
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    let reachable = matches!(
        tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await,
        Ok(Ok(_))
    );
    info!(host, port, reachable, "probed the intranet download host");
    reachable
}
