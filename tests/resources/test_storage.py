"""TableStorage on a local disk: partitioned Parquet published through manifests.

Covers writing and reading unpartitioned and partitioned tables, re-writes, empty and
missing partitions, the listing of published partitions, crash safety (a data file that
fails half-way, a multi-partition write whose second partition fails), schema evolution,
the manifest's JSON round trip and partition keys with ':'. Every test runs twice: with
`atomic_rename=True` (local disk mode) and `atomic_rename=False` (object-store mode).

Crashes are simulated with hand-written faults (a monkeypatched `pyarrow.parquet.write_table`
that writes half a file then raises, a `LocalFileSystem` subclass that refuses one file);
the storage itself is never mocked. It does not touch S3, the catalogue or Dagster.
"""

from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq
import pytest

from dataplat_dagster.resources.storage import (
    MANIFEST,
    InvalidManifestError,
    Manifest,
    MissingPartitionError,
    StorageReadError,
    StorageWriteError,
    TableStorage,
)

KEY = ["raw", "retail", "orders"]
DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"]


class SimulatedCrash(OSError):
    """Raised by the hand-written faults below."""


@pytest.fixture(params=[True, False], ids=["rename", "object-store"])
def atomic_rename(request: pytest.FixtureRequest) -> bool:
    return request.param


@pytest.fixture
def storage(tmp_path: Path, atomic_rename: bool) -> TableStorage:
    return TableStorage(
        pa_fs.LocalFileSystem(), str(tmp_path), "file://", atomic_rename=atomic_rename
    )


def orders(ids: list[int], day: str = "d") -> pa.Table:
    return pa.table(
        {"id": pa.array(ids, pa.int64()), "day": pa.array([day] * len(ids), pa.string())}
    )


def folder(storage: TableStorage, partition: str | None) -> Path:
    return Path(storage.partition_path(KEY, partition))


def part_files(storage: TableStorage, partition: str | None) -> list[str]:
    """Data files under the window's folder, `v=<write id>/part-<write id>.parquet`."""
    window = folder(storage, partition)
    return sorted(
        p.relative_to(window).as_posix()
        for p in window.rglob("part-*")
        if p.is_file() and not p.relative_to(window).as_posix().startswith("dt=")
    )


def all_files(storage: TableStorage) -> list[Path]:
    return [p for p in Path(storage.table_path(KEY)).rglob("*") if p.is_file()]


def test_unpartitioned_table_round_trips(storage: TableStorage) -> None:
    written = storage.write(KEY, [(None, orders([1, 2, 3]))])

    table, counts = storage.read(KEY, [None])
    assert table.to_pylist() == orders([1, 2, 3]).to_pylist()
    assert counts == [(None, 3)]
    assert [(w.key, w.rows) for w in written] == [(None, 3)]
    (data_file,) = part_files(storage, None)
    version = data_file.split("/")[0]
    assert written[0].location == f"file://{storage.table_path(KEY)}/{version}"
    assert written[0].bytes == (folder(storage, None) / data_file).stat().st_size
    assert not [p for p in all_files(storage) if p.name.endswith(".tmp")]


def test_partitions_read_back_in_the_order_asked_with_counts(storage: TableStorage) -> None:
    storage.write(KEY, [(day, orders(list(range(n)), day)) for day, n in zip(DAYS, [2, 3, 1])])

    table, counts = storage.read(KEY, [DAYS[2], DAYS[0], DAYS[1]])
    assert table.column("day").to_pylist() == [DAYS[2]] + [DAYS[0]] * 2 + [DAYS[1]] * 3
    assert table.column("id").to_pylist() == [0, 0, 1, 0, 1, 2]
    assert counts == [(DAYS[2], 1), (DAYS[0], 2), (DAYS[1], 3)]
    assert storage.existing_partitions(KEY) == DAYS


