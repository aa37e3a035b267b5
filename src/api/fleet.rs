//! The fleet calls on the same signed, retried transport as `DescribeBackups`
//! ([`ApiClient::call`]): finding instances (`DescribeDBInstances`, paged by `TotalCount`),
//! one instance's shards and backup mode (`DescribeDBInstanceAttribute`), and the cluster
//! backups of a sharded cluster on cloud disks (`DescribeClusterBackups`, paged by `PageNo`
//! until a short page: that action sends no `TotalCount`).

use tracing::warn;

use super::client::ApiClient;
use super::error::ApiError;
use super::model::ModelError;
use super::model::fleet::{self, ClusterBackup, InstanceInfo};
pub use super::query::{ClusterQuery, InstanceFilter, MAX_TAGS};
use crate::text::shown;

const DESCRIBE_INSTANCES: &str = "DescribeDBInstances";
const DESCRIBE_ATTRIBUTE: &str = "DescribeDBInstanceAttribute";
const DESCRIBE_CLUSTER_BACKUPS: &str = "DescribeClusterBackups";
/// Paging stops here whatever the answers say (a lying server must not loop forever).
const MAX_PAGES: u64 = 1_000;

/// Turns an answer that could not be read into the call's error, naming the action and target.
pub(super) fn decode(
    action: &'static str,
    target: &str,
    request_id: String,
) -> impl FnOnce(ModelError) -> ApiError {
    let target = target.to_string();
    move |source| ApiError::Decode {
        action,
        target,
        request_id,
        source,
    }
}

impl ApiClient {
    /// Every instance of this client's region that `filter` selects, all pages.
    ///
    /// # Errors
    /// A call failed (after its retries), or an answer could not be read.
    pub async fn describe_instances(
        &self,
        filter: &InstanceFilter,
    ) -> Result<Vec<InstanceInfo>, ApiError> {
        let target = format!("region {}", self.region_id());
        let mut out = Vec::new();
        let mut seen = 0u64;
        for page_number in 1..=MAX_PAGES {
            let params = filter.params(page_number, self.page_size());
            let (body, request_id) = self.call(DESCRIBE_INSTANCES, &params).await?;
            let page = fleet::parse_instances(&body).map_err(decode(
                DESCRIBE_INSTANCES,
                &target,
                request_id,
            ))?;
            for r in &page.rejected {
                warn!(region = %self.region_id(), "skipping an instance the API described badly: {r}");
            }
            let count = (page.instances.len() + page.rejected.len()) as u64;
            seen += count;
            out.extend(page.instances);
            if count == 0 || count < u64::from(self.page_size()) || seen >= page.total_count {
                return Ok(out);
            }
        }
        Err(ApiError::Paging {
            action: DESCRIBE_INSTANCES,
            target,
            reason: format!("still more pages after {MAX_PAGES}; TotalCount cannot be trusted"),
        })
    }

    /// The instances every filter selects, one filter after another (a discovery block asks
    /// once per instance type), stopping at the first error.
    ///
    /// # Errors
    /// As [`ApiClient::describe_instances`].
    pub async fn describe_each(
        &self,
        filters: &[InstanceFilter],
    ) -> Result<Vec<InstanceInfo>, ApiError> {
        let mut out = Vec::new();
        for filter in filters {
            out.extend(self.describe_instances(filter).await?);
        }
        Ok(out)
    }

    /// One instance's type, storage, shards and backup mode.
    ///
    /// # Errors
    /// The call failed (after its retries), or the answer could not be read.
    pub async fn describe_instance(&self, instance_id: &str) -> Result<InstanceInfo, ApiError> {
        let params = [("DBInstanceId".to_string(), instance_id.to_string())];
        let (body, request_id) = self.call(DESCRIBE_ATTRIBUTE, &params).await?;
        let info = fleet::parse_attribute(&body).map_err(decode(
            DESCRIBE_ATTRIBUTE,
            instance_id,
            request_id.clone(),
        ))?;
        if info.id != instance_id {
            return Err(ApiError::Decode {
                action: DESCRIBE_ATTRIBUTE,
                target: instance_id.to_string(),
                request_id,
                source: ModelError::PageField {
                    field: "DBInstanceId",
                    reason: format!("the answer describes {}", shown(&info.id)),
                },
            });
        }
        Ok(info)
    }

    /// Every cluster backup of `query`, all pages (until a page shorter than asked).
    ///
    /// # Errors
    /// A call failed (after its retries), or an answer could not be read.
    pub async fn list_cluster_backups(
        &self,
        query: &ClusterQuery,
    ) -> Result<Vec<ClusterBackup>, ApiError> {
        let mut out = Vec::new();
        for page_no in 1..=MAX_PAGES {
            let params = query.params(page_no, self.page_size());
            let (body, request_id) = self.call(DESCRIBE_CLUSTER_BACKUPS, &params).await?;
            let page = fleet::parse_cluster_page(&body).map_err(decode(
                DESCRIBE_CLUSTER_BACKUPS,
                &query.instance_id,
                request_id,
            ))?;
            for r in &page.rejected {
                warn!(instance = %query.instance_id, "skipping a cluster backup the API described badly: {r}");
            }
            let count = (page.backups.len() + page.rejected.len()) as u64;
            out.extend(page.backups);
            // Short against what was asked, or what the server says it served if smaller.
            let full = match page.page_size {
                0 => u64::from(self.page_size()),
                served => served.min(u64::from(self.page_size())),
            };
            if count < full {
                return Ok(out);
            }
        }
        Err(ApiError::Paging {
            action: DESCRIBE_CLUSTER_BACKUPS,
            target: query.instance_id.clone(),
            reason: format!("still full pages after {MAX_PAGES}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_params_carry_tags_and_type() {
        let f = InstanceFilter {
            instance_type: Some("sharding".into()),
            tags: vec![("env".into(), "prod".into()), ("team".into(), "db".into())],
            resource_group_id: Some("rg-1".into()),
        };
        let p = f.params(2, 50);
        for pair in [
            ("PageNumber", "2"),
            ("PageSize", "50"),
            ("DBInstanceType", "sharding"),
            ("ResourceGroupId", "rg-1"),
            ("Tag.1.Key", "env"),
            ("Tag.1.Value", "prod"),
            ("Tag.2.Key", "team"),
            ("Tag.2.Value", "db"),
        ] {
            assert!(
                p.contains(&(pair.0.into(), pair.1.into())),
                "{pair:?} in {p:?}"
            );
        }
    }

    #[test]
    fn cluster_params_page_by_page_no() {
        let q = ClusterQuery {
            instance_id: "dds-c".into(),
            window: Some((
                time::macros::datetime!(2026-11-01 00:00 UTC),
                time::macros::datetime!(2026-11-08 00:00 UTC),
            )),
            ..ClusterQuery::default()
        };
        let p = q.params(3, 30);
        assert!(p.contains(&("PageNo".into(), "3".into())));
        assert!(!p.iter().any(|(k, _)| k == "PageNumber"));
        assert!(p.contains(&("StartTime".into(), "2026-11-01T00:00Z".into())));
        let one = ClusterQuery {
            backup_id: Some("cb-1".into()),
            ..q
        };
        let p = one.params(1, 30);
        assert!(p.contains(&("BackupId".into(), "cb-1".into())));
        assert!(!p.iter().any(|(k, _)| k == "StartTime"));
    }
}
