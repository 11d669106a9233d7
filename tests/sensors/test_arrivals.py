"""The pure decision logic of the file-arrival sensors: `dataplat_dagster.arrivals`.

Covers `evaluate` over in-memory listings of `FileInfo` with a `WindowLookup` built from a
real partitions definition (daily windows 2024-01-01..07 UTC, lag 1h): new, repeated,
replaced and late files; unmatched names, other sources' files and dates outside the
windows; windows held back by the lag; paging a 10,000-file listing with `max_files`;
restarts from a cursor saved as JSON; and `Arrivals.run_key`. No Dagster sensor, file
store, notifier or file on disk is touched.
"""

import random
import re
from datetime import UTC, datetime, timedelta

import pytest

from dataplat_dagster.arrivals import Arrivals, Cursor, Unmatched, WindowLookup, evaluate
from dataplat_dagster.config.models import Partitioning
from dataplat_dagster.config.path_pattern import PathPattern
from dataplat_dagster.partitions import build_partitions_def, eligible_at, key_of_moment
from dataplat_dagster.resources.file_store import FileInfo

LAG = timedelta(hours=1)
WEEK = build_partitions_def(
    Partitioning(granularity="daily", timezone="UTC", start="2024-01-01", end="2024-01-08", lag=LAG)
)
LOOKUP = WindowLookup(
    key=lambda moment: key_of_moment(WEEK, moment),
    eligible_at=lambda key: eligible_at(WEEK, key, LAG),
)
ORDERS = PathPattern("retail/orders_{date:%Y%m%d}.csv")
PARTS = PathPattern("retail/orders_{date:%Y%m%d}_*.csv")  # many files per window
OTHERS = [PathPattern("retail/customers.csv"), PathPattern("retail/products.jsonl")]
OVERLAP = timedelta(seconds=300)
LATER = datetime(2024, 2, 1, tzinfo=UTC)  # every window is eligible
T0 = 1_700_000_000.0
SENSOR = "retail_orders_file_arrival_sensor"


def tick(
    listing: list[FileInfo],
    cursor: Cursor | None = None,
    *,
    now: datetime = LATER,
    max_files: int = 1000,
    pattern: PathPattern = ORDERS,
) -> Arrivals:
    return evaluate(
        listing,
        cursor or Cursor(),
        pattern=pattern,
        others=OTHERS,
        window_of=LOOKUP,
        overlap=OVERLAP,
        max_files=max_files,
        now=now,
    )


def orders(day: int, *, size: int = 100, mtime: float = T0, etag: str | None = None) -> FileInfo:
    return FileInfo(f"retail/orders_202401{day:02d}.csv", size, mtime, etag)


def test_a_new_file_is_one_batch_for_its_window() -> None:
    new = orders(3)
    result = tick([new])

    assert result.batches == {"2024-01-03": [new]}
    assert result.unmatched == [] and result.waiting == {} and result.more is False
    assert result.cursor.seen == {new.path: (new.version, new.mtime)}
    assert result.cursor.mtime == new.mtime
    assert re.fullmatch(
        rf"{SENSOR}:2024-01-03:[0-9a-f]{{16}}", result.run_key(SENSOR, "2024-01-03")
    )


def test_the_same_file_again_requests_nothing() -> None:
    first = tick([orders(3), orders(4, mtime=T0 + 5)])
    again = tick([orders(3), orders(4, mtime=T0 + 5)], first.cursor)

    assert sorted(first.batches) == ["2024-01-03", "2024-01-04"]
    assert again.batches == {} and again.unmatched == [] and again.more is False
    assert again.cursor == first.cursor


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (orders(3, size=100), orders(3, size=120, mtime=T0 + 60)),  # rewritten, longer
        (orders(3, mtime=T0), orders(3, mtime=T0 + 60)),  # same size, touched again
        (orders(3, etag="aaa"), orders(3, etag="bbb")),  # object store: same size and time
    ],
    ids=["new-size", "new-mtime", "new-etag"],
)
def test_a_replaced_file_is_a_new_batch_with_another_run_key(
    before: FileInfo, after: FileInfo
) -> None:
    first = tick([before])
    second = tick([after], first.cursor)

    assert second.batches == {"2024-01-03": [after]}
    assert second.run_key(SENSOR, "2024-01-03") != first.run_key(SENSOR, "2024-01-03")
    assert second.cursor.seen[after.path][0] == after.version


