"""The code location loads in every environment and refuses unknown ones."""

import importlib.util

import dagster as dg
import pytest

from dataplat_dagster.environment import get_environment
from tests.conftest import PROJECT_ROOT


def test_defs_loads_from_definitions_py(local_env) -> None:
    # by path: another test's `dagster` load of a project may hold the name `definitions`
    spec = importlib.util.spec_from_file_location(
        "repo_definitions", PROJECT_ROOT / "definitions.py"
    )
    definitions = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(definitions)

    loaded = definitions.defs()
    dg.Definitions.validate_loadable(loaded)
    assert loaded.resolve_job_def("retail_job") is not None


def test_environment_defaults_to_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATAPLAT_ENV", raising=False)
    assert get_environment() == "local"


def test_unknown_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAPLAT_ENV", "staging")
    with pytest.raises(ValueError, match="DATAPLAT_ENV='staging' is not a known environment"):
        get_environment()


def test_workspace_points_at_definitions_py() -> None:
    text = (PROJECT_ROOT / "workspace.yaml").read_text()
    assert "relative_path: definitions.py" in text and "working_directory: ." in text
