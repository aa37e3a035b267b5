#!/usr/bin/env python3
"""Checks that the official Alibaba Cloud Python SDK talks to dds-emulator.

Usage: python3 tests/sdk_compat.py http://127.0.0.1:PORT
Credentials: SDK_COMPAT_ACCESS_KEY_ID / SDK_COMPAT_ACCESS_KEY_SECRET (defaults match tests/emulator.rs).
Needs: pip install alibabacloud-dds20151201

Run by the Rust test `official_python_sdk_is_compatible`; prints "sdk_compat: ok" on success.
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

    print(f"sdk_compat: ok ({len(backups)} backups)")


if __name__ == "__main__":
    main()
