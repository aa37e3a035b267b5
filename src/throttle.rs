//! The shared bandwidth limit as a value handed to whoever moves bytes (every download of a
//! pass, the scrub's reader): [`Throttle::take`] waits until `n` more bytes may pass. Like
//! object_store's `ThrottledStore`, the limit is a wrapper around the byte stream, not a branch in
//! its loop.
//!
//! The arithmetic is the pure [`crate::bucket`]; this module only reads the clocks, holds the
//! lock for the few instructions of a take (a std `Mutex`: it is never held across an await)
//! and waits. A waiting download ends at once on cancellation. With a timetable the rate is
//! looked up again at most once a second, so a running pass switches at the next boundary.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::rate::{Limit, TokenBucket};
use crate::schedule::Zone;

/// How often a timetable is consulted: a boundary is crossed at most this late.
const RECHECK: Duration = Duration::from_secs(1);

/// A cheap handle to one shared bucket (clones share it); [`Throttle::unlimited`] never waits.
#[derive(Clone, Default)]
pub struct Throttle {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    limit: Limit,
    zone: Zone,
    state: Mutex<State>,
}

struct State {
    bucket: TokenBucket,
    /// When the timetable was last looked up.
    checked: Instant,
}

/// A shutdown came while waiting for tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

impl Throttle {
    pub fn unlimited() -> Throttle {
        Throttle::default()
    }

    /// One bucket for `limit`, a timetable read on `zone`'s wall clock.
    pub fn new(limit: Limit, zone: Zone) -> Throttle {
        Throttle::starting(limit, zone, Instant::now(), time::OffsetDateTime::now_utc())
    }

    /// [`Throttle::new`] at the given monotonic and wall-clock instants.
    fn starting(limit: Limit, zone: Zone, now: Instant, wall: time::OffsetDateTime) -> Throttle {
        if limit.is_off() {
            return Throttle::unlimited();
        }
        let rate = limit.at_minute(zone.minute_of_day(wall));
        Throttle {
            inner: Some(Arc::new(Inner {
                limit,
                zone,
                state: Mutex::new(State {
                    bucket: TokenBucket::new(rate, now),
                    checked: now,
                }),
            })),
        }
    }

    /// The rate the limit gives at the wall-clock instant `utc` (`None`: no limit).
    pub fn rate_at(&self, utc: time::OffsetDateTime) -> Option<u64> {
        let inner = self.inner.as_ref()?;
        inner.limit.at_minute(inner.zone.minute_of_day(utc))
    }

    /// Books `n` bytes and says how long to wait before they may pass.
    fn book(&self, n: u64) -> Duration {
        self.book_at(n, Instant::now(), time::OffsetDateTime::now_utc())
    }

    /// [`Throttle::book`] at the given instants: a timetable's rate is looked up again when a
    /// second has passed since the last look.
    fn book_at(&self, n: u64, now: Instant, wall: time::OffsetDateTime) -> Duration {
        let Some(inner) = &self.inner else {
            return Duration::ZERO;
        };
        // The lock is never held across a wait; a panic inside it cannot leave the bucket
        // half-updated in a way that matters, so a poisoned lock is used as it is.
        let mut st = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(inner.limit, Limit::Timetable(_)) && now >= st.checked + RECHECK {
            let rate = self.rate_at(wall);
            if rate != st.bucket.rate() {
                tracing::info!(rate = ?rate, "bandwidth timetable: new limit");
            }
            st.bucket.set_rate(rate, now);
            st.checked = now;
        }
        st.bucket.take(n, now)
    }

    /// Waits until `n` more bytes may pass, or a shutdown.
    ///
    /// # Errors
    /// [`Cancelled`] as soon as `cancel` fires, even mid-wait.
    pub async fn take(&self, n: u64, cancel: &CancellationToken) -> Result<(), Cancelled> {
        let wait = self.book(n);
        if wait.is_zero() {
            return Ok(());
        }
        tokio::select! {
            biased;
            () = cancel.cancelled() => Err(Cancelled),
            () = tokio::time::sleep(wait) => Ok(()),
        }
    }

    /// [`Throttle::take`] for blocking code on its own thread (the scrub).
    pub fn take_blocking(&self, n: u64) {
        let wait = self.book(n);
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate::Timetable;

    fn at(s: &str) -> time::OffsetDateTime {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
    }

    #[test]
    fn a_timetable_switches_at_its_boundaries_on_the_zones_clock() {
        let table = Timetable::parse("08:00,50MiB 20:00,off").unwrap();
        let t = Throttle::new(
            Limit::Timetable(table),
            Zone::parse(Some("Asia/Shanghai")).unwrap(),
        );
        // Shanghai is UTC+8: 07:59 local is 23:59 UTC the day before.
        assert_eq!(t.rate_at(at("2026-11-30T23:59:00Z")), None);
        assert_eq!(t.rate_at(at("2026-12-01T00:00:00Z")), Some(50 << 20));
        assert_eq!(t.rate_at(at("2026-12-01T11:59:59Z")), Some(50 << 20));
        assert_eq!(t.rate_at(at("2026-12-01T12:00:00Z")), None);
    }

    #[test]
    fn a_running_bucket_changes_rate_when_the_clock_crosses_a_boundary() {
        const MIB: u64 = 1 << 20;
        let table = Timetable::parse("08:00,1MiB 20:00,off").unwrap();
        let t0 = Instant::now();
        let after = |ms: u64| t0 + Duration::from_millis(ms);
        let t = Throttle::starting(
            Limit::Timetable(table),
            Zone::default(),
            t0,
            at("2026-12-01T07:59:59Z"),
        );
        // (monotonic ms, wall clock, bytes, wait ms)
        for (ms, wall, n, wait) in [
            (0, "2026-12-01T07:59:59Z", 10 * MIB, 0), // before 08:00: off
            (1000, "2026-12-01T08:00:00Z", MIB, 1000), // crossed: 1 MiB/s, from empty
            (1500, "2026-12-01T20:00:00Z", 0, 500),   // looked up less than 1 s ago: still on
            (2000, "2026-12-01T20:00:00Z", 100 * MIB, 0), // a second on: 20:00 is off
        ] {
            let got = t.book_at(n, after(ms), at(wall));
            assert!(
                got.abs_diff(Duration::from_millis(wait)) < Duration::from_millis(2),
                "at {wall}: waited {got:?}, want {wait} ms"
            );
        }
    }

    #[tokio::test]
    async fn a_waiting_take_ends_at_once_on_cancellation() {
        let t = Throttle::new(Limit::Fixed(1024), Zone::default());
        let cancel = CancellationToken::new();
        cancel.cancel();
        let started = Instant::now();
        // 1 MiB at 1 KiB/s would wait 17 minutes.
        assert_eq!(t.take(1 << 20, &cancel).await, Err(Cancelled));
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn no_limit_never_waits() {
        let cancel = CancellationToken::new();
        for t in [
            Throttle::unlimited(),
            Throttle::new(Limit::Fixed(0), Zone::default()),
        ] {
            assert_eq!(t.take(u64::MAX / 2, &cancel).await, Ok(()));
        }
    }
}
