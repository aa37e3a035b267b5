//! When the daemon runs a pass: a 6-field cron expression (seconds first) evaluated in UTC or in
//! an IANA time zone.
//!
//! Pure: `now` comes in. The next fire time is computed afresh from the wall clock of the zone
//! each time (croner + chrono-tz) rather than by tokio-cron-scheduler, whose time-zone jobs keep
//! the UTC offset fixed at creation and fire an hour off after a DST change (upstream issues
//! #87, #107). Day-of-month and day-of-week combine as in Vixie cron: either may match.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    tz: Option<Tz>,
    expr: String,
}

/// The cron macros operators know, as the 6-field expressions they mean.
const MACROS: [(&str, &str); 7] = [
    ("@yearly", "0 0 0 1 1 *"),
    ("@annually", "0 0 0 1 1 *"),
    ("@monthly", "0 0 0 1 * *"),
    ("@weekly", "0 0 0 * * 0"),
    ("@daily", "0 0 0 * * *"),
    ("@midnight", "0 0 0 * * *"),
    ("@hourly", "0 0 * * * *"),
];

/// The six fields, their names and ranges, for messages.
const FIELDS: [(&str, u32, u32); 6] = [
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
];

/// `expr` with a macro (`@daily`, ...) written out as its 6 fields; other text as it is.
///
/// # Errors
/// An `@` word that is not one of the supported macros.
pub fn expand(expr: &str) -> Result<String, String> {
    let trimmed = expr.trim();
    if !trimmed.starts_with('@') {
        return Ok(trimmed.to_string());
    }
    MACROS
        .iter()
        .find(|(m, _)| m.eq_ignore_ascii_case(trimmed))
        .map(|(_, e)| e.to_string())
        .ok_or_else(|| {
            let known: Vec<&str> = MACROS.iter().map(|(m, _)| *m).collect();
            format!(
                "{trimmed:?} is not supported; use 6 fields or one of {}",
                known.join(", ")
            )
        })
}

/// Which field of a cron expression holds a number out of its range, said in words.
fn out_of_range(expr: &str) -> Option<String> {
    for (field, (name, lo, hi)) in expr.split_whitespace().zip(FIELDS) {
        let numbers = field
            .split([',', '-', '/'])
            .filter_map(|t| t.parse::<u32>().ok());
        for (i, n) in numbers.enumerate() {
            // After a `/`, a number is a step, not a value.
            let is_step = field.contains('/') && i > 0;
            if !is_step && !(lo..=hi).contains(&n) {
                return Some(format!("the {name} field is {n}, outside {lo}-{hi}"));
            }
        }
    }
    None
}

