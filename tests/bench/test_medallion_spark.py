"""The TPC-H medallion's Spark side at scale factor 0.01: correctness, never timings.

The hand-written PySpark script (bench/handwritten_spark.py, run here in the test session's
one SparkSession) must produce the same rows as the hand-written pandas script: per month in
raw and staging, and every business row. The benchmark's measuring of a process tree (a
PySpark process and its JVM) and its choice of the platform's engine are checked too.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import handwritten_spark
from bench.common import SPARK_MASTER, _unshared, bench_project, measure_tree, use_engine
from bench.medallion import (
    handwritten_figures,
    run_handwritten,
    same_rows,
    verify,
)
from dataplat_dagster.config.profile import load_profile

SCALE = 0.01


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tpch")
    cli = shutil.which("tpchgen-cli") or str(Path(sys.executable).parent / "tpchgen-cli")
    tables = ["--tables", "orders,lineitem", "--output-dir", str(root / "tpch")]
    subprocess.run(
        [cli, "csv", "-s", str(SCALE), *tables, "--no-progress"], check=True, capture_output=True
    )
    return root


@pytest.fixture(scope="module")
def by_hand_on_spark(landing: Path, tmp_path_factory: pytest.TempPathFactory, spark) -> dict:
    """The hand-written PySpark script's result, run once in the test session's SparkSession."""
    out = tmp_path_factory.mktemp("by-hand-spark")
    result = handwritten_spark.run(spark, landing, out)
    return {**result, "out": out, "figures": handwritten_figures(out, result["figures"])}


@pytest.mark.spark
@pytest.mark.slow
def test_hand_written_spark_has_the_rows_of_hand_written_pandas(
    landing: Path, tmp_path: Path, by_hand_on_spark: dict
) -> None:
    pandas = run_handwritten(landing, tmp_path / "pandas")["figures"]
    verify("handwritten-pandas", pandas, SCALE, landing)

    figures, out = by_hand_on_spark["figures"], by_hand_on_spark["out"]
    verify("handwritten-spark", figures, SCALE, landing)
    same_rows("handwritten-spark", figures, "handwritten-pandas", pandas)
    assert set(by_hand_on_spark["stages"]) == {
        "landing_to_raw",
        "raw_to_staging",
        "checks",
        "business",
    }
    # every month of data is one Parquet file per layer, as the pandas script writes it
    for layer in ("raw", "staging"):
        months = list((out / layer / "lineitem").glob("month=*"))
        assert len(months) == len(figures[f"{layer}_lineitem"]["by_month"]) > 12
        assert all(len(list(m.glob("*.parquet"))) == 1 for m in months)


def test_a_process_tree_is_measured_whole(tmp_path: Path) -> None:
    # the child exits once its own child (like a PySpark JVM) holds 300 MiB, never waiting for it
    holder = "import time; block = b'x' * (300 << 20); print('held', flush=True); time.sleep(1)"
    parent = (
        "import subprocess, sys; "
        f"child = subprocess.Popen([sys.executable, '-c', {holder!r}], stdout=subprocess.PIPE); "
        "print(child.stdout.readline().decode().strip())"
    )
    measured = measure_tree([sys.executable, "-c", parent], {}, cwd=tmp_path)
    assert "held" in measured.stdout
    assert measured.rss >= 300  # the grandchild's memory, summed with its parent's
    assert measured.cpu > 0


def test_a_fork_is_not_counted_twice(tmp_path: Path) -> None:
    # a fork shares its parent's 300 MiB until it runs another program: one copy is counted
    script = (
        "import os, time; block = bytearray(300 << 20); block[::4096] = b'x' * len(block[::4096]); "
        "pid = os.fork()\n"
        "if pid == 0: time.sleep(1.5); os._exit(0)\n"
        "os.waitpid(pid, 0); print('forked', flush=True)"
    )
    measured = measure_tree([sys.executable, "-c", script], {}, cwd=tmp_path)
    assert "forked" in measured.stdout
    assert 300 <= measured.rss < 450


def test_a_fork_that_started_its_program_since_the_scan_counts_as_that_program() -> None:
    # sampled just before its exec, the fork still showed its parent's size: the size is
    # read again once its command line says it runs a program of its own
    child = subprocess.Popen(["sleep", "30"])
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child.pid}/cmdline").read_bytes().split(b"\0")[0] != b"sleep":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        members = {child.pid: (os.getpid(), 5 << 30), os.getpid(): (os.getppid(), 1 << 20)}

        added = _unshared(child.pid, os.getpid(), 5 << 30, members)
    finally:
        child.kill()
        child.wait()

    assert 0 < added < 64 << 20


def test_the_platform_runs_on_the_engine_the_benchmark_chose(tmp_path: Path) -> None:
    project = bench_project(tmp_path / "project", "tpch")
    untouched = load_profile(project / "resources", "local")
    use_engine(project, "spark", shuffle_partitions=5, driver_memory="3g")
    profile = load_profile(project / "resources", "local")

    assert untouched.engine == "pandas" and profile.engine == "spark"
    assert profile.spark.master == SPARK_MASTER
    assert profile.spark.conf["spark.sql.shuffle.partitions"] == "5"
    assert profile.spark.conf["spark.driver.memory"] == "3g"
    # the rest of the local profile is kept as it was
    assert profile.resources == untouched.resources
