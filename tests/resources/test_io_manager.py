"""LocalParquetIOManager with PandasEngine and LocalCatalog, through real Dagster runs.

Covers: output metadata (row count, URI, column schema), catalogue registration of tables
and partitions, one-partition runs and single-run ranges, windowed reads (a `_partition`
column) versus whole-table reads of a partitioned upstream, re-materialization, and the
error for rows outside the run's windows. Small hand-written assets on tmp_path only; it
does not touch the demo dataflows, S3 or the asset factories.
"""

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from dataplat_dagster.engines.pandas_engine import PandasEngine
from dataplat_dagster.resources.catalog import LocalCatalog
from dataplat_dagster.resources.io_managers import (
    WINDOWED_READ,
    LocalParquetIOManager,
    WindowedFrame,
)
from dataplat_dagster.resources.storage import TableStorage

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-08")
RAW = ["raw", "shop", "orders"]
STAGED = ["staging", "shop", "orders"]
TOTAL = ["business", "shop", "totals"]
SEEN: dict[str, pd.DataFrame] = {}  # what downstream assets received, per asset


@dg.asset(key=RAW, partitions_def=DAILY, backfill_policy=dg.BackfillPolicy.single_run())
def raw_orders(context: dg.AssetExecutionContext) -> pd.DataFrame:
    """Two rows per window; amount is the day of month."""
    keys = context.partition_keys
    return pd.DataFrame(
        {
            "id": [f"{key}#{i}" for key in keys for i in range(2)],
            "amount": [float(key[-2:]) for key in keys for _ in range(2)],
            "_partition": [key for key in keys for _ in range(2)],
        }
    )


@dg.asset(
    key=STAGED,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    ins={"orders": dg.AssetIn(key=RAW, metadata={WINDOWED_READ: True})},
)
def staged_orders(orders: pd.DataFrame) -> pd.DataFrame:
    SEEN["staged"] = orders.copy()
    return orders.assign(amount=orders["amount"] * 10)


@dg.asset(key=TOTAL, ins={"orders": dg.AssetIn(key=RAW, metadata={WINDOWED_READ: False})})
def totals(orders: pd.DataFrame) -> pd.DataFrame:
    SEEN["totals"] = orders.copy()
    return pd.DataFrame({"rows": [len(orders)], "amount": [orders["amount"].sum()]})


@dg.asset(key=["raw", "shop", "stray"], partitions_def=DAILY)
def stray_rows() -> pd.DataFrame:
    return pd.DataFrame({"id": [1, 2], "_partition": ["2024-01-02", "2024-01-05"]})


