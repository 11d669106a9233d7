"""Run a dataflow's job(s) for a window, a range or every window, and summarise the outcome.

Used by the `dataplat` command (for external schedulers and the README's main command);
inside Dagster, schedules, sensors and backfills launch the same jobs.
"""

import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from dataplat_dagster.config.plan import Plan
from dataplat_dagster.jobs import job_name
from dataplat_dagster.partitions import build_partitions_def

EXIT_OK = 0
EXIT_WARNINGS = 10
EXIT_INVALID = 20
EXIT_RUNTIME = 30
EXIT_TIMEOUT = 40
EXIT_CANCELLED = 50


class InvalidRequest(ValueError):
    """Parameters that name no dataflow, window or range of this project."""


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
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ensure_dagster_home(home: Path, project_root: Path) -> Path:
    """DAGSTER_HOME, or `<home>/dagster` holding the project's dagster.yaml (so the UI shows CLI runs)."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    dagster_home = (home / "dagster").resolve()
    dagster_home.mkdir(parents=True, exist_ok=True)
    template = project_root / "dagster.yaml"
    if template.exists():
        shutil.copyfile(template, dagster_home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dagster_home


def select_windows(
    plan: Plan,
    dataflow: str,
    *,
    partition: str | None,
    start: str | None,
    end: str | None,
    every: bool,
) -> dict[str, list[str] | None]:
    """Job name -> the windows to run (None for a job without partitions)."""
    tables = [t for t in plan.of_dataflow(dataflow) if t.layer != "landing"]
    if not tables:
        known = ", ".join(sorted({t.id.dataflow for t in plan})) or "none"
        raise InvalidRequest(f"no dataflow named {dataflow!r} (dataflows: {known})")
    windows = list(dict.fromkeys(t.partitioning for t in tables if t.partitioning is not None))
    if not windows:
        if partition or start or end:
            raise InvalidRequest(
                f"dataflow {dataflow} is not partitioned; run it without --partition/--from/--to"
            )
        return {job_name(dataflow): None}
    if not (partition or start or end or every):
        raise InvalidRequest(
            f"dataflow {dataflow} is partitioned: give --partition KEY, --from/--to or --all"
        )
    selected: dict[str, list[str] | None] = {}
    for index, partitioning in enumerate(windows):
        partitions_def = build_partitions_def(partitioning)
        keys = list(partitions_def.get_partition_keys())
        for name, value in (("--partition", partition), ("--from", start), ("--to", end)):
            if value and value not in keys:
                raise InvalidRequest(
                    f"{name} {value} is not a window of {dataflow} (windows {keys[0]} .. {keys[-1]}, format {partitions_def.fmt})"
                    if keys
                    else f"{dataflow} has no windows yet"
                )
        if partition:
            chosen = [partition]
        else:
            first = keys.index(start) if start else 0
            last = keys.index(end) if end else len(keys) - 1
            if first > last:
                raise InvalidRequest(f"--from {start} is after --to {end}")
            chosen = keys[first : last + 1]
        selected[job_name(dataflow, index)] = chosen
    return selected


def run_job(
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    job: str,
    keys: list[str] | None,
    summary: RunSummary,
    log_level: str = "INFO",
) -> bool:
    """Run one job in this process for `keys` (one run, a single-run range when several)."""
    tags: dict[str, str] = {}
    if keys and len(keys) == 1:
        tags["dagster/partition"] = keys[0]
    elif keys:
        tags = {
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        }
    started = time.monotonic()
    result = definitions.resolve_job_def(job).execute_in_process(
        instance=instance,
        tags=tags,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )
    summary.seconds += time.monotonic() - started
    summary.run_ids.append(result.run_id)
    summary.partitions += keys or []
    _collect(result, summary)
    return result.success


def _collect(result: dg.ExecuteInProcessResult, summary: RunSummary) -> None:
    seen: set[tuple[str | None, str]] = (
        set()
    )  # a range run reports one event per window, same counts
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            error = event.step_failure_data.error
            summary.errors.append(
                f"{event.step_key}: {error.message.strip() if error else 'failed'}"
            )
        materialization = (
            event.step_materialization_data.materialization
            if event.is_step_materialization
            else None
        )
        if materialization is None:
            continue
        name = "/".join(materialization.asset_key.path)
        if (event.step_key, name) in seen:
            continue
        seen.add((event.step_key, name))
        metadata = {key: value.value for key, value in materialization.metadata.items()}
        entry = summary.metrics.setdefault(name, {})
        for key in ("rows_in", "rows_out", "rows_dropped", "rows_quarantined"):
            if isinstance(metadata.get(key), int):
                entry[key] = entry.get(key, 0) + metadata[key]
        locations = metadata.get("locations")
        if isinstance(locations, list):
            summary.artifacts += [
                str(location) for location in locations if str(location) not in summary.artifacts
            ]
        if metadata.get("rows_quarantined"):
            summary.warnings.append(f"{name}: {metadata['rows_quarantined']} row(s) quarantined")
