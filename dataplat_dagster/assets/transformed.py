"""Staging, common and business tables: built-in steps, SQL or Python over their inputs.

The three layers share this builder; they differ in what they may read (see
`config.plan.INPUT_LAYERS`) and in what users put in them, not in how they run.
"""

from collections.abc import Callable
from typing import Any

import dagster as dg

from dataplat_dagster.assets.left_out import windows_to_build
from dataplat_dagster.assets.quality import Published, windows_count
from dataplat_dagster.assets.support import (
    QUARANTINE,
    AssetOptions,
    Counts,
    asset_key,
    build_ins,
    common_asset_args,
    engine_key,
    fixed_signature,
    input_name,
    io_manager_key,
    operations,
    partitions_def,
    recorded,
)
from dataplat_dagster.checks.gate import GateInputs
from dataplat_dagster.checks.specs import build_check_specs
from dataplat_dagster.config.models import CheckedTable, TransformTable
from dataplat_dagster.config.plan import Plan, TablePlan
from dataplat_dagster.config.steps import CastStep, ParseDatesStep
from dataplat_dagster.engines.base import Engine
from dataplat_dagster.engines.sql_range import RangeQueryFailed
from dataplat_dagster.progress import WindowProgress
from dataplat_dagster.resources.io_managers import ParquetIOManager
from dataplat_dagster.resources.metrics import MetricsResource
from dataplat_dagster.resources.notifier import NotifierResource
from dataplat_dagster.timestamps import naive_zone


def has_quarantine(spec: CheckedTable) -> bool:
    """Tables whose steps or rules can reject rows get a `<table>__quarantine` companion."""
    steps = getattr(spec, "steps", [])
    rejecting_steps = any(
        isinstance(step, CastStep)
        or (isinstance(step, ParseDatesStep) and step.parse_dates.on_error == "fail")
        for step in steps
    )
    return rejecting_steps or any(rule.on_fail == "quarantine" for rule in spec.rules)


def quarantine_out(plan: TablePlan, kinds: set[str], what: str, job: str) -> dg.AssetOut:
    # optional: a run with no rejected rows writes it only to clear windows it wrote before
    return dg.AssetOut(
        key=asset_key(plan.id.companion(QUARANTINE)),
        is_required=False,
        group_name=plan.layer,
        kinds=kinds,
        tags={"layer": plan.layer, "dataflow": plan.id.dataflow, "job": job},
        description=f"Rows of {plan.id} {what}, kept as text with _dq_rule and _dq_reason.",
        io_manager_key=io_manager_key(plan),  # written by the table's engine
    )


def build_transformed_asset(
    plan: TablePlan,
    tables: Plan,
    kinds: set[str],
    options: AssetOptions = AssetOptions(),
    *,
    job: str,
) -> dg.AssetsDefinition:
    spec: TransformTable = plan.spec
    quarantine = has_quarantine(spec)
    windows = partitions_def(plan)
    outs = {
        "table": dg.AssetOut(
            key=asset_key(plan.id),
            **common_asset_args(plan, kinds, job),
            metadata={"dataplat/description": plan.description},
        )
    }
    if quarantine:
        outs[QUARANTINE] = quarantine_out(plan, kinds, "rejected by its steps or rules", job)
    names = {table_id: input_name(table_id, plan.all_inputs) for table_id in plan.all_inputs}
    windowed = {names[t] for t in plan.inputs if plan.partitioned and tables[t].partitioned}
    refs = {names[t]: _ref(t, plan) for t in plan.inputs}

    @dg.multi_asset(
        name=f"{plan.layer}__{plan.id.dataflow}__{plan.id.name}",
        outs=outs,
        ins=build_ins(plan, tables),
        partitions_def=windows,
        **operations(plan),
        required_resource_keys={engine_key(plan), io_manager_key(plan), "metrics", "notifier"},
        check_specs=build_check_specs(plan, asset_key(plan.id), windows),
    )
    @fixed_signature
    def transformed_asset(
        context: dg.AssetExecutionContext,
        **inputs: Any,
    ):
        engine: Engine = getattr(context.resources, engine_key(plan))
        io_manager: ParquetIOManager = getattr(context.resources, io_manager_key(plan))
        metrics: MetricsResource = context.resources.metrics
        notifier: NotifierResource = context.resources.notifier
        body_inputs = {names[t]: inputs[names[t]] for t in plan.inputs}
        by_input = {_ref(t, plan): engine.row_count(inputs[names[t]]) for t in plan.inputs}
        counts = Counts(rows_in=sum(by_input.values()), rows_in_by_input=by_input)
        with recorded(context, plan, metrics, counts):
            keys, left_out = windows_to_build(context, plan)
            frame = (
                next(iter(body_inputs.values()))
                if spec.body == "steps"
                else _run_body(engine, plan, body_inputs, windowed, refs, keys, context.log.info)
            )
            outcome = engine.apply_steps(
                frame, spec.steps, label=f"{plan.layer}.{plan.id.name}", timezone=naive_zone(plan)
            )
            counts.rows_dropped = sum(outcome.dropped.values())
            counts.dropped_by_step = {label: n for label, n in outcome.dropped.items() if n}
            gate_inputs = GateInputs(
                keys,
                references={t: inputs[names[t]] for t in plan.all_inputs},
                removed_before=outcome.removed_by_window,
                quarantined_before=windows_count(engine, outcome.rejects, keys),
                # the steps start from the input as read: its rows are known
                rows_entering=counts.rows_in
                if spec.body == "steps" and len(plan.inputs) == 1
                else None,
            )
            published = Published(plan, engine, outcome.frame, outcome.rejects, gate_inputs, counts)
        yield from published.events(
            context,
            notifier,
            metrics,
            with_quarantine=quarantine,
            warehouse=io_manager,
            options=options,
            left_out=left_out,
        )

    return transformed_asset


