//! The archive's listing of one pass: asked at the pass's start in its own task, so a slow
//! store delays only what needs its answer (issue #21), taken when the plan or the archive step
//! needs it, and dropped (the task aborted) when the pass stops first.

use tokio_util::sync::CancellationToken;

use crate::model::BackupKey;
use crate::sync::report::Summary;

/// The archive's listing of this pass: asked at its start, taken when needed.
pub(super) struct Asking {
    pub(super) asked: Option<crate::sync::offsite::Asked>,
    pub(super) ready: Option<(crate::archive::Archive, crate::model::ArchiveListing)>,
}

impl Drop for Asking {
    /// A pass that ends early (a shutdown, an error) leaves no listing running behind it.
    fn drop(&mut self) {
        if let Some(asked) = &self.asked {
            asked.abort();
        }
    }
}

impl Asking {
    pub(super) fn new(asked: Option<crate::sync::offsite::Asked>) -> Asking {
        Asking { asked, ready: None }
    }

    /// Takes the answer if it is in (or, with `wait`, once it is).
    pub(super) async fn take_if_ready(
        &mut self,
        wait: bool,
        summary: &mut Summary,
        cancel: &CancellationToken,
    ) {
        if wait || self.asked.as_ref().is_some_and(|a| a.is_finished()) {
            self.take(summary, cancel).await;
        }
    }

    /// Waits for the answer, if it was asked and not taken yet, unless the pass is stopped
    /// first (then the listing is dropped: nothing of the archive is done this pass).
    pub(super) async fn take(&mut self, summary: &mut Summary, cancel: &CancellationToken) {
        let Some(asked) = self.asked.take() else {
            return;
        };
        let abort = asked.abort_handle();
        tokio::select! {
            ready = crate::sync::offsite::answer(asked, summary) => self.ready = ready,
            () = cancel.cancelled() => abort.abort(),
        }
    }

    /// The copies the archive holds, as far as its answer is in.
    pub(super) fn held(&self) -> std::collections::HashSet<(BackupKey, String, u64)> {
        self.ready
            .as_ref()
            .map(|(_, listing)| crate::sync::offsite::held(listing))
            .unwrap_or_default()
    }
}
