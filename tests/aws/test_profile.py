"""The demo dataflow end to end on the aws profile, against real endpoints.

S3, Glue, CloudWatch and SES are a moto server; the reporting database is the machine's
PostgreSQL. The dataflow and its declarations are exactly those of the local profile.
"""

import datetime as dt

import dagster as dg
import psycopg2
import pytest

from dataplat_dagster.definitions_builder import build_definitions
from dataplat_dagster.resources.aws import AwsResource
from tests.aws.conftest import BUCKET
from tests.conftest import DEMO_LANDING, PROJECT_ROOT, moto_data, run_demo

pytestmark = pytest.mark.integration


def keys(aws: AwsResource, prefix: str) -> set[str]:
    paginator = aws.client("s3").get_paginator("list_objects_v2")
    return {
        item["Key"]
        for page in paginator.paginate(Bucket=BUCKET, Prefix=prefix)
        for item in page.get("Contents", [])
    }


def test_the_demo_runs_on_s3_glue_cloudwatch_ses_and_postgres(
    aws_env: AwsResource, postgres_database: str, instance: dg.DagsterInstance
) -> None:
    definitions = build_definitions(PROJECT_ROOT)
    windows = ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert run_demo(definitions, instance, windows).success

    # storage: every window of every layer under the warehouse prefix, exports under theirs
    stored = keys(aws_env, "warehouse/")
    for window in windows:
        assert f"warehouse/staging/retail/orders/dt={window}/_manifest.json" in stored
        assert any(
            k.startswith(f"warehouse/business/retail/daily_revenue/dt={window}/v=")
            and "/part-" in k
            for k in stored
        )
    assert "warehouse/common/retail/customers/_manifest.json" in stored
    exported = aws_env.client("s3").get_object(
        Bucket=BUCKET, Key="exports/retail/daily_revenue_20240102.csv"
    )
    assert (
        exported["Body"]
        .read()
        .decode()
        .startswith('"order_date","country","category","orders","revenue","currency"')
    )

    # catalogue: Glue databases per layer, tables with columns, partitions per window
    glue = aws_env.client("glue")
    orders = glue.get_table(DatabaseName="dataplat_staging", Name="retail__orders")["Table"]
    columns = {c["Name"]: c["Type"] for c in orders["StorageDescriptor"]["Columns"]}
    assert (
        columns["order_id"] == "bigint"
        and columns["amount"] == "double"
        and columns["ordered_at"] == "timestamp"
    )
    assert orders["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert (
        orders["StorageDescriptor"]["Location"] == f"s3://{BUCKET}/warehouse/staging/retail/orders/"
    )
    partitions = glue.get_partitions(DatabaseName="dataplat_staging", TableName="retail__orders")[
        "Partitions"
    ]
    assert sorted(p["Values"][0] for p in partitions) == windows
    customers = glue.get_table(DatabaseName="dataplat_common", Name="retail__customers")["Table"]
    assert customers["PartitionKeys"] == []

    # metrics: rows and durations per table, and the WARN check failures of the customer data
    cloudwatch = aws_env.client("cloudwatch")
    names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace="DataPlat")["Metrics"]}
    assert {
        "rows_in",
        "rows_out",
        "rows_dropped",
        "rows_quarantined",
        "duration",
        "checks_duration",
        "check_failures",
    } <= names
    now = dt.datetime.now(dt.UTC)
    dims = [
        {"Name": "dataflow", "Value": "retail"},
        {"Name": "layer", "Value": "raw"},
        {"Name": "table", "Value": "orders"},
    ]
    stats = cloudwatch.get_metric_statistics(
        Namespace="DataPlat",
        MetricName="rows_in",
        Dimensions=dims,
        StartTime=now - dt.timedelta(hours=1),
        EndTime=now + dt.timedelta(minutes=5),
        Period=3600,
        Statistics=["Sum"],
    )
    landing_rows = sum(
        len((DEMO_LANDING / "retail" / f"orders_{w.replace('-', '')}.csv").read_text().splitlines())
        - 1
        for w in windows
    )
    assert sum(p["Sum"] for p in stats["Datapoints"]) == landing_rows

    # email: the output notices through SES, with the run link under the UI address
    sent = moto_data(aws_env.endpoint_url)["ses"]["RawMessage"]
    outputs = [
        m
        for m in sent
        if "output ready: retail.output.daily_revenue_csv" in m["raw_data"].replace("\n ", " ")
    ]
    assert len(outputs) == 1 and "finance@example.com" in outputs[0]["destinations"]
    assert "http://dagster.example.com/runs/" in outputs[0]["raw_data"]

    # the SQL output in PostgreSQL
    with (
        psycopg2.connect(host="127.0.0.1", user="postgres", dbname=postgres_database) as db,
        db.cursor() as cursor,
    ):
        cursor.execute('select distinct "_partition" from daily_revenue order by 1')
        assert [row[0] for row in cursor.fetchall()] == windows


def test_a_failed_error_check_mails_through_ses(
    aws_env: AwsResource, instance: dg.DagsterInstance
) -> None:
    result = run_demo(
        build_definitions(PROJECT_ROOT), instance, ["2024-01-05"], raise_on_error=False
    )
    assert not result.success
    sent = moto_data(aws_env.endpoint_url)["ses"]["RawMessage"]
    (notice,) = [
        m
        for m in sent
        if "X-Dataplat-Kind: check_failure" in m["raw_data"] and "orders_enriched" in m["raw_data"]
    ]
    assert "referential_customer_id [2024-01-05]" in notice["raw_data"]
    assert not keys(aws_env, "warehouse/business/retail/daily_revenue/dt=2024-01-05/")
