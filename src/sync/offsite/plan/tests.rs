use time::macros::datetime;

use super::*;
use crate::model::ArchivedCluster;

const NOW: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);

/// A local copy of backup `id` of `dds-1` taken at `end`, whose bytes hash to `sha`.
fn copy(id: &str, end: OffsetDateTime, sha: &str) -> LocalCopy {
    let manifest: Manifest = serde_json::from_value(serde_json::json!({
        "format": 1, "instance_id": "dds-1", "node_id": null,
        "backup": {
            "BackupId": id, "BackupJobId": null, "BackupStatus": "Success", "BackupType": null,
            "BackupMethod": "Physical", "BackupMode": null, "BackupStartTime": null,
            "BackupEndTime": null, "BackupExpireTime": null, "BackupSize": 4,
            "BackupDBNames": null, "BackupName": null, "BackupScale": null, "IsAvail": true,
            "EngineVersion": null
        },
        "file": format!("{id}_qp.xb"), "size": 4, "sha256": sha, "crc64": "0",
        "crc64_checked": false,
        "downloaded_at": "2026-01-01T00:00:00Z", "verified_at": "2026-01-01T00:00:00Z"
    }))
    .unwrap();
    let mut manifest = manifest;
    manifest.backup.backup_end_time = Some(end);
    LocalCopy {
        dir: PathBuf::from(format!("/d/dds-1/{id}")),
        manifest: Ok(manifest),
    }
}

fn archived(c: &LocalCopy) -> Archived {
    let m = c.manifest.clone().unwrap();
    Archived {
        key: m.key(),
        folder: format!("p/dds-1/{}", m.backup.backup_id),
        manifest: m,
        missing: None,
    }
}

fn rotted(mut a: Archived) -> Archived {
    a.manifest.rot = Some(crate::model::Rot {
        found_at: NOW,
        problem: "sha256".into(),
        problems: 1,
    });
    a
}

fn none() -> HashSet<BackupKey> {
    HashSet::new()
}

/// Node `node`'s copy of cluster backup `cb` of `dds-1`.
fn node_copy(cb: &str, node: &str, end: OffsetDateTime) -> LocalCopy {
    let mut c = copy(&format!("{cb}{node}"), end, &format!("{cb}-{node}"));
    if let Ok(m) = &mut c.manifest {
        m.cluster_backup_id = Some(cb.into());
        m.node_id = Some(node.into());
    }
    c.dir = PathBuf::from(format!("/d/dds-1/{cb}/{node}"));
    c
}

fn labels(items: &[PruneItem]) -> Vec<String> {
    items.iter().map(|i| i.key.backup_id.clone()).collect()
}

#[test]
fn only_copies_the_archive_lacks_or_holds_differently_are_uploaded() {
    let a = copy("1", NOW, "aa");
    let b = copy("2", NOW, "bb");
    let c = copy("3", NOW, "cc");
    let mut d = copy("4", NOW, "dd");
    // A copy a local scrub found rotted is not uploaded: its bytes are not the manifest's.
    if let Ok(m) = &mut d.manifest {
        m.rot = Some(crate::model::Rot {
            found_at: NOW,
            problem: "size".into(),
            problems: 1,
        });
    }
    let unreadable = LocalCopy {
        dir: PathBuf::from("/d/dds-1/5"),
        manifest: Err("not a manifest".into()),
    };
    let mut changed = archived(&b);
    changed.manifest.sha256 = "00".into();
    let held = vec![archived(&a), changed.clone(), rotted(archived(&c))];
    let ups = uploads(&[a, b, c, d, unreadable], &held);
    let ids: Vec<_> = ups
        .iter()
        .map(|u| u.manifest.backup.backup_id.clone())
        .collect();
    assert_eq!(ids, ["2", "3"]);
    assert_eq!(ups[0].previous, Some(changed));
    assert!(
        ups[1]
            .previous
            .as_ref()
            .is_some_and(|p| p.manifest.rot.is_some())
    );
}

