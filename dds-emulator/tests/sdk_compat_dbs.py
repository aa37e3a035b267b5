#!/usr/bin/env python3
"""Checks that the official Alibaba Cloud DBS Python SDK talks to dds-emulator's DBS actions.

Usage: python3 tests/sdk_compat_dbs.py http://127.0.0.1:PORT
Credentials: SDK_COMPAT_ACCESS_KEY_ID / SDK_COMPAT_ACCESS_KEY_SECRET (defaults match tests/dbs.rs).
Needs: pip install alibabacloud-dbs20210101 (tested with 3.0.0)

Run by the Rust test `official_python_dbs_sdk_is_compatible` (tests/dbs.rs), against the demo
data set plus `dds-sdk-flaky` (a cloud-disk instance whose first run fails, snapshot 77001);
prints "sdk_compat_dbs: ok" on success. Calls all five download-task actions through the SDK's
client and asserts the values its own models parse (`Success` a string, `GmtCreate` a number in
CreateDownload but a string in DescribeDownloadTask rows, ...), then downloads the export link.
"""

import os
import sys
import urllib.request
from urllib.parse import urlparse

from alibabacloud_dbs20210101 import models as dbs_models
from alibabacloud_dbs20210101.client import Client
from alibabacloud_tea_openapi import models as open_api_models

REGION = "cn-hangzhou"


def client(endpoint, key_id, secret):
    config = open_api_models.Config(
        access_key_id=key_id,
        access_key_secret=secret,
        endpoint=endpoint,
        protocol="http",
        region_id=REGION,
        signature_algorithm="v2",
    )
    return Client(config)


def create(c, instance, backup):
    return c.create_download(
        dbs_models.CreateDownloadRequest(
            region_code=REGION,
            instance_name=instance,
            bak_set_type="full",
            bak_set_id=backup,
            bak_set_size="20971520",
            target_type="URL",
            format_type="BSON",
            use_zstd="1",
        )
    ).body


def poll_until(c, instance, task_id, final, limit=8):
    """Polls DescribeDownloadTask until the task shows `final`; returns (body, row)."""
    for _ in range(limit):
        body = c.describe_download_task(
            dbs_models.DescribeDownloadTaskRequest(
                region_code=REGION, instance_name=instance, current_page="1", page_size="20"
            )
        ).body
        assert body.success == "true", body
        rows = [r for r in body.data.content.list if r.task_id == task_id]
        assert len(rows) == 1, body
        if rows[0].download_status == final:
            return body, rows[0]
    raise AssertionError(f"{task_id} never reached {final}")


def happy_path(c):
    support = c.describe_download_support(
        dbs_models.DescribeDownloadSupportRequest(region_code=REGION, instance_name="dds-demo-disk")
    ).body
    assert support.success == "true" and support.data == "true", support
    local = c.describe_download_support(
        dbs_models.DescribeDownloadSupportRequest(region_code=REGION, instance_name="dds-demo-replica")
    ).body
    assert local.data == "false", local

    created = create(c, "dds-demo-disk", "32105001")
    assert created.success == "true" and created.err_code == "", created
    task = created.data
    assert task.task_id.startswith("dt-") and task.bak_set_id == "32105001", task
    assert task.download_status == "initializing" and task.progress == "0/0"
    assert isinstance(task.gmt_create, int) and isinstance(task.backup_set_time, int)
    assert isinstance(task.export_data_size, int) and task.region_code == REGION

    again = create(c, "dds-demo-disk", "32105002")
    assert again.success == "false" and again.data is None, again
    assert again.err_code == "DownloadTaskAlreadyExists" and task.task_id in again.err_message

    body, row = poll_until(c, "dds-demo-disk", task.task_id, "finished")
    data = body.data
    assert data.total_elements == 1 and data.page_number == 1 and data.total_pages == 1, data
    assert isinstance(row.gmt_create, str) and row.gmt_create == str(task.gmt_create)
    assert isinstance(row.export_data_size, str) and int(row.export_data_size) > 0
    assert row.progress == "3/3" and row.bak_set_id == "32105001"

    links = c.describe_download_backup_set_storage_info(
        dbs_models.DescribeDownloadBackupSetStorageInfoRequest(
            region_code=REGION, task_id=task.task_id, duration="600"
        )
    ).body
    assert links.success == "true", links
    assert isinstance(links.data.expiration_time, int) and links.data.expiration_time > 0
    assert "/oss/internal/" in links.data.private_url
    with urllib.request.urlopen(links.data.public_url) as resp:
        archive = resp.read()
        assert resp.headers["x-oss-hash-crc64ecma"], resp.headers
    assert len(archive) == int(row.export_data_size), (len(archive), row.export_data_size)
    assert archive[:4] == b"\x28\xb5\x2f\xfd", "a zstd frame"


def retry_path(c):
    task = create(c, "dds-sdk-flaky", "77001").data
    body, _ = poll_until(c, "dds-sdk-flaky", task.task_id, "failed")
    assert "77001" in body.data.extra, body.data.extra
    retried = c.retry_download_task(
        dbs_models.RetryDownloadTaskRequest(
            region_code=REGION, instance_name="dds-sdk-flaky", task_id=task.task_id
        )
    ).body
    assert retried.success == "true", retried
    poll_until(c, "dds-sdk-flaky", task.task_id, "finished")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: sdk_compat_dbs.py http://127.0.0.1:PORT")
    endpoint = urlparse(sys.argv[1]).netloc
    key_id = os.environ.get("SDK_COMPAT_ACCESS_KEY_ID", "test-key-id")
    secret = os.environ.get("SDK_COMPAT_ACCESS_KEY_SECRET", "test-key-secret")
    c = client(endpoint, key_id, secret)
    happy_path(c)
    retry_path(c)

    try:
        client(endpoint, key_id, "wrong-secret").describe_download_support(
            dbs_models.DescribeDownloadSupportRequest(region_code=REGION, instance_name="dds-demo-disk")
        )
    except Exception as e:  # the SDK raises its own exception types; check the code they carry
        code = getattr(e, "code", None)
        assert code == "SignatureDoesNotMatch", (code, e)
    else:
        raise AssertionError("a wrong secret must be rejected")

    print("sdk_compat_dbs: ok")


if __name__ == "__main__":
    main()
