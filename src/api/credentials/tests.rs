//! Table tests for the source order, and the no-secrets-in-output checks.

use std::collections::HashMap;
use std::path::PathBuf;

use super::*;

const SECRET: &str = "S3CR3T-do-not-print";
const TOKEN: &str = "T0K3N-do-not-print";

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn profile(text: &str) -> ProfileInput {
    ProfileInput {
        path: PathBuf::from("/home/op/.aliyun/config.json"),
        contents: ProfileContents::Text(Secret::new(text)),
    }
}

const AK_PROFILE: &str = r#"{"current":"p","profiles":[{"name":"p","mode":"AK","access_key_id":"PROFILE_ID","access_key_secret":"x"}]}"#;
const ECS_PROFILE: &str =
    r#"{"current":"p","profiles":[{"name":"p","mode":"EcsRamRole","ram_role_name":"prof-role"}]}"#;

/// A compact summary of the choice: which source, key id, whether there is a token.
fn summary(result: Result<Source, CredentialError>) -> String {
    match result {
        Ok(Source::Static { credentials, name }) => format!(
            "{name}: {} token={}",
            credentials.access_key_id,
            credentials
                .security_token
                .as_ref()
                .map_or("no", |t| t.expose())
        ),
        Ok(Source::EcsRamRole { role_name, origin }) => {
            let origin = match origin {
                EcsOrigin::Config => "config".to_string(),
                EcsOrigin::Profile(p) => format!("profile {p}"),
                EcsOrigin::Fallback { tried } => format!("fallback after {}", tried.len()),
            };
            format!(
                "ecs {}: {origin}",
                role_name.as_deref().unwrap_or("<discover>")
            )
        }
        Err(e) => format!("error: {e}"),
    }
}

fn config_keys() -> CredentialOptions {
    CredentialOptions {
        access_key_id: Some("CONFIG_ID".into()),
        access_key_secret: Some(Secret::new(SECRET)),
        ..CredentialOptions::default()
    }
}

