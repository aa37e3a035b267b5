//! One test world for every test file (issue #22.7: it was written again in most of them): the
//! demo emulator on loopback, the settings of an in-process pass against it, a pass, and a run
//! of the real binary.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use dds_backup_sync::config::{Network, Settings};
use dds_backup_sync::progress::Silent;
use dds_backup_sync::retry::RetryPolicy;
use dds_backup_sync::sync::report::Summary;
use dds_backup_sync::sync::{PassOptions, run_pass};
use dds_emulator::{Emulator, EmulatorConfig, Instance};

/// The demo emulator, signing with `id`/`secret`, with `extra` instances beside the demo's.
pub async fn emulator(
    id: &str,
    secret: &str,
    extra: impl IntoIterator<Item = Instance>,
) -> Emulator {
    emulator_with(id, secret, |c| {
        for i in extra {
            c.dataset.add_instance(i);
        }
    })
    .await
}

/// The demo emulator, its configuration edited by `edit` first.
pub async fn emulator_with(
    id: &str,
    secret: &str,
    edit: impl FnOnce(&mut EmulatorConfig),
) -> Emulator {
    let mut config = EmulatorConfig::demo(id, secret);
    edit(&mut config);
    super::loopback_emulator(config).await
}

/// Retries quick enough for a test: 3 attempts, 5 ms doubling to 50 ms, 10 s in all.
pub fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        max_elapsed: Duration::from_secs(10),
    }
}

/// The settings of an in-process pass against `emu` into `dir`: the demo's instances, public
/// URLs, [`quick_retry`] for the API and the downloads.
pub fn settings(emu: &Emulator, id: &str, secret: &str, dir: &Path) -> Settings {
    dds_backup_sync::http::install_crypto_provider();
    let mut s = Settings::demo(&emu.base_url(), id, secret, dir);
    s.download.network = Network::Public;
    s.api.retry = quick_retry();
    s.download.retry = s.api.retry;
    s
}

/// One pass in-process, as `--sync-now` runs it.
pub async fn pass(s: &Settings) -> Summary {
    pass_with(s, &PassOptions::default()).await
}

pub async fn pass_with(s: &Settings, opts: &PassOptions) -> Summary {
    let api = dds_backup_sync::commands::api_client(s).await.unwrap();
    run_pass(s, &api, &Silent, opts).await.unwrap()
}

/// The binary run with `--config config` and `args`, logging at `log`, to its end.
pub async fn run(home: &Path, config: &Path, args: &[&str], log: &str) -> Output {
    super::binary(home)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", log)
        .output()
        .await
        .unwrap()
}
