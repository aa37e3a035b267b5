use std::io::Write;

use sha2::{Digest, Sha256};

use super::*;
use crate::model::Backup;

fn key(node: Option<&str>, id: &str) -> BackupKey {
    BackupKey {
        instance_id: "dds-1".into(),
        node_id: node.map(str::to_string),
        backup_id: id.into(),
        cluster: false,
    }
}

fn manifest(key: &BackupKey, file: &str, content: &[u8]) -> Manifest {
    let now = time::OffsetDateTime::UNIX_EPOCH;
    Manifest {
        format: 1,
        instance_id: key.instance_id.clone(),
        node_id: key.node_id.clone(),
        cluster_backup_id: None,
        backup: Backup {
            backup_id: key.backup_id.clone(),
            backup_job_id: None,
            backup_status: "Success".into(),
            backup_type: None,
            backup_method: None,
            backup_mode: None,
            backup_start_time: None,
            backup_end_time: None,
            backup_expire_time: None,
            backup_size: Some(content.len() as u64),
            download_url: None,
            intranet_download_url: None,
            backup_db_names: None,
            backup_name: None,
            backup_scale: None,
            is_avail: true,
            engine_version: None,
        },
        file: file.into(),
        size: content.len() as u64,
        sha256: crate::hex::hex(&Sha256::digest(content)),
        crc64: "0".into(),
        crc64_checked: false,
        format_verdict: None,
        format_detail: None,
        rot: None,
        export: None,
        downloaded_at: now,
        verified_at: now,
    }
}

/// Publishes `content` as `file` of `key`, the way a pass leaves it; returns the data file.
fn put(store: &Store, key: &BackupKey, file: &str, content: &[u8]) -> PathBuf {
    let dir = store.backup_dir(key).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(file), content).unwrap();
    crate::store::write_manifest(&dir.join(MANIFEST), &manifest(key, file, content)).unwrap();
    dir.join(file)
}

fn stored_gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

struct Fixture {
    _tmp: tempfile::TempDir,
    store: Store,
    outside: PathBuf,
    good: Vec<u8>,
}

/// One copy per kind of problem, plus a good one and one nobody can check the format of.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().join("data"));
    let good = stored_gzip(&[7u8; 5000]);
    put(&store, &key(None, "1-good"), "a.tar.gz", &good);
    put(&store, &key(Some("d-0"), "2-unknown"), "a.bin", b"anything");
    // sha256 and format: a data byte flipped after publishing, same size.
    let f = put(&store, &key(None, "3-flipped"), "a.tar.gz", &good);
    let mut bad = good.clone();
    bad[2000] ^= 1;
    std::fs::write(&f, &bad).unwrap();
    // size, sha256 and format: cut short.
    let f = put(&store, &key(Some("d-0"), "4-cut"), "b.ar", &good);
    std::fs::write(&f, &good[..100]).unwrap();
    let f = put(&store, &key(None, "5-missing"), "a.tar.gz", &good);
    std::fs::remove_file(f).unwrap();
    // The data file replaced by a symlink to a file outside: reported, never read.
    let outside = tmp.path().join("outside.tar.gz");
    std::fs::write(&outside, &good).unwrap();
    let f = put(&store, &key(None, "6-symlink"), "a.tar.gz", &good);
    std::fs::remove_file(&f).unwrap();
    std::os::unix::fs::symlink(&outside, &f).unwrap();
    let dir = store.backup_dir(&key(None, "7-bad-manifest")).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(MANIFEST), "{ not json").unwrap();
    put(&store, &key(None, "8-self"), "manifest.json", b"x");
    Fixture {
        _tmp: tmp,
        store,
        outside,
        good,
    }
}

fn problems_of<'a>(report: &'a VerifyReport, id: &str) -> Vec<&'a Problem> {
    report
        .findings
        .iter()
        .filter(|f| f.label.contains(id))
        .map(|f| &f.problem)
        .collect()
}

