"""Spark reads and writes the warehouse through the publish protocol (engines/spark_io.py).

Local disk only, on tmp_path, with the session-scoped SparkSession; no Dagster run, no
catalogue (tests/spark covers those).
"""

from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pa_fs
import pytest
from pydantic import TypeAdapter

from dataplat_dagster.config.steps import Step
from dataplat_dagster.engines.base import PARTITION
from dataplat_dagster.engines.spark_io import (
    STAGING_DIR,
    SparkWriteError,
    read_windows,
    write_windows,
)
from dataplat_dagster.resources.storage import (
    FailedGateError,
    MissingPartitionError,
    TableStorage,
)

pytestmark = pytest.mark.spark

STEPS_DEDUPE = TypeAdapter(list[Step]).validate_python(["dedupe"])

TABLE = ["staging", "shop", "orders"]
# an hourly window's key holds a colon, which folder names escape
WINDOWS = ["2024-01-01-00:00", "2024-01-01-01:00", "2024-01-01-02:00"]


def _storage(root: Path) -> TableStorage:
    return TableStorage(pa_fs.LocalFileSystem(), str(root), "file://", atomic_rename=True)


def _frame(spark, rows: list[tuple[int, str, str]]):
    return spark.createDataFrame(rows, "order_id long, status string, _partition string")


def test_one_spark_job_writes_windows_pandas_reads(tmp_path: Path, spark) -> None:
    storage = _storage(tmp_path)
    frame = _frame(
        spark, [(1, "paid", WINDOWS[0]), (2, "new", WINDOWS[0]), (3, "paid", WINDOWS[2])]
    )

    written, schema = write_windows(
        storage,
        TABLE,
        frame,
        WINDOWS,
        write_id="w1",
        owner="run-1",
        failed_checks={WINDOWS[2]: ["unique_order_id"]},
        properties={WINDOWS[0]: {"note": 1}},
    )

    assert [(w.key, w.rows) for w in written] == [(WINDOWS[0], 2), (WINDOWS[1], 0), (WINDOWS[2], 1)]
    assert schema.names == ["order_id", "status"]
    assert all(w.location.endswith("/v=w1") for w in written)
    empty = storage.manifest(TABLE, WINDOWS[1])
    assert empty is not None and empty.files == [] and empty.rows == 0
    first = storage.manifest(TABLE, WINDOWS[0])
    assert first.properties == {"note": 1} and first.version_folder == "v=w1"
    assert storage.manifest(TABLE, WINDOWS[2]).failed_checks == ("unique_order_id",)
    table, counts = storage.read(TABLE, WINDOWS[:2])
    assert counts == [(WINDOWS[0], 2), (WINDOWS[1], 0)]
    assert sorted(table.column("order_id").to_pylist()) == [1, 2]
    assert table.schema.field("order_id").type == pa.int64()
    assert not (tmp_path / "staging" / "shop" / "orders" / STAGING_DIR).exists() or not any(
        (tmp_path / "staging" / "shop" / "orders" / STAGING_DIR).iterdir()
    )


def test_spark_reads_pandas_windows_with_their_window_column(tmp_path: Path, spark) -> None:
    storage = _storage(tmp_path)
    storage.write(
        TABLE,
        [
            (WINDOWS[0], pa.table({"order_id": [1, 2], "status": ["paid", "new"]})),
            (WINDOWS[1], pa.table({"order_id": [3], "status": ["paid"]})),
        ],
    )

    frame, counts = read_windows(spark, storage, TABLE, WINDOWS[:2], windowed=True)

    assert counts == [(WINDOWS[0], 2), (WINDOWS[1], 1)]
    rows = sorted((r.order_id, r[PARTITION]) for r in frame.collect())
    assert rows == [(1, WINDOWS[0]), (2, WINDOWS[0]), (3, WINDOWS[1])]
    with pytest.raises(MissingPartitionError, match="has not been materialized"):
        read_windows(spark, storage, TABLE, WINDOWS, windowed=True)


