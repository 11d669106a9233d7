"""Schedules from each dataflow's declared cron: the eligible windows not built yet.

A tick considers the latest `lookback` eligible windows. A window already built is skipped
when its source has not changed since (the count check of the former time-window pipeline):
for a file per window, the number of rows in the files; for one file covering many windows,
the files' versions. Every skip is visible as the tick's skip reason.
"""

from datetime import datetime

import dagster as dg

from dataplat_dagster.config.plan import Plan, TablePlan
from dataplat_dagster.engines.landing import source_rows as file_rows
from dataplat_dagster.jobs import JobSpec, job_specs, run_tags
from dataplat_dagster.landing_files import files_by_window
from dataplat_dagster.partitions import build_partitions_def, eligible_at
from dataplat_dagster.resources.file_store import FileStore
from dataplat_dagster.resources.io_managers import ParquetIOManager


def eligible_windows(job: JobSpec, now: datetime, lookback: int) -> list[str]:
    """The latest `lookback` windows that ended at least `lag` before `now`."""
    assert job.partitioning is not None
    partitions_def = build_partitions_def(job.partitioning)
    keys = list(partitions_def.get_partition_keys(current_time=now))
    eligible = [
        k
        for k in keys[-(lookback + 8) :]
        if eligible_at(partitions_def, k, job.partitioning.lag) <= now
    ]
    return eligible[-lookback:]


def source_rows(file_store: FileStore, landing: TablePlan, window: str) -> tuple[int, list[str]]:
    """Rows in the window's landing files (as raw counts them) and their versions."""
    files = files_by_window(file_store, landing, [window]).get(window, [])
    rows = 0
    for info in files:
        with file_store.open_input(info.path) as stream:
            rows += file_rows(landing.spec, stream)
    return rows, sorted(f"{f.path}@{f.version}" for f in files)


def decide(
    job: JobSpec, plan: Plan, window: str, file_store: FileStore, io_manager: ParquetIOManager
) -> tuple[bool, str]:
    """(request?, why) for one window: built from an unchanged source means skip."""
    storage = io_manager.storage()
    reasons = []
    for raw in (
        t for t in job.tables if t.layer == "raw" and t.partitioned
    ):  # dimensions have no window
        landing = plan[raw.inputs[0]]
        manifest = storage.manifest(raw.id.key_path, window)
        if manifest is None or manifest.failed_checks:
            return (
                True,
                f"{window}: {raw.id} not built yet"
                if manifest is None
                else f"{window}: {raw.id} failed its gate",
            )
        built = manifest.properties
        if landing.spec.has_date_in_path:
            rows, _ = source_rows(file_store, landing, window)
            if rows != built.get("source_rows"):
                return (
                    True,
                    f"{window}: {landing.id} has {rows} rows, {raw.id} was built from {built.get('source_rows')}",
                )
            reasons.append(f"{raw.id} built from the same {rows} source rows")
        else:
            listing = file_store.list_files(landing.path_pattern.static_prefix)
            current = sorted(
                f"{f.path}@{f.version}" for f in listing if landing.path_pattern.match(f.path)
            )
            if current != built.get("source_files"):
                return True, f"{window}: {landing.id} files changed since {raw.id} was built"
            reasons.append(f"{raw.id} built from the same files")
    return False, f"{window}: " + "; ".join(reasons or ["already built"])


def build_schedules(plan: Plan) -> list[dg.ScheduleDefinition]:
    schedules = []
    for dataflow in sorted({t.id.dataflow for t in plan}):
        spec = plan.of_dataflow(dataflow)[0].dataflow.spec.schedule
        if spec is None:
            continue
        schedules += [
            _schedule(job, plan, spec)
            for job in job_specs(plan, dataflow)
            if job.partitioning is not None
        ]
    return schedules


def _schedule(job: JobSpec, plan: Plan, spec) -> dg.ScheduleDefinition:
    timezone = spec.timezone or job.partitioning.timezone
    tags = run_tags(plan, job.dataflow)

    @dg.schedule(
        name=f"{job.name}_schedule",
        cron_schedule=spec.cron,
        execution_timezone=timezone,
        job_name=job.name,
        description=f"{job.dataflow}: the latest {spec.lookback} eligible windows not built yet, or whose source changed",
        default_status=dg.DefaultScheduleStatus.RUNNING
        if spec.enabled
        else dg.DefaultScheduleStatus.STOPPED,
    )
    def window_schedule(
        context: dg.ScheduleEvaluationContext,
        file_store: FileStore,
        io_manager: dg.ResourceParam[ParquetIOManager],
    ):
        now = context.scheduled_execution_time
        requests, skipped = [], []
        for window in eligible_windows(job, now, spec.lookback):
            request, why = decide(job, plan, window, file_store, io_manager)
            if request:
                context.log.info(why)
                requests.append(
                    dg.RunRequest(
                        run_key=f"{job.name}:{window}:{now.isoformat()}",
                        partition_key=window,
                        tags={**tags, "dataplat/reason": why[:200]},
                    )
                )
            else:
                skipped.append(why)
        for why in skipped:
            context.log.info(f"skipped {why}")
        if requests:
            return requests
        return dg.SkipReason("; ".join(skipped) or "no eligible window yet")

    return window_schedule
