"""A small project of its own, as a user makes one: the flights dataflow.

Daily flight files and an hourly radar source (two partitionings), a carrier dimension, a
SQL join, a Python transform kept next to definitions.py (`flights_transforms.py`) and an
aggregate over the hourly table. Used by the command-line, job and sensor tests.
"""

import shutil
from pathlib import Path

from tests.conftest import PROJECT_ROOT

FLIGHTS = """\
dataflow: flights
description: Daily flight files, hourly radar positions and the carrier dimension.
owners: [team:ops]
partitioning: {granularity: daily, timezone: UTC, start: "2024-03-01", end: "2024-03-03"}

landing:
  flights:
    path: "flights/flights_{date:%Y%m%d}.csv"
    schema: {flight_id: int64, carrier: string, delay_min: int32}
  positions:
    path: "flights/positions_{date:%Y%m%d%H}.csv"
    partitioning: {granularity: hourly, timezone: UTC, start: "2024-03-01T00:00", end: "2024-03-01T03:00"}
    schema: {flight_id: int64, altitude: int32}
  carriers:
    path: flights/carriers.csv
    schema: {carrier: string, name: string}

raw:
  flights: {from: landing.flights}
  positions: {from: landing.positions}
  carriers: {from: landing.carriers}

staging:
  carriers: {from: raw.carriers, steps: [trim, {dedupe: [carrier]}]}
  positions: {from: raw.positions, steps: [{select: [flight_id, altitude]}]}

common:
  flights:
    sql: |
      select f.flight_id, f.carrier, c.name as carrier_name, f.delay_min
      from {{ raw.flights }} as f left join {{ staging.carriers }} as c using (carrier)
    rules:
      - {not_null: carrier_name}

business:
  delays:
    from: common.flights
    python: flights_transforms.delay_bands
  positions_per_flight:
    partitioned: false
    sql: select flight_id, count(*) as positions from {{ staging.positions }} group by all
"""

TRANSFORMS = '''\
"""The flights project's own Python transforms."""

import pandas as pd


def delay_bands(flights: pd.DataFrame) -> pd.DataFrame:
    late = flights["delay_min"] > 15
    return flights.assign(band=late.map({True: "late", False: "on time"}))
'''

LANDING = {
    "flights/carriers.csv": "carrier,name\nAF,Air France\nKL, KLM \n",
    "flights/flights_20240301.csv": "flight_id,carrier,delay_min\n1,AF,5\n2,KL,40\n3,AF,0\n",
    "flights/flights_20240302.csv": "flight_id,carrier,delay_min\n4,KL,20\n5,AF,3\n6,KL,1\n",
    "flights/positions_2024030100.csv": "flight_id,altitude\n1,1000\n2,3000\n",
    "flights/positions_2024030101.csv": "flight_id,altitude\n1,9000\n3,500\n",
    "flights/positions_2024030102.csv": "flight_id,altitude\n2,11000\n3,7000\n",
}
FLIGHTS_JOBS = [
    "flights_dimensions_job",
    "flights_flights_job",
    "flights_positions_job",
    "flights_aggregates_job",
]


def write_flights_project(root: Path, *, sensors: bool = True) -> Path:
    """The flights project at `root`, its landing files at `root/landing`; returns `root`.

    Entry files and profiles as the repository has them, the dataflow and the transform
    module next to definitions.py. `sensors=False` declares the sensors stopped.
    """
    root.mkdir(parents=True, exist_ok=True)
    for name in ("definitions.py", "workspace.yaml", "dagster.yaml", "dagster.aws.yaml"):
        shutil.copyfile(PROJECT_ROOT / name, root / name)
    shutil.copytree(PROJECT_ROOT / "resources", root / "resources")
    (root / "assets" / "flights").mkdir(parents=True)
    text = (
        FLIGHTS
        if sensors
        else FLIGHTS.replace("    schema:", "    sensor: {enabled: false}\n    schema:")
    )
    (root / "assets" / "flights" / "dataflow.yaml").write_text(text)
    (root / "flights_transforms.py").write_text(TRANSFORMS)
    for path, text in LANDING.items():
        (root / "landing" / path).parent.mkdir(parents=True, exist_ok=True)
        (root / "landing" / path).write_text(text)
    return root
