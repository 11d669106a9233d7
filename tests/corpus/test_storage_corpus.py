"""Storage faults corpus: what is published, where Glue points, what survives, per fault.

For each fault: what the manifest publishes, what Glue points at, and that the previous
version of the window survives.

The warehouse is the aws profile's: S3ParquetIOManager and GlueCatalog on a moto server;
faults come from the fault proxy (tests/aws/faulty_endpoint.py), a dead port, hand-written
crashes and a truncated manifest. "Glue points at" is read as an external engine would:
the partition's Location, then the Parquet files under it.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.dataset as pa_ds
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq
import pytest

from dataplat_dagster.engines.pandas_engine import PandasEngine
from dataplat_dagster.resources import storage as storage_module
from dataplat_dagster.resources.aws import AwsResource
from dataplat_dagster.resources.glue_catalog import GlueCatalog
from dataplat_dagster.resources.io_managers import S3ParquetIOManager
from dataplat_dagster.resources.storage import (
    FailedGateError,
    InvalidManifestError,
    StorageAccessDenied,
    StorageWriteError,
)
from dataplat_dagster.resources.window_locks import WindowLockError
from tests.aws.faulty_endpoint import FaultyEndpoint
from tests.conftest import free_port

pytestmark = pytest.mark.integration
BUCKET = "corpus"
TABLE = ["staging", "shop", "orders"]
WINDOW = "2024-01-03"
FOLDER = f"warehouse/staging/shop/orders/dt={WINDOW}"


def rows(ids: list[int]) -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.int64())})


def manager(endpoint: str, attempts: int = 2) -> S3ParquetIOManager:
    aws = AwsResource(region_name="eu-west-1", endpoint_url=endpoint, max_attempts=attempts)
    return S3ParquetIOManager(
        bucket=BUCKET,
        prefix="warehouse",
        aws=aws,
        engine=PandasEngine(),
        catalog=GlueCatalog(aws=aws),
        lock_timeout_seconds=120,
    )


def write(io: S3ParquetIOManager, ids: list[int], run_id: str, failed: bool = False):
    return io.write_windows(
        TABLE,
        [(WINDOW, rows(ids))],
        run_id=run_id,
        failed_checks={WINDOW: ["not_null_id"]} if failed else {},
        properties={},
    )


@dataclass
class Seen:
    published: str | None  # the write id the manifest names
    glue_location: str | None  # None: no partition
    glue_rows: list[int] | None


def seen(io: S3ParquetIOManager) -> Seen:
    storage = io.storage()
    try:
        manifest = storage.manifest(TABLE, WINDOW)
    except InvalidManifestError:
        manifest = None
    locations = io.catalog.partition_locations(key_path=TABLE)
    location = locations.get(WINDOW)
    if location is None:
        return Seen(manifest.write_id if manifest else None, None, None)
    s3 = pa_fs.PyFileSystem(pa_fs.FSSpecHandler(io.aws.s3fs()))
    prefix = location.removeprefix(f"s3://{BUCKET}/")
    listed = io.aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    files = [f"{BUCKET}/{o['Key']}" for o in listed.get("Contents", [])]
    table = pa_ds.dataset(files, format="parquet", filesystem=s3).to_table()
    return Seen(manifest.write_id if manifest else None, location, sorted(table["id"].to_pylist()))


def version_folders(io: S3ParquetIOManager) -> set[str]:
    listed = io.aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=f"{FOLDER}/v=")
    return {o["Key"].split("/v=")[1].split("/")[0] for o in listed.get("Contents", [])}


@pytest.fixture
def io(aws_credentials: str) -> S3ParquetIOManager:
    good = manager(aws_credentials)
    good.aws.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    write(good, [1, 2, 3], "previous")
    return good


def previous_survives(io: S3ParquetIOManager, before: Seen) -> None:
    """The window's previous version is still complete where Glue pointed at it."""
    assert before.glue_location is not None
    version = before.glue_location.rstrip("/").rsplit("/v=", 1)[1]
    assert version in version_folders(io)


def faulty(aws_credentials: str, fault: Callable[[str, str], str | bool | None]) -> FaultyEndpoint:
    return FaultyEndpoint(aws_credentials, lambda method, path, _: fault(method, unquote(path)))