#[test]
fn keep_local_lets_go_old_archived_copies_but_never_the_newest() {
    let day = time::Duration::days(1);
    let copies = vec![
        copy("1", NOW - day * 5, "a1"),
        copy("2", NOW - day * 3, "a2"),
        copy("3", NOW - day, "a3"),
        copy("4", NOW - day * 10, "a4"),
    ];
    // 4 is old but only held rotted in the archive; 1 and 2 are held sound; 3 is the newest.
    let held = vec![
        archived(&copies[0]),
        archived(&copies[1]),
        archived(&copies[2]),
        rotted(archived(&copies[3])),
    ];
    let two_days = Duration::from_secs(2 * 86_400);
    assert_eq!(
        labels(&keep_local(&copies, &held, &none(), NOW, two_days)),
        ["2", "1"]
    );
    // Nothing archived: nothing let go, whatever the age.
    assert!(keep_local(&copies, &[], &none(), NOW, two_days).is_empty());
    // The newest stays even when it is old and archived.
    let only = vec![copy("9", NOW - day * 30, "a9")];
    assert!(keep_local(&only, &[archived(&only[0])], &none(), NOW, two_days).is_empty());
}

#[test]
fn keep_local_never_lets_go_a_copy_whose_archived_bytes_differ() {
    let day = time::Duration::days(1);
    let copies = vec![copy("1", NOW - day * 5, "a1"), copy("2", NOW, "a2")];
    let mut other = archived(&copies[0]);
    other.manifest.sha256 = "different".into();
    let held = vec![other, archived(&copies[1])];
    assert!(keep_local(&copies, &held, &none(), NOW, Duration::from_secs(3600)).is_empty());
}

#[test]
fn keep_local_lets_a_cluster_backup_go_whole_and_only_once_it_is_complete_here() {
    let day = time::Duration::days(1);
    let copies: Vec<LocalCopy> = [("cb-new", 1), ("cb-sealed", 5), ("cb-open", 6)]
        .iter()
        .flat_map(|(cb, age)| ["d-0", "d-1"].map(|n| node_copy(cb, n, NOW - day * *age)))
        .collect();
    let held: Vec<Archived> = copies.iter().map(archived).collect();
    let unit = |cb: &str| BackupKey::cluster("dds-1", cb, None);
    let sealed: HashSet<BackupKey> = [unit("cb-new"), unit("cb-sealed")].into();
    let gone = keep_local(&copies, &held, &sealed, NOW, Duration::from_secs(3600));
    assert_eq!(labels(&gone), ["cb-sealed"]);
    assert_eq!(gone[0].dir, PathBuf::from("/d/dds-1/cb-sealed"));
    // One node of it not archived: the whole unit stays.
    let partly: Vec<Archived> = held
        .iter()
        .filter(|a| !(a.key.backup_id == "cb-sealed" && a.key.node_id.as_deref() == Some("d-0")))
        .cloned()
        .collect();
    assert!(keep_local(&copies, &partly, &sealed, NOW, Duration::from_secs(3600)).is_empty());
}

#[test]
fn only_units_the_archive_holds_whole_may_be_pruned_locally() {
    let day = time::Duration::days(1);
    let a = copy("1", NOW - day, "a1");
    let b = copy("2", NOW - day, "a2");
    let mut other = archived(&b);
    other.manifest.sha256 = "different".into();
    let nodes = [node_copy("cb-1", "d-0", NOW), node_copy("cb-1", "d-1", NOW)];
    let mut held = vec![archived(&a), other, archived(&nodes[0])];
    let copies = [vec![a, b], nodes.to_vec()].concat();
    let units = archived_units(&copies, &listed(&held), &[]);
    assert_eq!(units, [BackupKey::node("dds-1", None, "1")].into());
    held.push(archived(&copies[3]));
    let cb = BackupKey::cluster("dds-1", "cb-1", None);
    assert!(archived_units(&copies, &listed(&held), &[]).contains(&cb));
    // Sealed here: its nodes are not enough, the archive must hold the same seal.
    let seal = seal_of_nodes("cb-1", &copies[2..]);
    assert!(!archived_units(&copies, &listed(&held), std::slice::from_ref(&seal)).contains(&cb));
    let mut with_seal = listed(&held);
    with_seal.clusters.push(ArchivedCluster {
        unit: cb.clone(),
        manifest: seal.clone(),
    });
    assert!(archived_units(&copies, &with_seal, &[seal]).contains(&cb));
    // A twin marked rotted does not count.
    let rot = vec![rotted(archived(&copies[0]))];
    assert!(archived_units(&copies[..1], &listed(&rot), &[]).is_empty());
}

fn listed(copies: &[Archived]) -> ArchiveListing {
    ArchiveListing {
        copies: copies.to_vec(),
        ..ArchiveListing::default()
    }
}

