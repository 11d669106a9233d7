"""SQL outputs in Dagster runs: DuckDB aggregates into SQLite, PostgreSQL and MariaDB tables.

The users' report (issue 11, items 7 and 8): `sum(int)` and `count_if(...)` made the SQL
output fail on `decimal.Decimal`, and the failed first write left a table of TEXT columns
that later runs appended into. Covers, through in-process runs of a small dataflow (landing
CSV -> raw -> staging -> business SQL -> SQL output) on each database: integer aggregates
written as BIGINT with the true totals, a range run and a re-run of one window (replaced, not
duplicated), a pre-existing table of other types failing the run with its rows intact, and
an unreachable database failing the run with a message naming output, database, table and
window.
"""

import csv
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import pytest

from dataplat_dagster.definitions_builder import build_definitions
from tests.conftest import free_port, write_project
from tests.corpus.conftest import SqlDb, rows

DAY1, DAY2 = "2024-01-02", "2024-01-03"
OUTPUT = "sales.output.region_totals_table"
BIGINT = {"sqlite": "bigint", "postgresql": "bigint", "mariadb": "bigint(20)"}
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
    format: sql
    database: target
    table: region_totals
    retry: {max_retries: 0}
"""


def make_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> Path:
    """The `sales` dataflow with the connection `target` at `url`; state under tmp_path."""
    root = write_project(tmp_path / "project", {"sales": SALES_YAML})
    profile = root / "resources" / "local.yaml"
    reporting = '      reporting: {url: "sqlite:///${globals.home}/reporting.db"}\n'
    text = profile.read_text()
    assert reporting in text
    profile.write_text(text.replace(reporting, f'{reporting}      target: {{url: "{url}"}}\n'))
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


def failure(result: dg.ExecuteInProcessResult) -> str:
    (event,) = result.get_step_failure_events()
    assert event.step_failure_data.error is not None
    return event.step_failure_data.error.to_string()


def truth(units: Sequence[int], day: str) -> list[tuple]:
    """What the report must hold for one landing file, computed here in Python."""
    by_region: dict[str, list[int]] = {"north": units[0::2], "south": units[1::2]}
    return [
        (day, region, sum(values), sum(v > 5 for v in values), len(values))
        for region, values in sorted(by_region.items())
        if values
    ]


REPORT = "select _partition, region, units, big_sales, sales from region_totals order by 1, 2"


def test_integer_aggregates_reach_the_table_as_bigint_and_reruns_replace_windows(
    sql_db: SqlDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    root = make_project(tmp_path, monkeypatch, sql_db.url)
    day1, day2 = [3, 9, 4, 7, 1], [2**31 - 1, 2**31 - 1, 6]  # sums beyond 32 bits
    land(tmp_path, DAY1, day1)
    land(tmp_path, DAY2, day2)
    assert run(root, instance, [DAY1, DAY2]).success
    assert rows(sql_db, REPORT) == truth(day1, DAY1) + truth(day2, DAY2)
    types = sql_db.column_types("region_totals")
    for column in ("units", "big_sales", "sales"):
        assert types[column] == BIGINT[sql_db.kind], column

    day1 = [8, 8, 8, 8]  # the source of DAY1 changed: its re-run replaces its rows
    land(tmp_path, DAY1, day1)
    assert run(root, instance, [DAY1]).success
    assert rows(sql_db, REPORT) == truth(day1, DAY1) + truth(day2, DAY2)


def test_a_table_of_other_types_fails_the_run_and_keeps_its_rows(
    sql_db: SqlDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    sql_db.execute(
        "create table region_totals (region text, units text, big_sales text, sales text, "
        "revenue text, _partition text)",
        f"insert into region_totals values ('north', '1551', '0', '1', '2.5', '{DAY1}')",
    )
    root = make_project(tmp_path, monkeypatch, sql_db.url)
    land(tmp_path, DAY2, [1, 2, 3])
    result = run(root, instance, [DAY2])
    assert not result.success
    message = failure(result)
    for part in (OUTPUT, "'region_totals'", "'target'", f"window {DAY2}", "column 'units'"):
        assert part in message
    assert rows(sql_db, "select region, units, _partition from region_totals") == [
        ("north", "1551", DAY1)
    ]
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "business/sales/region_totals" in materialized
    assert "output/sales/region_totals_table" not in materialized


def test_an_unreachable_database_fails_the_run_naming_output_database_table_and_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/reporting"
    root = make_project(tmp_path, monkeypatch, url)
    land(tmp_path, DAY1, [1, 2])
    result = run(root, instance, [DAY1])
    assert not result.success
    message = failure(result)
    for part in (OUTPUT, "'region_totals'", "'target'", f"window {DAY1}", "nothing was written"):
        assert part in message
