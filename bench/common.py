"""Benchmark helpers: TPC-H data, timing, medians."""

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / "data"
# benchmark-only dataflows: not part of the code location, loaded from a project made per run
DATAFLOWS = BENCH / "dataflows"


def bench_project(folder: Path, *dataflows: str) -> Path:
    """A project at `folder` declaring only the named benchmark dataflows (bench/dataflows).

    It takes the repository's profiles and entry files, so it runs as the code location does.
    """
    shutil.copytree(ROOT / "resources", folder / "resources")
    for name in ("definitions.py", "workspace.yaml", "dagster.yaml"):
        shutil.copyfile(ROOT / name, folder / name)
    for name in dataflows:
        shutil.copytree(DATAFLOWS / name, folder / "assets" / name, ignore=_python)
        for module in (DATAFLOWS / name).glob("*.py"):  # user code lives next to definitions.py
            shutil.copyfile(module, folder / module.name)
    return folder


def platform_env(landing: Path, work: Path) -> dict[str, str]:
    """The environment of a platform process: local profile, its state and instance in `work`."""
    home = work / "dagster"
    home.mkdir(parents=True)
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    return {
        **os.environ,
        "DATAPLAT_ENV": "local",
        "DATAPLAT_HOME": str(work / "state"),
        "DATAPLAT_LANDING_ROOT": str(landing),
        "DAGSTER_HOME": str(home),
    }


def _python(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n.endswith(".py") or n == "__pycache__"]


def tpch_data(scale: float) -> Path:
    """The landing root holding tpch/lineitem.csv and tpch/orders.csv, generated when missing."""
    root = DATA / f"sf{scale:g}"
    target = root / "tpch"
    if not (target / "lineitem.csv").exists() or not (target / "orders.csv").exists():
        target.mkdir(parents=True, exist_ok=True)
        cli = shutil.which("tpchgen-cli") or str(Path(sys.executable).parent / "tpchgen-cli")
        print(f"generating TPC-H scale factor {scale:g} into {target} ...", flush=True)
        subprocess.run(
            [
                cli,
                "csv",
                "-s",
                f"{scale:g}",
                "--tables",
                "orders,lineitem",
                "--output-dir",
                str(target),
                "--no-progress",
            ],
            check=True,
        )
    return root


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