def _ref(table_id: Any, plan: TablePlan) -> str:
    same = table_id.dataflow == plan.id.dataflow
    return f"{table_id.layer}.{table_id.name}" if same else str(table_id)


def _run_body(
    engine: Engine,
    plan: TablePlan,
    inputs: dict[str, Any],
    windowed: set[str],
    refs: dict[str, str],
    keys: list[str | None],
    log: Callable[[str], None],
) -> Any:
    """Run the SQL or Python body; a partitioned table's gives each window's rows apart.

    A window's result depends on that window's inputs only, so a range backfill gives the
    same rows as one run per window. Over several windows, a SQL body the plan proved
    window-local runs once with the window as a column (`engines.sql_windows`), and so
    does a Python body declared `python_windows: together`; others run window by window.
    """
    spec: TransformTable = plan.spec
    label = f"{plan.layer}.{plan.id.name}"
    table = "/".join(plan.id.key_path)

    def run(frames: dict[str, Any]) -> Any:
        if spec.body == "sql":
            assert plan.sql is not None
            tables = {refs[name]: frame for name, frame in frames.items()}
            return engine.run_sql(plan.sql, tables, label=label, timezone=naive_zone(plan))
        assert plan.python is not None
        return engine.call_python(plan.python, frames, spec.params)

    if not plan.partitioned:
        return run(inputs)
    windows = [key for key in keys if key is not None]
    if len(windows) > 1 and spec.body == "sql":
        query = plan.range_sql
        reason = query.reason if query is not None else "no plan for it"
        if query is not None and query.once:
            try:
                result = _sql_once(engine, plan, inputs, windowed, refs, windows)
            except RangeQueryFailed as exc:  # a rewrite DuckDB refuses: the loop still works
                reason = str(exc)
            else:
                log(f"{table}: SQL run once over {len(windows)} windows, the window as a column")
                return result
        log(f"{table}: SQL run window by window: {reason}")
    if spec.body == "python" and spec.python_windows == "together":  # even for one window
        log(f"{table}: Python transform called once over {len(windows)} windows")
        return engine.by_window(run(inputs), windows, label=label)
    return _window_by_window(engine, inputs, windowed, windows, run, table, log)


def _sql_once(
    engine: Engine,
    plan: TablePlan,
    inputs: dict[str, Any],
    windowed: set[str],
    refs: dict[str, str],
    keys: list[str],
) -> Any:
    assert plan.sql is not None and plan.range_sql is not None
    return engine.run_sql_windows(
        plan.range_sql,
        plan.sql,
        {refs[name]: frame for name, frame in inputs.items()},
        [refs[name] for name in windowed],
        keys,
        label=f"{plan.layer}.{plan.id.name}",
        timezone=naive_zone(plan),
    )


def _window_by_window(
    engine: Engine,
    inputs: dict[str, Any],
    windowed: set[str],
    keys: list[str],
    run: Callable[[dict[str, Any]], Any],
    table: str,
    log: Callable[[str], None],
) -> Any:
    progress = WindowProgress(log, table, len(keys), "computed")
    sliced = {
        name: dict(engine.window_slices(frame, keys))
        for name, frame in inputs.items()
        if name in windowed
    }
    results = []
    for key in keys:
        frames = {
            name: sliced[name][key] if name in windowed else frame for name, frame in inputs.items()
        }
        results.append((key, run(frames)))
        progress.advance()
    return engine.concat_windows(results)
