"""File-arrival sensors: one per landing source, reading through the file-store resource.

A tick lists the source's files, decides which are new (`arrivals`), records each new file
as an observation of the landing asset, leaves out the windows already built from exactly
these file versions (`built_windows`), and requests a run of the dataflow's job for each
window left, selecting the tables below the source (plus any dimension not built yet; in a
dataflow with several partitionings the dimensions have their own job: a run of it is
requested and the windows wait for the next tick).
"""

from collections import defaultdict
from datetime import UTC, datetime

import dagster as dg

from dataplat_dagster.arrival_targets import ArrivalTarget, selection_of
from dataplat_dagster.arrivals import Arrivals, Cursor, WindowLookup, evaluate
from dataplat_dagster.assets.support import asset_key, partitions_def
from dataplat_dagster.built_windows import window_state
from dataplat_dagster.config.plan import Plan, TablePlan
from dataplat_dagster.jobs import run_tags
from dataplat_dagster.notifications import arrival_notice
from dataplat_dagster.partitions import WindowIndex, current_window_index
from dataplat_dagster.resources.file_store import FileInfo, FileStore
from dataplat_dagster.resources.io_managers import ParquetIOManager
from dataplat_dagster.resources.notifier import NotifierResource


def sensor_name(landing: TablePlan) -> str:
    return f"{landing.id.dataflow}_{landing.id.name}_file_arrival_sensor"


def build_file_arrival_sensor(landing: TablePlan, plan: Plan) -> dg.SensorDefinition | None:
    target = ArrivalTarget(landing, plan)
    if not target.tables or target.job is None:
        return None
    spec = landing.spec
    windows = partitions_def(landing)
    # the dataflow's landing sources (an index: scanning the plan per sensor was quadratic)
    neighbours = [t for t in plan.of_dataflow(landing.id.dataflow) if t.layer == "landing"]
    others = [t.path_pattern for t in neighbours if t.id != landing.id]
    name = sensor_name(landing)
    reporter = min(
        (
            t
            for t in neighbours
            if t.path_pattern.static_prefix == landing.path_pattern.static_prefix
        ),
        key=lambda t: t.id.name,
    )
    tags = run_tags(plan, landing.id.dataflow)

    @dg.sensor(
        name=name,
        description=f"Starts {target.job.name} when files matching {spec.path!r} arrive for {landing.id}.",
        job_name=target.job.name,
        minimum_interval_seconds=max(int(spec.sensor.interval.total_seconds()), 1),
        default_status=dg.DefaultSensorStatus.RUNNING
        if spec.sensor.enabled
        else dg.DefaultSensorStatus.STOPPED,
    )
    def file_arrival_sensor(
        context: dg.SensorEvaluationContext,
        file_store: FileStore,
        notifier: NotifierResource,
        io_manager: dg.ResourceParam[ParquetIOManager],
    ):
        assert landing.path_pattern is not None
        now = datetime.now(UTC)
        # bound once per tick: thousands of files each need their window and its eligibility
        index = current_window_index(windows, now) if windows else None
        listing = file_store.list_files(landing.path_pattern.static_prefix)
        arrivals = evaluate(
            listing,
            Cursor.from_json(context.cursor),
            pattern=landing.path_pattern,
            others=others,
            window_of=_lookup(index, landing),
            overlap=spec.sensor.overlap,
            max_files=spec.sensor.max_files_per_tick,
            now=now,
            report_unmatched=reporter.id == landing.id,
        )
        storage = io_manager.storage()
        current = _files_by_window(listing, landing, index, arrivals)
        requests, settled, deferred = [], [], []
        for window in sorted(arrivals.batches, key=str):
            # one file covering many windows (a partition column) feeds every window
            keys = (
                [window] if window is not None or windows is None else windows.get_partition_keys()
            )
            states = [
                window_state(storage, raw, target.tables, key, current.get(window, []))
                for raw in target.raws
                for key in keys
            ]
            if all(state.settled for state in states):
                settled.append(states[0].reason)
                context.log.info(f"{landing.id}: no run requested: {states[0].reason}")
                continue
            why = next(state.reason for state in states if not state.settled)
            extra = target.missing_dimensions(storage)
            if extra and not target.builds(extra) and target.dimensions_job is not None:
                deferred.append(str(window))  # built after the dimensions it reads
                continue
            extra = extra if target.builds(extra) else []
            requests.append(_request(arrivals, name, window, windows, target, extra, tags, why))
        if deferred:
            missing = target.missing_dimensions(storage)
            requests.append(target.dimensions_request(name, missing, tags, deferred))
            arrivals.defer(deferred)
            context.log.info(
                f"{landing.id}: windows {', '.join(deferred)} wait for "
                f"{', '.join(str(t.id) for t in missing)} (never built): "
                f"requested {target.dimensions_job.name}"
            )
        for unmatched in arrivals.unmatched:
            context.log.warning(f"{landing.id}: {unmatched.path} {unmatched.reason}")
        if requests or arrivals.unmatched:
            notifier.send(arrival_notice(source=str(landing.id), arrivals=arrivals))
        observations = _observations(arrivals, landing, file_store)
        if not requests:
            return dg.SensorResult(
                skip_reason=_skip_reason(arrivals, landing, settled),
                cursor=arrivals.cursor.to_json(),
                asset_events=observations,
            )
        return dg.SensorResult(
            run_requests=requests, cursor=arrivals.cursor.to_json(), asset_events=observations
        )

    return file_arrival_sensor


