"""Publishing a table through its quality gate: outputs, quarantine, check events, alerts."""

import time
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pyarrow as pa

from dataplat_dagster.assets.support import QUARANTINE, AssetOptions, Counts, asset_key, preview
from dataplat_dagster.checks.gate import GateInputs, GateResult, QualityGate
from dataplat_dagster.checks.verdicts import check_events
from dataplat_dagster.config.plan import TablePlan
from dataplat_dagster.engines.base import Engine
from dataplat_dagster.notifications import check_failure_notice
from dataplat_dagster.resources.io_managers import ParquetIOManager, WindowedFrame
from dataplat_dagster.resources.metrics import MetricsResource
from dataplat_dagster.resources.notifier import NotifierResource


def windows_count(
    engine: Engine, frames: list[Any], keys: list[str | None]
) -> dict[str | None, int]:
    """Rows per window over several frames (rows rejected before the gate)."""
    totals = dict.fromkeys(keys, 0)
    for frame in frames:
        for key, count in zip(
            keys,
            engine.count_by_window(engine.window_codes(frame, keys), None, len(keys)),
            strict=True,
        ):
            totals[key] += count
    return totals


def preview_metadata(
    context: dg.AssetExecutionContext,
    engine: Engine,
    keys: list[str | None],
    table: Any,
    frame: Any,
) -> dict[str, Any]:
    """The preview as output metadata, or, in a range run, on its first window only.

    Dagster copies an output's metadata onto the materialization of every window: the same
    rows on each of a year's 365 windows were most of the event log's bytes.
    """
    return shown_metadata(context, keys, table, preview(engine, frame))


def shown_metadata(
    context: dg.AssetExecutionContext,
    keys: list[str | None],
    table: Any,
    shown: dg.MetadataValue,
) -> dict[str, Any]:
    """`preview_metadata` of a preview already made (from the rows written, say)."""
    if len(keys) == 1 or keys[0] is None:
        return {"preview": shown}
    context.add_asset_metadata(
        {"preview": shown}, asset_key=asset_key(table), partition_key=keys[0]
    )
    return {}


def failed_metadata(
    context: dg.AssetExecutionContext,
    plan: TablePlan,
    keys: list[str | None],
    failed: dict[str | None, list[str]],
) -> dict[str, Any]:
    """The failed ERROR checks as output metadata, or, in a range run, on each failing window."""
    if len(keys) == 1 or keys[0] is None:
        return {"failed_checks": dg.MetadataValue.json({str(k): v for k, v in failed.items()})}
    for window, checks in failed.items():
        context.add_asset_metadata(
            {"failed_checks": dg.MetadataValue.json(checks)},
            asset_key=asset_key(plan.id),
            partition_key=window,
        )
    return {}


def _no_rows(engine: Engine, frame: Any) -> Any:
    """An engine frame of `frame`'s columns and no rows (a Spark frame's without a job)."""
    if isinstance(frame, pa.Table):  # raw's rows as read: only the empty slice converted
        return engine.as_frame(frame.slice(0, 0))
    return engine.no_rows(frame)


class QualityGateClosed(dg.Failure):
    """An ERROR check failed on the run's only window: nothing was published below it."""


