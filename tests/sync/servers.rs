//! Small scripted servers on 127.0.0.1:0 for what the emulator cannot show or do:
//! - [`ApiProxy`] (in `tests/common`) forwards `DescribeBackups` to the emulator and records
//!   every call's parameters (the emulator's stats count calls but not their `BackupId`);
//! - [`Scripted`] answers file GETs with whatever the test scripts (e.g. a 206 that ignores
//!   `If-Range`, with no CRC header), recording the `Range`/`If-Range` it saw;
//! - [`Mute`] accepts connections and never answers (a server that hangs before the headers).
//!
//! Each stops by itself when dropped (the HTTP ones through `common::serve`).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use tokio_util::sync::CancellationToken;

pub use crate::common::proxy::ApiProxy;
use crate::common::{Served, serve};

/// What a [`Scripted`] server saw of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
    pub if_range: Option<String>,
}

/// (URL path, request headers) → the answer.
type Script = Arc<dyn Fn(&str, &HeaderMap) -> Response + Send + Sync>;

/// A file server whose every answer comes from the test's script.
pub struct Scripted {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    _server: Served,
}

impl Scripted {
    pub async fn start(
        script: impl Fn(&str, &HeaderMap) -> Response + Send + Sync + 'static,
    ) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state: (Script, Arc<Mutex<Vec<Seen>>>) = (Arc::new(script), seen.clone());
        let app = Router::new().fallback(scripted).with_state(state);
        let server = serve(app).await;
        Scripted {
            url: server.url.clone(),
            seen,
            _server: server,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn scripted(
    State((script, seen)): State<(Script, Arc<Mutex<Vec<Seen>>>)>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let text = |h: &str| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    seen.lock().unwrap().push(Seen {
        path: uri.path().to_string(),
        range: text("range"),
        if_range: text("if-range"),
    });
    script(uri.path(), &headers)
}

/// Accepts connections and holds them open without a byte of answer, until dropped.
pub struct Mute {
    pub url: String,
    accepted: Arc<std::sync::atomic::AtomicU64>,
    stop: CancellationToken,
}

impl Mute {
    pub async fn start() -> Mute {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stop = CancellationToken::new();
        let (count, token) = (accepted.clone(), stop.clone());
        tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                tokio::select! {
                    () = token.cancelled() => break,
                    conn = listener.accept() => match conn {
                        Ok((socket, _)) => {
                            held.push(socket);
                            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        Err(_) => break,
                    },
                }
            }
        });
        Mute {
            url,
            accepted,
            stop,
        }
    }

    pub fn accepted(&self) -> u64 {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Mute {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The N of a `Range: bytes=N-` request header, when N is inside an object of `len` bytes.
pub fn range_start(headers: &HeaderMap, len: usize) -> Option<usize> {
    headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n < len)
}
