"""A year of daily flight files through the platform and by hand, side by side (issue 13).

Most real dataflows are many small windows; this benchmark measures what the platform costs
per window. It generates the data (bench/flights_data.py) when missing, then alternates, each
as its own process after a warm-up of each:

- `year`: `dataplat run flights --all` (every day in one range run, the default);
- `window`: `dataplat run flights --partition <day>`, one day, whole process start to exit,
  in a new installation (Dagster creates its instance's databases first);
- `window_warm`: the same with the instance's databases already created, as for every run
  after an installation's first (the usual daily run);
- `month`: `dataplat run flights --from <first> --to <last> --single-run`;
- the hand-written pandas script (bench/flights_handwritten.py) over the same days,

verifies that both give the same rows (staging rows, quarantined rows, daily_delays equal
after sorting), and prints medians and ratios platform / hand-written. It also times
`python -m dagster definitions validate` on the repository's code location and on a
generated one declaring 100 copies of the retail demo dataflow; the latter's hand-written side
is the same Dagster objects (assets, checks, jobs, schedules, sensors) written directly in
Dagster with empty bodies (bench/dagster_shape.py): what Dagster itself costs to load them.

    python bench/flights.py --runs 3
    python bench/flights.py --days 3 --runs 1 --cases window,year   # a quick check
    python bench/flights.py --engine spark --cases month              # the platform on Spark

`--engine spark` runs the platform's tables on the Spark engine (local[2], as the TPC-H
benchmark's Spark runs), unchanged declarations; the hand-written script stays pandas, so the
ratio is the platform on Spark against pandas by hand, and the rows are verified the same.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import BENCH, DATA, ROOT, bench_project, median, platform_env, use_engine
from bench.flights_data import YEAR, generate

CASES = ("year", "window", "window_warm", "month")
LOAD_CASES = ("validate_default", "validate_100")
WINDOW_DAY = date(YEAR, 3, 15)  # the `window` case: a day with no dirty row
MONTH = 3  # the `month` case: March


def flights_data(days: int) -> Path:
    """The landing root holding flights/, generated when missing."""
    root = DATA / ("flights" if days == 365 else f"flights-{days}d")
    if not (root / "flights" / "weather.csv").exists():
        print(f"generating {days} day(s) of flights into {root} ...", flush=True)
        generate(root, days)
    return root


def case_days(case: str, days: int) -> list[date]:
    """The days a case builds (the `window` and `month` cases within the generated days)."""
    first = date(YEAR, 1, 1)
    every = [first + timedelta(days=i) for i in range(days)]
    if case == "year":
        return every
    if case in ("window", "window_warm"):
        return [WINDOW_DAY] if WINDOW_DAY in every else every[-1:]
    month = [d for d in every if d.month == MONTH] or every
    return month


def measure(
    command: list[str], env: dict[str, str], cwd: Path = ROOT
) -> tuple[float, int, str, float]:
    """(wall seconds, peak RSS in MiB, stdout, CPU seconds) of one child, measured from outside.

    CPU seconds (user + system) depend less on what else the machine runs than wall seconds.
    """
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 10):
        raise RuntimeError(
            f"{' '.join(command[:6])} exited with {code}:\n{stdout[-3000:]}\n{stderr[-3000:]}"
        )
    return wall, usage.ru_maxrss // 1024, stdout, usage.ru_utime + usage.ru_stime


def platform_command(
    project: Path, case: str, days: list[date], full_year: bool, profile: Path | None = None
) -> list[str]:
    command = [sys.executable, "-m", "dataplat_dagster.cli", "--project-dir", str(project)]
    if profile is not None:  # the run in pyinstrument: where the time goes
        command[1:1] = ["-m", "pyinstrument", "-r", "text", "-o", str(profile)]
    command += ["run", "flights", "--json", "--log-level", "WARNING"]
    if case in ("window", "window_warm"):
        return [*command, "--partition", days[0].isoformat()]
    if case == "year" and full_year:
        return [*command, "--all"]  # a range: one run by default
    return [*command, "--from", days[0].isoformat(), "--to", days[-1].isoformat(), "--single-run"]


def run_platform(
    landing: Path,
    work: Path,
    case: str,
    days: list[date],
    full_year: bool,
    profile: Path | None = None,
    engine: str = "pandas",
) -> dict:
    env = platform_env(landing, work)
    project = bench_project(work / "project", "flights")
    use_engine(project, engine)
    command = platform_command(project, case, days, full_year, profile)
    if case == "window_warm":  # not timed: what an installation's first run leaves behind
        create_instance = "import dagster; dagster.DagsterInstance.get()"
        subprocess.run([sys.executable, "-c", create_instance], env=env, cwd=ROOT, check=True)
    wall, rss, stdout, cpu = measure(command, env)
    summary = json.loads(stdout[stdout.index("{") :])
    assert summary["status"] in ("success", "success_with_warnings"), summary["errors"]
    steps = summary.get("steps", {})
    return {"wall": wall, "cpu": cpu, "rss": rss, "steps": steps, **platform_rows(work / "state")}


def platform_rows(state: Path) -> dict:
    """What the platform wrote: staging and quarantine row counts and daily_delays."""
    import pyarrow.fs as pa_fs

    from dataplat_dagster.resources.storage import TableStorage

    storage = TableStorage(
        pa_fs.LocalFileSystem(), str(state / "warehouse"), "file://", atomic_rename=True
    )

    def rows(key_path: list[str]) -> int:
        windows = storage.existing_partitions(key_path)
        return sum(storage.manifest(key_path, w).rows for w in windows)

    key = ["business", "flights", "daily_delays"]
    delays, counts = storage.read(key, storage.existing_partitions(key))
    frame = delays.to_pandas()
    frame.insert(0, "day", [k for k, n in counts for _ in range(n)])
    return {
        "staging_rows": rows(["staging", "flights", "flights"]),
        "quarantined": rows(["staging", "flights", "flights__quarantine"]),
        "daily_delays": frame,
    }


def subset_landing(landing: Path, days: list[date], work: Path) -> Path:
    """A landing root with only `days`' flight files (links), for the hand-written script."""
    folder = work / "landing" / "flights"
    folder.mkdir(parents=True)
    for path in (landing / "flights").iterdir():
        day = re.search(r"flights_(\d{8})\.csv$", path.name)
        if day is None or date(*map(int, (day[1][:4], day[1][4:6], day[1][6:]))) in days:
            (folder / path.name).symlink_to(path)
    return folder.parent


