"""Run a dataflow's job(s) for a window, a range or every window, and summarise the outcome.

Used by the `dataplat` command (for external schedulers and the README's main command);
inside Dagster, schedules, sensors and backfills launch the same jobs.
"""

import difflib
import os
import re
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.events import RunFailureReason
from dagster._core.execution.plan.objects import ErrorSource
from sqlalchemy.exc import SQLAlchemyError

from dataplat_dagster import alerts, failure_summary, run_health
from dataplat_dagster.config.plan import Plan
from dataplat_dagster.jobs import job_specs
from dataplat_dagster.partitions import build_partitions_def
from dataplat_dagster.resources.blocked_windows import LEFT_OUT

EXIT_OK = 0
EXIT_WARNINGS = 10
EXIT_INVALID = 20
EXIT_RUNTIME = 30
EXIT_TIMEOUT = 40
EXIT_CANCELLED = 50


class InvalidRequest(ValueError):
    """Parameters that name no dataflow, window or range of this project."""


class Stopped(Exception):
    """The run in progress was stopped by --timeout, Ctrl-C or SIGTERM and is now ended."""

    def __init__(self, run_id: str, reason: str | None, status: str) -> None:
        super().__init__(f"run {run_id} {status}")
        self.run_id, self.reason, self.status = run_id, reason, status


@dataclass
class RunSummary:
    """The result object printed by `dataplat run --json`."""

    status: str = "success"
    exit_code: int = EXIT_OK
    seconds: float = 0.0
    dataflow: str = ""
    partitions: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=lambda: {"passed": 0, "failed": []})
    steps: dict[str, float] = field(default_factory=dict)  # step -> seconds, over every run
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # table -> window -> why a range run did not build it (an input failed its gate there)
    left_out: dict[str, dict[str, str]] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)  # `run-table`'s tables (`run`: empty, all)
    log_file: str | None = None  # this command's JSON-lines log (json_logs.py)
    globals: dict[str, Any] = field(default_factory=dict)  # the profile's, resolved, masked

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_SECRET_NAME = re.compile(r"pass|secret|token|key|credential", re.IGNORECASE)


def shown_globals(globals_: dict[str, Any]) -> dict[str, Any]:
    """Globals for the result and the log: values of secret-looking names masked.

    A global may be read from the environment (`{env: NAME}`); the result JSON and the log
    file are kept and shared, a password must not be in them.
    """
    return {
        name: "***" if _SECRET_NAME.search(name) and value not in (None, "") else value
        for name, value in globals_.items()
    }