#[test]
fn source_order() {
    let full_env = [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ENV_ID"),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET),
        ("ALIBABA_CLOUD_SECURITY_TOKEN", TOKEN),
        ("ALICLOUD_ACCESS_KEY", "CLI_ID"),
        ("ALICLOUD_SECRET_KEY", SECRET),
    ];
    let cli_env = [
        ("ALICLOUD_ACCESS_KEY", "CLI_ID"),
        ("ALICLOUD_SECRET_KEY", SECRET),
        ("ALICLOUD_SECURITY_TOKEN", "tok"),
    ];
    let role = CredentialOptions {
        ecs_role_name: Some("cfg-role".into()),
        ..CredentialOptions::default()
    };
    let no_ecs = CredentialOptions {
        allow_ecs: false,
        ..CredentialOptions::default()
    };
    let named = CredentialOptions {
        profile_name: Some("q".into()),
        ..CredentialOptions::default()
    };
    let defaults = CredentialOptions::default();
    let ak = profile(AK_PROFILE);
    let ecs = profile(ECS_PROFILE);

    type Case<'a> = (
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a CredentialOptions,
        Option<&'a ProfileInput>,
        &'a str,
    );
    let keys = config_keys();
    let pinned = CredentialOptions {
        pinned: true,
        ..config_keys()
    };
    let env_expected = format!("environment: ENV_ID token={TOKEN}");
    let cases: Vec<Case> = vec![
        (
            "pinned config keys beat the environment (--demo)",
            &full_env,
            &pinned,
            Some(&ak),
            "config file: CONFIG_ID token=no",
        ),
        (
            "env beats everything",
            &full_env,
            &keys,
            Some(&ak),
            &env_expected,
        ),
        (
            "aliyun CLI env names",
            &cli_env,
            &keys,
            Some(&ak),
            "environment (ALICLOUD_*): CLI_ID token=tok",
        ),
        (
            "blank env counts as unset",
            &[
                ("ALIBABA_CLOUD_ACCESS_KEY_ID", " "),
                ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ""),
            ],
            &keys,
            None,
            "config file: CONFIG_ID token=no",
        ),
        (
            "lone env token is ignored",
            &[("ALIBABA_CLOUD_SECURITY_TOKEN", "t")],
            &keys,
            None,
            "config file: CONFIG_ID token=no",
        ),
        (
            "config keys beat the profile",
            &[],
            &keys,
            Some(&ak),
            "config file: CONFIG_ID token=no",
        ),
        (
            "configured role beats the profile",
            &[],
            &role,
            Some(&ak),
            "ecs cfg-role: config",
        ),
        (
            "profile AK",
            &[],
            &defaults,
            Some(&ak),
            "aliyun profile 'p': PROFILE_ID token=no",
        ),
        (
            "profile EcsRamRole",
            &[],
            &defaults,
            Some(&ecs),
            "ecs prof-role: profile p",
        ),
        (
            "profile EcsRamRole even with the fallback off",
            &[],
            &no_ecs,
            Some(&ecs),
            "ecs prof-role: profile p",
        ),
        (
            "nothing: ECS fallback",
            &[],
            &defaults,
            None,
            "ecs <discover>: fallback after 3",
        ),
        (
            "ECS role name from env",
            &[("ALIBABA_CLOUD_ECS_METADATA", "env-role")],
            &defaults,
            None,
            "ecs env-role: fallback after 3",
        ),
        (
            "half-set env",
            &[("ALIBABA_CLOUD_ACCESS_KEY_ID", "ENV_ID")],
            &keys,
            None,
            "error: ALIBABA_CLOUD_ACCESS_KEY_ID is set but ALIBABA_CLOUD_ACCESS_KEY_SECRET is not; set both or neither",
        ),
        (
            "half-set CLI env",
            &[("ALICLOUD_SECRET_KEY", SECRET)],
            &keys,
            None,
            "error: ALICLOUD_SECRET_KEY is set but ALICLOUD_ACCESS_KEY is not; set both or neither",
        ),
        (
            "profile named by env but absent",
            &[("ALIBABA_CLOUD_PROFILE", "q")],
            &defaults,
            Some(&ak),
            "error: aliyun profile file /home/op/.aliyun/config.json: has no profile 'q' (named by ALIBABA_CLOUD_PROFILE)",
        ),
        (
            "config profile name beats env",
            &[("ALIBABA_CLOUD_PROFILE", "p")],
            &named,
            Some(&ak),
            "error: aliyun profile file /home/op/.aliyun/config.json: has no profile 'q' (named by api.profile)",
        ),
        (
            "fallback disabled",
            &[],
            &no_ecs,
            None,
            "error: no credentials found (tried: environment: ALIBABA_CLOUD_ACCESS_KEY_ID and ALICLOUD_ACCESS_KEY not set; \
             config file: api.access_key_id not set; aliyun profile: HOME not set; \
             ECS RAM role: disabled by api.use_ecs_ram_role = false); set ALIBABA_CLOUD_ACCESS_KEY_ID and \
             ALIBABA_CLOUD_ACCESS_KEY_SECRET, or api.access_key_id and api.access_key_secret in the config file, \
             or configure an aliyun CLI profile (aliyun configure), or run on an ECS instance with a RAM role attached",
        ),
        (
            "fallback disabled by env",
            &[("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "TRUE")],
            &defaults,
            None,
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED=true",
        ),
    ];
    for (what, env, opts, profile, expected) in cases {
        let got = summary(choose_source(&env_of(env), opts, profile));
        assert!(
            got == expected
                || (expected.len() < 60 && got.starts_with("error") && got.contains(expected)),
            "{what}: {got}"
        );
    }
}

