//! The credential chain against a fake ECS metadata service on 127.0.0.1:0: the token flow,
//! role discovery, refresh before expiry, the no-token fallback, failures, and the profile
//! file. The environment is injected through a closure (never `set_var`).

mod common;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use dds_backup_sync::api::credentials::{CredentialError, CredentialOptions, CredentialProvider};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const SESSION_TOKEN: &str = "session-token-1";
const ROLE: &str = "backup-role";

/// One scripted answer to `GET .../security-credentials/<role>`.
#[derive(Clone, Debug)]
enum Reply {
    Creds {
        id: &'static str,
        valid_for: time::Duration,
    },
    Code(&'static str),
    Status(u16),
}

fn creds(id: &'static str, valid_for: time::Duration) -> Reply {
    Reply::Creds { id, valid_for }
}

/// The fake service's script and what it saw.
struct Fake {
    /// Whether `PUT /latest/api/token` works (and the token is then required), or gives 404.
    hardened: bool,
    role: &'static str,
    /// Answers in order; the last one repeats.
    replies: Mutex<VecDeque<Reply>>,
    token_calls: AtomicUsize,
    list_calls: AtomicUsize,
    cred_calls: AtomicUsize,
    /// The token header of every GET.
    seen_tokens: Mutex<Vec<Option<String>>>,
}

impl Fake {
    fn new(hardened: bool, replies: impl IntoIterator<Item = Reply>) -> Fake {
        Fake {
            hardened,
            role: ROLE,
            replies: Mutex::new(replies.into_iter().collect()),
            token_calls: AtomicUsize::new(0),
            list_calls: AtomicUsize::new(0),
            cred_calls: AtomicUsize::new(0),
            seen_tokens: Mutex::new(Vec::new()),
        }
    }

    fn calls(&self) -> (usize, usize, usize) {
        (
            self.token_calls.load(Ordering::SeqCst),
            self.list_calls.load(Ordering::SeqCst),
            self.cred_calls.load(Ordering::SeqCst),
        )
    }

