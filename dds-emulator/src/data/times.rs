//! The API's two timestamp spellings, formatted and parsed (UTC only).

use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// `yyyy-MM-ddTHH:mm:ssZ`, the API's timestamp format.
pub fn fmt_seconds(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(fmt).unwrap_or_default()
}

/// `yyyy-MM-ddTHH:mmZ`, the format of `StartTime` and `EndTime`.
pub fn fmt_minutes(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]Z");
    t.format(fmt).unwrap_or_default()
}

/// Milliseconds since the epoch, the DBS API's timestamps.
pub fn unix_millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Parses `yyyy-MM-ddTHH:mm:ssZ` (UTC).
pub fn parse_seconds(s: &str) -> Option<OffsetDateTime> {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    (s.len() == 20)
        .then(|| PrimitiveDateTime::parse(s, fmt).ok())
        .flatten()
        .map(PrimitiveDateTime::assume_utc)
}

/// Parses `yyyy-MM-ddTHH:mmZ` (UTC).
pub fn parse_minutes(s: &str) -> Option<OffsetDateTime> {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]Z");
    (s.len() == 17)
        .then(|| PrimitiveDateTime::parse(s, fmt).ok())
        .flatten()
        .map(PrimitiveDateTime::assume_utc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::KEEP_FOREVER;
    use time::macros::datetime;

    #[test]
    fn time_formats_round_trip_and_reject_garbage() {
        let t = datetime!(2022-01-14 03:56:17 UTC);
        assert_eq!(fmt_seconds(t), "2022-01-14T03:56:17Z");
        assert_eq!(parse_seconds("2022-01-14T03:56:17Z"), Some(t));
        assert_eq!(fmt_minutes(t), "2022-01-14T03:56Z");
        assert_eq!(
            parse_minutes("2022-01-14T03:56Z"),
            Some(t.replace_second(0).unwrap())
        );
        for bad in [
            "2022-01-14T03:56:17",
            "2022-01-14 03:56:17Z",
            "2022-13-14T03:56:17Z",
            "",
        ] {
            assert_eq!(parse_seconds(bad), None, "{bad}");
        }
        for bad in ["2022-01-14T03:56:00Z", "2022-01-14", "2022-01-14T3:56Z"] {
            assert_eq!(parse_minutes(bad), None, "{bad}");
        }
        assert_eq!(fmt_seconds(KEEP_FOREVER), "9999-01-01T00:00:00Z");
    }
}
