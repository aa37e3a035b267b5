//! The MongoDB (dds) and DBS API endpoints for a region, from the official SDKs' endpoint maps
//! (`shared/docs/alibaba-facts.md` §2). Pure.

/// Regions served by the central endpoint.
const CENTRAL: &[&str] = &[
    "cn-hangzhou",
    "cn-shanghai",
    "cn-beijing",
    "cn-wulanchabu",
    "cn-heyuan",
    "cn-hangzhou-finance",
];

/// Regions with an endpoint of their own, `mongodb.<region>.aliyuncs.com`.
const REGIONAL: &[&str] = &[
    "cn-qingdao",
    "cn-zhangjiakou",
    "cn-huhehaote",
    "cn-shenzhen",
    "cn-guangzhou",
    "cn-chengdu",
    "cn-hongkong",
    "ap-northeast-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-5",
    "ap-south-1",
    "us-east-1",
    "us-west-1",
    "eu-west-1",
    "eu-central-1",
    "me-east-1",
];

/// The endpoint for `region`, or `None` for a region the table does not know (the caller then
/// asks the operator to set `api.endpoint`).
pub fn for_region(region: &str) -> Option<String> {
    if CENTRAL.contains(&region) {
        Some("https://mongodb.aliyuncs.com".to_string())
    } else if REGIONAL.contains(&region) {
        Some(format!("https://mongodb.{region}.aliyuncs.com"))
    } else {
        None
    }
}

/// The known region nearest to `region` by spelling (at most two edits away), for "did you
/// mean" in the message that refuses an unknown one.
pub fn nearest_region(region: &str) -> Option<&'static str> {
    let region = region.trim().to_ascii_lowercase();
    CENTRAL
        .iter()
        .chain(REGIONAL)
        .map(|known| (edits(&region, known), *known))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, known)| known)
}

/// Levenshtein distance: insertions, deletions and substitutions.
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The message for a region the table does not know: "did you mean" when one is close, and
/// how to go on regardless (`endpoint_key`).
pub fn unknown_region(region: &str, endpoint_key: &str) -> String {
    match nearest_region(region) {
        Some(known) => format!(
            "no known MongoDB API endpoint for region {region:?}: did you mean {known:?}? (or set {endpoint_key})"
        ),
        None => format!("no known MongoDB API endpoint for region {region:?}; set {endpoint_key}"),
    }
}

/// Regions whose DBS API is the cn-hangzhou endpoint (the `alibabacloud-dbs20210101` SDK's
/// `_endpoint_map`, `shared/docs/alibaba-fleet.md`).
const DBS_CENTRAL: &[&str] = &[
    "cn-hangzhou",
    "cn-qingdao",
    "cn-beijing",
    "cn-zhangjiakou",
    "cn-shanghai",
    "cn-shenzhen",
    "cn-hongkong",
    "us-west-1",
    "us-east-1",
    "cn-hangzhou-finance",
    "cn-shanghai-finance-1",
    "cn-shenzhen-finance-1",
    "cn-north-2-gov-1",
];

/// Regions with a DBS endpoint of their own, `dbs-api.<region>.aliyuncs.com`.
const DBS_REGIONAL: &[&str] = &[
    "cn-chengdu",
    "cn-huhehaote",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-5",
    "ap-northeast-1",
    "ap-south-1",
    "eu-central-1",
    "eu-west-1",
    "me-east-1",
];

/// The DBS (download task) endpoint for `region`, or `None` for a region the SDK's table does
/// not know (the caller asks the operator to set `snapshots.endpoint`).
pub fn dbs_for_region(region: &str) -> Option<String> {
    if DBS_CENTRAL.contains(&region) {
        Some("https://dbs-api.cn-hangzhou.aliyuncs.com".to_string())
    } else if DBS_REGIONAL.contains(&region) {
        Some(format!("https://dbs-api.{region}.aliyuncs.com"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        for (region, endpoint) in [
            ("cn-hangzhou", Some("https://mongodb.aliyuncs.com")),
            ("cn-hangzhou-finance", Some("https://mongodb.aliyuncs.com")),
            (
                "cn-shenzhen",
                Some("https://mongodb.cn-shenzhen.aliyuncs.com"),
            ),
            (
                "eu-central-1",
                Some("https://mongodb.eu-central-1.aliyuncs.com"),
            ),
            ("mars-north-1", None),
        ] {
            assert_eq!(for_region(region).as_deref(), endpoint, "{region}");
        }
    }

    #[test]
    fn dbs_table() {
        for (region, endpoint) in [
            (
                "cn-shanghai",
                Some("https://dbs-api.cn-hangzhou.aliyuncs.com"),
            ),
            (
                "us-east-1",
                Some("https://dbs-api.cn-hangzhou.aliyuncs.com"),
            ),
            (
                "cn-hangzhou",
                Some("https://dbs-api.cn-hangzhou.aliyuncs.com"),
            ),
            (
                "ap-southeast-1",
                Some("https://dbs-api.ap-southeast-1.aliyuncs.com"),
            ),
            (
                "eu-central-1",
                Some("https://dbs-api.eu-central-1.aliyuncs.com"),
            ),
            ("mars-north-1", None),
        ] {
            assert_eq!(dbs_for_region(region).as_deref(), endpoint, "{region}");
        }
    }
}
