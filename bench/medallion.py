"""The TPC-H medallion through the platform and by hand, side by side (see BENCH.md).

Generates the data with tpchgen-cli when missing, then alternates the platform
(`dataplat run tpch --all --single-run`) and the hand-written script of the same engine
(bench/handwritten.py for pandas, bench/handwritten_spark.py for Spark), each as its own
process after a warm-up run, checks each against the expected results and the platform's
rows against the hand-written ones (rows per month of staging, every business row), and
prints per-stage seconds, whole-process wall and CPU seconds and peak memory (RSS summed
over the process tree, a Spark JVM included), with medians and ratios. `--engine both` runs
the four side by side and also compares Spark with pandas.

    python bench/medallion.py --sf 1 --runs 3
    python bench/medallion.py --sf 0.1 --engine both
"""

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    BENCH,
    SPARK_DRIVER_MEMORY,
    SPARK_SHUFFLE_PARTITIONS,
    bench_project,
    measure_tree,
    median,
    platform_env,
    tpch_data,
    use_engine,
)

# BENCH.md's expected results: rows of lineitem and orders, months of each, business figures
EXPECTED = {
    0.1: {
        "lineitem": 600_572,
        "orders": 150_000,
        "revenue_rows": 560,
        "pricing_rows": 4,
        "pricing_count": 591_856,
    },
    1.0: {
        "lineitem": 6_001_215,
        "orders": 1_500_000,
        "revenue_rows": 560,
        "pricing_rows": 4,
        "pricing_count": 5_916_591,
    },
}
MONTHS = {"lineitem": 84, "orders": 80}
STAGES = ("landing_to_raw", "raw_to_staging", "checks", "business")
BUSINESS = {  # each business table and its key columns, the order rows are compared in
    "revenue_by_month_shipmode": ("order_month", "l_shipmode"),
    "pricing_summary": ("l_returnflag", "l_linestatus"),
}
FIGURES = (("wall (s)", "wall", 1), ("CPU (s)", "cpu", 1), ("peak RSS (MiB)", "rss", 0))
HANDWRITTEN = {"pandas": "handwritten.py", "spark": "handwritten_spark.py"}


def run_platform(
    landing: Path,
    work: Path,
    engine: str = "pandas",
    shuffle_partitions: int = SPARK_SHUFFLE_PARTITIONS,
    driver_memory: str = SPARK_DRIVER_MEMORY,
) -> dict:
    env = platform_env(landing, work)
    project = bench_project(work / "project", "tpch")
    use_engine(project, engine, shuffle_partitions, driver_memory)
    command = [
        sys.executable,
        "-m",
        "dataplat_dagster.cli",
        "--project-dir",
        str(project),
        "run",
        "tpch",
        "--all",
        "--single-run",
        "--json",
        "--log-level",
        "WARNING",
    ]
    measured = measure_tree(command, env)
    summary = json.loads(measured.stdout[measured.stdout.index("{") :])
    steps = summary["steps"]
    checks = sum(m.get("checks_seconds", 0) for m in summary["metrics"].values())
    stages = {  # the rules run inside the staging steps: shown apart, as the hand-written does
        "landing_to_raw": sum(s for k, s in steps.items() if k.startswith("raw__")),
        "raw_to_staging": sum(s for k, s in steps.items() if k.startswith("staging__")) - checks,
        "checks": checks,
        "business": sum(s for k, s in steps.items() if k.startswith("business__")),
    }
    return {
        "wall": measured.wall,
        "cpu": measured.cpu,
        "rss": measured.rss,
        "stages": stages,
        "figures": platform_figures(work / "state", summary),
    }


def platform_figures(state: Path, summary: dict) -> dict:
    import pyarrow.fs as pa_fs

    from dataplat_dagster.resources.storage import TableStorage

    storage = TableStorage(
        pa_fs.LocalFileSystem(), str(state / "warehouse"), "file://", atomic_rename=True
    )
    figures: dict = {
        "status": summary["status"],
        "failed_checks": summary["checks"]["failed"],
        "passed_checks": summary["checks"]["passed"],
    }
    for table in ("lineitem", "orders"):
        for layer in ("raw", "staging"):
            months = storage.existing_partitions([layer, "tpch", table])
            by_month = {  # window 1992-01-01 is month 199201
                int(m[:7].replace("-", "")): storage.manifest([layer, "tpch", table], m).rows
                for m in months
            }
            figures[f"{layer}_{table}"] = {
                "rows": sum(by_month.values()),
                "months": len(months),
                "by_month": {m: n for m, n in by_month.items() if n},
            }
    revenue, _ = storage.read(["business", "tpch", "revenue_by_month_shipmode"], [None])
    pricing, _ = storage.read(["business", "tpch", "pricing_summary"], [None])
    figures["business"] = business_figures(revenue, pricing)
    figures["business_rows"] = {
        "revenue_by_month_shipmode": sorted_rows(revenue, BUSINESS["revenue_by_month_shipmode"]),
        "pricing_summary": sorted_rows(pricing, BUSINESS["pricing_summary"]),
    }
    return figures


