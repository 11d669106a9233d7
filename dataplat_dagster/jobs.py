"""One job per dataflow (and per partitioning, when a dataflow mixes several)."""

import dagster as dg

from dataplat_dagster.config.plan import Plan
from dataplat_dagster.hooks import build_failure_hook


def job_name(dataflow: str, index: int = 0) -> str:
    return f"{dataflow}_job" if index == 0 else f"{dataflow}_{index + 1}_job"


def build_jobs(plan: Plan, ui_base_url: str | None = None) -> list:
    """A job materializing every table of a dataflow, landing excepted (files are observed).

    Dagster jobs hold one partitioning; a dataflow whose tables have several gets one job
    per partitioning, each with the dataflow's unpartitioned tables in the first.
    """
    jobs = []
    hooks = {build_failure_hook(ui_base_url)}
    for dataflow in sorted({table.id.dataflow for table in plan}):
        tables = [t for t in plan.of_dataflow(dataflow) if t.layer != "landing"]
        windows = list(
            dict.fromkeys(t.partitioning for t in tables if t.partitioning is not None)
        ) or [None]
        for index, partitioning in enumerate(windows):
            selected = [
                t
                for t in tables
                if t.partitioning == partitioning or (index == 0 and t.partitioning is None)
            ]
            keys = [dg.AssetKey(t.id.key_path) for t in selected]
            keys += [
                dg.AssetKey(t.id.companion("quarantine").key_path)
                for t in selected
                if _has_companion(t)
            ]
            jobs.append(
                dg.define_asset_job(
                    job_name(dataflow, index),
                    selection=dg.AssetSelection.assets(*keys),
                    description=f"Materialize dataflow {dataflow}"
                    + (f" (partitioning {index + 1})" if index else ""),
                    tags={"dataflow": dataflow},
                    hooks=hooks,
                )
            )
    return jobs


def _has_companion(table) -> bool:
    from dataplat_dagster.assets.transformed import has_quarantine

    return table.layer == "raw" or (
        table.layer in ("staging", "common", "business") and has_quarantine(table.spec)
    )
