use time::macros::datetime;

use super::*;

const NOW: OffsetDateTime = datetime!(2026-11-28 12:00 UTC);

fn backup(id: &str) -> Backup {
    Backup {
        backup_id: id.into(),
        backup_job_id: Some("77".into()),
        backup_status: "Success".into(),
        backup_type: Some("FullBackup".into()),
        backup_method: Some("Physical".into()),
        backup_mode: Some("Automated".into()),
        backup_start_time: Some(datetime!(2026-11-27 03:00 UTC)),
        backup_end_time: Some(datetime!(2026-11-27 03:05 UTC)),
        backup_expire_time: Some(datetime!(2026-12-04 03:05 UTC)),
        backup_size: Some(1000),
        download_url: Some(format!("http://oss/pub/{id}_qp.xb?Expires=1&Signature=s")),
        intranet_download_url: Some(format!(
            "http://oss/internal/{id}_qp.xb?Expires=1&Signature=s"
        )),
        backup_db_names: None,
        backup_name: None,
        backup_scale: None,
        is_avail: true,
        engine_version: Some("4.2".into()),
    }
}

fn policy(network: Network, intranet_reachable: bool) -> UrlPolicy {
    UrlPolicy {
        network,
        intranet_reachable,
    }
}

fn listed(instance: &str, node: Option<&str>, backups: &[Backup]) -> Vec<Listed> {
    backups
        .iter()
        .map(|b| Listed {
            key: BackupKey {
                instance_id: instance.into(),
                node_id: node.map(str::to_string),
                backup_id: b.backup_id.clone(),
                cluster: false,
            },
            refused: None,
            backup: b.clone(),
        })
        .collect()
}

/// The actions for `backups` of `dds-1` with `local` on disk for each one's `<id>_qp.xb`.
fn plan(backups: &[Backup], urls: UrlPolicy, local: LocalState) -> Vec<Action> {
    let listed = listed("dds-1", None, backups);
    let mut snap = OnDisk::default();
    for l in &listed {
        let file = format!("{}_qp.xb", l.key.backup_id);
        snap.states.insert((l.key.clone(), file), local.clone());
    }
    decide(&listed, &snap, NOW, &with_urls(urls))
}

fn with_urls(urls: UrlPolicy) -> Policy {
    urls.into()
}

fn skip_reason(a: &Action) -> Option<&SkipReason> {
    match a {
        Action::Skip { reason, .. } => Some(reason),
        _ => None,
    }
}

#[test]
fn selection_rules() {
    let mut failed = backup("1");
    failed.backup_status = "Failed".into();
    let mut unavailable = backup("2");
    unavailable.is_avail = false;
    let mut expired = backup("3");
    expired.backup_expire_time = Some(datetime!(2026-11-28 11:59 UTC));
    let mut forever = backup("4");
    forever.backup_expire_time = Some(datetime!(9999-01-01 0:00 UTC));
    let mut snapshot = backup("5");
    snapshot.download_url = None;
    snapshot.intranet_download_url = None;
    let mut ftp = backup("6");
    ftp.download_url = Some("ftp://oss/x.ar".into());
    let mut creds = backup("7");
    creds.download_url = Some("http://u:p@oss/x.ar".into());
    let mut evil_id = backup("../8");
    evil_id.backup_id = "../8".into();
    let mut no_size = backup("9");
    no_size.backup_size = None;
    let mut bad_name = backup("10");
    bad_name.download_url = Some("http://oss/..?Signature=x".into());

    let all = [
        failed,
        unavailable,
        expired,
        forever,
        snapshot,
        ftp,
        creds,
        evil_id,
        no_size,
        bad_name,
        backup("4"),
    ];
    let actions = plan(&all, policy(Network::Public, false), LocalState::Missing);
    let reasons: Vec<Option<String>> = actions
        .iter()
        .map(|a| skip_reason(a).map(|r| r.to_string()))
        .collect();
    let expect = [
        Some("status is Failed, not Success"),
        Some("IsAvail is false"),
        Some("expired at 2026-11-28T11:59:00Z"),
        None,
        Some("no public download URL (snapshot backups have none)"),
        Some("unusable download URL: scheme \"ftp\" is not http or https"),
        Some("unusable download URL: it carries user credentials"),
        Some(
            "unsafe name: backup id \"../8\" contains '/'; only letters, digits, '-', '_' and '.' are allowed",
        ),
        Some("no BackupSize, so the download could not be verified"),
        Some("unsafe name: download URL file name \"\" is not usable"),
        Some("listed twice; the first entry is used"),
    ];
    for (i, (got, want)) in reasons.iter().zip(expect).enumerate() {
        assert_eq!(got.as_deref(), want, "backup #{i}");
    }
}

