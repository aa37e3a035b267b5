//! Waiting for a wall-clock time. The daemon's ticks are wall-clock times (cron, in a zone), but
//! tokio's timer runs on the monotonic clock, which stops while a VM is suspended and does not
//! follow a clock step (NTP, an operator): one long `sleep` until the next tick fired hours
//! late after a suspend, or early after a step back (issue #21). So a wait sleeps in slices of
//! at most [`SLICE`] and reads the wall clock again after each; and the next tick is always
//! after the last one fired, so a clock stepped back never fires the same tick twice.
//!
//! The clock comes in ([`Clock`]), so the tests step it while tokio's time is paused.

use std::time::Duration;

use time::OffsetDateTime;

use crate::schedule::Schedule;

/// The longest stretch slept without looking at the wall clock again.
pub const SLICE: Duration = Duration::from_secs(30);

/// The wall clock.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// Returns once `clock` reads `at` or later, looking at it at least every [`SLICE`].
pub async fn until(clock: &dyn Clock, at: OffsetDateTime) {
    loop {
        let now = clock.now();
        if now >= at {
            return;
        }
        let left = Duration::try_from(at - now).unwrap_or(Duration::ZERO);
        tokio::time::sleep(left.min(SLICE)).await;
    }
}

/// The next tick of `schedule` after `now`, and after `last` (the tick that fired last), so
/// no tick fires twice. Pure.
pub fn next_tick(
    schedule: &Schedule,
    now: OffsetDateTime,
    last: Option<OffsetDateTime>,
) -> Option<OffsetDateTime> {
    schedule.next_after(last.map_or(now, |l| l.max(now)))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use time::macros::datetime;

    use super::*;

    /// A wall clock that runs with tokio's (paused) time, plus a step the test sets.
    struct Stepped {
        start: tokio::time::Instant,
        base: OffsetDateTime,
        step: Mutex<time::Duration>,
    }

    impl Stepped {
        fn new(base: OffsetDateTime) -> Stepped {
            Stepped {
                start: tokio::time::Instant::now(),
                base,
                step: Mutex::new(time::Duration::ZERO),
            }
        }

        fn step(&self, by: time::Duration) {
            *self.step.lock().unwrap() += by;
        }
    }

    impl Clock for Stepped {
        fn now(&self) -> OffsetDateTime {
            let ran = tokio::time::Instant::now() - self.start;
            self.base + ran + *self.step.lock().unwrap()
        }
    }

    const T0: OffsetDateTime = datetime!(2026-12-08 01:00 UTC);

    #[tokio::test(start_paused = true)]
    async fn a_suspend_does_not_make_a_tick_late() {
        // The VM sleeps for three hours (the wall clock jumps, tokio's timer does not move):
        // the 03:00 tick is seen within one slice of waking, not after the rest of a long sleep.
        let clock = std::sync::Arc::new(Stepped::new(T0));
        let at = datetime!(2026-12-08 03:00 UTC);
        let waiting = {
            let clock = clock.clone();
            tokio::spawn(async move { until(clock.as_ref(), at).await })
        };
        tokio::time::sleep(Duration::from_secs(60)).await;
        clock.step(time::Duration::hours(3));
        let woke = tokio::time::Instant::now();
        waiting.await.unwrap();
        assert!(tokio::time::Instant::now() - woke <= SLICE);
        assert!(clock.now() >= at);
    }

    #[tokio::test(start_paused = true)]
    async fn a_clock_stepped_back_neither_fires_early_nor_twice() {
        let clock = std::sync::Arc::new(Stepped::new(T0));
        let at = datetime!(2026-12-08 01:10 UTC);
        let waiting = {
            let clock = clock.clone();
            tokio::spawn(async move { until(clock.as_ref(), at).await })
        };
        // Five minutes in, the clock is set back an hour: the tick is 65 minutes away again.
        tokio::time::sleep(Duration::from_secs(300)).await;
        clock.step(time::Duration::hours(-1));
        tokio::time::sleep(Duration::from_secs(60 * 60)).await;
        assert!(!waiting.is_finished(), "fired early, at {}", clock.now());
        waiting.await.unwrap();
        assert!(clock.now() >= at);
        // After firing at 01:10, a clock set back to 00:30 does not give 01:10 again.
        let every_ten = Schedule::parse("0 */10 * * * *", None).unwrap();
        let next = next_tick(&every_ten, datetime!(2026-12-08 00:30 UTC), Some(at));
        assert_eq!(next, Some(datetime!(2026-12-08 01:20 UTC)));
        assert_eq!(
            next_tick(&every_ten, datetime!(2026-12-08 00:30 UTC), None),
            Some(datetime!(2026-12-08 00:40 UTC))
        );
    }
}
