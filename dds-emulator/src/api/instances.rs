//! `DescribeDBInstances` (the instances of one region, filtered and paged) and
//! `DescribeDBInstanceAttribute` (one instance in detail).
//!
//! Owns their parameters and filters. Of the many filters the real `DescribeDBInstances` takes,
//! the ones a backup tool needs are served (`DBInstanceType`, `DBInstanceId`,
//! `DBInstanceDescription`, `ResourceGroupId`, `Tag.N.*`); the others are ignored.

use serde_json::Value;

use super::{
    ApiError, Params, Shared, find_instance, instance_id, missing, page_number, page_size, paged,
    param, to_json,
};
use crate::data::Instance;
use crate::wire::{AttributeResponse, DbInstanceJson, DbInstances, InstancesResponse};

/// `Tag.1` .. `Tag.20`.
const MAX_TAGS: usize = 20;

pub(super) fn list(shared: &Shared, p: &Params, request_id: &str) -> Result<Value, ApiError> {
    let filter = Filter::parse(p)?;
    let page_size = page_size(p)?;
    let page_number = page_number(p, "PageNumber")?;
    let ds = shared.dataset();
    let rows: Vec<&Instance> = ds.instances.iter().filter(|i| filter.matches(i)).collect();
    let total_count = rows.len();
    let db_instance = paged(rows, page_number, page_size)
        .map(|i| DbInstanceJson::new(i, false))
        .collect();
    to_json(InstancesResponse {
        request_id: request_id.to_string(),
        total_count,
        page_number,
        page_size,
        db_instances: DbInstances { db_instance },
    })
}

pub(super) fn attribute(shared: &Shared, p: &Params, request_id: &str) -> Result<Value, ApiError> {
    let id = instance_id(p)?;
    let ds = shared.dataset();
    let instance = find_instance(&ds, id, p)?;
    to_json(AttributeResponse {
        request_id: request_id.to_string(),
        db_instances: DbInstances {
            db_instance: vec![DbInstanceJson::new(instance, true)],
        },
    })
}

/// What a `DescribeDBInstances` row must match; every given filter applies.
#[derive(Debug)]
struct Filter {
    region: String,
    /// `sharding` or `replicate`; any other value (`serverless`, typos) matches nothing.
    kind: String,
    /// Comma-separated ids are accepted, as several dds actions do.
    ids: Option<Vec<String>>,
    description: Option<String>,
    resource_group: Option<String>,
    /// (key, value); a tag without a value matches any value of that key.
    tags: Vec<(String, Option<String>)>,
}

impl Filter {
    fn parse(p: &Params) -> Result<Filter, ApiError> {
        let region = param(p, "RegionId").ok_or_else(|| missing("MissingRegionId", "RegionId"))?;
        let tags = (1..=MAX_TAGS)
            .filter_map(|n| {
                let key = param(p, &format!("Tag.{n}.Key"))?;
                let value = param(p, &format!("Tag.{n}.Value"));
                Some((key.to_string(), value.map(str::to_string)))
            })
            .collect();
        Ok(Filter {
            region: region.to_string(),
            // The SDK documents `replicate` as the default: without `DBInstanceType` the real
            // service lists replica sets only, so a client must ask for `sharding` separately.
            kind: param(p, "DBInstanceType")
                .unwrap_or("replicate")
                .to_string(),
            ids: param(p, "DBInstanceId")
                .map(|s| s.split(',').map(|id| id.trim().to_string()).collect()),
            description: param(p, "DBInstanceDescription").map(str::to_string),
            resource_group: param(p, "ResourceGroupId").map(str::to_string),
            tags,
        })
    }

    fn matches(&self, i: &Instance) -> bool {
        let kind = if i.is_sharded() {
            "sharding"
        } else {
            "replicate"
        };
        i.region_id == self.region
            && self.kind == kind
            && self.ids.as_ref().is_none_or(|ids| ids.contains(&i.id))
            // Substring, like the console's name search (exact-vs-fuzzy is UNCONFIRMED).
            && self
                .description
                .as_ref()
                .is_none_or(|d| i.description.contains(d.as_str()))
            && self
                .resource_group
                .as_ref()
                .is_none_or(|g| *g == i.resource_group_id)
            && self.tags.iter().all(|(key, value)| {
                i.tags
                    .iter()
                    .any(|(k, v)| k == key && value.as_ref().is_none_or(|want| want == v))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::api::tests::params;

    /// Extra parameters (besides `RegionId=cn-hangzhou`) → ids matched.
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

    #[test]
    fn filter_table() {
        let fleet = [
            Instance::replica_set("dds-r1")
                .tag("env", "prod")
                .tag("team", "a")
                .description("orders primary"),
            Instance::replica_set("dds-r2")
                .tag("env", "dev")
                .resource_group("rg-2"),
            Instance::sharded("dds-s1", &["d-1"]).tag("env", "prod"),
            Instance::replica_set("dds-r3").region("cn-shanghai"),
        ];
        let cases: &[Case] = &[
            (&[], &["dds-r1", "dds-r2"]),
            (&[("DBInstanceType", "replicate")], &["dds-r1", "dds-r2"]),
            (&[("DBInstanceType", "sharding")], &["dds-s1"]),
            (&[("DBInstanceType", "serverless")], &[]),
            (
                &[("Tag.1.Key", "env"), ("Tag.1.Value", "prod")],
                &["dds-r1"],
            ),
            (
                &[
                    ("DBInstanceType", "sharding"),
                    ("Tag.1.Key", "env"),
                    ("Tag.1.Value", "prod"),
                ],
                &["dds-s1"],
            ),
            (
                &[
                    ("Tag.1.Key", "env"),
                    ("Tag.1.Value", "prod"),
                    ("Tag.2.Key", "team"),
                    ("Tag.2.Value", "b"),
                ],
                &[],
            ),
            (&[("Tag.1.Key", "team")], &["dds-r1"]),
            (&[("DBInstanceId", "dds-r2,dds-r3")], &["dds-r2"]),
            (&[("DBInstanceDescription", "orders")], &["dds-r1"]),
            (&[("ResourceGroupId", "rg-2")], &["dds-r2"]),
        ];
        for (extra, want) in cases {
            let mut p = params(&[("RegionId", "cn-hangzhou")]);
            p.extend(params(extra));
            let f = Filter::parse(&p).unwrap();
            let got: Vec<&str> = fleet
                .iter()
                .filter(|i| f.matches(i))
                .map(|i| i.id.as_str())
                .collect();
            assert_eq!(got, *want, "{extra:?}");
        }
        let shanghai = Filter::parse(&params(&[("RegionId", "cn-shanghai")])).unwrap();
        assert!(shanghai.matches(&fleet[3]) && !shanghai.matches(&fleet[0]));
        assert_eq!(
            Filter::parse(&Params::new()).unwrap_err().code,
            "MissingRegionId"
        );
    }
}