#[test]
fn half_set_config() {
    let cases = [
        (
            Some("id"),
            None,
            None,
            "api.access_key_id is set but api.access_key_secret is not",
        ),
        (
            None,
            Some(SECRET),
            None,
            "api.access_key_secret is set but api.access_key_id is not",
        ),
        (
            None,
            None,
            Some(TOKEN),
            "api.security_token is set but api.access_key_id is not",
        ),
    ];
    for (id, secret, token, expected) in cases {
        let opts = CredentialOptions {
            access_key_id: id.map(str::to_string),
            access_key_secret: secret.map(Secret::new),
            security_token: token.map(Secret::new),
            ..CredentialOptions::default()
        };
        let err = choose_source(&env_of(&[]), &opts, None).expect_err(expected);
        assert!(matches!(err, CredentialError::HalfSet { .. }));
        assert!(err.to_string().starts_with(expected), "{err}");
    }
}

#[test]
fn config_values_are_trimmed() {
    let opts = CredentialOptions {
        access_key_id: Some(" ID \n".into()),
        access_key_secret: Some(Secret::new(" sec\n")),
        security_token: Some(Secret::new("tok ")),
        ..CredentialOptions::default()
    };
    let Ok(Source::Static { credentials, .. }) = choose_source(&env_of(&[]), &opts, None) else {
        panic!("expected static keys");
    };
    assert_eq!(credentials.access_key_id, "ID");
    assert_eq!(credentials.access_key_secret.expose(), "sec");
    assert_eq!(
        credentials.security_token.as_ref().map(Secret::expose),
        Some("tok")
    );
}

#[test]
fn debug_and_errors_never_show_secrets() {
    let creds = Credentials {
        access_key_id: "ID".into(),
        access_key_secret: Secret::new(SECRET),
        security_token: Some(Secret::new(TOKEN)),
    };
    let opts = CredentialOptions {
        security_token: Some(Secret::new(TOKEN)),
        ..config_keys()
    };
    let with_secret_file = profile(&format!(
        r#"{{"current":"p","profiles":[{{"name":"p","mode":"RamRoleArn","access_key_secret":"{SECRET}"}}]}}"#
    ));
    let malformed = profile(&format!(
        r#"{{"profiles":[{{"name":"p","access_key_secret":{SECRET}}}]}}"#
    ));
    let mut outputs = vec![
        format!("{creds:?}"),
        format!("{opts:?}"),
        format!("{with_secret_file:?}"),
        format!("{:?}", CredentialProvider::fixed(creds.clone(), "test")),
        format!(
            "{:?}",
            Source::Static {
                credentials: creds.clone(),
                name: "x".into()
            }
        ),
    ];
    let errors = [
        choose_source(
            &env_of(&[("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)]),
            &CredentialOptions::default(),
            None,
        ),
        choose_source(
            &env_of(&[]),
            &CredentialOptions::default(),
            Some(&with_secret_file),
        ),
        choose_source(
            &env_of(&[]),
            &CredentialOptions::default(),
            Some(&malformed),
        ),
    ];
    for result in errors {
        let err = result.expect_err("each case fails");
        outputs.push(format!("{err:?}"));
        outputs.push(err.to_string());
    }
    for out in &outputs {
        assert!(
            !out.contains(SECRET) && !out.contains(TOKEN),
            "leaked: {out}"
        );
    }
    assert!(outputs[0].contains("ID") && outputs[0].contains("******"));
}

#[test]
fn retryable_errors() {
    let url = "http://100.100.100.200/x".to_string();
    let status = |status| CredentialError::MetadataStatus {
        url: url.clone(),
        status,
        hint: "",
    };
    assert!(
        CredentialError::MetadataUnreachable {
            url: url.clone(),
            reason: "x".into()
        }
        .is_retryable()
    );
    assert!(status(500).is_retryable());
    assert!(status(429).is_retryable());
    assert!(!status(404).is_retryable());
    assert!(!CredentialError::NotFound { tried: vec![] }.is_retryable());
    assert!(
        !CredentialError::MetadataCode {
            url,
            role: "r".into(),
            code: "Failed".into()
        }
        .is_retryable()
    );
}
