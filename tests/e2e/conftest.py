"""The operator's Dagster: `dataplat ui` (webserver, daemon, code server) on a free port.

One server per instance kind and module, over a temporary project home: the demo's retail
dataflow with windows up to 2024-01-09, its schedule every minute (stopped until a test starts
it), and its landing files for 2024-01-01..07, built once with `dataplat run` before the UI
starts, as an operator would. Tests talk to it over GraphQL, as the UI does. Every process
the server started is stopped at the end, even when a test fails.
"""

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml

from tests.conftest import (
    DEMO_LANDING,
    PROJECT_ROOT,
    dataplat_command,
    free_port,
    postgres_dagster_home,
)

LOCATION = "dataplat"
REPOSITORY = "__repository__"
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def _project(root: Path) -> Path:
    """The repository's entry files and profiles, and the retail dataflow, extended."""
    root.mkdir(parents=True)
    for name in ("definitions.py", "workspace.yaml", "dagster.yaml", "dagster.aws.yaml"):
        shutil.copyfile(PROJECT_ROOT / name, root / name)
    shutil.copytree(PROJECT_ROOT / "resources", root / "resources")
    shutil.copytree(PROJECT_ROOT / "assets" / "retail", root / "assets" / "retail")
    declaration = root / "assets" / "retail" / "dataflow.yaml"
    flow = yaml.safe_load(declaration.read_text())
    flow["partitioning"]["end"] = "2024-01-10"  # windows 08 and 09 wait for their files
    flow["schedule"] = {"cron": "* * * * *", "lookback": 3, "enabled": False}
    declaration.write_text(yaml.safe_dump(flow, sort_keys=False))
    return root


