//! `--list [--json]`: the remote backups per instance/node (or per cluster backup), as a
//! table (human sizes) or as JSON (raw bytes), each target with where it came from
//! (configured / discovered), how it is listed and its storage type, and each backup with
//! whether a verified local copy exists; every network-sourced text shown as data. With
//! `[archive]`, each backup also says whether the archive holds it, and the archived copies the
//! cloud no longer lists come last ([`archived`]).

mod archived;

use std::collections::{HashMap, HashSet};
use std::io::Write;

use serde::Serialize;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::{AppError, api_client};
use crate::config::Settings;
use crate::exit;
use crate::fleet::{Shape, Source};
use crate::listing::{self, Found, Resolved, TargetListing};
use crate::model::{Backup, BackupKey, LocalState};
use crate::store::Store;
use crate::sync::report::human_bytes;
use crate::text::shown;

/// `--list`: a table (or JSON) of the remote backups per target.
pub async fn list(settings: &Settings, json: bool, out: &mut dyn Write) -> Result<u8, AppError> {
    let api = api_client(settings).await?;
    let fleet = listing::list_fleet(
        &api,
        listing::Scope::of(settings),
        OffsetDateTime::now_utc(),
        &CancellationToken::new(),
    )
    .await;
    // Which backups have a verified copy here: the store's snapshot only reads.
    let local: HashSet<BackupKey> = Store::new(&settings.download.dir)
        .on_disk()
        .states
        .into_iter()
        .filter(|(_, state)| matches!(state, LocalState::Complete { .. }))
        .map(|((key, _), _)| key)
        .collect();
    let archive = archived::ArchiveSection::of(settings).await;
    let held = Held {
        local,
        archive: archive.as_ref().and_then(archived::ArchiveSection::held),
    };
    let view = View::of(&fleet, &held);
    let unlisted = match &archive {
        Some(a) => a.unlisted(&view.keys()),
        None => Vec::new(),
    };
    if json {
        write_json(
            &view,
            archive.as_ref().map(|a| (a, &unlisted[..], &held.local)),
            out,
        )?;
    } else {
        write_table(&view, archive.is_some(), out)?;
        if let Some(a) = &archive {
            archived::write_table(a, &unlisted, &held.local, out)?;
        }
    }
    let errors = fleet
        .listings
        .iter()
        .filter_map(|l| l.result.as_ref().err())
        .chain(fleet.discovery_failures.iter().map(|(_, e)| e));
    let (mut auth, mut failed) = (false, archive.is_some_and(|a| a.result.is_err()));
    for e in errors {
        failed = true;
        auth |= e.is_auth_or_setup();
    }
    Ok(if auth {
        exit::SETUP
    } else if failed {
        exit::FAILED
    } else {
        exit::OK
    })
}

/// The backups with a verified local copy, and those with a sound archived copy (`None`:
/// no archive, or it could not be listed).
struct Held {
    local: HashSet<BackupKey>,
    archive: Option<HashSet<BackupKey>>,
}

impl Held {
    fn row<'a>(
        &self,
        key: BackupKey,
        backup: &'a Backup,
        cluster: Option<ClusterRow<'a>>,
    ) -> Row<'a> {
        Row {
            backup,
            cluster,
            local_copy: self.local.contains(&key),
            archived: self.archive.as_ref().map(|a| a.contains(&key)),
            key,
        }
    }
}

/// One row: a backup (for a cluster backup, one node's part of it).
struct Row<'a> {
    key: BackupKey,
    backup: &'a Backup,
    cluster: Option<ClusterRow<'a>>,
    local_copy: bool,
    archived: Option<bool>,
}

struct ClusterRow<'a> {
    id: &'a str,
    node: &'a str,
    problem: Option<String>,
}

/// One target as shown.
struct Shown<'a> {
    heading: String,
    instance: Option<&'a str>,
    node: Option<&'a str>,
    about: Option<&'a Resolved>,
    rows: Vec<Row<'a>>,
    rejected: Vec<String>,
    error: Option<String>,
}

struct View<'a> {
    targets: Vec<Shown<'a>>,
}

impl<'a> View<'a> {
    /// Every backup (node part) the cloud listed.
    fn keys(&self) -> HashSet<BackupKey> {
        self.targets
            .iter()
            .flat_map(|t| t.rows.iter().map(|r| r.key.clone()))
            .collect()
    }

