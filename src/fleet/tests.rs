use std::time::Duration;

use time::macros::datetime;

use super::*;

fn region(id: &str) -> Region {
    Region {
        id: id.into(),
        endpoint: format!("https://{id}.example"),
    }
}

fn configured(id: &str, nodes: &[&str]) -> InstanceSettings {
    InstanceSettings {
        id: id.into(),
        region: None,
        node_ids: nodes.iter().map(|s| s.to_string()).collect(),
        lookback: Duration::from_secs(3600),
        src_region: None,
        dest_region: None,
        resource_group_id: Some("rg-1".into()),
    }
}

fn block() -> DiscoverSettings {
    DiscoverSettings {
        region: Some(region("cn-shanghai")),
        instance_type: None,
        tags: Vec::new(),
        id_pattern: None,
        description_pattern: None,
        resource_group_id: None,
        lookback: Duration::from_secs(7 * 86400),
        expect_at_least: 1,
    }
}

fn info(id: &str, kind: &str, shards: &[&str]) -> InstanceInfo {
    InstanceInfo {
        id: id.into(),
        instance_type: Some(kind.into()),
        description: format!("{id} description"),
        shards: shards.iter().map(|s| s.to_string()).collect(),
        tags: vec![("env".into(), "prod".into())],
        ..InstanceInfo::default()
    }
}

#[test]
fn blocks_select_by_type_tag_pattern_and_group() {
    let rs = info("dds-bp1a", "replicate", &[]);
    let sh = info("dds-bp2b", "sharding", &["d-1"]);
    let mut d = block();
    assert!(selects(&d, &rs) && selects(&d, &sh));
    d.instance_type = Some(InstanceType::Sharding);
    assert!(!selects(&d, &rs) && selects(&d, &sh));
    let mut d = block();
    d.id_pattern = Some("dds-bp1*".into());
    assert!(selects(&d, &rs) && !selects(&d, &sh));
    let mut d = block();
    d.description_pattern = Some("*bp2b desc*".into());
    assert!(!selects(&d, &rs) && selects(&d, &sh));
    let mut d = block();
    d.tags = vec![("env".into(), "prod".into())];
    assert!(selects(&d, &rs));
    d.tags.push(("team".into(), "db".into()));
    assert!(!selects(&d, &rs), "every tag must match");
    let mut d = block();
    d.resource_group_id = Some("rg-x".into());
    assert!(
        !selects(&d, &rs),
        "a server that ignored the filter cannot widen the fleet"
    );
}

#[test]
fn both_types_take_one_request_each() {
    let kinds: Vec<Option<String>> = filters(&block())
        .into_iter()
        .map(|f| f.instance_type)
        .collect();
    assert_eq!(kinds, [Some("replicate".into()), Some("sharding".into())]);
    let mut d = block();
    d.instance_type = Some(InstanceType::Replicate);
    assert_eq!(filters(&d).len(), 1);
}

#[test]
fn a_configured_instance_wins_over_a_discovered_one() {
    let found = vec![(
        0,
        vec![
            info("dds-a", "replicate", &[]),
            info("dds-b", "replicate", &[]),
        ],
    )];
    let ms = members(&[configured("dds-a", &[])], &[block()], &found);
    let ids: Vec<(&str, Source)> = ms
        .iter()
        .map(|m| (m.settings.id.as_str(), m.source))
        .collect();
    assert_eq!(
        ids,
        [("dds-a", Source::Configured), ("dds-b", Source::Discovered)]
    );
    assert_eq!(
        ms[0].settings.region, None,
        "the configured entry's settings"
    );
    assert_eq!(
        ms[1].settings.region.as_ref().unwrap().id,
        "cn-shanghai",
        "the block's region"
    );
    assert_eq!(ms[1].settings.lookback, Duration::from_secs(7 * 86400));
    // The same instance found by two blocks is listed once.
    let twice = vec![found[0].clone(), found[0].clone()];
    assert_eq!(members(&[], &[block(), block()], &twice).len(), 2);
}

#[test]
fn how_an_instance_is_listed() {
    let m = |nodes: &[&str], found: Option<InstanceInfo>| Member {
        settings: configured("dds-c", nodes),
        source: Source::Configured,
        found,
    };
    // Configured node ids win, and need no call.
    let hand = m(&["d-9"], None);
    assert!(!needs_attribute(&hand));
    let mut cluster = info("dds-c", "sharding", &["d-1", "d-2"]);
    cluster.use_cluster_backup = true;
    assert_eq!(
        shape(&hand, Some(&cluster)),
        Shape::Nodes {
            ids: vec!["d-9".into()],
            discovered: false
        }
    );
    // Unknown type: ask.
    let bare = m(&[], None);
    assert!(needs_attribute(&bare));
    assert_eq!(
        shape(&bare, None),
        Shape::Plain,
        "no answer: as one instance"
    );
    assert_eq!(shape(&bare, Some(&cluster)), Shape::Cluster);
    let sharded = info("dds-c", "sharding", &["d-1", "d-2"]);
    assert_eq!(
        shape(&bare, Some(&sharded)),
        Shape::Nodes {
            ids: vec!["d-1".into(), "d-2".into()],
            discovered: true
        }
    );
    // A discovered replica set needs no second call.
    let rs = m(&[], Some(info("dds-c", "replicate", &[])));
    assert!(!needs_attribute(&rs));
    assert_eq!(shape(&rs, None), Shape::Plain);
    assert!(needs_attribute(&m(&[], Some(sharded))));
}

#[test]
fn queries_follow_the_shape() {
    let member = Member {
        settings: configured("dds-b", &[]),
        source: Source::Configured,
        found: None,
    };
    let now = datetime!(2026-11-28 12:00 UTC);
    let nodes = Shape::Nodes {
        ids: vec!["d-0".into(), "d-1".into()],
        discovered: true,
    };
    let targets: Vec<String> = queries(&member, &nodes, now)
        .iter()
        .map(Query::target)
        .collect();
    assert_eq!(targets, ["dds-b/d-0", "dds-b/d-1"]);
    let qs = queries(&member, &Shape::Plain, now);
    let Query::Backups(q) = &qs[0] else {
        panic!("{qs:?}")
    };
    assert_eq!(q.resource_group_id.as_deref(), Some("rg-1"));
    let (start, end) = q.window.unwrap();
    assert_eq!(end - start, time::Duration::hours(1));
    let qs = queries(&member, &Shape::Cluster, now);
    assert!(
        matches!(&qs[..], [Query::Clusters(c)] if c.instance_id == "dds-b" && c.window.is_some())
    );
}
