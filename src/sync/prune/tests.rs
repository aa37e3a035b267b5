use time::macros::datetime;

use super::*;
use crate::model::Manifest;

const NOW: OffsetDateTime = datetime!(2026-11-28 12:00 UTC);

fn copy(
    node: Option<&str>,
    id: &str,
    end: OffsetDateTime,
    expire: Option<OffsetDateTime>,
) -> LocalCopy {
    let backup = Backup {
        backup_id: id.into(),
        backup_job_id: None,
        backup_status: "Success".into(),
        backup_type: None,
        backup_method: None,
        backup_mode: None,
        backup_start_time: Some(end - time::Duration::minutes(5)),
        backup_end_time: Some(end),
        backup_expire_time: expire,
        backup_size: Some(1),
        download_url: None,
        intranet_download_url: None,
        backup_db_names: None,
        backup_name: None,
        backup_scale: None,
        is_avail: true,
        engine_version: None,
    };
    LocalCopy {
        dir: PathBuf::from(format!(
            "/d/dds-1/{}{id}",
            node.map(|n| format!("{n}/")).unwrap_or_default()
        )),
        manifest: Ok(Manifest {
            format: 1,
            instance_id: "dds-1".into(),
            node_id: node.map(str::to_string),
            cluster_backup_id: None,
            backup,
            file: "f".into(),
            size: 1,
            sha256: String::new(),
            crc64: String::new(),
            crc64_checked: false,
            format_verdict: None,
            format_detail: None,
            rot: None,
            export: None,
            downloaded_at: NOW,
            verified_at: NOW,
        }),
    }
}

fn ids(items: &[PruneItem]) -> Vec<String> {
    items.iter().map(|i| i.key.label()).collect()
}

#[test]
fn retention_table() {
    let past = Some(datetime!(2026-11-20 00:00 UTC));
    let copies = vec![
        copy(None, "old1", datetime!(2026-10-01 0:00 UTC), past),
        copy(None, "old2", datetime!(2026-10-02 0:00 UTC), past),
        copy(
            None,
            "forever",
            datetime!(2026-09-01 0:00 UTC),
            Some(datetime!(9999-01-01 0:00 UTC)),
        ),
        copy(
            None,
            "fresh",
            datetime!(2026-11-27 0:00 UTC),
            Some(datetime!(2026-12-27 0:00 UTC)),
        ),
        copy(None, "noexpiry", datetime!(2026-08-01 0:00 UTC), None),
        LocalCopy {
            dir: "/d/dds-1/corrupt".into(),
            manifest: Err("bad json".into()),
        },
    ];
    let listed = HashMap::new();
    // keep_last 1 keeps "fresh" (newest) anyway; both old ones are past expiry.
    assert_eq!(
        ids(&plan(&copies, &listed, NOW, Duration::ZERO, 1)),
        ["dds-1/old2", "dds-1/old1"]
    );
    // keep_last 3 keeps fresh, old2 and old1 (forever and noexpiry are never candidates).
    assert_eq!(
        ids(&plan(&copies, &listed, NOW, Duration::ZERO, 3)),
        Vec::<String>::new()
    );
    // keep_last 0: still never the forever or undated ones.
    assert_eq!(
        ids(&plan(&copies, &listed, NOW, Duration::ZERO, 0)),
        ["dds-1/old2", "dds-1/old1"]
    );
    // A grace of 9 days keeps expiries of 8 days ago.
    assert!(plan(&copies, &listed, NOW, Duration::from_secs(9 * 86400), 0).is_empty());
    assert_eq!(
        plan(&copies, &listed, NOW, Duration::from_secs(7 * 86400), 0).len(),
        2
    );
}

#[test]
fn keep_last_is_per_node_and_listing_wins() {
    let past = Some(datetime!(2026-11-20 00:00 UTC));
    let copies = vec![
        copy(Some("d-0"), "a", datetime!(2026-10-01 0:00 UTC), past),
        copy(Some("d-1"), "b", datetime!(2026-10-01 0:00 UTC), past),
        copy(Some("d-1"), "c", datetime!(2026-09-01 0:00 UTC), past),
    ];
    assert_eq!(
        ids(&plan(&copies, &HashMap::new(), NOW, Duration::ZERO, 1)),
        ["dds-1/d-1/c"]
    );
    // The cloud extended c's retention: the listing's expiry wins over the manifest's.
    let mut extended = copies[2].manifest.as_ref().unwrap().backup.clone();
    extended.backup_expire_time = Some(datetime!(2027-01-01 0:00 UTC));
    let listed = HashMap::from([(copies[2].manifest.as_ref().unwrap().key(), extended)]);
    assert!(plan(&copies, &listed, NOW, Duration::ZERO, 1).is_empty());
}

/// One node's part of cluster backup `cb`, in `/d/dds-1/<cb>/<node>`.
fn cluster_copy(
    cb: &str,
    node: &str,
    end: OffsetDateTime,
    expire: Option<OffsetDateTime>,
) -> LocalCopy {
    let mut c = copy(Some(node), &format!("{cb}-{node}"), end, expire);
    c.dir = PathBuf::from(format!("/d/dds-1/{cb}/{node}"));
    if let Ok(m) = &mut c.manifest {
        m.cluster_backup_id = Some(cb.into());
    }
    c
}

#[test]
fn a_cluster_backup_is_one_unit_of_retention() {
    let past = Some(datetime!(2026-11-20 00:00 UTC));
    let copies = vec![
        cluster_copy("cb-old", "d-0", datetime!(2026-10-01 0:00 UTC), past),
        cluster_copy("cb-old", "d-1", datetime!(2026-10-01 0:00 UTC), past),
        cluster_copy("cb-new", "d-0", datetime!(2026-10-02 0:00 UTC), past),
        cluster_copy("cb-new", "d-1", datetime!(2026-10-02 0:00 UTC), past),
        // A per-node copy of the same instance from before it switched modes.
        copy(
            Some("d-0"),
            "node-backup",
            datetime!(2026-10-03 0:00 UTC),
            past,
        ),
    ];
    // keep_last 1 counts cluster backups (not node files) and other backups apart.
    let out = plan(&copies, &HashMap::new(), NOW, Duration::ZERO, 1);
    assert_eq!(ids(&out), ["dds-1/cb-old"], "{out:?}");
    assert_eq!(
        out[0].dir,
        PathBuf::from("/d/dds-1/cb-old"),
        "the cluster's folder"
    );
    assert!(out[0].key.cluster && out[0].key.node_id.is_none());
    let out = plan(&copies, &HashMap::new(), NOW, Duration::ZERO, 0);
    assert_eq!(
        ids(&out),
        ["dds-1/cb-new", "dds-1/cb-old", "dds-1/d-0/node-backup"]
    );
}