    fn of(fleet: &'a listing::FleetListing, held: &Held) -> View<'a> {
        let about: HashMap<&str, &Resolved> = fleet
            .members
            .iter()
            .map(|r| (r.member.settings.id.as_str(), r))
            .collect();
        let mut targets: Vec<Shown<'a>> = fleet
            .discovery_failures
            .iter()
            .map(|(what, e)| Shown {
                heading: what.clone(),
                instance: None,
                node: None,
                about: None,
                rows: Vec::new(),
                rejected: Vec::new(),
                error: Some(e.to_string()),
            })
            .collect();
        for l in &fleet.listings {
            targets.push(shown_target(
                l,
                about.get(l.query.instance_id()).copied(),
                held,
            ));
        }
        View { targets }
    }
}

fn shown_target<'a>(l: &'a TargetListing, about: Option<&'a Resolved>, held: &Held) -> Shown<'a> {
    let (instance, node) = match &l.query {
        crate::fleet::Query::Backups(q) => (q.instance_id.as_str(), q.node_id.as_deref()),
        crate::fleet::Query::Clusters(q) => (q.instance_id.as_str(), None),
    };
    let mut t = Shown {
        heading: l.query.target(),
        instance: Some(instance),
        node,
        about,
        rows: Vec::new(),
        rejected: Vec::new(),
        error: None,
    };
    match &l.result {
        Err(e) => t.error = Some(e.to_string()),
        Ok(Found::Backups(listing)) => {
            t.rejected = listing.rejected.iter().map(ToString::to_string).collect();
            t.rows = listing
                .backups
                .iter()
                .map(|b| held.row(BackupKey::node(instance, node, &b.backup_id), b, None))
                .collect();
        }
        Ok(Found::Clusters(clusters)) => {
            for cb in clusters {
                t.rejected
                    .extend(cb.rejected.iter().map(ToString::to_string));
                let problem = listing::cluster_problem(cb);
                for n in &cb.nodes {
                    let key = BackupKey::cluster(instance, &cb.id, Some(&n.node_id));
                    let cluster = ClusterRow {
                        id: &cb.id,
                        node: &n.node_id,
                        problem: problem.clone(),
                    };
                    t.rows.push(held.row(key, &n.backup, Some(cluster)));
                }
            }
        }
    }
    t
}

/// `configured, sharded cluster: shard nodes discovered, storage cloud_essd1, region cn-x`.
fn describe(r: &Resolved) -> String {
    let shape = match &r.shape {
        Shape::Plain => "listed as one instance".to_string(),
        Shape::Nodes { ids, discovered } => format!(
            "sharded cluster: {} shard nodes {}",
            ids.len(),
            if *discovered {
                "discovered"
            } else {
                "configured"
            }
        ),
        Shape::Cluster => "sharded cluster in cluster-backup mode".to_string(),
    };
    format!(
        "{}, {shape}, storage {}, region {}",
        r.member.source,
        shown(r.storage_type.as_deref().unwrap_or("unknown")),
        r.region.id
    )
}

#[derive(Serialize, Default)]
struct JsonTarget<'a> {
    /// The archive's own entry (last): its URL, and the copies the cloud no longer lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    archive: Option<&'a str>,
    instance: Option<&'a str>,
    node: Option<&'a str>,
    /// `configured` or `discovered`.
    source: Option<Source>,
    /// `instance`, `nodes` or `cluster_backups`.
    listed_as: Option<&'static str>,
    storage_type: Option<&'a str>,
    region: Option<&'a str>,
    /// For a failed discovery: which block.
    discovery: Option<&'a str>,
    backups: Vec<JsonBackup<'a>>,
    /// Entries the API described badly, with the reason.
    rejected: &'a [String],
    error: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonBackup<'a> {
    /// In the archive's entry, whose copies come from several targets.
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<&'a str>,
    #[serde(flatten)]
    backup: &'a Backup,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster_backup_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster_node: Option<&'a str>,
    /// Why the cluster backup this node part belongs to is not copied.
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster_problem: Option<&'a str>,
    has_public_url: bool,
    has_intranet_url: bool,
    /// A verified copy of it is in `download.dir`.
    local_copy: bool,
    /// A sound copy of it is in the archive (absent without one, or when it could not be
    /// listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    archived: Option<bool>,
}

/// The archive's part of `--list --json`: the section and its copies the cloud no longer lists.
type ArchivePart<'a> = (
    &'a archived::ArchiveSection,
    &'a [&'a crate::archive::Archived],
    &'a HashSet<BackupKey>,
);

fn write_json(
    view: &View<'_>,
    archive: Option<ArchivePart<'_>>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut targets: Vec<JsonTarget<'_>> = view
        .targets
        .iter()
        .map(|t| JsonTarget {
            instance: t.instance,
            node: t.node,
            source: t.about.map(|r| r.member.source),
            listed_as: t.about.map(|r| match r.shape {
                Shape::Plain => "instance",
                Shape::Nodes { .. } => "nodes",
                Shape::Cluster => "cluster_backups",
            }),
            storage_type: t.about.and_then(|r| r.storage_type.as_deref()),
            region: t.about.map(|r| r.region.id.as_str()),
            discovery: t.instance.is_none().then_some(t.heading.as_str()),
            backups: t
                .rows
                .iter()
                .map(|r| JsonBackup {
                    instance: None,
                    node: None,
                    backup: r.backup,
                    cluster_backup_id: r.cluster.as_ref().map(|c| c.id),
                    cluster_node: r.cluster.as_ref().map(|c| c.node),
                    cluster_problem: r.cluster.as_ref().and_then(|c| c.problem.as_deref()),
                    has_public_url: r.backup.download_url.is_some(),
                    has_intranet_url: r.backup.intranet_download_url.is_some(),
                    local_copy: r.local_copy,
                    archived: r.archived,
                })
                .collect(),
            rejected: &t.rejected,
            error: t.error.as_deref(),
            ..JsonTarget::default()
        })
        .collect();
    if let Some((section, unlisted, local)) = archive {
        targets.push(json_archive(section, unlisted, local));
    }
    // The values stay exact; only the characters serde_json leaves raw are escaped as JSON.
    let json = serde_json::to_string_pretty(&targets).map_err(std::io::Error::other)?;
    writeln!(out, "{}", crate::text::json_safe(&json))
}

