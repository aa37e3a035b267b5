//! Counters tests assert on: API calls by action and outcome, file requests, bytes, ranges.
//!
//! Owns recording only; the handlers decide what happened. A std `Mutex` is enough: every critical
//! section is a few increments and never spans an `.await`. Body bytes go through an atomic because
//! they are counted per chunk on the hot path.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of what the emulator has served since start (or the last reset).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Every request to the API endpoint, whatever its action.
    pub describe_calls: u64,
    /// `"Success"` or the error `Code` → count, over every action.
    pub describe_by_outcome: BTreeMap<String, u64>,
    /// The `Action` parameter as sent (empty when missing) → `"Success"` or the error `Code` →
    /// count. See [`Stats::calls`] and [`Stats::calls_with`].
    pub calls_by_action: BTreeMap<String, BTreeMap<String, u64>>,
    pub file_gets: u64,
    pub file_heads: u64,
    /// HTTP status of file responses (GET and HEAD) → count.
    pub file_by_status: BTreeMap<u16, u64>,
    /// Object name → GET requests that reached it (whatever the outcome).
    pub gets_by_object: BTreeMap<String, u64>,
    /// URL path network (`public` or `internal`) → GET requests.
    pub gets_by_network: BTreeMap<String, u64>,
    /// Body bytes actually handed to the connection.
    pub bytes_served: u64,
    /// Requests that carried a `Range` header.
    pub ranged_requests: u64,
    /// Responses answered with 206.
    pub partial_responses: u64,
    /// Every `Range` header value seen, in arrival order.
    pub ranges_seen: Vec<String>,
    /// Every `If-Range` header value seen, in arrival order.
    pub if_range_seen: Vec<String>,
    /// Bodies cut on purpose by a drop fault.
    pub dropped_bodies: u64,
    /// Bodies paused by a stall fault.
    pub stalled_bodies: u64,
    /// File bodies being sent right now (from the first byte to the last byte sent, or the cut).
    pub open_bodies: u64,
    /// The most file bodies ever sent at once: how many downloads a client ran in parallel.
    pub most_open_bodies: u64,
}

impl Stats {
    /// Calls that ended with this outcome (`"Success"` or an error code).
    pub fn describe(&self, outcome: &str) -> u64 {
        self.describe_by_outcome.get(outcome).copied().unwrap_or(0)
    }

    /// Calls of `action` (e.g. `"DescribeClusterBackups"`), whatever their outcome.
    pub fn calls(&self, action: &str) -> u64 {
        self.calls_by_action
            .get(action)
            .map_or(0, |outcomes| outcomes.values().sum())
    }

    /// Calls of `action` that ended with `outcome` (`"Success"` or an error code).
    pub fn calls_with(&self, action: &str, outcome: &str) -> u64 {
        self.calls_by_action
            .get(action)
            .and_then(|outcomes| outcomes.get(outcome))
            .copied()
            .unwrap_or(0)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Recorder {
    inner: Mutex<Stats>,
    bytes: AtomicU64,
}

impl Recorder {
    fn with(&self, f: impl FnOnce(&mut Stats)) {
        // A poisoned lock only means a test panicked mid-update; the counters are still usable.
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s);
    }

    pub fn api_call(&self, action: &str, outcome: &str) {
        self.with(|s| {
            s.describe_calls += 1;
            *s.describe_by_outcome
                .entry(outcome.to_string())
                .or_default() += 1;
            *s.calls_by_action
                .entry(action.to_string())
                .or_default()
                .entry(outcome.to_string())
                .or_default() += 1;
        });
    }

    pub fn file_request(
        &self,
        head: bool,
        network: &str,
        object: &str,
        range: Option<&str>,
        if_range: Option<&str>,
    ) {
        self.with(|s| {
            if head {
                s.file_heads += 1;
            } else {
                s.file_gets += 1;
                *s.gets_by_object.entry(object.to_string()).or_default() += 1;
                *s.gets_by_network.entry(network.to_string()).or_default() += 1;
            }
            if let Some(r) = range {
                s.ranged_requests += 1;
                s.ranges_seen.push(r.to_string());
            }
            if let Some(r) = if_range {
                s.if_range_seen.push(r.to_string());
            }
        });
    }

    pub fn file_status(&self, status: u16) {
        self.with(|s| {
            *s.file_by_status.entry(status).or_default() += 1;
            if status == 206 {
                s.partial_responses += 1;
            }
        });
    }

    pub fn bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }

    pub fn dropped(&self) {
        self.with(|s| s.dropped_bodies += 1);
    }

    pub fn stalled(&self) {
        self.with(|s| s.stalled_bodies += 1);
    }

    pub fn body_opened(&self) {
        self.with(|s| {
            s.open_bodies += 1;
            s.most_open_bodies = s.most_open_bodies.max(s.open_bodies);
        });
    }

    pub fn body_closed(&self) {
        self.with(|s| s.open_bodies = s.open_bodies.saturating_sub(1));
    }

    pub fn snapshot(&self) -> Stats {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone();
        s.bytes_served = self.bytes.load(Ordering::Relaxed);
        s
    }

    pub fn reset(&self) {
        self.with(|s| *s = Stats::default());
        self.bytes.store(0, Ordering::Relaxed);
    }
}