def test_rewriting_a_partition_replaces_it(storage: TableStorage) -> None:
    storage.write(KEY, [(DAYS[0], orders([1, 2])), (DAYS[1], orders([3]))], write_id="first")
    storage.write(KEY, [(DAYS[0], orders([7, 8, 9]))], write_id="second")

    table, counts = storage.read(KEY, [DAYS[0]])
    assert table.column("id").to_pylist() == [7, 8, 9]
    assert counts == [(DAYS[0], 3)]
    # the version replaced stays a while, for readers that opened its manifest a moment ago
    assert part_files(storage, DAYS[0]) == [
        "v=first/part-first.parquet",
        "v=second/part-second.parquet",
    ]
    assert storage.manifest(KEY, DAYS[0]).files == ["v=second/part-second.parquet"]
    # the partition not re-written keeps its version
    assert part_files(storage, DAYS[1]) == ["v=first/part-first.parquet"]
    assert storage.read(KEY, [DAYS[1]])[0].column("id").to_pylist() == [3]
    storage.write(KEY, [(DAYS[0], orders([5]))], write_id="third")
    assert part_files(storage, DAYS[0]) == [
        "v=second/part-second.parquet",
        "v=third/part-third.parquet",
    ]


def test_an_empty_partition_reads_as_zero_rows_with_its_schema(storage: TableStorage) -> None:
    empty = orders([]).slice(0, 0)
    storage.write(KEY, [(DAYS[0], empty), (DAYS[1], orders([5]))])

    table, counts = storage.read(KEY, [DAYS[0]])
    assert table.num_rows == 0
    assert table.schema.names == ["id", "day"]
    assert table.schema.field("id").type == pa.int64()
    assert counts == [(DAYS[0], 0)]
    both, counts = storage.read(KEY, [DAYS[0], DAYS[1]])
    assert both.column("id").to_pylist() == [5]
    assert counts == [(DAYS[0], 0), (DAYS[1], 1)]
    assert storage.existing_partitions(KEY) == DAYS[:2]


def test_head_reads_the_first_rows_from_the_first_windows_holding_any(
    storage: TableStorage,
) -> None:
    empty = orders([]).slice(0, 0)
    written = storage.write(
        KEY, [(DAYS[0], empty), (DAYS[1], orders([1, 2])), (DAYS[2], orders([3, 4, 5]))]
    )

    assert storage.head(KEY, written, 3).column("id").to_pylist() == [1, 2, 3]
    assert storage.head(KEY, written, 1).column("id").to_pylist() == [1]
    assert storage.head(KEY, written, 9).column("id").to_pylist() == [1, 2, 3, 4, 5]
    nothing = storage.write(KEY, [("2024-01-04", empty)])  # no rows: the schema written
    head = storage.head(KEY, nothing, 3)
    assert head.num_rows == 0 and head.schema.names == ["id", "day"]


def test_reading_a_partition_never_written_names_table_and_partition(storage: TableStorage) -> None:
    storage.write(KEY, [(DAYS[0], orders([1]))])

    with pytest.raises(MissingPartitionError) as caught:
        storage.read(KEY, [DAYS[0], DAYS[2]])
    assert "raw/retail/orders" in str(caught.value)
    assert DAYS[2] in str(caught.value)
    with pytest.raises(MissingPartitionError, match="raw/retail/orders"):
        storage.read(KEY, [None])

    table, counts = storage.read(KEY, [DAYS[0], DAYS[2]], missing_ok=True)
    assert table.column("id").to_pylist() == [1]
    assert counts == [(DAYS[0], 1)]
    nothing, counts = storage.read(KEY, [DAYS[2]], missing_ok=True)
    assert nothing.num_rows == 0 and counts == []


def test_existing_partitions_lists_only_published_ones(storage: TableStorage) -> None:
    assert storage.existing_partitions(KEY) == []
    storage.write(KEY, [(DAYS[1], orders([1])), (DAYS[0], orders([2]))])
    # a folder holding only a data file (a crashed first write) is not a partition
    stray = folder(storage, DAYS[2])
    stray.mkdir()
    pq.write_table(orders([9]), stray / "part-crashed.parquet")

    assert storage.existing_partitions(KEY) == DAYS[:2]
    with pytest.raises(MissingPartitionError):
        storage.read(KEY, [DAYS[2]])


