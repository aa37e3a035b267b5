//! Names that become path segments under the download directory: instance ids, node ids,
//! backup ids and file names taken from download URLs.
//!
//! Pure. Anything that could escape `download.dir` (a `/`, `..`, a NUL, a control character,
//! an absurd length) is refused or cleaned here, before any path is built.

const MAX_LEN: usize = 200;

/// Checks an id (instance, node, backup) used as one directory name. Ids are never rewritten:
/// two different ids must never map to the same folder.
///
/// # Errors
/// A one-line reason naming what is wrong with the id.
pub fn check_id(kind: &str, id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err(format!("{kind} is empty"));
    }
    if id.len() > MAX_LEN {
        return Err(format!(
            "{kind} is {} bytes long (at most {MAX_LEN})",
            id.len()
        ));
    }
    if id == "." || id == ".." {
        return Err(format!("{kind} {id:?} is not a valid name"));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "{kind} {:?} contains {c:?}; only letters, digits, '-', '_' and '.' are allowed",
            shorten(id)
        ));
    }
    Ok(())
}

/// The local file name for a download URL: its last path segment, percent-decoded, with
/// anything unsafe replaced by `_`.
///
/// # Errors
/// When nothing usable is left (an empty, `.` or `..` name).
pub fn file_name_from_url(url: &url::Url) -> Result<String, String> {
    let last = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or_default();
    let decoded = percent_decode(last);
    sanitize_file_name(&decoded)
}

/// Cleans a file name: path separators, NUL, control characters and other unsafe characters
/// become `_`; the result is capped in length (keeping the extension, which names the format).
///
/// # Errors
/// When nothing usable is left.
pub fn sanitize_file_name(raw: &str) -> Result<String, String> {
    let cleaned: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '=' | ',') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.').to_string();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '_' || c == '.') {
        return Err(format!(
            "download URL file name {:?} is not usable",
            shorten(raw)
        ));
    }
    Ok(cap_length(&cleaned))
}

/// Keeps at most `MAX_LEN` bytes, preserving a short extension such as `.tar.gz` or `_qp.xb`.
fn cap_length(name: &str) -> String {
    if name.len() <= MAX_LEN {
        return name.to_string();
    }
    let tail_start = name.len().saturating_sub(16);
    let tail = &name[tail_start..];
    format!("{}~{}", &name[..MAX_LEN - 17], tail)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn shorten(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The prefix every `ClusterBackupId` has (`cb-o8c2ugnxo26kx***`). The layout relies on it:
/// `<instance>/<x>/<y>` is a cluster backup's node folder when `<x>` starts with it, else a
/// shard node's backup folder (shard ids start with `d-`).
pub const CLUSTER_PREFIX: &str = "cb-";

/// Checks a `ClusterBackupId` used as a folder name: a safe id with the [`CLUSTER_PREFIX`].
///
/// # Errors
/// A one-line reason.
pub fn check_cluster_id(id: &str) -> Result<(), String> {
    check_id("cluster backup id", id)?;
    if !id.starts_with(CLUSTER_PREFIX) {
        return Err(format!(
            "cluster backup id {id:?} does not start with {CLUSTER_PREFIX:?} as the layout needs"
        ));
    }
    Ok(())
}

/// Whether `text` matches the glob `pattern`: `*` any run of characters, `?` one character,
/// anything else itself (`dds-bp1*`). Pure; linear in practice, without backtracking blow-up
/// (the classic two-pointer match).
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (p, t, m) in [
            ("dds-bp1*", "dds-bp1abc", true),
            ("dds-bp1*", "dds-bp2abc", false),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("d?s-*-prod", "dds-a-prod", true),
            ("d?s-*-prod", "dds-a-prodx", false),
            ("*a*b*c", "xaybzc", true),
            ("*a*b*c", "xaybz", false),
            ("exact", "exact", true),
        ] {
            assert_eq!(glob(p, t), m, "{p:?} {t:?}");
        }
    }

    #[test]
    fn ids() {
        for ok in ["dds-bp1a7009eb24", "d-demo-shard-0", "32102", "a.b_c"] {
            assert!(check_id("instance id", ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "../x", "a\0b", "a\nb", "a b", "é"] {
            let err = check_id("backup id", bad).unwrap_err();
            assert!(err.starts_with("backup id"), "{err}");
        }
        assert!(check_id("id", &"x".repeat(4096)).is_err());
    }

    #[test]
    fn file_names_from_urls() {
        let cases = [
            (
                "http://h/c/hins1_data_2022_qp.xb?Expires=1&Signature=x",
                Ok("hins1_data_2022_qp.xb"),
            ),
            ("http://h/c/backup.tar.gz", Ok("backup.tar.gz")),
            ("http://h/c/..%2F..%2Fetc%2Fpasswd", Ok("_.._etc_passwd")),
            ("http://h/c/a%00b.ar", Ok("a_b.ar")),
            ("http://h/c/%0a%0d.ar", Ok("__.ar")),
            ("http://h/c/..", Err(())),
            ("http://h/", Err(())),
            ("http://h/c/%2e%2e", Err(())),
        ];
        for (raw, want) in cases {
            let got = file_name_from_url(&url::Url::parse(raw).unwrap());
            match want {
                Ok(name) => assert_eq!(got.as_deref(), Ok(name), "{raw}"),
                Err(()) => assert!(got.is_err(), "{raw} gave {got:?}"),
            }
        }
    }

    #[test]
    fn long_names_keep_their_extension() {
        let long = format!("{}_qp.xb", "a".repeat(4096));
        let name = sanitize_file_name(&long).unwrap();
        assert!(name.len() <= MAX_LEN);
        assert!(name.ends_with("_qp.xb"));
    }
}