impl Schedule {
    /// Parses `expr` (6 fields, seconds first) in `timezone` (IANA name; `None` or "UTC" = UTC).
    ///
    /// # Errors
    /// A one-line reason: wrong field count, a bad field, an unknown zone.
    pub fn parse(expr: &str, timezone: Option<&str>) -> Result<Schedule, String> {
        let fields = expr.split_whitespace().count();
        if fields == 5 {
            return Err(format!(
                "{expr:?} has 5 fields; this scheduler wants 6 with seconds first, e.g. \"0 {expr}\""
            ));
        }
        if fields != 6 {
            return Err(format!(
                "{expr:?} has {fields} fields; expected 6 (sec min hour day-of-month month day-of-week)"
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .build()
            .parse(expr)
            .map_err(|e| match out_of_range(expr) {
                Some(why) => format!("{expr:?} is not a valid cron expression: {why}"),
                None => format!("{expr:?} is not a valid cron expression: {e}"),
            })?;
        let tz = match timezone.map(str::trim).filter(|t| !t.is_empty()) {
            None | Some("UTC") => None,
            Some(name) => Some(name.parse::<Tz>().map_err(|_| {
                format!("{name:?} is not an IANA time zone like \"Asia/Shanghai\"")
            })?),
        };
        let schedule = Schedule {
            cron,
            tz,
            expr: expr.to_string(),
        };
        schedule.fires()?;
        Ok(schedule)
    }

    /// Whether the expression can ever fire: `0 0 0 30 2 *` parses, but a daemon on it would
    /// wait for ever (issue #21). The Gregorian calendar repeats every 400 years, and any date
    /// a cron field can name (a 29 February on a Monday) comes round within 28 of them: one
    /// fire time between 2000 and 2100 is proof enough.
    fn fires(&self) -> Result<(), String> {
        let from = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single();
        let until = Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).single();
        match (from.and_then(|f| self.next_after_chrono(f)), until) {
            (Some(next), Some(until)) if next < until => Ok(()),
            _ => Err(format!(
                "{:?} never fires (no such date in any year); check the day-of-month and month",
                self.expr
            )),
        }
    }

    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The first fire time strictly after `now`.
    pub fn next_after(&self, now: time::OffsetDateTime) -> Option<time::OffsetDateTime> {
        self.next_after_chrono(to_chrono(now)).map(from_chrono)
    }

    /// Fire times in `(after, until]`: the ticks a long pass made the daemon miss.
    pub fn missed(
        &self,
        after: time::OffsetDateTime,
        until: time::OffsetDateTime,
    ) -> Vec<time::OffsetDateTime> {
        self.missed_chrono(to_chrono(after), to_chrono(until))
            .into_iter()
            .map(from_chrono)
            .collect()
    }

    fn next_after_chrono(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.tz {
            None => self.cron.find_next_occurrence(&now, false).ok(),
            Some(tz) => self
                .cron
                .find_next_occurrence(&now.with_timezone(&tz), false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    fn missed_chrono(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut cursor = after;
        while let Some(next) = self.next_after_chrono(cursor) {
            if next > until || out.len() >= 1000 {
                break;
            }
            out.push(next);
            cursor = next;
        }
        out
    }
}

/// A time zone to read wall-clock times of day in (the bandwidth timetable's) and calendar
/// dates (retention's day, week, month and year buckets), parsed once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Zone(Option<Tz>);

impl Zone {
    /// `None`, empty or "UTC" is UTC.
    ///
    /// # Errors
    /// An unknown zone, in one line.
    pub fn parse(timezone: Option<&str>) -> Result<Zone, String> {
        match timezone.map(str::trim).filter(|t| !t.is_empty()) {
            None | Some("UTC") => Ok(Zone(None)),
            Some(name) => name
                .parse::<Tz>()
                .map(|tz| Zone(Some(tz)))
                .map_err(|_| format!("{name:?} is not an IANA time zone like \"Asia/Shanghai\"")),
        }
    }

    /// The zone's IANA name, or "UTC".
    pub fn name(&self) -> &'static str {
        self.0.map_or("UTC", |tz| tz.name())
    }

    /// The minute of the day (0..1440) that `now` is on the zone's wall clock.
    pub fn minute_of_day(&self, now: time::OffsetDateTime) -> u32 {
        use chrono::Timelike;
        let utc = to_chrono(now);
        let (h, m) = match self.0 {
            None => (utc.hour(), utc.minute()),
            Some(tz) => {
                let local = utc.with_timezone(&tz);
                (local.hour(), local.minute())
            }
        };
        h * 60 + m
    }

    /// The calendar date `t` falls on in the zone: a backup at 23:30 UTC belongs to the next
    /// day in Asia/Shanghai, as the operator reads it. A `time` date, so chrono stays here.
    pub fn date_of(&self, t: time::OffsetDateTime) -> time::Date {
        use chrono::Offset;
        let seconds = match self.0 {
            None => 0,
            Some(tz) => tz
                .offset_from_utc_datetime(&to_chrono(t).naive_utc())
                .fix()
                .local_minus_utc(),
        };
        // An instant near the end of `time`'s range (a hostile listing's year 9999) cannot move
        // past it: its UTC date is as good a bucket as any.
        time::UtcOffset::from_whole_seconds(seconds)
            .ok()
            .and_then(|offset| t.checked_to_offset(offset))
            .unwrap_or(t)
            .date()
    }
}

/// Converts a `time` instant (used everywhere else in the program) to chrono's, which croner
/// speaks: chrono stays inside this module.
fn to_chrono(t: time::OffsetDateTime) -> DateTime<Utc> {
    Utc.timestamp_opt(t.unix_timestamp(), t.nanosecond())
        .single()
        .unwrap_or_default()
}

fn from_chrono(t: DateTime<Utc>) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(t.timestamp())
        .map(|s| s + time::Duration::nanoseconds(i64::from(t.timestamp_subsec_nanos())))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> time::OffsetDateTime {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
    }

    #[test]
    fn next_fire_times_in_utc() {
        let s = Schedule::parse("0 0 3 * * *", None).unwrap();
        for (now, next) in [
            ("2026-11-28T02:59:59Z", "2026-11-28T03:00:00Z"),
            ("2026-11-28T03:00:00Z", "2026-11-29T03:00:00Z"),
            ("2026-12-31T23:00:00Z", "2027-01-01T03:00:00Z"),
        ] {
            assert_eq!(s.next_after(at(now)).unwrap(), at(next), "after {now}");
        }
    }

    #[test]
    fn time_zones_follow_daylight_saving() {
        // 03:00 in Berlin is 01:00 UTC in summer and 02:00 UTC in winter; the change on
        // 2026-10-25 must move the UTC fire time.
        let s = Schedule::parse("0 0 3 * * *", Some("Europe/Berlin")).unwrap();
        assert_eq!(
            s.next_after(at("2026-10-24T00:00:00Z")).unwrap(),
            at("2026-10-24T01:00:00Z")
        );
        assert_eq!(
            s.next_after(at("2026-10-25T12:00:00Z")).unwrap(),
            at("2026-10-26T02:00:00Z")
        );
        let s = Schedule::parse("0 30 2 * * *", Some("Asia/Shanghai")).unwrap();
        assert_eq!(
            s.next_after(at("2026-11-28T00:00:00Z")).unwrap(),
            at("2026-11-28T18:30:00Z")
        );
    }

    #[test]
    fn missed_ticks_are_listed() {
        let s = Schedule::parse("*/10 * * * * *", None).unwrap();
        let missed = s.missed(at("2026-11-28T00:00:00Z"), at("2026-11-28T00:00:35Z"));
        assert_eq!(missed.len(), 3);
        assert_eq!(missed[0], at("2026-11-28T00:00:10Z"));
    }

    #[test]
    fn zones_give_the_local_minute_of_the_day() {
        let berlin = Zone::parse(Some("Europe/Berlin")).unwrap();
        // Summer (UTC+2) and winter (UTC+1).
        assert_eq!(
            berlin.minute_of_day(at("2026-07-01T06:30:00Z")),
            8 * 60 + 30
        );
        assert_eq!(
            berlin.minute_of_day(at("2026-12-01T06:30:00Z")),
            7 * 60 + 30
        );
        let utc = Zone::parse(None).unwrap();
        assert_eq!(utc.minute_of_day(at("2026-12-01T23:59:59Z")), 23 * 60 + 59);
        assert!(Zone::parse(Some("Mars/Olympus")).is_err());
    }

    #[test]
    fn zones_give_the_local_calendar_date() {
        let shanghai = Zone::parse(Some("Asia/Shanghai")).unwrap();
        let utc = Zone::default();
        let late = at("2026-11-30T23:30:00Z");
        assert_eq!(utc.date_of(late), time::macros::date!(2026 - 11 - 30));
        assert_eq!(shanghai.date_of(late), time::macros::date!(2026 - 12 - 01));
        // Berlin's DST change: 23:30 UTC is 01:30 local in summer, 00:30 in winter.
        let berlin = Zone::parse(Some("Europe/Berlin")).unwrap();
        assert_eq!(
            berlin.date_of(at("2026-10-24T21:30:00Z")),
            time::macros::date!(2026 - 10 - 24)
        );
        assert_eq!(
            berlin.date_of(at("2026-10-25T23:30:00Z")),
            time::macros::date!(2026 - 10 - 26)
        );
        let edge = at("9999-12-31T23:30:00Z");
        assert_eq!(shanghai.date_of(edge), time::macros::date!(9999 - 12 - 31));
    }

    #[test]
    fn bad_expressions_say_why() {
        for (expr, tz, needle) in [
            ("0 3 * * *", None, "has 5 fields"),
            ("0 0 3 * * * 2027", None, "has 7 fields"),
            ("0 0 25 * * *", None, "not a valid cron expression"),
            ("0 0 3 * * *", Some("Mars/Olympus"), "not an IANA time zone"),
            // Issue #21.10: parses, never fires.
            ("0 0 0 30 2 *", None, "never fires"),
            ("0 0 0 31 4 *", Some("Asia/Shanghai"), "never fires"),
        ] {
            let e = Schedule::parse(expr, tz).unwrap_err();
            assert!(e.contains(needle), "{expr}: {e}");
        }
        assert!(Schedule::parse("0 0 3 * * *", Some("UTC")).is_ok());
        // Rare is not never: 29 February, and 29 February on a Monday.
        assert!(Schedule::parse("0 0 0 29 2 *", None).is_ok());
        assert!(Schedule::parse("0 0 0 29 2 1", None).is_ok());
    }
}
