//! `--check`: a first-run helper that downloads nothing. One line per check, `OK` or `FAIL`
//! with what to fix: the credentials source, the API (one `DescribeBackups` per instance,
//! PageSize 30: the signature is accepted and the instance exists), `download.dir` writable
//! with its free space, the metrics file writable, with `[snapshots] download` whether DBS can
//! export each configured instance, with `[archive]` that the archive can be listed, and whether the intranet download host is reachable. Exit 0 when every check passed, 2 otherwise (a setup problem).

use std::io::Write;
use std::time::Duration;

use time::OffsetDateTime;

use super::{AppError, api_client};
use crate::config::{Network, Settings};
use crate::exit;
use crate::store::Store;
use crate::sync::report::human_bytes;

/// One check's outcome.
struct Line {
    ok: bool,
    what: String,
    detail: String,
}

impl Line {
    fn ok(what: &str, detail: String) -> Line {
        Line {
            ok: true,
            what: what.into(),
            detail,
        }
    }

    fn fail(what: &str, detail: String) -> Line {
        Line {
            ok: false,
            what: what.into(),
            detail,
        }
    }
}

/// Runs every check and prints one line each; returns the exit code.
///
/// # Errors
/// Only when the output cannot be written.
pub async fn check(settings: &Settings, out: &mut dyn Write) -> Result<u8, AppError> {
    let mut lines = vec![Line::ok(
        "config",
        format!("{} is valid", settings.file.display()),
    )];
    lines.extend(api_lines(settings).await);
    lines.push(download_dir(settings));
    if let Some(config) = &settings.archive {
        lines.push(archive(config).await);
    }
    if let Some(path) = &settings.metrics.textfile {
        lines.push(
            match crate::metrics::check_writable(path, settings.metrics.file_mode) {
                Ok(()) => Line::ok("metrics.textfile", format!("{} is writable", path.display())),
                Err(e) => Line::fail("metrics.textfile", format!("{e}; fix the path or its folder's permissions (under systemd, ReadWritePaths= must include it)")),
            },
        );
    }
    let mut failed = false;
    for l in &lines {
        failed |= !l.ok;
        let word = if l.ok { "OK  " } else { "FAIL" };
        writeln!(out, "{word} {}: {}", l.what, l.detail)?;
    }
    Ok(if failed { exit::SETUP } else { exit::OK })
}

/// `[archive]`: the key may list the prefix (reading nothing else).
async fn archive(config: &crate::config::ArchiveSettings) -> Line {
    let listed = match crate::archive::Archive::new(config) {
        Ok(archive) => archive.list().await,
        Err(e) => Err(e),
    };
    match listed {
        Ok(l) => Line::ok(
            "archive",
            format!("{} lists: {} copies there", config.url, l.copies.len()),
        ),
        Err(e) => Line::fail(
            "archive",
            format!(
                "{e}; check archive.endpoint, region, path_style and the key's rights on the bucket"
            ),
        ),
    }
}

/// Credentials, then one small listing per instance, then the intranet host.
async fn api_lines(settings: &Settings) -> Vec<Line> {
    // One small page per instance, whatever api.page_size says.
    let mut small = settings.clone();
    small.api.page_size = 30;
    let api = match api_client(&small).await {
        Ok(api) => api,
        Err(e) => return vec![Line::fail("credentials", e.to_string())],
    };
    let mut lines = vec![Line::ok(
        "credentials",
        format!("from {}", api.credentials_source()),
    )];
    let mut intranet_url = None;
    for inst in &settings.instances {
        let api = match &inst.region {
            Some(r) => api.for_region(&r.id, &r.endpoint),
            None => api.clone(),
        };
        let (line, url) = instance_line(&api, inst).await;
        lines.extend(line);
        intranet_url = intranet_url.or(url);
    }
    for (i, d) in settings.discover.iter().enumerate() {
        let api = match &d.region {
            Some(r) => api.for_region(&r.id, &r.endpoint),
            None => api.clone(),
        };
        let what = format!("discover[{i}] ({})", api.region_id());
        match api.describe_each(&crate::fleet::filters(d)).await {
            Ok(found) => {
                let chosen = found.iter().filter(|f| crate::fleet::selects(d, f)).count();
                let selected = crate::model::Selected {
                    block: i,
                    region: api.region_id().to_string(),
                    selected: chosen,
                    expected: d.expect_at_least,
                };
                let text = format!("{} instances answered, {chosen} selected", found.len());
                lines.push(if selected.too_few() {
                    Line::fail(&what, format!("{text}: {}", selected.problem()))
                } else {
                    Line::ok(&what, text)
                });
            }
            Err(e) => lines.push(Line::fail(&what, e.to_string())),
        }
    }
    lines.extend(snapshot_lines(settings, &api).await);
    lines.push(intranet(settings, intranet_url.as_deref()).await);
    lines
}

