"""In-process materialization of the retail demo on temporary local state.

Covers one window, a range in one run, idempotent re-runs, an interrupted write and the
failure notice. Runs the real local resources (Parquet on disk, SQLite catalogue and
metrics, outbox); the AWS profile is covered elsewhere.
"""

import csv
import sqlite3
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.fs as pa_fs
import pytest

from dataplat_dagster.alerts import build_run_failure_sensor
from dataplat_dagster.definitions_builder import build_definitions
from dataplat_dagster.resources import storage as storage_module
from dataplat_dagster.resources.storage import TableStorage
from tests.conftest import DEMO_WINDOWS, PROJECT_ROOT, demo_with_quick_retries, run_demo


def warehouse(state: Path) -> TableStorage:
    return TableStorage(
        pa_fs.LocalFileSystem(), str(state / "warehouse"), "file://", atomic_rename=True
    )


def read(state: Path, layer: str, table: str, keys: list[str | None]) -> pa.Table:
    rows, _ = warehouse(state).read([layer, "retail", table], keys)
    return rows


def decoded(table: pa.Table, drop: tuple[str, ...] = ()) -> pa.Table:
    """Values only: a range run's dictionary columns may list more values than one window uses."""
    columns = {
        n: table[n].cast(table[n].type.value_type)
        if pa.types.is_dictionary(table[n].type)
        else table[n]
        for n in table.column_names
        if n not in drop
    }
    return pa.table(columns)


def landing_rows(landing: Path, day: str) -> list[dict[str, str]]:
    with (landing / "retail" / f"orders_{day.replace('-', '')}.csv").open() as handle:
        return list(csv.DictReader(handle))


def materializations(
    result: dg.ExecuteInProcessResult, *path: str
) -> list[dg.AssetMaterialization]:
    return [
        e.step_materialization_data.materialization
        for e in result.all_events
        if e.is_step_materialization
        and e.step_materialization_data.materialization.asset_key.path == list(path)
    ]


def test_one_window_runs_every_layer(
    demo_defs, instance, local_env: Path, landing_copy: Path
) -> None:
    result = run_demo(demo_defs, instance, ["2024-01-03"])
    assert result.success
    rows = landing_rows(landing_copy, "2024-01-03")
    raw = read(local_env, "raw", "orders", ["2024-01-03"])
    assert raw.num_rows == len(rows)
    assert {
        "_load_ts",
        "_source_system",
        "_source_file",
        "_source_host",
        "_extraction_method",
        "_run_id",
        "_source_row",
    } <= set(raw.column_names)
    assert set(raw["_source_system"].to_pylist()) == {"shop"}
    assert set(raw["_run_id"].to_pylist()) == {result.run_id}

    staging = read(local_env, "staging", "orders", ["2024-01-03"])
    assert staging.num_rows == len({row["order_id"] for row in rows})  # the two duplicates are gone
    duplicated = [row for row in rows if sum(r["order_id"] == row["order_id"] for r in rows) > 1]
    last = {row["order_id"]: row["status"] for row in duplicated}
    kept = dict(zip(staging["order_id"].to_pylist(), staging["status"].to_pylist(), strict=True))
    assert all(kept[int(order_id)] == status.strip().lower() for order_id, status in last.items())

    (meta,) = materializations(result, "staging", "retail", "orders")
    assert meta.metadata["rows_in"].value == len(rows)
    assert meta.metadata["rows_out"].value == staging.num_rows
    assert meta.metadata["rows_dropped"].value == len(rows) - staging.num_rows
    assert meta.metadata["dagster/row_count"].value == staging.num_rows
    # the window's own folder, and the rows read from each input
    assert meta.metadata["dagster/uri"].value.endswith(
        "warehouse/staging/retail/orders/dt=2024-01-03"
    )
    assert meta.metadata["rows_in_by_input"].value == {"raw.orders": len(rows)}
    preview = meta.metadata["preview"].value
    shown = [column.name for column in preview.schema.columns]
    assert shown[0] == "order_id" and shown.index("status") < shown.index("_source_file")
    assert preview.records and preview.records[0].data["order_id"] in kept
    columns = [c.name for c in meta.metadata["dagster/column_schema"].value.columns]
    assert columns == staging.column_names

    export = local_env / "exports" / "retail" / "daily_revenue_20240103.csv"
    assert export.exists()
    with export.open() as handle:
        revenue = list(csv.DictReader(handle))
    assert (
        sum(int(r["orders"]) for r in revenue)
        == read(local_env, "common", "orders_enriched", ["2024-01-03"]).num_rows
    )
    notices = list((local_env / "outbox").glob("*-output-*.eml"))
    assert len(notices) == 2 and any("finance@example.com" in n.read_text() for n in notices)


