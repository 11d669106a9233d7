"""Glue follows what is published, with the fewest writes a least-privilege role allows.

An external reader goes through Glue only (get_partitions -> Location -> the Parquet files
under it, read with pyarrow from the moto S3), as Athena or Spark would: it must always see
a complete, published version and never a gate-failed window. Glue calls are counted from the
requests themselves (the fault proxy records each request's X-Amz-Target).
"""

from collections import Counter
from urllib.parse import unquote

import dagster as dg
import pyarrow as pa
import pyarrow.dataset as pa_ds
import pyarrow.fs as pa_fs
import pytest

from dataplat_dagster.definitions_builder import build_definitions
from dataplat_dagster.resources.aws import AwsResource
from dataplat_dagster.resources.glue_catalog import GlueCatalog
from tests.aws.conftest import BUCKET
from tests.aws.faulty_endpoint import FaultyEndpoint
from tests.conftest import PROJECT_ROOT, run_demo

pytestmark = pytest.mark.integration
TABLE = ["staging", "shop", "orders"]
SCHEMA = pa.schema([("id", pa.int64())])


def glue_reader(aws: AwsResource, database: str, table: str) -> dict[str, tuple[str, pa.Table]]:
    """What an external engine reads through Glue: window -> (Location, rows under it)."""
    glue = aws.client("glue")
    s3 = pa_fs.PyFileSystem(pa_fs.FSSpecHandler(aws.s3fs()))
    read = {}
    for page in glue.get_paginator("get_partitions").paginate(
        DatabaseName=database, TableName=table
    ):
        for partition in page["Partitions"]:
            location = partition["StorageDescriptor"]["Location"]
            files = [
                f"{BUCKET}/{key}"
                for key in keys(aws, location.removeprefix(f"s3://{BUCKET}/"))
                if key.endswith(".parquet")
            ]
            rows = pa_ds.dataset(files, format="parquet", filesystem=s3).to_table()
            read[partition["Values"][0]] = (location, rows)
    return read


def keys(aws: AwsResource, prefix: str) -> list[str]:
    paginator = aws.client("s3").get_paginator("list_objects_v2")
    return sorted(
        item["Key"]
        for page in paginator.paginate(Bucket=BUCKET, Prefix=prefix)
        for item in page.get("Contents", [])
    )


def counting(aws: AwsResource) -> Counter:
    calls: Counter = Counter()
    aws.client("glue").meta.events.register(
        "before-call.glue.*", lambda model, **_: calls.update([model.name])
    )
    return calls


def test_glue_writes_only_what_changed(aws_credentials: str) -> None:
    aws = AwsResource(region_name="eu-west-1", endpoint_url=aws_credentials)
    calls = counting(aws)
    glue = GlueCatalog(aws=aws)
    location = "s3://b/warehouse/staging/shop/orders"

    def register(description: str = "Orders") -> None:
        glue.register_table(
            key_path=TABLE,
            schema=SCHEMA,
            location=location,
            partition_key="dt",
            description=description,
        )

    register()
    assert calls["CreateDatabase"] == 1 and calls["CreateTable"] == 1
    calls.clear()
    register()
    GlueCatalog(aws=aws).register_table(  # a new catalogue instance: as in a new process
        key_path=TABLE, schema=SCHEMA, location=location, partition_key="dt", description="Orders"
    )
    assert calls["CreateDatabase"] == calls["UpdateTable"] == calls["CreateTable"] == 0
    assert calls["GetDatabase"] == 1  # the first instance knew it already
    client = aws.client("glue")
    versions = client.get_table_versions(DatabaseName="dataplat_staging", TableName="shop__orders")
    assert len(versions["TableVersions"]) == 1
    register(description="Orders, new text")
    assert calls["UpdateTable"] == 1

    windows = [(f"2024-01-{d:02d}", f"{location}/dt=2024-01-{d:02d}/v=a") for d in range(1, 4)]
    calls.clear()
    glue.register_partitions(key_path=TABLE, partitions=windows)
    glue.register_partitions(key_path=TABLE, partitions=windows)  # same locations: no writes
    assert calls["BatchCreatePartition"] == 1 and calls["BatchUpdatePartition"] == 0
    moved = [(windows[0][0], f"{location}/dt=2024-01-01/v=b")]
    glue.register_partitions(key_path=TABLE, partitions=moved)
    assert calls["BatchCreatePartition"] == 1 and calls["BatchUpdatePartition"] == 1
    assert glue.partition_locations(key_path=TABLE)["2024-01-01"] == moved[0][1] + "/"

    glue.withhold_partitions(key_path=TABLE, partitions=[("2024-01-02", "ignored")])
    assert glue.list_partitions(key_path=TABLE) == ["2024-01-01", "2024-01-03"]
    calls.clear()
    glue.withhold_partitions(key_path=TABLE, partitions=[("2024-01-02", "ignored")])
    assert calls["BatchDeletePartition"] == 0  # not registered: nothing to withdraw


