"""The year of daily flight files, written by hand: plain pandas over the whole year at once.

Does the work of the benchmark's `flights` dataflow (bench/dataflows/flights) the way a person
would write it, free to process every day at once: typed raw with lineage columns, staging
(trim, dedupe within a day, derived columns, the rules: rows with no or an unknown carrier
quarantined, a non-positive distance dropped, the rest checked), the join in common, the two
business tables per day, a CSV and a SQLite table per day, Parquet per layer and day. Prints
the per-stage seconds and the result figures as one JSON object.

    python bench/flights_handwritten.py LANDING_ROOT OUTPUT_FOLDER
"""

import json
import re
import socket
import sqlite3
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

pd.options.future.infer_string = True  # Arrow-backed strings (pandas 2.x)

FLIGHTS = {
    "year": pa.int16(), "month": pa.int8(), "day": pa.int8(), "dep_time": pa.int32(),
    "sched_dep_time": pa.int32(), "dep_delay": pa.int32(), "arr_time": pa.int32(),
    "sched_arr_time": pa.int32(), "arr_delay": pa.int32(), "carrier": pa.string(),
    "flight": pa.int32(), "tailnum": pa.string(), "origin": pa.string(), "dest": pa.string(),
    "air_time": pa.int32(), "distance": pa.int32(), "hour": pa.int8(), "minute": pa.int8(),
    "time_hour": pa.timestamp("us"),
}  # fmt: skip
TIMEZONE = "America/New_York"
TEXT = pd.StringDtype("pyarrow", na_value=np.nan)


def read_csv(path: Path, types: dict[str, pa.DataType] | None = None) -> pd.DataFrame:
    options = pa_csv.ConvertOptions(column_types=types or {}, strings_can_be_null=True)
    table = pa_csv.read_csv(path, convert_options=options)
    return table.to_pandas(types_mapper={pa.string(): TEXT}.get, date_as_object=False)


def write_by_day(frame: pd.DataFrame, folder: Path) -> None:
    for day, rows in frame.groupby("_day", sort=True, observed=True):
        target = folder / f"dt={day}"
        target.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(rows.drop(columns="_day"), preserve_index=False)
        pq.write_table(table, target / "part-0.parquet")


def landing_to_raw(landing: Path, out: Path) -> pd.DataFrame:
    files = sorted((landing / "flights").glob("flights_*.csv"))
    parts = []
    for path in files:
        frame = read_csv(path, FLIGHTS)
        day = re.search(r"(\d{4})(\d{2})(\d{2})", path.name).groups()
        frame["_day"] = "-".join(day)
        frame["_source_file"] = f"flights/{path.name}"
        frame["_source_row"] = np.arange(2, len(frame) + 2)
        parts.append(frame)
    raw = pd.concat(parts, ignore_index=True)
    # naive wall times of New York are instants stored in UTC
    raw["time_hour"] = (
        raw["time_hour"].dt.tz_localize(TIMEZONE, ambiguous="NaT", nonexistent="shift_forward")
    ).dt.tz_convert("UTC")
    for column, value in {
        "_source_system": "faa",
        "_source_host": socket.gethostname(),
        "_extraction_method": "file:csv",
        "_run_id": str(uuid.uuid4()),
    }.items():
        raw[column] = value
    raw["_load_ts"] = pd.Timestamp(datetime.now(UTC))
    write_by_day(raw, out / "raw" / "flights")
    return raw


def dimensions(landing: Path, out: Path) -> dict[str, pd.DataFrame]:
    tables = {}
    for name in ("airlines", "airports", "planes", "weather"):
        frame = read_csv(landing / "flights" / f"{name}.csv")
        for column in frame.select_dtypes("string").columns:
            frame[column] = frame[column].str.strip()
        (out / "staging" / name).mkdir(parents=True, exist_ok=True)
        frame.to_parquet(out / "staging" / name / "part-0.parquet", index=False)
        tables[name] = frame
    tables["weather"]["date"] = pd.to_datetime(tables["weather"]["date"]).dt.date
    return tables


def raw_to_staging(raw: pd.DataFrame, dims: dict[str, pd.DataFrame], out: Path) -> tuple:
    frame = raw
    for column in ("carrier", "tailnum", "origin", "dest"):
        frame[column] = frame[column].str.strip()
    keys = ["_day", "carrier", "flight", "origin", "time_hour"]
    frame = frame.sort_values(["_day", "_source_row"], kind="stable")
    frame = frame[~frame.duplicated(keys, keep="first")]
    frame["cancelled"] = frame["dep_time"].isna()
    frame["gain"] = frame["dep_delay"] - frame["arr_delay"]
    no_carrier = frame["carrier"].isna()
    unknown = ~no_carrier & ~frame["carrier"].isin(dims["airlines"]["carrier"])
    quarantined = frame[no_carrier | unknown]
    frame = frame[~(no_carrier | unknown)]
    dropped = frame["distance"].notna() & ~frame["distance"].between(1, 5000)
    frame = frame[~dropped]
    checks = {
        "origin_known": bool(frame["origin"].isin(["EWR", "JFK", "LGA"]).all()),
        "month": bool(frame["month"].between(1, 12).all()),
        "sched_dep_in_day": bool(frame["sched_dep_time"].between(0, 2359).all()),
        "tailnum_pattern_warn": int((~frame["tailnum"].str.match(r"^N[0-9]+[A-Z]*$")).sum()),
        "unique": not bool(frame.duplicated(keys).any()),
    }
    write_by_day(frame, out / "staging" / "flights")
    write_by_day(quarantined.astype("string"), out / "staging" / "flights__quarantine")
    return frame, len(quarantined), int(dropped.sum()), checks


