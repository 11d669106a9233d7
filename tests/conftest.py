"""Shared fixtures: the demo project on temporary state, and small project trees."""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from dataplat_dagster.definitions_builder import build_definitions

pytest_plugins = ["tests.engines.spark_fixtures"]  # the one SparkSession of a test session

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEMO_LANDING = PROJECT_ROOT / "demo" / "landing"
DEMO_WINDOWS = [f"2024-01-0{day}" for day in range(1, 8)]


@pytest.fixture
def landing_copy(tmp_path: Path) -> Path:
    """A writable copy of the demo's landing files."""
    target = tmp_path / "landing"
    shutil.copytree(DEMO_LANDING, target)
    return target


@pytest.fixture
def cli_env(tmp_path: Path, landing_copy: Path) -> dict[str, str]:
    """Environment for `dataplat`/`dagster` subprocesses: demo landing, temporary state and instance."""
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATAPLAT_", "DAGSTER_"))}
    return {
        **base,
        "DATAPLAT_HOME": str(tmp_path / "state"),
        "DATAPLAT_LANDING_ROOT": str(landing_copy),
        "DAGSTER_HOME": str(home),
    }


@pytest.fixture
def local_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, landing_copy: Path) -> Path:
    """The local profile with all state under a temporary folder; returns that folder."""
    state = tmp_path / "state"
    monkeypatch.setenv("DATAPLAT_ENV", "local")
    monkeypatch.setenv("DATAPLAT_HOME", str(state))
    monkeypatch.setenv("DATAPLAT_LANDING_ROOT", str(landing_copy))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return state


@pytest.fixture
def demo_defs(local_env: Path) -> dg.Definitions:
    return build_definitions(PROJECT_ROOT)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance


def run_demo(
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    keys: list[str],
    *,
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    """Run the retail job for one window or a range (one run)."""
    if len(keys) == 1:
        tags = {"dagster/partition": keys[0]}
    else:
        tags = {
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        }
    return definitions.resolve_job_def("retail_job").execute_in_process(
        instance=instance, tags=tags, raise_on_error=raise_on_error
    )


def write_project(
    root: Path, dataflows: dict[str, str], *, files: dict[str, str] | None = None
) -> Path:
    """A project tree at `root`: the repo's resources/ and the given dataflow YAML texts.

    Args:
        root: where to create `assets/` and `resources/`.
        dataflows: folder name -> dataflow.yaml text.
        files: extra files, path relative to `root` -> text.
    """
    shutil.copytree(PROJECT_ROOT / "resources", root / "resources", dirs_exist_ok=True)
    for folder, text in dataflows.items():
        (root / "assets" / folder).mkdir(parents=True, exist_ok=True)
        (root / "assets" / folder / "dataflow.yaml").write_text(text)
    for path, text in (files or {}).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def demo_with_quick_retries(root: Path) -> Path:
    """The demo project whose retries wait 1 s before the first instead of the demo's 5 s.

    For tests whose faults exhaust the retries: the same retries, declared and run as in the
    demo, without 15 s of waiting each.
    """
    base = (PROJECT_ROOT / "resources" / "base.yaml").read_text()
    quick = base.replace("retry: {max_retries: 2, delay: 5s,", "retry: {max_retries: 2, delay: 1s,")
    assert quick != base, "the demo's retry declaration changed: update this helper"
    shutil.copytree(PROJECT_ROOT / "assets" / "retail", root / "assets" / "retail")
    return write_project(root, {}, files={"resources/base.yaml": quick})


# -- real AWS endpoints on this machine: a moto server per test session -----------------------


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server (S3, Glue, CloudWatch, SES, SSM) on a free port, stopped after the session."""
    import subprocess
    import sys
    import time
    import urllib.request

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> str:
    """Fake keys and the local endpoint; moto's state is reset for every test."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"))
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "DATAPLAT_AWS_ENDPOINT_URL": moto_endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_endpoint


def moto_data(endpoint: str) -> dict:
    """Everything moto holds (sent SES messages among it)."""
    import json
    import urllib.request

    return json.load(urllib.request.urlopen(f"{endpoint}/moto-api/data.json"))


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL (127.0.0.1:5432, trust), dropped after."""
    import uuid

    import psycopg2

    name = f"dataplat_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f"create database {name}")
    try:
        yield name
    finally:
        admin.cursor().execute(f"drop database if exists {name} with (force)")
        admin.close()


@pytest.fixture
def mariadb_database() -> Iterator[str]:
    """A fresh utf8mb4 database on the machine's MariaDB (127.0.0.1:3306, root), dropped after."""
    import uuid

    import pymysql

    name = f"dataplat_test_{uuid.uuid4().hex[:10]}"
    admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute(f"create database {name} character set utf8mb4 collate utf8mb4_unicode_ci")
    try:
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"drop database if exists {name}")
        admin.close()


def postgres_dagster_home(home: Path, database: str) -> dict[str, str]:
    """`home` as a DAGSTER_HOME keeping Dagster's state in `database` (dagster.aws.yaml).

    Returns the environment variables that select it, for a subprocess or monkeypatch.
    """
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_ROOT / "dagster.aws.yaml", home / "dagster.yaml")
    return {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": "5432",
        "DAGSTER_PG_DB": database,
        "DAGSTER_PG_USER": "postgres",
        "DAGSTER_PG_PASSWORD": "",
        # compute logs on the local disk: these instances run without S3
        "DATAPLAT_COMPUTE_LOGS_BUCKET": "",
        "DATAPLAT_COMPUTE_LOGS_PREFIX": "",
        "DATAPLAT_AWS_ENDPOINT_URL": os.environ.get("DATAPLAT_AWS_ENDPOINT_URL", ""),
    }


def run_command(
    args: list[str], env: dict[str, str], cwd: Path = PROJECT_ROOT, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """A command line as users type it, from the repository root; it may fail."""
    return subprocess.run(
        args, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def dataplat_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "dataplat_dagster.cli", *args]


def dagster_command(*args: str) -> list[str]:
    """`dagster ...` through the interpreter running the tests, whatever PATH holds."""
    return [sys.executable, "-m", "dagster", *args]
