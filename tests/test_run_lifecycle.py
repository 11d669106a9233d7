"""A run's life as `dataplat run` lives it: killed, waiting for a slot, timed out, interrupted.

Real `dataplat` processes on the demo's retail dataflow, on the local SQLite instance and on a
PostgreSQL instance (dagster.aws.yaml on a fresh database). The run killed with `kill -9` is a
real one, killed while it holds its slot of the writer pool `dataplat_retail`. The run others
wait for is a run of the instance whose process is a live `sleep`, holding the slot: a
stopped (SIGSTOP) `dataplat` could hold SQLite's lock and block the waiting run for other
reasons than the pool.
"""

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from dataplat_dagster import run_health
from dataplat_dagster.pools import ensure_writer_pools
from dataplat_dagster.run_health import HOST_TAG, PID_TAG
from tests.conftest import PROJECT_ROOT, postgres_dagster_home
from tests.conftest import dataplat_command as dataplat

pytestmark = pytest.mark.slow

POOL = "dataplat_retail"
WINDOW = "2024-01-03"  # a window that succeeds with warnings: exit code 10
BOUND = 180  # seconds any single wait of these tests may take before it counts as a hang


@pytest.fixture(params=["sqlite", "postgres"])
def env(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    landing_copy: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, str]]:
    """The environment of the `dataplat` processes; the test process sees the same instance."""
    variables = {k: v for k, v in os.environ.items() if not k.startswith(("DATAPLAT_", "DAGSTER_"))}
    variables |= {
        "DATAPLAT_ENV": "local",
        "DATAPLAT_HOME": str(tmp_path / "state"),
        "DATAPLAT_LANDING_ROOT": str(landing_copy),
        # the project's own instance folder: dataplat puts dagster.yaml there
        "DAGSTER_HOME": str(tmp_path / "state" / "dagster"),
    }
    if request.param == "postgres":
        database = request.getfixturevalue("postgres_database")
        variables |= postgres_dagster_home(tmp_path / "dagster_pg", database)
    else:
        (tmp_path / "state" / "dagster").mkdir(parents=True)
        (tmp_path / "state" / "dagster" / "dagster.yaml").write_text(
            (PROJECT_ROOT / "dagster.yaml").read_text()
        )
    for name, value in variables.items():
        if name.startswith(("DATAPLAT_", "DAGSTER_")):
            monkeypatch.setenv(name, value)
    yield variables


class Dataplat:
    """One `dataplat run` process, its output in a file."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.log = log
        self._file = log.open("w")
        self.process = subprocess.Popen(
            dataplat("run", "retail", *args),
            cwd=PROJECT_ROOT,
            env=env,
            stdout=self._file,
            stderr=subprocess.STDOUT,
        )

    @property
    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, text: str) -> None:
        deadline = time.monotonic() + BOUND
        while text not in self.output:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared:\n{self.output[-4000:]}")
            time.sleep(0.1)

    def finish(self) -> int:
        try:
            return self.process.wait(timeout=BOUND)
        finally:
            self._file.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=60)
        self._file.close()


@pytest.fixture
def processes() -> Iterator[list[Dataplat]]:
    started: list[Dataplat] = []
    yield started
    for process in started:  # none outlives its test, even a stopped one
        process.kill()


def _instance() -> dg.DagsterInstance:
    return dg.DagsterInstance.get()


def _run_of(instance: dg.DagsterInstance, process: Dataplat) -> dg.DagsterRun:
    runs = instance.get_runs(dg.RunsFilter(tags={PID_TAG: str(process.process.pid)}))
    assert len(runs) == 1, runs
    return runs[0]


def _waiting_run(process: Dataplat) -> str:
    with _instance() as instance:
        return _run_of(instance, process).run_id


def _holders(instance: dg.DagsterInstance) -> set[str]:
    return instance.event_log_storage.get_concurrency_info(POOL).active_run_ids


def _kill_while_holding_the_slot(process: Dataplat) -> str:
    """`kill -9` of `process` as soon as its run holds the pool's slot; returns its run id.

    Not stopped first: a stopped process may hold SQLite's lock. The run may still free its
    slot between the look and the kill (between two steps): the caller then tries again.
    """
    process.wait_for("raw__retail__customers")
    deadline = time.monotonic() + BOUND
    with _instance() as instance:
        run_id = _run_of(instance, process).run_id
        while run_id not in _holders(instance):
            assert time.monotonic() < deadline, "the run never held its slot"
            time.sleep(0.01)
    process.process.send_signal(signal.SIGKILL)
    process.process.wait(timeout=60)
    return run_id


@pytest.fixture
def holder(
    env: dict[str, str], processes: list[Dataplat]
) -> Iterator[tuple[str, subprocess.Popen]]:
    """A STARTED run of this host holding the pool's slot, its process alive; (run id, process)."""
    sleeper = subprocess.Popen(["sleep", "600"])
    run_id = str(uuid.uuid4())
    tags = {PID_TAG: str(sleeper.pid), HOST_TAG: socket.gethostname(), "dagster/partition": WINDOW}
    with _instance() as instance:
        ensure_writer_pools(instance, ["retail"])
        instance.add_run(
            dg.DagsterRun(
                job_name="retail_job", run_id=run_id, status=dg.DagsterRunStatus.STARTED, tags=tags
            )
        )
        claim = instance.event_log_storage.claim_concurrency_slot(
            POOL, run_id, "raw__retail__orders"
        )
        assert claim.is_claimed
    yield run_id, sleeper
    sleeper.kill()
    sleeper.wait()


