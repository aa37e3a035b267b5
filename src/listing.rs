//! Lists the whole fleet: discovers instances (`[[discover]]`), asks how each is listed
//! (`DescribeDBInstanceAttribute`), and lists every target (an instance, each shard node, or a
//! cluster's cluster backups), several at once (`api.concurrency`), each region through its
//! own client. Used by `--list`, `--verify --repair` and the sync pass.
//!
//! The decisions are pure ([`crate::fleet`]); this is the thin I/O around them. A target that
//! fails does not stop the others; a region whose API gave up is not tried again in the pass
//! ([`Regions`]); a discovery that fails only means its instances are not listed, so nothing
//! of theirs is pruned or cleaned by it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::api::client::{ApiClient, Listing};
use crate::api::error::ApiError;
use crate::api::model::fleet::{ClusterBackup, InstanceInfo};
use crate::config::{DiscoverSettings, InstanceSettings, Region};
use crate::fleet::{self, Member, Query, Shape};
use crate::model::{Backup, BackupKey};

pub use gather::{Gathered, cluster_problem, gather};

mod gather;

/// What the cloud answered for one target.
#[derive(Debug)]
pub enum Found {
    Backups(Listing),
    Clusters(Vec<ClusterBackup>),
}

/// The outcome of listing one target.
#[derive(Debug)]
pub struct TargetListing {
    pub query: Query,
    pub result: Result<Found, ApiError>,
}

/// One instance of the pass and how it was listed.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub member: Member,
    /// Where its calls go.
    pub region: Region,
    pub shape: Shape,
    /// `StorageType` as the API said it (`local_ssd`, `cloud_essd1`, ...), when it did.
    pub storage_type: Option<String>,
}

/// Everything a pass (or `--list`) learnt from the API.
#[derive(Debug, Default)]
pub struct FleetListing {
    pub members: Vec<Resolved>,
    pub listings: Vec<TargetListing>,
    /// Discoveries that failed (`discover[N] (region)`, why): their instances are not listed.
    pub discovery_failures: Vec<(String, ApiError)>,
    /// What each discovery that answered selected.
    pub selected: Vec<crate::model::Selected>,
    /// The client of every instance's region, for refreshing download URLs.
    pub clients: HashMap<String, ApiClient>,
}

/// What to list: the configured instances and the discovery blocks.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub instances: &'a [InstanceSettings],
    pub discover: &'a [DiscoverSettings],
    pub concurrency: usize,
}

