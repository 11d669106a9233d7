"""The AWS implementations against a real endpoint: a moto server started for the session.

Covers S3 table storage and file store, Glue, CloudWatch, SES and SSM through boto3, s3fs and
dagster-aws. Nothing here is mocked; only the endpoint is local.
"""

import pyarrow as pa
import pyarrow.fs as pa_fs
import pytest

from dataplat_dagster.resources import storage as storage_module
from dataplat_dagster.resources.aws import AwsResource
from dataplat_dagster.resources.file_store import S3FileStore
from dataplat_dagster.resources.glue_catalog import GlueCatalog
from dataplat_dagster.resources.metrics import CloudWatchMetrics
from dataplat_dagster.resources.notifier import Notice, SesNotifier
from dataplat_dagster.resources.storage import S3TableStorage
from dataplat_dagster.resources.window_locks import S3WindowLocks
from tests.conftest import moto_data

pytestmark = pytest.mark.integration
BUCKET = "dataplat-test"
TABLE = ["staging", "shop", "orders"]


@pytest.fixture
def aws(aws_credentials: str) -> AwsResource:
    resource = AwsResource(region_name="eu-west-1", endpoint_url=aws_credentials)
    resource.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    return resource


def s3_storage(aws: AwsResource, timeout: float = 60) -> S3TableStorage:
    filesystem = pa_fs.PyFileSystem(pa_fs.FSSpecHandler(aws.s3fs()))
    client = aws.client("s3")
    locks = S3WindowLocks(client, BUCKET, "warehouse", timeout=timeout)
    return S3TableStorage(filesystem, f"{BUCKET}/warehouse", client=client, locks=locks)


def keys(aws: AwsResource, prefix: str) -> list[str]:
    listed = aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return sorted(item["Key"] for item in listed)


def test_clients_use_the_endpoint_region_and_standard_retries(
    aws: AwsResource, aws_credentials: str
) -> None:
    client = aws.client("glue")
    assert client.meta.endpoint_url == aws_credentials
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.config.retries["mode"] == "standard"
    assert client.meta.config.retries["total_max_attempts"] == 8
    assert aws.client("glue") is client  # created once


def test_s3_storage_writes_reads_and_overwrites_partitions(aws: AwsResource) -> None:
    storage = s3_storage(aws)
    written = storage.write(
        TABLE, [("2024-01-01", pa.table({"id": [1, 2]})), ("2024-01-02", pa.table({"id": [3]}))]
    )
    assert [w.location.rsplit("/v=", 1)[0] for w in written] == [
        "s3://dataplat-test/warehouse/staging/shop/orders/dt=2024-01-01",
        "s3://dataplat-test/warehouse/staging/shop/orders/dt=2024-01-02",
    ]
    storage.write(TABLE, [("2024-01-01", pa.table({"id": [7]}))])
    storage.write(TABLE, [("2024-01-01", pa.table({"id": [8]}))], write_id="third")
    rows, counts = storage.read(TABLE, ["2024-01-01", "2024-01-02"])
    assert rows["id"].to_pylist() == [8, 3] and counts == [("2024-01-01", 1), ("2024-01-02", 1)]
    day = keys(aws, "warehouse/staging/shop/orders/dt=2024-01-01/")
    # the current version and the one it replaced; the first is gone
    assert len([k for k in day if k.endswith(".parquet")]) == 2
    assert "warehouse/staging/shop/orders/dt=2024-01-01/v=third/part-third.parquet" in day
    assert not [k for k in day if written[0].location.rsplit("/", 1)[-1] in k]
    assert not keys(aws, "warehouse/_locks/")  # every lock released
    assert storage.existing_partitions(TABLE) == ["2024-01-01", "2024-01-02"]


