"""Staging, common and business tables: built-in steps, SQL or Python over their inputs.

The three layers share this builder; they differ in what they may read (see
`config.plan.INPUT_LAYERS`) and in what users put in them, not in how they run.
"""

from typing import Any

import dagster as dg

from dataplat_dagster.assets.support import (
    QUARANTINE,
    Counts,
    asset_key,
    build_ins,
    common_asset_args,
    input_name,
    partitions_def,
    preview,
    recorded,
    run_keys,
)
from dataplat_dagster.config.models import TransformTable
from dataplat_dagster.config.plan import Plan, TablePlan
from dataplat_dagster.config.steps import CastStep, ParseDatesStep
from dataplat_dagster.engines.base import PARTITION, REASON, RULE, Engine
from dataplat_dagster.resources.metrics import MetricsResource


def has_quarantine(spec: TransformTable) -> bool:
    """Tables whose steps can reject rows get a `<table>__quarantine` companion."""
    return any(
        isinstance(step, CastStep)
        or (isinstance(step, ParseDatesStep) and step.parse_dates.on_error == "fail")
        for step in spec.steps
    )


def build_transformed_asset(plan: TablePlan, tables: Plan, kinds: set[str]) -> dg.AssetsDefinition:
    spec: TransformTable = plan.spec
    quarantine = has_quarantine(spec)
    outs = {
        "table": dg.AssetOut(
            key=asset_key(plan.id),
            **common_asset_args(plan, kinds),
            metadata={"dataplat/description": plan.description},
        )
    }
    if quarantine:
        outs[QUARANTINE] = dg.AssetOut(
            key=asset_key(plan.id.companion(QUARANTINE)),
            group_name=plan.layer,
            kinds=kinds,
            tags={"layer": plan.layer, "dataflow": plan.id.dataflow},
            description=f"Rows of {plan.id} rejected by its steps, with _dq_rule and _dq_reason.",
        )
    windowed = {
        input_name(t, plan.inputs)
        for t in plan.inputs
        if plan.partitioned and tables[t].partitioned
    }
    refs = {input_name(t, plan.inputs): _ref(t, plan) for t in plan.inputs}

    @dg.multi_asset(
        name=f"{plan.layer}__{plan.id.dataflow}__{plan.id.name}",
        outs=outs,
        ins=build_ins(plan, tables),
        partitions_def=partitions_def(plan),
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def transformed_asset(
        context: dg.AssetExecutionContext, engine: Engine, metrics: MetricsResource, **inputs: Any
    ):
        counts = Counts(rows_in=sum(engine.row_count(frame) for frame in inputs.values()))
        with recorded(context, plan, metrics, counts):
            keys = run_keys(context, plan)
            if spec.body == "steps":
                frame = next(iter(inputs.values()))
            else:
                frame = _run_body(engine, plan, inputs, windowed, refs, keys)
            outcome = engine.apply_steps(frame, spec.steps, label=f"{plan.layer}.{plan.id.name}")
            rejected = engine.concat(outcome.rejects) if outcome.rejects else None
            counts.rows_out = engine.row_count(outcome.frame)
            counts.rows_dropped = sum(outcome.dropped.values())
            counts.rows_quarantined = engine.row_count(rejected) if rejected is not None else 0
            counts.dropped_by_step = {label: n for label, n in outcome.dropped.items() if n}
        yield dg.Output(
            outcome.frame,
            "table",
            metadata={**counts.as_metadata(), "preview": preview(engine, outcome.frame)},
        )
        if quarantine:
            rows = engine.no_rows(outcome.frame, (RULE, REASON)) if rejected is None else rejected
            yield dg.Output(rows, QUARANTINE, metadata={"rows": counts.rows_quarantined})

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
) -> Any:
    """Run the SQL or Python body, window by window when the table is partitioned.

    A window's result depends on that window's inputs only, so a range backfill gives the
    same rows as one run per window.
    """
    spec: TransformTable = plan.spec

    def run(frames: dict[str, Any]) -> Any:
        if spec.body == "sql":
            assert plan.sql is not None
            return engine.run_sql(plan.sql, {refs[name]: frame for name, frame in frames.items()})
        assert plan.python is not None
        return engine.call_python(plan.python, frames, spec.params)

    if not plan.partitioned:
        return run(inputs)
    results = []
    sliced = {
        name: dict(engine.slices(frame, keys)) for name, frame in inputs.items() if name in windowed
    }
    for key in keys:
        assert key is not None
        frames = {
            name: engine.drop_columns(sliced[name][key], [PARTITION]) if name in windowed else frame
            for name, frame in inputs.items()
        }
        results.append(engine.with_partition(run(frames), key))
    return engine.concat(results)