impl<'a> Scope<'a> {
    pub fn of(settings: &'a crate::config::Settings) -> Scope<'a> {
        Scope {
            instances: &settings.instances,
            discover: &settings.discover,
            concurrency: settings.api.concurrency,
        }
    }
}

/// Lists everything in `scope`, stopping at once when `cancel` fires (even in a retry wait):
/// the targets not listed by then are left out, and so nothing of theirs is pruned.
pub async fn list_fleet(
    api: &ApiClient,
    scope: Scope<'_>,
    now: OffsetDateTime,
    cancel: &CancellationToken,
) -> FleetListing {
    let regions = Regions::new(api);
    let n = scope.concurrency.max(1);
    let mut out = FleetListing::default();
    let found = discover(&regions, scope.discover, n, cancel).await;
    let mut blocks = Vec::new();
    for (i, result) in found {
        match result {
            Ok(infos) => {
                let block = &scope.discover[i];
                out.selected.push(crate::model::Selected {
                    block: i,
                    region: regions.resolve(block.region.as_ref()).id,
                    selected: infos.iter().filter(|f| fleet::selects(block, f)).count(),
                    expected: block.expect_at_least,
                });
                blocks.push((i, infos));
            }
            Err(e) => {
                let region = regions.resolve(scope.discover[i].region.as_ref());
                warn!(block = i, region = %region.id, "discovery failed; the instances it would find are not listed this pass (nothing of theirs is pruned): {e}");
                out.discovery_failures
                    .push((format!("discover[{i}] ({})", region.id), e));
            }
        }
    }
    let members = fleet::members(scope.instances, scope.discover, &blocks);
    (out.members, out.listings) = resolve_and_list(&regions, members, now, n, cancel).await;
    out.clients = out
        .members
        .iter()
        .map(|r| (r.member.settings.id.clone(), regions.client(&r.region)))
        .collect();
    out
}

/// [`list_fleet`] of everything the settings name, without a way to stop it.
pub async fn list_all(
    api: &ApiClient,
    settings: &crate::config::Settings,
    now: OffsetDateTime,
) -> FleetListing {
    list_fleet(api, Scope::of(settings), now, &CancellationToken::new()).await
}

/// Runs `calls` `n` at a time, each as soon as a slot frees (a slow call holds only its own
/// slot, never the calls behind it: issue #21), until `cancel` fires (the rest are left out).
/// The results come back in the calls' order.
async fn bounded<T, F>(calls: Vec<F>, n: usize, cancel: &CancellationToken) -> Vec<T>
where
    F: Future<Output = T>,
{
    let stream = futures::stream::iter(calls.into_iter().enumerate().map(|(i, call)| async move {
        tokio::select! {
            biased;
            () = cancel.cancelled() => None,
            out = call => Some((i, out)),
        }
    }))
    .buffer_unordered(n);
    futures::pin_mut!(stream);
    let mut out = Vec::new();
    while let Some(Some(item)) = stream.next().await {
        out.push(item);
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, item)| item).collect()
}

/// Each member's lookup, then at once its own listings: the members `n` at a time, and every
/// API call of theirs `n` at a time too (one semaphore), so no listing waits for the lookups
/// of other instances, nor for a slow answer of another.
async fn resolve_and_list(
    regions: &Regions,
    members: Vec<Member>,
    now: OffsetDateTime,
    n: usize,
    cancel: &CancellationToken,
) -> (Vec<Resolved>, Vec<TargetListing>) {
    let calls = tokio::sync::Semaphore::new(n);
    let calls = &calls;
    let work = members.into_iter().map(|member| async move {
        let resolved = {
            let _slot = calls.acquire().await;
            resolve_one(regions, member).await
        };
        let queries = fleet::queries(&resolved.member, &resolved.shape, now);
        let region = &resolved.region;
        let listings = futures::future::join_all(queries.into_iter().map(|q| async move {
            let _slot = calls.acquire().await;
            list_one(regions, region.clone(), q).await
        }))
        .await;
        (resolved, listings)
    });
    let done = bounded(work.collect(), n, cancel).await;
    let mut members = Vec::with_capacity(done.len());
    let mut listings = Vec::new();
    for (resolved, l) in done {
        members.push(resolved);
        listings.extend(l);
    }
    (members, listings)
}

type Discovered = Result<Vec<InstanceInfo>, ApiError>;

async fn discover(
    regions: &Regions,
    blocks: &[DiscoverSettings],
    n: usize,
    cancel: &CancellationToken,
) -> Vec<(usize, Discovered)> {
    let calls = blocks.iter().enumerate().map(|(i, d)| async move {
        let region = regions.resolve(d.region.as_ref());
        let filters = fleet::filters(d);
        let result: Discovered = regions
            .run(&region, |c| async move { c.describe_each(&filters).await })
            .await;
        if let Ok(infos) = &result {
            let chosen = infos.iter().filter(|info| fleet::selects(d, info)).count();
            info!(block = i, region = %region.id, answered = infos.len(), chosen, "discovered instances");
        }
        (i, result)
    });
    bounded(calls.collect(), n, cancel).await
}

