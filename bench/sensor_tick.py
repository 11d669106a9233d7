"""One tick of a file-arrival sensor over a landing folder of 10,000 files.

Builds a throwaway project with an hourly dataflow whose files are named by the hour, writes
N files, and times the sensor's tick (listing, matching, windows, cursor) with the Dagster
sensor context, as the daemon calls it: the first tick (a page of the default 1,000 files),
a tick taking all files at once, and a tick with nothing new.

    python bench/sensor_tick.py --files 10000 --runs 5
"""

import argparse
import os
import shutil
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dagster as dg

from bench.common import ROOT, median, timed

DATAFLOW = """\
dataflow: events
partitioning: {{granularity: hourly, start: "2024-01-01", timezone: UTC}}
landing:
  events:
    path: "events/events_{{date:%Y%m%d%H}}.csv"
    schema: {{id: int64}}
    sensor: {{max_files_per_tick: {page}}}
raw:
  events: {{from: landing.events}}
"""


def project(folder: Path, page: int) -> Path:
    shutil.copytree(ROOT / "resources", folder / "resources")
    (folder / "assets" / "events").mkdir(parents=True)
    (folder / "assets" / "events" / "dataflow.yaml").write_text(DATAFLOW.format(page=page))
    return folder


def landing(folder: Path, count: int) -> None:
    target = folder / "events"
    target.mkdir(parents=True)
    start = datetime(2024, 1, 1)
    for hour in range(count):
        (target / f"events_{start + timedelta(hours=hour):%Y%m%d%H}.csv").write_text("id\n1\n")


def tick(
    definitions: dg.Definitions, cursor: str | None, instance: dg.DagsterInstance
) -> dg.SensorResult:
    sensor = next(s for s in definitions.sensors if s.name == "events_events_file_arrival_sensor")
    resources = {key: definitions.resources[key] for key in ("file_store", "notifier")}
    context = dg.build_sensor_context(cursor=cursor, resources=resources, instance=instance)
    return sensor(context)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dataplat-bench-sensor-"))
    landing(work / "landing", args.files)
    os.environ.update(
        {
            "DATAPLAT_HOME": str(work / "state"),
            "DATAPLAT_LANDING_ROOT": str(work / "landing"),
            "DATAPLAT_ENV": "local",
        }
    )
    from dataplat_dagster.definitions_builder import build_definitions

    # one instance for every tick, as the daemon has (creating one takes about a second)
    instance = dg.DagsterInstance.ephemeral()
    figures = {}
    for label, page in (
        ("first tick, a page of 1,000 new files", 1000),
        (f"one tick taking all {args.files:,} files", args.files),
    ):
        definitions = build_definitions(project(work / f"project-{page}", page))
        times = []
        for _ in range(args.runs + 1):
            seconds, result = timed(
                lambda definitions=definitions: tick(definitions, None, instance)
            )
            times.append(seconds)
        assert len(result.run_requests) == min(page, args.files), len(result.run_requests)
        figures[label] = median(times[1:])
        cursor = result.cursor
    idle = [timed(lambda: tick(definitions, cursor, instance))[0] for _ in range(args.runs)]
    figures["a tick with nothing new (cursor after all files)"] = median(idle)
    print(f"\nfile-arrival sensor over {args.files:,} landing files, medians of {args.runs} ticks")
    for label, seconds in figures.items():
        print(f"  {label:52s} {seconds:6.2f} s")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