def test_a_crash_inside_the_data_file_keeps_the_previous_version(
    storage: TableStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.write(KEY, [(DAYS[0], orders([1, 2]))], write_id="good")
    real_write_table = pq.write_table

    def half_then_crash(table: pa.Table, sink, **kwargs) -> None:  # hand-written fault
        buffer = pa.BufferOutputStream()
        real_write_table(table, buffer, **kwargs)
        data = buffer.getvalue().to_pybytes()
        sink.write(data[: len(data) // 2])
        raise SimulatedCrash("disk vanished mid-write")

    monkeypatch.setattr(pq, "write_table", half_then_crash)
    with pytest.raises(StorageWriteError, match="disk vanished mid-write"):
        storage.write(KEY, [(DAYS[0], orders([7, 8, 9]))], write_id="crash")
    monkeypatch.undo()

    # the crashed write is a version folder of its own, named by no manifest
    assert part_files(storage, DAYS[0]) == [
        "v=crash/part-crash.parquet",
        "v=good/part-good.parquet",
    ]
    table, counts = storage.read(KEY, [DAYS[0]])
    assert table.column("id").to_pylist() == [1, 2]
    assert counts == [(DAYS[0], 2)]
    assert storage.manifest(KEY, DAYS[0]).write_id == "good"

    storage.write(KEY, [(DAYS[0], orders([4]))], write_id="next")
    assert part_files(storage, DAYS[0]) == ["v=good/part-good.parquet", "v=next/part-next.parquet"]
    assert storage.read(KEY, [DAYS[0]])[0].column("id").to_pylist() == [4]


class RefusesOnePartition(pa_fs.LocalFileSystem):
    """A local filesystem that fails to open a data file of one partition (hand-written fault)."""

    def __init__(self, refused: str) -> None:
        super().__init__()
        self.refused = refused

    def open_output_stream(self, path, *args, **kwargs):
        if f"dt={self.refused}/" in path and "/part-" in path:
            raise SimulatedCrash(f"cannot write {path}")
        return super().open_output_stream(path, *args, **kwargs)


def test_a_failed_partition_publishes_none_of_the_write(
    tmp_path: Path, atomic_rename: bool
) -> None:
    storage = TableStorage(
        pa_fs.LocalFileSystem(), str(tmp_path), "file://", atomic_rename=atomic_rename
    )
    storage.write(KEY, [(DAYS[0], orders([1])), (DAYS[1], orders([2]))], write_id="old")
    faulty = TableStorage(
        RefusesOnePartition(DAYS[1]), str(tmp_path), "file://", atomic_rename=atomic_rename
    )

    with pytest.raises(StorageWriteError, match=f"window {DAYS[1]}"):
        faulty.write(
            KEY,
            [(DAYS[0], orders([10])), (DAYS[1], orders([20])), (DAYS[2], orders([30]))],
            write_id="new",
        )

    table, counts = storage.read(KEY, DAYS[:2])
    assert table.column("id").to_pylist() == [1, 2]
    assert counts == [(DAYS[0], 1), (DAYS[1], 1)]
    assert {storage.manifest(KEY, day).write_id for day in DAYS[:2]} == {"old"}
    assert storage.existing_partitions(KEY) == DAYS[:2]

    storage.write(KEY, [(DAYS[0], orders([11])), (DAYS[1], orders([21]))], write_id="retry")
    assert part_files(storage, DAYS[0]) == ["v=old/part-old.parquet", "v=retry/part-retry.parquet"]
    assert storage.read(KEY, DAYS[:2])[0].column("id").to_pylist() == [11, 21]


def test_a_half_written_second_partition_publishes_none(
    storage: TableStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.write(KEY, [(DAYS[0], orders([1])), (DAYS[1], orders([2]))], write_id="old")
    real_write_table = pq.write_table
    calls: list[int] = []

    def second_call_crashes(table: pa.Table, sink, **kwargs) -> None:  # hand-written fault
        calls.append(table.num_rows)
        if len(calls) == 2:
            sink.write(b"PAR1 half")
            raise SimulatedCrash("killed while writing the second partition")
        real_write_table(table, sink, **kwargs)

    monkeypatch.setattr(pq, "write_table", second_call_crashes)
    with pytest.raises(StorageWriteError, match="killed while writing the second partition"):
        storage.write(KEY, [(DAYS[0], orders([10, 11])), (DAYS[1], orders([20]))], write_id="new")
    monkeypatch.undo()

    assert len(calls) == 2
    assert storage.read(KEY, DAYS[:2])[0].column("id").to_pylist() == [1, 2]
    assert [storage.manifest(KEY, day).write_id for day in DAYS[:2]] == ["old", "old"]


def test_a_new_column_in_a_later_partition_reads_with_the_unified_schema(
    storage: TableStorage,
) -> None:
    storage.write(KEY, [(DAYS[0], orders([1, 2]))])
    later = orders([3]).append_column("amount", pa.array([9.5], pa.float64()))
    storage.write(KEY, [(DAYS[1], later)])

    table, counts = storage.read(KEY, DAYS[:2])
    assert table.schema.names == ["id", "day", "amount"]
    assert table.schema.field("amount").type == pa.float64()
    assert table.column("id").to_pylist() == [1, 2, 3]
    assert table.column("amount").to_pylist() == [None, None, 9.5]
    assert counts == [(DAYS[0], 2), (DAYS[1], 1)]


def test_the_manifest_round_trips_through_json(storage: TableStorage) -> None:
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("when", pa.timestamp("us")),
            ("tag", pa.dictionary(pa.int32(), pa.string())),
        ]
    )
    manifest = Manifest(
        ["part-a.parquet", "part-b.parquet"], 12, schema, "2024-01-01T00:00:00+00:00", "w1"
    )

    again = Manifest.from_json(manifest.to_json())
    assert again == Manifest(manifest.files, 12, again.schema, manifest.written_at, "w1")
    assert again.schema.equals(schema)

    storage.write(KEY, [(DAYS[0], orders([1, 2]))], write_id="w2")
    published = Manifest.from_json((folder(storage, DAYS[0]) / MANIFEST).read_bytes())
    assert published.files == ["v=w2/part-w2.parquet"]
    assert published.version_folder == "v=w2"
    assert published.rows == 2
    assert published.write_id == "w2"
    assert published.schema.equals(orders([]).schema)
    assert storage.manifest(KEY, DAYS[0]) == published


def test_hourly_partition_keys_with_colons(storage: TableStorage) -> None:
    hours = ["2024-01-01-13:00", "2024-01-01-14:00"]
    written = storage.write(
        KEY, [(hours[0], orders([1], hours[0])), (hours[1], orders([2, 3], hours[1]))]
    )

    assert [w.key for w in written] == hours
    assert storage.existing_partitions(KEY) == hours
    table, counts = storage.read(KEY, [hours[1], hours[0]])
    assert table.column("day").to_pylist() == [hours[1], hours[1], hours[0]]
    assert counts == [(hours[1], 2), (hours[0], 1)]
    storage.write(KEY, [(hours[0], orders([5], hours[0]))])
    assert storage.read(KEY, [hours[0]])[0].column("id").to_pylist() == [5]
    assert len(storage.manifest(KEY, hours[0]).files) == 1


def test_a_manifest_of_the_former_layout_is_still_read_and_replaced_cleanly(
    storage: TableStorage,
) -> None:
    # before versioned windows: data files in dt=<window>/ itself, named by the manifest
    window = folder(storage, DAYS[0])
    window.mkdir(parents=True)
    pq.write_table(orders([1, 2]), window / "part-old.parquet")
    old = Manifest(["part-old.parquet"], 2, orders([]).schema, "2024-01-01T00:00:00+00:00", "old")
    (window / MANIFEST).write_bytes(old.to_json().replace(b'"version_folder": "", ', b""))

    assert storage.read(KEY, [DAYS[0]])[0].column("id").to_pylist() == [1, 2]
    assert storage.existing_partitions(KEY) == [DAYS[0]]
    storage.write(KEY, [(DAYS[0], orders([3]))], write_id="new")
    assert storage.read(KEY, [DAYS[0]])[0].column("id").to_pylist() == [3]
    # the replaced version's file stays a while, like any replaced version; then goes
    assert part_files(storage, DAYS[0]) == ["part-old.parquet", "v=new/part-new.parquet"]
    storage.write(KEY, [(DAYS[0], orders([4]))], write_id="newer")
    assert part_files(storage, DAYS[0]) == ["v=new/part-new.parquet", "v=newer/part-newer.parquet"]


@pytest.mark.parametrize(
    "content",
    [b'{"version": 2, "files": ["v=a/part-a.parq', b"", b"[1, 2]", b'{"files": "x"}'],
    ids=["truncated", "empty", "not-an-object", "no-schema"],
)
def test_an_unreadable_manifest_is_an_error_naming_its_path_not_a_missing_window(
    storage: TableStorage, content: bytes
) -> None:
    storage.write(KEY, [(DAYS[0], orders([1]))], write_id="good")
    path = folder(storage, DAYS[0]) / MANIFEST
    path.write_bytes(content)

    with pytest.raises(InvalidManifestError) as caught:
        storage.read(KEY, [DAYS[0]], missing_ok=True)
    assert f"file://{path} is not a valid manifest" in str(caught.value)
    assert f"raw/retail/orders window {DAYS[0]}" in str(caught.value)
    with pytest.raises(InvalidManifestError):
        storage.existing_partitions(KEY)
    # re-running the window repairs it
    storage.write(KEY, [(DAYS[0], orders([2]))], write_id="repair")
    assert storage.read(KEY, [DAYS[0]])[0].column("id").to_pylist() == [2]


def test_a_manifest_that_cannot_be_opened_is_a_read_error_not_a_missing_window(
    storage: TableStorage,
) -> None:
    storage.write(KEY, [(DAYS[0], orders([1]))], write_id="good")
    path = folder(storage, DAYS[0]) / MANIFEST
    path.unlink()
    path.mkdir()  # opening a folder as a file: an OSError that is not "not found"

    with pytest.raises(StorageReadError) as caught:
        storage.read(KEY, [DAYS[0]], missing_ok=True)
    assert f"the manifest of raw/retail/orders window {DAYS[0]}" in str(caught.value)
    assert isinstance(caught.value.__cause__, OSError)


class NoSpaceLeft(pa_fs.LocalFileSystem):
    """A local filesystem whose disk is full for data files (hand-written fault)."""

    def open_output_stream(self, path, *args, **kwargs):
        if "/part-" in path:
            raise OSError(28, "No space left on device")
        return super().open_output_stream(path, *args, **kwargs)


def test_a_full_disk_names_table_window_and_uri_and_keeps_the_errno_in_the_chain(
    tmp_path: Path,
) -> None:
    storage = TableStorage(NoSpaceLeft(), str(tmp_path), "file://", atomic_rename=True)
    with pytest.raises(StorageWriteError) as caught:
        storage.write(KEY, [(DAYS[0], orders([1]))], write_id="w")
    message = str(caught.value)
    assert f"writing raw/retail/orders window {DAYS[0]} to file://{tmp_path}" in message
    assert f"dt={DAYS[0]}/v=w failed" in message
    assert caught.value.__cause__.errno == 28
    assert storage.existing_partitions(KEY) == []