#[test]
fn url_choice_per_network() {
    let b = backup("1");
    let fetch = |urls| match plan(std::slice::from_ref(&b), urls, LocalState::Missing).remove(0) {
        Action::Fetch(f) => (f.via, f.url.contains("/internal/"), f.fallback.is_some()),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        fetch(policy(Network::Public, true)),
        (Via::Public, false, false)
    );
    assert_eq!(
        fetch(policy(Network::Intranet, false)),
        (Via::Intranet, true, false)
    );
    assert_eq!(
        fetch(policy(Network::Auto, true)),
        (Via::Intranet, true, true)
    );
    assert_eq!(
        fetch(policy(Network::Auto, false)),
        (Via::Public, false, false)
    );

    let mut intranet_only = backup("2");
    intranet_only.download_url = None;
    let got = plan(
        &[intranet_only.clone()],
        policy(Network::Public, true),
        LocalState::Missing,
    );
    assert_eq!(skip_reason(&got[0]), Some(&SkipReason::NoUrl("public")));
    let got = plan(
        &[intranet_only],
        policy(Network::Auto, false),
        LocalState::Missing,
    );
    assert!(matches!(&got[0], Action::Fetch(f) if f.via == Via::Intranet));
}

#[test]
fn local_state_decides_fetch_resume_or_nothing() {
    let b = backup("1");
    let urls = policy(Network::Public, false);
    let one = |local| plan(std::slice::from_ref(&b), urls, local).remove(0);
    assert!(matches!(
        one(LocalState::Complete { size: 1000 }),
        Action::UpToDate { .. }
    ));
    assert!(
        matches!(one(LocalState::Complete { size: 999 }), Action::Fetch(f) if f.resume_from == 0)
    );
    assert!(matches!(one(LocalState::Partial(400)), Action::Fetch(f) if f.resume_from == 400));
    assert!(matches!(one(LocalState::Partial(1000)), Action::Fetch(f) if f.resume_from == 1000));
    assert!(matches!(one(LocalState::Partial(1001)), Action::Fetch(f) if f.resume_from == 0));
    assert!(
        matches!(one(LocalState::Missing), Action::Fetch(f) if f.resume_from == 0 && f.file_name == "1_qp.xb")
    );
}

#[test]
fn a_backup_held_by_the_archive_and_not_on_disk_is_not_fetched_again() {
    let b = backup("1");
    let listed = listed("dds-1", None, std::slice::from_ref(&b));
    let key = listed[0].key.clone();
    let mut policy = with_urls(policy(Network::Public, false));
    let decide_with = |policy: &Policy, local: LocalState| {
        let mut snap = OnDisk::default();
        snap.states.insert((key.clone(), "1_qp.xb".into()), local);
        decide(&listed, &snap, NOW, policy).remove(0)
    };
    policy
        .archived
        .insert((key.clone(), "1_qp.xb".into(), 1000));
    assert!(matches!(
        decide_with(&policy, LocalState::Missing),
        Action::Archived { .. }
    ));
    // A partial file on disk is resumed: the local copy is being made again.
    assert!(matches!(
        decide_with(&policy, LocalState::Partial(10)),
        Action::Fetch(_)
    ));
    // The archive's copy has another size than the listing says: fetch it.
    policy.archived.clear();
    policy.archived.insert((key.clone(), "1_qp.xb".into(), 999));
    assert!(matches!(
        decide_with(&policy, LocalState::Missing),
        Action::Fetch(_)
    ));
}

#[test]
fn keys_carry_the_node() {
    let actions = decide(
        &listed("dds-s", Some("d-0"), &[backup("1")]),
        &OnDisk::default(),
        NOW,
        &with_urls(policy(Network::Public, false)),
    );
    assert_eq!(actions.len(), 1);
    assert!(
        matches!(&actions[0], Action::Fetch(f) if f.key.node_id.as_deref() == Some("d-0")),
        "{actions:?}"
    );
}

