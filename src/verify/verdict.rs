//! The format verdict recorded in every manifest (rule 2 of the integrity contract,
//! RELIABILITY.md): a format check describes the cloud's bytes, it never decides whether they
//! are kept. `ok`; `unrecognised` (the file does not start like its format: a note, the name may
//! simply not say what it holds); `damaged` (it starts as its format and breaks inside: the
//! backup itself is broken, and a copy of exactly those bytes is still the best there is);
//! `not_checked` (no format check for this name). Pure.

use super::format::Format;
pub use crate::model::{FormatVerdict, Verdict};

/// How many leading bytes [`classify`] needs to tell `unrecognised` from `damaged`.
pub const HEAD: usize = 8;

/// Whether `head` (the file's first bytes) starts the way `format` always does.
pub fn starts_like(format: Format, head: &[u8]) -> bool {
    match format {
        Format::Gzip => head.starts_with(&[0x1f, 0x8b]),
        Format::Xbstream => head.starts_with(b"XBSTCK01"),
        // A zstd frame, or a skippable frame (pzstd and the seekable format start with one).
        Format::TarZstd => head.get(..4).is_some_and(|m| {
            m == [0x28, 0xb5, 0x2f, 0xfd] || (m[0] & 0xf0 == 0x50 && m[1..] == [0x2a, 0x4d, 0x18])
        }),
    }
}

/// The verdict for a file of `format` (`None`: no check for its name) whose first bytes are
/// `head` and whose check ended with `outcome`.
pub fn classify(format: Option<Format>, head: &[u8], outcome: Result<(), String>) -> FormatVerdict {
    let (verdict, detail) = match (format, outcome) {
        (None, _) => (Verdict::NotChecked, None),
        (Some(_), Ok(())) => (Verdict::Ok, None),
        (Some(f), Err(reason)) if !starts_like(f, head) => (Verdict::Unrecognised, Some(reason)),
        (Some(_), Err(reason)) => (Verdict::Damaged, Some(reason)),
    };
    FormatVerdict { verdict, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_table() {
        let err = || Err("at byte 9: bad".to_string());
        type Case<'a> = (Option<Format>, &'a [u8], Result<(), String>, Verdict);
        let cases: [Case<'_>; 11] = [
            (None, b"anything", err(), Verdict::NotChecked),
            (Some(Format::Gzip), b"\x1f\x8b\x08", Ok(()), Verdict::Ok),
            (Some(Format::Gzip), b"\x1f\x8b\x08", err(), Verdict::Damaged),
            (
                Some(Format::Gzip),
                b"PK\x03\x04",
                err(),
                Verdict::Unrecognised,
            ),
            (Some(Format::Gzip), b"", err(), Verdict::Unrecognised),
            (Some(Format::Xbstream), b"XBSTCK01", err(), Verdict::Damaged),
            (
                Some(Format::Xbstream),
                b"XBSTCK0",
                err(),
                Verdict::Unrecognised,
            ),
            (
                Some(Format::TarZstd),
                b"\x28\xb5\x2f\xfd\x04",
                err(),
                Verdict::Damaged,
            ),
            (
                Some(Format::TarZstd),
                b"\x5a\x2a\x4d\x18\0\0\0\0",
                err(),
                Verdict::Damaged,
            ),
            (
                Some(Format::TarZstd),
                b"\x28\xb5\x2f",
                err(),
                Verdict::Unrecognised,
            ),
            (
                Some(Format::TarZstd),
                b"\x1f\x8b\x08",
                err(),
                Verdict::Unrecognised,
            ),
        ];
        for (format, head, outcome, want) in cases {
            let got = classify(format, head, outcome);
            assert_eq!(got.verdict, want, "{format:?} {head:?}");
            assert_eq!(
                got.detail.is_some(),
                matches!(want, Verdict::Damaged | Verdict::Unrecognised)
            );
        }
    }
}
