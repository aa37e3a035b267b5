//! A real S3 server for the archive's tests and `--demo`: Garage (an S3-compatible object store,
//! AGPL-3.0), started as separate processes on free loopback ports, never linked.
//!
//! [`Garage::start`] runs one node (replication 1); [`Garage::start_cluster`] runs N nodes with
//! replication N, connected, each in its own zone. Either way the layout is applied, a bucket is
//! created and a key allowed on it before the call returns. Every server is a child process
//! killed and waited for by its own handle on drop (never by name); their output goes to log
//! files in the node's folder ([`Garage::log_tail`]). The waits poll with a deadline.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The bucket every started Garage has.
pub const BUCKET: &str = "backups";
const REGION: &str = "garage";
const DEADLINE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum GarageError {
    #[error("garage is not on PATH: install it with `cargo install --locked garage@2.5.0`")]
    Missing,
    #[error("garage: cannot {what}: {reason}")]
    Io { what: String, reason: String },
    #[error("garage {command} failed: {output}")]
    Command { command: String, output: String },
    #[error("garage: {0}")]
    Timeout(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> GarageError {
    let what = what.into();
    move |e| GarageError::Io {
        what,
        reason: e.to_string(),
    }
}

/// `garage` on PATH, or `$GARAGE_BIN`.
pub fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GARAGE_BIN").map(PathBuf::from) {
        return p.is_file().then_some(p);
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join("garage"))
        .find(|p| p.is_file())
}

/// One Garage server process and its config.
struct Node {
    config: PathBuf,
    dir: PathBuf,
    s3_port: u16,
    child: Option<Child>,
}

/// Running Garage nodes with one bucket and one key allowed on it.
pub struct Garage {
    bin: PathBuf,
    nodes: Vec<Node>,
    key_id: String,
    secret: String,
    /// Removed after the nodes stop ([`Garage::remove_dir_on_drop`]).
    scratch: Option<PathBuf>,
}

impl Garage {
    /// One node (replication 1) with its data in `dir`.
    ///
    /// # Errors
    /// Garage is missing, or a step of the setup failed (the message names it).
    pub fn start(dir: &Path) -> Result<Garage, GarageError> {
        Garage::start_cluster(dir, 1)
    }

    /// [`Garage::start`] in a scratch `dir` that is removed when the node stops, or at once if
    /// it fails to start (the `--demo` archive).
    ///
    /// # Errors
    /// As [`Garage::start`].
    pub fn start_scratch(dir: &Path) -> Result<Garage, GarageError> {
        match Garage::start(dir) {
            Ok(g) => Ok(g.remove_dir_on_drop(dir.to_path_buf())),
            Err(e) => {
                let _ = std::fs::remove_dir_all(dir);
                Err(e)
            }
        }
    }

    /// `count` nodes with replication `count`, connected, each in its own zone.
    ///
    /// # Errors
    /// Garage is missing, or a step of the setup failed (the message names it).
    pub fn start_cluster(dir: &Path, count: usize) -> Result<Garage, GarageError> {
        let bin = binary().ok_or(GarageError::Missing)?;
        let secret = rpc_secret()?;
        let mut garage = Garage {
            bin,
            nodes: Vec::new(),
            key_id: String::new(),
            secret: String::new(),
            scratch: None,
        };
        for n in 0..count {
            let node_dir = dir.join(format!("node{}", n + 1));
            let config = write_config(&node_dir, count, &secret)?;
            garage.nodes.push(Node {
                config: config.0,
                dir: node_dir,
                s3_port: config.1,
                child: None,
            });
            garage.spawn(n)?;
        }
        let ids: Vec<String> = (0..count)
            .map(|n| garage.node_id(n))
            .collect::<Result<_, _>>()?;
        for id in ids.iter().skip(1) {
            garage.run(0, &["node", "connect", id])?;
        }
        for (n, id) in ids.iter().enumerate() {
            let short = id.split('@').next().unwrap_or(id);
            let zone = format!("dc{}", n + 1);
            garage.run(0, &["layout", "assign", "-z", &zone, "-c", "1G", short])?;
        }
        garage.run(0, &["layout", "apply", "--version", "1"])?;
        garage.wait_healthy(count)?;
        garage.run(0, &["bucket", "create", BUCKET])?;
        let key = garage.run(0, &["key", "create", "dds-backup-sync-test"])?;
        garage.key_id = field(&key, "Key ID:")?;
        garage.secret = field(&key, "Secret key:")?;
        garage.run(
            0,
            &[
                "bucket",
                "allow",
                "--read",
                "--write",
                "--owner",
                BUCKET,
                "--key",
                "dds-backup-sync-test",
            ],
        )?;
        garage.wait_s3()?;
        Ok(garage)
    }