/// How one member is listed: its region, and (where needed) `DescribeDBInstanceAttribute`.
async fn resolve_one(regions: &Regions, member: Member) -> Resolved {
    let region = regions.resolve(fleet::region(&member));
    let attribute = if fleet::needs_attribute(&member) {
        let id = member.settings.id.clone();
        match regions
            .run(&region, |c| async move { c.describe_instance(&id).await })
            .await
        {
            Ok(info) => Some(info),
            // A region that is down says so once, in the listing that follows.
            Err(ApiError::RegionDown { .. }) => None,
            Err(e) => {
                warn!(instance = %member.settings.id, "cannot tell whether it is a sharded cluster (listing it as one instance; grant dds:DescribeDBInstanceAttribute or list its node_ids): {e}");
                None
            }
        }
    } else {
        None
    };
    let shape = fleet::shape(&member, attribute.as_ref());
    let storage_type = attribute
        .as_ref()
        .or(member.found.as_ref())
        .and_then(|i| i.storage_type.clone());
    Resolved {
        member,
        region,
        shape,
        storage_type,
    }
}

/// One target's listing.
async fn list_one(regions: &Regions, region: Region, query: Query) -> TargetListing {
    let result = match &query {
        Query::Backups(q) => {
            regions
                .run(&region, |c| async move {
                    c.list_all(q).await.map(Found::Backups)
                })
                .await
        }
        Query::Clusters(q) => {
            regions
                .run(&region, |c| async move {
                    c.list_cluster_backups(q).await.map(Found::Clusters)
                })
                .await
        }
    };
    if let Err(e) = &result {
        tracing::error!(target = %query.target(), region = %region.id, "listing failed: {e}");
    }
    TargetListing { query, result }
}

/// What a pass knows of a region's API so far.
#[derive(Debug, Clone)]
enum Health {
    Unknown,
    Up,
    Down(String),
}

#[derive(Debug)]
struct RegionState {
    client: ApiClient,
    /// Held by the first call while the region's health is unknown, so the others wait for
    /// its outcome instead of each running its own retry storm.
    gate: tokio::sync::Mutex<()>,
    health: Mutex<Health>,
}

/// One client per region (credentials and connection pool shared), and each region's health
/// for the rest of the pass.
pub struct Regions {
    base: ApiClient,
    states: Mutex<HashMap<Region, Arc<RegionState>>>,
}

impl Regions {
    pub fn new(base: &ApiClient) -> Regions {
        Regions {
            base: base.clone(),
            states: Mutex::default(),
        }
    }

    fn state(&self, region: &Region) -> Arc<RegionState> {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        states
            .entry(region.clone())
            .or_insert_with(|| {
                Arc::new(RegionState {
                    client: self.base.for_region(&region.id, &region.endpoint),
                    gate: tokio::sync::Mutex::new(()),
                    health: Mutex::new(Health::Unknown),
                })
            })
            .clone()
    }

    /// `region`, or the base client's when `None` (`[api]`'s).
    pub fn resolve(&self, region: Option<&Region>) -> Region {
        region.cloned().unwrap_or_else(|| Region {
            id: self.base.region_id().to_string(),
            endpoint: self.base.endpoint().to_string(),
        })
    }

    pub fn client(&self, region: &Region) -> ApiClient {
        self.state(region).client.clone()
    }

    /// Runs one call against `region`, unless the region already gave up in this pass.
    ///
    /// # Errors
    /// The call's error, or [`ApiError::RegionDown`].
    pub async fn run<T, F, Fut>(&self, region: &Region, call: F) -> Result<T, ApiError>
    where
        F: FnOnce(ApiClient) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let state = self.state(region);
        let health = || {
            state
                .health
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
        };
        let gate = match health() {
            Health::Unknown => Some(state.gate.lock().await),
            _ => None,
        };
        // Only the call that finds the health still unknown keeps the gate while it runs.
        let _gate = match health() {
            Health::Down(first) => {
                return Err(ApiError::RegionDown {
                    region: region.id.clone(),
                    first,
                });
            }
            Health::Up => None,
            Health::Unknown => gate,
        };
        let result = call(state.client.clone()).await;
        let mut h = state.health.lock().unwrap_or_else(|e| e.into_inner());
        match &result {
            Err(e) if e.is_region_down() => {
                warn!(region = %region.id, endpoint = %region.endpoint, "the region's API keeps failing; its other targets are not tried in this pass: {e}");
                *h = Health::Down(e.to_string());
            }
            _ => {
                if matches!(*h, Health::Unknown) {
                    *h = Health::Up;
                }
            }
        }
        result
    }
}

