//! The bandwidth limit over real HTTP: every download of a pass shares one bucket, measured by
//! the bytes the emulator served per second, and a download waiting for tokens stops at once
//! on a shutdown.

use std::time::{Duration, Instant};

use dds_backup_sync::rate::Limit;
use dds_backup_sync::sync::PassOptions;

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn the_limit_holds_over_all_downloads_together() {
    let emu = emulator_with(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    // ~3.8 MiB in three files at once, 2 MiB/s over all of them: about 1.9 s.
    let limit: u64 = 2 << 20;
    s.download.bandwidth = Limit::Fixed(limit);
    emu.reset_stats();
    let started = Instant::now();
    let summary = pass(&s).await;
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!((summary.fetched, summary.failed), (3, 0), "{summary}");
    let served = emu.stats().bytes_served;
    let expected = served as f64 / limit as f64;
    eprintln!(
        "bandwidth: {served} bytes in {elapsed:.2} s = {:.2} MiB/s (limit 2 MiB/s, expected {expected:.2} s)",
        served as f64 / elapsed / f64::from(1 << 20)
    );
    assert!(
        (0.7 * expected..=2.0 * expected).contains(&elapsed),
        "{served} bytes took {elapsed:.2} s; at the limit they take {expected:.2} s"
    );
    for id in [QP, TGZ, AR] {
        assert_published(&emu, dir.path(), id).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_download_waiting_for_tokens_stops_at_once_on_shutdown() {
    let emu = emulator_with(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu, dir.path());
    // 64 KiB/s: the pass would take a minute; the floor is off so only the limit holds it.
    s.download.bandwidth = Limit::Fixed(64 << 10);
    s.download.min_rate = 0;
    let opts = PassOptions::default();
    let cancel = opts.cancel.clone();
    let data = dir.path().to_path_buf();
    let canceller = tokio::spawn(async move {
        common::poll(Duration::from_secs(20), || {
            !common::files_ending(&data, ".part").is_empty()
        })
        .await;
        cancel.cancel();
        Instant::now()
    });
    let summary = pass_with(&s, &opts).await;
    let stopped_after = canceller.await.unwrap().elapsed();
    assert!(
        stopped_after < Duration::from_secs(2),
        "the pass ended {stopped_after:?} after the shutdown"
    );
    assert!(summary.stopped >= 1, "{summary}");
}
