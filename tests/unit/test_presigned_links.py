"""The api's presigned links on real AWS: SigV4 and the bucket's regional virtual-hosted name, so a bucket
made minutes ago (which answers the global name with a redirect outside us-east-1) takes them. Signing is
local: nothing here reaches the network."""

from __future__ import annotations

from urllib.parse import urlsplit

import boto3
import pytest

from zoomops.aws.s3 import presigning_s3


@pytest.fixture
def aws_account(monkeypatch: pytest.MonkeyPatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)

    def session(region: str):
        return boto3.session.Session(
            aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="example", region_name=region
        )

    return session


@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1", "ap-southeast-2"])
def test_links_are_sigv4_on_the_regional_virtual_host(aws_account, region):
    s3 = presigning_s3(aws_account(region))
    url = s3.generate_presigned_url(
        "put_object",
        Params={"Bucket": "zoomops-files-123", "Key": "incoming/api/a.csv", "ContentType": "text/csv"},
        ExpiresIn=900,
    )
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.path == "/incoming/api/a.csv"
    # us-east-1's own endpoint is the global name; elsewhere the region's
    host = "s3.amazonaws.com" if region == "us-east-1" else f"s3.{region}.amazonaws.com"
    assert parts.hostname == f"zoomops-files-123.{host}"
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in parts.query and f"%2F{region}%2Fs3%2F" in parts.query


def test_against_a_local_endpoint_links_are_path_style(aws_account, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5999")
    url = presigning_s3(aws_account("us-east-1")).generate_presigned_url(
        "get_object", Params={"Bucket": "zoomops-files", "Key": "results/x"}
    )
    assert url.startswith("http://127.0.0.1:5999/zoomops-files/results/x?")
