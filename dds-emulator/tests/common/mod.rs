//! What the emulator's test files share: the HTTP client, and running an official SDK's
//! Python script against a running emulator.

use std::process::Command;
use std::sync::Once;
use std::time::Duration;

/// A client with ring as the TLS provider (installed once per test binary).
pub fn client() -> reqwest::Client {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Whether `python3` can import `module` (an official SDK); says SKIP for `test` when not.
pub fn sdk_available(test: &str, module: &str, package: &str) -> bool {
    let probe = Command::new("python3")
        .args(["-c", &format!("import {module}.client")])
        .output();
    let ok = probe.is_ok_and(|o| o.status.success());
    if !ok {
        let why = format!("python3 with {module} is not available (pip install {package})");
        dds_emulator::tools::unavailable(test, &why);
    }
    ok
}

/// Runs `tests/<script>` with python3 against the emulator at `url`, signing with the key pair;
/// its stdout, once it exited 0 and printed `<name>: ok` (`name` is the script's stem).
pub async fn run_sdk_script(script: &str, url: String, id: &str, secret: &str) -> String {
    let path = format!("{}/tests/{script}", env!("CARGO_MANIFEST_DIR"));
    let (id, secret) = (id.to_string(), secret.to_string());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(path)
            .arg(url)
            .env("SDK_COMPAT_ACCESS_KEY_ID", id)
            .env("SDK_COMPAT_ACCESS_KEY_SECRET", secret)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    let name = script.trim_end_matches(".py");
    assert!(stdout.contains(&format!("{name}: ok")), "{stdout}");
    stdout
}
