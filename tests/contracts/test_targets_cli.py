"""`dataplat targets` on the demo: its daily_revenue contract, deployed and checked.

(test_targets.py writes the demo output into the table that deploy creates.)
"""

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from dataplat_dagster.cli import main
from tests.conftest import PROJECT_ROOT


@pytest.fixture
def sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "contracts.db"
    monkeypatch.setenv("DATAPLAT_TARGET_SQLITE_FILE_URL", f"sqlite:///{path}")
    return path


def _targets(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--project-dir", str(PROJECT_ROOT), "targets", *args])
    return result.exit_code, result.output


def test_list_names_the_targets_and_the_contract_tables(local_env: Path, sqlite_file: Path) -> None:
    code, output = _targets("list", "--json")
    assert code == 0, output
    listed = json.loads(output)
    assert [t["target"] for t in listed["targets"]] == [
        "sqlite_memory",
        "sqlite_file",
        "postgres",
        "mysql",
        "reporting",
    ]
    assert listed["tables"] == [
        {
            "table": "daily_revenue",
            "contract": "dataplat_dagster.transforms.retail_contracts.DailyRevenue",
            "declared_by": ["retail.output.daily_revenue_table"],
        }
    ]


def test_deploy_validate_and_drift_on_a_file(local_env: Path, sqlite_file: Path) -> None:
    code, output = _targets("deploy", "--target", "sqlite_file", "--dry-run")
    assert code == 0, output
    assert output.startswith("sqlite_file: would create table daily_revenue\n")
    assert "op.create_table('daily_revenue'," in output  # what deploy does, as Alembic writes it
    assert not sqlite_file.exists() or "daily_revenue" not in _tables(sqlite_file)
    assert _targets("deploy", "--target", "sqlite_file") == (
        0,
        "sqlite_file: create table daily_revenue\n",
    )
    assert _targets("deploy", "--target", "sqlite_file") == (
        0,
        "sqlite_file: every contract table matches\n",
    )
    with sqlite3.connect(sqlite_file) as db:
        db.execute("alter table daily_revenue add column legacy integer")
    code, output = _targets("validate", "--target", "sqlite_file")
    assert (code, output) == (
        20,
        "drift: sqlite_file: daily_revenue.legacy: column not in the contract "
        "(found integer (64-bit))\n",
    )
    code, output = _targets("validate", "--target", "sqlite_file", "--target", "nowhere")
    assert code == 20
    assert "unknown target nowhere; known: mysql, postgres, reporting" in output


def _tables(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [name for (name,) in db.execute("select name from sqlite_master")]


def test_revision_then_deploy(local_env: Path, sqlite_file: Path, tmp_path: Path) -> None:
    root = tmp_path / "project"
    for name in ("assets", "resources"):
        shutil.copytree(PROJECT_ROOT / name, root / name)
    command = ["--project-dir", str(root), "targets"]
    runner = CliRunner()
    written = runner.invoke(main, [*command, "revision", "--target", "sqlite_file", "-m", "first"])
    assert written.exit_code == 0, written.output
    (revision,) = (root / "contracts" / "revisions" / "versions").glob("*_first.py")
    assert f"wrote contracts/revisions/versions/{revision.name}" in written.output
    deployed = runner.invoke(main, [*command, "deploy", "--target", "sqlite_file"])
    assert deployed.output == f"sqlite_file: apply revision {revision.name[:12]} (first)\n"
    again = runner.invoke(main, [*command, "revision", "--target", "sqlite_file", "-m", "second"])
    assert again.output == "sqlite_file: every contract table matches: no revision written\n"
    assert "daily_revenue" in _tables(sqlite_file)
