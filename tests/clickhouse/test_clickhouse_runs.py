"""ClickHouse outputs in Dagster runs: landing CSV -> raw -> staging -> business SQL -> chDB.

Through in-process runs of a small dataflow: a range run of two windows, a re-run of one
(replaced, not duplicated), the ordering key and types in the table's DDL, a table created
from a contract, and an unreachable ClickHouse server failing the run with a message naming
the output and window; and the same rows from the Spark engine.
"""

import csv
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import pytest

from dataplat_dagster.definitions_builder import build_definitions
from dataplat_dagster.resources.clickhouse import ChdbClient
from tests.conftest import free_port, write_project

DAY1, DAY2 = "2024-01-02", "2024-01-03"
OUTPUT = "sales.output.region_totals_table"
SALES_YAML = """\
dataflow: sales
partitioning: {granularity: daily, timezone: UTC, start: "2024-01-01", end: "2024-01-06"}
landing:
  sales:
    path: "sales/sales_{date:%Y%m%d}.csv"
    schema: {sale_id: int64, region: string, units: int32, price: float64}
raw:
  sales: {from: landing.sales}
staging:
  sales: {from: raw.sales}
business:
  region_totals:
    sql: |
      select region, sum(units) as units, count_if(units > 5) as big_sales,
             count(*) as sales, sum(units * price) as revenue
      from {{ staging.sales }} group by all
output:
  region_totals_table:
    from: business.region_totals
    format: clickhouse
    database: warehouse
    table: region_totals
    order_by: [region]
    retry: {max_retries: 0}
"""
CONTRACT = """\
    table: ch_region_totals
    contract: tests.clickhouse.models.ClickHouseRegionTotals
"""


def make_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, dataflow: str = SALES_YAML
) -> Path:
    """The `sales` dataflow with the connection `warehouse` at `url`; state under tmp_path."""
    root = write_project(tmp_path / "project", {"sales": dataflow})
    profile = root / "resources" / "local.yaml"
    reporting = '      reporting: {url: "sqlite:///${globals.home}/reporting.db"}\n'
    text = profile.read_text()
    assert reporting in text
    profile.write_text(text.replace(reporting, f'{reporting}      warehouse: {{url: "{url}"}}\n'))
    monkeypatch.setenv("DATAPLAT_ENV", "local")
    monkeypatch.setenv("DATAPLAT_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("DATAPLAT_LANDING_ROOT", str(tmp_path / "landing"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return root


def land(tmp_path: Path, day: str, units: Sequence[int]) -> None:
    """A landing file of `day`: sale i in region north (even i) or south, price 2.5."""
    path = tmp_path / "landing" / "sales" / f"sales_{day.replace('-', '')}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sale_id", "region", "units", "price"])
        for number, count in enumerate(units):
            writer.writerow([number, "north" if number % 2 == 0 else "south", count, 2.5])


def run(root: Path, instance: dg.DagsterInstance, keys: Sequence[str]) -> dg.ExecuteInProcessResult:
    tags = (
        {"dagster/partition": keys[0]}
        if len(keys) == 1
        else {
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        }
    )
    job = build_definitions(root).resolve_job_def("sales_job")
    return job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)


def truth(units: Sequence[int], day: str) -> list[tuple]:
    """What the table must hold for one landing file, computed here in Python."""
    by_region: dict[str, list[int]] = {"north": units[0::2], "south": units[1::2]}
    return [
        (day, region, sum(values), sum(v > 5 for v in values), len(values))
        for region, values in sorted(by_region.items())
        if values
    ]


def report(reader: ChdbClient, table: str = "region_totals") -> list[tuple]:
    return reader.rows(
        f"SELECT _partition, region, units, big_sales, sales FROM {reader.database}.{table} "
        "ORDER BY 1, 2"
    )


def output_metadata(result: dg.ExecuteInProcessResult, day: str) -> dict:
    """The metadata of the output's materialization of window `day` in a run."""
    for event in result.get_asset_materialization_events():
        if event.partition == day and event.asset_key.path[0] == "output":
            return event.step_materialization_data.materialization.metadata
    raise AssertionError(f"no output materialization of {day}")


