"""Two writers of one window, started together from the two command lines users type.

`dataplat run retail --partition 2024-01-03` and `dagster asset materialize ... --partition
2024-01-03` on the local profile (Dagster's SQLite storage, no run coordination between
them): the window locks make them take turns. Both succeed, every manifest names files that
exist, and the rows are those of the landing files.
"""

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.fs as pa_fs

from dataplat_dagster.resources.storage import TableStorage
from dataplat_dagster.resources.window_locks import LocalWindowLocks
from tests.conftest import DEMO_LANDING, PROJECT_ROOT, dagster_command, dataplat_command

WINDOW = "2024-01-03"


def test_dataplat_run_and_dagster_materialize_of_one_window_take_turns(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    commands = [
        dataplat_command("run", "retail", "--partition", WINDOW, "--json"),
        dagster_command(
            "asset",
            "materialize",
            "-f",
            "definitions.py",
            "--select",
            "tag:dataflow=retail",
            "--partition",
            WINDOW,
        ),
    ]
    processes = [
        subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=cli_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    outputs = [process.communicate(timeout=900) for process in processes]

    dataplat, dagster = processes
    assert dataplat.returncode in (0, 10), outputs[0][1][-3000:]  # 10: success with warnings
    assert json.loads(outputs[0][0])["partitions"] == [WINDOW]
    assert dagster.returncode == 0, outputs[1][1][-3000:]
    assert "RUN_SUCCESS" in outputs[1][1] + outputs[1][0]

    warehouse = tmp_path / "state" / "warehouse"
    storage = TableStorage(pa_fs.LocalFileSystem(), str(warehouse), "file://", atomic_rename=True)
    # every published window of every table names files that exist
    for manifest_path in warehouse.rglob("_manifest.json"):
        folder = manifest_path.parent
        manifest = json.loads(manifest_path.read_text())
        missing = [name for name in manifest["files"] if not (folder / name).is_file()]
        assert missing == [], f"{manifest_path} names missing files"
    orders, counts = storage.read(["raw", "retail", "orders"], [WINDOW])
    landing = (DEMO_LANDING / "retail" / f"orders_{WINDOW.replace('-', '')}.csv").read_text()
    assert counts == [(WINDOW, len(landing.splitlines()) - 1)]
    landing_ids = [int(line.split(",")[0]) for line in landing.splitlines()[1:]]
    assert sorted(orders.column("order_id").to_pylist()) == sorted(landing_ids)  # once each
    staged, _ = storage.read(["staging", "retail", "orders"], [WINDOW])
    assert staged.num_rows > 0
    # no lock is left held: a third writer gets the window at once
    with LocalWindowLocks(warehouse, timeout=0.1).hold(
        ["staging", "retail", "orders"], [WINDOW], "third"
    ):
        pass


HOLDER = """
import sys
from dataplat_dagster.resources.window_locks import LocalWindowLocks
locks = LocalWindowLocks(sys.argv[1], timeout=60)
with locks.hold(["staging", "retail", "orders"], [sys.argv[2]], "holder-run"):
    print("holding", flush=True)
    sys.stdin.readline()  # until the test says so
"""


def test_dagster_materialize_waits_for_a_writer_holding_the_window(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Another process holds the window: the run waits, says who holds it, then publishes.

    Deterministic, unlike two runs racing: the holder keeps the lock until the run logs it.
    """
    warehouse = tmp_path / "state" / "warehouse"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(warehouse), WINDOW],
        cwd=PROJECT_ROOT,
        env=cli_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "holding"
    command = dagster_command(
        "asset",
        "materialize",
        "-f",
        "definitions.py",
        "--select",
        "tag:dataflow=retail",
        "--partition",
        WINDOW,
    )
    run = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        for line in run.stdout:  # until the run says it waits for the holder
            seen.append(line)
            if "is being written by run holder-run" in line:
                break
        waited = any("is being written by run holder-run" in line for line in seen)
        storage = TableStorage(
            pa_fs.LocalFileSystem(), str(warehouse), "file://", atomic_rename=True
        )
        assert storage.manifest(["staging", "retail", "orders"], WINDOW) is None  # it waits
    finally:
        holder.communicate("go\n", timeout=60)
        rest, _ = run.communicate(timeout=900)
    assert waited, "".join(seen)[-3000:]
    assert run.returncode == 0, rest[-3000:]
    manifest = storage.manifest(["staging", "retail", "orders"], WINDOW)
    assert manifest is not None and manifest.rows > 0