@pytest.mark.parametrize(
    ("late", "window"),
    [
        (orders(3, mtime=T0 + 1000 - 200), "2024-01-03"),  # older than the newest, within overlap
        (orders(1, mtime=T0 + 2000), "2024-01-01"),  # a file for an old window, arriving now
    ],
    ids=["mtime-within-overlap", "old-window"],
)
def test_a_late_file_is_still_requested(late: FileInfo, window: str) -> None:
    first = tick([orders(5, mtime=T0 + 1000), orders(6, mtime=T0 + 1000)])
    second = tick([orders(5, mtime=T0 + 1000), orders(6, mtime=T0 + 1000), late], first.cursor)

    assert second.batches == {window: [late]}
    assert late.path in second.cursor.seen


def test_an_unmatched_name_is_reported_once_and_again_when_it_changes() -> None:
    stray = FileInfo("retail/orders_2024x.csv", 10, T0)
    first = tick([orders(2), stray])
    second = tick([orders(2), stray], first.cursor)
    changed = FileInfo(stray.path, 11, T0 + 30)
    third = tick([orders(2), changed], second.cursor)

    assert first.batches == {"2024-01-02": [orders(2)]}
    assert [u.path for u in first.unmatched] == [stray.path]
    assert isinstance(first.unmatched[0], Unmatched)
    assert "matches no landing pattern" in first.unmatched[0].reason
    assert ORDERS.pattern in first.unmatched[0].reason
    assert stray.path not in first.cursor.seen
    assert second.unmatched == [] and second.batches == {}
    assert [u.path for u in third.unmatched] == [stray.path]


def test_another_sources_file_is_neither_requested_nor_reported() -> None:
    result = tick(
        [FileInfo("retail/customers.csv", 50, T0), FileInfo("retail/products.jsonl", 9, T0)]
    )

    assert result.batches == {} and result.unmatched == []
    assert result.cursor.reported == {} and result.cursor.seen == {}


@pytest.mark.parametrize(
    ("name", "date"),
    [
        ("retail/orders_20240301.csv", "2024-03-01"),
        ("retail/orders_20231231.csv", "2023-12-31"),
        ("retail/orders_20240108.csv", "2024-01-08"),  # the end is exclusive
    ],
)
def test_a_file_dated_outside_the_windows_is_unmatched_naming_its_date(
    name: str, date: str
) -> None:
    result = tick([FileInfo(name, 10, T0)])

    assert result.batches == {}
    assert len(result.unmatched) == 1 and result.unmatched[0].path == name
    assert date in result.unmatched[0].reason
    assert "outside the declared windows" in result.unmatched[0].reason


def test_a_window_within_its_lag_waits_then_is_requested() -> None:
    early = datetime(2024, 1, 3, 0, 30, tzinfo=UTC)  # 2024-01-02 ended 30 minutes ago
    waiting_file, ready_file = orders(2), orders(1, mtime=T0 + 10)
    first = tick([waiting_file, ready_file], now=early)

    assert first.batches == {"2024-01-01": [ready_file]}
    assert first.waiting == {"2024-01-02": datetime(2024, 1, 3, 1, tzinfo=UTC)}
    assert waiting_file.path not in first.cursor.seen
    assert first.cursor.waiting == {waiting_file.path: waiting_file.version}

    # much newer files move the cursor far past the waiting file's mtime: it is not forgotten
    newer = orders(1, size=200, mtime=T0 + 10_000)  # 2024-01-01 replaced
    still = tick([waiting_file, newer], first.cursor, now=early + timedelta(minutes=29))
    assert still.batches == {"2024-01-01": [newer]}
    assert still.waiting == {"2024-01-02": datetime(2024, 1, 3, 1, tzinfo=UTC)}

    ready = tick([waiting_file, newer], still.cursor, now=early + timedelta(minutes=30))
    assert ready.batches == {"2024-01-02": [waiting_file]}
    assert ready.waiting == {} and ready.cursor.waiting == {}
    after = tick([waiting_file, newer], ready.cursor, now=early + timedelta(hours=2))
    assert after.batches == {} and after.waiting == {}  # requested once, not again


