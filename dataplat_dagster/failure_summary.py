"""One line per failure, cause first: what failed (table, window, location) and why.

A step failure reaches `dataplat run` as Dagster's SerializableErrorInfo, often wrapped:
"Exceeded max_retries of 2" around the step's error around the real cause. The line built
here names the table and window, the platform's own message (which names the location) and
the last exception of the chain, so "No space left on device" is not buried under a retry
wrapper. `explain` turns the failures the CLI expects (an unreachable Dagster database, a
corrupt SQLite file) into one line and an exit code instead of a traceback.
"""

import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import yaml
from dagster._utils.error import SerializableErrorInfo
from sqlalchemy.exc import SQLAlchemyError

from dataplat_dagster.errors import chain

# Dagster's wrappers around the step's own error: never the headline of a summary line
_WRAPPERS = re.compile(
    r"^(Exceeded max_retries of \d+|Error occurred while executing|"
    r"RetryRequested|Retries requested)"
)
_WRAPPER_CLASSES = re.compile(
    r"^(RetryRequested|DagsterExecution\w*Error$|DagsterUserCodeExecutionError$)"
)


def errors_of(error: SerializableErrorInfo) -> Iterator[SerializableErrorInfo]:
    """`error`, then its cause (or, failing that, its context), outermost first."""
    current: SerializableErrorInfo | None = error
    while current is not None:
        yield current
        current = current.cause or current.context


def root_cause(error: SerializableErrorInfo) -> SerializableErrorInfo:
    """The last exception of the chain: what actually went wrong."""
    *_, last = errors_of(error)
    return last


def _first_line(error: SerializableErrorInfo, *, keep_class: bool = False) -> str:
    """The error's first line; `keep_class` keeps "sqlite3.OperationalError: " in front."""
    lines = [line.strip() for line in (error.message or "").strip().splitlines() if line.strip()]
    text = lines[0] if lines else error.cls_name or "failed"
    if keep_class or not error.cls_name:
        return text
    return re.sub(rf"^([\w.]+\.)?{re.escape(error.cls_name)}: ", "", text)


def table_label(step_key: str) -> str:
    """`raw__retail__orders` -> `raw/retail/orders` (the asset key, as the summary shows it)."""
    return step_key.replace("__", "/", 2)


def step_line(step_key: str, window: str | None, error: SerializableErrorInfo | None) -> str:
    """`<table> [<window>]: <the platform's message>: <root cause>` on one line."""
    where = f"{table_label(step_key)}{f' [{window}]' if window else ''}"
    if error is None:
        return f"{where}: failed"
    links = list(errors_of(error))
    own = [
        e
        for e in links
        if not _WRAPPER_CLASSES.match(e.cls_name or "") and not _WRAPPERS.match(e.message)
    ]
    headline = _untabled(_first_line(own[0]) if own else _first_line(links[-1]))
    cause = _untabled(_first_line(links[-1]))
    if cause not in headline and headline not in cause:
        headline = f"{headline}: {_first_line(links[-1], keep_class=True)}"
    return f"{where}: {headline}"


def _untabled(text: str) -> str:
    """Without the table's dotted name that the platform's messages start with (said once)."""
    return re.sub(r"^[\w-]+\.[\w-]+\.[\w-]+: ", "", text)


@dataclass(frozen=True)
class Explained:
    """An expected failure outside a run, as the one line the CLI prints and its exit code."""

    line: str
    exit_code: int


def explain(error: BaseException, exit_runtime: int) -> Explained | None:
    """The one-line explanation of an expected failure, or None for a bug (keep the traceback)."""
    database_errors = [e for e in chain(error) if _is_database_error(e)]
    if database_errors:
        target = dagster_storage_target()
        if target:
            detail = _first_text(database_errors[-1])
            return Explained(
                f"the Dagster instance database {target} cannot be reached or used: {detail}. "
                "Check that PostgreSQL is up and DAGSTER_PG_HOST/PORT/DB/USER "
                f"(or {_instance_file()}) point at it",
                exit_runtime,
            )
    return None


def _is_database_error(error: BaseException) -> bool:
    # dagster-postgres gives up with its own DagsterPostgresException around SQLAlchemy's
    return isinstance(error, SQLAlchemyError) or type(error).__name__ == "DagsterPostgresException"


def _first_text(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _instance_file() -> Path | None:
    home = os.environ.get("DAGSTER_HOME")
    return Path(home) / "dagster.yaml" if home else None


def dagster_storage_target() -> str | None:
    """`host:port/database` of the instance's PostgreSQL storage (from DAGSTER_HOME), if any."""
    path = _instance_file()
    if path is None or not path.exists():
        return None
    settings = yaml.safe_load(path.read_text()) or {}
    storage = (settings.get("storage") or {}).get("postgres") or settings.get("run_storage") or {}
    database = storage.get("postgres_db") or (storage.get("config") or {}).get("postgres_db")
    if not isinstance(database, dict):
        url = storage.get("postgres_url")
        return str(url) if url else None

    def value(name: str, default: str = "?") -> str:
        item = database.get(name, default)
        if isinstance(item, dict) and "env" in item:
            return os.environ.get(item["env"], f"${item['env']} (not set)")
        return str(item)

    return f"postgresql://{value('hostname')}:{value('port', '5432')}/{value('db_name')}"


class _Warnings:
    """The platform's warnings of this process that the CLI's summary repeats.

    A notice that could not be sent is logged and the step that sent it goes on; `dataplat
    run` runs steps in its own process, so a list here reaches its summary (`runner.finish`).
    """

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        if line not in self.lines:
            self.lines.append(line)

    def drain(self) -> list[str]:
        lines, self.lines = self.lines, []
        return lines


SUMMARY_WARNINGS = _Warnings()


def warn_in_summary(logger: logging.Logger, message: str) -> None:
    """Log a warning (to the run's log inside a step) that the CLI's summary repeats."""
    SUMMARY_WARNINGS.add(message)
    try:
        context = dg.OpExecutionContext.get()
    except dg.DagsterInvariantViolationError:
        logger.warning(message)  # outside a step: no run log to add it to
        return
    context.log.warning(message)


def sqlite_file_problem(path: str, what: str, error: BaseException) -> dg.Failure | None:
    """A SQLite file of the platform that retrying cannot fix, as a failure naming the file.

    A corrupt file ("file is not a database", "malformed") and a full disk stay as they are
    until someone acts; a locked file is left to the caller (it waits and retries).
    """
    text = " ".join(str(getattr(error, "orig", None) or error).split())
    if "not a database" in text or "malformed" in text:
        action = (
            f"move it away (a new empty {what} is made on the next run) or restore it from a backup"
        )
    elif "disk is full" in text or "No space left" in text:
        action = "free space on its disk"
    elif "readonly database" in text or "unable to open" in text:
        action = "check that the folder exists and is writable"
    else:
        return None
    return dg.Failure(
        description=f"the {what} {path} cannot be used: {text}; {action}", allow_retries=False
    )
