//! Retry policy: how many attempts, how long in total, and the backoff between them.
//!
//! Pure: the jitter comes in as an argument (a number in `[0, 1)`), so the schedule is testable
//! with tables. Used by the API client and the downloader alike.

use std::time::Duration;

/// Bounds on retrying one operation: by attempts *and* by total time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// Delay before the second attempt; doubles each time up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// No new attempt starts once this much time has passed since the first.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
            max_elapsed: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt number `attempt` (1-based), with "equal jitter": half the
    /// exponential step is fixed and half random, so clients that failed together spread out
    /// but never retry at once.
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let step = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let half = step / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// What to do after attempt number `attempt` failed with a retryable error, `elapsed` after the
    /// first attempt started: `Some(delay)` to try again, `None` to give up.
    pub fn next_delay(&self, attempt: u32, elapsed: Duration, jitter: f64) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let delay = self.backoff(attempt, jitter);
        (elapsed + delay <= self.max_elapsed).then_some(delay)
    }
}

/// A jitter value for [`RetryPolicy::backoff`] from the thread RNG (the only impure bit).
pub fn jitter() -> f64 {
    rand::random::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_elapsed: Duration::from_secs(3),
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = policy();
        let table = [
            (1, 0.0, 50),
            (1, 1.0, 100),
            (2, 0.0, 100),
            (3, 0.5, 300),
            (5, 1.0, 1000),
            (40, 0.0, 500),
        ];
        for (attempt, jitter, ms) in table {
            assert_eq!(
                p.backoff(attempt, jitter),
                Duration::from_millis(ms),
                "attempt {attempt} jitter {jitter}"
            );
        }
    }

    #[test]
    fn gives_up_on_attempts_or_time() {
        let p = policy();
        assert!(p.next_delay(1, Duration::ZERO, 0.0).is_some());
        assert_eq!(
            p.next_delay(5, Duration::ZERO, 0.0),
            None,
            "attempts exhausted"
        );
        assert_eq!(
            p.next_delay(2, Duration::from_millis(2950), 1.0),
            None,
            "time exhausted"
        );
        assert!(p.next_delay(2, Duration::from_millis(2800), 0.0).is_some());
    }
}
