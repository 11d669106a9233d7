"""The JSON objects of log records that no run produces: plain Python lines, range runs."""

import json
import logging
import sys

from dagster._core.log_manager import LOG_RECORD_METADATA_ATTR

from dataplat_dagster import json_logs, runner


def _record(message: str, exc_info: object = None, **meta: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "dataplat_dagster.x", logging.ERROR, __file__, 1, message, (), exc_info
    )  # type: ignore[arg-type]
    if meta:
        setattr(record, LOG_RECORD_METADATA_ATTR, meta)
    return record


def test_a_python_exception_is_logged_with_its_type_and_traceback() -> None:
    try:
        raise PermissionError("catalog.db: read-only file system")
    except PermissionError:
        record = _record("notice not sent", sys.exc_info())
    line = json.loads(json_logs.JsonLinesFormatter("retail").format(record))
    assert (line["level"], line["dataflow"], line["message"]) == (
        "ERROR",
        "retail",
        "notice not sent",
    )
    assert line["exception"]["type"] == "PermissionError"
    assert "catalog.db: read-only file system" in line["exception"]["message"]
    assert "test_a_python_exception_is_logged" in line["exception"]["traceback"]
    assert line["run_id"] is None and line["table"] is None


def test_a_range_runs_line_names_its_window_range_and_its_steps_table() -> None:
    tags = {"dagster/asset_partition_range_start": "2024-01-01",
            "dagster/asset_partition_range_end": "2024-01-07"}  # fmt: skip
    record = _record("read", run_id="r1", step_key="staging__retail__orders", job_tags=tags,
                     orig_message="retail.staging.orders: wrote 7 windows")  # fmt: skip
    line = json_logs.entry(record, "retail")
    assert line["window"] == "2024-01-01..2024-01-07"
    assert line["table"] == "staging/retail/orders" and line["step"] == "staging__retail__orders"
    assert line["message"] == "retail.staging.orders: wrote 7 windows" and line["exception"] is None


def test_the_result_masks_globals_of_secret_names() -> None:
    shown = runner.shown_globals(
        {"db_password": "hunter2", "api_token": "t0k", "bucket": "lake", "empty_key": ""}
    )
    assert shown == {"db_password": "***", "api_token": "***", "bucket": "lake", "empty_key": ""}