def ensure_dagster_home(home: Path, project_root: Path, env: str = "local") -> Path:
    """DAGSTER_HOME, or `<home>/dagster` holding the environment's instance settings.

    The local profile uses `dagster.yaml` (SQLite under DAGSTER_HOME), the aws profile
    `dagster.aws.yaml` (PostgreSQL), so the UI and `dataplat` share one instance. A
    DAGSTER_HOME set to that same folder (as the README's `export` does) gets the settings
    too; any other DAGSTER_HOME is the user's own and is left as it is.
    """
    dagster_home = (home / "dagster").resolve()
    chosen = os.environ.get("DAGSTER_HOME")
    if chosen and Path(chosen).resolve() != dagster_home:
        return Path(chosen)
    dagster_home.mkdir(parents=True, exist_ok=True)
    template = project_root / ("dagster.yaml" if env == "local" else f"dagster.{env}.yaml")
    if template.exists():
        shutil.copyfile(template, dagster_home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dagster_home


def open_instance(attempts: int = 5) -> dg.DagsterInstance:
    """The Dagster instance of DAGSTER_HOME.

    On a new PostgreSQL database, two processes starting together both create Dagster's schema
    and one of them fails on a table the other just made; opened again, the schema is there.
    """
    for attempt in range(1, attempts + 1):
        try:
            return dg.DagsterInstance.get()
        except SQLAlchemyError:
            if attempt == attempts:
                raise
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def select_windows(
    plan: Plan,
    dataflow: str,
    *,
    partition: str | None,
    start: str | None,
    end: str | None,
    every: bool,
) -> dict[str, list[str] | None]:
    """Job name -> the windows to run (None for a job without partitions), in run order."""
    specs = job_specs(plan, dataflow) if any(t.id.dataflow == dataflow for t in plan) else []
    if not specs or not any(spec.tables for spec in specs):
        known = ", ".join(sorted({t.id.dataflow for t in plan})) or "none"
        raise InvalidRequest(f"no dataflow named {dataflow!r} (dataflows: {known})")
    partitioned = [spec for spec in specs if spec.partitioning is not None]
    if not partitioned and (partition or start or end):
        raise InvalidRequest(
            f"dataflow {dataflow} is not partitioned; run it without --partition/--from/--to"
        )
    if partitioned and not (partition or start or end or every):
        raise InvalidRequest(
            f"dataflow {dataflow} is partitioned: give --partition KEY, --from/--to or --all"
        )
    selected: dict[str, list[str] | None] = {}
    for spec in specs:
        if spec.partitioning is None:
            selected[spec.name] = None
            continue
        keys = list(build_partitions_def(spec.partitioning).get_partition_keys())
        selected[spec.name] = _chosen(
            dataflow, keys, partition, start, end, several=len(partitioned) > 1
        )
    return selected


def select_tables(
    plan: Plan, definitions: dg.Definitions, target: str, *, with_upstream: bool
) -> tuple[str, list[dg.AssetKey]]:
    """The dataflow of `<dataflow>.<layer>.<table>` and the assets that run it.

    The table's companions built by the same step (its quarantine) come along; with
    `with_upstream`, every table of its dataflow it reads from, directly or not, too (another
    dataflow's tables are that dataflow's writer's).

    Raises:
        InvalidRequest: a target that names no table of the project, with the close names.
    """
    parts = target.split(".")
    dataflows = sorted({t.id.dataflow for t in plan})
    if len(parts) != 3:
        raise InvalidRequest(
            f"{target!r} is not <dataflow>.<layer>.<table>, e.g. retail.raw.orders"
        )
    dataflow = parts[0]
    if dataflow not in dataflows:
        close = difflib.get_close_matches(dataflow, dataflows, n=3)
        raise InvalidRequest(
            f"no dataflow named {dataflow!r} for table {target}"
            + (
                f"; close names: {', '.join(close)}"
                if close
                else f" (dataflows: {', '.join(dataflows)})"
            )
        )
    tables = {str(t.id): t for t in plan.of_dataflow(dataflow)}
    if target not in tables:
        close = difflib.get_close_matches(target, list(tables), n=3, cutoff=0.6)
        raise InvalidRequest(
            f"dataflow {dataflow} has no table {'.'.join(parts[1:])}"
            + (f"; close names: {', '.join(close)}" if close else f" (tables: {', '.join(tables)})")
        )
    selection = dg.AssetSelection.assets(dg.AssetKey(tables[target].id.key_path))
    if with_upstream:
        selection = selection.upstream()
    graph = definitions.resolve_asset_graph()
    keys = selection.required_multi_asset_neighbors().resolve(graph)
    ours = (key for key in keys if key.path[1] == dataflow and graph.get(key).is_executable)
    return dataflow, sorted(ours, key=str)


def windows_per_run(
    plan: Plan,
    dataflow: str,
    *,
    single_run: bool = False,
    windows_per_run: int | None = None,
    run_per_window: bool = False,
) -> int | None:
    """How many windows one run takes (None: the whole range), from the options and the dataflow.

    Raises:
        InvalidRequest: options that contradict each other.
    """
    chosen = [
        name
        for name, on in (
            ("--single-run", single_run),
            ("--windows-per-run", windows_per_run),
            ("--run-per-window", run_per_window),
        )
        if on
    ]
    if len(chosen) > 1:
        raise InvalidRequest(f"give at most one of {', '.join(chosen)}")
    if single_run:
        return None
    if run_per_window:
        return 1
    if windows_per_run:
        return windows_per_run
    declared = next(
        (t.dataflow.spec.backfill.max_windows_per_run for t in plan if t.id.dataflow == dataflow),
        None,
    )
    return declared


def _chosen(
    dataflow: str,
    keys: list[str],
    partition: str | None,
    start: str | None,
    end: str | None,
    *,
    several: bool,
) -> list[str]:
    """The requested windows among `keys`; with several partitionings, a range is clipped to each."""
    if not keys:
        raise InvalidRequest(f"{dataflow} has no windows yet")
    for name, value in (("--partition", partition), ("--from", start), ("--to", end)):
        if value and value not in keys and not (several and name != "--partition"):
            raise InvalidRequest(
                f"{name} {value} is not a window of {dataflow} (windows {keys[0]} .. {keys[-1]})"
            )
    if partition:
        return [partition] if partition in keys else []
    first = start or keys[0]
    last = end or keys[-1]
    if first > last:
        raise InvalidRequest(f"--from {start} is after --to {end}")
    return [key for key in keys if first <= key <= last]


def run_job(
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    job: str,
    keys: list[str] | None,
    summary: RunSummary,
    log_level: str = "INFO",
    *,
    windows_per_run: int | None = None,
    ui_base_url: str | None = None,
    pools: list[str] | None = None,
    stopper: run_health.Stopper | None = None,
    selection: list[dg.AssetKey] | None = None,
    loggers: dict[str, Any] | None = None,
) -> bool:
    """Run one job in this process: the range in runs of at most `windows_per_run` windows.

    `windows_per_run` None runs the whole range in one run. Either way each window stands
    alone: a window that fails an ERROR check is left out of the tables below it, and the
    others are built (resources/blocked_windows.py). `pools` are watched while a run waits
    for a slot; `stopper` (if given) turns --timeout, Ctrl-C and SIGTERM into `Stopped`.
    `selection` runs only those assets of the job (`run-table`); `loggers` is the run config
    of the job's loggers.
    """
    if not keys or not windows_per_run:
        batches: list[list[str] | None] = [keys]
    else:
        size = windows_per_run
        batches = [keys[start : start + size] for start in range(0, len(keys), size)]
    ok = True
    chosen = selection
    for batch in batches:
        # unpartitioned tables (dimensions) are built by the first run only
        ok = (
            _execute(
                definitions,
                instance,
                job,
                batch,
                summary,
                log_level,
                chosen,
                ui_base_url,
                pools or [],
                stopper,
                loggers,
            )
            and ok
        )
        windowed = _partitioned_keys(definitions, job)
        chosen = [key for key in windowed if selection is None or key in selection]
        if not chosen:
            break  # only unpartitioned tables were asked for: the first run built them
    return ok


def _partitioned_keys(definitions: dg.Definitions, job: str) -> list[dg.AssetKey]:
    graph = definitions.resolve_job_def(job).asset_layer.asset_graph
    return [
        key
        for key in graph.get_all_asset_keys()
        if graph.get(key).is_executable and graph.get(key).partitions_def
    ]


def _execute(
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    job: str,
    keys: list[str] | None,
    summary: RunSummary,
    log_level: str,
    selection: list[dg.AssetKey] | None = None,
    ui_base_url: str | None = None,
    pools: list[str] | None = None,
    stopper: run_health.Stopper | None = None,
    loggers: dict[str, Any] | None = None,
) -> bool:
    tags: dict[str, str] = run_health.owner_tags()
    if keys and len(keys) == 1:
        tags["dagster/partition"] = keys[0]
    elif keys:
        tags["dagster/asset_partition_range_start"] = keys[0]
        tags["dagster/asset_partition_range_end"] = keys[-1]
    started = time.monotonic()
    run_id = str(uuid.uuid4())  # known before the run starts, for the watch
    watch = run_health.RunWatch(instance, run_id, pools or [], stopper)
    watch.start()
    try:
        result = definitions.resolve_job_def(job).execute_in_process(
            instance=instance,
            tags=tags,
            raise_on_error=False,
            asset_selection=selection,
            run_config={"loggers": loggers or {"console": {"config": {"log_level": log_level}}}},
            run_id=run_id,
        )
    except KeyboardInterrupt:
        # outside the part of the execution where Dagster captures signals
        _end_stopped(instance, run_id, stopper)
    finally:
        watch.done.set()
        watch.join(timeout=10)  # a hung database must not hold the summary back
    summary.seconds += time.monotonic() - started
    if stopper is not None and (stopper.requested or _interrupted(result)):
        stopper.reason = stopper.reason or "interrupt"
        _end_stopped(instance, run_id, stopper)
    summary.run_ids.append(result.run_id)
    summary.partitions += keys or []
    _collect(result, summary, keys)
    if not result.success:
        _report(definitions, instance, result, ui_base_url)
    return result.success


def _interrupted(result: dg.ExecuteInProcessResult) -> bool:
    """Whether a signal ended the run (Dagster raised it inside a step, so it left no flag)."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            if event.step_failure_data.error_source == ErrorSource.INTERRUPT:
                return True
        if event.event_type == dg.DagsterEventType.RUN_FAILURE:
            data = event.event_specific_data
            if getattr(data, "failure_reason", None) == RunFailureReason.UNEXPECTED_TERMINATION:
                return True
    return False


def _end_stopped(
    instance: dg.DagsterInstance, run_id: str, stopper: run_health.Stopper | None
) -> None:
    """End a stopped run: CANCELED unless Dagster ended it, its pool slots freed."""
    run = instance.get_run_by_id(run_id)
    reason = stopper.reason if stopper else "interrupt"
    if run is None:
        raise Stopped(run_id, reason, "not started")
    if not run.is_finished:
        instance.report_run_canceled(
            run, message=stopper.describe() if stopper else "stopped by Ctrl-C or SIGTERM"
        )
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    ended = instance.get_run_by_id(run_id).status
    said = {dg.DagsterRunStatus.FAILURE: "failed", dg.DagsterRunStatus.SUCCESS: "succeeded"}
    raise Stopped(run_id, reason, said.get(ended, "canceled"))


def _report(
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    result: dg.ExecuteInProcessResult,
    ui_base_url: str | None,
) -> None:
    """Tell people about a failed run, unless the daemon's run-failure sensor will."""
    if alerts.daemon_is_watching(instance):
        return
    run = instance.get_run_by_id(result.run_id)
    if run is None:
        return
    failures = alerts.step_failures(result.all_events)
    with dg.build_resources(dict(definitions.resources)) as resources:
        alerts.report_run_failure(
            notifier=resources.notifier,
            metrics=resources.metrics,
            run=run,
            failures=failures,
            run_error=None,
            ui_base_url=ui_base_url,
        )


def _collect(
    result: dg.ExecuteInProcessResult, summary: RunSummary, keys: list[str] | None
) -> None:
    window = (keys[0] if len(keys) == 1 else f"{keys[0]}..{keys[-1]}") if keys else None
    seen: set[tuple[str | None, str]] = set()  # a range run reports one event per window
    retries: dict[str, int] = {}  # step -> STEP_UP_FOR_RETRY events: shown with its failure
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS" and event.step_key:
            seconds = event.event_specific_data.duration_ms / 1000
            summary.steps[event.step_key] = round(
                summary.steps.get(event.step_key, 0.0) + seconds, 3
            )
        if event.event_type_value == "STEP_UP_FOR_RETRY" and event.step_key:
            retries[event.step_key] = retries.get(event.step_key, 0) + 1
        if event.is_step_failure and event.step_failure_data is not None:
            line = failure_summary.step_line(
                event.step_key or "", window, event.step_failure_data.error
            )
            tries = retries.get(event.step_key or "", 0)
            summary.errors.append(line + (f" (after {tries + 1} attempts)" if tries else ""))
        if not event.is_step_materialization:
            continue
        materialization = event.step_materialization_data.materialization
        name = "/".join(materialization.asset_key.path)
        left_out = materialization.metadata.get(LEFT_OUT)
        if left_out is not None and materialization.partition is not None:
            summary.left_out.setdefault(name, {})[materialization.partition] = str(left_out.value)
        if (event.step_key, name) in seen:
            continue
        seen.add((event.step_key, name))
        metadata = {key: value.value for key, value in materialization.metadata.items()}
        entry = summary.metrics.setdefault(name, {})
        for key in ("rows_in", "rows_out", "rows_dropped", "rows_quarantined"):
            if isinstance(metadata.get(key), int):
                entry[key] = entry.get(key, 0) + metadata[key]
        if isinstance(metadata.get("checks_seconds"), float):
            entry["checks_seconds"] = round(
                entry.get("checks_seconds", 0.0) + metadata["checks_seconds"], 4
            )
        locations = metadata.get("locations")
        if isinstance(locations, list):
            summary.artifacts += [
                str(loc) for loc in locations if str(loc) not in summary.artifacts
            ]
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed:
            summary.checks["passed"] += 1
            continue
        summary.checks["failed"].append(
            {
                "asset": "/".join(evaluation.asset_key.path),
                "check": evaluation.check_name,
                "severity": evaluation.severity.value,
                "window": evaluation.partition,
            }
        )


def finish(summary: RunSummary, ok: bool) -> None:
    """Derive the warnings, the status and the exit code once every run is collected."""
    for line in failure_summary.SUMMARY_WARNINGS.drain():  # e.g. a notice that was not sent
        if line not in summary.warnings:
            summary.warnings.append(line)
    for name, entry in summary.metrics.items():
        if entry.get("rows_quarantined"):
            summary.warnings.append(f"{name}: {entry['rows_quarantined']} row(s) quarantined")
    for failed in summary.checks["failed"]:
        line = f"check {failed['check']} on {failed['asset']} failed ({failed['severity']})" + (
            f" for {failed['window']}" if failed["window"] else ""
        )
        target = summary.errors if failed["severity"] == "ERROR" else summary.warnings
        if line not in target:
            target.append(line)
    for name, windows in summary.left_out.items():
        summary.errors.append(
            f"{name}: {len(windows)} window(s) not built because an input failed its quality "
            f"gate there: {', '.join(sorted(windows))}"
        )
    if not ok or summary.errors:  # a range run goes on past a failed window; it still failed
        summary.status, summary.exit_code = "failed", EXIT_RUNTIME
    elif summary.warnings:
        summary.status, summary.exit_code = "success_with_warnings", EXIT_WARNINGS
    else:
        summary.status, summary.exit_code = "success", EXIT_OK
