//! `dds-emulator`: a local stand-in for the ApsaraDB for MongoDB RPC API (`DescribeBackups`, and
//! for reaching a whole fleet `DescribeDBInstances`, `DescribeDBInstanceAttribute` and
//! `DescribeClusterBackups`), for the DBS download tasks that export cloud-disk snapshot backups
//! (`DescribeDownloadSupport`, `CreateDownload`, `DescribeDownloadTask`,
//! `DescribeDownloadBackupSetStorageInfo`, `RetryDownloadTask`), and for the OSS objects their
//! URLs point at. It exists so that `dds-backup-sync` can be tested and shown
//! without a cloud account: the daemon's integration tests and benchmark run against it, its
//! `--demo` mode (the `demo` feature) starts it in-process, and operators can run the
//! `dds-emulator` binary to try a configuration.
//!
//! Owns the server lifecycle ([`start`] → [`Emulator`] → [`Emulator::shutdown`] or drop), the
//! shared state the handlers read (credentials, data set, faults, clock, object cache, counters)
//! and the runtime knobs tests turn (faults, clock offset, the per-connection rate cap). The
//! pieces:
//! - [`data`]: instances (with region, storage, tags), per-node and cluster backups, the DBS
//!   download-task state machine, the demo data set;
//! - `api`: the dds and DBS actions on `/` (GET query or POST form), with the real checks and
//!   errors;
//! - `dbs`: the DBS tasks and their built exports in the shared state; `export`: the archive a
//!   finished task serves (tar of BSON files, zstd);
//! - [`sign`]: its own check of the RPC signature V1;
//! - `oss`: presigned-style object URLs `/oss/{public|internal}/<instance>/<object>` with Range,
//!   bodies paced by `body_rate` and by the per-response ceiling `conn_rate` (one OSS
//!   connection's rate: N ranged GETs in parallel get N times it);
//! - `content`: deterministic object bytes of any size, generated per range;
//! - `wire`: response shapes (JSON/XML bodies, dates);
//! - [`faults`]: what to break; [`stats`]: what was served; `config`: how to run one.
//!
//! What it must not do:
//! - depend on the `dds-backup-sync` crate, or share its signer. A fake server that verifies with
//!   the client's own signing code agrees with every bug in it and can never catch one; [`sign`]
//!   is written from the provider's rules alone, reproduces the published test vectors, and the
//!   official-SDK compatibility test (`tests/sdk_compat.py`, run from `tests/emulator.rs`) keeps
//!   it honest.
//! - be pointed at real credentials: it logs nothing secret (never a query string), but it is a
//!   test tool.

mod api;
mod config;
mod content;
pub mod data;
mod dbs;
mod export;
pub mod faults;
pub mod garage;
mod oss;
pub mod sign;
pub mod stats;
pub mod tools;
mod wire;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::EmulatorConfig;
use content::{ObjectInfo, ObjectKey};
pub use data::{
    BackupRecord, ClusterBackupRecord, ContentFormat, Dataset, DbsScript, DownloadStatus, Instance,
    InstanceKind, ObjectSpec,
};
pub use dbs::{DbsExport, DbsTaskSummary};
use faults::FaultState;
pub use faults::{ApiFaults, DropFault, Faults, OssFaults, ScenarioError, StallFault};
pub use stats::Stats;

/// Name, size and checksums of an object as the emulator serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectSummary {
    pub instance: String,
    pub name: String,
    pub backup_id: String,
    /// Bytes served (differs from `BackupSize` under the `short_objects` fault).
    pub size: u64,
    /// Quoted, as in the `ETag` header.
    pub etag: String,
    pub crc64: u64,
}

/// An object resolved from the data set, with the size faults applied.
#[derive(Clone, Debug)]
struct Resolved {
    instance: String,
    key: ObjectKey,
    last_modified: OffsetDateTime,
    /// A DBS export, built when its task finished; `None`: generated from `key`.
    built: Option<Arc<ObjectInfo>>,
}