/// With exports on: for each configured instance they cover, whether DBS can export it
/// (`DescribeDownloadSupport`, which also proves the key may call DBS). Creates nothing.
async fn snapshot_lines(settings: &Settings, api: &crate::api::client::ApiClient) -> Vec<Line> {
    let s = &settings.snapshots;
    if !s.download {
        return Vec::new();
    }
    let mut lines = Vec::new();
    for inst in settings
        .instances
        .iter()
        .filter(|i| s.instances.selects(&i.id))
    {
        let api = match &inst.region {
            Some(r) => api.for_region(&r.id, &r.endpoint),
            None => api.clone(),
        };
        let endpoint = s
            .endpoint
            .clone()
            .or_else(|| crate::api::endpoint::dbs_for_region(api.region_id()))
            .unwrap_or_default();
        let dbs = crate::api::dbs::DbsClient::new(&api, api.region_id(), &endpoint);
        let what = format!("snapshots {} (DescribeDownloadSupport)", inst.id);
        lines.push(match dbs.supports(&inst.id).await {
            Ok(true) => Line::ok(&what, format!("DBS at {endpoint} can export its snapshots")),
            Ok(false) => Line::ok(
                &what,
                format!("DBS at {endpoint} cannot export it (not on cloud disks?): its snapshots are skipped"),
            ),
            Err(e) => Line::fail(
                &what,
                format!("{e}; grant dbs:DescribeDownloadSupport, dbs:CreateDownload, dbs:DescribeDownloadTask, dbs:DescribeDownloadBackupSetStorageInfo and dbs:RetryDownloadTask, or set [snapshots] download = false"),
            ),
        });
    }
    lines
}

/// One configured instance: how it is listed (when its nodes are not configured), then one
/// small listing the way a pass makes it. Also returns an intranet URL it listed.
async fn instance_line(
    api: &crate::api::client::ApiClient,
    inst: &crate::config::InstanceSettings,
) -> (Vec<Line>, Option<String>) {
    let now = OffsetDateTime::now_utc();
    let mut lines = Vec::new();
    let member = crate::fleet::Member {
        settings: inst.clone(),
        source: crate::fleet::Source::Configured,
        found: None,
    };
    let attribute = if crate::fleet::needs_attribute(&member) {
        match api.describe_instance(&inst.id).await {
            Ok(info) => Some(info),
            Err(e) => {
                lines.push(Line::fail(
                    &format!("api {} (DescribeDBInstanceAttribute)", inst.id),
                    format!("{e}; grant dds:DescribeDBInstanceAttribute, or list node_ids for a sharded cluster"),
                ));
                None
            }
        }
    } else {
        None
    };
    let shape = crate::fleet::shape(&member, attribute.as_ref());
    let Some(query) = crate::fleet::queries(&member, &shape, now)
        .into_iter()
        .next()
    else {
        return (lines, None);
    };
    let what = format!("api {}", query.target());
    let (line, url) = match crate::listing::sample(api, &query).await {
        Ok(found) => {
            let what_kind = if found.clusters {
                "cluster backups"
            } else {
                "backups"
            };
            let text = format!(
                "signature accepted; {} {what_kind} in the lookback window",
                found.count
            );
            (Line::ok(&what, text), found.intranet_url)
        }
        Err(e) => (Line::fail(&what, e.to_string()), None),
    };
    lines.push(line);
    (lines, url)
}

async fn intranet(settings: &Settings, url: Option<&str>) -> Line {
    let what = "intranet download host";
    let Some(url) = url.and_then(|u| url::Url::parse(u).ok()) else {
        return Line::ok(
            what,
            "no intranet URL listed; public URLs will be used".into(),
        );
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Line::ok(what, "the listed intranet URL has no host".into());
    };
    let timeout = settings.download.probe_timeout.max(Duration::from_secs(1));
    let reachable = matches!(
        tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await,
        Ok(Ok(_))
    );
    match (reachable, settings.download.network) {
        (true, _) => Line::ok(what, format!("{host}:{port} is reachable")),
        (false, Network::Intranet) => Line::fail(
            what,
            format!(
                "{host}:{port} is not reachable and download.network = \"intranet\"; run on an ECS host in the instance's region, or set network = \"auto\""
            ),
        ),
        (false, _) => Line::ok(
            what,
            format!("{host}:{port} is not reachable from here; the public URLs will be used"),
        ),
    }
}

/// `download.dir` can be written (a probe file created and removed), with its free space.
fn download_dir(settings: &Settings) -> Line {
    let dir = &settings.download.dir;
    let store = Store::new(dir);
    match store.probe_writable() {
        Ok(()) => {
            let free = crate::store::free_space(dir)
                .map(human_bytes)
                .unwrap_or_else(|_| "unknown".into());
            Line::ok(
                "download.dir",
                format!("{} is writable; {free} free", dir.display()),
            )
        }
        Err(e) => Line::fail("download.dir", e.to_string()),
    }
}
