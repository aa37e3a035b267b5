//! A recording proxy in front of the emulator's API: it forwards every call, records its
//! parameters, and can hold a call until the test's condition is met (to show which calls a
//! client sends while another one is still unanswered). Stops when dropped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{Served, serve};

pub type Params = Vec<(String, String)>;

/// Decides, for a call's parameters and every call seen so far, whether to hold it a little
/// longer (asked again every few milliseconds, for at most [`HOLD_AT_MOST`]).
pub type Hold = Arc<dyn Fn(&Params, &[Params]) -> bool + Send + Sync>;

/// Decides, for a call's parameters, whether the proxy refuses it as the API refuses an
/// unknown AccessKey (`InvalidAccessKeyId.NotFound`, with [`REFUSED_REQUEST_ID`]).
pub type Refuse = Arc<dyn Fn(&Params) -> bool + Send + Sync>;

/// The RequestId of every call the proxy refuses.
pub const REFUSED_REQUEST_ID: &str = "5C4E2F1A-REFUSED-BY-THE-TEST-PROXY";

/// A held call is answered after this long whatever the condition says.
pub const HOLD_AT_MOST: Duration = Duration::from_secs(10);

/// A recording proxy in front of the emulator's API. The RPC signature covers the parameters
/// and the method, not the host, so forwarding keeps it valid.
pub struct ApiProxy {
    pub url: String,
    calls: Arc<Mutex<Vec<Params>>>,
    _server: Served,
}

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    calls: Arc<Mutex<Vec<Params>>>,
    hold: Option<Hold>,
    refuse: Option<Refuse>,
}

impl ApiProxy {
    pub async fn start(upstream: &str) -> ApiProxy {
        ApiProxy::start_holding(upstream, None).await
    }

    /// A proxy that holds each call for which `hold` says so.
    pub async fn start_holding(upstream: &str, hold: Option<Hold>) -> ApiProxy {
        ApiProxy::start_with(upstream, hold, None).await
    }

    /// A proxy that refuses each call for which `refuse` says so, as the API refuses a key.
    pub async fn start_refusing(upstream: &str, refuse: Refuse) -> ApiProxy {
        ApiProxy::start_with(upstream, None, Some(refuse)).await
    }

    async fn start_with(upstream: &str, hold: Option<Hold>, refuse: Option<Refuse>) -> ApiProxy {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let state = ProxyState {
            upstream: upstream.to_string(),
            http: dds_backup_sync::http::client(Duration::from_secs(5), Duration::from_secs(10))
                .unwrap(),
            calls: calls.clone(),
            hold,
            refuse,
        };
        let app = Router::new().fallback(forward).with_state(state);
        let server = serve(app).await;
        ApiProxy {
            url: server.url.clone(),
            calls,
            _server: server,
        }
    }

    /// The parameters of every call, in the order they came.
    pub fn calls(&self) -> Vec<Params> {
        self.calls.lock().unwrap().clone()
    }

    /// The `BackupId` parameter of every call that had one, in order.
    pub fn backup_ids(&self) -> Vec<String> {
        self.calls()
            .iter()
            .filter_map(|p| param(p, "BackupId"))
            .collect()
    }
}

/// The value of `name` in a call's parameters.
pub fn param(p: &Params, name: &str) -> Option<String> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

async fn forward(
    State(st): State<ProxyState>,
    method: axum::http::Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut params: Params = url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    params.extend(url::form_urlencoded::parse(&body).into_owned());
    st.calls.lock().unwrap().push(params.clone());
    if let Some(hold) = &st.hold {
        let calls = st.calls.clone();
        let params = params.clone();
        let hold = hold.clone();
        super::poll(HOLD_AT_MOST, move || !hold(&params, &calls.lock().unwrap())).await;
    }
    if st.refuse.as_ref().is_some_and(|refuse| refuse(&params)) {
        let body = serde_json::json!({
            "RequestId": REFUSED_REQUEST_ID,
            "Code": "InvalidAccessKeyId.NotFound",
            "Message": "Specified access key is not found.",
        });
        let json = [("content-type", "application/json")];
        return (StatusCode::NOT_FOUND, json, body.to_string()).into_response();
    }
    let mut url = format!("{}/", st.upstream);
    if let Some(q) = &query {
        url = format!("{url}?{q}");
    }
    let mut req = st.http.request(method, url).body(body);
    if let Some(ct) = headers.get("content-type") {
        req = req.header("content-type", ct);
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            let mut out = HeaderMap::new();
            for name in ["content-type", "date"] {
                if let Some(v) = resp.headers().get(name) {
                    out.insert(name, v.clone());
                }
            }
            let body = resp.bytes().await.unwrap_or_default();
            (status, out, body).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
