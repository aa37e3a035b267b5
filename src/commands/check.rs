//! `--check`: a first-run helper that downloads nothing. One line per check, `OK` or `FAIL`
//! with what to fix: the credentials source, the API (one `DescribeBackups` per instance,
//! PageSize 30: the signature is accepted and the instance exists), `download.dir` writable
//! with its free space, the metrics file writable, and whether the intranet download host is
//! reachable. Exit 0 when every check passed, 2 otherwise (a setup problem).

use std::io::Write;
use std::time::Duration;

use time::OffsetDateTime;

use super::{AppError, api_client};
use crate::api::client::ListQuery;
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
        let now = OffsetDateTime::now_utc();
        let query = ListQuery {
            instance_id: inst.id.clone(),
            node_id: inst.node_ids.first().cloned(),
            window: Some(crate::api::client::lookback_window(now, inst.lookback)),
            ..ListQuery::default()
        };
        let what = format!("api {}", query.target());
        match api.page(&query, 1).await {
            Ok(page) => {
                intranet_url = intranet_url.or_else(|| {
                    page.backups
                        .iter()
                        .find_map(|b| b.intranet_download_url.clone())
                });
                lines.push(Line::ok(
                    &what,
                    format!(
                        "signature accepted; {} backups in the lookback window",
                        page.total_count
                    ),
                ));
            }
            Err(e) => lines.push(Line::fail(&what, e.to_string())),
        }
    }
    lines.push(intranet(settings, intranet_url.as_deref()).await);
    lines
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