def test_range_run_then_rerun_of_one_window(
    chdb_url: str,
    reader: ChdbClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    instance: dg.DagsterInstance,
) -> None:
    root = make_project(tmp_path, monkeypatch, chdb_url)
    day1, day2 = [3, 9, 4, 7, 1], [2**31 - 1, 2**31 - 1, 6]  # sums beyond 32 bits
    land(tmp_path, DAY1, day1)
    land(tmp_path, DAY2, day2)
    result = run(root, instance, [DAY1, DAY2])
    assert result.success
    assert report(reader) == truth(day1, DAY1) + truth(day2, DAY2)
    ((ddl,),) = reader.rows(f"SHOW CREATE TABLE {reader.database}.region_totals")
    assert "ENGINE = MergeTree" in ddl and "PARTITION BY _partition" in ddl
    assert "ORDER BY region" in ddl and "`units` Nullable(Int64)" in ddl
    metadata = output_metadata(result, DAY1)
    assert metadata["clickhouse_rows_by_window"].value == {DAY1: 2, DAY2: 2}
    assert metadata["dagster/uri"].value.endswith("#region_totals")

    day1 = [8, 8, 8, 8]  # the source of DAY1 changed: its re-run replaces its rows
    land(tmp_path, DAY1, day1)
    assert run(root, instance, [DAY1]).success
    assert report(reader) == truth(day1, DAY1) + truth(day2, DAY2)


def test_a_contract_creates_the_table(
    chdb_url: str,
    reader: ChdbClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    instance: dg.DagsterInstance,
) -> None:
    dataflow = SALES_YAML.replace("    table: region_totals\n", CONTRACT)
    root = make_project(tmp_path, monkeypatch, chdb_url, dataflow)
    land(tmp_path, DAY1, [1, 2, 3])
    assert run(root, instance, [DAY1]).success
    assert report(reader, "ch_region_totals") == truth([1, 2, 3], DAY1)
    types = dict(
        reader.rows(
            "SELECT name, type FROM system.columns WHERE database = "
            f"'{reader.database}' AND table = 'ch_region_totals'"
        )
    )
    assert types == {  # the contract's NOT NULL columns are not Nullable
        "region": "String",
        "units": "Int64",
        "big_sales": "Int64",
        "sales": "Int64",
        "revenue": "Nullable(Float64)",
        "_partition": "String",
    }


def test_an_unreachable_server_fails_the_run_naming_output_and_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    url = f"clickhouse://127.0.0.1:{free_port()}/reports"  # nothing listens there
    root = make_project(tmp_path, monkeypatch, url)
    land(tmp_path, DAY1, [1, 2])
    result = run(root, instance, [DAY1])
    assert not result.success
    (event,) = result.get_step_failure_events()
    assert event.step_failure_data.error is not None
    message = event.step_failure_data.error.to_string()
    assert f"writing {OUTPUT} to ClickHouse table 'region_totals'" in message, message
    assert "connection 'warehouse' (clickhouse://127.0.0.1:" in message, message
    assert f"window {DAY1}" in message and "nothing was written" in message, message


def test_a_bad_chdb_folder_fails_the_run_naming_output_and_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    in_the_way = tmp_path / "not_a_folder"
    in_the_way.write_text("a file where the data folder should be")
    root = make_project(tmp_path, monkeypatch, f"chdb://{in_the_way}/data?database=reports")
    land(tmp_path, DAY1, [1, 2])
    result = run(root, instance, [DAY1])
    assert not result.success
    (event,) = result.get_step_failure_events()
    assert event.step_failure_data.error is not None
    message = event.step_failure_data.error.to_string()
    assert f"writing {OUTPUT} to ClickHouse table 'region_totals'" in message, message
    assert f"window {DAY1}" in message, message
    assert f"chDB cannot open the folder {in_the_way}/data" in message, message
    assert "nothing was written" in message, message


def test_a_clickhouse_connection_under_format_sql_is_named(
    chdb_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    dataflow = SALES_YAML.replace("format: clickhouse", "format: sql").replace(
        "    order_by: [region]\n", ""
    )
    root = make_project(tmp_path, monkeypatch, chdb_url, dataflow)
    land(tmp_path, DAY1, [1])
    result = run(root, instance, [DAY1])
    assert not result.success
    (event,) = result.get_step_failure_events()
    assert event.step_failure_data.error is not None
    message = event.step_failure_data.error.to_string()
    assert (
        "database 'warehouse' is a ClickHouse connection; declare the output with format: "
        "clickhouse" in message
    ), message


@pytest.mark.spark
def test_the_spark_engine_writes_the_same_rows(
    chdb_url: str,
    reader: ChdbClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    instance: dg.DagsterInstance,
) -> None:
    # the output collects the run's rows to the driver as Arrow, as for every output
    dataflow = SALES_YAML.replace("dataflow: sales\n", "dataflow: sales\nengine: spark\n")
    root = make_project(tmp_path, monkeypatch, chdb_url, dataflow)
    day1, day2 = [3, 9, 4], [5]
    land(tmp_path, DAY1, day1)
    land(tmp_path, DAY2, day2)
    assert run(root, instance, [DAY1, DAY2]).success
    assert report(reader) == truth(day1, DAY1) + truth(day2, DAY2)