/// The cluster manifest a store writes for cluster backup `cb` of `dds-1` from its node copies.
fn seal_of_nodes(cb: &str, nodes: &[LocalCopy]) -> ClusterManifest {
    let manifests: Vec<Manifest> = nodes.iter().map(|c| c.manifest.clone().unwrap()).collect();
    let listed = crate::model::ListedCluster {
        unit: BackupKey::cluster("dds-1", cb, None),
        nodes: manifests.iter().map(Manifest::key).collect(),
        problem: None,
        status: "Success".into(),
        start: None,
        end: None,
        expire: None,
        size: None,
    };
    ClusterManifest::seal(&listed, &manifests, NOW).unwrap()
}

#[test]
fn a_cluster_backup_is_sealed_in_the_archive_once_every_node_it_names_is_there() {
    let nodes = [node_copy("cb-1", "d-0", NOW), node_copy("cb-1", "d-1", NOW)];
    let seal = seal_of_nodes("cb-1", &nodes);
    let mut listing = listed(&[archived(&nodes[0])]);
    assert!(
        seals(std::slice::from_ref(&seal), &listing).is_empty(),
        "one node is missing"
    );
    // The other node there, but not the bytes the seal names.
    let mut other = archived(&nodes[1]);
    other.manifest.sha256 = "different".into();
    listing.copies.push(other);
    assert!(seals(std::slice::from_ref(&seal), &listing).is_empty());
    listing.copies[1] = rotted(archived(&nodes[1]));
    assert!(
        seals(std::slice::from_ref(&seal), &listing).is_empty(),
        "a rotted node"
    );
    listing.copies[1] = archived(&nodes[1]);
    let expected = vec![seal.clone()];
    assert_eq!(seals(std::slice::from_ref(&seal), &listing), expected);
    // Already sealed there (written at another time): nothing to do.
    let mut older = seal.clone();
    older.sealed_at = NOW - time::Duration::days(1);
    listing.clusters.push(ArchivedCluster {
        unit: BackupKey::cluster("dds-1", "cb-1", None),
        manifest: older,
    });
    assert!(seals(std::slice::from_ref(&seal), &listing).is_empty());
    assert_eq!(
        archive_sealed(&[seal], &listing),
        [BackupKey::cluster("dds-1", "cb-1", None)].into()
    );
}

#[test]
fn copies_the_archives_rules_would_remove_at_once_are_declined_not_uploaded() {
    let day = time::Duration::days(1);
    // Three local copies the cloud let go long ago; the archive keeps only its newest.
    let copies: Vec<LocalCopy> = [1, 10, 20]
        .iter()
        .map(|age| {
            let mut c = copy(&format!("{age}"), NOW - day * *age, &format!("s{age}"));
            if let Ok(m) = &mut c.manifest {
                m.backup.backup_expire_time = Some(NOW - day * *age + day);
            }
            c
        })
        .collect();
    let rules = crate::sync::prune::Rules {
        keep_last: 1,
        ..Default::default()
    };
    // Asked by id, the cloud said it no longer has them: their recorded expiry stands.
    let gone = copies
        .iter()
        .map(|c| (c.manifest.as_ref().unwrap().key(), None))
        .collect();
    let remote = Remote {
        targets: [crate::model::Target {
            instance_id: "dds-1".into(),
            node_id: None,
            cluster: false,
        }]
        .into(),
        confirmed: gone,
        ..Remote::default()
    };
    let r = Rules {
        rules: &rules,
        remote: &remote,
        zone: crate::schedule::Zone::default(),
        now: NOW,
    };
    let empty = ArchiveListing::default();
    let mut ids: Vec<String> = declined(&copies, &empty, &r)
        .into_iter()
        .map(|k| k.backup_id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["10", "20"]);
    // Already archived: nothing is pending, nothing declined (the archive's own prune acts).
    let held = ArchiveListing {
        copies: copies.iter().map(archived).collect(),
        ..ArchiveListing::default()
    };
    assert!(declined(&copies, &held, &r).is_empty());
    // The instance did not list this pass: nothing would be removed, nothing declined.
    let unlisted = Rules {
        remote: &Remote::default(),
        ..r
    };
    assert!(declined(&copies, &empty, &unlisted).is_empty());
}

#[test]
fn a_copy_whose_data_object_is_missing_is_not_archived() {
    // Issue #21.2: only the manifest is left in the archive (the data object deleted by a
    // lifecycle rule or a person): the copy is uploaded again and never let go locally.
    let day = time::Duration::days(1);
    let copies = vec![copy("1", NOW - day * 5, "a1"), copy("2", NOW - day, "a2")];
    let mut gone = archived(&copies[0]);
    gone.missing = Some("its data object p/dds-1/1/1_qp.xb is missing".into());
    let held = vec![gone, archived(&copies[1])];
    let two_days = Duration::from_secs(2 * 86_400);
    assert!(keep_local(&copies, &held, &none(), NOW, two_days).is_empty());
    let ups = uploads(&copies, &held);
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].manifest.backup.backup_id, "1");
    assert!(!held[0].is_sound());
}

