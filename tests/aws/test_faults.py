"""S3 failing requests: transient errors are retried; lasting ones fail clearly, publish nothing.

A proxy in front of the moto server (tests/aws/faulty_endpoint.py) answers chosen S3
requests with 503 SlowDown, as an overloaded S3 does.
"""

from pathlib import Path

import dagster as dg
import pyarrow.fs as pa_fs
import pytest

from dataplat_dagster.definitions_builder import build_definitions
from dataplat_dagster.resources.aws import AwsResource
from dataplat_dagster.resources.storage import S3TableStorage
from dataplat_dagster.resources.window_locks import S3WindowLocks
from tests.aws.conftest import BUCKET
from tests.aws.faulty_endpoint import FaultyEndpoint
from tests.conftest import PROJECT_ROOT, demo_with_quick_retries, run_demo

pytestmark = pytest.mark.integration


def staging_orders(aws: AwsResource) -> S3TableStorage:
    filesystem = pa_fs.PyFileSystem(pa_fs.FSSpecHandler(aws.s3fs()))
    client = aws.client("s3")
    locks = S3WindowLocks(client, BUCKET, "warehouse", timeout=60)
    return S3TableStorage(filesystem, f"{BUCKET}/warehouse", client=client, locks=locks)


def test_transient_s3_errors_are_retried_and_the_run_succeeds(
    aws_env: AwsResource,
    aws_credentials: str,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def every_third_s3_request(method: str, path: str, number: int) -> bool:
        return path.startswith(f"/{BUCKET}") and number % 3 == 0

    with FaultyEndpoint(aws_credentials, every_third_s3_request) as endpoint:
        monkeypatch.setenv("DATAPLAT_AWS_ENDPOINT_URL", endpoint.url)
        result = run_demo(build_definitions(PROJECT_ROOT), instance, ["2024-01-03"])
    assert result.success
    assert len(endpoint.failed) > 20  # the run met many faults, and retried through all of them
    rows, _ = staging_orders(aws_env).read(["staging", "retail", "orders"], ["2024-01-03"])
    assert rows.num_rows > 0


def test_a_lasting_s3_failure_fails_the_step_clearly_and_keeps_the_previous_version(
    aws_env: AwsResource,
    aws_credentials: str,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # the step's two retries run as declared, 1 s apart instead of the demo's 5 s
    project = demo_with_quick_retries(tmp_path / "project")
    definitions = build_definitions(project)
    assert run_demo(definitions, instance, ["2024-01-03"]).success
    storage = staging_orders(aws_env)
    before, _ = storage.read(["staging", "retail", "orders"], ["2024-01-03"])
    manifest = storage.manifest(["staging", "retail", "orders"], "2024-01-03")

    def staging_data_files(method: str, path: str, number: int) -> bool:
        return (
            method in ("PUT", "POST")
            and "/warehouse/staging/retail/orders/" in path
            and "part-" in path
        )

    with FaultyEndpoint(aws_credentials, staging_data_files) as endpoint:
        monkeypatch.setenv("DATAPLAT_AWS_ENDPOINT_URL", endpoint.url)
        monkeypatch.setenv(
            "DATAPLAT_AWS_MAX_ATTEMPTS", "3"
        )  # fewer, shorter waits than production's 8
        result = run_demo(
            build_definitions(project), instance, ["2024-01-03"], raise_on_error=False
        )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "staging__retail__orders"
    message = failure.step_failure_data.error.to_string()  # Dagster's wrapper, then the cause
    assert (
        "writing staging/retail/orders window 2024-01-03 to s3://dataplat-demo/warehouse/staging/retail/orders/dt=2024-01-03/v="
        in message
    )
    assert "every window keeps its previous version" in message
    # botocore made its 3 attempts, then the step's RetryPolicy (2 retries) ran it twice more
    assert len(endpoint.failed) == 3 * 3
    retried = [e.step_key for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retried == ["staging__retail__orders"] * 2
    after, _ = storage.read(["staging", "retail", "orders"], ["2024-01-03"])
    assert after.equals(before)
    assert storage.manifest(["staging", "retail", "orders"], "2024-01-03") == manifest