def test_a_failed_spark_write_publishes_nothing(tmp_path: Path, spark) -> None:
    from pyspark.sql import functions as F

    storage = _storage(tmp_path)
    write_windows(
        storage,
        TABLE,
        _frame(spark, [(1, "paid", WINDOWS[0])]),
        WINDOWS[:1],
        write_id="good",
        owner="run-1",
    )
    failing = _frame(spark, [(7, "paid", WINDOWS[0])]).withColumn(
        "status", F.when(F.col("order_id") > 5, F.raise_error(F.lit("bad row"))).otherwise("x")
    )

    with pytest.raises(SparkWriteError, match="Nothing of this write was published"):
        write_windows(storage, TABLE, failing, WINDOWS[:1], write_id="bad", owner="run-2")

    manifest = storage.manifest(TABLE, WINDOWS[0])
    assert manifest.write_id == "good"
    table, _ = storage.read(TABLE, WINDOWS[:1])
    assert table.column("order_id").to_pylist() == [1]
    folder = tmp_path / "staging" / "shop" / "orders" / "dt=2024-01-01-00%3A00"
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["v=good"]


def test_rewrite_replaces_the_version_and_gates_hold(tmp_path: Path, spark) -> None:
    storage = _storage(tmp_path)
    for write_id, order in (("a", 1), ("b", 2), ("c", 3)):
        write_windows(
            storage,
            TABLE,
            _frame(spark, [(order, "paid", WINDOWS[0])]),
            WINDOWS[:1],
            write_id=write_id,
            owner=write_id,
            failed_checks={WINDOWS[0]: ["x"]} if order == 3 else {},
        )

    folder = tmp_path / "staging" / "shop" / "orders" / "dt=2024-01-01-00%3A00"
    # the current version and the one it replaced stay
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["v=b", "v=c"]
    with pytest.raises(FailedGateError):
        read_windows(spark, storage, TABLE, WINDOWS[:1], windowed=True, failed_gates="refuse")
    frame, counts = read_windows(
        spark, storage, TABLE, WINDOWS[:1], windowed=True, failed_gates="skip"
    )
    assert counts == [] and frame.count() == 0


def test_unpartitioned_table_round_trip(tmp_path: Path, spark) -> None:
    storage = _storage(tmp_path)
    frame = spark.createDataFrame([(1, "a"), (2, "b")], "id long, name string")

    (written,), _ = write_windows(
        storage, ["common", "shop", "dim"], frame, None, write_id="u1", owner="r"
    )

    assert written.key is None and written.rows == 2
    table, _ = storage.read(["common", "shop", "dim"], [None])
    assert sorted(table.column("id").to_pylist()) == [1, 2]
    back, _ = read_windows(spark, storage, ["common", "shop", "dim"], [None], windowed=False)
    assert sorted(r.name for r in back.collect()) == ["a", "b"]


def test_rows_read_from_the_warehouse_are_counted_from_their_manifests(
    tmp_path: Path, spark_engine
) -> None:
    """A step's input rows come from its windows' manifests; a derived frame is counted."""
    spark = spark_engine.session()
    storage = _storage(tmp_path)
    storage.write(
        TABLE,
        [
            (WINDOWS[0], pa.table({"order_id": [1, 2], "status": ["paid", "new"]})),
            (WINDOWS[1], pa.table({"order_id": [3], "status": ["paid"]})),
        ],
    )
    frame, _ = read_windows(spark, storage, TABLE, WINDOWS[:2], windowed=True)
    tracker = spark.sparkContext.statusTracker()
    spark.sparkContext.setJobGroup("rows-from-manifests", "counting inputs")
    try:
        assert spark_engine.row_count(frame) == 3
        codes = spark_engine.window_codes(frame, WINDOWS[:2])
        assert spark_engine.count_by_window(codes, None, 2) == [2, 1]  # a count audit's source
        assert tracker.getJobIdsForGroup("rows-from-manifests") == []  # no Spark job ran
        assert spark_engine.row_count(frame.where("order_id > 1")) == 2
        assert tracker.getJobIdsForGroup("rows-from-manifests") != []
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)