def business_figures(revenue, pricing) -> dict:
    return {
        "revenue_rows": revenue.num_rows,
        "revenue_line_count": sum(revenue["line_count"].to_pylist()),
        "pricing_rows": pricing.num_rows,
        "pricing_count": sum(pricing["count_order"].to_pylist()),
        "revenue_total": sum(revenue["revenue"].to_pylist()),
    }


def sorted_rows(table, keys: tuple[str, ...]) -> list[dict]:
    """The table's rows as dicts, ordered by its key columns."""
    return sorted(table.to_pylist(), key=lambda row: tuple(row[k] for k in keys))


def run_handwritten(
    landing: Path,
    work: Path,
    engine: str = "pandas",
    shuffle_partitions: int = SPARK_SHUFFLE_PARTITIONS,
    driver_memory: str = SPARK_DRIVER_MEMORY,
) -> dict:
    out = work / "handwritten"
    out.mkdir(parents=True)
    command = [sys.executable, str(BENCH / HANDWRITTEN[engine]), str(landing), str(out)]
    if engine == "spark":
        command += ["--shuffle-partitions", str(shuffle_partitions)]
        command += ["--driver-memory", driver_memory]
    measured = measure_tree(command, dict(os.environ))
    result = json.loads(measured.stdout)
    return {
        "wall": measured.wall,
        "cpu": measured.cpu,
        "rss": measured.rss,
        "stages": result["stages"],
        "figures": handwritten_figures(out, result["figures"]),
    }


def handwritten_figures(out: Path, figures: dict) -> dict:
    """A hand-written script's figures, with its rows per month and business rows added."""
    for table in ("lineitem", "orders"):  # rows per month, read from the files' footers
        for layer in ("raw", "staging"):
            figures[f"{layer}_{table}"]["by_month"] = rows_by_month(out / layer / table)
    figures["business_rows"] = {
        table: sorted_rows(pq.read_table(_business_file(out, table)), keys)
        for table, keys in BUSINESS.items()
    }
    return figures


def _business_file(out: Path, table: str) -> Path:
    """The pandas script writes `<table>.parquet`, Spark a folder `<table>/` of part files."""
    single = out / "business" / f"{table}.parquet"
    return single if single.exists() else out / "business" / table


def rows_by_month(folder: Path) -> dict[int, int]:
    return {
        int(month.name.split("=")[1]): sum(
            pq.ParquetFile(part).metadata.num_rows for part in month.glob("*.parquet")
        )
        for month in folder.glob("month=*")
    }


def verify(name: str, figures: dict, scale: float, landing: Path) -> None:
    expected = EXPECTED.get(scale) or {
        t: count_rows(landing / "tpch" / f"{t}.csv") for t in ("lineitem", "orders")
    }
    platform = name.startswith("platform")
    for table in ("lineitem", "orders"):
        for layer in ("raw", "staging"):
            got = figures[f"{layer}_{table}"]
            assert got["rows"] == expected[table], (
                f"{name}: {layer} {table} has {got['rows']} rows, expected {expected[table]}"
            )
            # the platform writes every declared window, empty ones too; by hand, months with rows
            assert got["months"] == MONTHS[table] or (scale not in EXPECTED and not platform), (
                f"{name}: {layer} {table} has {got['months']} months"
            )
    business = figures["business"]
    assert business["revenue_line_count"] == expected["lineitem"], (
        f"{name}: revenue line counts {business['revenue_line_count']}"
    )
    assert business["pricing_rows"] == 4, f"{name}: pricing rows {business['pricing_rows']}"
    if "revenue_rows" in expected:
        assert (
            business["revenue_rows"] == expected["revenue_rows"]
            and business["pricing_count"] == expected["pricing_count"]
        ), business
    if platform:
        assert figures["status"] == "success" and not figures["failed_checks"], figures
    else:
        assert all(figures["checks"].values()), figures["checks"]


def same_rows(name: str, figures: dict, other_name: str, other: dict) -> None:
    """Both produced the same rows: per month in raw and staging, and every business row.

    Money is float64 and engines sum in different orders: floats agree to 1e-9 relative.
    """
    for table in ("lineitem", "orders"):
        for layer in ("raw", "staging"):
            mine, theirs = figures[f"{layer}_{table}"], other[f"{layer}_{table}"]
            assert mine["by_month"] == theirs["by_month"], (
                f"{name} and {other_name}: {layer} {table} rows per month differ"
            )
    for table in BUSINESS:
        mine, theirs = figures["business_rows"][table], other["business_rows"][table]
        assert len(mine) == len(theirs), f"{name} and {other_name}: {table} row counts differ"
        for row, other_row in zip(mine, theirs, strict=True):
            assert row.keys() == other_row.keys(), f"{table} columns: {row} vs {other_row}"
            for column, value in row.items():
                expected = other_row[column]
                assert (
                    math.isclose(value, expected, rel_tol=1e-9)
                    if isinstance(value, float)
                    else value == expected
                ), f"{name} and {other_name}: {table} {column} {value!r} vs {expected!r}"


