"""S3 table storage against a moto server: what a manifest read error means, and window locks.

Only a definite "not found" means a window is missing: a 403, a 500, a cut connection or an
unreachable endpoint raise errors naming table, window and URI (tests/aws/faulty_endpoint.py
injects them). Window locks are lock objects created with conditional PUTs.
"""

import json
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.fs as pa_fs
import pytest

from dataplat_dagster.errors import is_transient
from dataplat_dagster.resources.aws import AwsResource
from dataplat_dagster.resources.storage import (
    InvalidManifestError,
    S3TableStorage,
    StorageAccessDenied,
    StorageReadError,
)
from dataplat_dagster.resources.window_locks import S3WindowLocks, WindowLockTimeout
from tests.aws.faulty_endpoint import FaultyEndpoint
from tests.conftest import free_port

pytestmark = pytest.mark.integration
BUCKET = "dataplat-test"
TABLE = ["raw", "retail", "products"]
MANIFEST_KEY = "warehouse/raw/retail/products/_manifest.json"


def make_aws(endpoint: str) -> AwsResource:
    # two attempts: the faults below last, and production's 8 would only make the tests slow
    return AwsResource(region_name="eu-west-1", endpoint_url=endpoint, max_attempts=2)


def storage_on(aws: AwsResource, timeout: float = 60, ttl: float = 600) -> S3TableStorage:
    filesystem = pa_fs.PyFileSystem(pa_fs.FSSpecHandler(aws.s3fs()))
    client = aws.client("s3")
    locks = S3WindowLocks(client, BUCKET, "warehouse", timeout=timeout, ttl=ttl)
    return S3TableStorage(filesystem, f"{BUCKET}/warehouse", client=client, locks=locks)


@pytest.fixture
def aws(aws_credentials: str) -> AwsResource:
    resource = make_aws(aws_credentials)
    resource.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    storage_on(resource).write(TABLE, [(None, pa.table({"id": [1, 2]}))], write_id="good")
    return resource


def test_a_missing_manifest_is_missing(aws: AwsResource) -> None:
    assert storage_on(aws).manifest(["raw", "retail", "never"], None) is None
    assert storage_on(aws).manifest(TABLE, None).write_id == "good"


@pytest.mark.parametrize("fault", ["403", "500", "503", "close"])
def test_a_failed_manifest_read_is_an_error_naming_table_and_uri_never_missing(
    aws: AwsResource, aws_credentials: str, fault: str
) -> None:
    def manifest_gets(method: str, path: str, number: int) -> str | None:
        return (
            fault
            if method == "GET" and unquote(path).startswith(f"/{BUCKET}/{MANIFEST_KEY}")
            else None
        )

    with FaultyEndpoint(aws_credentials, manifest_gets) as endpoint:
        storage = storage_on(make_aws(endpoint.url))
        expected = StorageAccessDenied if fault == "403" else StorageReadError
        with pytest.raises(expected) as caught:
            storage.read(TABLE, [None], missing_ok=True)
    message = str(caught.value)
    assert "the manifest of raw/retail/products" in message
    assert f"s3://{BUCKET}/{MANIFEST_KEY}" in message
    if fault == "403":
        assert "refused by S3 (AccessDenied)" in message
        assert caught.value.allow_retries is False  # permanent: fails at once, clearly
    else:
        assert is_transient(caught.value)  # retried by the step's RetryPolicy
        assert "Nothing was taken as missing" in message


def test_an_unreachable_endpoint_is_a_transient_error_not_a_missing_window(
    aws: AwsResource,
) -> None:
    storage = storage_on(make_aws(f"http://127.0.0.1:{free_port()}"))  # nothing listens
    with pytest.raises(StorageReadError, match="raw/retail/products") as caught:
        storage.manifest(TABLE, None)
    assert is_transient(caught.value)


