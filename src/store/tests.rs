use super::*;

fn key(node: Option<&str>, id: &str) -> BackupKey {
    BackupKey {
        instance_id: "dds-1".into(),
        node_id: node.map(str::to_string),
        backup_id: id.into(),
        cluster: false,
    }
}

#[test]
fn layout_with_and_without_node() {
    let store = Store::new("/data");
    let p = store.paths(&key(None, "123"), "hins_qp.xb").unwrap();
    assert_eq!(p.file, PathBuf::from("/data/dds-1/123/hins_qp.xb"));
    assert_eq!(p.part, PathBuf::from("/data/dds-1/123/hins_qp.xb.part"));
    assert_eq!(
        p.sidecar,
        PathBuf::from("/data/dds-1/123/hins_qp.xb.part.json")
    );
    assert_eq!(p.manifest, PathBuf::from("/data/dds-1/123/manifest.json"));
    let p = store.paths(&key(Some("d-0"), "123"), "a.ar").unwrap();
    assert_eq!(p.file, PathBuf::from("/data/dds-1/d-0/123/a.ar"));
}

#[test]
fn hostile_names_never_escape() {
    let store = Store::new("/data");
    for bad in ["..", "../x", "a/b", "", "a\0"] {
        assert!(store.paths(&key(None, bad), "f").is_err(), "{bad:?}");
        assert!(store.paths(&key(Some(bad), "1"), "f").is_err(), "{bad:?}");
    }
    for bad in ["manifest.json", "x.part", "x.part.json", ".."] {
        assert!(store.paths(&key(None, "1"), bad).is_err(), "{bad:?}");
    }
    let p = store.paths(&key(None, "1"), "../../etc/passwd").unwrap();
    assert!(p.file.starts_with("/data/dds-1/1/"), "{:?}", p.file);
}

#[test]
fn lock_is_exclusive_and_names_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let held = store.lock().unwrap();
    match store.lock() {
        Err(StoreError::Locked { pid, .. }) => assert_eq!(pid, std::process::id().to_string()),
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(held);
    assert!(store.lock().is_ok());
}

#[test]
fn a_second_configuration_is_told_which_one_holds_the_dir() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let _held = store
        .lock_for(Some(Path::new("/etc/dds-backup-sync/prod.toml")))
        .unwrap();
    let e = store
        .lock_for(Some(Path::new("/etc/dds-backup-sync/other.toml")))
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains(&format!(
            "(pid {}, config /etc/dds-backup-sync/prod.toml)",
            std::process::id()
        )),
        "{text}"
    );
    assert!(text.contains("must not share a download.dir"), "{text}");
}

#[test]
fn atomic_write_replaces_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.json");
    write_atomic(&path, b"one").unwrap();
    write_atomic(&path, b"two").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"two");
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temp file left: {names:?}");
}

#[test]
fn scan_finds_manifests_and_skips_symlinks_and_foreign_dirs() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    let a = root.path().join("dds-1/100");
    let b = root.path().join("dds-2/d-0/200");
    for d in [&a, &b] {
        fs::create_dir_all(d).unwrap();
        fs::write(d.join(MANIFEST), "not json").unwrap();
    }
    fs::create_dir_all(root.path().join("dds-1/foreign")).unwrap();
    fs::write(outside.path().join(MANIFEST), "{}").unwrap();
    std::os::unix::fs::symlink(outside.path(), root.path().join("dds-1/300")).unwrap();
    let found: Vec<PathBuf> = store
        .scan()
        .into_iter()
        .map(|c| {
            assert!(c.manifest.is_err(), "corrupt manifests are reported");
            c.dir
        })
        .collect();
    assert_eq!(found, vec![a, b]);
}

#[test]
fn local_state_and_partials() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    let p = store.paths(&key(None, "1"), "f.ar").unwrap();
    assert_eq!(store.local_state(&p), LocalState::Missing);
    fs::create_dir_all(&p.dir).unwrap();
    fs::write(&p.part, b"abc").unwrap();
    assert_eq!(store.local_state(&p), LocalState::Partial(3));
    let stale = store.on_disk().partials;
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].key, key(None, "1"));
    // A published file without a manifest counts as a partial, to be checked again; reading
    // the state moves nothing (a dry run plans with it), the download's recovery does.
    fs::rename(&p.part, &p.file).unwrap();
    assert_eq!(store.local_state(&p), LocalState::Partial(3));
    assert!(p.file.exists() && !p.part.exists());
    recover_unpublished(&p).unwrap();
    assert!(p.part.exists() && !p.file.exists());
    assert_eq!(store.local_state(&p), LocalState::Partial(3));
}