/// What one small listing of a target found (`--check`): how many backups (or cluster
/// backups) its window holds, and an intranet URL it listed.
pub struct Sample {
    pub count: u64,
    pub clusters: bool,
    pub intranet_url: Option<String>,
}

/// One small listing of `query`, made the way a pass lists it (its first page, or the cluster
/// backups): what `--check` shows.
///
/// # Errors
/// The call failed.
pub async fn sample(api: &ApiClient, query: &fleet::Query) -> Result<Sample, ApiError> {
    Ok(match query {
        fleet::Query::Backups(q) => {
            let page = api.page(q, 1).await?;
            Sample {
                count: page.total_count,
                clusters: false,
                intranet_url: (page.backups.iter()).find_map(|b| b.intranet_download_url.clone()),
            }
        }
        fleet::Query::Clusters(q) => Sample {
            count: api.list_cluster_backups(q).await?.len() as u64,
            clusters: true,
            intranet_url: None,
        },
    })
}

/// The backup `key` names, as the cloud lists it now (`None`: it no longer has it), asked by
/// its id: `DescribeBackups` with the `BackupId` (and `NodeId`), or for a cluster backup's
/// node `DescribeClusterBackups` with the `ClusterBackupId`; the id wins over the time window
/// (the API reference: "invalid if you specify the BackupId parameter"). The one way to ask
/// for a single backup: fresh download URLs and expiry checks both come here.
///
/// # Errors
/// The call failed.
pub async fn one(api: &ApiClient, key: &BackupKey) -> Result<Option<Backup>, ApiError> {
    if key.cluster {
        let query = crate::api::fleet::ClusterQuery {
            instance_id: key.instance_id.clone(),
            backup_id: Some(key.backup_id.clone()),
            ..Default::default()
        };
        let clusters = api.list_cluster_backups(&query).await?;
        return Ok(clusters
            .into_iter()
            .filter(|c| c.id == key.backup_id)
            .flat_map(|c| c.nodes)
            .find(|n| Some(&n.node_id) == key.node_id.as_ref())
            .map(|n| n.backup));
    }
    let query = crate::api::client::ListQuery {
        instance_id: key.instance_id.clone(),
        node_id: key.node_id.clone(),
        backup_id: Some(key.backup_id.clone()),
        ..Default::default()
    };
    let listing = api.list_all(&query).await?;
    Ok(listing
        .backups
        .into_iter()
        .find(|b| b.backup_id == key.backup_id))
}

/// Asks the cloud, by id, about each backup in `keys` (copies whose recorded expiry has passed
/// and that are not in the listing): what it answered per backup, `None` where it no longer
/// has it. A backup whose question failed has no answer, so its copy is kept this pass
/// ([`crate::sync::prune::Keep::Unconfirmed`]).
pub async fn confirm(
    base: &ApiClient,
    clients: &HashMap<String, ApiClient>,
    keys: Vec<BackupKey>,
    cancel: &CancellationToken,
) -> HashMap<BackupKey, Option<Backup>> {
    let asked = futures::stream::iter(keys)
        .map(|key| async move {
            let api = clients.get(&key.instance_id).unwrap_or(base);
            let answer = tokio::select! {
                () = cancel.cancelled() => return None,
                answer = one(api, &key) => answer,
            };
            match answer {
                Ok(found) => Some((key, found)),
                Err(e) => {
                    warn!(backup = %key.label(), "cannot ask the cloud whether this copy's backup expired; it is kept this pass: {e}");
                    None
                }
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    asked.into_iter().flatten().collect()
}