def test_a_pre_created_database_is_never_created(aws_credentials: str) -> None:
    aws = AwsResource(region_name="eu-west-1", endpoint_url=aws_credentials)
    aws.client("glue").create_database(DatabaseInput={"Name": "dataplat_staging"})
    calls = counting(aws)
    GlueCatalog(aws=aws).register_table(
        key_path=TABLE, schema=SCHEMA, location="s3://b/t", partition_key="dt", description=""
    )
    assert calls["CreateDatabase"] == 0 and calls["GetDatabase"] == 1


def glue_targets(endpoint: FaultyEndpoint) -> Counter:
    return Counter(t.removeprefix("AWSGlue.") for t in endpoint.targets if t.startswith("AWSGlue."))


def test_a_second_identical_run_creates_no_database_table_or_table_version(
    aws_env: AwsResource,
    aws_credentials: str,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    glue = aws_env.client("glue")
    with FaultyEndpoint(aws_credentials, lambda *_: None) as endpoint:
        monkeypatch.setenv("DATAPLAT_AWS_ENDPOINT_URL", endpoint.url)
        assert run_demo(build_definitions(PROJECT_ROOT), instance, ["2024-01-03"]).success
        tables = {
            (database["Name"], table["Name"]): table
            for database in glue.get_databases()["DatabaseList"]
            for table in glue.get_tables(DatabaseName=database["Name"])["TableList"]
        }
        versions = {
            key: len(
                glue.get_table_versions(DatabaseName=key[0], TableName=key[1])["TableVersions"]
            )
            for key in tables
        }
        first = glue_targets(endpoint)
        endpoint.targets.clear()
        assert run_demo(build_definitions(PROJECT_ROOT), instance, ["2024-01-03"]).success
        second = glue_targets(endpoint)

    assert first["CreateDatabase"] >= 1
    assert second["CreateDatabase"] == 0 and second["CreateTable"] == 0
    unpartitioned = {key for key, table in tables.items() if not table["PartitionKeys"]}
    # an unpartitioned table's location is its published version: it moves with each write
    assert second["UpdateTable"] == len(unpartitioned)
    for key in set(tables) - unpartitioned:
        now = glue.get_table_versions(DatabaseName=key[0], TableName=key[1])["TableVersions"]
        assert len(now) == versions[key], key
    # the re-written windows moved, in one batch per table; none was created again
    assert second["BatchCreatePartition"] == 0
    assert 0 < second["BatchUpdatePartition"] <= len(tables) - len(unpartitioned)


def test_an_external_reader_through_glue_sees_only_complete_published_versions(
    aws_env: AwsResource,
    aws_credentials: str,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    definitions = build_definitions(PROJECT_ROOT)
    assert run_demo(definitions, instance, ["2024-01-03"]).success
    before = glue_reader(aws_env, "dataplat_staging", "retail__orders")
    assert list(before) == ["2024-01-03"] and before["2024-01-03"][1].num_rows > 0

    # a re-run dies mid-write: its data file is uploaded, publishing its manifest fails
    def staging_manifest(method: str, path: str, number: int) -> bool:
        return method == "PUT" and unquote(path).startswith(
            f"/{BUCKET}/warehouse/staging/retail/orders/dt=2024-01-03/_manifest.json"
        )

    monkeypatch.setenv("DATAPLAT_AWS_MAX_ATTEMPTS", "2")
    with FaultyEndpoint(aws_credentials, staging_manifest) as endpoint:
        monkeypatch.setenv("DATAPLAT_AWS_ENDPOINT_URL", endpoint.url)
        result = run_demo(
            build_definitions(PROJECT_ROOT), instance, ["2024-01-03"], raise_on_error=False
        )
    assert not result.success and endpoint.failed
    versions = {
        key.split("/v=")[1].split("/")[0]
        for key in keys(aws_env, "warehouse/staging/retail/orders/dt=2024-01-03/v=")
    }
    assert len(versions) >= 2  # the unpublished version's files are there, in their own folder
    after = glue_reader(aws_env, "dataplat_staging", "retail__orders")
    assert list(after) == ["2024-01-03"]
    assert after["2024-01-03"] == before["2024-01-03"]  # the same version, the same rows

    # a window whose quality gate closed is not registered where external readers look
    monkeypatch.setenv("DATAPLAT_AWS_ENDPOINT_URL", aws_credentials)
    result = run_demo(
        build_definitions(PROJECT_ROOT), instance, ["2024-01-05"], raise_on_error=False
    )
    assert not result.success
    assert "2024-01-05" not in glue_reader(aws_env, "dataplat_common", "retail__orders_enriched")
    assert "2024-01-03" in glue_reader(aws_env, "dataplat_common", "retail__orders_enriched")