#[test]
fn recovery_removes_temp_files_a_killed_run_left_and_nothing_else() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    let p = store.paths(&key(None, "1"), "f.ar").unwrap();
    fs::create_dir_all(&p.dir).unwrap();
    let own = format!(".manifest.json.tmp-{}", std::process::id());
    let stale = [".manifest.json.tmp-999999", ".f.ar.part.json.tmp-12"];
    let kept = [
        own.as_str(),
        ".manifest.json.tmp-",
        ".manifest.json.tmp-12x",
        ".other.json.tmp-12",
        "f.ar.part",
        "notes.txt",
    ];
    for name in stale.iter().chain(&kept) {
        fs::write(p.dir.join(name), b"x").unwrap();
    }
    // A folder with a temp file's name is not a temp file.
    fs::create_dir(p.dir.join(".f.ar.part.json.tmp-77")).unwrap();
    recover_unpublished(&p).unwrap();
    for name in stale {
        assert!(!p.dir.join(name).exists(), "{name} removed");
    }
    for name in kept {
        assert!(p.dir.join(name).exists(), "{name} kept");
    }
    assert!(p.dir.join(".f.ar.part.json.tmp-77").is_dir());
}

#[test]
fn free_space_is_reported() {
    assert!(free_space(Path::new("/")).unwrap() > 0);
    assert!(free_space(Path::new("/nonexistent/x")).is_err());
}

fn write_copy(store: &Store, k: &BackupKey) -> PathBuf {
    let dir = store.backup_dir(k).unwrap();
    fs::create_dir_all(&dir).unwrap();
    let m = Manifest {
        format: 1,
        instance_id: k.instance_id.clone(),
        node_id: k.node_id.clone(),
        cluster_backup_id: k.cluster.then(|| k.backup_id.clone()),
        backup: serde_json::from_value(serde_json::json!({
            "BackupId": if k.cluster { format!("n-{}", k.node_id.clone().unwrap_or_default()) } else { k.backup_id.clone() },
            "BackupStatus": "Success", "IsAvail": true
        }))
        .unwrap(),
        file: "f.ar".into(),
        size: 1,
        sha256: "00".into(),
        crc64: "0".into(),
        crc64_checked: false,
        format_verdict: None,
        format_detail: None,
        rot: None,
        export: None,
        downloaded_at: time::OffsetDateTime::UNIX_EPOCH,
        verified_at: time::OffsetDateTime::UNIX_EPOCH,
    };
    write_manifest(&dir.join(MANIFEST), &m).unwrap();
    fs::write(dir.join("f.ar"), "x").unwrap();
    dir
}

#[test]
fn prune_removes_only_this_tools_copy_of_that_very_backup() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    let ours = write_copy(&store, &key(None, "100"));
    // No manifest: not this tool's.
    let foreign = root.path().join("dds-1/foreign");
    fs::create_dir_all(&foreign).unwrap();
    fs::write(foreign.join("keep.txt"), "x").unwrap();
    // A symlinked backup folder, pointing at a copy outside.
    let away = write_copy(&Store::new(outside.path()), &key(None, "200"));
    std::os::unix::fs::symlink(&away, root.path().join("dds-1/200")).unwrap();
    // A manifest that names another backup.
    let other = write_copy(&store, &key(None, "300"));
    fs::copy(ours.join(MANIFEST), other.join(MANIFEST)).unwrap();

    let keys = [
        key(None, "100"),
        key(None, "foreign"),
        key(None, "200"),
        key(None, "300"),
    ];
    let results = store.prune(&keys);
    assert_eq!(results[0].as_ref().unwrap(), &ours);
    assert!(!ours.exists());
    for (r, why) in results[1..]
        .iter()
        .zip(["no manifest", "symlink", "another backup's manifest"])
    {
        assert!(r.is_err(), "{why} must be refused");
    }
    assert!(foreign.join("keep.txt").exists());
    assert!(away.join(MANIFEST).exists() && away.join("f.ar").exists());
    assert!(other.join("f.ar").exists());
}

