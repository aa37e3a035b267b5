//! The house rules, checked on the daemon's source (`src/`, test code excluded):
//! - no module imports one that imports it, neither between files nor between top-level
//!   modules (a parent declaring and re-exporting its children does not count);
//! - only the store touches the filesystem of the download dir: filesystem calls appear only in
//!   `store` and in the few modules that own other files (the config file, the aliyun CLI
//!   profile, the metrics file);
//! - the pure core (model, planner, retention, check, verdicts, format checks, names, signing)
//!   imports none of the I/O shell;
//! - no file over 500 lines of non-test code, no function over 80 lines.
//!
//! It reads the source as text (a small parser of `crate::`/`super::` paths and `use` trees),
//! so it needs no extra crate and runs in milliseconds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

struct Source {
    module: Module,
    path: PathBuf,
    /// The code before the first `#[cfg(test)]` at the start of a line.
    code: String,
}

fn sources() -> Vec<Source> {
    sources_in("src")
}

/// The sources of the bundled emulator (its own crate): held to the same size limits.
fn emulator_sources() -> Vec<Source> {
    sources_in("dds-emulator/src")
}

fn sources_in(folder: &str) -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort_by(|a, b| a.module.cmp(&b.module));
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<Source>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap().to_path_buf();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .into_owned();
        // Binaries are thin shells; the bundled emulator is a fake server, not the daemon.
        if first == "bin" || first == "emulator" {
            continue;
        }
        if path.is_dir() {
            if path.file_name().unwrap() != "tests" {
                walk(root, &path, out);
            }
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".rs") || name == "tests.rs" {
            continue;
        }
        let mut module: Module = rel
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if matches!(
            module.last().map(String::as_str),
            Some("mod" | "lib" | "main")
        ) {
            module.pop();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // Comment lines (docs name modules in links) are not code.
        let code = text
            .split("\n#[cfg(test)]")
            .next()
            .unwrap_or_default()
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("//") {
                    ""
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        out.push(Source { module, path, code });
    }
}

/// Every path that starts with `crate::` or `super::` (use trees expanded), as written.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let bytes: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let boundary = i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_');
        for start in ["crate::", "super::"] {
            if boundary && starts_with(&bytes, i, start) {
                let mut j = i;
                tree(&bytes, &mut j, Vec::new(), &mut out);
                i = j;
                break;
            }
        }
        i += 1;
    }
    out
}

fn starts_with(s: &[char], at: usize, word: &str) -> bool {
    word.chars()
        .enumerate()
        .all(|(k, c)| s.get(at + k) == Some(&c))
}

fn ident(s: &[char], j: &mut usize) -> Option<String> {
    let start = *j;
    while *j < s.len() && (s[*j].is_alphanumeric() || s[*j] == '_') {
        *j += 1;
    }
    (*j > start).then(|| s[start..*j].iter().collect())
}

fn skip_ws(s: &[char], j: &mut usize) {
    while *j < s.len() && s[*j].is_whitespace() {
        *j += 1;
    }
}

/// Parses `a::b::{c, d::{e, f}}` at `j`, pushing each full path (prefix included).
fn tree(s: &[char], j: &mut usize, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    loop {
        skip_ws(s, j);
        if *j < s.len() && s[*j] == '{' {
            *j += 1;
            loop {
                tree(s, j, prefix.clone(), out);
                skip_ws(s, j);
                match s.get(*j) {
                    Some(',') => *j += 1,
                    Some('}') => {
                        *j += 1;
                        return;
                    }
                    _ => return,
                }
                skip_ws(s, j);
                if s.get(*j) == Some(&'}') {
                    *j += 1;
                    return;
                }
            }
        }
        match ident(s, j) {
            Some(id) if id != "self" => prefix.push(id),
            Some(_) => {}
            None => {
                out.push(prefix);
                return;
            }
        }
        if starts_with(s, *j, "::") {
            *j += 2;
        } else {
            out.push(prefix);
            return;
        }
    }
}

/// The module a path names: the longest prefix that is a module; `super` is resolved from
/// `from`, `crate` from the root.
fn resolve(from: &Module, path: &[String], modules: &BTreeSet<Module>) -> Option<Module> {
    let mut base: Module = Vec::new();
    let mut rest = path;
    if rest.first().map(String::as_str) == Some("crate") {
        rest = &rest[1..];
    } else {
        base = from.clone();
        while rest.first().map(String::as_str) == Some("super") {
            base.pop();
            rest = &rest[1..];
        }
    }
    let full: Module = base.iter().chain(rest).cloned().collect();
    (0..=full.len())
        .rev()
        .map(|n| full[..n].to_vec())
        .find(|m| modules.contains(m))
}

fn graph(sources: &[Source]) -> BTreeMap<Module, BTreeSet<Module>> {
    let modules: BTreeSet<Module> = sources.iter().map(|s| s.module.clone()).collect();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for src in sources {
        let entry = edges.entry(src.module.clone()).or_default();
        for p in paths_in(&src.code) {
            let Some(target) = resolve(&src.module, &p, &modules) else {
                continue;
            };
            // A module's own children (declared and re-exported) are not a dependency back.
            if target.starts_with(&src.module) {
                continue;
            }
            entry.insert(target);
        }
    }
    edges
}

/// A cycle, as the modules on it, if there is one.
fn find_cycle<N: Ord + Clone>(edges: &BTreeMap<N, BTreeSet<N>>) -> Option<Vec<N>> {
    fn visit<N: Ord + Clone>(
        n: &N,
        edges: &BTreeMap<N, BTreeSet<N>>,
        done: &mut BTreeSet<N>,
        stack: &mut Vec<N>,
    ) -> Option<Vec<N>> {
        if let Some(at) = stack.iter().position(|x| x == n) {
            return Some(stack[at..].to_vec());
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.clone());
        for next in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, edges, done, stack) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.clone());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|n| visit(n, edges, &mut done, &mut Vec::new()))
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

