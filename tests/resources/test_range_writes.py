"""Writes of many windows at once (a range run): the same guarantees as one window at a time.

A range takes every window's lock in one batch, stages, publishes and cleans its windows in
a few threads, records output windows in one call and registers them in one catalogue
statement. These tests hold that to what one window at a time gives: every window's lock,
all or nothing published when a window fails, the previous versions kept, catalogue rows
equal. Real files under a temporary folder, real SQLite; faults are hand-written.
"""

import json
import threading
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pa_fs
import pytest

from dataplat_dagster.resources.catalog import LocalCatalog
from dataplat_dagster.resources.storage import (
    RecordedWindow,
    StorageWriteError,
    TableStorage,
)
from dataplat_dagster.resources.window_locks import LocalWindowLocks, WindowLockTimeout

KEY = ["staging", "flights", "flights"]
DAYS = [(date(2023, 1, 1) + timedelta(days=i)).isoformat() for i in range(40)]


def day_table(day: str, version: int) -> pa.Table:
    """A small window with text, dictionary, number and time columns."""
    return pa.table(
        {
            "carrier": pa.array(["AA", "UA", "AA"]),
            "origin": pa.array(["JFK", "EWR", "LGA"]).dictionary_encode(),
            "delay": pa.array([version, 2, -3], pa.int64()),
            "day": pa.array([day] * 3, pa.large_string()),
            "at": pa.array([1, 2, 3], pa.timestamp("s")),
        }
    )


def local_storage(root: Path, filesystem: pa_fs.FileSystem | None = None) -> TableStorage:
    return TableStorage(
        filesystem or pa_fs.LocalFileSystem(), str(root), "file://", atomic_rename=True
    )


def test_a_range_reads_back_window_by_window_with_its_types(tmp_path: Path) -> None:
    storage = local_storage(tmp_path)
    parts = [(day, day_table(day, 1)) for day in DAYS]
    staged_in: list[str] = []

    written = storage.write(
        KEY,
        parts,
        owner="run-1",
        on_staged=lambda: staged_in.append(threading.current_thread().name),
    )

    assert [w.key for w in written] == DAYS
    # progress is reported from the caller's thread, once per window
    assert staged_in == [threading.current_thread().name] * len(DAYS)
    for day, table in parts:
        read, counts = storage.read(KEY, [day])
        assert counts == [(day, 3)]
        assert read.equals(table)


class RefusesOneWindow(pa_fs.LocalFileSystem):
    """Fails the data file of one window among many (a hand-written fault)."""

    def __init__(self, refused: str) -> None:
        super().__init__()
        self.refused = refused

    def open_output_stream(self, path, *args, **kwargs):
        if f"dt={self.refused}/" in path and "/part-" in path:
            raise OSError(28, f"No space left on device: {path}")
        return super().open_output_stream(path, *args, **kwargs)


def test_one_failing_window_of_a_range_publishes_none_and_keeps_every_previous_version(
    tmp_path: Path,
) -> None:
    storage = local_storage(tmp_path)
    storage.write(KEY, [(day, day_table(day, 1)) for day in DAYS], write_id="old")
    faulty = local_storage(tmp_path, RefusesOneWindow(DAYS[25]))

    with pytest.raises(StorageWriteError, match=f"window {DAYS[25]}"):
        faulty.write(KEY, [(day, day_table(day, 2)) for day in DAYS], write_id="new")

    assert {storage.manifest(KEY, day).write_id for day in DAYS} == {"old"}
    table, _ = storage.read(KEY, DAYS)
    assert set(table.column("delay").to_pylist()) == {1, 2, -3}
    # every lock was released: the next write takes them at once and cleans the leftovers
    storage.locks = LocalWindowLocks(tmp_path, timeout=0.1)
    storage.write(KEY, [(day, day_table(day, 3)) for day in DAYS], write_id="retry")
    versions = {p.name for p in Path(storage.partition_path(KEY, DAYS[0])).glob("v=*")}
    assert versions == {"v=old", "v=retry"}