fn listed_cluster(cb: &str, nodes: &[&str]) -> crate::model::ListedCluster {
    crate::model::ListedCluster {
        unit: BackupKey::cluster("dds-1", cb, None),
        nodes: nodes
            .iter()
            .map(|n| BackupKey::cluster("dds-1", cb, Some(n)))
            .collect(),
        problem: None,
        status: "OK".into(),
        start: None,
        end: None,
        expire: None,
        size: None,
    }
}

#[test]
fn a_cluster_is_sealed_once_every_node_is_in_and_read_back_from_its_layout() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    let cluster = listed_cluster("cb-1", &["d-0", "d-1"]);
    let d0 = write_copy(&store, &cluster.nodes[0]);
    assert_eq!(d0, root.path().join("dds-1/cb-1/d-0"));
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let e = store.seal_cluster(&cluster, now).unwrap_err();
    assert!(e.contains("dds-1/cb-1/d-1 has no verified copy yet"), "{e}");
    assert!(
        !root
            .path()
            .join("dds-1/cb-1")
            .join(crate::model::CLUSTER_MANIFEST)
            .exists()
    );
    assert!(!store.is_sealed(&cluster.unit));
    write_copy(&store, &cluster.nodes[1]);
    assert_eq!(store.seal_cluster(&cluster, now), Ok(true));
    assert!(store.is_sealed(&cluster.unit));
    assert!(!store.is_sealed(&BackupKey::cluster("dds-1", "cb-2", None)));
    assert_eq!(
        store.seal_cluster(&cluster, now),
        Ok(false),
        "the same: not rewritten"
    );
    let sealed = super::cluster::read_cluster_manifest(
        &root
            .path()
            .join("dds-1/cb-1")
            .join(crate::model::CLUSTER_MANIFEST),
    )
    .unwrap();
    assert_eq!(sealed.nodes[1].backup_id, "n-d-1");
    // The scan reads the node copies back under their cluster keys.
    let snap = store.on_disk();
    let keys: Vec<BackupKey> = snap
        .copies
        .iter()
        .map(|c| c.manifest.as_ref().unwrap().key())
        .collect();
    assert_eq!(keys, cluster.nodes);
    assert!(matches!(
        snap.state(&cluster.nodes[0], "f.ar"),
        LocalState::Complete { .. }
    ));
}

#[test]
fn a_cluster_copy_is_removed_whole_only_when_everything_in_it_is_ours() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    let cluster = listed_cluster("cb-1", &["d-0", "d-1"]);
    write_copy(&store, &cluster.nodes[0]);
    write_copy(&store, &cluster.nodes[1]);
    store
        .seal_cluster(&cluster, time::OffsetDateTime::UNIX_EPOCH)
        .unwrap();
    // A partial-only node folder is ours too.
    let partial = root.path().join("dds-1/cb-1/d-2");
    fs::create_dir_all(&partial).unwrap();
    fs::write(partial.join("x.tar.gz.part"), "p").unwrap();
    // Something else's file: the whole cluster is kept.
    let foreign = root.path().join("dds-1/cb-1/notes.txt");
    fs::write(&foreign, "mine").unwrap();
    let r = store.prune(std::slice::from_ref(&cluster.unit));
    assert!(r[0].is_err(), "{r:?}");
    assert!(foreign.exists() && partial.join("x.tar.gz.part").exists());
    fs::remove_file(&foreign).unwrap();
    let r = store.prune(std::slice::from_ref(&cluster.unit));
    assert_eq!(r[0].as_ref().unwrap(), &root.path().join("dds-1/cb-1"));
    assert!(!root.path().join("dds-1/cb-1").exists());
}

