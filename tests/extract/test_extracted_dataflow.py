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
    monkeypatch.setenv("DATAPLAT_ENV", "local")
    monkeypatch.setenv("DATAPLAT_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("DATAPLAT_LANDING_ROOT", str(tmp_path / "landing"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return root


def run(root: Path, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    definitions = build_definitions(root)
    job = definitions.resolve_job_def("shop_api_job")
    return job.execute_in_process(
        instance=instance, tags={"dagster/partition": DAY}, raise_on_error=False
    )


def test_the_job_extracts_the_window_then_raw_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    with serving() as api:
        root = project(tmp_path, monkeypatch, api.url, "pages")
        definitions = build_definitions(root)
        assert not [s.name for s in definitions.sensors or [] if "file_arrival" in s.name]
        result = run(root, instance)
    assert result.success
    landed = tmp_path / "landing" / "api" / "orders_20240331.jsonl"
    assert [json.loads(line)["order_id"] for line in landed.read_text().splitlines()] == [2, 3, 4, 5]
    (landing,) = [
        e.step_materialization_data.materialization
        for e in result.all_events
        if e.is_step_materialization
        and e.step_materialization_data.materialization.asset_key.path == ["landing", "shop_api", "orders"]
    ]
    assert landing.partition == DAY
    assert landing.metadata["rows"].value == 4
    assert landing.metadata["pages"].value == 3
    assert landing.metadata["bytes"].value == landed.stat().st_size
    assert "since=2024-03-31T00%3A00%3A00%2B0100" in landing.metadata["url"].value

    storage = TableStorage(
        pa_fs.LocalFileSystem(), str(tmp_path / "state" / "warehouse"), "file://", atomic_rename=True
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
