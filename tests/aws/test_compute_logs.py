"""The aws instance's compute logs (a step's stdout/stderr) land in S3 (dagster.aws.yaml)."""

from pathlib import Path

import dagster as dg
import pytest

from dataplat_dagster import compute_logs
from tests.conftest import postgres_dagster_home

pytestmark = pytest.mark.integration

BUCKET = "dataplat-logs"


@dg.op
def says_hello() -> None:
    print("hello from the step")  # noqa: T201 (what the compute log must hold)


@dg.job
def printing_job() -> None:
    says_hello()


def _instance(
    tmp_path: Path, database: str, monkeypatch: pytest.MonkeyPatch, **settings: str
) -> dg.DagsterInstance:
    for name, value in {
        **postgres_dagster_home(tmp_path / "dagster", database),
        **settings,
    }.items():
        monkeypatch.setenv(name, value)
    return dg.DagsterInstance.get()


def test_a_steps_output_lands_in_the_bucket(
    aws_credentials: str, postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=aws_credentials)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    settings = compute_logs.instance_env("aws", {"bucket": BUCKET, "endpoint_url": aws_credentials})
    instance = _instance(tmp_path, postgres_database, monkeypatch, **settings)
    try:
        result = printing_job.execute_in_process(instance=instance)
    finally:
        instance.dispose()
    assert result.success
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=compute_logs.DEFAULT_PREFIX)
    keys = [item["Key"] for item in listed.get("Contents", [])]
    stdout = [key for key in keys if result.run_id in key and key.endswith(".out")]
    assert stdout, keys
    body = s3.get_object(Bucket=BUCKET, Key=stdout[0])["Body"].read().decode()
    assert "hello from the step" in body


def test_an_empty_bucket_keeps_compute_logs_on_the_local_disk(
    postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = _instance(tmp_path, postgres_database, monkeypatch)  # the tests' instances
    try:
        manager = instance.compute_log_manager
    finally:
        instance.dispose()
    assert type(manager).__name__ == "LocalComputeLogManager"
    assert compute_logs.instance_env("local", {"bucket": "data"})[compute_logs.BUCKET] == ""
