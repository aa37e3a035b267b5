//! The one way this program builds HTTP clients: rustls with the ring provider and the
//! Mozilla (webpki) root store, so TLS behaves the same on every host whatever its CA bundle.
//! There is deliberately no option to skip certificate verification.

use std::sync::Arc;
use std::time::Duration;

/// Installs the ring crypto provider for this process; harmless when already installed.
/// reqwest panics on first use without one, so every binary and test calls this first.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn tls_config() -> rustls::ClientConfig {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("invariant: ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// A client with the given connect and read timeouts (a read timeout, not a whole-request
/// timeout, so multi-gigabyte downloads are not cut off while data still flows).
///
/// # Errors
/// Only when the TLS backend cannot be initialised, which is a build problem.
pub fn client(
    connect_timeout: Duration,
    read_timeout: Duration,
) -> reqwest::Result<reqwest::Client> {
    install_crypto_provider();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config())
        .connect_timeout(connect_timeout)
        .read_timeout(read_timeout)
        .user_agent(concat!("dds-backup-sync/", env!("CARGO_PKG_VERSION")))
        // Presigned URLs must be fetched exactly as given; OSS does not redirect them.
        .redirect(reqwest::redirect::Policy::none())
        .build()
}
