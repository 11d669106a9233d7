"""A year of daily flight files, shaped like the public nycflights13 data (deterministic).

365 CSV files of about 920 flights each (336,776 rows, 19 columns, local New York times) and
four small dimension files (airlines, airports, planes, daily weather per origin), with a few
dirty rows a real feed has: a missing carrier, an unknown carrier, a negative distance, a
malformed tail number, an exact duplicate. Generated with a fixed seed, so every run of the
benchmark reads the same bytes.

    python bench/flights_data.py OUTPUT_ROOT
"""

import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

YEAR = 2023
TOTAL_ROWS = 336_776
ORIGINS = ["EWR", "JFK", "LGA"]
CARRIERS = {
    "9E": "Endeavor Air Inc.", "AA": "American Airlines Inc.", "AS": "Alaska Airlines Inc.",
    "B6": "JetBlue Airways", "DL": "Delta Air Lines Inc.", "EV": "ExpressJet Airlines Inc.",
    "F9": "Frontier Airlines Inc.", "FL": "AirTran Airways Corporation",
    "HA": "Hawaiian Airlines Inc.", "MQ": "Envoy Air", "OO": "SkyWest Airlines Inc.",
    "UA": "United Air Lines Inc.", "US": "US Airways Inc.", "VX": "Virgin America",
    "WN": "Southwest Airlines Co.", "YV": "Mesa Airlines Inc.",
}  # fmt: skip
# the dirty rows, by (day of year, row of that day's file): what a real feed holds
DIRTY = {
    (12, 40): "no_carrier",
    (45, 7): "unknown_carrier",
    (77, 300): "negative_distance",
    (150, 11): "bad_tailnum",
    (151, 12): "bad_tailnum",
    (200, 5): "duplicate",
    (300, 99): "duplicate",
    (340, 3): "no_carrier",
}


def _destinations(rng: np.random.Generator) -> list[str]:
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    codes = {"".join(rng.choice(letters, 3)) for _ in range(160)} - set(ORIGINS)
    return sorted(codes)[:101]


def _hhmm(minutes: np.ndarray) -> np.ndarray:
    minutes = np.mod(minutes, 24 * 60)
    return (minutes // 60) * 100 + minutes % 60


def _day(rng: np.random.Generator, day: date, rows: int, dests: list[str], tails: np.ndarray):
    sched_min = rng.integers(5 * 60, 23 * 60 + 59, rows)
    sched_min.sort()
    dep_delay = np.round(rng.gamma(1.2, 14.0, rows) - 12).astype(int)
    distance = rng.integers(80, 4983, rows)
    air_time = np.round(distance / rng.uniform(6.5, 8.5, rows) + 20).astype(int)
    arr_delay = dep_delay + rng.integers(-25, 20, rows)
    sched_arr_min = sched_min + air_time + 30
    carriers = rng.choice(list(CARRIERS), rows)
    frame = pd.DataFrame(
        {
            "year": day.year,
            "month": day.month,
            "day": day.day,
            "dep_time": _hhmm(sched_min + dep_delay),
            "sched_dep_time": _hhmm(sched_min),
            "dep_delay": dep_delay,
            "arr_time": _hhmm(sched_arr_min + arr_delay),
            "sched_arr_time": _hhmm(sched_arr_min),
            "arr_delay": arr_delay,
            "carrier": carriers,
            "flight": rng.permutation(6000)[:rows] + 1,  # a flight number flies once a day
            "tailnum": rng.choice(tails, rows),
            "origin": rng.choice(ORIGINS, rows),
            "dest": rng.choice(dests, rows),
            "air_time": air_time,
            "distance": distance,
            "hour": sched_min // 60,
            "minute": sched_min % 60,
            "time_hour": [f"{day.isoformat()} {h:02d}:00:00" for h in (sched_min // 60).tolist()],
        }
    )
    # cancelled flights have no departure, arrival or air time
    cancelled = rng.random(rows) < 0.02
    for column in ("dep_time", "dep_delay", "arr_time", "arr_delay", "air_time"):
        frame[column] = frame[column].astype("Int64").mask(cancelled)
    return frame


def _dirty(frame: pd.DataFrame, day_of_year: int) -> pd.DataFrame:
    for (doy, row), kind in DIRTY.items():
        if doy != day_of_year:
            continue
        if kind == "no_carrier":
            frame.loc[row, "carrier"] = None
        elif kind == "unknown_carrier":
            frame.loc[row, "carrier"] = "ZZ"
        elif kind == "negative_distance":
            frame.loc[row, "distance"] = -frame.loc[row, "distance"]
        elif kind == "bad_tailnum":
            frame.loc[row, "tailnum"] = "N/A-??"
        elif kind == "duplicate":
            frame = pd.concat([frame.iloc[: row + 1], frame.iloc[row:]], ignore_index=True)
    return frame


def generate(root: Path, days: int = 365) -> Path:
    """Write the landing files under `root/flights/`; returns that folder.

    `days` below 365 writes only the first days' flight files (the same bytes as the year's).
    """
    rng = np.random.default_rng(13)
    folder = root / "flights"
    folder.mkdir(parents=True, exist_ok=True)
    dests = _destinations(rng)
    tails = np.array(
        [f"N{n}{rng.choice(list('ABCDEFGHJKLMNPQRSTUVWXYZ'))}" for n in range(100, 3422)]
    )
    dates = [date(YEAR, 1, 1) + timedelta(days=i) for i in range(365)]
    duplicates = sum(kind == "duplicate" for kind in DIRTY.values())
    sizes = rng.multinomial(TOTAL_ROWS - 3 * 365 - duplicates, np.full(365, 1 / 365)) + 3
    for number, (day, rows) in enumerate(zip(dates, sizes, strict=True), start=1):
        if number > days:
            break
        frame = _dirty(_day(rng, day, int(rows), dests, tails), number)
        frame.to_csv(folder / f"flights_{day:%Y%m%d}.csv", index=False)
    pd.DataFrame({"carrier": list(CARRIERS), "name": list(CARRIERS.values())}).to_csv(
        folder / "airlines.csv", index=False
    )
    airports = pd.DataFrame({"faa": ORIGINS + dests})
    airports["name"] = airports["faa"] + " International"
    airports["lat"] = np.round(rng.uniform(25, 48, len(airports)), 4)
    airports["lon"] = np.round(rng.uniform(-122, -70, len(airports)), 4)
    airports["tzone"] = rng.choice(["America/New_York", "America/Chicago", "America/Denver",
                                    "America/Los_Angeles"], len(airports))  # fmt: skip
    airports.to_csv(folder / "airports.csv", index=False)
    pd.DataFrame(
        {
            "tailnum": tails,
            "year": rng.integers(1975, 2014, len(tails)),
            "manufacturer": rng.choice(["BOEING", "AIRBUS", "EMBRAER", "BOMBARDIER"], len(tails)),
            "seats": rng.integers(20, 400, len(tails)),
        }
    ).to_csv(folder / "planes.csv", index=False)
    weather = pd.DataFrame(
        [(origin, day.isoformat()) for day in dates for origin in ORIGINS],
        columns=["origin", "date"],
    )
    weather["temp"] = np.round(rng.normal(55, 18, len(weather)), 1)
    weather["precip"] = np.round(rng.exponential(0.05, len(weather)), 2)
    weather["wind_speed"] = np.round(rng.gamma(2, 5, len(weather)), 1)
    weather.to_csv(folder / "weather.csv", index=False)
    return folder


if __name__ == "__main__":
    print(generate(Path(sys.argv[1])))
