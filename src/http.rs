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

/// How one client behaves. Every client of the program (the API, the downloads, the ECS
/// metadata service) is built here, so TLS, the user agent and the redirect rule are the same.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub connect_timeout: Duration,
    /// Between two reads, not for the whole request: multi-gigabyte downloads are not cut off
    /// while data still flows.
    pub read_timeout: Duration,
    /// For the whole request (small answers only, such as the metadata service's).
    pub total_timeout: Option<Duration>,
    /// Never go through `HTTP_PROXY` (the metadata service is this host's, not a proxy's).
    pub no_proxy: bool,
}

impl Options {
    /// # Errors
    /// Only when the TLS backend cannot be initialised, which is a build problem.
    pub fn build(self) -> reqwest::Result<reqwest::Client> {
        install_crypto_provider();
        let mut b = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config())
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .user_agent(concat!("dds-backup-sync/", env!("CARGO_PKG_VERSION")))
            // Presigned URLs must be fetched exactly as given; OSS does not redirect them.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(t) = self.total_timeout {
            b = b.timeout(t);
        }
        if self.no_proxy {
            b = b.no_proxy();
        }
        b.build()
    }
}

/// A client with the given connect and read timeouts.
///
/// # Errors
/// Only when the TLS backend cannot be initialised, which is a build problem.
pub fn client(
    connect_timeout: Duration,
    read_timeout: Duration,
) -> reqwest::Result<reqwest::Client> {
    Options {
        connect_timeout,
        read_timeout,
        total_timeout: None,
        no_proxy: false,
    }
    .build()
}
