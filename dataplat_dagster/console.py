"""What `dataplat run` prints while it runs: the platform's own lines, not Dagster's traces.

By default the console shows the lines our assets log (`context.log`), the `dataplat_dagster`
Python loggers and one line per retried step; a step failure's stack traces stay in the
run's event log (the UI, `dagster debug`) and the summary gives the cause in one line.
`--verbose` keeps Dagster's own console logger, which prints every event with its trace;
`--log-format json` prints JSON lines instead (json_logs.py). Whatever the console shows, the
run's log file gets the JSON lines too.
"""

import logging
import re
import sys
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.log_manager import LOG_RECORD_METADATA_ATTR

from dataplat_dagster import json_logs
from dataplat_dagster.failure_summary import step_line

FORMAT = "%(asctime)s - %(levelname)s - %(message)s"
# Dagster's own non-event lines that the summary already says better
_FRAMEWORK = re.compile(r"^(Dependencies for step .*Not executing\.|Skipping step )")


class _PlatformOnly(logging.Filter):
    """Our lines at the chosen level, and retries (Dagster logs them at DEBUG) as warnings."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return _platform_only(record) and record.levelno >= self.level


def _platform_only(record: logging.LogRecord) -> bool:
    meta = getattr(record, LOG_RECORD_METADATA_ATTR, None)
    if meta is None:
        return True
    event = meta.get("dagster_event")
    step = meta.get("step_key")
    if event is None:
        message = meta.get("orig_message", record.getMessage())
        if _FRAMEWORK.match(message):
            return False
        record.msg, record.args = (f"{step} - {message}" if step else message), ()
        return True
    if event.event_type_value == "STEP_UP_FOR_RETRY" and step:
        line = step_line(step, None, event.event_specific_data.error)
        record.msg, record.args = f"{line} (transient: the step is retried)", ()
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
    return False  # other events: their traces stay in the run's event log


@dg.logger(
    config_schema={"log_level": dg.Field(str, is_required=False, default_value="INFO")},
    description="The platform's own log lines on stderr (dataplat run without --verbose).",
)
def platform_console_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    level = logging.getLevelName(init_context.logger_config["log_level"])
    logger = logging.Logger("dataplat", logging.DEBUG)  # the filter applies the level
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_PlatformOnly(level))
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    return logger


def with_console(
    definitions: dg.Definitions, verbose: bool, log_format: str = "text"
) -> dg.Definitions:
    """`definitions` whose jobs log to the console and to the run's log file.

    The console is the platform's lines (`text`), JSON lines (`json`), Dagster's own logger
    (`verbose`) or the project's own loggers when it declares some.
    """
    if definitions.loggers:
        console = {}  # the project's own choice
    elif log_format == "json":
        console = {"console": json_logs.json_logger}
    elif verbose:
        console = {"console": dg.default_loggers()["console"]}
    else:
        console = {"console": platform_console_logger}
    return dg.Definitions.merge(
        definitions, dg.Definitions(loggers={**console, json_logs.LOGGER: json_logs.json_logger})
    )


def loggers_config(
    level: str, log_format: str, dataflow: str, log_file: Path | None
) -> dict[str, Any]:
    """The run config of the loggers `with_console` adds."""
    console: dict[str, Any] = {"log_level": level}
    if log_format == "json":
        console["dataflow"] = dataflow
    loggers: dict[str, Any] = {"console": {"config": console}}
    if log_file is not None:
        loggers[json_logs.LOGGER] = {
            "config": {"log_level": level, "dataflow": dataflow, "path": str(log_file)}
        }
    return loggers


def setup_python_logging(
    level: str, log_format: str = "text", dataflow: str | None = None, log_file: Path | None = None
) -> None:
    """The `dataplat_dagster` loggers (lines outside steps) to stderr and the run's log file.

    For example a notice that could not be sent; stderr gets text or JSON lines. With JSON,
    Dagster's own lines outside runs and Python warnings become JSON lines too, so that
    stderr holds nothing else.
    """
    if log_format == "json":
        logging.captureWarnings(True)
    names = ["dataplat_dagster"] + (["dagster", "py.warnings"] if log_format == "json" else [])
    for name in names:
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if getattr(h, "dataplat_console", False)]:
            logger.removeHandler(handler)
        for handler in _handlers(log_format, dataflow, log_file):
            handler.dataplat_console = True  # type: ignore[attr-defined]
            logger.addHandler(handler)
    logging.getLogger("dataplat_dagster").setLevel(level)


def _handlers(
    log_format: str, dataflow: str | None, log_file: Path | None
) -> list[logging.Handler]:
    if log_format == "json":
        console = json_logs.json_handler(dataflow)
    else:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter(FORMAT))
    return [console] + ([json_logs.json_handler(dataflow, str(log_file))] if log_file else [])