def test_a_range_waits_for_each_window_another_writer_holds(tmp_path: Path) -> None:
    storage = local_storage(tmp_path)
    storage.locks = LocalWindowLocks(tmp_path, timeout=0.6)
    other = LocalWindowLocks(tmp_path, timeout=30)
    # some lock files exist already (written before), the others are new
    storage.write(KEY, [(day, day_table(day, 1)) for day in DAYS[::3]])

    with other.hold(KEY, [DAYS[17]], "run-other"):
        with pytest.raises(
            WindowLockTimeout, match=f"window {DAYS[17]} is locked by run run-other"
        ):
            storage.write(KEY, [(day, day_table(day, 2)) for day in DAYS], write_id="blocked")

    assert storage.manifest(KEY, DAYS[0]).write_id != "blocked"
    assert storage.manifest(KEY, DAYS[1]) is None  # nothing of the blocked range was written
    with other.hold(KEY, DAYS, "run-other"):  # and it let go of every window it had taken
        pass


def test_a_held_lock_file_names_its_holder(tmp_path: Path) -> None:
    locks = LocalWindowLocks(tmp_path, timeout=0.1)
    with locks.hold(KEY, DAYS[:3], "run-holder"):
        lock_file = Path(locks.where(KEY, DAYS[1]))
        holder = json.loads(lock_file.read_text())
        assert holder["owner"] == "run-holder"
        assert list(lock_file.parent.glob("*.json")) == []  # no second file per lock
    with locks.hold(KEY, [DAYS[1]], "run-next"):
        assert json.loads(lock_file.read_text())["owner"] == "run-next"


def test_recording_many_windows_equals_recording_each(tmp_path: Path) -> None:
    one_by_one = local_storage(tmp_path / "each")
    batch = local_storage(tmp_path / "batch")
    output = ["output", "flights", "daily_csv"]
    schema = day_table(DAYS[0], 1).schema
    windows = [
        RecordedWindow(day, i, schema, {"location": f"file:///x/{day}.csv"})
        for i, day in enumerate(DAYS)
    ]

    for window in windows:
        one_by_one.record(
            output, window.partition, rows=window.rows, schema=schema, properties=window.properties
        )
    batch.record_many(output, windows)

    for window in windows:
        expected, got = (
            one_by_one.manifest(output, window.partition),
            batch.manifest(output, window.partition),
        )
        assert (got.rows, got.files, got.properties) == (expected.rows, [], window.properties)
        assert got.schema.equals(schema)
    assert batch.existing_partitions(output) == DAYS
    with LocalWindowLocks(tmp_path / "batch", timeout=0.1).hold(output, DAYS, "next"):
        pass  # every lock released


def test_a_range_of_catalogue_rows_in_one_call_serves_withholds_and_moves(tmp_path: Path) -> None:
    catalog = LocalCatalog(path=str(tmp_path / "catalog.db"))
    catalog.register_partitions(key_path=KEY, partitions=[(d, f"file:///v1/{d}") for d in DAYS])
    # the next run: half the windows move to a new version, a few close their gate
    catalog.register_partitions(
        key_path=KEY, partitions=[(d, f"file:///v2/{d}") for d in DAYS[::2]]
    )
    catalog.withhold_partitions(key_path=KEY, partitions=[(d, f"file:///v2/{d}") for d in DAYS[:4]])

    served = catalog.partition_locations(key_path=KEY)
    assert sorted(served) == DAYS[4:]
    assert served[DAYS[4]] == f"file:///v2/{DAYS[4]}"
    assert served[DAYS[5]] == f"file:///v1/{DAYS[5]}"
    assert catalog.withheld_partitions(key_path=KEY) == DAYS[:4]
    # a withheld window served again comes back
    catalog.register_partitions(key_path=KEY, partitions=[(DAYS[0], "file:///v3/x")])
    assert catalog.partition_locations(key_path=KEY)[DAYS[0]] == "file:///v3/x"
    assert catalog.withheld_partitions(key_path=KEY) == DAYS[1:4]