def test_catalogue_and_metrics_record_each_table(demo_defs, instance, local_env: Path) -> None:
    assert run_demo(demo_defs, instance, ["2024-01-02"]).success
    with sqlite3.connect(local_env / "catalog.db") as db:
        tables = {
            name
            for (name,) in db.execute(
                "select name from catalog_tables where database = 'dataplat_staging'"
            )
        }
        partitions = [
            v
            for (v,) in db.execute(
                "select value from catalog_partitions where name = 'retail__orders' and database = 'dataplat_raw'"
            )
        ]
    assert {"retail__orders", "retail__customers", "retail__products"} <= tables
    assert partitions == ["2024-01-02"]
    with sqlite3.connect(local_env / "metrics.db") as db:
        names = {n for (n,) in db.execute("select distinct name from metrics")}
        dims = [d for (d,) in db.execute("select dimensions from metrics where name = 'rows_out'")]
    assert {"rows_in", "rows_out", "rows_dropped", "rows_quarantined", "duration"} <= names
    assert any('"layer": "business"' in d and '"table": "daily_revenue"' in d for d in dims)


def test_range_in_one_run_writes_every_window_and_quarantines_bad_rows(
    demo_defs, instance, local_env: Path
) -> None:
    windows = ["2024-01-06", "2024-01-07"]
    result = run_demo(demo_defs, instance, windows)
    assert result.success
    assert len(instance.get_runs()) == 1
    assert (
        warehouse(local_env).existing_partitions(["business", "retail", "daily_revenue"]) == windows
    )
    quarantine = read(local_env, "raw", "orders__quarantine", windows)
    reasons = sorted(quarantine["_dq_reason"].to_pylist())
    assert reasons == [
        "retail/orders_20240106.csv line 18: ordered_at: '2024-13-45T10:00:00' is not a valid timestamp",
        "retail/orders_20240107.csv line 20: quantity: 'two' is not a valid int32",
    ]
    with sqlite3.connect(local_env / "reporting.db") as db:
        written = [
            w for (w,) in db.execute("select distinct _partition from daily_revenue order by 1")
        ]
    assert written == windows


def test_a_range_gives_the_same_rows_as_single_windows(
    tmp_path, monkeypatch, instance, landing_copy
) -> None:
    states = {}
    for name, keys in (("range", DEMO_WINDOWS[:4]), ("single", ["2024-01-03"])):
        monkeypatch.setenv("DATAPLAT_HOME", str(tmp_path / name))
        monkeypatch.setenv("DATAPLAT_LANDING_ROOT", str(landing_copy))
        assert run_demo(build_definitions(PROJECT_ROOT), instance, keys).success
        states[name] = tmp_path / name
    for layer, table in (
        ("staging", "orders"),
        ("business", "daily_revenue"),
        ("business", "customer_value"),
    ):
        ranged = decoded(
            read(states["range"], layer, table, ["2024-01-03"]), drop=("_load_ts", "_run_id")
        )
        single = decoded(
            read(states["single"], layer, table, ["2024-01-03"]), drop=("_load_ts", "_run_id")
        )
        assert ranged.num_rows > 0
        assert ranged.equals(single), (layer, table)