def test_a_still_open_window_waits_for_its_end_plus_the_lag() -> None:
    result = tick([orders(3)], now=datetime(2024, 1, 3, 12, tzinfo=UTC))

    assert result.batches == {}
    assert result.waiting == {"2024-01-03": datetime(2024, 1, 4, 1, tzinfo=UTC)}


def many_files(count: int, spacing: float) -> list[FileInfo]:
    return [
        FileInfo(f"retail/orders_202401{1 + i % 7:02d}_{i:05d}.csv", 10 + i % 13, T0 + i * spacing)
        for i in range(count)
    ]


@pytest.mark.parametrize("restart", [False, True], ids=["same-process", "restart-from-json"])
@pytest.mark.parametrize("spacing", [1.0, 0.0], ids=["mtimes-spread", "identical-mtimes"])
def test_paging_requests_every_file_exactly_once(spacing: float, restart: bool) -> None:
    listing = many_files(10_000, spacing)
    random.Random(7).shuffle(listing)  # listing order does not matter
    cursor, requested, mores = Cursor(), [], []
    for _ in range(12):
        result = tick(listing, cursor, max_files=1000, pattern=PARTS)
        requested += [f.path for files in result.batches.values() for f in files]
        mores.append(result.more)
        assert sum(len(files) for files in result.batches.values()) <= 1000
        cursor = Cursor.from_json(result.cursor.to_json()) if restart else result.cursor

    assert mores == [True] * 9 + [False] * 3
    assert len(requested) == 10_000
    assert sorted(requested) == sorted(f.path for f in listing)


def test_a_restart_from_a_saved_cursor_continues_without_duplicates() -> None:
    listing = many_files(30, 20.0)
    first = tick(listing[:20], pattern=PARTS)
    saved = first.cursor.to_json()

    restored = Cursor.from_json(saved)
    assert restored == first.cursor
    resumed = tick(listing, restored, pattern=PARTS)
    resumed_paths = [f.path for files in resumed.batches.values() for f in files]
    assert sorted(resumed_paths) == sorted(f.path for f in listing[20:])
    assert tick(listing, Cursor.from_json(resumed.cursor.to_json()), pattern=PARTS).batches == {}


@pytest.mark.parametrize("text", [None, ""])
def test_no_saved_cursor_is_an_empty_cursor(text: str | None) -> None:
    assert Cursor.from_json(text) == Cursor()


def test_a_cursor_with_waiting_and_reported_files_survives_json() -> None:
    cursor = Cursor(
        T0 + 0.123456,
        {"retail/orders_20240101.csv": ("100-1.5", T0 + 0.123456)},
        {"retail/orders_20240102.csv": "7-2.0"},
        {"retail/orders_2024x.csv": "10-3.0"},
    )
    assert Cursor.from_json(cursor.to_json()) == cursor


def test_run_key_is_stable_and_independent_of_listing_order() -> None:
    listing = many_files(40, 1.0)
    forward = tick(listing, pattern=PARTS)
    backward = tick(list(reversed(listing)), pattern=PARTS)
    again = tick(listing, pattern=PARTS)

    assert sorted(forward.batches) == [f"2024-01-0{day}" for day in range(1, 8)]
    for window in forward.batches:
        key = forward.run_key(SENSOR, window)
        assert key == backward.run_key(SENSOR, window) == again.run_key(SENSOR, window)
    keys = {forward.run_key(SENSOR, window) for window in forward.batches}
    assert len(keys) == 7


def test_run_key_of_an_unpartitioned_batch_ignores_file_order() -> None:
    files = [FileInfo("retail/customers.csv", 5, T0), FileInfo("retail/extra.csv", 6, T0)]
    one = Arrivals(batches={None: files})
    other = Arrivals(batches={None: list(reversed(files))})

    assert one.run_key("s", None) == other.run_key("s", None)
    assert one.run_key("s", None).startswith("s:all:")
    assert Arrivals(batches={None: files[:1]}).run_key("s", None) != one.run_key("s", None)
