"""What a file arriving for a landing source rebuilds, and in which job.

The tables below the source in its windows, within the one job that builds them (a
dataflow's jobs each hold one partitioning; see `jobs`). Dimensions they read that were
never built are built first: in the same run when the job holds them (one partitioning),
else by a run of `<dataflow>_dimensions_job`, the windows waiting for it.
"""

import hashlib

import dagster as dg

from dataplat_dagster.assets.support import asset_key
from dataplat_dagster.config.plan import Plan, TablePlan
from dataplat_dagster.jobs import JobSpec, has_companion, job_specs
from dataplat_dagster.resources.storage import TableStorage


def arrival_targets(landing: TablePlan, plan: Plan) -> list[TablePlan]:
    """What an arrival rebuilds, in dependency order: the raw table and all below it in its windows.

    An unpartitioned source (a dimension snapshot) rebuilds the unpartitioned tables below it;
    partitioned tables pick the new dimension up at their next window.
    """
    raws = [t for t in plan.readers_of(landing.id) if t.layer == "raw" and t.inputs == [landing.id]]
    targets, seen, pending = [], set(), list(raws)
    while pending:
        table = pending.pop(0)
        if table.id in seen or table.partitioning != landing.partitioning:
            continue
        seen.add(table.id)
        targets.append(table)
        pending += plan.readers_of(table.id)  # an index: scanning the plan per table was quadratic
    return plan.in_dependency_order(targets)


def arrival_job(landing: TablePlan, targets: list[TablePlan], plan: Plan) -> JobSpec:
    """The dataflow's job holding the targets (the one of the source's windows, when several)."""
    specs = job_specs(plan, landing.id.dataflow)
    return next(spec for spec in specs if targets[0] in spec.tables)


def selection_of(tables: list[TablePlan]) -> list[dg.AssetKey]:
    keys = [asset_key(t.id) for t in tables]
    return keys + [asset_key(t.id.companion("quarantine")) for t in tables if has_companion(t)]


class ArrivalTarget:
    """What one sensor requests runs of: its job, its tables, the dimensions they read."""

    def __init__(self, landing: TablePlan, plan: Plan) -> None:
        self.landing = landing
        below = arrival_targets(landing, plan)
        self.job = arrival_job(landing, below, plan) if below else None
        in_job = {t.id for t in self.job.tables} if self.job else set()
        # an aggregate below a dimension is in the aggregates job: built by the next full run
        self.tables = [t for t in below if t.id in in_job]
        self.raws = [t for t in self.tables if t.layer == "raw"]
        # dimensions the tables read: built along with a window when they were never built
        self.dimensions = (
            [t for t in plan.upstream_of(self.tables) if not t.partitioned and t not in self.tables]
            if landing.partitioning is not None
            else []
        )
        self.dimensions_job = next(
            (s for s in job_specs(plan, landing.id.dataflow) if s.name.endswith("_dimensions_job")),
            None,
        )
        self.plan = plan

    def missing_dimensions(self, storage: TableStorage) -> list[TablePlan]:
        missing = [d for d in self.dimensions if storage.manifest(d.id.key_path, None) is None]
        chain = missing + [d for d in self.plan.upstream_of(missing) if not d.partitioned]
        return self.plan.in_dependency_order({t.id: t for t in chain}.values())

    def builds(self, tables: list[TablePlan]) -> bool:
        """The sensor's job holds these tables (so a window's run can build them too)."""
        held = {t.id for t in self.job.tables} if self.job else set()
        return all(t.id in held for t in tables)

    def dimensions_request(
        self, sensor: str, missing: list[TablePlan], tags: dict[str, str], windows: list[str]
    ) -> dg.RunRequest:
        """A run of the dimensions job building `missing`; the windows wait for it.

        The run key names the tables, so ticks that find them still missing (the run is
        under way) do not start another.
        """
        assert self.dimensions_job is not None
        names = ",".join(str(t.id) for t in missing)
        digest = hashlib.sha1(names.encode()).hexdigest()[:16]
        return dg.RunRequest(
            run_key=f"{sensor}:dimensions:{digest}",
            job_name=self.dimensions_job.name,
            asset_selection=selection_of(missing),
            tags={
                **tags,
                "dataplat/reason": f"never built; windows {', '.join(windows)} wait"[:200],
            },
        )