def _lookup(index: WindowIndex | None, landing: TablePlan) -> WindowLookup:
    return WindowLookup(
        key=index.key_of if index else (lambda moment: None),
        eligible_at=lambda key: index.eligible_at(key, landing.partitioning.lag),
    )


def _files_by_window(
    listing: list[FileInfo], landing: TablePlan, index: WindowIndex | None, arrivals: Arrivals
) -> dict[str | None, list[FileInfo]]:
    """Every current file of the windows that have new files (what a run would read)."""
    assert landing.path_pattern is not None
    wanted = set(arrivals.batches)
    grouped: dict[str | None, list[FileInfo]] = defaultdict(list)
    for info in listing:
        match = landing.path_pattern.match(info.path)
        if match is None:
            continue
        key = index.key_of(match.moment) if match.moment is not None and index else None
        if key in wanted:
            grouped[key].append(info)
    return grouped


def _observations(
    arrivals: Arrivals, landing: TablePlan, file_store: FileStore
) -> list[dg.AssetObservation]:
    """One observation of the landing asset per new file: the UI shows what arrived, when."""
    return [
        dg.AssetObservation(
            asset_key=asset_key(landing.id),
            partition=window,
            metadata={
                "file": info.path,
                "size": info.size,
                "version": info.version,
                "window": str(window) if window is not None else "all",
                "dagster/uri": file_store.uri(info.path),
            },
        )
        for window, files in arrivals.batches.items()
        for info in files
    ]


def _request(
    arrivals: Arrivals,
    sensor: str,
    window: str | None,
    windows: dg.TimeWindowPartitionsDefinition | None,
    target: ArrivalTarget,
    dimensions: list[TablePlan],
    tags: dict[str, str],
    why: str,
) -> dg.RunRequest:
    files = arrivals.batches[window]
    run_tags_ = {
        **tags,
        "dataplat/files": ", ".join(f.path for f in files)[:1000],
        "dataplat/reason": why[:200],
    }
    selection = selection_of(dimensions + target.tables)
    if window is not None:
        return dg.RunRequest(
            run_key=arrivals.run_key(sensor, window),
            job_name=target.job.name,
            partition_key=window,
            asset_selection=selection,
            tags=run_tags_,
        )
    if windows is not None:  # one file covering every window: rebuild them all in one run
        keys = windows.get_partition_keys()
        run_tags_ |= {
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        }
    return dg.RunRequest(
        run_key=arrivals.run_key(sensor, window),
        job_name=target.job.name,
        asset_selection=selection,
        tags=run_tags_,
    )


def _skip_reason(arrivals: Arrivals, landing: TablePlan, settled: list[str]) -> str:
    if settled:
        return (
            f"{len(settled)} window(s) already built from the same files: "
            + "; ".join(settled)[:900]
        )
    if arrivals.waiting:
        first = min(arrivals.waiting.items(), key=lambda item: item[1])
        return f"files wait for their window to be eligible: {first[0]} at {first[1].isoformat()} (lag {landing.partitioning.lag})"
    if arrivals.unmatched:
        return f"{len(arrivals.unmatched)} file(s) match no window and were reported"
    return f"no new file matching {landing.spec.path!r}"


def build_sensors(plan: Plan) -> list[dg.SensorDefinition]:
    # extracted sources have no files arriving: their schedules run the extraction
    sensors = [
        build_file_arrival_sensor(t, plan)
        for t in plan
        if t.layer == "landing" and not t.spec.extracted
    ]
    return [s for s in sensors if s is not None]