#[test]
fn every_problem_is_collected_as_data() {
    let fx = fixture();
    let report = verify_store(&fx.store);
    assert_eq!(report.checked, 8);
    assert!(problems_of(&report, "1-good").is_empty(), "{report:?}");
    assert!(problems_of(&report, "2-unknown").is_empty(), "{report:?}");
    let flipped = problems_of(&report, "3-flipped");
    assert_eq!(flipped.len(), 2, "{flipped:?}");
    assert!(
        matches!(flipped[0], Problem::Format(r) if r.contains("gzip member 1") && r.contains("CRC32 mismatch"))
    );
    assert!(matches!(flipped[1], Problem::Sha256 { expected, got } if expected != got));
    let cut = problems_of(&report, "dds-1/d-0/4-cut");
    assert_eq!(cut.len(), 3, "{cut:?}");
    assert_eq!(
        cut[0],
        &Problem::Size {
            expected: fx.good.len() as u64,
            got: 100
        }
    );
    assert!(matches!(cut[1], Problem::Format(r) if r.contains("truncated")));
    assert!(matches!(cut[2], Problem::Sha256 { .. }));
    assert_eq!(problems_of(&report, "5-missing"), [&Problem::Missing]);
    assert_eq!(problems_of(&report, "6-symlink"), [&Problem::NotAFile]);
    let bad = problems_of(&report, "7-bad-manifest");
    assert!(matches!(bad[..], [Problem::BadManifest(r)] if r.contains("not a valid manifest")));
    assert!(matches!(
        problems_of(&report, "8-self")[..],
        [Problem::BadManifest(_)]
    ));
    assert_eq!(report.findings.len(), 9);
    let bad = report
        .findings
        .iter()
        .find(|f| f.label.contains("7-bad"))
        .unwrap();
    assert_eq!(bad.key, None, "an unreadable manifest names no backup");
}

#[test]
fn plan_repair_table() {
    let finding = |id: &str, problem: Problem| Finding {
        label: id.into(),
        key: Some(key(None, id)),
        dir: PathBuf::from(id),
        problem,
    };
    let sha = || Problem::Sha256 {
        expected: "a".into(),
        got: "b".into(),
    };
    let findings = vec![
        finding("sha", sha()),
        finding(
            "size",
            Problem::Size {
                expected: 2,
                got: 1,
            },
        ),
        finding("format", Problem::Format("gzip".into())),
        // Two problems of one copy: planned once.
        finding("format", sha()),
        finding("missing", Problem::Missing),
        finding("symlink", Problem::NotAFile),
        finding("unreadable", Problem::Unreadable("EIO".into())),
        finding("gone", sha()),
        Finding {
            label: "/d/x".into(),
            key: None,
            dir: PathBuf::from("/d/x"),
            problem: Problem::BadManifest("bad".into()),
        },
    ];
    let listed: HashSet<BackupKey> = ["sha", "size", "format", "missing", "symlink", "unreadable"]
        .iter()
        .map(|id| key(None, id))
        .collect();
    assert_eq!(
        plan_repair(&findings, &listed),
        vec![key(None, "format"), key(None, "sha"), key(None, "size")]
    );
    assert!(
        plan_repair(&findings, &HashSet::new()).is_empty(),
        "nothing listed, nothing removed"
    );
}

#[test]
fn repair_removes_only_the_planned_corrupt_copies() {
    let fx = fixture();
    let report = verify_store(&fx.store);
    let everything: HashSet<BackupKey> = report
        .findings
        .iter()
        .filter_map(|f| f.key.clone())
        .collect();
    let plan = plan_repair(&report.findings, &everything);
    assert_eq!(
        plan,
        vec![key(None, "3-flipped"), key(Some("d-0"), "4-cut")]
    );
    let done = apply_repair(&fx.store, &report.findings, &plan);
    assert_eq!(done.removed, plan);
    assert!(done.failed.is_empty(), "{:?}", done.failed);
    for k in &plan {
        let dir = fx.store.backup_dir(k).unwrap();
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "{}: {left:?}", dir.display());
    }
    // Everything else is as it was.
    assert_eq!(
        std::fs::read(&fx.outside).unwrap(),
        fx.good,
        "the symlink target is untouched"
    );
    let again = verify_store(&fx.store);
    assert_eq!(again.checked, 6);
    assert_eq!(again.findings.len(), 4, "{again:?}");
    for id in ["5-missing", "6-symlink", "7-bad-manifest", "8-self"] {
        assert_eq!(problems_of(&again, id).len(), 1, "{id}");
    }
    assert!(
        fx.store
            .backup_dir(&key(None, "1-good"))
            .unwrap()
            .join("a.tar.gz")
            .exists()
    );
}