#[test]
fn reasons_and_labels_show_the_api_text_as_data() {
    let mut b = backup("bad\nid");
    b.backup_status = "Failed\nERROR forged".into();
    let reason = SkipReason::NotSuccess(b.backup_status.clone()).to_string();
    assert_eq!(reason, r"status is Failed\nERROR forged, not Success");
    let actions = plan(&[b], policy(Network::Public, false), LocalState::Missing);
    let Action::Skip { key, reason } = &actions[0] else {
        panic!("{actions:?}")
    };
    assert_eq!(key.label(), r"dds-1/bad\nid");
    assert!(!reason.to_string().contains('\n'), "{reason}");
}

fn snapshot(id: &str, day: u8) -> Backup {
    let mut b = backup(id);
    b.backup_method = Some("Snapshot".into());
    b.download_url = None;
    b.intranet_download_url = None;
    b.backup_start_time = Some(datetime!(2026-11-20 03:00 UTC).replace_day(day).unwrap());
    b
}

fn export_plan(backups: &[Backup], exports: Option<ExportPolicy>, local: &OnDisk) -> Vec<Action> {
    let policy = Policy {
        exports,
        ..with_urls(policy(Network::Public, false))
    };
    decide(&listed("dds-1", None, backups), local, NOW, &policy)
}

#[test]
fn snapshots_are_exported_only_when_asked_and_newest_first() {
    let backups = [snapshot("s1", 25), snapshot("s2", 27), backup("p1")];
    let none = OnDisk::default();
    let off = export_plan(&backups, None, &none);
    let reason = skip_reason(&off[0]).unwrap().to_string();
    assert!(reason.contains("[snapshots] download = true"), "{reason}");
    assert!(matches!(&off[2], Action::Fetch(_)), "{off:?}");

    let on = ExportPolicy {
        instances: SnapshotInstances::All,
        latest_only: true,
        storage: Default::default(),
    };
    let actions = export_plan(&backups, Some(on.clone()), &none);
    let reason = skip_reason(&actions[0]).unwrap().to_string();
    assert!(reason.contains("latest_only"), "{reason}");
    let Action::Export(e) = &actions[1] else {
        panic!("{actions:?}")
    };
    assert_eq!(
        (e.key.backup_id.as_str(), e.file_name.as_str()),
        ("s2", "s2.tar.zst")
    );

    let every = ExportPolicy {
        latest_only: false,
        ..on.clone()
    };
    let actions = export_plan(&backups, Some(every), &none);
    assert_eq!(
        actions
            .iter()
            .filter(|a| matches!(a, Action::Export(_)))
            .count(),
        2
    );

    let other = ExportPolicy {
        instances: SnapshotInstances::Only(vec!["dds-2".into()]),
        ..on.clone()
    };
    let local_disk = ExportPolicy {
        storage: [("dds-1".to_string(), "local_ssd".to_string())].into(),
        ..on.clone()
    };
    let reason = skip_reason(&export_plan(&backups, Some(local_disk), &none)[1])
        .unwrap()
        .to_string();
    assert!(reason.contains("local_ssd (not cloud disks)"), "{reason}");
    let reason = skip_reason(&export_plan(&backups, Some(other), &none)[1])
        .unwrap()
        .to_string();
    assert!(reason.contains("snapshots.instances"), "{reason}");

    // A published export is up to date; a failed snapshot is never exported.
    let mut local = OnDisk::default();
    let key = listed("dds-1", None, &backups[1..2])[0].key.clone();
    local.states.insert(
        (key, "s2.tar.zst".into()),
        LocalState::Complete { size: 10 },
    );
    let actions = export_plan(&backups, Some(on.clone()), &local);
    assert!(
        matches!(&actions[1], Action::UpToDate { .. }),
        "{actions:?}"
    );
    let mut failed = snapshot("s3", 28);
    failed.backup_status = "Failed".into();
    let actions = export_plan(&[failed, snapshot("s2", 27)], Some(on), &none);
    assert!(matches!(&actions[1], Action::Export(_)), "{actions:?}");
}
