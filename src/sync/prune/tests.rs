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

/// Every target the copies belong to: their listings succeeded.
fn all_listed(copies: &[LocalCopy]) -> BTreeSet<Target> {
    copies
        .iter()
        .filter_map(|c| c.manifest.as_ref().ok())
        .map(|m| m.key().target())
        .collect()
}

/// The rules before the tiers: expiry + grace and `keep_last`, every target listed.
fn old_plan(
    copies: &[LocalCopy],
    listed: &HashMap<BackupKey, Backup>,
    now: OffsetDateTime,
    grace: Duration,
    keep_last: usize,
) -> Vec<PruneItem> {
    let rules = Rules {
        grace,
        keep_last,
        ..Rules::default()
    };
    let targets = all_listed(copies);
    plan(
        copies,
        listed,
        &gone(copies),
        &targets,
        &rules,
        Zone::default(),
        now,
    )
    .remove
}

/// The cloud's answer for every copy, asked by id: it has none of them any more (so each
/// manifest's expiry stands).
fn gone(copies: &[LocalCopy]) -> HashMap<BackupKey, Option<Backup>> {
    copies
        .iter()
        .filter_map(|c| c.manifest.as_ref().ok())
        .map(|m| (m.key(), None))
        .collect()
}

#[test]
fn a_copy_the_cloud_said_nothing_of_is_never_removed_on_its_recorded_expiry() {
    // Issue #21.5: an expiry can grow (`ModifyBackupExpireTime`) after the copy was made, and
    // a backup past the listing's window is not listed: the cloud is asked by id first.
    let past = Some(datetime!(2026-11-20 00:00 UTC));
    let copies = vec![
        copy(None, "a", datetime!(2026-10-01 0:00 UTC), past),
        copy(None, "b", datetime!(2026-10-02 0:00 UTC), past),
        copy(None, "c", datetime!(2026-10-03 0:00 UTC), past),
    ];
    let key = |i: usize| copies[i].manifest.as_ref().unwrap().key();
    let targets = all_listed(&copies);
    let r = Rules::default();
    let nothing = HashMap::new();
    let unasked = HashMap::new();
    let out = plan(
        &copies,
        &nothing,
        &unasked,
        &targets,
        &r,
        Zone::default(),
        NOW,
    );
    assert!(out.remove.is_empty(), "{:?}", out.remove);
    assert!(out.decisions.iter().all(|d| d.keep == [Keep::Unconfirmed]));
    // Asked: a is gone from the cloud (its recorded expiry stands), b was extended, c's
    // answer is not in.
    let mut extended = copies[1].manifest.as_ref().unwrap().backup.clone();
    extended.backup_expire_time = Some(datetime!(2027-06-01 0:00 UTC));
    let asked = HashMap::from([(key(0), None), (key(1), Some(extended))]);
    let out = plan(
        &copies,
        &nothing,
        &asked,
        &targets,
        &r,
        Zone::default(),
        NOW,
    );
    assert_eq!(ids(&out.remove), ["dds-1/a"]);
    let keep = |id: &str| {
        out.decisions
            .iter()
            .find(|d| d.key.backup_id == id)
            .unwrap()
            .keep
            .clone()
    };
    assert!(matches!(keep("b")[..], [Keep::NotExpired { .. }]));
    assert_eq!(keep("c"), [Keep::Unconfirmed]);
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
        ids(&old_plan(&copies, &listed, NOW, Duration::ZERO, 1)),
        ["dds-1/old2", "dds-1/old1"]
    );
    // keep_last 3 keeps fresh, old2 and old1 (forever and noexpiry are never candidates).
    assert_eq!(
        ids(&old_plan(&copies, &listed, NOW, Duration::ZERO, 3)),
        Vec::<String>::new()
    );
    // keep_last 0: still never the forever or undated ones.
    assert_eq!(
        ids(&old_plan(&copies, &listed, NOW, Duration::ZERO, 0)),
        ["dds-1/old2", "dds-1/old1"]
    );
    // A grace of 9 days keeps expiries of 8 days ago.
    assert!(old_plan(&copies, &listed, NOW, Duration::from_secs(9 * 86400), 0).is_empty());
    assert_eq!(
        old_plan(&copies, &listed, NOW, Duration::from_secs(7 * 86400), 0).len(),
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
        ids(&old_plan(&copies, &HashMap::new(), NOW, Duration::ZERO, 1)),
        ["dds-1/d-1/c"]
    );
    // The cloud extended c's retention: the listing's expiry wins over the manifest's.
    let mut extended = copies[2].manifest.as_ref().unwrap().backup.clone();
    extended.backup_expire_time = Some(datetime!(2027-01-01 0:00 UTC));
    let listed = HashMap::from([(copies[2].manifest.as_ref().unwrap().key(), extended)]);
    assert!(old_plan(&copies, &listed, NOW, Duration::ZERO, 1).is_empty());
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
    let out = old_plan(&copies, &HashMap::new(), NOW, Duration::ZERO, 1);
    assert_eq!(ids(&out), ["dds-1/cb-old"], "{out:?}");
    assert_eq!(
        out[0].dir,
        PathBuf::from("/d/dds-1/cb-old"),
        "the cluster's folder"
    );
    assert!(out[0].key.cluster && out[0].key.node_id.is_none());
    let out = old_plan(&copies, &HashMap::new(), NOW, Duration::ZERO, 0);
    assert_eq!(
        ids(&out),
        ["dds-1/cb-new", "dds-1/cb-old", "dds-1/d-0/node-backup"]
    );
}