@dataclass
class Operator:
    """A running `dataplat ui` and what it works on."""

    kind: str
    project: Path
    state: Path
    landing: Path
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None
    seen_runs: set[str] = field(default_factory=set)

    # -- GraphQL, as the UI speaks it --------------------------------------------------------
    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql",
            data=json.dumps({"query": query, "variables": variables}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.load(response)
        assert "errors" not in body, body["errors"]
        return body["data"]

    def wait_for_run(self, run_id: str, timeout: float = 240) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = self.graphql(RUN, runId=run_id)["runOrError"]
            if run.get("status") in FINISHED:
                return run
            assert time.monotonic() < deadline, (
                f"run {run_id} still {run.get('status')}: {self.tail()}"
            )
            time.sleep(1)

    def runs(self, **tags: str) -> list[dict[str, Any]]:
        selector = [{"key": key, "value": value} for key, value in tags.items()]
        return self.graphql(RUNS, tags=selector)["runsOrError"]["results"]

    def wait_for_new_run(self, timeout: float = 180, **tags: str) -> dict[str, Any]:
        """The first run with these tags that no earlier call returned, once it has finished."""
        deadline = time.monotonic() + timeout
        while True:
            fresh = [r for r in self.runs(**tags) if r["runId"] not in self.seen_runs]
            if fresh:
                self.seen_runs.add(fresh[-1]["runId"])
                return self.wait_for_run(fresh[-1]["runId"])
            assert time.monotonic() < deadline, f"no run with {tags} yet: {self.tail()}"
            time.sleep(2)

    def check_executions(self, key: str, check: str, partition: str) -> list[dict[str, Any]]:
        return self.graphql(
            CHECKS, assetKey={"path": key.split("/")}, checkName=check, partition=partition
        )["assetCheckExecutions"]

    def partition_statuses(self, key: str) -> dict[str, str]:
        """Window -> MATERIALIZED / FAILED / MATERIALIZING, as the partition view shows it."""
        node = self.graphql(PARTITIONS, assetKey={"path": key.split("/")})["assetNodeOrError"]
        statuses: dict[str, str] = {}
        for piece in node["assetPartitionStatuses"]["ranges"]:
            start, end = piece["startKey"], piece["endKey"]
            for day in range(int(start[-2:]), int(end[-2:]) + 1):
                statuses[f"{start[:-2]}{day:02d}"] = piece["status"]
        return statuses

    def materialization_metadata(self, key: str, window: str) -> dict[str, str]:
        """Label -> value (as text) of a window's latest materialization, as the UI shows it."""
        asset = self.graphql(
            MATERIALIZATION, assetKey={"path": key.split("/")}, partitions=[window]
        )["assetOrError"]
        (latest,) = asset["assetMaterializations"]
        return {
            entry["label"]: next(
                str(entry[field])
                for field in ("text", "jsonString", "intValue", "floatValue", "path")
                if entry.get(field) is not None
            )
            for entry in latest["metadataEntries"]
            if any(
                entry.get(f) is not None
                for f in ("text", "jsonString", "intValue", "floatValue", "path")
            )
        }

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    # -- the warehouse and the catalogue, as written --------------------------------------------
    def manifest(self, key: str, window: str | None) -> dict[str, Any] | None:
        folder = self.state / "warehouse" / key
        path = folder / f"dt={window}" / "_manifest.json" if window else folder / "_manifest.json"
        return json.loads(path.read_text()) if path.exists() else None

    def catalog_partitions(self, key: str) -> list[str]:
        from dataplat_dagster.resources.catalog import LocalCatalog

        catalog = LocalCatalog(path=str(self.state / "catalog.db"))
        return catalog.list_partitions(key_path=key.split("/"))


def _wait_until_loaded(operator: Operator, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert operator.process is not None
        if operator.process.poll() is not None:
            raise RuntimeError(f"dataplat ui exited: {operator.tail()}")
        try:
            entries = operator.graphql(WORKSPACE)["workspaceOrError"]["locationEntries"]
            loaded = [e for e in entries if e["name"] == LOCATION and e["loadStatus"] == "LOADED"]
            if loaded:
                kind = loaded[0]["locationOrLoadError"]["__typename"]
                assert kind == "RepositoryLocation", f"code location failed: {operator.tail()}"
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"dataplat ui did not come up: {operator.tail()}")
        time.sleep(1)


def processes_of(state: Path) -> list[int]:
    """Every live process whose environment points at this server's state folder."""
    marker = f"DATAPLAT_HOME={state}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                stat = (entry / "stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] != "Z":  # zombies are already gone
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def _stop(operator: Operator) -> list[int]:
    """SIGTERM to `dataplat ui`, as a service manager would; returns what was left behind."""
    process = operator.process
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            pass
    time.sleep(1)
    left = processes_of(operator.state)
    for pid in left:  # never leave a server behind, whatever happened above
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def operator(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    kind = request.param
    base = tmp_path_factory.mktemp(f"operator-{kind}")
    project = _project(base / "project")
    landing = base / "landing"
    shutil.copytree(DEMO_LANDING, landing)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAPLAT_", "DAGSTER_"))}
    env |= {
        "DATAPLAT_ENV": "local",
        "DATAPLAT_HOME": str(base / "state"),
        "DATAPLAT_LANDING_ROOT": str(landing),
    }
    database = None
    if kind == "postgres":
        database = f"dataplat_e2e_{uuid.uuid4().hex[:10]}"
        _admin(f"create database {database}")
        env |= postgres_dagster_home(base / "dagster_pg", database)
    operator = Operator(kind, project, base / "state", landing, free_port(), env, base / "ui.log")
    try:
        built = subprocess.run(
            dataplat_command("--project-dir", str(project), "run", "retail", "--from",
                             "2024-01-01", "--to", "2024-01-07"),
            check=False, env=env, cwd=project, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert built.returncode == 30, built.stderr[-3000:]  # 2024-01-05's gate closes
        with serving(operator):
            yield operator
    finally:
        if database:
            _admin(f"drop database if exists {database} with (force)")


@contextmanager
def serving(operator: Operator) -> Iterator[Operator]:
    """`dataplat ui` over the operator's project, up and loaded; stopped, with all it started.

    Started as a background job of a script is: SIGINT ignored (SIGTERM must still stop it).
    """
    try:
        with operator.log.open("w") as log:
            operator.process = subprocess.Popen(
                dataplat_command("--project-dir", str(operator.project), "ui", "--port",
                                 str(operator.port)),
                env=operator.env, cwd=operator.project, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_ignore_sigint,  # noqa: PLW1509 (no threads in this test process)
            )  # fmt: skip
        _wait_until_loaded(operator)
        yield operator
    finally:
        left = _stop(operator)
        assert left == [], f"dataplat ui left processes running: {left}"


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _admin(statement: str) -> None:
    connection = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    connection.autocommit = True
    try:
        connection.cursor().execute(statement)
    finally:
        connection.close()


WORKSPACE = """
query { workspaceOrError { ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename } } } } }
"""
RUN = """
query ($runId: ID!) { runOrError(runId: $runId) { ... on Run {
  runId status jobName tags { key value } assetSelection { path } } } }
"""
RUNS = """
query ($tags: [ExecutionTag!]) { runsOrError(filter: {tags: $tags}) { ... on Runs { results {
  runId status jobName tags { key value } } } } }
"""
CHECKS = """
query ($assetKey: AssetKeyInput!, $checkName: String!, $partition: String) {
  assetCheckExecutions(assetKey: $assetKey, checkName: $checkName, limit: 5,
                       partition: $partition) {
    runId status partition evaluation { success severity } } }
"""
MATERIALIZATION = """
query ($assetKey: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $assetKey) { ... on Asset {
    assetMaterializations(partitions: $partitions, limit: 1) { partition metadataEntries {
      label
      ... on TextMetadataEntry { text }
      ... on JsonMetadataEntry { jsonString }
      ... on IntMetadataEntry { intValue }
      ... on FloatMetadataEntry { floatValue }
      ... on PathMetadataEntry { path }
    } }
  } }
}
"""
PARTITIONS = """
query ($assetKey: AssetKeyInput!) { assetNodeOrError(assetKey: $assetKey) { ... on AssetNode {
  assetPartitionStatuses { ... on TimePartitionStatuses { ranges { status startKey endKey } } }
} } }
"""