def run_handwritten(landing: Path, work: Path, days: list[date]) -> dict:
    import pandas as pd
    import pyarrow.parquet as pq

    out = work / "handwritten"
    out.mkdir(parents=True)
    source = subset_landing(landing, days, work)
    script = [sys.executable, str(BENCH / "flights_handwritten.py"), str(source), str(out)]
    wall, rss, stdout, cpu = measure(script, dict(os.environ))
    result = json.loads(stdout)
    parts = []
    for folder in sorted((out / "business" / "daily_delays").glob("dt=*")):
        part = pq.read_table(folder / "part-0.parquet").to_pandas()
        part.insert(0, "day", folder.name.removeprefix("dt="))
        parts.append(part)
    figures = result["figures"]
    return {
        "wall": wall,
        "cpu": cpu,
        "rss": rss,
        "stages": result["stages"],
        "staging_rows": figures["staging_rows"],
        "quarantined": figures["quarantined"],
        "daily_delays": pd.concat(parts, ignore_index=True),
    }


def verify(case: str, platform: dict, handwritten: dict) -> None:
    """Both give the same staging and quarantine counts and the same daily_delays rows."""
    import pandas as pd

    for figure in ("staging_rows", "quarantined"):
        assert platform[figure] == handwritten[figure], (
            f"{case}: {figure} platform {platform[figure]} != hand-written {handwritten[figure]}"
        )
    columns = ["day", "origin", "carrier", "flights", "cancelled"]
    columns += ["avg_dep_delay", "avg_arr_delay", "on_time_share"]

    def normal(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[columns].astype({"day": str, "origin": str, "carrier": str})
        frame = frame.astype({c: "float64" for c in columns[3:]})
        return frame.sort_values(columns[:3]).reset_index(drop=True)

    pd.testing.assert_frame_equal(
        normal(platform["daily_delays"]), normal(handwritten["daily_delays"]), rtol=1e-9
    )


def retail_copies(work: Path, copies: int) -> Path:
    """A project declaring `copies` renamed copies of the retail demo dataflow."""
    project = work / "project100"
    shutil.copytree(ROOT / "resources", project / "resources")
    for name in ("definitions.py", "workspace.yaml", "dagster.yaml"):
        shutil.copyfile(ROOT / name, project / name)
    source = ROOT / "assets" / "retail"
    declaration = (source / "dataflow.yaml").read_text()
    for number in range(copies):
        name = f"retail_{number:03d}"
        folder = project / "assets" / name
        shutil.copytree(source, folder)
        text = declaration.replace("dataflow: retail\n", f"dataflow: {name}\n", 1)
        # each copy reads and writes its own files and table
        text = text.replace('"retail/', f'"{name}/').replace(" retail/", f" {name}/")
        if number:  # the demo's contract names the table daily_revenue: the first copy keeps it
            text = text.replace("table: daily_revenue", f"table: daily_revenue_{number:03d}")
            text = re.sub(r"\n *contract: .*DailyRevenue.*", "", text)
        (folder / "dataflow.yaml").write_text(text)
    return project


def validate_env(work: Path) -> dict[str, str]:
    env = {**os.environ, "DATAPLAT_ENV": "local", "DATAPLAT_HOME": str(work / "state")}
    env["DAGSTER_HOME"] = str(work / "dagster")
    env["PYTHONPATH"] = str(ROOT)  # the platform this benchmark sits in, whatever is installed
    Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    return env


def run_validate(project: Path, work: Path) -> dict:
    command = [sys.executable, "-m", "dagster", "definitions", "validate"]
    command += ["-w", str(project / "workspace.yaml")]
    wall, rss, _, cpu = measure(command, validate_env(work), cwd=project)
    return {"wall": wall, "cpu": cpu, "rss": rss}


def run_validate_dagster_shape(project: Path, work: Path, copies: int) -> dict:
    """`definitions validate` on the project's Dagster objects written directly in Dagster."""
    env, shape = validate_env(work), work / "shape.json"
    script = str(BENCH / "dagster_shape.py")
    subprocess.run([sys.executable, script, str(project), str(shape)], env=env, check=True)
    env.update(DATAPLAT_SHAPE=str(shape), DATAPLAT_SHAPE_COPIES=str(copies))
    command = [sys.executable, "-m", "dagster", "definitions", "validate", "-f", script]
    wall, rss, _, cpu = measure(command, env, cwd=work)
    return {"wall": wall, "cpu": cpu, "rss": rss}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="measured runs of each, after a warm-up"
    )
    parser.add_argument("--days", type=int, default=365, help="days of flights (365: the year)")
    parser.add_argument(
        "--cases",
        default=",".join(CASES + LOAD_CASES),
        help=f"comma-separated, of {', '.join(CASES + LOAD_CASES)}",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="folder: run the platform in pyinstrument, a text profile per case and run (slower)",
    )
    parser.add_argument("--no-warm-up", action="store_true", help="skip the warm-up runs")
    parser.add_argument(
        "--engine", choices=("pandas", "spark"), default="pandas", help="the platform's engine"
    )
    args = parser.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    results = benchmark(args.days, args.runs, cases, not args.no_warm_up, args.profile, args.engine)
    report(results, args)


