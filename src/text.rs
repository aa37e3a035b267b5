//! Text that came from the network, shown as data: the one rule for every API status, method,
//! id, error code or message that reaches a log line, the terminal or an error message.
//!
//! Pure. A server must not be able to end a log line and forge the next one (`\n`, `\r`), drive
//! the terminal (ESC, C1 controls, BEL), or reorder what the reader sees (Unicode bidi controls,
//! the "Trojan Source" trick). Such characters are written as escapes (`\n`, `\u{1b}`); every
//! other character, non-ASCII letters included, is kept, so a message stays readable. An
//! absurdly long text is cut, with a marker that says how much was left out.
//!
//! Use [`shown`] where the text is displayed, not where it is stored: manifests and the JSON
//! outputs keep the exact value (serde escapes it as JSON; [`json_safe`] covers the characters
//! JSON leaves raw). `{:?}` on a `str` escapes at least as much and is also fine where a quoted
//! value reads better.

use std::borrow::Cow;
use std::fmt::{self, Write};

/// Characters kept by default: enough for any honest status, code, id or API message.
pub const MAX_CHARS: usize = 512;

/// True for a character that must not be written raw: every control character (C0, DEL, C1),
/// the Unicode line and paragraph separators, and the bidi embedding, override, isolate and
/// mark characters.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'..='\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200e}'..='\u{200f}'
                | '\u{061c}'
        )
}

/// `text` as data, for `format!`, `write!` and tracing fields (`%shown(s)`); nothing is
/// allocated unless a width is asked for (`{:<12}`), which pads like a `str`.
pub fn shown(text: &str) -> Shown<'_> {
    Shown {
        text,
        max_chars: MAX_CHARS,
    }
}

/// See [`shown`].
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a> {
    text: &'a str,
    max_chars: usize,
}

impl Shown<'_> {
    /// Keeps at most `max_chars` characters of the text (escapes count as one).
    #[must_use]
    pub fn capped(self, max_chars: usize) -> Self {
        Shown { max_chars, ..self }
    }

    fn write_to(&self, out: &mut impl Write) -> fmt::Result {
        for (n, (at, c)) in self.text.char_indices().enumerate() {
            if n == self.max_chars {
                return write!(out, "…[+{} bytes]", self.text.len() - at);
            }
            if !is_unsafe(c) {
                out.write_char(c)?;
                continue;
            }
            match c {
                '\n' => out.write_str("\\n")?,
                '\r' => out.write_str("\\r")?,
                '\t' => out.write_str("\\t")?,
                '\0' => out.write_str("\\0")?,
                c => write!(out, "\\u{{{:x}}}", u32::from(c))?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.width().is_none() && f.precision().is_none() {
            return self.write_to(f);
        }
        let mut s = String::with_capacity(self.text.len());
        self.write_to(&mut s)?;
        f.pad(&s)
    }
}

/// Serialised JSON with the characters serde_json leaves raw (DEL, C1 controls, bidi and line
/// separators) written as `\uXXXX`. The data is unchanged: a JSON reader gets the same strings
/// back. Every such character is inside a string (JSON's own syntax is ASCII), and all of them
/// are in the Basic Multilingual Plane, so one `\uXXXX` escape each is valid JSON. Below U+0020
/// nothing is touched: serde_json escapes those in strings, so a raw one is the pretty printer's
/// own line break or indent.
pub fn json_safe(json: &str) -> Cow<'_, str> {
    let left_raw = |c: char| c >= ' ' && is_unsafe(c);
    if !json.chars().any(left_raw) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if left_raw(c) {
            // Infallible: writing to a String.
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// An error and its sources, joined with `: ` (the chain reqwest and io errors hide behind one
/// word).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_characters_are_escaped_and_the_rest_kept() {
        let cases = [
            ("Success", "Success"),
            ("", ""),
            ("Failed\nERROR forged", r"Failed\nERROR forged"),
            ("a\r\nb", r"a\r\nb"),
            ("tab\there", r"tab\there"),
            ("nul\0", r"nul\0"),
            ("\u{1b}[31mred\u{1b}[0m", r"\u{1b}[31mred\u{1b}[0m"),
            ("bell\u{7}", r"bell\u{7}"),
            ("del\u{7f}", r"del\u{7f}"),
            ("csi\u{9b}2J", r"csi\u{9b}2J"),
            ("nel\u{85}", r"nel\u{85}"),
            ("ab\u{202e}dc", r"ab\u{202e}dc"),
            (
                "\u{202a}\u{202b}\u{202c}\u{202d}",
                r"\u{202a}\u{202b}\u{202c}\u{202d}",
            ),
            ("\u{2066}x\u{2069}", r"\u{2066}x\u{2069}"),
            ("\u{2067}\u{2068}", r"\u{2067}\u{2068}"),
            (
                "lrm\u{200e}rlm\u{200f}alm\u{61c}",
                r"lrm\u{200e}rlm\u{200f}alm\u{61c}",
            ),
            ("line\u{2028}para\u{2029}", r"line\u{2028}para\u{2029}"),
            ("备份成功 é ü ß", "备份成功 é ü ß"),
            ("quotes \"and\" back\\slash", "quotes \"and\" back\\slash"),
            ("emoji 🙂 zwj \u{200d}", "emoji 🙂 zwj \u{200d}"),
        ];
        for (raw, want) in cases {
            assert_eq!(shown(raw).to_string(), want, "{raw:?}");
        }
    }

    #[test]
    fn long_texts_are_cut_with_a_marker() {
        let long = "é".repeat(1000);
        let got = shown(&long).to_string();
        assert!(got.starts_with(&"é".repeat(MAX_CHARS)), "{got}");
        assert!(got.ends_with(&format!("…[+{} bytes]", 2 * (1000 - MAX_CHARS))));
        assert_eq!(shown("abcdef").capped(3).to_string(), "abc…[+3 bytes]");
        assert_eq!(shown("a\nb").capped(2).to_string(), r"a\n…[+1 bytes]");
        assert_eq!(shown("abc").capped(3).to_string(), "abc");
        assert_eq!(shown(&"x".repeat(MAX_CHARS)).to_string().len(), MAX_CHARS);
    }

    #[test]
    fn width_pads_the_shown_form() {
        assert_eq!(format!("[{:<8}]", shown("a\nb")), r"[a\nb    ]");
        assert_eq!(format!("[{:>5}]", shown("ok")), "[   ok]");
        assert_eq!(format!("[{:<3}]", shown("toolong")), "[toolong]");
    }

    #[test]
    fn json_keeps_the_data_and_escapes_what_serde_leaves_raw() {
        for value in [
            "plain",
            "\u{1b}[31m\n\r\u{7f}\u{9b}\u{85}",
            "ab\u{202e}dc\u{2066}\u{2028}",
            "备份 🙂",
        ] {
            let doc = serde_json::json!({ "v": value, "list": [value] });
            let compact = serde_json::to_string(&doc).unwrap();
            let pretty = serde_json::to_string_pretty(&doc).unwrap();
            for json in [compact, pretty] {
                let safe = json_safe(&json);
                assert!(!safe.chars().any(|c| c >= ' ' && is_unsafe(c)), "{safe}");
                let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
                assert_eq!(back, doc, "{safe}");
            }
        }
        assert!(matches!(json_safe("{\"v\":\"x\"}"), Cow::Borrowed(_)));
    }
}
