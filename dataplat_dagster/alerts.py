"""Run failures reach people: a run-failure sensor, and the same report from `dataplat run`.

The sensor (running with the Dagster daemon) reports every failed run of this code location;
`dataplat run` reports its own failed runs only when no daemon is there to do it. A run that
failed only because a quality gate closed is not reported again: the gate sent its notice.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg

from dataplat_dagster.failure_summary import root_cause, warn_in_summary
from dataplat_dagster.notifications import failure_notice
from dataplat_dagster.resources.metrics import MetricsResource
from dataplat_dagster.resources.notifier import NotifierResource

# a closed quality gate (a range run's blocking check, or the run's only window): its own
# notice already named the checks and windows
GATE_FAILURES = frozenset({"DagsterAssetCheckFailedError", "QualityGateClosed"})
DAEMON_FRESHNESS = timedelta(minutes=2)
LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepFailure:
    step: str
    error: str
    kind: str


def window_label(tags: dict[str, str]) -> str:
    """The window(s) a run covers, from its tags."""
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    if "dagster/asset_partition_range_start" in tags:
        return f"{tags['dagster/asset_partition_range_start']} .. {tags['dagster/asset_partition_range_end']}"
    return "all data (not partitioned)"


def table_of(step: str) -> str:
    """`staging__retail__orders` -> `retail.staging.orders`."""
    parts = step.split("__")
    return f"{parts[1]}.{parts[0]}.{parts[2]}" if len(parts) == 3 else step


def report_run_failure(
    *,
    notifier: NotifierResource,
    metrics: MetricsResource,
    run: dg.DagsterRun,
    failures: Sequence[StepFailure],
    run_error: str | None,
    ui_base_url: str | None,
) -> bool:
    """Notify and count one failed run; returns False when there was nothing new to say."""
    if failures and all(f.kind in GATE_FAILURES for f in failures):
        return False  # the closed gate's own notice named the checks and windows
    dataflow = run.tags.get("dataflow", "unknown")
    lines = [
        f"{table_of(f.step)} ({f.step}): {f.error}" for f in failures if f.kind not in GATE_FAILURES
    ]
    error = "\n".join(lines) or run_error or "the run failed without a step failure (see its logs)"
    tables = (
        ", ".join(sorted({table_of(f.step) for f in failures if f.kind not in GATE_FAILURES}))
        or f"run of {run.job_name}"
    )
    notifier.send(
        failure_notice(
            what=f"dataflow {dataflow}: {tables}",
            windows=window_label(run.tags),
            run_id=run.run_id,
            error=error,
            ui_base_url=ui_base_url,
            job=run.job_name,
        )
    )
    try:
        metrics.record_run_failure(dataflow=dataflow, job=run.job_name)
    except Exception as exc:  # counting a failure must not hide it
        warn_in_summary(
            LOGGER, f"the run failure of {run.run_id} was not counted in the metrics: {exc}"
        )
    return True


def step_failures(events: Sequence[dg.DagsterEvent]) -> list[StepFailure]:
    failures = []
    for event in events:
        if event.is_step_failure and event.step_failure_data is not None:
            error = event.step_failure_data.error
            kind = error.cls_name if error else ""
            message = (error.message.strip() if error else "failed").splitlines()
            cause = error.cause.message.strip() if error and error.cause else ""
            text = " ".join([*message[:3], cause][:4]).strip()
            if error is not None:  # the last exception of the chain, however deep: the cause
                root = " ".join(root_cause(error).message.split())
                text = text if root in " ".join(text.split()) else f"{text} (cause: {root})"
            failures.append(StepFailure(event.step_key or "", text, kind or ""))
    return failures


def daemon_is_watching(instance: dg.DagsterInstance) -> bool:
    """A sensor daemon heartbeat is fresh: the run-failure sensor will report."""
    heartbeat = instance.get_daemon_heartbeats().get("SENSOR")
    if heartbeat is None:
        return False
    return datetime.now(UTC) - datetime.fromtimestamp(heartbeat.timestamp, UTC) < DAEMON_FRESHNESS


def build_run_failure_sensor(ui_base_url: str | None) -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name="dataplat_run_failure_sensor",
        description="Tells people when a run of a dataflow fails (dataflow, tables, window, run, error).",
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def dataplat_run_failure_sensor(
        context: dg.RunFailureSensorContext, notifier: NotifierResource, metrics: MetricsResource
    ) -> None:
        failures = step_failures(context.get_step_failure_events())
        run_error = context.failure_event.message if context.failure_event else None
        report_run_failure(
            notifier=notifier,
            metrics=metrics,
            run=context.dagster_run,
            failures=failures,
            run_error=run_error,
            ui_base_url=ui_base_url,
        )

    return dataplat_run_failure_sensor