// ---- the tiers --------------------------------------------------------------------------------

const EXPIRED: Option<OffsetDateTime> = Some(datetime!(2020-01-01 0:00 UTC));

fn rules(f: impl FnOnce(&mut Rules)) -> Rules {
    let mut r = Rules::default();
    f(&mut r);
    r
}

fn decisions(copies: &[LocalCopy], rules: &Rules, zone: Zone) -> Vec<Decision> {
    let targets = all_listed(copies);
    plan(
        copies,
        &HashMap::new(),
        &gone(copies),
        &targets,
        rules,
        zone,
        NOW,
    )
    .decisions
}

/// The backup ids no rule removes, newest first.
fn kept(decisions: &[Decision]) -> Vec<String> {
    decisions
        .iter()
        .filter(|d| !d.removed())
        .map(|d| d.key.backup_id.clone())
        .collect()
}

fn reasons(decisions: &[Decision], id: &str) -> Vec<String> {
    let d = decisions.iter().find(|d| d.key.backup_id == id).unwrap();
    d.keep.iter().map(ToString::to_string).collect()
}

/// A copy per day at `hh:mm` UTC, named after its UTC date, expired long ago.
fn daily_copies(last: time::Date, days: i64, hour: u8, minute: u8) -> Vec<LocalCopy> {
    (0..days)
        .map(|i| {
            let day = last - time::Duration::days(i);
            let at = day.with_hms(hour, minute, 0).unwrap().assume_utc();
            copy(None, &day.to_string(), at, EXPIRED)
        })
        .collect()
}

fn damage(c: &mut LocalCopy) {
    c.manifest.as_mut().unwrap().format_verdict = Some(Verdict::Damaged);
}

fn rot(c: &mut LocalCopy) {
    c.manifest.as_mut().unwrap().rot = Some(crate::model::Rot {
        found_at: NOW,
        problem: "sha256 differs".into(),
        problems: 1,
    });
}