/// State shared by every handler.
struct Shared {
    access_key_id: String,
    access_key_secret: String,
    security_token: Option<String>,
    oss_key_id: String,
    oss_key_secret: String,
    region: String,
    url_ttl: Duration,
    body_rate: Option<u64>,
    /// Bytes per second of each response body (one connection's ceiling); 0: no cap. Read per
    /// chunk, so [`Emulator::set_conn_rate`] reaches bodies already in flight.
    conn_rate: AtomicU64,
    public_base: String,
    intranet_base: String,
    dataset: RwLock<Dataset>,
    faults: RwLock<Arc<FaultState>>,
    stats: stats::Recorder,
    clock_offset_ms: AtomicI64,
    /// Nonce → when it was seen (emulator clock), for `SignatureNonceUsed`.
    nonces: Mutex<HashMap<String, OffsetDateTime>>,
    /// Built lazily once per object version; the full CRC pass is the expensive part.
    objects: Mutex<HashMap<ObjectKey, Arc<OnceCell<Arc<ObjectInfo>>>>>,
    /// DBS download tasks and their exports, for the emulator's lifetime.
    dbs: Mutex<dbs::DbsState>,
    cancel: CancellationToken,
}

impl Shared {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
            + time::Duration::milliseconds(self.clock_offset_ms.load(Ordering::Relaxed))
    }

    fn conn_rate(&self) -> Option<u64> {
        Some(self.conn_rate.load(Ordering::Relaxed)).filter(|r| *r > 0)
    }

    fn faults(&self) -> Arc<FaultState> {
        self.faults
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn dataset(&self) -> RwLockReadGuard<'_, Dataset> {
        self.dataset.read().unwrap_or_else(|e| e.into_inner())
    }

    /// A backup's object, else a DBS export.
    fn resolve(&self, instance: &str, name: &str) -> Option<Resolved> {
        let found = {
            let ds = self.dataset();
            ds.object(instance, name)
                .and_then(|backup| self.resolved(instance, backup))
        };
        found.or_else(|| self.resolve_export(instance, name))
    }

    fn resolve_backup(&self, backup_id: &str) -> Option<Resolved> {
        let ds = self.dataset();
        let (inst, backup) = ds.backup(backup_id)?;
        self.resolved(&inst.id, backup)
    }

    fn resolved(&self, instance: &str, b: &BackupRecord) -> Option<Resolved> {
        let o = b.object.as_ref()?;
        let size = match self.faults().short_size(&o.name, &b.backup_id) {
            Some(short) => short.min(o.size),
            None => o.size,
        };
        Some(Resolved {
            instance: instance.to_string(),
            key: ObjectKey {
                backup_id: b.backup_id.clone(),
                name: o.name.clone(),
                size,
                version: o.version,
                format: o.format,
            },
            last_modified: b.end,
            built: None,
        })
    }

    /// The built object, computed once per key on a blocking thread.
    async fn object_info(&self, key: &ObjectKey) -> io::Result<Arc<ObjectInfo>> {
        let cell = {
            let mut map = self.objects.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(key.clone()).or_default().clone()
        };
        let info = cell
            .get_or_try_init(|| {
                let key = key.clone();
                async move {
                    tokio::task::spawn_blocking(move || Arc::new(ObjectInfo::build(&key)))
                        .await
                        .map_err(io::Error::other)
                }
            })
            .await?;
        Ok(info.clone())
    }
}

/// A running emulator. Dropping it stops the server (in-flight bodies are cut).
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: Option<JoinHandle<()>>,
}