def test_a_failed_s3_write_publishes_nothing(
    aws: AwsResource, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = s3_storage(aws)
    storage.write(TABLE, [("2024-01-01", pa.table({"id": [1]}))])
    real_write = storage_module.pq.write_table

    def fail_on_second_window(table: pa.Table, sink, **kwargs) -> None:  # a fault: the upload dies
        if table.column("id").to_pylist() == [3]:
            raise OSError("connection reset while uploading")
        real_write(table, sink, **kwargs)

    monkeypatch.setattr(storage_module.pq, "write_table", fail_on_second_window)
    with pytest.raises(OSError, match="connection reset"):
        storage.write(
            TABLE, [("2024-01-01", pa.table({"id": [2]})), ("2024-01-02", pa.table({"id": [3]}))]
        )
    rows, _ = storage.read(TABLE, ["2024-01-01"])
    assert rows["id"].to_pylist() == [1]  # the previous version, still published
    assert storage.existing_partitions(TABLE) == ["2024-01-01"]


def test_glue_tables_and_partitions_are_idempotent_and_follow_schema_changes(
    aws: AwsResource,
) -> None:
    glue = GlueCatalog(aws=aws)
    schema = pa.schema([("id", pa.int64()), ("amount", pa.float64())])
    location = "s3://dataplat-test/warehouse/staging/shop/orders"
    for _ in range(2):
        glue.register_table(
            key_path=TABLE,
            schema=schema,
            location=location,
            partition_key="dt",
            description="Orders",
        )
    table = glue.get_table(key_path=TABLE)
    assert table is not None
    assert (table.database, table.name) == ("dataplat_staging", "shop__orders")
    assert table.columns == [("id", "bigint"), ("amount", "double")]
    assert table.partition_keys == ["dt"] and table.location == location + "/"
    glue.register_table(
        key_path=TABLE,
        schema=schema.append(pa.field("note", pa.string())),
        location=location,
        partition_key="dt",
        description="Orders",
    )
    assert glue.get_table(key_path=TABLE).columns[-1] == ("note", "string")

    windows = [
        (f"2024-{m:02d}-{d:02d}", f"{location}/dt=2024-{m:02d}-{d:02d}")
        for m in range(1, 10)
        for d in range(1, 29)
    ]
    glue.register_partitions(key_path=TABLE, partitions=windows)  # 252 partitions: three batches
    glue.register_partitions(key_path=TABLE, partitions=windows[:5])
    assert glue.list_partitions(key_path=TABLE) == sorted(w for w, _ in windows)
    described = aws.client("glue").get_partition(
        DatabaseName="dataplat_staging", TableName="shop__orders", PartitionValues=["2024-01-01"]
    )
    assert described["Partition"]["StorageDescriptor"]["Location"] == f"{location}/dt=2024-01-01/"
    assert [t.name for t in glue.list_tables()] == ["shop__orders"]
    assert glue.get_table(key_path=["raw", "shop", "missing"]) is None


def test_cloudwatch_metrics_are_batched_within_the_api_limit(aws: AwsResource) -> None:
    from dataplat_dagster.resources.metrics import Metric

    client = aws.client("cloudwatch")
    calls: list[int] = []
    client.meta.events.register(
        "before-call.cloudwatch.PutMetricData",
        lambda params, **_: calls.append(len(params["body"])),
    )
    # AWS takes 1000 metrics a request (the default); moto's server parses fewer form fields, so
    # the batching is shown here with smaller batches
    metrics = CloudWatchMetrics(aws=aws, batch_size=50)
    metrics.put([Metric("rows_out", float(i), "Count", {"table": f"t{i % 3}"}) for i in range(120)])
    assert len(calls) == 3
    metrics.record_materialization(
        dataflow="shop",
        layer="staging",
        table="orders",
        counts={"rows_out": 42},
        seconds=1.5,
        checks_seconds=0.2,
    )
    names = {m["MetricName"] for m in client.list_metrics(Namespace="DataPlat")["Metrics"]}
    assert {"rows_out", "duration", "checks_duration"} <= names
    dims = [
        {"Name": "dataflow", "Value": "shop"},
        {"Name": "layer", "Value": "staging"},
        {"Name": "table", "Value": "orders"},
    ]
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    stats = client.get_metric_statistics(
        Namespace="DataPlat",
        MetricName="rows_out",
        Dimensions=dims,
        StartTime=now - dt.timedelta(hours=1),
        EndTime=now + dt.timedelta(minutes=5),
        Period=3600,
        Statistics=["Sum"],
    )
    assert sum(p["Sum"] for p in stats["Datapoints"]) == 42.0


def test_ses_sends_the_message_through_the_endpoint(aws: AwsResource, aws_credentials: str) -> None:
    aws.client("ses").verify_email_identity(EmailAddress="dataplat@example.com")
    notifier = SesNotifier(aws=aws, sender="dataplat@example.com", recipients=["ops@example.com"])
    notifier.send(Notice("failure", "FAILED: step x", "the body", ("owner@example.com",)))
    (sent,) = moto_data(aws_credentials)["ses"]["RawMessage"]
    assert sent["source"] == "dataplat@example.com"
    assert {"ops@example.com", "owner@example.com"} <= set(sent["destinations"])
    assert (
        "Subject: [dataplat] FAILED: step x" in sent["raw_data"] and "the body" in sent["raw_data"]
    )


def test_secrets_come_from_ssm_parameter_store(aws: AwsResource) -> None:
    aws.client("ssm").put_parameter(
        Name="/dataplat/smtp/password", Value="s3cret", Type="SecureString"
    )
    assert aws.secret("ssm:/dataplat/smtp/password") == "s3cret"
    assert aws.secret("plain") == "plain" and aws.secret(None) is None


def test_s3_file_store_lists_reads_and_writes(aws: AwsResource) -> None:
    s3 = aws.client("s3")
    for key, body in (
        ("landing/shop/orders_20240101.csv", b"a\n1\n"),
        ("landing/shop/.hidden", b"x"),
        ("other/x.csv", b"y"),
    ):
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    store = S3FileStore(aws=aws, bucket=BUCKET, prefix="landing")
    (info,) = store.list_files()
    assert (info.path, info.size) == ("shop/orders_20240101.csv", 4) and info.etag
    assert store.list_files("shop") == [info] and store.list_files("nothing") == []
    assert store.open_input("shop/orders_20240101.csv").read() == b"a\n1\n"
    uri = store.write_bytes("shop/out.csv", b"done")
    assert uri == "s3://dataplat-test/landing/shop/out.csv"
    assert s3.get_object(Bucket=BUCKET, Key="landing/shop/out.csv")["Body"].read() == b"done"
    assert store.source_host() == "s3://dataplat-test"