def count_rows(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 24), b"")) - 1


def sides(engine: str) -> list[tuple[str, str]]:
    """(side, engine) pairs measured: platform and hand-written for each engine compared."""
    engines = ["pandas", "spark"] if engine == "both" else [engine]
    return [(f"{side}-{e}", e) for e in engines for side in ("platform", "handwritten")]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sf",
        type=float,
        default=1.0,
        help="TPC-H scale factor (0.1 and 1 are checked against BENCH.md)",
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="measured runs of each, after one warm-up of each"
    )
    parser.add_argument(
        "--warmups", type=int, default=1, help="runs of each before the measured ones"
    )
    parser.add_argument(
        "--engine",
        default="pandas",
        choices=["pandas", "spark", "both"],
        help="the engine of the platform and of the hand-written script; both: the four",
    )
    parser.add_argument(
        "--shuffle-partitions",
        type=int,
        default=SPARK_SHUFFLE_PARTITIONS,
        help="spark.sql.shuffle.partitions of both Spark sides",
    )
    parser.add_argument(
        "--driver-memory",
        default=SPARK_DRIVER_MEMORY,
        help="spark.driver.memory of both Spark sides",
    )
    args = parser.parse_args()
    landing = tpch_data(args.sf)
    measured = sides(args.engine)
    results: dict[str, list[dict]] = {name: [] for name, _ in measured}
    for run in range(args.warmups + args.runs):
        order = measured if run % 2 == 0 else measured[::-1]
        figures = {}
        for name, engine in order:
            work = Path(tempfile.mkdtemp(prefix=f"dataplat-bench-{name}-"))
            side = run_platform if name.startswith("platform") else run_handwritten
            try:
                result = side(landing, work, engine, args.shuffle_partitions, args.driver_memory)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            verify(name, result["figures"], args.sf, landing)
            figures[name] = result["figures"]
            print(
                f"run {run}{' (warm-up)' if run < args.warmups else ''}: {name:18s} "
                f"{result['wall']:7.1f} s  {result['cpu']:7.1f} s CPU  {result['rss']:6d} MiB",
                flush=True,
            )
            if run >= args.warmups:
                results[name].append(result)
        first, *others = [name for name, _ in measured]
        for other in others:
            same_rows(first, figures[first], other, figures[other])
    report(results, args)


def report(results: dict[str, list[dict]], args: argparse.Namespace) -> None:
    def med(name: str, pick) -> float:
        return median([pick(r) for r in results[name]])

    def line(label: str, p: float, h: float, digits: int = 1) -> None:
        ratio = p / h if h else float("nan")
        print(f"  {label:32s}{p:10.{digits}f}{h:14.{digits}f}{ratio:8.2f}")

    engines = ["pandas", "spark"] if args.engine == "both" else [args.engine]
    spark = f", shuffle partitions {args.shuffle_partitions}, driver memory {args.driver_memory}"
    for engine in engines:
        platform, hand = f"platform-{engine}", f"handwritten-{engine}"
        print(
            f"\nTPC-H scale factor {args.sf:g}, engine {engine}"
            f"{spark if engine == 'spark' else ''}, medians of {args.runs} runs (results verified)"
        )
        print(f"{'':34s}{'platform':>10s}{'hand-written':>14s}{'ratio':>8s}")
        for stage in STAGES:
            pick = lambda r, stage=stage: r["stages"][stage]  # noqa: E731
            line(f"{stage} (s)", med(platform, pick), med(hand, pick))
        line("whole process, wall (s)", *(med(n, lambda r: r["wall"]) for n in (platform, hand)))
        line("whole process, CPU (s)", *(med(n, lambda r: r["cpu"]) for n in (platform, hand)))
        line("peak memory, RSS (MiB)", *(med(n, lambda r: r["rss"]) for n in (platform, hand)), 0)
    if len(engines) == 2:
        print(f"\nSpark against pandas, same machine, same invocation{spark}")
        print(f"{'':34s}{'spark':>10s}{'pandas':>14s}{'ratio':>8s}")
        for side in ("platform", "handwritten"):
            for label, key, digits in FIGURES:
                line(
                    f"{side}, {label}",
                    med(f"{side}-spark", lambda r, key=key: r[key]),
                    med(f"{side}-pandas", lambda r, key=key: r[key]),
                    digits,
                )


if __name__ == "__main__":
    main()