def _gone_line(run_id: str, pid: int) -> str:
    host = socket.gethostname()
    return (
        f"run {run_id} (pid {pid} on {host}) is gone: marked failed, freed its slot of pool {POOL}"
    )


def test_a_killed_run_is_marked_failed_and_the_next_run_completes(
    env: dict[str, str], tmp_path: Path, processes: list[Dataplat]
) -> None:
    for attempt in range(5):  # until the kill lands while the run holds its slot
        killed = Dataplat(env, tmp_path / f"killed{attempt}.log", "--partition", WINDOW)
        processes.append(killed)
        dead_run = _kill_while_holding_the_slot(killed)
        with _instance() as instance:  # what a crash leaves behind
            assert instance.get_run_by_id(dead_run).status == dg.DagsterRunStatus.STARTED
            if _holders(instance) == {dead_run}:
                break
    else:
        raise AssertionError("five runs freed their slot between the look and the kill")

    # bounded: a run that waited for the dead run's slot would be stopped, exit code 40
    after = Dataplat(env, tmp_path / "after.log", "--partition", WINDOW, "--timeout", "150")
    processes.append(after)
    assert after.finish() == 10, after.output[-4000:]
    assert _gone_line(dead_run, killed.process.pid) in after.output
    with _instance() as instance:
        assert instance.get_run_by_id(dead_run).status == dg.DagsterRunStatus.FAILURE
        assert _run_of(instance, after).status == dg.DagsterRunStatus.SUCCESS
        assert _holders(instance) == set()
    export = Path(env["DATAPLAT_HOME"]) / "exports" / "retail" / "daily_revenue_20240103.csv"
    assert export.read_text().startswith('"order_date"')


def test_a_waiting_run_names_the_holder_and_takes_the_slot_when_the_holder_dies(
    env: dict[str, str],
    tmp_path: Path,
    processes: list[Dataplat],
    holder: tuple[str, subprocess.Popen],
) -> None:
    holder_run, sleeper = holder
    waiting = Dataplat(env, tmp_path / "waiting.log", "--partition", WINDOW)
    processes.append(waiting)
    waiting.wait_for(f"waits for a slot of pool {POOL}, held by run {holder_run} (started ")
    assert f"INFO - run {_waiting_run(waiting)} waits for a slot" in waiting.output

    sleeper.kill()
    sleeper.wait()
    assert waiting.finish() == 10, waiting.output[-4000:]
    assert _gone_line(holder_run, sleeper.pid) in waiting.output
    with _instance() as instance:
        assert instance.get_run_by_id(holder_run).status == dg.DagsterRunStatus.FAILURE
        assert _run_of(instance, waiting).status == dg.DagsterRunStatus.SUCCESS