#[test]
fn repair_refuses_a_folder_that_is_not_the_backups_own() {
    let fx = fixture();
    let flipped = key(None, "3-flipped");
    // A copy of a corrupt copy under another folder name: its manifest names 3-flipped.
    let stray = fx.store.root().join("dds-1/9-stray");
    std::fs::create_dir_all(&stray).unwrap();
    let src = fx.store.backup_dir(&flipped).unwrap();
    for name in ["a.tar.gz", MANIFEST] {
        std::fs::copy(src.join(name), stray.join(name)).unwrap();
    }
    let report = verify_store(&fx.store);
    let findings: Vec<Finding> = report
        .findings
        .into_iter()
        .filter(|f| f.dir == stray)
        .collect();
    // A manifest counts only in its backup's own folder: the stray is a manifest problem for a
    // human, tied to no backup, so repair has nothing to act on there.
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(findings[0].key.is_none());
    assert!(
        matches!(&findings[0].problem, Problem::BadManifest(r) if r.contains("does not belong in this folder")),
        "{findings:?}"
    );
    let done = apply_repair(&fx.store, &findings, std::slice::from_ref(&flipped));
    assert!(done.removed.is_empty() && done.failed.is_empty());
    // Even a finding that claims the stray folder for 3-flipped is refused.
    let forged = Finding {
        label: flipped.label(),
        key: Some(flipped.clone()),
        dir: stray.clone(),
        problem: Problem::Sha256 {
            expected: "a".into(),
            got: "b".into(),
        },
    };
    let done = apply_repair(&fx.store, &[forged], std::slice::from_ref(&flipped));
    assert!(done.removed.is_empty());
    assert!(
        done.failed[0]
            .1
            .contains("is not where the layout keeps this backup"),
        "{:?}",
        done.failed
    );
    assert!(stray.join("a.tar.gz").exists() && stray.join(MANIFEST).exists());
    assert!(
        src.join("a.tar.gz").exists(),
        "the real folder was not in these findings"
    );
}

#[test]
fn repair_leaves_a_copy_whose_manifest_changed_since_the_scrub() {
    let fx = fixture();
    let flipped = key(None, "3-flipped");
    let report = verify_store(&fx.store);
    let dir = fx.store.backup_dir(&flipped).unwrap();
    // Between the scrub and the repair the folder was swapped for a symlink to elsewhere.
    let moved = fx.store.root().join("moved");
    std::fs::rename(&dir, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &dir).unwrap();
    let done = apply_repair(&fx.store, &report.findings, std::slice::from_ref(&flipped));
    assert!(done.removed.is_empty());
    assert!(
        done.failed[0].1.contains("is not a real folder"),
        "{:?}",
        done.failed
    );
    assert!(moved.join("a.tar.gz").exists() && moved.join(MANIFEST).exists());
    // Or its manifest now describes another backup.
    std::fs::remove_file(&dir).unwrap();
    std::fs::rename(&moved, &dir).unwrap();
    let other = manifest(&key(None, "other"), "a.tar.gz", b"");
    crate::store::write_manifest(&dir.join(MANIFEST), &other).unwrap();
    let done = apply_repair(&fx.store, &report.findings, std::slice::from_ref(&flipped));
    assert!(
        done.failed[0].1.contains("now describes dds-1/other"),
        "{:?}",
        done.failed
    );
    assert!(dir.join("a.tar.gz").exists());
}
