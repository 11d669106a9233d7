"""The retail demo's Dagster objects, N times, written directly in Dagster: the load's floor.

`validate_100` in bench/flights.py times `dagster definitions validate` on 100 copies of the
retail demo. This module is its hand-written side: the same assets (keys, dependencies,
partitions, observable landing sources), the same asset checks (names, blocking), one job,
one schedule and one file-arrival sensor per landing source per dataflow, a run failure
sensor and the same resource keys, with empty bodies and no platform code, written the
way the Dagster documentation shows (`@multi_asset`, `define_asset_job`,
`build_schedule_from_partitioned_job`, `@sensor`). What it costs to load is what Dagster
itself costs for that many objects, whatever the platform does.

The shape is read off the platform's own definitions of the demo (`shape_of`, in a process
of its own before the timed ones) as JSON; the timed process imports only Dagster and this:

    python bench/dagster_shape.py PROJECT_ROOT shape.json   # with the platform's environment
    DATAPLAT_SHAPE=shape.json DATAPLAT_SHAPE_COPIES=100 dagster definitions validate -f bench/dagster_shape.py
"""

import json
import os
import sys
from pathlib import Path

import dagster as dg


def shape_of(definitions: dg.Definitions, dataflow: str) -> dict:
    """One dataflow's Dagster objects as JSON-able data (keys without the dataflow's name)."""

    def path(key: dg.AssetKey) -> list[str]:
        return ["{dataflow}" if part == dataflow else part for part in key.path]

    assets = []
    for assets_def in definitions.assets or []:
        keys = list(assets_def.keys)
        if keys[0].path[1] != dataflow:
            continue
        assets.append(
            {
                "keys": [path(k) for k in keys],
                "deps": sorted({tuple(path(d)) for k in keys for d in assets_def.asset_deps[k]}),
                "checks": [[c.name, path(c.asset_key), c.blocking] for c in assets_def.check_specs],
                "partitioned": assets_def.partitions_def is not None,
                "observable": assets_def.is_observable,
                "resources": sorted(assets_def.required_resource_keys - {"io_manager"}),
            }
        )
    windows = next(a.partitions_def for a in definitions.assets or [] if a.partitions_def)
    return {
        "assets": assets,
        "start": windows.start.strftime("%Y-%m-%d"),
        "timezone": windows.timezone,
        "resources": sorted(definitions.resources or {}),
    }


class Setting(dg.ConfigurableResource):
    """A resource with a few settings, as each of the platform's resources has."""

    root: str = "."
    region: str = "eu-west-1"
    enabled: bool = True


def dataflow_defs(shape: dict, name: str, windows: dg.PartitionsDefinition) -> tuple:
    def key(path: list[str]) -> dg.AssetKey:
        return dg.AssetKey([part.replace("{dataflow}", name) for part in path])

    assets, selected, landing = [], [], []
    for table in shape["assets"]:
        keys = [key(p) for p in table["keys"]]
        partitions = windows if table["partitioned"] else None
        if table["observable"]:

            @dg.observable_source_asset(key=keys[0], partitions_def=partitions)
            def observe() -> dg.DataVersion:
                return dg.DataVersion("0")

            assets.append(observe)
            landing.append(keys[0])
            continue

        @dg.multi_asset(
            name="__".join(keys[0].path),
            specs=[dg.AssetSpec(k, deps=[key(d) for d in table["deps"]]) for k in keys],
            check_specs=[
                dg.AssetCheckSpec(check, asset=key(asset), blocking=blocking)
                for check, asset, blocking in table["checks"]
            ],
            partitions_def=partitions,
            required_resource_keys=set(table["resources"]),
            can_subset=True,
        )
        def build(context: dg.AssetExecutionContext):  # no return annotation: checks only
            return None

        assets.append(build)
        selected += keys
    job = dg.define_asset_job(f"{name}_job", selection=dg.AssetSelection.assets(*selected))
    schedule = dg.build_schedule_from_partitioned_job(job)
    sensors = []
    for source in landing:

        @dg.sensor(name=f"{name}_{source.path[-1]}_file_arrival_sensor", job=job)
        def arrivals(context: dg.SensorEvaluationContext) -> dg.SkipReason:
            return dg.SkipReason("no new file")

        sensors.append(arrivals)
    return assets, job, schedule, sensors


def build_defs(shape: dict, copies: int) -> dg.Definitions:
    windows = dg.DailyPartitionsDefinition(start_date=shape["start"], timezone=shape["timezone"])
    assets, jobs, schedules, sensors = [], [], [], []
    for number in range(copies):
        made = dataflow_defs(shape, f"retail_{number:03d}", windows)
        assets += made[0]
        jobs.append(made[1])
        schedules.append(made[2])
        sensors += made[3]

    @dg.run_failure_sensor(name="run_failure_alert")
    def on_failure(context: dg.RunFailureSensorContext) -> None:
        return None

    resources = {name: Setting() for name in shape["resources"] if name != "io_manager"}
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        sensors=[*sensors, on_failure],
        resources={**resources, "io_manager": dg.FilesystemIOManager()},
    )


def write_shape(project_root: Path, out: Path, dataflow: str = "retail_000") -> None:
    from dataplat_dagster.definitions_builder import build_definitions

    out.write_text(json.dumps(shape_of(build_definitions(project_root), dataflow)))


if __name__ == "__main__":
    write_shape(Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:])
elif "DATAPLAT_SHAPE" in os.environ:
    defs = build_defs(
        json.loads(Path(os.environ["DATAPLAT_SHAPE"]).read_text()),
        int(os.environ.get("DATAPLAT_SHAPE_COPIES", "100")),
    )
