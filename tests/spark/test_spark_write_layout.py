"""How Spark lays out a range of windows it writes (engines/spark_io.py `_write_job`).

A range of at least `spark.sql.shuffle.partitions` windows is shuffled by window before the
write: one file per window, whatever the tasks that read the rows, and each window's rows in
the frame's order (raw's rows keep their file order; dedupe's `keep: first` relies on it).
"""

from pathlib import Path

import pyarrow.fs as pa_fs
import pyarrow.parquet as pq
import pytest

from dataplat_dagster.engines.spark_io import write_windows
from dataplat_dagster.resources.storage import TableStorage

pytestmark = pytest.mark.spark

TABLE = ["raw", "shop", "events"]
WINDOWS = ["2024-01-01", "2024-01-02", "2024-01-03"]


def test_a_range_is_written_one_file_per_window_in_the_frames_order(tmp_path: Path, spark) -> None:
    storage = TableStorage(pa_fs.LocalFileSystem(), str(tmp_path), "file://", atomic_rename=True)
    # rows interleaved across windows and spread over 4 tasks, each holding every window
    rows = [(n, WINDOWS[n % 3]) for n in range(120)]
    frame = spark.createDataFrame(rows, "n long, _partition string").repartition(4)
    expected = {w: [n for n, window in frame.collect() if window == w] for w in WINDOWS}

    written, _ = write_windows(storage, TABLE, frame, WINDOWS, write_id="w1", owner="run-1")

    assert [(w.key, w.rows) for w in written] == [(w, 40) for w in WINDOWS]
    for window in WINDOWS:
        folder = Path(storage.partition_path(TABLE, window)) / "v=w1"
        files = sorted(folder.glob("part-*.parquet"))
        assert len(files) == 1, f"{window}: {[f.name for f in files]}"
        assert pq.read_table(files[0])["n"].to_pylist() == expected[window]