#[test]
fn seven_daily_four_weekly_twelve_monthly_over_a_year_of_daily_copies() {
    let copies = daily_copies(time::macros::date!(2026 - 11 - 28), 400, 2, 0);
    let r = rules(|r| {
        r.keep_daily = 7;
        r.keep_weekly = 4;
        r.keep_monthly = 12;
    });
    let out = decisions(&copies, &r, Zone::default());
    assert_eq!(out.len(), 400);
    // Worked out by hand: the 7 newest days; the newest day of each of the 4 newest ISO weeks
    // (2026-11-28 is a Saturday of W48, the Sundays end W47..W45); the newest day of each of
    // the 12 newest months (2025-12 to 2026-11).
    let expected = [
        "2026-11-28",
        "2026-11-27",
        "2026-11-26",
        "2026-11-25",
        "2026-11-24",
        "2026-11-23",
        "2026-11-22",
        "2026-11-15",
        "2026-11-08",
        "2026-10-31",
        "2026-09-30",
        "2026-08-31",
        "2026-07-31",
        "2026-06-30",
        "2026-05-31",
        "2026-04-30",
        "2026-03-31",
        "2026-02-28",
        "2026-01-31",
        "2025-12-31",
    ];
    assert_eq!(kept(&out), expected);
    assert_eq!(
        reasons(&out, "2026-11-28"),
        [
            "daily 2026-11-28",
            "weekly 2026-W48",
            "monthly 2026-11",
            "newest sound copy"
        ]
    );
    assert_eq!(
        reasons(&out, "2026-11-22"),
        ["daily 2026-11-22", "weekly 2026-W47"]
    );
    assert_eq!(reasons(&out, "2026-11-08"), ["weekly 2026-W45"]);
    assert_eq!(reasons(&out, "2025-12-31"), ["monthly 2025-12"]);
    // The removals are what the store is told, and nothing else.
    let targets = all_listed(&copies);
    let local = plan(
        &copies,
        &HashMap::new(),
        &gone(&copies),
        &targets,
        &r,
        Zone::default(),
        NOW,
    );
    assert_eq!(local.remove.len(), 400 - expected.len());
    assert!(
        local
            .remove
            .iter()
            .all(|p| !expected.contains(&p.key.backup_id.as_str()))
    );
    // keep_yearly 3 finds only two years: the oldest copy is kept too (the tier is not full).
    let r = Rules {
        keep_yearly: 3,
        ..r
    };
    let out = decisions(&copies, &r, Zone::default());
    assert_eq!(kept(&out).len(), expected.len() + 1, "{:?}", kept(&out));
    assert_eq!(
        reasons(&out, "2025-12-31"),
        ["monthly 2025-12", "yearly 2025"]
    );
    assert_eq!(reasons(&out, "2025-10-25"), ["oldest (a tier is not full)"]);
}

#[test]
fn weeks_are_iso_weeks() {
    // 2027-01-01 is a Friday: it and 2027-01-03 belong to 2026-W53; 2027-01-04 starts W01.
    let copies = daily_copies(time::macros::date!(2027 - 01 - 05), 10, 2, 0);
    let out = decisions(&copies, &rules(|r| r.keep_weekly = 3), Zone::default());
    assert_eq!(kept(&out), ["2027-01-05", "2027-01-03", "2026-12-27"]);
    assert_eq!(reasons(&out, "2027-01-03"), ["weekly 2026-W53"]);
    assert_eq!(reasons(&out, "2026-12-27"), ["weekly 2026-W52"]);
}

#[test]
fn buckets_are_read_in_the_time_zone() {
    let copies = vec![
        copy(None, "b", datetime!(2026-11-28 02:00 UTC), EXPIRED),
        // 07:30 on the 28th in Shanghai.
        copy(None, "a", datetime!(2026-11-27 23:30 UTC), EXPIRED),
        copy(None, "c", datetime!(2026-11-26 02:00 UTC), EXPIRED),
    ];
    let r = rules(|r| r.keep_daily = 2);
    let utc = decisions(&copies, &r, Zone::default());
    assert_eq!(kept(&utc), ["b", "a"]);
    assert_eq!(reasons(&utc, "a"), ["daily 2026-11-27"]);
    let shanghai = Zone::parse(Some("Asia/Shanghai")).unwrap();
    let local = decisions(&copies, &r, shanghai);
    assert_eq!(kept(&local), ["b", "c"], "a is b's day there");
    assert_eq!(reasons(&local, "c"), ["daily 2026-11-26"]);
    let one = [copy(None, "late", datetime!(2026-11-27 23:30 UTC), EXPIRED)];
    assert_eq!(
        reasons(&decisions(&one, &r, shanghai), "late")[0],
        "daily 2026-11-28"
    );
}