    /// Records the GET's token; false when it is not what this mode expects.
    fn token_ok(&self, headers: &HeaderMap) -> bool {
        let got = headers
            .get("x-aliyun-ecs-metadata-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let ok = if self.hardened {
            got.as_deref() == Some(SESSION_TOKEN)
        } else {
            got.is_none()
        };
        self.seen_tokens.lock().unwrap().push(got);
        ok
    }
}

async fn token(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    fake.token_calls.fetch_add(1, Ordering::SeqCst);
    if !fake.hardened {
        return StatusCode::NOT_FOUND.into_response();
    }
    let ttl = headers
        .get("x-aliyun-ecs-metadata-token-ttl-seconds")
        .and_then(|v| v.to_str().ok());
    if ttl != Some("21600") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    SESSION_TOKEN.into_response()
}

async fn list_roles(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    fake.list_calls.fetch_add(1, Ordering::SeqCst);
    if !fake.token_ok(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    fake.role.into_response()
}

async fn role_creds(
    State(fake): State<Arc<Fake>>,
    Path(role): Path<String>,
    headers: HeaderMap,
) -> Response {
    fake.cred_calls.fetch_add(1, Ordering::SeqCst);
    if !fake.token_ok(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if role != fake.role {
        return StatusCode::NOT_FOUND.into_response();
    }
    let reply = {
        let mut replies = fake.replies.lock().unwrap();
        if replies.len() > 1 {
            replies.pop_front()
        } else {
            replies.front().cloned()
        }
    };
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let body = match reply {
        Some(Reply::Creds { id, valid_for }) => serde_json::json!({
            "Code": "Success",
            "AccessKeyId": id,
            "AccessKeySecret": format!("secret-{id}"),
            "SecurityToken": format!("sts-{id}"),
            "Expiration": (now + valid_for).format(&Rfc3339).unwrap(),
            "LastUpdated": now.format(&Rfc3339).unwrap(),
        }),
        Some(Reply::Code(code)) => serde_json::json!({ "Code": code }),
        Some(Reply::Status(status)) => {
            return StatusCode::from_u16(status).unwrap().into_response();
        }
        None => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    // The real service answers text/plain.
    ([(header::CONTENT_TYPE, "text/plain")], body.to_string()).into_response()
}

/// A running fake; dropping it stops the server.
struct Server {
    url: String,
    fake: Arc<Fake>,
    _served: common::Served,
}

async fn serve(fake: Fake) -> Server {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = Arc::new(fake);
    let app = Router::new()
        .route("/latest/api/token", put(token))
        .route(
            "/latest/meta-data/ram/security-credentials/",
            get(list_roles),
        )
        .route(
            "/latest/meta-data/ram/security-credentials/{role}",
            get(role_creds),
        )
        .with_state(fake.clone());
    let served = common::serve(app).await;
    Server {
        url: served.url.clone(),
        fake,
        _served: served,
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

/// Options that reach the metadata service at `url`, with no profile file in the way.
fn opts(url: &str) -> CredentialOptions {
    CredentialOptions {
        ecs_metadata_url: url.to_string(),
        profile_path: Some(PathBuf::from(
            "/nonexistent/dds-backup-sync-tests/config.json",
        )),
        ..CredentialOptions::default()
    }
}

fn with_role(url: &str, role: &str) -> CredentialOptions {
    CredentialOptions {
        ecs_role_name: Some(role.to_string()),
        ..opts(url)
    }
}

async fn provider(opts: &CredentialOptions) -> Result<CredentialProvider, CredentialError> {
    CredentialProvider::from_settings_with_env(opts, &no_env).await
}

#[tokio::test]
async fn token_flow_discovers_the_role_and_caches() {
    let server = serve(Fake::new(
        true,
        [creds("STS.one", time::Duration::hours(6))],
    ))
    .await;
    let p = provider(&opts(&server.url)).await.expect("provider");
    assert_eq!(p.source_name(), "ECS RAM role 'backup-role'");

    let c = p.get().await.expect("credentials");
    assert_eq!(c.access_key_id, "STS.one");
    assert_eq!(c.access_key_secret.expose(), "secret-STS.one");
    assert_eq!(
        c.security_token.as_ref().map(|t| t.expose()),
        Some("sts-STS.one")
    );
    let again = p.clone().get().await.expect("credentials");
    assert_eq!(again, c);

    // One token, one discovery, one fetch: the far-off expiry means no refresh.
    assert_eq!(server.fake.calls(), (1, 1, 1));
    let seen = server.fake.seen_tokens.lock().unwrap().clone();
    assert_eq!(seen, vec![Some(SESSION_TOKEN.to_string()); 2]);
}

#[tokio::test]
async fn credentials_close_to_expiry_are_fetched_again() {
    let replies = [
        creds("STS.one", time::Duration::minutes(1)),
        creds("STS.two", time::Duration::hours(6)),
    ];
    let server = serve(Fake::new(true, replies)).await;
    let p = provider(&opts(&server.url)).await.expect("provider");
    assert_eq!(server.fake.calls(), (1, 1, 1));

    assert_eq!(p.get().await.expect("refreshed").access_key_id, "STS.two");
    // The role is not rediscovered; the token is asked for anew.
    assert_eq!(server.fake.calls(), (2, 1, 2));
    assert_eq!(p.get().await.expect("cached").access_key_id, "STS.two");
    assert_eq!(server.fake.calls(), (2, 1, 2));
}

#[tokio::test]
async fn concurrent_callers_share_one_refresh() {
    let replies = [
        creds("STS.one", time::Duration::minutes(1)),
        creds("STS.two", time::Duration::hours(6)),
    ];
    let server = serve(Fake::new(false, replies)).await;
    let p = provider(&opts(&server.url)).await.expect("provider");
    let results = futures::future::join_all((0..8).map(|_| {
        let p = p.clone();
        async move { p.get().await }
    }))
    .await;
    for r in results {
        assert_eq!(r.expect("credentials").access_key_id, "STS.two");
    }
    assert_eq!(server.fake.cred_calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn failed_refresh_keeps_valid_credentials_and_backs_off() {
    let replies = [
        creds("STS.one", time::Duration::minutes(2)),
        Reply::Status(500),
    ];
    let server = serve(Fake::new(true, replies)).await;
    let p = provider(&with_role(&server.url, ROLE))
        .await
        .expect("provider");

    assert_eq!(
        p.get().await.expect("old ones kept").access_key_id,
        "STS.one"
    );
    assert_eq!(server.fake.cred_calls.load(Ordering::SeqCst), 2);
    // Within the back-off the metadata service is not asked again.
    assert_eq!(
        p.get().await.expect("old ones kept").access_key_id,
        "STS.one"
    );
    assert_eq!(server.fake.cred_calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn token_endpoint_404_falls_back_to_no_token() {
    let server = serve(Fake::new(
        false,
        [creds("STS.one", time::Duration::hours(6))],
    ))
    .await;
    let p = provider(&opts(&server.url)).await.expect("provider");
    assert_eq!(p.get().await.expect("credentials").access_key_id, "STS.one");
    assert_eq!(server.fake.calls(), (1, 1, 1));
    assert_eq!(*server.fake.seen_tokens.lock().unwrap(), vec![None, None]);
}

#[tokio::test]
async fn configured_role_skips_discovery() {
    let server = serve(Fake::new(
        true,
        [creds("STS.one", time::Duration::hours(6))],
    ))
    .await;
    let p = provider(&with_role(&server.url, ROLE))
        .await
        .expect("provider");
    assert_eq!(p.source_name(), "ECS RAM role 'backup-role'");
    assert_eq!(server.fake.calls(), (1, 0, 1));
}

#[tokio::test]
async fn code_other_than_success_is_an_error() {
    let server = serve(Fake::new(true, [Reply::Code("Failed")])).await;
    let err = provider(&with_role(&server.url, ROLE))
        .await
        .expect_err("Code Failed");
    assert!(
        matches!(err, CredentialError::MetadataCode { .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        format!(
            "ECS metadata service {}/latest/meta-data/ram/security-credentials/backup-role: credentials for RAM \
             role 'backup-role' came with Code \"Failed\", not \"Success\"",
            server.url
        )
    );
}

#[tokio::test]
async fn already_expired_credentials_point_at_the_clock() {
    let server = serve(Fake::new(
        true,
        [creds("STS.one", time::Duration::minutes(-1))],
    ))
    .await;
    let err = provider(&with_role(&server.url, ROLE))
        .await
        .expect_err("expired");
    assert!(matches!(err, CredentialError::Expired { .. }), "{err:?}");
    assert!(err.to_string().contains("check the host clock"), "{err}");
}

#[tokio::test]
async fn role_not_attached_is_a_404_with_a_hint() {
    let server = serve(Fake::new(
        true,
        [creds("STS.one", time::Duration::hours(6))],
    ))
    .await;
    let err = provider(&with_role(&server.url, "other-role"))
        .await
        .expect_err("404");
    assert!(
        matches!(err, CredentialError::MetadataStatus { status: 404, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .ends_with("answered HTTP 404; is this RAM role attached to the instance?"),
        "{err}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn unreachable_metadata_is_a_clear_error() {
    // A port that was just free: connections are refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);

    let err = provider(&with_role(&url, ROLE))
        .await
        .expect_err("unreachable");
    assert!(
        matches!(err, CredentialError::MetadataUnreachable { .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    let text = err.to_string();
    assert!(text.starts_with(&format!("ECS metadata service {url}/latest/meta-data/ram/security-credentials/backup-role: cannot connect")), "{text}");

    // As the last resort of the chain, the failure joins the list of what was tried.
    let err = provider(&opts(&url)).await.expect_err("nothing found");
    assert!(matches!(err, CredentialError::NotFound { .. }), "{err:?}");
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(
        text.starts_with("no credentials found (tried: environment: "),
        "{text}"
    );
    assert!(text.contains(&format!("ECS RAM role: ECS metadata service {url}/latest/meta-data/ram/security-credentials/: cannot connect")), "{text}");
}

#[tokio::test]
async fn silent_metadata_times_out_after_a_second_per_call() {
    // Accepted by the kernel's backlog, never answered.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let started = Instant::now();
    let err = provider(&with_role(&url, ROLE)).await.expect_err("timeout");
    // The token call and the credentials call each wait their 1 s.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(err.is_retryable());
    assert!(err.to_string().contains("no answer within 1 s"), "{err}");
    drop(listener);
}

#[tokio::test]
async fn profile_file_ak_and_ecs_modes() {
    let server = serve(Fake::new(
        true,
        [creds("STS.one", time::Duration::hours(6))],
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let file = serde_json::json!({
        "current": "default",
        "profiles": [
            {"name": "default", "mode": "AK", "access_key_id": "PROFILE_ID", "access_key_secret": "profile-secret"},
            {"name": "ecs", "mode": "EcsRamRole", "ram_role_name": ROLE},
            {"name": "arn", "mode": "RamRoleArn"}
        ]
    });
    std::fs::write(&path, file.to_string()).unwrap();
    let base = CredentialOptions {
        profile_path: Some(path),
        ..opts(&server.url)
    };

    let p = provider(&base).await.expect("AK profile");
    assert_eq!(p.source_name(), "aliyun profile 'default'");
    assert_eq!(
        p.get().await.unwrap().access_key_secret.expose(),
        "profile-secret"
    );
    assert_eq!(server.fake.calls(), (0, 0, 0));

    let ecs = CredentialOptions {
        profile_name: Some("ecs".into()),
        ..base.clone()
    };
    let p = provider(&ecs).await.expect("EcsRamRole profile");
    assert_eq!(
        p.source_name(),
        "ECS RAM role 'backup-role' (aliyun profile 'ecs')"
    );
    assert_eq!(p.get().await.unwrap().access_key_id, "STS.one");
    assert_eq!(server.fake.calls(), (1, 0, 1));

    // ALIBABA_CLOUD_PROFILE picks the profile when the config does not.
    let env = |name: &str| (name == "ALIBABA_CLOUD_PROFILE").then(|| "arn".to_string());
    let err = CredentialProvider::from_settings_with_env(&base, &env)
        .await
        .expect_err("unsupported");
    assert!(
        matches!(err, CredentialError::UnsupportedProfileMode { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("uses mode 'RamRoleArn'"), "{err}");
}

#[tokio::test]
async fn environment_wins_without_touching_the_network() {
    let server = serve(Fake::new(
        true,
        [creds("STS.one", time::Duration::hours(6))],
    ))
    .await;
    let env = |name: &str| match name {
        "ALIBABA_CLOUD_ACCESS_KEY_ID" => Some("ENV_ID".to_string()),
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET" => Some("env-secret".to_string()),
        _ => None,
    };
    let p = CredentialProvider::from_settings_with_env(&with_role(&server.url, ROLE), &env)
        .await
        .expect("env");
    assert_eq!(p.source_name(), "environment");
    let c = p.get().await.unwrap();
    assert_eq!(
        (c.access_key_id.as_str(), c.security_token.is_none()),
        ("ENV_ID", true)
    );
    assert_eq!(server.fake.calls(), (0, 0, 0));
    assert!(!format!("{p:?} {c:?}").contains("env-secret"));
}
