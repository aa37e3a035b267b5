//! The outside tools some tests need (Garage, tmux, systemd-analyze, tar, the official SDKs,
//! a tmpfs): one rule for when one is missing. On a developer's machine the test says SKIP and
//! returns; where `CI` is set (`.ci/run` installs every tool the tests use) a missing tool is a
//! failure, never a quiet pass.

/// Says that `test` cannot run because `why`; panics when `CI` is set.
///
/// # Panics
/// When the `CI` environment variable is set.
pub fn unavailable(test: &str, why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: CI is set but {why} (.ci/run installs what the tests need)"
    );
    eprintln!("SKIP {test}: {why}");
}

/// Whether `program` runs with `arg` (e.g. `--version`); if not, [`unavailable`] says so.
pub fn have(test: &str, program: &str, arg: &str) -> bool {
    let ok = std::process::Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        unavailable(test, &format!("{program} is not installed"));
    }
    ok
}