#[test]
fn keep_within_is_measured_from_the_newest_copy_not_from_now() {
    // The source stopped backing up 90 days ago.
    let at = |days: i64| NOW - time::Duration::days(days);
    let copies = vec![
        copy(None, "d90", at(90), EXPIRED),
        copy(None, "d95", at(95), EXPIRED),
        copy(None, "d100", at(100), EXPIRED),
        copy(None, "d130", at(130), EXPIRED),
    ];
    let r = rules(|r| r.keep_within = Some(Duration::from_secs(10 * 86400)));
    let out = decisions(&copies, &r, Zone::default());
    // Exactly 10 days before the newest is no longer within them (restic's rule).
    assert_eq!(kept(&out), ["d90", "d95"]);
    assert_eq!(
        reasons(&out, "d90"),
        ["within 10days of the newest", "newest sound copy"]
    );
}

#[test]
fn a_target_not_listed_this_pass_loses_nothing() {
    let copies = vec![
        copy(None, "a", datetime!(2026-10-01 0:00 UTC), EXPIRED),
        copy(None, "b", datetime!(2026-09-01 0:00 UTC), EXPIRED),
        copy(Some("d-0"), "c", datetime!(2026-09-01 0:00 UTC), EXPIRED),
    ];
    let r = Rules::default();
    // Only the node d-0 listed: the instance's own copies stay, with the reason.
    let targets = BTreeSet::from([BackupKey::node("dds-1", Some("d-0"), "c").target()]);
    let out = plan(
        &copies,
        &HashMap::new(),
        &gone(&copies),
        &targets,
        &r,
        Zone::default(),
        NOW,
    );
    assert_eq!(ids(&out.remove), ["dds-1/d-0/c"]);
    assert_eq!(reasons(&out.decisions, "a"), ["not listed this pass"]);
    // Nothing listed (a failed listing, an instance no longer configured): nothing goes.
    let none = plan(
        &copies,
        &HashMap::new(),
        &gone(&copies),
        &BTreeSet::new(),
        &r,
        Zone::default(),
        NOW,
    );
    assert!(none.remove.is_empty());
    assert_eq!(kept(&none.decisions).len(), 3);
}

#[test]
fn unsound_copies_fill_no_bucket_and_the_newest_sound_copy_stays() {
    let mut copies = vec![
        copy(None, "28-late", datetime!(2026-11-28 02:00 UTC), EXPIRED),
        copy(None, "28-early", datetime!(2026-11-28 01:00 UTC), EXPIRED),
        copy(None, "27", datetime!(2026-11-27 02:00 UTC), EXPIRED),
        copy(None, "26", datetime!(2026-11-26 02:00 UTC), EXPIRED),
        copy(None, "25", datetime!(2026-11-25 02:00 UTC), EXPIRED),
    ];
    damage(&mut copies[0]);
    rot(&mut copies[2]);
    let r = rules(|r| r.keep_daily = 2);
    let out = decisions(&copies, &r, Zone::default());
    // The 28th's bucket goes to its sound copy; the rotted 27th is passed over for the 26th.
    assert_eq!(kept(&out), ["28-early", "26"]);
    assert_eq!(
        reasons(&out, "28-early"),
        ["daily 2026-11-28", "newest sound copy"]
    );
    // keep_last counts every copy, as before the tiers.
    let out = decisions(&copies, &Rules { keep_last: 1, ..r }, Zone::default());
    assert_eq!(kept(&out), ["28-late", "28-early", "26"]);
    assert_eq!(reasons(&out, "28-late"), ["last 1"]);
    // With no tier the newest sound copy has no floor of its own (the old rules exactly).
    let out = decisions(&copies, &Rules::default(), Zone::default());
    assert!(kept(&out).is_empty());
}

#[test]
fn a_tier_not_full_keeps_the_oldest_copy_too() {
    let copies = vec![
        copy(None, "28", datetime!(2026-11-28 02:00 UTC), EXPIRED),
        copy(None, "27-late", datetime!(2026-11-27 03:00 UTC), EXPIRED),
        copy(None, "27-early", datetime!(2026-11-27 01:00 UTC), EXPIRED),
    ];
    let out = decisions(&copies, &rules(|r| r.keep_daily = 7), Zone::default());
    assert_eq!(kept(&out), ["28", "27-late", "27-early"]);
    assert_eq!(reasons(&out, "27-early"), ["oldest (a tier is not full)"]);
    // A full tier keeps no extra copy.
    let out = decisions(&copies, &rules(|r| r.keep_daily = 2), Zone::default());
    assert_eq!(kept(&out), ["28", "27-late"]);
}