/// The archive's entry: its error, or each copy only it holds with its instance and node.
fn json_archive<'a>(
    section: &'a archived::ArchiveSection,
    unlisted: &[&'a crate::archive::Archived],
    local: &HashSet<BackupKey>,
) -> JsonTarget<'a> {
    JsonTarget {
        archive: Some(section.url.as_str()),
        error: section.result.as_ref().err().map(String::as_str),
        backups: unlisted
            .iter()
            .map(|a| {
                let k = &a.key;
                JsonBackup {
                    instance: Some(k.instance_id.as_str()),
                    node: k.node_id.as_deref().filter(|_| !k.cluster),
                    backup: &a.manifest.backup,
                    cluster_backup_id: k.cluster.then_some(k.backup_id.as_str()),
                    cluster_node: k.node_id.as_deref().filter(|_| k.cluster),
                    cluster_problem: None,
                    has_public_url: false,
                    has_intranet_url: false,
                    local_copy: local.contains(k),
                    archived: Some(a.is_sound()),
                }
            })
            .collect(),
        ..JsonTarget::default()
    }
}

/// Every text the API sent is shown as data: a status or method must not drive the terminal.
/// `archive`: an `ARCHIVE` column (`yes`, `no`, `?` when the archive could not be listed).
fn write_table(view: &View<'_>, archive: bool, out: &mut dyn Write) -> std::io::Result<()> {
    for t in &view.targets {
        match t.about {
            Some(r) => writeln!(out, "== {}  ({})", t.heading, describe(r))?,
            None => writeln!(out, "== {}", t.heading)?,
        }
        if let Some(e) = &t.error {
            writeln!(out, "   error: {e}")?;
            continue;
        }
        if t.rows.is_empty() {
            writeln!(out, "   (no backups in the lookback window)")?;
        } else {
            writeln!(
                out,
                "   {:<12} {:<8} {:<5} {:<8} {:<17} {:<20} {:<20} {:>10} {:<5}  {}URLS",
                "BACKUP_ID",
                "STATUS",
                "AVAIL",
                "METHOD",
                "TYPE",
                "END",
                "EXPIRES",
                "SIZE",
                "LOCAL",
                if archive { "ARCHIVE  " } else { "" }
            )?;
        }
        let mut cluster_said = None;
        for r in &t.rows {
            if let Some(c) = &r.cluster
                && cluster_said != Some(c.id)
            {
                cluster_said = Some(c.id);
                let note = c.problem.as_deref().map(|p| format!(": not copied, {p}"));
                writeln!(
                    out,
                    "   cluster backup {}{}",
                    shown(c.id),
                    note.unwrap_or_default()
                )?;
            }
            writeln!(out, "{}", row_line(r, archive))?;
        }
        for r in &t.rejected {
            writeln!(out, "   skipped: {r}")?;
        }
    }
    Ok(())
}

/// One backup's line of the table.
fn row_line(r: &Row<'_>, archive: bool) -> String {
    let time = |t: Option<OffsetDateTime>| {
        t.map(crate::api::client::timestamp)
            .unwrap_or_else(|| "-".into())
    };
    let archived = match (archive, r.archived) {
        (false, _) => String::new(),
        (true, Some(true)) => format!("{:<7}  ", "yes"),
        (true, Some(false)) => format!("{:<7}  ", "no"),
        (true, None) => format!("{:<7}  ", "?"),
    };
    let b = r.backup;
    let urls = match (b.download_url.is_some(), b.intranet_download_url.is_some()) {
        (true, true) => "public+intranet",
        (true, false) => "public",
        (false, true) => "intranet",
        (false, false) => "none",
    };
    let node = r
        .cluster
        .as_ref()
        .map(|c| format!("  node {}", shown(c.node)));
    format!(
        "   {:<12} {:<8} {:<5} {:<8} {:<17} {:<20} {:<20} {:>10} {:<5}  {}{}{}",
        shown(&b.backup_id),
        shown(&b.backup_status),
        if b.is_avail { "yes" } else { "no" },
        shown(b.backup_method.as_deref().unwrap_or("-")),
        shown(b.backup_type.as_deref().unwrap_or("-")),
        time(b.backup_end_time),
        if b.is_kept_forever() {
            "forever".to_string()
        } else {
            time(b.backup_expire_time)
        },
        b.backup_size.map(human_bytes).unwrap_or_else(|| "-".into()),
        if r.local_copy { "yes" } else { "no" },
        archived,
        urls,
        node.unwrap_or_default(),
    )
}
