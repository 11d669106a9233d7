"""Logs machines can read: one JSON object per line.

Every `dataplat run` writes its log file in this form (`<home>/logs/<dataflow>/...jsonl`), and
`--log-format json` prints the same lines on stderr. A line holds time, level, dataflow,
table, window, run_id, step, event, message and, when there is one, the exception with its
type and traceback text. The fields come from Dagster's own log records: the run's tags give
the window, the step key or the event's asset key the table.
"""

import json
import logging
import sys
import traceback
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.log_manager import LOG_RECORD_METADATA_ATTR
from dagster._utils.error import SerializableErrorInfo

LOGGER = "dataplat_log_file"  # the Dagster logger that writes the run's log file


def log_file_path(home: Path, dataflow: str) -> Path:
    """A new log file for one `dataplat run`: `<home>/logs/<dataflow>/<UTC time>_<id>.jsonl`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = home / "logs" / dataflow
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{stamp}_{uuid.uuid4().hex[:8]}.jsonl"


def entry(record: logging.LogRecord, dataflow: str | None) -> dict[str, Any]:
    """The JSON object of one log record, Dagster's or a plain Python one."""
    meta = getattr(record, LOG_RECORD_METADATA_ATTR, None) or {}
    event = meta.get("dagster_event")
    step = meta.get("step_key")
    return {
        "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "dataflow": dataflow,
        "table": _table(event, step),
        "window": _window(event, meta.get("job_tags") or {}),
        "run_id": meta.get("run_id"),
        "step": step,
        "event": event.event_type.name if event is not None else None,
        "message": meta.get("orig_message") or record.getMessage(),
        "exception": _exception(record, event),
    }


def _table(event: Any, step: str | None) -> str | None:
    """The asset key (`layer/dataflow/table`): the event's own, else the step's (`a__b__c`)."""
    key = getattr(event, "asset_key", None) if event is not None else None
    if key is not None:
        return key.to_user_string()
    if step:
        parts = step.split("__", 2)
        return "/".join(parts) if len(parts) == 3 else step
    return None


def _window(event: Any, tags: dict[str, str]) -> str | None:
    """The event's own partition, else the run's window or range."""
    partition = getattr(event, "partition", None) if event is not None else None
    if partition:
        return partition
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    first = tags.get("dagster/asset_partition_range_start")
    return f"{first}..{tags.get('dagster/asset_partition_range_end')}" if first else None


def _exception(record: logging.LogRecord, event: Any) -> dict[str, str] | None:
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        return {
            "type": type(exc).__name__,
            "message": str(exc),
            "traceback": "".join(traceback.format_exception(*record.exc_info)),
        }
    error = getattr(getattr(event, "event_specific_data", None), "error", None)
    if isinstance(error, SerializableErrorInfo):
        # the platform's message wraps the cause: the type named is the innermost one's
        root = error
        while root.cause is not None:
            root = root.cause
        return {
            "type": root.cls_name or "Error",
            "message": error.message.strip(),
            "traceback": error.to_string(),
        }
    return None


class JsonLinesFormatter(logging.Formatter):
    """Formats a record as one line of JSON (see `entry`)."""

    def __init__(self, dataflow: str | None) -> None:
        super().__init__()
        self.dataflow = dataflow

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(entry(record, self.dataflow), default=str)


class AppendingFileHandler(logging.Handler):
    """Appends each line to the file and closes it: no handle outlives a run's logger."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            with open(self.path, "a", encoding="utf-8") as file:
                file.write(line + "\n")
        except Exception:
            self.handleError(record)


def json_handler(dataflow: str | None, path: str | None = None) -> logging.Handler:
    """JSON lines to the file `path`, or to stderr without one."""
    handler = AppendingFileHandler(path) if path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLinesFormatter(dataflow))
    return handler


@dg.logger(
    config_schema={
        "log_level": dg.Field(str, is_required=False, default_value="INFO"),
        "dataflow": dg.Field(dg.Noneable(str), is_required=False, default_value=None),
        "path": dg.Field(
            dg.Noneable(str),
            is_required=False,
            default_value=None,
            description="the JSON-lines file to append to; stderr when not given",
        ),
    },
    description="The run's log lines as JSON objects, one a line (dataplat's log file).",
)
def json_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    config = init_context.logger_config
    logger = logging.Logger("dataplat_json", logging.getLevelName(config["log_level"]))
    logger.addHandler(json_handler(config["dataflow"], config["path"]))
    return logger