    /// Removes `dir` (the one given to start) once the nodes have stopped: a scratch store.
    pub fn remove_dir_on_drop(mut self, dir: PathBuf) -> Garage {
        self.scratch = Some(dir);
        self
    }

    /// Node 1's S3 endpoint, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.nodes[0].s3_port)
    }

    pub fn region(&self) -> &str {
        REGION
    }

    pub fn bucket(&self) -> &str {
        BUCKET
    }

    pub fn access_key_id(&self) -> &str {
        &self.key_id
    }

    pub fn secret_access_key(&self) -> &str {
        &self.secret
    }

    /// Another bucket the key may use.
    ///
    /// # Errors
    /// The garage command failed.
    pub fn create_bucket(&self, name: &str) -> Result<(), GarageError> {
        self.run(0, &["bucket", "create", name])?;
        self.run(
            0,
            &[
                "bucket",
                "allow",
                "--read",
                "--write",
                "--owner",
                name,
                "--key",
                "dds-backup-sync-test",
            ],
        )?;
        Ok(())
    }

    /// `garage bucket info` of the bucket, as Garage prints it (objects, size, unfinished
    /// multipart uploads).
    ///
    /// # Errors
    /// The garage command failed.
    pub fn bucket_info(&self) -> Result<String, GarageError> {
        self.run(0, &["bucket", "info", BUCKET])
    }

    /// Kills node `index` (0-based) by its PID and waits for it.
    ///
    /// # Errors
    /// The kill failed.
    pub fn stop_node(&mut self, index: usize) -> Result<(), GarageError> {
        if let Some(mut child) = self.nodes[index].child.take() {
            child.kill().map_err(io("kill a node"))?;
            child.wait().map_err(io("wait for a node"))?;
        }
        Ok(())
    }

    /// Starts node `index` again with its config, and waits until every node is healthy.
    ///
    /// # Errors
    /// The node did not start or rejoin in time.
    pub fn restart_node(&mut self, index: usize) -> Result<(), GarageError> {
        self.spawn(index)?;
        self.wait_healthy(self.nodes.len())
    }

    /// The last lines each node logged, for a failing test to print.
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        for (n, node) in self.nodes.iter().enumerate() {
            let text = std::fs::read_to_string(node.dir.join("server.log")).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- node {} ---\n", n + 1));
            for l in &lines[lines.len().saturating_sub(20)..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    fn spawn(&mut self, index: usize) -> Result<(), GarageError> {
        let node = &mut self.nodes[index];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("server.log"))
            .map_err(io("open the server log"))?;
        let err = log.try_clone().map_err(io("open the server log"))?;
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(&node.config)
            .arg("server")
            .env("RUST_LOG", "garage=warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(io("start a node"))?;
        node.child = Some(child);
        // Ready once `status` answers: it goes through the node's RPC. (`node id` is no
        // proof: it reads the key file, which the server writes before its RPC listens, so a
        // command right after it could be refused.)
        let deadline = Instant::now() + DEADLINE;
        while self.run(index, &["status"]).is_err() {
            let exited = self.nodes[index]
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.nodes[index].child = None;
                return Err(GarageError::Timeout(format!(
                    "node {} exited at start ({status}): {}",
                    index + 1,
                    self.log_tail()
                )));
            }
            if Instant::now() > deadline {
                return Err(GarageError::Timeout(format!(
                    "node {} did not start: {}",
                    index + 1,
                    self.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    fn node_id(&self, index: usize) -> Result<String, GarageError> {
        Ok(self.run(index, &["node", "id", "-q"])?.trim().to_string())
    }

    /// Polls `status` until `count` healthy nodes each have a role.
    fn wait_healthy(&self, count: usize) -> Result<(), GarageError> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Ok(status) = self.run(0, &["status"]) {
                let healthy = status
                    .split("==== FAILED NODES ====")
                    .next()
                    .unwrap_or("")
                    .lines()
                    .filter(|l| l.contains("127.0.0.1:") && !l.contains("NO ROLE"))
                    .count();
                if healthy >= count {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(GarageError::Timeout(format!(
                    "{count} nodes not healthy in time: {}",
                    self.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls until the S3 API answers on node 1.
    fn wait_s3(&self) -> Result<(), GarageError> {
        let deadline = Instant::now() + DEADLINE;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.nodes[0].s3_port));
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
            if Instant::now() > deadline {
                return Err(GarageError::Timeout("the S3 API did not listen".into()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Runs `garage -c <node's config> args…`; its stdout, or the failure with its output.
    fn run(&self, index: usize, args: &[&str]) -> Result<String, GarageError> {
        let out = Command::new(&self.bin)
            .arg("-c")
            .arg(&self.nodes[index].config)
            .args(args)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .output()
            .map_err(io("run garage"))?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if out.status.success() {
            return Ok(text);
        }
        let err = String::from_utf8_lossy(&out.stderr);
        Err(GarageError::Command {
            command: args.join(" "),
            output: format!("{}{}", text.trim(), err.trim()),
        })
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if let Some(dir) = self.scratch.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The value after `label` on its line of a garage listing (`Key ID:  GK…`).
fn field(text: &str, label: &str) -> Result<String, GarageError> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| GarageError::Command {
            command: "key create".into(),
            output: format!("no {label:?} in {text:?}"),
        })
}

/// 32 random bytes as hex, the shared secret of the nodes' RPC.
fn rpc_secret() -> Result<String, GarageError> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(io("read /dev/urandom"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A port nobody listens on now (the OS picks it; Garage binds it right after).
/// A port for a node to bind, free when probed. Garage binds it itself, so it is released
/// first, and another process may take it in between: a port from `bind(0)` is one the kernel
/// hands out again to the next `bind(0)` (every other server of the tests), so ports are taken
/// below the kernel's ephemeral range instead, where `bind(0)` never goes, and a counter gives
/// each node of this process its own (started from the PID, so two test processes differ).
fn free_port() -> Result<u16, GarageError> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = ephemeral_low();
    if low > 11_000 {
        let span = u32::from(low) - 10_000;
        let start = std::process::id().wrapping_mul(64);
        for _ in 0..span.min(4096) {
            let n = start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed));
            let port = 10_000 + (n % span) as u16;
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
    }
    let l = TcpListener::bind("127.0.0.1:0").map_err(io("pick a free port"))?;
    Ok(l.local_addr().map_err(io("pick a free port"))?.port())
}

/// The low end of the kernel's ephemeral port range (Linux's default when unreadable).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// Writes a node's `garage.toml` in `dir`; returns its path and the S3 port.
fn write_config(
    dir: &Path,
    replication: usize,
    secret: &str,
) -> Result<(PathBuf, u16), GarageError> {
    std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
    let (rpc, s3, admin) = (free_port()?, free_port()?, free_port()?);
    let text = format!(
        "metadata_dir = \"{meta}\"\ndata_dir = \"{data}\"\ndb_engine = \"sqlite\"\n\
         replication_factor = {replication}\n\
         rpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\n\
         rpc_secret = \"{secret}\"\n\
         [s3_api]\ns3_region = \"{REGION}\"\napi_bind_addr = \"127.0.0.1:{s3}\"\n\
         root_domain = \".s3.garage.localhost\"\n\
         [admin]\napi_bind_addr = \"127.0.0.1:{admin}\"\n",
        meta = dir.join("meta").display(),
        data = dir.join("data").display(),
    );
    let path = dir.join("garage.toml");
    std::fs::write(&path, text).map_err(io("write garage.toml"))?;
    Ok((path, s3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ports_are_distinct_free_and_out_of_the_way_of_bind_0() {
        let ports: Vec<u16> = (0..64).map(|_| free_port().unwrap()).collect();
        let distinct: std::collections::HashSet<&u16> = ports.iter().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        // A server of another test, on port 0, gets none of them.
        let others: Vec<TcpListener> = (0..64)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        for l in &others {
            assert!(!ports.contains(&l.local_addr().unwrap().port()));
        }
        if ephemeral_low() > 11_000 {
            assert!(ports.iter().all(|&p| p < ephemeral_low()), "{ports:?}");
        }
        for p in ports {
            TcpListener::bind(("127.0.0.1", p)).expect("still free");
        }
    }
}