def test_the_manifest_schema_reads_what_spark_would_infer(tmp_path: Path, spark) -> None:
    """Spark gets the files' schema from their manifest (no footer-reading job), the same one."""
    import datetime as dt
    from decimal import Decimal

    from dataplat_dagster.engines.spark_io import _stated_schema, spark_path

    every_type = pa.table(
        {
            "tiny": pa.array([1, None], pa.int8()),
            "big": pa.array([2**40, 3], pa.int64()),
            "ratio": pa.array([0.5, None], pa.float32()),
            "price": pa.array([1.25, 2.0], pa.float64()),
            "flag": pa.array([True, None], pa.bool_()),
            "day": pa.array([dt.date(2024, 3, 31), None], pa.date32()),
            "at": pa.array([dt.datetime(2024, 3, 31, 1, 30), None], pa.timestamp("us", "UTC")),
            "wall": pa.array([dt.datetime(2024, 3, 31, 2, 30), None], pa.timestamp("us")),
            "amount": pa.array([Decimal("1.10"), None], pa.decimal128(10, 2)),
            "label": pa.array(["a", None], pa.string()).dictionary_encode(),
        }
    )
    storage = _storage(tmp_path)
    storage.write(TABLE, [(WINDOWS[0], every_type), (WINDOWS[1], every_type.slice(1))])
    stated = _stated_schema(storage.manifest(TABLE, WINDOWS[0]).schema)
    assert stated is not None

    frame, _ = read_windows(spark, storage, TABLE, WINDOWS[:2], windowed=False)
    files, _, _ = storage.resolve(TABLE, WINDOWS[:2])
    inferred = spark.read.parquet(*[spark_path(storage, f) for f in files])

    assert frame.schema == inferred.schema == stated
    assert sorted(map(tuple, frame.collect()), key=repr) == sorted(
        map(tuple, inferred.collect()), key=repr
    )
    # types whose Parquet form Spark reads its own way are left to Spark's inference
    assert _stated_schema(pa.schema([("n", pa.uint32())])) is None
    assert _stated_schema(pa.schema([("n", pa.null())])) is None


def test_each_row_read_gets_its_window_whatever_its_folder_escapes(tmp_path: Path, spark) -> None:
    # the warehouse root itself holds a `dt=` folder and a `+`: only the window's folder counts
    storage = _storage(tmp_path / "dt=root+x")
    keys = ["2024-01-01-00:00", "a+b c", "100%", "plain-2024_01.x"]
    rows = [(i, "paid", key) for i, key in enumerate(keys)]

    write_windows(storage, TABLE, _frame(spark, rows), keys, write_id="w1", owner="run-1")
    frame, counts = read_windows(spark, storage, TABLE, keys, windowed=True)

    assert sorted((r.order_id, r[PARTITION]) for r in frame.collect()) == [
        (i, key) for i, key in enumerate(keys)
    ]
    assert dict(counts) == dict.fromkeys(keys, 1)


def _lineage_frame(spark, rows: list[tuple[int, str, str, str]]):
    return spark.createDataFrame(
        rows, "order_id long, status string, _run_id string, _partition string"
    )


def _write_lineage(spark, storage, table, rows, windows, write_id: str) -> None:
    """Rows (order_id, status, _run_id, _partition) written by Spark as one write."""
    frame = _lineage_frame(spark, rows)
    write_windows(storage, table, frame, windows, write_id=write_id, owner="r")


