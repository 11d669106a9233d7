"""Landing: the files that arrive, as external assets the UI shows (observed, not built)."""

import dagster as dg

from dataplat_dagster.assets.support import asset_key, partitions_def
from dataplat_dagster.config.plan import TablePlan


def build_landing_asset(plan: TablePlan) -> dg.AssetSpec:
    spec = plan.spec
    return dg.AssetSpec(
        key=asset_key(plan.id),
        description=plan.description,
        group_name="landing",
        partitions_def=partitions_def(plan),
        owners=list(spec.owners),
        tags={"layer": "landing", "dataflow": plan.id.dataflow, **spec.tags},
        kinds={"file", spec.format},
        metadata={
            "path_pattern": spec.path,
            "format": spec.format,
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(name, column.type) for name, column in spec.schema_.items()]
            ),
        },
    )
