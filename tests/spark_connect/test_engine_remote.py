"""The Spark engine through Spark Connect: frames, and the warehouse written and read by the server.

The server (tests/spark_connect/conftest.py) and the client share this machine's disk, as a
cluster and its clients share S3: the server's executors write the windows, the client only
publishes manifests. What differs on Connect: no SparkContext (so no RDDs, no Spark UI link
from the client), and settings fixed at server start (master, memory, UI) are the server's.
"""

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pa_fs
import pytest

from dataplat_dagster.engines.spark_engine import SparkEngine
from dataplat_dagster.engines.spark_io import read_windows, write_windows
from dataplat_dagster.engines.spark_session import spark_ui_url
from dataplat_dagster.resources.storage import TableStorage

pytestmark = pytest.mark.spark

TABLE = ["staging", "shop", "orders"]
WINDOWS = ["2024-01-01", "2024-01-02", "2024-01-03"]


def _orders() -> pa.Table:
    return pa.table(
        {
            "order_id": pa.array([1, 2, 3], pa.int64()),
            "status": ["paid", None, "new"],
            "ordered_at": pa.array(
                [datetime(2024, 1, 1, 9), datetime(2024, 1, 1, 10), None],
                pa.timestamp("us", tz="UTC"),
            ),
            "_partition": [WINDOWS[0], WINDOWS[0], WINDOWS[2]],
        }
    )


def test_engine_frames_cross_arrow_through_connect(remote_engine: SparkEngine) -> None:
    frame = remote_engine.from_arrow(_orders())

    assert remote_engine.row_count(frame) == 3
    assert remote_engine.column_names(frame) == ["order_id", "status", "ordered_at", "_partition"]
    assert remote_engine.head(frame.orderBy("order_id"), 2).equals(_orders().slice(0, 2))
    assert remote_engine.column_names(remote_engine.drop_columns(frame, ["_partition"])) == [
        "order_id",
        "status",
        "ordered_at",
    ]
    # a Connect client has no SparkContext: the UI link belongs to the server's operator
    assert spark_ui_url(remote_engine.session()) is None


def test_connect_server_writes_windows_pandas_and_connect_read_them(
    remote_engine: SparkEngine, tmp_path: Path
) -> None:
    storage = TableStorage(pa_fs.LocalFileSystem(), str(tmp_path), "file://", atomic_rename=True)
    frame = remote_engine.from_arrow(_orders())

    written, schema = write_windows(
        storage, TABLE, frame, WINDOWS, write_id="w1", owner="run-connect"
    )

    assert [(w.key, w.rows) for w in written] == [(WINDOWS[0], 2), (WINDOWS[1], 0), (WINDOWS[2], 1)]
    assert schema.names == ["order_id", "status", "ordered_at"]
    table, counts = storage.read(TABLE, WINDOWS)  # the Pandas engine's reader (pyarrow)
    assert counts == [(WINDOWS[0], 2), (WINDOWS[1], 0), (WINDOWS[2], 1)]
    assert sorted(table.column("order_id").to_pylist()) == [1, 2, 3]
    again, _ = read_windows(remote_engine.session(), storage, TABLE, WINDOWS, windowed=True)
    rows = sorted((r.order_id, r.status, r._partition) for r in again.collect())
    assert rows == [(1, "paid", WINDOWS[0]), (2, None, WINDOWS[0]), (3, "new", WINDOWS[2])]


def test_a_step_starts_though_the_previous_steps_session_has_ended(
    connect_server: object, connect_session: object
) -> None:
    """A deduped frame persisted on a session that ended since is dropped, not an error.

    The next step frees what the previous one persisted; when that frame's session is gone
    (a Connect server restarted, another resource's session stopped) the step still runs.
    """
    from pyspark.sql import SparkSession

    from dataplat_dagster.engines import spark_steps

    other = SparkSession.builder.remote(connect_server.url).create()
    spark_steps.persisted(other.range(3))
    other.stop()

    spark_steps.release_cached()

    assert spark_steps._CACHED == []