class Published:
    """What a gated table publishes, computed before anything is yielded."""

    def __init__(
        self,
        plan: TablePlan,
        engine: Engine,
        frame: Any,
        rejects: list[Any],
        inputs: GateInputs,
        counts: Counts,
    ) -> None:
        gate = QualityGate(plan, engine)
        self.plan, self.engine, self.keys = plan, engine, inputs.keys
        started = time.perf_counter()
        # an Arrow table (raw) becomes an engine frame only when rules need to look at it
        self.result = (
            gate.evaluate(engine.as_frame(frame), inputs)
            if gate.active
            else GateResult(frame, rows_kept=inputs.rows_after_steps())
        )
        counts.checks_seconds = time.perf_counter() - started if gate.active else None
        rows = [engine.as_text(r) for r in rejects] + self.result.quarantined
        self.quarantine = (
            engine.concat(rows)
            if rows
            else engine.quarantine(_no_rows(engine, frame), engine.combine([], 0), "", "", None, "")
        )
        # counted only when neither the gate nor the steps know it (a Spark job each)
        kept = self.result.rows_kept
        counts.rows_out = kept if kept is not None else engine.row_count(self.result.frame)
        counts.rows_dropped += sum(self.result.dropped.values())
        counts.rows_quarantined = engine.row_count(self.quarantine) if rows else 0
        counts.dropped_by_step.update(
            {f"rule {name}": n for name, n in self.result.dropped.items() if n}
        )
        self.counts = counts

    def events(
        self,
        context: dg.AssetExecutionContext,
        notifier: NotifierResource,
        metrics: MetricsResource,
        *,
        with_quarantine: bool,
        warehouse: ParquetIOManager,
        metadata: dict[str, Any] | None = None,
        properties: dict[str | None, Any] | None = None,
        options: AssetOptions | None = None,
        left_out: dict[str, str] | None = None,
    ) -> Iterator[Any]:
        """The table's output, its quarantine, the alerts and the check results.

        When the run's only window fails its gate, the output is an observation and a failure.
        `properties` (window -> what its manifest keeps, such as raw's sources), the failed
        checks and the windows `left_out` of a range run (an input failed its gate there)
        travel with the output value, not in its metadata (see `WindowedFrame`).
        """
        left_out = left_out or {}
        options = options or AssetOptions()
        failed = self.result.failed_gates()
        closed = len(self.keys) == 1 and self.keys[0] in failed
        table_metadata = {
            **self.counts.as_metadata(),
            **(metadata or {}),
            **preview_metadata(context, self.engine, self.keys, self.plan.id, self.result.frame),
            **failed_metadata(context, self.plan, self.keys, failed),
        }
        if closed:
            yield self._unpublished(context, warehouse, table_metadata, failed, properties or {})
        else:
            carried = WindowedFrame(self.result.frame, failed, properties or {}, left_out)
            yield dg.Output(carried, "table", metadata=table_metadata)
        if with_quarantine:  # every window gets one, empty ones too: "none rejected" is a fact
            companion = self.plan.id.companion(QUARANTINE)
            yield dg.Output(
                WindowedFrame(self.quarantine, left_out=left_out),
                QUARANTINE,
                metadata={
                    "rows": self.counts.rows_quarantined,
                    **preview_metadata(context, self.engine, self.keys, companion, self.quarantine),
                },
            )
        self._alert(context, notifier, metrics, options.ui_base_url)
        yield from check_events(
            context,
            asset_key(self.plan.id),
            self.result.outcomes,
            self.keys,
            options.checks_per_window_up_to,
        )
        if closed:
            window = self.keys[0]
            where = f"window {window}" if window is not None else "the table"
            raise QualityGateClosed(
                description=(
                    f"{self.plan.id}: the quality gate closed for {where} "
                    f"({', '.join(failed[window])} failed with ERROR severity): it was not "
                    "published and the layers below were not built. Fix the data and re-run it."
                ),
                allow_retries=False,
                metadata={"failed_checks": dg.MetadataValue.json(failed[window])},
            )

    def _unpublished(
        self,
        context: dg.AssetExecutionContext,
        warehouse: ParquetIOManager,
        metadata: dict[str, Any],
        failed: dict[str | None, list[str]],
        properties: dict[str | None, Any],
    ) -> dg.AssetObservation:
        """Keep the rejected window for inspection (layers below refuse it) and say so.

        No materialization is recorded: the UI shows the window as failed, not as built.
        """
        window = self.keys[0]
        (written,), _ = warehouse.write_frame(
            self.plan.id.key_path,
            self.result.frame,
            None if window is None else [window],
            run_id=context.run.run_id,
            failed_checks=failed,
            properties=properties,
            description=self.plan.description,
        )
        return dg.AssetObservation(
            asset_key=asset_key(self.plan.id),
            partition=window,
            description="Quality gate closed: this version was kept for inspection, not published.",
            metadata={
                **{k: v for k, v in metadata.items() if k != "failed_checks"},
                "gate": "closed",
                "failed_checks": dg.MetadataValue.json(failed[window]),
                "dagster/uri": written.location,
                "dagster/row_count": written.rows,
            },
        )

    def _alert(
        self,
        context: dg.AssetExecutionContext,
        notifier: NotifierResource,
        metrics: MetricsResource,
        ui_base_url: str | None,
    ) -> None:
        plan = self.plan
        for severity in ("warn", "error"):
            for check, _ in self.result.failed(severity):
                metrics.record_check_failure(
                    dataflow=plan.id.dataflow,
                    layer=plan.layer,
                    table=plan.id.name,
                    check=check.name,
                    severity=severity,
                )
        failures = self.result.failed("error")
        if failures:
            notifier.send(
                check_failure_notice(
                    table=str(plan.id),
                    failures=failures,
                    run_id=context.run.run_id,
                    ui_base_url=ui_base_url,
                )
            )
