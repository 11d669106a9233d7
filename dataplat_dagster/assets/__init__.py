"""Asset factories: one builder per layer turns resolved declarations into Dagster assets."""

import dagster as dg

from dataplat_dagster.assets.landing import build_landing_asset
from dataplat_dagster.assets.output import build_output_asset
from dataplat_dagster.assets.raw import build_raw_asset
from dataplat_dagster.assets.transformed import build_transformed_asset
from dataplat_dagster.config.plan import Plan

TRANSFORMED_LAYERS = ("staging", "common", "business")


def build_assets(
    plan: Plan, kinds: set[str], ui_base_url: str | None = None
) -> list[dg.AssetSpec | dg.AssetsDefinition]:
    """Every asset of every declared table.

    Args:
        plan: the resolved declarations.
        kinds: engine and storage kinds shown on each asset (for example pandas, parquet).
        ui_base_url: Dagster UI address for links in notifications.
    """
    assets: list[dg.AssetSpec | dg.AssetsDefinition] = []
    for table in plan:
        if table.layer == "landing":
            assets.append(build_landing_asset(table))
        elif table.layer == "raw":
            assets.append(build_raw_asset(table, plan, kinds, ui_base_url))
        elif table.layer in TRANSFORMED_LAYERS:
            assets.append(build_transformed_asset(table, plan, kinds, ui_base_url))
        else:
            assets.append(build_output_asset(table, plan, kinds, ui_base_url))
    return assets