#[test]
fn no_module_imports_one_that_imports_it() {
    let sources = sources();
    let files = graph(&sources);
    if let Some(c) = find_cycle(&files) {
        panic!(
            "import circle between files: {}",
            c.iter().map(name).collect::<Vec<_>>().join(" -> ")
        );
    }
    let mut tops: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in &files {
        let top = |m: &Module| m.first().cloned().unwrap_or_else(|| "crate".into());
        for t in to {
            if top(from) != top(t) && !t.is_empty() && !from.is_empty() {
                tops.entry(top(from)).or_default().insert(top(t));
            }
        }
    }
    if let Some(c) = find_cycle(&tops) {
        panic!(
            "import circle between top-level modules: {}",
            c.join(" -> ")
        );
    }
    // The parser must see the obvious edges, or the check above proves nothing.
    let sync_run = files
        .get(&vec!["sync".to_string(), "run".to_string()])
        .unwrap();
    assert!(
        sync_run.contains(&vec!["store".to_string()]),
        "{sync_run:?}"
    );
    assert!(sync_run.contains(&vec!["sync".to_string(), "plan".to_string()]));
}

/// Modules that own files other than the download dir's, and so may call the filesystem.
const FS_OWNERS: [&str; 4] = ["store", "config", "api::credentials::profile", "metrics"];

#[test]
fn only_the_store_touches_the_download_dir() {
    // `tokio::fs::…` calls match the same texts (`fs::write(` is in `tokio::fs::write(`).
    const CALLS: [&str; 16] = [
        "File::create(",
        "DirBuilder",
        "fs::read(",
        "fs::read_to_string(",
        "fs::write(",
        "fs::remove_",
        "fs::rename(",
        "fs::create_dir",
        "fs::metadata(",
        "fs::symlink_metadata(",
        "fs::read_dir(",
        "fs::copy(",
        "fs::hard_link(",
        "fs::set_permissions(",
        "File::open(",
        "OpenOptions",
    ];
    let mut offenders = Vec::new();
    for src in sources() {
        let m = name(&src.module);
        if FS_OWNERS
            .iter()
            .any(|o| m == *o || m.starts_with(&format!("{o}::")))
        {
            continue;
        }
        for (n, line) in src.code.lines().enumerate() {
            if let Some(call) = CALLS.iter().find(|c| line.contains(*c)) {
                offenders.push(format!("{}:{}: {call}", src.path.display(), n + 1));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "filesystem calls outside the store: {offenders:#?}"
    );
}

#[test]
fn the_pure_core_imports_no_part_of_the_io_shell() {
    const CORE: [&str; 17] = [
        "model",
        "sync::offsite::plan",
        "sync::export::step",
        "api::model::dbs",
        "fleet",
        "api::query",
        "bucket",
        "verify::select",
        "sync::plan",
        "sync::prune",
        "sync::check",
        "verify::verdict",
        "verify::format",
        "names",
        "units",
        "hex",
        "api::sign",
    ];
    const SHELL: [&str; 12] = [
        "store",
        "archive",
        "api::dbs",
        "sync::export",
        "http",
        "api::client",
        "listing",
        "app",
        "commands",
        "daemon",
        "metrics",
        "progress",
    ];
    let files = graph(&sources());
    let mut wrong = Vec::new();
    for (from, to) in &files {
        let f = name(from);
        if !CORE
            .iter()
            .any(|c| f == *c || f.starts_with(&format!("{c}::")))
        {
            continue;
        }
        for t in to {
            let t = name(t);
            if SHELL
                .iter()
                .any(|s| t == *s || t.starts_with(&format!("{s}::")))
            {
                wrong.push(format!("{f} imports {t}"));
            }
            // Domain values live in `model`; `api` keeps wire types and their conversions, so
            // the core outside `api` imports none of it (issue #22).
            if !f.starts_with("api") && (t == "api" || t.starts_with("api::")) {
                wrong.push(format!("{f} imports {t}: take the value from model"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn files_and_functions_stay_livable() {
    let mut big = Vec::new();
    for src in sources().into_iter().chain(emulator_sources()) {
        let lines: Vec<&str> = src.code.lines().collect();
        if lines.len() > 500 {
            big.push(format!("{}: {} lines", src.path.display(), lines.len()));
        }
        for (start, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let is_fn = [
                "fn ",
                "pub fn ",
                "async fn ",
                "pub async fn ",
                "pub(crate) fn ",
                "pub(super) fn ",
                "pub(super) async fn ",
                "pub(crate) async fn ",
            ]
            .iter()
            .any(|p| trimmed.starts_with(p));
            if !is_fn || line.trim_end().ends_with(';') {
                continue;
            }
            let indent = &line[..line.len() - trimmed.len()];
            let end = lines[start..]
                .iter()
                .position(|l| l.trim_end() == format!("{indent}}}"))
                .unwrap_or(0);
            if end + 1 > 80 {
                big.push(format!(
                    "{}:{}: a function of {} lines",
                    src.path.display(),
                    start + 1,
                    end + 1
                ));
            }
        }
    }
    assert!(big.is_empty(), "{big:#?}");
}

#[test]
fn chrono_stays_inside_the_schedule() {
    // The program speaks `time`; croner needs chrono, so only schedule.rs converts.
    let users: Vec<String> = sources()
        .into_iter()
        .filter(|s| name(&s.module) != "schedule" && s.code.contains("chrono"))
        .map(|s| s.path.display().to_string())
        .collect();
    assert!(users.is_empty(), "{users:?}");
}
