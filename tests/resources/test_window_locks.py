"""Window locks on a local disk: one writer per table window, across threads and processes.

Real lock files under a temporary warehouse; the second writer is a real thread or a
real process. No timing asserts: order is proven by events, waits by their outcome.
"""

import multiprocessing
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pa_fs
import pytest

from dataplat_dagster.resources.storage import TableStorage
from dataplat_dagster.resources.window_locks import LocalWindowLocks, WindowLockTimeout

TABLE = ["staging", "retail", "orders"]


def test_a_second_writer_waits_for_the_first_then_gets_the_window(tmp_path: Path) -> None:
    messages: list[str] = []
    locks = LocalWindowLocks(tmp_path, timeout=60, log=messages.append)
    events: list[str] = []
    first_holds, release_first = threading.Event(), threading.Event()

    def first() -> None:
        with locks.hold(TABLE, ["2024-01-03"], "run-one"):
            events.append("first in")
            first_holds.set()
            release_first.wait(30)
            events.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    first_holds.wait(30)

    def second() -> None:
        with locks.hold(TABLE, ["2024-01-03"], "run-two"):
            events.append("second in")

    waiter = threading.Thread(target=second)
    waiter.start()
    # the waiter logs who holds the window before the holder lets go
    while not messages and waiter.is_alive():
        waiter.join(0.05)
    release_first.set()
    thread.join(30)
    waiter.join(30)

    assert events == ["first in", "first out", "second in"]
    assert "staging/retail/orders window 2024-01-03 is being written by run run-one" in messages[0]


def test_other_windows_and_tables_are_not_blocked(tmp_path: Path) -> None:
    locks = LocalWindowLocks(tmp_path, timeout=0.5)
    with locks.hold(TABLE, ["2024-01-03"], "run-one"):
        with locks.hold(TABLE, ["2024-01-04"], "run-two"):
            with locks.hold(["raw", "retail", "orders"], ["2024-01-03"], "run-three"):
                pass


def test_giving_up_names_table_window_and_holder(tmp_path: Path) -> None:
    locks = LocalWindowLocks(tmp_path, timeout=0.6)
    with locks.hold(TABLE, ["2024-01-01", "2024-01-03"], "run-one"):
        with pytest.raises(WindowLockTimeout) as caught:
            with locks.hold(TABLE, ["2024-01-03"], "run-two"):
                pass
    message = str(caught.value)
    assert "staging/retail/orders window 2024-01-03 is locked by run run-one" in message
    assert "gave up after waiting 0.6s" in message
    assert "Nothing was written" in message
    # released on exit: the window can be taken again
    with locks.hold(TABLE, ["2024-01-03"], "run-two"):
        pass


def _hold_in_process(root: str, holding, release) -> None:  # runs in a child process
    locks = LocalWindowLocks(root, timeout=30)
    with locks.hold(TABLE, ["2024-01-03"], "child-run"):
        holding.set()
        release.wait(60)


def test_a_lock_held_by_another_process_is_respected_and_released_when_it_ends(
    tmp_path: Path,
) -> None:
    context = multiprocessing.get_context("spawn")
    holding, release = context.Event(), context.Event()
    child = context.Process(target=_hold_in_process, args=(str(tmp_path), holding, release))
    child.start()
    try:
        assert holding.wait(60)
        with pytest.raises(WindowLockTimeout, match="locked by run child-run"):
            with LocalWindowLocks(tmp_path, timeout=0.6).hold(TABLE, ["2024-01-03"], "me"):
                pass
    finally:
        release.set()
        child.join(60)
    assert child.exitcode == 0
    with LocalWindowLocks(tmp_path, timeout=30).hold(TABLE, ["2024-01-03"], "me"):
        pass


def test_concurrent_writers_of_one_window_each_publish_a_complete_version(tmp_path: Path) -> None:
    storage = TableStorage(pa_fs.LocalFileSystem(), str(tmp_path), "file://", atomic_rename=True)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for round_ in range(5):
                ids = list(range(n * 100 + round_ * 10, n * 100 + round_ * 10 + n + 1))
                storage.write(TABLE, [("2024-01-03", pa.table({"id": ids}))], owner=f"w{n}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(1, 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert errors == []
    manifest = storage.manifest(TABLE, "2024-01-03")
    folder = Path(storage.partition_path(TABLE, "2024-01-03"))
    assert all((folder / name).is_file() for name in manifest.files)
    table, counts = storage.read(TABLE, ["2024-01-03"])
    assert counts == [("2024-01-03", manifest.rows)]
    ids = table.column("id").to_pylist()
    writer_number = ids[0] // 100
    assert len(ids) == writer_number + 1  # one writer's complete version, nothing mixed in
    # at most the current version and the one it replaced are left
    assert len(list(folder.glob("v=*"))) <= 2
