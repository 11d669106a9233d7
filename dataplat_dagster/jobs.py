"""Jobs: one per dataflow, or one per partitioning when a dataflow mixes several.

A Dagster job holds one partitioning. A dataflow with one gets `<dataflow>_job`, its
dimensions (unpartitioned tables) included. A dataflow with several (the TPC-H one: lineitem
by 84 months, orders by 80) gets, in the order they run: `<dataflow>_dimensions_job` for its
dimensions, a job per partitioning named after its first raw table
(`<dataflow>_<table>_job`), and `<dataflow>_aggregates_job` for the unpartitioned tables built
from partitioned ones. Every table is in exactly one job, so a run of them all builds each
table once. Each table's asset carries its job's name as the tag `job`, so that
`--select 'tag:job=<job>'` selects tables of one partitioning.
"""

from dataclasses import dataclass

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
from dagster._core.definitions.external_asset import (
    create_unexecutable_external_asset_from_assets_def,
)
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from dataplat_dagster.config.models import Partitioning
from dataplat_dagster.config.plan import Plan, TableId, TablePlan


@dataclass(frozen=True)
class JobSpec:
    name: str
    dataflow: str
    partitioning: Partitioning | None
    tables: tuple[TablePlan, ...]


def job_specs(plan: Plan, dataflow: str) -> list[JobSpec]:
    """The dataflow's jobs in the order they must run."""
    # extracted landing sources are materialized by the job, before raw; others are observed
    tables = [t for t in plan.of_dataflow(dataflow) if t.layer != "landing" or t.spec.extracted]
    windows = list(dict.fromkeys(t.partitioning for t in tables if t.partitioning is not None))
    if len(windows) <= 1:
        return [
            JobSpec(f"{dataflow}_job", dataflow, windows[0] if windows else None, tuple(tables))
        ]
    aggregates = tuple(
        t for t in tables if t.partitioning is None and _has_partitioned_ancestor(t, plan)
    )
    dimensions = tuple(t for t in tables if t.partitioning is None and t not in aggregates)
    specs = (
        [JobSpec(f"{dataflow}_dimensions_job", dataflow, None, dimensions)] if dimensions else []
    )
    for partitioning in windows:
        own = tuple(t for t in tables if t.partitioning == partitioning)
        first = next((t for t in own if t.layer == "raw"), own[0])
        specs.append(JobSpec(f"{dataflow}_{first.id.name}_job", dataflow, partitioning, own))
    if aggregates:
        specs.append(JobSpec(f"{dataflow}_aggregates_job", dataflow, None, aggregates))
    return specs


def job_of_table(plan: Plan) -> dict[TableId, str]:
    """The name of the one job that builds each table (landing sources in none, unless extracted)."""
    return {
        table.id: spec.name
        for dataflow in sorted({t.id.dataflow for t in plan})
        for spec in job_specs(plan, dataflow)
        for table in spec.tables
    }


def _has_partitioned_ancestor(table: TablePlan, plan: Plan) -> bool:
    pending, seen = list(table.all_inputs), set()
    while pending:
        upstream = plan[pending.pop()]
        if upstream.partitioned:
            return True
        if upstream.id not in seen:
            seen.add(upstream.id)
            pending += upstream.all_inputs
    return False


def run_tags(plan: Plan, dataflow: str) -> dict[str, str]:
    """Tags of every run of a dataflow: its name, and its maximum runtime for run monitoring."""
    tags = {"dataflow": dataflow}
    spec = plan.of_dataflow(dataflow)[0].dataflow.spec
    if spec.max_runtime:
        tags["dagster/max_runtime"] = str(int(spec.max_runtime.total_seconds()))
    return tags


def build_jobs(plan: Plan) -> list:
    """Jobs materializing every table of each dataflow; landing only where it is extracted."""
    jobs = []
    for dataflow in sorted({table.id.dataflow for table in plan}):
        for spec in job_specs(plan, dataflow):
            keys = [dg.AssetKey(t.id.key_path) for t in spec.tables]
            keys += [
                dg.AssetKey(t.id.companion("quarantine").key_path)
                for t in spec.tables
                if has_companion(t)
            ]
            job = dg.define_asset_job(
                spec.name,
                selection=dg.AssetSelection.assets(*keys),
                description=f"Materialize dataflow {dataflow}"
                + ("" if spec.name == f"{dataflow}_job" else f" ({spec.name})"),
                tags=run_tags(plan, dataflow),
                executor_def=dg.in_process_executor if runs_on_spark(spec) else None,
            )
            jobs.append(DataflowAssetJob(**{name: getattr(job, name) for name in job._fields}))
    return jobs


class DataflowAssetJob(UnresolvedAssetJobDefinition):
    """`define_asset_job`, resolved against the part of the asset graph its tables touch.

    Dagster resolves an asset job by walking every asset of the code location (twice), so
    resolving one job per dataflow costs dataflows x tables: 1.1 s of the 100-dataflow load
    was that walk. A job's own tables and their direct inputs are all resolution reads
    (`get_asset_graph_for_job` keeps no more), so the job is resolved against those alone.
    Subclassed because Dagster offers no other way to scope an asset job's resolution.
    """

    def resolve(self, asset_graph: AssetGraph, *args, **kwargs) -> dg.JobDefinition:
        return super().resolve(job_scope(asset_graph, self.selection), *args, **kwargs)


def job_scope(asset_graph: AssetGraph, selection: dg.AssetSelection) -> AssetGraph:
    """The assets of `selection` (with their checks), and their inputs as unexecutable assets.

    The inputs are made unexecutable as Dagster itself makes them in a job's graph, so that
    their own inputs need not be there.
    """
    selected = selection.resolve(asset_graph)
    checks = [
        check
        for key in selected
        for check in asset_graph.get(key).check_keys
        if asset_graph.has(check)
    ]
    own = asset_graph.assets_defs_for_keys([*selected, *checks])
    inputs = {key for assets_def in own for key in assets_def.keys_by_input_name.values()}
    others = [
        create_unexecutable_external_asset_from_assets_def(assets_def)
        for assets_def in asset_graph.assets_defs_for_keys(
            [key for key in inputs - selected if asset_graph.has(key)]
        )
    ]
    return AssetGraph.from_assets([*own, *others])


def has_companion(table: TablePlan) -> bool:
    from dataplat_dagster.assets.transformed import has_quarantine

    return table.layer == "raw" or (
        table.layer in ("staging", "common", "business") and has_quarantine(table.spec)
    )


def runs_on_spark(spec: JobSpec) -> bool:
    """A job with a Spark table runs its steps in one process, sharing one Spark session.

    With Dagster's default executor each step is a process of its own, and each would start
    a Spark driver (a JVM, seconds and a gigabyte each) for one table.
    """
    from dataplat_dagster.assets.support import engine_of

    return any(engine_of(table) == "spark" for table in spec.tables)
