"""The EMR job's entry point: run `dataplat run` on the driver and report the result to Dagster.

spark-submit runs this file as a script with the arguments `--project DIR run <dataflow> ...`:
DIR is the project archive unpacked in the driver's working directory, the rest is handed to
`dataplat`. The Python environment (the application's image or the archive given with
`python_archive_uri`) provides dataplat_dagster. Runs are recorded in a Dagster instance on the
driver; the submitting run gets the result object through Dagster Pipes (the driver's stdout,
read from CloudWatch). Kept light at import: the submitting side reads this file to upload it.
"""

import contextlib
import io
import json
import os
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

SUCCESS_CODES = (0, 10)  # success, success with warnings
SUMMARY_KEY = "dataplat_summary"


def run_dataplat(project_dir: str, args: Sequence[str]) -> tuple[int, dict[str, Any] | None]:
    """`dataplat --project-dir <project_dir> <args>` in this process: exit code and result object."""
    from dataplat_dagster.cli import main as dataplat

    _start_cluster_session()
    output = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(output):
        try:
            dataplat.main(args=["--project-dir", project_dir, *args], standalone_mode=False)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    printed = output.getvalue()
    sys.stdout.write(printed)  # the driver's log keeps what dataplat printed
    return code, _last_json_object(printed)


def _start_cluster_session() -> None:
    """The SparkSession as spark-submit configured it (EMR's master, executors, S3 access).

    Made before `dataplat run`, so the Spark engine's `getOrCreate` gets this session and the
    profile's `spark.master` (`local[*]` by default) cannot pull the work onto the driver.
    """
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # not started by spark-submit
        return
    from pyspark.sql import SparkSession

    SparkSession.builder.appName("dataplat").getOrCreate()


def _last_json_object(text: str) -> dict[str, Any] | None:
    start = text.rfind("\n{") + 1 if "\n{" in text else (0 if text.startswith("{") else -1)
    if start < 0:
        return None
    try:
        value = json.loads(text[start:])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def report(pipes: Any, code: int, summary: dict[str, Any] | None) -> None:
    """Send the result object to the submitting Dagster run (through Pipes)."""
    result = summary or {"status": "failed", "errors": ["dataplat printed no result object"]}
    pipes.report_custom_message({SUMMARY_KEY: {**result, "exit_code": code}})
    pipes.log.info(f"dataplat run on EMR: {result.get('status')} (exit code {code})")


def main(
    argv: Sequence[str],
    environ: Mapping[str, str],
    run: Callable[[str, list[str]], tuple[int, dict[str, Any] | None]] = run_dataplat,
) -> int:
    """Run and report; the process's exit code tells EMR whether the job failed.

    Args:
        argv: `--project DIR` then the `dataplat` arguments.
        environ: the driver's environment (the Pipes variables among it).
        run: what runs `dataplat` (tests give their own).
    """
    from dagster_pipes import (
        PipesContext,
        PipesDefaultContextLoader,
        PipesDefaultMessageWriter,
        PipesMappingParamsLoader,
    )

    if len(argv) < 3 or argv[0] != "--project":
        sys.stderr.write("usage: dataplat_emr_entry.py --project DIR run <dataflow> [options]\n")
        return 2
    project_dir, args = argv[1], list(argv[2:])
    # the driver's own instance: the submitting Dagster run is where operators look
    os.environ.setdefault("DAGSTER_HOME", tempfile.mkdtemp(prefix="dagster-"))
    loader = PipesMappingParamsLoader(environ)
    if not loader.is_dagster_pipes_process():
        return run(project_dir, args)[0]
    # one context per call (not open_dagster_pipes' process-wide one): a driver runs once
    with PipesContext(loader, PipesDefaultContextLoader(), PipesDefaultMessageWriter()) as pipes:
        code, summary = run(project_dir, args)
        report(pipes, code, summary)
    # the result went back through Pipes, where the submitting run judges it: the job itself
    # succeeded unless dataplat could not even start
    return 0 if summary is not None else code or 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
