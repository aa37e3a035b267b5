//! The body of an object response, generated chunk by chunk with its faults (a drop, a stall)
//! and its pacing (`body_rate`, `conn_rate`); counted open until its last byte is out.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;

use crate::Shared;
use crate::content::ObjectInfo;
use crate::faults::BodyPlan;

/// Body chunk size: big enough to keep syscalls few, small enough to bound memory per request.
pub(super) const CHUNK: usize = 256 * 1024;
/// Under `conn_rate`, a chunk carries about this much time's worth of bytes (within
/// `MIN_PACED_CHUNK..=CHUNK`), so a slow cap is smooth and a fast one costs few timer wake-ups.
const PACED_CHUNK_TIME: Duration = Duration::from_millis(20);
pub(super) const MIN_PACED_CHUNK: u64 = 16 * 1024;
/// How long a dropped body waits so the bytes before the cut reach the socket.
const DROP_GRACE: Duration = Duration::from_millis(100);

/// Counts a body as open until its last byte is produced or it is cut; closing when the last
/// chunk is handed over (not when hyper drops the stream later) keeps a client that starts its
/// next download right after this one from ever seeing both counted.
struct OpenBody {
    shared: Arc<Shared>,
    open: bool,
}

impl OpenBody {
    fn new(shared: Arc<Shared>) -> Self {
        shared.stats.body_opened();
        OpenBody { shared, open: true }
    }

    fn close(&mut self) {
        if std::mem::take(&mut self.open) {
            self.shared.stats.body_closed();
        }
    }
}

impl Drop for OpenBody {
    fn drop(&mut self) {
        self.close();
    }
}

struct BodyState {
    open: OpenBody,
    shared: Arc<Shared>,
    info: Arc<ObjectInfo>,
    pos: u64,
    end: u64,
    sent: u64,
    plan: BodyPlan,
    stalled: bool,
    /// When the body started (moved on by a stall), for pacing at `Shared::body_rate`.
    paced_from: tokio::time::Instant,
    /// When the last chunk paced at `Shared::conn_rate` was due (the body's start at first).
    conn_due: tokio::time::Instant,
}

/// The body, generated chunk by chunk. A drop fault ends it with an error (hyper then closes the
/// connection mid-body); a stall pauses it; shutdown cuts it.
pub(super) fn body_stream(
    shared: Arc<Shared>,
    info: Arc<ObjectInfo>,
    start: u64,
    len: u64,
    plan: BodyPlan,
) -> impl futures::Stream<Item = io::Result<Bytes>> + Send {
    let state = BodyState {
        open: OpenBody::new(shared.clone()),
        shared,
        info,
        pos: start,
        end: start + len,
        sent: 0,
        plan,
        stalled: false,
        paced_from: tokio::time::Instant::now(),
        conn_due: tokio::time::Instant::now(),
    };
    futures::stream::unfold(Some(state), |state| async move { next(state?).await })
}

/// The body's next chunk (and the state after it), or its end; an error ends it.
async fn next(mut st: BodyState) -> Option<(io::Result<Bytes>, Option<BodyState>)> {
    if st.pos >= st.end {
        return None;
    }
    if let Err(e) = wait_for_turn(&mut st).await {
        return Some((Err(e), None));
    }
    let conn_rate = st.shared.conn_rate();
    // Stop exactly at the next fault point so "after N bytes" means N bytes.
    let mut n = (st.end - st.pos).min(conn_rate.map_or(CHUNK as u64, paced_chunk));
    if let Some(limit) = st.plan.drop_after {
        n = n.min(limit - st.sent);
    }
    if let Some((at, _)) = st.plan.stall
        && !st.stalled
    {
        n = n.min(at - st.sent);
    }
    // May be shorter than `n` (it ends at a segment of the layout): pace what is sent.
    let chunk = st.info.layout.chunk_at(st.pos, n);
    let n = chunk.len() as u64;
    if let Some(rate) = conn_rate
        && !pace_connection(&mut st, rate, n).await
    {
        return Some((Err(shutting_down()), None));
    }
    st.pos += n;
    st.sent += n;
    st.shared.stats.bytes(n);
    if st.pos >= st.end {
        st.open.close();
    }
    Some((Ok(chunk), Some(st)))
}

fn shutting_down() -> io::Error {
    io::Error::other("emulator shutting down")
}

/// Before a chunk: the stall fault, the steady `body_rate`, the drop fault, the shutdown.
async fn wait_for_turn(st: &mut BodyState) -> io::Result<()> {
    if let Some((at, pause)) = st.plan.stall
        && !st.stalled
        && st.sent >= at
    {
        st.stalled = true;
        st.shared.stats.stalled();
        if !pause_unless_cancelled(&st.shared, pause).await {
            return Err(shutting_down());
        }
        st.paced_from += pause;
    }
    if let Some(rate) = st.shared.body_rate {
        // Byte `sent` is due `sent / rate` seconds after the start: a steady link, however
        // the client reads.
        let due = st.paced_from + Duration::from_secs_f64(st.sent as f64 / rate as f64);
        let wait = due.saturating_duration_since(tokio::time::Instant::now());
        if !wait.is_zero() && !pause_unless_cancelled(&st.shared, wait).await {
            return Err(shutting_down());
        }
    }
    if st.plan.drop_after.is_some_and(|limit| st.sent >= limit) {
        st.shared.stats.dropped();
        // hyper buffers what we yield and polls the body again before flushing; an error now
        // would discard the buffer (headers included). Pausing lets it flush the N bytes.
        let _ = pause_unless_cancelled(&st.shared, DROP_GRACE).await;
        return Err(io::Error::other("emulator fault: connection dropped"));
    }
    if st.shared.cancel.is_cancelled() {
        return Err(shutting_down());
    }
    Ok(())
}

/// Bytes per chunk under a `conn_rate` of `rate` bytes per second.
pub(super) fn paced_chunk(rate: u64) -> u64 {
    let per_chunk = rate as f64 * PACED_CHUNK_TIME.as_secs_f64();
    (per_chunk as u64).clamp(MIN_PACED_CHUNK, CHUNK as u64)
}

/// Waits until the next `n` bytes are due at `rate` bytes per second: chunk after chunk from the
/// body's start, each one due when its last byte would have crossed a link of that rate (late
/// timer wake-ups do not add up: the schedule, not the wake-up, sets the next due time). A
/// client that fell behind (or a cap switched on mid-body) gets at most one full chunk's worth
/// of catch-up, never a burst. `false` if the emulator shut down meanwhile.
async fn pace_connection(st: &mut BodyState, rate: u64, n: u64) -> bool {
    let per = Duration::from_secs_f64(n as f64 / rate as f64);
    let slack = Duration::from_secs_f64(paced_chunk(rate) as f64 / rate as f64);
    let now = tokio::time::Instant::now();
    let earliest = now.checked_sub(slack).unwrap_or(now);
    let due = st.conn_due.max(earliest) + per;
    st.conn_due = due;
    let wait = due.saturating_duration_since(now);
    wait.is_zero() || pause_unless_cancelled(&st.shared, wait).await
}

/// Sleeps for `pause`; `false` if the emulator shut down meanwhile.
async fn pause_unless_cancelled(shared: &Shared, pause: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(pause) => true,
        _ = shared.cancel.cancelled() => false,
    }
}
