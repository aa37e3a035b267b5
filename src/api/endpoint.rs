//! The MongoDB (dds) API endpoint for a region, from the official SDK's endpoint map
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
}
