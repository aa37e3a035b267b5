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
    let mut settings = Settings::demo_fleet(&emulator.base_url(), id, secret, &dir);
    let garage = start_garage(&dir).await;
    if let Some(g) = &garage {
        settings.archive = Some(archive_settings(g));
    }
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
    let code = super::exit_code(&summary);
    if code == crate::exit::OK {
        println!(
            "demo: look at {} (each backup has its file and a manifest.json); run again to see that nothing is downloaded twice",
            dir.display()
        );
    } else {
        println!("demo: the pass did not succeed (exit {code}): the messages above say why");
    }
    match &garage {
        Some(g) => println!(
            "demo: archived {} copies into a scratch Garage node at {} (s3://{}/demo); it stops now",
            summary.archived,
            g.endpoint(),
            g.bucket()
        ),
        None => println!(
            "demo: no archive step: the `garage` binary (an S3 server) is not on PATH; \
             `cargo install --locked garage@2.5.0` (about 10 minutes) and run again to see it"
        ),
    }
    drop(garage);
    emulator.shutdown().await;
    Ok(code)
}

/// A scratch Garage node beside the demo dir when `garage` is on PATH (removed when it stops);
/// `None` when it is absent or does not start (said, and the demo goes on without an archive).
async fn start_garage(dir: &std::path::Path) -> Option<dds_emulator::garage::Garage> {
    dds_emulator::garage::binary()?;
    let scratch = dir.with_file_name(format!(
        ".{}-garage-{}",
        dir.file_name()?.to_string_lossy(),
        std::process::id()
    ));
    let started =
        tokio::task::spawn_blocking(move || dds_emulator::garage::Garage::start_scratch(&scratch))
            .await
            .ok()?;
    match started {
        Ok(garage) => Some(garage),
        Err(e) => {
            println!("demo: no archive step: {e}");
            None
        }
    }
}

fn archive_settings(g: &dds_emulator::garage::Garage) -> crate::config::ArchiveSettings {
    crate::config::ArchiveSettings {
        url: format!("s3://{}/demo", g.bucket()),
        bucket: g.bucket().to_string(),
        prefix: "demo".into(),
        endpoint: Some(g.endpoint()),
        region: g.region().to_string(),
        path_style: true,
        access_key_id: g.access_key_id().to_string(),
        secret_access_key: crate::secret::Secret::new(g.secret_access_key()),
        part_size: crate::config::MIN_PART,
        uploads: 4,
        prune: None,
    }
}
