//! Token-bucket arithmetic for a bandwidth limit, and the rclone-style timetable that says which
//! limit holds at a time of day. Pure: the instant and the minute of the day come in; it never
//! reads a clock, sleeps or locks (the waiting shell is [`crate::throttle`]).
//!
//! The bucket holds at most one second's worth of tokens, so an idle spell never lets a burst
//! over ~1 s of the rate through, and it starts empty (no burst at the start of a pass either).
//! A take larger than what is in the bucket leaves it in debt: the taker is told how long to
//! wait for the debt to be paid, and later takers queue behind it, so the long-run rate of all
//! takers together is the limit whatever their chunk sizes.

use std::time::{Duration, Instant};

/// One shared limit: `rate` bytes per second, or none (`None`: every take passes at once).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: Option<u64>,
    /// Bytes that may pass now; negative while takers wait for a debt to be paid.
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// An empty bucket for `rate` bytes per second (`Some(0)` counts as no limit).
    pub fn new(rate: Option<u64>, now: Instant) -> TokenBucket {
        TokenBucket {
            rate: rate.filter(|&r| r > 0),
            tokens: 0.0,
            last: now,
        }
    }

    pub fn rate(&self) -> Option<u64> {
        self.rate
    }

    /// Changes the rate from `now` on: tokens gained so far were gained at the old rate. A
    /// limit that comes back after "off" starts from an empty bucket.
    pub fn set_rate(&mut self, rate: Option<u64>, now: Instant) {
        self.refill(now);
        self.rate = rate.filter(|&r| r > 0);
        match self.rate {
            None => self.tokens = 0.0,
            Some(r) => self.tokens = self.tokens.min(r as f64),
        }
    }

    /// Takes `n` bytes' worth at `now`; returns how long the taker must wait before using them.
    pub fn take(&mut self, n: u64, now: Instant) -> Duration {
        self.refill(now);
        let Some(rate) = self.rate else {
            return Duration::ZERO;
        };
        self.tokens -= n as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / rate as f64)
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        if let Some(rate) = self.rate {
            // At most one second's worth: no burst over ~1 s after an idle spell.
            self.tokens = (self.tokens + elapsed * rate as f64).min(rate as f64);
        }
    }
}

/// A configured bandwidth limit: none, one rate, or a rate by time of day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Limit {
    #[default]
    Off,
    Fixed(u64),
    Timetable(Timetable),
}

impl Limit {
    /// The bytes per second in force at `minute` of the day; `None`: no limit.
    pub fn at_minute(&self, minute: u32) -> Option<u64> {
        match self {
            Limit::Off => None,
            Limit::Fixed(rate) => Some(*rate).filter(|&r| r > 0),
            Limit::Timetable(t) => t.limit_at(minute),
        }
    }

    pub fn is_off(&self) -> bool {
        matches!(self, Limit::Off | Limit::Fixed(0))
    }
}

/// `"08:00,50MiB 20:00,off"`: from each time of day on (in the schedule's zone), that limit,
/// until the next entry; before the first entry of a day the last one of the day before holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timetable {
    /// (minute of the day, bytes per second or `None` for no limit), sorted by minute.
    entries: Vec<(u32, Option<u64>)>,
}

impl Timetable {
    /// Parses space-separated `HH:MM,RATE` entries; RATE is a size (`50MiB`) or `off`.
    ///
    /// # Errors
    /// A one-line reason naming the entry at fault.
    pub fn parse(text: &str) -> Result<Timetable, String> {
        let mut entries = Vec::new();
        for entry in text.split_whitespace() {
            let form =
                || format!("{entry:?} is not HH:MM,RATE like \"08:00,50MiB\" or \"20:00,off\"");
            let (at, rate) = entry.split_once(',').ok_or_else(form)?;
            let (h, m) = at.split_once(':').ok_or_else(form)?;
            let (h, m) = match (h.parse::<u32>(), m.parse::<u32>()) {
                (Ok(h @ 0..=23), Ok(m @ 0..=59)) if m_is_two_digits(at) => (h, m),
                _ => return Err(form()),
            };
            let rate = match rate.trim() {
                "off" | "" => None,
                r => match crate::units::parse_size(r)? {
                    0 => None,
                    n => Some(n),
                },
            };
            let minute = h * 60 + m;
            if entries.iter().any(|&(at, _)| at == minute) {
                return Err(format!("{at} is listed twice"));
            }
            entries.push((minute, rate));
        }
        if entries.is_empty() {
            return Err("is empty; give entries like \"08:00,50MiB 20:00,off\"".into());
        }
        entries.sort_unstable();
        Ok(Timetable { entries })
    }

