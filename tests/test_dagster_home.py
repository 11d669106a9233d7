"""Which Dagster instance `dataplat` uses: `runner.ensure_dagster_home`.

Unset, DAGSTER_HOME becomes `<home>/dagster` with the profile's dagster.yaml; set to that
same folder (the README's `export DAGSTER_HOME=$PWD/.dataplat/dagster`, before any
`dataplat` command made it) the folder and its settings are made too; set anywhere else it
is the user's own instance and nothing is written there. In process, no Dagster run.
"""

from pathlib import Path

import pytest

from dataplat_dagster.runner import ensure_dagster_home
from tests.conftest import PROJECT_ROOT


@pytest.fixture(autouse=True)
def no_dagster_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


def test_unset_becomes_the_project_instance(tmp_path: Path) -> None:
    home = ensure_dagster_home(tmp_path / ".dataplat", PROJECT_ROOT)
    assert home == (tmp_path / ".dataplat" / "dagster").resolve()
    assert (home / "dagster.yaml").read_text() == (PROJECT_ROOT / "dagster.yaml").read_text()


def test_exported_to_the_project_folder_gets_its_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / ".dataplat" / "dagster"))
    home = ensure_dagster_home(tmp_path / ".dataplat", PROJECT_ROOT)
    assert (home / "dagster.yaml").read_text() == (PROJECT_ROOT / "dagster.yaml").read_text()


def test_another_instance_is_left_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own = tmp_path / "own"
    own.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(own))
    assert ensure_dagster_home(tmp_path / ".dataplat", PROJECT_ROOT) == own
    assert list(own.iterdir()) == []
