//! The one signal source for every mode: SIGTERM and SIGINT cancel [`Control::shutdown`]
//! (work stops at a safe point, partial files kept), SIGHUP wakes [`Control::reload`] (the
//! daemon reads its config again; a one-shot run ignores it).

use std::sync::Arc;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// What the signal handler hands the loop.
#[derive(Clone, Default)]
pub struct Control {
    pub shutdown: CancellationToken,
    pub reload: Arc<Notify>,
}

impl Control {
    /// Routes SIGTERM/SIGINT to `shutdown` and SIGHUP to `reload`.
    pub fn install() -> std::io::Result<Control> {
        use tokio::signal::unix::{SignalKind, signal};
        let control = Control::default();
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        let c = control.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = term.recv() => break,
                    _ = int.recv() => break,
                    _ = hup.recv() => {
                        info!("SIGHUP: reloading the configuration");
                        c.reload.notify_one();
                    }
                }
            }
            warn!(
                "shutdown requested: stopping at a safe point (partial files are kept for resume)"
            );
            c.shutdown.cancel();
        });
        Ok(control)
    }
}