    /// The limit in force at `minute` of the day (0..1440).
    pub fn limit_at(&self, minute: u32) -> Option<u64> {
        self.entries
            .iter()
            .rev()
            .find(|&&(at, _)| at <= minute)
            .or(self.entries.last())
            .and_then(|&(_, rate)| rate)
    }
}

/// `8:5` is refused: the minutes of `HH:MM` always have two digits.
fn m_is_two_digits(at: &str) -> bool {
    at.split_once(':').is_some_and(|(_, m)| m.len() == 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn takes_wait_for_their_share_of_the_rate() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // (at ms, take bytes, expected wait ms) against 1 MiB/s, starting empty.
        let mut b = TokenBucket::new(Some(MIB), t0);
        for (at, n, wait) in [
            (0, MIB / 2, 500),    // empty at the start: no burst
            (0, MIB / 2, 1000),   // queued behind the first debt
            (1000, MIB / 4, 250), // 1 s paid 1 MiB of debt; a quarter more
            (1250, 0, 0),         // debt paid
            (5000, MIB, 0),       // idle: refilled, but only 1 s worth
            (5000, MIB / 4, 250), // ... so the next take waits again
        ] {
            let got = b.take(n, ms(at));
            let want = Duration::from_millis(wait);
            assert!(
                got.abs_diff(want) < Duration::from_millis(2),
                "take {n} at {at} ms: waited {got:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn a_new_rate_applies_from_the_change_on() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(Some(MIB), t0);
        assert_eq!(b.take(MIB, t0), Duration::from_secs(1));
        // Half a second in, the rate doubles: the remaining 0.5 MiB of debt takes 0.25 s.
        b.set_rate(Some(2 * MIB), t0 + Duration::from_millis(500));
        let w = b.take(0, t0 + Duration::from_millis(500));
        assert!(
            w.abs_diff(Duration::from_millis(250)) < Duration::from_millis(2),
            "{w:?}"
        );
        // A lower rate also caps what an idle bucket holds.
        b.set_rate(Some(MIB / 4), t0 + Duration::from_secs(10));
        let w = b.take(MIB / 2, t0 + Duration::from_secs(10));
        assert!(
            w.abs_diff(Duration::from_secs(1)) < Duration::from_millis(2),
            "{w:?}"
        );
        // "off" lets everything through and forgets the debt; a limit back starts empty.
        b.set_rate(None, t0 + Duration::from_secs(11));
        assert_eq!(
            b.take(100 * MIB, t0 + Duration::from_secs(11)),
            Duration::ZERO
        );
        b.set_rate(Some(MIB), t0 + Duration::from_secs(20));
        let w = b.take(MIB, t0 + Duration::from_secs(20));
        assert!(
            w.abs_diff(Duration::from_secs(1)) < Duration::from_millis(2),
            "{w:?}"
        );
    }

    #[test]
    fn timetables_pick_the_entry_in_force() {
        let t = Timetable::parse("08:00,50MiB 20:00,off 12:30,10MiB").unwrap();
        for (minute, want) in [
            (0, None), // before 08:00: yesterday's 20:00 entry
            (8 * 60, Some(50 * MIB)),
            (12 * 60 + 29, Some(50 * MIB)),
            (12 * 60 + 30, Some(10 * MIB)),
            (19 * 60 + 59, Some(10 * MIB)),
            (20 * 60, None),
            (23 * 60 + 59, None),
        ] {
            assert_eq!(t.limit_at(minute), want, "minute {minute}");
        }
        let wrap = Timetable::parse("20:00,1MiB 06:00,off").unwrap();
        assert_eq!(
            wrap.limit_at(3 * 60),
            Some(MIB),
            "the night limit holds past midnight"
        );
    }

    #[test]
    fn bad_timetables_say_which_entry() {
        for (text, needle) in [
            ("", "is empty"),
            ("08:00", "\"08:00\" is not HH:MM,RATE"),
            ("25:00,1MiB", "\"25:00,1MiB\" is not HH:MM,RATE"),
            ("8:5,1MiB", "\"8:5,1MiB\" is not HH:MM,RATE"),
            ("08:00,fast", "\"fast\" is not a size"),
            ("08:00,1MiB 08:00,off", "08:00 is listed twice"),
        ] {
            let e = Timetable::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }
}