#[test]
fn a_cluster_backup_is_one_unit_of_the_tiers() {
    let mut copies = vec![
        cluster_copy("cb-28", "d-0", datetime!(2026-11-28 02:00 UTC), EXPIRED),
        cluster_copy("cb-28", "d-1", datetime!(2026-11-28 02:00 UTC), EXPIRED),
        cluster_copy("cb-27", "d-0", datetime!(2026-11-27 02:00 UTC), EXPIRED),
        cluster_copy("cb-27", "d-1", datetime!(2026-11-27 02:00 UTC), EXPIRED),
        cluster_copy("cb-26", "d-0", datetime!(2026-11-26 02:00 UTC), EXPIRED),
        cluster_copy("cb-26", "d-1", datetime!(2026-11-26 02:00 UTC), EXPIRED),
    ];
    // One damaged node makes the whole cluster backup unsound.
    damage(&mut copies[1]);
    let r = rules(|r| r.keep_daily = 1);
    let targets = all_listed(&copies);
    let out = plan(
        &copies,
        &HashMap::new(),
        &gone(&copies),
        &targets,
        &r,
        Zone::default(),
        NOW,
    );
    assert_eq!(out.decisions.len(), 3, "units, not node copies");
    assert_eq!(kept(&out.decisions), ["cb-27"]);
    assert_eq!(ids(&out.remove), ["dds-1/cb-28", "dds-1/cb-26"]);
    assert_eq!(out.remove[0].dir, PathBuf::from("/d/dds-1/cb-28"));
}

#[test]
fn decisions_carry_the_times_and_the_expiry_reasons() {
    let copies = vec![
        copy(
            None,
            "fresh",
            datetime!(2026-11-27 0:00 UTC),
            Some(datetime!(2026-12-27 0:00 UTC)),
        ),
        copy(
            None,
            "forever",
            datetime!(2026-11-01 0:00 UTC),
            Some(datetime!(9999-01-01 0:00 UTC)),
        ),
        copy(None, "undated", datetime!(2026-10-01 0:00 UTC), None),
    ];
    let r = Rules {
        grace: Duration::from_secs(86400),
        ..Rules::default()
    };
    let out = decisions(&copies, &r, Zone::default());
    assert_eq!(
        reasons(&out, "fresh"),
        ["not expired (until 2026-12-28T00:00:00Z)"]
    );
    assert_eq!(reasons(&out, "forever"), ["kept forever on the cloud"]);
    assert_eq!(reasons(&out, "undated"), ["no expiry time known"]);
    assert_eq!(out[0].taken, Some(datetime!(2026-11-27 0:00 UTC)));
    assert_eq!(out[0].expire, Some(datetime!(2026-12-27 0:00 UTC)));
    // A grace too long to add to a date is no deadline.
    let r = Rules {
        grace: Duration::MAX,
        ..Rules::default()
    };
    let old = [copy(None, "old", datetime!(2026-10-01 0:00 UTC), EXPIRED)];
    assert_eq!(kept(&decisions(&old, &r, Zone::default())), ["old"]);
}

#[test]
fn the_core_judges_units_of_any_store() {
    // The archive's copies: no folder, only a unit and whether it is sound.
    let unit = |id: &str, day: u8| Unit {
        key: BackupKey::node("dds-9", None, id),
        backup: copy(
            None,
            id,
            time::Date::from_calendar_date(2026, time::Month::November, day)
                .unwrap()
                .midnight()
                .assume_utc(),
            EXPIRED,
        )
        .manifest
        .unwrap()
        .backup,
        sound: true,
        confirmed: true,
    };
    let targets = BTreeSet::from([BackupKey::node("dds-9", None, "x").target()]);
    let out = decide(
        vec![unit("a", 1), unit("b", 2), unit("c", 2)],
        &targets,
        &rules(|r| r.keep_daily = 1),
        Zone::default(),
        NOW,
    );
    assert_eq!(kept(&out), ["c"]);
    assert_eq!(out.iter().filter(|d| d.removed()).count(), 2);
}
