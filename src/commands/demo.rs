//! `--demo DIR`: the bundled emulator on a free loopback port, then a real pass into DIR with
//! [`Settings::demo`].

use super::AppError;
use crate::config::Settings;

/// `--demo DIR`: the bundled emulator on a free loopback port, then a real pass into DIR.
pub async fn demo(dir: &std::path::Path) -> Result<u8, AppError> {
    let (id, secret) = ("demo-access-key-id", "demo-access-key-secret");
    // The data set's times (and so its file names) count back from the start of today (UTC),
    // not from this second: a second run the same day lists the very same backups, and
    // downloads nothing, as the closing line says.
    let today = time::OffsetDateTime::now_utc().replace_time(time::Time::MIDNIGHT);
    let config = dds_emulator::EmulatorConfig::new(id, secret, dds_emulator::Dataset::demo(today));
    let emulator = dds_emulator::start(config, std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(AppError::Emulator)?;
    let dir = std::path::absolute(dir).map_err(AppError::Output)?;
    let settings = Settings::demo_fleet(&emulator.base_url(), id, secret, &dir);
    println!(
        "demo: emulator at {}, downloading into {}",
        emulator.base_url(),
        dir.display()
    );
    let summary = super::sync_now(
        &settings,
        false,
        crate::progress::for_stderr(settings.progress_interval).as_ref(),
    )
    .await?;
    println!(
        "demo: look at {} (each backup has its file and a manifest.json); run again to see that nothing is downloaded twice",
        dir.display()
    );
    emulator.shutdown().await;
    Ok(super::exit_code(&summary))
}
