"""The TPC-H medallion through the platform and by hand, side by side (see BENCH.md).

Generates the data with tpchgen-cli when missing, then alternates the platform
(`dataplat run tpch --all --single-run`) and the hand-written pandas script
(bench/handwritten.py), each as its own process after a warm-up run, checks both against
the expected results, and prints per-stage seconds, whole-process wall seconds and peak
memory (RSS, from the kernel's accounting of each child), with medians and ratios.

    python bench/medallion.py --sf 1 --runs 3
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import BENCH, ROOT, bench_project, median, platform_env, tpch_data

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


def measure(command: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in MiB, stdout) of one child process."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 10):
        raise RuntimeError(f"{command[:3]} exited with {code}:\n{stderr[-3000:]}")
    return wall, usage.ru_maxrss // 1024, stdout


def run_platform(landing: Path, work: Path) -> dict:
    env = platform_env(landing, work)
    project = bench_project(work / "project", "tpch")
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
    wall, rss, stdout = measure(command, env)
    summary = json.loads(stdout[stdout.index("{") :])
    steps = summary["steps"]
    checks = sum(m.get("checks_seconds", 0) for m in summary["metrics"].values())
    stages = {  # the rules run inside the staging steps: shown apart, as the hand-written does
        "landing_to_raw": sum(s for k, s in steps.items() if k.startswith("raw__")),
        "raw_to_staging": sum(s for k, s in steps.items() if k.startswith("staging__")) - checks,
        "checks": checks,
        "business": sum(s for k, s in steps.items() if k.startswith("business__")),
    }
    return {
        "wall": wall,
        "rss": rss,
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
            figures[f"{layer}_{table}"] = {
                "rows": sum(storage.manifest([layer, "tpch", table], m).rows for m in months),
                "months": len(months),
            }
    revenue, _ = storage.read(["business", "tpch", "revenue_by_month_shipmode"], [None])
    pricing, _ = storage.read(["business", "tpch", "pricing_summary"], [None])
    figures["business"] = {
        "revenue_rows": revenue.num_rows,
        "revenue_line_count": sum(revenue["line_count"].to_pylist()),
        "pricing_rows": pricing.num_rows,
        "pricing_count": sum(pricing["count_order"].to_pylist()),
        "revenue_total": sum(revenue["revenue"].to_pylist()),
    }
    return figures


def run_handwritten(landing: Path, work: Path) -> dict:
    out = work / "handwritten"
    out.mkdir(parents=True)
    wall, rss, stdout = measure(
        [sys.executable, str(BENCH / "handwritten.py"), str(landing), str(out)], dict(os.environ)
    )
    result = json.loads(stdout)
    return {"wall": wall, "rss": rss, "stages": result["stages"], "figures": result["figures"]}


def verify(name: str, figures: dict, scale: float, landing: Path) -> None:
    expected = EXPECTED.get(scale) or {
        t: count_rows(landing / "tpch" / f"{t}.csv") for t in ("lineitem", "orders")
    }
    for table in ("lineitem", "orders"):
        for layer in ("raw", "staging"):
            got = figures[f"{layer}_{table}"]
            assert got["rows"] == expected[table], (
                f"{name}: {layer} {table} has {got['rows']} rows, expected {expected[table]}"
            )
            # the platform writes every declared window, empty ones too; by hand, months with rows
            assert got["months"] == MONTHS[table] or (
                scale not in EXPECTED and name != "platform"
            ), f"{name}: {layer} {table} has {got['months']} months"
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
    if name == "platform":
        assert figures["status"] == "success" and not figures["failed_checks"], figures
    else:
        assert all(figures["checks"].values()), figures["checks"]


def count_rows(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 24), b"")) - 1


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
        "--engine", default="pandas", choices=["pandas"], help="the engine compared"
    )
    args = parser.parse_args()
    landing = tpch_data(args.sf)
    results: dict[str, list[dict]] = {"platform": [], "handwritten": []}
    for run in range(args.runs + 1):
        order = ("platform", "handwritten") if run % 2 == 0 else ("handwritten", "platform")
        for name in order:
            work = Path(tempfile.mkdtemp(prefix=f"dataplat-bench-{name}-"))
            try:
                result = (run_platform if name == "platform" else run_handwritten)(landing, work)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            verify(name, result["figures"], args.sf, landing)
            print(
                f"run {run}{' (warm-up)' if run == 0 else ''}: {name:11s} {result['wall']:7.1f} s  {result['rss']:6d} MiB",
                flush=True,
            )
            if run:
                results[name].append(result)
    report(results, args)


def report(results: dict[str, list[dict]], args: argparse.Namespace) -> None:
    def med(name: str, pick) -> float:
        return median([pick(r) for r in results[name]])

    print(
        f"\nTPC-H scale factor {args.sf:g}, engine {args.engine}, medians of {args.runs} runs (results verified)"
    )
    print(f"{'':34s}{'platform':>10s}{'hand-written':>14s}{'ratio':>8s}")
    for stage in STAGES:
        p, h = (
            med("platform", lambda r: r["stages"][stage]),
            med("handwritten", lambda r: r["stages"][stage]),
        )
        print(f"  {stage + ' (s)':32s}{p:10.1f}{h:14.1f}{p / h if h else float('nan'):8.2f}")
    p, h = med("platform", lambda r: r["wall"]), med("handwritten", lambda r: r["wall"])
    print(f"  {'whole process, wall (s)':32s}{p:10.1f}{h:14.1f}{p / h:8.2f}")
    p, h = med("platform", lambda r: r["rss"]), med("handwritten", lambda r: r["rss"])
    print(f"  {'peak memory, RSS (MiB)':32s}{p:10.0f}{h:14.0f}{p / h:8.2f}")


if __name__ == "__main__":
    main()