def test_two_writers_take_turns_and_glue_points_at_the_last_published(
    io: S3ParquetIOManager,
) -> None:
    before = seen(io)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            write(io, [n * 10, n * 10 + 1], f"writer-{n}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert errors == []
    after = seen(io)
    last = int(after.published.split("-")[1])
    assert after.glue_rows == [last * 10, last * 10 + 1]
    assert after.glue_location.rstrip("/").endswith(f"/v={after.published}")
    assert io.storage().read(TABLE, [WINDOW])[0]["id"].to_pylist() == after.glue_rows
    assert before.glue_rows == [1, 2, 3]


def test_a_crash_mid_write_leaves_a_partial_version_nobody_points_at(
    io: S3ParquetIOManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = seen(io)
    real_write_table = pq.write_table

    def half_then_crash(table: pa.Table, sink, **kwargs) -> None:  # hand-written fault
        buffer = pa.BufferOutputStream()
        real_write_table(table, buffer, **kwargs)
        data = buffer.getvalue().to_pybytes()
        sink.write(data[: len(data) // 2])
        raise OSError("the writer was killed mid-file")

    monkeypatch.setattr(storage_module.pq, "write_table", half_then_crash)
    with pytest.raises(StorageWriteError, match=f"staging/shop/orders window {WINDOW}"):
        write(io, [7, 8], "crashed")
    monkeypatch.undo()

    assert seen(io) == before  # published and Glue: the previous version, complete
    previous_survives(io, before)
    write(io, [9], "next")  # the next write publishes and removes the partial version
    assert seen(io).glue_rows == [9]
    assert not [v for v in version_folders(io) if v.startswith("crashed")]


def test_s3_unreachable_publishes_nothing_and_names_the_window(io: S3ParquetIOManager) -> None:
    before = seen(io)
    with pytest.raises(WindowLockError, match=f"staging/shop/orders window {WINDOW}"):
        write(manager(f"http://127.0.0.1:{free_port()}"), [7], "unreachable")
    assert seen(io) == before
    previous_survives(io, before)


def test_a_403_on_the_manifest_is_a_clear_permanent_failure(
    io: S3ParquetIOManager, aws_credentials: str
) -> None:
    before = seen(io)
    with faulty(
        aws_credentials, lambda m, p: "403" if m == "GET" and p.endswith("_manifest.json") else None
    ) as endpoint:
        with pytest.raises(StorageAccessDenied, match="refused by S3"):
            write(manager(endpoint.url), [7], "denied")
    assert seen(io) == before
    previous_survives(io, before)


def test_503_on_every_data_put_publishes_nothing(
    io: S3ParquetIOManager, aws_credentials: str
) -> None:
    before = seen(io)
    with faulty(
        aws_credentials, lambda m, p: "503" if m in ("PUT", "POST") and "/part-" in p else None
    ) as endpoint:
        with pytest.raises(StorageWriteError) as caught:
            write(manager(endpoint.url), [7], "slowdown")
    assert f"s3://{BUCKET}/{FOLDER}/v=slowdown" in str(caught.value)
    assert seen(io) == before
    previous_survives(io, before)


def test_a_truncated_manifest_fails_reads_clearly_and_a_rewrite_repairs_it(
    io: S3ParquetIOManager,
) -> None:
    before = seen(io)
    client = io.aws.client("s3")
    key = f"{FOLDER}/_manifest.json"
    body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    client.put_object(Bucket=BUCKET, Key=key, Body=body[:40])

    with pytest.raises(InvalidManifestError, match=f"s3://{BUCKET}/{key} is not a valid manifest"):
        io.storage().read(TABLE, [WINDOW])
    assert seen(io).glue_location == before.glue_location  # Glue still at a complete version
    previous_survives(io, before)
    write(io, [4, 5], "repair")
    assert seen(io).glue_rows == [4, 5] and seen(io).published.startswith("repair")
    previous_survives(io, before)  # what the unreadable manifest named is not removed blindly


def test_a_gate_failed_window_is_published_for_the_record_but_withdrawn_from_glue(
    io: S3ParquetIOManager,
) -> None:
    before = seen(io)
    write(io, [7, 8], "gatefail", failed=True)
    after = seen(io)
    assert after.published.startswith("gatefail")  # the manifest records the failed checks
    assert after.glue_location is None  # external readers do not see the window
    assert io.catalog.list_partitions(key_path=TABLE) == []
    with pytest.raises(FailedGateError, match="not_null_id"):
        io.storage().read(TABLE, [WINDOW], failed_gates="refuse")
    previous_survives(io, before)
    write(io, [7, 8], "fixed")
    assert seen(io).glue_rows == [7, 8]