@pytest.mark.parametrize(
    ("stop", "code", "line"),
    [
        ("timeout", 40, "stopped after --timeout 20s: run {} canceled"),
        ("SIGINT", 50, "stopped by Ctrl-C or SIGTERM: run {} canceled"),
        ("SIGTERM", 50, "stopped by Ctrl-C or SIGTERM: run {} canceled"),
    ],
)
def test_a_run_waiting_for_a_slot_stops_on_timeout_and_signals(
    env: dict[str, str],
    tmp_path: Path,
    processes: list[Dataplat],
    holder: tuple[str, subprocess.Popen],
    stop: str,
    code: int,
    line: str,
) -> None:
    holder_run, _ = holder
    args = ["--partition", WINDOW] + (["--timeout", "20"] if stop == "timeout" else [])
    waiting = Dataplat(env, tmp_path / "waiting.log", *args)
    processes.append(waiting)
    waiting.wait_for(f"held by run {holder_run}")
    if stop != "timeout":
        waiting.process.send_signal(getattr(signal, stop))

    assert waiting.finish() == code, waiting.output[-4000:]
    with _instance() as instance:
        stopped = _run_of(instance, waiting)
        assert stopped.status == dg.DagsterRunStatus.CANCELED
        assert line.format(stopped.run_id) in waiting.output
        pending = instance.event_log_storage.get_concurrency_info(POOL).pending_steps
        assert [step for step in pending if step.run_id == stopped.run_id] == []
        assert _holders(instance) == {holder_run}  # the stopped run took nothing


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_a_signal_during_a_step_ends_the_run_and_keeps_the_window(
    env: dict[str, str], tmp_path: Path, processes: list[Dataplat], stop: str
) -> None:
    first = Dataplat(env, tmp_path / "first.log", "--partition", WINDOW)
    processes.append(first)
    assert first.finish() == 10, first.output[-4000:]
    export = Path(env["DATAPLAT_HOME"]) / "exports" / "retail" / "daily_revenue_20240103.csv"
    before = export.read_text()

    again = Dataplat(env, tmp_path / "again.log", "--partition", WINDOW)
    processes.append(again)
    again.wait_for("raw__retail__customers")
    again.process.send_signal(getattr(signal, stop))
    assert again.finish() == 50, again.output[-4000:]
    with _instance() as instance:
        stopped = _run_of(instance, again)
        assert stopped.status in (dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE)
        assert f"stopped by Ctrl-C or SIGTERM: run {stopped.run_id} " in again.output
        assert _holders(instance) == set()
    assert export.read_text() == before


def test_a_run_canceled_in_dagster_stops_its_process(
    env: dict[str, str],
    tmp_path: Path,
    processes: list[Dataplat],
    holder: tuple[str, subprocess.Popen],
) -> None:
    holder_run, _ = holder
    waiting = Dataplat(env, tmp_path / "waiting.log", "--partition", WINDOW)
    processes.append(waiting)
    waiting.wait_for(f"held by run {holder_run}")
    with _instance() as instance:  # what the UI's Terminate and run monitoring do first
        instance.report_run_canceling(_run_of(instance, waiting))
    assert waiting.finish() == 50, waiting.output[-4000:]
    with _instance() as instance:
        stopped = _run_of(instance, waiting)
        assert stopped.status == dg.DagsterRunStatus.CANCELED
    assert (
        f"stopped: canceled in Dagster (the UI's Terminate or run monitoring): run {stopped.run_id} canceled"
        in waiting.output
    )


def test_the_ui_reaper_marks_a_dead_run_failed_and_frees_its_slot(
    env: dict[str, str], holder: tuple[str, subprocess.Popen], caplog: pytest.LogCaptureFixture
) -> None:
    holder_run, sleeper = holder
    reaper = run_health.Reaper([POOL], interval=0.2)  # what `dataplat ui` runs beside the UI
    reaper.start()
    try:
        with _instance() as instance:
            assert instance.get_run_by_id(holder_run).status == dg.DagsterRunStatus.STARTED
            sleeper.kill()
            sleeper.wait()
            deadline = time.monotonic() + BOUND
            while instance.get_run_by_id(holder_run).status != dg.DagsterRunStatus.FAILURE:
                assert time.monotonic() < deadline, "the dead run was never marked failed"
                time.sleep(0.2)
            assert _holders(instance) == set()
    finally:
        reaper.done.set()
        reaper.join(timeout=60)
    assert _gone_line(holder_run, sleeper.pid) in caplog.text