def common(staging: pd.DataFrame, dims: dict[str, pd.DataFrame], out: Path) -> pd.DataFrame:
    airlines = dims["airlines"].rename(columns={"name": "airline"})
    planes = dims["planes"][["tailnum", "manufacturer", "seats"]]
    airports = dims["airports"][["faa", "name"]].rename(
        columns={"faa": "dest", "name": "dest_name"}
    )
    weather = dims["weather"][["origin", "date", "temp", "precip"]]
    frame = staging.assign(
        date=pd.to_datetime(
            {"year": staging["year"], "month": staging["month"], "day": staging["day"]}
        ).dt.date
    )
    frame = (
        frame.merge(airlines, on="carrier", how="left")
        .merge(planes, on="tailnum", how="left")
        .merge(airports, on="dest", how="left")
        .merge(weather, on=["origin", "date"], how="left")
        .drop(columns="date")
    )
    write_by_day(frame, out / "common" / "flights_enriched")
    return frame


def business(enriched: pd.DataFrame, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = enriched.assign(on_time=(enriched["arr_delay"] <= 15).astype("float64"))
    delays = (
        frame.groupby(["_day", "origin", "carrier"], observed=True)
        .agg(
            flights=("flight", "size"),
            cancelled=("cancelled", "sum"),
            avg_dep_delay=("dep_delay", "mean"),
            avg_arr_delay=("arr_delay", "mean"),
            on_time_share=("on_time", "mean"),
        )
        .reset_index()
    )
    by_route = frame.assign(arr_delay=frame["arr_delay"].astype("float64")).groupby(
        ["_day", "origin", "dest"], observed=True
    )
    routes = by_route.agg(flights=("flight", "size"), mean_distance=("distance", "mean"))
    routes["p90_arr_delay"] = by_route["arr_delay"].quantile(0.9)
    routes = routes.reset_index()
    write_by_day(delays, out / "business" / "daily_delays")
    write_by_day(routes, out / "business" / "route_stats")
    return delays, routes


def outputs(delays: pd.DataFrame, out: Path) -> None:
    folder = out / "exports" / "flights"
    folder.mkdir(parents=True, exist_ok=True)
    for day, rows in delays.groupby("_day", sort=True):
        rows.drop(columns="_day").to_csv(
            folder / f"daily_delays_{day.replace('-', '')}.csv", index=False
        )
    with sqlite3.connect(out / "reporting.db") as db:
        delays.rename(columns={"_day": "_partition"}).to_sql(
            "daily_delays", db, if_exists="replace", index=False
        )


def main() -> None:
    landing, out = Path(sys.argv[1]), Path(sys.argv[2])
    stages: dict[str, float] = {}
    started = time.perf_counter()
    raw = landing_to_raw(landing, out)
    dims = dimensions(landing, out)
    stages["landing_to_raw"] = time.perf_counter() - started
    mark = time.perf_counter()
    staging, quarantined, dropped, checks = raw_to_staging(raw, dims, out)
    stages["raw_to_staging"] = time.perf_counter() - mark
    mark = time.perf_counter()
    enriched = common(staging, dims, out)
    stages["common"] = time.perf_counter() - mark
    mark = time.perf_counter()
    delays, routes = business(enriched, out)
    stages["business"] = time.perf_counter() - mark
    mark = time.perf_counter()
    outputs(delays, out)
    stages["outputs"] = time.perf_counter() - mark
    figures = {
        "raw_rows": len(raw),
        "staging_rows": len(staging),
        "quarantined": quarantined,
        "dropped": dropped,
        "days": int(staging["_day"].nunique()),
        "daily_delays_rows": len(delays),
        "daily_delays_flights": int(delays["flights"].sum()),
        "daily_delays_cancelled": int(delays["cancelled"].sum()),
        "avg_arr_delay_total": float(delays["avg_arr_delay"].sum()),
        "route_stats_rows": len(routes),
        "p90_total": float(routes["p90_arr_delay"].sum()),
        "checks": checks,
    }
    print(json.dumps({"stages": stages, "figures": figures}))


if __name__ == "__main__":
    main()