fn item(c: &LocalCopy, expired_at: OffsetDateTime) -> PruneItem {
    PruneItem {
        key: c.manifest.as_ref().unwrap().key(),
        dir: c.dir.clone(),
        expired_at,
    }
}

#[test]
fn the_step_lets_a_copy_go_only_once_the_upload_it_waits_for_succeeded() {
    let day = time::Duration::days(1);
    let old_there = copy("1", NOW - 9 * day, "aa");
    let old_new = copy("2", NOW - 8 * day, "bb");
    let newest = copy("3", NOW, "cc");
    let mut rotted_here = copy("4", NOW - 7 * day, "dd");
    if let Ok(m) = &mut rotted_here.manifest {
        m.rot = Some(crate::model::Rot {
            found_at: NOW,
            problem: "size".into(),
            problems: 1,
        });
    }
    let copies = vec![
        old_there.clone(),
        old_new.clone(),
        newest,
        rotted_here.clone(),
    ];
    let listing = listed(&[archived(&old_there)]);
    // Local retention removes the rotted copy; keep_local lets the old ones go.
    let prune = [item(&rotted_here, NOW)];
    let step = step(&Inputs {
        copies: &copies,
        seals: &[],
        listing: &listing,
        rules: None,
        keep_local: Some(std::time::Duration::from_secs(86_400)),
        prune: &prune,
        now: NOW,
    });
    let up: Vec<String> = step
        .uploads
        .iter()
        .map(|u| u.manifest.backup.backup_id.clone())
        .collect();
    assert_eq!(up, ["2", "3"]);
    // The rotted copy is never uploaded, so the archive will not hold it: held.
    assert_eq!(labels(&step.hold), ["4"]);
    // Copy 1 is in the archive already; copy 2 goes only after its upload.
    assert_eq!(labels(&step.local_removals(&none())), ["1"]);
    let key2 = old_new.manifest.as_ref().unwrap().key();
    let mut both = labels(&step.local_removals(&[key2].into()));
    both.sort();
    assert_eq!(both, ["1", "2"]);
    assert!(step.prune.iter().all(|g| g.item.1 == Why::KeepLocal));
}

#[test]
fn the_step_seals_a_cluster_backup_after_its_nodes_and_lets_it_go_after_the_seal() {
    let day = time::Duration::days(1);
    let nodes = [
        node_copy("cb-1", "d-0", NOW - 9 * day),
        node_copy("cb-1", "d-1", NOW - 9 * day),
    ];
    let newer = [node_copy("cb-2", "d-0", NOW), node_copy("cb-2", "d-1", NOW)];
    let seals_here = [seal_of_nodes("cb-1", &nodes), seal_of_nodes("cb-2", &newer)];
    let copies: Vec<LocalCopy> = nodes.iter().chain(&newer).cloned().collect();
    // One node of cb-1 is archived already; the other, and all of cb-2, are not.
    let listing = listed(&[
        archived(&nodes[0]),
        archived(&newer[0]),
        archived(&newer[1]),
    ]);
    let step = step(&Inputs {
        copies: &copies,
        seals: &seals_here,
        listing: &listing,
        rules: None,
        keep_local: Some(std::time::Duration::from_secs(86_400)),
        prune: &[],
        now: NOW,
    });
    let node1 = nodes[1].manifest.as_ref().unwrap().key();
    let unit = BackupKey::cluster("dds-1", "cb-1", None);
    assert_eq!(step.uploads.len(), 1);
    let guards: Vec<(String, Vec<BackupKey>)> = step
        .seals
        .iter()
        .map(|s| (s.item.unit().backup_id, s.after.clone()))
        .collect();
    assert_eq!(
        guards,
        [
            ("cb-1".into(), vec![node1.clone()]),
            ("cb-2".into(), vec![])
        ]
    );
    // cb-1 goes locally only once its last node is uploaded and the seal is put.
    assert!(step.local_removals(&[node1.clone()].into()).is_empty());
    let gone = step.local_removals(&[node1, unit.clone()].into());
    assert_eq!(gone.iter().map(|i| &i.key).collect::<Vec<_>>(), [&unit]);
}
