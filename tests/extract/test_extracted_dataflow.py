"""A dataflow whose landing source is an HTTP API, run in process: landing -> raw.

The dataflow's windows are days in Europe/Berlin, as users declare them. Covers: the landing
asset materialized by the dataflow's job with its metadata, raw reading the extracted file
with `_extraction_method` http, no file-arrival sensor, and a failing API failing the run
with the source and window named and the previous file left in place.
"""

import json
from pathlib import Path

import dagster as dg
import pyarrow.fs as pa_fs
import pytest

from dataplat_dagster.definitions_builder import build_definitions
from dataplat_dagster.resources.storage import TableStorage
from tests.conftest import write_project
from tests.corpus.conftest import SqlDb
from tests.extract.api_server import serving

DAY = "2024-03-31"

DATAFLOW = """\
dataflow: shop_api
partitioning: {{granularity: daily, timezone: Europe/Berlin, start: "2024-03-29", end: "2024-04-03"}}
landing:
  orders:
    path: "api/orders_{{date:%Y%m%d}}.jsonl"
    format: jsonl
    schema: {{order_id: int64, amount: float64, ts: timestamp}}
    http:
      url: "{url}/{endpoint}"
      params: {{since: "{{start:%Y-%m-%dT%H:%M:%S%z}}", until: "{{end:%Y-%m-%dT%H:%M:%S%z}}"}}
      records_path: data.orders
      pagination: {{type: page, param: page, size_param: per_page, size: 2}}
      retries: 0
raw:
  orders: {{from: landing.orders, retry: {{max_retries: 0}}}}
"""


def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, endpoint: str) -> Path:
    root = write_project(
        tmp_path / "project", {"shop_api": DATAFLOW.format(url=url, endpoint=endpoint)}
    )
    environment(tmp_path, monkeypatch)
    return root


def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The local profile with its state and landing folder under tmp_path."""
    monkeypatch.setenv("DATAPLAT_ENV", "local")
    monkeypatch.setenv("DATAPLAT_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("DATAPLAT_LANDING_ROOT", str(tmp_path / "landing"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


def run(
    root: Path, instance: dg.DagsterInstance, first: str = DAY, last: str = DAY
) -> dg.ExecuteInProcessResult:
    definitions = build_definitions(root)
    job = definitions.resolve_job_def("shop_api_job")
    tags = (
        {"dagster/partition": first}
        if first == last
        else {
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        }
    )
    return job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)


def landed_ids(path: Path) -> list[int]:
    return [json.loads(line)["order_id"] for line in path.read_text().splitlines()]


def test_the_job_extracts_each_window_of_a_range_then_raw_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    with serving() as api:
        root = project(tmp_path, monkeypatch, api.url, "pages")
        definitions = build_definitions(root)
        assert not [s.name for s in definitions.sensors or [] if "file_arrival" in s.name]
        result = run(root, instance, "2024-03-30", DAY)
    assert result.success
    landed = tmp_path / "landing" / "api" / "orders_20240331.jsonl"
    assert landed_ids(landed) == [2, 3, 4, 5]
    assert landed_ids(tmp_path / "landing" / "api" / "orders_20240330.jsonl") == [1]
    landing = [
        e.step_materialization_data.materialization
        for e in result.all_events
        if e.is_step_materialization
        and e.step_materialization_data.materialization.asset_key.path
        == ["landing", "shop_api", "orders"]
    ]
    assert sorted(m.partition for m in landing) == ["2024-03-30", DAY]
    metadata = landing[0].metadata
    assert metadata["rows"].value == 5
    assert metadata["pages"].value == 1 + 3  # a short page ends the 30th
    sizes = [
        (tmp_path / "landing" / "api" / f"orders_{d}.jsonl").stat().st_size
        for d in ("20240330", "20240331")
    ]
    assert metadata["bytes"].value == sum(sizes)
    assert metadata["files"].value == {
        "api/orders_20240330.jsonl": 1,
        "api/orders_20240331.jsonl": 4,
    }
    assert "since=2024-03-30T00%3A00%3A00%2B0100" in metadata["url"].value

    storage = TableStorage(
        pa_fs.LocalFileSystem(),
        str(tmp_path / "state" / "warehouse"),
        "file://",
        atomic_rename=True,
    )
    raw, _ = storage.read(["raw", "shop_api", "orders"], [DAY])
    assert sorted(raw["order_id"].to_pylist()) == [2, 3, 4, 5]
    assert set(raw["_extraction_method"].to_pylist()) == {"http"}


def test_an_api_answering_html_fails_the_run_naming_source_and_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    landed = tmp_path / "landing" / "api" / "orders_20240331.jsonl"
    landed.parent.mkdir(parents=True)
    landed.write_text('{"order_id": 1, "amount": 1.0, "ts": "2024-03-31T10:00:00+02:00"}\n')
    with serving() as api:
        result = run(project(tmp_path, monkeypatch, api.url, "html"), instance)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.step_failure_data.error.to_string()
    assert "shop_api.landing.orders window 2024-03-31" in message
    assert "not JSON (text/html)" in message
    assert landed.read_text().startswith('{"order_id": 1,')  # the previous file stays
    raw_steps = [e for e in result.all_events if e.is_step_success and "raw" in (e.step_key or "")]
    assert raw_steps == []


SQL_DATAFLOW = """\
dataflow: shop_db
partitioning: {granularity: daily, timezone: America/New_York, start: "2024-03-08", end: "2024-03-13"}
landing:
  orders:
    path: "db/orders_{date:%Y%m%d}.jsonl"
    format: jsonl
    schema: {order_id: int64, amount: float64, ts: timestamp_ntz}
    sql: {database: shop, table: orders, window_column: ts, chunk_size: 2}
  customers:
    path: "db/customers.jsonl"
    format: jsonl
    partitioned: false
    schema: {customer_id: int64, name: string}
    sql: {database: shop, query: "select customer_id, name from customers where active = 1"}
