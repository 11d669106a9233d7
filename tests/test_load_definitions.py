"""The code location's entry point builds its definitions once per process while nothing changes."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dataplat_dagster.definitions_builder import load_definitions
from tests.conftest import PROJECT_ROOT


@pytest.fixture
def project(tmp_path: Path, local_env: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT / "resources", root / "resources")
    shutil.copytree(PROJECT_ROOT / "assets" / "retail", root / "assets" / "retail")
    return root


def test_a_second_load_reuses_the_first(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # as in a new process: the first load sets Dagster's event settings, the second reuses it
    for name in ("DAGSTER_EVENT_BATCH_SIZE", "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"):
        monkeypatch.delenv(name, raising=False)
    first = load_definitions(project)
    assert load_definitions(project) is first
    assert first.resolve_job_def("retail_job") is not None


def test_a_changed_declaration_is_built_again(project: Path) -> None:
    first = load_definitions(project)
    declaration = project / "assets" / "retail" / "dataflow.yaml"
    declaration.write_text(
        declaration.read_text().replace("dataflow: retail\n", "dataflow: shop\n")
    )
    second = load_definitions(project)
    assert second is not first
    assert second.resolve_job_def("shop_job") is not None


def test_a_changed_environment_is_built_again(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_definitions(project)
    monkeypatch.setenv("DATAPLAT_TEST_SETTING", "changed")
    assert load_definitions(project) is not first


def test_the_first_build_of_a_process_leaves_the_collector_and_later_ones_do_not(
    cli_env: dict[str, str],
) -> None:
    """What lives after a process's first build is frozen (modules, definitions); not later builds."""
    script = (
        "import gc, sys\n"
        "from pathlib import Path\n"
        "from dataplat_dagster.definitions_builder import build_definitions\n"
        "first = build_definitions(Path(sys.argv[1]))\n"
        "second = build_definitions(Path(sys.argv[1]))\n"
        "tracked = gc.get_objects()  # what the collector still traverses: not the frozen\n"
        "print(any(o is first for o in tracked), any(o is second for o in tracked))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(PROJECT_ROOT)],
        env={**cli_env, "DATAPLAT_ENV": "local"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["False", "True"]


def test_the_exit_skips_the_full_collection_after_a_build(cli_env: dict[str, str]) -> None:
    """Cyclic garbage left at exit is not collected (the memory goes back with the process)."""
    script = (
        "import gc, sys\n"
        "from pathlib import Path\n"
        "from dataplat_dagster.definitions_builder import build_definitions\n"
        "class Cycle:\n"
        "    def __del__(self):\n"
        "        print('collected', flush=True)\n"
        "gc.disable()\n"
        "{build}"
        "cycle = Cycle()\n"
        "cycle.itself = cycle\n"
        "del cycle\n"
    )
    env = {**cli_env, "DATAPLAT_ENV": "local"}

    def output(build: str) -> str:
        code = script.format(build=build)
        command = [sys.executable, "-c", code, str(PROJECT_ROOT)]
        return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout

    assert output("") == "collected\n"  # Python's own exit collection
    assert output("build_definitions(Path(sys.argv[1]))\n") == ""
