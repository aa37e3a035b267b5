//! Before a copy goes on the expiry its manifest recorded, the cloud is asked about its backup
//! by id (issue #21): "no longer listed" is never read as "expired". The answers go into the
//! plan, made again with them; an expiry the cloud extended is written into the manifest.

use time::OffsetDateTime;
use tracing::{info, warn};

use super::PassOptions;
use crate::api::client::ApiClient;
use crate::listing;
use crate::model::Remote;
use crate::store::Store;
use crate::sync::plan::{self, Plan, Policy};

/// What asking the cloud about single backups needs.
pub(super) struct Ask<'a> {
    pub(super) api: &'a ApiClient,
    pub(super) clients: &'a std::collections::HashMap<String, ApiClient>,
    pub(super) store: &'a Store,
    pub(super) opts: &'a PassOptions,
}

/// The plan, once the cloud has been asked (by id) about the copies it would remove on the
/// expiry their manifests recorded: those answers go into `remote`, and the plan is made again
/// with them (an expiry extended since is written into the manifest).
pub(super) async fn plan_confirmed(
    ask: &Ask<'_>,
    remote: &mut Remote,
    local: &mut crate::model::OnDisk,
    now: OffsetDateTime,
    policy: &Policy,
) -> Plan {
    let plan = plan::plan(remote, local, now, policy);
    let units = plan.unconfirmed();
    if units.is_empty() {
        return plan;
    }
    let keys = keys_of(
        local.copies.iter().filter_map(|c| c.manifest.as_ref().ok()),
        &units,
    );
    remote.confirmed = listing::confirm(ask.api, ask.clients, keys, &ask.opts.cancel).await;
    if !ask.opts.dry_run {
        record_expiries(ask.store, &remote.confirmed);
    }
    // The copies in hand say what their manifests now say (the archive step uploads them).
    for copy in &mut local.copies {
        let Ok(m) = &mut copy.manifest else { continue };
        if let Some(Some(b)) = remote.confirmed.get(&m.key()) {
            m.backup.backup_expire_time = b.backup_expire_time;
        }
    }
    plan::plan(remote, local, now, policy)
}

/// The keys of the copies (by their manifests) that belong to `units`.
pub(super) fn keys_of<'m>(
    manifests: impl Iterator<Item = &'m crate::model::Manifest>,
    units: &[crate::model::BackupKey],
) -> Vec<crate::model::BackupKey> {
    let units: std::collections::HashSet<&crate::model::BackupKey> = units.iter().collect();
    manifests
        .map(crate::model::Manifest::key)
        .filter(|k| units.contains(&k.unit()))
        .collect()
}

/// Asks the cloud (by id) about the archived copies of `units`: those the archive's retention
/// would remove on the expiry their manifests recorded (issue #21.5, the archive's side).
pub(super) async fn ask_archived(
    ask: &Ask<'_>,
    listing: &crate::model::ArchiveListing,
    units: &[crate::model::BackupKey],
) -> std::collections::HashMap<crate::model::BackupKey, Option<crate::model::Backup>> {
    let keys = keys_of(listing.copies.iter().map(|a| &a.manifest), units);
    listing::confirm(ask.api, ask.clients, keys, &ask.opts.cancel).await
}

/// Writes into their manifests the expiries the cloud extended since the copies were made.
fn record_expiries(
    store: &Store,
    confirmed: &std::collections::HashMap<crate::model::BackupKey, Option<crate::model::Backup>>,
) {
    for (key, backup) in confirmed {
        let Some(b) = backup else {
            info!(backup = %key.label(), "the cloud no longer has this backup; its copy keeps the expiry its manifest recorded");
            continue;
        };
        match store.record_expiry(key, b.backup_expire_time) {
            Ok(true) => {
                info!(backup = %key.label(), expire = %b.backup_expire_time.map(crate::model::timestamp).unwrap_or_default(), "the cloud extended this backup's expiry; recorded, the copy is kept")
            }
            Ok(false) => {}
            Err(e) => warn!(backup = %key.label(), "cannot record the cloud's new expiry: {e}"),
        }
    }
}
