//! `dds-emulator`: the bundled fake dds API (DescribeBackups, DescribeDBInstances,
//! DescribeDBInstanceAttribute, DescribeClusterBackups) + OSS as a standalone server.
//!
//! A thin shell over the `dds_emulator` library: parse flags, load the scenario, start, print the
//! URL (one line on stdout, flushed, so scripts and tests can read it), log requests to stderr and
//! stop on SIGINT/SIGTERM. Pacing flags: `--body-rate` (a link slower than loopback) and
//! `--conn-rate` (one connection's ceiling, per response body: parallel ranged GETs add up).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use dds_emulator::{self as emulator, EmulatorConfig, Faults};

/// Serves a fake ApsaraDB for MongoDB API (backups, instances, cluster backups), the DBS download
/// tasks that export cloud-disk snapshots, and the OSS objects they point at. The data set is the
/// built-in demo (four instances in two regions).
#[derive(Debug, Parser)]
#[command(name = "dds-emulator", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port (the printed URL has the real one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The only AccessKeyId the emulator accepts.
    #[arg(long, env = "DDS_EMULATOR_ACCESS_KEY_ID")]
    access_key_id: String,
    /// Its secret.
    #[arg(long, env = "DDS_EMULATOR_ACCESS_KEY_SECRET", hide_env_values = true)]
    access_key_secret: String,
    /// Require this SecurityToken (emulates STS credentials).
    #[arg(long, env = "DDS_EMULATOR_SECURITY_TOKEN", hide_env_values = true)]
    security_token: Option<String>,
    /// Faults to inject, as TOML (or JSON if the name ends in .json).
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Lifetime of the presigned URLs, e.g. 3600s or 5m.
    #[arg(long, default_value = "3600s", value_parser = humantime::parse_duration)]
    url_ttl: Duration,
    /// Base URL put in BackupIntranetDownloadURL (default: this server). Point it at a closed
    /// port to simulate an unreachable intranet endpoint.
    #[arg(long)]
    intranet_url_base: Option<String>,
    /// Base URL put in BackupDownloadURL (default: this server).
    #[arg(long)]
    public_url_base: Option<String>,
    /// Seconds added to the emulator's clock (negative: behind), to simulate clock skew.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    clock_offset_secs: i64,
    /// Throttle the next N API calls, any action (on top of the scenario).
    #[arg(long, default_value_t = 0)]
    throttle_next: u32,
    /// Always answer file GETs with 200 and the whole object.
    #[arg(long)]
    ignore_range: bool,
    /// Add a replica-set instance with generated backups, e.g. `dds-bench:64x32MiB` (benchmarks).
    #[arg(long, value_name = "ID:COUNTxSIZE", value_parser = parse_generate)]
    generate: Vec<(String, u64, u64)>,
    /// Time between two generated backups (each kept 7 days): `30s` lists 10,000 of them
    /// (the fleet-scale bench); default one hour.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    generate_every: Duration,
    /// Pace every file body to this rate per second, e.g. `400MiB` (a link slower than
    /// loopback; benchmarks and demos). Default: as fast as the socket takes it.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    body_rate: Option<u64>,
    /// Cap every file GET response body at this rate, like one OSS connection's ceiling: each
    /// body (each connection, each ranged request) is paced on its own, so N ranged GETs in
    /// parallel together get N times the rate. Bytes per second, bare (`50331648`) or with a
    /// suffix (`48MiB`); applies on top of --body-rate (the slower wins). Default: no cap.
    #[arg(long, value_name = "BYTES_PER_SEC", value_parser = parse_size)]
    conn_rate: Option<u64>,
    /// Build every object (layout and CRC) before printing the ready line.
    #[arg(long)]
    warm_up: bool,
    /// After the ready line, print `url <BackupId> <public URL>` for every backup with a URL.
    #[arg(long)]
    print_urls: bool,
}

/// `ID:COUNTxSIZE` with SIZE in bytes or with a KiB/MiB/GiB suffix.
fn parse_generate(s: &str) -> Result<(String, u64, u64), String> {
    let err = || format!("{s:?} is not ID:COUNTxSIZE, e.g. dds-bench:64x32MiB");
    let (id, rest) = s.split_once(':').ok_or_else(err)?;
    let (count, size) = rest.split_once('x').ok_or_else(err)?;
    let count: u64 = count.parse().map_err(|_| err())?;
    let size = parse_size(size).map_err(|_| err())?;
    if id.is_empty() || count == 0 {
        return Err(err());
    }
    Ok((id.to_string(), count, size))
}

/// A positive byte count, bare or with a B/KiB/MiB/GiB/TiB suffix (the daemon's `units` spelling;
/// a copy, since this crate must not depend on the daemon).
fn parse_size(s: &str) -> Result<u64, String> {
    let text = s.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => {
            return Err(format!(
                "{s:?} is not a size such as \"64KiB\" or \"400MiB\""
            ));
        }
    };
    match digits.parse::<u64>().ok().and_then(|n| n.checked_mul(mult)) {
        None => Err(format!(
            "{s:?} is not a size such as \"64KiB\" or \"400MiB\""
        )),
        Some(0) => Err(format!("{s:?} must be more than zero")),
        Some(n) => Ok(n),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let mut faults = match &args.scenario {
        Some(path) => Faults::from_file(path)?,
        None => Faults::default(),
    };
    faults.api.throttle_next += args.throttle_next;
    faults.oss.ignore_range |= args.ignore_range;
    let mut config = EmulatorConfig::demo(&args.access_key_id, &args.access_key_secret);
    let now = time::OffsetDateTime::now_utc();
    for (n, (id, count, size)) in args.generate.iter().enumerate() {
        let first_id = 90_000_000 + 100_000 * n as u64;
        config
            .dataset
            .add_instance(emulator::Instance::replica_set(id).with_generated_every(
                *count,
                first_id,
                now,
                *size,
                time::Duration::try_from(args.generate_every).unwrap_or(time::Duration::HOUR),
            ));
    }
    config.security_token = args.security_token;
    config.faults = faults;
    config.url_ttl = args.url_ttl;
    config.body_rate = args.body_rate;
    config.conn_rate = args.conn_rate;
    config.intranet_url_base = args.intranet_url_base;
    config.public_url_base = args.public_url_base;
    config.clock_offset = time::Duration::seconds(args.clock_offset_secs);
    let emu = emulator::start(config, args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    if args.warm_up {
        emu.warm_up().await.context("building the objects")?;
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "dds-emulator listening on {}", emu.base_url())?;
        if args.print_urls {
            let ids: Vec<String> = emu.with_dataset(|d| {
                d.instances
                    .iter()
                    .flat_map(|i| i.all_backups().map(|b| b.backup_id.clone()))
                    .collect()
            });
            for id in ids {
                if let Some(url) = emu.presigned_url(&id, false) {
                    writeln!(out, "url {id} {url}")?;
                }
            }
        }
        out.flush()?;
    }
    wait_for_signal().await?;
    tracing::info!("stopping");
    emu.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_generate_specs() {
        assert_eq!(parse_size("400MiB"), Ok(400 << 20));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        for bad in ["0", "", "5TB", "MiB", "-1", "99999999999999GiB"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_generate("dds-bench:64x32MiB"),
            Ok(("dds-bench".to_string(), 64, 32 << 20))
        );
        for bad in [":1x1", "a:0x1", "a:1x0", "a1x1", "a:1y1"] {
            assert!(parse_generate(bad).is_err(), "{bad:?}");
        }
    }
}