def test_text_columns_of_one_value_are_read_from_the_manifests(tmp_path: Path, spark) -> None:
    """A column holding one value in every row read is that value, not read per row.

    `_run_id` is the same in every window; `status` is the same within each window but
    not across them, so it is read from the files; a window without rows agrees with any.
    """
    from dataplat_dagster.engines import spark_steps
    from dataplat_dagster.engines.spark_io import CONSTANT

    storage = _storage(tmp_path)
    rows = [(1, "paid", "run-a", WINDOWS[0]), (2, "paid", "run-a", WINDOWS[0])]
    rows += [(3, "new", "run-a", WINDOWS[2])]
    _write_lineage(spark, storage, TABLE, rows, WINDOWS, "w1")

    assert storage.manifest(TABLE, WINDOWS[0]).constants == {"status": "paid", "_run_id": "run-a"}
    assert storage.manifest(TABLE, WINDOWS[1]).constants == {}  # no rows
    frame, _ = read_windows(spark, storage, TABLE, WINDOWS, windowed=True)
    fields = {f.name: f for f in frame.schema.fields}
    assert fields["_run_id"].metadata == {CONSTANT: "run-a"} and fields["_run_id"].nullable
    assert CONSTANT not in fields["status"].metadata
    assert (
        "_run_id"
        not in frame._jdf.queryExecution().executedPlan().toString().split("ReadSchema")[1]
    )
    got = sorted((r.order_id, r.status, r._run_id, r._partition) for r in frame.collect())
    assert got == sorted(rows)
    only_first, _ = read_windows(spark, storage, TABLE, WINDOWS[:2], windowed=True)
    assert {f.name for f in only_first.schema.fields if CONSTANT in f.metadata} == {
        "status",
        "_run_id",
    }

    cached = spark_steps.persisted(frame)
    try:
        stored = [stored for returned, stored in spark_steps._CACHED if returned is cached]
        assert stored and stored[0].columns == ["order_id", "status", PARTITION]
        assert cached.columns == frame.columns
        assert sorted(tuple(r) for r in cached.collect()) == sorted(
            tuple(r) for r in frame.collect()
        )
    finally:
        spark_steps.release_cached()


def test_a_window_written_by_another_run_keeps_the_column_read(tmp_path: Path, spark) -> None:
    storage = _storage(tmp_path)
    first = [(1, "paid", "run-a", WINDOWS[0])]
    _write_lineage(spark, storage, TABLE, first, WINDOWS[:1], "w1")
    second = [(2, "paid", "run-b", WINDOWS[1])]
    _write_lineage(spark, storage, TABLE, second, WINDOWS[1:2], "w2")

    frame, _ = read_windows(spark, storage, TABLE, WINDOWS[:2], windowed=True)

    from dataplat_dagster.engines.spark_io import CONSTANT

    assert [f.name for f in frame.schema.fields if CONSTANT in f.metadata] == ["status"]
    assert sorted((r.order_id, r._run_id) for r in frame.collect()) == [(1, "run-a"), (2, "run-b")]
    table, _ = storage.read(TABLE, WINDOWS[:2])  # the Pandas engine reads the files alike
    assert sorted(table.column("_run_id").to_pylist()) == ["run-a", "run-b"]


def test_a_union_of_reads_keeps_each_reads_value(tmp_path: Path, spark_engine) -> None:
    """Spark keeps a union's first input's column metadata: its values are not one value.

    A SQL body, a transform or a concatenation hands on frames without the mark, so the
    cache stores the column and every row keeps its own value.
    """
    from dataplat_dagster.engines import spark_steps
    from dataplat_dagster.engines.spark_io import CONSTANT

    spark = spark_engine.session()
    storage = _storage(tmp_path)
    other = ["staging", "shop", "returns"]
    _write_lineage(spark, storage, TABLE, [(1, "paid", "run-a", WINDOWS[0])], WINDOWS[:1], "w1")
    _write_lineage(spark, storage, other, [(2, "paid", "run-b", WINDOWS[0])], WINDOWS[:1], "w2")
    orders, _ = read_windows(spark, storage, TABLE, WINDOWS[:1], windowed=True)
    returns, _ = read_windows(spark, storage, other, WINDOWS[:1], windowed=True)
    assert CONSTANT in orders.schema["_run_id"].metadata  # each read alone holds one value

    try:
        united = spark_engine.run_sql(
            "select order_id, _run_id from {{ staging.orders }} "
            "union all select order_id, _run_id from {{ staging.returns }}",
            {"staging.orders": orders, "staging.returns": returns},
        )
        concatenated = spark_engine.concat([orders, returns])
        deduped = spark_engine.apply_steps(concatenated, STEPS_DEDUPE, label="t").frame

        for frame in (united, concatenated, deduped):
            assert CONSTANT not in frame.schema["_run_id"].metadata
            assert sorted((r.order_id, r._run_id) for r in frame.collect()) == [
                (1, "run-a"),
                (2, "run-b"),
            ]
    finally:
        spark_steps.release_cached()
