"""File-arrival sensors: one per landing source, reading through the file-store resource."""

from datetime import UTC, datetime

import dagster as dg

from dataplat_dagster.arrivals import Arrivals, Cursor, WindowLookup, evaluate
from dataplat_dagster.assets.support import asset_key, partitions_def
from dataplat_dagster.config.plan import Plan, TablePlan
from dataplat_dagster.jobs import has_companion, run_tags
from dataplat_dagster.notifications import arrival_notice
from dataplat_dagster.partitions import current_window_index
from dataplat_dagster.resources.file_store import FileStore
from dataplat_dagster.resources.notifier import NotifierResource


def sensor_name(landing: TablePlan) -> str:
    return f"{landing.id.dataflow}_{landing.id.name}_file_arrival_sensor"


def arrival_targets(landing: TablePlan, plan: Plan) -> list[TablePlan]:
    """What an arrival rebuilds: the raw table and everything below it with the same windows.

    An unpartitioned source (a dimension snapshot) rebuilds the unpartitioned tables below it;
    partitioned tables pick the new dimension up at their next window.
    """
    raws = [t for t in plan if t.layer == "raw" and t.inputs == [landing.id]]
    targets, pending = [], list(raws)
    while pending:
        table = pending.pop(0)
        if table in targets or table.partitioning != landing.partitioning:
            continue
        targets.append(table)
        pending += [t for t in plan if table.id in t.inputs]
    return targets


def build_file_arrival_sensor(landing: TablePlan, plan: Plan) -> dg.SensorDefinition | None:
    targets = arrival_targets(landing, plan)
    if not targets:
        return None
    spec = landing.spec
    keys = [asset_key(t.id) for t in targets] + [
        asset_key(t.id.companion("quarantine")) for t in targets if has_companion(t)
    ]
    windows = partitions_def(landing)
    others = [
        t.path_pattern
        for t in plan
        if t.layer == "landing" and t.id.dataflow == landing.id.dataflow and t.id != landing.id
    ]
    name = sensor_name(landing)
    neighbours = [t for t in plan if t.layer == "landing" and t.id.dataflow == landing.id.dataflow]
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
        description=f"Starts runs when files matching {spec.path!r} arrive for {landing.id}.",
        asset_selection=dg.AssetSelection.assets(*keys),
        minimum_interval_seconds=max(int(spec.sensor.interval.total_seconds()), 1),
        default_status=dg.DefaultSensorStatus.RUNNING
        if spec.sensor.enabled
        else dg.DefaultSensorStatus.STOPPED,
    )
    def file_arrival_sensor(
        context: dg.SensorEvaluationContext, file_store: FileStore, notifier: NotifierResource
    ):
        assert landing.path_pattern is not None
        now = datetime.now(UTC)
        # bound once per tick: thousands of files each need their window and its eligibility
        index = current_window_index(windows, now) if windows else None
        lookup = WindowLookup(
            key=index.key_of if index else (lambda moment: None),
            eligible_at=lambda key: index.eligible_at(key, landing.partitioning.lag),
        )
        arrivals = evaluate(
            file_store.list_files(landing.path_pattern.static_prefix),
            Cursor.from_json(context.cursor),
            pattern=landing.path_pattern,
            others=others,
            window_of=lookup,
            overlap=spec.sensor.overlap,
            max_files=spec.sensor.max_files_per_tick,
            now=now,
            report_unmatched=reporter.id == landing.id,
        )
        requests = [
            _request(arrivals, name, window, windows, landing, tags)
            for window in sorted(arrivals.batches, key=str)
        ]
        for unmatched in arrivals.unmatched:
            context.log.warning(f"{landing.id}: {unmatched.path} {unmatched.reason}")
        if requests or arrivals.unmatched:
            notifier.send(arrival_notice(source=str(landing.id), arrivals=arrivals))
        if not requests:
            return dg.SensorResult(
                skip_reason=_skip_reason(arrivals, landing), cursor=arrivals.cursor.to_json()
            )
        return dg.SensorResult(run_requests=requests, cursor=arrivals.cursor.to_json())

    return file_arrival_sensor


def _request(
    arrivals: Arrivals,
    sensor: str,
    window: str | None,
    windows: dg.TimeWindowPartitionsDefinition | None,
    landing: TablePlan,
    tags: dict[str, str],
) -> dg.RunRequest:
    files = arrivals.batches[window]
    run_tags_ = {**tags, "dataplat/files": ", ".join(f.path for f in files)[:1000]}
    if window is not None:
        return dg.RunRequest(
            run_key=arrivals.run_key(sensor, window), partition_key=window, tags=run_tags_
        )
    if windows is not None:  # one file covering every window: rebuild them all in one run
        keys = windows.get_partition_keys()
        run_tags_ |= {
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        }
    return dg.RunRequest(run_key=arrivals.run_key(sensor, window), tags=run_tags_)


def _skip_reason(arrivals: Arrivals, landing: TablePlan) -> str:
    if arrivals.waiting:
        first = min(arrivals.waiting.items(), key=lambda item: item[1])
        return f"files wait for their window to be eligible: {first[0]} at {first[1].isoformat()} (lag {landing.partitioning.lag})"
    if arrivals.unmatched:
        return f"{len(arrivals.unmatched)} file(s) match no window and were reported"
    return f"no new file matching {landing.spec.path!r}"


def build_sensors(plan: Plan) -> list[dg.SensorDefinition]:
    sensors = [build_file_arrival_sensor(t, plan) for t in plan if t.layer == "landing"]
    return [s for s in sensors if s is not None]