def test_a_truncated_manifest_on_s3_names_its_uri(aws: AwsResource) -> None:
    client = aws.client("s3")
    body = client.get_object(Bucket=BUCKET, Key=MANIFEST_KEY)["Body"].read()
    client.put_object(Bucket=BUCKET, Key=MANIFEST_KEY, Body=body[: len(body) // 2])
    with pytest.raises(InvalidManifestError, match=f"s3://{BUCKET}/{MANIFEST_KEY} is not a valid"):
        storage_on(aws).read(TABLE, [None])


def test_a_failed_manifest_put_names_table_and_uri_and_keeps_the_previous_version(
    aws: AwsResource, aws_credentials: str
) -> None:
    def manifest_puts(method: str, path: str, number: int) -> str | None:
        return (
            "503"
            if method == "PUT" and unquote(path).startswith(f"/{BUCKET}/{MANIFEST_KEY}")
            else None
        )

    with FaultyEndpoint(aws_credentials, manifest_puts) as endpoint:
        with pytest.raises(OSError) as caught:
            storage_on(make_aws(endpoint.url)).write(TABLE, [(None, pa.table({"id": [9]}))])
    message = str(caught.value)
    assert f"publishing raw/retail/products (s3://{BUCKET}/{MANIFEST_KEY}) failed" in message
    assert "keeps its previous version" in message
    rows, _ = storage_on(aws).read(TABLE, [None])
    assert rows["id"].to_pylist() == [1, 2]


# -- window locks on S3 ------------------------------------------------------------------------


def lock_key(window: str) -> str:
    return f"warehouse/_locks/raw/retail/products/dt={window}.lock"


def test_an_s3_lock_is_exclusive_names_its_holder_and_is_released(aws: AwsResource) -> None:
    client = aws.client("s3")
    messages: list[str] = []
    locks = S3WindowLocks(client, BUCKET, "warehouse", timeout=0.6, log=messages.append)
    with locks.hold(TABLE, ["2024-01-03"], "run-one"):
        holder = json.loads(
            client.get_object(Bucket=BUCKET, Key=lock_key("2024-01-03"))["Body"].read()
        )
        assert holder["owner"] == "run-one" and holder["pid"] > 0 and holder["expires"]
        with pytest.raises(WindowLockTimeout) as caught:
            with locks.hold(TABLE, ["2024-01-03"], "run-two"):
                pass
        with locks.hold(TABLE, ["2024-01-04"], "run-two"):  # another window is free
            pass
    assert "raw/retail/products window 2024-01-03 is locked by run run-one" in str(caught.value)
    assert f"s3://{BUCKET}/{lock_key('2024-01-03')}" in str(caught.value)
    assert "is being written by run run-one" in messages[0]
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="warehouse/_locks/")
    assert listed.get("KeyCount", 0) == 0


def test_writers_in_threads_take_turns_on_s3(aws: AwsResource) -> None:
    order: list[str] = []
    guard = threading.Lock()
    inside = [0]

    def writer(name: str) -> None:
        locks = S3WindowLocks(aws.client("s3"), BUCKET, "warehouse", timeout=60)
        with locks.hold(TABLE, ["2024-01-03"], name):
            with guard:
                inside[0] += 1
                order.append(f"{name} in {inside[0]}")
            threading.Event().wait(0.2)
            with guard:
                inside[0] -= 1

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(order) == ["w0 in 1", "w1 in 1", "w2 in 1"]  # never two inside at once


def test_an_expired_lock_is_taken_over_and_a_live_one_is_not(aws: AwsResource) -> None:
    client = aws.client("s3")
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    dead = {"owner": "crashed-run", "host": "gone", "pid": 1, "since": past, "expires": past}
    client.put_object(Bucket=BUCKET, Key=lock_key("2024-01-03"), Body=json.dumps(dead))
    messages: list[str] = []
    locks = S3WindowLocks(client, BUCKET, "warehouse", timeout=5, log=messages.append)
    with locks.hold(TABLE, ["2024-01-03"], "run-two"):
        holder = json.loads(
            client.get_object(Bucket=BUCKET, Key=lock_key("2024-01-03"))["Body"].read()
        )
        assert holder["owner"] == "run-two"
    assert "taking over the expired lock of run crashed-run" in messages[0]

    future = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    alive = {**dead, "owner": "live-run", "expires": future}
    client.put_object(Bucket=BUCKET, Key=lock_key("2024-01-03"), Body=json.dumps(alive))
    with pytest.raises(WindowLockTimeout, match="live-run"):
        with S3WindowLocks(client, BUCKET, "warehouse", timeout=0.6).hold(
            TABLE, ["2024-01-03"], "run-three"
        ):
            pass
    # the live lock was left alone
    assert (
        client.get_object(Bucket=BUCKET, Key=lock_key("2024-01-03"))["Body"].read()
        == json.dumps(alive).encode()
    )


def test_a_held_lock_is_renewed_before_it_expires(aws: AwsResource) -> None:
    client = aws.client("s3")
    locks = S3WindowLocks(client, BUCKET, "warehouse", timeout=0.6, ttl=0.9)
    with locks.hold(TABLE, ["2024-01-03"], "long-run"):
        first = json.loads(
            client.get_object(Bucket=BUCKET, Key=lock_key("2024-01-03"))["Body"].read()
        )
        threading.Event().wait(2.0)  # longer than the ttl: only renewal keeps it alive
        with pytest.raises(WindowLockTimeout, match="long-run"):
            with S3WindowLocks(client, BUCKET, "warehouse", timeout=0.6, ttl=0.9).hold(
                TABLE, ["2024-01-03"], "other"
            ):
                pass
        later = json.loads(
            client.get_object(Bucket=BUCKET, Key=lock_key("2024-01-03"))["Body"].read()
        )
    assert later["expires"] > first["expires"]