raw:
  orders: {from: landing.orders, retry: {max_retries: 0}}
  customers: {from: landing.customers, retry: {max_retries: 0}}
"""


def test_a_database_table_extracted_by_window_then_raw(
    sql_db: SqlDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    moment = "datetime" if sql_db.kind == "mariadb" else "timestamp"
    sql_db.execute(
        f"create table orders (order_id integer, amount double precision, ts {moment})",
        "insert into orders values (1, 1.5, '2024-03-09 23:59:59'), (2, 2.5, '2024-03-10 00:00:00'),"
        " (3, 3.5, '2024-03-10 02:30:00'), (4, 4.5, '2024-03-10 23:00:00'), (5, 5.5, '2024-03-11 00:00:00')",
        "create table customers (customer_id integer, name varchar(20), active integer)",
        "insert into customers values (1, 'Ada', 1), (2, 'Bo', 0), (3, 'Cy', 1)",
    )
    root = write_project(tmp_path / "project", {"shop_db": SQL_DATAFLOW})
    profile = root / "resources" / "local.yaml"
    reporting = '      reporting: {url: "sqlite:///${globals.home}/reporting.db"}\n'
    assert reporting in profile.read_text()
    profile.write_text(
        profile.read_text().replace(reporting, f'{reporting}      shop: {{url: "{sql_db.url}"}}\n')
    )
    environment(tmp_path, monkeypatch)
    job = build_definitions(root).resolve_job_def("shop_db_job")
    # 2024-03-10 in New York: a 23-hour day (clocks jumped from 02:00 to 03:00)
    result = job.execute_in_process(
        instance=instance, tags={"dagster/partition": "2024-03-10"}, raise_on_error=False
    )
    assert result.success
    (landing,) = [
        e.step_materialization_data.materialization
        for e in result.all_events
        if e.is_step_materialization
        and e.step_materialization_data.materialization.asset_key.path
        == ["landing", "shop_db", "orders"]
    ]
    assert landing.metadata["rows"].value == 3
    assert landing.metadata["chunks"].value == 2
    assert "FROM orders WHERE ts >= :window_start" in landing.metadata["query"].value.replace(
        '"', ""
    ).replace("`", "")
    storage = TableStorage(
        pa_fs.LocalFileSystem(),
        str(tmp_path / "state" / "warehouse"),
        "file://",
        atomic_rename=True,
    )
    raw, _ = storage.read(["raw", "shop_db", "orders"], ["2024-03-10"])
    assert sorted(raw["order_id"].to_pylist()) == [2, 3, 4]
    assert set(raw["_extraction_method"].to_pylist()) == {"sql"}
    # the dimension is extracted whole, in the same job
    customers, _ = storage.read(["raw", "shop_db", "customers"], [None])
    assert sorted(customers["name"].to_pylist()) == ["Ada", "Cy"]


SECRET_DATAFLOW = """\
dataflow: shop_api
partitioning: {{granularity: daily, timezone: Europe/Berlin, start: "2024-03-29", end: "2024-04-03"}}
landing:
  orders:
    path: "api/orders_{{date:%Y%m%d}}.jsonl"
    format: jsonl
    schema: {{order_id: int64, amount: float64, ts: timestamp}}
    http:
      url: "{url}/secure"
      params:
        since: "{{start:%Y-%m-%dT%H:%M:%S%z}}"
        until: "{{end:%Y-%m-%dT%H:%M:%S%z}}"
        tenant: {{env: SHOP_TENANT}}
      headers: {{X-Client: {{env: SHOP_CLIENT}}}}
      auth: {{type: bearer, secret: {{env: SHOP_TOKEN}}}}
      retries: 0
raw:
  orders: {{from: landing.orders, retry: {{max_retries: 0}}}}
"""


def test_env_references_in_the_http_block_are_read_when_the_run_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    from tests.extract.api_server import TOKEN

    with serving() as api:
        root = write_project(
            tmp_path / "project", {"shop_api": SECRET_DATAFLOW.format(url=api.url)}
        )
        environment(tmp_path, monkeypatch)
        monkeypatch.setenv("SHOP_TOKEN", TOKEN)
        monkeypatch.setenv("SHOP_CLIENT", "client-1")
        monkeypatch.setenv("SHOP_TENANT", "t-42")
        result = run(root, instance)
        assert result.success
        (sent,) = api.requests
    assert sent["headers"]["X-Client"] == "client-1" and sent["query"]["tenant"] == ["t-42"]
    assert landed_ids(tmp_path / "landing" / "api" / "orders_20240331.jsonl") == [2, 3, 4, 5]
    (landing,) = [
        e.step_materialization_data.materialization
        for e in result.all_events
        if e.is_step_materialization
        and e.step_materialization_data.materialization.asset_key.path[0] == "landing"
    ]
    assert "tenant=***" in landing.metadata["url"].value and "t-42" not in str(landing.metadata)
