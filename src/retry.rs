//! Retry policy: how many attempts, how long in total, and the backoff between them; and the
//! [`Budget`] every retried operation counts down (the API client's calls, a download, each
//! ranged stream, an export's probe): one loop shape, as object_store's `send_retry`, capped
//! by attempts and by time.
//!
//! The schedule is pure: the jitter comes in as an argument (a number in `[0, 1)`), so it is
//! testable with tables. [`jitter`] and the [`Budget`]'s clock are the only impure bits.

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

/// One operation's retry budget as it runs: the attempts so far and the time since the first
/// (or since the last progress, for a transfer that moved bytes and then broke).
#[derive(Debug, Clone)]
pub struct Budget {
    policy: RetryPolicy,
    started: std::time::Instant,
    attempts: u32,
}

impl Budget {
    pub fn new(policy: RetryPolicy) -> Budget {
        Budget {
            policy,
            started: std::time::Instant::now(),
            attempts: 0,
        }
    }

    /// An attempt starts: its number (1-based).
    pub fn attempt(&mut self) -> u32 {
        self.attempts += 1;
        self.attempts
    }

    /// Progress was made: the attempt under way starts a fresh budget.
    pub fn progressed(&mut self) {
        self.attempts = self.attempts.min(1);
        self.started = std::time::Instant::now();
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// After the current attempt failed with a retryable error: the delay before the next one,
    /// or `None` when the budget is spent.
    pub fn next_delay(&self) -> Option<Duration> {
        self.policy
            .next_delay(self.attempts, self.started.elapsed(), jitter())
    }
}

/// Sleeps `delay` unless `cancel` fires first; `false` when it did.
pub async fn sleep(delay: Duration, cancel: &tokio_util::sync::CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = cancel.cancelled() => false,
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
