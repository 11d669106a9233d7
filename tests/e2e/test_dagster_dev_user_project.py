"""`dagster dev` over a user's own project, started from another folder.

The flights project (tests/projects.py) keeps its Python transform next to definitions.py.
`dagster dev -w` with the project's workspace.yaml (webserver, daemon, code server; sensors stopped)
runs on the instance `dataplat env` names; runs launched over GraphQL execute in Dagster's
run workers, which import the transform too, and the window's tables are written. The
server is stopped with Ctrl-C (SIGINT), as a user stops `dagster dev`, and no process of it
may be left.
"""

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster_graphql import DagsterGraphQLClient

from tests.conftest import dagster_command, dataplat_command, free_port
from tests.e2e.conftest import (
    LOCATION,
    REPOSITORY,
    Operator,
    _stop,
    _wait_until_loaded,
    processes_of,
)
from tests.projects import write_flights_project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def dagster_dev(tmp_path: Path) -> Iterator[Operator]:
    project = write_flights_project(tmp_path / "project", sensors=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAPLAT_", "DAGSTER_"))}
    env |= {
        "DATAPLAT_HOME": str(tmp_path / "state"),
        "DATAPLAT_LANDING_ROOT": str(project / "landing"),
    }
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    exported = subprocess.run(
        dataplat_command("--project-dir", str(project), "env"),
        check=True, env=env, cwd=elsewhere, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    env["DAGSTER_HOME"] = exported.stdout.strip().removeprefix("export DAGSTER_HOME=")
    operator = Operator("sqlite", project, tmp_path / "state", project / "landing", free_port(),
                        env, tmp_path / "dev.log")  # fmt: skip
    try:
        with operator.log.open("w") as log:
            operator.process = subprocess.Popen(
                dagster_command("dev", "-w", str(project / "workspace.yaml"),
                                "-p", str(operator.port), "-h", "127.0.0.1"),
                env=env, cwd=elsewhere, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        _wait_until_loaded(operator)
        yield operator
    finally:
        left = _interrupt(operator)
        assert left == [], f"dagster dev left processes running: {left}"


def _interrupt(operator: Operator) -> list[str]:
    """Ctrl-C to `dagster dev`; returns the processes it left (then stopped by `_stop`)."""
    if operator.process is not None and operator.process.poll() is None:
        operator.process.send_signal(signal.SIGINT)
        try:
            operator.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            pass
    deadline = time.monotonic() + 30  # the run workers' and servers' children end on their own
    while (left := processes_of(operator.state)) and time.monotonic() < deadline:
        time.sleep(1)
    described = [_command_line(pid) for pid in left]
    _stop(operator)  # never leave a server behind, whatever happened above
    return described


def test_runs_import_the_project_transform(dagster_dev: Operator) -> None:
    client = DagsterGraphQLClient("127.0.0.1", port_number=dagster_dev.port)
    where = {"repository_location_name": LOCATION, "repository_name": REPOSITORY}
    dimensions = client.submit_job_execution("flights_dimensions_job", **where)
    assert dagster_dev.wait_for_run(dimensions)["status"] == "SUCCESS", dagster_dev.tail()
    window = client.submit_job_execution(
        "flights_flights_job", tags={"dagster/partition": "2024-03-01"}, **where
    )
    assert dagster_dev.wait_for_run(window)["status"] == "SUCCESS", dagster_dev.tail()
    manifest = dagster_dev.manifest("business/flights/delays", "2024-03-01")
    assert manifest is not None and manifest["rows"] == 3


def _command_line(pid: int) -> str:
    try:
        return f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")[:200]
    except OSError:  # it ended meanwhile
        return f"{pid}: ended"
