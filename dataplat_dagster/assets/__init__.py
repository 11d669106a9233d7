"""Asset factories: one builder per layer turns resolved declarations into Dagster assets."""

import dagster as dg

from dataplat_dagster.assets.landing import build_landing_asset
from dataplat_dagster.assets.output import build_output_asset
from dataplat_dagster.assets.raw import build_raw_asset
from dataplat_dagster.assets.support import ENGINE_KINDS, AssetOptions, engine_of
from dataplat_dagster.assets.transformed import build_transformed_asset
from dataplat_dagster.config.plan import Plan
from dataplat_dagster.jobs import job_of_table

TRANSFORMED_LAYERS = ("staging", "common", "business")


def build_assets(
    plan: Plan, kinds: set[str], options: AssetOptions | None = None
) -> list[dg.AssetSpec | dg.AssetsDefinition]:
    """Every asset of every declared table.

    Args:
        plan: the resolved declarations.
        kinds: engine and storage kinds shown on each asset (for example pandas, parquet).
        options: the profile's settings for assets (run links, check reporting).
    """
    options = options or AssetOptions()
    jobs = job_of_table(plan)
    assets: list[dg.AssetSpec | dg.AssetsDefinition] = []
    for table in plan:
        if table.layer == "landing":
            assets.append(build_landing_asset(table, job=jobs.get(table.id), tables=plan))
            continue
        job = jobs[table.id]
        own = (kinds - ENGINE_KINDS) | {engine_of(table)}  # the table's engine, not the profile's
        if table.layer == "raw":
            assets.append(build_raw_asset(table, plan, own, options, job=job))
        elif table.layer in TRANSFORMED_LAYERS:
            assets.append(build_transformed_asset(table, plan, own, options, job=job))
        else:
            assets.append(build_output_asset(table, plan, own, options, job=job))
    return assets
