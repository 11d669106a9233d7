"""Cause first: which errors are retried, and the one summary line of a failed step.

The step failures are real: a small Dagster job runs in process with a RetryPolicy, its step
raising what a full disk or a concurrent writer raises, and the line is built from the
STEP_FAILURE event that Dagster records.
"""

import errno
import sqlite3

import dagster as dg
import pytest

from dataplat_dagster.errors import is_transient
from dataplat_dagster.failure_summary import SUMMARY_WARNINGS, root_cause, step_line
from dataplat_dagster.resources.aws import AwsResource
from dataplat_dagster.resources.metrics import LocalMetrics, Metric
from dataplat_dagster.resources.notifier import Notice, SmtpNotifier
from tests.conftest import free_port


def wrapped(inner: BaseException) -> OSError:
    """`inner` behind a generic wrapper, as pyarrow's or the storage's write errors are."""
    try:
        try:
            raise inner
        except OSError as exc:
            raise OSError(f"writing file:///w/raw/shop/orders failed: {exc}") from exc
    except OSError as outer:
        return outer


@pytest.mark.parametrize(
    "number", [errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS]
)
def test_permanent_os_errors_are_not_retried_even_when_wrapped(number: int) -> None:
    error = OSError(number, "os says no")
    assert not is_transient(error)
    assert not is_transient(wrapped(error))


def test_pyarrow_style_errno_in_text_and_sqlite_full_are_permanent() -> None:
    assert not is_transient(
        OSError("Error writing bytes. Detail: [errno 28] No space left on device")
    )
    assert not is_transient(sqlite3.OperationalError("database or disk is full"))


def test_passing_failures_stay_transient() -> None:
    assert is_transient(ConnectionResetError(errno.ECONNRESET, "reset"))
    assert is_transient(TimeoutError("slow"))
    assert is_transient(wrapped(FileNotFoundError(errno.ENOENT, "gone", "/w/part-1.parquet")))
    assert not is_transient(ValueError("bad input"))


def failure_events(error: BaseException, retries: int) -> list[dg.DagsterEvent]:
    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=retries))
    def orders() -> None:
        raise error

    result = dg.materialize([orders], raise_on_error=False)
    return [e for e in result.all_events if e.is_step_failure]


def test_summary_line_names_the_cause_not_the_retry_wrapper() -> None:
    (event,) = failure_events(wrapped(OSError(errno.ENOSPC, "No space left on device")), 1)
    error = event.step_failure_data.error
    assert error.message.startswith("Exceeded max_retries of 1")  # what Dagster says
    assert root_cause(error).message.strip().endswith("No space left on device")
    line = step_line("raw__shop__orders", "2024-01-03", error)
    assert line.startswith("raw/shop/orders [2024-01-03]: writing file:///w/raw/shop/orders failed")
    assert line.endswith("[Errno 28] No space left on device")
    assert "max_retries" not in line and "\n" not in line


def test_summary_line_of_a_concurrent_writer_names_the_path() -> None:
    gone = FileNotFoundError(
        errno.ENOENT, "No such file or directory", "/w/dt=2024-01-03/p.parquet"
    )
    (event,) = failure_events(gone, 0)
    line = step_line("raw__shop__orders", None, event.step_failure_data.error)
    assert line.startswith("raw/shop/orders: ")
    assert "No such file or directory: '/w/dt=2024-01-03/p.parquet'" in line


def test_corrupt_metrics_file_fails_once_naming_it(tmp_path) -> None:
    path = tmp_path / "metrics.db"
    path.write_bytes(b"\x00not sqlite" * 1000)
    with pytest.raises(dg.Failure) as failed:
        LocalMetrics(path=str(path)).put([Metric("rows_in", 1.0)])
    assert f"the metrics database {path} cannot be used: file is not a database" in str(
        failed.value
    )
    assert "move it away" in str(failed.value) and not failed.value.allow_retries


def test_smtp_port_closed_is_a_warning_naming_the_server() -> None:
    port = free_port()  # nobody listens there
    notifier = SmtpNotifier(
        aws=AwsResource(),
        host="127.0.0.1",
        port=port,
        starttls=False,
        timeout=5,
        sender="dataplat@example.com",
        recipients=["ops@example.com"],
    )
    SUMMARY_WARNINGS.drain()
    message = notifier.send(Notice("output", "ready", "body"))
    assert message["Subject"] == "[dataplat] ready"
    (line,) = SUMMARY_WARNINGS.drain()
    assert f"output notice 'ready' was not sent through the SMTP server 127.0.0.1:{port}" in line
    assert "Connection refused" in line