/// Binds `addr` (port 0 picks a free port) and serves until [`Emulator::shutdown`] or drop.
/// Must be called inside a Tokio runtime.
pub async fn start(config: EmulatorConfig, addr: SocketAddr) -> io::Result<Emulator> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    // As a real front end does: a paced chunk's last partial segment must not wait for the
    // client's delayed ACK (Nagle), which adds ~40 ms now and then to a reused connection.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let base = base_url_of(addr);
    let shared = Arc::new(Shared {
        oss_key_id: "LTAI5tEmulatorOssKey".into(),
        oss_key_secret: oss::derive_secret(&config.access_key_secret),
        access_key_id: config.access_key_id,
        access_key_secret: config.access_key_secret,
        security_token: config.security_token,
        region: config.region,
        url_ttl: config.url_ttl,
        body_rate: config.body_rate,
        conn_rate: AtomicU64::new(config.conn_rate.unwrap_or(0)),
        public_base: trim_base(config.public_url_base.unwrap_or_else(|| base.clone())),
        intranet_base: trim_base(config.intranet_url_base.unwrap_or_else(|| base.clone())),
        dataset: RwLock::new(config.dataset),
        faults: RwLock::new(Arc::new(FaultState::new(config.faults))),
        stats: stats::Recorder::default(),
        clock_offset_ms: AtomicI64::new(config.clock_offset.whole_milliseconds() as i64),
        nonces: Mutex::new(HashMap::new()),
        objects: Mutex::new(HashMap::new()),
        dbs: Mutex::new(dbs::DbsState::default()),
        cancel: CancellationToken::new(),
    });
    let app = Router::new()
        .route("/", get(api::handle).post(api::handle))
        .route(
            "/oss/{network}/{instance}/{object}",
            get(oss::get_object).head(oss::head_object),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), log_request))
        .with_state(shared.clone());
    let stop = shared.cancel.clone().cancelled_owned();
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::warn!(error = %e, "emulator server stopped with an error");
        }
    });
    tracing::debug!(%addr, "emulator listening");
    Ok(Emulator {
        shared,
        addr,
        task: Some(task),
    })
}

fn base_url_of(addr: SocketAddr) -> String {
    // A wildcard bind address is not something a client can connect to: hand out loopback.
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

fn trim_base(s: String) -> String {
    s.trim_end_matches('/').to_string()
}

async fn not_found() -> Response {
    (axum::http::StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// One line per request; the query (signatures, keys) never reaches the log.
async fn log_request(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let url = redact_url(&format!("{}{}", shared.public_base, req.uri()));
    let started = Instant::now();
    let resp = next.run(req).await;
    tracing::info!(
        %method,
        %url,
        status = resp.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "emulator request"
    );
    resp
}

/// The URL without its query (presigned signatures, keys) or user info.
fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            let had_query = u.query().is_some();
            u.set_query(None);
            u.set_fragment(None);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            let mut s = u.to_string();
            if had_query {
                s.push_str("?<redacted>");
            }
            s
        }
        Err(_) => raw.split(['?', '#']).next().unwrap_or_default().to_string(),
    }
}