def benchmark(
    days: int,
    runs: int,
    cases: list[str],
    warm_up: bool = True,
    profile: Path | None = None,
    engine: str = "pandas",
) -> dict:
    """{case: {"platform": [...], "handwritten": [...]}} of verified runs (warm-ups left out)."""
    landing = flights_data(days) if any(c in CASES for c in cases) else None
    results: dict[str, dict[str, list[dict]]] = {}
    first = 0 if warm_up else 1
    for case in cases:
        results[case] = {"platform": [], "handwritten": []}
        for run in range(first, runs + 1):
            work = Path(tempfile.mkdtemp(prefix=f"dataplat-flights-{case}-"))
            try:
                where = profile / f"{case}-{run}.txt" if profile else None
                measured = one_run(case, run, landing, days, work, where, engine)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            label = " (warm-up)" if run == 0 else ""
            for name, result in measured.items():
                print(
                    f"{case:16s} run {run}{label}: {name:11s} {result['wall']:7.2f} s"
                    f"  {result['cpu']:7.2f} s CPU  {result['rss']:6d} MiB",
                    flush=True,
                )
                if run:
                    results[case][name].append(result)
    return results


def one_run(
    case: str,
    run: int,
    landing: Path | None,
    days: int,
    work: Path,
    profile: Path | None = None,
    engine: str = "pandas",
) -> dict:
    if profile:
        profile.parent.mkdir(parents=True, exist_ok=True)
    order = ("platform", "handwritten") if run % 2 == 0 else ("handwritten", "platform")
    if case in LOAD_CASES:
        if case == "validate_default":
            return {"platform": run_validate(ROOT, work)}
        project = retail_copies(work, 100)
        return {  # hand-written: the same Dagster objects without the platform
            name: run_validate(project, work / name)
            if name == "platform"
            else run_validate_dagster_shape(project, work / name, 100)
            for name in order
        }
    assert landing is not None
    chosen = case_days(case, days)
    measured = {}
    for name in order:
        if name == "platform":
            measured[name] = run_platform(
                landing, work / name, case, chosen, days == 365, profile, engine
            )
        else:
            measured[name] = run_handwritten(landing, work / name, chosen)
    verify(case, measured["platform"], measured["handwritten"])
    return measured


def report(results: dict, args: argparse.Namespace) -> None:
    print(
        f"\nflights, {args.days} day(s), platform on {args.engine}, medians of {args.runs} "
        "run(s) (results verified)"
    )
    print(f"{'':30s}{'platform':>10s}{'hand-written':>14s}{'ratio':>8s}")
    for case, by_name in results.items():
        for figure, unit, form in (
            ("wall", "wall (s)", ".2f"),
            ("cpu", "CPU (s)", ".2f"),
            ("rss", "peak RSS (MiB)", ".0f"),
        ):
            p = median([r[figure] for r in by_name["platform"]])
            label = f"  {case + ', ' + unit:28s}{p:10{form}}"
            if by_name["handwritten"]:
                h = median([r[figure] for r in by_name["handwritten"]])
                label += f"{h:14{form}}{p / h:8.2f}"
            print(label)
        steps = [r["steps"] for r in by_name["platform"] if r.get("steps")]
        if steps:  # the platform's slowest steps (Dagster step durations, medians)
            names = sorted(steps[0], key=lambda n: -median([s.get(n, 0) for s in steps]))[:6]
            shown = ", ".join(f"{n} {median([s.get(n, 0) for s in steps]):.1f}" for n in names)
            print(f"    slowest steps (s): {shown}")


if __name__ == "__main__":
    main()
