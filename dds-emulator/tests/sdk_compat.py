#!/usr/bin/env python3
"""Checks that the official Alibaba Cloud Python SDK talks to dds-emulator.

Usage: python3 tests/sdk_compat.py http://127.0.0.1:PORT
Credentials: SDK_COMPAT_ACCESS_KEY_ID / SDK_COMPAT_ACCESS_KEY_SECRET (defaults match tests/emulator.rs).
Needs: pip install alibabacloud-dds20151201

Run by the Rust test `official_python_sdk_is_compatible`; prints "sdk_compat: ok" on success.
Covers DescribeBackups and the fleet actions (DescribeDBInstances with region, type and tag
filters, DescribeDBInstanceAttribute, DescribeClusterBackups), asserting the values the SDK's own
models parse, so a field name or JSON type the SDK would not accept fails here.
The SDK signs with signature V1 (signature_algorithm='v2' selects the RPC path) and sends a POST
with every parameter in the query string and an empty body, which the emulator must accept.
"""

import os
import sys
from urllib.parse import urlparse

from alibabacloud_dds20151201 import models as dds_models
from alibabacloud_dds20151201.client import Client
from alibabacloud_tea_openapi import models as open_api_models


def client(endpoint, key_id, secret):
    config = open_api_models.Config(
        access_key_id=key_id,
        access_key_secret=secret,
        endpoint=endpoint,
        protocol="http",
        region_id="cn-hangzhou",
        signature_algorithm="v2",
    )
    return Client(config)


def fleet(c):
    """The fleet actions, parsed by the SDK's own models against the demo data set."""
    hangzhou = c.describe_dbinstances(
        dds_models.DescribeDBInstancesRequest(region_id="cn-hangzhou", dbinstance_type="sharding")
    ).body
    assert [i.dbinstance_id for i in hangzhou.dbinstances.dbinstance] == ["dds-demo-sharded"]
    assert hangzhou.total_count == 1 and hangzhou.page_number == 1 and hangzhou.page_size == 30

    tag = dds_models.DescribeDBInstancesRequestTag(key="env", value="prod")
    shanghai = c.describe_dbinstances(
        dds_models.DescribeDBInstancesRequest(
            region_id="cn-shanghai", dbinstance_type="sharding", tag=[tag], page_size=30
        )
    ).body
    rows = shanghai.dbinstances.dbinstance
    assert [i.dbinstance_id for i in rows] == ["dds-demo-cluster"], rows
    row = rows[0]
    assert row.region_id == "cn-shanghai" and row.storage_type == "cloud_essd1", row
    assert [(t.key, t.value) for t in row.tags.tag] == [("env", "prod")]
    shards = [s.node_id for s in row.shard_list.shard_attribute]
    assert shards == ["d-demo-cluster-0", "d-demo-cluster-1"], shards
    assert isinstance(row.shard_list.shard_attribute[0].node_storage, int)

    attr = c.describe_dbinstance_attribute(
        dds_models.DescribeDBInstanceAttributeRequest(dbinstance_id="dds-demo-cluster")
    ).body.dbinstances.dbinstance
    assert len(attr) == 1 and attr[0].use_cluster_backup is True, attr
    assert attr[0].configserver_list.configserver_attribute[0].node_id == "dds-demo-cluster-cs"
    assert [s.node_id for s in attr[0].shard_list.shard_attribute] == shards

    cb = c.describe_cluster_backups(
        dds_models.DescribeClusterBackupsRequest(
            dbinstance_id="dds-demo-cluster", page_no=1, page_size=30
        )
    ).body
    assert cb.page_number == 1 and cb.page_size == 30 and cb.max_results == 2, cb
    complete, broken = cb.cluster_backups
    assert complete.is_avail == 1 and broken.is_avail == 0
    assert complete.cluster_backup_status == "OK" and complete.cluster_backup_id.startswith("cb-")
    assert isinstance(complete.cluster_backup_size, str) and int(complete.cluster_backup_size) > 0
    node = complete.backups[0]
    assert isinstance(node.backup_size, str) and int(node.backup_size) > 0, node.backup_size
    assert node.is_avail == "1" and node.backup_status == "Success"
    assert node.instance_name == "d-demo-cluster-0" and node.extra_info.node_type == "db"
    assert "Expires=" in node.backup_download_url
    failed = [n for n in broken.backups if n.backup_status == "Failed"]
    assert failed and failed[0].backup_download_url == "" and failed[0].is_avail == "0"

    only = c.describe_cluster_backups(
        dds_models.DescribeClusterBackupsRequest(
            dbinstance_id="dds-demo-cluster", is_only_get_cluster_back_up=True
        )
    ).body
    assert len(only.cluster_backups) == 2 and all(not b.backups for b in only.cluster_backups)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: sdk_compat.py http://127.0.0.1:PORT")
    endpoint = urlparse(sys.argv[1]).netloc
    key_id = os.environ.get("SDK_COMPAT_ACCESS_KEY_ID", "test-key-id")
    secret = os.environ.get("SDK_COMPAT_ACCESS_KEY_SECRET", "test-key-secret")

    request = dds_models.DescribeBackupsRequest(dbinstance_id="dds-demo-replica", page_size=30)
    resp = client(endpoint, key_id, secret).describe_backups(request)
    body = resp.body
    backups = body.backups.backup
    assert resp.status_code == 200, resp.status_code
    assert body.total_count == len(backups) > 0, (body.total_count, len(backups))
    assert body.page_size == 30 and body.page_number == 1
    first = backups[0]
    assert first.backup_id and first.backup_start_time and first.backup_status, first
    with_url = [b for b in backups if b.backup_download_url]
    assert with_url, "some backups carry download URLs"
    assert "Expires=" in with_url[0].backup_download_url

    sharded = dds_models.DescribeBackupsRequest(
        dbinstance_id="dds-demo-sharded", node_id="d-demo-shard-0", page_size=30
    )
    assert client(endpoint, key_id, secret).describe_backups(sharded).body.total_count == 3

    try:
        client(endpoint, key_id, "wrong-secret").describe_backups(request)
    except Exception as e:  # the SDK raises its own exception types; check the code they carry
        code = getattr(e, "code", None)
        assert code == "SignatureDoesNotMatch", (code, e)
    else:
        raise AssertionError("a wrong secret must be rejected")

    fleet(client(endpoint, key_id, secret))

    print(f"sdk_compat: ok ({len(backups)} backups)")


if __name__ == "__main__":
    main()