#[test]
fn task_records_round_trip_and_never_follow_links() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    let k = key(None, "s1");
    assert_eq!(store.read_task(&k).unwrap(), None);
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let mut record = crate::model::TaskRecord::creating("dds-1", "s1", "cn-hangzhou", now);
    store.write_task(&k, &record).unwrap();
    assert_eq!(store.read_task(&k).unwrap().as_ref(), Some(&record));
    record.task_id = Some("dt-1".into());
    store.write_task(&k, &record).unwrap();
    assert_eq!(
        store.read_task(&k).unwrap().unwrap().task_id.as_deref(),
        Some("dt-1")
    );
    store.remove_task(&k).unwrap();
    assert_eq!(store.read_task(&k).unwrap(), None);
    store.remove_task(&k).unwrap();

    // A garbled record is an error, never "no task" (that would create a second task).
    let dir = root.path().join("dds-1/s1");
    fs::write(dir.join(crate::model::TASK), "{").unwrap();
    let e = store.read_task(&k).unwrap_err().to_string();
    assert!(e.contains("remove it to start over"), "{e}");
    // A link in its place is refused, and nothing is written through it.
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("t.json");
    fs::write(&target, "x").unwrap();
    fs::remove_file(dir.join(crate::model::TASK)).unwrap();
    std::os::unix::fs::symlink(&target, dir.join(crate::model::TASK)).unwrap();
    assert!(store.read_task(&k).is_err());
    store.write_task(&k, &record).unwrap();
    assert_eq!(fs::read_to_string(&target).unwrap(), "x");
    // A linked instance folder is refused before anything is written.
    let k2 = BackupKey {
        instance_id: "dds-2".into(),
        ..k.clone()
    };
    std::os::unix::fs::symlink(outside.path(), root.path().join("dds-2")).unwrap();
    assert!(store.write_task(&k2, &record).is_err());
    assert!(!outside.path().join("s1").exists());
}

#[test]
fn commit_refuses_a_partial_whose_length_is_not_the_checked_size() {
    // Issue #21.1: the check hashed `[0, size)`; the commit looks at the file itself.
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    let k = key(None, "9");
    let dir = write_copy(&store, &k);
    let m: Manifest = serde_json::from_slice(&fs::read(dir.join(MANIFEST)).unwrap()).unwrap();
    fs::remove_file(dir.join(MANIFEST)).unwrap();
    fs::remove_file(dir.join("f.ar")).unwrap();
    let paths = store.paths(&k, "f.ar").unwrap();
    fs::write(&paths.part, "xy").unwrap();
    let err = store.commit(&paths, &m).unwrap_err();
    assert!(err.to_string().contains("holds 2 bytes"), "{err}");
    assert!(!paths.file.exists() && !paths.manifest.exists());
    fs::write(&paths.part, "x").unwrap();
    store.commit(&paths, &m).unwrap();
    assert_eq!(fs::read(&paths.file).unwrap(), b"x");
}

#[test]
fn a_ranged_partial_counts_its_complete_parts_not_its_preallocated_length() {
    // Issue #21.8: `--dry-run` read a preallocated partial as complete ("0 B to fetch").
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    let p = store.paths(&key(None, "1"), "f.ar").unwrap();
    fs::create_dir_all(&p.dir).unwrap();
    fs::write(&p.part, vec![0u8; 4096]).unwrap();
    let mut map = crate::model::PartMap::new(4096, 1024);
    map.mark(2, 7);
    let sidecar = crate::model::Sidecar {
        size: 4096,
        parts: Some(map),
        ..crate::model::Sidecar::default()
    };
    store.write_sidecar(&p, &sidecar).unwrap();
    assert_eq!(store.local_state(&p), LocalState::Partial(1024));
}

#[test]
fn a_seal_names_exactly_the_nodes_the_cloud_lists() {
    // Issue #21.4: the cloud named a third node later, and a node listed twice was sealed as
    // complete.
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    let two = listed_cluster("cb-1", &["d-0", "d-1"]);
    write_copy(&store, &two.nodes[0]);
    write_copy(&store, &two.nodes[1]);
    let now = time::OffsetDateTime::UNIX_EPOCH;
    assert_eq!(store.seal_cluster(&two, now), Ok(true));
    let three = listed_cluster("cb-1", &["d-0", "d-1", "d-2"]);
    let e = store.seal_cluster(&three, now).unwrap_err();
    assert!(e.contains("withdrawn"), "{e}");
    assert!(!store.is_sealed(&three.unit));
    write_copy(&store, &three.nodes[2]);
    assert_eq!(store.seal_cluster(&three, now), Ok(true));
    assert!(store.is_sealed(&three.unit));
    let twice = listed_cluster("cb-2", &["d-0", "d-0"]);
    write_copy(&store, &twice.nodes[0]);
    assert!(store.seal_cluster(&twice, now).is_err());
    assert!(!store.is_sealed(&twice.unit));
}
