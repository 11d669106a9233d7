"""The code location's entry point builds its definitions once per process while nothing changes."""

import shutil
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


def test_a_second_load_reuses_the_first(project: Path) -> None:
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
