//! Property tests ("fuzzing" that runs in seconds in CI) of the code that reads hostile input:
//! the DescribeBackups parser, the id/file-name sanitiser and the path builder, and the
//! Content-Range / Expires parsers. Run longer with `PROPTEST_CASES=100000 cargo test --test fuzz_props`.

use std::path::{Component, Path};

use dds_backup_sync::api::model::parse_page;
use dds_backup_sync::names;
use dds_backup_sync::store::{BackupKey, Store};
use dds_backup_sync::sync::download::{parse_content_range, url_expires};
use proptest::prelude::*;

/// Strings that are mostly the dangerous kind: dots, slashes, NUL, controls, unicode, long.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        "[./\\\\\\x00-\\x1f a-zA-Z0-9_~%-]{0,40}",
        "\\PC{0,64}",
        Just("..".to_string()),
        Just("../../etc/passwd".to_string()),
        "[a-z]{4096}",
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        nasty().prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("BackupId".to_string()),
                    Just("BackupSize".to_string()),
                    Just("IsAvail".to_string()),
                    Just("BackupStatus".to_string()),
                    Just("BackupDownloadURL".to_string()),
                    Just("BackupExpireTime".to_string()),
                    "[A-Za-z]{1,12}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_parser_never_panics_on_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_page(&body);
    }

    #[test]
    fn the_parser_never_panics_on_page_shaped_json(
        total in json_value(),
        backups in prop::collection::vec(json_value(), 0..6),
    ) {
        let body = serde_json::json!({"TotalCount": total, "Backups": {"Backup": backups}});
        if let Ok(page) = parse_page(body.to_string().as_bytes()) {
            // Every accepted backup has a usable id; the rest are rejected with a reason.
            prop_assert_eq!(page.backups.len() + page.rejected.len(), backups.len());
            for b in &page.backups {
                prop_assert!(!b.backup_id.is_empty());
            }
        }
    }

    #[test]
    fn sanitised_file_names_are_single_safe_segments(raw in nasty()) {
        if let Ok(name) = names::sanitize_file_name(&raw) {
            prop_assert!(!name.is_empty() && name.len() <= 200);
            prop_assert!(name != "." && name != "..");
            prop_assert!(!name.starts_with('.'));
            prop_assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.+=,~".contains(c)), "{:?}", name);
        }
    }

    #[test]
    fn url_file_names_never_escape(path in nasty()) {
        let raw = format!("http://oss.example.com/bucket/{}?Expires=1", path.replace(['?', '#'], "_"));
        if let Ok(url) = url::Url::parse(&raw)
            && let Ok(name) = names::file_name_from_url(&url)
        {
            prop_assert!(!name.contains('/') && !name.contains('\0') && name != "..");
        }
    }

    #[test]
    fn store_paths_stay_inside_the_root(inst in nasty(), node in proptest::option::of(nasty()), id in nasty(), file in nasty()) {
        let store = Store::new("/data/root");
        let key = BackupKey { instance_id: inst, node_id: node.clone(), backup_id: id };
        if let Ok(paths) = store.paths(&key, &file) {
            for p in [&paths.dir, &paths.file, &paths.part, &paths.sidecar, &paths.manifest] {
                prop_assert!(p.starts_with("/data/root"), "{}", p.display());
                prop_assert!(p.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_))), "{}", p.display());
            }
            let depth = paths.file.strip_prefix(Path::new("/data/root")).unwrap().components().count();
            prop_assert_eq!(depth, if node.is_some() { 4 } else { 3 });
        }
    }

    #[test]
    fn header_parsers_never_panic(s in "\\PC{0,80}") {
        if let Some((start, total)) = parse_content_range(&s) {
            prop_assert!(start < total);
        }
        let _ = url_expires(&s);
    }
}