impl Emulator {
    /// `http://127.0.0.1:PORT`: the API endpoint (path `/`).
    pub fn base_url(&self) -> String {
        base_url_of(self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces every fault (counters start afresh).
    pub fn set_faults(&self, faults: Faults) {
        *self
            .shared
            .faults
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(FaultState::new(faults));
    }

    /// Caps every GET response body at `rate` bytes per second from the next chunk on, bodies
    /// already in flight included (`None` or `Some(0)`: no cap), like
    /// [`EmulatorConfig::conn_rate`].
    pub fn set_conn_rate(&self, rate: Option<u64>) {
        self.shared
            .conn_rate
            .store(rate.unwrap_or(0), Ordering::Relaxed);
    }

    /// The per-response rate cap in force, if any.
    pub fn conn_rate(&self) -> Option<u64> {
        self.shared.conn_rate()
    }

    /// The faults with their counters as they stand (what has not fired yet).
    pub fn faults_remaining(&self) -> Faults {
        self.shared.faults().remaining()
    }

    /// Runs `f` on the data set under the write lock; changes are visible to the next request.
    pub fn with_dataset<R>(&self, f: impl FnOnce(&mut Dataset) -> R) -> R {
        let mut ds = self
            .shared
            .dataset
            .write()
            .unwrap_or_else(|e| e.into_inner());
        f(&mut ds)
    }

    /// Adds a backup to an instance; `false` if there is no such instance.
    pub fn add_backup(&self, instance: &str, backup: BackupRecord) -> bool {
        self.with_dataset(|d| match d.instance_mut(instance) {
            Some(i) => {
                i.backups.push(backup);
                true
            }
            None => false,
        })
    }

    /// Replaces a backup's object with a new version (new bytes, new ETag, new CRC), as if it had
    /// been re-uploaded; `false` if the backup has no object.
    pub fn bump_object_version(&self, backup_id: &str) -> bool {
        self.with_dataset(
            |d| match d.backup_mut(backup_id).and_then(|b| b.object.as_mut()) {
                Some(o) => {
                    o.version += 1;
                    true
                }
                None => false,
            },
        )
    }

    /// The emulator's clock (system clock plus the offset).
    pub fn now(&self) -> OffsetDateTime {
        self.shared.now()
    }

    pub fn set_clock_offset(&self, offset: time::Duration) {
        self.shared
            .clock_offset_ms
            .store(offset.whole_milliseconds() as i64, Ordering::Relaxed);
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats.snapshot()
    }

    pub fn reset_stats(&self) {
        self.shared.stats.reset();
    }

    /// A freshly presigned URL for a backup's object (per-node or a cluster backup's node), as
    /// `DescribeBackups` / `DescribeClusterBackups` would issue it.
    pub fn presigned_url(&self, backup_id: &str, intranet: bool) -> Option<String> {
        let r = self.shared.resolve_backup(backup_id)?;
        let ttl = self
            .shared
            .faults()
            .url_ttl()
            .unwrap_or(self.shared.url_ttl);
        let expires = self.shared.now().unix_timestamp() + ttl.as_secs() as i64;
        Some(oss::presign(
            &self.shared,
            intranet,
            &r.instance,
            &r.key.name,
            expires,
        ))
    }

    /// Size, ETag and CRC of a backup's object (building it if needed).
    pub async fn object_summary(&self, backup_id: &str) -> Option<ObjectSummary> {
        let r = self.shared.resolve_backup(backup_id)?;
        let info = self.shared.object_info(&r.key).await.ok()?;
        Some(ObjectSummary {
            instance: r.instance,
            name: r.key.name.clone(),
            backup_id: r.key.backup_id.clone(),
            size: info.layout.size,
            etag: info.etag.clone(),
            crc64: info.crc64,
        })
    }

    /// The bytes `range` of a backup's object (clamped to its size), to compare with a download.
    pub async fn object_bytes(&self, backup_id: &str, range: Range<u64>) -> Option<Vec<u8>> {
        let r = self.shared.resolve_backup(backup_id)?;
        let info = self.shared.object_info(&r.key).await.ok()?;
        let end = range.end.min(info.layout.size);
        let start = range.start.min(end);
        let mut buf = vec![0; (end - start) as usize];
        info.layout.read_at(start, &mut buf);
        Some(buf)
    }

    /// Builds every object now (layouts and CRCs) so the first download does not pay for it;
    /// useful before a benchmark.
    pub async fn warm_up(&self) -> io::Result<()> {
        let keys: Vec<ObjectKey> = {
            let ds = self.shared.dataset();
            ds.instances
                .iter()
                .flat_map(|i| i.all_backups().map(move |b| (i, b)))
                .filter_map(|(i, b)| self.shared.resolved(&i.id, b).map(|r| r.key))
                .collect()
        };
        for key in keys {
            self.shared.object_info(&key).await?;
        }
        Ok(())
    }

    /// Stops accepting, cuts in-flight bodies and waits (up to 5 s) for the server to finish.
    pub async fn shutdown(mut self) {
        self.shared.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // Graceful shutdown runs on its own; bodies watch the same token and end at once.
        self.shared.cancel.cancel();
    }
}