def test_rerunning_a_window_replaces_it(demo_defs, instance, local_env: Path) -> None:
    for _ in range(2):
        assert run_demo(demo_defs, instance, ["2024-01-04"]).success
    first_rows = read(local_env, "staging", "orders", ["2024-01-04"])
    assert run_demo(demo_defs, instance, ["2024-01-04"]).success
    again = read(local_env, "staging", "orders", ["2024-01-04"])
    assert again.num_rows == first_rows.num_rows
    assert len(set(again["order_id"].to_pylist())) == again.num_rows
    folder = local_env / "warehouse" / "staging" / "retail" / "orders" / "dt=2024-01-04"
    # three writes: the current version and the one it replaced are left
    assert len(list(folder.glob("v=*/part-*.parquet"))) == 2
    with sqlite3.connect(local_env / "reporting.db") as db:
        (count,) = db.execute(
            "select count(*) from daily_revenue where _partition = '2024-01-04'"
        ).fetchone()
    assert count == read(local_env, "business", "daily_revenue", ["2024-01-04"]).num_rows


def test_interrupted_write_leaves_the_previous_partition_intact(
    tmp_path: Path,
    instance,
    local_env: Path,
    landing_copy: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the crash is retried as a transient failure, twice: 1 s apart, not the demo's 5 s
    demo_defs = build_definitions(demo_with_quick_retries(tmp_path / "project"))
    assert run_demo(demo_defs, instance, ["2024-01-02"]).success
    before = read(local_env, "raw", "orders", ["2024-01-02"])
    landing = landing_copy / "retail" / "orders_20240102.csv"
    landing.write_text(landing.read_text() + "9001,1,P01,1,12.5,paid,2024-01-02T23:00:00\n")
    real_write = storage_module.pq.write_table

    def crash_after_some_bytes(
        table: pa.Table, sink, **kwargs
    ) -> None:  # a fault: the disk "fails" mid-file
        real_write(table.slice(0, 1), sink, **kwargs)
        raise OSError("simulated crash while writing")

    monkeypatch.setattr(storage_module.pq, "write_table", crash_after_some_bytes)
    result = run_demo(demo_defs, instance, ["2024-01-02"], raise_on_error=False)
    assert not result.success
    monkeypatch.setattr(storage_module.pq, "write_table", real_write)
    after = read(local_env, "raw", "orders", ["2024-01-02"])
    assert after.equals(before)
    assert 9001 not in after["order_id"].to_pylist()
    assert run_demo(
        demo_defs, instance, ["2024-01-02"]
    ).success  # the next good write publishes and cleans up
    assert 9001 in read(local_env, "raw", "orders", ["2024-01-02"])["order_id"].to_pylist()
    folder = local_env / "warehouse" / "raw" / "retail" / "orders" / "dt=2024-01-02"
    # the crashed write's version is gone; the current one and the one it replaced are left
    assert len(list(folder.glob("v=*/part-*.parquet"))) == 2


def test_missing_landing_file_fails_clearly_and_the_failure_sensor_notifies(
    demo_defs, instance, local_env: Path, landing_copy: Path
) -> None:
    (landing_copy / "retail" / "orders_20240105.csv").unlink()
    result = run_demo(demo_defs, instance, ["2024-01-05"], raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert (
        "no file matching 'retail/orders_{date:%Y%m%d}.csv'" in message and "2024-01-05" in message
    )
    assert not list((local_env / "outbox").glob("*-failure-*.eml"))  # the sensor tells, once

    sensor = build_run_failure_sensor("http://dagster.example.com")
    run_failure = next(
        e for e in result.all_events if e.event_type_value in ("PIPELINE_FAILURE", "RUN_FAILURE")
    )
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_event=run_failure,
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id),
        resources={key: demo_defs.resources[key] for key in ("notifier", "metrics")},
    ).for_run_failure()
    sensor(context)
    (notice,) = (local_env / "outbox").glob("*-failure-*.eml")
    text = notice.read_text()
    assert "dataflow retail: retail.raw.orders" in text and "Window(s): 2024-01-05" in text
    assert f"http://dagster.example.com/runs/{result.run_id}" in text and "no file matching" in text
    with sqlite3.connect(local_env / "metrics.db") as db:
        assert db.execute(
            "select count(*) from metrics where name = 'run_failures'"
        ).fetchone() == (1,)
    assert not (
        local_env / "warehouse" / "staging" / "retail" / "orders" / "dt=2024-01-05"
    ).exists()
