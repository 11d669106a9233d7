"""What `dataplat targets list|deploy|validate` do, apart from the command line itself."""

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from dataplat_dagster.config.loader import load_project
from dataplat_dagster.config.plan import build_plan
from dataplat_dagster.contracts.collect import ContractTable, contract_tables
from dataplat_dagster.contracts.deploy import TargetReport, deploy, validate
from dataplat_dagster.contracts.revisions import script_directory, upgrade, write_revision
from dataplat_dagster.contracts.targets import Target, known_targets, pick
from dataplat_dagster.environment import get_environment


@dataclass
class Contracts:
    root: Path
    targets: dict[str, Target]
    tables: list[ContractTable]


def load_contracts(root: Path) -> Contracts:
    """Every target and contract table of the project (declarations checked on the way)."""
    project = load_project(root, get_environment())
    tables = contract_tables(build_plan(project.dataflows))
    return Contracts(root, known_targets(project.profile), tables)


def run_on_targets(
    contracts: Contracts, names: list[str], action: str, dry_run: bool = False
) -> list[TargetReport]:
    """`deploy` or `validate` on each named target; a target that fails says why in `error`."""
    tables = [entry.table for entry in contracts.tables]
    script = script_directory(contracts.root)
    reports = []
    for target in pick(contracts.targets, names):
        engine = target.connect()
        try:
            if action == "deploy":
                reports.append(deploy(target.name, engine, tables, dry_run, script))
            else:
                reports.append(validate(target.name, engine, tables))
        except sa.exc.SQLAlchemyError as exc:
            message = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            reports.append(TargetReport(target.name, error=f"{safe_url(target.url)}: {message}"))
        finally:
            engine.dispose()
    return reports


def revise(contracts: Contracts, name: str, message: str) -> tuple[list[str], Path | None]:
    """Bring the target to the latest revision, then write what it still lacks as a new one.

    Returns the revisions applied on the way and the new file (None: nothing to add).
    """
    (target,) = pick(contracts.targets, [name])
    script = script_directory(contracts.root, create=True)
    assert script is not None
    engine = target.connect()
    try:
        with engine.begin() as connection:
            applied = upgrade(connection, script)
        wanted = deploy(target.name, engine, [entry.table for entry in contracts.tables], True)
    finally:
        engine.dispose()
    if not wanted.upgrade:
        return applied, None
    return applied, write_revision(script, message, wanted.upgrade)


def safe_url(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)