@dg.asset(
    key=["raw", "shop", "carried"],
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def carried_rows(context: dg.AssetExecutionContext) -> WindowedFrame:
    """Per-window manifest values carried with the frame; the second window fails a check."""
    keys = context.partition_keys
    frame = pd.DataFrame({"id": list(range(len(keys))), "_partition": keys})
    sources = {key: {"source_rows": 1, "source_files": [f"{key}.csv@1"]} for key in keys}
    return WindowedFrame(frame, {keys[1]: ["not_null_id"]}, sources)


KEEP: set[str] = set()  # the windows `kept_rows` returns rows for


@dg.asset(
    key=["raw", "shop", "kept"],
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def kept_rows(context: dg.AssetExecutionContext) -> pd.DataFrame:
    keys = [key for key in context.partition_keys if key in KEEP]
    return pd.DataFrame({"id": list(range(len(keys))), "_partition": keys})


@pytest.fixture(autouse=True)
def _forget_seen() -> None:
    SEEN.clear()
    KEEP.clear()


@pytest.fixture
def io_manager(tmp_path: Path) -> LocalParquetIOManager:
    return LocalParquetIOManager(
        root=str(tmp_path / "warehouse"),
        engine=PandasEngine(),
        catalog=LocalCatalog(path=str(tmp_path / "catalog.db")),
    )


@pytest.fixture
def catalog(io_manager: LocalParquetIOManager) -> LocalCatalog:
    return io_manager.catalog


def run(
    assets: list, io_manager: LocalParquetIOManager, instance: dg.DagsterInstance, **kwargs
) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, resources={"io_manager": io_manager}, instance=instance, **kwargs)


def run_range(
    io_manager: LocalParquetIOManager,
    instance: dg.DagsterInstance,
    start: str,
    end: str,
    assets: list | None = None,
) -> dg.ExecuteInProcessResult:
    assets = assets or [raw_orders, staged_orders]
    job = dg.define_asset_job("range_job", selection=assets)
    defs = dg.Definitions(assets=assets, jobs=[job], resources={"io_manager": io_manager})
    tags = {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}
    return defs.resolve_job_def("range_job").execute_in_process(instance=instance, tags=tags)


def materializations(result: dg.ExecuteInProcessResult, key: list[str]) -> dict[str | None, dict]:
    events = [e.materialization for e in result.get_asset_materialization_events()]
    return {m.partition: m.metadata for m in events if m.asset_key == dg.AssetKey(key)}


def stored(
    io_manager: LocalParquetIOManager, key: list[str], partitions: list[str | None]
) -> pd.DataFrame:
    table, _ = io_manager.storage().read(key, partitions)
    return table.to_pandas()


def test_one_partition_writes_parquet_with_metadata(io_manager, catalog, instance) -> None:
    result = run([raw_orders], io_manager, instance, partition_key="2024-01-02")

    metadata = materializations(result, RAW)["2024-01-02"]
    assert metadata["dagster/row_count"].value == 2
    location = f"file://{(Path(io_manager.root) / 'raw' / 'shop' / 'orders').resolve().as_posix()}"
    assert metadata["dagster/uri"].value == f"{location}/dt=2024-01-02"  # the window's own folder
    # and the published version folder, where the catalogue points
    assert metadata["dataplat/version_uri"].value.startswith(f"{location}/dt=2024-01-02/v=")
    columns = {c.name: c.type for c in metadata["dagster/column_schema"].schema.columns}
    assert columns == {"id": "string", "amount": "float64"}
    assert metadata["partitions_written"].value == 1
    frame = stored(io_manager, RAW, ["2024-01-02"])
    assert frame["id"].tolist() == ["2024-01-02#0", "2024-01-02#1"]
    assert "_partition" not in frame.columns

    table = catalog.get_table(key_path=RAW)
    assert (table.database, table.name) == ("dataplat_raw", "shop__orders")
    assert table.columns == [("id", "string"), ("amount", "double")]
    assert table.location == location
    assert table.partition_keys == ["dt"]
    assert catalog.list_partitions(key_path=RAW) == ["2024-01-02"]


def test_unpartitioned_asset_is_stored_without_partitions(io_manager, catalog, instance) -> None:
    run([raw_orders], io_manager, instance, partition_key="2024-01-03")
    result = run([raw_orders, totals], io_manager, instance, selection=[totals])

    metadata = materializations(result, TOTAL)[None]
    assert metadata["dagster/row_count"].value == 1
    assert metadata["partitions_written"].value == 0
    assert stored(io_manager, TOTAL, [None]).to_dict("list") == {"rows": [2], "amount": [6.0]}
    table = catalog.get_table(key_path=TOTAL)
    assert table.partition_keys == []
    assert table.columns == [("rows", "bigint"), ("amount", "double")]
    assert catalog.list_partitions(key_path=TOTAL) == []


def test_a_single_run_range_writes_every_window(io_manager, catalog, instance) -> None:
    result = run_range(io_manager, instance, "2024-01-04", "2024-01-06")

    windows = ["2024-01-04", "2024-01-05", "2024-01-06"]
    raw = materializations(result, RAW)
    assert sorted(raw) == windows
    # each window's event carries its own rows and folder
    assert {m["dagster/row_count"].value for m in raw.values()} == {2}
    assert [raw[w]["dagster/uri"].value.rsplit("/", 1)[-1] for w in windows] == [
        f"dt={w}" for w in windows
    ]
    assert {m["partitions_written"].value for m in raw.values()} == {3}
    # the column schema once per table (on the first window), not copied onto every window
    with_schema = [w for w in windows if "dagster/column_schema" in raw[w]]
    assert with_schema == ["2024-01-04"]
    # progress in the run's log, window by window for a short range
    logged = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert [m for m in logged if m.startswith("raw/shop/orders: ")] == [
        f"raw/shop/orders: {n} of 3 windows written" for n in (1, 2, 3)
    ]
    for window in windows:
        assert stored(io_manager, RAW, [window])["id"].tolist() == [f"{window}#0", f"{window}#1"]
    assert catalog.list_partitions(key_path=RAW) == windows
    assert catalog.list_partitions(key_path=STAGED) == windows
    partitions = io_manager.storage().existing_partitions(STAGED)
    assert partitions == windows


def test_values_carried_with_the_frame_reach_each_window_manifest(io_manager, instance) -> None:
    result = run_range(io_manager, instance, "2024-01-04", "2024-01-06", assets=[carried_rows])

    key, windows = ["raw", "shop", "carried"], ["2024-01-04", "2024-01-05", "2024-01-06"]
    storage = io_manager.storage()
    manifests = {w: storage.manifest(key, w) for w in windows}
    assert {w: m.properties["source_files"] for w, m in manifests.items()} == {
        w: [f"{w}.csv@1"] for w in windows
    }
    assert [manifests[w].failed_checks for w in windows] == [(), ("not_null_id",), ()]
    # nothing of the range's per-window values is copied onto the materializations
    for metadata in materializations(result, key).values():
        assert not {"source_by_window", "failed_checks"} & set(metadata)


def test_a_windowed_read_gets_a_partition_column(io_manager, instance) -> None:
    run_range(io_manager, instance, "2024-01-04", "2024-01-05")

    seen = SEEN["staged"]
    assert seen["_partition"].astype(str).tolist() == ["2024-01-04"] * 2 + ["2024-01-05"] * 2
    assert seen["id"].tolist() == ["2024-01-04#0", "2024-01-04#1", "2024-01-05#0", "2024-01-05#1"]
    # the downstream's output was split back by that column, one folder per window
    assert stored(io_manager, STAGED, ["2024-01-05"])["amount"].tolist() == [50.0, 50.0]
    assert stored(io_manager, STAGED, ["2024-01-04"])["amount"].tolist() == [40.0, 40.0]


def test_a_windowed_read_of_one_partition(io_manager, instance) -> None:
    run([raw_orders, staged_orders], io_manager, instance, partition_key="2024-01-07")

    assert SEEN["staged"]["_partition"].astype(str).tolist() == ["2024-01-07"] * 2
    assert stored(io_manager, STAGED, ["2024-01-07"])["amount"].tolist() == [70.0, 70.0]


def test_a_windowed_read_of_a_window_never_written_fails(io_manager, instance) -> None:
    result = run(
        [raw_orders, staged_orders],
        io_manager,
        instance,
        partition_key="2024-01-03",
        selection=[staged_orders],
        raise_on_error=False,
    )

    assert not result.success
    assert "staged" not in SEEN
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert (
        "partition 2024-01-03 of raw/shop/orders has not been materialized yet"
        in failure.to_string()
    )


def test_an_unpartitioned_reader_gets_every_existing_window(io_manager, instance) -> None:
    run([raw_orders], io_manager, instance, partition_key="2024-01-06")
    run([raw_orders], io_manager, instance, partition_key="2024-01-02")
    run([raw_orders, totals], io_manager, instance, selection=[totals])

    seen = SEEN["totals"]
    assert "_partition" not in seen.columns
    assert seen["id"].tolist() == ["2024-01-02#0", "2024-01-02#1", "2024-01-06#0", "2024-01-06#1"]
    assert stored(io_manager, TOTAL, [None]).to_dict("list") == {"rows": [4], "amount": [16.0]}


def test_rematerializing_a_window_replaces_it(io_manager, instance) -> None:
    first = run_range(io_manager, instance, "2024-01-01", "2024-01-02", assets=[raw_orders])
    second = run([raw_orders], io_manager, instance, partition_key="2024-01-02")

    storage = io_manager.storage()
    assert storage.manifest(RAW, "2024-01-02").write_id.startswith(second.run_id[:8])
    assert storage.manifest(RAW, "2024-01-01").write_id.startswith(first.run_id[:8])
    table, counts = storage.read(RAW, ["2024-01-01", "2024-01-02"])
    assert counts == [("2024-01-01", 2), ("2024-01-02", 2)]
    assert table.num_rows == 4
    folder = Path(storage.partition_path(RAW, "2024-01-02"))
    manifest = storage.manifest(RAW, "2024-01-02")
    assert len(list(folder.glob("v=*/part-*.parquet"))) == 2  # the replaced version stays a while
    assert len(manifest.files) == 1 and (folder / manifest.files[0]).is_file()


def test_rows_of_a_window_outside_the_run_fail_clearly(io_manager, catalog, instance) -> None:
    result = run(
        [stray_rows], io_manager, instance, partition_key="2024-01-02", raise_on_error=False
    )

    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error.to_string()
    assert "rows belong to windows outside this run (2024-01-05)" in error
    assert "the run covers 2024-01-02..2024-01-02" in error
    storage: TableStorage = io_manager.storage()
    assert storage.existing_partitions(["raw", "shop", "stray"]) == []
    assert catalog.get_table(key_path=["raw", "shop", "stray"]) is None


def test_a_window_that_lost_its_rows_is_overwritten_empty(io_manager, catalog, instance) -> None:
    windows = ["2024-01-01", "2024-01-02", "2024-01-03"]
    KEEP.update(windows)
    run_range(io_manager, instance, windows[0], windows[-1], assets=[kept_rows])
    KEEP.discard(windows[1])
    result = run_range(io_manager, instance, windows[0], windows[-1], assets=[kept_rows])

    table, counts = io_manager.storage().read(["raw", "shop", "kept"], windows)
    assert counts == [(windows[0], 1), (windows[1], 0), (windows[2], 1)]
    assert table.schema.names == ["id"]
    # an empty window is its manifest alone (schema, no rows), its version folder empty
    emptied = Path(io_manager.root) / "raw" / "shop" / "kept" / f"dt={windows[1]}"
    manifest = io_manager.storage().manifest(["raw", "shop", "kept"], windows[1])
    assert manifest.files == []
    assert list((emptied / manifest.version_folder).iterdir()) == []
    empty, _ = io_manager.storage().read(["raw", "shop", "kept"], [windows[1]])
    assert (empty.num_rows, empty.schema.names) == (0, ["id"])
    metadata = materializations(result, ["raw", "shop", "kept"])[windows[1]]
    assert metadata["dagster/row_count"].value == 0  # the emptied window says so
    assert metadata["partitions_written"].value == 3
    assert catalog.list_partitions(key_path=["raw", "shop", "kept"]) == windows


def test_the_catalogue_follows_each_publish_and_withholds_gate_failed_windows(
    io_manager, catalog
) -> None:
    import pyarrow as pa

    def window(ids: list[int]) -> pa.Table:
        return pa.table({"id": pa.array(ids, pa.int64())})

    first = io_manager.write_windows(
        RAW,
        [("2024-01-01", window([1])), ("2024-01-02", window([2]))],
        run_id="run-one",
        failed_checks={},
        properties={},
    )
    locations = catalog.partition_locations(key_path=RAW)
    assert locations == {w.key: w.location for w in first}
    assert all("/v=run-one-" in location for location in locations.values())

    # a re-run moves the location to the new version; a gate-failed window is withheld
    second = io_manager.write_windows(
        RAW,
        [("2024-01-01", window([10])), ("2024-01-02", window([20]))],
        run_id="run-two",
        failed_checks={"2024-01-02": ["not_null_id"]},
        properties={},
    )
    assert catalog.partition_locations(key_path=RAW) == {"2024-01-01": second[0].location}
    assert catalog.list_partitions(key_path=RAW) == ["2024-01-01"]
    assert catalog.withheld_partitions(key_path=RAW) == ["2024-01-02"]
    # what the catalogue points at is exactly the published version
    served = Path(second[0].location.removeprefix("file://"))
    assert [p.name for p in served.iterdir()] == [f"part-{served.name[2:]}.parquet"]

    # fixed and re-run: served again, at its new version
    third = io_manager.write_windows(
        RAW, [("2024-01-02", window([21]))], run_id="run-three", failed_checks={}, properties={}
    )
    assert catalog.partition_locations(key_path=RAW)["2024-01-02"] == third[0].location
    assert catalog.withheld_partitions(key_path=RAW) == []


def test_an_unpartitioned_table_is_registered_at_its_published_version(io_manager, catalog) -> None:
    import pyarrow as pa

    written = io_manager.write_windows(
        TOTAL, [(None, pa.table({"rows": [1]}))], run_id="run-one", failed_checks={}, properties={}
    )
    assert catalog.get_table(key_path=TOTAL).location == written[0].location
    assert "/v=run-one-" in written[0].location
