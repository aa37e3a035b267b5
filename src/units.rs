//! Byte sizes as operators write them in configs and flags (`64KiB`, `400MiB`, `2GiB`, or a
//! bare number of bytes). Pure.

/// Parses a byte count: digits, then nothing, `B`, `KiB`, `MiB`, `GiB` or `TiB`.
///
/// # Errors
/// A one-line reason quoting the text and showing the expected form.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => {
            return Err(format!(
                "{text:?} is not a size such as \"64KiB\" or \"400MiB\""
            ));
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{text:?} is not a size such as \"64KiB\" or \"400MiB\""))
}

/// `n` bytes for people: "1023 B", "1.5 MiB".
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (text, want) in [
            ("0", Some(0)),
            ("1000", Some(1000)),
            ("64KiB", Some(65536)),
            (" 400MiB ", Some(400 << 20)),
            ("2GiB", Some(2 << 30)),
            ("1 TiB", Some(1 << 40)),
            ("7B", Some(7)),
            ("", None),
            ("KiB", None),
            ("64kb", None),
            ("-1", None),
            ("1.5MiB", None),
            ("99999999999TiB", None),
        ] {
            assert_eq!(parse_size(text).ok(), want, "{text:?}");
        }
    }
}
