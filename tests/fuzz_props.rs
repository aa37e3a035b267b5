//! Property tests ("fuzzing" that runs in seconds in CI) of the code that reads hostile input:
//! the DescribeBackups parser, the id/file-name sanitiser and the path builder, and the
//! Content-Range / Expires parsers, and the archive format checks. Run longer with `PROPTEST_CASES=100000 cargo test --test fuzz_props`.

use std::path::{Component, Path};

use dds_backup_sync::api::model::parse_page;
use dds_backup_sync::names;
use dds_backup_sync::store::{BackupKey, Store};
use dds_backup_sync::sync::download::{parse_content_range, url_expires};
use dds_backup_sync::verify::format::{self, Format, XbstreamCheck};
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
        let key = BackupKey { instance_id: inst, node_id: node.clone(), backup_id: id, cluster: false };
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

    #[test]
    fn format_checks_never_panic_on_garbage(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = format::check(Format::Gzip, &bytes[..]);
        let _ = format::check(Format::Xbstream, &bytes[..]);
        let _ = format::check(Format::TarZstd, &bytes[..]);
        // Past the zstd magic, so the frame parser and the block decoder see the garbage.
        let framed: Vec<u8> = [0x28, 0xb5, 0x2f, 0xfd].iter().chain(&bytes).copied().collect();
        let _ = format::check(Format::TarZstd, &framed[..]);
    }

    #[test]
    fn xbstream_mutations_are_caught_or_harmless(
        cut in 0usize..400,
        flip in 0usize..400,
        pieces in 1usize..64,
    ) {
        let (stream, between_files) = xbstream_sample();
        prop_assert!(format::check(Format::Xbstream, &stream[..]).is_ok());
        // A cut anywhere is an error, except exactly between two files (framing cannot tell).
        let cut = cut.min(stream.len() - 1);
        prop_assert_eq!(format::check(Format::Xbstream, &stream[..cut]).is_ok(), cut == between_files);
        // A flipped byte never panics, and in any feeding pattern gives the same verdict.
        let mut flipped = stream.clone();
        let at = flip % stream.len();
        flipped[at] ^= 0x5a;
        let whole = format::check(Format::Xbstream, &flipped[..]);
        let mut streaming = XbstreamCheck::default();
        let mut fed = Ok(());
        for p in flipped.chunks(pieces) {
            if fed.is_ok() {
                fed = streaming.update(p);
            }
        }
        let fed = fed.and_then(|()| streaming.finish());
        prop_assert_eq!(whole.is_ok(), fed.is_ok());
    }
}

/// Two files as xbstream writes them (payload chunks, then an EOF chunk per file), and the
/// offset between the two files.
fn xbstream_sample() -> (Vec<u8>, usize) {
    // `offset`: where the payload goes in its file; `xbstream -x` refuses out-of-order chunks.
    let chunk = |kind: u8, path: &[u8], offset: u64, payload: &[u8]| {
        let mut c = b"XBSTCK01".to_vec();
        c.push(0);
        c.push(kind);
        c.extend_from_slice(&(path.len() as u32).to_le_bytes());
        c.extend_from_slice(path);
        if kind == b'P' {
            c.extend_from_slice(&(payload.len() as u64).to_le_bytes());
            c.extend_from_slice(&offset.to_le_bytes());
            let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, payload) as u32;
            c.extend_from_slice(&crc.to_le_bytes());
            c.extend_from_slice(payload);
        }
        c
    };
    let mut s = chunk(b'P', b"a.qp", 0, &[1; 100]);
    s.extend(chunk(b'P', b"a.qp", 100, &[2; 150]));
    s.extend(chunk(b'E', b"a.qp", 0, &[]));
    let between = s.len();
    s.extend(chunk(b'P', b"b.qp", 0, &[3; 50]));
    s.extend(chunk(b'E', b"b.qp", 0, &[]));
    (s, between)
}
