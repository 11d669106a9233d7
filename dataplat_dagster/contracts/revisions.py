"""Alembic revisions of a project's contract tables: `<project>/contracts/revisions/`.

`dataplat targets revision` writes what deploy would change on a target as a revision file
(reviewed and committed like code); `deploy` applies the revisions a target lacks, then
whatever the contracts still add. Each target records its revision in its own version
table, so targets may be at different revisions.
"""

import shutil
import uuid
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.migration import MigrationContext, MigrationStep
from alembic.operations import Operations
from alembic.script import Script, ScriptDirectory

REVISIONS = Path("contracts") / "revisions"
VERSION_TABLE = "dataplat_contract_revision"  # not alembic_version: a target may have its own
_TEMPLATE = Path(__file__).with_name("script.py.mako")


def script_directory(project_root: Path, create: bool = False) -> ScriptDirectory | None:
    """The project's revisions, or None when it has none (and `create` is False)."""
    folder = project_root / REVISIONS
    if not (folder / "versions").is_dir():
        if not create:
            return None
        (folder / "versions").mkdir(parents=True)
    if not (folder / "script.py.mako").is_file():
        shutil.copyfile(_TEMPLATE, folder / "script.py.mako")
    config = Config()
    config.set_main_option("script_location", str(folder))
    return ScriptDirectory.from_config(config)


def upgrade(connection: sa.Connection, script: ScriptDirectory) -> list[str]:
    """Apply the revisions the target lacks, oldest first; their ids and messages."""
    applied: list[str] = []

    def steps(current: tuple[str, ...], context: MigrationContext) -> list[MigrationStep]:
        revisions = _to_head(script, current)
        applied.extend(f"{rev.revision} ({rev.doc})" for rev in revisions)
        return [MigrationStep.upgrade_from_script(script.revision_map, rev) for rev in revisions]

    context = MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE, "fn": steps, "script": script}
    )
    with Operations.context(context):  # revision files call alembic.op
        context.run_migrations()
    return applied


def pending(connection: sa.Connection, script: ScriptDirectory) -> list[str]:
    """The revisions `upgrade` would apply, without applying them."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return [f"{rev.revision} ({rev.doc})" for rev in _to_head(script, context.get_current_heads())]


def _to_head(script: ScriptDirectory, current: tuple[str, ...]) -> list[Script]:
    """The revisions after `current` up to head, oldest first (what `alembic upgrade head` runs)."""
    return list(reversed(list(script.iterate_revisions("head", current or "base"))))


def write_revision(script: ScriptDirectory, message: str, upgrade_body: str) -> Path:
    """A new revision file after the current head, holding `upgrade_body` (Alembic operations)."""
    revision = script.generate_revision(
        uuid.uuid4().hex[:12],
        message,
        head="head",
        upgrades=upgrade_body.strip(),
        imports="import sqlmodel  # SQLModel's column types",
    )
    assert revision is not None
    return Path(revision.path)
